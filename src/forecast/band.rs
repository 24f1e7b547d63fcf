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

/// Points at least this many band half-widths outside the band are marked.
/// With the default 80 % band (half-width 1.28 σ), 20 % of ordinary points
/// fall just outside it; three half-widths further out is 5.1 σ from the
/// forecast, about the rarity of the detectors' alarm level (a normal tail
/// of 1e-7). One half-width (2.6 σ) marked 1 % of the bundled sample's
/// ordinary points (110 of 11,520 on cpu) and 368 false marks in Test mode;
/// three mark none on cpu and 43 in Test mode, and still every injected
/// spike (docs/evaluation.md).
pub const MARKER_MIN_BAND_SCORE: f64 = 3.0;

/// A metric's forecast judged at a frame's rows, matched by timestamp (the
/// nearest forecast point within half a step): a forecast made earlier keeps
/// judging the rows that arrive after it.
#[derive(Debug, Clone, PartialEq)]
pub struct RowBands {
    /// Per row: (yhat, lower, upper) where the forecast covers the row.
    pub at_rows: Vec<Option<(f64, f64, f64)>>,
    /// Rows at least [`MARKER_MIN_BAND_SCORE`] half-widths outside the band.
    pub outside_rows: Vec<usize>,
    /// Per row: distance from the forecast as 0–100, 50 at the band's edge
    /// (NaN where the value or the forecast is missing).
    pub row_scores: Vec<f64>,
}

impl RowBands {
    pub fn new(forecast: &SeriesForecast, timestamps_ms: &[i64], values: &[f64]) -> Self {
        let at_rows: Vec<Option<(f64, f64, f64)>> = timestamps_ms
            .iter()
            .map(|ms| {
                let j = super::nearest_index(&forecast.timestamps_ms, *ms)?;
                Some((forecast.yhat[j], forecast.lower[j], forecast.upper[j]))
            })
            .collect();
        let mut outside_rows = Vec::new();
        let row_scores = at_rows
            .iter()
            .zip(values)
            .enumerate()
            .map(|(row, (at, y))| {
                let Some((yhat, lower, upper)) = *at else {
                    return f64::NAN;
                };
                if band_score(*y, lower, upper).is_some_and(|b| b.score >= MARKER_MIN_BAND_SCORE) {
                    outside_rows.push(row);
                }
                let half = (upper - lower) / 2.0;
                let distance = (y - yhat).abs() / half;
                if half > 0.0 && distance.is_finite() {
                    100.0 * distance / (distance + 1.0)
                } else {
                    f64::NAN
                }
            })
            .collect();
        Self {
            at_rows,
            outside_rows,
            row_scores,
        }
    }

    /// The latest scored row's distance from the forecast, 0–100.
    pub fn latest_score(&self) -> Option<f64> {
        self.row_scores
            .iter()
            .rev()
            .find(|s| s.is_finite())
            .copied()
    }
}
