//! The desktop window (eframe/egui). It owns the UI state, starts engine jobs
//! (forecast, model load and scoring, training, CSV loading, live polling) on
//! worker threads and polls their bounded channels each frame; the panels take
//! what they need and return [`UiCommand`]s instead of touching the app.

mod anomaly_table;
mod plot_panel;
mod settings;
mod side_panel;
pub mod state;
mod theme;
mod top_bar;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};

use anyhow::Context as _;
use eframe::egui;
use egui_plot::PlotPoint;

use crate::config::{self, Config, ConfigSource};
use crate::data::{self, CsvLoad, DataError, MetricFrame};
use crate::detect::train::TrainProgress;
use crate::detect::{ModelMeta, Scores};
use crate::engine::{self, LiveEvent, LiveJob, ModelLoad};
use crate::eval;
use crate::forecast::{ForecastError, ForecastModel, ForecastSettings, FrameForecast};

pub use anomaly_table::{AnomalyEvent, EventSource, HistoryNote};
pub use plot_panel::format_time_axis;
use plot_panel::{BandOverlay, MetricSeries, RowDetails};
use side_panel::{MetricRow, ModelPanel, TestSummary};
use state::{Mode, State};
use top_bar::SourceInfo;

/// The bundled sample data (`sample_data/multivariant_data.csv`), so the
/// window has something to show on a machine without Prometheus.
pub const SAMPLE_CSV: &[u8] = include_bytes!("../../sample_data/multivariant_data.csv");

/// What the window shows and where it came from.
pub struct LoadedData {
    pub frame: MetricFrame,
    pub label: String,
    pub warnings: Vec<String>,
}

impl LoadedData {
    fn from_csv(load: CsvLoad, label: String) -> Self {
        Self {
            warnings: load.warnings.iter().map(ToString::to_string).collect(),
            frame: load.frame,
            label,
        }
    }
}

/// Loads `csv`, or the bundled sample data when `None`.
pub fn load_data(csv: Option<PathBuf>) -> anyhow::Result<LoadedData> {
    match csv {
        Some(path) => Ok(LoadedData::from_csv(
            data::read_csv(&path)?,
            path.display().to_string(),
        )),
        None => sample_data(),
    }
}

fn sample_data() -> anyhow::Result<LoadedData> {
    let load = data::parse_csv(SAMPLE_CSV, "bundled sample_data/multivariant_data.csv")
        .context("the bundled sample data is corrupt")?;
    Ok(LoadedData::from_csv(load, "bundled sample data".to_owned()))
}

/// What a panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    SetMode(Mode),
    Train,
    CancelTraining,
    SetThreshold(f64),
    SetShowForecast(bool),
    OpenCsvDialog,
    OpenCsv(PathBuf),
    SetSpikes {
        rate: f64,
        magnitude: f64,
    },
    Reseed,
    Refresh,
    /// Zoom every plot to this span (Unix ms).
    ZoomTo {
        start_ms: i64,
        end_ms: i64,
    },
    /// For this session (the settings window saves it to the file).
    SetRefreshInterval(std::time::Duration),
    OpenSettings,
    SetSetting {
        key: config::edit::SettingKey,
        value: String,
    },
    SaveSettings,
}

/// Where the forecast of the data in view stands.
pub enum ForecastStatus {
    /// `prophet_model.enabled` or the toggle is off.
    Off,
    Running(Receiver<Result<FrameForecast, ForecastError>>),
    /// `marked_points`: points marked as anomalies, over all metrics.
    Ready {
        marked_points: usize,
    },
    Failed(String),
}

/// The model in use.
enum ModelStatus {
    Loading(Receiver<ModelLoad>),
    Missing,
    Ready(Box<ActiveModel>),
    Failed(String),
}

struct ActiveModel {
    /// First timestamp of the frame `scores` belong to.
    frame_start_ms: Option<i64>,
    saved: std::sync::Arc<crate::detect::SavedModel>,
    meta: ModelMeta,
    scores: Scores,
    /// The slider's value; starts at the model's own threshold.
    threshold: f64,
}

/// Live mode's connection state, for the top bar.
pub enum LiveStatus {
    Connecting,
    Connected {
        last_refresh_ms: i64,
    },
    Down {
        reason: String,
        retry_at: std::time::Instant,
    },
}

pub struct PulseWatchApp {
    ctx: egui::Context,
    config: Config,
    state: State,
    state_path: Option<PathBuf>,
    source: SourceInfo,
    /// The data as loaded (file, sample data or the last live fetch).
    base: MetricFrame,
    /// The data in view: `base`, plus injected spikes in Test mode.
    frame: MetricFrame,
    /// Test mode: 1 where a spike was injected, and which column got it.
    injected: Option<(Vec<u8>, Vec<Option<usize>>)>,
    series: Vec<MetricSeries>,
    forecast: ForecastStatus,
    forecast_data: Option<FrameForecast>,
    /// When the forecast in `forecast_data` was started (Live mode reuses it
    /// until its schedule says refit).
    forecast_started: Option<std::time::Instant>,
    model: ModelStatus,
    /// New data being scored with the model in use (which stays on screen).
    rescoring: Option<Receiver<ModelLoad>>,
    /// The online detector (`detection.method`) running over the data in view.
    online: Option<engine::OnlineJob>,
    online_scores: Option<engine::OnlineScores>,
    /// The autoencoder's trainings: the daemon's rules (first model,
    /// schedule, drift) and one job at a time.
    keeper: engine::schedule::ModelKeeper,
    model_error: Option<String>,
    csv_job: Option<(PathBuf, Receiver<Result<CsvLoad, DataError>>)>,
    dialog_job: Option<Receiver<Option<PathBuf>>>,
    load_error: Option<String>,
    live: Option<(LiveJob, LiveStatus)>,
    test_summary: Option<TestSummary>,
    /// Data shown before Live mode took over, to return to.
    offline: Option<LoadedData>,
    events: Vec<AnomalyEvent>,
    /// The table's rows: `events` plus past events from the history.
    table_events: Vec<AnomalyEvent>,
    /// The history database's thread (None: it could not start).
    history: Option<crate::engine::HistoryJob>,
    /// Past events overlapping the data in view (Long-term mode).
    history_events: Vec<AnomalyEvent>,
    history_note: anomaly_table::HistoryNote,
    /// Live events already written to the history (metric, start, end).
    recorded: std::collections::HashSet<(String, i64, i64)>,
    /// Every event seen this session (metric, start), across refreshes and files.
    session_events: std::collections::HashSet<(String, i64)>,
    /// The model's per-row scores for hover labels (with a model).
    row_details: Option<RowDetails>,
    /// Set by a click in the anomaly table, applied by the plots next frame.
    zoom_to: Option<(f64, f64)>,
    /// The file the config came from (None: built-in defaults).
    config_path: Option<PathBuf>,
    settings: Option<settings::SettingsForm>,
}

