//! PulseWatch: a native AIOps tool. The library holds the whole engine, so the
//! desktop app, the daemon, the CLI, the tests and the benchmarks share one
//! code path. Data flows one way: config → ingest/data → detect/forecast →
//! engine → ui / serve / cli.
//!
//! - [`config`]: `user_config.yml` parsed raw, validated, with its lookup order.
//! - [`clock`]: where every "now" comes from (the wall clock, or a test's).
//! - [`data`]: the [`data::MetricFrame`], CSV, resampling, sample data.
//! - [`ingest`]: the Prometheus `query_range` client.
//! - [`detect`]: the online detectors and the LSTM autoencoder (training,
//!   scoring, persistence; burn on wgpu behind the `gpu` feature).
//! - [`forecast`]: Prophet and MSTL/ETS forecasts, expected bands.
//! - [`event`]: the one anomaly event type and the 0–100 score scale.
//! - [`fleet`]: entities (a host, a pod), shards of a fleet, series limits.
//! - [`memory`]: this process's resident set, and returning freed heap.
//! - [`priority`]: worker threads yield the CPU to the UI and HTTP threads.
//! - [`history`]: the anomaly history database (SQLite, shared by app and daemon).
//! - [`eval`]: precision, recall, F1 and NAB scores against labels.
//! - [`engine`]: the live monitor the window and the daemon share (one rule
//!   for marks, events, refits and retrains), and the worker jobs.
//! - [`serve`]: the daemon: `/metrics`, JSON, Alertmanager.
//! - [`ui`]: the eframe desktop window (the `gui` feature).
//! - [`cli`]: the command line.

pub mod cli;
pub mod clock;
pub mod config;
pub mod crashpoint;
pub mod data;
pub mod detect;
pub mod engine;
pub mod eval;
pub mod event;
pub mod fleet;
pub mod forecast;
mod fsutil;
pub mod history;
pub mod ingest;
pub mod memory;
pub mod priority;
pub mod serve;
#[cfg(feature = "gui")]
pub mod ui;
