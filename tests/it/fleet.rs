//! Fleets against the test Prometheus, which holds 50 node_exporter-like
//! hosts over the last 36 h (tests/fixtures/tools/make_fleet.py, with known
//! incidents, a host that joins late and one that drops out for 40 minutes)
//! and scrapes live hosts a test adds through its file_sd directory:
//!
//! - `serve` exports every series with its source labels, and two replicas
//!   (`--shard 0/2`, `PULSEWATCH_SHARD=1/2`) cover the fleet exactly once;
//! - a live host that stops answering goes stale and comes back with its
//!   state, and the other hosts' rows are untouched meanwhile;
//! - the shipped queries, replayed over the day a refresh at a time, find
//!   every incident on its own host and metric.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pulsewatch::config::{Config, Os};
use pulsewatch::engine::ManualClock;
use pulsewatch::engine::monitor::{self, Command as MonitorCommand, MonitorOptions, Update};
use pulsewatch::event::AnomalyEvent;

use crate::support::{get_text, pulsewatch, stderr, stdout};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn prom_url() -> String {
    std::env::var("PULSEWATCH_TEST_PROM_URL")
        .expect("PULSEWATCH_TEST_PROM_URL is not set: run the suite with `bash tests/run.sh`")
}

pub(crate) fn fleet_json() -> serde_json::Value {
    let path = std::env::var("PULSEWATCH_TEST_FLEET_JSON")
        .expect("PULSEWATCH_TEST_FLEET_JSON is not set: run the suite with `bash tests/run.sh`");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fleet json")).expect("json")
}

