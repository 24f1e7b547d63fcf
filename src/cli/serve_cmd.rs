//! `pulsewatch serve`: the headless daemon (`crate::serve`) started from the
//! command line, with its SIGTERM handler and history database.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::config::Config;
use crate::fleet::Shard;

/// The environment variable `serve` reads its shard from (`K/N`) when
/// `--shard` is not given.
pub const SHARD_VARIABLE: &str = "PULSEWATCH_SHARD";

pub fn serve(
    config_path: Option<&Path>,
    listen: std::net::SocketAddr,
    alertmanager: Option<String>,
    history: Option<PathBuf>,
    shard: Option<String>,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    // The flag wins; a StatefulSet sets the variable from its pod index.
    let shard = match shard {
        Some(text) => Shard::parse(&text, "--shard")?,
        None => match std::env::var(SHARD_VARIABLE) {
            Ok(text) if !text.trim().is_empty() => Shard::parse(&text, SHARD_VARIABLE)?,
            _ => Shard::ALL,
        },
    };
    crate::serve::signals::install().context("cannot install the SIGTERM handler")?;
    let history_path = history.unwrap_or_else(|| crate::config::history_path(&config));
    eprintln!(
        "pulsewatch serve: history in {}; shard {shard}",
        history_path.display()
    );
    crate::serve::serve(
        config,
        crate::serve::ServeOptions {
            listen,
            alertmanager,
            history_path,
            clock: std::sync::Arc::new(crate::engine::schedule::SystemClock),
            shard,
        },
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )?;
    eprintln!("pulsewatch serve: stopped");
    Ok(())
}
