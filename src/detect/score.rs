//! From window errors to what a person reads: the threshold, per-row scores
//! and flags (a row is anomalous iff a window covering it is over the
//! threshold), a 0–100 score and the metric that contributed most.

/// The `p`-th percentile with linear interpolation (numpy's default).
pub fn percentile(values: &[f32], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = (p / 100.0).clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let low = rank.floor() as usize;
    let high = rank.ceil() as usize;
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// 0–100, 50 exactly at the threshold, monotone in the error.
pub fn normalised_score(error: f64, threshold: f64) -> f64 {
    if !error.is_finite() || threshold <= 0.0 {
        return f64::NAN;
    }
    100.0 * error / (error + threshold)
}

/// A detector likelihood on the same 0–100 scale: 50 exactly at the alarm
/// level ([`crate::detect::online::ALARM_LEVEL`]), 100 at a likelihood of 1,
/// proportionally under 50 below the level. The dashboard shows it and the
/// history keeps it (as a share, /100) whichever process found the event.
pub fn score_of_likelihood(likelihood: f64) -> f64 {
    let level = crate::detect::online::ALARM_LEVEL;
    let likelihood = likelihood.clamp(0.0, 1.0);
    if likelihood >= level {
        50.0 + 50.0 * (likelihood - level) / (1.0 - level)
    } else {
        50.0 * likelihood / level
    }
}

/// The severity of an event by its peak 0–100 score: `critical` from 90
/// (a likelihood of 0.999: the daemon's critical alerts), `major` from 75,
/// `minor` below. The same for the dashboard's table and the history.
pub fn severity(score: f64) -> &'static str {
    if score >= 90.0 {
        "critical"
    } else if score >= 75.0 {
        "major"
    } else {
        "minor"
    }
}

/// Per-row results.
#[derive(Debug, Clone, PartialEq)]
pub struct RowScores {
    /// The largest error among windows covering the row (NaN: no window).
    pub error: Vec<f64>,
    pub flag: Vec<bool>,
    /// 0–100, 50 at the threshold.
    pub score: Vec<f64>,
    /// Index of the feature contributing most to the row's worst window.
    pub top_feature: Vec<Option<usize>>,
}

