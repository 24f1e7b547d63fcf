//! The monitor's state and what each input does to it: a new frame, a
//! finished fit or training, a command. Everything here runs on the
//! monitor's own thread ([`super::spawn`]); nothing here waits on the
//! network or a fit.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, TryRecvError};

use crate::config::Config;
use crate::data::MetricFrame;
use crate::detect::Scores;
use crate::engine::schedule::{Clock, Finished, ModelKeeper, RetrainReason, Schedule, StartError};
use crate::forecast::{ForecastError, ForecastModel, ForecastSettings, FrameForecast};
use crate::history::History;

use super::entities::EntityScoring;
use super::fuse::{self, Assessment, LstmView, OnlineInput, OnlineScores};
use super::online::OnlineState;
use super::tracker::{EventChanges, EventTracker};
use super::training_rows::TrainingRows;
use super::view::{
    ActiveModel, DataKind, FleetStatus, ForecastState, LiveStatus, ModelState, View,
};

/// How the monitor is set up by its owner.
#[derive(Clone)]
pub struct MonitorOptions {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    /// Where live events, trainings and fetch failures are recorded (None:
    /// nowhere).
    pub history_path: Option<PathBuf>,
    /// Appended to the reasons of the trainings it records ("app").
    pub training_source: Option<String>,
    /// Whether to forecast (the window has a toggle; `prophet_model.enabled`
    /// must be on as well).
    pub show_forecast: bool,
    /// The entities this replica follows (`serve --shard`; the window: all).
    pub shard: crate::fleet::Shard,
    /// Where live data's detector state is saved (every
    /// `detection.state_save_interval` and when stopping) and read back
    /// from at the first live frame (None: not kept).
    pub state_path: Option<PathBuf>,
}

/// A fit in progress, and what it was started on.
struct FitJob {
    result: Receiver<Result<FrameForecast, ForecastError>>,
    started_ms: i64,
}

pub(super) struct Monitor {
    pub(super) options: MonitorOptions,
    pub(super) keeper: ModelKeeper,
    pub(super) frame: Arc<MetricFrame>,
    pub(super) kind: DataKind,
    pub(super) label: String,
    pub(super) warnings: Vec<String>,
    /// A file's online scores, one batch pass (live data's stay in
    /// `streams`, read when the frame is judged).
    online: Option<OnlineScores>,
    /// Live data's per-series streams (None for any other data set, which
    /// is scored in one pass).
    pub(super) streams: Option<OnlineState>,
    /// Rows from before the live window for the streams to learn from
    /// first (the first fetch's warm-up), fed at the next live frame.
    pub(super) pending_warmup: Option<Box<MetricFrame>>,
    /// Live series with no value in their last two steps.
    pub(super) stale: Vec<String>,
    /// What the shard and the series limit left out of the last fetch.
    pub(super) selection: crate::fleet::Selection,
    /// When the live detector state was last saved.
    pub(super) state_saved_ms: Option<i64>,
    /// The model's scores of `frame`.
    lstm_scores: Option<Arc<Scores>>,
    /// A fleet's entities and their models' scores of `frame`.
    pub(super) entities: EntityScoring,
    /// Live fleet data: the rows its models per entity learn from (the
    /// warm-up and every live row since, a probation's worth).
    pub(super) training_rows: TrainingRows,
    /// When the training rows were last put together to see which
    /// entities have enough of them for a first model.
    pub(super) rows_checked_ms: Option<i64>,
    /// The frame the running training was started on: when it is still the
    /// one in view, the training's own scores of it are used.
    pub(super) training_frame: Option<Arc<MetricFrame>>,
    /// When freed heap was last handed back (None: not yet).
    heap_released_ms: Option<i64>,
    /// The window's slider; None: the model's own threshold.
    threshold: Option<f64>,
    forecast: Option<Arc<FrameForecast>>,
    forecast_started_ms: Option<i64>,
    forecast_error: Option<String>,
    fit: Option<FitJob>,
    pub(super) judged: Arc<Assessment>,
    pub(super) tracker: EventTracker,
    pub(super) changes: EventChanges,
    pub(super) history: Option<History>,
    pub(super) history_error: Option<String>,
    pub(super) model_load_error: Option<String>,
    pub(super) live: Option<LiveStatus>,
    last_refresh_ms: Option<i64>,
    fetch_errors: BTreeMap<String, u64>,
    last_fetch_error: Option<String>,
    /// What it did, in words, since the last update (the daemon logs
    /// these: commits, trainings, history errors).
    pub(super) notes: Vec<String>,
    /// Something changed since the last update.
    pub(super) dirty: bool,
}

