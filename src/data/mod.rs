//! Data: the [`MetricFrame`] every part of PulseWatch passes around, CSV read
//! and write, resampling to a fixed step, the seeded sample-data generator
//! and spike injection.

mod csv;
pub mod long;
mod openmetrics;
mod resample;
pub mod rng;
mod sample;
pub mod series;
pub mod time;

use std::fmt;
use std::path::PathBuf;

pub use csv::{CsvLoad, parse_csv, read_csv, write_csv, write_csv_to, write_long_csv_to};
pub use long::{EntityFrame, is_long_header, parse_long_csv, read_long_csv};
pub use openmetrics::to_openmetrics;
pub use resample::{Fill, ResampleReport, resample};
pub use sample::{SampleKind, SampleSpec, generate_sample, inject_spikes, inject_spikes_into};
pub use series::{Labels, column_name, format_labels, parse_column, parse_labels};

/// The bundled sample data (`sample_data/multivariant_data.csv`), so the
/// window, `serve`'s Test route and the benchmarks have data on a machine
/// without Prometheus.
pub const SAMPLE_CSV: &[u8] = include_bytes!("../../sample_data/multivariant_data.csv");

/// The bundled sample data, parsed.
pub fn bundled_sample() -> Result<CsvLoad, DataError> {
    parse_csv(SAMPLE_CSV, "bundled sample_data/multivariant_data.csv")
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{source_name}: the file is empty; expected a header line such as `timestamp,value`")]
    Empty { source_name: String },
    #[error("{source_name}:{line}: no data rows after the header")]
    NoRows { source_name: String, line: u64 },
    /// A located problem in one cell (column is 1-based).
    #[error("{source_name}:{line}:{column}: {message}")]
    Cell {
        source_name: String,
        line: u64,
        column: usize,
        message: String,
    },
    #[error("{source_name}:{line}: row has {found} fields, but the header has {expected}")]
    Ragged {
        source_name: String,
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("{source_name}:{line}: {message}")]
    Syntax {
        source_name: String,
        line: u64,
        message: String,
    },
    #[error("invalid frame: {message}")]
    Shape { message: String },
}

/// Something a reader fixed on the way in; never applied silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataWarning {
    /// Rows were out of time order and have been sorted.
    Unsorted { rows: usize },
    /// Rows repeated a timestamp; the last row for each timestamp was kept.
    Duplicates { rows: usize },
}

impl fmt::Display for DataWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataWarning::Unsorted { rows } => {
                write!(f, "{rows} rows were out of time order; sorted by timestamp")
            }
            DataWarning::Duplicates { rows } => write!(
                f,
                "{rows} rows repeated an earlier timestamp; the last row for each timestamp was kept"
            ),
        }
    }
}

/// Metrics over time: strictly increasing UTC timestamps (Unix ms), one f64
/// column per metric (NaN = missing) and an optional 0/1 label column.
/// Each column is one series: its name is `metric{labels}` (see
/// [`series`]), and its full label set (the source series' labels, which
/// may hold more than the name shows) travels with it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricFrame {
    timestamps_ms: Vec<i64>,
    names: Vec<String>,
    columns: Vec<Vec<f64>>,
    labels: Option<Vec<u8>>,
    series_labels: Vec<Labels>,
}

impl MetricFrame {
    /// Checks the shape: equal lengths, strictly increasing timestamps,
    /// unique non-empty names, labels 0 or 1.
    pub fn new(
        timestamps_ms: Vec<i64>,
        names: Vec<String>,
        columns: Vec<Vec<f64>>,
        labels: Option<Vec<u8>>,
    ) -> Result<Self, DataError> {
        let shape = |message: String| Err(DataError::Shape { message });
        if names.len() != columns.len() {
            return shape(format!(
                "{} names for {} columns",
                names.len(),
                columns.len()
            ));
        }
        let rows = timestamps_ms.len();
        for (name, column) in names.iter().zip(&columns) {
            if column.len() != rows {
                return shape(format!(
                    "column `{name}` has {} values for {rows} timestamps",
                    column.len()
                ));
            }
        }
        let mut seen = std::collections::HashSet::with_capacity(names.len());
        for name in &names {
            if name.is_empty() || !seen.insert(name.as_str()) {
                return shape(format!("column name `{name}` is empty or repeated"));
            }
        }
        if let Some(i) = timestamps_ms.windows(2).position(|w| w[1] <= w[0]) {
            return shape(format!(
                "timestamps must increase strictly; row {} does not",
                i + 1
            ));
        }
        if let Some(labels) = &labels {
            if labels.len() != rows {
                return shape(format!("{} labels for {rows} rows", labels.len()));
            }
            if labels.iter().any(|l| *l > 1) {
                return shape("labels must be 0 or 1".to_owned());
            }
        }
        let series_labels = names.iter().map(|n| parse_column(n).1).collect();
        Ok(Self {
            timestamps_ms,
            names,
            columns,
            labels,
            series_labels,
        })
    }

