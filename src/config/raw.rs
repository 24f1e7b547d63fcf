//! The YAML file as written: every key optional, unknown keys rejected, each
//! value kept with its line and column so validation can point at it.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use serde_saphyr::Spanned;

pub type Field<T> = Option<Spanned<T>>;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub app: Option<RawApp>,
    pub prometheus: Option<RawPrometheus>,
    pub metrics: Option<Spanned<RawMetrics>>,
    pub lstm_model: Option<RawLstm>,
    pub prophet_model: Option<RawProphet>,
    pub dashboard: Option<RawDashboard>,
    pub detection: Option<RawDetection>,
    pub fleet: Option<RawFleet>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFleet {
    pub entity_labels: Option<Spanned<Vec<Spanned<String>>>>,
    pub stale_after: Field<String>,
    pub max_series: Field<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDetection {
    pub method: Field<String>,
    pub probation_rows: Field<i64>,
    pub state_save_interval: Field<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub name: Field<String>,
    pub version: Field<String>,
    pub mode: Field<String>,
    pub timezone: Field<String>,
    pub history_path: Field<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    pub url: Field<String>,
    pub step: Field<String>,
    pub window: Field<String>,
    pub timeout: Field<String>,
    pub headers: Option<BTreeMap<String, Spanned<String>>>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub bearer_token_env: Field<String>,
    pub tls: Option<RawTls>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    pub username: Field<String>,
    pub password_env: Field<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    pub ca_file: Field<String>,
    pub insecure_skip_verify: Field<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLstm {
    pub enabled: Field<bool>,
    pub sequence_length: Field<i64>,
    pub hidden_size: Field<i64>,
    pub epochs: Field<i64>,
    pub batch_size: Field<i64>,
    pub learning_rate: Field<f64>,
    pub retrain_interval: Field<NumberOrText>,
    pub reconstruction_error_limit: Field<f64>,
    pub threshold: Option<RawThreshold>,
    pub device: Field<String>,
    pub seed: Field<u64>,
    pub save_path: Field<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThreshold {
    pub method: Field<String>,
    pub percentile: Field<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProphet {
    pub enabled: Field<bool>,
    pub forecast_horizon: Field<NumberOrText>,
    pub retrain_interval: Field<NumberOrText>,
    pub changepoint_prior_scale: Field<f64>,
    pub seasonality_mode: Field<String>,
    pub interval_width: Field<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDashboard {
    pub refresh_interval: Field<NumberOrText>,
    pub show_predictions: Field<bool>,
    pub max_points: Field<i64>,
    pub retrain_button_enabled: Field<bool>,
}

/// A plain number (in the unit the key documents) or a duration string.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberOrText {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for NumberOrText {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberOrTextVisitor;
        impl Visitor<'_> for NumberOrTextVisitor {
            type Value = NumberOrText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a duration such as \"30s\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(NumberOrText::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(NumberOrText::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(NumberOrText::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(NumberOrText::Text(v.to_owned()))
            }
        }
        deserializer.deserialize_any(NumberOrTextVisitor)
    }
}

/// A metric's PromQL: one query for every OS, or one per OS.
#[derive(Debug, Clone)]
pub enum RawQuery {
    All(String),
    PerOs(Vec<(String, Spanned<String>)>),
}

pub const OS_KEYS: [&str; 3] = ["linux", "windows", "darwin"];

impl<'de> Deserialize<'de> for RawQuery {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct QueryVisitor;
        impl<'de> Visitor<'de> for QueryVisitor {
            type Value = RawQuery;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a PromQL string or a map with keys linux, windows, darwin")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(RawQuery::All(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut variants = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if !OS_KEYS.contains(&key.as_str()) {
                        return Err(de::Error::unknown_field(&key, &OS_KEYS));
                    }
                    if variants.iter().any(|(seen, _)| *seen == key) {
                        return Err(de::Error::duplicate_field("OS variant"));
                    }
                    let query = map.next_value::<Spanned<String>>()?;
                    variants.push((key, query));
                }
                Ok(RawQuery::PerOs(variants))
            }
        }
        deserializer.deserialize_any(QueryVisitor)
    }
}

/// The `metrics` map in file order (the order metrics are shown in).
#[derive(Debug, Default)]
pub struct RawMetrics(pub Vec<(Spanned<String>, Spanned<RawQuery>)>);

impl<'de> Deserialize<'de> for RawMetrics {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetricsVisitor;
        impl<'de> Visitor<'de> for MetricsVisitor {
            type Value = RawMetrics;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of metric names to PromQL queries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut metrics: Vec<(Spanned<String>, Spanned<RawQuery>)> = Vec::new();
                while let Some(name) = map.next_key::<Spanned<String>>()? {
                    let query = map.next_value::<Spanned<RawQuery>>()?;
                    if metrics.iter().any(|(seen, _)| seen.value == name.value) {
                        return Err(de::Error::custom(format!(
                            "metric `{}` is defined twice",
                            name.value
                        )));
                    }
                    metrics.push((name, query));
                }
                Ok(RawMetrics(metrics))
            }
        }
        deserializer.deserialize_map(MetricsVisitor)
    }
}
