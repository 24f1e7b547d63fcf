//! `pulsewatch history`: what the daemon and the app recorded, as tables or
//! one CSV (`kind,start,end,metric,value,status,detail`).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;

use crate::data::time::format_rfc3339_ms;
use crate::history::History;

pub fn run(path: &Path, since: Duration, csv: bool, check: bool) -> anyhow::Result<()> {
    if !path.exists() {
        anyhow::bail!(
            "no history database at {} (pulsewatch serve or the app creates it)",
            path.display()
        );
    }
    let history = History::open(path)?;
    if check {
        let verdict = history.integrity_check()?;
        // A reader that closed the pipe does not hide a failed check.
        let printed = (|| -> anyhow::Result<()> {
            outln!("{verdict}");
            Ok(())
        })();
        if verdict != "ok" {
            anyhow::bail!("{}: the integrity check found problems", path.display());
        }
        return printed;
    }
    let now_ms = crate::clock::now_ms();
    let since_ms = now_ms - since.as_millis() as i64;
    let events = history.events_since(since_ms)?;
    let runs = history.trainings_since(since_ms)?;
    let failures = history.fetch_failures_since(since_ms)?;
    let text = if csv {
        to_csv(&events, &runs, &failures)?
    } else {
        to_tables(&events, &runs, &failures, since)
    };
    out!("{text}");
    Ok(())
}

fn time_or_open(ms: Option<i64>) -> String {
    ms.map_or_else(|| "open".to_owned(), format_rfc3339_ms)
}

fn to_csv(
    events: &[crate::history::AnomalyEvent],
    runs: &[crate::history::TrainingRun],
    failures: &[crate::history::FetchFailure],
) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "kind", "start", "end", "metric", "value", "status", "detail",
    ])?;
    for e in events {
        writer.write_record([
            "anomaly",
            &format_rfc3339_ms(e.start_ms),
            &e.end_ms.map(format_rfc3339_ms).unwrap_or_default(),
            &e.metric,
            &e.peak_score.to_string(),
            e.severity(),
            &format!("model {}", e.model_version),
        ])?;
    }
    for r in runs {
        let end_ms = r.started_ms + (r.duration_secs * 1000.0) as i64;
        writer.write_record([
            "training",
            &format_rfc3339_ms(r.started_ms),
            &format_rfc3339_ms(end_ms),
            "",
            &r.final_loss.map(|l| l.to_string()).unwrap_or_default(),
            &r.status,
            &format!(
                "{}; {} rows; {}{}",
                r.reason,
                r.rows,
                r.device,
                r.error
                    .as_deref()
                    .map(|e| format!("; {e}"))
                    .unwrap_or_default()
            ),
        ])?;
    }
    for f in failures {
        writer.write_record([
            "fetch_failure",
            &format_rfc3339_ms(f.at_ms),
            "",
            "",
            "",
            &f.reason,
            &f.message,
        ])?;
    }
    let bytes = writer.into_inner().context("cannot write the CSV")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn to_tables(
    events: &[crate::history::AnomalyEvent],
    runs: &[crate::history::TrainingRun],
    failures: &[crate::history::FetchFailure],
    since: Duration,
) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# anomaly events in the last {} ({})",
        crate::config::format_duration(since),
        events.len()
    );
    let _ = writeln!(
        out,
        "{:<24}  {:<24}  {:<16}  {:>8}  {:<8}  model",
        "start", "end", "metric", "peak", "severity"
    );
    for e in events {
        let _ = writeln!(
            out,
            "{:<24}  {:<24}  {:<16}  {:>8.1}  {:<8}  {}",
            format_rfc3339_ms(e.start_ms),
            time_or_open(e.end_ms),
            e.metric,
            e.peak_score,
            e.severity(),
            e.model_version
        );
    }
    let _ = writeln!(out, "\n# training runs ({})", runs.len());
    let _ = writeln!(
        out,
        "{:<24}  {:<7}  {:>7}  {:>10}  {:>8}  {:<28}  reason",
        "started", "status", "rows", "loss", "secs", "device"
    );
    for r in runs {
        let _ = writeln!(
            out,
            "{:<24}  {:<7}  {:>7}  {:>10}  {:>8.2}  {:<28}  {}{}",
            format_rfc3339_ms(r.started_ms),
            r.status,
            r.rows,
            r.final_loss.map_or("-".to_owned(), |l| format!("{l:.6}")),
            r.duration_secs,
            r.device,
            r.reason,
            r.error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(out, "\n# fetch failures ({})", failures.len());
    for f in failures {
        let _ = writeln!(
            out,
            "{:<24}  {:<8}  {}",
            format_rfc3339_ms(f.at_ms),
            f.reason,
            f.message
        );
    }
    out
}
