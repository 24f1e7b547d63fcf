//! The dashboard on the real app state, driven through egui_kittest: mode
//! switches, Test-mode scoring of injected spikes, the threshold, training
//! (progress, completion, cancel), opening CSV files by path, Live mode on
//! the test Prometheus, and snapshots of each mode.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pulsewatch::config::{Config, ConfigSource};
use pulsewatch::data::{self, SampleSpec};
use pulsewatch::history::{AnomalyEvent as HistoryEvent, History};
use pulsewatch::ui::state::{Mode, State};
use pulsewatch::ui::{EventSource, HistoryNote, LoadedData, PulseWatchApp, UiCommand};

/// A small, fast set-up: two days of sample data, a small model that trains
/// in a second, models saved under `dir`, the history in `dir/history.sqlite`.
fn config(dir: &Path, extra: &str) -> Config {
    let yaml = format!(
        "app:\n  history_path: {}\n\
         lstm_model:\n  epochs: 2\n  hidden_size: 8\n  sequence_length: 20\n  device: cpu\n  \
         save_path: {}\n{extra}",
        dir.join("history.sqlite").display(),
        dir.join("model").display()
    );
    Config::from_yaml_str(&yaml, "dashboard-test.yml").expect("config")
}

fn sample(rows: usize) -> LoadedData {
    let frame = data::generate_sample(&SampleSpec {
        rows,
        ..SampleSpec::default()
    });
    LoadedData {
        frame,
        label: "test sample".into(),
        warnings: Vec::new(),
    }
}

fn harness(
    config: Config,
    state: State,
    state_path: Option<PathBuf>,
) -> Harness<'static, PulseWatchApp> {
    harness_on(config, state, state_path, sample(2_880))
}

pub(crate) fn harness_on(
    config: Config,
    state: State,
    state_path: Option<PathBuf>,
    loaded: LoadedData,
) -> Harness<'static, PulseWatchApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            PulseWatchApp::new(
                &cc.egui_ctx,
                config,
                &ConfigSource::BuiltIn,
                loaded,
                state,
                state_path,
            )
        })
}

/// Forecast off: fewer background jobs, and nothing random on screen.
fn quiet_state() -> State {
    State {
        show_forecast: false,
        ..State::default()
    }
}

/// Steps the app until `done` holds (the jobs run on real threads).
pub(crate) fn wait_for(
    harness: &mut Harness<'static, PulseWatchApp>,
    what: &str,
    mut done: impl FnMut(&PulseWatchApp) -> bool,
) {
    let started = Instant::now();
    while !done(harness.state()) {
        let app = harness.state();
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what} (data {:?}, live {:?}, idle {}, overview busy {}, \
             error {:?})",
            app.data_label(),
            app.live_status(),
            app.is_idle(),
            app.overview_busy(),
            app.error_message()
        );
        std::thread::sleep(Duration::from_millis(20));
        harness.step();
    }
    harness.step();
}

#[test]
fn mode_switch_to_test_scores_injected_spikes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state_path = dir.path().join("ui_state.json");
    let mut harness = harness(
        config(dir.path(), ""),
        State::default(),
        Some(state_path.clone()),
    );
    wait_for(&mut harness, "the first forecast", PulseWatchApp::is_idle);
    assert_eq!(harness.state().state().mode, Mode::LongTerm);
    assert!(harness.state().test_metrics().is_none());

    harness.get_by_label("Mode").click();
    harness.run_steps(2);
    harness.get_by_label("Test").click();
    harness.step();
    assert_eq!(harness.state().state().mode, Mode::Test);
    wait_for(&mut harness, "Test mode's forecast", PulseWatchApp::is_idle);

    let metrics = *harness
        .state()
        .test_metrics()
        .expect("scored against spikes");
    assert!(metrics.tp > 0, "no injected spike found: {metrics:?}");
    assert!(metrics.recall > 0.5, "{metrics:?}");
    harness.get_by_label_contains("precision");
    harness.get_by_label_contains("rows spiked");
    // The mode is remembered for the next start.
    assert_eq!(State::load(&state_path).mode, Mode::Test);

    // Re-seeding moves the spikes: a different scorecard.
    harness.get_by_label("Re-seed").click();
    harness.step();
    wait_for(
        &mut harness,
        "the re-seeded forecast",
        PulseWatchApp::is_idle,
    );
    let reseeded = *harness.state().test_metrics().expect("scored");
    assert_ne!((reseeded.tp, reseeded.fp), (metrics.tp, metrics.fp));
}

