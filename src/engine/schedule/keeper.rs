//! The autoencoder's keeper: the model in use, one training job at a time,
//! its progress and outcome, and when the next retrain is due.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::LstmConfig;
use crate::data::MetricFrame;
use crate::detect::store::SavedModel;
use crate::engine::{TrainEvent, TrainingJob, spawn_training};
use crate::history::TrainingRun;

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
        }
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
        self.save_dir = save_dir;
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
        self.running.is_some()
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
        if !self.lstm.enabled || self.running.is_some() {
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
        let complete = (0..frame.len())
            .filter(|&row| frame.columns().iter().all(|c| c[row].is_finite()))
            .count();
        complete >= self.lstm.sequence_length + MIN_TRAINING_WINDOWS
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
        if let Some(running) = &self.running {
            return Err(StartError::Busy { id: running.id });
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
