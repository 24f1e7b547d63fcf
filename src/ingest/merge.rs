//! Merging range results into one [`MetricFrame`]: an outer join on the
//! step grid, one column per series, absent points left missing and counted.

use std::collections::BTreeMap;

use super::range::TimeRange;
use super::response::Series;
use crate::data::{DataError, MetricFrame};

/// The merged frame and what it is missing.
#[derive(Debug, Clone)]
pub struct Merged {
    pub frame: MetricFrame,
    /// Grid points with no sample, per column (NaN samples are not counted:
    /// Prometheus returned them as values).
    pub absent_points: Vec<usize>,
    /// Queries that returned no series at all.
    pub empty_queries: Vec<String>,
}

/// Column names for one query's series: the metric name for a single series;
/// `name{label="…"}` with the labels that tell the series apart otherwise.
pub fn column_names(metric: &str, series: &[Series]) -> Vec<String> {
    if series.len() == 1 {
        return vec![metric.to_owned()];
    }
    let mut distinguishing: Vec<&String> = Vec::new();
    for s in series {
        for (key, value) in &s.labels {
            let differs = series.iter().any(|o| o.labels.get(key) != Some(value));
            if differs && !distinguishing.contains(&key) {
                distinguishing.push(key);
            }
        }
    }
    distinguishing.sort();
    series
        .iter()
        .map(|s| {
            let labels: Vec<String> = distinguishing
                .iter()
                .map(|key| format!("{key}=\"{}\"", s.labels.get(*key).map_or("", |v| v)))
                .collect();
            format!("{metric}{{{}}}", labels.join(","))
        })
        .collect()
}

/// Joins every query's series on the range's grid.
pub fn merge(range: &TimeRange, results: &[(String, Vec<Series>)]) -> Result<Merged, DataError> {
    let points = usize::try_from(range.points()).unwrap_or(0);
    let timestamps: Vec<i64> = (0..points as i64)
        .map(|i| range.start_ms + i * range.step_ms)
        .collect();
    let mut names = Vec::new();
    let mut columns = Vec::new();
    let mut absent_points = Vec::new();
    let mut empty_queries = Vec::new();
    for (metric, series) in results {
        if series.is_empty() {
            empty_queries.push(metric.clone());
            names.push(metric.clone());
            columns.push(vec![f64::NAN; points]);
            absent_points.push(points);
            continue;
        }
        for (name, s) in column_names(metric, series).into_iter().zip(series) {
            let mut column = vec![f64::NAN; points];
            let mut present = vec![false; points];
            for &(t, v) in &s.samples {
                let offset = t - range.start_ms;
                let index = (offset + range.step_ms / 2).div_euclid(range.step_ms);
                if let Some(slot) = usize::try_from(index).ok().filter(|i| *i < points) {
                    column[slot] = v;
                    present[slot] = true;
                }
            }
            absent_points.push(present.iter().filter(|p| !**p).count());
            names.push(name);
            columns.push(column);
        }
    }
    let frame = MetricFrame::new(timestamps, names, columns, None)?;
    Ok(Merged {
        frame,
        absent_points,
        empty_queries,
    })
}

/// Labels as a map, for tests and callers building series by hand.
pub fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> Series {
        Series {
            labels: labels(pairs),
            samples: samples.to_vec(),
        }
    }

    #[test]
    fn outer_join_on_the_grid_with_named_series() {
        let range = TimeRange::aligned(0, 90_000, Duration::from_secs(30)).unwrap();
        let results = vec![
            (
                "cpu".to_owned(),
                vec![
                    series(
                        &[("instance", "a"), ("job", "node")],
                        &[(0, 1.0), (30_000, 2.0)],
                    ),
                    series(&[("instance", "b"), ("job", "node")], &[(60_000, 3.0)]),
                ],
            ),
            (
                "mem".to_owned(),
                vec![series(&[("job", "node")], &[(90_000, f64::NAN)])],
            ),
            ("gone".to_owned(), vec![]),
        ];
        let merged = merge(&range, &results).unwrap();
        let f = &merged.frame;
        assert_eq!(
            f.names(),
            ["cpu{instance=\"a\"}", "cpu{instance=\"b\"}", "mem", "gone"]
        );
        assert_eq!(f.timestamps_ms(), [0, 30_000, 60_000, 90_000]);
        assert_eq!(&f.columns()[0][..2], [1.0, 2.0]);
        assert!(f.columns()[0][2].is_nan());
        assert_eq!(f.columns()[1][2], 3.0);
        // The NaN sample is a value, not an absent point.
        assert_eq!(merged.absent_points, [2, 3, 3, 4]);
        assert_eq!(merged.empty_queries, ["gone"]);
    }
}