/// Spreads window results over rows. `starts` are the windows' first rows,
/// `feature_errors` their per-feature sums `[windows × features]`.
pub fn row_scores(
    rows: usize,
    length: usize,
    starts: &[usize],
    errors: &[f32],
    feature_errors: &[f32],
    features: usize,
    threshold: f64,
) -> RowScores {
    // Row r's windows are those starting in r + 1 - length ..= r: a range of
    // window indices whose ends both only move forward, so a monotonic
    // deque gives each row its worst window in O(windows) (the earliest
    // among equals, as a scan would).
    let mut best: Vec<Option<usize>> = vec![None; rows];
    let mut deque: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut next = 0;
    for (row, slot) in best.iter_mut().enumerate() {
        while next < starts.len() && starts[next] <= row {
            while deque.back().is_some_and(|&b| errors[b] < errors[next]) {
                deque.pop_back();
            }
            deque.push_back(next);
            next += 1;
        }
        while deque.front().is_some_and(|&f| starts[f] + length <= row) {
            deque.pop_front();
        }
        *slot = deque.front().copied();
    }
    let mut out = RowScores {
        error: Vec::with_capacity(rows),
        flag: Vec::with_capacity(rows),
        score: Vec::with_capacity(rows),
        top_feature: Vec::with_capacity(rows),
    };
    for slot in best {
        match slot {
            Some(w) => {
                let error = f64::from(errors[w]);
                out.error.push(error);
                out.flag.push(error > threshold);
                out.score.push(normalised_score(error, threshold));
                let per_feature = &feature_errors[w * features..(w + 1) * features];
                let top = per_feature
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i);
                out.top_feature.push(top);
            }
            None => {
                out.error.push(f64::NAN);
                out.flag.push(false);
                out.score.push(f64::NAN);
                out.top_feature.push(None);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn likelihoods_share_the_scale_and_severities_of_the_model_scores() {
        use crate::detect::online::ALARM_LEVEL;
        assert_eq!(score_of_likelihood(ALARM_LEVEL), 50.0);
        assert_eq!(score_of_likelihood(1.0), 100.0);
        assert!((score_of_likelihood(0.999) - 90.0).abs() < 1e-9);
        assert_eq!(score_of_likelihood(0.0), 0.0);
        assert!(score_of_likelihood(0.9) < 50.0 && score_of_likelihood(0.9) > 45.0);
        // The threshold of the model's errors is 50 too.
        assert_eq!(normalised_score(2.0, 2.0), 50.0);
        assert_eq!(severity(score_of_likelihood(0.9995)), "critical");
        assert_eq!(severity(score_of_likelihood(0.998)), "major");
        assert_eq!(severity(score_of_likelihood(ALARM_LEVEL)), "minor");
        assert_eq!(severity(normalised_score(9.0, 1.0)), "critical");
    }

    #[test]
    fn percentile_interpolates_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert_eq!(percentile(&v, 100.0), 4.0);
        assert!((percentile(&v, 99.0) - 3.97).abs() < 1e-12);
        assert_eq!(percentile(&v, 0.0), 1.0);
    }

    #[test]
    fn rows_take_the_worst_covering_window() {
        // 6 rows, windows of 3 starting at 0..=3.
        let errors = [0.1, 0.5, 0.2, 0.05];
        let features = [0.1, 0.2, 0.9, 0.1, 0.3, 0.0, 0.0, 0.15];
        let r = row_scores(6, 3, &[0, 1, 2, 3], &errors, &features, 2, 0.3);
        let e: Vec<f64> = r
            .error
            .iter()
            .map(|v| (v * 100.0).round() / 100.0)
            .collect();
        assert_eq!(e, [0.1, 0.5, 0.5, 0.5, 0.2, 0.05]);
        assert_eq!(r.flag, [false, true, true, true, false, false]);
        assert_eq!(r.top_feature[1], Some(0));
        assert_eq!(r.top_feature[0], Some(1));
        assert!((r.score[1] - 100.0 * 0.5 / 0.8).abs() < 1e-6);
        assert!((normalised_score(0.3, 0.3) - 50.0).abs() < 1e-12);
    }

    #[test]
    fn the_worst_window_per_row_matches_a_scan_of_every_covering_window() {
        let mut rng = crate::data::rng::Rng::new(5);
        for case in 0..50 {
            let length = 1 + case % 7;
            let rows = 30 + case;
            // Some windows skipped (as for missing values), ties common.
            let starts: Vec<usize> = (0..=rows - length)
                .filter(|_| rng.uniform() > 0.2)
                .collect();
            let errors: Vec<f32> = starts
                .iter()
                .map(|_| (rng.uniform() * 4.0).floor() as f32)
                .collect();
            let features = 2;
            let feature_errors: Vec<f32> = (0..starts.len() * features)
                .map(|_| rng.uniform() as f32)
                .collect();
            let got = row_scores(
                rows,
                length,
                &starts,
                &errors,
                &feature_errors,
                features,
                1.5,
            );
            // The reference: every row against every window covering it,
            // the earliest among equals.
            for row in 0..rows {
                let mut best: Option<usize> = None;
                for (w, &start) in starts.iter().enumerate() {
                    if start <= row && row < start + length {
                        match best {
                            Some(b) if errors[b] >= errors[w] => {}
                            _ => best = Some(w),
                        }
                    }
                }
                match best {
                    Some(w) => {
                        assert_eq!(
                            got.error[row],
                            f64::from(errors[w]),
                            "case {case} row {row}"
                        );
                        let per = &feature_errors[w * features..(w + 1) * features];
                        let top = if per[1] > per[0] { 1 } else { 0 };
                        assert_eq!(got.top_feature[row], Some(top), "case {case} row {row}");
                    }
                    None => assert!(got.error[row].is_nan() && got.top_feature[row].is_none()),
                }
            }
        }
    }
}
