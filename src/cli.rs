//! The command line: clap definitions and one function per subcommand. With
//! no subcommand PulseWatch opens the desktop window.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{self, Config, ConfigError, DevicePreference, format_duration, parse_duration};
use crate::data::{self, MetricFrame, SampleKind, SampleSpec, time};
use crate::ingest::{PromClient, TimeRange};
use crate::{detect, eval};

mod eval_cmd;
mod forecast_cmd;
mod history_cmd;

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
    Serve {
        /// Address to listen on (loopback by default).
        #[arg(long, default_value = "127.0.0.1:9464")]
        listen: std::net::SocketAddr,
        /// Alertmanager base URL: alerts go to its API v2 when an anomaly
        /// starts, while it lasts, and when it ends.
        #[arg(long, value_name = "URL")]
        alertmanager: Option<String>,
        /// The history database (default: `app.history_path`).
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
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
}

impl MethodArg {
    /// The `detection.method` this names; None for the forecast band, which
    /// only the evaluation runs (it refits Prophet as rows arrive).
    fn detection(self) -> Option<crate::config::DetectionMethod> {
        use crate::config::DetectionMethod;
        match self {
            MethodArg::Robust => Some(DetectionMethod::Robust),
            MethodArg::Level => Some(DetectionMethod::Level),
            MethodArg::Seasonal => Some(DetectionMethod::Seasonal),
            MethodArg::Context => Some(DetectionMethod::Context),
            MethodArg::Lstm => Some(DetectionMethod::Lstm),
            MethodArg::Ensemble => Some(DetectionMethod::Ensemble),
            MethodArg::Band => None,
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

/// A mistake in how PulseWatch was called (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// Runs the command line and maps the outcome to the exit code: 0 ok,
/// 1 runtime failure, 2 usage or config error.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help/version to stdout and mistakes to stderr.
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let mut text = format!("error: {error}");
            for cause in error.chain().skip(1) {
                let _ = write!(text, "\n  caused by: {cause}");
            }
            eprintln!("{text}");
            let usage = error.downcast_ref::<ConfigError>().is_some()
                || error.downcast_ref::<UsageError>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => open_window(cli.config.as_deref(), None),
        Some(Command::Ui { csv }) => open_window(cli.config.as_deref(), csv),
        Some(Command::Config { action }) => match action {
            ConfigAction::Check { path } => config_check(path.as_deref().or(cli.config.as_deref())),
            ConfigAction::Init { force, dir } => {
                let path = config::init_config_file(dir.as_deref(), force)?;
                println!("wrote {}", path.display());
                Ok(())
            }
        },
        Some(Command::SampleData {
            seed,
            rows,
            kind,
            step,
            start,
            spikes,
            spike_size,
            spike_seed,
            out,
        }) => {
            let spikes = spikes.map(|rate| Spikes {
                rate,
                size_sigmas: spike_size,
                seed: spike_seed,
            });
            sample_data(seed, rows, kind, &step, &start, spikes, &out)
        }
        Some(Command::Inspect { file }) => inspect(&file),
        Some(Command::Train {
            csv,
            epochs,
            device,
            out,
        }) => train(cli.config.as_deref(), &csv, epochs, device, out),
        Some(Command::Detect {
            csv,
            model,
            out,
            json,
        }) => detect(cli.config.as_deref(), &csv, model, out.as_deref(), json),
        Some(Command::Bench {
            what:
                BenchWhat::Lstm {
                    files,
                    runs,
                    epochs,
                    device,
                },
        }) => bench_lstm(&files, runs, epochs, device),
        Some(Command::Bench {
            what:
                BenchWhat::Forecast {
                    files,
                    runs,
                    model,
                    references,
                },
        }) => forecast_cmd::bench(&files, runs, model, &references),
        Some(Command::Serve {
            listen,
            alertmanager,
            history,
        }) => {
            let (config, _) = Config::load(cli.config.as_deref())?;
            crate::serve::signals::install().context("cannot install the SIGTERM handler")?;
            let history_path = history.unwrap_or_else(|| crate::history::path_for(&config));
            eprintln!(
                "pulsewatch serve: listening on http://{listen}; history in {}",
                history_path.display()
            );
            crate::serve::serve(
                config,
                crate::serve::ServeOptions {
                    listen,
                    alertmanager,
                    history_path,
                    clock: std::sync::Arc::new(crate::engine::schedule::SystemClock),
                },
                std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
            )?;
            eprintln!("pulsewatch serve: stopped");
            Ok(())
        }
        Some(Command::History {
            since,
            csv,
            history,
            check,
        }) => {
            let since = duration_arg("--since", &since)?;
            let path = match history {
                Some(path) => path,
                None => crate::history::path_for(&Config::load(cli.config.as_deref())?.0),
            };
            history_cmd::run(&path, since, csv, check)
        }
        Some(Command::Eval {
            what:
                EvalWhat::Labelled {
                    files,
                    method,
                    json,
                },
        }) => eval_cmd::eval_labelled(&files, method, json),
        Some(Command::Eval {
            what:
                EvalWhat::Nab {
                    data,
                    windows,
                    scores_dir,
                    method,
                    files,
                    uncapped,
                    json,
                },
        }) => eval_cmd::eval_nab(
            &data,
            &windows,
            &scores_dir,
            method.map(|m| (m, uncapped)),
            &files,
            json,
        ),
        Some(Command::Forecast {
            csv,
            model,
            horizon,
            out,
            json,
        }) => forecast_cmd::forecast(
            cli.config.as_deref(),
            &csv,
            model,
            horizon.as_deref(),
            out.as_deref(),
            json,
        ),
        Some(Command::Fetch {
            window,
            start,
            end,
            step,
            out,
        }) => fetch(
            cli.config.as_deref(),
            window.as_deref(),
            start.as_deref().zip(end.as_deref()),
            step.as_deref(),
            out.as_deref(),
        ),
        Some(Command::ExportOpenmetrics {
            csv,
            out,
            prefix,
            end_at_ms,
        }) => export_openmetrics(&csv, &out, &prefix, end_at_ms),
    }
}

fn model_dir(config: &Config, explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| config::resolve_data_path(&config.lstm.save_path))
}

