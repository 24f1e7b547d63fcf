//! The daemon's HTTP side: a small blocking server, one thread per request
//! (at most [`MAX_REQUEST_THREADS`] at once), as a handful of routes need no
//! framework. It reads what the refresh loop published and sends training
//! requests to the monitor; it never judges anything itself.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::engine::monitor::Command;
use crate::engine::schedule::{RetrainReason, StartError};

use super::{Shared, lock};

/// Requests answered at once; more get a 503.
pub const MAX_REQUEST_THREADS: usize = 16;

const JSON: &str = "application/json";

pub fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn respond_error(stream: &mut TcpStream, status: &str, error: &str) {
    respond(
        stream,
        status,
        JSON,
        &serde_json::json!({ "error": error }).to_string(),
    );
}

/// Asks the monitor for a retrain on the latest window; returns the job
/// id, or the status and message to answer with.
fn start_training(shared: &Shared) -> Result<u64, (&'static str, String)> {
    let unavailable = "503 Service Unavailable";
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
        Ok(Ok(id)) => Ok(id),
        Ok(Err(error @ StartError::Busy { .. })) => Err(("409 Conflict", error.to_string())),
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

/// Answers one request.
pub fn handle(mut stream: TcpStream, shared: &Arc<Shared>, config: &Config) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers.
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method == "POST" && path == "/train" {
        match start_training(shared) {
            Ok(id) => respond(
                &mut stream,
                "202 Accepted",
                JSON,
                &serde_json::json!({"id": id, "progress": format!("/train/{id}")}).to_string(),
            ),
            Err((status, error)) => respond_error(&mut stream, status, &error),
        }
        return;
    }
    if method != "GET" {
        let error = format!("{method} is not supported; use GET");
        respond_error(&mut stream, "405 Method Not Allowed", &error);
        return;
    }
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    if let Some(id) = route.strip_prefix("/train/") {
        let job = id
            .parse::<u64>()
            .ok()
            .and_then(|id| lock(&shared.jobs).get(&id).cloned());
        match job {
            Some(state) => respond(
                &mut stream,
                "200 OK",
                JSON,
                &serde_json::json!(state).to_string(),
            ),
            None => respond_error(
                &mut stream,
                "404 Not Found",
                &format!("no training job {id}"),
            ),
        }
        return;
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
                None => respond(&mut stream, "200 OK", JSON, &test_json(1, method)),
                Some(Ok(seed)) => respond(&mut stream, "200 OK", JSON, &test_json(seed, method)),
                Some(Err(_)) => respond_error(
                    &mut stream,
                    "400 Bad Request",
                    "seed must be a whole number",
                ),
            }
        }
        "/metrics" => respond(
            &mut stream,
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &snapshot.to_prometheus_text(),
        ),
        "/healthz" => respond(&mut stream, "200 OK", "text/plain", "ok\n"),
        "/metrics/live-short" => {
            respond(&mut stream, "200 OK", JSON, &snapshot.window_json(Some(20)))
        }
        "/metrics/live-long" => respond(&mut stream, "200 OK", JSON, &snapshot.window_json(None)),
        "/readyz" => match snapshot.last_refresh_secs {
            Some(_) => respond(&mut stream, "200 OK", "text/plain", "ready\n"),
            None => respond(
                &mut stream,
                "503 Service Unavailable",
                "text/plain",
                &format!(
                    "not ready: no data from Prometheus yet{}\n",
                    snapshot
                        .last_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                ),
            ),
        },
        "/" => respond(
            &mut stream,
            "200 OK",
            JSON,
            &serde_json::json!({
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
        other => respond_error(
            &mut stream,
            "404 Not Found",
            &format!(
                "no route {other}; try /metrics, /metrics/live-short, /metrics/live-long, /metrics/test, /train/{{id}}, /healthz, /readyz or /"
            ),
        ),
    }
}