/// How often a live monitor hands freed heap back (after its first
/// refresh, then at most this often).
const HEAP_RELEASE_EVERY_MS: i64 = 10 * 60 * 1000;

impl Monitor {
    /// Loads the saved model (this runs on the monitor's thread).
    pub(super) fn new(options: MonitorOptions) -> Self {
        let lstm = &options.config.lstm;
        let save_dir = crate::config::resolve_data_path(&lstm.save_path);
        let clock = Arc::clone(&options.clock);
        let mut keeper = if lstm.enabled {
            ModelKeeper::new(clock, lstm.clone(), save_dir)
        } else {
            ModelKeeper::without_model(clock, lstm.clone(), save_dir)
        };
        if let Some(source) = &options.training_source {
            keeper = keeper.with_source(source);
        }
        let model_load_error = keeper.last_error().map(str::to_owned);
        let notes = model_load_error.iter().cloned().collect();
        Self {
            keeper,
            frame: Arc::new(MetricFrame::default()),
            kind: DataKind::File,
            label: String::new(),
            warnings: Vec::new(),
            online: None,
            streams: None,
            pending_warmup: None,
            stale: Vec::new(),
            selection: crate::fleet::Selection::default(),
            state_saved_ms: None,
            lstm_scores: None,
            entities: EntityScoring::default(),
            training_rows: TrainingRows::default(),
            rows_checked_ms: None,
            training_frame: None,
            heap_released_ms: None,
            threshold: None,
            forecast: None,
            forecast_started_ms: None,
            forecast_error: None,
            fit: None,
            judged: Arc::new(Assessment::default()),
            tracker: EventTracker::default(),
            changes: EventChanges::default(),
            history: None,
            history_error: None,
            model_load_error,
            live: None,
            last_refresh_ms: None,
            fetch_errors: BTreeMap::new(),
            last_fetch_error: None,
            notes,
            dirty: true,
            options,
        }
    }

    pub(super) fn config(&self) -> &Config {
        &self.options.config
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.options.clock.now_ms()
    }

    /// What judged the events: the detection method, and the model it used.
    pub(super) fn model_version(&self) -> String {
        let method = self.config().detection.method.key();
        if self.per_entity() {
            return match self.entities.models_scoring() {
                0 => method.to_owned(),
                n => format!("{method} (lstm per entity, {n} models)"),
            };
        }
        match (self.keeper.model(), &self.lstm_scores) {
            (Some(model), Some(_)) => format!("{method} (lstm {})", model.meta.created_at),
            _ => method.to_owned(),
        }
    }

    /// Whether the frame holds more than one entity, so the autoencoder is
    /// a model per entity rather than one over every column.
    pub(super) fn per_entity(&self) -> bool {
        self.entities.per_entity()
    }

    fn forecasting(&self) -> bool {
        self.config().prophet.enabled && self.options.show_forecast
    }

