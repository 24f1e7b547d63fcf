//! `pulsewatch serve`: the engine without a window. It polls Prometheus every
//! refresh interval (the same live job as the app), scores every metric
//! online, keeps a forecast, and publishes the results over HTTP: `/metrics`
//! in Prometheus text format 0.0.4, `/healthz`, `/readyz` and `/` (JSON).
//! The HTTP side is a small blocking server: one thread per request (at most
//! 16 at once), as a handful of routes need no framework.

pub mod alerts;
pub mod signals;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::data::MetricFrame;
use crate::detect::stream::{
    ALARM_LEVEL, RobustParams, alarms_from, method_likelihoods, probation_rows, robust_likelihoods,
};
use crate::engine::schedule::{Clock, ModelKeeper, RetrainReason, Schedule, StartError};
use crate::engine::{self, LiveEvent};
use crate::forecast::{self, ForecastModel, ForecastSettings, FrameForecast};
use crate::history::History;

pub use crate::engine::schedule::TrainJobState;

/// Requests answered at once; more get a 503.
const MAX_REQUEST_THREADS: usize = 16;

/// How long a stopping daemon waits for a training save to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

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
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
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
    /// The model in use and its schedule, for `GET /`.
    pub model: serde_json::Value,
    /// The latest window, for the JSON routes: per metric, rows of
    /// (timestamp ms, value, score, forecast (yhat, lower, upper) if any).
    pub window: BTreeMap<String, Vec<WindowRow>>,
}

/// What the HTTP side shares with the engine.
#[derive(Debug)]
struct Shared {
    snapshot: Mutex<Snapshot>,
    /// The latest window, for `POST /train`.
    frame: Mutex<Option<MetricFrame>>,
    /// The autoencoder and its retraining (the engine thread polls it; `POST
    /// /train` starts jobs on it).
    keeper: Mutex<ModelKeeper>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
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

/// The autoencoder's view of a window: per row, the likelihood of the
/// window ending there and the metric that contributes most to it.
struct LstmRows {
    likelihood: Vec<f64>,
    top_metric: Vec<Option<String>>,
}

impl LstmRows {
    fn new(scores: &crate::detect::Scores, rows: usize, length: usize) -> Option<Self> {
        Some(Self {
            likelihood: crate::detect::stream::window_likelihoods(scores, rows, length)?,
            top_metric: (0..rows)
                .map(|row| scores.top_metric(row).map(str::to_owned))
                .collect(),
        })
    }

