//! The fleet in the window (egui_kittest on the real app), on the fleet
//! fixture of the test Prometheus (50 hosts over 36 h with known incidents,
//! fetched with the shipped queries plus the hosts' transmit errors):
//!
//! - the overview opens first and lists the incident hosts at the top;
//! - `/` focuses the label filter and typing narrows the list; grouping by
//!   `job` puts the hosts under one header and the fleet-wide latency
//!   series under another;
//! - arrows move the selection, Enter opens the entity (its metrics only,
//!   its peers drawn behind, the table filtered to it), Esc returns;
//! - Live mode on the fixture's Prometheus updates a host's cell when the
//!   live target it scrapes changes.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use pulsewatch::config::Config;
use pulsewatch::ui::overview::Line;
use pulsewatch::ui::state::{Mode, State};
use pulsewatch::ui::{LoadedData, PulseWatchApp, UiCommand};

use crate::dashboard::{harness_on, wait_for};
use crate::fleet::{fleet_json, prom_url, shipped_metrics_yaml};
use crate::support::{pulsewatch, stderr};

/// The shipped queries plus the fixture's transmit errors (its net
/// incidents show there), no model, no forecast.
fn fleet_config(dir: &Path, extra: &str) -> String {
    format!(
        "app:\n  history_path: {}\n\
         prometheus:\n  url: {}\n  step: 30s\n  window: 1h\nmetrics:\n{}  \
         net: 'sum by (instance) (rate(node_network_transmit_errs_total[5m]))'\n\
         lstm_model:\n  enabled: false\nprophet_model:\n  enabled: false\n{extra}",
        dir.join("history.sqlite").display(),
        prom_url(),
        shipped_metrics_yaml(),
    )
}

