//! Alerts to Alertmanager (API v2, `POST /api/v2/alerts`): an alert when a
//! metric turns anomalous, re-sent while it lasts, and once more with
//! `endsAt` when it ends. Sending runs on its own thread behind a bounded
//! channel with retries and backoff, so a dead Alertmanager never holds up
//! scoring: a batch that cannot be queued is dropped (the next refresh sends
//! the state again).

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use crate::data::time::format_rfc3339_ms;

/// Rows after the last alarm for which an anomaly still counts as going on.
const HOLD_ROWS: usize = 10;

/// Tracks which metrics are anomalous: since when, and the severity their
/// alert was raised with (labels identify an alert in Alertmanager, so the
/// resolving post must carry the same ones).
#[derive(Debug, Default)]
pub struct AlertState {
    started: BTreeMap<String, Active>,
}

/// An anomaly in progress.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Active {
    pub start_ms: i64,
    pub severity: &'static str,
    /// The highest score seen since it started.
    pub peak: f64,
}

/// What one metric looks like at a refresh.
pub struct MetricStatus<'a> {
    pub metric: &'a str,
    /// Row scores, oldest first.
    pub scores: &'a [f64],
    pub value: f64,
    pub expected: Option<(f64, f64)>,
    pub now_ms: i64,
}

impl AlertState {
    /// The alerts to post for this refresh: firing ones (re-sent every
    /// time), and resolved ones (with `endsAt`) for anomalies that ended.
    pub fn update(
        &mut self,
        statuses: &[MetricStatus<'_>],
        alarm_level: f64,
        generator_url: &str,
    ) -> Vec<serde_json::Value> {
        let mut alerts = Vec::new();
        for status in statuses {
            let recent = &status.scores[status.scores.len().saturating_sub(HOLD_ROWS)..];
            let peak = recent.iter().copied().fold(0.0_f64, f64::max);
            let started = self.started.get(status.metric).copied();
            let severity = match started {
                // Once raised, an alert keeps its severity (and identity).
                Some(active) => active.severity,
                None if peak >= 0.999 => "critical",
                None => "warning",
            };
            let labels = serde_json::json!({
                "alertname": "PulseWatchAnomaly",
                "metric": status.metric,
                "severity": severity,
            });
            let annotations = serde_json::json!({
                "score": format!("{peak:.4}"),
                "value": format!("{}", status.value),
                "expected": status
                    .expected
                    .map_or("unknown".to_owned(), |(l, u)| format!("{l:.3} to {u:.3}")),
            });
            if peak >= alarm_level {
                let starts_at_ms = started.map_or(status.now_ms, |a| a.start_ms);
                let peak = started.map_or(peak, |a| a.peak.max(peak));
                self.started.insert(
                    status.metric.to_owned(),
                    Active {
                        start_ms: starts_at_ms,
                        severity,
                        peak,
                    },
                );
                alerts.push(serde_json::json!({
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": format_rfc3339_ms(starts_at_ms),
                    "generatorURL": generator_url,
                }));
            } else if let Some(Active {
                start_ms: starts_at_ms,
                ..
            }) = started
            {
                alerts.push(serde_json::json!({
                    "labels": labels,
                    "annotations": annotations,
                    "startsAt": format_rfc3339_ms(starts_at_ms),
                    "endsAt": format_rfc3339_ms(status.now_ms),
                    "generatorURL": generator_url,
                }));
                self.started.remove(status.metric);
            }
        }
        alerts
    }

    /// The anomalies in progress, by metric.
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

    fn status(scores: &[f64], now_ms: i64) -> Vec<MetricStatus<'_>> {
        vec![MetricStatus {
            metric: "cpu",
            scores,
            value: 99.0,
            expected: Some((40.0, 60.0)),
            now_ms,
        }]
    }

    #[test]
    fn alerts_fire_repeat_and_resolve() {
        let mut state = AlertState::default();
        let quiet = vec![0.1; 30];
        let mut spiking = quiet.clone();
        spiking.push(0.9999);
        assert!(
            state
                .update(&status(&quiet, 0), 0.995, "http://x/")
                .is_empty()
        );
        let fired = state.update(&status(&spiking, 1000), 0.995, "http://x/");
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0]["labels"]["metric"], "cpu");
        assert_eq!(fired[0]["labels"]["severity"], "critical");
        assert_eq!(fired[0]["annotations"]["expected"], "40.000 to 60.000");
        assert!(fired[0].get("endsAt").is_none());
        // Still within the hold: re-sent with the same start.
        let mut later = spiking.clone();
        later.extend([0.1; 3]);
        let again = state.update(&status(&later, 2000), 0.995, "http://x/");
        assert_eq!(again[0]["startsAt"], fired[0]["startsAt"]);
        // Past the hold: resolved once, then silence.
        later.extend([0.1; HOLD_ROWS]);
        let resolved = state.update(&status(&later, 3000), 0.995, "http://x/");
        assert!(resolved[0]["endsAt"].is_string());
        // The same labels as when it fired, or Alertmanager would see a new alert.
        assert_eq!(resolved[0]["labels"], fired[0]["labels"]);
        assert!(
            state
                .update(&status(&later, 4000), 0.995, "http://x/")
                .is_empty()
        );
    }
}
