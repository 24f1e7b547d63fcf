//! Reference forecasts from another tool (the Python Prophet peer writes
//! `metric,ds,yhat,yhat_lower,yhat_upper`), and how closely ours agree.

use std::collections::BTreeMap;

use super::SeriesForecast;
use crate::data::time::parse_timestamp_ms;

/// One reference horizon point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReferencePoint {
    pub timestamp_ms: i64,
    pub yhat: f64,
    pub lower: f64,
    pub upper: f64,
}

/// A reference file that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("{source_name}:{line}: {message}")]
pub struct ReferenceError {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// Parses `metric,ds,yhat,yhat_lower,yhat_upper` into points per metric.
pub fn parse_reference(
    text: &str,
    source_name: &str,
) -> Result<BTreeMap<String, Vec<ReferencePoint>>, ReferenceError> {
    let fail = |line: usize, message: String| ReferenceError {
        source_name: source_name.to_owned(),
        line,
        message,
    };
    let mut lines = text.lines().enumerate();
    let header = lines.next().map(|(_, h)| h.trim()).unwrap_or("");
    if header != "metric,ds,yhat,yhat_lower,yhat_upper" {
        return Err(fail(
            1,
            format!("expected the header `metric,ds,yhat,yhat_lower,yhat_upper`, found `{header}`"),
        ));
    }
    let mut out: BTreeMap<String, Vec<ReferencePoint>> = BTreeMap::new();
    for (index, line) in lines {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != 5 {
            return Err(fail(
                number,
                format!("expected 5 fields, found {}", fields.len()),
            ));
        }
        let timestamp_ms = parse_timestamp_ms(fields[1])
            .ok_or_else(|| fail(number, format!("`{}` is not a timestamp", fields[1])))?;
        let number_at = |i: usize, name: &str| {
            fields[i]
                .trim()
                .parse::<f64>()
                .map_err(|_| fail(number, format!("{name}: `{}` is not a number", fields[i])))
        };
        out.entry(fields[0].to_owned())
            .or_default()
            .push(ReferencePoint {
                timestamp_ms,
                yhat: number_at(2, "yhat")?,
                lower: number_at(3, "yhat_lower")?,
                upper: number_at(4, "yhat_upper")?,
            });
    }
    Ok(out)
}

/// How our horizon compares with the reference at the same timestamps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Agreement {
    pub points: usize,
    /// max |ours − theirs| / |theirs| over the points, for yhat.
    pub max_relative_yhat: f64,
    /// The same for the band's half-width (Monte-Carlo on both sides).
    pub max_relative_half_width: f64,
}

/// Compares the horizon points that both forecasts have; `None` when no
/// timestamp matches.
pub fn agreement(ours: &SeriesForecast, reference: &[ReferencePoint]) -> Option<Agreement> {
    let (ts, yhat, lower, upper) = ours.horizon();
    let mut result = Agreement {
        points: 0,
        max_relative_yhat: 0.0,
        max_relative_half_width: 0.0,
    };
    for point in reference {
        let Ok(i) = ts.binary_search(&point.timestamp_ms) else {
            continue;
        };
        result.points += 1;
        let relative = |a: f64, b: f64| (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
        result.max_relative_yhat = result.max_relative_yhat.max(relative(yhat[i], point.yhat));
        result.max_relative_half_width = result.max_relative_half_width.max(relative(
            (upper[i] - lower[i]) / 2.0,
            (point.upper - point.lower) / 2.0,
        ));
    }
    (result.points > 0).then_some(result)
}