impl PulseWatchApp {
    /// Builds the app on `loaded` and starts its jobs; `ctx` is woken by them.
    pub fn new(
        ctx: &egui::Context,
        config: Config,
        config_source: &ConfigSource,
        loaded: LoadedData,
        state: State,
        state_path: Option<PathBuf>,
    ) -> Self {
        let device = match crate::detect::resolve_device(config.lstm.device) {
            Ok(device) => device.to_string(),
            Err(error) => format!("unavailable: {error}"),
        };
        // The app loads its model itself, off the UI thread (`start_scoring`).
        let keeper = engine::schedule::ModelKeeper::without_model(
            std::sync::Arc::new(engine::schedule::SystemClock),
            config.lstm.clone(),
            config::resolve_data_path(&config.lstm.save_path),
        )
        .with_source("app");
        let mut app = Self {
            ctx: ctx.clone(),
            source: SourceInfo {
                label: String::new(),
                rows: 0,
                metrics: 0,
                warnings: Vec::new(),
                prometheus_url: config.prometheus.base_url.clone(),
                config_source: config_source.to_string(),
                device,
                live: None,
            },
            config,
            state,
            state_path,
            base: MetricFrame::default(),
            frame: MetricFrame::default(),
            injected: None,
            series: Vec::new(),
            forecast: ForecastStatus::Off,
            forecast_data: None,
            forecast_started: None,
            model: ModelStatus::Missing,
            rescoring: None,
            online: None,
            online_scores: None,
            keeper,
            model_error: None,
            csv_job: None,
            dialog_job: None,
            load_error: None,
            live: None,
            test_summary: None,
            offline: None,
            events: Vec::new(),
            table_events: Vec::new(),
            history: None,
            history_events: Vec::new(),
            history_note: anomaly_table::HistoryNote::Unused,
            recorded: std::collections::HashSet::new(),
            session_events: std::collections::HashSet::new(),
            row_details: None,
            zoom_to: None,
            config_path: match config_source {
                ConfigSource::File(path) => Some(path.clone()),
                ConfigSource::BuiltIn => None,
            },
            settings: None,
        };
        let wake = ctx.clone();
        match crate::engine::spawn_history(crate::history::path_for(&app.config), move || {
            wake.request_repaint()
        }) {
            Ok(job) => app.history = Some(job),
            Err(error) => app.history_note = anomaly_table::HistoryNote::Failed(error.to_string()),
        }
        app.set_data(loaded);
        if app.state.mode == Mode::Live {
            app.start_live();
        }
        app
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Points flagged in the data in view (LSTM over the threshold, or far
    /// outside a metric's band), over all metrics.
    pub fn anomaly_count(&self) -> usize {
        self.series
            .iter()
            .map(|s| s.anomalies.len() + s.false_positives.len())
            .sum()
    }

    /// Anomaly events (runs of flagged points per metric), oldest first.
    pub fn anomaly_events(&self) -> &[AnomalyEvent] {
        &self.events
    }

    /// The anomaly table's rows: detected events plus past ones from the
    /// history (Long-term mode), oldest first.
    pub fn table_events(&self) -> &[AnomalyEvent] {
        &self.table_events
    }

    /// Whether every metric has a forecast (none failed, none running).
    pub fn forecast_ready(&self) -> bool {
        matches!(self.forecast, ForecastStatus::Ready { .. })
            && self
                .forecast_data
                .as_ref()
                .is_some_and(|f| f.series.iter().all(Result::is_ok))
    }

    /// What the table says about the history database.
    pub fn history_note(&self) -> &anomaly_table::HistoryNote {
        &self.history_note
    }

    /// The span the plots were last asked to zoom to (Unix seconds).
    pub fn pending_zoom(&self) -> Option<(f64, f64)> {
        self.zoom_to
    }

    pub fn is_training(&self) -> bool {
        self.keeper.is_training()
    }

    /// The latest training progress, while training.
    pub fn training_progress(&self) -> Option<&TrainProgress> {
        self.keeper.progress()
    }

    /// Live mode's connection state in words ("connected, …", "down: …").
    pub fn live_status(&self) -> Option<&str> {
        self.source.live.as_deref()
    }

    /// The active model's creation time, if there is one.
    pub fn model_created_at(&self) -> Option<&str> {
        match &self.model {
            ModelStatus::Ready(m) => Some(&m.meta.created_at),
            _ => None,
        }
    }

    pub fn model_threshold(&self) -> Option<f64> {
        match &self.model {
            ModelStatus::Ready(m) => Some(m.threshold),
            _ => None,
        }
    }

    /// The settings form's validation message, when it has one.
    pub fn settings_error(&self) -> Option<&str> {
        self.settings.as_ref().and_then(|f| f.error())
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The data in view.
    pub fn frame(&self) -> &MetricFrame {
        &self.frame
    }

    /// When the forecast on screen was started.
    pub fn forecast_started(&self) -> Option<std::time::Instant> {
        self.forecast_started
    }

    /// The last load, model or training error shown to the user.
    pub fn error_message(&self) -> Option<&str> {
        self.load_error.as_deref().or(self.model_error.as_deref())
    }

    pub fn data_label(&self) -> &str {
        &self.source.label
    }

    pub fn test_metrics(&self) -> Option<&eval::PointMetrics> {
        self.test_summary.as_ref().map(|t| &t.metrics)
    }

    /// Every job idle (nothing loading, fitting, training or being scored).
    pub fn is_idle(&self) -> bool {
        !matches!(self.forecast, ForecastStatus::Running(_))
            && !matches!(self.model, ModelStatus::Loading(_))
            && self.rescoring.is_none()
            && self.online.is_none()
            && !self.keeper.is_training()
            && self.csv_job.is_none()
    }

    fn save_state(&mut self) {
        if let Some(path) = &self.state_path
            && let Err(error) = self.state.save(path)
        {
            self.load_error = Some(format!("cannot save the window state: {error}"));
        }
    }

    fn wake(&self) -> impl Fn() + Send + Sync + 'static {
        let ctx = self.ctx.clone();
        move || ctx.request_repaint()
    }

    fn set_data(&mut self, loaded: LoadedData) {
        self.source.label = loaded.label;
        self.source.rows = loaded.frame.len();
        self.source.metrics = loaded.frame.names().len();
        self.source.warnings = loaded.warnings;
        self.base = loaded.frame;
        self.rebuild_view();
    }

    /// Rebuilds what is in view from `base` and restarts forecast and scoring.
    fn rebuild_view(&mut self) {
        self.injected = None;
        self.frame = self.base.clone();
        if self.state.mode == Mode::Test {
            match data::inject_spikes(
                &self.base,
                self.state.spike_rate,
                self.state.spike_magnitude,
                self.state.spike_seed,
            ) {
                Ok((frame, spikes)) => {
                    let columns = spikes
                        .iter()
                        .enumerate()
                        .map(|(row, spiked)| {
                            (*spiked == 1).then(|| changed_column(&self.base, &frame, row))?
                        })
                        .collect();
                    self.injected = Some((spikes, columns));
                    self.frame = frame;
                }
                Err(error) => self.load_error = Some(error.to_string()),
            }
        }
        let frame = &self.frame;
        self.series = frame
            .names()
            .iter()
            .zip(frame.columns())
            .map(|(name, column)| MetricSeries {
                name: name.clone(),
                points: frame
                    .timestamps_ms()
                    .iter()
                    .zip(column)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| PlotPoint::new(*t as f64 / 1000.0, *v))
                    .collect(),
                band: None,
                anomalies: Vec::new(),
                false_positives: Vec::new(),
                missed: Vec::new(),
            })
            .collect();
        if self.forecast_is_current() {
            if let Some(forecast) = self.forecast_data.take() {
                self.apply_forecast(forecast);
            }
        } else {
            self.forecast_data = None;
            self.start_forecast();
        }
        self.start_scoring();
        self.start_online();
        self.request_history();
    }

    /// Runs the online detector over the data in view on a worker thread.
    /// Live mode lets a running pass land first (it is matched to the data
    /// by first timestamp and length); elsewhere a pass over data no longer
    /// in view is cancelled.
    fn start_online(&mut self) {
        if self.online.is_some() && self.state.mode == Mode::Live {
            return;
        }
        // Dropping the old job sets its cancel flag.
        self.online = None;
        match engine::spawn_online_detection(
            self.frame.clone(),
            self.config.detection.method,
            self.wake(),
        ) {
            Ok(job) => self.online = Some(job),
            Err(error) => self.model_error = Some(error.to_string()),
        }
    }

    fn poll_online(&mut self) {
        let Some(job) = &self.online else {
            return;
        };
        match job.result.try_recv() {
            Ok(Some(scores)) => {
                self.online = None;
                self.online_scores = Some(scores);
                self.rebuild_markers();
            }
            Ok(None) => self.online = None,
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                self.online = None;
                self.model_error = Some("the online detector's thread stopped".into());
            }
        }
    }

