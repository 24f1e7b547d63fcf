//! The daemon's routes: what each path answers, from what the refresh loop
//! published. Plain functions of the request line, so the server around
//! them ([`super::server`]) owns every connection concern. They read the
//! snapshot and send training requests to the monitor; they never judge
//! anything themselves.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::engine::monitor::Command;
use crate::engine::schedule::{RetrainReason, StartError};

use crate::serve::{Shared, lock};

pub const JSON: &str = "application/json";
pub const TEXT: &str = "text/plain; charset=utf-8";
/// Prometheus text format 0.0.4.
pub const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a route answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: bytes::Bytes,
    /// The body is gzip-compressed (`Content-Encoding: gzip`).
    pub gzipped: bool,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<bytes::Bytes>) -> Self {
        Self {
            status,
            content_type,
            body: body.into(),
            gzipped: false,
        }
    }

    pub fn error(status: u16, error: &str) -> Self {
        Self::new(
            status,
            JSON,
            serde_json::json!({ "error": error }).to_string(),
        )
    }
}

/// Whether a route may take long (a training request waits for the
/// monitor; `/metrics/test` judges a day of data): run off the server's
/// threads.
pub fn is_slow(method: &str, path: &str) -> bool {
    matches!(
        (
            method,
            path.split_once('?').map_or(path, |(route, _)| route)
        ),
        ("POST", "/train") | ("GET", "/metrics/test")
    )
}

/// Asks the monitor for a retrain on the latest window; returns the job
/// id, or the status and message to answer with.
fn start_training(shared: &Shared) -> Result<u64, (u16, String)> {
    let unavailable = 503;
    if lock(&shared.snapshot).last_refresh_secs.is_none() {
        return Err((
            unavailable,
            "no data from Prometheus yet to train on".into(),
        ));
    }
    let (reply, answer) = std::sync::mpsc::sync_channel(1);
    let asked = lock(&shared.monitor).try_send(Command::Train {
        reason: RetrainReason::Manual,
        reply: Some(reply),
    });
    if asked.is_err() {
        return Err((unavailable, "the engine is busy; try again".into()));
    }
    match answer.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(id)) => {
            // The monitor publishes the job with its next report: answer
            // once `GET /train/{id}` finds it.
            let jobs = lock(&shared.jobs);
            let _ = shared
                .jobs_changed
                .wait_timeout_while(jobs, Duration::from_secs(10), |jobs| {
                    !jobs.contains_key(&id)
                });
            Ok(id)
        }
        Ok(Err(error @ StartError::Busy { .. })) => Err((409, error.to_string())),
        Ok(Err(error @ StartError::Spawn { .. })) => Err((unavailable, error.to_string())),
        Err(_) => Err((unavailable, "the engine did not answer; try again".into())),
    }
}

/// `/metrics/test`: the bundled sample data with spikes injected (seeded),
/// judged by the one rule (the online detector's marks), against the
/// injected truth.
fn test_json(seed: u64, method: crate::config::DetectionMethod) -> String {
    let sample = match crate::data::parse_csv(crate::data::SAMPLE_CSV, "bundled sample data") {
        Ok(load) => load.frame,
        Err(error) => return serde_json::json!({"error": error.to_string()}).to_string(),
    };
    let (frame, spikes) = match crate::data::inject_spikes(&sample, 0.005, 6.0, seed) {
        Ok(injected) => injected,
        Err(error) => return serde_json::json!({"error": error.to_string()}).to_string(),
    };
    let online = crate::engine::monitor::OnlineScores::of(&frame, method);
    let judged = crate::engine::monitor::assess(
        &frame,
        Some(crate::engine::monitor::OnlineInput::Scores(&online)),
        &[],
        None,
        method.key(),
    );
    let mut detections = Vec::new();
    for metric in &judged.metrics {
        for (row, mark) in metric.marks.iter().enumerate() {
            if let Some(score) = mark {
                detections.push(serde_json::json!({
                    "timestamp": crate::data::time::format_rfc3339_ms(frame.timestamps_ms()[row]),
                    "metric": metric.name,
                    "score": score,
                    "injected": spikes[row] == 1,
                }));
            }
        }
    }
    let flags = judged.marked_rows();
    serde_json::json!({
        "seed": seed,
        "rows": frame.len(),
        "injected_rows": spikes.iter().filter(|s| **s == 1).count(),
        "detections": detections,
        "points": crate::eval::point_metrics(&flags, &spikes),
        "events": crate::eval::event_metrics(&flags, &spikes),
    })
    .to_string()
}

/// Answers one request (`path` with its query string); `/metrics` comes
/// gzip-compressed when the client takes it (Prometheus does).
pub fn route(
    method: &str,
    path: &str,
    accepts_gzip: bool,
    shared: &Shared,
    config: &Config,
) -> Reply {
    if method == "POST" && path == "/train" {
        return match start_training(shared) {
            Ok(id) => Reply::new(
                202,
                JSON,
                serde_json::json!({"id": id, "progress": format!("/train/{id}")}).to_string(),
            ),
            Err((status, error)) => Reply::error(status, &error),
        };
    }
    if method != "GET" && method != "HEAD" {
        return Reply::error(405, &format!("{method} is not supported; use GET"));
    }
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    if let Some(id) = route.strip_prefix("/train/") {
        let job = id
            .parse::<u64>()
            .ok()
            .and_then(|id| lock(&shared.jobs).get(&id).cloned());
        return match job {
            Some(state) => Reply::new(200, JSON, serde_json::json!(state).to_string()),
            None => Reply::error(404, &format!("no training job {id}")),
        };
    }
    let snapshot = Arc::clone(&lock(&shared.snapshot));
    match route {
        "/metrics/test" => {
            let seed = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("seed="))
                .map(str::parse::<u64>);
            let method = config.detection.method;
            match seed {
                None => Reply::new(200, JSON, test_json(1, method)),
                Some(Ok(seed)) => Reply::new(200, JSON, test_json(seed, method)),
                Some(Err(_)) => Reply::error(400, "seed must be a whole number"),
            }
        }
        "/metrics" => Reply {
            status: 200,
            content_type: EXPOSITION,
            body: shared.exposition(&snapshot, accepts_gzip),
            gzipped: accepts_gzip,
        },
        "/healthz" => Reply::new(200, TEXT, "ok\n"),
        "/metrics/live-short" => Reply::new(200, JSON, snapshot.window_json(Some(20))),
        "/metrics/live-long" => Reply::new(200, JSON, snapshot.window_json(None)),
        "/readyz" => match snapshot.last_refresh_secs {
            Some(_) => Reply::new(200, TEXT, "ready\n"),
            None => Reply::new(
                503,
                TEXT,
                format!(
                    "not ready: no data from Prometheus yet{}\n",
                    snapshot
                        .last_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
            ),
        },
        "/" => Reply::new(
            200,
            JSON,
            serde_json::json!({
                "name": config.app.name,
                "version": env!("CARGO_PKG_VERSION"),
                "prometheus": config.prometheus.base_url,
                "metrics": config.metrics.iter().map(|m| &m.name).collect::<Vec<_>>(),
                "ready": snapshot.last_refresh_secs.is_some(),
                "model_age_seconds": snapshot.model_age_secs,
                "model": snapshot.model,
                "detection": config.detection.method.key(),
                "score_scale": "0-100 (/metrics: divided by 100)",
            })
            .to_string(),
        ),
        other => Reply::error(
            404,
            &format!(
                "no route {other}; try /metrics, /metrics/live-short, /metrics/live-long, /metrics/test, /train/{{id}}, /healthz, /readyz or /"
            ),
        ),
    }
}
