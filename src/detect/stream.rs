//! Online (streaming) scoring of one series: the score of row t uses rows ≤ t
//! only, as a live monitor sees them. The robust detector measures how far a
//! value falls from the recent median in units of the recent median absolute
//! deviation, then turns that into a calibrated anomaly likelihood in [0, 1]:
//! the probability, under the recent distribution of those distances, that
//! the short-term average is as large as it is (the construction of Numenta's
//! anomaly likelihood, on robust statistics). One set of parameters for all
//! data; nothing is fitted to labels.

use std::collections::VecDeque;

/// Parameters of the robust detector (the same for every series).
#[derive(Debug, Clone, Copy, PartialEq)]
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
    pub suppress: usize,
}

/// The score that counts as an alarm for suppression.
pub const ALARM_LEVEL: f64 = 0.995;

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
    pub row_likelihood: f64,
    /// The same, capped after an alarm: at most one alarm per event (what
    /// pages a person, and what NAB scores).
    pub alarm: f64,
}

/// The streaming state.
#[derive(Debug, Clone)]
pub struct RobustDetector {
    params: RobustParams,
    recent: VecDeque<f64>,
    /// The distances' likelihood.
    tail: TailLikelihood,
    suppressor: Suppressor,
    /// Whether [`Scored::row_likelihood`] is computed: its median and MAD of
    /// 5,000 distances are the costly part, and alarms do not use it.
    judge_rows: bool,
}

/// One alarm per event: after a likelihood at [`ALARM_LEVEL`] or above, the
/// next `rows` rows are capped just under it.
#[derive(Debug, Clone, Copy)]
pub struct Suppressor {
    rows: usize,
    /// Rows left in the current suppression.
    quiet_rows: usize,
}

impl Suppressor {
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            quiet_rows: 0,
        }
    }

    /// The alarm score for the next row's likelihood.
    pub fn alarm(&mut self, likelihood: f64) -> f64 {
        if self.quiet_rows > 0 {
            self.quiet_rows -= 1;
            likelihood.min(ALARM_LEVEL - 0.005)
        } else {
            if likelihood >= ALARM_LEVEL {
                self.quiet_rows = self.rows;
            }
            likelihood
        }
    }
}