fn train(
    config_path: Option<&Path>,
    csv: &Path,
    epochs: Option<usize>,
    device: Option<DeviceArg>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (mut config, _) = Config::load(config_path)?;
    if let Some(epochs) = epochs {
        if epochs == 0 {
            return Err(UsageError("--epochs: expected at least 1".into()).into());
        }
        config.lstm.epochs = epochs;
    }
    if let Some(device) = device {
        config.lstm.device = device_preference(device);
    }
    let load = data::read_csv(csv)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", csv.display());
    }
    let device = detect::resolve_device(config.lstm.device)?;
    eprintln!(
        "training on {} rows × {} metrics ({}), device {device}",
        load.frame.len(),
        load.frame.names().len(),
        load.frame.names().join(", ")
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {msg} [{bar:30}] {pos}/{len} batches, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut on_progress = |p: &detect::TrainProgress| {
        bar.set_length((p.batches * p.epochs) as u64);
        bar.set_position(((p.epoch - 1) * p.batches + p.batch) as u64);
        bar.set_message(format!(
            "{}/{} loss {:.5} ({:.0} windows/s)",
            p.epoch, p.epochs, p.loss, p.windows_per_sec
        ));
    };
    let (saved, outcome) = detect::train(&load.frame, &config.lstm, &mut on_progress, &cancel)?;
    bar.finish_and_clear();
    let dir = model_dir(&config, out);
    let path = detect::store::save(&dir, &saved.model, &saved.meta)?;
    println!(
        "trained {} epochs in {:.2} s: final loss {:.6}, threshold {:.6} ({}), {} windows ({} skipped)",
        outcome.epochs_run,
        outcome.duration.as_secs_f64(),
        outcome.final_loss,
        saved.meta.threshold,
        saved.meta.threshold_rule,
        saved.meta.training_windows,
        saved.meta.skipped_windows
    );
    println!("saved model to {}", path.display());
    Ok(())
}

