//! Raw YAML → typed [`Config`]: defaults for missing keys, ranges, enums,
//! durations and URLs checked, each mistake located at its line and column.
//!
//! - `parse`: the YAML text to a [`RawConfig`], its errors explained.
//! - `ctx`: the typed checks every section uses (integers, floats, choices,
//!   durations), each error located.
//! - `sections`: `app`, `lstm_model`, `prophet_model`, `dashboard`, `detection`,
//!   `fleet`.
//! - `prometheus`: `prometheus` (URL, durations, headers, credentials, TLS).
//! - `metrics`: `metrics`, with the per-OS query variants.
//! - `describe`: the resolved configuration as text, secrets masked.

use crate::config::raw::RawConfig;
use crate::config::{Config, ConfigError, Os};

mod ctx;
mod describe;
mod metrics;
mod parse;
mod prometheus;
mod sections;
#[cfg(test)]
mod tests;

pub use describe::describe;
pub use parse::parse_raw;

use ctx::Ctx;

pub fn validate(raw: RawConfig, source_name: &str, os: Os) -> Result<Config, ConfigError> {
    let ctx = Ctx { source_name };
    let app = sections::validate_app(&ctx, raw.app.unwrap_or_default())?;
    let prometheus = prometheus::validate_prometheus(&ctx, raw.prometheus.unwrap_or_default())?;
    let metrics = metrics::validate_metrics(&ctx, raw.metrics, os)?;
    let lstm = sections::validate_lstm(&ctx, raw.lstm_model.unwrap_or_default())?;
    let prophet = sections::validate_prophet(&ctx, raw.prophet_model.unwrap_or_default())?;
    let dashboard = sections::validate_dashboard(&ctx, raw.dashboard.unwrap_or_default())?;
    let detection = sections::validate_detection(&ctx, raw.detection.unwrap_or_default())?;
    let fleet = sections::validate_fleet(&ctx, raw.fleet.unwrap_or_default())?;
    Ok(Config {
        app,
        prometheus,
        metrics,
        lstm,
        prophet,
        dashboard,
        detection,
        fleet,
    })
}
