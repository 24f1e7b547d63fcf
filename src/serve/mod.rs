//! `pulsewatch serve`: the engine without a window. It polls Prometheus every
//! refresh interval (the same live job as the app), scores every metric
//! online, keeps a forecast, and publishes the results over HTTP: `/metrics`
//! in Prometheus text format 0.0.4, `/healthz`, `/readyz` and `/` (JSON).
//! The HTTP side is a small blocking server on its own thread: a handful of
//! GET routes need no framework.

pub mod alerts;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::detect::stream::{ALARM_LEVEL, RobustParams, robust_scores};
use crate::engine::{self, LiveEvent};
use crate::forecast::{self, ForecastModel, ForecastSettings};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the engine: {reason}")]
    Engine { reason: String },
}

/// What the engine last computed, as `/metrics` shows it.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Per metric: the latest score in [0, 1].
    pub scores: BTreeMap<String, f64>,
    /// Per metric: (yhat, lower, upper) at the latest row.
    pub forecasts: BTreeMap<String, (f64, f64, f64)>,
    pub last_refresh_secs: Option<f64>,
    pub fetch_errors: BTreeMap<String, u64>,
    pub model_age_secs: Option<f64>,
    pub training_secs: Option<f64>,
    pub last_error: Option<String>,
    /// The latest window, for the JSON routes: per metric, rows of
    /// (timestamp ms, value, score, forecast (yhat, lower, upper) if any).
    pub window: BTreeMap<String, Vec<WindowRow>>,
}

/// A training started by `POST /train`, as `GET /train/{id}` shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct TrainJobState {
    /// running, done or failed.
    pub status: String,
    pub epoch: usize,
    pub epochs: usize,
    pub loss: Option<f64>,
    pub eta_seconds: Option<f64>,
    pub error: Option<String>,
    pub model_path: Option<String>,
}

/// What the HTTP side shares with the engine.
#[derive(Debug, Default)]
struct Shared {
    snapshot: Mutex<Snapshot>,
    /// The latest window, for `POST /train`.
    frame: Mutex<Option<crate::data::MetricFrame>>,
    jobs: Mutex<BTreeMap<u64, TrainJobState>>,
}

/// One row of a metric's window as the JSON routes show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WindowRow {
    pub timestamp: String,
    pub value: f64,
    pub score: f64,
    pub anomalous: bool,
    pub yhat: Option<f64>,
    pub yhat_lower: Option<f64>,
    pub yhat_upper: Option<f64>,
}

