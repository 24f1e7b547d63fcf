//! The plain sections: `app`, `lstm_model`, `prophet_model`, `dashboard` and
//! `detection`, each from its raw form to its typed one.

use std::path::PathBuf;
use std::time::Duration;

use super::Ctx;
use crate::config::raw::{RawApp, RawDashboard, RawDetection, RawFleet, RawLstm, RawProphet};
use crate::config::{
    AppConfig, AppMode, ConfigError, DashboardConfig, DetectionConfig, DetectionMethod,
    DevicePreference, FleetConfig, LstmConfig, ProphetConfig, SeasonalityMode, ThresholdRule,
};

pub(super) fn validate_app(ctx: &Ctx, app_raw: RawApp) -> Result<AppConfig, ConfigError> {
    let mode = ctx.choice(
        &app_raw.mode,
        "app.mode",
        "production",
        &["production", "development"],
    )?;
    let timezone = match &app_raw.timezone {
        None => "UTC".to_owned(),
        Some(spanned) => match jiff::tz::TimeZone::get(&spanned.value) {
            Ok(_) => spanned.value.clone(),
            Err(_) => {
                return Err(ctx.err(
                    spanned,
                    "app.timezone",
                    format!(
                        "unknown time zone `{}`; expected an IANA name such as UTC, \
                         Europe/Berlin or America/New_York",
                        spanned.value
                    ),
                ));
            }
        },
    };
    if let Some(spanned) = app_raw
        .history_path
        .as_ref()
        .filter(|s| s.value.trim().is_empty())
    {
        return Err(ctx.err(spanned, "app.history_path", "must not be empty"));
    }
    Ok(AppConfig {
        timezone,
        history_path: PathBuf::from(
            ctx.text(&app_raw.history_path, crate::config::HISTORY_FILE_NAME),
        ),
        name: ctx.text(&app_raw.name, "PulseWatch"),
        version: ctx.text(&app_raw.version, env!("CARGO_PKG_VERSION")),
        mode: if mode == "development" {
            AppMode::Development
        } else {
            AppMode::Production
        },
    })
}

pub(super) fn validate_lstm(ctx: &Ctx, lstm_raw: RawLstm) -> Result<LstmConfig, ConfigError> {
    let reconstruction_error_limit = ctx.float(
        &lstm_raw.reconstruction_error_limit,
        "lstm_model.reconstruction_error_limit",
        0.025,
        |v| v > 0.0,
        "a number greater than 0",
    )?;
    let threshold_raw = lstm_raw.threshold.unwrap_or_default();
    let method = ctx.choice(
        &threshold_raw.method,
        "lstm_model.threshold.method",
        "percentile",
        &["percentile", "fixed"],
    )?;
    let percentile = ctx.float(
        &threshold_raw.percentile,
        "lstm_model.threshold.percentile",
        99.0,
        |v| v > 0.0 && v <= 100.0,
        "a percentile greater than 0 and at most 100",
    )?;
    let device = ctx.choice(
        &lstm_raw.device,
        "lstm_model.device",
        "auto",
        &["auto", "gpu", "cpu"],
    )?;
    let save_path = ctx.text(&lstm_raw.save_path, "models/lstm_model");
    if let Some(spanned) = lstm_raw
        .save_path
        .as_ref()
        .filter(|s| s.value.trim().is_empty())
    {
        return Err(ctx.err(spanned, "lstm_model.save_path", "must not be empty"));
    }
    Ok(LstmConfig {
        enabled: lstm_raw.enabled.is_none_or(|s| s.value),
        sequence_length: ctx.int(
            &lstm_raw.sequence_length,
            "lstm_model.sequence_length",
            50,
            2..=10_000,
        )?,
        hidden_size: ctx.int(
            &lstm_raw.hidden_size,
            "lstm_model.hidden_size",
            32,
            1..=4096,
        )?,
        epochs: ctx.int(&lstm_raw.epochs, "lstm_model.epochs", 10, 1..=100_000)?,
        batch_size: ctx.int(
            &lstm_raw.batch_size,
            "lstm_model.batch_size",
            64,
            1..=1_000_000,
        )?,
        learning_rate: ctx.float(
            &lstm_raw.learning_rate,
            "lstm_model.learning_rate",
            0.001,
            |v| v > 0.0 && v <= 1.0,
            "a number greater than 0 and at most 1",
        )?,
        retrain_interval: ctx.number_or_duration(
            &lstm_raw.retrain_interval,
            "lstm_model.retrain_interval",
            Duration::from_secs(24 * 3600),
            3600.0,
            "hours",
        )?,
        reconstruction_error_limit,
        threshold: if method == "fixed" {
            ThresholdRule::Fixed(reconstruction_error_limit)
        } else {
            ThresholdRule::Percentile(percentile)
        },
        device: match device {
            "gpu" => DevicePreference::Gpu,
            "cpu" => DevicePreference::Cpu,
            _ => DevicePreference::Auto,
        },
        seed: lstm_raw.seed.map_or(42, |s| s.value),
        save_path: PathBuf::from(save_path),
    })
}