/// Polls `ready` until it holds; 120 s without it fails the test.
pub(crate) fn wait_for<T>(what: &str, mut ready: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = ready() {
            return value;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The shipped Linux queries, as YAML lines under `metrics:`.
pub(crate) fn shipped_metrics_yaml() -> String {
    let shipped = Config::from_yaml_str_for_os(
        pulsewatch::config::DEFAULT_CONFIG_YAML,
        "built-in",
        Os::Linux,
    )
    .expect("built-in config");
    shipped
        .metrics
        .iter()
        .map(|m| format!("  {}: '{}'\n", m.name, m.query.replace('\'', "''")))
        .collect()
}

/// `pulsewatch serve` on the shipped queries (no model, no forecast).
fn start_serve(home: &Path, name: &str, extra: &[&str], env: &[(&str, &str)]) -> (KillOnDrop, u16) {
    let config = home.join("fleet.yml");
    std::fs::write(
        &config,
        format!(
            "prometheus:\n  url: {}\n  step: 30s\n  window: 1h\nmetrics:\n{}\
             lstm_model:\n  enabled: false\nprophet_model:\n  enabled: false\n\
             dashboard:\n  refresh_interval: 1\n",
            prom_url(),
            shipped_metrics_yaml()
        ),
    )
    .expect("config");
    let log_path = home.join(format!("serve-{name}.log"));
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulsewatch"));
    command
        .args(["--config", config.to_str().expect("utf-8")])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args([
            "--history",
            log_path.with_extension("sqlite").to_str().expect("utf-8"),
        ])
        .args(extra)
        .env("HOME", home)
        .env_remove("PULSEWATCH_SHARD")
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    let (child, port) = crate::support::spawn_listening(command, &log_path);
    let child = KillOnDrop(child);
    (child, port)
}

/// The label sets of every `pulsewatch_anomaly_score` sample in `text`.
fn score_labels(text: &str) -> Vec<BTreeMap<String, String>> {
    text.lines()
        .filter_map(|l| l.strip_prefix("pulsewatch_anomaly_score{"))
        .map(|l| {
            let body = &l[..l.rfind('}').expect("closing brace")];
            body.split("\",")
                .map(|pair| {
                    let (k, v) = pair.split_once("=\"").expect("key=value");
                    (k.to_owned(), v.trim_end_matches('"').to_owned())
                })
                .collect()
        })
        .collect()
}

/// The label sets of every `pulsewatch_anomaly_score` sample, once the
/// daemon follows the hosts' series (its log in the failure otherwise). A
/// query that answered nothing at a refresh (a cold Prometheus can be slow
/// to answer the first) is followed by its bare name until it answers, so
/// this waits for a refresh where cpu and memory came with their hosts.
fn scored_series(home: &Path, port: u16) -> Vec<BTreeMap<String, String>> {
    let started = Instant::now();
    loop {
        let text = get_text(port, "/metrics").unwrap_or_default();
        let labels = score_labels(&text);
        let answered = |metric: &str| {
            let of_metric: Vec<_> = labels.iter().filter(|l| l["metric"] == metric).collect();
            !of_metric.is_empty() && of_metric.iter().all(|l| l.contains_key("instance"))
        };
        if answered("cpu") && answered("memory") {
            return labels;
        }
        if started.elapsed() > Duration::from_secs(120) {
            let logs: Vec<String> = std::fs::read_dir(home)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.path().to_string_lossy().ends_with(".log"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect();
            panic!(
                "no refresh with the hosts' cpu and memory in /metrics of port {port}; \
                 the logs: {logs:?}; /metrics: {text}"
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_series_keeps_its_labels_and_two_shards_cover_the_fleet_once() {
    let home = tempfile::tempdir().expect("tempdir");
    let (_all, all_port) = start_serve(home.path(), "all", &[], &[]);
    let (_first, first_port) = start_serve(home.path(), "first", &["--shard", "0/2"], &[]);
    // The second replica takes its shard from the environment, as a
    // StatefulSet sets it from the pod's index.
    let (_second, second_port) =
        start_serve(home.path(), "second", &[], &[("PULSEWATCH_SHARD", "1/2")]);
    // Together the shards score every series exactly once. The three read
    // at their own refreshes, so a series that joined in between (the
    // local node_exporter's cpu, once its rate has two samples) can be in
    // one read and not yet in another: read again until they are of the
    // same moment (a shard that scores a series twice or never does stays
    // apart for good, and fails).
    let set = |series: &[BTreeMap<String, String>]| -> BTreeSet<String> {
        series.iter().map(|l| format!("{l:?}")).collect()
    };
    let started = Instant::now();
    let (all, first, second) = loop {
        let all = scored_series(home.path(), all_port);
        let first = scored_series(home.path(), first_port);
        let second = scored_series(home.path(), second_port);
        let (a, b) = (set(&first), set(&second));
        let union: BTreeSet<String> = a.union(&b).cloned().collect();
        if union == set(&all) || started.elapsed() > Duration::from_secs(60) {
            break (all, first, second);
        }
        std::thread::sleep(Duration::from_millis(500));
    };

    // The fleet's hosts answer on cpu and memory, each series with its
    // instance (and memory with its job: the query keeps it).
    let hosts: BTreeSet<&str> = all
        .iter()
        .filter(|l| l["metric"] == "cpu")
        .map(|l| {
            l.get("instance")
                .unwrap_or_else(|| panic!("a cpu series without an instance: {l:?}"))
                .as_str()
        })
        .collect();
    let fleet_hosts = hosts.iter().filter(|h| h.starts_with("host-")).count();
    assert!(fleet_hosts >= 49, "{hosts:?}");
    for labels in &all {
        match labels["metric"].as_str() {
            "cpu" => assert_eq!(labels.len(), 2, "{labels:?}"),
            "memory" => {
                assert!(
                    labels.contains_key("instance") && !labels["job"].is_empty(),
                    "{labels:?}"
                )
            }
            // Fleet-wide: no entity label.
            "latency" => assert!(!labels.contains_key("instance"), "{labels:?}"),
            other => panic!("unexpected metric {other}: {labels:?}"),
        }
    }
    let (a, b) = (set(&first), set(&second));
    assert!(a.intersection(&b).next().is_none(), "scored twice");
    let union: BTreeSet<String> = a.union(&b).cloned().collect();
    assert_eq!(union, set(&all));
    assert!(
        a.len() > all.len() / 4 && b.len() > all.len() / 4,
        "{} / {}",
        a.len(),
        b.len()
    );
    let info = get_text(first_port, "/metrics").expect("metrics");
    assert!(
        info.contains("pulsewatch_shard_info{shard=\"0\",shards=\"2\"} 1"),
        "{info}"
    );
    // The JSON window carries the same labels.
    let window: serde_json::Value =
        serde_json::from_str(&get_text(all_port, "/metrics/live-short").expect("json"))
            .expect("json");
    let labelled = window["labels"].as_object().expect("labels");
    assert_eq!(labelled.len(), all.len(), "{window}");
}

/// A node_exporter-like target serving one gauge, `node_load1` of
/// `host-live:9100`, answering 503 while `down` is set.
fn live_host(down: Arc<AtomicBool>, value: Arc<AtomicU64>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            let v = value.fetch_add(1, Ordering::Relaxed) % 5;
            let reply = if down.load(Ordering::Relaxed) {
                "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_owned()
            } else {
                let body = format!(
                    "# TYPE node_load1 gauge\nnode_load1{{instance=\"host-live:9100\",job=\"fleet-live\"}} {}\n",
                    1.0 + v as f64 * 0.1
                );
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    port
}

/// The newest update the monitor has sent.
fn latest(handle: &monitor::MonitorHandle) -> Option<Update> {
    handle.updates.try_iter().last()
}

#[test]
fn a_host_that_drops_out_and_comes_back_leaves_the_others_alone() {
    let sd_dir = std::env::var("PULSEWATCH_TEST_FILE_SD_DIR")
        .expect("PULSEWATCH_TEST_FILE_SD_DIR is not set: run the suite with `bash tests/run.sh`");
    let node = std::env::var("PULSEWATCH_TEST_NODE_EXPORTER").expect("node exporter");
    let down = Arc::new(AtomicBool::new(false));
    let port = live_host(Arc::clone(&down), Arc::new(AtomicU64::new(0)));
    let targets = Path::new(&sd_dir).join("dropout.json");
    std::fs::write(
        &targets,
        format!(r#"[{{"targets": ["127.0.0.1:{port}"], "labels": {{}}}}]"#),
    )
    .expect("targets");
    let config = Config::from_yaml_str(
        &format!(
            "prometheus:\n  url: {}\n  step: 1s\n  window: 3m\nmetrics:\n  load: node_load1\n\
             lstm_model:\n  enabled: false\nprophet_model:\n  enabled: false\n\
             dashboard:\n  refresh_interval: 1\nfleet:\n  stale_after: 1h\n\
             detection:\n  probation_rows: 20\n",
            prom_url()
        ),
        "dropout.yml",
    )
    .expect("config");
    let handle = follow_live(config, Arc::new(pulsewatch::engine::SystemClock), None);
    let live = "load{instance=\"host-live:9100\",job=\"fleet-live\"}".to_owned();
    let other = format!("load{{instance=\"{node}\",job=\"node\"}}");
    let values = |update: &Update, name: &str| -> Vec<(i64, f64)> {
        let frame = &update.view.frame;
        frame
            .column(name)
            .map(|c| {
                frame
                    .timestamps_ms()
                    .iter()
                    .copied()
                    .zip(c.iter().copied())
                    .filter(|(_, v)| v.is_finite())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Up long enough to leave its probation (20 rows, set above: the
    // default's 2,000 rows are 33 minutes at this step).
    let before = wait_for("30 rows of the live host", || {
        latest(&handle).filter(|u| values(u, &live).len() >= 30 && !values(u, &other).is_empty())
    });
    assert!(!before.view.fleet.in_probation.contains(&live));
    let other_before = values(&before, &other);
    let live_before = values(&before, &live);

    down.store(true, Ordering::Relaxed);
    let stale = wait_for("the live host to go stale", || {
        latest(&handle).filter(|u| u.view.fleet.stale.contains(&live))
    });
    assert!(
        !stale.view.fleet.stale.contains(&other),
        "{:?}",
        stale.view.fleet
    );
    // The other host's rows are the same as before, and it went on.
    let other_during = values(&stale, &other);
    for (ms, v) in &other_before {
        if let Some((_, now)) = other_during.iter().find(|(at, _)| at == ms) {
            assert_eq!(now, v, "row {ms} of {other} changed");
        }
    }
    assert!(other_during.last().map(|r| r.0) > other_before.last().map(|r| r.0));
    assert!(stale.view.frame.names().contains(&live), "kept while stale");

    down.store(false, Ordering::Relaxed);
    let back = wait_for("the live host to answer again", || {
        latest(&handle).filter(|u| {
            !u.view.fleet.stale.contains(&live)
                && values(u, &live).last().map(|r| r.0)
                    > stale.view.frame.timestamps_ms().last().copied()
        })
    });
    // It came back with its state: its old rows, and no second probation.
    let live_after = values(&back, &live);
    for row in live_before.iter().filter(|(ms, _)| {
        back.view
            .frame
            .timestamps_ms()
            .first()
            .is_some_and(|first| ms >= first)
    }) {
        assert!(live_after.contains(row), "lost {row:?}");
    }
    assert!(!back.view.fleet.in_probation.contains(&live));
    std::fs::remove_file(&targets).expect("remove targets");
    handle.stop().expect("stop");
}

/// A monitor following Prometheus with `config` (no history, model or
/// forecast), its detector state kept in `state_path`.
pub(crate) fn follow_live(
    config: Config,
    clock: Arc<dyn pulsewatch::engine::Clock>,
    state_path: Option<std::path::PathBuf>,
) -> monitor::MonitorHandle {
    let mut handle = monitor::spawn(
        MonitorOptions {
            config,
            clock,
            history_path: None,
            training_source: None,
            show_forecast: false,
            shard: pulsewatch::fleet::Shard::ALL,
            state_path,
        },
        || {},
    )
    .expect("monitor");
    handle.send(MonitorCommand::FollowLive);
    handle
}

/// The incident kinds of the fixture and the metric each shows on.
fn incident_metric(kind: &str) -> &'static str {
    match kind {
        "cpu_burn" => "cpu",
        "memory_leak" => "memory",
        "net_errors" => "net",
        other => panic!("unknown incident kind {other}"),
    }
}

#[test]
fn the_shipped_queries_find_every_incident_on_its_own_host() {
    let fleet = fleet_json();
    let start_ms = fleet["start"].as_i64().expect("start") * 1000;
    let end_ms = fleet["end"].as_i64().expect("end") * 1000;
    let models = tempfile::tempdir().expect("tempdir");
    let config = Config::from_yaml_str(
        &format!(
            "prometheus:\n  url: {}\n  step: 30s\n  window: 1h\nmetrics:\n{}  \
             net: 'sum by (instance) (rate(node_network_transmit_errs_total[5m]))'\n\
             lstm_model:\n  enabled: true\n  device: cpu\n  save_path: '{}'\nprophet_model:\n  enabled: false\n\
             dashboard:\n  refresh_interval: 1\n",
            prom_url(),
            shipped_metrics_yaml(),
            models.path().display()
        ),
        "replay.yml",
    )
    .expect("config");
    let clock = Arc::new(ManualClock::new(start_ms + 3_600_000));
    let handle = follow_live(config, clock.clone(), None);
    let mut events: BTreeMap<(String, i64), AnomalyEvent> = BTreeMap::new();
    let mut keep = |update: &Update| {
        for e in update
            .changes
            .started
            .iter()
            .chain(&update.changes.ended)
            .chain(&update.view.open_events)
        {
            events.insert((e.metric.clone(), e.start_ms), e.clone());
        }
    };
    // A refresh an hour (the streams make the chunking irrelevant).
    let mut now = start_ms + 3_600_000;
    loop {
        let newest = now - now % 30_000;
        wait_for("the refresh", || {
            let mut got = None;
            for update in handle.updates.try_iter() {
                keep(&update);
                if update.view.frame.timestamps_ms().last() >= Some(&(newest - 60_000))
                    && !update.view.is_training
                {
                    got = Some(());
                }
            }
            got
        });
        if now >= end_ms {
            break;
        }
        let next = (now + 3_600_000).min(end_ms + 30_000);
        clock.advance(Duration::from_millis((next - now) as u64));
        now = next;
    }
    handle.stop().expect("stop").iter().for_each(&mut keep);

    let incidents = fleet["incidents"].as_array().expect("incidents");
    let mut missed = Vec::new();
    for incident in incidents {
        let instance = incident["instance"].as_str().expect("instance");
        let metric = incident_metric(incident["kind"].as_str().expect("kind"));
        // memory keeps the job label; cpu and net aggregate by instance.
        let name = if metric == "memory" {
            format!("{metric}{{instance=\"{instance}\",job=\"node\"}}")
        } else {
            format!("{metric}{{instance=\"{instance}\"}}")
        };
        let from = incident["start"].as_i64().expect("start") * 1000;
        let to = incident["end"].as_i64().expect("end") * 1000 + 600_000;
        let found = events
            .values()
            .any(|e| e.metric == name && e.start_ms <= to && e.end_or(i64::MAX) >= from);
        if !found {
            missed.push(name);
        }
    }
    let troubled: BTreeSet<&str> = incidents
        .iter()
        .filter_map(|i| i["instance"].as_str())
        .collect();
    let clean_events = events
        .keys()
        .filter(|(metric, _)| !troubled.iter().any(|host| metric.contains(host)))
        .count();
    eprintln!(
        "fleet replay: {} incidents, {} missed {missed:?}; {} events in all, {clean_events} on hosts \
         without an incident",
        incidents.len(),
        missed.len(),
        events.len()
    );
    assert!(missed.is_empty(), "missed incidents: {missed:?}");
    // The false-alarm budget: at most one event per clean series per week
    // over the fixture's clean host-days (cpu, memory and net of each host
    // without an incident).
    let hosts = fleet["hosts"].as_u64().expect("hosts") as usize;
    let clean_series = (hosts - troubled.len()) * 3;
    let weeks = (end_ms - start_ms) as f64 / (7.0 * 86_400_000.0);
    let budget = clean_series as f64 * weeks;
    assert!(
        (clean_events as f64) <= budget,
        "{clean_events} events on clean hosts; the budget is {budget:.1}"
    );
}

/// A monitor on the shipped cpu and memory queries over the fleet, on a
/// hand-moved clock, its detector state kept in `state_path`.
fn fleet_monitor(
    clock: Arc<ManualClock>,
    state_path: Option<std::path::PathBuf>,
) -> monitor::MonitorHandle {
    fleet_monitor_with(clock, state_path, "")
}

/// [`fleet_monitor`] with `extra` YAML sections.
fn fleet_monitor_with(
    clock: Arc<ManualClock>,
    state_path: Option<std::path::PathBuf>,
    extra: &str,
) -> monitor::MonitorHandle {
    let config = Config::from_yaml_str(
        &format!(
            "prometheus:\n  url: {}\n  step: 30s\n  window: 1h\nmetrics:\n{}\
             lstm_model:\n  enabled: false\nprophet_model:\n  enabled: false\n\
             dashboard:\n  refresh_interval: 1\n{extra}",
            prom_url(),
            shipped_metrics_yaml()
        ),
        "restart.yml",
    )
    .expect("config");
    follow_live(config, clock, state_path)
}

/// The updates up to the first whose window reaches `newest_ms`, that one
/// last.
pub(crate) fn updates_until(handle: &monitor::MonitorHandle, newest_ms: i64) -> Vec<Update> {
    let mut seen = Vec::new();
    wait_for("the refresh", || {
        for update in handle.updates.try_iter() {
            let reached = update.view.frame.timestamps_ms().last() >= Some(&newest_ms);
            seen.push(update);
            if reached {
                return Some(());
            }
        }
        None
    });
    seen
}

/// Every series' 0–100 scores over the window, by name.
fn scores(update: &Update) -> BTreeMap<String, Vec<f64>> {
    update
        .view
        .judged
        .metrics
        .iter()
        .map(|m| (m.name.clone(), m.scores.clone()))
        .collect()
}

#[test]
fn the_first_fetch_reaches_back_a_probation_so_the_window_is_judged_from_its_first_row() {
    let fleet = fleet_json();
    let start_ms = fleet["start"].as_i64().expect("start") * 1000;
    let late = fleet["joins"][0]["instance"]
        .as_str()
        .expect("the late joiner")
        .to_owned();
    let joined_ms = fleet["joins"][0]["start"].as_i64().expect("join") * 1000;
    // Two hours after the late joiner came: every other host has more than
    // a probation (2,000 rows at 30 s) of history before the one-hour window.
    let now = joined_ms + 2 * 3_600_000;
    assert!(
        now - start_ms > 3_600_000 + 2_000 * 30_000,
        "the fleet is old"
    );
    let clock = Arc::new(ManualClock::new(now));
    let handle = fleet_monitor(clock, None);
    let updates = updates_until(&handle, now - 60_000);
    handle.stop().expect("stop");
    let first = updates
        .iter()
        .find(|u| !u.view.frame.is_empty())
        .expect("a live frame");
    let names = first.view.frame.names();
    assert!(names.len() >= 98, "{} series", names.len());
    // On probation: exactly the young host's series (and a fleet-wide query
    // the fixture has no data for: a series starts at its first value).
    let on_probation: BTreeSet<&str> = first
        .view
        .fleet
        .in_probation
        .iter()
        .map(String::as_str)
        .collect();
    let frame = &first.view.frame;
    let young: BTreeSet<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| n.contains(&late))
        .collect();
    assert_eq!(young.len(), 2, "{names:?}");
    let valueless: BTreeSet<&str> = names
        .iter()
        .map(String::as_str)
        .filter(|n| {
            frame
                .column(n)
                .is_some_and(|c| c.iter().all(|v| v.is_nan()))
        })
        .collect();
    assert!(valueless.len() <= 1, "{valueless:?}");
    assert_eq!(
        on_probation,
        young.union(&valueless).copied().collect::<BTreeSet<_>>()
    );
    // The others were judged from the window's first row: the warm-up rows
    // before it were learned from, not shown.
    let judged_at_first_row = first
        .view
        .judged
        .metrics
        .iter()
        .filter(|m| !on_probation.contains(m.name.as_str()) && m.scores[0] > 0.0)
        .count();
    assert!(
        judged_at_first_row >= names.len() - 10,
        "{judged_at_first_row} of {} series scored at the first row",
        names.len()
    );
    let window_ms = first.view.frame.timestamps_ms()[0];
    assert!(now - window_ms <= 3_600_000, "the window is still an hour");
}

/// The detectors' state is saved at the first refresh, then once
/// `detection.state_save_interval` has passed since the last save: not at
/// every refresh (a large fleet's file is gigabytes).
#[test]
fn the_state_is_saved_once_per_state_save_interval() {
    let fleet = fleet_json();
    let t1 = fleet["start"].as_i64().expect("start") * 1000 + 18 * 3_600_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("online-state.cbor");
    let clock = Arc::new(ManualClock::new(t1));
    let monitor = fleet_monitor_with(
        clock.clone(),
        Some(state.clone()),
        "detection:\n  state_save_interval: 10m\n",
    );
    let saves = |updates: &[Update]| {
        updates
            .iter()
            .flat_map(|u| &u.notes)
            .filter(|n| n.starts_with("saved the detector state"))
            .count()
    };
    assert_eq!(saves(&updates_until(&monitor, t1)), 1, "the first refresh");
    assert!(state.is_file());
    let minute = 60_000;
    clock.advance(Duration::from_millis(5 * minute as u64));
    assert_eq!(
        saves(&updates_until(&monitor, t1 + 5 * minute)),
        0,
        "5 minutes on"
    );
    clock.advance(Duration::from_millis(6 * minute as u64));
    assert_eq!(
        saves(&updates_until(&monitor, t1 + 11 * minute)),
        1,
        "11 minutes on"
    );
    monitor.stop().expect("stop");
}

#[test]
fn a_restart_goes_on_where_it_stopped() {
    let fleet = fleet_json();
    let start_ms = fleet["start"].as_i64().expect("start") * 1000;
    // Past the fleet's probation (2,000 rows, 16.7 h), so each series' own
    // detectors judge as well as its peers.
    let t1 = start_ms + 18 * 3_600_000;
    let (t2, t3) = (t1 + 3_600_000, t1 + 4_800_000);
    let started = |update: &[Update]| -> Vec<(String, i64)> {
        update
            .iter()
            .flat_map(|u| &u.changes.started)
            .map(|e| (e.metric.clone(), e.start_ms))
            .collect()
    };

    // Without a stop: T1, T2, T3.
    let clock = Arc::new(ManualClock::new(t1));
    let through = fleet_monitor(clock.clone(), None);
    updates_until(&through, t1);
    clock.advance(Duration::from_millis((t2 - t1) as u64));
    updates_until(&through, t2);
    clock.advance(Duration::from_millis((t3 - t2) as u64));
    let at_t3 = updates_until(&through, t3);
    through.stop().expect("stop");

    // Stopped at T2 (the state saved), started again there.
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("online-state.cbor");
    let clock = Arc::new(ManualClock::new(t1));
    let first = fleet_monitor(clock.clone(), Some(state.clone()));
    let mut before_stop = updates_until(&first, t1);
    clock.advance(Duration::from_millis((t2 - t1) as u64));
    before_stop.extend(updates_until(&first, t2));
    let last = first.stop().expect("stop");
    assert!(
        last.iter()
            .flat_map(|u| &u.notes)
            .any(|n| n.starts_with("saved the detector state")),
        "no save on stop"
    );
    assert!(
        !started(&before_stop).is_empty(),
        "the first run saw no event to re-alarm"
    );
    assert!(state.is_file());

    let clock = Arc::new(ManualClock::new(t2));
    let second = fleet_monitor(clock.clone(), Some(state));
    let again = updates_until(&second, t2);
    assert!(
        again
            .iter()
            .flat_map(|u| &u.notes)
            .any(|n| n.starts_with("restored the detector state of ")),
        "no restore"
    );
    // The rows judged before the stop are not judged again: no re-alarm.
    assert_eq!(started(&again), Vec::<(String, i64)>::new());
    clock.advance(Duration::from_millis((t3 - t2) as u64));
    let after = updates_until(&second, t3);
    second.stop().expect("stop");
    // The same scores, row for row, and the same new events as the run
    // that never stopped: no series back on probation.
    let (a, b) = (at_t3.last().expect("update"), after.last().expect("update"));
    assert_eq!(a.view.frame.timestamps_ms(), b.view.frame.timestamps_ms());
    let (sa, sb) = (scores(a), scores(b));
    let only = |x: &BTreeMap<String, Vec<f64>>, y: &BTreeMap<String, Vec<f64>>| -> Vec<String> {
        x.keys().filter(|k| !y.contains_key(*k)).cloned().collect()
    };
    assert!(
        only(&sa, &sb).is_empty() && only(&sb, &sa).is_empty(),
        "series only without a stop: {:?}; only after the restart: {:?}",
        only(&sa, &sb),
        only(&sb, &sa)
    );
    let mismatches: Vec<(String, usize, f64, f64)> = sa
        .iter()
        .flat_map(|(name, rows)| {
            rows.iter()
                .zip(&sb[name])
                .enumerate()
                .filter(|(_, (x, y))| x != y)
                .map(|(row, (x, y))| (name.clone(), row, *x, *y))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        mismatches.is_empty(),
        "{} rows differ, first: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    // The same new events, and one more for each event going on at the
    // stop: a stop ends the events going on (history, alerts), so marks
    // that go on after the restart start a new one.
    let (through_started, restarted) = (started(&at_t3), started(&after));
    let open_at_stop: BTreeSet<String> = before_stop
        .last()
        .expect("update")
        .view
        .open_events
        .iter()
        .map(|e| e.metric.clone())
        .collect();
    for event in &through_started {
        assert!(restarted.contains(event), "{event:?} lost in the restart");
    }
    for event in restarted.iter().filter(|e| !through_started.contains(e)) {
        assert!(
            open_at_stop.contains(&event.0),
            "{event:?} is new after the restart"
        );
        assert!(event.1 > t2, "{event:?} starts before the restart");
    }
}

#[test]
fn fleet_quality_is_measured_per_host_from_a_long_labelled_file() {
    let fleet = fleet_json();
    let burn = fleet["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .find(|i| i["kind"] == "cpu_burn")
        .expect("a cpu burn");
    let instance = burn["instance"].as_str().expect("instance");
    let (from, to) = (
        burn["start"].as_i64().expect("start"),
        burn["end"].as_i64().expect("end"),
    );
    let home = tempfile::tempdir().expect("tempdir");
    let config = home.path().join("long.yml");
    let cpu = shipped_metrics_yaml()
        .lines()
        .find(|l| l.trim_start().starts_with("cpu:"))
        .expect("cpu query")
        .to_owned();
    std::fs::write(
        &config,
        format!("prometheus:\n  url: {}\nmetrics:\n{cpu}\n", prom_url()),
    )
    .expect("config");
    let long = home.path().join("long.csv");
    let run = |args: &[&str]| {
        let with_config = [&["--config", config.to_str().expect("utf-8")], args].concat();
        let output = pulsewatch(home.path(), &with_config);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    };
    run(&[
        "fetch",
        "--format",
        "long",
        "--start",
        &(from - 4 * 3600).to_string(),
        "--end",
        &(to + 3600).to_string(),
        "--step",
        "30s",
        "--out",
        long.to_str().expect("utf-8"),
    ]);
    // Label the burn's rows of its host, as a person would.
    let text = std::fs::read_to_string(&long).expect("long file");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    assert_eq!(header, "timestamp,instance,metric,value");
    let mut labelled = format!("{header},is_anomaly\n");
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        let at = pulsewatch::data::time::parse_timestamp_ms(fields[0]).expect("time") / 1000;
        let anomalous = fields[1] == instance && (from..to).contains(&at);
        labelled.push_str(&format!("{line},{}\n", u8::from(anomalous)));
    }
    let labelled_path = home.path().join("labelled.csv");
    std::fs::write(&labelled_path, labelled).expect("labelled");
    let report = run(&[
        "eval",
        "labelled",
        "--csv",
        labelled_path.to_str().expect("utf-8"),
        "--method",
        "ensemble",
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&report).expect("json");
    let host = rows
        .iter()
        .find(|r| {
            r["file"]
                .as_str()
                .is_some_and(|f| f.ends_with(&format!("[instance=\"{instance}\"]")))
        })
        .expect("the burning host's row");
    assert_eq!(host["events"]["events"], 1, "{host}");
    assert_eq!(host["events"]["detected"], 1, "{host}");
    let all = rows.last().expect("rows");
    let entities: usize = all["file"]
        .as_str()
        .and_then(|f| f.split("[all ").nth(1))
        .and_then(|f| f.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("the fleet's row");
    assert!(entities >= 49, "{all}");
    assert_eq!(all["events"]["detected"], 1, "{all}");
    assert_eq!(rows.len(), entities + 1);
}
