//! The bundled sample data (cpu, memory, latency with a daily pattern, a
//! memory leak and heavy-tailed noise) and the Test mode's injected spikes.
//! Both are seeded: the same arguments give byte-identical output.

use std::f64::consts::TAU;

use super::rng::Rng;
use super::{DataError, MetricFrame};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// `timestamp,value` (a cpu-like series).
    Univariate,
    /// `timestamp,cpu,memory,latency`.
    Multivariate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpec {
    pub kind: SampleKind,
    pub rows: usize,
    pub step_secs: u32,
    pub start_ms: i64,
    pub seed: u64,
}

impl Default for SampleSpec {
    fn default() -> Self {
        Self {
            kind: SampleKind::Multivariate,
            // Four days at 30 s.
            rows: 11_520,
            step_secs: 30,
            // 2026-01-01T00:00:00Z
            start_ms: 1_767_225_600_000,
            seed: 42,
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Generates sample metrics: a business-hours daily cycle, autocorrelated
/// noise, a memory leak with a restart every 2.5 days and log-normal latency.
pub fn generate_sample(spec: &SampleSpec) -> MetricFrame {
    let mut rng = Rng::new(spec.seed);
    let step_ms = i64::from(spec.step_secs) * 1000;
    let timestamps: Vec<i64> = (0..spec.rows as i64)
        .map(|i| spec.start_ms + i * step_ms)
        .collect();
    let mut cpu = Vec::with_capacity(spec.rows);
    let mut memory = Vec::with_capacity(spec.rows);
    let mut latency = Vec::with_capacity(spec.rows);
    let mut cpu_noise = 0.0;
    let mut latency_noise = 0.0;
    for &t in &timestamps {
        let day = (t.rem_euclid(86_400_000)) as f64 / 86_400_000.0;
        let elapsed_days = (t - spec.start_ms) as f64 / 86_400_000.0;
        // Peaks mid-afternoon, lowest before dawn.
        let daily = (TAU * (day - 0.375)).sin();
        cpu_noise = 0.85 * cpu_noise + 1.6 * rng.normal();
        cpu.push(round3(
            (38.0 + 16.0 * daily + 0.8 * elapsed_days + cpu_noise).clamp(0.0, 100.0),
        ));
        let leak = (elapsed_days % 2.5) / 2.5;
        memory.push(round3(
            (42.0 + 18.0 * leak + 2.0 * daily + 0.4 * rng.normal()).clamp(0.0, 100.0),
        ));
        latency_noise = 0.7 * latency_noise + 0.18 * rng.normal();
        latency.push(round3(
            (95.0 + 30.0 * daily) * latency_noise.exp() + 4.0 * rng.uniform(),
        ));
    }
    let (names, columns) = match spec.kind {
        SampleKind::Univariate => (vec!["value".to_owned()], vec![cpu]),
        SampleKind::Multivariate => (
            vec!["cpu".to_owned(), "memory".to_owned(), "latency".to_owned()],
            vec![cpu, memory, latency],
        ),
    };
    // Timestamps strictly increase and names are unique by construction.
    let series_labels = vec![super::Labels::new(); names.len()];
    MetricFrame {
        timestamps_ms: timestamps,
        names,
        columns,
        labels: None,
        series_labels,
    }
}

/// Robust spread of a column: 1.4826 × MAD, falling back to the standard
/// deviation, then 1, so a flat series still gets visible spikes.
fn robust_scale(values: &[f64]) -> f64 {
    let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 {
        return 1.0;
    }
    let median = median_in_place(&mut finite);
    let mut deviations: Vec<f64> = finite.iter().map(|v| (v - median).abs()).collect();
    let mad = 1.4826 * median_in_place(&mut deviations);
    if mad > 0.0 {
        return mad;
    }
    let mean = finite.iter().sum::<f64>() / finite.len() as f64;
    let var = finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / finite.len() as f64;
    if var > 0.0 { var.sqrt() } else { 1.0 }
}

fn median_in_place(values: &mut [f64]) -> f64 {
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f64::total_cmp).1
}

/// Adds spikes to about `rate` of the rows (one random metric each, up three
/// times in four), `magnitude` robust standard deviations tall. Returns the
/// new frame (labels = old labels OR spikes) and the spike labels alone.
pub fn inject_spikes(
    frame: &MetricFrame,
    rate: f64,
    magnitude: f64,
    seed: u64,
) -> Result<(MetricFrame, Vec<u8>), DataError> {
    let every: Vec<usize> = (0..frame.names().len()).collect();
    inject_spikes_into(frame, rate, magnitude, seed, &every)
}

/// [`inject_spikes`] into `targets` alone (column indices; a fleet's Test
/// mode spikes a few entities): each spiked row picks one of them.
pub fn inject_spikes_into(
    frame: &MetricFrame,
    rate: f64,
    magnitude: f64,
    seed: u64,
    targets: &[usize],
) -> Result<(MetricFrame, Vec<u8>), DataError> {
    if !(0.0..=1.0).contains(&rate) || !magnitude.is_finite() {
        return Err(DataError::Shape {
            message: format!(
                "spike rate must be in [0, 1] and magnitude finite; got rate {rate}, \
                 magnitude {magnitude}"
            ),
        });
    }
    let mut rng = Rng::new(seed);
    let MetricFrame {
        timestamps_ms: timestamps,
        names,
        mut columns,
        labels,
        series_labels,
    } = frame.clone();
    let scales: Vec<f64> = columns.iter().map(|c| robust_scale(c)).collect();
    let mut spikes = vec![0u8; timestamps.len()];
    for (row, spike) in spikes.iter_mut().enumerate() {
        if rng.uniform() >= rate || targets.is_empty() {
            continue;
        }
        let column = targets[rng.below(targets.len())];
        if column >= columns.len() {
            continue;
        }
        let sign = if rng.uniform() < 0.75 { 1.0 } else { -1.0 };
        let size = magnitude * (0.8 + 0.4 * rng.uniform());
        let value = &mut columns[column][row];
        if value.is_finite() {
            *value = round3(*value + sign * size * scales[column]);
            *spike = 1;
        }
    }
    let merged = match labels {
        Some(old) => old.iter().zip(&spikes).map(|(a, b)| a | b).collect(),
        None => spikes.clone(),
    };
    let frame = MetricFrame::new(timestamps, names, columns, Some(merged))?
        .with_series_labels(series_labels)?;
    Ok((frame, spikes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_is_deterministic_and_shaped() {
        let spec = SampleSpec {
            rows: 3000,
            ..SampleSpec::default()
        };
        let a = generate_sample(&spec);
        assert_eq!(a, generate_sample(&spec));
        assert_eq!(a.len(), 3000);
        assert_eq!(a.names(), ["cpu", "memory", "latency"]);
        assert_eq!(a.step_ms(), Some(30_000));
        let cpu = a.column("cpu").unwrap();
        assert!(cpu.iter().all(|v| (0.0..=100.0).contains(v)));
        let other = generate_sample(&SampleSpec { seed: 43, ..spec });
        assert_ne!(a, other);
        let uni = generate_sample(&SampleSpec {
            kind: SampleKind::Univariate,
            ..spec
        });
        assert_eq!(uni.names(), ["value"]);
    }

    #[test]
    fn daily_pattern_is_visible() {
        let frame = generate_sample(&SampleSpec::default());
        let cpu = frame.column("cpu").unwrap();
        // Mean cpu at 15:00 vs 03:00 UTC over the four days.
        let at_hour = |h: usize| {
            let rows: Vec<f64> = (0..4).map(|d| cpu[d * 2880 + h * 120]).collect();
            rows.iter().sum::<f64>() / 4.0
        };
        assert!(
            at_hour(15) > at_hour(3) + 15.0,
            "{} vs {}",
            at_hour(15),
            at_hour(3)
        );
    }

    #[test]
    fn spikes_are_seeded_labelled_and_sized() {
        let frame = generate_sample(&SampleSpec {
            rows: 5000,
            ..SampleSpec::default()
        });
        let (spiked, labels) = inject_spikes(&frame, 0.01, 8.0, 1).unwrap();
        let (again, _) = inject_spikes(&frame, 0.01, 8.0, 1).unwrap();
        assert_eq!(spiked, again);
        let count = labels.iter().filter(|l| **l == 1).count();
        assert!((25..=80).contains(&count), "{count} spikes");
        assert_eq!(spiked.labels().unwrap(), labels.as_slice());
        for (row, &l) in labels.iter().enumerate() {
            let changed = (0..3).any(|c| spiked.columns()[c][row] != frame.columns()[c][row]);
            assert_eq!(changed, l == 1, "row {row}");
        }
        assert!(inject_spikes(&frame, 1.5, 1.0, 1).is_err());
        let (none, labels) = inject_spikes(&frame, 0.0, 8.0, 1).unwrap();
        assert!(labels.iter().all(|l| *l == 0));
        assert_eq!(none.columns(), frame.columns());
    }
}