    /// Takes a new frame: judges it, refits and retrains by the rules.
    pub(super) fn set_frame(&mut self, frame: Arc<MetricFrame>, kind: DataKind, label: String) {
        let live_before = self.kind == DataKind::Live;
        if kind != DataKind::Live || !live_before {
            // A new data set: nothing of the old one carries over.
            self.tracker = EventTracker::default();
            self.forecast = None;
            self.forecast_started_ms = None;
            self.fit = None;
            self.streams = None;
            self.entities.forget_windows();
        }
        if kind != DataKind::Live {
            self.stale.clear();
            self.selection = crate::fleet::Selection::default();
        }
        let new_data = kind != DataKind::Live || !live_before;
        self.kind = kind;
        self.label = label;
        if new_data {
            let rows = self.entity_rows_needed();
            self.training_rows
                .reset(crate::engine::schedule::training_rows_kept(rows));
            self.rows_checked_ms = None;
        }
        self.entities
            .set_frame(&frame, &self.options.config.fleet.entity_labels);
        let warmup = self.pending_warmup.take();
        if kind == DataKind::Live && self.per_entity() && self.config().lstm.enabled {
            if let Some(rows) = &warmup {
                self.training_rows.push(rows);
            }
            self.training_rows.push(&frame);
        }
        self.frame = frame;
        let method = self.config().detection.method;
        // Live scores stay in the streams (read when judging); a file's are
        // one batch pass, kept.
        self.online = if kind == DataKind::Live {
            if self.streams.is_none() {
                self.streams = Some(self.restore_streams(method));
            }
            let streams = self
                .streams
                .get_or_insert_with(|| OnlineState::new(method, 0));
            if let Some(rows) = &warmup {
                streams.feed(rows);
            }
            streams.feed(&self.frame);
            None
        } else {
            Some(OnlineScores::of(&self.frame, method))
        };
        self.rescore();
        self.refit_if_due();
        self.reassess();
        self.retrain_if_due();
    }

    /// Scores the frame with the model in use (a fleet: each entity's
    /// columns with its own model).
    fn rescore(&mut self) {
        if self.per_entity() {
            self.lstm_scores = None;
            if self.config().lstm.enabled && !self.frame.is_empty() {
                self.entities
                    .rescore(self.keeper.entity_models(), &self.frame);
            }
            return;
        }
        self.lstm_scores = self
            .keeper
            .model()
            .filter(|_| self.config().lstm.enabled && !self.frame.is_empty())
            .and_then(|model| crate::detect::score_frame(model, &self.frame).ok())
            .map(Arc::new);
    }

    /// Judges the frame by the one rule; live rows not judged before become
    /// events (recorded in the history).
    pub(super) fn reassess(&mut self) {
        let version = self.model_version();
        let first_ms = self.frame.timestamps_ms().first().copied();
        let models = self.keeper.entity_models();
        let lstm: Vec<LstmView> = if self.per_entity() {
            self.entities.views(models, first_ms)
        } else {
            match (self.keeper.model(), &self.lstm_scores) {
                (Some(model), Some(scores)) => vec![LstmView {
                    scores,
                    threshold: self.threshold.unwrap_or(model.meta.threshold),
                    first_ms,
                    likelihoods: None,
                }],
                _ => Vec::new(),
            }
        };
        let online = match (&self.online, &self.streams) {
            (Some(scores), _) => Some(OnlineInput::Scores(scores)),
            (None, Some(streams)) if self.kind == DataKind::Live => {
                Some(OnlineInput::Streams(streams))
            }
            _ => None,
        };
        let judged = fuse::assess(
            &self.frame,
            online,
            &lstm,
            self.forecast.as_deref(),
            &version,
        );
        self.judged = Arc::new(judged);
        if self.kind == DataKind::Live {
            let changes = self
                .tracker
                .update(&self.judged, self.frame.timestamps_ms(), &version);
            self.record(&changes);
            self.changes.started.extend(changes.started);
            self.changes.raised.extend(changes.raised);
            self.changes.ended.extend(changes.ended);
        }
        self.dirty = true;
    }

