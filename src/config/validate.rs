//! Raw YAML → typed [`Config`]: defaults for missing keys, ranges, enums,
//! durations and URLs checked, each mistake located at its line and column.

use std::path::PathBuf;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::duration::{format_duration, parse_duration};
use super::locate::{did_you_mean, explain_type_error, explain_unknown_key, key_path_at};
use super::raw::{Field, NumberOrText, OS_KEYS, RawConfig, RawQuery};
use super::{
    AppConfig, AppMode, BasicAuth, Config, ConfigError, DashboardConfig, DetectionConfig,
    DetectionMethod, DevicePreference, LstmConfig, MetricQuery, Os, PrometheusConfig,
    ProphetConfig, SeasonalityMode, ThresholdRule, TlsConfig,
};

pub fn parse_raw(text: &str, source_name: &str) -> Result<RawConfig, ConfigError> {
    // An empty file (or one holding only comments) means "all defaults".
    let has_content = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#') && l.trim() != "---");
    if !has_content {
        return Ok(RawConfig::default());
    }
    serde_saphyr::from_str::<RawConfig>(text).map_err(|error| {
        let (line, column) = error
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        // The library's own text may carry a rendered snippet; keep the first line.
        let rendered = error.without_snippet().to_string();
        let first_line = rendered.lines().next().unwrap_or_default();
        // The position is reported separately; drop the library's copy of it.
        let bare = match first_line.rfind(" at line ") {
            Some(at) => &first_line[..at],
            None => first_line,
        };
        let mut message = explain_type_error(bare, text, line, column);
        let mut key = key_path_at(text, line);
        if let Some((field, explained)) = explain_unknown_key(&message) {
            message = explained;
            // The error points at the unknown key itself; make sure the path ends in it.
            if !key.ends_with(&field) {
                key = if key.is_empty() {
                    field
                } else {
                    format!("{key}.{field}")
                };
            }
        }
        ConfigError::Invalid {
            source_name: source_name.to_owned(),
            line,
            column,
            key,
            message,
        }
    })
}

struct Ctx<'a> {
    source_name: &'a str,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            source_name: self.source_name.to_owned(),
            line: at.referenced.line(),
            column: at.referenced.column(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn int(
        &self,
        field: &Field<i64>,
        key: &str,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<usize, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default as usize);
        };
        if !range.contains(&spanned.value) {
            return Err(self.err(
                spanned,
                key,
                format!(
                    "{} is out of range; expected an integer from {} to {}",
                    spanned.value,
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(spanned.value as usize)
    }

    fn float(
        &self,
        field: &Field<f64>,
        key: &str,
        default: f64,
        valid: impl Fn(f64) -> bool,
        expected: &str,
    ) -> Result<f64, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        if !spanned.value.is_finite() || !valid(spanned.value) {
            return Err(self.err(
                spanned,
                key,
                format!("{} is out of range; expected {expected}", spanned.value),
            ));
        }
        Ok(spanned.value)
    }

    fn text(&self, field: &Field<String>, default: &str) -> String {
        field
            .as_ref()
            .map_or_else(|| default.to_owned(), |s| s.value.clone())
    }

    fn choice<'o>(
        &self,
        field: &Field<String>,
        key: &str,
        default: &'o str,
        options: &[&'o str],
    ) -> Result<&'o str, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        if let Some(option) = options.iter().find(|o| **o == spanned.value) {
            return Ok(option);
        }
        let mut message = format!("unknown value `{}`", spanned.value);
        if let Some(guess) = did_you_mean(&spanned.value, options) {
            message.push_str(&format!(" (did you mean `{guess}`?)"));
        }
        message.push_str(&format!("; expected one of: {}", options.join(", ")));
        Err(self.err(spanned, key, message))
    }

    /// A positive Prometheus duration.
    fn duration(
        &self,
        field: &Field<String>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        let duration = parse_duration(&spanned.value).map_err(|m| self.err(spanned, key, m))?;
        if duration.is_zero() {
            return Err(self.err(spanned, key, "must be longer than zero"));
        }
        Ok(duration)
    }

    /// A positive number in `unit_secs` units, or a positive duration string.
    fn number_or_duration(
        &self,
        field: &Field<NumberOrText>,
        key: &str,
        default: Duration,
        unit_secs: f64,
        unit_name: &str,
    ) -> Result<Duration, ConfigError> {
        let Some(spanned) = field else {
            return Ok(default);
        };
        let duration = match &spanned.value {
            NumberOrText::Number(n) if n.is_finite() && *n > 0.0 => {
                Duration::from_secs_f64(n * unit_secs)
            }
            NumberOrText::Number(n) => {
                return Err(self.err(
                    spanned,
                    key,
                    format!(
                        "{n} is out of range; expected a positive number of {unit_name} \
                         or a duration such as \"90m\""
                    ),
                ));
            }
            NumberOrText::Text(text) => {
                parse_duration(text).map_err(|m| self.err(spanned, key, m))?
            }
        };
        if duration.is_zero() {
            return Err(self.err(spanned, key, "must be longer than zero"));
        }
        Ok(duration)
    }
}

