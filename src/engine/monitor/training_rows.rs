//! The rows a fleet's models per entity learn from on live data: the first
//! fetch's warm-up and every live row since, the newest `capacity` of them.
//! The window may be much shorter (the shipped one is an hour; a model per
//! entity wants a probation's rows, see
//! [`crate::engine::schedule::rows_needed`]), so they are kept apart from
//! it, as the fetches brought them, and put together into one frame only
//! when a training needs them: a refresh adds its new rows and nothing
//! else.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::data::{DataError, Labels, MetricFrame};

/// Rows as one fetch brought them, row-major (`f32`: what the models train
/// on; half the memory of the frame's `f64`).
struct Chunk {
    timestamps_ms: Vec<i64>,
    /// Shared with the chunk before when the series are the same (the
    /// usual case: a refresh adds one row of every series).
    names: Arc<[String]>,
    labels: Arc<[Labels]>,
    /// `timestamps_ms.len()` rows of `names.len()` values.
    values: Vec<f32>,
}

impl Chunk {
    fn rows(&self) -> usize {
        self.timestamps_ms.len()
    }
}

/// The newest `capacity` rows of every series seen (see the module doc).
#[derive(Default)]
pub struct TrainingRows {
    chunks: VecDeque<Chunk>,
    /// Rows held.
    rows: usize,
    capacity: usize,
}

impl TrainingRows {
    /// Empty; keeps up to `capacity` rows.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Forgets every row (a new data set), and keeps `capacity` from now on.
    pub fn reset(&mut self, capacity: usize) {
        *self = Self::new(capacity);
    }

    /// The rows held.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds the rows of `frame` newer than the newest held, then lets the
    /// oldest go past `capacity`. A chunk that is partly too old is cut only
    /// once a quarter of the capacity is over (cutting copies it), so
    /// memory stays within 1.25 × `capacity` rows.
    pub fn push(&mut self, frame: &MetricFrame) {
        let newest_ms = self
            .chunks
            .back()
            .and_then(|c| c.timestamps_ms.last().copied())
            .unwrap_or(i64::MIN);
        let first = frame.timestamps_ms().partition_point(|&ms| ms <= newest_ms);
        if first == frame.len() || self.capacity == 0 {
            return;
        }
        let (names, labels) = match self.chunks.back() {
            Some(last) if *last.names == *frame.names() => {
                (Arc::clone(&last.names), Arc::clone(&last.labels))
            }
            _ => (
                Arc::from(frame.names().to_vec()),
                Arc::from(frame.series_labels().to_vec()),
            ),
        };
        let columns = frame.columns();
        let rows = frame.len() - first;
        let mut values = Vec::with_capacity(rows * columns.len());
        for row in first..frame.len() {
            // The narrowing is the point: f32 is what the models train on.
            #[allow(clippy::cast_possible_truncation)]
            values.extend(columns.iter().map(|c| c[row] as f32));
        }
        self.chunks.push_back(Chunk {
            timestamps_ms: frame.timestamps_ms()[first..].to_vec(),
            names,
            labels,
            values,
        });
        self.rows += rows;
        self.trim();
    }

    fn trim(&mut self) {
        while let Some(front) = self.chunks.front() {
            if self.rows - front.rows() < self.capacity {
                break;
            }
            self.rows -= front.rows();
            self.chunks.pop_front();
        }
        let over = self.rows.saturating_sub(self.capacity);
        if over > 0
            && over >= self.capacity.div_ceil(4)
            && let Some(front) = self.chunks.front_mut()
        {
            let cut = over.min(front.rows());
            let width = front.names.len();
            front.values.drain(..cut * width);
            front.timestamps_ms.drain(..cut);
            self.rows -= cut;
        }
    }