/// The fixture's 36 h as a wide CSV, fetched by `pulsewatch fetch`.
fn fetch_fleet(dir: &Path) -> PathBuf {
    let fleet = fleet_json();
    let config = dir.join("fleet.yml");
    std::fs::write(&config, fleet_config(dir, "")).unwrap();
    let out = dir.join("fleet.csv");
    let start = fleet["start"].as_i64().unwrap().to_string();
    let end = fleet["end"].as_i64().unwrap().to_string();
    let fetched = pulsewatch(
        dir,
        &[
            "fetch",
            "--config",
            config.to_str().unwrap(),
            "--start",
            &start,
            "--end",
            &end,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(fetched.status.success(), "{}", stderr(&fetched));
    out
}

fn harness(config: Config, state: State, loaded: LoadedData) -> Harness<'static, PulseWatchApp> {
    harness_on(config, state, None, loaded)
}

/// The overview of the data in view is on screen.
fn overview_current(app: &PulseWatchApp) -> bool {
    app.is_idle()
        && !app.overview_busy()
        && app.fleet_overview().is_some_and(|o| {
            o.rows == app.frame().len()
                && o.first_ms == app.frame().timestamps_ms().first().copied()
        })
}

fn instance_key(instance: &str) -> String {
    format!("instance=\"{instance}\"")
}

#[test]
fn the_overview_lists_incident_hosts_first_filters_groups_and_opens_them() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fetch_fleet(dir.path());
    let config = Config::from_yaml_str(&fleet_config(dir.path(), ""), "fleet.yml").unwrap();
    let loaded = pulsewatch::ui::load_data(Some(csv)).unwrap();
    let state = State {
        show_forecast: false,
        ..State::default()
    };
    let mut harness = harness(config, state, loaded);
    wait_for(&mut harness, "the fleet overview", overview_current);
    let app = harness.state();
    assert!(app.is_fleet());
    assert_eq!(app.open_entity_key(), None, "a fleet opens on its overview");
    assert!(
        app.shown_series().is_empty(),
        "no plots behind the overview"
    );

    // The hosts in trouble first, every one of them: those with an
    // incident and the one that stopped answering for 40 minutes.
    let fleet = fleet_json();
    let troubled: BTreeSet<String> = ["incidents", "dropouts"]
        .iter()
        .flat_map(|kind| fleet[kind].as_array().unwrap().iter())
        .map(|i| instance_key(i["instance"].as_str().unwrap()))
        .collect();
    assert_eq!(troubled.len(), 8);
    let order: Vec<String> = app
        .overview_order()
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    let top: BTreeSet<String> = order[..troubled.len()].iter().cloned().collect();
    assert_eq!(top, troubled, "order {order:?}");
    let overview = app.fleet_overview().unwrap();
    assert!(overview.entities.len() >= 50, "{}", overview.entities.len());
    assert_eq!(overview.metrics, ["cpu", "memory", "latency", "net"]);
    // The worst is selected; its name is on screen.
    let worst = order[0].clone();
    assert_eq!(app.selected_entity(), Some(worst.as_str()));
    let worst_title = worst
        .trim_start_matches("instance=\"")
        .trim_end_matches('"')
        .to_owned();
    assert!(harness.query_all_by_label(&worst_title).next().is_some());

    // `/` focuses the filter; typing narrows the list to what matches.
    harness.key_press(egui::Key::Slash);
    harness.run_steps(2);
    let filter = harness.get_by_role(egui::accesskit::Role::TextInput);
    assert!(filter.is_focused(), "/ focuses the filter");
    filter.type_text("host-0(03|20):");
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.state().fleet_filter, "host-0(03|20):");
    let filtered: BTreeSet<String> = app
        .overview_order()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        filtered,
        BTreeSet::from([instance_key("host-003:9100"), instance_key("host-020:9100")])
    );
    // The table follows the filter: only those hosts' events.
    let rows = app.table_rows();
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|e| e.metric.contains("host-003:9100") || e.metric.contains("host-020:9100")),
        "{rows:?}"
    );
    // Esc leaves the filter; the overview is still there.
    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    assert!(
        !harness
            .get_by_role(egui::accesskit::Role::TextInput)
            .is_focused()
    );
    assert_eq!(harness.state().open_entity_key(), None);
    harness
        .state_mut()
        .apply(UiCommand::SetFleetFilter(String::new()));

    // Grouped by job: the hosts under job="node", the fleet-wide latency
    // (no instance, no job) under its own header.
    harness
        .state_mut()
        .apply(UiCommand::SetFleetGroupBy(Some("job".into())));
    harness.run_steps(2);
    let titles: Vec<String> = harness
        .state()
        .overview_lines()
        .iter()
        .filter_map(|line| match line {
            Line::Group { title, .. } => Some(title.clone()),
            Line::Entity(_) => None,
        })
        .collect();
    assert!(titles.contains(&"job=\"node\"".to_owned()), "{titles:?}");
    assert!(titles.contains(&"job (none)".to_owned()), "{titles:?}");
    harness.get_by_label("job=\"node\"");
    harness.state_mut().apply(UiCommand::SetFleetGroupBy(None));
    harness.run_steps(2);

    // The selection moved to the worst host the filter listed, and stays
    // on it now that everything is listed again. Down twice (j, then the
    // arrow), up once: the next host down; Enter opens it.
    let selected = harness.state().selected_entity().unwrap().to_owned();
    assert!(filtered.contains(selected.as_str()), "{selected}");
    let at = order.iter().position(|k| *k == selected).unwrap();
    harness.key_press(egui::Key::J);
    harness.key_press(egui::Key::ArrowDown);
    harness.step();
    harness.key_press(egui::Key::ArrowUp);
    harness.step();
    let second = order[at + 1].clone();
    assert_eq!(harness.state().selected_entity(), Some(second.as_str()));
    harness.key_press(egui::Key::Enter);
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.open_entity_key(), Some(second.as_str()));
    let shown = app.shown_series();
    assert!(!shown.is_empty() && shown.len() <= 4, "{shown:?}");
    assert!(
        shown.iter().all(|s| s.contains(second.as_str())),
        "only its series: {shown:?}"
    );
    assert!(app.shows_peers(), "its peers' median and spread behind");
    assert!(
        app.table_rows().iter().all(|e| e.metric.contains(&second)),
        "the table lists its events only"
    );
    assert!(!app.table_rows().is_empty(), "an incident host has events");
    harness.get_by_label("Fleet");

    // Esc: back to the overview, the selection kept.
    harness.key_press(egui::Key::Escape);
    harness.run_steps(2);
    let app = harness.state();
    assert_eq!(app.open_entity_key(), None);
    assert_eq!(app.selected_entity(), Some(second.as_str()));
    assert!(app.shown_series().is_empty());

    // A click on a table row opens its entity at that time.
    let event = app.table_rows()[0].clone();
    let start = pulsewatch::data::time::format_rfc3339_ms(event.start_ms);
    // The top row is the first with that label in the tree.
    harness.query_all_by_label(&start).next().unwrap().click();
    // One frame takes the click; the next would apply the zoom.
    harness.step();
    let app = harness.state();
    let opened = app.open_entity_key().expect("the row's entity opened");
    assert!(
        event.metric.contains(opened),
        "{opened} for {}",
        event.metric
    );
    let (from, to) = app.pending_zoom().expect("zoomed to the event");
    assert!(from * 1000.0 <= event.start_ms as f64 && to * 1000.0 >= event.start_ms as f64);
}

