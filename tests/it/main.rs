//! The one integration-test binary (one link instead of many): the CLI, real
//! files, a real Prometheus, and a real window under Xvfb.

// Test code: a panic on a broken set-up is the failure report (clippy.toml
// allows unwrap in `#[test]` functions; this covers their helpers too).
#![allow(clippy::unwrap_used)]

mod cli;
mod config_errors;
mod csv_files;
#[cfg(feature = "gui")]
mod dashboard;
mod detector;
mod devset;
mod fake_http;
mod fleet;
mod fleet_models;
#[cfg(feature = "gui")]
mod fleet_window;
mod forecast;
mod gpu_path;
mod nab;
#[cfg(feature = "gui")]
mod one_engine;
mod prom_faults;
mod prometheus;
mod serve;
mod serve_alerts;
mod serve_web;
mod shared_history;
mod support;
#[cfg(feature = "gui")]
mod window;
