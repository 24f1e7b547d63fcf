//! Alerts to Alertmanager (API v2, `POST /api/v2/alerts`): an alert when the
//! monitor opens an event on a metric, re-sent while it lasts, and once more
//! with `endsAt` when it ends. No alert is lost: every post goes into the
//! history database's outbox ([`crate::history::alerts`]) first, and the
//! sender thread removes it only once Alertmanager took it (2xx), retrying
//! with backoff while Alertmanager is down or slow, across restarts of
//! either. Scoring never waits for Alertmanager.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use crate::history::History;
use crate::history::alerts::{PendingAlert, QueuedAlert};

use crate::data::time::format_rfc3339_ms;
use crate::event::AnomalyEvent;

/// Tracks which metrics have an alert out: since when, and the severity it
/// was raised with (labels identify an alert in Alertmanager, so the
/// resolving post must carry the same ones).
#[derive(Debug, Default)]
pub struct AlertState {
    started: BTreeMap<String, Active>,
}

/// An alert out.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    pub start_ms: i64,
    pub severity: &'static str,
    /// The labels it went out with (a resolve repeats them, even after the
    /// series left the window).
    pub labels: serde_json::Value,
}

/// A series' latest value and expected range, for the annotations, and
/// its exported labels (`metric` and the source labels), which the alert
/// carries so Alertmanager routes it by host, job or namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub value: f64,
    pub expected: Option<(f64, f64)>,
    pub labels: Vec<(String, String)>,
}

impl AlertState {
    /// The alerts to post for this refresh: one for every event going on
    /// (re-sent every time), and a resolved one (with `endsAt`, the
    /// event's last marked row) for every event that ended. Events are the
    /// monitor's ([`crate::engine::monitor`]); scores are 0–100.
    pub fn update(
        &mut self,
        open: &[AnomalyEvent],
        ended: &[AnomalyEvent],
        latest: &BTreeMap<String, Latest>,
        generator_url: &str,
    ) -> Vec<serde_json::Value> {
        let mut alerts = Vec::new();
        let annotations = |event: &AnomalyEvent| {
            let latest = latest.get(&event.metric);
            serde_json::json!({
                "score": format!("{:.1}", event.peak_score),
                "value": latest.map_or("unknown".to_owned(), |l| format!("{}", l.value)),
                "expected": latest
                    .and_then(|l| l.expected)
                    .map_or("unknown".to_owned(), |(l, u)| format!("{l:.3} to {u:.3}")),
            })
        };
        let labels_of = |metric: &str, severity: &str| {
            let mut labels = serde_json::Map::new();
            match latest.get(metric) {
                Some(latest) => {
                    for (key, value) in &latest.labels {
                        labels.insert(key.clone(), value.clone().into());
                    }
                }
                None => {
                    labels.insert("metric".into(), metric.into());
                }
            }
            labels.insert("alertname".into(), "PulseWatchAnomaly".into());
            labels.insert("severity".into(), severity.into());
            serde_json::Value::Object(labels)
        };
        for event in ended {
            let Some(active) = self.started.remove(&event.metric) else {
                continue;
            };
            alerts.push(serde_json::json!({
                "labels": active.labels,
                "annotations": annotations(event),
                "startsAt": format_rfc3339_ms(active.start_ms),
                "endsAt": format_rfc3339_ms(event.end_or(event.start_ms).max(active.start_ms)),
                "generatorURL": generator_url,
            }));
        }
        for event in open {
            let active = self.started.entry(event.metric.clone()).or_insert_with(|| {
                // Once raised, an alert keeps its severity (and identity).
                let severity = if event.severity() == "critical" {
                    "critical"
                } else {
                    "warning"
                };
                Active {
                    start_ms: event.start_ms,
                    severity,
                    labels: labels_of(&event.metric, severity),
                }
            });
            alerts.push(serde_json::json!({
                "labels": active.labels,
                "annotations": annotations(event),
                "startsAt": format_rfc3339_ms(active.start_ms),
                "generatorURL": generator_url,
            }));
        }
        alerts
    }

    /// The alerts out, by metric.
    pub fn active(&self) -> &BTreeMap<String, Active> {
        &self.started
    }
}

/// The first wait after a failed post; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Alerts per post.
const BATCH: usize = 500;

/// An alert's identity in the outbox: its labels (how Alertmanager tells
/// alerts apart) and its start (a new event is a new alert).
pub fn outbox_key(alert: &serde_json::Value) -> String {
    format!("{}@{}", alert["labels"], alert["startsAt"])
}