    /// `metric`'s share: the row's likelihood where it is the top metric.
    fn for_metric(&self, metric: &str) -> Vec<f64> {
        self.likelihood
            .iter()
            .zip(&self.top_metric)
            .map(|(l, top)| {
                if top.as_deref() == Some(metric) {
                    *l
                } else {
                    0.0
                }
            })
            .collect()
    }
}

/// Per row alarm scores of one metric by `detection.method`
/// ([`method_likelihoods`]; the autoencoder's likelihood counts where this
/// metric drives the error), then one alarm per event. Where the chosen
/// detector has nothing to say (`lstm` without a model, `seasonal` without a
/// period in the window's first 15 %), the robust detector scores instead.
fn metric_scores(
    name: &str,
    column: &[f64],
    lstm: Option<&LstmRows>,
    method: crate::config::DetectionMethod,
) -> Vec<f64> {
    let params = RobustParams::default();
    let lstm = lstm.map(|rows| rows.for_metric(name));
    let probation = probation_rows(column.len());
    let likelihoods = method_likelihoods(method, column, probation, lstm.as_deref())
        .unwrap_or_else(|| robust_likelihoods(column, params));
    alarms_from(&likelihoods, params.suppress)
}

/// Folds a fetched window into the snapshot: online scores and the band of
/// `forecast` (made before the newest rows were seen) at each row.
fn update(
    snapshot: &Mutex<Snapshot>,
    frame: &MetricFrame,
    forecast: Option<&FrameForecast>,
    lstm: Option<&LstmRows>,
    method: crate::config::DetectionMethod,
    now_secs: f64,
) -> Vec<MetricResult> {
    let mut results = Vec::new();
    let mut scores = BTreeMap::new();
    let mut forecasts = BTreeMap::new();
    let mut window = BTreeMap::new();
    for (name, column) in frame.names().iter().zip(frame.columns()) {
        let row_scores = metric_scores(name, column, lstm, method);
        if let Some(score) = row_scores.last() {
            scores.insert(name.clone(), *score);
        }
        let series = forecast.and_then(|f| f.get(name));
        // By timestamp: the window has slid since the forecast was made.
        let at = |i: usize| {
            let s = series?;
            let at = forecast::nearest_index(&s.timestamps_ms, frame.timestamps_ms()[i])?;
            Some((*s.yhat.get(at)?, *s.lower.get(at)?, *s.upper.get(at)?))
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
    let mut shared = lock(snapshot);
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

/// Starts a retrain on the latest window; returns the job id, or the status
/// and message to answer with.
fn start_training(shared: &Arc<Shared>) -> Result<u64, (&'static str, String)> {
    let frame = lock(&shared.frame).clone().ok_or((
        "503 Service Unavailable",
        "no data from Prometheus yet to train on".to_owned(),
    ))?;
    lock(&shared.keeper)
        .start(frame, RetrainReason::Manual, || {})
        .map_err(|error| match error {
            StartError::Busy { .. } => ("409 Conflict", error.to_string()),
            StartError::Spawn { .. } => ("503 Service Unavailable", error.to_string()),
        })
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
        match start_training(shared) {
            Ok(id) => respond(
                &mut stream,
                "202 Accepted",
                json,
                &serde_json::json!({"id": id, "progress": format!("/train/{id}")}).to_string(),
            ),
            Err((status, error)) => respond(
                &mut stream,
                status,
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
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    if let Some(id) = route.strip_prefix("/train/") {
        let job = id
            .parse::<u64>()
            .ok()
            .and_then(|id| lock(&shared.keeper).job(id).cloned());
        match job {
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
    let shared = lock(&shared.snapshot).clone();
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
                "model": shared.model,
                "detection": config.detection.method.key(),
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

/// Where `serve` keeps its state and how it reads the time.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Alertmanager's base URL, to send alerts to (none: no alerts).
    pub alertmanager: Option<String>,
    /// The history database.
    pub history_path: std::path::PathBuf,
    pub clock: Arc<dyn Clock>,
}

/// The engine thread's state: everything a refresh updates.
struct Engine {
    config: Config,
    shared: Arc<Shared>,
    history: History,
    clock: Arc<dyn Clock>,
    forecast: Option<FrameForecast>,
    /// A refit in progress on the `forecast` worker thread: the refresh
    /// loop never waits for a fit (a long horizon at a fine step takes
    /// seconds of simulation).
    forecast_job: Option<std::sync::mpsc::Receiver<Result<FrameForecast, forecast::ForecastError>>>,
    forecast_schedule: Schedule,
    alert_state: alerts::AlertState,
    alert_sender: Option<std::sync::mpsc::SyncSender<Vec<serde_json::Value>>>,
    generator_url: String,
    /// Open history events by metric.
    open_events: BTreeMap<String, i64>,
    /// History write errors are reported once each, not every refresh.
    history_failing: bool,
}

impl Engine {
    fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// A history write that failed is shown (stderr and `/`), not fatal:
    /// scoring and alerting go on.
    fn recorded<T>(&mut self, result: Result<T, crate::history::HistoryError>) -> Option<T> {
        match result {
            Ok(value) => {
                self.history_failing = false;
                Some(value)
            }
            Err(error) => {
                if !self.history_failing {
                    eprintln!("pulsewatch serve: {error}");
                }
                self.history_failing = true;
                lock(&self.shared.snapshot).last_error = Some(error.to_string());
                None
            }
        }
    }

    /// A training that ended: into the history, and its model into use.
    fn training_finished(&mut self, finished: crate::engine::schedule::Finished) {
        let run = &finished.run;
        eprintln!(
            "pulsewatch serve: training ({}) {}{}",
            run.reason,
            run.status,
            run.error
                .as_deref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
        let result = self.history.record_training(run);
        if let Some(id) = self.recorded(result) {
            eprintln!("pulsewatch serve: history: training run {id} committed");
        }
    }

    fn poll_training(&mut self) {
        let finished = lock(&self.shared.keeper).poll();
        if let Some(finished) = finished {
            self.training_finished(finished);
        }
        self.publish_model();
    }

    /// The model state for `/metrics` and `GET /`.
    fn publish_model(&self) {
        let keeper = lock(&self.shared.keeper);
        let model = keeper.model().map(|m| {
            serde_json::json!({
                "created_at": m.meta.created_at,
                "training_rows": m.meta.training_rows,
                "threshold": m.meta.threshold,
                "features": m.meta.feature_names,
                "device": m.meta.device,
            })
        });
        let value = serde_json::json!({
            "loaded": model,
            "training": keeper.is_training(),
            "next_retrain_at": keeper
                .schedule()
                .next_due_ms()
                .map(crate::data::time::format_rfc3339_ms),
            "last_error": keeper.last_error(),
        });
        let (age, secs) = (keeper.model_age_secs(), keeper.last_training_secs());
        drop(keeper);
        let mut snapshot = lock(&self.shared.snapshot);
        snapshot.model = value;
        snapshot.model_age_secs = age;
        snapshot.training_secs = secs;
    }

    /// The autoencoder's scores of `frame`: its rows for the detector, and
    /// its errors on the windows it has not trained on (the drift rule's
    /// input); nothing without a usable model.
    fn score_lstm(&self, frame: &MetricFrame) -> (Option<LstmRows>, Vec<f32>) {
        let Some(model) = lock(&self.shared.keeper).model().cloned() else {
            return (None, Vec::new());
        };
        let Ok(scores) = crate::detect::score(&model, frame) else {
            return (None, Vec::new());
        };
        let recent = crate::engine::schedule::errors_since_training(
            &scores.window_errors,
            frame.timestamps_ms(),
            &model,
        );
        let rows = LstmRows::new(&scores, frame.len(), model.meta.config.sequence_length);
        (rows, recent)
    }

    /// Takes a finished refit, if any.
    fn poll_forecast(&mut self) {
        let Some(job) = &self.forecast_job else {
            return;
        };
        match job.try_recv() {
            Ok(Ok(fitted)) => {
                self.forecast = Some(fitted);
                self.forecast_job = None;
            }
            Ok(Err(error)) => {
                lock(&self.shared.snapshot).last_error = Some(error.to_string());
                self.forecast_job = None;
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
            Err(std::sync::mpsc::TryRecvError::Disconnected) => self.forecast_job = None,
        }
    }

    /// Starts a refit (on a worker thread) when the schedule says so or when
    /// the newest row has run past the forecast; meanwhile rows are judged
    /// by the forecast made before they arrived.
    fn refresh_forecast(&mut self, frame: &MetricFrame) {
        self.poll_forecast();
        if !self.config.prophet.enabled || self.forecast_job.is_some() {
            return;
        }
        let newest = frame.timestamps_ms().last().copied().unwrap_or(i64::MIN);
        let covered = self.forecast.as_ref().is_some_and(|f| f.covers(newest));
        let now = self.now_ms();
        if covered && !self.forecast_schedule.due(now) {
            return;
        }
        let settings = ForecastSettings::from_config(&self.config, ForecastModel::Prophet);
        match engine::spawn_forecast(frame.clone(), settings, || {}) {
            Ok(job) => {
                self.forecast_job = Some(job);
                self.forecast_schedule.mark(now);
            }
            Err(error) => lock(&self.shared.snapshot).last_error = Some(error.to_string()),
        }
    }

    fn on_frame(&mut self, frame: MetricFrame) {
        let (lstm_rows, recent) = self.score_lstm(&frame);
        let due = {
            let keeper = lock(&self.shared.keeper);
            keeper
                .enough_data(&frame)
                .then(|| keeper.due(&recent))
                .flatten()
        };
        if let Some(reason) = due {
            let started = lock(&self.shared.keeper).start(frame.clone(), reason.clone(), || {});
            match started {
                Ok(id) => eprintln!("pulsewatch serve: retraining (job {id}): {reason}"),
                Err(error) => eprintln!("pulsewatch serve: {error}"),
            }
        }
        self.refresh_forecast(&frame);
        let now_ms = self.now_ms();
        let results = update(
            &self.shared.snapshot,
            &frame,
            self.forecast.as_ref(),
            lstm_rows.as_ref(),
            self.config.detection.method,
            now_ms as f64 / 1000.0,
        );
        let statuses: Vec<alerts::MetricStatus<'_>> = results
            .iter()
            .map(|(metric, scores, value, expected)| alerts::MetricStatus {
                metric,
                scores,
                value: *value,
                expected: *expected,
                now_ms,
            })
            .collect();
        let batch = self
            .alert_state
            .update(&statuses, ALARM_LEVEL, &self.generator_url);
        if let Some(sender) = &self.alert_sender {
            alerts::queue(sender, batch);
        }
        self.record_events(now_ms);
        *lock(&self.shared.frame) = Some(frame);
        self.publish_model();
    }

    /// Mirrors the anomalies in progress into the history: new ones start an
    /// event, ongoing ones raise its peak, ended ones close it.
    fn record_events(&mut self, now_ms: i64) {
        let active = self.alert_state.active().clone();
        for (metric, state) in &active {
            // The history keeps the dashboard's 0–100 scale (as a share) and
            // its severities, so the app's events and the daemon's compare.
            let score = crate::detect::score::score_of_likelihood(state.peak);
            let severity = crate::detect::score::severity(score);
            match self.open_events.get(metric).copied() {
                Some(id) => {
                    let result = self.history.raise_peak(id, score / 100.0, severity);
                    self.recorded(result);
                }
                None => {
                    let result = self.history.start_event(
                        metric,
                        state.start_ms,
                        score / 100.0,
                        severity,
                        &self.model_version(),
                    );
                    if let Some(id) = self.recorded(result) {
                        eprintln!("pulsewatch serve: history: event {id} ({metric}) committed");
                        self.open_events.insert(metric.clone(), id);
                    }
                }
            }
        }
        let ended: Vec<(String, i64)> = self
            .open_events
            .iter()
            .filter(|(metric, _)| !active.contains_key(*metric))
            .map(|(m, id)| (m.clone(), *id))
            .collect();
        for (metric, id) in ended {
            let result = self.history.end_event(id, now_ms);
            if self.recorded(result).is_some() {
                self.open_events.remove(&metric);
            }
        }
    }

    /// What judged the events: the detector, and the model it used.
    fn model_version(&self) -> String {
        let method = self.config.detection.method;
        match lock(&self.shared.keeper).model() {
            Some(model) if method != crate::config::DetectionMethod::Robust => {
                format!("{} (lstm {})", method.key(), model.meta.created_at)
            }
            _ => "robust".to_owned(),
        }
    }

    fn on_failure(&mut self, reason: String) {
        let class = reason_class(&reason);
        let result = self
            .history
            .record_fetch_failure(self.now_ms(), class, &reason);
        if let Some(id) = self.recorded(result) {
            eprintln!("pulsewatch serve: history: fetch failure {id} committed");
        }
        let mut shared = lock(&self.shared.snapshot);
        *shared.fetch_errors.entry(class.to_owned()).or_default() += 1;
        shared.last_error = Some(reason);
    }

    /// Stopping: a training in progress finishes its save (or is cancelled
    /// within a batch), open events are closed, the database is closed.
    fn shutdown(mut self) {
        let finished = lock(&self.shared.keeper).shutdown(SHUTDOWN_WAIT);
        if let Some(finished) = finished {
            self.training_finished(finished);
        }
        let now = self.now_ms();
        let result = self.history.close_open_events(now);
        self.recorded(result);
        drop(self.history);
    }
}

/// Runs until `stop` is set or SIGTERM/SIGINT arrives (see [`signals`]).
pub fn serve(
    config: Config,
    options: ServeOptions,
    stop: Arc<AtomicBool>,
) -> Result<(), ServeError> {
    let listen = options.listen;
    let listener = TcpListener::bind(listen).map_err(|source| ServeError::Listen {
        address: listen,
        source,
    })?;
    let history = History::open(&options.history_path)?;
    // Events a killed daemon left open end now: nothing continues them.
    history.close_open_events(options.clock.now_ms())?;
    let keeper = ModelKeeper::new(
        Arc::clone(&options.clock),
        config.lstm.clone(),
        crate::config::resolve_data_path(&config.lstm.save_path),
    );
    if let Some(error) = keeper.last_error() {
        eprintln!("pulsewatch serve: {error}");
    }
    let state = Arc::new(Shared {
        snapshot: Mutex::new(Snapshot::default()),
        frame: Mutex::new(None),
        keeper: Mutex::new(keeper),
    });
    let live = engine::spawn_live(
        config.prometheus.clone(),
        config.metrics.clone(),
        config.dashboard.refresh_interval,
        || {},
    )
    .map_err(|e| ServeError::Engine {
        reason: e.to_string(),
    })?;
    let alert_sender = options
        .alertmanager
        .as_deref()
        .map(|url| alerts::spawn_sender(url, Duration::from_secs(5)))
        .transpose()
        .map_err(|reason| ServeError::Engine { reason })?;
    let mut engine = Engine {
        forecast_schedule: Schedule::new(config.prophet.retrain_interval, None),
        config: config.clone(),
        shared: Arc::clone(&state),
        history,
        clock: Arc::clone(&options.clock),
        forecast: None,
        forecast_job: None,
        alert_state: alerts::AlertState::default(),
        alert_sender,
        generator_url: format!("http://{listen}/metrics/live-short"),
        open_events: BTreeMap::new(),
        history_failing: false,
    };
    engine.publish_model();
    let engine_stop = Arc::clone(&stop);
    let engine_thread = std::thread::Builder::new()
        .name("serve-engine".into())
        .spawn(move || {
            while !engine_stop.load(Ordering::Relaxed) {
                match live.events.recv_timeout(Duration::from_millis(200)) {
                    Ok(LiveEvent::Frame { frame, .. }) => engine.on_frame(frame),
                    Ok(LiveEvent::Failed { reason, .. }) => engine.on_failure(reason),
                    Err(_) => {}
                }
                engine.poll_training();
                engine.poll_forecast();
            }
            engine.shutdown();
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
    let config = Arc::new(config);
    // Requests are answered on their own threads, so a slow one
    // (`/metrics/test` scores a day of data) never holds up a scrape; at
    // most `MAX_REQUEST_THREADS` at once, beyond that a 503.
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) && !signals::stop_requested() {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if busy.fetch_add(1, Ordering::SeqCst) >= MAX_REQUEST_THREADS {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    respond(
                        &mut stream,
                        "503 Service Unavailable",
                        "application/json",
                        &serde_json::json!({"error": "too many requests at once; try again"})
                            .to_string(),
                    );
                    continue;
                }
                let (state, config, done) =
                    (Arc::clone(&state), Arc::clone(&config), Arc::clone(&busy));
                let spawned =
                    std::thread::Builder::new()
                        .name("serve-http".into())
                        .spawn(move || {
                            handle(stream, &state, &config);
                            done.fetch_sub(1, Ordering::SeqCst);
                        });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    stop.store(true, Ordering::Relaxed);
    // The engine thread finishes a save in progress and closes the database.
    engine_thread.join().map_err(|_| ServeError::Engine {
        reason: "the engine thread panicked while stopping".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_detection_method_picks_the_likelihoods_behind_a_metrics_scores() {
        use crate::config::DetectionMethod;
        let mut rng = crate::data::rng::Rng::new(3);
        let column: Vec<f64> = (0..400).map(|_| 10.0 + rng.normal()).collect();
        // The autoencoder sees something at row 300 and blames "cpu".
        let mut likelihood = vec![0.1; 400];
        likelihood[300] = 0.9999;
        let mut top_metric = vec![Some("cpu".to_owned()); 400];
        top_metric[200] = Some("memory".to_owned());
        likelihood[200] = 0.9999;
        let lstm = LstmRows {
            likelihood,
            top_metric,
        };
        let robust = metric_scores("cpu", &column, Some(&lstm), DetectionMethod::Robust);
        let only_lstm = metric_scores("cpu", &column, Some(&lstm), DetectionMethod::Lstm);
        let ensemble = metric_scores("cpu", &column, Some(&lstm), DetectionMethod::Ensemble);
        assert!(robust[300] < ALARM_LEVEL, "{}", robust[300]);
        assert!(only_lstm[300] >= ALARM_LEVEL && ensemble[300] >= ALARM_LEVEL);
        // Row 200 is memory's, not cpu's.
        assert!(only_lstm[200] < ALARM_LEVEL);
        assert!(
            ensemble
                .iter()
                .zip(&robust)
                .all(|(e, r)| e >= r || *r >= ALARM_LEVEL)
        );
        // Without a model `lstm` falls back to the robust detector, and the
        // ensemble is the other detectors (here robust, level and context:
        // no period in noise).
        let fallback = metric_scores("cpu", &column, None, DetectionMethod::Lstm);
        assert_eq!(fallback, robust);
        let params = RobustParams::default();
        let context =
            crate::detect::stream::context_likelihoods(&column, probation_rows(column.len()))
                .expect("values");
        let statistical: Vec<f64> = robust_likelihoods(&column, params)
            .iter()
            .zip(crate::detect::stream::level_likelihoods(&column, params))
            .zip(context)
            .map(|((r, l), c)| r.max(l).max(c))
            .collect();
        assert_eq!(
            metric_scores("cpu", &column, None, DetectionMethod::Ensemble),
            alarms_from(&statistical, params.suppress)
        );
    }

    #[test]
    fn rows_find_the_forecast_point_nearest_within_half_a_step() {
        let stamps = [1_000, 3_000, 5_000];
        assert_eq!(forecast::nearest_index(&stamps, 3_000), Some(1));
        assert_eq!(forecast::nearest_index(&stamps, 3_900), Some(1));
        assert_eq!(forecast::nearest_index(&stamps, 4_100), Some(2));
        assert_eq!(forecast::nearest_index(&stamps, 6_000), Some(2));
        assert_eq!(forecast::nearest_index(&stamps, 6_100), None);
        assert_eq!(forecast::nearest_index(&stamps, -100), None);
        assert_eq!(forecast::nearest_index(&[], 0), None);
    }

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
