//! Merging range results into one [`MetricFrame`]: an outer join on the
//! step grid, one column per series, absent points left missing and counted.

use std::collections::BTreeMap;

use super::range::TimeRange;
use super::response::Series;
use crate::data::{DataError, Labels, MetricFrame, column_name, format_labels};

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

/// What one query answered, for the merge.
#[derive(Debug, Clone)]
pub struct QueryAnswer {
    /// The configured metric name.
    pub metric: String,
    /// The PromQL, for error messages.
    pub query: String,
    pub series: Vec<Series>,
}

/// A query's series that lacks one of the entity labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingEntityLabel {
    pub metric: String,
    pub query: String,
    pub label: String,
    /// The offending series' labels, as PromQL writes them.
    pub series: String,
}

/// Why the answers do not merge.
#[derive(Debug)]
pub enum MergeProblem {
    EntityLabel(MissingEntityLabel),
    Frame(DataError),
}

impl From<DataError> for MergeProblem {
    fn from(error: DataError) -> Self {
        MergeProblem::Frame(error)
    }
}

/// Column names for one query's series: the metric name with the series'
/// labels (see [`crate::data::series`]), so a series keeps its name
/// whatever else the query returns (a series that joins or leaves renames
/// no other). `__name__` is shown only where it tells the series apart (a
/// query over several metric names). A series without labels is the metric
/// name alone. `entity_labels` are checked by [`merge`], not needed here.
pub fn column_names(metric: &str, series: &[Series], _entity_labels: &[String]) -> Vec<String> {
    let name_differs = series
        .iter()
        .any(|s| s.labels.get("__name__") != series[0].labels.get("__name__"));
    series
        .iter()
        .map(|s| {
            let mut labels = s.labels.clone();
            if !name_differs {
                labels.remove("__name__");
            }
            column_name(metric, &labels)
        })
        .collect()
}

/// Every series of a query must carry the entity labels, except a query's
/// only series when it has none of them: that one is fleet-wide (a
/// service's latency beside per-host cpu).
fn check_entity_labels(
    answer: &QueryAnswer,
    entity_labels: &[String],
) -> Result<(), MissingEntityLabel> {
    let series = &answer.series;
    let fleet_wide = series.len() == 1
        && entity_labels
            .iter()
            .all(|label| !series[0].labels.contains_key(label));
    if fleet_wide {
        return Ok(());
    }
    for s in series {
        if let Some(label) = entity_labels.iter().find(|l| !s.labels.contains_key(*l)) {
            return Err(MissingEntityLabel {
                metric: answer.metric.clone(),
                query: answer.query.clone(),
                label: label.clone(),
                series: format!("{{{}}}", format_labels(&s.labels)),
            });
        }
    }
    Ok(())
}

