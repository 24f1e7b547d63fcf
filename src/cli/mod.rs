//! The command line, in the manner of ripgrep: `main` hands the arguments to
//! [`main_with_args`], which parses them ([`args`]), runs the subcommand
//! ([`run`], one module per command group) and maps the outcome to the exit
//! code, printing the error and its causes. With no subcommand PulseWatch
//! opens the desktop window (feature `gui`).
//!
//! - `args`: the clap definitions ([`Cli`], [`Command`], the subcommand enums).
//! - `config_cmd`: `config check`, `config init`.
//! - `data_cmd`: `sample-data`, `inspect`, `export-openmetrics`.
//! - `eval_cmd`: `eval labelled`, `eval nab`, `eval generate`.
//! - `budget_cmd`: `eval alarms`.
//! - `fetch_cmd`: `fetch`.
//! - `fleet_cmd`: `bench fleet`.
//! - `forecast_cmd`: `forecast`, `bench forecast`.
//! - `history_cmd`: `history`.
//! - `lstm_cmd`: `train`, `detect`, `bench lstm`.
//! - `serve_cmd`: `serve`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser as _;

use crate::config::{Config, ConfigError, parse_duration};

/// `println!` that hands a failed write back (with `?`, as a
/// [`StdoutWrite`]) instead of panicking: a reader that closed the pipe
/// (`pulsewatch fetch | head -1`) ends the command quietly (see
/// [`main_with_args`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::StdoutWrite)?
    }};
}

/// `print!` as [`outln!`] is `println!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*).map_err($crate::cli::StdoutWrite)?
    }};
}

/// A write to standard output failed: only this, not any closed pipe
/// (a Prometheus connection, an `--out` FIFO), may end a command quietly.
#[derive(Debug, thiserror::Error)]
#[error("cannot write to standard output: {0}")]
pub struct StdoutWrite(#[source] pub std::io::Error);

mod args;
mod budget_cmd;
mod config_cmd;
mod data_cmd;
mod eval_cmd;
mod fetch_cmd;
mod fleet_cmd;
mod forecast_cmd;
mod history_cmd;
mod lstm_cmd;
mod serve_cmd;

pub use args::{
    BenchWhat, Cli, Command, ConfigAction, DeviceArg, EvalWhat, Kind, MethodArg, ModelArg,
};
pub use data_cmd::describe_frame;

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
        // The reader went away (`| head -1`): it has what it wanted.
        Err(error) if closed_pipe(&error) => ExitCode::SUCCESS,
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

/// Whether `error` is a write to standard output whose reader has closed
/// the pipe.
fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutWrite>()
            .is_some_and(|StdoutWrite(e)| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => open_window(cli.config.as_deref(), None),
        Some(Command::Ui { csv }) => open_window(cli.config.as_deref(), csv),
        Some(Command::Config { action }) => match action {
            ConfigAction::Check { path } => {
                config_cmd::check(path.as_deref().or(cli.config.as_deref()))
            }
            ConfigAction::Init { force, dir } => config_cmd::init(dir.as_deref(), force),
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
            let spikes = spikes.map(|rate| data_cmd::Spikes {
                rate,
                size_sigmas: spike_size,
                seed: spike_seed,
            });
            data_cmd::sample_data(seed, rows, kind, &step, &start, spikes, &out)
        }
        Some(Command::Inspect { file }) => data_cmd::inspect(cli.config.as_deref(), &file),
        Some(Command::Train {
            csv,
            epochs,
            device,
            out,
        }) => lstm_cmd::train(cli.config.as_deref(), &csv, epochs, device, out),
        Some(Command::Detect {
            csv,
            model,
            out,
            json,
        }) => lstm_cmd::detect(cli.config.as_deref(), &csv, model, out.as_deref(), json),
        Some(Command::Bench {
            what:
                BenchWhat::Lstm {
                    files,
                    runs,
                    epochs,
                    device,
                },
        }) => lstm_cmd::bench_lstm(&files, runs, epochs, device),
        Some(Command::Bench {
            what:
                BenchWhat::Forecast {
                    files,
                    runs,
                    model,
                    references,
                },
        }) => forecast_cmd::bench(&files, runs, model, &references),
        Some(Command::Bench {
            what:
                BenchWhat::Fleet {
                    series,
                    window,
                    step,
                    refreshes,
                    method,
                    autoencoder,
                },
        }) => fleet_cmd::bench(&series, &window, &step, refreshes, method, autoencoder),
        Some(Command::Bench {
            what:
                BenchWhat::FleetOne {
                    series,
                    window,
                    step,
                    refreshes,
                    method,
                    autoencoder,
                },
        }) => fleet_cmd::bench_one(series, &window, &step, refreshes, method, autoencoder),
        Some(Command::Bench {
            what:
                BenchWhat::Http {
                    series,
                    rate,
                    secs,
                    idle,
                    connections,
                },
        }) => serve_cmd::bench_http(&series, rate, secs, idle, connections),
        Some(Command::Bench {
            what:
                BenchWhat::HttpLoad {
                    port,
                    rate,
                    secs,
                    idle,
                    connections,
                },
        }) => serve_cmd::http_load(port, rate, secs, idle, connections),
        Some(Command::Serve(args)) => serve_cmd::serve(cli.config.as_deref(), args),
        Some(Command::HashPassword { cost }) => serve_cmd::hash_password(cost),
        Some(Command::History {
            since,
            csv,
            history,
            check,
        }) => {
            let since = duration_arg("--since", &since)?;
            let path = match history {
                Some(path) => path,
                None => crate::config::history_path(&Config::load(cli.config.as_deref())?.0),
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
        }) => eval_cmd::eval_labelled(cli.config.as_deref(), &files, method, json),
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
        Some(Command::Eval {
            what:
                EvalWhat::Alarms {
                    data,
                    windows,
                    files,
                    csv,
                    method,
                    probation_rows,
                    json,
                },
        }) => budget_cmd::eval_alarms(
            cli.config.as_deref(),
            data.as_deref(),
            windows.as_deref(),
            &files,
            &csv,
            method,
            probation_rows,
            json,
        ),
        Some(Command::Eval {
            what: EvalWhat::Generate { out, seed },
        }) => {
            let count = crate::eval::devset::write_devset(&out, seed)?;
            outln!(
                "wrote {count} series to {} (data/, labels/combined_windows.json)",
                out.display()
            );
            Ok(())
        }
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
            format,
        }) => fetch_cmd::fetch(
            cli.config.as_deref(),
            window.as_deref(),
            start.as_deref().zip(end.as_deref()),
            step.as_deref(),
            out.as_deref(),
            format == args::FetchFormat::Long,
        ),
        Some(Command::ExportOpenmetrics {
            csv,
            out,
            prefix,
            end_at_ms,
        }) => data_cmd::export_openmetrics(&csv, &out, &prefix, end_at_ms),
    }
}

