//! Resampling a frame onto a fixed step grid, with gaps filled explicitly and
//! counted.

use super::{DataError, MetricFrame};

/// How grid points without any sample are filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Leave them missing (NaN).
    Missing,
    /// Repeat the last value before the gap.
    Previous,
    /// Interpolate linearly between the values around the gap.
    Linear,
}

/// What resampling did, so nothing happens silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResampleReport {
    /// Grid points in the output.
    pub grid_points: usize,
    /// Cells (point × metric) that had no sample.
    pub empty_cells: usize,
    /// Of those, cells given a value by the fill rule.
    pub filled_cells: usize,
    /// Input rows averaged into a grid point shared with another row.
    pub merged_rows: usize,
}

/// Puts every row on the nearest point of a grid of multiples of `step_ms`
/// (rows sharing a point are averaged; labels take the maximum), then fills
/// empty points by `fill`.
pub fn resample(
    frame: &MetricFrame,
    step_ms: i64,
    fill: Fill,
) -> Result<(MetricFrame, ResampleReport), DataError> {
    if step_ms <= 0 {
        return Err(DataError::Shape {
            message: format!("resampling step must be positive, got {step_ms} ms"),
        });
    }
    if frame.is_empty() {
        return Ok((frame.clone(), ResampleReport::default()));
    }
    let stamps = frame.timestamps_ms();
    // The grid point nearest the first row, so it does not start with a gap.
    let start = (stamps[0] + step_ms / 2).div_euclid(step_ms) * step_ms;
    let index_of = |t: i64| ((t - start + step_ms / 2).div_euclid(step_ms)) as usize;
    let points = index_of(stamps[stamps.len() - 1]) + 1;
    let mut report = ResampleReport {
        grid_points: points,
        ..ResampleReport::default()
    };
    let mut rows_at = vec![0u32; points];
    for &t in stamps {
        rows_at[index_of(t)] += 1;
    }
    report.merged_rows = rows_at.iter().map(|&n| n.saturating_sub(1) as usize).sum();

    let mut columns = Vec::with_capacity(frame.columns().len());
    for column in frame.columns() {
        let mut sum = vec![0.0; points];
        let mut count = vec![0u32; points];
        for (&t, &v) in stamps.iter().zip(column) {
            if !v.is_nan() {
                let i = index_of(t);
                sum[i] += v;
                count[i] += 1;
            }
        }
        let mut out: Vec<f64> = sum
            .iter()
            .zip(&count)
            .map(|(s, &n)| if n > 0 { s / f64::from(n) } else { f64::NAN })
            .collect();
        report.empty_cells += count.iter().filter(|&&n| n == 0).count();
        report.filled_cells += fill_gaps(&mut out, fill);
        columns.push(out);
    }
    let labels = frame.labels().map(|labels| {
        let mut out = vec![0u8; points];
        for (&t, &l) in stamps.iter().zip(labels) {
            let i = index_of(t);
            out[i] = out[i].max(l);
        }
        out
    });
    let timestamps = (0..points as i64).map(|i| start + i * step_ms).collect();
    let resampled = MetricFrame::new(timestamps, frame.names().to_vec(), columns, labels)?
        .with_series_labels(frame.series_labels().to_vec())?;
    Ok((resampled, report))
}

/// Fills NaN runs in place; returns how many values it filled. Runs at the
/// edges have only one neighbour: `Linear` leaves them missing.
fn fill_gaps(values: &mut [f64], fill: Fill) -> usize {
    let mut filled = 0;
    match fill {
        Fill::Missing => {}
        Fill::Previous => {
            let mut last = f64::NAN;
            for v in values.iter_mut() {
                if v.is_nan() {
                    if !last.is_nan() {
                        *v = last;
                        filled += 1;
                    }
                } else {
                    last = *v;
                }
            }
        }
        Fill::Linear => {
            let mut previous: Option<usize> = None;
            for i in 0..values.len() {
                if values[i].is_nan() {
                    continue;
                }
                if let Some(p) = previous
                    && i > p + 1
                {
                    let (a, b) = (values[p], values[i]);
                    let span = (i - p) as f64;
                    for (k, slot) in values[p + 1..i].iter_mut().enumerate() {
                        *slot = a + (b - a) * (k + 1) as f64 / span;
                        filled += 1;
                    }
                }
                previous = Some(i);
            }
        }
    }
    filled
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stamps: &[i64], values: &[f64]) -> MetricFrame {
        MetricFrame::new(
            stamps.to_vec(),
            vec!["v".into()],
            vec![values.to_vec()],
            None,
        )
        .unwrap()
    }

    #[test]
    fn fills_gaps_and_counts_them() {
        let f = frame(&[0, 10, 40], &[0.0, 1.0, 4.0]);
        let (out, report) = resample(&f, 10, Fill::Linear).unwrap();
        assert_eq!(out.timestamps_ms(), [0, 10, 20, 30, 40]);
        assert_eq!(out.column("v").unwrap(), [0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(report.empty_cells, 2);
        assert_eq!(report.filled_cells, 2);

        let (out, report) = resample(&f, 10, Fill::Previous).unwrap();
        assert_eq!(out.column("v").unwrap(), [0.0, 1.0, 1.0, 1.0, 4.0]);
        assert_eq!(report.filled_cells, 2);

        let (out, report) = resample(&f, 10, Fill::Missing).unwrap();
        assert!(out.column("v").unwrap()[2].is_nan());
        assert_eq!(report.filled_cells, 0);
    }

    #[test]
    fn averages_rows_that_share_a_point() {
        let f = frame(&[0, 4, 10, 21], &[1.0, 3.0, 5.0, 7.0]);
        let (out, report) = resample(&f, 10, Fill::Missing).unwrap();
        assert_eq!(out.column("v").unwrap(), [2.0, 5.0, 7.0]);
        assert_eq!(report.merged_rows, 1);
        assert!(resample(&f, 0, Fill::Missing).is_err());
    }
}