/// A node_exporter-like target serving `node_load1` of `host-ui:9100`,
/// whose value the test sets (as f64 bits).
fn settable_host(value: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let body = format!(
                "# TYPE node_load1 gauge\nnode_load1{{instance=\"host-ui:9100\",job=\"fleet-live\"}} {}\n",
                f64::from_bits(value.load(Ordering::Relaxed))
            );
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

/// The latest value of `host-ui:9100`'s load cell in the overview.
fn live_cell(app: &PulseWatchApp) -> Option<f64> {
    let overview = app.fleet_overview()?;
    let host = overview.entity(&instance_key("host-ui:9100"))?;
    let load = overview.metrics.iter().position(|m| m == "load")?;
    host.cells[load].as_ref()?.latest
}

#[test]
fn live_mode_updates_a_hosts_cell_when_its_target_changes() {
    let sd_dir = std::env::var("PULSEWATCH_TEST_FILE_SD_DIR")
        .expect("PULSEWATCH_TEST_FILE_SD_DIR is not set: run the suite with `bash tests/run.sh`");
    let value = Arc::new(AtomicU64::new(1.0_f64.to_bits()));
    let port = settable_host(Arc::clone(&value));
    let targets = Path::new(&sd_dir).join("window-live.json");
    std::fs::write(
        &targets,
        format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{}}}}]"#),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        "app:\n  history_path: {}\n\
         prometheus:\n  url: {}\n  step: 1s\n  window: 2m\nmetrics:\n  load: node_load1\n\
         lstm_model:\n  enabled: false\nprophet_model:\n  enabled: false\n\
         dashboard:\n  refresh_interval: 1\ndetection:\n  probation_rows: 20\n",
        dir.path().join("history.sqlite").display(),
        prom_url()
    );
    let config = Config::from_yaml_str(&yaml, "live.yml").unwrap();
    let state = State {
        mode: Mode::Live,
        show_forecast: false,
        ..State::default()
    };
    let loaded = pulsewatch::ui::load_data(None).unwrap();
    let mut harness = harness(config, state, loaded);
    // The real node_exporter and host-ui: a fleet of two or more.
    wait_for(&mut harness, "host-ui's cell at 1", |app| {
        app.is_fleet() && live_cell(app) == Some(1.0)
    });
    assert_eq!(harness.state().open_entity_key(), None);
    value.store(42.5_f64.to_bits(), Ordering::Relaxed);
    wait_for(&mut harness, "host-ui's cell to follow its target", |app| {
        live_cell(app) == Some(42.5)
    });
    std::fs::remove_file(&targets).unwrap();
}

#[test]
fn test_mode_spikes_a_few_hosts_and_scores_each() {
    let dir = tempfile::tempdir().unwrap();
    let csv = fetch_fleet(dir.path());
    let config = Config::from_yaml_str(&fleet_config(dir.path(), ""), "fleet.yml").unwrap();
    let loaded = pulsewatch::ui::load_data(Some(csv)).unwrap();
    let state = State {
        mode: Mode::Test,
        show_forecast: false,
        spike_rate: 0.01,
        ..State::default()
    };
    let mut harness = harness(config, state, loaded);
    wait_for(&mut harness, "Test mode's overview", |app| {
        overview_current(app) && !app.entity_scorecards().is_empty()
    });
    let app = harness.state();
    let cards = app.entity_scorecards();
    // Over 50 entities (the hosts, the fleet-wide latency): a tenth of
    // them, at most 5.
    assert_eq!(cards.len(), 5, "{cards:?}");
    let spikes: usize = cards.iter().map(|(_, m)| m.tp + m.fn_).sum();
    let injected = app.test_metrics().map(|m| m.tp + m.fn_).unwrap();
    assert_eq!(spikes, injected, "every spike lands on a spiked entity");
    assert!(spikes >= 20, "{spikes} spikes at 1 % of 4,320 rows");
    // Six robust σ: most spikes are found on their own host.
    let found: usize = cards.iter().map(|(_, m)| m.tp).sum();
    assert!(found * 2 > spikes, "{found} of {spikes} found: {cards:?}");
    let (key, first) = &cards[0];
    let line = format!(
        "{}: precision {:.2}, recall {:.2} ({} of {} spikes)",
        key.trim_start_matches("instance=\"").trim_end_matches('"'),
        first.precision,
        first.recall,
        first.tp,
        first.tp + first.fn_
    );
    harness.get_by_label(&line);
}
