//! The one integration-test binary (one link instead of many): the CLI, real
//! files, a real Prometheus, and a real window under Xvfb.

mod cli;
mod config_errors;
mod csv_files;
mod dashboard;
mod detector;
mod fake_http;
mod forecast;
mod gpu_path;
mod nab;
mod prom_faults;
mod prometheus;
mod serve;
mod support;
mod window;
