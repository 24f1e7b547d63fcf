//! `pulsewatch fetch`: every configured metric from Prometheus into one CSV.

use std::path::Path;

use anyhow::Context as _;

use super::{UsageError, duration_arg};
use crate::config::Config;
use crate::data::{self, time};
use crate::ingest::{PromClient, TimeRange};

fn time_arg(flag: &str, text: &str) -> Result<i64, UsageError> {
    time::parse_timestamp_ms(text).ok_or_else(|| {
        UsageError(format!(
            "{flag}: cannot parse `{text}`; expected RFC 3339 or Unix seconds"
        ))
    })
}

pub fn fetch(
    config_path: Option<&Path>,
    window: Option<&str>,
    fixed: Option<(&str, &str)>,
    step: Option<&str>,
    out: Option<&Path>,
    long: bool,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    let step = match step {
        Some(text) => duration_arg("--step", text)?,
        None => config.prometheus.step,
    };
    let range = match fixed {
        Some((start, end)) => {
            let (start, end) = (time_arg("--start", start)?, time_arg("--end", end)?);
            TimeRange::aligned(start, end, step)
        }
        None => {
            let window = match window {
                Some(text) => duration_arg("--window", text)?,
                None => config.prometheus.window,
            };
            let now_ms = crate::clock::now_ms();
            TimeRange::window_ending(now_ms, window, step)
        }
    }
    .ok_or_else(|| UsageError("the range holds no step-aligned point".into()))?;
    let client = PromClient::new(&config.prometheus)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pulsewatch-net")
        .enable_all()
        .build()
        .context("cannot start the network runtime")?;
    let fetched = runtime.block_on(client.fetch_metrics(
        &config.metrics,
        range,
        &config.fleet.entity_labels,
    ))?;
    for warning in &fetched.warnings {
        eprintln!("warning: {warning}");
    }
    let absent: usize = fetched.absent_points.iter().sum();
    eprintln!(
        "fetched {} points × {} columns from {} in {} requests ({absent} absent points)",
        fetched.frame.len(),
        fetched.frame.names().len(),
        client.base_url(),
        fetched.requests
    );
    let mut text = String::new();
    if long {
        data::write_long_csv_to(&fetched.frame, &mut text);
    } else {
        data::write_csv_to(&fetched.frame, &mut text);
    }
    match out {
        Some(path) => crate::fsutil::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => out!("{text}"),
    }
    Ok(())
}
