//! The `metrics` section: metric names and their PromQL queries, one for every
//! OS or one per OS (`linux`, `windows`, `darwin`); the built-in set when the
//! section is missing.

use serde_saphyr::Spanned;

use super::Ctx;
use crate::config::raw::{OS_KEYS, RawQuery};
use crate::config::{ConfigError, MetricQuery, Os};

fn default_metrics(os: Os) -> Vec<MetricQuery> {
    // The built-in file defines them; parsing it again here keeps one source.
    match crate::config::Config::from_yaml_str_for_os(
        crate::config::DEFAULT_CONFIG_YAML,
        "<built-in>",
        os,
    ) {
        Ok(config) => config.metrics,
        Err(_) => Vec::new(),
    }
}

pub(super) fn validate_metrics(
    ctx: &Ctx,
    raw: Option<Spanned<crate::config::raw::RawMetrics>>,
    os: Os,
) -> Result<Vec<MetricQuery>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(default_metrics(os));
    };
    if raw.value.0.is_empty() {
        return Err(ctx.err(
            &raw,
            "metrics",
            "no metrics defined; expected at least one `name: PromQL query`",
        ));
    }
    let mut metrics = Vec::new();
    for (name_at, query) in &raw.value.0 {
        let name = &name_at.value;
        let key = format!("metrics.{name}");
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !valid_name {
            return Err(ctx.err(
                name_at,
                &key,
                format!("`{name}` is not a valid metric name (letters, digits, _ - .)"),
            ));
        }
        let text = match &query.value {
            RawQuery::All(text) => text.clone(),
            RawQuery::PerOs(variants) => {
                match variants.iter().find(|(os_key, _)| os_key == os.key()) {
                    Some((_, text)) => text.value.clone(),
                    None => {
                        let present: Vec<&str> = variants.iter().map(|(k, _)| k.as_str()).collect();
                        return Err(ctx.err(
                            name_at,
                            &key,
                            format!(
                                "no query for this OS ({}); the metric has variants for: {}. \
                                 Add a `{}` variant or give one query for every OS \
                                 (variants: {})",
                                os.key(),
                                if present.is_empty() {
                                    "none".to_owned()
                                } else {
                                    present.join(", ")
                                },
                                os.key(),
                                OS_KEYS.join(", ")
                            ),
                        ));
                    }
                }
            }
        };
        if text.trim().is_empty() {
            return Err(ctx.err(query, &key, "empty PromQL query"));
        }
        metrics.push(MetricQuery {
            name: name.clone(),
            query: text.trim().to_owned(),
        });
    }
    Ok(metrics)
}