fn detect(
    config_path: Option<&Path>,
    csv: &Path,
    model: Option<PathBuf>,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    let dir = model_dir(&config, model);
    let saved = detect::store::load(&dir)?;
    let load = data::read_csv(csv)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", csv.display());
    }
    let frame = &load.frame;
    let started = std::time::Instant::now();
    let scores = detect::score(&saved, frame)?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(out) = out {
        let mut text = String::from("timestamp,error,score,anomalous,top_metric\n");
        for row in 0..frame.len() {
            let error = scores.rows.error[row];
            let _ = writeln!(
                text,
                "{},{},{},{},{}",
                time::format_rfc3339_ms(frame.timestamps_ms()[row]),
                if error.is_nan() {
                    String::new()
                } else {
                    format!("{error:.6}")
                },
                if error.is_nan() {
                    String::new()
                } else {
                    format!("{:.2}", scores.rows.score[row])
                },
                u8::from(scores.rows.flag[row]),
                scores.top_metric(row).unwrap_or("")
            );
        }
        crate::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let anomalous = scores.rows.flag.iter().filter(|f| **f).count();
    let metrics = frame
        .labels()
        .map(|labels| eval::point_metrics(&scores.rows.flag, labels));
    if json {
        let summary = serde_json::json!({
            "rows": frame.len(),
            "windows": scores.window_errors.len(),
            "skipped_windows": scores.skipped_windows,
            "threshold": scores.threshold,
            "anomalous_rows": anomalous,
            "score_seconds": seconds,
            "metrics": metrics,
        });
        println!("{summary}");
    } else {
        println!(
            "scored {} windows in {:.3} s: {anomalous} of {} rows anomalous (threshold {:.6})",
            scores.window_errors.len(),
            seconds,
            frame.len(),
            scores.threshold
        );
        if let Some(m) = metrics {
            println!(
                "against labels: precision {:.3}, recall {:.3}, F1 {:.3} (TP {}, FP {}, FN {})",
                m.precision, m.recall, m.f1, m.tp, m.fp, m.fn_
            );
        }
    }
    Ok(())
}