    /// A live refresh failed: counted by reason, recorded, shown.
    pub(super) fn fetch_failed(&mut self, reason: String, retry_at_ms: i64) {
        let class = reason_class(&reason);
        *self.fetch_errors.entry(class.to_owned()).or_default() += 1;
        let now = self.now_ms();
        if let Some(history) = self.history() {
            let result = history.record_fetch_failure(now, class, &reason);
            if let Some(id) = self.recorded(result) {
                self.notes
                    .push(format!("history: fetch failure {id} committed"));
            }
        }
        self.last_fetch_error = Some(reason.clone());
        self.live = Some(LiveStatus::Down {
            reason,
            retry_at_ms,
        });
        self.dirty = true;
    }

    /// A live refresh landed.
    pub(super) fn fetched(&mut self, frame: Arc<MetricFrame>, warnings: Vec<String>, at_ms: i64) {
        self.live = Some(LiveStatus::Connected {
            last_refresh_ms: at_ms,
        });
        self.last_refresh_ms = Some(at_ms);
        self.last_fetch_error = None;
        self.warnings = warnings;
        let label = self.config().prometheus.base_url.clone();
        self.set_frame(frame, DataKind::Live, label);
        self.save_state(false);
        // Hand freed pages back, or the resident set keeps the first load's
        // peak (its warm-up frames) for good. Not at every refresh: on a
        // heap of gigabytes it costs about half a second (10,000 series ×
        // 24 h, 2 cores, `benches/README.md`), and what a refresh frees the
        // next one reuses.
        let now_ms = self.now_ms();
        if self
            .heap_released_ms
            .is_none_or(|at_ms| now_ms.saturating_sub(at_ms) >= HEAP_RELEASE_EVERY_MS)
        {
            crate::memory::release_free_heap();
            self.heap_released_ms = Some(now_ms);
        }
    }

    /// The forecast rule. Live data keeps its forecast until half the
    /// horizon (so there is always a forecast ahead) or
    /// `prophet_model.retrain_interval` has passed, whichever is sooner, or
    /// until the rows run past it; meanwhile new rows are judged by the
    /// forecast made before they arrived, and a fit in progress is let
    /// land. Any other data set is fitted afresh.
    fn refit_if_due(&mut self) {
        if !self.forecasting() || self.frame.is_empty() {
            self.forecast = None;
            self.fit = None;
            return;
        }
        let now = self.now_ms();
        if self.kind == DataKind::Live {
            if self.fit.is_some() {
                return;
            }
            let prophet = &self.config().prophet;
            let every = (prophet.forecast_horizon / 2).min(prophet.retrain_interval);
            let newest = self
                .frame
                .timestamps_ms()
                .last()
                .copied()
                .unwrap_or(i64::MIN);
            let covered = self.forecast.as_ref().is_some_and(|f| f.covers(newest));
            let schedule = Schedule::new(every, self.forecast_started_ms);
            if covered && !schedule.due(now) {
                return;
            }
        }
        let settings = ForecastSettings::from_config(self.config(), ForecastModel::Prophet);
        match crate::engine::spawn_forecast((*self.frame).clone(), settings, || {}) {
            Ok(result) => {
                self.fit = Some(FitJob {
                    result,
                    started_ms: now,
                });
                self.forecast_error = None;
            }
            Err(error) => self.forecast_error = Some(error.to_string()),
        }
    }