    /// The newest `capacity` rows as one frame: every series seen in them,
    /// by name (NaN where a series has no value at a row), with its labels.
    pub fn frame(&self) -> Result<MetricFrame, DataError> {
        let skip_rows = self.rows.saturating_sub(self.capacity);
        let rows = self.rows - skip_rows;
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut names: Vec<String> = Vec::new();
        let mut labels: Vec<Labels> = Vec::new();
        for chunk in &self.chunks {
            for (name, set) in chunk.names.iter().zip(chunk.labels.iter()) {
                if !index.contains_key(name.as_str()) {
                    index.insert(name, names.len());
                    names.push(name.clone());
                    labels.push(set.clone());
                }
            }
        }
        let mut columns = vec![vec![f64::NAN; rows]; names.len()];
        let mut timestamps_ms = Vec::with_capacity(rows);
        let mut to_skip = skip_rows;
        for chunk in &self.chunks {
            let targets: Vec<usize> = chunk.names.iter().map(|n| index[n.as_str()]).collect();
            let width = targets.len();
            for row in 0..chunk.rows() {
                if to_skip > 0 {
                    to_skip -= 1;
                    continue;
                }
                let at = timestamps_ms.len();
                timestamps_ms.push(chunk.timestamps_ms[row]);
                let values = &chunk.values[row * width..(row + 1) * width];
                for (&target, &value) in targets.iter().zip(values) {
                    columns[target][at] = f64::from(value);
                }
            }
        }
        MetricFrame::new(timestamps_ms, names, columns, None)?.with_series_labels(labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(
        timestamps_ms: &[i64],
        names: &[&str],
        value: impl Fn(i64, usize) -> f64,
    ) -> MetricFrame {
        let columns = (0..names.len())
            .map(|c| timestamps_ms.iter().map(|&t| value(t, c)).collect())
            .collect();
        MetricFrame::new(
            timestamps_ms.to_vec(),
            names.iter().map(|n| (*n).to_owned()).collect(),
            columns,
            None,
        )
        .expect("frame")
    }

    #[test]
    fn keeps_the_newest_rows_of_every_series_by_name() {
        let mut rows = TrainingRows::new(8);
        let names = [r#"cpu{instance="a"}"#, r#"cpu{instance="b"}"#];
        let value = |t: i64, c: usize| (t as f64) * 10.0 + c as f64;
        // A warm-up of 6 rows, then windows that overlap it and each other.
        rows.push(&frame(&[0, 1, 2, 3, 4, 5], &names, value));
        rows.push(&frame(&[4, 5, 6], &names, value));
        assert_eq!(rows.len(), 7);
        // Host c joins, host a is gone from the fetch.
        let later = [r#"cpu{instance="b"}"#, r#"cpu{instance="c"}"#];
        rows.push(&frame(&[6, 7, 8], &later, |t, c| value(t, c + 1)));
        assert_eq!(rows.len(), 9, "a row over: not cut yet (under a quarter)");

        let got = rows.frame().expect("frame");
        assert_eq!(got.timestamps_ms(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(got.names(), &[names[0], names[1], later[1]]);
        let a = got.column(names[0]).expect("a");
        assert_eq!(&a[..6], &[10.0, 20.0, 30.0, 40.0, 50.0, 60.0]);
        assert!(a[6].is_nan() && a[7].is_nan());
        let c = got.column(later[1]).expect("c");
        assert!(c[..6].iter().all(|v| v.is_nan()));
        assert_eq!(&c[6..], &[72.0, 82.0]);
        assert_eq!(got.column(names[1]).expect("b")[7], 81.0);
        assert_eq!(
            got.series_labels()[2].get("instance").map(String::as_str),
            Some("c")
        );

        // Past a quarter over, the oldest rows go; what is left is the same.
        rows.push(&frame(&[9, 10], &later, |t, c| value(t, c + 1)));
        assert_eq!(rows.len(), 8);
        let got = rows.frame().expect("frame");
        assert_eq!(got.timestamps_ms(), &[3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(got.column(later[0]).expect("b")[0], 31.0);
    }

    #[test]
    fn values_travel_as_f32_and_nan_stays_nan() {
        let mut rows = TrainingRows::new(4);
        rows.push(&frame(
            &[0, 1],
            &["m"],
            |t, _| if t == 0 { f64::NAN } else { 0.1 },
        ));
        let got = rows.frame().expect("frame");
        let m = got.column("m").expect("m");
        assert!(m[0].is_nan());
        assert_eq!(m[1], f64::from(0.1_f32));
        rows.reset(4);
        assert!(rows.is_empty());
        assert!(rows.frame().expect("empty").is_empty());
    }
}
