//! MSTL + AutoETS for one series: seasonal periods from the step (daily =
//! 86,400 s / step, weekly likewise), each kept only when the history holds two
//! full cycles; with none, AutoETS alone. Gaps are interpolated first.

use std::time::Instant;

use augurs_core::{Fit, Forecast, Predict};
use augurs_ets::AutoETS;
use augurs_mstl::MSTLModel;

use super::{
    ForecastError, ForecastModel, ForecastSettings, SeriesForecast, SeriesInput, describe_points,
    interpolate_gaps,
};

/// AutoETS needs a few points to choose between its models.
const MIN_POINTS: usize = 10;

/// AutoETS over additive-error models without damping (no trend or an
/// additive trend): metrics are often zero or negative once deseasonalised,
/// where multiplicative errors do not apply, and over a horizon of an hour or
/// two a damped trend is indistinguishable from a linear one. Each candidate
/// is a Nelder-Mead search over the whole series: dropping the other four
/// cut the 100k-row fit from 2.1 s to under 1 s.
fn trend_ets() -> Result<AutoETS, augurs_ets::Error> {
    AutoETS::new(1, "AZN")?.damped(false)
}

pub(crate) fn forecast(
    input: &SeriesInput<'_>,
    settings: &ForecastSettings,
) -> Result<SeriesForecast, ForecastError> {
    let metric = input.metric.to_owned();
    let model = ForecastModel::Mstl;
    input.require_points(model, MIN_POINTS)?;
    let Some((values, missing_points)) = interpolate_gaps(input.values) else {
        return Err(ForecastError::NotEnoughHistory {
            metric,
            model,
            have_points: 0,
            need_points: MIN_POINTS,
            need: describe_points(MIN_POINTS, input.step_ms),
        });
    };
    let mut notes = Vec::new();
    if missing_points > 0 {
        notes.push(format!("{missing_points} missing points interpolated"));
    }
    let step_secs = (input.step_ms / 1000).max(1);
    let mut periods = Vec::new();
    for (name, cycle_secs) in [("daily", 86_400_i64), ("weekly", 7 * 86_400)] {
        let period = usize::try_from(cycle_secs / step_secs).unwrap_or(0);
        if period < 2 {
            continue;
        }
        if values.len() >= 2 * period {
            periods.push(period);
            notes.push(format!("{name} period {period} points"));
        } else {
            notes.push(format!(
                "{name} period off: needs {} ({} points), have {} points",
                describe_points(2 * period, input.step_ms),
                2 * period,
                values.len()
            ));
        }
    }
    let level = settings.interval_width;
    let fail = |reason: String| ForecastError::Fit {
        metric: metric.clone(),
        model,
        reason,
    };
    let started = Instant::now();
    let (in_sample, ahead, fit_secs) = if periods.is_empty() {
        notes.push("no seasonal period fits: AutoETS alone".into());
        let fitted = trend_ets()
            .map_err(|e| fail(e.to_string()))?
            .fit(&values)
            .map_err(|e| fail(e.to_string()))?;
        both_ways(&fitted, input.horizon_points, level, started).map_err(fail)?
    } else {
        let trend = trend_ets().map_err(|e| fail(e.to_string()))?;
        let fitted = MSTLModel::new(periods, trend.into_trend_model())
            .fit(&values)
            .map_err(|e| fail(e.to_string()))?;
        both_ways(&fitted, input.horizon_points, level, started).map_err(fail)?
    };
    let predict_secs = started.elapsed().as_secs_f64() - fit_secs;
    let (mut yhat, mut lower, mut upper) = split(in_sample, input.metric, model)?;
    let (ahead_yhat, ahead_lower, ahead_upper) = split(ahead, input.metric, model)?;
    yhat.extend(ahead_yhat);
    lower.extend(ahead_lower);
    upper.extend(ahead_upper);
    Ok(input.finish(
        model,
        (yhat, lower, upper),
        missing_points,
        (fit_secs, predict_secs),
        notes,
    ))
}

/// In-sample and horizon predictions, and the fit time (up to now).
fn both_ways<P: Predict>(
    fitted: &P,
    horizon_points: usize,
    level: f64,
    started: Instant,
) -> Result<(Forecast, Forecast, f64), String> {
    let fit_secs = started.elapsed().as_secs_f64();
    let in_sample = fitted.predict_in_sample(level).map_err(|e| e.to_string())?;
    let ahead = fitted
        .predict(horizon_points, level)
        .map_err(|e| e.to_string())?;
    Ok((in_sample, ahead, fit_secs))
}

type Columns = (Vec<f64>, Vec<f64>, Vec<f64>);

fn split(forecast: Forecast, metric: &str, model: ForecastModel) -> Result<Columns, ForecastError> {
    let Some(intervals) = forecast.intervals else {
        return Err(ForecastError::Predict {
            metric: metric.to_owned(),
            model,
            reason: "the model returned no interval".into(),
        });
    };
    Ok((forecast.point, intervals.lower, intervals.upper))
}