    /// Live mode keeps a forecast until its schedule says refit: half the
    /// horizon (so there is always a forecast ahead) or
    /// `prophet_model.retrain_interval`, whichever is sooner, or when the data
    /// has run past it. Points that arrive meanwhile are judged by the
    /// forecast made before they were seen.
    fn forecast_is_current(&self) -> bool {
        if self.state.mode != Mode::Live || !self.state.show_forecast {
            return false;
        }
        let (Some(started), Some(forecast)) = (self.forecast_started, &self.forecast_data) else {
            return false;
        };
        let every =
            (self.config.prophet.forecast_horizon / 2).min(self.config.prophet.retrain_interval);
        let newest = self.frame.timestamps_ms().last().copied().unwrap_or(0);
        started.elapsed() < every && forecast.covers(newest)
    }

    /// Draws `forecast` over the data in view.
    fn apply_forecast(&mut self, forecast: FrameForecast) {
        let failures: Vec<String> = forecast
            .series
            .iter()
            .filter_map(|s| s.as_ref().err())
            .map(ToString::to_string)
            .collect();
        for series in &mut self.series {
            if let (Some(f), Some(values)) =
                (forecast.get(&series.name), self.frame.column(&series.name))
            {
                series.band = Some(BandOverlay::new(f, self.frame.timestamps_ms(), values));
            }
        }
        self.forecast = if failures.is_empty() {
            ForecastStatus::Ready { marked_points: 0 }
        } else {
            ForecastStatus::Failed(failures.join("; "))
        };
        self.forecast_data = Some(forecast);
        self.rebuild_markers();
    }

    fn start_forecast(&mut self) {
        // Live refreshes can come faster than a busy machine fits: let the
        // running fit land (it is matched to the data by timestamp).
        if self.state.mode == Mode::Live && matches!(self.forecast, ForecastStatus::Running(_)) {
            return;
        }
        self.forecast = if self.config.prophet.enabled && self.state.show_forecast {
            let settings = ForecastSettings::from_config(&self.config, ForecastModel::Prophet);
            self.forecast_started = Some(std::time::Instant::now());
            match engine::spawn_forecast(self.frame.clone(), settings, self.wake()) {
                Ok(receiver) => ForecastStatus::Running(receiver),
                Err(error) => ForecastStatus::Failed(error.to_string()),
            }
        } else {
            ForecastStatus::Off
        };
    }

    fn model_dir(&self) -> PathBuf {
        config::resolve_data_path(&self.config.lstm.save_path)
    }