impl Snapshot {
    /// Prometheus text format 0.0.4.
    pub fn to_prometheus_text(&self) -> String {
        let mut out = String::new();
        let family = |name: &str, help: &str, kind: &str, out: &mut String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "pulsewatch_anomaly_score",
            "Anomaly likelihood of the latest point, 0 to 1.",
            "gauge",
            &mut out,
        );
        for (metric, score) in &self.scores {
            let _ = writeln!(
                out,
                "pulsewatch_anomaly_score{{metric=\"{}\"}} {score}",
                escape(metric)
            );
        }
        family(
            "pulsewatch_anomalous",
            "1 when the latest point is anomalous.",
            "gauge",
            &mut out,
        );
        for (metric, score) in &self.scores {
            let _ = writeln!(
                out,
                "pulsewatch_anomalous{{metric=\"{}\"}} {}",
                escape(metric),
                u8::from(*score >= ALARM_LEVEL)
            );
        }
        family(
            "pulsewatch_forecast",
            "Forecast at the latest point: yhat and the band.",
            "gauge",
            &mut out,
        );
        for (metric, (yhat, lower, upper)) in &self.forecasts {
            for (bound, value) in [("yhat", yhat), ("lower", lower), ("upper", upper)] {
                let _ = writeln!(
                    out,
                    "pulsewatch_forecast{{metric=\"{}\",bound=\"{bound}\"}} {value}",
                    escape(metric)
                );
            }
        }
        for (name, help, value) in [
            (
                "pulsewatch_model_age_seconds",
                "Age of the autoencoder model in use.",
                self.model_age_secs,
            ),
            (
                "pulsewatch_training_duration_seconds",
                "How long the model in use took to train.",
                self.training_secs,
            ),
            (
                "pulsewatch_last_refresh_timestamp_seconds",
                "When Prometheus last answered.",
                self.last_refresh_secs,
            ),
        ] {
            if let Some(value) = value {
                family(name, help, "gauge", &mut out);
                let _ = writeln!(out, "{name} {value}");
            }
        }
        family(
            "pulsewatch_fetch_errors_total",
            "Failed fetches from Prometheus, by reason.",
            "counter",
            &mut out,
        );
        for (reason, count) in &self.fetch_errors {
            let _ = writeln!(
                out,
                "pulsewatch_fetch_errors_total{{reason=\"{}\"}} {count}",
                escape(reason)
            );
        }
        out
    }
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A short, stable reason class for a fetch error message.
fn reason_class(message: &str) -> &'static str {
    let m = message.to_lowercase();
    if m.contains("refused") {
        "refused"
    } else if m.contains("timed out") || m.contains("timeout") {
        "timeout"
    } else if m.contains("dns") || m.contains("resolve") {
        "dns"
    } else if m.contains("tls") || m.contains("certificate") {
        "tls"
    } else if m.contains("http") {
        "http"
    } else {
        "other"
    }
}

/// One metric after a refresh, for alerting: row scores, latest value and
/// expected range.
type MetricResult = (String, Vec<f64>, f64, Option<(f64, f64)>);

/// Folds a fetched window into the snapshot: online scores and a forecast.
fn update(
    snapshot: &Mutex<Snapshot>,
    config: &Config,
    frame: &crate::data::MetricFrame,
    now_secs: f64,
) -> Vec<MetricResult> {
    let mut results = Vec::new();
    let forecast = config
        .prophet
        .enabled
        .then(|| {
            let settings = ForecastSettings::from_config(config, ForecastModel::Prophet);
            forecast::forecast_frame(frame, &settings).ok()
        })
        .flatten();
    let mut scores = BTreeMap::new();
    let mut forecasts = BTreeMap::new();
    let mut window = BTreeMap::new();
    for (name, column) in frame.names().iter().zip(frame.columns()) {
        let row_scores = robust_scores(column, RobustParams::default());
        if let Some(score) = row_scores.last() {
            scores.insert(name.clone(), *score);
        }
        let series = forecast.as_ref().and_then(|f| f.get(name));
        let at = |i: usize| {
            series.and_then(|s| Some((*s.yhat.get(i)?, *s.lower.get(i)?, *s.upper.get(i)?)))
        };
        if let Some(last) = frame.len().checked_sub(1).and_then(at) {
            forecasts.insert(name.clone(), last);
        }
        let rows = (0..frame.len())
            .map(|i| {
                let band = at(i);
                WindowRow {
                    timestamp: crate::data::time::format_rfc3339_ms(frame.timestamps_ms()[i]),
                    value: column[i],
                    score: row_scores[i],
                    anomalous: row_scores[i] >= ALARM_LEVEL,
                    yhat: band.map(|b| b.0),
                    yhat_lower: band.map(|b| b.1),
                    yhat_upper: band.map(|b| b.2),
                }
            })
            .collect();
        window.insert(name.clone(), rows);
        let latest = column.last().copied().unwrap_or(f64::NAN);
        let expected = frame
            .len()
            .checked_sub(1)
            .and_then(at)
            .map(|(_, lower, upper)| (lower, upper));
        results.push((name.clone(), row_scores, latest, expected));
    }
    let mut shared = snapshot.lock().unwrap_or_else(|e| e.into_inner());
    shared.scores = scores;
    shared.forecasts = forecasts;
    shared.window = window;
    shared.last_refresh_secs = Some(now_secs);
    shared.last_error = None;
    results
}

