//! The robust detector: how far a value falls from the recent median in
//! units of the recent median absolute deviation, turned into a calibrated
//! anomaly likelihood in [0, 1] by [`TailLikelihood`]: the probability, under
//! the recent distribution of those distances, that the short-term average
//! is as large as it is. One set of parameters for all data; nothing is
//! fitted to labels.

use super::alarms::Suppressor;
use super::likelihood::TailLikelihood;
use super::order::OrderedWindow;

/// Parameters of the robust detector (the same for every series).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RobustParams {
    /// Rows the median and MAD look back over.
    pub window: usize,
    /// Rows of distances the likelihood's reference distribution keeps.
    pub history: usize,
    /// Rows averaged for the short-term distance.
    pub short: usize,
    /// After a score of at least [`ALARM_LEVEL`], the next this many rows
    /// are capped just under it: one alarm per event, not one per row (a
    /// monitor pages once; NAB charges every extra row outside a window).
    ///
    /// [`ALARM_LEVEL`]: super::ALARM_LEVEL
    pub suppress: usize,
}

impl Default for RobustParams {
    fn default() -> Self {
        // Chosen by a small sweep on the 51 NAB files (docs/evaluation.md
        // lists it): long windows make the median and MAD a robust summary of
        // everything seen so far.
        Self {
            window: 2000,
            history: 5000,
            short: 2,
            suppress: 100,
        }
    }
}

/// Values off the median a window needs before their typical size is its
/// scale where the MAD is 0: as many as the detector needs rows before it
/// judges at all (fixed with that reason, not tuned).
pub(super) const MIN_DEPARTURES: usize = 10;

/// One row's scores.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scored {
    /// How surprising the row is given the recent distances, in [0, 1]
    /// (their mean and spread, which earlier anomalies widen: a burst that
    /// keeps recurring stops being news). What alarms are made from.
    pub likelihood: f64,
    /// How far outside the normal range the row is, in [0, 1]: its own
    /// distance against the median and MAD of the recent distances, which
    /// earlier anomalies do not widen. A row at [`ALARM_LEVEL`] or above is
    /// anomalous (point-wise flags: every row of a long shift, not only its
    /// start).
    ///
    /// [`ALARM_LEVEL`]: super::ALARM_LEVEL
    pub row_likelihood: f64,
    /// The same, capped after an alarm: at most one alarm per event (what
    /// pages a person, and what NAB scores).
    pub alarm: f64,
}

/// The streaming state.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RobustDetector {
    recent: OrderedWindow,
    /// The distances' likelihood.
    tail: TailLikelihood,
    suppressor: Suppressor,
    /// Whether [`Scored::row_likelihood`] is computed: its median and MAD of
    /// 5,000 distances are the costly part, and alarms do not use it.
    judge_rows: bool,
}

impl RobustDetector {
    pub fn new(params: RobustParams) -> Self {
        Self {
            recent: OrderedWindow::new(params.window),
            tail: TailLikelihood::new(params.history, params.short),
            suppressor: Suppressor::new(params.suppress),
            judge_rows: true,
        }
    }

    /// A detector whose [`Scored::row_likelihood`] stays 0: for callers that
    /// use only the likelihood and the alarm.
    pub fn for_alarms(params: RobustParams) -> Self {
        Self {
            judge_rows: false,
            ..Self::new(params)
        }
    }

    /// Scores the next value (missing values score 0 and change nothing):
    /// the alarm score (see [`RobustDetector::update_scored`]).
    pub fn update(&mut self, value: f64) -> f64 {
        self.update_scored(value).alarm
    }

