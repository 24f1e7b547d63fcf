//! `pulsewatch serve`: the engine without a window. It owns a live
//! [`monitor`](crate::engine::monitor) (the same one the window uses: the
//! same marks, events, forecasts and retraining), and publishes what it says:
//! `/metrics` in Prometheus text format 0.0.4, `/healthz`, `/readyz`, JSON
//! windows ([`exposition`], [`http`]), alerts to Alertmanager ([`alerts`]).

pub mod alerts;
pub mod exposition;
mod http;
pub mod signals;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::Config;
use crate::engine::monitor::{self, Command, MonitorOptions, Update};
use crate::engine::schedule::{Clock, TrainJobState};
use crate::history::History;

pub use exposition::{Snapshot, WindowRow};

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

/// What the HTTP side shares with the refresh loop.
struct Shared {
    /// Replaced whole at each judging; requests take the `Arc` and let go
    /// of the lock at once.
    snapshot: Mutex<Arc<Snapshot>>,
    /// Training jobs by id, for `GET /train/{id}`.
    jobs: Mutex<BTreeMap<u64, TrainJobState>>,
    /// Where `POST /train` asks for a retrain.
    monitor: Mutex<SyncSender<Command>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where `serve` keeps its state and how it reads the time.
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// Alertmanager's base URL, to send alerts to (none: no alerts).
    pub alertmanager: Option<String>,
    /// The history database.
    pub history_path: std::path::PathBuf,
    pub clock: Arc<dyn Clock>,
    /// The entities this replica follows ([`crate::fleet::Shard::ALL`]: every one).
    pub shard: crate::fleet::Shard,
}

/// The monitor as the daemon sets it up: following Prometheus, recording
/// into `history_path`, forecasting when `prophet_model.enabled` says so.
pub fn monitor_options(
    config: &Config,
    history_path: std::path::PathBuf,
    clock: Arc<dyn Clock>,
    shard: crate::fleet::Shard,
) -> MonitorOptions {
    let state_path = state_path(&history_path, shard);
    MonitorOptions {
        state_path: Some(state_path),
        config: config.clone(),
        clock,
        history_path: Some(history_path),
        training_source: None,
        show_forecast: true,
        shard,
    }
}

/// Where the daemon keeps its live detector state: beside the history,
/// one file per shard (replicas may share a directory).
pub fn state_path(
    history_path: &std::path::Path,
    shard: crate::fleet::Shard,
) -> std::path::PathBuf {
    let name = if shard == crate::fleet::Shard::ALL {
        "online-state.cbor".to_owned()
    } else {
        format!("online-state-shard-{}-of-{}.cbor", shard.index, shard.count)
    };
    history_path.with_file_name(name)
}

/// The refresh loop's state: what it publishes and where alerts go.
struct Publisher {
    shared: Arc<Shared>,
    /// The judged frame behind the published window: a report without new
    /// rows (training progress) refreshes only the status.
    judged: Option<Arc<crate::engine::monitor::Assessment>>,
    alert_state: alerts::AlertState,
    alert_sender: Option<SyncSender<Vec<serde_json::Value>>>,
    generator_url: String,
}

