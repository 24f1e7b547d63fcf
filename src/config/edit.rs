//! Editing a config file in place: each changed value replaces exactly its own
//! token in the text (found through the parser's spans), so comments, order,
//! other OS variants and every untouched key survive; a missing key is added
//! under its section. The result is validated before anyone writes it.

use serde_saphyr::Spanned;

use super::raw::{Field, RawConfig, RawQuery};
use super::{Config, ConfigError, validate};

/// A setting the window can change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingKey {
    PrometheusUrl,
    Step,
    Window,
    Epochs,
    ThresholdPercentile,
    RefreshInterval,
    ForecastHorizon,
    /// `metrics.<name>` written as one query for every OS.
    Query(String),
}

impl SettingKey {
    /// The dotted key path, as error messages name it.
    pub fn path(&self) -> String {
        match self {
            Self::PrometheusUrl => "prometheus.url".into(),
            Self::Step => "prometheus.step".into(),
            Self::Window => "prometheus.window".into(),
            Self::Epochs => "lstm_model.epochs".into(),
            Self::ThresholdPercentile => "lstm_model.threshold.percentile".into(),
            Self::RefreshInterval => "dashboard.refresh_interval".into(),
            Self::ForecastHorizon => "prophet_model.forecast_horizon".into(),
            Self::Query(name) => format!("metrics.{name}"),
        }
    }
}

/// Where a value sits in the text: a byte range to replace, or a section
/// (path of parent keys) to add it to.
enum Target {
    Replace(usize, usize),
    Insert(Vec<String>, String),
}

fn span_of<T>(field: &Field<T>) -> Option<(usize, usize)> {
    spanned_range(field.as_ref()?)
}

fn spanned_range<T>(spanned: &Spanned<T>) -> Option<(usize, usize)> {
    let span = spanned.referenced.span();
    Some((
        usize::try_from(span.byte_offset()?).ok()?,
        usize::try_from(span.byte_len()?).ok()?,
    ))
}

fn target(raw: &RawConfig, key: &SettingKey) -> Result<Target, String> {
    let found = match key {
        SettingKey::PrometheusUrl => raw.prometheus.as_ref().and_then(|p| span_of(&p.url)),
        SettingKey::Step => raw.prometheus.as_ref().and_then(|p| span_of(&p.step)),
        SettingKey::Window => raw.prometheus.as_ref().and_then(|p| span_of(&p.window)),
        SettingKey::Epochs => raw.lstm_model.as_ref().and_then(|l| span_of(&l.epochs)),
        SettingKey::ThresholdPercentile => raw
            .lstm_model
            .as_ref()
            .and_then(|l| l.threshold.as_ref())
            .and_then(|t| span_of(&t.percentile)),
        SettingKey::RefreshInterval => raw
            .dashboard
            .as_ref()
            .and_then(|d| span_of(&d.refresh_interval)),
        SettingKey::ForecastHorizon => raw
            .prophet_model
            .as_ref()
            .and_then(|p| span_of(&p.forecast_horizon)),
        SettingKey::Query(name) => {
            let entry = raw
                .metrics
                .as_ref()
                .and_then(|m| m.value.0.iter().find(|(k, _)| &k.value == name));
            match entry {
                Some((_, query)) => match &query.value {
                    RawQuery::All(_) => spanned_range(query),
                    RawQuery::PerOs(_) => {
                        return Err(format!(
                            "metrics.{name} has one query per OS: edit the file to change it"
                        ));
                    }
                },
                None => None,
            }
        }
    };
    if let Some((start, len)) = found {
        return Ok(Target::Replace(start, len));
    }
    let path = key.path();
    let mut parts: Vec<String> = path.split('.').map(str::to_owned).collect();
    let leaf = parts.pop().unwrap_or_default();
    Ok(Target::Insert(parts, leaf))
}

/// A YAML scalar for `value`: plain when it reads back as the same string,
/// double-quoted otherwise (PromQL braces, colons, leading symbols).
fn scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && value.trim() == value
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.starts_with(|c: char| "{}[],&*#?|-<>=!%@`'\"".contains(c))
        && !value.contains(['{', '}', '[', ']']);
    if plain {
        value.to_owned()
    } else {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// Finds the line of a block-style section path (`["lstm_model",
/// "threshold"]`), returning the byte offset just after that line and the
/// indentation its children use.
fn section_end(text: &str, parents: &[String]) -> Option<(usize, usize)> {
    let mut offset = 0;
    let mut depth = 0;
    let mut indent = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let line_indent = line.len() - trimmed.len();
        if depth < parents.len()
            && line_indent == indent
            && trimmed.trim_end() == format!("{}:", parents[depth])
        {
            depth += 1;
            indent += 2;
            if depth == parents.len() {
                return Some((offset + line.len(), indent));
            }
        }
        offset += line.len();
    }
    None
}