    /// Sets each column's full label set (the source series' labels); by
    /// default they are the labels its name shows.
    pub fn with_series_labels(mut self, series_labels: Vec<Labels>) -> Result<Self, DataError> {
        if series_labels.len() != self.names.len() {
            return Err(DataError::Shape {
                message: format!(
                    "{} label sets for {} columns",
                    series_labels.len(),
                    self.names.len()
                ),
            });
        }
        self.series_labels = series_labels;
        Ok(self)
    }

    /// Each column's full label set.
    pub fn series_labels(&self) -> &[Labels] {
        &self.series_labels
    }

    /// The columns whose `keep` is true (labels and rows unchanged).
    pub fn select_columns(&self, keep: &[bool]) -> MetricFrame {
        let pick = |i: &usize| keep.get(*i).copied().unwrap_or(false);
        let indices: Vec<usize> = (0..self.names.len()).filter(pick).collect();
        MetricFrame {
            timestamps_ms: self.timestamps_ms.clone(),
            names: indices.iter().map(|i| self.names[*i].clone()).collect(),
            columns: indices.iter().map(|i| self.columns[*i].clone()).collect(),
            labels: self.labels.clone(),
            series_labels: indices
                .iter()
                .map(|i| self.series_labels[*i].clone())
                .collect(),
        }
    }

    /// The metric (configured query name) column `index` answers.
    pub fn metric_of(&self, index: usize) -> String {
        parse_column(&self.names[index]).0
    }

    pub fn len(&self) -> usize {
        self.timestamps_ms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps_ms.is_empty()
    }

    pub fn timestamps_ms(&self) -> &[i64] {
        &self.timestamps_ms
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn columns(&self) -> &[Vec<f64>] {
        &self.columns
    }

    pub fn column(&self, name: &str) -> Option<&[f64]> {
        let index = self.names.iter().position(|n| n == name)?;
        Some(&self.columns[index])
    }

    pub fn labels(&self) -> Option<&[u8]> {
        self.labels.as_deref()
    }

    /// Replaces the label column; `None` removes it.
    pub fn with_labels(mut self, labels: Option<Vec<u8>>) -> Result<Self, DataError> {
        if let Some(l) = &labels
            && (l.len() != self.len() || l.iter().any(|v| *v > 1))
        {
            return Err(DataError::Shape {
                message: format!("{} labels (0/1) expected, got {}", self.len(), l.len()),
            });
        }
        self.labels = labels;
        Ok(self)
    }

    /// The median gap between consecutive timestamps: the frame's step.
    pub fn step_ms(&self) -> Option<i64> {
        median_step_ms(&self.timestamps_ms)
    }

    /// Missing (NaN) values per column.
    pub fn missing_counts(&self) -> Vec<usize> {
        self.columns
            .iter()
            .map(|c| c.iter().filter(|v| v.is_nan()).count())
            .collect()
    }
}

/// The median gap between consecutive `timestamps_ms` (None with fewer than
/// two).
pub fn median_step_ms(timestamps_ms: &[i64]) -> Option<i64> {
    let mut gaps: Vec<i64> = timestamps_ms.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.is_empty() {
        return None;
    }
    let middle = gaps.len() / 2;
    Some(*gaps.select_nth_unstable(middle).1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_checks_its_shape() {
        let ok = MetricFrame::new(vec![0, 10, 20], vec!["a".into()], vec![vec![1.0; 3]], None);
        assert_eq!(ok.unwrap().step_ms(), Some(10));
        let unsorted =
            MetricFrame::new(vec![0, 20, 10], vec!["a".into()], vec![vec![1.0; 3]], None);
        assert!(
            unsorted
                .unwrap_err()
                .to_string()
                .contains("increase strictly")
        );
        let ragged = MetricFrame::new(vec![0, 10], vec!["a".into()], vec![vec![1.0; 3]], None);
        assert!(ragged.unwrap_err().to_string().contains("3 values for 2"));
        let twice = MetricFrame::new(
            vec![0],
            vec!["a".into(), "a".into()],
            vec![vec![1.0], vec![2.0]],
            None,
        );
        assert!(twice.unwrap_err().to_string().contains("repeated"));
        let labels = MetricFrame::new(vec![0], vec!["a".into()], vec![vec![1.0]], Some(vec![2]));
        assert!(labels.unwrap_err().to_string().contains("0 or 1"));
    }
}
