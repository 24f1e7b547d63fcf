//! `pulsewatch serve`: the headless daemon (`crate::serve`) started from the
//! command line, with its SIGTERM handler and history database.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::Config;

pub fn serve(
    config_path: Option<&Path>,
    listen: std::net::SocketAddr,
    alertmanager: Option<String>,
    history: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    crate::serve::signals::install().context("cannot install the SIGTERM handler")?;
    let history_path = history.unwrap_or_else(|| crate::config::history_path(&config));
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
