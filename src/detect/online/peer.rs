//! The peer detector: each entity against its fleet at the same moment. At
//! every row, the values of one metric across the entities give a median
//! and a MAD; an entity's distance from its peers is |value − median| /
//! MAD. That distance is judged against the distances every entity of the
//! fleet has had over the recent rows (pooled), so a host that leaves its
//! fleet is caught from its first row, with no history of its own, while
//! the spread a heterogeneous fleet always has is the norm. (Grafana ML's
//! outlier detection compares series with their peers the same way, by
//! MAD.) Fixed up front, not tuned: at least [`PEER_MIN_ENTITIES`] peers
//! (a MAD of fewer values is too coarse), a pool of [`PEER_POOL`] distances
//! (the robust detector's history), and, as the local detector, it speaks
//! only at certainty (a tail of 1e-12 or less): pooled distances are heavy
//! tailed, and a row-wise 0.5 % tail over a fleet would mark hundreds of
//! rows a day.

use super::likelihood::row_likelihood;
use super::order::OrderedWindow;
use super::robust::MIN_DEPARTURES;

/// Entities with a value at a row needed for a peer judgement.
pub const PEER_MIN_ENTITIES: usize = 5;

/// Distances the pooled reference keeps (all entities together).
pub const PEER_POOL: usize = 5000;

/// Pooled distances needed before the detector speaks.
const PEER_MIN_POOL: usize = 200;

/// One metric's peer state across its entities.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PeerDetector {
    pool: OrderedWindow,
}

impl Default for PeerDetector {
    fn default() -> Self {
        Self {
            pool: OrderedWindow::new(PEER_POOL),
        }
    }
}

impl PeerDetector {
    /// Judges one row: `values` are the entities' values of the metric
    /// (NaN: none). Returns each entity's likelihood (0 where it has no
    /// value, with too few peers, or below certainty); then adds the row's
    /// distances to the pool.
    pub fn push_row(&mut self, values: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; values.len()];
        let mut finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if finite.len() < PEER_MIN_ENTITIES {
            return out;
        }
        finite.sort_by(f64::total_cmp);
        let median = finite[finite.len() / 2];
        let mut deviations: Vec<f64> = finite.iter().map(|v| (v - median).abs()).collect();
        deviations.sort_by(f64::total_cmp);
        let mad = 1.4826 * deviations[deviations.len() / 2];
        // Peers that agree exactly: measure against a small floor.
        let scale = mad.max(1e-3 * median.abs().max(1e-6));
        let distances: Vec<Option<f64>> = values
            .iter()
            .map(|v| v.is_finite().then(|| (v - median).abs() / scale))
            .collect();
        if self.pool.len() >= PEER_MIN_POOL
            && let (Some(usual), Some(mad)) = (self.pool.median(), self.pool.median_abs_deviation())
        {
            // Where most entities sit exactly at the fleet's median (a rate
            // that is usually 0 on every host) most distances are 0 and so
            // is their MAD: the typical size of the others is the scale, as
            // for one series' values (`RobustDetector`), so the routine
            // bump of one host is not a certainty.
            let spread = if mad > 0.0 {
                mad
            } else {
                self.pool.median_departure(MIN_DEPARTURES).unwrap_or(0.0)
            };
            let spread = (1.4826 * spread).max(1e-6);
            for (slot, distance) in out.iter_mut().zip(&distances) {
                if let Some(d) = distance {
                    let l = row_likelihood((d - usual) / spread);
                    *slot = if l >= 1.0 { l } else { 0.0 };
                }
            }
        }
        for d in distances.into_iter().flatten() {
            self.pool.push(d);
        }
        out
    }
}

/// The columns of `frame` grouped by metric, for the metrics with at least
/// [`PEER_MIN_ENTITIES`] series (their peers).
pub fn peer_groups(frame: &crate::data::MetricFrame) -> Vec<(String, Vec<usize>)> {
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for column in 0..frame.names().len() {
        let metric = frame.metric_of(column);
        match index.get(&metric) {
            Some(&g) => groups[g].1.push(column),
            None => {
                index.insert(metric.clone(), groups.len());
                groups.push((metric, vec![column]));
            }
        }
    }
    groups.retain(|(_, columns)| columns.len() >= PEER_MIN_ENTITIES);
    groups
}

