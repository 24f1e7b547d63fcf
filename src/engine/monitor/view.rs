//! What the monitor reports: a [`View`] of the data set it owns (frame,
//! marks, events, forecast, model, training, connection), shared read-only
//! with whoever renders or exports it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::data::MetricFrame;
use crate::detect::Scores;
use crate::detect::store::SavedModel;
use crate::detect::train::TrainProgress;
use crate::engine::schedule::TrainJobState;
use crate::event::AnomalyEvent;
use crate::forecast::FrameForecast;

use super::fuse::Assessment;

/// Where the data in view came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DataKind {
    /// A file or the bundled sample: judged as a whole, nothing recorded.
    #[default]
    File,
    /// Test mode: data with injected spikes, judged like a file.
    Test,
    /// Prometheus, refreshed: new rows are judged as they arrive, events
    /// recorded in the history, the model retrained by its schedule.
    Live,
}

/// Live mode's connection state.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveStatus {
    Connecting,
    Connected { last_refresh_ms: i64 },
    Down { reason: String, retry_at_ms: i64 },
}

/// Where the forecast stands.
#[derive(Debug, Clone, PartialEq)]
pub enum ForecastState {
    /// `prophet_model.enabled` or the window's toggle is off.
    Off,
    /// A fit is running (a previous forecast may still judge new rows).
    Running,
    Ready,
    /// Some or all metrics could not be forecast: why.
    Failed(String),
}

/// The autoencoder in use.
#[derive(Debug, Clone)]
pub enum ModelState {
    /// The monitor has not started yet.
    Loading,
    Missing,
    Ready(ActiveModel),
    /// The saved model could not be read: why.
    Failed(String),
}

/// The model in use and its view of the data.
#[derive(Debug, Clone)]
pub struct ActiveModel {
    pub saved: Arc<SavedModel>,
    /// The threshold marks are made at (the window's slider may move it).
    pub threshold: f64,
    /// Its scores of the frame in view, once scored.
    pub scores: Option<Arc<Scores>>,
}

/// Everything the monitor knows, as of one update.
#[derive(Debug, Clone)]
pub struct View {
    pub frame: Arc<MetricFrame>,
    pub kind: DataKind,
    /// Where the frame came from ("bundled sample data", a path, a URL).
    pub label: String,
    /// Non-fatal notes about the data (gaps, dropped series).
    pub warnings: Vec<String>,
    /// The frame judged by the one rule.
    pub judged: Arc<Assessment>,
    /// The forecast judging the rows (made before the newest ones).
    pub forecast: Option<Arc<FrameForecast>>,
    pub forecast_state: ForecastState,
    /// When the forecast in use was started (Unix ms).
    pub forecast_started_ms: Option<i64>,
    pub model: ModelState,
    pub training: Option<TrainProgress>,
    pub is_training: bool,
    /// The last load or training error (the old model stays in use).
    pub model_error: Option<String>,
    /// Training jobs by id, for `GET /train/{id}`.
    pub jobs: BTreeMap<u64, TrainJobState>,
    pub next_retrain_ms: Option<i64>,
    pub model_age_secs: Option<f64>,
    pub last_training_secs: Option<f64>,
    pub live: Option<LiveStatus>,
    pub last_refresh_ms: Option<i64>,
    /// Failed fetches by reason class.
    pub fetch_errors: BTreeMap<String, u64>,
    pub last_fetch_error: Option<String>,
    /// Live events going on (with their history ids).
    pub open_events: Vec<AnomalyEvent>,
    /// The last history write error, if the last write failed.
    pub history_error: Option<String>,
    /// A fit, a training or a first load still running.
    pub busy: bool,
    /// The fleet: which series are stale or still in probation, what the
    /// last fetch left out, and the shard followed.
    pub fleet: FleetStatus,
    /// The autoencoder as models per entity (data of more than one
    /// entity); None: one model over the data set (`model`).
    pub entity_models: Option<EntityModels>,
}

/// A fleet's models per entity, as of one update.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntityModels {
    /// Entities in the data.
    pub entities: usize,
    /// Of those, the ones whose model scores them.
    pub scored: usize,
    /// The training of models per entity in progress.
    pub training: Option<crate::engine::schedule::EntityJobProgress>,
    /// Models under the model directory that could not be read.
    pub load_errors: Vec<String>,
}

/// How the followed series stand (live data).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetStatus {
    /// Series with no value in their last two steps (kept for
    /// `fleet.stale_after`).
    pub stale: Vec<String>,
    /// Series whose detectors are still learning.
    pub in_probation: Vec<String>,
    pub selection: crate::fleet::Selection,
    pub shard: Option<crate::fleet::Shard>,
}

impl View {
    /// A view with nothing in it yet (the model still loading).
    pub fn empty() -> Self {
        Self {
            frame: Arc::new(MetricFrame::default()),
            kind: DataKind::File,
            label: String::new(),
            warnings: Vec::new(),
            judged: Arc::new(Assessment::default()),
            forecast: None,
            forecast_state: ForecastState::Off,
            forecast_started_ms: None,
            model: ModelState::Loading,
            training: None,
            is_training: false,
            model_error: None,
            jobs: BTreeMap::new(),
            next_retrain_ms: None,
            model_age_secs: None,
            last_training_secs: None,
            live: None,
            last_refresh_ms: None,
            fetch_errors: BTreeMap::new(),
            last_fetch_error: None,
            open_events: Vec::new(),
            history_error: None,
            busy: true,
            fleet: FleetStatus::default(),
            entity_models: None,
        }
    }
}

/// One report from the monitor.
#[derive(Debug, Clone)]
pub struct Update {
    /// How many commands the monitor had taken when it sent this.
    pub commands_done: u64,
    pub view: Arc<View>,
    /// Live events that started, rose or ended since the previous update
    /// (alerts are made from these).
    pub changes: super::tracker::EventChanges,
    /// What the monitor did since the previous update, in words.
    pub notes: Vec<String>,
}
