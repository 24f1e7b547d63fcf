//! `pulsewatch serve`: the engine without a window. It owns a live
//! [`monitor`](crate::engine::monitor) (the same one the window uses: the
//! same marks, events, forecasts and retraining), and publishes what it says:
//! `/metrics` in Prometheus text format 0.0.4, `/healthz`, `/readyz`, JSON
//! windows ([`exposition`], [`web`]: hyper, with TLS and basic auth from a
//! Prometheus web config file), alerts to Alertmanager ([`alerts`]).

pub mod alerts;
pub mod bench;
pub mod exposition;
#[doc(hidden)]
pub mod fuzzing;
pub mod signals;
pub mod web;

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
    #[error(transparent)]
    Web(#[from] web::WebError),
}

/// What the HTTP side shares with the refresh loop.
struct Shared {
    /// Replaced whole at each judging; requests take the `Arc` and let go
    /// of the lock at once.
    snapshot: Mutex<Arc<Snapshot>>,
    /// Training jobs by id, for `GET /train/{id}`.
    jobs: Mutex<BTreeMap<u64, TrainJobState>>,
    /// Signalled when `jobs` is replaced (`POST /train` answers once its
    /// job can be looked up).
    jobs_changed: std::sync::Condvar,
    /// Where `POST /train` asks for a retrain.
    monitor: Mutex<SyncSender<Command>>,
    /// `/metrics` as last rendered, with the snapshot and the outbox count
    /// it was made from: scrapes between two refreshes share one text.
    exposition: Mutex<Option<Rendered>>,
    /// Alerts waiting for Alertmanager (none: no Alertmanager).
    alerts_pending: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

/// A `/metrics` text and what it was made from.
struct Rendered {
    snapshot: Arc<Snapshot>,
    alerts_pending: Option<usize>,
    text: bytes::Bytes,
    /// `text` gzip-compressed, made when first asked for.
    gzipped: Option<bytes::Bytes>,
}

impl Shared {
    fn new(
        snapshot: Snapshot,
        monitor: SyncSender<Command>,
        alerts_pending: Option<Arc<std::sync::atomic::AtomicUsize>>,
    ) -> Self {
        Self {
            snapshot: Mutex::new(Arc::new(snapshot)),
            jobs: Mutex::new(BTreeMap::new()),
            jobs_changed: std::sync::Condvar::new(),
            monitor: Mutex::new(monitor),
            exposition: Mutex::new(None),
            alerts_pending,
        }
    }

