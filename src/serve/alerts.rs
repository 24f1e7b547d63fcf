//! Alerts to Alertmanager (API v2, `POST /api/v2/alerts`): an alert when the
//! monitor opens an event on a metric, re-sent while it lasts, and once more
//! with `endsAt` when it ends. Sending runs on its own thread behind a bounded
//! channel with retries and backoff, so a dead Alertmanager never holds up
//! scoring: a batch that cannot be queued is dropped (the next refresh sends
//! the state again).

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

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

/// Starts the sender thread; returns where to queue batches.
pub fn spawn_sender(
    alertmanager_url: &str,
    timeout: Duration,
) -> Result<SyncSender<Vec<serde_json::Value>>, String> {
    let (sender, receiver) = sync_channel::<Vec<serde_json::Value>>(8);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let url = format!("{}/api/v2/alerts", alertmanager_url.trim_end_matches('/'));
    std::thread::Builder::new()
        .name("alerts".into())
        .spawn(move || send_loop(&runtime, &client, &url, &receiver))
        .map_err(|e| e.to_string())?;
    Ok(sender)
}

fn send_loop(
    runtime: &tokio::runtime::Runtime,
    client: &reqwest::Client,
    url: &str,
    receiver: &Receiver<Vec<serde_json::Value>>,
) {
    for batch in receiver.iter() {
        let body = serde_json::Value::Array(batch).to_string();
        let mut backoff = Duration::from_millis(250);
        for _ in 0..5 {
            let sent = runtime.block_on(async {
                client
                    .post(url)
                    .header("Content-Type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .map(|r| r.status().is_success())
            });
            if matches!(sent, Ok(true)) {
                break;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Queues a batch without waiting; a full queue drops it (the state is sent
/// again at the next refresh).
pub fn queue(sender: &SyncSender<Vec<serde_json::Value>>, batch: Vec<serde_json::Value>) {
    if !batch.is_empty() {
        let _ = sender.try_send(batch);
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
