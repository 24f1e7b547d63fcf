//! The autoencoder on a fleet as the monitor runs it: the entities of the
//! frame in view, each entity model's scores of it (only the new windows
//! scored at a refresh) and the row likelihoods its marks come from.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::data::MetricFrame;
use crate::detect::Scores;
use crate::detect::entities::{
    CachedScores, EntityColumns, WindowCache, score_cached, score_entities,
};
use crate::detect::store::SavedModel;
use crate::engine::schedule::ModelKeeper;

use super::fuse::LstmView;
use super::view::EntityModels;

/// An entity model's scores of the frame, and each row's likelihood of the
/// window ending at it (what marks it; see [`LstmView::likelihoods`]).
struct EntityScored {
    scores: Arc<Scores>,
    likelihoods: Vec<f64>,
}

impl EntityScored {
    /// A training's own scores of the frame: their likelihoods in one pass.
    fn of_training(scores: Scores, sequence_length: usize) -> Self {
        let likelihoods = crate::detect::online::window_likelihoods(
            &scores,
            scores.rows.error.len(),
            sequence_length,
        );
        Self {
            scores: Arc::new(scores),
            likelihoods,
        }
    }

    fn of_cached(cached: CachedScores) -> Self {
        Self {
            scores: Arc::new(cached.scores),
            likelihoods: cached.likelihoods,
        }
    }
}

/// The frame's entities and their models' view of it.
#[derive(Default)]
pub(super) struct EntityScoring {
    /// The entities of the frame (by `fleet.entity_labels`); more than one:
    /// the autoencoder is a model per entity.
    pub groups: Vec<EntityColumns>,
    /// Each entity model's scores of the frame, by entity key.
    scored: BTreeMap<String, EntityScored>,
    /// Each entity model's window errors so far (live data: a refresh
    /// scores only the new windows).
    windows: BTreeMap<String, WindowCache>,
}

impl EntityScoring {
    /// Whether the frame holds more than one entity, so the autoencoder is
    /// a model per entity rather than one over every column.
    pub fn per_entity(&self) -> bool {
        self.groups.len() > 1
    }

    /// A new data set: no window error carries over.
    pub fn forget_windows(&mut self) {
        self.windows.clear();
    }

    /// The frame's entities, before it is scored.
    pub fn set_frame(&mut self, frame: &MetricFrame, entity_labels: &[String]) {
        self.groups = crate::detect::entities::entities_of(frame, entity_labels);
        self.scored.clear();
    }

    /// Scores every entity that has a model.
    pub fn rescore(&mut self, models: &BTreeMap<String, Arc<SavedModel>>, frame: &MetricFrame) {
        let scored = score_entities(models, &self.groups, frame, &mut self.windows);
        self.scored = scored
            .into_iter()
            .map(|(key, cached)| (key, EntityScored::of_cached(cached)))
            .collect();
    }

    /// A new model of `key` came into use: `scores` are its training's
    /// scores of the frame when the frame is still the one it trained on,
    /// else the frame is scored afresh.
    pub fn trained(
        &mut self,
        key: String,
        model: &SavedModel,
        scores: Option<Scores>,
        frame: &MetricFrame,
    ) {
        let length = model.meta.config.sequence_length;
        let scored = match scores {
            Some(scores) => Some(EntityScored::of_training(scores, length)),
            None => {
                let cache = self.windows.entry(key.clone()).or_default();
                score_cached(model, frame, cache)
                    .ok()
                    .map(EntityScored::of_cached)
            }
        };
        match scored {
            Some(scored) => self.scored.insert(key, scored),
            None => self.scored.remove(&key),
        };
    }

    /// How many entities a model scores.
    pub fn models_scoring(&self) -> usize {
        self.scored.len()
    }

    /// The views the one rule judges with, each entity model at its own
    /// threshold (the window's slider is for a single model).
    pub fn views<'a>(
        &'a self,
        models: &BTreeMap<String, Arc<SavedModel>>,
        first_ms: Option<i64>,
    ) -> Vec<LstmView<'a>> {
        self.scored
            .iter()
            .filter_map(|(key, scored)| {
                Some(LstmView {
                    scores: &scored.scores,
                    threshold: models.get(key)?.meta.threshold,
                    first_ms,
                    likelihoods: Some(&scored.likelihoods),
                })
            })
            .collect()
    }

    /// Each entity model's scores, by entity (what the drift rule reads).
    pub fn scores(&self) -> BTreeMap<String, Arc<Scores>> {
        self.scored
            .iter()
            .map(|(key, scored)| (key.clone(), Arc::clone(&scored.scores)))
            .collect()
    }

    /// The view's account of them.
    pub fn status(&self, keeper: &ModelKeeper) -> Option<EntityModels> {
        self.per_entity().then(|| EntityModels {
            entities: self.groups.len(),
            scored: self.scored.len(),
            training: keeper.entity_progress(),
            load_errors: keeper.entity_load_errors().to_vec(),
        })
    }
}
