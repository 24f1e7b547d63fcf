//! `pulsewatch train`, `pulsewatch detect` and `pulsewatch bench lstm`: the
//! LSTM autoencoder from the command line.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{DeviceArg, UsageError, median, peak_rss_mb, print_against_labels};
use crate::config::{self, Config, DevicePreference};
use crate::data::{self, time};
use crate::{detect, eval};

fn model_dir(config: &Config, explicit: Option<PathBuf>) -> PathBuf {
    explicit.unwrap_or_else(|| config::resolve_data_path(&config.lstm.save_path))
}

pub fn train(
    config_path: Option<&Path>,
    csv: &Path,
    epochs: Option<usize>,
    device: Option<DeviceArg>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let (mut config, _) = Config::load(config_path)?;
    if let Some(epochs) = epochs {
        if epochs == 0 {
            return Err(UsageError("--epochs: expected at least 1".into()).into());
        }
        config.lstm.epochs = epochs;
    }
    if let Some(device) = device {
        config.lstm.device = device_preference(device);
    }
    let load = data::read_csv(csv)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", csv.display());
    }
    let device = detect::resolve_device(config.lstm.device)?;
    eprintln!(
        "training on {} rows × {} metrics ({}), device {device}",
        load.frame.len(),
        load.frame.names().len(),
        load.frame.names().join(", ")
    );
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "epoch {msg} [{bar:30}] {pos}/{len} batches, eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let mut on_progress = |p: &detect::TrainProgress| {
        bar.set_length((p.batches * p.epochs) as u64);
        bar.set_position(((p.epoch - 1) * p.batches + p.batch) as u64);
        bar.set_message(format!(
            "{}/{} loss {:.5} ({:.0} windows/s)",
            p.epoch, p.epochs, p.loss, p.windows_per_sec
        ));
    };
    let (saved, outcome) =
        detect::train_model(&load.frame, &config.lstm, &mut on_progress, &cancel)?;
    bar.finish_and_clear();
    let dir = model_dir(&config, out);
    let path = detect::store::save(&dir, &saved.model, &saved.meta)?;
    outln!(
        "trained {} epochs in {:.2} s: final loss {:.6}, threshold {:.6} ({}), {} windows ({} skipped)",
        outcome.epochs_run,
        outcome.duration.as_secs_f64(),
        outcome.final_loss,
        saved.meta.threshold,
        saved.meta.threshold_rule,
        saved.meta.training_windows,
        saved.meta.skipped_windows
    );
    outln!("saved model to {}", path.display());
    Ok(())
}

pub fn detect(
    config_path: Option<&Path>,
    csv: &Path,
    model: Option<PathBuf>,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    let dir = model_dir(&config, model);
    let saved = detect::store::load(&dir)?;
    let load = data::read_csv(csv)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", csv.display());
    }
    let frame = &load.frame;
    let started = std::time::Instant::now();
    let scores = detect::score_frame(&saved, frame)?;
    let seconds = started.elapsed().as_secs_f64();
    if let Some(out) = out {
        let mut text = String::from("timestamp,error,score,anomalous,top_metric\n");
        for row in 0..frame.len() {
            let error = scores.rows.error[row];
            let _ = writeln!(
                text,
                "{},{},{},{},{}",
                time::format_rfc3339_ms(frame.timestamps_ms()[row]),
                if error.is_nan() {
                    String::new()
                } else {
                    format!("{error:.6}")
                },
                if error.is_nan() {
                    String::new()
                } else {
                    format!("{:.2}", scores.rows.score[row])
                },
                u8::from(scores.rows.flag[row]),
                scores.top_metric(row).unwrap_or("")
            );
        }
        crate::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let anomalous = scores.rows.flag.iter().filter(|f| **f).count();
    let metrics = frame
        .labels()
        .map(|labels| eval::point_metrics(&scores.rows.flag, labels));
    if json {
        let summary = serde_json::json!({
            "rows": frame.len(),
            "windows": scores.window_errors.len(),
            "skipped_windows": scores.skipped_windows,
            "threshold": scores.threshold,
            "anomalous_rows": anomalous,
            "score_seconds": seconds,
            "metrics": metrics,
        });
        outln!("{summary}");
    } else {
        outln!(
            "scored {} windows in {:.3} s: {anomalous} of {} rows anomalous (threshold {:.6})",
            scores.window_errors.len(),
            seconds,
            frame.len(),
            scores.threshold
        );
        if let Some(m) = metrics {
            print_against_labels(&m)?;
        }
    }
    Ok(())
}

