//! The LSTM autoencoder end to end on real files: parity with the PyTorch
//! peer, persistence (atomic, corrupt files, the previous model), cancel,
//! and the `train` / `detect` commands.

use std::sync::atomic::{AtomicBool, Ordering};

use pulsewatch::config::{Config, LstmConfig};
use pulsewatch::data::{self, MetricFrame};
use pulsewatch::detect::{self, DetectError, store};
use pulsewatch::eval;

use crate::support::{pulsewatch, repo_path, stderr, stdout};

fn lstm_config(extra: &str) -> LstmConfig {
    Config::from_yaml_str(&format!("lstm_model:\n  device: cpu\n{extra}"), "t.yml")
        .unwrap()
        .lstm
}

fn peer_file() -> MetricFrame {
    data::read_csv(&repo_path("tests/fixtures/metrics_10k.csv"))
        .unwrap()
        .frame
}

/// The reference run (shared/reference/peer-results.md: PyTorch, 10 epochs,
/// final loss 0.00190, threshold 0.0392, F1 0.296 on metrics_10k.csv).
#[test]
fn reference_settings_match_the_pytorch_peer() {
    let frame = peer_file();
    let cancel = AtomicBool::new(false);
    let mut events = 0;
    let (saved, outcome) =
        detect::train_model(&frame, &lstm_config(""), &mut |_| events += 1, &cancel).unwrap();
    assert_eq!(outcome.epochs_run, 10);
    assert_eq!(events, 10 * 9951usize.div_ceil(64));
    assert_eq!(saved.meta.training_windows, 9951);
    assert!(
        outcome.final_loss < 2.0 * 0.0019 && outcome.final_loss > 0.0019 / 2.0,
        "final loss {}",
        outcome.final_loss
    );
    assert!(outcome.epoch_losses[9] < outcome.epoch_losses[0]);
    let scores = detect::score_frame(&saved, &frame).unwrap();
    let m = eval::point_metrics(&scores.rows.flag, frame.labels().unwrap());
    assert!((m.f1 - 0.296).abs() <= 0.05, "F1 {} (peer 0.296)", m.f1);
    // The p99 rule flags about 1 % of windows.
    let over = scores
        .window_errors
        .iter()
        .filter(|e| f64::from(**e) > scores.threshold)
        .count();
    assert!(
        (95..=105).contains(&over),
        "{over} windows over the threshold"
    );
    assert!(scores.top_metric(5000).is_some());
}

fn small_frame(rows: usize) -> MetricFrame {
    data::generate_sample(&data::SampleSpec {
        rows,
        ..data::SampleSpec::default()
    })
}

