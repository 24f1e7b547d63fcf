//! The app and the daemon write one history database at once: a
//! `pulsewatch serve` process and an in-process monitor (the window's
//! engine) follow the same series and record the same anomalies into the
//! same SQLite file. Every event either of them committed is there once,
//! every one closed, and the file passes SQLite's integrity check.

use std::collections::BTreeSet;
use std::sync::Arc;

use pulsewatch::config::Config;
use pulsewatch::engine::monitor::{self, Command as MonitorCommand, MonitorOptions, Update};
use pulsewatch::history::History;

use crate::serve::{start_serve, wait_for};
use crate::serve_alerts::{Pulse, sample, terminate};

/// The ids in "history: event ID (pulse) committed" notes.
fn committed_ids<'a>(notes: impl Iterator<Item = &'a str>) -> BTreeSet<i64> {
    notes
        .filter_map(|note| {
            let rest = note.split("history: event ").nth(1)?;
            let (id, metric) = rest.split_once(' ')?;
            metric
                .starts_with("(pulse) committed")
                .then(|| id.parse().ok())?
        })
        .collect()
}

#[test]
fn the_app_and_serve_write_one_history_at_once() {
    let prom_url = crate::fleet::prom_url();
    let home = tempfile::tempdir().expect("tempdir");
    let pulse = Pulse::start("shared", home.path());
    let history_path = home.path().join("history.sqlite");
    let yaml = format!(
        "app:\n  history_path: {}\nprometheus:\n  url: {prom_url}\n  step: 1s\n  window: 5m\n\
         metrics:\n  pulse: '{}'\ndashboard:\n  refresh_interval: 1\n\
         prophet_model:\n  enabled: false\nlstm_model:\n  enabled: false\n  save_path: {}\n\
         detection:\n  probation_rows: 40\n",
        history_path.display(),
        pulse.query(),
        home.path().join("model").display()
    );
    let config_path = home.path().join("shared.yml");
    std::fs::write(&config_path, &yaml).expect("config");

    // The daemon, recording into history.sqlite.
    let (mut serve, port) = start_serve(home.path(), &config_path, &[]);
    // The window's engine, recording into the same file.
    let config = Config::from_yaml_str(&yaml, "shared.yml").expect("config");
    let mut app = monitor::spawn(
        MonitorOptions {
            config,
            clock: Arc::new(pulsewatch::engine::SystemClock),
            history_path: Some(history_path.clone()),
            training_source: None,
            show_forecast: false,
            shard: pulsewatch::fleet::Shard::ALL,
            state_path: None,
        },
        || {},
    )
    .expect("monitor");
    app.send(MonitorCommand::FollowLive);
    let mut app_notes: Vec<String> = Vec::new();
    let mut app_latest: Option<Update> = None;
    let drain = |notes: &mut Vec<String>, latest: &mut Option<Update>| {
        for update in app.updates.try_iter() {
            notes.extend(update.notes.iter().cloned());
            *latest = Some(update);
        }
    };
    let app_state = |latest: &Option<Update>| {
        latest.as_ref().map(|u| {
            (
                u.view.frame.names().len() == 1 && u.view.fleet.in_probation.is_empty(),
                !u.view.open_events.is_empty(),
            )
        })
    };
    wait_for("both past their probation", || {
        drain(&mut app_notes, &mut app_latest);
        sample(port, "pulsewatch_series{state=\"probation\"}") == Some(0.0)
            && sample(port, "pulsewatch_series{state=\"followed\"}") == Some(1.0)
            && app_state(&app_latest).is_some_and(|(ready, _)| ready)
    });
    // Three anomalies, each seen to start and end by both.
    for _ in 0..3 {
        pulse.set(1001);
        wait_for("both to see the anomaly", || {
            drain(&mut app_notes, &mut app_latest);
            sample(port, "pulsewatch_anomalous{metric=\"pulse\"}") == Some(1.0)
                && app_state(&app_latest).is_some_and(|(_, open)| open)
        });
        pulse.set(1);
        wait_for("both to see it end", || {
            drain(&mut app_notes, &mut app_latest);
            sample(port, "pulsewatch_anomalous{metric=\"pulse\"}") == Some(0.0)
                && app_state(&app_latest).is_some_and(|(_, open)| !open)
        });
    }
    drain(&mut app_notes, &mut app_latest);
    for update in app.stop().expect("stop the app's monitor") {
        app_notes.extend(update.notes);
    }
    terminate(&mut serve.0);

    let serve_log =
        std::fs::read_to_string(home.path().join(format!("serve-{port}.log"))).expect("serve log");
    let from_serve = committed_ids(serve_log.lines());
    let from_app = committed_ids(app_notes.iter().map(String::as_str));
    assert!(
        !from_serve.is_empty() && !from_app.is_empty(),
        "{serve_log}\n{app_notes:?}"
    );
    let history = History::open(&history_path).expect("open");
    assert_eq!(history.integrity_check().expect("check"), "ok");
    let events: Vec<_> = history
        .events_since(0)
        .expect("events")
        .into_iter()
        .filter(|e| e.metric == "pulse")
        .collect();
    let stored: BTreeSet<i64> = events.iter().map(|e| e.id).collect();
    let committed: BTreeSet<i64> = from_serve.union(&from_app).copied().collect();
    // Nothing lost, nothing more than was committed.
    assert_eq!(stored, committed, "{events:?}");
    // One row per event: an event both judged (same metric and start) is
    // one id.
    let starts: BTreeSet<i64> = events.iter().map(|e| e.start_ms).collect();
    assert_eq!(starts.len(), events.len(), "{events:?}");
    assert!(events.len() >= 3, "{events:?}");
    assert!(events.iter().all(|e| e.end_ms.is_some()), "{events:?}");
}
