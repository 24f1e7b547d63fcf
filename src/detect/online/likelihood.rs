//! The likelihood scale every online detector reports on: [`ALARM_LEVEL`],
//! the normal tail and its log-scaled score, and [`TailLikelihood`], the
//! tail-probability likelihood of a stream of distances (the construction of
//! Numenta's anomaly likelihood, on robust statistics where it judges rows).

use std::collections::VecDeque;

/// The score that counts as an alarm for suppression.
pub const ALARM_LEVEL: f64 = 0.995;

pub(super) fn median_in_place(values: &mut [f64]) -> f64 {
    let middle = values.len() / 2;
    *values.select_nth_unstable_by(middle, f64::total_cmp).1
}

/// Q(x) = 1 − Φ(x), the standard normal upper tail, computed directly (no
/// 1 − Φ cancellation) so tiny tails stay distinct (Abramowitz–Stegun
/// 7.1.26 for erfc).
fn normal_tail(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * erfc
    } else {
        1.0 - 0.5 * erfc
    }
}

/// The score for a tail probability: 1 − tail down to a tail of 1e-2, then
/// on a log scale so 1e-3 and 1e-12 do not both read as 1.0 (as Numenta's
/// log likelihood): 0.99 at 1e-2, 1.0 at 1e-12 and below.
fn likelihood_score(tail: f64) -> f64 {
    if tail >= 1e-2 {
        1.0 - tail
    } else {
        let decades = (-tail.max(1e-300).log10() - 2.0).min(10.0);
        0.99 + 0.01 * decades / 10.0
    }
}

/// The likelihood of a distance `sigmas` robust spreads above the usual
/// one: what [`TailLikelihood::update_both`]'s row likelihood is made of.
pub(super) fn row_likelihood(sigmas: f64) -> f64 {
    likelihood_score(normal_tail(sigmas))
}

#[cfg(test)]
fn normal_cdf(x: f64) -> f64 {
    1.0 - normal_tail(x)
}

/// The tail-probability likelihood of a stream of non-negative distances
/// (the construction the robust detector uses, over any error stream): the
/// short-term mean of the latest distances against the mean and spread of
/// the `history` before them.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TailLikelihood {
    history: usize,
    short: usize,
    distances: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    /// The median and MAD-based spread of the distances, refreshed every
    /// [`ROBUST_REFRESH_ROWS`] updates (a selection per row would dominate
    /// the cost).
    robust: Option<(f64, f64)>,
    since_robust: usize,
}

/// Updates between refreshes of the row likelihood's median and MAD.
const ROBUST_REFRESH_ROWS: usize = 16;

impl TailLikelihood {
    pub fn new(history: usize, short: usize) -> Self {
        Self {
            history,
            short: short.max(1),
            // Grown as rows come (a fleet's young series stay small).
            distances: VecDeque::new(),
            sum: 0.0,
            sum_sq: 0.0,
            robust: None,
            since_robust: 0,
        }
    }

    /// The distances remembered.
    pub fn len(&self) -> usize {
        self.distances.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.distances.is_empty()
    }

    /// The short-term mean distance ending with `distance`.
    fn short_mean(&self, distance: f64) -> f64 {
        self.distances
            .iter()
            .rev()
            .take(self.short - 1)
            .chain(std::iter::once(&distance))
            .sum::<f64>()
            / self.short as f64
    }

    /// Both likelihoods of `distance` given what came before (the
    /// [`Scored::likelihood`] and [`Scored::row_likelihood`] constructions);
    /// then remembers it.
    ///
    /// [`Scored::likelihood`]: super::Scored::likelihood
    /// [`Scored::row_likelihood`]: super::Scored::row_likelihood
    ///
    /// `own_sigmas`, where given, is the row's distance already in robust
    /// spreads of its own scale: the row likelihood is read from it directly
    /// instead of from its place among the recent distances.
    pub fn update_both(&mut self, distance: f64, own_sigmas: Option<f64>) -> (f64, f64) {
        let row = if self.distances.len() < 20 {
            0.0
        } else {
            self.since_robust += 1;
            if self.robust.is_none() || self.since_robust >= ROBUST_REFRESH_ROWS {
                self.since_robust = 0;
                let mut sorted: Vec<f64> = self.distances.iter().copied().collect();
                let median = median_in_place(&mut sorted);
                let mut deviations: Vec<f64> = sorted.iter().map(|d| (d - median).abs()).collect();
                let spread = 1.4826 * median_in_place(&mut deviations);
                self.robust = Some((median, spread.max(1e-6)));
            }
            let (median, spread) = self.robust.unwrap_or((0.0, 1.0));
            // The row's own distance: a one-row spike is out of range as a
            // row even where the short-term mean would halve it.
            let sigmas = own_sigmas.unwrap_or((distance - median) / spread);
            likelihood_score(normal_tail(sigmas))
        };
        (self.update(distance), row)
    }

    /// The likelihood of `distance` given what came before; then remembers it.
    pub fn update(&mut self, distance: f64) -> f64 {
        let n = self.distances.len();
        let likelihood = if n < 20 {
            0.0
        } else {
            let mean = self.sum / n as f64;
            let var = (self.sum_sq / n as f64 - mean * mean).max(1e-12);
            let short = self.short_mean(distance);
            likelihood_score(normal_tail((short - mean) / var.sqrt()))
        };
        crate::memory::push_back_lean(&mut self.distances, distance, Some(self.history + 1));
        self.sum += distance;
        self.sum_sq += distance * distance;
        if self.distances.len() > self.history
            && let Some(old) = self.distances.pop_front()
        {
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        likelihood
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }
}
