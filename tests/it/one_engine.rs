//! One live engine: the window (driven through egui_kittest) and `serve`
//! (in-process, answering HTTP) follow the same real Prometheus at the same
//! moments (one hand-moved clock), and must agree on every row's score and
//! mark, every event and every history row.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use pulsewatch::config::{Config, ConfigSource};
use pulsewatch::engine::ManualClock;
use pulsewatch::history::History;
use pulsewatch::serve::{ServeOptions, serve};
use pulsewatch::ui::state::{Mode, State};

use crate::support::{free_port, get_json, http};
use pulsewatch::ui::{LoadedData, PulseWatchApp};

/// The same settings for both: the sample's three metrics, a two-hour
/// window at 30 s, the forecast on, no autoencoder (two trainings of it
/// would race with the rows).
fn config(url: &str, history: &Path) -> Config {
    let yaml = format!(
        "app:\n  history_path: {}\n\
         prometheus:\n  url: {url}\n  step: 30s\n  window: 2h\n\
         metrics:\n  cpu: pulsewatch_sample_cpu\n  memory: pulsewatch_sample_memory\n  \
         latency: pulsewatch_sample_latency\n\
         dashboard:\n  refresh_interval: 1\n\
         lstm_model:\n  enabled: false\n",
        history.display()
    );
    Config::from_yaml_str(&yaml, "one-engine.yml").expect("config")
}

/// One row as both sides show it: (0–100 score, marked, has a band).
type Row = (f64, bool, bool);

/// What serve's `/metrics/live-long` says (or the window shows), as metric →
/// rows, and the events.
struct Served {
    rows: Vec<(String, Vec<Row>)>,
    events: serde_json::Value,
}

fn served(port: u16) -> Option<Served> {
    let long = get_json(port, "/metrics/live-long")?;
    let metrics = long["metrics"].as_object()?;
    let mut rows = Vec::new();
    for (name, list) in metrics {
        let list = list.as_array()?;
        let parsed = list
            .iter()
            .map(|row| {
                Some((
                    row["score"].as_f64()?,
                    row["anomalous"].as_bool()?,
                    !row["yhat"].is_null(),
                ))
            })
            .collect::<Option<Vec<_>>>()?;
        rows.push((name.clone(), parsed));
    }
    Some(Served {
        rows,
        events: long["events"].clone(),
    })
}