/// Joins every query's series on the range's grid, one column per series
/// (its full label set kept, `__name__` aside).
pub fn merge(
    range: &TimeRange,
    answers: &[QueryAnswer],
    entity_labels: &[String],
) -> Result<Merged, MergeProblem> {
    let points = usize::try_from(range.points()).unwrap_or(0);
    let timestamps: Vec<i64> = (0..points as i64)
        .map(|i| range.start_ms + i * range.step_ms)
        .collect();
    let mut names = Vec::new();
    let mut columns = Vec::new();
    let mut series_labels = Vec::new();
    let mut absent_points = Vec::new();
    let mut empty_queries = Vec::new();
    for answer in answers {
        let (metric, series) = (&answer.metric, &answer.series);
        if series.is_empty() {
            empty_queries.push(metric.clone());
            names.push(metric.clone());
            columns.push(vec![f64::NAN; points]);
            series_labels.push(Labels::new());
            absent_points.push(points);
            continue;
        }
        check_entity_labels(answer, entity_labels).map_err(MergeProblem::EntityLabel)?;
        for (name, s) in column_names(metric, series, entity_labels)
            .into_iter()
            .zip(series)
        {
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
            let mut labels = s.labels.clone();
            labels.remove("__name__");
            series_labels.push(labels);
        }
    }
    let frame =
        MetricFrame::new(timestamps, names, columns, None)?.with_series_labels(series_labels)?;
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
        let answer = |metric: &str, series: Vec<Series>| QueryAnswer {
            metric: metric.to_owned(),
            query: format!("q_{metric}"),
            series,
        };
        let results = vec![
            answer(
                "cpu",
                vec![
                    series(
                        &[("instance", "a"), ("job", "node")],
                        &[(0, 1.0), (30_000, 2.0)],
                    ),
                    series(&[("instance", "b"), ("job", "node")], &[(60_000, 3.0)]),
                ],
            ),
            answer(
                "mem",
                vec![series(&[("job", "node")], &[(90_000, f64::NAN)])],
            ),
            answer("gone", vec![]),
        ];
        let merged = merge(&range, &results, &["instance".to_owned()]).unwrap();
        let f = &merged.frame;
        assert_eq!(
            f.names(),
            [
                r#"cpu{instance="a",job="node"}"#,
                r#"cpu{instance="b",job="node"}"#,
                r#"mem{job="node"}"#,
                "gone"
            ]
        );
        assert_eq!(f.timestamps_ms(), [0, 30_000, 60_000, 90_000]);
        assert_eq!(&f.columns()[0][..2], [1.0, 2.0]);
        assert!(f.columns()[0][2].is_nan());
        assert_eq!(f.columns()[1][2], 3.0);
        // The NaN sample is a value, not an absent point.
        assert_eq!(merged.absent_points, [2, 3, 3, 4]);
        assert_eq!(merged.empty_queries, ["gone"]);
        // The full label sets travel with the columns.
        assert_eq!(
            f.series_labels()[0],
            labels(&[("instance", "a"), ("job", "node")])
        );
        assert_eq!(f.metric_of(1), "cpu");
    }

    #[test]
    fn entity_labels_are_shown_and_required() {
        let range = TimeRange::aligned(0, 30_000, Duration::from_secs(30)).unwrap();
        let entity = ["instance".to_owned()];
        let answer = |series: Vec<Series>| QueryAnswer {
            metric: "memory".to_owned(),
            query: "node_memory_ratio".to_owned(),
            series,
        };
        // One host: named by its labels, as it would be among many (its
        // name does not change when others join).
        let one = answer(vec![series(
            &[("instance", "a"), ("job", "node")],
            &[(0, 1.0)],
        )]);
        let merged = merge(&range, &[one], &entity).unwrap();
        assert_eq!(merged.frame.names(), [r#"memory{instance="a",job="node"}"#]);
        // A fleet-wide single series has no entity label: allowed.
        let global = answer(vec![series(&[("__name__", "latency")], &[(0, 1.0)])]);
        let merged = merge(&range, &[global], &entity).unwrap();
        assert_eq!(merged.frame.names(), ["memory"]);
        // Several series, one without an instance: named in the error.
        let mixed = answer(vec![
            series(&[("instance", "a")], &[(0, 1.0)]),
            series(&[("pod", "p-1")], &[(0, 2.0)]),
        ]);
        match merge(&range, &[mixed], &entity) {
            Err(MergeProblem::EntityLabel(missing)) => {
                assert_eq!(missing.label, "instance");
                assert_eq!(missing.query, "node_memory_ratio");
                assert_eq!(missing.series, r#"{pod="p-1"}"#);
            }
            other => panic!("{other:?}"),
        }
        // Without entity labels, several series without them are fine;
        // __name__ names them where it tells them apart.
        let two = answer(vec![
            series(&[("__name__", "a_bytes")], &[(0, 1.0)]),
            series(&[("__name__", "b_bytes")], &[(0, 2.0)]),
        ]);
        let merged = merge(&range, &[two], &[]).unwrap();
        assert_eq!(
            merged.frame.names(),
            [
                r#"memory{__name__="a_bytes"}"#,
                r#"memory{__name__="b_bytes"}"#
            ]
        );
    }
}
