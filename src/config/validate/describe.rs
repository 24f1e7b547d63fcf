//! [`describe`]: the resolved configuration as YAML-like text for
//! `pulsewatch config check`, header values that look secret masked and
//! credentials shown only as the name of their environment variable.

use crate::config::duration::format_duration;
use crate::config::{AppMode, Config, DevicePreference, Os, SeasonalityMode, ThresholdRule};

fn secret_header(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["auth", "token", "key", "secret", "cookie", "password"]
        .iter()
        .any(|s| lower.contains(s))
}

fn env_status(name: &str) -> &'static str {
    if std::env::var_os(name).is_some() {
        "set"
    } else {
        "not set"
    }
}

pub fn describe(c: &Config) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("app:".into());
    line(format!("  name: {}", c.app.name));
    line(format!("  version: {}", c.app.version));
    line(format!(
        "  mode: {}",
        match c.app.mode {
            AppMode::Production => "production",
            AppMode::Development => "development",
        }
    ));
    line(format!("  timezone: {}", c.app.timezone));
    line(format!(
        "  history_path: {}",
        crate::config::resolve_data_path(&c.app.history_path).display()
    ));
    let p = &c.prometheus;
    line("prometheus:".into());
    line(format!("  url: {}", p.base_url));
    line(format!("  step: {}", format_duration(p.step)));
    line(format!("  window: {}", format_duration(p.window)));
    line(format!("  timeout: {}", format_duration(p.timeout)));
    if p.headers.is_empty() {
        line("  headers: {}".into());
    } else {
        line("  headers:".into());
        for (name, value) in &p.headers {
            let shown = if secret_header(name) { "****" } else { value };
            line(format!("    {name}: {shown}"));
        }
    }
    if let Some(auth) = &p.basic_auth {
        line("  basic_auth:".into());
        line(format!("    username: {}", auth.username));
        line(format!(
            "    password_env: {} ({})",
            auth.password_env,
            env_status(&auth.password_env)
        ));
    }
    if let Some(name) = &p.bearer_token_env {
        line(format!("  bearer_token_env: {name} ({})", env_status(name)));
    }
    line("  tls:".into());
    line(format!(
        "    ca_file: {}",
        p.tls
            .ca_file
            .as_ref()
            .map_or("null".to_owned(), |f| f.display().to_string())
    ));
    line(format!(
        "    insecure_skip_verify: {}",
        p.tls.insecure_skip_verify
    ));
    line(format!("metrics:  # for {}", Os::current().key()));
    for m in &c.metrics {
        line(format!("  {}: {}", m.name, m.query));
    }
    let l = &c.lstm;
    line("lstm_model:".into());
    line(format!("  enabled: {}", l.enabled));
    line(format!("  sequence_length: {}", l.sequence_length));
    line(format!("  hidden_size: {}", l.hidden_size));
    line(format!("  epochs: {}", l.epochs));
    line(format!("  batch_size: {}", l.batch_size));
    line(format!("  learning_rate: {}", l.learning_rate));
    line(format!(
        "  retrain_interval: {}",
        format_duration(l.retrain_interval)
    ));
    line(format!(
        "  reconstruction_error_limit: {}",
        l.reconstruction_error_limit
    ));
    match l.threshold {
        ThresholdRule::Percentile(p) => line(format!("  threshold: percentile {p}")),
        ThresholdRule::Fixed(v) => line(format!("  threshold: fixed {v}")),
    }
    line(format!(
        "  device: {}",
        match l.device {
            DevicePreference::Auto => "auto",
            DevicePreference::Gpu => "gpu",
            DevicePreference::Cpu => "cpu",
        }
    ));
    line(format!("  seed: {}", l.seed));
    line(format!(
        "  save_path: {}",
        crate::config::resolve_data_path(&l.save_path).display()
    ));
    let f = &c.prophet;
    line("prophet_model:".into());
    line(format!("  enabled: {}", f.enabled));
    line(format!(
        "  forecast_horizon: {}",
        format_duration(f.forecast_horizon)
    ));
    line(format!(
        "  retrain_interval: {}",
        format_duration(f.retrain_interval)
    ));
    line(format!(
        "  changepoint_prior_scale: {}",
        f.changepoint_prior_scale
    ));
    line(format!(
        "  seasonality_mode: {}",
        match f.seasonality_mode {
            SeasonalityMode::Additive => "additive",
            SeasonalityMode::Multiplicative => "multiplicative",
        }
    ));
    line(format!("  interval_width: {}", f.interval_width));
    let d = &c.dashboard;
    line("dashboard:".into());
    line(format!(
        "  refresh_interval: {}",
        format_duration(d.refresh_interval)
    ));
    line(format!("  show_predictions: {}", d.show_predictions));
    line(format!("  max_points: {}", d.max_points));
    line(format!(
        "  retrain_button_enabled: {}",
        d.retrain_button_enabled
    ));
    line("detection:".into());
    line(format!("  method: {}", c.detection.method.key()));
    line(format!("  probation_rows: {}", c.detection.probation_rows));
    line(format!(
        "  state_save_interval: {}",
        format_duration(c.detection.state_save_interval)
    ));
    let fleet = &c.fleet;
    line("fleet:".into());
    line(format!(
        "  entity_labels: [{}]",
        fleet.entity_labels.join(", ")
    ));
    line(format!(
        "  stale_after: {}",
        format_duration(fleet.stale_after)
    ));
    line(format!("  max_series: {}", fleet.max_series));
    out
}
