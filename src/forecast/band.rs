//! Band anomalies: a row is outside the expected band when y < yhat_lower or
//! y > yhat_upper; how far outside, in band half-widths, is its band score.

use super::SeriesForecast;
use crate::data::MetricFrame;

/// Which side of the band a value left by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BandDirection {
    Above,
    Below,
}

/// A value outside its band.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BandScore {
    /// Distance outside the band in half-widths (> 0).
    pub score: f64,
    pub direction: BandDirection,
}

/// The band score of `y` against `[lower, upper]`, or `None` when it is inside
/// (or missing). A zero-width band counts distances in units of 1e-9 ×
/// max(1, |centre|) so that a flat series still scores finitely.
pub fn band_score(y: f64, lower: f64, upper: f64) -> Option<BandScore> {
    if !(y.is_finite() && lower.is_finite() && upper.is_finite()) {
        return None;
    }
    let centre = (lower + upper) / 2.0;
    // Rounding noise around a zero-width band (a constant series) is not
    // "outside": within 1e-9 of the scale counts as on the edge.
    let epsilon = 1e-9 * centre.abs().max(1.0);
    let half_width = ((upper - lower) / 2.0).max(epsilon);
    if y > upper + epsilon {
        Some(BandScore {
            score: (y - upper) / half_width,
            direction: BandDirection::Above,
        })
    } else if y < lower - epsilon {
        Some(BandScore {
            score: (lower - y) / half_width,
            direction: BandDirection::Below,
        })
    } else {
        None
    }
}

/// Per history row: the band score of this metric (None inside the band).
pub fn series_band_scores(forecast: &SeriesForecast, values: &[f64]) -> Vec<Option<BandScore>> {
    values
        .iter()
        .zip(&forecast.lower)
        .zip(&forecast.upper)
        .map(|((y, l), u)| band_score(*y, *l, *u))
        .collect()
}

/// Per frame row: outside the band of any metric that has a forecast.
pub fn rows_outside_band(frame: &MetricFrame, forecasts: &[&SeriesForecast]) -> Vec<bool> {
    let mut outside = vec![false; frame.len()];
    for forecast in forecasts {
        let Some(values) = frame.column(&forecast.metric) else {
            continue;
        };
        for (flag, score) in outside.iter_mut().zip(series_band_scores(forecast, values)) {
            *flag |= score.is_some();
        }
    }
    outside
}
