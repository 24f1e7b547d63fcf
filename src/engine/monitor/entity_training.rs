//! When and on what a fleet's models per entity train: live data's first
//! model once the entity has a probation's complete rows in the training
//! rows ([`super::training_rows`]), retrains by the schedule or drift, the
//! Train button; and the models that come back from the pool.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::data::{DataError, MetricFrame};
use crate::detect::Scores;
use crate::detect::entities::{EntityColumns, entities_of};
use crate::engine::schedule::{FIRST_MODEL_RETRY_MS, RetrainReason, StartError, enough_rows};

use super::state::Monitor;
use super::training_rows::TrainingRows;
use super::view::DataKind;

/// A frame the models per entity train on, and its entities by key.
struct TrainingSet {
    frame: Arc<MetricFrame>,
    groups: BTreeMap<String, EntityColumns>,
}

impl TrainingSet {
    fn of(frame: Arc<MetricFrame>, entity_labels: &[String]) -> Self {
        let groups = entities_of(&frame, entity_labels)
            .into_iter()
            .map(|g| (g.key.clone(), g))
            .collect();
        Self { frame, groups }
    }

    /// Live data's training rows, put together.
    fn of_rows(rows: &TrainingRows, entity_labels: &[String]) -> Result<Self, DataError> {
        Ok(Self::of(Arc::new(rows.frame()?), entity_labels))
    }
}

/// What a monitor note says when the training rows could not be put
/// together (a training then falls back to the frame in view).
fn rows_failed(error: &DataError) -> String {
    format!("the training rows could not be put together: {error}")
}

impl Monitor {
    /// The complete rows an entity needs for a model of its own: live
    /// data, a probation's ([`crate::engine::schedule::rows_needed`]); a
    /// file is all there is, so a window's and a few more.
    pub(super) fn entity_rows_needed(&self) -> usize {
        let config = self.config();
        let probation = match self.kind {
            DataKind::Live => config.detection.probation_rows,
            _ => 0,
        };
        crate::engine::schedule::rows_needed(config.lstm.sequence_length, probation)
    }

    /// What the models per entity train on: live data's training rows (the
    /// frame in view while they hold none), any other data set's frame.
    fn training_set(&mut self) -> TrainingSet {
        let labels = self.config().fleet.entity_labels.clone();
        if self.kind == DataKind::Live && !self.training_rows.is_empty() {
            match TrainingSet::of_rows(&self.training_rows, &labels) {
                Ok(set) => return set,
                Err(error) => self.notes.push(rows_failed(&error)),
            }
        }
        TrainingSet::of(Arc::clone(&self.frame), &labels)
    }

    /// The retrain rule for models per entity ([`ModelKeeper::entities_due`]):
    /// schedule and drift read from the window's scores; a first model once
    /// the training rows hold enough complete rows of the entity (put
    /// together to see that at most every [`FIRST_MODEL_RETRY_MS`], and
    /// only once they hold that many rows at all).
    ///
    /// [`ModelKeeper::entities_due`]: crate::engine::schedule::ModelKeeper::entities_due
    pub(super) fn retrain_entities_if_due(&mut self) {
        let scores = self.entities.scores();
        let rows = self.entity_rows_needed();
        let now = self.now_ms();
        let check = self.training_rows.len() >= rows
            && self
                .rows_checked_ms
                .is_none_or(|at| now - at >= FIRST_MODEL_RETRY_MS);
        let mut set: Option<TrainingSet> = None;
        let mut failure = None;
        let due = {
            let training_rows = &self.training_rows;
            let labels = &self.options.config.fleet.entity_labels;
            let mut ready = |entity: &EntityColumns| {
                if !check {
                    return false;
                }
                if set.is_none() && failure.is_none() {
                    match TrainingSet::of_rows(training_rows, labels) {
                        Ok(assembled) => set = Some(assembled),
                        Err(error) => failure = Some(error),
                    }
                }
                set.as_ref().is_some_and(|set| {
                    set.groups
                        .get(&entity.key)
                        .is_some_and(|g| enough_rows(&set.frame, g, rows))
                })
            };
            self.keeper
                .entities_due(&self.frame, &self.entities.groups, &scores, &mut ready)
        };
        if set.is_some() || failure.is_some() {
            self.rows_checked_ms = Some(now);
        }
        if let Some(error) = failure {
            self.notes.push(rows_failed(&error));
        }
        let Some((reason, due)) = due else {
            return;
        };
        let set = match set {
            Some(set) => set,
            None => self.training_set(),
        };
        let groups: Vec<EntityColumns> = due
            .iter()
            .filter_map(|g| set.groups.get(&g.key).cloned())
            .collect();
        let note = match self.start_entities(set.frame, groups, reason.clone()) {
            Ok(id) => format!("training per entity (job {id}): {reason}"),
            Err(error) => error.to_string(),
        };
        self.notes.push(note);
    }

    /// The Train button on a fleet: a model for every entity with the rows
    /// for one.
    pub(super) fn train_every_ready_entity(
        &mut self,
        reason: RetrainReason,
    ) -> Result<u64, StartError> {
        let rows = self.entity_rows_needed();
        let set = self.training_set();
        let ready: Vec<EntityColumns> = set
            .groups
            .values()
            .filter(|g| enough_rows(&set.frame, g, rows))
            .cloned()
            .collect();
        if ready.is_empty() {
            let why = if self.kind == DataKind::Live {
                "a model per entity on live data needs detection.probation_rows of them \
                 (at least lstm_model.sequence_length plus 16), from the first fetch's \
                 warm-up and the live rows since"
            } else {
                "a model needs lstm_model.sequence_length plus 16"
            };
            return Err(StartError::Spawn {
                reason: format!("no entity has {rows} complete rows to train on yet ({why})"),
            });
        }
        let reason = format!("{reason} ({})", ready.len());
        self.start_entities(set.frame, ready, reason)
    }

    /// Starts training models for `groups` (entities of `frame`).
    fn start_entities(
        &mut self,
        frame: Arc<MetricFrame>,
        groups: Vec<EntityColumns>,
        reason: String,
    ) -> Result<u64, StartError> {
        self.model_load_error = None;
        self.dirty = true;
        let started = self
            .keeper
            .start_entities(Arc::clone(&frame), groups, reason, || {});
        if started.is_ok() {
            self.training_frame = Some(frame);
        }
        started
    }

    /// New models per entity came into use: their entities are scored with
    /// them (by the training's own scores when the frame is still the one
    /// it trained on) and the frame judged again.
    pub(super) fn entity_models_trained(&mut self, trained: Vec<(String, Scores)>) {
        let same_frame = self
            .training_frame
            .as_ref()
            .is_some_and(|f| Arc::ptr_eq(f, &self.frame));
        if self.per_entity() && self.config().lstm.enabled {
            for (key, scores) in trained {
                let Some(model) = self.keeper.entity_models().get(&key) else {
                    continue;
                };
                let scores = same_frame.then_some(scores);
                self.entities.trained(key, model, scores, &self.frame);
            }
            self.reassess();
        }
        self.dirty = true;
    }
}