#[test]
fn train_shows_progress_completes_and_the_threshold_moves_the_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = quiet_state();
    // The autoencoder alone: nothing is marked until a model exists.
    let detection = "detection:\n  method: lstm\n";
    let mut harness = harness(config(dir.path(), detection), state, None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.get_by_label_contains("No model yet");
    assert_eq!(harness.state().anomaly_count(), 0);

    harness.get_by_label("Train model").click();
    harness.step();
    assert!(harness.state().is_training());
    wait_for(&mut harness, "the first trained model", |app| {
        app.model_created_at().is_some()
    });
    assert!(!harness.state().is_training());
    harness.get_by_label_contains("Trained ");
    let first = harness.state().model_created_at().map(str::to_owned);
    let flagged = harness.state().anomaly_count();
    assert!(flagged > 0, "a p99 threshold flags some rows");

    // The anomaly table lists the events; clicking one zooms the plots to it.
    let event = harness
        .state()
        .anomaly_events()
        .last()
        .cloned()
        .expect("anomaly events");
    harness.get_by_label_contains("this session");
    let start = pulsewatch::data::time::format_rfc3339_ms(event.start_ms);
    harness
        .query_all_by_label(&start)
        .next()
        .expect("the newest event's row")
        .click();
    harness.step();
    let (from, to) = harness.state().pending_zoom().expect("zoom requested");
    let end_ms = event.end_ms.expect("a closed event");
    assert!(from < event.start_ms as f64 / 1000.0 && to > end_ms as f64 / 1000.0);

    // A lower threshold flags more rows, a higher one fewer (the monitor
    // marks them again).
    let threshold = harness.state().model_threshold().expect("threshold");
    harness
        .state_mut()
        .apply(UiCommand::SetThreshold(threshold / 4.0));
    wait_for(&mut harness, "the lower threshold", PulseWatchApp::is_idle);
    assert!(harness.state().anomaly_count() > flagged);
    harness
        .state_mut()
        .apply(UiCommand::SetThreshold(threshold * 4.0));
    wait_for(&mut harness, "the higher threshold", PulseWatchApp::is_idle);
    assert!(harness.state().anomaly_count() < flagged);

    // Ctrl+T retrains; the new model replaces the old one.
    std::thread::sleep(Duration::from_millis(1100));
    harness.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::T);
    harness.step();
    assert!(harness.state().is_training());
    wait_for(&mut harness, "the second model", |app| !app.is_training());
    let second = harness.state().model_created_at().map(str::to_owned);
    assert!(
        second.is_some() && second != first,
        "{first:?} → {second:?}"
    );
}

#[test]
fn the_online_detector_marks_a_shift_before_any_model_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = sample(2_880).frame;
    // cpu runs 150 points high for 60 rows (30 minutes).
    let mut columns = base.columns().to_vec();
    for v in &mut columns[0][2_000..2_060] {
        *v += 150.0;
    }
    let frame = pulsewatch::data::MetricFrame::new(
        base.timestamps_ms().to_vec(),
        base.names().to_vec(),
        columns,
        None,
    )
    .expect("frame");
    let open = |extra: &str| {
        let loaded = LoadedData {
            frame: frame.clone(),
            label: "shifted sample".into(),
            warnings: Vec::new(),
        };
        let mut harness = harness_on(config(dir.path(), extra), quiet_state(), None, loaded);
        wait_for(&mut harness, "the online detector", PulseWatchApp::is_idle);
        harness
    };
    // The default ensemble marks the shift with no model and no forecast.
    let harness = open("");
    harness.get_by_label_contains("No model yet");
    let shift = (frame.timestamps_ms()[2_000], frame.timestamps_ms()[2_059]);
    let on_shift = harness
        .state()
        .anomaly_events()
        .iter()
        .filter(|e| e.metric == "cpu" && e.start_ms <= shift.1 && e.end_or(e.start_ms) >= shift.0)
        .count();
    assert!(on_shift > 0, "{:?}", harness.state().anomaly_events());
    assert!(
        harness.query_all_by_label("detected").next().is_some(),
        "the table lists the detector's events"
    );
    // `detection.method: lstm` leaves marking to the model: none yet.
    let harness = open("detection:\n  method: lstm\n");
    assert_eq!(harness.state().anomaly_count(), 0);
}