/// The window's view in the same shape.
fn shown(app: &PulseWatchApp) -> Served {
    let view = app.view();
    let mut rows: Vec<(String, Vec<Row>)> = view
        .judged
        .metrics
        .iter()
        .map(|m| {
            let banded = |row: usize| m.band.as_ref().is_some_and(|b| b.at_rows[row].is_some());
            let list = (0..m.marks.len())
                .map(|row| (m.scores[row], m.marks.get(row).is_some(), banded(row)))
                .collect();
            (m.name.clone(), list)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Served {
        rows,
        events: serde_json::to_value(app.anomaly_events()).expect("json"),
    }
}

fn wait_for(
    what: &str,
    harness: &mut Harness<'static, PulseWatchApp>,
    mut done: impl FnMut(&PulseWatchApp) -> bool,
) {
    let started = Instant::now();
    loop {
        harness.step();
        if done(harness.state()) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Both caught up with the clock, with a forecast judging every row, and
/// they agree.
fn agree(harness: &mut Harness<'static, PulseWatchApp>, port: u16, newest_ms: i64, what: &str) {
    let mut last = None;
    wait_for(what, harness, |app| {
        let view = app.view();
        let app_current = app.is_idle()
            && view.frame.timestamps_ms().last() == Some(&newest_ms)
            && app.forecast_ready();
        if !app_current {
            return false;
        }
        let Some(server) = served(port) else {
            return false;
        };
        let server_current = server.rows.iter().all(|(_, rows)| {
            rows.len() == view.frame.len() && rows.iter().all(|(_, _, banded)| *banded)
        }) && server.rows.len() == 3;
        if server_current {
            last = Some(server);
        }
        server_current
    });
    let server = last.expect("served");
    let window = shown(harness.state());
    assert_eq!(window.rows.len(), 3);
    for ((name, app_rows), (served_name, served_rows)) in window.rows.iter().zip(&server.rows) {
        assert_eq!(name, served_name);
        assert_eq!(app_rows.len(), served_rows.len(), "{name}");
        for (row, (a, s)) in app_rows.iter().zip(served_rows).enumerate() {
            // serde_json's float parsing may land one ulp off the printed
            // shortest form; anything more is a real difference.
            let same_score = (a.0 - s.0).abs() <= 1e-12 * a.0.abs().max(1.0);
            assert!(
                same_score && (a.1, a.2) == (s.1, s.2),
                "{what}: {name} row {row}: window {a:?}, serve {s:?}"
            );
        }
    }
    assert_same_events(&window.events, &server.events, what);
}

/// The same events: every field equal, peaks to the ulp (see above).
fn assert_same_events(window: &serde_json::Value, served: &serde_json::Value, what: &str) {
    let (window, served) = (
        window.as_array().expect("events"),
        served.as_array().expect("events"),
    );
    assert_eq!(
        window.len(),
        served.len(),
        "{what}: {window:?} vs {served:?}"
    );
    for (w, s) in window.iter().zip(served) {
        let peak = |e: &serde_json::Value| e["peak_score"].as_f64().expect("peak");
        assert!(
            (peak(w) - peak(s)).abs() <= 1e-12 * peak(w).abs().max(1.0),
            "{w} vs {s}"
        );
        let mut w = w.clone();
        let mut s = s.clone();
        w["peak_score"] = serde_json::Value::Null;
        s["peak_score"] = serde_json::Value::Null;
        assert_eq!(w, s, "{what}: the events differ");
    }
}

#[test]
fn the_window_and_serve_judge_the_same_rows_the_same_way() {
    let Ok(url) = std::env::var("PULSEWATCH_TEST_PROM_URL") else {
        panic!("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`");
    };
    let shift_ms: i64 = std::env::var("PULSEWATCH_TEST_PROM_SHIFT_MS")
        .expect("PULSEWATCH_TEST_PROM_SHIFT_MS (tests/with-prometheus.sh)")
        .parse()
        .expect("a number");
    let sample = pulsewatch::data::bundled_sample().expect("sample").frame;
    // Inside the backfilled data, on the 30 s grid: row 6,000 of 11,520.
    let now_ms = sample.timestamps_ms()[6_000] + shift_ms;
    let clock = Arc::new(ManualClock::new(now_ms));
    let dir = tempfile::tempdir().expect("tempdir");
    let app_history = dir.path().join("app.sqlite");
    let serve_history = dir.path().join("serve.sqlite");

    let stop = Arc::new(AtomicBool::new(false));
    let start_daemon = |port: u16| {
        let (config, stop, clock) = (
            config(&url, &serve_history),
            Arc::clone(&stop),
            Arc::clone(&clock),
        );
        let options = ServeOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            alertmanager: None,
            history_path: serve_history.clone(),
            clock,
            shard: pulsewatch::fleet::Shard::ALL,
            web_config: None,
            allow_unauthenticated_train: false,
        };
        std::thread::spawn(move || serve(config, options, stop))
    };
    // A free port, retried when a concurrent test takes it before the daemon
    // binds it (binding is the first thing serve does: it ends at once).
    let (daemon, port) = (0..5)
        .find_map(|_| {
            let port = free_port();
            let daemon = start_daemon(port);
            loop {
                if daemon.is_finished() {
                    match daemon.join().expect("serve thread") {
                        Err(pulsewatch::serve::ServeError::Listen { .. }) => return None,
                        other => panic!("serve ended before answering: {other:?}"),
                    }
                }
                if http(port, "GET", "/healthz").is_some() && !daemon.is_finished() {
                    return Some((daemon, port));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .expect("five ports in a row taken before serve bound them");

    let app_config = config(&url, &app_history);
    let app_clock = Arc::clone(&clock);
    let state = State {
        mode: Mode::Live,
        ..State::default()
    };
    let loaded = LoadedData {
        frame: pulsewatch::data::MetricFrame::default(),
        label: "nothing yet".into(),
        warnings: Vec::new(),
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            PulseWatchApp::with_clock(
                &cc.egui_ctx,
                app_config,
                &ConfigSource::BuiltIn,
                loaded,
                state,
                None,
                app_clock,
            )
        });

    // The first window: two hours up to now.
    agree(&mut harness, port, now_ms, "the first window");
    let first = harness.state().view().judged.events.len();
    // Three hours and five minutes later: a window of rows neither has seen,
    // past the old forecast's horizon. (Rows inside an old horizon are judged
    // by Prophet's simulated band, which augurs draws from an unseeded
    // generator: two fits of the same rows differ there, in one process as
    // in two. Rows of the history part get the analytic band.)
    let later_ms = now_ms + 11_100_000;
    clock.advance(Duration::from_millis(11_100_000));
    agree(&mut harness, port, later_ms, "three hours later");
    let second = harness.state().view().judged.events.len();
    assert!(
        first + second > 0,
        "the sample's hours hold events to compare"
    );

    // Both recorded the same events (ids, peaks, ends, the judge) in their
    // own history files.
    let rows = |path: &Path| {
        History::open(path)
            .and_then(|h| h.events_since(0))
            .expect("history")
    };
    let (app_rows, serve_rows) = (rows(&app_history), rows(&serve_history));
    assert!(!app_rows.is_empty());
    assert_eq!(app_rows, serve_rows);

    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    daemon.join().expect("serve thread").expect("serve ran");
}