    /// Scores the data in view: with the model in use when there is one (it
    /// stays on screen meanwhile), else by loading the saved model.
    fn start_scoring(&mut self) {
        if !self.config.lstm.enabled {
            self.model = ModelStatus::Missing;
            return;
        }
        if self.rescoring.is_some() && self.state.mode == Mode::Live {
            return;
        }
        if matches!(self.model, ModelStatus::Loading(_)) && self.state.mode == Mode::Live {
            return;
        }
        if let ModelStatus::Ready(model) = &self.model {
            let ctx = self.ctx.clone();
            match engine::spawn_scoring((*model.saved).clone(), self.frame.clone(), move || {
                ctx.request_repaint()
            }) {
                Ok(receiver) => self.rescoring = Some(receiver),
                Err(error) => self.model_error = Some(error.to_string()),
            }
            return;
        }
        self.model = match engine::spawn_model_load(self.model_dir(), self.frame.clone(), {
            let ctx = self.ctx.clone();
            move || ctx.request_repaint()
        }) {
            Ok(receiver) => ModelStatus::Loading(receiver),
            Err(error) => ModelStatus::Failed(error.to_string()),
        };
    }

    fn start_live(&mut self) {
        let job = engine::spawn_live(
            self.config.prometheus.clone(),
            self.config.metrics.clone(),
            self.config.dashboard.refresh_interval,
            self.wake(),
        );
        match job {
            Ok(job) => self.live = Some((job, LiveStatus::Connecting)),
            Err(error) => self.load_error = Some(error.to_string()),
        }
    }

    /// Applies one command from a panel or a shortcut.
    pub fn apply(&mut self, command: UiCommand) {
        match command {
            UiCommand::SetMode(mode) if mode != self.state.mode => {
                let leaving_live = self.state.mode == Mode::Live;
                self.state.mode = mode;
                self.save_state();
                if leaving_live {
                    self.live = None;
                    self.source.live = None;
                    if let Some(offline) = self.offline.take() {
                        self.set_data(offline);
                        return;
                    }
                }
                if mode == Mode::Live {
                    self.offline = Some(LoadedData {
                        frame: self.base.clone(),
                        label: self.source.label.clone(),
                        warnings: self.source.warnings.clone(),
                    });
                    self.start_live();
                }
                self.rebuild_view();
            }
            UiCommand::SetMode(_) => {}
            UiCommand::Train => self.start_training(),
            UiCommand::CancelTraining => self.keeper.cancel(),
            UiCommand::SetThreshold(threshold) => {
                if let ModelStatus::Ready(model) = &mut self.model {
                    model.threshold = threshold;
                    self.rebuild_markers();
                }
            }
            UiCommand::SetShowForecast(show) => {
                self.state.show_forecast = show;
                self.save_state();
                if show {
                    self.start_forecast();
                } else {
                    self.forecast = ForecastStatus::Off;
                    self.forecast_data = None;
                    for series in &mut self.series {
                        series.band = None;
                    }
                    self.rebuild_markers();
                }
            }
            UiCommand::OpenCsvDialog => self.open_dialog(),
            UiCommand::OpenCsv(path) => {
                match engine::spawn_csv_load(path.clone(), {
                    let ctx = self.ctx.clone();
                    move || ctx.request_repaint()
                }) {
                    Ok(receiver) => self.csv_job = Some((path, receiver)),
                    Err(error) => self.load_error = Some(error.to_string()),
                }
            }
            UiCommand::SetSpikes { rate, magnitude } => {
                self.state.spike_rate = rate.clamp(0.0, 1.0);
                self.state.spike_magnitude = magnitude;
                self.save_state();
                self.rebuild_view();
            }
            UiCommand::Reseed => {
                self.state.spike_seed = self.state.spike_seed.wrapping_add(1);
                self.save_state();
                self.rebuild_view();
            }
            UiCommand::ZoomTo { start_ms, end_ms } => {
                // A little context either side, at least a few minutes.
                let pad_ms = ((end_ms - start_ms) / 2).max(300_000);
                self.zoom_to = Some((
                    (start_ms - pad_ms) as f64 / 1000.0,
                    (end_ms + pad_ms) as f64 / 1000.0,
                ));
            }
            UiCommand::SetRefreshInterval(interval) => {
                self.config.dashboard.refresh_interval = interval;
                if self.state.mode == Mode::Live {
                    self.start_live();
                }
            }
            UiCommand::OpenSettings => {
                // The file it came from; with built-in defaults, the file
                // `config init` would write.
                let path = self
                    .config_path
                    .clone()
                    .or_else(|| config::config_dir().map(|d| d.join("user_config.yml")));
                match path {
                    Some(path) => {
                        let mut form = settings::SettingsForm::new(&self.config, path);
                        form.open = true;
                        self.settings = Some(form);
                    }
                    None => {
                        self.load_error =
                            Some("no config directory on this platform to save settings in".into())
                    }
                }
            }
            UiCommand::SetSetting { key, value } => {
                if let Some(form) = &mut self.settings {
                    form.set(&key, &value);
                }
            }
            UiCommand::SaveSettings => {
                let Some(form) = &mut self.settings else {
                    return;
                };
                match form.save() {
                    Ok(config) => {
                        self.config_path = Some(form.path().to_owned());
                        self.source.config_source = form.path().display().to_string();
                        self.source.prometheus_url = config.prometheus.base_url.clone();
                        self.config = config;
                        // Trainings from now on use the new settings.
                        self.keeper
                            .configure(self.config.lstm.clone(), self.model_dir());
                        if self.state.mode == Mode::Live {
                            self.start_live();
                        }
                        self.rebuild_view();
                    }
                    // The file is untouched; the form shows why.
                    Err(error) => self.load_error = Some(error),
                }
            }
            UiCommand::Refresh => {
                if self.state.mode == Mode::Live {
                    self.start_live();
                } else {
                    self.rebuild_view();
                }
            }
        }
    }

    fn start_training(&mut self) {
        if !self.config.dashboard.retrain_button_enabled {
            return;
        }
        self.start_training_because(engine::schedule::RetrainReason::Manual);
    }

