//! Forecasting: Prophet (augurs-prophet with PulseWatch's native MAP optimizer)
//! and MSTL with an AutoETS trend (augurs-mstl, augurs-ets), one model per
//! metric, fitted in parallel on named worker threads; the expected band for
//! history and horizon; and band anomalies (rows outside the band, scored in
//! band half-widths).

pub mod band;
mod mstl;
pub mod optimizer;
mod prophet;
pub mod reference;

use std::time::Duration;

use crate::config::{Config, SeasonalityMode};
use crate::data::MetricFrame;

pub use band::{BandDirection, BandScore, band_score, rows_outside_band, series_band_scores};

/// Which forecaster to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ForecastModel {
    /// Prophet: piecewise-linear trend, Fourier seasonality in `app.timezone`.
    Prophet,
    /// MSTL decomposition with an AutoETS trend: the fast model.
    Mstl,
}

impl std::fmt::Display for ForecastModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Prophet => "prophet",
            Self::Mstl => "mstl",
        })
    }
}

/// Errors of this module, per metric or for the whole frame.
#[derive(Debug, thiserror::Error)]
pub enum ForecastError {
    #[error(
        "{metric}: {model} needs at least {need_points} points ({need}) of history, have {have_points}"
    )]
    NotEnoughHistory {
        metric: String,
        model: ForecastModel,
        have_points: usize,
        need_points: usize,
        need: String,
    },
    #[error("cannot forecast: the frame has no regular step (fewer than 2 rows)")]
    NoStep,
    #[error("unknown time zone `{name}`: {reason}")]
    TimeZone { name: String, reason: String },
    #[error("{metric}: {model} fit failed: {reason}")]
    Fit {
        metric: String,
        model: ForecastModel,
        reason: String,
    },
    #[error("{metric}: {model} prediction failed: {reason}")]
    Predict {
        metric: String,
        model: ForecastModel,
        reason: String,
    },
    #[error("{metric}: the forecast worker thread failed: {reason}")]
    Worker { metric: String, reason: String },
}

/// What to fit and how far ahead to look.
#[derive(Debug, Clone)]
pub struct ForecastSettings {
    pub model: ForecastModel,
    pub horizon: Duration,
    pub changepoint_prior_scale: f64,
    pub seasonality_mode: SeasonalityMode,
    /// Probability mass inside the band, e.g. 0.8.
    pub interval_width: f64,
    /// Monte-Carlo samples for the Prophet horizon band.
    pub uncertainty_samples: u32,
    /// IANA name of the zone whose wall clock carries the seasonality.
    pub timezone: String,
}

impl ForecastSettings {
    /// Settings from `prophet_model` and `app.timezone`.
    pub fn from_config(config: &Config, model: ForecastModel) -> Self {
        let p = &config.prophet;
        Self {
            model,
            horizon: p.forecast_horizon,
            changepoint_prior_scale: p.changepoint_prior_scale,
            seasonality_mode: p.seasonality_mode,
            interval_width: p.interval_width,
            uncertainty_samples: 1000,
            timezone: config.app.timezone.clone(),
        }
    }

    /// Points the horizon covers at `step_ms` (rounded up, at least one).
    pub fn horizon_points(&self, step_ms: i64) -> usize {
        let horizon_ms = self.horizon.as_millis() as i64;
        usize::try_from((horizon_ms + step_ms - 1) / step_ms.max(1))
            .unwrap_or(1)
            .max(1)
    }
}

/// One metric's forecast: history rows first, then the horizon.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeriesForecast {
    pub metric: String,
    pub model: ForecastModel,
    pub timestamps_ms: Vec<i64>,
    /// The first `history_points` entries are in-sample.
    pub history_points: usize,
    pub yhat: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// Missing (NaN) history rows: skipped by Prophet, interpolated for MSTL.
    pub missing_points: usize,
    pub fit_secs: f64,
    pub predict_secs: f64,
    /// What the model chose and why (seasonalities on or off, fallbacks).
    pub notes: Vec<String>,
}

impl SeriesForecast {
    /// The horizon part: `(timestamps, yhat, lower, upper)`.
    pub fn horizon(&self) -> (&[i64], &[f64], &[f64], &[f64]) {
        let h = self.history_points;
        (
            &self.timestamps_ms[h..],
            &self.yhat[h..],
            &self.lower[h..],
            &self.upper[h..],
        )
    }
}

/// Every metric's outcome, in the frame's column order.
#[derive(Debug)]
pub struct FrameForecast {
    pub step_ms: i64,
    pub horizon_points: usize,
    pub series: Vec<Result<SeriesForecast, ForecastError>>,
}

