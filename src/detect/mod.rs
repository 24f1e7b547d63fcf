//! Detection with the LSTM autoencoder: scaling and windows, the model (one
//! definition for every path), training as a job with progress and cancel,
//! thresholds, per-row scores, and persistence. The online (streaming)
//! detectors are in [`online`].
//!
//! The GPU path ([`gpu`], burn on wgpu) is built with the `gpu` feature (on
//! by default); without it, `device: gpu` is an error and everything runs
//! on the CPU path.

pub mod cpu;
pub mod entities;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod model;
pub mod online;
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
    /// The hand-written kernels on the CPU.
    Cpu { simd: &'static str, threads: usize },
    /// burn on a wgpu adapter.
    #[cfg(feature = "gpu")]
    Gpu { adapter: gpu::Adapter },
}

impl std::fmt::Display for ComputeDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ComputeDevice::Cpu { simd, threads } => write!(f, "cpu ({simd}, {threads} threads)"),
            #[cfg(feature = "gpu")]
            ComputeDevice::Gpu { adapter } => write!(f, "gpu ({adapter})"),
        }
    }
}

fn cpu_device() -> ComputeDevice {
    ComputeDevice::Cpu {
        simd: cpu::simd_level(),
        threads: train::default_threads(),
    }
}

/// Picks the device for `preference`: `auto` and `cpu` take the CPU path,
/// `gpu` a hardware wgpu adapter (a software rasteriser such as lavapipe
/// counts as none) and fails, naming what it found, when there is none.
///
/// `auto` does not take the GPU even where there is one because on a real
/// card the GPU path is far slower for this model: on an H100 (Vulkan,
/// 2026-11-26) burn on wgpu took 30.4 s for one epoch on 10k rows, while the
/// CPU path on the same machine trained ten epochs in 2.0 s
/// (`benches/README.md`). The model is too small, and its LSTM steps too
/// sequential, for per-step kernel launches to pay off.
///
/// A build without the `gpu` feature has no GPU path: `gpu` fails saying so.
pub fn resolve_device(preference: DevicePreference) -> Result<ComputeDevice, DetectError> {
    if preference != DevicePreference::Gpu {
        return Ok(cpu_device());
    }
    resolve_gpu()
}

/// `device: gpu` in a build without the `gpu` feature: there is no GPU
/// path to take.
#[cfg(not(feature = "gpu"))]
fn resolve_gpu() -> Result<ComputeDevice, DetectError> {
    Err(DetectError::NoGpu {
        reason: "this build of PulseWatch has no GPU support (it was built without the \
                 `gpu` feature); use `device: cpu` or `auto`, or rebuild with the default \
                 features (`cargo build --release`), which include `gpu`"
            .to_owned(),
    })
}