impl RobustDetector {
    pub fn new(params: RobustParams) -> Self {
        Self {
            params,
            recent: VecDeque::with_capacity(params.window + 1),
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
    pub fn update_scored(&mut self, value: f64) -> Scored {
        if !value.is_finite() {
            return Scored::default();
        }
        let distance = self.distance(value);
        self.recent.push_back(value);
        if self.recent.len() > self.params.window {
            self.recent.pop_front();
        }
        let Some(distance) = distance else {
            return Scored::default();
        };
        // The reference distribution is what came before this row.
        let (likelihood, row_likelihood) = if self.judge_rows {
            self.tail.update_both(distance)
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

    /// |value − median| / MAD over the recent rows (None while too few).
    fn distance(&self, value: f64) -> Option<f64> {
        if self.recent.len() < 10 {
            return None;
        }
        let mut sorted: Vec<f64> = self.recent.iter().copied().collect();
        let median = median_in_place(&mut sorted);
        let mut deviations: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
        let mad = 1.4826 * median_in_place(&mut deviations);
        // A flat stretch has MAD 0: measure against a small floor instead,
        // so the first change in a constant series stands out.
        let floor = 1e-3 * median.abs().max(1e-6);
        Some((value - median).abs() / mad.max(floor))
    }
}

fn median_in_place(values: &mut [f64]) -> f64 {
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

#[cfg(test)]
fn normal_cdf(x: f64) -> f64 {
    1.0 - normal_tail(x)
}

/// Scores a whole series online.
pub fn robust_scores(values: &[f64], params: RobustParams) -> Vec<f64> {
    let mut detector = RobustDetector::for_alarms(params);
    values.iter().map(|v| detector.update(*v)).collect()
}

/// NAB's probationary period, used by every online detector that trains:
/// the first 15 % of the rows.
pub fn probation_rows(rows: usize) -> usize {
    (rows as f64 * 0.15) as usize
}

/// Per row, whether any of `columns` (per-metric scores, `rows` each) is at
/// [`ALARM_LEVEL`] or above.
pub fn rows_at_alarm_level(columns: &[Vec<f64>], rows: usize) -> Vec<bool> {
    (0..rows)
        .map(|row| columns.iter().any(|column| column[row] >= ALARM_LEVEL))
        .collect()
}

/// Point-wise flags of `frame` by `method`: a row is flagged when any
/// metric's [`method_row_likelihoods`] reaches [`ALARM_LEVEL`] (every
/// anomalous row, not one alarm per event). The autoencoder is not run here
/// (see [`lstm_frame_likelihoods`]): `lstm` flags nothing.
pub fn frame_method_flags(
    frame: &crate::data::MetricFrame,
    method: crate::config::DetectionMethod,
) -> Vec<bool> {
    let probation = probation_rows(frame.len());
    let columns: Vec<Vec<f64>> = frame
        .columns()
        .iter()
        .filter_map(|column| method_row_likelihoods(method, column, probation, None))
        .collect();
    rows_at_alarm_level(&columns, frame.len())
}

/// Every metric of `frame` scored online, and per row whether any metric
/// reached [`ALARM_LEVEL`].
pub fn frame_alarms(frame: &crate::data::MetricFrame) -> (Vec<Vec<f64>>, Vec<bool>) {
    let scores: Vec<Vec<f64>> = frame
        .columns()
        .iter()
        .map(|column| robust_scores(column, RobustParams::default()))
        .collect();
    let flags = rows_at_alarm_level(&scores, frame.len());
    (scores, flags)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;

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
    fn the_autoencoder_online_flags_a_planted_anomaly_and_never_looks_ahead() {
        let mut rng = Rng::new(11);
        let mut values: Vec<f64> = (0..1200)
            .map(|i| 10.0 + 3.0 * (i as f64 * 0.2).sin() + 0.1 * rng.normal())
            .collect();
        // A burst far outside anything seen, after the probationary rows.
        for v in &mut values[900..903] {
            *v = 25.0;
        }
        let mut lstm = crate::config::Config::builtin().unwrap().lstm;
        lstm.sequence_length = 10;
        lstm.hidden_size = 8;
        lstm.epochs = 20;
        lstm.device = crate::config::DevicePreference::Cpu;
        let probation = 300;
        let full = lstm_likelihoods(&values, probation, &lstm).unwrap();
        assert!(full[..probation].iter().all(|l| *l == 0.0));
        let peak = full[900..915].iter().copied().fold(0.0, f64::max);
        assert!(peak >= ALARM_LEVEL, "{peak}");
        let false_alarms = full[probation..890]
            .iter()
            .filter(|l| **l >= ALARM_LEVEL)
            .count();
        assert!(
            false_alarms <= 5,
            "{false_alarms} alarms before the anomaly"
        );
        // Row t's score does not depend on rows after t.
        let prefix = lstm_likelihoods(&values[..950], probation, &lstm).unwrap();
        assert_eq!(&full[..950], &prefix[..]);
        // Too short to train: no scores rather than made-up ones.
        assert!(lstm_likelihoods(&values[..20], 15, &lstm).is_none());
    }

    #[test]
    fn the_band_online_flags_a_spike_from_the_forecast_made_before_it() {
        let mut rng = Rng::new(21);
        let stamps: Vec<i64> = (0..600).map(|i| 1_767_225_600_000 + i * 60_000).collect();
        let mut values: Vec<f64> = (0..600)
            .map(|i| 50.0 + 0.01 * i as f64 + rng.normal())
            .collect();
        values[450] = 80.0;
        let settings = crate::forecast::ForecastSettings::from_config(
            &crate::config::Config::builtin().unwrap(),
            crate::forecast::ForecastModel::Prophet,
        );
        let full = band_likelihoods(&stamps, &values, 200, 100, &settings).unwrap();
        assert!(full[..200].iter().all(|l| *l == 0.0));
        assert!(full[450] >= ALARM_LEVEL, "{}", full[450]);
        let others = full[200..]
            .iter()
            .enumerate()
            .filter(|(i, l)| *i + 200 != 450 && **l >= ALARM_LEVEL)
            .count();
        assert!(others <= 4, "{others} other rows flagged");
        // The forecasts that judge rows ≤ t were all made from rows < t.
        let prefix = band_likelihoods(&stamps[..470], &values[..470], 200, 100, &settings).unwrap();
        assert_eq!(&full[..470], &prefix[..]);
    }

    #[test]
    fn alarms_from_caps_after_an_alarm() {
        let likelihoods = [0.5, 0.999, 0.999, 0.3, 0.999, 0.5, 0.999];
        let alarms = alarms_from(&likelihoods, 3);
        assert_eq!(alarms[1], 0.999);
        assert!(alarms[2] < ALARM_LEVEL && alarms[4] < ALARM_LEVEL);
        assert_eq!(alarms[3], 0.3);
        assert_eq!(alarms[6], 0.999);
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
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }
}

/// The tail-probability likelihood of a stream of non-negative distances
/// (the construction the robust detector uses, over any error stream): the
/// short-term mean of the latest distances against the mean and spread of
/// the `history` before them.
#[derive(Debug, Clone)]
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
            distances: VecDeque::with_capacity(history + 1),
            sum: 0.0,
            sum_sq: 0.0,
            robust: None,
            since_robust: 0,
        }
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
    pub fn update_both(&mut self, distance: f64) -> (f64, f64) {
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
            likelihood_score(normal_tail((distance - median) / spread))
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
        self.distances.push_back(distance);
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

/// Alarm scores from row likelihoods: capped just under [`ALARM_LEVEL`] for
/// `suppress` rows after an alarm (one alarm per event).
pub fn alarms_from(likelihoods: &[f64], suppress: usize) -> Vec<f64> {
    let mut suppressor = Suppressor::new(suppress);
    likelihoods.iter().map(|&l| suppressor.alarm(l)).collect()
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

/// The autoencoder as an online detector of one series: trained on the
/// first `probation` rows only (all a monitor has seen when it starts
/// judging), then row t is scored by the error of the window ending at t,
/// turned into a likelihood against the errors before it. Rows before the
/// end of probation score 0. `None` when the series is too short to train.
pub fn lstm_likelihoods(
    values: &[f64],
    probation: usize,
    lstm: &crate::config::LstmConfig,
) -> Option<Vec<f64>> {
    let stamps: Vec<i64> = (0..values.len() as i64).map(|i| i * 60_000).collect();
    let frame =
        crate::data::MetricFrame::new(stamps, vec!["value".into()], vec![values.to_vec()], None)
            .ok()?;
    lstm_frame_likelihoods(&frame, probation, lstm)
}

/// [`lstm_likelihoods`] over every metric of `frame` at once (one model,
/// one likelihood per row).
pub fn lstm_frame_likelihoods(
    frame: &crate::data::MetricFrame,
    probation: usize,
    lstm: &crate::config::LstmConfig,
) -> Option<Vec<f64>> {
    let length = lstm.sequence_length;
    if probation < length + 16 || frame.len() <= probation {
        return None;
    }
    let head = crate::data::MetricFrame::new(
        frame.timestamps_ms()[..probation].to_vec(),
        frame.names().to_vec(),
        frame
            .columns()
            .iter()
            .map(|c| c[..probation].to_vec())
            .collect(),
        None,
    )
    .ok()?;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let (model, _) = crate::detect::train(&head, lstm, &mut |_| {}, &cancel).ok()?;
    let scores = crate::detect::score(&model, frame).ok()?;
    let mut out = window_likelihoods(&scores, frame.len(), length)?;
    out[..probation].fill(0.0);
    Some(out)
}

/// Row likelihoods from an autoencoder's scores of a frame of `rows` rows:
/// row t gets the likelihood of the error of the window ending at t
/// against the errors of the windows before it (rows before the first
/// window: 0). `None` when windows were skipped for missing values (the
/// window ↔ row mapping is then not positional).
pub fn window_likelihoods(
    scores: &crate::detect::Scores,
    rows: usize,
    length: usize,
) -> Option<Vec<f64>> {
    if scores.skipped_windows > 0 {
        return None;
    }
    let mut tail = TailLikelihood::new(5000, 2);
    let mut out = vec![0.0; rows];
    // Window w covers rows w .. w + length: it ends at row w + length - 1.
    for (w, error) in scores.window_errors.iter().enumerate() {
        let likelihood = tail.update(f64::from(*error));
        if let Some(slot) = out.get_mut(w + length - 1) {
            *slot = likelihood;
        }
    }
    Some(out)
}

/// The forecast band as an online detector of one series: Prophet is fitted
/// on the rows seen so far (first on the `probation` rows), predicts the next
/// `refit_rows` rows before they are seen, and is refitted after them. Row
/// t's distance is |value − yhat| in units of the band's half-width (the
/// in-sample band, which is analytic and deterministic), turned into a
/// likelihood against the distances before it (the in-sample residuals of
/// the first fit seed that reference). Rows before probation score 0.
pub fn band_likelihoods(
    stamps_ms: &[i64],
    values: &[f64],
    probation: usize,
    refit_rows: usize,
    settings: &crate::forecast::ForecastSettings,
) -> Option<Vec<f64>> {
    let n = values.len().min(stamps_ms.len());
    if probation < 20 || n <= probation || refit_rows == 0 {
        return None;
    }
    let step_ms = crate::data::median_step_ms(&stamps_ms[..n])?.max(1);
    let mut settings = settings.clone();
    // The horizon's simulated band is not used: one sample keeps it cheap.
    settings.uncertainty_samples = 1;
    let mut tail = TailLikelihood::new(5000, 2);
    let mut out = vec![0.0; n];
    let mut fit_end = probation;
    let mut seeded = false;
    while fit_end < n {
        let next = (fit_end + refit_rows).min(n);
        let span_ms = (stamps_ms[next - 1] - stamps_ms[fit_end - 1]).max(step_ms);
        settings.horizon = std::time::Duration::from_millis(span_ms as u64);
        let fitted = crate::forecast::forecast_series(
            "value",
            &stamps_ms[..fit_end],
            &values[..fit_end],
            step_ms,
            &settings,
        );
        if let Ok(forecast) = fitted {
            let h = forecast.history_points;
            let mut widths: Vec<f64> = (0..h)
                .map(|i| (forecast.upper[i] - forecast.lower[i]) / 2.0)
                .filter(|w| w.is_finite() && *w > 0.0)
                .collect();
            let half_width = if widths.is_empty() {
                1e-9
            } else {
                median_in_place(&mut widths).max(1e-9)
            };
            if !seeded {
                for (value, yhat) in values[..h.min(fit_end)].iter().zip(&forecast.yhat) {
                    let residual = (value - yhat).abs();
                    if residual.is_finite() {
                        tail.update(residual / half_width);
                    }
                }
                seeded = true;
            }
            let horizon_stamps = &forecast.timestamps_ms[h..];
            for row in fit_end..next {
                let at = crate::forecast::nearest_position(horizon_stamps, stamps_ms[row]);
                let yhat = at.and_then(|i| forecast.yhat.get(h + i)).copied();
                if let (Some(yhat), true) = (yhat, values[row].is_finite()) {
                    out[row] = tail.update((values[row] - yhat).abs() / half_width);
                }
            }
        }
        fit_end = next;
    }
    Some(out)
}

/// Rows the level detector averages: short enough to catch a shift within
/// hours at NAB's 5-minute step, long enough to average noise away (a sweep
/// of 6, 12, 24, 48 and 96 on NAB, docs/evaluation.md).
pub const LEVEL_ROWS: usize = 24;

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
#[derive(Debug, Clone)]
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

/// The level detector: the mean of the last `rows` values scored by the
/// robust detector. A shift too small to stand out row by row stands out
/// in the mean, whose noise is √rows times smaller.
#[derive(Debug, Clone)]
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

/// The share of the probation over which an alarm of a single-row
/// detector must be news: see [`NewsGate`]. Half the probation was picked
/// on NAB (a quarter, three quarters and one probation were tried,
/// docs/evaluation.md).
pub const NEWS_PROBATION_SHARE: f64 = 0.5;

/// Rows of [`NEWS_PROBATION_SHARE`] for a probation of `probation` rows.
pub fn news_rows(probation: usize) -> usize {
    (probation as f64 * NEWS_PROBATION_SHARE) as usize
}

/// Alarms that are news: a likelihood at the alarm level passes only where
/// it is higher than every likelihood of the previous `rows` rows; others
/// are capped just under [`ALARM_LEVEL`]. A metric whose bursts recur at
/// the same height pages for the first, and again for a larger one. Used on
/// the detectors that judge single rows (robust, seasonal, autoencoder)
/// inside the ensemble, whose recurring bursts were most of its false
/// alarms on NAB; the level and contextual detectors, which already judge
/// patterns, are not gated.
#[derive(Debug, Clone)]
pub struct NewsGate {
    rows: usize,
    seen: usize,
    /// (row, likelihood) of the previous rows' running maxima, decreasing.
    peaks: VecDeque<(usize, f64)>,
}

impl NewsGate {
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            seen: 0,
            peaks: VecDeque::new(),
        }
    }

    /// The gated likelihood of the next row.
    pub fn gate(&mut self, likelihood: f64) -> f64 {
        let row = self.seen;
        self.seen += 1;
        while self
            .peaks
            .front()
            .is_some_and(|(at, _)| at + self.rows <= row)
        {
            self.peaks.pop_front();
        }
        let previous = self.peaks.front().map_or(0.0, |(_, peak)| *peak);
        let gated = if likelihood > previous {
            likelihood
        } else {
            likelihood.min(ALARM_LEVEL - 0.005)
        };
        while self
            .peaks
            .back()
            .is_some_and(|(_, peak)| *peak <= likelihood)
        {
            self.peaks.pop_back();
        }
        self.peaks.push_back((row, likelihood));
        gated
    }
}

/// [`NewsGate`] over a whole series.
pub fn news_only(likelihoods: &[f64], rows: usize) -> Vec<f64> {
    let mut gate = NewsGate::new(rows);
    likelihoods.iter().map(|l| gate.gate(*l)).collect()
}

/// The statistical detectors of one series together: per row the largest of
/// the robust and seasonal likelihoods (the seasonal one where the first
/// `probation` rows show a period), both through a [`NewsGate`], and the
/// level likelihood.
pub fn statistical_likelihoods(values: &[f64], probation: usize, params: RobustParams) -> Vec<f64> {
    let news = news_rows(probation);
    let mut out = news_only(&robust_likelihoods(values, params), news);
    raise_to(&mut out, &level_likelihoods(values, params));
    if let Some(seasonal) = seasonal_likelihoods(values, probation, params) {
        raise_to(&mut out, &news_only(&seasonal, news));
    }
    out
}

/// Per row, the larger of `out` and `part`: how the ensembles combine.
fn raise_to(out: &mut [f64], part: &[f64]) {
    for (slot, l) in out.iter_mut().zip(part) {
        *slot = slot.max(*l);
    }
}

/// One series' row likelihoods by `method`, the autoencoder's likelihoods
/// for this series (if a model scored it) given as `lstm`. None when the
/// chosen detector has nothing to say: `seasonal` on rows without a clear
/// period in the first `probation` rows, `lstm` without a model. The
/// autoencoder's likelihoods (alone or in the ensemble) and the ensemble's
/// robust and seasonal ones pass a [`NewsGate`] of [`news_rows`].
pub fn method_likelihoods(
    method: crate::config::DetectionMethod,
    values: &[f64],
    probation: usize,
    lstm: Option<&[f64]>,
) -> Option<Vec<f64>> {
    use crate::config::DetectionMethod;
    let params = RobustParams::default();
    match method {
        DetectionMethod::Robust => Some(robust_likelihoods(values, params)),
        DetectionMethod::Level => Some(level_likelihoods(values, params)),
        DetectionMethod::Seasonal => seasonal_likelihoods(values, probation, params),
        DetectionMethod::Context => context_likelihoods(values, probation),
        DetectionMethod::Lstm => lstm.map(|l| news_only(l, news_rows(probation))),
        DetectionMethod::Ensemble => {
            let mut out = statistical_likelihoods(values, probation, params);
            if let Some(context) = context_likelihoods(values, probation) {
                raise_to(&mut out, &context);
            }
            if let Some(lstm) = lstm {
                raise_to(&mut out, &news_only(lstm, news_rows(probation)));
            }
            Some(out)
        }
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;
    use crate::data::rng::Rng;

    /// A daily-like cycle of `period` rows with noise.
    fn cycle(rows: usize, period: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..rows)
            .map(|i| {
                let phase = (i % period) as f64 / period as f64;
                50.0 + 20.0 * (std::f64::consts::TAU * phase).sin() + 0.5 * rng.normal()
            })
            .collect()
    }

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

    #[test]
    fn the_contextual_likelihood_alarms_on_a_new_pattern_after_probation() {
        // A repeating cycle, then three values where it never goes.
        let cycle = [1.0, 2.0, 3.0, 5.0, 3.0, 2.0];
        let mut values: Vec<f64> = (0..1500).map(|i| cycle[i % 6]).collect();
        values[1300..1303].fill(40.0);
        let probation = probation_rows(values.len());
        let likelihoods = context_likelihoods(&values, probation).expect("values");
        assert!(likelihoods[..probation].iter().all(|l| *l == 0.0));
        // Once the jump's own facts are the left half, nothing can fire.
        let peak = likelihoods[1300..1303].iter().copied().fold(0.0, f64::max);
        assert!(peak >= ALARM_LEVEL, "{:?}", &likelihoods[1298..1306]);
        let before = likelihoods[probation..1300]
            .iter()
            .filter(|l| **l >= ALARM_LEVEL)
            .count();
        assert_eq!(before, 0, "alarms on the learned ramp");
        assert!(likelihoods.iter().all(|l| (0.0..=1.0).contains(l)));
        assert!(context_likelihoods(&[f64::NAN; 50], 20).is_none());
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

    #[test]
    fn only_news_passes_the_gate() {
        let quiet = 0.3;
        let mut likelihoods = vec![quiet; 1000];
        // The same burst height at 100 and 300, a higher one at 400, the
        // first height again at 900 (more than 500 rows after the last).
        for (row, l) in [(100, 0.999), (300, 0.999), (400, 0.9995), (900, 0.999)] {
            likelihoods[row] = l;
        }
        let gated = news_only(&likelihoods, 500);
        let alarms: Vec<usize> = (0..gated.len())
            .filter(|i| gated[*i] >= ALARM_LEVEL)
            .collect();
        assert_eq!(alarms, vec![100, 400, 900]);
        // What is not an alarm passes unchanged; a blocked one is capped.
        assert_eq!(gated[300], ALARM_LEVEL - 0.005);
        assert!(
            gated
                .iter()
                .enumerate()
                .all(|(i, g)| i == 300 || *g == likelihoods[i])
        );
        // Streaming: a prefix gates the same.
        assert_eq!(news_only(&likelihoods[..350], 500), gated[..350]);
        assert_eq!(news_rows(600), 300);
    }

    #[test]
    fn the_ensemble_is_the_largest_of_its_parts() {
        let values = cycle(1200, 48, 9);
        let probation = probation_rows(values.len());
        let params = RobustParams::default();
        let lstm: Vec<f64> = (0..values.len()).map(|i| (i % 7) as f64 / 7.0).collect();
        let ensemble = method_likelihoods(
            crate::config::DetectionMethod::Ensemble,
            &values,
            probation,
            Some(&lstm),
        )
        .expect("always scores");
        let news = news_rows(probation);
        let robust = news_only(&robust_likelihoods(&values, params), news);
        let level = level_likelihoods(&values, params);
        let seasonal = seasonal_likelihoods(&values, probation, params).expect("period");
        let context = context_likelihoods(&values, probation).expect("values");
        let gated_lstm = news_only(&lstm, news);
        for i in 0..values.len() {
            let expected = robust[i]
                .max(level[i])
                .max(news_only(&seasonal, news)[i])
                .max(context[i])
                .max(gated_lstm[i]);
            assert_eq!(ensemble[i], expected, "row {i}");
        }
        // Its point-wise flags: the robust row likelihood, local, seasonal,
        // context.
        let rows = method_row_likelihoods(
            crate::config::DetectionMethod::Ensemble,
            &values,
            probation,
            Some(&lstm),
        )
        .expect("always scores");
        let robust_rows = robust_row_likelihoods(&values, params);
        let local = local_row_likelihoods(&values, params);
        for i in 0..values.len() {
            let expected = robust_rows[i]
                .max(local[i])
                .max(seasonal[i])
                .max(context[i]);
            assert_eq!(rows[i], expected, "row {i}");
        }
        // Without a period or a model, those detectors have nothing to say.
        let mut rng = Rng::new(1);
        let noise: Vec<f64> = (0..600).map(|_| rng.normal()).collect();
        use crate::config::DetectionMethod;
        assert!(method_likelihoods(DetectionMethod::Seasonal, &noise, 90, None).is_none());
        assert!(method_likelihoods(DetectionMethod::Lstm, &noise, 90, None).is_none());
    }
}

/// The contextual detector's bins span the probationary rows' range widened
/// by this many widths on each side: values beyond that become facts never
/// seen before, while ordinary variation falls into a few bins (0.5, 1, 2
/// and 4 were tried on NAB, docs/evaluation.md).
pub const CONTEXT_RANGE_MARGIN: f64 = 1.0;

/// The contextual score (a share of contexts, already the same scale on
/// every metric) that maps to [`ALARM_LEVEL`].
pub const CONTEXT_ALARM_SCORE: f64 = 0.9;

/// The contextual detector ([`crate::detect::context`]) over one series:
/// it learns from the start, with bins over the first `probation` rows'
/// range (widened by [`CONTEXT_RANGE_MARGIN`]) and CAD's rest period of a
/// fifth of the probation; rows before `probation` score 0. Its score is
/// mapped linearly onto the likelihood scale, [`CONTEXT_ALARM_SCORE`] at
/// [`ALARM_LEVEL`] and 1 at 1. None when the probationary rows hold no
/// value.
pub fn context_likelihoods(values: &[f64], probation: usize) -> Option<Vec<f64>> {
    use crate::detect::context::{ContextDetector, ContextParams};
    let probation = probation.min(values.len());
    let head = values[..probation]
        .iter()
        .copied()
        .filter(|v| v.is_finite());
    let min = head.clone().fold(f64::INFINITY, f64::min);
    let max = head.fold(f64::NEG_INFINITY, f64::max);
    if !(min.is_finite() && max.is_finite()) {
        return None;
    }
    let pad = CONTEXT_RANGE_MARGIN * (max - min);
    let params = ContextParams {
        rest_rows: probation / 5,
        ..ContextParams::default()
    };
    let mut detector = ContextDetector::new(params).with_range(min - pad, max + pad);
    let scale = (1.0 - ALARM_LEVEL) / (1.0 - CONTEXT_ALARM_SCORE);
    let mut out: Vec<f64> = values
        .iter()
        .map(|v| {
            let score = detector.update(*v);
            (ALARM_LEVEL + (score - CONTEXT_ALARM_SCORE) * scale).clamp(0.0, 1.0)
        })
        .collect();
    out[..probation].fill(0.0);
    Some(out)
}

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
    let mut before = [0.0; LOCAL_ROWS];
    let residuals: Vec<f64> = (0..values.len())
        .map(|t| {
            let window = &values[t.saturating_sub(LOCAL_ROWS)..t];
            if window.len() < LOCAL_ROWS || window.iter().any(|v| !v.is_finite()) {
                return f64::NAN;
            }
            before.copy_from_slice(window);
            values[t] - median_in_place(&mut before)
        })
        .collect();
    robust_row_likelihoods(&residuals, params)
        .into_iter()
        .map(|l| if l >= 1.0 { l } else { 0.0 })
        .collect()
}

/// One series' likelihoods for point-wise flags by `method` (the dashboard's
/// marks, `eval labelled`): the robust detector's
/// [`Scored::row_likelihood`], the others' likelihoods as they are. The
/// ensemble's row flags are the robust, local, seasonal and contextual
/// detectors': the level detector and the autoencoder each lowered
/// point-wise F1 on the labelled sets; the local one lowers it a little and
/// finds every labelled event (docs/evaluation.md). None as for
/// [`method_likelihoods`].
pub fn method_row_likelihoods(
    method: crate::config::DetectionMethod,
    values: &[f64],
    probation: usize,
    lstm: Option<&[f64]>,
) -> Option<Vec<f64>> {
    use crate::config::DetectionMethod;
    let params = RobustParams::default();
    match method {
        DetectionMethod::Robust => Some(robust_row_likelihoods(values, params)),
        DetectionMethod::Ensemble => {
            let mut out = robust_row_likelihoods(values, params);
            raise_to(&mut out, &local_row_likelihoods(values, params));
            let seasonal = seasonal_likelihoods(values, probation, params);
            let context = context_likelihoods(values, probation);
            for part in [seasonal.as_deref(), context.as_deref()]
                .into_iter()
                .flatten()
            {
                raise_to(&mut out, part);
            }
            Some(out)
        }
        other => method_likelihoods(other, values, probation, lstm),
    }
}