    /// Scores the next value two ways: the row's likelihood, and the alarm
    /// score (the likelihood capped under [`ALARM_LEVEL`] for `suppress`
    /// rows after an alarm).
    ///
    /// [`ALARM_LEVEL`]: super::ALARM_LEVEL
    pub fn update_scored(&mut self, value: f64) -> Scored {
        if !value.is_finite() {
            return Scored::default();
        }
        let distance = self.distance(value);
        self.recent.push(value);
        let Some((distance, departure)) = distance else {
            return Scored::default();
        };
        // The reference distribution is what came before this row.
        let (likelihood, row_likelihood) = if self.judge_rows {
            self.tail.update_both(distance, departure)
        } else {
            (self.tail.update(distance), 0.0)
        };
        let alarm = self.suppressor.alarm(likelihood);
        Scored {
            likelihood,
            row_likelihood,
            alarm,
        }
    }

    /// |value − median| / MAD over the recent rows (None while too few),
    /// and where the MAD is 0 the same distance in units of the typical
    /// departure from the median (see the body).
    fn distance(&self, value: f64) -> Option<(f64, Option<f64>)> {
        if self.recent.len() < MIN_DEPARTURES {
            return None;
        }
        let median = self.recent.median()?;
        let mad = 1.4826 * self.recent.median_abs_deviation()?;
        // A flat stretch has MAD 0: measure against a small floor instead,
        // so the first change in a constant series stands out.
        let floor = 1e-3 * median.abs().max(1e-6);
        let distance = (value - median).abs() / mad.max(floor);
        // Where most values are equal (the MAD is 0) but the window holds
        // enough values off the median, the row is judged by the typical
        // size of those departures: a rate that is usually 0 and now and
        // then one event's worth has bumps of that size as its normal
        // variation, not a change from a constant. (The likelihood, what
        // alarms and NAB use, keeps the floor.)
        let departure = if mad > 0.0 {
            None
        } else {
            self.recent
                .median_departure(MIN_DEPARTURES)
                .map(|d| (value - median).abs() / (1.4826 * d).max(floor))
        };
        Some((distance, departure))
    }
}

/// Scores a whole series online.
pub fn robust_scores(values: &[f64], params: RobustParams) -> Vec<f64> {
    let mut detector = RobustDetector::for_alarms(params);
    values.iter().map(|v| detector.update(*v)).collect()
}

/// The robust detector's row likelihoods ([`Scored::row_likelihood`]) for
/// one series: what point-wise flags are made from.
pub fn robust_row_likelihoods(values: &[f64], params: RobustParams) -> Vec<f64> {
    let mut detector = RobustDetector::new(params);
    values
        .iter()
        .map(|v| detector.update_scored(*v).row_likelihood)
        .collect()
}