/// Applies `edits` to the config `text` and validates the result; the new
/// text is returned only when it is a valid config.
pub fn apply_edits(
    text: &str,
    source_name: &str,
    edits: &[(SettingKey, String)],
) -> Result<(String, Config), ConfigError> {
    let raw = validate::parse_raw(text, source_name)?;
    let mut replacements: Vec<(usize, usize, String)> = Vec::new();
    let mut appended = String::new();
    for (key, value) in edits {
        let invalid = |message: String| ConfigError::Invalid {
            source_name: source_name.to_owned(),
            line: 0,
            column: 0,
            key: key.path(),
            message,
        };
        match target(&raw, key).map_err(invalid)? {
            Target::Replace(start, len) => replacements.push((start, len, scalar(value))),
            Target::Insert(parents, leaf) => {
                // The deepest section that exists takes the rest of the path.
                let found = (1..=parents.len())
                    .rev()
                    .find_map(|depth| section_end(text, &parents[..depth]).map(|at| (depth, at)));
                let (depth, at, indent) = match found {
                    Some((depth, (at, indent))) => (depth, Some(at), indent),
                    None => (0, None, 0),
                };
                let mut lines = String::new();
                for (level, parent) in parents[depth..].iter().enumerate() {
                    lines.push_str(&format!("{}{parent}:\n", " ".repeat(indent + 2 * level)));
                }
                lines.push_str(&format!(
                    "{}{leaf}: {}\n",
                    " ".repeat(indent + 2 * (parents.len() - depth)),
                    scalar(value)
                ));
                match at {
                    Some(at) => replacements.push((at, 0, lines)),
                    None => appended.push_str(&lines),
                }
            }
        }
    }
    replacements.sort_by_key(|r| std::cmp::Reverse(r.0));
    let mut out = text.to_owned();
    for (start, len, replacement) in replacements {
        if start + len > out.len() || !out.is_char_boundary(start) {
            return Err(ConfigError::Invalid {
                source_name: source_name.to_owned(),
                line: 0,
                column: 0,
                key: "settings".into(),
                message: "the file changed under the editor; reload it".into(),
            });
        }
        out.replace_range(start..start + len, &replacement);
    }
    if !appended.is_empty() {
        if !out.ends_with('\n') && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&appended);
    }
    let config = Config::from_yaml_str(&out, source_name)?;
    Ok((out, config))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# my settings\n\
        prometheus:\n  url: http://old:9090   # the lab\n  step: 30s\n\
        metrics:\n  cpu: rate(x[5m])\n  mem:\n    linux: a\n    windows: b\n\
        lstm_model:\n  epochs: 10\n";

    #[test]
    fn edits_replace_only_their_values() {
        let (text, config) = apply_edits(
            FILE,
            "f.yml",
            &[
                (
                    SettingKey::PrometheusUrl,
                    "https://prom.example:9443/p".into(),
                ),
                (SettingKey::Epochs, "25".into()),
                (
                    SettingKey::Query("cpu".into()),
                    "sum(rate(y{job=\"a\"}[1m]))".into(),
                ),
            ],
        )
        .expect("valid");
        assert!(text.starts_with("# my settings\n"), "{text}");
        assert!(
            text.contains("  url: https://prom.example:9443/p   # the lab\n"),
            "{text}"
        );
        assert!(
            text.contains("    windows: b\n"),
            "other OS variants stay: {text}"
        );
        assert_eq!(config.prometheus.base_url, "https://prom.example:9443/p");
        assert_eq!(config.lstm.epochs, 25);
        assert_eq!(config.metrics[0].query, "sum(rate(y{job=\"a\"}[1m]))");
    }

    #[test]
    fn missing_keys_and_sections_are_added() {
        let (text, config) = apply_edits(
            FILE,
            "f.yml",
            &[
                (SettingKey::Window, "6h".into()),
                (SettingKey::ThresholdPercentile, "99.5".into()),
                (SettingKey::RefreshInterval, "10s".into()),
            ],
        )
        .expect("valid");
        assert_eq!(config.prometheus.window.as_secs(), 6 * 3600);
        assert_eq!(config.dashboard.refresh_interval.as_secs(), 10);
        assert!(
            text.contains("dashboard:\n  refresh_interval: 10s\n"),
            "{text}"
        );
        assert!(
            text.contains("  threshold:\n    percentile: 99.5\n"),
            "{text}"
        );
    }

    #[test]
    fn invalid_values_are_refused_with_the_key() {
        let error = apply_edits(FILE, "f.yml", &[(SettingKey::Step, "soon".into())])
            .expect_err("bad duration");
        assert!(error.to_string().contains("prometheus.step"), "{error}");
        let error = apply_edits(
            FILE,
            "f.yml",
            &[(SettingKey::Query("mem".into()), "x".into())],
        )
        .expect_err("per-OS");
        assert!(error.to_string().contains("one query per OS"), "{error}");
    }
}
