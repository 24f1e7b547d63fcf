//! A metric's peer reference: at every row, the median of the fleet's
//! values and their spread (the median ± one robust σ, 1.4826 × the MAD),
//! the same reference the peer detector measures a host against
//! ([`crate::detect::online::PeerDetector`]). Drawn faintly behind a host's own
//! line, it shows at a glance whether the host has left its fleet.

use crate::data::MetricFrame;
use crate::detect::online::PEER_MIN_ENTITIES;

/// One metric's fleet median and spread per row.
#[derive(Debug, Clone, PartialEq)]
pub struct PeerReference {
    pub metric: String,
    /// Entities with the metric.
    pub entities: usize,
    /// Unix seconds per row (rows with too few values left out).
    pub xs: Vec<f64>,
    pub median: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
}

/// The references of `metrics` (`metric_of`: each column's metric index)
/// that have at least [`PEER_MIN_ENTITIES`] series.
pub(super) fn references(
    frame: &MetricFrame,
    metrics: &[String],
    metric_of: &[usize],
) -> Vec<PeerReference> {
    let mut out = Vec::new();
    for (index, metric) in metrics.iter().enumerate() {
        let columns: Vec<&[f64]> = metric_of
            .iter()
            .enumerate()
            .filter(|(_, m)| **m == index)
            .map(|(column, _)| frame.columns()[column].as_slice())
            .collect();
        if columns.len() < PEER_MIN_ENTITIES {
            continue;
        }
        let mut reference = PeerReference {
            metric: metric.clone(),
            entities: columns.len(),
            xs: Vec::new(),
            median: Vec::new(),
            lower: Vec::new(),
            upper: Vec::new(),
        };
        let mut values = Vec::with_capacity(columns.len());
        for (row, t) in frame.timestamps_ms().iter().enumerate() {
            values.clear();
            values.extend(columns.iter().map(|c| c[row]).filter(|v| v.is_finite()));
            if values.len() < PEER_MIN_ENTITIES {
                continue;
            }
            let median = median_of(&mut values);
            for v in values.iter_mut() {
                *v = (*v - median).abs();
            }
            let sigma = 1.4826 * median_of(&mut values);
            reference.xs.push(*t as f64 / 1000.0);
            reference.median.push(median);
            reference.lower.push(median - sigma);
            reference.upper.push(median + sigma);
        }
        out.push(reference);
    }
    out
}

/// The upper median (the peer detector's), reordering `values`.
fn median_of(values: &mut [f64]) -> f64 {
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f64::total_cmp).1
}
