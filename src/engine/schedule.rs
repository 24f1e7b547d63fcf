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

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::config::LstmConfig;
use crate::data::MetricFrame;
use crate::detect::store::SavedModel;
use crate::history::TrainingRun;

use super::{TrainEvent, TrainingJob, spawn_training};

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

/// Where the scheduler reads the time.
pub trait Clock: Send + Sync {
    /// Unix time in milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: AtomicI64,
}

impl ManualClock {
    pub fn new(now_ms: i64) -> Self {
        Self {
            now_ms: AtomicI64::new(now_ms),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now_ms.load(Ordering::Relaxed)
    }
}

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
    progress: Option<super::TrainProgress>,
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
    pub fn progress(&self) -> Option<&super::TrainProgress> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn small_frame(rows: usize, level: f64) -> MetricFrame {
        let stamps = (0..rows as i64)
            .map(|i| 1_767_225_600_000 + i * 15_000)
            .collect();
        let a = (0..rows).map(|i| level + (i as f64 * 0.3).sin()).collect();
        let b = (0..rows).map(|i| level + (i as f64 * 0.17).cos()).collect();
        MetricFrame::new(stamps, vec!["a".into(), "b".into()], vec![a, b], None).unwrap()
    }

    fn lstm_config(dir: &std::path::Path) -> LstmConfig {
        let mut lstm = Config::builtin().unwrap().lstm;
        lstm.epochs = 2;
        lstm.sequence_length = 10;
        lstm.hidden_size = 8;
        lstm.retrain_interval = Duration::from_secs(3600);
        lstm.save_path = dir.to_owned();
        lstm
    }

    /// A temp dir, its model dir, a manual clock and a small model's settings.
    fn setup() -> (tempfile::TempDir, PathBuf, Arc<ManualClock>, LstmConfig) {
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        let clock = Arc::new(ManualClock::new(1_767_225_600_000));
        let lstm = lstm_config(&model_dir);
        (dir, model_dir, clock, lstm)
    }

