//! The seasonal detector: each value against what this moment usually
//! looks like one, two and three periods back, with the period found by
//! [`dominant_period`].

use std::collections::VecDeque;

use super::likelihood::median_in_place;
use super::robust::{RobustDetector, RobustParams, Scored};

/// The seasonal detector needs the autocorrelation at the period to be at
/// least this: below it the "usual value at this time" is mostly noise.
pub const SEASONAL_MIN_ACF: f64 = 0.5;

/// Periods back the seasonal detector looks for what this moment usually
/// looks like.
pub const SEASONAL_LAGS: usize = 3;

/// Rows (at most, the newest) that [`dominant_period`] searches.
pub const PERIOD_SEARCH_ROWS: usize = 8192;

/// The period of a series' strongest repeating pattern, from its first
/// rows: the lag in `4..=rows/2` with the highest autocorrelation that is a
/// local peak, when that autocorrelation is at least `min_acf`. None for
/// series with gaps, flat series and series without such a peak. Only the
/// last [`PERIOD_SEARCH_ROWS`] rows are searched.
pub fn dominant_period(values: &[f64], min_acf: f64) -> Option<usize> {
    // The autocorrelation costs rows² / 2: the last rows are enough to find
    // any period up to half of them (a million-row file would take minutes).
    let values = &values[values.len().saturating_sub(PERIOD_SEARCH_ROWS)..];
    let n = values.len();
    if n < 16 || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let centred: Vec<f64> = values.iter().map(|v| v - mean).collect();
    let var: f64 = centred.iter().map(|v| v * v).sum();
    if var <= 0.0 {
        return None;
    }
    let max_lag = n / 2;
    let acf: Vec<f64> = (0..=max_lag + 1)
        .map(|lag| {
            centred[..n - lag]
                .iter()
                .zip(&centred[lag..])
                .map(|(a, b)| a * b)
                .sum::<f64>()
                / var
        })
        .collect();
    (4..=max_lag)
        .filter(|&lag| acf[lag] >= acf[lag - 1] && acf[lag] >= acf[lag + 1])
        .max_by(|a, b| acf[*a].total_cmp(&acf[*b]))
        .filter(|&lag| acf[lag] >= min_acf)
}

/// The seasonal detector: each value minus what this moment usually looks
/// like (the median of the values one, two and three periods before it;
/// the mean while only two are known), scored by the robust detector.
/// Catches contextual anomalies that are ordinary values overall: a daily
/// peak that does not come, a flat stretch where the day should rise.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeasonalDetector {
    period: usize,
    lags: usize,
    past: VecDeque<f64>,
    robust: RobustDetector,
}

impl SeasonalDetector {
    pub fn new(period: usize, lags: usize, params: RobustParams) -> Self {
        let (period, lags) = (period.max(1), lags.max(1));
        Self {
            period,
            lags,
            past: VecDeque::with_capacity(period * lags + 1),
            robust: RobustDetector::for_alarms(params),
        }
    }

    /// Scores the next value (0 until one period has been seen, and for
    /// missing values).
    pub fn update_scored(&mut self, value: f64) -> Scored {
        let n = self.past.len();
        let mut references: Vec<f64> = (1..=self.lags)
            .filter_map(|k| n.checked_sub(k * self.period))
            .filter_map(|i| self.past.get(i).copied())
            .filter(|v| v.is_finite())
            .collect();
        self.past.push_back(value);
        if self.past.len() > self.period * self.lags {
            self.past.pop_front();
        }
        if references.is_empty() || !value.is_finite() {
            return Scored::default();
        }
        let usual = if references.len() == 2 {
            (references[0] + references[1]) / 2.0
        } else {
            median_in_place(&mut references)
        };
        self.robust.update_scored(value - usual)
    }
}

/// The seasonal detector's row likelihoods for one series, with the period
/// found in the first `probation` rows (rows before `probation` score 0).
/// None when those rows show no clear period.
pub fn seasonal_likelihoods(
    values: &[f64],
    probation: usize,
    params: RobustParams,
) -> Option<Vec<f64>> {
    let probation = probation.min(values.len());
    let period = dominant_period(&values[..probation], SEASONAL_MIN_ACF)?;
    let mut detector = SeasonalDetector::new(period, SEASONAL_LAGS, params);
    let mut out: Vec<f64> = values
        .iter()
        .map(|v| detector.update_scored(*v).likelihood)
        .collect();
    out[..probation].fill(0.0);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::tests::cycle;
    use crate::detect::online::{ALARM_LEVEL, robust_likelihoods};

    #[test]
    fn the_period_is_found_and_noise_has_none() {
        let values = cycle(600, 96, 3);
        assert_eq!(dominant_period(&values, SEASONAL_MIN_ACF), Some(96));
        let mut rng = Rng::new(4);
        let noise: Vec<f64> = (0..600).map(|_| rng.normal()).collect();
        assert_eq!(dominant_period(&noise, SEASONAL_MIN_ACF), None);
        assert_eq!(dominant_period(&[1.0; 200], SEASONAL_MIN_ACF), None);
        let mut gap = values.clone();
        gap[10] = f64::NAN;
        assert_eq!(dominant_period(&gap, SEASONAL_MIN_ACF), None);
        // A long series is searched over its last rows only.
        let long = cycle(1_000_000, 96, 6);
        assert_eq!(dominant_period(&long, SEASONAL_MIN_ACF), Some(96));
    }

    #[test]
    fn a_missing_peak_is_seasonal_and_invisible_to_the_robust_detector() {
        let period = 96;
        let mut values = cycle(period * 12, period, 5);
        // One cycle's peak does not come: the values stay at the mean, which
        // is the most ordinary value of the series overall.
        let start = period * 9;
        for v in &mut values[start..start + period / 2] {
            *v = 50.0;
        }
        let probation = period * 4;
        let seasonal = seasonal_likelihoods(&values, probation, RobustParams::default())
            .expect("a clear period");
        let robust = robust_likelihoods(&values, RobustParams::default());
        let window = start..start + period / 2;
        let peak = |l: &[f64]| l[window.clone()].iter().copied().fold(0.0, f64::max);
        assert!(peak(&seasonal) >= ALARM_LEVEL, "{}", peak(&seasonal));
        assert!(peak(&robust) < ALARM_LEVEL, "{}", peak(&robust));
        let before = seasonal[probation..start]
            .iter()
            .filter(|l| **l >= ALARM_LEVEL)
            .count();
        assert!(before <= 2, "{before} alarms before the missing peak");
        assert!(seasonal[..probation].iter().all(|l| *l == 0.0));
        // Row t's score does not depend on rows after t.
        let prefix =
            seasonal_likelihoods(&values[..start + 10], probation, RobustParams::default())
                .expect("a clear period");
        assert_eq!(&seasonal[..start + 10], &prefix[..]);
    }
}