/// The PyTorch peer on the same files and machine
/// (shared/reference/peer-results.md): train s, score s, final loss, F1, RSS MB.
fn lstm_peer(file: &Path) -> Option<(f64, f64, f64, f64, f64)> {
    let name = file.file_name()?.to_str()?;
    if name.contains("metrics_100k") {
        Some((181.0, 2.4, 0.00057, 0.133, 1000.0))
    } else if name.contains("metrics_10k") {
        Some((14.9, 0.17, 0.00190, 0.296, 1100.0))
    } else {
        None
    }
}

fn device_preference(device: DeviceArg) -> DevicePreference {
    match device {
        DeviceArg::Auto => DevicePreference::Auto,
        DeviceArg::Gpu => DevicePreference::Gpu,
        DeviceArg::Cpu => DevicePreference::Cpu,
    }
}

pub fn bench_lstm(
    files: &[PathBuf],
    runs: usize,
    epochs: usize,
    device: DeviceArg,
) -> anyhow::Result<()> {
    if runs == 0 || epochs == 0 {
        return Err(UsageError("--runs and --epochs must be at least 1".into()).into());
    }
    let files = if files.is_empty() {
        vec![PathBuf::from("tests/fixtures/metrics_10k.csv")]
    } else {
        files.to_vec()
    };
    let mut lstm = Config::builtin()?.lstm;
    lstm.epochs = epochs;
    lstm.device = device_preference(device);
    let device = detect::resolve_device(lstm.device)?;
    outln!("# pulsewatch bench lstm: {device}, {epochs} epochs, median of {runs} runs");
    outln!();
    outln!(
        "| file | windows | train s (peer) | ratio | score s (peer) | ratio | final loss (peer) | F1 (peer) |"
    );
    outln!("|---|---|---|---|---|---|---|---|");
    for file in &files {
        let frame = data::read_csv(file)?.frame;
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let (mut train_secs, mut score_secs) = (Vec::new(), Vec::new());
        let mut last = None;
        for _ in 0..runs {
            let (saved, outcome) = detect::train_on(&frame, &lstm, &device, &mut |_| {}, &cancel)?;
            train_secs.push(outcome.duration.as_secs_f64());
            let started = std::time::Instant::now();
            let scores = detect::score_on(&saved, &frame, &device)?;
            score_secs.push(started.elapsed().as_secs_f64());
            last = Some((outcome, scores));
        }
        let Some((outcome, scores)) = last else {
            continue;
        };
        let f1 = frame
            .labels()
            .map(|labels| eval::point_metrics(&scores.rows.flag, labels).f1);
        let (train, score) = (median(&mut train_secs), median(&mut score_secs));
        let peer = lstm_peer(file);
        let cell = |ours: f64, theirs: Option<f64>, digits: usize| match theirs {
            Some(t) => format!("{ours:.digits$} ({t})"),
            None => format!("{ours:.digits$}"),
        };
        let ratio = |ours: f64, theirs: Option<f64>| {
            theirs.map_or("–".to_owned(), |t| format!("{:.1}× faster", t / ours))
        };
        outln!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            file.display(),
            scores.window_errors.len(),
            cell(train, peer.map(|p| p.0), 2),
            ratio(train, peer.map(|p| p.0)),
            cell(score, peer.map(|p| p.1), 3),
            ratio(score, peer.map(|p| p.1)),
            cell(outcome.final_loss, peer.map(|p| p.2), 5),
            f1.map_or("–".to_owned(), |f| cell(f, peer.map(|p| p.3), 3)),
        );
    }
    if let Some(rss) = peak_rss_mb() {
        outln!();
        outln!("peak RSS of this process: {rss:.0} MB (PyTorch peer: 1,100 MB at 10k)");
    }
    Ok(())
}