    /// Takes a finished fit, if any; true when one landed.
    pub(super) fn poll_fit(&mut self) -> bool {
        let Some(fit) = &self.fit else { return false };
        let result = match fit.result.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return false,
            Err(TryRecvError::Disconnected) => Err(ForecastError::Worker {
                metric: "every metric".into(),
                reason: "the forecast thread stopped".into(),
            }),
        };
        let started_ms = fit.started_ms;
        self.fit = None;
        match result {
            Ok(forecast) => {
                let failures: Vec<String> = forecast
                    .series
                    .iter()
                    .filter_map(|s| s.as_ref().err())
                    .map(ToString::to_string)
                    .collect();
                self.forecast_error = (!failures.is_empty()).then(|| failures.join("; "));
                self.forecast = Some(Arc::new(forecast));
                self.forecast_started_ms = Some(started_ms);
            }
            Err(error) => self.forecast_error = Some(error.to_string()),
        }
        self.reassess();
        true
    }

    /// The retrain rule (live data only): a first model once enough
    /// complete rows have arrived, then the schedule or drift
    /// ([`ModelKeeper::due`]).
    fn retrain_if_due(&mut self) {
        if self.kind != DataKind::Live || !self.config().lstm.enabled || self.keeper.is_training() {
            return;
        }
        if self.per_entity() {
            self.retrain_entities_if_due();
            return;
        }
        let recent = match (self.keeper.model(), &self.lstm_scores) {
            (Some(model), Some(scores)) => crate::engine::schedule::errors_since_training(
                &scores.window_errors,
                self.frame.timestamps_ms(),
                model,
            ),
            (Some(_), None) => return,
            (None, _) => {
                if !self.keeper.enough_data(&self.frame) {
                    return;
                }
                Vec::new()
            }
        };
        if let Some(reason) = self.keeper.due(&recent) {
            let note = match self.start_training(reason.clone()) {
                Ok(id) => format!("retraining (job {id}): {reason}"),
                Err(error) => error.to_string(),
            };
            self.notes.push(note);
        }
    }

    /// Starts a training on the frame in view (a fleet: of every entity
    /// with enough rows).
    pub(super) fn start_training(&mut self, reason: RetrainReason) -> Result<u64, StartError> {
        self.model_load_error = None;
        self.dirty = true;
        if self.per_entity() {
            return self.train_every_ready_entity(reason);
        }
        let started = self.keeper.start((*self.frame).clone(), reason, || {});
        if started.is_ok() {
            self.training_frame = Some(Arc::clone(&self.frame));
        }
        started
    }

    /// Sets the threshold marks are made at (None: the model's own).
    pub(super) fn set_threshold(&mut self, threshold: Option<f64>) {
        self.threshold = threshold;
        self.reassess();
    }

    pub(super) fn set_show_forecast(&mut self, show: bool) {
        self.options.show_forecast = show;
        if show {
            self.refit_if_due();
        } else {
            self.forecast = None;
            self.fit = None;
        }
        self.reassess();
    }

    /// New settings: trainings, fits and judging use them from now on.
    pub(super) fn configure(&mut self, config: Config) {
        let save_dir = crate::config::resolve_data_path(&config.lstm.save_path);
        self.keeper.configure(config.lstm.clone(), save_dir);
        self.options.config = config;
        // A new frame (not the same `Arc`): a training started under the
        // old settings must not match it when it lands, so its scores are
        // not taken over (they are made afresh under the new settings).
        let frame = Arc::new((*self.frame).clone());
        let label = self.label.clone();
        // Judged afresh, as a new data set.
        self.set_frame(frame, DataKind::File, label);
    }

    /// Takes training news: progress, and a finished training into the
    /// history and (when it succeeded) into use.
    pub(super) fn poll_training(&mut self) {
        let progress_before = self.keeper.progress().cloned();
        let finished = self.keeper.poll();
        if self.keeper.progress() != progress_before.as_ref() {
            self.dirty = true;
        }
        if let Some(finished) = finished {
            self.training_finished(finished);
        }
        let news = self.keeper.poll_entities();
        if !news.trained.is_empty() {
            self.entity_models_trained(news.trained);
        }
        if let Some(finished) = news.finished {
            self.training_finished(finished);
        }
    }

    pub(super) fn training_finished(&mut self, finished: Finished) {
        let run = &finished.run;
        self.notes.push(format!(
            "training ({}) {}{}",
            run.reason,
            run.status,
            run.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        ));
        if let Some(history) = self.history() {
            let result = history.record_training(&finished.run);
            if let Some(id) = self.recorded(result) {
                self.notes
                    .push(format!("history: training run {id} committed"));
            }
        }
        let training_frame = self.training_frame.take();
        if finished.swapped_in {
            self.threshold = None;
            // The training scored the frame it learnt from; data that came
            // in since is scored afresh.
            let same_frame = training_frame.is_some_and(|f| Arc::ptr_eq(&f, &self.frame));
            match finished.scores {
                Some(scores) if same_frame => self.lstm_scores = Some(Arc::new(scores)),
                _ => self.rescore(),
            }
            self.reassess();
        }
        self.dirty = true;
    }

    /// Ends the live events going on at their last mark (nothing will
    /// continue them).
    pub(super) fn busy(&self) -> bool {
        self.fit.is_some() || self.keeper.is_training()
    }

    /// The state as a [`View`].
    pub(super) fn view(&self) -> View {
        let model = match self.keeper.model() {
            Some(saved) => ModelState::Ready(ActiveModel {
                threshold: self.threshold.unwrap_or(saved.meta.threshold),
                saved: Arc::clone(saved),
                scores: self.lstm_scores.clone(),
            }),
            None => match &self.model_load_error {
                Some(error) => ModelState::Failed(error.clone()),
                None => ModelState::Missing,
            },
        };
        let forecast_state = if !self.forecasting() {
            ForecastState::Off
        } else if self.fit.is_some() {
            ForecastState::Running
        } else if let Some(error) = &self.forecast_error {
            ForecastState::Failed(error.clone())
        } else if self.forecast.is_some() {
            ForecastState::Ready
        } else {
            ForecastState::Off
        };
        View {
            frame: Arc::clone(&self.frame),
            kind: self.kind,
            label: self.label.clone(),
            warnings: self.warnings.clone(),
            judged: Arc::clone(&self.judged),
            forecast: self.forecast.clone(),
            forecast_state,
            forecast_started_ms: self
                .fit
                .as_ref()
                .map(|f| f.started_ms)
                .or(self.forecast_started_ms),
            model,
            training: self.keeper.progress().cloned(),
            is_training: self.keeper.is_training(),
            model_error: self.keeper.last_error().map(str::to_owned),
            jobs: self.keeper.jobs().clone(),
            next_retrain_ms: self.keeper.schedule().next_due_ms(),
            model_age_secs: self.keeper.model_age_secs(),
            last_training_secs: self.keeper.last_training_secs(),
            live: self.live.clone(),
            last_refresh_ms: self.last_refresh_ms,
            fetch_errors: self.fetch_errors.clone(),
            last_fetch_error: self.last_fetch_error.clone(),
            open_events: self.tracker.open_events().cloned().collect(),
            history_error: self.history_error.clone(),
            busy: self.busy(),
            fleet: FleetStatus {
                stale: self.stale.clone(),
                in_probation: self
                    .streams
                    .as_ref()
                    .map(OnlineState::in_probation)
                    .unwrap_or_default(),
                selection: self.selection,
                shard: (self.kind == DataKind::Live).then_some(self.options.shard),
            },
            entity_models: self.entities.status(&self.keeper),
        }
    }
}

/// A short, stable reason class for a fetch error message.
pub fn reason_class(message: &str) -> &'static str {
    let m = message.to_lowercase();
    if m.contains("refused") {
        "refused"
    } else if m.contains("timed out") || m.contains("timeout") {
        "timeout"
    } else if m.contains("dns") || m.contains("resolve") {
        "dns"
    } else if m.contains("tls") || m.contains("certificate") {
        "tls"
    } else if m.contains("http") {
        "http"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_errors_fall_into_short_stable_classes() {
        assert_eq!(reason_class("connection refused by http://x"), "refused");
        assert_eq!(reason_class("request timed out"), "timeout");
        assert_eq!(reason_class("HTTP 500 from /api/v1/query_range"), "http");
        assert_eq!(reason_class("something else"), "other");
    }
}
