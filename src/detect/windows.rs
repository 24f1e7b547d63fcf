//! Features for the autoencoder: MinMax scaling with the training rows'
//! min/max, and windows of `sequence_length` rows (stride 1), skipping
//! windows that contain a missing value.

use serde::{Deserialize, Serialize};

use crate::data::MetricFrame;

/// Per-feature min and max of the training rows (kept with the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MinMaxScaler {
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

impl MinMaxScaler {
    /// Fits on the finite values of each column; a column with no finite
    /// value, or a constant one, scales to 0.
    pub fn fit(frame: &MetricFrame) -> Self {
        let (mut min, mut max) = (Vec::new(), Vec::new());
        for column in frame.columns() {
            let finite = column.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f64::INFINITY, f64::min);
            let hi = finite.fold(f64::NEG_INFINITY, f64::max);
            min.push(if lo.is_finite() { lo } else { 0.0 });
            max.push(if hi.is_finite() { hi } else { 0.0 });
        }
        Self { min, max }
    }

    /// Row-major `[rows × features]` scaled values; NaN stays NaN.
    pub fn transform(&self, frame: &MetricFrame) -> Vec<f32> {
        let features = frame.columns().len();
        let mut out = vec![0.0f32; frame.len() * features];
        for (k, column) in frame.columns().iter().enumerate() {
            let span = self.max[k] - self.min[k];
            let scale = if span > 0.0 { 1.0 / span } else { 0.0 };
            for (row, v) in column.iter().enumerate() {
                out[row * features + k] = if v.is_finite() {
                    ((v - self.min[k]) * scale) as f32
                } else {
                    f32::NAN
                };
            }
        }
        out
    }
}

/// Scaled rows and the windows usable for training or scoring.
pub struct WindowSet {
    /// `[rows × features]`
    pub data: Vec<f32>,
    pub rows: usize,
    pub features: usize,
    pub length: usize,
    /// First row of each window without missing values.
    pub starts: Vec<usize>,
    /// Windows left out because they contain a missing value.
    pub skipped: usize,
}

impl WindowSet {
    pub fn new(data: Vec<f32>, features: usize, length: usize) -> Self {
        let rows = data.len().checked_div(features).unwrap_or(0);
        let total = (rows + 1).saturating_sub(length);
        // Rows with a NaN; a window is usable when it covers none of them.
        let bad: Vec<bool> = (0..rows)
            .map(|r| {
                data[r * features..(r + 1) * features]
                    .iter()
                    .any(|v| v.is_nan())
            })
            .collect();
        let mut starts = Vec::with_capacity(total);
        let mut bad_in_window = bad
            .iter()
            .take(length.saturating_sub(1))
            .filter(|b| **b)
            .count();
        for start in 0..total {
            bad_in_window += usize::from(bad[start + length - 1]);
            if bad_in_window == 0 {
                starts.push(start);
            }
            bad_in_window -= usize::from(bad[start]);
        }
        Self {
            skipped: total - starts.len(),
            data,
            rows,
            features,
            length,
            starts,
        }
    }

    /// Copies windows `starts` into `out` time-major: `[length][b][features]`.
    pub fn gather(&self, starts: &[usize], out: &mut Vec<f32>) {
        let (b, f) = (starts.len(), self.features);
        out.resize(self.length * b * f, 0.0);
        for (s, &start) in starts.iter().enumerate() {
            for t in 0..self.length {
                let src = &self.data[(start + t) * f..(start + t + 1) * f];
                out[(t * b + s) * f..(t * b + s + 1) * f].copy_from_slice(src);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_and_skips_windows_with_gaps() {
        let frame = MetricFrame::new(
            (0..6).map(|i| i * 1000).collect(),
            vec!["a".into(), "b".into()],
            vec![vec![0.0, 5.0, 10.0, f64::NAN, 2.0, 4.0], vec![1.0; 6]],
            None,
        )
        .unwrap();
        let scaler = MinMaxScaler::fit(&frame);
        assert_eq!(scaler.min, [0.0, 1.0]);
        assert_eq!(scaler.max, [10.0, 1.0]);
        let data = scaler.transform(&frame);
        assert_eq!(&data[..6], [0.0, 0.0, 0.5, 0.0, 1.0, 0.0]);
        let set = WindowSet::new(data, 2, 2);
        // Windows 0-1, 1-2 are fine; 2-3 and 3-4 cover the NaN; 4-5 is fine.
        assert_eq!(set.starts, [0, 1, 4]);
        assert_eq!(set.skipped, 2);
        let mut out = Vec::new();
        set.gather(&[1, 4], &mut out);
        // t=0: rows 1 and 4; t=1: rows 2 and 5.
        assert_eq!(out, [0.5, 0.0, 0.2, 0.0, 1.0, 0.0, 0.4, 0.0]);
    }
}