impl Publisher {
    /// Publishes one update: the snapshot, the training jobs, the alerts
    /// for the events that started, go on or ended, and the log lines.
    fn publish(&mut self, update: &Update) {
        for note in &update.notes {
            eprintln!("pulsewatch serve: {note}");
        }
        let view = &update.view;
        *lock(&self.shared.jobs) = view.jobs.clone();
        let judged_again = !self
            .judged
            .as_ref()
            .is_some_and(|judged| Arc::ptr_eq(judged, &view.judged));
        if judged_again {
            *lock(&self.shared.snapshot) = Arc::new(Snapshot::of(view));
        } else {
            let mut snapshot = lock(&self.shared.snapshot);
            Arc::make_mut(&mut snapshot).refresh_status(view);
        }
        self.judged = Some(Arc::clone(&view.judged));
        // Alerts go out once per judging (a refresh), not with every
        // training progress report.
        if !judged_again && update.changes.ended.is_empty() {
            return;
        }
        let latest: BTreeMap<String, alerts::Latest> = view
            .judged
            .metrics
            .iter()
            .zip(view.frame.columns())
            .enumerate()
            .map(|(index, (metric, values))| {
                let expected = metric
                    .band
                    .as_ref()
                    .and_then(|b| b.at_rows.last().copied().flatten())
                    .map(|(_, lower, upper)| (lower, upper));
                let value = values.last().copied().unwrap_or(f64::NAN);
                let labels = exposition::export_labels(&view.frame, index);
                (
                    metric.name.clone(),
                    alerts::Latest {
                        value,
                        expected,
                        labels,
                    },
                )
            })
            .collect();
        let batch = self.alert_state.update(
            &view.open_events,
            &update.changes.ended,
            &latest,
            &self.generator_url,
        );
        if let Some(sender) = &self.alert_sender {
            alerts::queue(sender, batch);
        }
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
    // Port 0 asks the system for a free one: say which it is.
    let listen = listener.local_addr().map_err(|source| ServeError::Listen {
        address: listen,
        source,
    })?;
    eprintln!("pulsewatch serve: listening on http://{listen}");
    // Events a killed daemon left open end now: nothing continues them.
    History::open(&options.history_path)?.close_open_events(options.clock.now_ms())?;
    let engine_error = |e: crate::engine::EngineError| ServeError::Engine {
        reason: e.to_string(),
    };
    let monitor_options = monitor_options(
        &config,
        options.history_path.clone(),
        Arc::clone(&options.clock),
        options.shard,
    );
    let mut monitor = monitor::spawn(monitor_options, || {}).map_err(engine_error)?;
    monitor.send(Command::FollowLive);
    let alert_sender = options
        .alertmanager
        .as_deref()
        .map(|url| alerts::spawn_sender(url, Duration::from_secs(5)))
        .transpose()
        .map_err(|reason| ServeError::Engine { reason })?;
    let shared = Arc::new(Shared {
        snapshot: Mutex::new(Arc::new(Snapshot::default())),
        jobs: Mutex::new(BTreeMap::new()),
        monitor: Mutex::new(monitor.sender()),
    });
    let mut publisher = Publisher {
        shared: Arc::clone(&shared),
        judged: None,
        alert_state: alerts::AlertState::default(),
        alert_sender,
        generator_url: format!("http://{listen}/metrics/live-short"),
    };
    let refresh_stop = Arc::clone(&stop);
    let refresh_thread = std::thread::Builder::new()
        .name("serve-refresh".into())
        .spawn(move || {
            while !refresh_stop.load(Ordering::Relaxed) {
                match monitor.updates.recv_timeout(Duration::from_millis(200)) {
                    Ok(update) => publisher.publish(&update),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            // The monitor finishes a save in progress and closes open events.
            match monitor.stop() {
                Ok(last) => last.iter().for_each(|update| publisher.publish(update)),
                Err(error) => eprintln!("pulsewatch serve: {error}"),
            }
        })
        .map_err(|e| ServeError::Engine {
            reason: e.to_string(),
        })?;
    accept_until_stopped(&listener, listen, &shared, config, &stop)?;
    stop.store(true, Ordering::Relaxed);
    refresh_thread.join().map_err(|_| ServeError::Engine {
        reason: "the refresh thread panicked while stopping".into(),
    })
}

/// Answers requests, each on its own thread, so a slow one (`/metrics/test`
/// judges a day of data) never holds up a scrape; at most
/// [`http::MAX_REQUEST_THREADS`] at once, beyond that a 503.
fn accept_until_stopped(
    listener: &TcpListener,
    listen: SocketAddr,
    shared: &Arc<Shared>,
    config: Config,
    stop: &AtomicBool,
) -> Result<(), ServeError> {
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Listen {
            address: listen,
            source,
        })?;
    let config = Arc::new(config);
    let busy = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) && !signals::stop_requested() {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nonblocking(false);
                if busy.fetch_add(1, Ordering::SeqCst) >= http::MAX_REQUEST_THREADS {
                    busy.fetch_sub(1, Ordering::SeqCst);
                    http::respond(
                        &mut stream,
                        "503 Service Unavailable",
                        "application/json",
                        &serde_json::json!({"error": "too many requests at once; try again"})
                            .to_string(),
                    );
                    continue;
                }
                let (state, config, done) =
                    (Arc::clone(shared), Arc::clone(&config), Arc::clone(&busy));
                let spawned =
                    std::thread::Builder::new()
                        .name("serve-http".into())
                        .spawn(move || {
                            http::handle(stream, &state, &config);
                            done.fetch_sub(1, Ordering::SeqCst);
                        });
                if spawned.is_err() {
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    Ok(())
}