    fn wait(keeper: &mut ModelKeeper) -> Finished {
        let started = std::time::Instant::now();
        loop {
            if let Some(finished) = keeper.poll() {
                return finished;
            }
            assert!(started.elapsed() < Duration::from_secs(60), "training hung");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_keeper_without_a_model_trains_adopts_and_names_its_source() {
        let (_dir, model_dir, clock, lstm) = setup();
        let mut keeper = ModelKeeper::without_model(clock.clone(), lstm.clone(), model_dir.clone())
            .with_source("app");
        assert_eq!(keeper.due(&[]), Some(RetrainReason::NoModel));
        // A failed first training promises no previous model.
        let gaps = MetricFrame::new(
            (0..200).map(|i| 1_767_225_600_000 + i * 15_000).collect(),
            vec!["a".into(), "b".into()],
            vec![vec![f64::NAN; 200]; 2],
            None,
        )
        .unwrap();
        keeper.start(gaps, RetrainReason::Manual, || {}).unwrap();
        let failed = wait(&mut keeper);
        assert!(!failed.swapped_in && failed.scores.is_none());
        assert_eq!(failed.run.reason, "manual (app)");
        let error = keeper.last_error().unwrap().to_owned();
        assert!(error.starts_with("training (manual) failed: "), "{error}");
        // A good one hands back the scores of the frame it was trained on.
        keeper
            .start(small_frame(200, 10.0), RetrainReason::Manual, || {})
            .unwrap();
        let done = wait(&mut keeper);
        assert!(done.swapped_in, "{:?}", done.run);
        let rows = done.scores.expect("scores").rows.error.len();
        assert_eq!(rows, 200);
        assert!(keeper.progress().is_none() && !keeper.is_training());
        let model = Arc::clone(keeper.model().unwrap());
        // Another keeper adopts that model: its schedule counts from the
        // model's creation; forgetting it makes a first model due again.
        let created_ms = crate::data::time::parse_timestamp_ms(&model.meta.created_at).unwrap();
        let clock = Arc::new(ManualClock::new(created_ms + 60_000));
        let mut other = ModelKeeper::without_model(clock.clone(), lstm, model_dir);
        other.adopt(model);
        assert_eq!(other.due(&[]), None);
        clock.advance(Duration::from_secs(3600 - 60));
        assert_eq!(other.due(&[]), Some(RetrainReason::Scheduled));
        other.forget_model();
        assert_eq!(other.due(&[]), Some(RetrainReason::NoModel));
    }

    #[test]
    fn retrains_when_due_not_before_and_a_failed_retrain_keeps_the_old_model() {
        let (dir, model_dir, clock, lstm) = setup();
        let mut keeper = ModelKeeper::new(clock.clone(), lstm.clone(), model_dir.clone());
        // No model: due at once.
        assert_eq!(keeper.due(&[]), Some(RetrainReason::NoModel));
        // A first window that is mostly gaps is not enough; if tried anyway,
        // the failure is retried a minute later, not a whole interval.
        let mut gappy = small_frame(200, 10.0);
        let columns: Vec<Vec<f64>> = gappy
            .columns()
            .iter()
            .map(|c| {
                c.iter()
                    .enumerate()
                    .map(|(i, v)| if i < 180 { f64::NAN } else { *v })
                    .collect()
            })
            .collect();
        gappy = MetricFrame::new(
            gappy.timestamps_ms().to_vec(),
            gappy.names().to_vec(),
            columns,
            None,
        )
        .unwrap();
        assert!(!keeper.enough_data(&gappy));
        assert!(keeper.enough_data(&small_frame(200, 10.0)));
        let all_gaps = MetricFrame::new(
            gappy.timestamps_ms().to_vec(),
            gappy.names().to_vec(),
            vec![vec![f64::NAN; 200]; 2],
            None,
        )
        .unwrap();
        keeper
            .start(all_gaps, RetrainReason::NoModel, || {})
            .unwrap();
        assert_eq!(wait(&mut keeper).run.status, "failed");
        assert_eq!(keeper.due(&[]), None);
        clock.advance(Duration::from_millis(FIRST_MODEL_RETRY_MS as u64));
        assert_eq!(keeper.due(&[]), Some(RetrainReason::NoModel));
        keeper
            .start(small_frame(200, 10.0), RetrainReason::NoModel, || {})
            .unwrap();
        assert!(matches!(
            keeper.start(small_frame(200, 10.0), RetrainReason::Manual, || {}),
            Err(StartError::Busy { id: 2 })
        ));
        let first = wait(&mut keeper);
        assert!(first.swapped_in, "{:?}", first.run);
        assert_eq!(first.run.status, "ok");
        assert_eq!(first.run.reason, "no model yet");
        let first_model = keeper.model().unwrap().meta.created_at.clone();

        // Not due a minute before the interval ends, due at its end.
        clock.advance(Duration::from_secs(3540));
        assert_eq!(keeper.due(&[]), None);
        clock.advance(Duration::from_secs(60));
        assert_eq!(keeper.due(&[]), Some(RetrainReason::Scheduled));

        // A retrain whose save fails (the model dir is now a file) keeps the
        // old model and records why.
        std::fs::rename(&model_dir, dir.path().join("kept")).unwrap();
        std::fs::write(&model_dir, "not a directory").unwrap();
        let id = keeper
            .start(small_frame(200, 10.0), RetrainReason::Scheduled, || {})
            .unwrap();
        let failed = wait(&mut keeper);
        assert!(!failed.swapped_in);
        assert_eq!(failed.run.status, "failed");
        assert_eq!(keeper.job(id).unwrap().status, "failed");
        assert_eq!(keeper.model().unwrap().meta.created_at, first_model);
        assert!(
            keeper
                .last_error()
                .unwrap()
                .contains("previous model stays"),
            "{:?}",
            keeper.last_error()
        );
        // Retried at the next interval, not at once.
        assert_eq!(keeper.due(&[]), None);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(keeper.due(&[]), Some(RetrainReason::Scheduled));
    }

    #[test]
    fn drift_fires_on_a_shifted_regime_and_not_on_a_spike() {
        let dir = tempfile::tempdir().unwrap();
        let model_dir = dir.path().join("model");
        let clock = Arc::new(ManualClock::new(1_767_225_600_000));
        let mut keeper = ModelKeeper::new(clock.clone(), lstm_config(&model_dir), model_dir);
        keeper
            .start(small_frame(300, 10.0), RetrainReason::NoModel, || {})
            .unwrap();
        assert!(wait(&mut keeper).swapped_in);
        let model = Arc::clone(keeper.model().unwrap());
        let p95 = model.meta.training_error_p95.unwrap() as f32;
        let p50 = model.meta.training_error_p50.unwrap() as f32;
        assert!(p50 <= p95);

        // Typical errors with a spike: no drift.
        let mut spiky = vec![p50; 100];
        spiky[40..60].fill(p95 * 50.0);
        assert_eq!(drift(&spiky, &model), None);
        assert_eq!(keeper.due(&spiky), None);
        // Too few windows to judge.
        assert_eq!(drift(&vec![p95 * 10.0; 59], &model), None);
        // Most windows fit worse than the training p95: drift, with numbers.
        let shifted = vec![p95 * 3.0; 100];
        let why = drift(&shifted, &model).unwrap();
        assert!(why.contains("95th percentile"), "{why}");
        assert!(matches!(
            keeper.due(&shifted),
            Some(RetrainReason::Drift(_))
        ));
        // The rule on its own (the app's Live mode decides with it too).
        let now = clock.now_ms();
        let hour = Duration::from_secs(3600);
        let fresh = Schedule::new(hour, Some(now));
        assert!(matches!(
            retrain_due(&fresh, None, now, &shifted, &model),
            Some(RetrainReason::Drift(_))
        ));
        assert_eq!(
            retrain_due(&fresh, Some(now - 1000), now, &shifted, &model),
            None
        );
        assert_eq!(retrain_due(&fresh, None, now, &spiky, &model), None);
        let old = Schedule::new(hour, Some(now - 3_600_000));
        assert_eq!(
            retrain_due(&old, Some(now), now, &spiky, &model),
            Some(RetrainReason::Scheduled)
        );
        // Scoring a really shifted frame gives such errors.
        let scores = crate::detect::score(&model, &small_frame(300, 14.0)).unwrap();
        assert!(drift(&scores.window_errors, &model).is_some());
        let same = crate::detect::score(&model, &small_frame(300, 10.0)).unwrap();
        assert_eq!(drift(&same.window_errors, &model), None);

        // After a drift retrain, no second one inside the cool-down.
        keeper
            .start(small_frame(300, 14.0), keeper.due(&shifted).unwrap(), || {})
            .unwrap();
        assert!(wait(&mut keeper).swapped_in);
        let new_p95 = keeper.model().unwrap().meta.training_error_p95.unwrap() as f32;
        let shifted = vec![new_p95 * 3.0; 100];
        clock.advance(Duration::from_secs(60));
        assert_eq!(keeper.due(&shifted), None);
        clock.advance(Duration::from_millis(DRIFT_COOLDOWN_MS as u64));
        assert!(matches!(
            keeper.due(&shifted),
            Some(RetrainReason::Drift(_))
        ));
    }
}
