//! Configuration: `user_config.yml` parsed into a raw struct (unknown keys
//! rejected), validated into the typed [`Config`], the lookup order
//! (`--config`, `./user_config.yml`, the platform config dir, built-in
//! defaults) and `config init`.

mod duration;
pub mod edit;
mod locate;
pub(crate) mod raw;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use duration::{format_duration, parse_duration};

/// The repository's `user_config.yml`, compiled in: the defaults when no file
/// is found, and what `config init` writes.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../../user_config.yml");

/// File name looked up in the working directory and the config dir.
pub const CONFIG_FILE_NAME: &str = "user_config.yml";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A located mistake in the YAML: syntax, type, unknown key or bad value.
    #[error("{}", located_message(.source_name, *.line, *.column, .key, .message))]
    Invalid {
        source_name: String,
        line: u64,
        column: u64,
        key: String,
        message: String,
    },
    #[error("cannot read config file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} does not exist", .path.display())]
    Missing { path: PathBuf },
    #[error("{} already exists; pass --force to overwrite it", .path.display())]
    AlreadyExists { path: PathBuf },
    #[error("cannot write config file {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no platform config directory could be determined (is HOME set?)")]
    NoConfigDir,
}

fn located_message(source_name: &str, line: u64, column: u64, key: &str, message: &str) -> String {
    let place = if line > 0 {
        format!("{source_name}:{line}:{column}")
    } else {
        source_name.to_owned()
    };
    if key.is_empty() {
        format!("{place}: {message}")
    } else {
        format!("{place}: {key}: {message}")
    }
}

/// The operating systems a metric can have its own query for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    Linux,
    Windows,
    Darwin,
}

