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

/// `bench http`: for each size, the real server on a synthetic snapshot and
/// the load from a second process; one table row per size.
pub fn bench_http(
    series: &[usize],
    rate: u32,
    secs: f64,
    idle: usize,
    connections: usize,
) -> anyhow::Result<()> {
    outln!("CPU: {}", super::fleet_cmd::cpu_name());
    outln!(
        "| series | /metrics plain / gzip | /healthz beside {idle} idle: p50 / p99 / max | /metrics (gzip) beside {idle} idle: p50 / p99 / max | idle still open | /metrics at {rate}/s over {connections} connections: achieved | from due: p50 / p90 / p99 / max | from sent: p50 / p99 / max | errors |"
    );
    outln!("|---|---|---|---|---|---|---|---|---|");
    let exe = std::env::current_exe().context("cannot find this executable")?;
    for &n in series {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let server = crate::serve::bench::start_server(n, std::sync::Arc::clone(&stop))
            .map_err(|e| anyhow::anyhow!("cannot start the server: {e}"))?;
        let port = server.port;
        let output = std::process::Command::new(&exe)
            .args(["bench", "http-load", "--port", &port.to_string()])
            .args(["--rate", &rate.to_string(), "--secs", &secs.to_string()])
            .args(["--idle", &idle.to_string()])
            .args(["--connections", &connections.to_string()])
            .output()
            .context("cannot run the load process")?;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = server.thread.join();
        if !output.status.success() {
            anyhow::bail!(
                "the load process failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let report: crate::serve::bench::LoadReport =
            serde_json::from_slice(&output.stdout).context("the load process's report")?;
        let ms = |l: &crate::serve::bench::Latency| {
            format!("{:.2} / {:.2} / {:.2} ms", l.p50_ms, l.p99_ms, l.max_ms)
        };
        let load = &report.metrics_at_rate;
        outln!(
            "| {n} | {:.0} KiB / {:.0} KiB | {} | {} | {} of {} | {:.0}/s | {:.2} / {:.2} / {:.2} / {:.2} ms | {} | {} |",
            server.plain_bytes as f64 / 1024.0,
            server.gzip_bytes as f64 / 1024.0,
            ms(&report.healthz_beside_idle),
            ms(&report.metrics_beside_idle),
            report.idle_still_open,
            report.idle_clients,
            report.achieved_rate,
            load.p50_ms,
            load.p90_ms,
            load.p99_ms,
            load.max_ms,
            ms(&report.metrics_at_rate_sent),
            load.errors + report.healthz_beside_idle.errors + report.metrics_beside_idle.errors,
        );
    }
    Ok(())
}

/// `bench http-load`: the load side, its report as JSON on stdout.
pub fn http_load(
    port: u16,
    rate: u32,
    secs: f64,
    idle: usize,
    connections: usize,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the load's runtime")?;
    let report = runtime
        .block_on(crate::serve::bench::load(
            port,
            idle,
            rate,
            secs,
            connections,
        ))
        .context("the load")?;
    outln!("{}", serde_json::to_string(&report)?);
    Ok(())
}
