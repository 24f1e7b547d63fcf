//! The app: its state, its runtime resources (the monitor and the jobs
//! the window runs itself), read-only accessors (the kittests drive the app
//! through these), and the layout of one frame.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;

use super::marks::{self, ForecastStatus, Injected};
use super::overview::{FleetOverview, Line, job::OverviewJob};
use super::panels::anomaly_table::{self, HistoryNote};
use super::panels::overview as overview_panel;
use super::panels::plot_panel::{self, MetricSeries, RowDetails};
use super::panels::settings::SettingsForm;
use super::panels::side_panel::{self, ModelPanel, TestSummary};
use super::panels::top_bar::{self, SourceInfo};
use super::state::{Mode, State};
use super::{LoadedData, UiCommand, theme};
use crate::config::{self, Config, ConfigSource};
use crate::data::{CsvLoad, DataError, MetricFrame};
use crate::detect::entities::EntityColumns;
use crate::detect::train::TrainProgress;
use crate::engine::monitor::{self, Command, ModelState, MonitorHandle, View};
use crate::engine::schedule::{Clock, SystemClock};
use crate::eval;
use crate::event::AnomalyEvent;

pub struct PulseWatchApp {
    pub(super) ctx: egui::Context,
    pub(super) config: Config,
    pub(super) state: State,
    pub(super) state_path: Option<PathBuf>,
    pub(super) source: SourceInfo,
    pub(super) clock: Arc<dyn Clock>,
    /// The live engine (None: it could not start; `load_error` says why).
    pub(super) monitor: Option<MonitorHandle>,
    /// What the monitor last reported.
    pub(super) view: Arc<View>,
    /// Commands the monitor had taken by its last report.
    pub(super) commands_done: u64,
    /// The command count at which a training was asked for, until the
    /// monitor has taken it (so the window says "training" at once).
    pub(super) train_asked_at: Option<u64>,
    /// The data as loaded (file or sample data; Test mode spikes it).
    pub(super) base: MetricFrame,
    /// Test mode: the truth of the spiked frame sent.
    pub(super) injected: Option<Injected>,
    pub(super) series: Vec<MetricSeries>,
    pub(super) forecast: ForecastStatus,
    pub(super) test_summary: Option<TestSummary>,
    /// The model's per-row scores for hover labels (with a model).
    pub(super) row_details: Option<RowDetails>,
    pub(super) csv_job: Option<(
        PathBuf,
        std::sync::mpsc::Receiver<Result<CsvLoad, DataError>>,
    )>,
    pub(super) dialog_job: Option<std::sync::mpsc::Receiver<Option<PathBuf>>>,
    pub(super) load_error: Option<String>,
    /// Data shown before Live mode took over, to return to.
    pub(super) offline: Option<LoadedData>,
    /// The table's rows: events in view plus past events from the history.
    pub(super) table_events: Vec<AnomalyEvent>,
    /// The history database's reader thread (None: it could not start).
    pub(super) history: Option<crate::engine::HistoryJob>,
    /// Past events overlapping the data in view (Long-term mode).
    pub(super) history_events: Vec<AnomalyEvent>,
    pub(super) history_note: HistoryNote,
    /// Every event seen this session (metric, start), across refreshes and files.
    pub(super) session_events: std::collections::HashSet<(String, i64)>,
    /// Set by a click in the anomaly table, applied by the plots next frame.
    pub(super) zoom_to: Option<(f64, f64)>,
    /// The file the config came from (None: built-in defaults).
    pub(super) config_path: Option<PathBuf>,
    pub(super) settings: Option<SettingsForm>,
    /// The entities of the frame in view (more than one: a fleet, shown
    /// as the overview first).
    pub(super) entities: Vec<EntityColumns>,
    /// The entity shown in depth (None: the overview).
    pub(super) open_entity: Option<String>,
    /// The overview's selected entity (the keyboard moves it).
    pub(super) selected_entity: Option<String>,
    /// The overview of the view, built by its worker.
    pub(super) overview: Option<Arc<FleetOverview>>,
    pub(super) overview_job: Option<OverviewJob>,
    /// The overview's lines after the filter and grouping.
    pub(super) overview_lines: Vec<Line>,
    pub(super) filter_error: Option<String>,
    /// The keyboard moved the selection: keep it on screen.
    pub(super) scroll_to_selected: bool,
    /// `/` was pressed: focus the filter next frame.
    pub(super) focus_filter: bool,
    /// Each table event's entity (parallel to `table_events`).
    pub(super) table_entities: Vec<String>,
    /// The table's rows on screen: indices into `table_events`, in order.
    pub(super) table_rows: Vec<usize>,
    /// Test mode on a fleet: each spiked entity's precision and recall.
    pub(super) entity_scorecards: Vec<(String, eval::PointMetrics)>,
    /// A fleet: each series' entity key, by series name.
    pub(super) series_entity: std::collections::HashMap<String, String>,
    /// Frees replaced views and overviews off the UI thread.
    pub(super) reaper: super::reaper::Reaper,
}

