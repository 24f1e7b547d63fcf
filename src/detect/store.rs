//! Model persistence: `model.json` (format version, hyperparameters,
//! scaler, threshold, provenance, checksum of the weights) beside
//! `weights.bin`, in `<save_path>/current/`. A save writes a staging
//! directory (fsync'd), moves `current` to `previous`, then renames staging
//! to `current`: a crash or a corrupt file never leaves no loadable model.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::DetectError;
use super::model::{LstmAe, ModelConfig};
use super::windows::MinMaxScaler;

pub const FORMAT_VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"PWLSTM01";

/// Everything about a trained model besides its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format_version: u32,
    pub config: ModelConfig,
    pub feature_names: Vec<String>,
    pub scaler: MinMaxScaler,
    pub threshold: f64,
    /// "percentile 99" or "fixed 0.025".
    pub threshold_rule: String,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// First and last training timestamps (RFC 3339).
    pub training_span: (String, String),
    pub training_rows: usize,
    pub training_windows: usize,
    pub skipped_windows: usize,
    pub final_loss: f64,
    /// Where it was trained, e.g. "cpu (avx512, 2 threads)".
    pub device: String,
    pub created_at: String,
    pub train_seconds: f64,
    pub weights_bytes: u64,
    /// FNV-1a 64 of `weights.bin`.
    pub weights_checksum: String,
    /// Median and 95th percentile of the training windows' errors: the
    /// reference the drift rule compares recent errors with. Absent in
    /// models saved before it existed (no drift check for those).
    #[serde(default)]
    pub training_error_p50: Option<f64>,
    #[serde(default)]
    pub training_error_p95: Option<f64>,
    /// The entity whose model this is (`instance="host-003:9100"`), for a
    /// fleet's models per entity; None for a model of a whole data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
}

/// A model ready to score: weights plus metadata.
#[derive(Debug, Clone, PartialEq)]
pub struct SavedModel {
    pub model: LstmAe,
    pub meta: ModelMeta,
}

fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

fn weights_bytes(model: &LstmAe) -> Vec<u8> {
    let flat = model.to_flat();
    let mut bytes = Vec::with_capacity(16 + flat.len() * 4);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(flat.len() as u64).to_le_bytes());
    for v in flat {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    bytes
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Saves into `<dir>/current`, keeping the model it replaces in
/// `<dir>/previous`. Fills in `meta.weights_*`.
pub fn save(dir: &Path, model: &LstmAe, meta: &ModelMeta) -> Result<PathBuf, DetectError> {
    let io_error = |path: &Path, e: std::io::Error| DetectError::ModelWrite {
        path: path.to_owned(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, e))?;
    let staging = dir.join(format!(".staging-{}", std::process::id()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    }
    std::fs::create_dir(&staging).map_err(|e| io_error(&staging, e))?;
    let bytes = weights_bytes(model);
    let mut meta = meta.clone();
    meta.format_version = FORMAT_VERSION;
    meta.config = model.config;
    meta.weights_bytes = bytes.len() as u64;
    meta.weights_checksum = format!("{:016x}", fnv1a64(&bytes));
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| DetectError::ModelFile {
        path: staging.join("model.json"),
        message: format!("cannot encode metadata: {e}"),
    })?;
    let weights_path = staging.join("weights.bin");
    write_synced(&weights_path, &bytes).map_err(|e| io_error(&weights_path, e))?;
    let meta_path = staging.join("model.json");
    write_synced(&meta_path, &json).map_err(|e| io_error(&meta_path, e))?;

    let current = dir.join("current");
    let previous = dir.join("previous");
    if current.exists() {
        if previous.exists() {
            std::fs::remove_dir_all(&previous).map_err(|e| io_error(&previous, e))?;
        }
        std::fs::rename(&current, &previous).map_err(|e| io_error(&current, e))?;
    }
    crate::crashpoint::crash_point("model-save");
    std::fs::rename(&staging, &current).map_err(|e| io_error(&current, e))?;
    // Make the renames durable too.
    if let Ok(handle) = std::fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(current)
}

/// Loads `<dir>/current` (or a version directory given directly). When a
/// save was interrupted between moving `current` aside and putting the new
/// one in place, there is only `previous`: that is the model in use.
pub fn load(dir: &Path) -> Result<SavedModel, DetectError> {
    let (current, previous) = (dir.join("current"), dir.join("previous"));
    let version_dir = if current.is_dir() {
        current
    } else if previous.is_dir() {
        previous
    } else {
        dir.to_owned()
    };
    load_version(&version_dir)
}

/// Loads the model the last save replaced.
pub fn load_previous(dir: &Path) -> Result<SavedModel, DetectError> {
    load_version(&dir.join("previous"))
}

fn load_version(dir: &Path) -> Result<SavedModel, DetectError> {
    let meta_path = dir.join("model.json");
    let file_error = |path: &Path, message: String| DetectError::ModelFile {
        path: path.to_owned(),
        message,
    };
    let json = std::fs::read(&meta_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            file_error(&meta_path, "no model here (train one first)".to_owned())
        } else {
            file_error(&meta_path, e.to_string())
        }
    })?;
    // Check the version before the rest, so a newer file says so plainly.
    #[derive(Deserialize)]
    struct VersionOnly {
        format_version: u32,
    }
    let version: VersionOnly = serde_json::from_slice(&json)
        .map_err(|e| file_error(&meta_path, format!("not a PulseWatch model file: {e}")))?;
    if version.format_version != FORMAT_VERSION {
        return Err(file_error(
            &meta_path,
            format!(
                "format version {} is not supported (this build reads version {FORMAT_VERSION})",
                version.format_version
            ),
        ));
    }
    let meta: ModelMeta = serde_json::from_slice(&json)
        .map_err(|e| file_error(&meta_path, format!("corrupt metadata: {e}")))?;
    let weights_path = dir.join("weights.bin");
    let bytes =
        std::fs::read(&weights_path).map_err(|e| file_error(&weights_path, e.to_string()))?;
    if bytes.len() as u64 != meta.weights_bytes {
        return Err(file_error(
            &weights_path,
            format!(
                "truncated or corrupt: {} bytes, expected {}",
                bytes.len(),
                meta.weights_bytes
            ),
        ));
    }
    if format!("{:016x}", fnv1a64(&bytes)) != meta.weights_checksum {
        return Err(file_error(
            &weights_path,
            "checksum mismatch: the weights do not belong to this model.json".to_owned(),
        ));
    }
    if &bytes[..8] != MAGIC {
        return Err(file_error(
            &weights_path,
            "not a PulseWatch weights file".to_owned(),
        ));
    }
    let flat: Vec<f32> = bytes[16..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let model = LstmAe::from_flat(meta.config, &flat).ok_or_else(|| {
        file_error(
            &weights_path,
            format!(
                "{} parameters, but the hyperparameters need {}",
                flat.len(),
                meta.config.parameter_count()
            ),
        )
    })?;
    Ok(SavedModel { model, meta })
}