#[test]
fn saves_atomically_and_survives_a_corrupt_file() {
    let dir = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let config = lstm_config("  epochs: 1\n  sequence_length: 10\n  hidden_size: 8\n");
    let frame = small_frame(300);
    let (first, _) = detect::train_model(&frame, &config, &mut |_| {}, &cancel).unwrap();
    store::save(dir.path(), &first.model, &first.meta).unwrap();
    let loaded = store::load(dir.path()).unwrap();
    assert_eq!(loaded.model, first.model);
    assert_eq!(loaded.meta.feature_names, ["cpu", "memory", "latency"]);
    assert_eq!(loaded.meta.threshold, first.meta.threshold);

    let config2 = lstm_config("  epochs: 1\n  sequence_length: 10\n  hidden_size: 8\n  seed: 7\n");
    let (second, _) = detect::train_model(&frame, &config2, &mut |_| {}, &cancel).unwrap();
    store::save(dir.path(), &second.model, &second.meta).unwrap();
    assert_eq!(store::load(dir.path()).unwrap().model, second.model);

    // Truncate the current weights: a clear error, and the previous model loads.
    let weights = dir.path().join("current/weights.bin");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let error = store::load(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("weights.bin") && error.contains("truncated"),
        "{error}"
    );
    assert_eq!(store::load_previous(dir.path()).unwrap().model, first.model);

    // Same length, flipped bytes: the checksum catches it.
    let mut flipped = bytes.clone();
    flipped[100] ^= 0xFF;
    std::fs::write(&weights, &flipped).unwrap();
    let error = store::load(dir.path()).unwrap_err().to_string();
    assert!(error.contains("checksum mismatch"), "{error}");

    // A newer format version is named.
    let meta_path = dir.path().join("previous/model.json");
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(
        &meta_path,
        text.replace("\"format_version\": 1", "\"format_version\": 9"),
    )
    .unwrap();
    let error = store::load_previous(dir.path()).unwrap_err().to_string();
    assert!(
        error.contains("format version 9 is not supported"),
        "{error}"
    );
    // No staging directories are left behind.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[test]
fn scoring_says_which_features_are_missing() {
    let cancel = AtomicBool::new(false);
    let config = lstm_config("  epochs: 1\n  sequence_length: 10\n  hidden_size: 4\n");
    let (saved, _) = detect::train_model(&small_frame(200), &config, &mut |_| {}, &cancel).unwrap();
    let other = MetricFrame::new(
        (0..50).map(|i| i * 30_000).collect(),
        vec!["cpu".into(), "mem".into()],
        vec![vec![1.0; 50], vec![2.0; 50]],
        None,
    )
    .unwrap();
    let error = detect::score_frame(&saved, &other).unwrap_err();
    assert_eq!(
        error.to_string(),
        "the data do not match the model: the model was trained on [cpu, memory, latency]; \
         the data lack [memory, latency] (the data have [cpu, mem])"
    );
}

#[test]
fn cancel_stops_within_one_batch_and_missing_values_are_skipped() {
    let cancel = AtomicBool::new(false);
    let config =
        lstm_config("  epochs: 5\n  sequence_length: 10\n  hidden_size: 4\n  batch_size: 16\n");
    let mut frame = small_frame(400);
    let mut calls = 0;
    let error = detect::train_model(
        &frame,
        &config,
        &mut |_| {
            calls += 1;
            cancel.store(true, Ordering::Relaxed);
        },
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(error, DetectError::Cancelled));
    assert_eq!(calls, 1);

    // Two missing values knock out the windows covering them.
    let mut cpu = frame.column("cpu").unwrap().to_vec();
    cpu[100] = f64::NAN;
    cpu[300] = f64::NAN;
    let columns = vec![
        cpu,
        frame.column("memory").unwrap().to_vec(),
        frame.column("latency").unwrap().to_vec(),
    ];
    frame = MetricFrame::new(
        frame.timestamps_ms().to_vec(),
        frame.names().to_vec(),
        columns,
        None,
    )
    .unwrap();
    let ok = AtomicBool::new(false);
    let config = lstm_config("  epochs: 1\n  sequence_length: 10\n  hidden_size: 4\n");
    let (saved, _) = detect::train_model(&frame, &config, &mut |_| {}, &ok).unwrap();
    assert_eq!(saved.meta.skipped_windows, 20);
    assert_eq!(saved.meta.training_windows, 391 - 20);
    let scores = detect::score_frame(&saved, &frame).unwrap();
    assert_eq!(scores.skipped_windows, 20);
    assert!(scores.rows.error[100].is_nan() && !scores.rows.flag[100]);
    assert!(scores.rows.error[99].is_finite());
}

#[test]
fn train_and_detect_commands_write_a_model_and_scores() {
    let home = tempfile::tempdir().unwrap();
    let file = repo_path("tests/fixtures/metrics_10k.csv");
    let file = file.to_str().unwrap();
    std::fs::write(
        home.path().join("c.yml"),
        "lstm_model:\n  epochs: 1\n  hidden_size: 8\n  device: cpu\n",
    )
    .unwrap();
    let output = pulsewatch(
        home.path(),
        &["--config", "c.yml", "train", "--csv", file, "--epochs", "2"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("trained 2 epochs"), "{out}");
    // save_path is relative: it lives under the platform data dir.
    let model = home
        .path()
        .join("data/pulsewatch/models/lstm_model/current/model.json");
    assert!(model.is_file(), "{out}");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(meta["epochs"], 2);
    assert_eq!(meta["training_rows"], 10_000);
    assert!(meta["device"].as_str().unwrap().starts_with("cpu ("));

    let output = pulsewatch(
        home.path(),
        &[
            "--config", "c.yml", "detect", "--csv", file, "--out", "s.csv", "--json",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["rows"], 10_000);
    assert_eq!(summary["windows"], 9951);
    assert!(summary["metrics"]["f1"].as_f64().unwrap() >= 0.0);
    let scores = std::fs::read_to_string(home.path().join("s.csv")).unwrap();
    let mut lines = scores.lines();
    assert_eq!(
        lines.next(),
        Some("timestamp,error,score,anomalous,top_metric")
    );
    let first: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(first[0], "2026-01-01T00:00:00Z");
    assert!(
        ["cpu", "memory", "latency"].contains(&first[4]),
        "{first:?}"
    );
    assert_eq!(scores.lines().count(), 10_001);

    // No model yet in another place: a clear error, exit 1.
    let output = pulsewatch(
        home.path(),
        &["detect", "--csv", file, "--model", "nowhere"],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("nowhere/model.json: no model here (train one first)"));
}
