//! A series' identity: the metric it answers (the configured query's name)
//! and the label set of its source series. A frame's column is named
//! `metric{label="value",…}` (Prometheus' own notation, values escaped), so
//! a wide CSV written by `fetch` keeps every series' labels and reads back
//! with them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A label set, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// A column's name from its metric and labels: the metric alone when there
/// are none.
pub fn column_name(metric: &str, labels: &Labels) -> String {
    if labels.is_empty() {
        return metric.to_owned();
    }
    let mut out = format!("{metric}{{");
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{key}=\"{}\"", escape(value));
    }
    out.push('}');
    out
}

/// A label set as PromQL writes it inside braces: `instance="a",job="b"`.
pub fn format_labels(labels: &Labels) -> String {
    let name = column_name("", labels);
    name.trim_start_matches('{')
        .trim_end_matches('}')
        .to_owned()
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Splits a column name into its metric and labels. A name that is not
/// `metric{…}` with well-formed `key="value"` pairs is a metric of its own
/// without labels (a CSV header such as `cpu (%)` stays whole).
pub fn parse_column(name: &str) -> (String, Labels) {
    let plain = || (name.to_owned(), Labels::new());
    let Some((metric, rest)) = name.split_once('{') else {
        return plain();
    };
    let Some(body) = rest.strip_suffix('}') else {
        return plain();
    };
    match parse_labels(body) {
        Some(labels) if !metric.is_empty() => (metric.to_owned(), labels),
        _ => plain(),
    }
}

/// A label set as PromQL writes it inside braces, `key="value",…` (values
/// with `\\`, `\"` and `\n` escapes; what [`format_labels`] writes); None
/// when it is not well formed.
pub fn parse_labels(body: &str) -> Option<Labels> {
    let mut labels = Labels::new();
    let mut chars = body.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(labels);
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        let key = key.trim().to_owned();
        let valid_key = key
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
        if key.is_empty() || !valid_key || chars.next() != Some('"') {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(key, value);
        match chars.next() {
            None => return Some(labels),
            Some(',') => {}
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_round_trip_with_escapes() {
        let l = labels(&[("job", "node"), ("instance", "host-003:9100")]);
        let name = column_name("cpu", &l);
        assert_eq!(name, r#"cpu{instance="host-003:9100",job="node"}"#);
        assert_eq!(parse_column(&name), ("cpu".to_owned(), l));
        let odd = labels(&[("path", "a\"b\\c,d}\ne")]);
        let name = column_name("latency", &odd);
        assert_eq!(parse_column(&name), ("latency".to_owned(), odd));
        assert_eq!(column_name("cpu", &Labels::new()), "cpu");
        assert_eq!(
            format_labels(&labels(&[("a", "1"), ("b", "2")])),
            r#"a="1",b="2""#
        );
    }

    #[test]
    fn other_names_are_metrics_without_labels() {
        for name in [
            "cpu",
            "cpu (%)",
            "m{",
            "m{x}",
            "{a=\"1\"}",
            "m{a=1}",
            "m{a=\"1\"b}",
        ] {
            assert_eq!(
                parse_column(name),
                (name.to_owned(), Labels::new()),
                "{name}"
            );
        }
        assert_eq!(parse_column("m{}"), ("m".to_owned(), Labels::new()));
    }
}