    fn start_training_because(&mut self, reason: engine::schedule::RetrainReason) {
        if self.keeper.is_training() {
            return;
        }
        self.model_error = None;
        let wake = self.wake();
        if let Err(error) = self.keeper.start(self.frame.clone(), reason, wake) {
            self.model_error = Some(error.to_string());
        }
    }

    /// Live mode keeps the model fresh by the daemon's rules, through the
    /// same [`engine::schedule::ModelKeeper`]: without a model it trains a
    /// first one as soon as Prometheus has sent enough complete rows (a
    /// failed attempt is retried a minute later); with one, it retrains when
    /// `lstm_model.retrain_interval` has passed since the last training, or
    /// early when the drift rule fires on the windows scored since the model
    /// was trained (at most one drift retrain per cool-down).
    fn maybe_retrain_live(&mut self) {
        use crate::engine::schedule;
        if self.state.mode != Mode::Live || self.keeper.is_training() || !self.config.lstm.enabled {
            return;
        }
        let due = match &self.model {
            ModelStatus::Missing => {
                // Until the first fetch lands the frame is still the offline data.
                let live_frame = matches!(self.live, Some((_, LiveStatus::Connected { .. })));
                if !live_frame || !self.keeper.enough_data(&self.frame) {
                    return;
                }
                self.keeper.due(&[])
            }
            ModelStatus::Ready(model) => {
                let scores_current = model.scores.rows.error.len() == self.frame.len()
                    && model
                        .frame_start_ms
                        .is_none_or(|start| self.frame.timestamps_ms().first() == Some(&start));
                if !scores_current {
                    return;
                }
                let recent = schedule::errors_since_training(
                    &model.scores.window_errors,
                    self.frame.timestamps_ms(),
                    &model.saved,
                );
                self.keeper.due(&recent)
            }
            // A model that failed to load is not replaced behind the user's back.
            ModelStatus::Loading(_) | ModelStatus::Failed(_) => return,
        };
        if let Some(reason) = due {
            self.start_training_because(reason);
        }
    }

