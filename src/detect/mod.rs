//! Detection with the LSTM autoencoder: scaling and windows, the model (one
//! definition for every path), training as a job with progress and cancel,
//! thresholds, per-row scores, and persistence.

pub mod cpu;
pub mod model;
pub mod score;
pub mod store;
pub mod train;
pub mod windows;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::config::{DevicePreference, LstmConfig, ThresholdRule};
use crate::data::MetricFrame;
use crate::data::time::format_rfc3339_ms;

pub use model::{LstmAe, ModelConfig};
pub use score::RowScores;
pub use store::{ModelMeta, SavedModel};
pub use train::{TrainOutcome, TrainProgress, TrainSettings};
use windows::{MinMaxScaler, WindowSet};

#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error(
        "not enough data to train: {rows} usable rows, the model needs at least {needed} (sequence_length)"
    )]
    TooFewRows { rows: usize, needed: usize },
    #[error("every window contains a missing value: nothing to {action}")]
    NoWindows { action: &'static str },
    #[error("the data do not match the model: {message}")]
    Features { message: String },
    #[error("model file {}: {message}", .path.display())]
    ModelFile { path: PathBuf, message: String },
    #[error("cannot write model file {}", .path.display())]
    ModelWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lstm_model.device is `gpu`, but {reason}")]
    NoGpu { reason: String },
    #[error("training was cancelled")]
    Cancelled,
}

/// Where the work runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputeDevice {
    Cpu { simd: &'static str, threads: usize },
}

impl std::fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComputeDevice::Cpu { simd, threads } => write!(f, "cpu ({simd}, {threads} threads)"),
        }
    }
}

/// Picks the device for `preference`. The GPU path (burn on wgpu) is not in
/// this build yet: `gpu` says so, `auto` uses the CPU.
pub fn resolve_device(preference: DevicePreference) -> Result<ComputeDevice, DetectError> {
    match preference {
        DevicePreference::Gpu => Err(DetectError::NoGpu {
            reason: "this build has no GPU backend".to_owned(),
        }),
        DevicePreference::Auto | DevicePreference::Cpu => Ok(ComputeDevice::Cpu {
            simd: cpu::simd_level(),
            threads: train::default_threads(),
        }),
    }
}

/// Scores for every row of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub rows: RowScores,
    pub feature_names: Vec<String>,
    pub threshold: f64,
    pub window_errors: Vec<f32>,
    pub skipped_windows: usize,
}

impl Scores {
    /// The metric that contributed most to row `row`'s worst window.
    pub fn top_metric(&self, row: usize) -> Option<&str> {
        self.rows.top_feature[row].map(|i| self.feature_names[i].as_str())
    }
}

fn settings_from(lstm: &LstmConfig, threads: usize) -> TrainSettings {
    TrainSettings {
        epochs: lstm.epochs,
        batch_size: lstm.batch_size,
        learning_rate: lstm.learning_rate,
        seed: lstm.seed,
        threads,
    }
}

/// Trains a model on every metric column of `frame` and sets its threshold
/// from the training windows' errors.
pub fn train(
    frame: &MetricFrame,
    lstm: &LstmConfig,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<(SavedModel, TrainOutcome), DetectError> {
    let device = resolve_device(lstm.device)?;
    let ComputeDevice::Cpu { threads, .. } = device;
    let length = lstm.sequence_length;
    if frame.len() < length {
        return Err(DetectError::TooFewRows {
            rows: frame.len(),
            needed: length,
        });
    }
    let scaler = MinMaxScaler::fit(frame);
    let features = frame.names().len();
    let set = WindowSet::new(scaler.transform(frame), features, length);
    if set.starts.is_empty() {
        return Err(DetectError::NoWindows { action: "train on" });
    }
    let config = ModelConfig {
        n_features: features,
        hidden_size: lstm.hidden_size,
        sequence_length: length,
    };
    let mut model = config.init(lstm.seed);
    let outcome = train::train_cpu(
        &mut model,
        &set,
        &settings_from(lstm, threads),
        progress,
        cancel,
    );
    if outcome.cancelled {
        return Err(DetectError::Cancelled);
    }
    let (errors, _) = train::score_windows(&model, &set, threads);
    let (threshold, threshold_rule) = match lstm.threshold {
        ThresholdRule::Percentile(p) => (score::percentile(&errors, p), format!("percentile {p}")),
        ThresholdRule::Fixed(v) => (v, format!("fixed {v}")),
    };
    let stamps = frame.timestamps_ms();
    let meta = ModelMeta {
        format_version: store::FORMAT_VERSION,
        config,
        feature_names: frame.names().to_vec(),
        scaler,
        threshold,
        threshold_rule,
        epochs: lstm.epochs,
        batch_size: lstm.batch_size,
        learning_rate: lstm.learning_rate,
        seed: lstm.seed,
        training_span: (
            format_rfc3339_ms(stamps[0]),
            format_rfc3339_ms(stamps[stamps.len() - 1]),
        ),
        training_rows: frame.len(),
        training_windows: set.starts.len(),
        skipped_windows: set.skipped,
        final_loss: outcome.final_loss,
        device: device.to_string(),
        created_at: format_rfc3339_ms(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64),
        ),
        train_seconds: outcome.duration.as_secs_f64(),
        weights_bytes: 0,
        weights_checksum: String::new(),
    };
    Ok((SavedModel { model, meta }, outcome))
}

/// The model's feature columns of `frame`, in the model's order; says
/// exactly which are missing.
fn select_features(saved: &SavedModel, frame: &MetricFrame) -> Result<MetricFrame, DetectError> {
    let wanted = &saved.meta.feature_names;
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|n| frame.column(n).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(DetectError::Features {
            message: format!(
                "the model was trained on [{}]; the data lack [{}] (the data have [{}])",
                wanted.join(", "),
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                frame.names().join(", ")
            ),
        });
    }
    let columns = wanted
        .iter()
        .filter_map(|n| frame.column(n).map(<[f64]>::to_vec))
        .collect();
    MetricFrame::new(
        frame.timestamps_ms().to_vec(),
        wanted.clone(),
        columns,
        None,
    )
    .map_err(|e| DetectError::Features {
        message: e.to_string(),
    })
}

/// Scores every row of `frame` with a trained model (its scaler and
/// threshold).
pub fn score(saved: &SavedModel, frame: &MetricFrame) -> Result<Scores, DetectError> {
    let selected = select_features(saved, frame)?;
    let length = saved.meta.config.sequence_length;
    let features = selected.names().len();
    let set = WindowSet::new(saved.meta.scaler.transform(&selected), features, length);
    if set.starts.is_empty() {
        return Err(DetectError::NoWindows { action: "score" });
    }
    let (errors, feature_errors) =
        train::score_windows(&saved.model, &set, train::default_threads());
    let rows = score::row_scores(
        selected.len(),
        length,
        &set.starts,
        &errors,
        &feature_errors,
        features,
        saved.meta.threshold,
    );
    Ok(Scores {
        rows,
        feature_names: saved.meta.feature_names.clone(),
        threshold: saved.meta.threshold,
        window_errors: errors,
        skipped_windows: set.skipped,
    })
}