/// The posts of one refresh as the outbox takes them.
pub fn to_queue(batch: &[serde_json::Value]) -> Vec<QueuedAlert> {
    batch
        .iter()
        .map(|alert| QueuedAlert {
            key: outbox_key(alert),
            alert: alert.to_string(),
            firing: alert.get("endsAt").is_none(),
        })
        .collect()
}

/// The sender thread and how to reach it.
pub struct Sender {
    /// Says "the outbox has something new".
    pub wake: SyncSender<()>,
    /// Posts waiting (for `/metrics`).
    pub pending: Arc<AtomicUsize>,
    thread: std::thread::JoinHandle<()>,
}

impl Sender {
    /// Waits for the thread, which makes one last attempt after `stop`.
    pub fn join(self) {
        let _ = self.wake.try_send(());
        let _ = self.thread.join();
    }
}

/// Starts the sender thread: it posts what the outbox at `history_path`
/// holds to `alertmanager_url` until `stop` is set (then it tries once
/// more and ends; what is left waits for the next start).
pub fn spawn_sender(
    alertmanager_url: &str,
    timeout: Duration,
    history_path: PathBuf,
    stop: Arc<AtomicBool>,
) -> Result<Sender, String> {
    let (wake, woken) = sync_channel::<()>(1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/api/v2/alerts", alertmanager_url.trim_end_matches('/'));
    let pending = Arc::new(AtomicUsize::new(0));
    let outbox = Outbox {
        runtime,
        client,
        url,
        history_path,
        pending: Arc::clone(&pending),
        unreachable_since: None,
    };
    let thread = std::thread::Builder::new()
        .name("alerts".into())
        .spawn(move || outbox.run(&woken, &stop))
        .map_err(|e| e.to_string())?;
    Ok(Sender {
        wake,
        pending,
        thread,
    })
}

/// What became of one post.
enum Posted {
    Taken,
    /// Alertmanager refused the alerts themselves (4xx): retrying would
    /// never succeed.
    Refused(String),
    Failed(String),
}

struct Outbox {
    runtime: tokio::runtime::Runtime,
    client: reqwest::Client,
    url: String,
    history_path: PathBuf,
    pending: Arc<AtomicUsize>,
    /// Posts waiting when Alertmanager was first found unreachable (said
    /// once per outage).
    unreachable_since: Option<usize>,
}

impl Outbox {
    fn run(mut self, woken: &Receiver<()>, stop: &AtomicBool) {
        let mut history = None;
        let mut backoff: Option<Duration> = None;
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            if history.is_none() {
                match History::open(&self.history_path) {
                    Ok(opened) => history = Some(opened),
                    Err(error) => eprintln!("pulsewatch serve: alerts: {error}"),
                }
            }
            if let Some(history) = &history {
                backoff = match self.drain(history) {
                    Ok(()) => None,
                    Err(()) => Some(backoff.map_or(FIRST_BACKOFF, |b| (b * 2).min(MAX_BACKOFF))),
                };
            }
            if stopping {
                return;
            }
            // Wait for a new post, or retry after the backoff; check the
            // stop flag at least every second.
            let wait = backoff
                .unwrap_or(Duration::from_secs(1))
                .min(Duration::from_secs(1));
            let mut waited = Duration::ZERO;
            loop {
                match woken.recv_timeout(wait) {
                    Ok(()) if backoff.is_none() => break,
                    Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
                waited += wait;
                if stop.load(Ordering::Relaxed) || backoff.is_none_or(|b| waited >= b) {
                    break;
                }
            }
        }
    }

    /// Posts everything waiting, oldest first; `Err` when Alertmanager
    /// could not be reached (the posts stay).
    fn drain(&mut self, history: &History) -> Result<(), ()> {
        loop {
            let pending = match history.pending_alerts(BATCH) {
                Ok(pending) => pending,
                Err(error) => {
                    eprintln!("pulsewatch serve: alerts: {error}");
                    return Err(());
                }
            };
            if let Ok(count) = history.pending_alert_count() {
                self.pending.store(count, Ordering::Relaxed);
            }
            if pending.is_empty() {
                return Ok(());
            }
            match self.post(&pending) {
                Posted::Taken => {
                    if let Some(waiting) = self.unreachable_since.take() {
                        eprintln!(
                            "pulsewatch serve: Alertmanager at {} is back; sending the alerts                              kept meanwhile ({waiting} waiting when it went away)",
                            self.url
                        );
                    }
                }
                Posted::Refused(reason) => {
                    eprintln!(
                        "pulsewatch serve: Alertmanager at {} refused {} alerts ({reason});                          dropped, as they would be refused again",
                        self.url,
                        pending.len()
                    );
                }
                Posted::Failed(reason) => {
                    if self.unreachable_since.is_none() {
                        eprintln!(
                            "pulsewatch serve: cannot reach Alertmanager at {} ({reason});                              keeping the alerts and retrying",
                            self.url
                        );
                        self.unreachable_since = Some(pending.len());
                    }
                    return Err(());
                }
            }
            if let Err(error) = history.acknowledge_alerts(&pending) {
                eprintln!("pulsewatch serve: alerts: {error}");
                return Err(());
            }
        }
    }

    fn post(&self, pending: &[PendingAlert]) -> Posted {
        let mut body = String::from("[");
        for (i, alert) in pending.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(&alert.alert);
        }
        body.push(']');
        let sent = self.runtime.block_on(async {
            self.client
                .post(&self.url)
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await
        });
        match sent {
            Ok(response) if response.status().is_success() => Posted::Taken,
            Ok(response)
                if response.status().is_client_error()
                    && response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS
                    && response.status() != reqwest::StatusCode::REQUEST_TIMEOUT =>
            {
                Posted::Refused(response.status().to_string())
            }
            Ok(response) => Posted::Failed(response.status().to_string()),
            Err(error) => Posted::Failed(crate::ingest::error_chain(&error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventSource;

    fn event(peak: f64, end_ms: Option<i64>) -> AnomalyEvent {
        AnomalyEvent {
            id: 1,
            metric: "cpu".into(),
            start_ms: 1_000,
            end_ms,
            peak_score: peak,
            points: 1,
            model_version: "ensemble".into(),
            source: EventSource::Detected,
        }
    }

    #[test]
    fn alerts_fire_repeat_and_resolve() {
        let mut state = AlertState::default();
        let latest = BTreeMap::from([(
            "cpu".to_owned(),
            Latest {
                value: 99.0,
                expected: Some((40.0, 60.0)),
                labels: vec![
                    ("metric".to_owned(), "cpu".to_owned()),
                    ("instance".to_owned(), "host-1".to_owned()),
                ],
            },
        )]);
        assert!(state.update(&[], &[], &latest, "http://x/").is_empty());
        let fired = state.update(&[event(95.0, None)], &[], &latest, "http://x/");
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0]["labels"]["metric"], "cpu");
        // The series' source labels go along, for Alertmanager's routing.
        assert_eq!(fired[0]["labels"]["instance"], "host-1");
        assert_eq!(fired[0]["labels"]["severity"], "critical");
        assert_eq!(fired[0]["annotations"]["expected"], "40.000 to 60.000");
        assert_eq!(fired[0]["annotations"]["score"], "95.0");
        assert!(fired[0].get("endsAt").is_none());
        // Still going on: re-sent with the same start and severity, even
        // though its score would now make it a warning.
        let again = state.update(&[event(60.0, None)], &[], &latest, "http://x/");
        assert_eq!(again[0]["startsAt"], fired[0]["startsAt"]);
        assert_eq!(again[0]["labels"], fired[0]["labels"]);
        // Ended: resolved once at its last mark, then silence.
        let resolved = state.update(&[], &[event(95.0, Some(9_000))], &latest, "http://x/");
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0]["endsAt"], format_rfc3339_ms(9_000));
        // The same labels as when it fired, or Alertmanager would see a new
        // alert: even when the series has left the window since.
        assert_eq!(resolved[0]["labels"], fired[0]["labels"]);
        let gone = BTreeMap::new();
        state.update(&[event(95.0, None)], &[], &latest, "http://x/");
        let resolved = state.update(&[], &[event(95.0, Some(9_000))], &gone, "http://x/");
        assert_eq!(resolved[0]["labels"], fired[0]["labels"]);
        assert!(state.update(&[], &[], &latest, "http://x/").is_empty());
        // An event that ended before any alert went out resolves nothing.
        assert!(
            state
                .update(&[], &[event(70.0, Some(2_000))], &latest, "http://x/")
                .is_empty()
        );
        // A milder event fires as a warning.
        let warning = state.update(&[event(60.0, None)], &[], &latest, "http://x/");
        assert_eq!(warning[0]["labels"]["severity"], "warning");
    }
}
