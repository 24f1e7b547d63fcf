//! `pulsewatch serve`: the headless daemon (`crate::serve`) started from the
//! command line, with its SIGTERM handler and history database.

use std::io::BufRead as _;
use std::path::Path;

use anyhow::Context as _;

use super::args::ServeArgs;
use crate::config::Config;
use crate::fleet::Shard;

/// The environment variable `serve` reads its shard from (`K/N`) when
/// `--shard` is not given.
pub const SHARD_VARIABLE: &str = "PULSEWATCH_SHARD";

pub fn serve(config_path: Option<&Path>, args: ServeArgs) -> anyhow::Result<()> {
    let ServeArgs {
        listen,
        alertmanager,
        history,
        shard,
        web_config_file,
        allow_unauthenticated_train,
    } = args;
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
            web_config: web_config_file,
            allow_unauthenticated_train,
        },
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    )?;
    eprintln!("pulsewatch serve: stopped");
    Ok(())
}

/// `hash-password`: one line from stdin (its line ending dropped) to a
/// bcrypt hash on stdout.
pub fn hash_password(cost: u32) -> anyhow::Result<()> {
    if !(4..=31).contains(&cost) {
        anyhow::bail!("--cost {cost}: expected 4 to 31");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        anyhow::bail!("no password on stdin (give it as one line)");
    }
    let hash = bcrypt::hash(password, cost).context("cannot hash the password")?;
    outln!("{hash}");
    Ok(())
}
