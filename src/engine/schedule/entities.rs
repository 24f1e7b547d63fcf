//! A fleet's models per entity as the keeper holds them: which entity has
//! a model, which is due for one (no model yet, the schedule counted from
//! its own model's creation, or drift in its own errors), and the pool job
//! that trains the due ones. The rules are the single model's
//! ([`super::retrain_due`]), applied to each entity alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::data::MetricFrame;
use crate::detect::Scores;
use crate::detect::entities::EntityColumns;
use crate::detect::store::SavedModel;
use crate::engine::EntityTrainingJob;

use super::{FIRST_MODEL_RETRY_MS, MIN_TRAINING_WINDOWS, RetrainReason, Schedule, retrain_due};

/// A pool job in progress.
pub(super) struct RunningEntities {
    pub id: u64,
    pub job: EntityTrainingJob,
    pub reason: String,
    pub started_ms: i64,
    pub rows: usize,
    pub done: usize,
    pub failed: Vec<String>,
    pub losses: Vec<f64>,
}

/// The models per entity and their trainings.
#[derive(Default)]
pub(super) struct EntityModels {
    pub models: BTreeMap<String, Arc<SavedModel>>,
    pub running: Option<RunningEntities>,
    /// When each entity's last training started (a failed first training is
    /// retried after [`FIRST_MODEL_RETRY_MS`]; drift waits its cooldown).
    pub last_attempt_ms: BTreeMap<String, i64>,
    /// Models under the model directory that could not be read.
    pub load_errors: Vec<String>,
}

/// The complete rows an entity needs for its first model: a probation's
/// (`detection.probation_rows`), as its online detectors do before they
/// judge, and at least one window plus [`MIN_TRAINING_WINDOWS`]. Measured
/// on the fleet replay (`docs/evaluation.md`): models trained on a 1 h
/// window (120 rows) marked 59 events on the clean hosts, twice the budget
/// of 27; trained on a probation's rows, 24.
pub fn rows_needed(sequence_length: usize, probation_rows: usize) -> usize {
    (sequence_length + MIN_TRAINING_WINDOWS).max(probation_rows)
}

/// How many of live data's newest rows are kept for the models per entity
/// to learn from when each needs `rows` complete ones: an eighth more, so a
/// few missed scrapes do not hold a first model back for a probation.
pub fn training_rows_kept(rows: usize) -> usize {
    rows + rows / 8
}

/// Whether an entity's columns have `rows` complete rows.
pub fn enough_rows(frame: &MetricFrame, entity: &EntityColumns, rows: usize) -> bool {
    complete_rows(frame, &entity.columns) >= rows
}

/// The rows of `frame` where every one of `columns` has a finite value
/// (what a model trains on).
pub fn complete_rows(frame: &MetricFrame, columns: &[usize]) -> usize {
    let values = frame.columns();
    (0..frame.len())
        .filter(|&row| columns.iter().all(|&c| values[c][row].is_finite()))
        .count()
}

impl EntityModels {
    /// The entities of `groups` due for a training at `now_ms`, with why
    /// (the reasons counted, most common first: "no model yet (48), drift
    /// (2)"). A first model: once `ready` says the entity has the rows for
    /// it (asked only of entities without a model whose retry is due).
    /// `scores`: each entity's model's scores of `frame`.
    pub fn due(
        &self,
        frame: &MetricFrame,
        groups: &[EntityColumns],
        scores: &BTreeMap<String, Arc<Scores>>,
        lstm: &crate::config::LstmConfig,
        now_ms: i64,
        ready: &mut dyn FnMut(&EntityColumns) -> bool,
    ) -> Option<(String, Vec<EntityColumns>)> {
        if self.running.is_some() {
            return None;
        }
        let mut due = Vec::new();
        let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
        for entity in groups {
            let last = self.last_attempt_ms.get(&entity.key).copied();
            let reason = match self.models.get(&entity.key) {
                None => {
                    let retry = last.is_none_or(|l| now_ms - l >= FIRST_MODEL_RETRY_MS);
                    (retry && ready(entity)).then_some(RetrainReason::NoModel)
                }
                Some(model) => {
                    let created = crate::data::time::parse_timestamp_ms(&model.meta.created_at);
                    let schedule = Schedule::new(lstm.retrain_interval, last.max(created));
                    let recent = scores.get(&entity.key).map_or_else(Vec::new, |s| {
                        super::errors_since_training(&s.window_errors, frame.timestamps_ms(), model)
                    });
                    retrain_due(&schedule, last, now_ms, &recent, model)
                }
            };
            if let Some(reason) = reason {
                *reasons
                    .entry(match reason {
                        RetrainReason::NoModel => "no model yet",
                        RetrainReason::Scheduled => "scheduled",
                        RetrainReason::Drift(_) => "drift",
                        RetrainReason::Manual => "manual",
                    })
                    .or_default() += 1;
                due.push(entity.clone());
            }
        }
        if due.is_empty() {
            return None;
        }
        let mut counted: Vec<(&str, usize)> = reasons.into_iter().collect();
        counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let reason = counted
            .iter()
            .map(|(reason, n)| format!("{reason} ({n})"))
            .collect::<Vec<_>>()
            .join(", ");
        Some((reason, due))
    }
}
