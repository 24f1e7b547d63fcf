//! Prophet for one series: augurs-prophet's model and features, fitted with
//! [`NativeOptimizer`](super::optimizer::NativeOptimizer).
//!
//! The history band is analytic: for history rows Prophet's trend carries no
//! simulated changepoints, so its Monte-Carlo band there is yhat ± z·σ_obs up to
//! sampling noise, and computing it directly is exact and ~100× cheaper. The
//! horizon band is Prophet's own simulation (future changepoints plus noise).

use std::time::Instant;

use augurs_prophet::{
    FeatureMode, GrowthType, IntervalWidth, OptProphetOptions, PositiveFloat, PredictionData,
    Prophet, Scaling, SeasonalityOption, TrainingData,
};

use super::optimizer::NativeOptimizer;
use super::{
    ForecastError, ForecastModel, ForecastSettings, SeriesForecast, SeriesInput, describe_points,
    horizon_timestamps, normal_quantile, time_zone, wall_clock_secs,
};
use crate::config::SeasonalityMode;

/// Fewer points than this give a band that means nothing.
const MIN_POINTS: usize = 10;
const DAY_SECS: i64 = 86_400;

pub(crate) fn forecast(
    input: &SeriesInput<'_>,
    settings: &ForecastSettings,
) -> Result<SeriesForecast, ForecastError> {
    let metric = input.metric.to_owned();
    let model = ForecastModel::Prophet;
    let fit_error = |reason: String| ForecastError::Fit {
        metric: metric.clone(),
        model,
        reason,
    };
    let zone = time_zone(&settings.timezone)?;
    let present = input.require_points(model, MIN_POINTS)?;
    let missing_points = input.values.len() - present;

    let local: Vec<i64> = input
        .timestamps_ms
        .iter()
        .map(|&ms| wall_clock_secs(&zone, ms))
        .collect();
    let (ds, y): (Vec<i64>, Vec<f64>) = local
        .iter()
        .zip(input.values)
        .filter(|(_, v)| v.is_finite())
        .map(|(d, v)| (*d, *v))
        .unzip();
    let span_secs = ds.last().copied().unwrap_or(0) - ds.first().copied().unwrap_or(0);
    let mut notes = seasonality_notes(span_secs, input.step_ms);
    if missing_points > 0 {
        notes.push(format!(
            "{missing_points} missing points skipped in the fit"
        ));
    }
    if settings.timezone != "UTC" {
        notes.push(format!(
            "seasonality on {} wall-clock time",
            settings.timezone
        ));
    }

    let options = OptProphetOptions {
        growth: Some(GrowthType::Linear),
        changepoint_prior_scale: Some(
            PositiveFloat::try_from(settings.changepoint_prior_scale)
                .map_err(|e| fit_error(format!("changepoint_prior_scale: {e}")))?,
        ),
        seasonality_mode: Some(match settings.seasonality_mode {
            SeasonalityMode::Additive => FeatureMode::Additive,
            SeasonalityMode::Multiplicative => FeatureMode::Multiplicative,
        }),
        interval_width: Some(
            IntervalWidth::try_new(settings.interval_width)
                .map_err(|e| fit_error(format!("interval_width: {e}")))?,
        ),
        daily_seasonality: Some(SeasonalityOption::Auto),
        weekly_seasonality: Some(SeasonalityOption::Auto),
        yearly_seasonality: Some(SeasonalityOption::Auto),
        uncertainty_samples: Some(0),
        scaling: Some(Scaling::AbsMax),
        ..Default::default()
    };
    let started = Instant::now();
    let mut prophet = Prophet::new(options.into(), NativeOptimizer);
    let training = TrainingData::new(ds, y.clone()).map_err(|e| fit_error(e.to_string()))?;
    prophet
        .fit(training, Default::default())
        .map_err(|e| fit_error(e.to_string()))?;
    let fit_secs = started.elapsed().as_secs_f64();

    let predict_error = |reason: String| ForecastError::Predict {
        metric: input.metric.to_owned(),
        model,
        reason,
    };
    let started = Instant::now();
    // History: point forecast at every row (missing ones too), analytic band.
    let history = prophet
        .predict(PredictionData::new(local.clone()))
        .map_err(|e| predict_error(e.to_string()))?;
    let mut yhat = history.yhat.point;
    let y_scale = y.iter().map(|v| v.abs()).fold(0.0_f64, f64::max);
    let scaled_residual_sum: f64 = input
        .values
        .iter()
        .zip(&yhat)
        .filter(|(v, _)| v.is_finite())
        .map(|(v, f)| {
            let r = (v - f) / if y_scale > 0.0 { y_scale } else { 1.0 };
            r * r
        })
        .sum();
    // The MAP sigma_obs for these residuals (the optimizer's closed form).
    let t = present as f64;
    let sigma_scaled = ((-t + (t * t + 16.0 * scaled_residual_sum).sqrt()) / 8.0).sqrt();
    let half_width = normal_quantile(settings.interval_width) * sigma_scaled * y_scale;
    let mut lower: Vec<f64> = yhat.iter().map(|f| f - half_width).collect();
    let mut upper: Vec<f64> = yhat.iter().map(|f| f + half_width).collect();

    // Horizon: Prophet's simulated band.
    let last_ms = input.timestamps_ms.last().copied().unwrap_or(0);
    let future_ms = horizon_timestamps(last_ms, input.step_ms, input.horizon_points);
    let future_local: Vec<i64> = future_ms
        .iter()
        .map(|&ms| wall_clock_secs(&zone, ms))
        .collect();
    prophet.opts_mut().uncertainty_samples = settings.uncertainty_samples.max(1);
    let horizon = prophet
        .predict(PredictionData::new(future_local))
        .map_err(|e| predict_error(e.to_string()))?;
    let (Some(h_lower), Some(h_upper)) = (horizon.yhat.lower, horizon.yhat.upper) else {
        return Err(predict_error("Prophet returned no interval".into()));
    };
    yhat.extend(horizon.yhat.point);
    lower.extend(h_lower);
    upper.extend(h_upper);
    let predict_secs = started.elapsed().as_secs_f64();

    Ok(input.finish(
        model,
        (yhat, lower, upper),
        missing_points,
        (fit_secs, predict_secs),
        notes,
    ))
}

/// Which of Prophet's automatic seasonalities the history turns on (daily at
/// ≥ 2 days, weekly at ≥ 2 weeks, yearly at ≥ 2 years), said in words.
fn seasonality_notes(span_secs: i64, step_ms: i64) -> Vec<String> {
    [
        ("daily", 2 * DAY_SECS),
        ("weekly", 14 * DAY_SECS),
        ("yearly", 730 * DAY_SECS),
    ]
    .iter()
    .map(|(name, need_secs)| {
        if span_secs >= *need_secs {
            format!("{name} seasonality on")
        } else {
            let need_points = usize::try_from(need_secs * 1000 / step_ms.max(1)).unwrap_or(0);
            format!(
                "{name} seasonality off: needs {} of history, have {}",
                describe_points(need_points, step_ms),
                describe_points(
                    usize::try_from(span_secs * 1000 / step_ms.max(1)).unwrap_or(0),
                    step_ms
                )
            )
        }
    })
    .collect()
}
