//! The one integration-test binary (one link instead of many): the CLI, real
//! files, and a real window under Xvfb.

mod cli;
mod config_errors;
mod csv_files;
mod support;
mod window;
