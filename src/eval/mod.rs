//! Evaluation against labels: point-wise precision, recall and F1 (no
//! point-adjust, which inflates scores), and NAB's scoring ([`nab`]).

pub mod budget;
pub mod devset;
pub mod nab;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PointMetrics {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// Compares row flags with 0/1 labels, row by row.
pub fn point_metrics(flags: &[bool], labels: &[u8]) -> PointMetrics {
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for (flag, label) in flags.iter().zip(labels) {
        match (*flag, *label == 1) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    PointMetrics {
        tp,
        fp,
        fn_,
        precision,
        recall,
        f1,
    }
}

/// Events (runs of label 1) found, and how late.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct EventMetrics {
    pub events: usize,
    /// Events with at least one flagged row inside them.
    pub detected: usize,
    pub recall: f64,
    /// Rows from an event's start to its first flag, over detected events.
    pub mean_delay_rows: f64,
}

impl EventMetrics {
    /// Adds another set's events (a fleet's entities together).
    pub fn add(&mut self, other: &EventMetrics) {
        let delays = |m: &EventMetrics| {
            if m.detected == 0 {
                0.0
            } else {
                m.mean_delay_rows * m.detected as f64
            }
        };
        let delay_sum = delays(self) + delays(other);
        self.events += other.events;
        self.detected += other.detected;
        self.recall = if self.events == 0 {
            0.0
        } else {
            self.detected as f64 / self.events as f64
        };
        self.mean_delay_rows = if self.detected == 0 {
            f64::NAN
        } else {
            delay_sum / self.detected as f64
        };
    }
}

/// Event recall and detection delay of row flags against 0/1 labels.
pub fn event_metrics(flags: &[bool], labels: &[u8]) -> EventMetrics {
    let (mut events, mut detected, mut delay_sum) = (0, 0, 0usize);
    let mut row = 0;
    while row < labels.len() {
        if labels[row] != 1 {
            row += 1;
            continue;
        }
        let start = row;
        while row < labels.len() && labels[row] == 1 {
            row += 1;
        }
        events += 1;
        if let Some(first) = (start..row).find(|r| flags.get(*r).copied().unwrap_or(false)) {
            detected += 1;
            delay_sum += first - start;
        }
    }
    EventMetrics {
        events,
        detected,
        recall: if events == 0 {
            0.0
        } else {
            detected as f64 / events as f64
        },
        mean_delay_rows: if detected == 0 {
            f64::NAN
        } else {
            delay_sum as f64 / detected as f64
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_runs_and_delay_counts_rows_to_the_first_flag() {
        let labels = [0, 1, 1, 1, 0, 0, 1, 1, 0, 1];
        let flags = [
            false, false, false, true, true, false, false, false, false, true,
        ];
        let m = event_metrics(&flags, &labels);
        assert_eq!((m.events, m.detected), (3, 2));
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        // Delays 2 (rows 1→3) and 0 (row 9).
        assert!((m.mean_delay_rows - 1.0).abs() < 1e-12);
    }

    #[test]
    fn counts_and_ratios() {
        let m = point_metrics(&[true, true, false, false, true], &[1, 0, 1, 0, 1]);
        assert_eq!((m.tp, m.fp, m.fn_), (2, 1, 1));
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
        let none = point_metrics(&[false, false], &[0, 1]);
        assert_eq!(none.f1, 0.0);
    }
}