impl FrameForecast {
    /// Whether every metric has a forecast reaching `newest_ms`: a metric
    /// whose fit failed (too little history yet) makes it not current, so
    /// it is refit at the next refresh rather than after the schedule.
    pub fn covers(&self, newest_ms: i64) -> bool {
        self.series.iter().all(|s| {
            s.as_ref()
                .is_ok_and(|s| s.timestamps_ms.last().is_some_and(|t| *t >= newest_ms))
        })
    }

    /// The forecast for `metric`, if it succeeded.
    pub fn get(&self, metric: &str) -> Option<&SeriesForecast> {
        self.series
            .iter()
            .filter_map(|s| s.as_ref().ok())
            .find(|s| s.metric == metric)
    }
}

/// The input for one metric.
pub(crate) struct SeriesInput<'a> {
    pub metric: &'a str,
    pub timestamps_ms: &'a [i64],
    pub values: &'a [f64],
    pub step_ms: i64,
    pub horizon_points: usize,
}

impl SeriesInput<'_> {
    /// The number of present (non-NaN) points, or the error that says how
    /// many `model` needs.
    pub(crate) fn require_points(
        &self,
        model: ForecastModel,
        need_points: usize,
    ) -> Result<usize, ForecastError> {
        let present = self.values.iter().filter(|v| v.is_finite()).count();
        if present < need_points {
            return Err(ForecastError::NotEnoughHistory {
                metric: self.metric.to_owned(),
                model,
                have_points: present,
                need_points,
                need: describe_points(need_points, self.step_ms),
            });
        }
        Ok(present)
    }

    /// The result for this series: history rows then the horizon points.
    pub(crate) fn finish(
        &self,
        model: ForecastModel,
        (yhat, lower, upper): (Vec<f64>, Vec<f64>, Vec<f64>),
        missing_points: usize,
        (fit_secs, predict_secs): (f64, f64),
        notes: Vec<String>,
    ) -> SeriesForecast {
        let last_ms = self.timestamps_ms.last().copied().unwrap_or(0);
        let mut timestamps_ms = self.timestamps_ms.to_vec();
        timestamps_ms.extend(horizon_timestamps(
            last_ms,
            self.step_ms,
            self.horizon_points,
        ));
        SeriesForecast {
            metric: self.metric.to_owned(),
            model,
            timestamps_ms,
            history_points: self.timestamps_ms.len(),
            yhat,
            lower,
            upper,
            missing_points,
            fit_secs,
            predict_secs,
            notes,
        }
    }
}

/// Forecasts one series.
pub fn forecast_series(
    metric: &str,
    timestamps_ms: &[i64],
    values: &[f64],
    step_ms: i64,
    settings: &ForecastSettings,
) -> Result<SeriesForecast, ForecastError> {
    let input = SeriesInput {
        metric,
        timestamps_ms,
        values,
        step_ms,
        horizon_points: settings.horizon_points(step_ms),
    };
    match settings.model {
        ForecastModel::Prophet => prophet::forecast(&input, settings),
        ForecastModel::Mstl => mstl::forecast(&input, settings),
    }
}

/// Forecasts every metric of `frame` on a pool of named worker threads
/// (`forecast-0`, …), one per core at most, each taking the next series in
/// turn. A thread per series was the first design; on a fleet's 3,000
/// series it made 3,000 runnable threads, and the window's UI thread got
/// a core for a few milliseconds a second (`benches/README.md`, "The fleet
/// overview").
pub fn forecast_frame(
    frame: &MetricFrame,
    settings: &ForecastSettings,
) -> Result<FrameForecast, ForecastError> {
    let step_ms = frame.step_ms().ok_or(ForecastError::NoStep)?;
    // Fail once for the frame rather than once per metric.
    time_zone(&settings.timezone)?;
    let horizon_points = settings.horizon_points(step_ms);
    let names = frame.names();
    let workers = std::thread::available_parallelism()
        .map_or(2, std::num::NonZeroUsize::get)
        .min(names.len())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let fit = |index: usize| {
        let name = &names[index];
        let column = &frame.columns()[index];
        // A panic in one fit is that series' error, not the frame's.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            forecast_series(name, frame.timestamps_ms(), column, step_ms, settings)
        }))
        .unwrap_or_else(|_| {
            Err(ForecastError::Worker {
                metric: name.clone(),
                reason: "it panicked".into(),
            })
        })
    };
    let work = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if index >= names.len() {
                return done;
            }
            done.push((index, fit(index)));
        }
    };
    let mut results: Vec<Option<Result<SeriesForecast, ForecastError>>> =
        (0..names.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|i| {
                std::thread::Builder::new()
                    .name(format!("forecast-{i}"))
                    .spawn_scoped(scope, work)
            })
            .collect();
        let mut spawn_error = None;
        for handle in handles {
            match handle {
                Ok(handle) => {
                    // `work` catches every fit's panic: a join error is not
                    // expected, and leaves its series to this thread below.
                    for (index, result) in handle.join().unwrap_or_default() {
                        results[index] = Some(result);
                    }
                }
                Err(error) => spawn_error = Some(error.to_string()),
            }
        }
        // Series no worker took (none could start): fitted here, or the
        // reason none could start.
        for (index, slot) in results.iter_mut().enumerate() {
            if slot.is_none() {
                *slot = Some(match &spawn_error {
                    Some(reason) if next.load(std::sync::atomic::Ordering::Relaxed) == 0 => {
                        Err(ForecastError::Worker {
                            metric: names[index].clone(),
                            reason: reason.clone(),
                        })
                    }
                    _ => fit(index),
                });
            }
        }
    });
    Ok(FrameForecast {
        step_ms,
        horizon_points,
        series: results.into_iter().flatten().collect(),
    })
}

