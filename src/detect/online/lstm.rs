//! The autoencoder as an online detector: trained on the probationary rows,
//! each window's reconstruction error turned into a row likelihood.

use super::likelihood::TailLikelihood;

/// The autoencoder as an online detector of one series: trained on the
/// first `probation` rows only (all a monitor has seen when it starts
/// judging), then row t is scored by the error of the window ending at t,
/// turned into a likelihood against the errors before it. Rows before the
/// end of probation score 0. `None` when the series is too short to train.
pub fn lstm_likelihoods(
    values: &[f64],
    probation: usize,
    lstm: &crate::config::LstmConfig,
) -> Option<Vec<f64>> {
    let stamps: Vec<i64> = (0..values.len() as i64).map(|i| i * 60_000).collect();
    let frame =
        crate::data::MetricFrame::new(stamps, vec!["value".into()], vec![values.to_vec()], None)
            .ok()?;
    lstm_frame_likelihoods(&frame, probation, lstm)
}

/// [`lstm_likelihoods`] over every metric of `frame` at once (one model,
/// one likelihood per row).
pub fn lstm_frame_likelihoods(
    frame: &crate::data::MetricFrame,
    probation: usize,
    lstm: &crate::config::LstmConfig,
) -> Option<Vec<f64>> {
    let length = lstm.sequence_length;
    if probation < length + 16 || frame.len() <= probation {
        return None;
    }
    let head = crate::data::MetricFrame::new(
        frame.timestamps_ms()[..probation].to_vec(),
        frame.names().to_vec(),
        frame
            .columns()
            .iter()
            .map(|c| c[..probation].to_vec())
            .collect(),
        None,
    )
    .ok()?;
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let (model, _) = crate::detect::train_model(&head, lstm, &mut |_| {}, &cancel).ok()?;
    let scores = crate::detect::score_frame(&model, frame).ok()?;
    if scores.skipped_windows > 0 {
        return None;
    }
    let mut out = window_likelihoods(&scores, frame.len(), length);
    out[..probation].fill(0.0);
    Some(out)
}

/// Row likelihoods from an autoencoder's scores of a frame of `rows` rows:
/// row t gets the likelihood of the error of the window ending at t
/// against the errors of the windows before it (rows that end no scored
/// window: 0; a window with a missing value is not scored).
pub fn window_likelihoods(scores: &crate::detect::Scores, rows: usize, length: usize) -> Vec<f64> {
    let mut tail = TailLikelihood::new(5000, 2);
    let mut out = vec![0.0; rows];
    for (error, start) in scores.window_errors.iter().zip(&scores.window_starts) {
        let likelihood = tail.update(f64::from(*error));
        if let Some(slot) = out.get_mut(start + length - 1) {
            *slot = likelihood;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::ALARM_LEVEL;

    #[test]
    fn the_autoencoder_online_flags_a_planted_anomaly_and_never_looks_ahead() {
        let mut rng = Rng::new(11);
        let mut values: Vec<f64> = (0..1200)
            .map(|i| 10.0 + 3.0 * (i as f64 * 0.2).sin() + 0.1 * rng.normal())
            .collect();
        // A burst far outside anything seen, after the probationary rows.
        for v in &mut values[900..903] {
            *v = 25.0;
        }
        let mut lstm = crate::config::Config::builtin().unwrap().lstm;
        lstm.sequence_length = 10;
        lstm.hidden_size = 8;
        lstm.epochs = 20;
        lstm.device = crate::config::DevicePreference::Cpu;
        let probation = 300;
        let full = lstm_likelihoods(&values, probation, &lstm).unwrap();
        assert!(full[..probation].iter().all(|l| *l == 0.0));
        let peak = full[900..915].iter().copied().fold(0.0, f64::max);
        assert!(peak >= ALARM_LEVEL, "{peak}");
        let false_alarms = full[probation..890]
            .iter()
            .filter(|l| **l >= ALARM_LEVEL)
            .count();
        assert!(
            false_alarms <= 5,
            "{false_alarms} alarms before the anomaly"
        );
        // Row t's score does not depend on rows after t.
        let prefix = lstm_likelihoods(&values[..950], probation, &lstm).unwrap();
        assert_eq!(&full[..950], &prefix[..]);
        // Too short to train: no scores rather than made-up ones.
        assert!(lstm_likelihoods(&values[..20], 15, &lstm).is_none());
    }

    #[test]
    fn window_likelihoods_land_on_each_scored_windows_last_row() {
        // Windows of 3 rows starting at 0, 1, 5 and 6 (2, 3 and 4 held a
        // missing value), the last far above the others.
        let errors = [0.1f32, 0.1, 0.1, 9.0];
        let scores = crate::detect::Scores {
            rows: crate::detect::score::RowScores {
                error: vec![0.0; 9],
                flag: vec![false; 9],
                score: vec![0.0; 9],
                top_feature: vec![None; 9],
            },
            feature_names: vec!["x".into()],
            threshold: 1.0,
            window_errors: errors.to_vec(),
            window_starts: vec![0, 1, 5, 6],
            skipped_windows: 3,
        };
        let out = window_likelihoods(&scores, 9, 3);
        let mut tail = TailLikelihood::new(5000, 2);
        let expected: Vec<f64> = errors.iter().map(|e| tail.update(f64::from(*e))).collect();
        assert_eq!(
            out,
            [
                0.0,
                0.0,
                expected[0],
                expected[1],
                0.0,
                0.0,
                0.0,
                expected[2],
                expected[3]
            ]
        );
    }
}