/// Why `pulsewatch ui` (and the bare `pulsewatch`) cannot run in a build
/// without the `gui` feature.
#[cfg(not(feature = "gui"))]
const NO_GUI: &str = "this pulsewatch was built without the desktop window (feature `gui`); \
                      build it with `cargo build --release` (default features) to get \
                      `pulsewatch ui`, or use the headless subcommands (see `pulsewatch --help`)";

#[cfg(feature = "gui")]
fn open_window(config_path: Option<&Path>, csv: Option<PathBuf>) -> anyhow::Result<()> {
    let (config, source) = Config::load(config_path)?;
    crate::ui::run_native(config, source, csv)
}

/// Without the `gui` feature there is no window: a usage error (exit code 2).
#[cfg(not(feature = "gui"))]
fn open_window(_config_path: Option<&Path>, _csv: Option<PathBuf>) -> anyhow::Result<()> {
    Err(UsageError(NO_GUI.to_owned()).into())
}

// Helpers shared by the command modules.

fn duration_arg(flag: &str, text: &str) -> Result<std::time::Duration, UsageError> {
    parse_duration(text).map_err(|m| UsageError(format!("{flag}: {m}")))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The line `forecast` and `detect` print for a file with labels.
fn print_against_labels(m: &crate::eval::PointMetrics) -> anyhow::Result<()> {
    outln!(
        "against labels: precision {:.3}, recall {:.3}, F1 {:.3} (TP {}, FP {}, FN {})",
        m.precision,
        m.recall,
        m.f1,
        m.tp,
        m.fp,
        m.fn_
    );
    Ok(())
}

/// Peak resident set size of this process so far, in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    crate::memory::peak_kib().map(|kib| kib as f64 / 1024.0)
}
