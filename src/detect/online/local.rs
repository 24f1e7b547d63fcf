//! The local detector: each value against the median of the few values
//! before it, for spikes that a trend or swing hides from the long window.

use std::collections::VecDeque;

use super::likelihood::median_in_place;
use super::robust::{RobustDetector, RobustParams};

/// Values the local detector takes the median of: the narrowest median that
/// ignores a lone spike among them.
pub const LOCAL_ROWS: usize = 3;

/// The local detector's row likelihoods: each value against the median of
/// the [`LOCAL_ROWS`] values before it, that residual judged by the robust
/// detector's row likelihood. A spike on a trending or swinging series
/// stands out against its neighbours where the long window's MAD, widened by
/// the trend, hides it. Residuals that short are heavy-tailed (every shift's
/// first and last rows are large ones), so it speaks only at the top of the
/// scale (a tail of 1e-12 or less, likelihood 1); elsewhere it is 0.
pub fn local_row_likelihoods(values: &[f64], params: RobustParams) -> Vec<f64> {
    let mut stream = LocalStream::new(params);
    values.iter().map(|v| stream.push(*v)).collect()
}

/// The local detector as a stream: the residual of each value against the
/// median of the [`LOCAL_ROWS`] values before it (missing while any of them
/// is), judged by the robust detector's row likelihood, kept only at 1.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct LocalStream {
    before: VecDeque<f64>,
    robust: RobustDetector,
}

impl LocalStream {
    pub(super) fn new(params: RobustParams) -> Self {
        Self {
            before: VecDeque::with_capacity(LOCAL_ROWS + 1),
            robust: RobustDetector::new(params),
        }
    }

    /// The next value's likelihood.
    pub(super) fn push(&mut self, value: f64) -> f64 {
        let residual =
            if self.before.len() < LOCAL_ROWS || self.before.iter().any(|v| !v.is_finite()) {
                f64::NAN
            } else {
                let mut window = [0.0; LOCAL_ROWS];
                for (slot, v) in window.iter_mut().zip(&self.before) {
                    *slot = *v;
                }
                value - median_in_place(&mut window)
            };
        self.before.push_back(value);
        if self.before.len() > LOCAL_ROWS {
            self.before.pop_front();
        }
        let l = self.robust.update_scored(residual).row_likelihood;
        if l >= 1.0 { l } else { 0.0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::ALARM_LEVEL;
    use crate::detect::online::robust_row_likelihoods;

    #[test]
    fn the_local_detector_finds_a_spike_that_swings_hide_from_the_long_window() {
        // Swings of ±20 every 500 rows with noise of 1: a spike of 8 where
        // the swing crosses its middle is an ordinary value of the 2,000-row
        // window; against the three values before it, it is 8 noise widths.
        let mut rng = Rng::new(7);
        let mut values: Vec<f64> = (0..4000)
            .map(|i| 20.0 * (std::f64::consts::TAU * i as f64 / 500.0).sin() + rng.normal())
            .collect();
        let at = 3500;
        values[at] += 8.0;
        let params = RobustParams::default();
        let robust = robust_row_likelihoods(&values, params);
        let local = local_row_likelihoods(&values, params);
        assert!(robust[at] < ALARM_LEVEL, "{}", robust[at]);
        assert!(local[at] >= ALARM_LEVEL, "{}", local[at]);
        // The noise itself, and the rows after the spike (the median of
        // three ignores it), stay quiet.
        let others: Vec<usize> = (0..values.len())
            .filter(|&i| i != at && local[i] > 0.0)
            .collect();
        assert!(others.is_empty(), "{others:?}");
        // Online: a prefix scores the same.
        let prefix = local_row_likelihoods(&values[..at + 1], params);
        assert_eq!(&local[..at + 1], &prefix[..]);
    }
}