pub fn validate(raw: RawConfig, source_name: &str, os: Os) -> Result<Config, ConfigError> {
    let ctx = Ctx { source_name };
    let app_raw = raw.app.unwrap_or_default();
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
    let app = AppConfig {
        timezone,
        history_path: PathBuf::from(ctx.text(&app_raw.history_path, crate::history::FILE_NAME)),
        name: ctx.text(&app_raw.name, "PulseWatch"),
        version: ctx.text(&app_raw.version, env!("CARGO_PKG_VERSION")),
        mode: if mode == "development" {
            AppMode::Development
        } else {
            AppMode::Production
        },
    };

    let prometheus = validate_prometheus(&ctx, raw.prometheus.unwrap_or_default())?;
    let metrics = validate_metrics(&ctx, raw.metrics, os)?;

    let lstm_raw = raw.lstm_model.unwrap_or_default();
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
    let lstm = LstmConfig {
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
    };

    let prophet_raw = raw.prophet_model.unwrap_or_default();
    let seasonality = ctx.choice(
        &prophet_raw.seasonality_mode,
        "prophet_model.seasonality_mode",
        "additive",
        &["additive", "multiplicative"],
    )?;
    let prophet = ProphetConfig {
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
    };

    let dashboard_raw = raw.dashboard.unwrap_or_default();
    let dashboard = DashboardConfig {
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
    };

    let detection_raw = raw.detection.unwrap_or_default();
    let method = ctx.choice(
        &detection_raw.method,
        "detection.method",
        "ensemble",
        &["robust", "level", "seasonal", "context", "lstm", "ensemble"],
    )?;
    let detection = DetectionConfig {
        method: match method {
            "robust" => DetectionMethod::Robust,
            "level" => DetectionMethod::Level,
            "seasonal" => DetectionMethod::Seasonal,
            "context" => DetectionMethod::Context,
            "lstm" => DetectionMethod::Lstm,
            _ => DetectionMethod::Ensemble,
        },
    };

    Ok(Config {
        app,
        prometheus,
        metrics,
        lstm,
        prophet,
        dashboard,
        detection,
    })
}