impl Os {
    /// The running OS; other Unix systems use the `linux` variant, since they
    /// run node_exporter too.
    pub fn current() -> Self {
        if cfg!(target_os = "windows") {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Darwin
        } else {
            Os::Linux
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Darwin => "darwin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppMode {
    Production,
    Development,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AppConfig {
    pub name: String,
    pub version: String,
    pub mode: AppMode,
    /// IANA time-zone name (validated); forecast seasonality runs on this
    /// zone's wall clock, so a business-hours pattern survives DST changes.
    pub timezone: String,
    /// The anomaly history database, as written (relative: under the
    /// platform data dir; see [`resolve_data_path`]).
    pub history_path: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    pub username: String,
    /// Name of the environment variable holding the password.
    pub password_env: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// Base URL without a trailing slash and without `/api/v1/...`.
    pub base_url: String,
    pub step: Duration,
    pub window: Duration,
    pub timeout: Duration,
    pub headers: Vec<(String, String)>,
    pub basic_auth: Option<BasicAuth>,
    /// Name of the environment variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    pub tls: TlsConfig,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuery {
    pub name: String,
    /// The PromQL for the OS the config was validated for.
    pub query: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdRule {
    /// This percentile (0–100] of the training windows' errors.
    Percentile(f64),
    /// `reconstruction_error_limit`.
    Fixed(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePreference {
    Auto,
    Gpu,
    Cpu,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LstmConfig {
    pub enabled: bool,
    pub sequence_length: usize,
    pub hidden_size: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub retrain_interval: Duration,
    pub reconstruction_error_limit: f64,
    pub threshold: ThresholdRule,
    pub device: DevicePreference,
    pub seed: u64,
    /// As written; see [`resolve_data_path`] for where it lives.
    pub save_path: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeasonalityMode {
    Additive,
    Multiplicative,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProphetConfig {
    pub enabled: bool,
    pub forecast_horizon: Duration,
    pub retrain_interval: Duration,
    pub changepoint_prior_scale: f64,
    pub seasonality_mode: SeasonalityMode,
    pub interval_width: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DashboardConfig {
    pub refresh_interval: Duration,
    pub show_predictions: bool,
    pub max_points: usize,
    pub retrain_button_enabled: bool,
}

/// The validated configuration every part of PulseWatch reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub app: AppConfig,
    pub prometheus: PrometheusConfig,
    pub metrics: Vec<MetricQuery>,
    pub lstm: LstmConfig,
    pub prophet: ProphetConfig,
    pub dashboard: DashboardConfig,
    pub detection: DetectionConfig,
    pub fleet: FleetConfig,
}

/// How series group into entities (`fleet`).
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// The labels whose values make an entity (a host: `[instance]`; a pod:
    /// `[pod, namespace]`; `[]`: one entity for everything).
    pub entity_labels: Vec<String>,
    /// A series that stops answering is kept (shown stale, its detector
    /// state kept) this long, then dropped.
    pub stale_after: Duration,
    /// At most this many series are followed; the rest are dropped with a
    /// warning (and counted on `/metrics`).
    pub max_series: usize,
}

impl Default for FleetConfig {
    fn default() -> Self {
        Self {
            entity_labels: vec!["instance".to_owned()],
            stale_after: Duration::from_secs(15 * 60),
            max_series: 20_000,
        }
    }
}

/// Which online detector scores live data (`detection.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DetectionMethod {
    /// Distance from the rolling median in MADs, as a likelihood.
    Robust,
    /// The same on the mean of the last rows: sustained shifts.
    Level,
    /// The same on the value minus the same moment of earlier periods:
    /// contextual anomalies in seasonal series.
    Seasonal,
    /// Contextual novelty (CAD OSE's construction): patterns of binned
    /// values never seen before.
    Context,
    /// The autoencoder's window errors, as a likelihood.
    Lstm,
    /// The largest of the five likelihoods.
    Ensemble,
}

impl DetectionMethod {
    pub fn key(self) -> &'static str {
        match self {
            DetectionMethod::Robust => "robust",
            DetectionMethod::Level => "level",
            DetectionMethod::Seasonal => "seasonal",
            DetectionMethod::Context => "context",
            DetectionMethod::Lstm => "lstm",
            DetectionMethod::Ensemble => "ensemble",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct DetectionConfig {
    pub method: DetectionMethod,
    /// A live series' own detectors judge it only after this many rows (its
    /// peers judge it from the start); the first fetch reaches back that far,
    /// so the window is judged from its first row where Prometheus has the
    /// history. A file's probation is its first 15 % (NAB's rule).
    pub probation_rows: usize,
    /// How often a live monitor saves its detectors' state (and always when
    /// it stops): what a crash can lose, against the writes. A large fleet's
    /// file is big (10,000 series with the ensemble: 2.4 GB,
    /// `benches/README.md`), so it may want longer.
    pub state_save_interval: Duration,
}

/// The default `detection.probation_rows`: the robust detector's median
/// window ([`crate::detect::online::RobustParams`]'s 2,000 rows), so its
/// median and spread stand on a full window before it judges. Fixed with
/// that reason; on the fleet fixture's clean hosts (7 days, 129 series)
/// more than 90 % of the false events of a short probation fell in a
/// series' first 1,000 rows (docs/evaluation.md).
pub const DEFAULT_PROBATION_ROWS: usize = 2000;

impl Default for DetectionConfig {
    fn default() -> Self {
        Self {
            method: DetectionMethod::Ensemble,
            probation_rows: DEFAULT_PROBATION_ROWS,
            state_save_interval: Duration::from_secs(5 * 60),
        }
    }
}

/// Where the loaded configuration came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    File(PathBuf),
    BuiltIn,
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "{}", path.display()),
            ConfigSource::BuiltIn => f.write_str("built-in defaults"),
        }
    }
}

impl Config {
    /// Parses and validates YAML text for the running OS. Pure: no I/O.
    /// `source_name` (usually the file path) prefixes every error.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Config, ConfigError> {
        Self::from_yaml_str_for_os(text, source_name, Os::current())
    }

    /// As [`Config::from_yaml_str`], choosing metric variants for `os`.
    pub fn from_yaml_str_for_os(
        text: &str,
        source_name: &str,
        os: Os,
    ) -> Result<Config, ConfigError> {
        let raw = validate::parse_raw(text, source_name)?;
        validate::validate(raw, source_name, os)
    }

    /// The built-in defaults (the repository's `user_config.yml`).
    pub fn builtin() -> Result<Config, ConfigError> {
        Self::from_yaml_str(DEFAULT_CONFIG_YAML, "<built-in user_config.yml>")
    }

    /// Reads and validates one file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ConfigError::Missing {
                    path: path.to_owned(),
                }
            } else {
                ConfigError::Read {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        Self::from_yaml_str(&text, &path.display().to_string())
    }

    /// The lookup order: `explicit` (must exist), `./user_config.yml`, the
    /// platform config dir, then the built-in defaults.
    pub fn load(explicit: Option<&Path>) -> Result<(Config, ConfigSource), ConfigError> {
        if let Some(path) = explicit {
            return Ok((Self::from_file(path)?, ConfigSource::File(path.to_owned())));
        }
        let mut candidates = vec![PathBuf::from(CONFIG_FILE_NAME)];
        if let Some(dir) = config_dir() {
            candidates.push(dir.join(CONFIG_FILE_NAME));
        }
        for path in candidates {
            if path.is_file() {
                return Ok((Self::from_file(&path)?, ConfigSource::File(path)));
            }
        }
        Ok((Self::builtin()?, ConfigSource::BuiltIn))
    }

    /// The resolved configuration as YAML-like text, secrets masked: only the
    /// names of the environment variables and whether they are set.
    pub fn describe(&self) -> String {
        validate::describe(self)
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("io", "PulseWatch", "pulsewatch")
}

/// The platform config dir (`~/.config/pulsewatch` on Linux).
pub fn config_dir() -> Option<PathBuf> {
    project_dirs().map(|dirs| dirs.config_dir().to_owned())
}

/// The platform data dir (`~/.local/share/pulsewatch` on Linux): models and history.
pub fn data_dir() -> Option<PathBuf> {
    project_dirs().map(|dirs| dirs.data_dir().to_owned())
}

/// Absolute paths stay; relative ones live under the platform data dir (or
/// the working directory when there is none).
pub fn resolve_data_path(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_owned();
    }
    match data_dir() {
        Some(dir) => dir.join(path),
        None => path.to_owned(),
    }
}

/// The default of `app.history_path`: the history database's file name
/// under the platform data dir.
pub const HISTORY_FILE_NAME: &str = "history.sqlite";

/// The history database `config` names (`app.history_path`, relative paths
/// under the platform data dir).
pub fn history_path(config: &Config) -> PathBuf {
    resolve_data_path(&config.app.history_path)
}

/// Writes the default config file into `dir` (the platform config dir when
/// `None`), atomically; refuses to replace an existing file unless `force`.
pub fn init_config_file(dir: Option<&Path>, force: bool) -> Result<PathBuf, ConfigError> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => config_dir().ok_or(ConfigError::NoConfigDir)?,
    };
    let path = dir.join(CONFIG_FILE_NAME);
    if path.exists() && !force {
        return Err(ConfigError::AlreadyExists { path });
    }
    let write_error = |source| ConfigError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(write_error)?;
    crate::fsutil::write_atomic(&path, DEFAULT_CONFIG_YAML.as_bytes()).map_err(write_error)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_file_matches_defaults_of_an_empty_file() {
        let builtin = Config::builtin().unwrap();
        let empty = Config::from_yaml_str("", "empty.yml").unwrap();
        assert_eq!(builtin, empty);
    }

    #[test]
    fn builtin_has_the_documented_defaults() {
        let c = Config::from_yaml_str_for_os(DEFAULT_CONFIG_YAML, "d", Os::Linux).unwrap();
        assert_eq!(c.app.name, "PulseWatch");
        assert_eq!(c.app.mode, AppMode::Production);
        assert_eq!(c.prometheus.base_url, "http://localhost:9090");
        assert_eq!(c.prometheus.step, Duration::from_secs(30));
        assert_eq!(c.prometheus.window, Duration::from_secs(3600));
        assert_eq!(c.prometheus.timeout, Duration::from_secs(10));
        let names: Vec<_> = c.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["cpu", "memory", "latency"]);
        assert!(c.metrics[0].query.contains("node_cpu_seconds_total"));
        assert_eq!(c.lstm.sequence_length, 50);
        assert_eq!(c.lstm.hidden_size, 32);
        assert_eq!(c.lstm.epochs, 10);
        assert_eq!(c.lstm.batch_size, 64);
        assert_eq!(c.lstm.learning_rate, 0.001);
        assert_eq!(c.lstm.retrain_interval, Duration::from_secs(24 * 3600));
        assert_eq!(c.lstm.threshold, ThresholdRule::Percentile(99.0));
        assert_eq!(c.lstm.device, DevicePreference::Auto);
        assert_eq!(c.lstm.save_path, PathBuf::from("models/lstm_model"));
        assert_eq!(c.prophet.forecast_horizon, Duration::from_secs(3600));
        assert_eq!(c.prophet.retrain_interval, Duration::from_secs(12 * 3600));
        assert_eq!(c.prophet.changepoint_prior_scale, 0.1);
        assert_eq!(c.prophet.seasonality_mode, SeasonalityMode::Additive);
        assert_eq!(c.prophet.interval_width, 0.8);
        assert_eq!(c.dashboard.refresh_interval, Duration::from_secs(5));
        assert_eq!(c.dashboard.max_points, 500);
        assert!(c.dashboard.show_predictions && c.dashboard.retrain_button_enabled);
        assert_eq!(c.detection.state_save_interval, Duration::from_secs(300));
        let slower = Config::from_yaml_str("detection:\n  state_save_interval: 30m\n", "t.yml")
            .expect("30m");
        assert_eq!(
            slower.detection.state_save_interval,
            Duration::from_secs(1800)
        );
    }

