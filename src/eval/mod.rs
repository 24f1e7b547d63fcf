//! Evaluation against labels: point-wise precision, recall and F1 (no
//! point-adjust, which inflates scores), and NAB's scoring ([`nab`]).

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

#[cfg(test)]
mod tests {
    use super::*;

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