pub(super) fn validate_prophet(
    ctx: &Ctx,
    prophet_raw: RawProphet,
) -> Result<ProphetConfig, ConfigError> {
    let seasonality = ctx.choice(
        &prophet_raw.seasonality_mode,
        "prophet_model.seasonality_mode",
        "additive",
        &["additive", "multiplicative"],
    )?;
    Ok(ProphetConfig {
        enabled: prophet_raw.enabled.is_none_or(|s| s.value),
        forecast_horizon: ctx.number_or_duration(
            &prophet_raw.forecast_horizon,
            "prophet_model.forecast_horizon",
            Duration::from_secs(3600),
            60.0,
            "minutes",
        )?,
        retrain_interval: ctx.number_or_duration(
            &prophet_raw.retrain_interval,
            "prophet_model.retrain_interval",
            Duration::from_secs(12 * 3600),
            3600.0,
            "hours",
        )?,
        changepoint_prior_scale: ctx.float(
            &prophet_raw.changepoint_prior_scale,
            "prophet_model.changepoint_prior_scale",
            0.1,
            |v| v > 0.0,
            "a number greater than 0",
        )?,
        seasonality_mode: if seasonality == "multiplicative" {
            SeasonalityMode::Multiplicative
        } else {
            SeasonalityMode::Additive
        },
        interval_width: ctx.float(
            &prophet_raw.interval_width,
            "prophet_model.interval_width",
            0.8,
            |v| v > 0.0 && v < 1.0,
            "a fraction greater than 0 and less than 1",
        )?,
    })
}

pub(super) fn validate_dashboard(
    ctx: &Ctx,
    dashboard_raw: RawDashboard,
) -> Result<DashboardConfig, ConfigError> {
    Ok(DashboardConfig {
        refresh_interval: ctx.number_or_duration(
            &dashboard_raw.refresh_interval,
            "dashboard.refresh_interval",
            Duration::from_secs(5),
            1.0,
            "seconds",
        )?,
        show_predictions: dashboard_raw.show_predictions.is_none_or(|s| s.value),
        max_points: ctx.int(
            &dashboard_raw.max_points,
            "dashboard.max_points",
            500,
            10..=10_000_000,
        )?,
        retrain_button_enabled: dashboard_raw.retrain_button_enabled.is_none_or(|s| s.value),
    })
}

pub(super) fn validate_detection(
    ctx: &Ctx,
    detection_raw: RawDetection,
) -> Result<DetectionConfig, ConfigError> {
    let method = ctx.choice(
        &detection_raw.method,
        "detection.method",
        "ensemble",
        &["robust", "level", "seasonal", "context", "lstm", "ensemble"],
    )?;
    Ok(DetectionConfig {
        method: match method {
            "robust" => DetectionMethod::Robust,
            "level" => DetectionMethod::Level,
            "seasonal" => DetectionMethod::Seasonal,
            "context" => DetectionMethod::Context,
            "lstm" => DetectionMethod::Lstm,
            _ => DetectionMethod::Ensemble,
        },
        probation_rows: ctx.int(
            &detection_raw.probation_rows,
            "detection.probation_rows",
            crate::config::DEFAULT_PROBATION_ROWS as i64,
            0..=1_000_000,
        )?,
        state_save_interval: ctx.duration(
            &detection_raw.state_save_interval,
            "detection.state_save_interval",
            DetectionConfig::default().state_save_interval,
        )?,
    })
}

/// A Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not reserved (`__…`).
fn is_label_name(name: &str) -> bool {
    !name.starts_with("__")
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()))
        && !name.is_empty()
}

pub(super) fn validate_fleet(ctx: &Ctx, fleet_raw: RawFleet) -> Result<FleetConfig, ConfigError> {
    let defaults = FleetConfig::default();
    let entity_labels = match &fleet_raw.entity_labels {
        None => defaults.entity_labels,
        Some(list) => {
            let mut names: Vec<String> = Vec::new();
            for name in &list.value {
                let key = "fleet.entity_labels";
                if !is_label_name(&name.value) {
                    return Err(ctx.err(
                        name,
                        key,
                        format!(
                            "`{}` is not a label name; expected names such as instance, pod, \
                             namespace ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)",
                            name.value
                        ),
                    ));
                }
                if names.contains(&name.value) {
                    return Err(ctx.err(name, key, format!("`{}` is listed twice", name.value)));
                }
                names.push(name.value.clone());
            }
            names
        }
    };
    Ok(FleetConfig {
        entity_labels,
        stale_after: ctx.duration(
            &fleet_raw.stale_after,
            "fleet.stale_after",
            defaults.stale_after,
        )?,
        max_series: ctx.int(
            &fleet_raw.max_series,
            "fleet.max_series",
            defaults.max_series as i64,
            1..=10_000_000,
        )?,
    })
}