/// The index of the timestamp in `stamps` (sorted, evenly stepped) nearest
/// to `t`, if it is within half a step: successive queries need not land on
/// the same grid as the query the forecast was fitted on.
pub fn nearest_index(stamps: &[i64], t: i64) -> Option<usize> {
    let half_step = match stamps {
        [a, b, ..] => (b - a).abs() / 2,
        _ => 0,
    };
    nearest_position(stamps, t).filter(|&i| (stamps[i] - t).abs() <= half_step)
}

/// The index of the element of sorted `stamps` nearest to `t`, however far.
pub fn nearest_position(stamps: &[i64], t: i64) -> Option<usize> {
    match stamps.binary_search(&t) {
        Ok(i) => Some(i),
        Err(i) => [i.checked_sub(1), (i < stamps.len()).then_some(i)]
            .into_iter()
            .flatten()
            .min_by_key(|&j| (stamps[j] - t).abs()),
    }
}

/// Looks up an IANA zone.
pub(crate) fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, ForecastError> {
    jiff::tz::TimeZone::get(name).map_err(|e| ForecastError::TimeZone {
        name: name.to_owned(),
        reason: e.to_string(),
    })
}

/// Seconds on `zone`'s wall clock for a UTC instant in ms: UTC seconds plus
/// the zone's offset at that instant.
pub(crate) fn wall_clock_secs(zone: &jiff::tz::TimeZone, utc_ms: i64) -> i64 {
    let secs = utc_ms.div_euclid(1000);
    let offset = jiff::Timestamp::from_second(secs)
        .map(|ts| i64::from(zone.to_offset(ts).seconds()))
        .unwrap_or(0);
    secs + offset
}

/// Describes a number of points at a step as a duration ("2 days", "90 min").
pub(crate) fn describe_points(points: usize, step_ms: i64) -> String {
    let secs = points as f64 * step_ms as f64 / 1000.0;
    if secs >= 2.0 * 86_400.0 {
        format!("{:.1} days", secs / 86_400.0)
    } else if secs >= 2.0 * 3600.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.0} min", secs / 60.0)
    }
}

/// Linear interpolation over NaN gaps (edges take the nearest value); returns
/// the filled series and how many points were filled, or `None` when every
/// value is missing.
pub(crate) fn interpolate_gaps(values: &[f64]) -> Option<(Vec<f64>, usize)> {
    let known: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].is_finite())
        .collect();
    let (&first, &last) = (known.first()?, known.last()?);
    let mut out = values.to_vec();
    let mut filled = 0;
    for v in out.iter_mut().take(first) {
        *v = values[first];
        filled += 1;
    }
    for v in out.iter_mut().skip(last + 1) {
        *v = values[last];
        filled += 1;
    }
    for pair in known.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        for (offset, v) in out[a + 1..b].iter_mut().enumerate() {
            let w = (offset + 1) as f64 / (b - a) as f64;
            *v = values[a] + w * (values[b] - values[a]);
            filled += 1;
        }
    }
    Some((out, filled))
}

/// Future timestamps after the last history row.
pub(crate) fn horizon_timestamps(last_ms: i64, step_ms: i64, points: usize) -> Vec<i64> {
    (1..=points as i64).map(|i| last_ms + i * step_ms).collect()
}

/// The two-sided normal quantile for an interval of probability `width`.
pub(crate) fn normal_quantile(width: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::new(0.0, 1.0)
        .map(|n| n.inverse_cdf((1.0 + width) / 2.0))
        .unwrap_or(1.2815515655446004)
}

#[cfg(test)]
mod tests;