    fn open_dialog(&mut self) {
        if self.dialog_job.is_some() {
            return;
        }
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let ctx = self.ctx.clone();
        // rfd's dialog blocks its thread: it gets one of its own.
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Open a metrics CSV")
                    .add_filter("CSV", &["csv"])
                    .pick_file();
                let _ = sender.send(picked);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.dialog_job = Some(receiver),
            Err(error) => self.load_error = Some(format!("cannot open the file dialog: {error}")),
        }
    }

    /// Takes whatever the jobs have finished; never blocks.
    pub fn poll_jobs(&mut self) {
        self.poll_history();
        self.poll_forecast();
        self.poll_model();
        self.poll_online();
        self.poll_training();
        self.poll_files();
        self.poll_live();
    }

    /// Long-term mode shows past events that overlap the data in view:
    /// asks the history thread for them (never waits for it).
    fn request_history(&mut self) {
        self.history_events.clear();
        if self.state.mode != Mode::LongTerm {
            self.history_note = anomaly_table::HistoryNote::Unused;
            self.merge_table();
            return;
        }
        let stamps = self.frame.timestamps_ms();
        let (Some(&from_ms), Some(&to_ms), Some(job)) =
            (stamps.first(), stamps.last(), &self.history)
        else {
            return;
        };
        // A full queue means the thread is busy; the next view asks again.
        let _ = job
            .requests
            .try_send(crate::engine::HistoryRequest::Load { from_ms, to_ms });
    }

    fn poll_history(&mut self) {
        let Some(job) = &self.history else {
            return;
        };
        let mut changed = false;
        while let Ok(reply) = job.replies.try_recv() {
            match reply {
                crate::engine::HistoryReply::Events {
                    from_ms,
                    to_ms,
                    events,
                } => {
                    let stamps = self.frame.timestamps_ms();
                    // An answer for data no longer in view is stale.
                    if self.state.mode != Mode::LongTerm
                        || stamps.first() != Some(&from_ms)
                        || stamps.last() != Some(&to_ms)
                    {
                        continue;
                    }
                    self.history_note = anomaly_table::HistoryNote::Read(events.len());
                    self.history_events = events
                        .into_iter()
                        .map(|e| AnomalyEvent {
                            start_ms: e.start_ms,
                            end_ms: e.end_ms.unwrap_or(to_ms),
                            metric: e.metric,
                            peak_score: e.peak_score * 100.0,
                            points: 0,
                            source: anomaly_table::EventSource::History,
                        })
                        .collect();
                    changed = true;
                }
                crate::engine::HistoryReply::Failed(error) => {
                    self.history_note = anomaly_table::HistoryNote::Failed(error);
                }
            }
        }
        if changed {
            self.merge_table();
        }
    }

    /// The table: events found now, plus past ones not found again.
    fn merge_table(&mut self) {
        let found: std::collections::HashSet<(&str, i64)> = self
            .events
            .iter()
            .map(|e| (e.metric.as_str(), e.start_ms))
            .collect();
        let mut table: Vec<AnomalyEvent> = self.events.clone();
        table.extend(
            self.history_events
                .iter()
                .filter(|e| !found.contains(&(e.metric.as_str(), e.start_ms)))
                .cloned(),
        );
        table.sort_by_key(|e| e.start_ms);
        self.table_events = table;
    }

    /// Live mode writes the events it found to the history once they have
    /// ended (an event still growing is written when it ends), so the
    /// daemon, `pulsewatch history` and Long-term mode see them.
    fn record_live_events(&mut self) {
        let (Mode::Live, Some(job)) = (self.state.mode, &self.history) else {
            return;
        };
        let Some(&newest) = self.frame.timestamps_ms().last() else {
            return;
        };
        let model_version = match &self.model {
            ModelStatus::Ready(model) => format!("app lstm {}", model.meta.created_at),
            _ => "app forecast band".to_owned(),
        };
        let ended: Vec<crate::history::AnomalyEvent> = self
            .events
            .iter()
            .filter(|e| e.end_ms < newest)
            .filter(|e| {
                !self
                    .recorded
                    .contains(&(e.metric.clone(), e.start_ms, e.end_ms))
            })
            .map(|e| crate::history::AnomalyEvent {
                id: 0,
                metric: e.metric.clone(),
                start_ms: e.start_ms,
                end_ms: Some(e.end_ms),
                peak_score: e.peak_score / 100.0,
                severity: e.severity().to_owned(),
                model_version: model_version.clone(),
            })
            .collect();
        if ended.is_empty() {
            return;
        }
        let keys: Vec<(String, i64, i64)> = ended
            .iter()
            .map(|e| (e.metric.clone(), e.start_ms, e.end_ms.unwrap_or(e.start_ms)))
            .collect();
        // Only marked as recorded once queued: a full queue tries again at
        // the next refresh.
        if job
            .requests
            .try_send(crate::engine::HistoryRequest::Record(ended))
            .is_ok()
        {
            self.recorded.extend(keys);
        }
    }

    fn poll_forecast(&mut self) {
        let ForecastStatus::Running(receiver) = &self.forecast else {
            return;
        };
        let result = match receiver.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => {
                self.forecast = ForecastStatus::Failed("the forecast thread stopped".into());
                return;
            }
        };
        match result {
            Ok(forecast) => self.apply_forecast(forecast),
            Err(error) => {
                self.forecast = ForecastStatus::Failed(error.to_string());
                self.rebuild_markers();
            }
        }
    }

    fn poll_model(&mut self) {
        if let Some(receiver) = &self.rescoring {
            match receiver.try_recv() {
                Ok(Ok(Some(loaded))) => {
                    self.rescoring = None;
                    if let ModelStatus::Ready(model) = &mut self.model {
                        model.scores = loaded.scores;
                        model.frame_start_ms = loaded.frame_start_ms;
                    }
                    self.rebuild_markers();
                }
                Ok(Ok(None)) | Err(TryRecvError::Disconnected) => self.rescoring = None,
                Ok(Err(error)) => {
                    self.rescoring = None;
                    self.model_error = Some(error);
                }
                Err(TryRecvError::Empty) => {}
            }
        }
        let ModelStatus::Loading(receiver) = &self.model else {
            return;
        };
        self.model = match receiver.try_recv() {
            Ok(Ok(Some(loaded))) => {
                let saved = std::sync::Arc::new(loaded.saved);
                self.keeper.adopt(std::sync::Arc::clone(&saved));
                ModelStatus::Ready(Box::new(ActiveModel {
                    frame_start_ms: loaded.frame_start_ms,
                    threshold: loaded.scores.threshold,
                    meta: saved.meta.clone(),
                    saved,
                    scores: loaded.scores,
                }))
            }
            Ok(Ok(None)) => {
                self.keeper.forget_model();
                ModelStatus::Missing
            }
            Ok(Err(error)) => ModelStatus::Failed(error),
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => {
                ModelStatus::Failed("the model thread stopped".into())
            }
        };
        self.rebuild_markers();
    }

    fn poll_training(&mut self) {
        let Some(finished) = self.keeper.poll() else {
            return;
        };
        if let Some(job) = &self.history {
            let _ = job
                .requests
                .try_send(crate::engine::HistoryRequest::RecordTraining(finished.run));
        }
        match (self.keeper.model(), finished.scores) {
            (Some(saved), Some(scores)) if finished.swapped_in => {
                self.model = ModelStatus::Ready(Box::new(ActiveModel {
                    // Trained (and scored) on the frame in view when
                    // training started.
                    frame_start_ms: None,
                    threshold: scores.threshold,
                    meta: saved.meta.clone(),
                    saved: std::sync::Arc::clone(saved),
                    scores,
                }));
                self.rebuild_markers();
            }
            // The old model stays in place and in use.
            _ => {
                self.model_error = Some(
                    self.keeper
                        .last_error()
                        .unwrap_or("the training ended without a model")
                        .to_owned(),
                )
            }
        }
    }

    fn poll_files(&mut self) {
        if let Some(receiver) = &self.dialog_job {
            match receiver.try_recv() {
                Ok(Some(path)) => {
                    self.dialog_job = None;
                    self.apply(UiCommand::OpenCsv(path));
                }
                Ok(None) | Err(TryRecvError::Disconnected) => self.dialog_job = None,
                Err(TryRecvError::Empty) => {}
            }
        }
        if let Some((path, receiver)) = &self.csv_job {
            let path = path.clone();
            match receiver.try_recv() {
                Ok(Ok(load)) => {
                    self.csv_job = None;
                    self.load_error = None;
                    self.state.last_file = Some(path.clone());
                    self.save_state();
                    if self.state.mode == Mode::Live {
                        self.apply(UiCommand::SetMode(Mode::LongTerm));
                    }
                    self.set_data(LoadedData::from_csv(load, path.display().to_string()));
                }
                // The data in view stays; the error names the file and line.
                Ok(Err(error)) => {
                    self.csv_job = None;
                    self.load_error = Some(error.to_string());
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => {
                    self.csv_job = None;
                    self.load_error = Some(format!("{}: the reader stopped", path.display()));
                }
            }
        }
    }

    fn poll_live(&mut self) {
        let Some((job, _)) = &self.live else {
            return;
        };
        let mut latest = None;
        let mut failure = None;
        while let Ok(event) = job.events.try_recv() {
            match event {
                LiveEvent::Frame {
                    frame,
                    warnings,
                    fetched_at_ms,
                } => latest = Some((frame, warnings, fetched_at_ms)),
                LiveEvent::Failed { reason, retry_in } => {
                    failure = Some((reason, std::time::Instant::now() + retry_in));
                }
            }
        }
        if let Some((frame, warnings, fetched_at_ms)) = latest {
            let url = self.config.prometheus.base_url.clone();
            if let Some((_, status)) = &mut self.live {
                *status = LiveStatus::Connected {
                    last_refresh_ms: fetched_at_ms,
                };
            }
            self.set_data(LoadedData {
                frame,
                label: url,
                warnings,
            });
        } else if let Some((reason, retry_at)) = failure
            && let Some((_, status)) = &mut self.live
        {
            *status = LiveStatus::Down { reason, retry_at };
        }
        self.source.live = self.live.as_ref().map(|(_, status)| match status {
            LiveStatus::Connecting => "connecting…".to_owned(),
            LiveStatus::Connected { last_refresh_ms } => format!(
                "connected, last refresh {}",
                data::time::format_rfc3339_ms(*last_refresh_ms)
            ),
            LiveStatus::Down { reason, retry_at } => format!(
                "down: {reason} (retry in {} s)",
                retry_at
                    .saturating_duration_since(std::time::Instant::now())
                    .as_secs()
            ),
        });
    }

    /// Recomputes the anomaly markers from the model's row errors at the
    /// current threshold and the forecast bands; in Test mode, splits them
    /// against the injected spikes.
    fn rebuild_markers(&mut self) {
        let rows = self.frame.len();
        // Per row: the metric columns flagged.
        let mut flagged: Vec<Vec<usize>> = vec![Vec::new(); rows];
        // Per metric and row: the flag's score (0–100).
        let mut scores: Vec<Vec<Option<f64>>> = vec![vec![None; rows]; self.series.len()];
        // Scores of another frame (new data still being scored) are not used.
        let model = match &self.model {
            ModelStatus::Ready(model)
                if model.scores.rows.error.len() == rows
                    && model.scores.feature_names == self.frame.names()
                    && model
                        .frame_start_ms
                        .is_none_or(|start| self.frame.timestamps_ms().first() == Some(&start)) =>
            {
                Some(model)
            }
            _ => None,
        };
        if let Some(model) = model {
            for (row, error) in model.scores.rows.error.iter().enumerate() {
                if *error > model.threshold
                    && let Some(column) = model.scores.rows.top_feature[row]
                {
                    flagged[row].push(column);
                    scores[column][row] = Some(crate::detect::score::normalised_score(
                        *error,
                        model.threshold,
                    ));
                }
            }
        }
        for (column, series) in self.series.iter().enumerate() {
            if let Some(band) = &series.band {
                for &row in &band.outside_rows {
                    if !flagged[row].contains(&column) {
                        flagged[row].push(column);
                    }
                    let band_score = band.row_scores[row];
                    scores[column][row] = Some(match scores[column][row] {
                        Some(lstm) => lstm.max(band_score),
                        None => band_score,
                    });
                }
            }
        }
        // The online detector: rows at the alarm level, scored 50 there and
        // 100 at a likelihood of 1.
        if let Some(online) = self
            .online_scores
            .as_ref()
            .filter(|online| online.matches(&self.frame))
        {
            let level = crate::detect::stream::ALARM_LEVEL;
            for (column, likelihoods) in online.likelihoods.iter().enumerate() {
                let Some(likelihoods) = likelihoods else {
                    continue;
                };
                for (row, l) in likelihoods.iter().enumerate() {
                    if *l >= level && column < scores.len() {
                        if !flagged[row].contains(&column) {
                            flagged[row].push(column);
                        }
                        let score = crate::detect::score::score_of_likelihood(*l);
                        scores[column][row] =
                            Some(scores[column][row].map_or(score, |s| s.max(score)));
                    }
                }
            }
        }
        // One row of slack joins flags either side of a single quiet point.
        self.events = self
            .series
            .iter()
            .zip(&scores)
            .flat_map(|(series, flags)| {
                anomaly_table::group_events(&series.name, self.frame.timestamps_ms(), flags, 1)
            })
            .collect();
        self.events.sort_by_key(|e| e.start_ms);
        for event in &self.events {
            self.session_events
                .insert((event.metric.clone(), event.start_ms));
        }
        self.merge_table();
        self.record_live_events();
        self.maybe_retrain_live();
        self.row_details = match &self.model {
            ModelStatus::Ready(model) => Some(RowDetails {
                xs: self
                    .frame
                    .timestamps_ms()
                    .iter()
                    .map(|t| *t as f64 / 1000.0)
                    .collect(),
                scores: model
                    .scores
                    .rows
                    .error
                    .iter()
                    .map(|e| crate::detect::score::normalised_score(*e, model.threshold))
                    .collect(),
                top_metric: (0..rows)
                    .map(|row| model.scores.top_metric(row).map(str::to_owned))
                    .collect(),
            }),
            _ => None,
        };
        let values = self.frame.columns();
        let times = self.frame.timestamps_ms();
        let point = |row: usize, column: usize| {
            PlotPoint::new(times[row] as f64 / 1000.0, values[column][row])
        };
        for series in &mut self.series {
            series.anomalies.clear();
            series.false_positives.clear();
            series.missed.clear();
        }
        let mut detected = vec![false; rows];
        for (row, columns) in flagged.iter().enumerate() {
            detected[row] = !columns.is_empty();
            let injected = self.injected.as_ref().map(|(labels, _)| labels[row] == 1);
            for &column in columns {
                let target = match injected {
                    Some(false) => &mut self.series[column].false_positives,
                    _ => &mut self.series[column].anomalies,
                };
                target.push(point(row, column));
            }
        }
        self.test_summary = None;
        if let Some((labels, spiked)) = &self.injected {
            for (row, column) in spiked.iter().enumerate() {
                if let Some(column) = column
                    && !detected[row]
                {
                    self.series[*column].missed.push(point(row, *column));
                }
            }
            self.test_summary = Some(TestSummary {
                injected_rows: labels.iter().filter(|l| **l == 1).count(),
                metrics: eval::point_metrics(&detected, labels),
            });
        }
        if let ForecastStatus::Ready { marked_points } = &mut self.forecast {
            *marked_points = self
                .series
                .iter()
                .filter_map(|s| s.band.as_ref())
                .map(|b| b.outside_rows.len())
                .sum();
        }
    }

    fn metric_rows(&self) -> Vec<MetricRow> {
        let last_scored = match &self.model {
            ModelStatus::Ready(model) => model
                .scores
                .rows
                .error
                .iter()
                .rposition(|e| e.is_finite())
                .map(|row| {
                    let error = model.scores.rows.error[row];
                    (
                        crate::detect::score::normalised_score(error, model.threshold),
                        model.scores.rows.top_feature[row],
                    )
                }),
            _ => None,
        };
        self.series
            .iter()
            .enumerate()
            .map(|(column, series)| {
                let latest = series.points.last().map(|p| p.y);
                // The band's view of the latest point: 50 at the band's edge.
                let band_score = series.band.as_ref().and_then(|b| b.latest_score());
                let lstm_score =
                    last_scored.and_then(|(score, top)| (top == Some(column)).then_some(score));
                let latest_score = match (band_score, lstm_score) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                MetricRow {
                    name: series.name.clone(),
                    latest,
                    anomalies: series.anomalies.len() + series.false_positives.len(),
                    latest_score,
                    colour: theme::series_colour(column),
                }
            })
            .collect()
    }

    fn model_summary(&self) -> String {
        match &self.model {
            ModelStatus::Loading(_) => "Loading the model…".to_owned(),
            ModelStatus::Missing if self.state.mode == Mode::Live && self.config.lstm.enabled => {
                "No model yet: Live mode trains one once enough rows have arrived.".to_owned()
            }
            ModelStatus::Missing => "No model yet: train one.".to_owned(),
            ModelStatus::Failed(error) => format!("Model unusable: {error}"),
            ModelStatus::Ready(model) => {
                let age = data::time::parse_timestamp_ms(&model.meta.created_at)
                    .map(|created| {
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64);
                        format!("{} ago, ", describe_age((now - created).max(0) / 1000))
                    })
                    .unwrap_or_default();
                format!(
                    "Trained {age}{} on {} rows ({}), loss {:.5}",
                    model.meta.created_at,
                    model.meta.training_rows,
                    model.meta.device,
                    model.meta.final_loss
                )
            }
        }
    }

    fn handle_input(&mut self, ctx: &egui::Context) {
        let (open, refresh, train, cancel, dropped) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::R),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::T),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
                i.raw
                    .dropped_files
                    .iter()
                    .map(|f| f.path().to_path_buf())
                    .find(|p| !p.as_os_str().is_empty()),
            )
        });
        if open {
            self.apply(UiCommand::OpenCsvDialog);
        }
        if refresh {
            self.apply(UiCommand::Refresh);
        }
        if train {
            self.apply(UiCommand::Train);
        }
        if cancel {
            self.apply(UiCommand::CancelTraining);
        }
        if let Some(path) = dropped {
            self.apply(UiCommand::OpenCsv(path));
        }
    }
}