/// The PyTorch peer on the same files and machine
/// (shared/reference/peer-results.md): train s, score s, final loss, F1, RSS MB.
fn lstm_peer(file: &Path) -> Option<(f64, f64, f64, f64, f64)> {
    let name = file.file_name()?.to_str()?;
    if name.contains("metrics_100k") {
        Some((181.0, 2.4, 0.00057, 0.133, 1000.0))
    } else if name.contains("metrics_10k") {
        Some((14.9, 0.17, 0.00190, 0.296, 1100.0))
    } else {
        None
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Peak resident set size of this process so far, in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn device_preference(device: DeviceArg) -> DevicePreference {
    match device {
        DeviceArg::Auto => DevicePreference::Auto,
        DeviceArg::Gpu => DevicePreference::Gpu,
        DeviceArg::Cpu => DevicePreference::Cpu,
    }
}

fn bench_lstm(
    files: &[PathBuf],
    runs: usize,
    epochs: usize,
    device: DeviceArg,
) -> anyhow::Result<()> {
    if runs == 0 || epochs == 0 {
        return Err(UsageError("--runs and --epochs must be at least 1".into()).into());
    }
    let files = if files.is_empty() {
        vec![PathBuf::from("tests/fixtures/metrics_10k.csv")]
    } else {
        files.to_vec()
    };
    let mut lstm = Config::builtin()?.lstm;
    lstm.epochs = epochs;
    lstm.device = device_preference(device);
    let device = detect::resolve_device(lstm.device)?;
    println!("# pulsewatch bench lstm: {device}, {epochs} epochs, median of {runs} runs");
    println!();
    println!(
        "| file | windows | train s (peer) | ratio | score s (peer) | ratio | final loss (peer) | F1 (peer) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for file in &files {
        let frame = data::read_csv(file)?.frame;
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let (mut train_secs, mut score_secs) = (Vec::new(), Vec::new());
        let mut last = None;
        for _ in 0..runs {
            let (saved, outcome) = detect::train_on(&frame, &lstm, &device, &mut |_| {}, &cancel)?;
            train_secs.push(outcome.duration.as_secs_f64());
            let started = std::time::Instant::now();
            let scores = detect::score_on(&saved, &frame, &device)?;
            score_secs.push(started.elapsed().as_secs_f64());
            last = Some((outcome, scores));
        }
        let Some((outcome, scores)) = last else {
            continue;
        };
        let f1 = frame
            .labels()
            .map(|labels| eval::point_metrics(&scores.rows.flag, labels).f1);
        let (train, score) = (median(&mut train_secs), median(&mut score_secs));
        let peer = lstm_peer(file);
        let cell = |ours: f64, theirs: Option<f64>, digits: usize| match theirs {
            Some(t) => format!("{ours:.digits$} ({t})"),
            None => format!("{ours:.digits$}"),
        };
        let ratio = |ours: f64, theirs: Option<f64>| {
            theirs.map_or("–".to_owned(), |t| format!("{:.1}× faster", t / ours))
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            file.display(),
            scores.window_errors.len(),
            cell(train, peer.map(|p| p.0), 2),
            ratio(train, peer.map(|p| p.0)),
            cell(score, peer.map(|p| p.1), 3),
            ratio(score, peer.map(|p| p.1)),
            cell(outcome.final_loss, peer.map(|p| p.2), 5),
            f1.map_or("–".to_owned(), |f| cell(f, peer.map(|p| p.3), 3)),
        );
    }
    if let Some(rss) = peak_rss_mb() {
        println!();
        println!("peak RSS of this process: {rss:.0} MB (PyTorch peer: 1,100 MB at 10k)");
    }
    Ok(())
}

fn duration_arg(flag: &str, text: &str) -> Result<std::time::Duration, UsageError> {
    parse_duration(text).map_err(|m| UsageError(format!("{flag}: {m}")))
}

fn time_arg(flag: &str, text: &str) -> Result<i64, UsageError> {
    time::parse_timestamp_ms(text).ok_or_else(|| {
        UsageError(format!(
            "{flag}: cannot parse `{text}`; expected RFC 3339 or Unix seconds"
        ))
    })
}

fn fetch(
    config_path: Option<&Path>,
    window: Option<&str>,
    fixed: Option<(&str, &str)>,
    step: Option<&str>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    let step = match step {
        Some(text) => duration_arg("--step", text)?,
        None => config.prometheus.step,
    };
    let range = match fixed {
        Some((start, end)) => {
            let (start, end) = (time_arg("--start", start)?, time_arg("--end", end)?);
            TimeRange::aligned(start, end, step)
        }
        None => {
            let window = match window {
                Some(text) => duration_arg("--window", text)?,
                None => config.prometheus.window,
            };
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            TimeRange::window_ending(now_ms, window, step)
        }
    }
    .ok_or_else(|| UsageError("the range holds no step-aligned point".into()))?;
    let client = PromClient::new(&config.prometheus)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pulsewatch-net")
        .enable_all()
        .build()
        .context("cannot start the network runtime")?;
    let fetched = runtime.block_on(client.fetch_metrics(&config.metrics, range))?;
    for warning in &fetched.warnings {
        eprintln!("warning: {warning}");
    }
    let absent: usize = fetched.absent_points.iter().sum();
    eprintln!(
        "fetched {} points × {} columns from {} in {} requests ({absent} absent points)",
        fetched.frame.len(),
        fetched.frame.names().len(),
        client.base_url(),
        fetched.requests
    );
    match out {
        Some(path) => data::write_csv(&fetched.frame, path)?,
        None => {
            let mut text = String::new();
            data::write_csv_to(&fetched.frame, &mut text);
            print!("{text}");
        }
    }
    Ok(())
}

fn export_openmetrics(
    csv: &Path,
    out: &Path,
    prefix: &str,
    end_at_ms: Option<i64>,
) -> anyhow::Result<()> {
    let load = data::read_csv(csv)?;
    let frame = load.frame;
    let last = frame.timestamps_ms().last().copied().unwrap_or(0);
    let shift_ms = end_at_ms.map_or(0, |end| end - last);
    let text = data::to_openmetrics(&frame, prefix, shift_ms);
    crate::fsutil::write_atomic(out, text.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("{shift_ms}");
    Ok(())
}

fn open_window(config_path: Option<&Path>, csv: Option<PathBuf>) -> anyhow::Result<()> {
    let (config, source) = Config::load(config_path)?;
    crate::ui::run_native(config, source, csv)
}

fn config_check(path: Option<&Path>) -> anyhow::Result<()> {
    let (config, source) = Config::load(path)?;
    println!("# config OK: {source}");
    print!("{}", config.describe());
    Ok(())
}

/// Test mode's spikes, for `sample-data --spikes`.
struct Spikes {
    rate: f64,
    size_sigmas: f64,
    seed: u64,
}

fn sample_data(
    seed: u64,
    rows: usize,
    kind: Kind,
    step: &str,
    start: &str,
    spikes: Option<Spikes>,
    out: &Path,
) -> anyhow::Result<()> {
    let step = parse_duration(step).map_err(|m| UsageError(format!("--step: {m}")))?;
    let step_secs = u32::try_from(step.as_secs())
        .ok()
        .filter(|s| *s > 0 && step.subsec_millis() == 0)
        .ok_or_else(|| {
            UsageError("--step: expected a whole number of seconds, at least 1s".into())
        })?;
    let start_ms = time::parse_timestamp_ms(start).ok_or_else(|| {
        UsageError(format!(
            "--start: cannot parse `{start}`; expected RFC 3339 such as 2026-01-01T00:00:00Z"
        ))
    })?;
    if rows == 0 {
        return Err(UsageError("--rows: expected at least 1".into()).into());
    }
    let spec = SampleSpec {
        kind: match kind {
            Kind::Univariate => SampleKind::Univariate,
            Kind::Multivariate => SampleKind::Multivariate,
        },
        rows,
        step_secs,
        start_ms,
        seed,
    };
    let mut frame = data::generate_sample(&spec);
    let mut spiked_rows = None;
    if let Some(spikes) = spikes {
        let (spiked, labels) =
            data::inject_spikes(&frame, spikes.rate, spikes.size_sigmas, spikes.seed)
                .map_err(|e| UsageError(format!("--spikes / --spike-size: {e}")))?;
        spiked_rows = Some(labels.iter().filter(|l| **l == 1).count());
        frame = spiked;
    }
    data::write_csv(&frame, out)?;
    println!(
        "wrote {} rows × {} metrics{} to {}",
        frame.len(),
        frame.names().len(),
        spiked_rows.map_or(String::new(), |n| format!(
            ", {n} rows with a spike (is_anomaly)"
        )),
        out.display()
    );
    Ok(())
}

fn inspect(file: &Path) -> anyhow::Result<()> {
    let load = data::read_csv(file)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", file.display());
    }
    print!(
        "{}",
        describe_frame(&load.frame, &file.display().to_string())
    );
    Ok(())
}

/// The `inspect` report.
pub fn describe_frame(frame: &MetricFrame, name: &str) -> String {
    let mut out = String::new();
    let stamps = frame.timestamps_ms();
    let _ = writeln!(out, "file: {name}");
    let _ = writeln!(out, "rows: {}", frame.len());
    if let (Some(first), Some(last)) = (stamps.first(), stamps.last()) {
        let span = std::time::Duration::from_millis((last - first).unsigned_abs());
        let _ = writeln!(
            out,
            "span: {} .. {} ({})",
            time::format_rfc3339_ms(*first),
            time::format_rfc3339_ms(*last),
            format_duration(span)
        );
    }
    match frame.step_ms() {
        Some(step) => {
            let irregular = stamps.windows(2).filter(|w| w[1] - w[0] != step).count();
            let _ = writeln!(
                out,
                "step: {} (median); {irregular} gaps differ from it",
                format_duration(std::time::Duration::from_millis(step.unsigned_abs()))
            );
        }
        None => {
            let _ = writeln!(out, "step: n/a (one row)");
        }
    }
    let _ = writeln!(out, "columns: {}", frame.names().len());
    let missing = frame.missing_counts();
    for ((name, column), missing) in frame.names().iter().zip(frame.columns()).zip(missing) {
        let finite: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            let _ = writeln!(out, "  {name}: missing {missing}, no values");
            continue;
        }
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = finite.iter().sum::<f64>() / finite.len() as f64;
        let _ = writeln!(
            out,
            "  {name}: missing {missing}, min {min:.3}, max {max:.3}, mean {mean:.3}"
        );
    }
    match frame.labels() {
        Some(labels) => {
            let anomalous = labels.iter().filter(|l| **l == 1).count();
            let share = 100.0 * anomalous as f64 / labels.len().max(1) as f64;
            let _ = writeln!(out, "labels: {anomalous} anomalous rows ({share:.2} %)");
        }
        None => {
            let _ = writeln!(out, "labels: none");
        }
    }
    out
}