#[test]
fn cancel_stops_training_and_keeps_the_old_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = quiet_state();
    let mut slow = config(dir.path(), "");
    // More epochs than any machine finishes while the test runs: the
    // cancel never races the training's end (a broken cancel fails by the
    // wait's bound).
    slow.lstm.epochs = 100_000;
    let mut harness = harness(slow, state, None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.get_by_label("Train model").click();
    harness.step();
    wait_for(&mut harness, "the progress bar", |app| {
        app.training_progress().is_some()
    });
    harness.get_by_label_contains("epoch ");
    harness.get_by_label("Cancel").click();
    harness.step();
    wait_for(&mut harness, "the cancellation", |app| !app.is_training());
    let message = harness.state().error_message().expect("cancel reported");
    assert!(message.contains("cancelled"), "{message}");
    assert!(
        harness.state().model_created_at().is_none(),
        "nothing was saved"
    );
    assert!(!dir.path().join("model").join("current").exists());
}

#[test]
fn opening_csv_files_by_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.csv");
    data::write_csv(&sample(500).frame, &good).expect("write");
    let broken = dir.path().join("broken.csv");
    std::fs::write(
        &broken,
        "timestamp,cpu\n2026-01-01T00:00:00Z,1\n2026-01-01T00:00:30Z,lots\n",
    )
    .expect("write");
    let state = quiet_state();
    let mut harness = harness(config(dir.path(), ""), state, None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);

    harness.state_mut().apply(UiCommand::OpenCsv(good.clone()));
    wait_for(&mut harness, "the good file", PulseWatchApp::is_idle);
    assert_eq!(harness.state().data_label(), good.display().to_string());
    assert_eq!(
        harness.state().state().last_file.as_deref(),
        Some(good.as_path())
    );
    assert!(harness.state().error_message().is_none());

    harness
        .state_mut()
        .apply(UiCommand::OpenCsv(broken.clone()));
    wait_for(&mut harness, "the broken file", PulseWatchApp::is_idle);
    let message = harness
        .state()
        .error_message()
        .expect("error shown")
        .to_owned();
    assert!(
        message.contains("broken.csv") && message.contains(":3"),
        "the error names the file and line: {message}"
    );
    harness.get_by_label_contains("broken.csv");
    // The good data stays in view.
    assert_eq!(harness.state().data_label(), good.display().to_string());

    // A file dropped on the window opens too.
    let dropped = dir.path().join("dropped.csv");
    data::write_csv(&sample(300).frame, &dropped).expect("write");
    harness
        .input_mut()
        .dropped_files
        .push(std::sync::Arc::new(DroppedPath(dropped.clone())));
    harness.step();
    wait_for(&mut harness, "the dropped file", |app| {
        app.data_label() == dropped.display().to_string() && app.is_idle()
    });
    assert_eq!(harness.state().frame().len(), 300);
}

