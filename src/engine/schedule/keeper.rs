//! The autoencoder's keeper: the model in use, one training job at a time,
//! its progress and outcome, and when the next retrain is due.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::LstmConfig;
use crate::data::MetricFrame;
use crate::detect::entities::EntityColumns;
use crate::detect::store::SavedModel;
use crate::engine::{EntityEvent, TrainEvent, TrainingJob, spawn_entity_training, spawn_training};
use crate::history::TrainingRun;

use super::entities::{EntityModels, RunningEntities};
use super::{
    Clock, FIRST_MODEL_RETRY_MS, MIN_TRAINING_WINDOWS, RetrainReason, Schedule, retrain_due,
};

/// A training job as `GET /train/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TrainJobState {
    /// running, done or failed.
    pub status: String,
    /// Why it ran (see [`RetrainReason`]).
    pub reason: String,
    pub epoch: usize,
    pub epochs: usize,
    pub loss: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub error: Option<String>,
    pub model_path: Option<String>,
    /// A fleet's training of models per entity: how far it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<EntityJobProgress>,
}

/// How far a training of models per entity is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct EntityJobProgress {
    pub total: usize,
    /// Ended, with a model or without.
    pub done: usize,
    pub failed: usize,
}

/// What [`ModelKeeper::poll_entities`] saw: the entity models that came
/// into use (each with its scores of its columns of the frame it was
/// trained on) and, when the pool has stopped, its run.
#[derive(Debug, Default)]
pub struct EntityNews {
    pub trained: Vec<(String, crate::detect::Scores)>,
    pub finished: Option<Finished>,
}

/// A retrain could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("a training is already running (job {id})")]
    Busy { id: u64 },
    #[error("cannot start training: {reason}")]
    Spawn { reason: String },
}

struct Running {
    id: u64,
    job: TrainingJob,
    reason: RetrainReason,
    started_ms: i64,
    rows: usize,
}

/// What [`ModelKeeper::poll`] saw finish.
#[derive(Debug)]
pub struct Finished {
    /// For the history.
    pub run: TrainingRun,
    /// The new model when it was saved and swapped in.
    pub swapped_in: bool,
    /// The frame it was trained on, scored by it (for a dashboard to show
    /// at once); None when the training failed.
    pub scores: Option<crate::detect::Scores>,
}

/// The autoencoder in use and its retraining: the schedule, the drift rule,
/// one training job at a time. A new model replaces the old one only after
/// it is saved; a failed retrain keeps the old one and says why.
pub struct ModelKeeper {
    clock: Arc<dyn Clock>,
    lstm: LstmConfig,
    save_dir: PathBuf,
    model: Option<Arc<SavedModel>>,
    schedule: Schedule,
    last_drift_attempt_ms: Option<i64>,
    running: Option<Running>,
    jobs: BTreeMap<u64, TrainJobState>,
    last_error: Option<String>,
    /// Wall-clock seconds the last successful training took.
    last_training_secs: Option<f64>,
    /// The running job's latest progress (cleared when it ends).
    progress: Option<crate::engine::TrainProgress>,
    /// Appended to the reasons of the runs it records ("app": the dashboard
    /// trained it), so the history tells the two owners apart.
    source: Option<String>,
    /// A fleet's models per entity (data of more than one entity).
    entities: EntityModels,
}

impl std::fmt::Debug for ModelKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelKeeper")
            .field("save_dir", &self.save_dir)
            .field("schedule", &self.schedule)
            .field("training", &self.running.as_ref().map(|r| r.id))
            .finish()
    }
}

impl ModelKeeper {
    /// Loads the saved model from `save_dir` if there is one; the schedule
    /// counts from when that model was created.
    pub fn new(clock: Arc<dyn Clock>, lstm: LstmConfig, save_dir: PathBuf) -> Self {
        let (model, last_error) = match crate::detect::store::load(&save_dir) {
            Ok(saved) => (Some(Arc::new(saved)), None),
            // No model yet is the normal first start, not an error to show.
            Err(_) if !save_dir.exists() => (None, None),
            Err(error) => (None, Some(error.to_string())),
        };
        let mut keeper = Self::without_model(clock, lstm, save_dir);
        if let Some(model) = model {
            keeper.adopt(model);
        }
        keeper.last_error = last_error;
        keeper.load_entity_models();
        keeper
    }