    #[test]
    fn every_detection_method_parses_and_a_typo_names_them_all() {
        for method in [
            DetectionMethod::Robust,
            DetectionMethod::Level,
            DetectionMethod::Seasonal,
            DetectionMethod::Context,
            DetectionMethod::Lstm,
            DetectionMethod::Ensemble,
        ] {
            let text = format!("detection:\n  method: {}\n", method.key());
            let c = Config::from_yaml_str(&text, "t.yml").unwrap();
            assert_eq!(c.detection.method, method);
        }
        assert_eq!(
            Config::builtin().unwrap().detection.method,
            DetectionMethod::Ensemble
        );
        let err = Config::from_yaml_str("detection:\n  method: seasonl\n", "t.yml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t.yml")
                && err.contains("detection.method")
                && err.contains("robust, level, seasonal, context, lstm, ensemble"),
            "{err}"
        );
    }

    #[test]
    fn per_os_variants_are_chosen() {
        let windows = Config::from_yaml_str_for_os(DEFAULT_CONFIG_YAML, "d", Os::Windows).unwrap();
        assert!(windows.metrics[0].query.contains("windows_cpu_time_total"));
        let darwin = Config::from_yaml_str_for_os(DEFAULT_CONFIG_YAML, "d", Os::Darwin).unwrap();
        assert!(darwin.metrics[1].query.contains("node_memory_wired_bytes"));
        // latency is one string for every OS
        assert_eq!(windows.metrics[2].query, darwin.metrics[2].query);
    }

    #[test]
    fn old_query_range_url_and_durations_as_text() {
        let text = "prometheus:\n  url: https://mimir.example/prometheus/api/v1/query_range\n\
                    lstm_model:\n  retrain_interval: 90m\nprophet_model:\n  forecast_horizon: 2h\n\
                    dashboard:\n  refresh_interval: 1500ms\n";
        let c = Config::from_yaml_str(text, "t.yml").unwrap();
        assert_eq!(c.prometheus.base_url, "https://mimir.example/prometheus");
        assert_eq!(c.lstm.retrain_interval, Duration::from_secs(5400));
        assert_eq!(c.prophet.forecast_horizon, Duration::from_secs(7200));
        assert_eq!(c.dashboard.refresh_interval, Duration::from_millis(1500));
    }

    #[test]
    fn describe_masks_secrets() {
        let text = "prometheus:\n  headers:\n    Authorization: Bearer abc123\n    X-Scope-OrgID: team-a\n\
                    \x20 basic_auth:\n    username: bob\n    password_env: PW_FOR_TEST_UNSET_1\n";
        let c = Config::from_yaml_str(text, "t.yml").unwrap();
        let shown = c.describe();
        assert!(!shown.contains("abc123"), "{shown}");
        assert!(shown.contains("team-a"), "{shown}");
        assert!(shown.contains("PW_FOR_TEST_UNSET_1 (not set)"), "{shown}");
    }
}