/// The robust detector's likelihoods ([`Scored::likelihood`]) for one series.
pub fn robust_likelihoods(values: &[f64], params: RobustParams) -> Vec<f64> {
    let mut detector = RobustDetector::for_alarms(params);
    values
        .iter()
        .map(|v| detector.update_scored(*v).likelihood)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::ALARM_LEVEL;

    #[test]
    fn a_spike_scores_high_and_noise_does_not() {
        let mut rng = Rng::new(5);
        let mut values: Vec<f64> = (0..2000).map(|_| 10.0 + rng.normal()).collect();
        values[1500] = 30.0;
        values[1502] = 30.0;
        let scores = robust_scores(&values, RobustParams::default());
        assert!(scores[1500] > 0.995, "{}", scores[1500]);
        let noisy_high = scores[200..1500]
            .iter()
            .filter(|s| **s >= scores[1500])
            .count();
        assert_eq!(noisy_high, 0, "ordinary rows as high as the spike");
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
        // The second spike, two rows later, is suppressed: one alarm per event.
        assert!(scores[1502] < ALARM_LEVEL, "{}", scores[1502]);
        // Its likelihood is not: as a row, it is anomalous.
        let mut detector = RobustDetector::new(RobustParams::default());
        let scored: Vec<Scored> = values.iter().map(|v| detector.update_scored(*v)).collect();
        assert!(scored[1502].likelihood >= ALARM_LEVEL, "{:?}", scored[1502]);
        assert_eq!(scored[1500].alarm, scored[1500].likelihood);
        assert!(scored.iter().all(|s| s.alarm <= s.likelihood));
    }

    #[test]
    fn a_rate_that_is_usually_zero_is_judged_by_the_size_of_its_bumps() {
        // A counter's rate: 0 most of the time, now and then one event's
        // worth for ten rows (the MAD is 0). Those bumps are ordinary once
        // the window has seen a few; a burst a hundred times their size is
        // not.
        let mut rng = Rng::new(21);
        let mut values = vec![0.0; 6000];
        let mut row = 0;
        while row < values.len() {
            if rng.uniform() < 0.01 {
                let end = (row + 10).min(values.len());
                values[row..end].fill(1.0 / 300.0);
                row = end;
            } else {
                row += 1;
            }
        }
        values[5000..5010].fill(0.5);
        let rows = robust_row_likelihoods(&values, RobustParams::default());
        let bumps_marked = (2000..5000).filter(|i| rows[*i] >= ALARM_LEVEL).count();
        assert_eq!(bumps_marked, 0, "ordinary bumps marked");
        assert!(
            rows[5000..5010].iter().all(|l| *l >= ALARM_LEVEL),
            "{:?}",
            &rows[5000..5010]
        );
        // A constant series still marks its first change.
        let mut flat = vec![4.0; 3000];
        flat[2500] = 4.5;
        let rows = robust_row_likelihoods(&flat, RobustParams::default());
        assert!(rows[2500] >= ALARM_LEVEL, "{}", rows[2500]);
        assert_eq!(rows.iter().filter(|l| **l >= ALARM_LEVEL).count(), 1);
    }

    #[test]
    fn scores_never_look_ahead() {
        let mut rng = Rng::new(9);
        let values: Vec<f64> = (0..600).map(|_| rng.normal()).collect();
        let full = robust_scores(&values, RobustParams::default());
        let prefix = robust_scores(&values[..400], RobustParams::default());
        assert_eq!(&full[..400], &prefix[..]);
    }

    #[test]
    fn a_second_shift_is_flagged_row_by_row_though_it_is_no_longer_news() {
        let mut rng = Rng::new(12);
        let mut values: Vec<f64> = (0..6000).map(|_| 50.0 + rng.normal()).collect();
        // The same 20-sigma shift twice, 1,200 rows apart, 150 rows each.
        for start in [3000, 4350] {
            for v in &mut values[start..start + 150] {
                *v += 20.0;
            }
        }
        let mut detector = RobustDetector::new(RobustParams::default());
        let scored: Vec<Scored> = values.iter().map(|v| detector.update_scored(*v)).collect();
        let rows_flagged = |range: std::ops::Range<usize>, pick: fn(&Scored) -> f64| {
            scored[range]
                .iter()
                .filter(|s| pick(s) >= ALARM_LEVEL)
                .count()
        };
        // Row by row, both shifts are out of the normal range throughout.
        assert!(rows_flagged(3000..3150, |s| s.row_likelihood) >= 140);
        assert!(rows_flagged(4350..4500, |s| s.row_likelihood) >= 140);
        // As news, the second is less: the first widened the recent spread.
        let first = rows_flagged(3000..3150, |s| s.likelihood);
        let second = rows_flagged(4350..4500, |s| s.likelihood);
        assert!(second < first, "{first} then {second}");
        // Quiet rows stay quiet either way.
        assert!(rows_flagged(500..3000, |s| s.row_likelihood) <= 10);
        let row = robust_row_likelihoods(&values, RobustParams::default());
        assert!(row.iter().zip(&scored).all(|(r, s)| *r == s.row_likelihood));
        // Without row judgement, the same likelihoods and alarms.
        let mut alarms_only = RobustDetector::for_alarms(RobustParams::default());
        for (v, s) in values.iter().zip(&scored) {
            let a = alarms_only.update_scored(*v);
            assert_eq!(
                (a.likelihood, a.alarm, a.row_likelihood),
                (s.likelihood, s.alarm, 0.0)
            );
        }
        let prefix = robust_row_likelihoods(&values[..4400], RobustParams::default());
        assert_eq!(&row[..4400], &prefix[..]);
    }
}