/// "42 s", "5 min", "3 h", "2 days".
fn describe_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 2 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

/// The column whose value differs between two frames at `row`.
fn changed_column(before: &MetricFrame, after: &MetricFrame, row: usize) -> Option<usize> {
    before
        .columns()
        .iter()
        .zip(after.columns())
        .position(|(a, b)| a[row].to_bits() != b[row].to_bits())
}

impl eframe::App for PulseWatchApp {
    fn on_exit(&mut self) {
        self.save_state();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll_jobs();
        let ctx = ui.ctx().clone();
        self.handle_input(&ctx);
        let mut commands = Vec::new();
        egui::Panel::top("top-bar").show(ui, |ui| {
            commands.extend(top_bar::top_bar_ui(
                ui,
                &self.source,
                &self.forecast,
                self.state.mode,
                self.config.dashboard.refresh_interval,
            ));
        });
        let rows = self.metric_rows();
        let summary = self.model_summary();
        let threshold = match &self.model {
            ModelStatus::Ready(model) => {
                let (low, high) = model
                    .scores
                    .window_errors
                    .iter()
                    .fold((f64::INFINITY, 0.0_f64), |(lo, hi), e| {
                        (lo.min(f64::from(*e)), hi.max(f64::from(*e)))
                    });
                (low.is_finite() && high > low).then_some((model.threshold, low.max(1e-9), high))
            }
            _ => None,
        };
        let panel = ModelPanel {
            summary,
            threshold,
            training: self.keeper.is_training().then(|| self.keeper.progress()),
            train_enabled: self.config.dashboard.retrain_button_enabled
                && self.config.lstm.enabled
                && !self.keeper.is_training(),
            error: self.model_error.as_deref(),
        };
        let side = egui::Panel::left("side-panel")
            .resizable(true)
            .default_size(self.state.side_panel_width)
            .show(ui, |ui| {
                commands.extend(side_panel::side_panel_ui(
                    ui,
                    &rows,
                    &panel,
                    &self.state,
                    self.test_summary.as_ref(),
                ));
            });
        // Remembered for the next run (written on exit, not every frame).
        self.state.side_panel_width = side.response.rect.width().round();
        if let Some(error) = &self.load_error {
            let error = error.clone();
            egui::Panel::bottom("error-bar").show(ui, |ui| {
                ui.colored_label(theme::WARNING, format!("Error: {error}"));
            });
        }
        egui::Panel::bottom("anomaly-table")
            .resizable(true)
            .default_size(150.0)
            .show(ui, |ui| {
                commands.extend(anomaly_table::anomaly_table_ui(
                    ui,
                    &self.table_events,
                    self.session_events.len(),
                    &self.history_note,
                ));
            });
        if let Some(form) = &mut self.settings
            && form.open
        {
            commands.extend(settings::settings_ui(&ctx, form));
        }
        let zoom_to = self.zoom_to.take();
        egui::CentralPanel::default().show(ui, |ui| {
            plot_panel::metric_plots_ui(ui, &self.series, self.row_details.as_ref(), zoom_to);
        });
        for command in commands {
            self.apply(command);
        }
    }
}

/// Opens the window and blocks until it is closed.
pub fn run_native(
    config: Config,
    config_source: ConfigSource,
    csv: Option<PathBuf>,
) -> anyhow::Result<()> {
    let state_path = State::default_path();
    let state = state_path.as_deref().map(State::load).unwrap_or_default();
    // An explicit file wins; else the last file when it still loads; else
    // the bundled sample data.
    let loaded = match csv {
        Some(path) => load_data(Some(path))?,
        None => match state.last_file.clone().filter(|p| p.is_file()) {
            Some(path) => load_data(Some(path)).or_else(|_| sample_data())?,
            None => sample_data()?,
        },
    };
    let title = config.app.name.clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(&title)
            .with_app_id("pulsewatch")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        &title,
        options,
        Box::new(move |cc| {
            Ok(Box::new(PulseWatchApp::new(
                &cc.egui_ctx,
                config,
                &config_source,
                loaded,
                state,
                state_path,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
