//! The level detector: the mean of the last rows scored by the robust
//! detector, for shifts too small to stand out row by row.

use std::collections::VecDeque;

use super::robust::{RobustDetector, RobustParams, Scored};

/// Rows the level detector averages: short enough to catch a shift within
/// hours at NAB's 5-minute step, long enough to average noise away (a sweep
/// of 6, 12, 24, 48 and 96 on NAB, docs/evaluation.md).
pub const LEVEL_ROWS: usize = 24;

/// The level detector: the mean of the last `rows` values scored by the
/// robust detector. A shift too small to stand out row by row stands out
/// in the mean, whose noise is √rows times smaller.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LevelDetector {
    rows: usize,
    recent: VecDeque<f64>,
    sum: f64,
    /// Values added since the sum was last recomputed.
    since_exact: usize,
    robust: RobustDetector,
}

impl LevelDetector {
    pub fn new(rows: usize, params: RobustParams) -> Self {
        let rows = rows.max(1);
        Self {
            rows,
            recent: VecDeque::with_capacity(rows + 1),
            sum: 0.0,
            since_exact: 0,
            robust: RobustDetector::for_alarms(params),
        }
    }

    /// Scores the next value (missing values score 0 and change nothing).
    pub fn update_scored(&mut self, value: f64) -> Scored {
        if !value.is_finite() {
            return Scored::default();
        }
        self.recent.push_back(value);
        self.sum += value;
        if self.recent.len() > self.rows
            && let Some(old) = self.recent.pop_front()
        {
            self.sum -= old;
        }
        // Recomputed now and then so rounding in the running sum cannot drift.
        self.since_exact += 1;
        if self.since_exact >= 4096 {
            self.sum = self.recent.iter().sum();
            self.since_exact = 0;
        }
        self.robust
            .update_scored(self.sum / self.recent.len() as f64)
    }
}

/// The level detector's row likelihoods for one series.
pub fn level_likelihoods(values: &[f64], params: RobustParams) -> Vec<f64> {
    let mut detector = LevelDetector::new(LEVEL_ROWS, params);
    values
        .iter()
        .map(|v| detector.update_scored(*v).likelihood)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::{ALARM_LEVEL, robust_likelihoods};

    #[test]
    fn a_small_sustained_shift_stands_out_in_the_level_and_not_row_by_row() {
        let mut rng = Rng::new(8);
        let mut values: Vec<f64> = (0..3000).map(|_| 10.0 + rng.normal()).collect();
        // One and a half standard deviations up for 100 rows.
        for v in &mut values[2500..2600] {
            *v += 1.5;
        }
        let level = level_likelihoods(&values, RobustParams::default());
        let robust = robust_likelihoods(&values, RobustParams::default());
        let flagged = |l: &[f64]| l[2500..2600].iter().filter(|v| **v >= ALARM_LEVEL).count();
        assert!(flagged(&level) >= 50, "level flagged {}", flagged(&level));
        assert!(flagged(&robust) <= 5, "robust flagged {}", flagged(&robust));
        let false_alarms = level[200..2500]
            .iter()
            .filter(|v| **v >= ALARM_LEVEL)
            .count();
        assert!(false_alarms <= 10, "{false_alarms}");
        let prefix = level_likelihoods(&values[..2550], RobustParams::default());
        assert_eq!(&level[..2550], &prefix[..]);
    }
}
