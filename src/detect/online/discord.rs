//! The subsequence (discord) detector, for evaluation: each new subsequence
//! of `m` rows against its nearest earlier one (the left matrix profile,
//! computed incrementally as STAMPI does: each row updates the dot products
//! of the newest subsequence with every earlier one, O(rows) a row), the
//! z-normalised distance to that neighbour scored by [`TailLikelihood`]. A
//! stretch whose shape has never been seen scores high though every value
//! in it is ordinary: the contextual anomalies the point detectors miss.
//! It keeps every row it has seen, so it is offered to `eval` only (not to
//! the live engine, whose per-series state is bounded).

use super::likelihood::TailLikelihood;
use super::seasonal::{SEASONAL_MIN_ACF, dominant_period};

/// Subsequence length without a period: two hours at NAB's 5 minute step,
/// the level detector's window (fixed, not tuned).
pub const DISCORD_ROWS: usize = 24;
/// The shortest and longest subsequence a period may give.
const MIN_ROWS: usize = 8;
const MAX_ROWS: usize = 288;
/// Distances the likelihood's reference keeps (the robust detector's).
const HISTORY: usize = 5000;

/// The streaming state (every row kept: see the module doc).
#[derive(Debug, Clone)]
pub struct DiscordDetector {
    m: usize,
    values: Vec<f64>,
    /// Per subsequence start: its mean and standard deviation.
    means: Vec<f64>,
    sds: Vec<f64>,
    /// Dot products of the newest subsequence with each earlier start.
    qt: Vec<f64>,
    sum: f64,
    sum_sq: f64,
    tail: TailLikelihood,
}

impl DiscordDetector {
    pub fn new(m: usize) -> Self {
        Self {
            m: m.max(2),
            values: Vec::new(),
            means: Vec::new(),
            sds: Vec::new(),
            qt: Vec::new(),
            sum: 0.0,
            sum_sq: 0.0,
            tail: TailLikelihood::new(HISTORY, 1),
        }
    }

    /// The subsequence length.
    pub fn rows(&self) -> usize {
        self.m
    }

