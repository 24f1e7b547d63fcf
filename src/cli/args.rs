//! The command-line grammar (clap derive): [`Cli`], its [`Command`]s and the
//! subcommand and value enums. Nothing here runs anything; `super::run`
//! dispatches on what clap parsed.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pulsewatch",
    version,
    about = "PulseWatch: metrics from Prometheus, anomalies, forecasts",
    long_about = "PulseWatch: metrics from Prometheus, anomalies, forecasts.\n\n\
                  Without a subcommand it opens the desktop window."
)]
pub struct Cli {
    /// Config file (default: ./user_config.yml, then the platform config dir,
    /// then built-in defaults).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `serve`'s flags.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: std::net::SocketAddr,
    /// Alertmanager base URL: alerts go to its API v2 when an anomaly
    /// starts, while it lasts, and when it ends.
    #[arg(long, value_name = "URL")]
    pub alertmanager: Option<String>,
    /// The history database (default: `app.history_path`).
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Follow only shard K of N (`0/2`, `1/2`: two replicas that
    /// together score every entity once, each by the stable hash of its
    /// entity labels). Default: `PULSEWATCH_SHARD`, else all of them.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// A Prometheus web config file (exporter-toolkit format, as for
    /// node_exporter): `tls_server_config` and `basic_auth_users`.
    #[arg(long = "web.config.file", value_name = "FILE")]
    pub web_config_file: Option<PathBuf>,
    /// Serve `POST /train` without auth on a non-loopback address
    /// (refused otherwise).
    #[arg(long = "web.allow-unauthenticated-train")]
    pub allow_unauthenticated_train: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop window (the default).
    Ui {
        /// Show this CSV file instead of the bundled sample data.
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
    /// Check or create the configuration file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Write the seeded sample data set as CSV.
    SampleData {
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 11_520)]
        rows: usize,
        #[arg(long, value_enum, default_value_t = Kind::Multivariate)]
        kind: Kind,
        /// Sampling step, a duration such as "30s".
        #[arg(long, default_value = "30s")]
        step: String,
        /// First timestamp (RFC 3339).
        #[arg(long, default_value = "2026-01-01T00:00:00Z")]
        start: String,
        /// Inject spikes into this share of the rows, as Test mode does, and
        /// write them as the `is_anomaly` column (a labelled file for
        /// `eval labelled`). Test mode's default is 0.005.
        #[arg(long, value_name = "RATE")]
        spikes: Option<f64>,
        /// Spike height in robust standard deviations (Test mode's default).
        #[arg(
            long,
            default_value_t = 6.0,
            value_name = "SIGMAS",
            requires = "spikes"
        )]
        spike_size: f64,
        /// Seed of the spikes (Test mode's default).
        #[arg(long, default_value_t = 1, requires = "spikes")]
        spike_seed: u64,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Describe a CSV file: rows, span, step, columns, missing values, labels.
    Inspect { file: PathBuf },
    /// Train the LSTM autoencoder on a CSV file and save it.
    Train {
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Override lstm_model.epochs.
        #[arg(long)]
        epochs: Option<usize>,
        /// Override lstm_model.device.
        #[arg(long, value_enum)]
        device: Option<DeviceArg>,
        /// Model directory (default: lstm_model.save_path under the data dir).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Score every row of a CSV file with a saved model.
    Detect {
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Model directory (default: lstm_model.save_path under the data dir).
        #[arg(long, value_name = "DIR")]
        model: Option<PathBuf>,
        /// Write `timestamp,error,score,anomalous,top_metric` here.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forecast every metric of a CSV file: history band and horizon, band
    /// anomalies, and P/R/F1 of those when the file has labels.
    Forecast {
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        #[arg(long, value_enum, default_value_t = ModelArg::Prophet)]
        model: ModelArg,
        /// How far ahead, a duration such as "60m" (default:
        /// prophet_model.forecast_horizon).
        #[arg(long)]
        horizon: Option<String>,
        /// Write `metric,timestamp,part,y,yhat,yhat_lower,yhat_upper,band_score`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run headless: poll Prometheus, score and forecast every metric, and
    /// serve `/metrics` (Prometheus text format), `/healthz`, `/readyz`, `/`.
    Serve(ServeArgs),
    /// Read a password from stdin (one line) and print its bcrypt hash, for
    /// `basic_auth_users` in a web config file.
    HashPassword {
        /// bcrypt cost (4 to 31; each step doubles the work).
        #[arg(long, default_value_t = 10)]
        cost: u32,
    },
    /// Print the anomaly history: events, training runs, fetch failures.
    History {
        /// How far back (e.g. 24h, 7d, 30m).
        #[arg(long, default_value = "24h")]
        since: String,
        /// CSV on stdout instead of tables.
        #[arg(long)]
        csv: bool,
        /// The history database (default: `app.history_path`).
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
        /// Run SQLite's integrity check instead; exits 1 unless it says ok.
        #[arg(long)]
        check: bool,
    },
    /// Evaluation against labelled benchmarks.
    Eval {
        #[command(subcommand)]
        what: EvalWhat,
    },
    /// Benchmarks, printed beside the Python peers' numbers.
    Bench {
        #[command(subcommand)]
        what: BenchWhat,
    },
    /// Fetch every configured metric from Prometheus and write one CSV.
    Fetch {
        /// How far back from now (default: prometheus.window).
        #[arg(long)]
        window: Option<String>,
        /// Fixed range start (RFC 3339 or Unix seconds) instead of a window.
        #[arg(long, requires = "end")]
        start: Option<String>,
        /// Fixed range end.
        #[arg(long, requires = "start")]
        end: Option<String>,
        /// Query step (default: prometheus.step).
        #[arg(long)]
        step: Option<String>,
        /// CSV file to write (default: standard output).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// `wide`: one column per series, named `metric{labels}`; `long`:
        /// one line per value (timestamp, labels…, metric, value).
        #[arg(long, value_enum, default_value_t = FetchFormat::Wide)]
        format: FetchFormat,
    },
    /// Write a CSV file as OpenMetrics text, to backfill Prometheus with
    /// `promtool tsdb create-blocks-from openmetrics`.
    ExportOpenmetrics {
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Prefix for every metric name.
        #[arg(long, default_value = "")]
        prefix: String,
        /// Shift the timestamps so the last row lands here (Unix ms).
        #[arg(long, value_name = "MS")]
        end_at_ms: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FetchFormat {
    Wide,
    Long,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate a config file (or the one the lookup order finds) and print
    /// the resolved configuration, secrets masked.
    Check { path: Option<PathBuf> },
    /// Write the default config file into the platform config dir.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Write into this directory instead of the platform config dir.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Train (reference settings) and score the LSTM autoencoder; median of
    /// several runs per file.
    Lstm {
        /// Labelled CSV files (default: tests/fixtures/metrics_10k.csv).
        #[arg(long = "csv", value_name = "FILE")]
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
    },
    /// Fit and predict every metric (history + horizon, with bands) with
    /// Prophet and MSTL; median of several runs per file.
    Forecast {
        /// Labelled CSV files (default: tests/fixtures/metrics_10k.csv).
        #[arg(long = "csv", value_name = "FILE")]
        files: Vec<PathBuf>,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// One model only (default: both).
        #[arg(long, value_enum)]
        model: Option<ModelArg>,
        /// The peer's horizon forecast (`metric,ds,yhat,yhat_lower,yhat_upper`)
        /// for each file, in the same order, to report agreement.
        #[arg(long = "reference", value_name = "FILE")]
        references: Vec<PathBuf>,
    },
    /// One live refresh over a synthetic fleet (hosts × cpu, memory,
    /// latency): the step's answer parsed and merged, the window appended,
    /// the detectors fed, the one rule applied, `/metrics` written; at each
    /// number of series and window length, each in its own process.
    Fleet {
        /// Series counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = [100, 1_000, 10_000])]
        series: Vec<usize>,
        /// Window lengths (comma-separated durations).
        #[arg(long, value_delimiter = ',', default_values_t = ["1h".to_owned(), "24h".to_owned()])]
        window: Vec<String>,
        #[arg(long, default_value = "30s")]
        step: String,
        /// Refreshes measured per size (the median is reported).
        #[arg(long, default_value_t = 5)]
        refreshes: usize,
        /// The online detector (`detection.method`; not `band`).
        #[arg(long, value_enum, default_value_t = MethodArg::Ensemble)]
        method: MethodArg,
        /// Also the autoencoder, a model per host (trained on the first
        /// load's window with the shipped `lstm_model` settings, timed apart).
        #[arg(long)]
        autoencoder: bool,
    },
    /// serve's HTTP side under load: 200 idle and half-sent clients beside
    /// `/healthz` and `/metrics` probes, then `/metrics` (gzip) open-loop at
    /// a fixed rate; the load from a second process.
    Http {
        /// Series in the synthetic exposition (comma-separated).
        #[arg(long, value_delimiter = ',', default_values_t = [1_000, 10_000])]
        series: Vec<usize>,
        /// `/metrics` requests per second.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        /// Seconds at that rate.
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// Idle and half-sent connections held during the probes.
        #[arg(long, default_value_t = 200)]
        idle: usize,
        /// Keep-alive connections the rate is spread over.
        #[arg(long, default_value_t = 16)]
        connections: usize,
    },
    /// The load side of `bench http` (what it runs).
    #[command(hide = true)]
    HttpLoad {
        #[arg(long)]
        port: u16,
        #[arg(long)]
        rate: u32,
        #[arg(long)]
        secs: f64,
        #[arg(long)]
        idle: usize,
        #[arg(long)]
        connections: usize,
    },
    /// One size of `bench fleet`, in this process (what `bench fleet` runs).
    #[command(hide = true)]
    FleetOne {
        #[arg(long)]
        series: usize,
        #[arg(long)]
        window: String,
        #[arg(long)]
        step: String,
        #[arg(long)]
        refreshes: usize,
        #[arg(long, value_enum)]
        method: MethodArg,
        #[arg(long)]
        autoencoder: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalWhat {
    /// An online detector over a labelled CSV (`is_anomaly` column): every
    /// metric scored row by row, a row flagged when any metric's score
    /// reaches the alarm level; point-wise P/R/F1 (no point-adjust), event
    /// recall and detection delay.
    Labelled {
        #[arg(long = "csv", value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = MethodArg::Robust)]
        method: MethodArg,
        #[arg(long)]
        json: bool,
    },
    /// NAB scores (standard, reward_low_FP_rate, reward_low_FN_rate) of one
    /// score CSV per data file (`timestamp,anomaly_score`), with NAB's rules,
    /// beside a seeded random detector.
    Nab {
        /// NAB data dir (`<category>/<file>.csv` or flat).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// labels/combined_windows.json
        #[arg(long, value_name = "FILE")]
        windows: PathBuf,
        /// Score CSVs to evaluate (one per data file, `<dir>/<category>/<file>.csv`
        /// or flat); with --method, where the detector writes them.
        #[arg(long, value_name = "DIR", alias = "out")]
        scores_dir: PathBuf,
        /// Run this detector online over every file first and write its
        /// scores to --scores-dir.
        #[arg(long, value_enum)]
        method: Option<MethodArg>,
        /// Comma-separated categories, paths, file names or stems.
        #[arg(long, default_value = "")]
        files: String,
        /// With --method: write every row's likelihood, without the cap of
        /// one alarm per event, for combining detectors offline
        /// (tools/nab_combine.py).
        #[arg(long, requires = "method")]
        uncapped: bool,
        #[arg(long)]
        json: bool,
    },
    /// Alarms and marks at the shipped alarm level, no threshold tuned: per
    /// category of a NAB-layout set, the windows a marked event touches and
    /// the windows with an alarm (the capped scores `eval nab` scores), and
    /// the marked events and alarms outside every window per series per
    /// week judged (after the probation); on --csv files (normal data, no
    /// labels) every one is false.
    Alarms {
        /// NAB-layout data dir (with --windows).
        #[arg(long, value_name = "DIR", requires = "windows")]
        data: Option<PathBuf>,
        #[arg(long, value_name = "FILE", requires = "data")]
        windows: Option<PathBuf>,
        /// Comma-separated categories, paths, file names or stems.
        #[arg(long, default_value = "")]
        files: String,
        /// Unlabelled CSVs of normal data (wide, or long per entity).
        #[arg(long = "csv", value_name = "FILE")]
        csv: Vec<PathBuf>,
        #[arg(long, value_enum, default_value_t = MethodArg::Ensemble)]
        method: MethodArg,
        /// Rows each series' detectors learn from before they judge
        /// (default: NAB's 15 % of the series; the daemon's is
        /// `detection.probation_rows`).
        #[arg(long)]
        probation_rows: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Writes the generated development set (NAB layout: one category per
    /// anomaly kind, `gen-clean` without anomalies) under --out.
    Generate {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MethodArg {
    /// Distance from the rolling median in MADs, as an anomaly likelihood.
    Robust,
    /// The same on the mean of the last 24 rows (sustained shifts).
    Level,
    /// The same on the value minus the same moment of the last three
    /// periods (period found in the probationary rows; silent without one).
    Seasonal,
    /// Contextual novelty in the manner of CAD OSE: patterns of binned values
    /// never seen before.
    Context,
    /// The LSTM autoencoder trained on the probationary rows; window errors
    /// as a likelihood.
    Lstm,
    /// The largest of the robust, level, seasonal, context and autoencoder
    /// likelihoods (the robust, seasonal and autoencoder ones alarm only
    /// above their own peak of the last half probation), then one alarm per
    /// event.
    Ensemble,
    /// The Prophet band, refitted as the data arrive: distance from the
    /// forecast made before each row, in band half-widths, as a likelihood.
    Band,
    /// Each subsequence (a period's rows, else 24) against its nearest
    /// earlier one (left matrix-profile discords), as a likelihood; for
    /// evaluation only (it keeps every row).
    Discord,
}

impl MethodArg {
    /// The `detection.method` this names; None for the forecast band and
    /// the discord detector, which only the evaluation runs (one refits
    /// Prophet as rows arrive, the other keeps every row).
    pub(super) fn detection(self) -> Option<crate::config::DetectionMethod> {
        use crate::config::DetectionMethod;
        match self {
            MethodArg::Robust => Some(DetectionMethod::Robust),
            MethodArg::Level => Some(DetectionMethod::Level),
            MethodArg::Seasonal => Some(DetectionMethod::Seasonal),
            MethodArg::Context => Some(DetectionMethod::Context),
            MethodArg::Lstm => Some(DetectionMethod::Lstm),
            MethodArg::Ensemble => Some(DetectionMethod::Ensemble),
            MethodArg::Band | MethodArg::Discord => None,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ModelArg {
    Prophet,
    Mstl,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Gpu,
    Cpu,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Kind {
    Univariate,
    Multivariate,
}
