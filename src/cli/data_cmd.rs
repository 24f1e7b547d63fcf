//! The data-file subcommands: `pulsewatch sample-data`, `pulsewatch inspect`
//! and `pulsewatch export-openmetrics`.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;

use super::{Kind, UsageError};
use crate::config::{format_duration, parse_duration};
use crate::data::{self, MetricFrame, SampleKind, SampleSpec, time};

/// Test mode's spikes, for `sample-data --spikes`.
pub struct Spikes {
    pub rate: f64,
    pub size_sigmas: f64,
    pub seed: u64,
}

pub fn sample_data(
    seed: u64,
    rows: usize,
    kind: Kind,
    step: &str,
    start: &str,
    spikes: Option<Spikes>,
    out: &Path,
) -> anyhow::Result<()> {
    let step = parse_duration(step).map_err(|m| UsageError(format!("--step: {m}")))?;
    let step_secs = u32::try_from(step.as_secs())
        .ok()
        .filter(|s| *s > 0 && step.subsec_millis() == 0)
        .ok_or_else(|| {
            UsageError("--step: expected a whole number of seconds, at least 1s".into())
        })?;
    let start_ms = time::parse_timestamp_ms(start).ok_or_else(|| {
        UsageError(format!(
            "--start: cannot parse `{start}`; expected RFC 3339 such as 2026-01-01T00:00:00Z"
        ))
    })?;
    if rows == 0 {
        return Err(UsageError("--rows: expected at least 1".into()).into());
    }
    let spec = SampleSpec {
        kind: match kind {
            Kind::Univariate => SampleKind::Univariate,
            Kind::Multivariate => SampleKind::Multivariate,
        },
        rows,
        step_secs,
        start_ms,
        seed,
    };
    let mut frame = data::generate_sample(&spec);
    let mut spiked_rows = None;
    if let Some(spikes) = spikes {
        let (spiked, labels) =
            data::inject_spikes(&frame, spikes.rate, spikes.size_sigmas, spikes.seed)
                .map_err(|e| UsageError(format!("--spikes / --spike-size: {e}")))?;
        spiked_rows = Some(labels.iter().filter(|l| **l == 1).count());
        frame = spiked;
    }
    data::write_csv(&frame, out)?;
    outln!(
        "wrote {} rows × {} metrics{} to {}",
        frame.len(),
        frame.names().len(),
        spiked_rows.map_or(String::new(), |n| format!(
            ", {n} rows with a spike (is_anomaly)"
        )),
        out.display()
    );
    Ok(())
}

pub fn inspect(config_path: Option<&Path>, file: &Path) -> anyhow::Result<()> {
    // The entity labels come from the config; a file needs none to be read.
    let entity_labels = match crate::config::Config::load(config_path) {
        Ok((config, _)) => config.fleet.entity_labels,
        Err(error) => {
            eprintln!("warning: {error}; grouping entities by `instance`");
            crate::config::FleetConfig::default().entity_labels
        }
    };
    let load = data::read_csv(file)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", file.display());
    }
    out!(
        "{}",
        describe_frame(&load.frame, &file.display().to_string())
    );
    out!("{}", describe_entities(&load.frame, &entity_labels));
    Ok(())
}

/// The entities of a frame (its series grouped by `entity_labels`), each
/// with its metrics: what `inspect` lists after the columns.
pub fn describe_entities(frame: &MetricFrame, entity_labels: &[String]) -> String {
    let mut entities: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (index, labels) in frame.series_labels().iter().enumerate() {
        let entity = crate::fleet::entity_key(&crate::fleet::entity_of(labels, entity_labels));
        entities
            .entry(entity)
            .or_default()
            .push(frame.metric_of(index));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "entities: {} (by {})",
        entities.len(),
        if entity_labels.is_empty() {
            "nothing: one entity".to_owned()
        } else {
            entity_labels.join(", ")
        }
    );
    for (entity, metrics) in &entities {
        let name = if entity.is_empty() {
            "(fleet-wide)"
        } else {
            entity
        };
        let _ = writeln!(
            out,
            "  {name}: {} series ({})",
            metrics.len(),
            metrics.join(", ")
        );
    }
    out
}

/// The `inspect` report.
pub fn describe_frame(frame: &MetricFrame, name: &str) -> String {
    let mut out = String::new();
    let stamps = frame.timestamps_ms();
    let _ = writeln!(out, "file: {name}");
    let _ = writeln!(out, "rows: {}", frame.len());
    if let (Some(first), Some(last)) = (stamps.first(), stamps.last()) {
        let span = std::time::Duration::from_millis((last - first).unsigned_abs());
        let _ = writeln!(
            out,
            "span: {} .. {} ({})",
            time::format_rfc3339_ms(*first),
            time::format_rfc3339_ms(*last),
            format_duration(span)
        );
    }
    match frame.step_ms() {
        Some(step) => {
            let irregular = stamps.windows(2).filter(|w| w[1] - w[0] != step).count();
            let _ = writeln!(
                out,
                "step: {} (median); {irregular} gaps differ from it",
                format_duration(std::time::Duration::from_millis(step.unsigned_abs()))
            );
        }
        None => {
            let _ = writeln!(out, "step: n/a (one row)");
        }
    }
    let _ = writeln!(out, "columns: {}", frame.names().len());
    let missing = frame.missing_counts();
    for ((name, column), missing) in frame.names().iter().zip(frame.columns()).zip(missing) {
        let finite: Vec<f64> = column.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.is_empty() {
            let _ = writeln!(out, "  {name}: missing {missing}, no values");
            continue;
        }
        let min = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let max = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = finite.iter().sum::<f64>() / finite.len() as f64;
        let _ = writeln!(
            out,
            "  {name}: missing {missing}, min {min:.3}, max {max:.3}, mean {mean:.3}"
        );
    }
    match frame.labels() {
        Some(labels) => {
            let anomalous = labels.iter().filter(|l| **l == 1).count();
            let share = 100.0 * anomalous as f64 / labels.len().max(1) as f64;
            let _ = writeln!(out, "labels: {anomalous} anomalous rows ({share:.2} %)");
        }
        None => {
            let _ = writeln!(out, "labels: none");
        }
    }
    out
}

pub fn export_openmetrics(
    csv: &Path,
    out: &Path,
    prefix: &str,
    end_at_ms: Option<i64>,
) -> anyhow::Result<()> {
    let load = data::read_csv(csv)?;
    let frame = load.frame;
    let last = frame.timestamps_ms().last().copied().unwrap_or(0);
    let shift_ms = end_at_ms.map_or(0, |end| end - last);
    let text = data::to_openmetrics(&frame, prefix, shift_ms);
    crate::fsutil::write_atomic(out, text.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    outln!("{shift_ms}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_group_a_fleets_series() {
        let names = [
            r#"cpu{instance="a"}"#,
            r#"memory{instance="a",job="node"}"#,
            r#"cpu{instance="b"}"#,
            "latency",
        ];
        let frame = MetricFrame::new(
            vec![0],
            names.iter().map(|n| (*n).to_owned()).collect(),
            vec![vec![1.0]; 4],
            None,
        )
        .unwrap();
        let text = describe_entities(&frame, &["instance".to_owned()]);
        assert_eq!(
            text,
            "entities: 3 (by instance)\n  (fleet-wide): 1 series (latency)\n  \
             instance=\"a\": 2 series (cpu, memory)\n  instance=\"b\": 1 series (cpu)\n"
        );
    }
}