fn validate_prometheus(
    ctx: &Ctx,
    raw: super::raw::RawPrometheus,
) -> Result<PrometheusConfig, ConfigError> {
    let base_url = match &raw.url {
        None => "http://localhost:9090".to_owned(),
        Some(spanned) => {
            normalize_url(&spanned.value).map_err(|m| ctx.err(spanned, "prometheus.url", m))?
        }
    };
    let step = ctx.duration(&raw.step, "prometheus.step", Duration::from_secs(30))?;
    let window = ctx.duration(&raw.window, "prometheus.window", Duration::from_secs(3600))?;
    if window < step
        && let Some(spanned) = &raw.window
    {
        return Err(ctx.err(
            spanned,
            "prometheus.window",
            format!(
                "window {} is shorter than step {}; expected a window of at least one step",
                format_duration(window),
                format_duration(step)
            ),
        ));
    }
    let timeout = ctx.duration(&raw.timeout, "prometheus.timeout", Duration::from_secs(10))?;

    let mut headers = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default() {
        let key = format!("prometheus.headers.{name}");
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if name.is_empty() || !name.chars().all(token) {
            return Err(ctx.err(
                &value,
                &key,
                format!("`{name}` is not a valid HTTP header name"),
            ));
        }
        if value.value.contains(['\r', '\n']) {
            return Err(ctx.err(&value, &key, "header values must be one line"));
        }
        headers.push((name, value.value.clone()));
    }

    let basic_auth = match raw.basic_auth {
        None => None,
        Some(spanned) => {
            let key = "prometheus.basic_auth";
            let username = spanned.value.username.as_ref().map(|s| s.value.clone());
            let password_env = spanned.value.password_env.as_ref();
            let Some(username) = username.filter(|u| !u.is_empty()) else {
                return Err(ctx.err(&spanned, key, "missing `username`"));
            };
            let Some(password_env) = password_env else {
                return Err(ctx.err(
                    &spanned,
                    key,
                    "missing `password_env`: the name of the environment variable \
                     holding the password (passwords are never stored in the file)",
                ));
            };
            check_env_name(ctx, password_env, "prometheus.basic_auth.password_env")?;
            Some(BasicAuth {
                username,
                password_env: password_env.value.clone(),
            })
        }
    };
    let bearer_token_env = match &raw.bearer_token_env {
        None => None,
        Some(spanned) => {
            check_env_name(ctx, spanned, "prometheus.bearer_token_env")?;
            Some(spanned.value.clone())
        }
    };
    let tls_raw = raw.tls.unwrap_or_default();
    let tls = TlsConfig {
        ca_file: tls_raw
            .ca_file
            .as_ref()
            .map(|s| PathBuf::from(&s.value))
            .filter(|p| !p.as_os_str().is_empty()),
        insecure_skip_verify: tls_raw.insecure_skip_verify.is_some_and(|s| s.value),
    };
    Ok(PrometheusConfig {
        base_url,
        step,
        window,
        timeout,
        headers,
        basic_auth,
        bearer_token_env,
        tls,
    })
}

fn check_env_name(ctx: &Ctx, name: &Spanned<String>, key: &str) -> Result<(), ConfigError> {
    let value = &name.value;
    let valid = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(ctx.err(
            name,
            key,
            format!(
                "`{value}` is not an environment variable name; expected the NAME of \
                 the variable that holds the secret (letters, digits, _)"
            ),
        ))
    }
}

/// Checks the scheme and host and strips `/api/v1/query_range` (the old form)
/// and trailing slashes, leaving the base URL.
fn normalize_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!(
            "`{url}` has no scheme; expected a URL such as http://localhost:9090"
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "unsupported scheme `{scheme}` in `{url}`; expected http or https"
        ));
    }
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("`{url}` has no host; expected http://HOST[:PORT]"));
    }
    if url.contains(char::is_whitespace) {
        return Err(format!("`{url}` contains whitespace"));
    }
    let mut base = url.trim_end_matches('/');
    for suffix in ["/api/v1/query_range", "/api/v1/query", "/api/v1"] {
        if let Some(stripped) = base.strip_suffix(suffix) {
            base = stripped.trim_end_matches('/');
            break;
        }
    }
    Ok(base.to_owned())
}

fn default_metrics(os: Os) -> Vec<MetricQuery> {
    // The built-in file defines them; parsing it again here keeps one source.
    match super::Config::from_yaml_str_for_os(super::DEFAULT_CONFIG_YAML, "<built-in>", os) {
        Ok(config) => config.metrics,
        Err(_) => Vec::new(),
    }
}

fn validate_metrics(
    ctx: &Ctx,
    raw: Option<Spanned<super::raw::RawMetrics>>,
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
        super::resolve_data_path(&c.app.history_path).display()
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
        super::resolve_data_path(&l.save_path).display()
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
    out
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn urls_are_normalized() {
        assert_eq!(normalize_url("http://h:9090/").unwrap(), "http://h:9090");
        assert_eq!(
            normalize_url("http://h/select/0/prometheus/api/v1/query_range").unwrap(),
            "http://h/select/0/prometheus"
        );
        assert!(normalize_url("h:9090").unwrap_err().contains("no scheme"));
        assert!(
            normalize_url("ftp://h")
                .unwrap_err()
                .contains("unsupported scheme")
        );
        assert!(normalize_url("http:///x").unwrap_err().contains("no host"));
    }
}