/// A file dropped on the window, as winit hands it to egui.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn live_mode_polls_the_test_prometheus() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = format!(
        "prometheus:\n  url: {url}\n  step: 2s\n  window: 5m\nmetrics:\n  \
         up: 'up{{job=~\"node|self\"}}'\n  samples: prometheus_tsdb_head_samples_appended_total\n\
         dashboard:\n  refresh_interval: 1\n"
    );
    let mut harness = harness(config(dir.path(), &extra), State::default(), None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.state_mut().apply(UiCommand::SetMode(Mode::Live));
    wait_for(&mut harness, "the first live fetch", |app| {
        app.data_label() == url && app.forecast_started().is_some() && app.is_idle()
    });
    harness.get_by_label_contains("connected, last refresh");
    // A metric with too little history yet is refit at every refresh until
    // its forecast succeeds; from then on the forecast is kept.
    wait_for(&mut harness, "a forecast for every metric", |app| {
        app.forecast_ready() && app.is_idle()
    });
    let first_end = harness.state().frame().timestamps_ms().last().copied();
    let first_rows = harness.state().frame().len();
    let forecast_started = harness.state().forecast_started();
    // Later refreshes append new points to the window (incremental fetches)
    // and keep the forecast made before they arrived.
    wait_for(&mut harness, "new points", |app| {
        app.frame().timestamps_ms().last().copied() > first_end
    });
    assert!(harness.state().frame().len() >= first_rows);
    assert_eq!(harness.state().forecast_started(), forecast_started);
    // Leaving Live mode brings the offline data back.
    harness
        .state_mut()
        .apply(UiCommand::SetMode(Mode::LongTerm));
    harness.step();
    assert_eq!(harness.state().data_label(), "test sample");
}

#[test]
fn long_term_mode_lists_past_events_from_the_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loaded = sample(2_880);
    let stamps = loaded.frame.timestamps_ms().to_vec();
    let history = History::open(&dir.path().join("history.sqlite")).expect("history");
    let event = |metric: &str, start_ms: i64, end_ms: i64| HistoryEvent {
        id: 0,
        metric: metric.into(),
        start_ms,
        end_ms: Some(end_ms),
        peak_score: 99.95,
        points: 0,
        model_version: "robust".into(),
        source: EventSource::History,
    };
    // One inside the data in view, one a day after it.
    history
        .upsert_event(&event("cpu_usage", stamps[100], stamps[104]))
        .expect("insert");
    let after = stamps[stamps.len() - 1] + 86_400_000;
    history
        .upsert_event(&event("cpu_usage", after, after + 60_000))
        .expect("insert");
    drop(history);

    let mut harness = harness(config(dir.path(), ""), quiet_state(), None);
    wait_for(&mut harness, "the history", |app| {
        *app.history_note() == HistoryNote::Read(1)
    });
    let past: Vec<_> = harness
        .state()
        .table_events()
        .iter()
        .filter(|e| e.source == EventSource::History)
        .cloned()
        .collect();
    assert_eq!(past.len(), 1, "{past:?}");
    assert_eq!(past[0].start_ms, stamps[100]);
    assert_eq!(past[0].end_ms, Some(stamps[104]));
    assert!((past[0].peak_score - 99.95).abs() < 1e-9);
    assert_eq!(past[0].severity(), "critical");
    harness.get_by_label_contains("1 from the history");
    // Test mode is about injected spikes: no history there.
    harness.state_mut().apply(UiCommand::SetMode(Mode::Test));
    wait_for(&mut harness, "Test mode", PulseWatchApp::is_idle);
    assert_eq!(*harness.state().history_note(), HistoryNote::Unused);
    assert!(
        harness
            .state()
            .table_events()
            .iter()
            .all(|e| e.source == EventSource::Detected)
    );
}