/// `/metrics/test`: the bundled sample data with spikes injected (seeded),
/// scored online like live data, against the injected truth.
fn test_json(seed: u64) -> String {
    let sample = match crate::data::parse_csv(crate::ui::SAMPLE_CSV, "bundled sample data") {
        Ok(load) => load.frame,
        Err(error) => return serde_json::json!({"error": error.to_string()}).to_string(),
    };
    let (frame, spikes) = match crate::data::inject_spikes(&sample, 0.005, 6.0, seed) {
        Ok(injected) => injected,
        Err(error) => return serde_json::json!({"error": error.to_string()}).to_string(),
    };
    let (scores, flags) = crate::detect::stream::frame_alarms(&frame);
    let mut detections = Vec::new();
    for (name, column) in frame.names().iter().zip(&scores) {
        for (row, score) in column.iter().enumerate() {
            if *score >= ALARM_LEVEL {
                detections.push(serde_json::json!({
                    "timestamp": crate::data::time::format_rfc3339_ms(frame.timestamps_ms()[row]),
                    "metric": name,
                    "score": score,
                    "injected": spikes[row] == 1,
                }));
            }
        }
    }
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

/// The last `rows` rows of every metric's window (all of them for `None`).
fn window_json(snapshot: &Snapshot, rows: Option<usize>) -> String {
    let metrics: serde_json::Map<String, serde_json::Value> = snapshot
        .window
        .iter()
        .map(|(name, all)| {
            let from = rows.map_or(0, |n| all.len().saturating_sub(n));
            (name.clone(), serde_json::json!(all[from..]))
        })
        .collect();
    serde_json::json!({
        "last_refresh_seconds": snapshot.last_refresh_secs,
        "metrics": metrics,
    })
    .to_string()
}

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Starts a retrain on the latest window; returns the job id.
fn start_training(shared: &Arc<Shared>, config: &Config) -> Result<u64, String> {
    let frame = shared
        .frame
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or("no data from Prometheus yet to train on")?;
    let job = engine::spawn_training(
        frame,
        config.lstm.clone(),
        crate::config::resolve_data_path(&config.lstm.save_path),
        || {},
    )
    .map_err(|e| e.to_string())?;
    let id = {
        let mut jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let id = jobs.keys().next_back().map_or(1, |last| last + 1);
        jobs.insert(
            id,
            TrainJobState {
                status: "running".into(),
                epochs: config.lstm.epochs,
                ..TrainJobState::default()
            },
        );
        id
    };
    let shared = Arc::clone(shared);
    std::thread::Builder::new()
        .name("serve-train".into())
        .spawn(move || {
            for event in job.events.iter() {
                let mut jobs = shared.jobs.lock().unwrap_or_else(|e| e.into_inner());
                let Some(state) = jobs.get_mut(&id) else {
                    return;
                };
                match event {
                    engine::TrainEvent::Progress(p) => {
                        state.epoch = p.epoch;
                        state.epochs = p.epochs;
                        state.loss = Some(p.loss);
                        state.eta_seconds = Some(p.eta.as_secs_f64());
                    }
                    engine::TrainEvent::Finished(Ok(trained)) => {
                        state.status = "done".into();
                        state.loss = Some(trained.outcome.final_loss);
                        state.model_path = Some(trained.path.display().to_string());
                        let mut snapshot =
                            shared.snapshot.lock().unwrap_or_else(|e| e.into_inner());
                        snapshot.model_age_secs = Some(0.0);
                        snapshot.training_secs = Some(trained.outcome.duration.as_secs_f64());
                        return;
                    }
                    engine::TrainEvent::Finished(Err(error)) => {
                        state.status = "failed".into();
                        state.error = Some(error);
                        return;
                    }
                }
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(id)
}

fn handle(mut stream: TcpStream, shared: &Arc<Shared>, config: &Config) {
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
    let json = "application/json";
    if method == "POST" && path == "/train" {
        match start_training(shared, config) {
            Ok(id) => respond(
                &mut stream,
                "202 Accepted",
                json,
                &serde_json::json!({"id": id, "progress": format!("/train/{id}")}).to_string(),
            ),
            Err(error) => respond(
                &mut stream,
                "503 Service Unavailable",
                json,
                &serde_json::json!({"error": error}).to_string(),
            ),
        }
        return;
    }
    if method != "GET" {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            json,
            &serde_json::json!({"error": format!("{method} is not supported; use GET")})
                .to_string(),
        );
        return;
    }
    let jobs = shared
        .jobs
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let shared = shared
        .snapshot
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    if let Some(id) = route.strip_prefix("/train/") {
        match id.parse::<u64>().ok().and_then(|id| jobs.get(&id)) {
            Some(state) => respond(
                &mut stream,
                "200 OK",
                json,
                &serde_json::json!(state).to_string(),
            ),
            None => respond(
                &mut stream,
                "404 Not Found",
                json,
                &serde_json::json!({"error": format!("no training job {id}")}).to_string(),
            ),
        }
        return;
    }
    match route {
        "/metrics/test" => {
            let seed = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("seed="))
                .map(str::parse::<u64>);
            match seed {
                None => respond(&mut stream, "200 OK", json, &test_json(1)),
                Some(Ok(seed)) => respond(&mut stream, "200 OK", json, &test_json(seed)),
                Some(Err(_)) => respond(
                    &mut stream,
                    "400 Bad Request",
                    json,
                    &serde_json::json!({"error": "seed must be a whole number"}).to_string(),
                ),
            }
        }
        "/metrics" => respond(
            &mut stream,
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &shared.to_prometheus_text(),
        ),
        "/healthz" => respond(&mut stream, "200 OK", "text/plain", "ok\n"),
        "/metrics/live-short" => respond(&mut stream, "200 OK", json, &window_json(&shared, Some(20))),
        "/metrics/live-long" => respond(&mut stream, "200 OK", json, &window_json(&shared, None)),
        "/readyz" => match shared.last_refresh_secs {
            Some(_) => respond(&mut stream, "200 OK", "text/plain", "ready\n"),
            None => respond(
                &mut stream,
                "503 Service Unavailable",
                "text/plain",
                &format!(
                    "not ready: no data from Prometheus yet{}\n",
                    shared
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
            json,
            &serde_json::json!({
                "name": config.app.name,
                "version": env!("CARGO_PKG_VERSION"),
                "prometheus": config.prometheus.base_url,
                "metrics": config.metrics.iter().map(|m| &m.name).collect::<Vec<_>>(),
                "ready": shared.last_refresh_secs.is_some(),
                "model_age_seconds": shared.model_age_secs,
            })
            .to_string(),
        ),
        other => respond(
            &mut stream,
            "404 Not Found",
            json,
            &serde_json::json!({"error": format!(
                "no route {other}; try /metrics, /metrics/live-short, /metrics/live-long, /metrics/test, /train/{{id}}, /healthz, /readyz or /"
            )})
            .to_string(),
        ),
    }
}

/// Runs until `stop` is set (the CLI runs it until the process is killed).
/// `alertmanager`: its base URL, to send alerts to (none: no alerts).
pub fn serve(
    config: Config,
    listen: SocketAddr,
    alertmanager: Option<&str>,
    stop: Arc<AtomicBool>,
) -> Result<(), ServeError> {
    let listener = TcpListener::bind(listen).map_err(|source| ServeError::Listen {
        address: listen,
        source,
    })?;
    let state = Arc::new(Shared::default());
    // The model in use, for its age and training time.
    if let Ok(saved) =
        crate::detect::store::load(&crate::config::resolve_data_path(&config.lstm.save_path))
    {
        let mut shared = state.snapshot.lock().unwrap_or_else(|e| e.into_inner());
        shared.training_secs = Some(saved.meta.train_seconds);
        if let Some(created) = crate::data::time::parse_timestamp_ms(&saved.meta.created_at) {
            shared.model_age_secs = Some((now_secs() - created as f64 / 1000.0).max(0.0));
        }
    }
    let live = engine::spawn_live(
        config.prometheus.clone(),
        config.metrics.clone(),
        config.dashboard.refresh_interval,
        || {},
    )
    .map_err(|e| ServeError::Engine {
        reason: e.to_string(),
    })?;
    let alert_sender = alertmanager
        .map(|url| alerts::spawn_sender(url, Duration::from_secs(5)))
        .transpose()
        .map_err(|reason| ServeError::Engine { reason })?;
    let generator_url = format!("http://{listen}/metrics/live-short");
    let mut alert_state = alerts::AlertState::default();
    let engine_state = Arc::clone(&state);
    let engine_config = config.clone();
    let engine_stop = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("serve-engine".into())
        .spawn(move || {
            while !engine_stop.load(Ordering::Relaxed) {
                match live.events.recv_timeout(Duration::from_millis(200)) {
                    Ok(LiveEvent::Frame { frame, .. }) => {
                        let now = now_secs();
                        let results = update(&engine_state.snapshot, &engine_config, &frame, now);
                        if let Some(sender) = &alert_sender {
                            let statuses: Vec<alerts::MetricStatus<'_>> = results
                                .iter()
                                .map(|(metric, scores, value, expected)| alerts::MetricStatus {
                                    metric,
                                    scores,
                                    value: *value,
                                    expected: *expected,
                                    now_ms: (now * 1000.0) as i64,
                                })
                                .collect();
                            alerts::queue(
                                sender,
                                alert_state.update(&statuses, ALARM_LEVEL, &generator_url),
                            );
                        }
                        *engine_state.frame.lock().unwrap_or_else(|e| e.into_inner()) = Some(frame);
                    }
                    Ok(LiveEvent::Failed { reason, .. }) => {
                        let mut shared = engine_state
                            .snapshot
                            .lock()
                            .unwrap_or_else(|e| e.into_inner());
                        *shared
                            .fetch_errors
                            .entry(reason_class(&reason).to_owned())
                            .or_default() += 1;
                        shared.last_error = Some(reason);
                    }
                    Err(_) => {}
                }
            }
        })
        .map_err(|e| ServeError::Engine {
            reason: e.to_string(),
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Listen {
            address: listen,
            source,
        })?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                handle(stream, &state, &config);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Ok(())
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_has_every_family_and_escapes_labels() {
        let mut snapshot = Snapshot::default();
        snapshot.scores.insert("cpu".into(), 0.999);
        snapshot.scores.insert("odd\"name".into(), 0.1);
        snapshot.forecasts.insert("cpu".into(), (50.0, 40.0, 60.0));
        snapshot.fetch_errors.insert("refused".into(), 3);
        snapshot.last_refresh_secs = Some(1_767_225_600.0);
        let text = snapshot.to_prometheus_text();
        assert!(
            text.contains("# TYPE pulsewatch_anomaly_score gauge\n"),
            "{text}"
        );
        assert!(text.contains("pulsewatch_anomaly_score{metric=\"cpu\"} 0.999\n"));
        assert!(text.contains("pulsewatch_anomalous{metric=\"cpu\"} 1\n"));
        assert!(text.contains("pulsewatch_anomalous{metric=\"odd\\\"name\"} 0\n"));
        assert!(text.contains("pulsewatch_forecast{metric=\"cpu\",bound=\"upper\"} 60\n"));
        assert!(text.contains("pulsewatch_fetch_errors_total{reason=\"refused\"} 3\n"));
        assert!(text.contains("pulsewatch_last_refresh_timestamp_seconds 1767225600\n"));
        assert_eq!(reason_class("connection refused by http://x"), "refused");
        assert_eq!(reason_class("request timed out"), "timeout");
    }
}