/// The GPU a `device: gpu` asks for: a hardware wgpu adapter.
#[cfg(feature = "gpu")]
fn resolve_gpu() -> Result<ComputeDevice, DetectError> {
    let adapters = gpu::adapters();
    if let Some(adapter) = adapters.iter().find(|a| !a.software) {
        return Ok(ComputeDevice::Gpu {
            adapter: adapter.clone(),
        });
    }
    let reason = if adapters.is_empty() {
        "wgpu found no adapter (no Vulkan, Metal, DX12 or GL driver)".to_owned()
    } else {
        format!(
            "wgpu found only software adapters: {}",
            adapters
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Err(DetectError::NoGpu { reason })
}

/// Scores for every row of a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Scores {
    pub rows: RowScores,
    pub feature_names: Vec<String>,
    pub threshold: f64,
    pub window_errors: Vec<f32>,
    /// The first row of each scored window (windows with a missing value
    /// are skipped, so not every row starts one).
    pub window_starts: Vec<usize>,
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
pub fn train_model(
    frame: &MetricFrame,
    lstm: &LstmConfig,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<(SavedModel, TrainOutcome), DetectError> {
    let device = resolve_device(lstm.device)?;
    train_on(frame, lstm, &device, progress, cancel)
}

/// [`train_model`] on a device already chosen (tests pick the software adapter).
pub fn train_on(
    frame: &MetricFrame,
    lstm: &LstmConfig,
    device: &ComputeDevice,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<(SavedModel, TrainOutcome), DetectError> {
    train_threads(
        frame,
        lstm,
        device,
        train::default_threads(),
        progress,
        cancel,
    )
}

/// [`train_on`] with the CPU path's batches split over `threads` threads (a
/// pool training many entities at once gives each model one).
pub fn train_threads(
    frame: &MetricFrame,
    lstm: &LstmConfig,
    device: &ComputeDevice,
    threads: usize,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<(SavedModel, TrainOutcome), DetectError> {
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
    let threads = threads.max(1);
    let settings = settings_from(lstm, threads);
    let outcome = match device {
        ComputeDevice::Cpu { .. } => {
            train::train_cpu(&mut model, &set, &settings, progress, cancel)
        }
        #[cfg(feature = "gpu")]
        ComputeDevice::Gpu { adapter } => {
            let burn_device = gpu::burn_device(adapter.software);
            gpu::train_gpu(&mut model, &set, &settings, &burn_device, progress, cancel)
        }
    };
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
        created_at: format_rfc3339_ms(crate::clock::now_ms()),
        train_seconds: outcome.duration.as_secs_f64(),
        weights_bytes: 0,
        weights_checksum: String::new(),
        training_error_p50: Some(score::percentile(&errors, 50.0)),
        training_error_p95: Some(score::percentile(&errors, 95.0)),
        entity: None,
    };
    Ok((SavedModel { model, meta }, outcome))
}

/// The model's feature columns of `frame`, in the model's order; says
/// exactly which are missing.
pub(crate) fn select_features(
    saved: &SavedModel,
    frame: &MetricFrame,
) -> Result<MetricFrame, DetectError> {
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
/// threshold), on the CPU.
pub fn score_frame(saved: &SavedModel, frame: &MetricFrame) -> Result<Scores, DetectError> {
    score_on(saved, frame, &cpu_device())
}

/// [`score_frame`] on a chosen device.
pub fn score_on(
    saved: &SavedModel,
    frame: &MetricFrame,
    device: &ComputeDevice,
) -> Result<Scores, DetectError> {
    let selected = select_features(saved, frame)?;
    let length = saved.meta.config.sequence_length;
    let features = selected.names().len();
    let set = WindowSet::new(saved.meta.scaler.transform(&selected), features, length);
    if set.starts.is_empty() {
        return Err(DetectError::NoWindows { action: "score" });
    }
    let (errors, feature_errors) = match device {
        ComputeDevice::Cpu { threads, .. } => train::score_windows(&saved.model, &set, *threads),
        #[cfg(feature = "gpu")]
        ComputeDevice::Gpu { adapter } => {
            gpu::score_windows_gpu(&saved.model, &set, &gpu::burn_device(adapter.software))
        }
    };
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
        window_starts: set.starts,
        skipped_windows: set.skipped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_cpu_path_whatever_adapters_exist() {
        // The measured GPU path is slower for this model (see resolve_device).
        for preference in [DevicePreference::Auto, DevicePreference::Cpu] {
            let device = resolve_device(preference).expect("the CPU is always there");
            assert!(
                matches!(device, ComputeDevice::Cpu { .. }),
                "{preference:?} gave {device}"
            );
        }
    }

    #[cfg(not(feature = "gpu"))]
    #[test]
    fn without_the_gpu_feature_gpu_says_how_to_get_it() {
        let error = resolve_device(DevicePreference::Gpu).expect_err("no GPU path in this build");
        let message = error.to_string();
        assert!(matches!(error, DetectError::NoGpu { .. }), "{error:?}");
        assert!(message.contains("no GPU support"), "{message}");
        assert!(message.contains("cargo build --release"), "{message}");
        assert!(message.contains("`gpu`"), "{message}");
    }
}