#[test]
fn live_mode_writes_ended_events_to_the_history() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    // A series at 1 with a 5-second pulse to 1001 a little after start-up:
    // far outside the band of the forecast made before it.
    let pulse_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 15;
    let extra = format!(
        "prometheus:\n  url: {url}\n  step: 1s\n  window: 2m\nmetrics:\n  \
         pulse: \"vector(1) + ((time() > bool {pulse_at}) * (time() < bool {})) * 1000\"\n\
         dashboard:\n  refresh_interval: 1\n",
        pulse_at + 5
    );
    let mut harness = harness(config(dir.path(), &extra), State::default(), None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.state_mut().apply(UiCommand::SetMode(Mode::Live));
    let path = dir.path().join("history.sqlite");
    let mut recorded = Vec::new();
    // Recorded when it starts, closed once ten quiet rows have passed.
    wait_for(&mut harness, "the pulse's end in the history", |_| {
        recorded = History::open(&path)
            .and_then(|h| h.events_since(0))
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.metric == "pulse" && e.end_ms.is_some())
            .collect();
        !recorded.is_empty()
    });
    let pulse_ms = pulse_at as i64 * 1000;
    let event = &recorded[0];
    assert!(
        (pulse_ms..pulse_ms + 6_000).contains(&event.start_ms),
        "{event:?} vs pulse at {pulse_ms}"
    );
    assert!(
        event.end_ms.is_some_and(|end| end < pulse_ms + 8_000),
        "{event:?}"
    );
    // Judged by the configured detector (no model was trained yet).
    assert!(event.model_version.starts_with("ensemble"), "{event:?}");
}

#[test]
fn live_mode_trains_a_first_model_by_itself_then_retrains_it_on_schedule() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "app:\n  history_path: {}\nprometheus:\n  url: {url}\n  step: 1s\n  window: 2m\n\
         metrics:\n  up: 'sum(up{{job=~\"node|self\"}})'\n  samples: sum(prometheus_tsdb_head_samples_appended_total)\n\
         dashboard:\n  refresh_interval: 1\nprophet_model:\n  enabled: false\n\
         lstm_model:\n  epochs: 2\n  hidden_size: 8\n  sequence_length: 10\n  device: cpu\n  \
         retrain_interval: 5s\n  save_path: {}\n",
        dir.path().join("history.sqlite").display(),
        dir.path().join("model").display()
    );
    let config = Config::from_yaml_str(&yaml, "retrain-test.yml").expect("config");
    let mut harness = harness(config, quiet_state(), None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    assert!(harness.state().model_created_at().is_none());
    harness.state_mut().apply(UiCommand::SetMode(Mode::Live));
    // No model and no click: once Prometheus has sent enough complete rows
    // (it may have started only seconds ago: the window's start is empty),
    // Live mode trains one on them.
    wait_for(&mut harness, "the first model", |app| {
        app.model_created_at().is_some() && !app.is_training()
    });
    let frame = harness.state().frame();
    assert_eq!(frame.names().len(), 2, "trained on the live metrics");
    let first = harness.state().model_created_at().map(str::to_owned);
    // Five seconds later the model is due: Live mode retrains by itself.
    wait_for(&mut harness, "a scheduled retrain", |app| {
        app.model_created_at().map(str::to_owned) != first && !app.is_training()
    });
    let path = dir.path().join("history.sqlite");
    let mut reasons = Vec::new();
    wait_for(&mut harness, "both runs in the history", |_| {
        reasons = History::open(&path)
            .and_then(|h| h.trainings_since(0))
            .unwrap_or_default()
            .into_iter()
            .map(|run| run.reason)
            .collect();
        reasons.len() >= 2
    });
    assert_eq!(reasons[0], "no model yet (app)", "{reasons:?}");
    assert_eq!(reasons[1], "scheduled (app)", "{reasons:?}");
}

#[test]
fn live_mode_with_prometheus_down_keeps_the_app_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::support::REFUSING_PORT;
    let extra = format!("prometheus:\n  url: http://127.0.0.1:{port}\n  timeout: 1s\n");
    let state = quiet_state();
    let mut harness = harness(config(dir.path(), &extra), state, None);
    harness.state_mut().apply(UiCommand::SetMode(Mode::Live));
    wait_for(&mut harness, "the failed fetch", |app| {
        app.live_status().is_some_and(|s| s.starts_with("down"))
    });
    harness.get_by_label_contains("retry in");
    // The rest of the app still answers.
    harness.get_by_label("Train model");
    assert_eq!(harness.state().data_label(), "test sample");
}