    /// The distance of the newest subsequence to its nearest earlier one
    /// that does not overlap it (None until there is one). A missing value
    /// repeats the one before it (0 at the start).
    pub fn push_distance(&mut self, value: f64) -> Option<f64> {
        let value = if value.is_finite() {
            value
        } else {
            self.values.last().copied().unwrap_or(0.0)
        };
        let m = self.m;
        self.values.push(value);
        self.sum += value;
        self.sum_sq += value * value;
        let n = self.values.len();
        if n > m {
            let old = self.values[n - 1 - m];
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        if n < m {
            return None;
        }
        let i = n - m;
        let mean = self.sum / m as f64;
        let var = (self.sum_sq / m as f64 - mean * mean).max(0.0);
        self.means.push(mean);
        self.sds.push(var.sqrt());
        let t = &self.values;
        // Slide the dot products from subsequence i − 1 to i (descending,
        // so each reads its neighbour's old value), then the first directly.
        if i >= 1 {
            self.qt.push(0.0);
            for j in (1..i).rev() {
                self.qt[j] = self.qt[j - 1] - t[j - 1] * t[i - 1] + t[j + m - 1] * t[i + m - 1];
            }
            self.qt[0] = t[..m].iter().zip(&t[i..i + m]).map(|(a, b)| a * b).sum();
        }
        // Neighbours may not overlap the subsequence.
        let last = i.checked_sub(m)?;
        let (mean_i, sd_i) = (self.means[i], self.sds[i]);
        let scale = mean_i.abs().max(1e-12) * 1e-9;
        let mut best = f64::INFINITY;
        for j in 0..=last {
            let sd_j = self.sds[j];
            let d2 = match (sd_i <= scale, sd_j <= scale) {
                (true, true) => 0.0,
                (true, false) | (false, true) => m as f64,
                (false, false) => {
                    let corr =
                        (self.qt[j] - m as f64 * mean_i * self.means[j]) / (m as f64 * sd_i * sd_j);
                    2.0 * m as f64 * (1.0 - corr)
                }
            };
            best = best.min(d2);
        }
        Some(best.max(0.0).sqrt())
    }

    /// The likelihood of the next row (0 until a distance exists).
    pub fn update(&mut self, value: f64) -> f64 {
        match self.push_distance(value) {
            Some(distance) => self.tail.update(distance),
            None => 0.0,
        }
    }
}

/// The subsequence length for a series from its probationary rows `head`:
/// its period where it has a clear one (a cycle unlike every earlier
/// cycle), else [`DISCORD_ROWS`].
pub fn discord_rows(head: &[f64]) -> usize {
    dominant_period(head, SEASONAL_MIN_ACF).map_or(DISCORD_ROWS, |p| p.clamp(MIN_ROWS, MAX_ROWS))
}

/// The discord detector's likelihoods over one series (rows before
/// `probation` score 0). None when the probation is shorter than two
/// subsequences (nothing to compare with).
pub fn discord_likelihoods(values: &[f64], probation: usize) -> Option<Vec<f64>> {
    let probation = probation.min(values.len());
    let m = discord_rows(&values[..probation]);
    if probation < 2 * m {
        return None;
    }
    let mut detector = DiscordDetector::new(m);
    let mut out: Vec<f64> = values.iter().map(|v| detector.update(*v)).collect();
    out[..probation].fill(0.0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::online::ALARM_LEVEL;
    use crate::detect::online::tests::cycle;

    /// The incremental distances equal a direct computation.
    #[test]
    fn distances_equal_the_direct_left_matrix_profile() {
        let values = cycle(300, 20, 4);
        let m = 12;
        let mut detector = DiscordDetector::new(m);
        let znorm = |s: &[f64]| {
            let mean = s.iter().sum::<f64>() / s.len() as f64;
            let sd = (s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
            s.iter().map(|v| (v - mean) / sd).collect::<Vec<f64>>()
        };
        for (t, v) in values.iter().enumerate() {
            let got = detector.push_distance(*v);
            let n = t + 1;
            if n < 2 * m {
                assert!(got.is_none(), "row {t}");
                continue;
            }
            let i = n - m;
            let a = znorm(&values[i..i + m]);
            let direct = (0..=i - m)
                .map(|j| {
                    let b = znorm(&values[j..j + m]);
                    a.iter().zip(&b).map(|(x, y)| (x - y).powi(2)).sum::<f64>()
                })
                .fold(f64::INFINITY, f64::min)
                .sqrt();
            let got = got.expect("a neighbour");
            assert!((got - direct).abs() < 1e-6, "row {t}: {got} vs {direct}");
        }
    }

    /// A cycle whose shape changes (values inside the usual range) scores
    /// at the alarm level; the ordinary cycles before it do not.
    #[test]
    fn a_changed_shape_is_a_discord() {
        let period = 48;
        let mut values = cycle(period * 30, period, 7);
        let start = period * 24;
        for (k, v) in values[start..start + period].iter_mut().enumerate() {
            // The cycle's values, in another order: a square wave.
            let phase = k as f64 / period as f64;
            *v = 50.0 + 20.0 * (std::f64::consts::TAU * phase).sin().signum() * 0.9;
        }
        let probation = period * 6;
        assert_eq!(discord_rows(&values[..probation]), period);
        let l = discord_likelihoods(&values, probation).expect("scores");
        let peak = |r: std::ops::Range<usize>| l[r].iter().copied().fold(0.0, f64::max);
        assert!(peak(start..start + 2 * period) >= ALARM_LEVEL);
        assert!(peak(probation + 2 * period..start) < ALARM_LEVEL);
        assert!(l[..probation].iter().all(|v| *v == 0.0));
    }
}