    /// A keeper that has no model yet and reads nothing from disk: for an
    /// owner that loads the model itself, off its own thread, and hands it
    /// over with [`ModelKeeper::adopt`].
    pub fn without_model(clock: Arc<dyn Clock>, lstm: LstmConfig, save_dir: PathBuf) -> Self {
        Self {
            clock,
            schedule: Schedule::new(lstm.retrain_interval, None),
            lstm,
            save_dir,
            model: None,
            last_drift_attempt_ms: None,
            running: None,
            jobs: BTreeMap::new(),
            last_error: None,
            last_training_secs: None,
            progress: None,
            source: None,
            entities: EntityModels::default(),
        }
    }

    /// Reads the models per entity saved under the model directory.
    pub fn load_entity_models(&mut self) {
        let (models, errors) = crate::detect::entities::load_entity_models(&self.save_dir);
        self.entities.models = models;
        self.entities.load_errors = errors;
    }

    /// A fleet's models per entity, by entity key.
    pub fn entity_models(&self) -> &BTreeMap<String, Arc<SavedModel>> {
        &self.entities.models
    }

    /// The entity models under the model directory that could not be read.
    pub fn entity_load_errors(&self) -> &[String] {
        &self.entities.load_errors
    }

    /// The entities of `groups` due for a model now, and why (see
    /// [`super::entities`]); `scores`: each entity model's scores of `frame`;
    /// a first model once `ready` says the entity has the rows for it
    /// ([`super::rows_needed`]).
    pub fn entities_due(
        &self,
        frame: &MetricFrame,
        groups: &[EntityColumns],
        scores: &BTreeMap<String, Arc<crate::detect::Scores>>,
        ready: &mut dyn FnMut(&EntityColumns) -> bool,
    ) -> Option<(String, Vec<EntityColumns>)> {
        if !self.lstm.enabled || self.is_training() {
            return None;
        }
        self.entities.due(
            frame,
            groups,
            scores,
            &self.lstm,
            self.clock.now_ms(),
            ready,
        )
    }