    /// `snapshot` in Prometheus text format (gzip-compressed when asked),
    /// rendered once per snapshot.
    fn exposition(&self, snapshot: &Arc<Snapshot>, gzip: bool) -> bytes::Bytes {
        let pending = self
            .alerts_pending
            .as_ref()
            .map(|count| count.load(Ordering::Relaxed));
        let mut cached = lock(&self.exposition);
        let fresh = cached.as_ref().is_some_and(|rendered| {
            Arc::ptr_eq(&rendered.snapshot, snapshot) && rendered.alerts_pending == pending
        });
        if !fresh {
            let mut text = snapshot.to_prometheus_text();
            if let Some(pending) = pending {
                exposition::write_alerts_pending(&mut text, pending);
            }
            *cached = Some(Rendered {
                snapshot: Arc::clone(snapshot),
                alerts_pending: pending,
                text: bytes::Bytes::from(text),
                gzipped: None,
            });
        }
        let Some(rendered) = cached.as_mut() else {
            return bytes::Bytes::new();
        };
        if !gzip {
            return rendered.text.clone();
        }
        rendered
            .gzipped
            .get_or_insert_with(|| bytes::Bytes::from(exposition::gzip(&rendered.text)))
            .clone()
    }
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
    /// A Prometheus web config file: TLS and basic auth (none: plain HTTP,
    /// open).
    pub web_config: Option<std::path::PathBuf>,
    /// Serve `POST /train` without auth on a non-loopback address.
    pub allow_unauthenticated_train: bool,
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
    /// The outbox alerts go into and the sender to wake (none: no
    /// Alertmanager).
    alert_outbox: Option<(History, SyncSender<()>)>,
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
        self.shared.jobs_changed.notify_all();
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
        if let Some((history, wake)) = &self.alert_outbox {
            let now_ms = view.last_refresh_ms.unwrap_or_default();
            match history.queue_alerts(&alerts::to_queue(&batch), now_ms) {
                Ok(()) => {
                    let _ = wake.try_send(());
                }
                // Not queued: the alerts still firing are queued again at
                // the next refresh; a resolve is lost only with the disk.
                Err(error) => eprintln!("pulsewatch serve: alerts: {error}"),
            }
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
    let web = Arc::new(web::WebConfigFile::open(options.web_config.as_deref())?);
    let current = web.current();
    if !listen.ip().is_loopback() && current.auth.is_none() && !options.allow_unauthenticated_train
    {
        return Err(web::WebError::OpenTrain { address: listen }.into());
    }
    let listener = TcpListener::bind(listen).map_err(|source| ServeError::Listen {
        address: listen,
        source,
    })?;
    // Port 0 asks the system for a free one: say which it is.
    let listen = listener.local_addr().map_err(|source| ServeError::Listen {
        address: listen,
        source,
    })?;
    let scheme = if current.tls.is_some() {
        "https"
    } else {
        "http"
    };
    eprintln!("pulsewatch serve: listening on {scheme}://{listen}");
    // Events a killed daemon left open end now: nothing continues them,
    // and the alerts it left firing are resolved.
    let history = History::open(&options.history_path)?;
    let now_ms = options.clock.now_ms();
    history.close_open_events(now_ms)?;
    if options.alertmanager.is_some() {
        let resolved =
            history.resolve_left_firing(&crate::data::time::format_rfc3339_ms(now_ms), now_ms)?;
        if resolved > 0 {
            eprintln!("pulsewatch serve: resolving {resolved} alerts the last run left firing");
        }
    }
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
    let alert_stop = Arc::new(AtomicBool::new(false));
    let alert_sender = options
        .alertmanager
        .as_deref()
        .map(|url| {
            alerts::spawn_sender(
                url,
                Duration::from_secs(5),
                options.history_path.clone(),
                Arc::clone(&alert_stop),
            )
        })
        .transpose()
        .map_err(|reason| ServeError::Engine { reason })?;
    let shared = Arc::new(Shared::new(
        Snapshot::default(),
        monitor.sender(),
        alert_sender
            .as_ref()
            .map(|sender| Arc::clone(&sender.pending)),
    ));
    let mut publisher = Publisher {
        shared: Arc::clone(&shared),
        judged: None,
        alert_state: alerts::AlertState::default(),
        alert_outbox: alert_sender
            .as_ref()
            .map(|sender| (history, sender.wake.clone())),
        generator_url: format!("{scheme}://{listen}/metrics/live-short"),
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
    let context = Arc::new(web::server::ServerContext::new(
        shared,
        Arc::new(config),
        web,
    ));
    let served = serve_http(listener, listen, context, Arc::clone(&stop));
    stop.store(true, Ordering::Relaxed);
    refresh_thread.join().map_err(|_| ServeError::Engine {
        reason: "the refresh thread panicked while stopping".into(),
    })?;
    // The resolves of the events the stop closed get one try now; what
    // Alertmanager does not take waits in the outbox for the next start.
    alert_stop.store(true, Ordering::Relaxed);
    if let Some(sender) = alert_sender {
        sender.join();
    }
    served
}

/// Runs the HTTP side on its own tokio runtime until stopped.
fn serve_http(
    listener: TcpListener,
    listen: SocketAddr,
    context: Arc<web::server::ServerContext>,
    stop: Arc<AtomicBool>,
) -> Result<(), ServeError> {
    let listen_error = |source| web::WebError::Listen {
        address: listen,
        source,
    };
    listener.set_nonblocking(true).map_err(listen_error)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .thread_name("serve-http")
        .enable_all()
        .build()
        .map_err(|source| web::WebError::Runtime { source })?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(listener).map_err(listen_error)?;
        web::server::run(listener, context, stop).await;
        Ok::<_, web::WebError>(())
    })?;
    // Blocking tasks still running (a training request waiting for the
    // monitor) are not waited for.
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