/// The top bar names the machine's CPU ("cpu (avx512, 2 threads)"): up to
/// 3,000 differing pixels (0.3 % of the image) leave room for another CPU's
/// name and nothing like a changed layout.
fn snapshot_options() -> egui_kittest::SnapshotOptions {
    egui_kittest::SnapshotOptions::new().max_failed_pixels(3000)
}

#[test]
fn snapshots_of_each_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = quiet_state();
    let mut harness = harness(config(dir.path(), ""), state, None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.snapshot_options("dashboard_long_term", &snapshot_options());
    harness.state_mut().apply(UiCommand::SetMode(Mode::Test));
    wait_for(&mut harness, "Test mode", PulseWatchApp::is_idle);
    harness.snapshot_options("dashboard_test_mode", &snapshot_options());
}

#[test]
fn snapshot_of_live_mode_with_prometheus_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Port 9 (discard): refused at once, the same message every run; an
    // hour between retries keeps the countdown still.
    let extra = "prometheus:\n  url: http://127.0.0.1:9\n  timeout: 1s\n\
                 dashboard:\n  refresh_interval: 3600\n";
    let state = quiet_state();
    let mut harness = harness(config(dir.path(), extra), state, None);
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.state_mut().apply(UiCommand::SetMode(Mode::Live));
    wait_for(&mut harness, "the failed fetch", |app| {
        app.live_status().is_some_and(|s| s.starts_with("down"))
    });
    harness.snapshot_options("dashboard_live_down", &snapshot_options());
}

#[test]
fn settings_are_validated_as_typed_and_saved_without_losing_the_rest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("user_config.yml");
    let original = format!(
        "# team settings\nlstm_model:\n  epochs: 2   # quick\n  hidden_size: 8\n  \
         sequence_length: 20\n  device: cpu\n  save_path: {}\n",
        dir.path().join("model").display()
    );
    std::fs::write(&path, &original).expect("write");
    let config = Config::from_file(&path).expect("config");
    let loaded = sample(1_000);
    let source = ConfigSource::File(path.clone());
    let state = quiet_state();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            PulseWatchApp::new(&cc.egui_ctx, config, &source, loaded, state, None)
        });
    wait_for(&mut harness, "start-up", PulseWatchApp::is_idle);
    harness.get_by_label("Settings…").click();
    harness.run_steps(2);

    // An invalid value: the form says which key and why, Save is refused and
    // the file keeps every byte.
    harness.state_mut().apply(UiCommand::SetSetting {
        key: pulsewatch::config::edit::SettingKey::Epochs,
        value: "0".into(),
    });
    harness.run_steps(2);
    let message = harness
        .state()
        .settings_error()
        .expect("invalid")
        .to_owned();
    assert!(message.contains("lstm_model.epochs"), "{message}");
    harness.get_by_label_contains("lstm_model.epochs");
    harness.state_mut().apply(UiCommand::SaveSettings);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), original);

    // Typed into the field: "2" becomes "25", valid; Save writes it in place.
    harness.state_mut().apply(UiCommand::SetSetting {
        key: pulsewatch::config::edit::SettingKey::Epochs,
        value: "2".into(),
    });
    harness.run_steps(2);
    let field = harness.get_by_role_and_label(egui::accesskit::Role::TextInput, "Epochs");
    field.focus();
    harness.run_steps(1);
    harness
        .get_by_role_and_label(egui::accesskit::Role::TextInput, "Epochs")
        .type_text("5");
    harness.run_steps(2);
    assert!(harness.state().settings_error().is_none());
    harness.get_by_label("Save").click();
    harness.run_steps(2);
    let saved = std::fs::read_to_string(&path).expect("read");
    assert!(saved.starts_with("# team settings\n"), "{saved}");
    assert!(saved.contains("  epochs: 25   # quick\n"), "{saved}");
    assert_eq!(harness.state().config().lstm.epochs, 25);
}