impl PulseWatchApp {
    /// Builds the app on `loaded` and starts its monitor; `ctx` is woken by
    /// its reports.
    pub fn new(
        ctx: &egui::Context,
        config: Config,
        config_source: &ConfigSource,
        loaded: LoadedData,
        state: State,
        state_path: Option<PathBuf>,
    ) -> Self {
        let clock = Arc::new(SystemClock);
        Self::with_clock(ctx, config, config_source, loaded, state, state_path, clock)
    }

    /// [`PulseWatchApp::new`] with "now" read from `clock` (tests move it by
    /// hand).
    pub fn with_clock(
        ctx: &egui::Context,
        config: Config,
        config_source: &ConfigSource,
        loaded: LoadedData,
        state: State,
        state_path: Option<PathBuf>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let device = match crate::detect::resolve_device(config.lstm.device) {
            Ok(device) => device.to_string(),
            Err(error) => format!("unavailable: {error}"),
        };
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
            monitor: None,
            view: Arc::new(View::empty()),
            commands_done: 0,
            train_asked_at: None,
            state,
            state_path,
            clock,
            base: MetricFrame::default(),
            injected: None,
            series: Vec::new(),
            forecast: ForecastStatus::Off,
            test_summary: None,
            row_details: None,
            csv_job: None,
            dialog_job: None,
            load_error: None,
            offline: None,
            table_events: Vec::new(),
            history: None,
            history_events: Vec::new(),
            history_note: HistoryNote::Unused,
            session_events: std::collections::HashSet::new(),
            zoom_to: None,
            config_path: match config_source {
                ConfigSource::File(path) => Some(path.clone()),
                ConfigSource::BuiltIn => None,
            },
            settings: None,
            entities: Vec::new(),
            open_entity: None,
            selected_entity: None,
            overview: None,
            overview_job: None,
            overview_lines: Vec::new(),
            filter_error: None,
            scroll_to_selected: false,
            focus_filter: false,
            table_entities: Vec::new(),
            table_rows: Vec::new(),
            entity_scorecards: Vec::new(),
            series_entity: std::collections::HashMap::new(),
            reaper: super::reaper::Reaper::spawn(),
            config,
        };
        match OverviewJob::spawn(app.wake()) {
            Ok(job) => app.overview_job = Some(job),
            Err(error) => {
                app.load_error = Some(format!("cannot start the overview worker: {error}"))
            }
        }
        app.refilter();
        app.start_monitor();
        let wake = app.wake();
        match crate::engine::spawn_history(config::history_path(&app.config), wake) {
            Ok(job) => app.history = Some(job),
            Err(error) => app.history_note = HistoryNote::Failed(error.to_string()),
        }
        app.set_data(loaded);
        if app.state.mode == Mode::Live {
            app.send(Command::FollowLive);
        }
        app
    }

    /// The monitor as the window sets it up: its trainings are the app's,
    /// its live events go to the shared history.
    pub fn monitor_options(
        config: &Config,
        show_forecast: bool,
        clock: Arc<dyn Clock>,
    ) -> monitor::MonitorOptions {
        monitor::MonitorOptions {
            config: config.clone(),
            clock,
            history_path: Some(config::history_path(config)),
            training_source: Some("app".into()),
            show_forecast,
            shard: crate::fleet::Shard::ALL,
            // The window starts its detectors afresh each time it opens.
            state_path: None,
        }
    }

    pub(super) fn start_monitor(&mut self) {
        let clock = Arc::clone(&self.clock);
        let options = Self::monitor_options(&self.config, self.state.show_forecast, clock);
        match monitor::spawn(options, self.wake()) {
            Ok(handle) => self.monitor = Some(handle),
            Err(error) => self.load_error = Some(error.to_string()),
        }
    }

    /// Sends a command to the monitor.
    pub(super) fn send(&mut self, command: Command) {
        let sent = self.monitor.as_mut().is_some_and(|m| m.send(command));
        if !sent {
            self.load_error = Some("the monitor is not running or far behind".into());
        }
    }

    pub(super) fn wake(&self) -> impl Fn() + Send + Sync + 'static {
        let ctx = self.ctx.clone();
        move || ctx.request_repaint()
    }

    pub(super) fn save_state(&mut self) {
        if let Some(path) = &self.state_path
            && let Err(error) = self.state.save(path)
        {
            self.load_error = Some(format!("cannot save the window state: {error}"));
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Points marked in the data in view, over all metrics.
    pub fn anomaly_count(&self) -> usize {
        self.series
            .iter()
            .map(|s| s.anomalies.len() + s.false_positives.len())
            .sum()
    }

    /// Anomaly events in view (the monitor's), oldest first.
    pub fn anomaly_events(&self) -> &[AnomalyEvent] {
        &self.view.judged.events
    }

    /// The anomaly table's rows: events in view plus past ones from the
    /// history (Long-term mode), oldest first.
    pub fn table_events(&self) -> &[AnomalyEvent] {
        &self.table_events
    }

    /// Whether every metric has a forecast (none failed, none running).
    pub fn forecast_ready(&self) -> bool {
        matches!(self.forecast, ForecastStatus::Ready { .. })
            && self
                .view
                .forecast
                .as_ref()
                .is_some_and(|f| f.series.iter().all(Result::is_ok))
    }

    /// What the table says about the history database.
    pub fn history_note(&self) -> &HistoryNote {
        &self.history_note
    }

    /// The span the plots were last asked to zoom to (Unix seconds).
    pub fn pending_zoom(&self) -> Option<(f64, f64)> {
        self.zoom_to
    }

    pub fn is_training(&self) -> bool {
        self.view.is_training
            || self
                .train_asked_at
                .is_some_and(|asked| self.commands_done < asked)
    }

    /// The latest training progress, while training.
    pub fn training_progress(&self) -> Option<&TrainProgress> {
        self.view.training.as_ref()
    }

    /// Live mode's connection state in words ("connected, …", "down: …").
    pub fn live_status(&self) -> Option<&str> {
        self.source.live.as_deref()
    }

    /// The active model's creation time, if there is one.
    pub fn model_created_at(&self) -> Option<&str> {
        match &self.view.model {
            ModelState::Ready(m) => Some(&m.saved.meta.created_at),
            _ => None,
        }
    }

    pub fn model_threshold(&self) -> Option<f64> {
        match &self.view.model {
            ModelState::Ready(m) => Some(m.threshold),
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
        &self.view.frame
    }

    /// What the monitor last reported.
    pub fn view(&self) -> &View {
        &self.view
    }

    /// When the forecast on screen was started (Unix ms).
    pub fn forecast_started(&self) -> Option<i64> {
        self.view.forecast_started_ms
    }

    /// The last load, model or training error shown to the user.
    pub fn error_message(&self) -> Option<&str> {
        self.load_error
            .as_deref()
            .or(self.view.model_error.as_deref())
    }

    pub fn data_label(&self) -> &str {
        &self.source.label
    }

    pub fn test_metrics(&self) -> Option<&eval::PointMetrics> {
        self.test_summary.as_ref().map(|t| &t.metrics)
    }

    /// Every job idle: the monitor has taken every command and nothing is
    /// loading, fitting or training.
    pub fn is_idle(&self) -> bool {
        let monitor_current = self
            .monitor
            .as_ref()
            .is_none_or(|m| m.sent() == self.commands_done);
        monitor_current
            && !self.view.busy
            && !matches!(self.view.model, ModelState::Loading)
            && self.csv_job.is_none()
    }

    fn model_summary(&self) -> String {
        if let Some(models) = &self.view.entity_models {
            return format!(
                "A model per entity: {} of {} entities scored{}",
                models.scored,
                models.entities,
                match models.load_errors.len() {
                    0 => String::new(),
                    n => format!(" ({n} saved models unreadable)"),
                }
            );
        }
        match &self.view.model {
            ModelState::Loading => "Loading the model…".to_owned(),
            ModelState::Missing if self.state.mode == Mode::Live && self.config.lstm.enabled => {
                "No model yet: Live mode trains one once enough rows have arrived.".to_owned()
            }
            ModelState::Missing => "No model yet: train one.".to_owned(),
            ModelState::Failed(error) => format!("Model unusable: {error}"),
            ModelState::Ready(model) => {
                let meta = &model.saved.meta;
                let age = crate::data::time::parse_timestamp_ms(&meta.created_at)
                    .map(|created| {
                        let secs = (self.clock.now_ms() - created).max(0) / 1000;
                        format!("{} ago, ", describe_age(secs))
                    })
                    .unwrap_or_default();
                format!(
                    "Trained {age}{} on {} rows ({}), loss {:.5}",
                    meta.created_at, meta.training_rows, meta.device, meta.final_loss
                )
            }
        }
    }

    /// The slider's range: (current, lowest, highest) window error.
    fn threshold_range(&self) -> Option<(f64, f64, f64)> {
        // Models per entity mark each at its own certainty: no one threshold.
        if self.view.entity_models.is_some() {
            return None;
        }
        let ModelState::Ready(model) = &self.view.model else {
            return None;
        };
        let scores = model.scores.as_ref()?;
        let (low, high) = scores
            .window_errors
            .iter()
            .fold((f64::INFINITY, 0.0_f64), |(lo, hi), e| {
                (lo.min(f64::from(*e)), hi.max(f64::from(*e)))
            });
        (low.is_finite() && high > low).then_some((model.threshold, low.max(1e-9), high))
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

impl eframe::App for PulseWatchApp {
    fn on_exit(&mut self) {
        self.save_state();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll_jobs();
        let ctx = ui.ctx().clone();
        let mut commands = self.shortcuts(&ctx);
        egui::Panel::top("top-bar").show(ui, |ui| {
            commands.extend(top_bar::top_bar_ui(
                ui,
                &self.source,
                &self.forecast,
                self.state.mode,
                self.config.dashboard.refresh_interval,
            ));
        });
        let rows = marks::metric_rows(&self.series, &self.view);
        let training = self.is_training();
        let panel = ModelPanel {
            summary: self.model_summary(),
            threshold: self.threshold_range(),
            training: training.then(|| self.training_progress()),
            entity_progress: self.view.entity_models.as_ref().and_then(|e| e.training),
            train_enabled: self.config.dashboard.retrain_button_enabled
                && self.config.lstm.enabled
                && !training,
            error: self.view.model_error.as_deref(),
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
                    &anomaly_table::TableView {
                        events: &self.table_events,
                        entities: self.is_fleet().then_some(self.table_entities.as_slice()),
                        rows: &self.table_rows,
                        by_entity: self.state.table_by_entity,
                        session_total: self.session_events.len(),
                        history: &self.history_note,
                    },
                ));
            });
        if let Some(form) = &mut self.settings
            && form.open
        {
            commands.extend(super::panels::settings::settings_ui(&ctx, form));
        }
        let zoom_to = self.zoom_to.take();
        if std::mem::take(&mut self.focus_filter) {
            ctx.memory_mut(|m| m.request_focus(overview_panel::filter_id()));
        }
        let scroll_to = std::mem::take(&mut self.scroll_to_selected)
            .then(|| self.selected_line())
            .flatten();
        egui::CentralPanel::default().show(ui, |ui| {
            if !self.is_fleet() {
                plot_panel::metric_plots_ui(ui, &self.series, self.row_details.as_ref(), zoom_to);
                return;
            }
            match &self.open_entity {
                None => commands.extend(overview_panel::overview_ui(
                    ui,
                    &overview_panel::OverviewPanel {
                        overview: self.overview.as_deref(),
                        lines: &self.overview_lines,
                        selected: self.selected_entity.as_deref(),
                        filter: &self.state.fleet_filter,
                        filter_error: self.filter_error.as_deref(),
                        group_by: self.state.fleet_group_by.as_deref(),
                        scroll_to,
                        scorecards: &self.entity_scorecards,
                    },
                )),
                Some(key) => {
                    ui.horizontal(|ui| {
                        if ui.link("Fleet").clicked() {
                            commands.push(UiCommand::ShowFleet);
                        }
                        ui.label(">");
                        ui.strong(overview_panel::entity_title(key));
                        ui.label(
                            egui::RichText::new(
                                "(Esc: back to the fleet; grey: its peers' median and spread)",
                            )
                            .color(theme::MUTED),
                        );
                    });
                    plot_panel::metric_plots_ui(
                        ui,
                        &self.series,
                        self.row_details.as_ref(),
                        zoom_to,
                    );
                }
            }
        });
        for command in commands {
            self.apply(command);
        }
    }
}