/// The peer detector over a whole frame, rows `from..` of each group
/// judged by `detectors` (one per metric, created as needed): per column,
/// the likelihoods aligned to the frame's rows (0 before `from`), None for
/// a column without peers.
pub fn peer_likelihoods_from(
    frame: &crate::data::MetricFrame,
    detectors: &mut std::collections::HashMap<String, PeerDetector>,
    from: impl Fn(&str) -> usize,
) -> Vec<Option<Vec<f64>>> {
    let mut out: Vec<Option<Vec<f64>>> = vec![None; frame.names().len()];
    for (metric, columns) in peer_groups(frame) {
        let start = from(&metric);
        let detector = detectors.entry(metric).or_default();
        // Row by row (every entity at once), then back to columns.
        let judged: Vec<Vec<f64>> = (start.min(frame.len())..frame.len())
            .map(|row| {
                let values: Vec<f64> = columns.iter().map(|c| frame.columns()[*c][row]).collect();
                detector.push_row(&values)
            })
            .collect();
        for (k, column) in columns.into_iter().enumerate() {
            let mut likelihoods = vec![0.0; frame.len() - judged.len()];
            likelihoods.extend(judged.iter().map(|row| row[k]));
            out[column] = Some(likelihoods);
        }
    }
    out
}

/// The peer detector over a whole frame, from its first row.
pub fn peer_likelihoods(frame: &crate::data::MetricFrame) -> Vec<Option<Vec<f64>>> {
    peer_likelihoods_from(frame, &mut Default::default(), |_| 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;

    #[test]
    fn a_host_that_leaves_its_fleet_is_caught_at_once() {
        let mut rng = Rng::new(3);
        let hosts = 30;
        // Each host at its own level (a heterogeneous fleet), all with noise.
        let levels: Vec<f64> = (0..hosts).map(|h| 20.0 + h as f64).collect();
        let mut detector = PeerDetector::default();
        let mut quiet_marks = 0;
        for row in 0..400 {
            let mut values: Vec<f64> = levels.iter().map(|l| l + rng.normal()).collect();
            if row == 300 {
                // Host 7 leaves its fleet; host 9 has no value.
                values[7] = 400.0;
                values[9] = f64::NAN;
            }
            let l = detector.push_row(&values);
            if row == 300 {
                assert!(l[7] >= 1.0, "{:?}", &l[..10]);
                assert_eq!(l[9], 0.0);
            }
            quiet_marks += l
                .iter()
                .enumerate()
                .filter(|(h, l)| **l > 0.0 && !(row == 300 && *h == 7))
                .count();
        }
        // The fleet's own spread is never an outlier.
        assert_eq!(quiet_marks, 0);
        // Too few peers: nothing to say.
        assert_eq!(
            PeerDetector::default().push_row(&[1.0, 2.0, 100.0]),
            vec![0.0; 3]
        );
    }

    #[test]
    fn a_routine_bump_on_a_fleet_that_is_usually_zero_is_no_outlier() {
        // A rate that is 0 on most hosts most of the time, one event's worth
        // on a few: the fleet's MAD is 0, and so is the pool's.
        let mut rng = Rng::new(5);
        let hosts = 40;
        let mut detector = PeerDetector::default();
        let mut bump_marks = 0;
        for row in 0..600 {
            let mut values: Vec<f64> = (0..hosts)
                .map(|_| {
                    if rng.uniform() < 0.1 {
                        1.0 / 300.0
                    } else {
                        0.0
                    }
                })
                .collect();
            if row == 500 {
                values[3] = 0.7;
            }
            let l = detector.push_row(&values);
            if row == 500 {
                assert!(l[3] >= 1.0, "the burst: {}", l[3]);
            }
            bump_marks += l
                .iter()
                .enumerate()
                .filter(|(h, l)| **l > 0.0 && !(row == 500 && *h == 3))
                .count();
        }
        assert_eq!(bump_marks, 0, "routine bumps marked");
    }
}
