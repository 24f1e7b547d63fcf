//! Keeping models fresh without a person: retraining on a schedule, early
//! retraining on drift, and the bookkeeping of training jobs (their progress
//! for `GET /train/{id}`, their outcome for the history). Time comes from a
//! [`Clock`], so tests can move it by hand.
//!
//! The drift rule: once at least [`DRIFT_MIN_WINDOWS`] windows have been
//! scored since the model was trained, drift is declared when the *median*
//! error of those recent windows is above the 95th percentile of the
//! training windows' errors. A median moves only when most recent windows
//! fit worse than nearly all training windows did, so short anomalies (a
//! spike covers a few dozen windows at most) never trigger it; a changed
//! regime (a new level, a new daily shape) does. A drift retrain is tried at
//! most once per [`DRIFT_COOLDOWN_MS`], so a failing retrain does not loop.

use std::time::Duration;

use crate::detect::store::SavedModel;

mod entities;
mod keeper;
#[cfg(test)]
mod tests;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use entities::{enough_rows, rows_needed, training_rows_kept};
pub use keeper::{EntityJobProgress, EntityNews, Finished, ModelKeeper, StartError, TrainJobState};

/// Recent windows needed before drift is judged.
pub const DRIFT_MIN_WINDOWS: usize = 60;
/// Least time between two drift retrains.
pub const DRIFT_COOLDOWN_MS: i64 = 15 * 60 * 1000;
/// Without a model, a failed first training is retried this soon (or at the
/// retrain interval, if shorter): there is nothing to fall back on.
pub const FIRST_MODEL_RETRY_MS: i64 = 60 * 1000;
/// Complete windows (no missing value) a retrain needs beyond one window's
/// rows: a Prometheus that started a minute ago has mostly gaps.
pub const MIN_TRAINING_WINDOWS: usize = 16;

/// "Every `interval`, counted from the last run."
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    interval_ms: i64,
    last_ms: Option<i64>,
}

impl Schedule {
    /// `last_ms`: when it last ran (`None`: never, so due at once).
    pub fn new(interval: Duration, last_ms: Option<i64>) -> Self {
        Self {
            interval_ms: interval.as_millis() as i64,
            last_ms,
        }
    }

    pub fn due(&self, now_ms: i64) -> bool {
        self.next_due_ms().is_none_or(|next| now_ms >= next)
    }

    pub fn next_due_ms(&self) -> Option<i64> {
        self.last_ms.map(|last| last + self.interval_ms)
    }

    pub fn mark(&mut self, now_ms: i64) {
        self.last_ms = Some(now_ms);
    }
}

/// Why a retrain started.
#[derive(Debug, Clone, PartialEq)]
pub enum RetrainReason {
    /// There is no usable model yet.
    NoModel,
    /// `lstm_model.retrain_interval` has passed.
    Scheduled,
    /// The drift rule fired; the text says by how much.
    Drift(String),
    /// A person asked (`POST /train`, the Train button).
    Manual,
}

impl std::fmt::Display for RetrainReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RetrainReason::NoModel => f.write_str("no model yet"),
            RetrainReason::Scheduled => f.write_str("scheduled"),
            RetrainReason::Drift(why) => write!(f, "drift: {why}"),
            RetrainReason::Manual => f.write_str("manual"),
        }
    }
}

/// The drift rule (see the module doc): `Some(explanation)` when it fires.
pub fn drift(recent_errors: &[f32], model: &SavedModel) -> Option<String> {
    let reference = model.meta.training_error_p95?;
    if recent_errors.len() < DRIFT_MIN_WINDOWS {
        return None;
    }
    let median = crate::detect::score::percentile(recent_errors, 50.0);
    (median > reference).then(|| {
        format!(
            "the median error of the last {} windows, {median:.5}, is above the training windows' 95th percentile, {reference:.5}",
            recent_errors.len()
        )
    })
}

/// The errors of the windows (over rows with timestamps `stamps`) whose last
/// row is newer than the model's training data: what the drift rule judges.
pub fn errors_since_training(errors: &[f32], stamps: &[i64], model: &SavedModel) -> Vec<f32> {
    let trained_until =
        crate::data::time::parse_timestamp_ms(&model.meta.training_span.1).unwrap_or(i64::MIN);
    let length = model.meta.config.sequence_length;
    // Window i covers rows i .. i + length.
    errors
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            stamps
                .get(i + length - 1)
                .is_some_and(|t| *t > trained_until)
        })
        .map(|(_, e)| *e)
        .collect()
}

/// Why the model in use should be retrained at `now_ms`, if it should: the
/// `schedule` is due, or between scheduled retrains the drift rule fires on
/// `recent_errors` (at most once per [`DRIFT_COOLDOWN_MS`] after the last
/// drift attempt). [`ModelKeeper::due`] decides with it, for the daemon and
/// the app alike.
fn retrain_due(
    schedule: &Schedule,
    last_drift_attempt_ms: Option<i64>,
    now_ms: i64,
    recent_errors: &[f32],
    model: &SavedModel,
) -> Option<RetrainReason> {
    if schedule.due(now_ms) {
        return Some(RetrainReason::Scheduled);
    }
    let cooled = last_drift_attempt_ms.is_none_or(|last| now_ms - last >= DRIFT_COOLDOWN_MS);
    cooled
        .then(|| drift(recent_errors, model))
        .flatten()
        .map(RetrainReason::Drift)
}
