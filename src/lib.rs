//! PulseWatch: a native AIOps tool. The library holds the whole engine, so the
//! desktop app, the CLI, the tests and the benchmarks share one code path.
//!
//! - [`config`]: `user_config.yml`, validated, with its lookup order.
//! - [`data`]: the [`data::MetricFrame`], CSV, resampling, sample data.
//! - [`detect`]: the LSTM autoencoder: training, scoring, persistence.
//! - [`engine`]: jobs on worker threads, results over bounded channels.
//! - [`eval`]: precision, recall, F1 against labels.
//! - [`forecast`]: Prophet and MSTL/ETS forecasts, expected bands, band anomalies.
//! - [`history`]: the anomaly history database (SQLite, shared by app and daemon).
//! - [`ingest`]: the Prometheus `query_range` client.
//! - [`serve`]: the headless engine behind `/metrics` and friends.
//! - [`ui`]: the eframe desktop window.
//! - [`cli`]: the command line.

pub mod cli;
pub mod config;
pub mod crashpoint;
pub mod data;
pub mod detect;
pub mod engine;
pub mod eval;
pub mod forecast;
mod fsutil;
pub mod history;
pub mod ingest;
pub mod serve;
pub mod ui;