    /// Starts training a model for each of `groups` on `frame`, on a pool of
    /// workers (one per core); returns the job id. Each model is saved and
    /// reported as it is done ([`ModelKeeper::poll_entities`]).
    pub fn start_entities(
        &mut self,
        frame: Arc<MetricFrame>,
        groups: Vec<EntityColumns>,
        reason: String,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<u64, StartError> {
        if let Some(id) = self.running_id() {
            return Err(StartError::Busy { id });
        }
        let now = self.clock.now_ms();
        let rows = frame.len();
        let keys: Vec<String> = groups.iter().map(|g| g.key.clone()).collect();
        let workers = crate::detect::train::default_threads();
        let job = spawn_entity_training(
            frame,
            groups,
            self.lstm.clone(),
            self.save_dir.clone(),
            workers,
            wake,
        )
        .map_err(|e| StartError::Spawn {
            reason: e.to_string(),
        })?;
        let id = self.jobs.keys().next_back().map_or(1, |last| last + 1);
        self.jobs.insert(
            id,
            TrainJobState {
                status: "running".into(),
                reason: reason.clone(),
                epochs: self.lstm.epochs,
                entities: Some(EntityJobProgress {
                    total: keys.len(),
                    ..EntityJobProgress::default()
                }),
                ..TrainJobState::default()
            },
        );
        for key in keys {
            self.entities.last_attempt_ms.insert(key, now);
        }
        self.entities.running = Some(RunningEntities {
            id,
            job,
            reason,
            started_ms: now,
            rows,
            done: 0,
            failed: Vec::new(),
            losses: Vec::new(),
        });
        Ok(id)
    }

    /// Takes the pool's news without waiting: each entity's new model into
    /// use, and its end into a run for the history.
    pub fn poll_entities(&mut self) -> EntityNews {
        let mut news = EntityNews::default();
        loop {
            let Some(running) = self.entities.running.as_ref() else {
                return news;
            };
            let event = match running.job.events.try_recv() {
                Ok(event) => event,
                Err(std::sync::mpsc::TryRecvError::Empty) => return news,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => EntityEvent::Finished {
                    device: String::new(),
                },
            };
            if let Some(finished) = self.apply_entity(event, &mut news) {
                news.finished = Some(finished);
                return news;
            }
        }
    }

    fn apply_entity(&mut self, event: EntityEvent, news: &mut EntityNews) -> Option<Finished> {
        let running = self.entities.running.as_mut()?;
        match event {
            EntityEvent::Done { key, result } => {
                running.done += 1;
                match result {
                    Ok(trained) => {
                        running.losses.push(trained.outcome.final_loss);
                        let trained = *trained;
                        self.entities
                            .models
                            .insert(key.clone(), Arc::new(trained.saved));
                        news.trained.push((key, trained.scores));
                    }
                    Err(error) => running.failed.push(format!("{key}: {error}")),
                }
                if let Some(state) = self.jobs.get_mut(&running.id) {
                    state.entities = Some(EntityJobProgress {
                        total: running.job.entities,
                        done: running.done,
                        failed: running.failed.len(),
                    });
                    state.loss = mean(&running.losses);
                }
                None
            }
            EntityEvent::Finished { device } => {
                let running = self.entities.running.take()?;
                let state = self.jobs.entry(running.id).or_default();
                let trained = running.losses.len();
                let failed = running.failed.len();
                let lost = running.job.entities.saturating_sub(running.done);
                let mut errors = running.failed.clone();
                if lost > 0 {
                    errors.push(format!("{lost} entities never reported"));
                }
                let error = (!errors.is_empty()).then(|| {
                    let shown: Vec<&str> = errors.iter().take(5).map(String::as_str).collect();
                    let more = errors.len().saturating_sub(shown.len());
                    let tail = if more > 0 {
                        format!("; and {more} more")
                    } else {
                        String::new()
                    };
                    format!(
                        "{failed} of {} entities failed: {}{tail}",
                        running.job.entities,
                        shown.join("; ")
                    )
                });
                let ok = trained > 0;
                state.status = if ok { "done" } else { "failed" }.into();
                state.error.clone_from(&error);
                state.loss = mean(&running.losses);
                let duration_secs =
                    (self.clock.now_ms() - running.started_ms).max(0) as f64 / 1000.0;
                let reason = format!("{} entities: {}", running.job.entities, running.reason);
                if let Some(error) = &error {
                    self.last_error = Some(format!("training per entity ({reason}): {error}"));
                } else {
                    self.last_error = None;
                }
                Some(Finished {
                    run: TrainingRun {
                        id: 0,
                        started_ms: running.started_ms,
                        reason: match &self.source {
                            Some(source) => format!("{reason} ({source})"),
                            None => reason,
                        },
                        rows: running.rows as i64,
                        final_loss: mean(&running.losses),
                        duration_secs,
                        device,
                        status: if ok { "ok" } else { "failed" }.into(),
                        error,
                    },
                    swapped_in: false,
                    scores: None,
                })
            }
        }
    }

    /// How far the training of models per entity in progress is.
    pub fn entity_progress(&self) -> Option<EntityJobProgress> {
        let running = self.entities.running.as_ref()?;
        Some(EntityJobProgress {
            total: running.job.entities,
            done: running.done,
            failed: running.failed.len(),
        })
    }

    fn running_id(&self) -> Option<u64> {
        self.running
            .as_ref()
            .map(|r| r.id)
            .or(self.entities.running.as_ref().map(|r| r.id))
    }

    /// Marks the runs it records as `source`'s ("scheduled (app)").
    pub fn with_source(mut self, source: &str) -> Self {
        self.source = Some(source.to_owned());
        self
    }

    /// Makes `model` (loaded by the owner) the model in use; the schedule
    /// counts from its creation.
    pub fn adopt(&mut self, model: Arc<SavedModel>) {
        let created_ms = crate::data::time::parse_timestamp_ms(&model.meta.created_at);
        self.schedule = Schedule::new(self.lstm.retrain_interval, created_ms);
        self.last_training_secs = Some(model.meta.train_seconds);
        self.model = Some(model);
    }

    /// Forgets the model in use (its files went away or could not be read).
    pub fn forget_model(&mut self) {
        self.model = None;
    }

    /// Takes new settings for the trainings it starts from now on (the
    /// schedule keeps its last start).
    pub fn configure(&mut self, lstm: LstmConfig, save_dir: PathBuf) {
        self.schedule.interval_ms = lstm.retrain_interval.as_millis() as i64;
        self.lstm = lstm;
        if save_dir != self.save_dir {
            self.save_dir = save_dir;
            self.load_entity_models();
        }
    }

    /// The running job's latest progress.
    pub fn progress(&self) -> Option<&crate::engine::TrainProgress> {
        self.progress.as_ref()
    }

    /// Asks the running job to stop (it ends with an error; the model in
    /// use stays).
    pub fn cancel(&self) {
        if let Some(running) = &self.running {
            running
                .job
                .cancel
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some(running) = &self.entities.running {
            running
                .job
                .cancel
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn model(&self) -> Option<&Arc<SavedModel>> {
        self.model.as_ref()
    }

    pub fn schedule(&self) -> Schedule {
        self.schedule
    }

    pub fn job(&self, id: u64) -> Option<&TrainJobState> {
        self.jobs.get(&id)
    }

    /// Every job it has run or runs, by id.
    pub fn jobs(&self) -> &BTreeMap<u64, TrainJobState> {
        &self.jobs
    }

    pub fn is_training(&self) -> bool {
        self.running_id().is_some()
    }

    /// The last load or training error (cleared by a successful training).
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    pub fn last_training_secs(&self) -> Option<f64> {
        self.last_training_secs
    }

    /// The model's age in seconds.
    pub fn model_age_secs(&self) -> Option<f64> {
        let created = self
            .model
            .as_ref()
            .and_then(|m| crate::data::time::parse_timestamp_ms(&m.meta.created_at))?;
        Some(((self.clock.now_ms() - created) as f64 / 1000.0).max(0.0))
    }

    /// Why a retrain is due now, if one is: no model, the schedule, or drift
    /// in `recent_errors` (window errors scored by the current model since
    /// it was trained).
    pub fn due(&self, recent_errors: &[f32]) -> Option<RetrainReason> {
        if !self.lstm.enabled || self.is_training() {
            return None;
        }
        let now = self.clock.now_ms();
        if self.model.is_none() {
            let retry_ms = FIRST_MODEL_RETRY_MS.min(self.schedule.interval_ms);
            let retry = self
                .schedule
                .last_ms
                .is_none_or(|last| now - last >= retry_ms);
            return retry.then_some(RetrainReason::NoModel);
        }
        let model = self.model.as_ref()?;
        retrain_due(
            &self.schedule,
            self.last_drift_attempt_ms,
            now,
            recent_errors,
            model,
        )
    }

    /// Whether `frame` has enough complete rows to train on: one window
    /// plus [`MIN_TRAINING_WINDOWS`].
    pub fn enough_data(&self, frame: &MetricFrame) -> bool {
        let every_column: Vec<usize> = (0..frame.columns().len()).collect();
        super::entities::complete_rows(frame, &every_column)
            >= self.lstm.sequence_length + MIN_TRAINING_WINDOWS
    }

    /// Starts a retrain on `frame` on the `train` worker thread; returns the
    /// job id. The schedule restarts now whether it succeeds or not, so a
    /// failing retrain is retried at the next interval, not every refresh.
    pub fn start(
        &mut self,
        frame: MetricFrame,
        reason: RetrainReason,
        wake: impl Fn() + Send + 'static,
    ) -> Result<u64, StartError> {
        if let Some(id) = self.running_id() {
            return Err(StartError::Busy { id });
        }
        let now = self.clock.now_ms();
        let rows = frame.len();
        let job =
            spawn_training(frame, self.lstm.clone(), self.save_dir.clone(), wake).map_err(|e| {
                StartError::Spawn {
                    reason: e.to_string(),
                }
            })?;
        let id = self.jobs.keys().next_back().map_or(1, |last| last + 1);
        self.jobs.insert(
            id,
            TrainJobState {
                status: "running".into(),
                reason: reason.to_string(),
                epochs: self.lstm.epochs,
                ..TrainJobState::default()
            },
        );
        if matches!(reason, RetrainReason::Drift(_)) {
            self.last_drift_attempt_ms = Some(now);
        }
        self.schedule.mark(now);
        self.running = Some(Running {
            id,
            job,
            reason,
            started_ms: now,
            rows,
        });
        Ok(id)
    }

    /// Takes the running job's news without waiting: progress into its job
    /// state, and its end (the new model swapped in, or the error kept).
    pub fn poll(&mut self) -> Option<Finished> {
        loop {
            let running = self.running.as_ref()?;
            let event = match running.job.events.try_recv() {
                Ok(event) => event,
                Err(std::sync::mpsc::TryRecvError::Empty) => return None,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    TrainEvent::Finished(Err("the training thread ended without a result".into()))
                }
            };
            if let Some(finished) = self.apply(event) {
                return Some(finished);
            }
        }
    }

    /// Cancels a running job and waits (up to `limit`) for it to end, so a
    /// save in progress completes before the process exits.
    pub fn shutdown(&mut self, limit: Duration) -> Option<Finished> {
        if self.entities.running.is_some() {
            return self.shutdown_entities(limit);
        }
        let running = self.running.as_ref()?;
        running
            .job
            .cancel
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let deadline = std::time::Instant::now() + limit;
        loop {
            let running = self.running.as_ref()?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = match running.job.events.recv_timeout(left) {
                Ok(event) => event,
                Err(_) => return None,
            };
            if let Some(finished) = self.apply(event) {
                return Some(finished);
            }
        }
    }

    /// [`ModelKeeper::shutdown`] for a pool job: every model saved so far
    /// stays; the pool stops within a batch.
    fn shutdown_entities(&mut self, limit: Duration) -> Option<Finished> {
        self.cancel();
        let deadline = std::time::Instant::now() + limit;
        let mut news = EntityNews::default();
        loop {
            let running = self.entities.running.as_ref()?;
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = running.job.events.recv_timeout(left).ok()?;
            if let Some(finished) = self.apply_entity(event, &mut news) {
                return Some(finished);
            }
        }
    }

    fn apply(&mut self, event: TrainEvent) -> Option<Finished> {
        let running = self.running.as_ref()?;
        let state = self.jobs.entry(running.id).or_default();
        match event {
            TrainEvent::Progress(p) => {
                state.epoch = p.epoch;
                state.epochs = p.epochs;
                state.loss = Some(p.loss);
                state.eta_seconds = Some(p.eta.as_secs_f64());
                self.progress = Some(p);
                None
            }
            TrainEvent::Finished(result) => {
                let running = self.running.take()?;
                self.progress = None;
                let duration_secs =
                    (self.clock.now_ms() - running.started_ms).max(0) as f64 / 1000.0;
                let mut run = TrainingRun {
                    id: 0,
                    started_ms: running.started_ms,
                    reason: match &self.source {
                        Some(source) => format!("{} ({source})", running.reason),
                        None => running.reason.to_string(),
                    },
                    rows: running.rows as i64,
                    final_loss: None,
                    duration_secs,
                    device: String::new(),
                    status: String::new(),
                    error: None,
                };
                let (swapped_in, scores) = match result {
                    Ok(trained) => {
                        state.status = "done".into();
                        state.loss = Some(trained.outcome.final_loss);
                        state.model_path = Some(trained.path.display().to_string());
                        run.status = "ok".into();
                        run.final_loss = Some(trained.outcome.final_loss);
                        run.duration_secs = trained.outcome.duration.as_secs_f64();
                        run.device = trained.saved.meta.device.clone();
                        self.last_training_secs = Some(run.duration_secs);
                        let trained = *trained;
                        self.model = Some(Arc::new(trained.saved));
                        self.last_error = None;
                        (true, Some(trained.scores))
                    }
                    Err(error) => {
                        state.status = "failed".into();
                        state.error = Some(error.clone());
                        run.status = "failed".into();
                        run.error = Some(error.clone());
                        self.last_error = Some(if self.model.is_some() {
                            format!(
                                "retrain ({}) failed, the previous model stays: {error}",
                                running.reason
                            )
                        } else {
                            format!("training ({}) failed: {error}", running.reason)
                        });
                        (false, None)
                    }
                };
                Some(Finished {
                    run,
                    swapped_in,
                    scores,
                })
            }
        }
    }
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}
