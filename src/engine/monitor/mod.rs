//! The one live engine: the owner of a data set that the window and the
//! daemon both use. It takes frames (from Prometheus, a file, or Test mode's
//! spiked sample), runs the online detector, the autoencoder and the
//! forecast, fuses them into marks and events by one rule ([`fuse`]),
//! refits and retrains by one rule, records live events once ([`tracker`])
//! and reports a [`View`] over a bounded channel. The window draws what it
//! says; `serve` exports it.
//!
//! It runs on its own thread (`monitor`); fits and trainings run on their
//! own workers, the Prometheus poller on its own thread, so a slow fit or a
//! dead server never holds up a refresh, and the owner never waits on it.

mod entities;
mod entity_training;
pub mod fuse;
mod online;
mod persist;
mod recording;
mod score_trail;
mod state;
pub mod tracker;
mod training_rows;
mod view;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use crate::config::Config;
use crate::data::MetricFrame;
use crate::engine::schedule::{RetrainReason, StartError};
use crate::engine::{EngineError, LiveEvent, LiveJob, LivePlan};

pub use fuse::{Assessment, LstmView, MetricAssessment, OnlineInput, OnlineScores, assess};
pub use online::{OnlineState, Restored, StateError};
pub use state::{MonitorOptions, reason_class};
pub use tracker::EventChanges;
pub use training_rows::TrainingRows;
pub use view::{
    ActiveModel, DataKind, EntityModels, FleetStatus, ForecastState, LiveStatus, ModelState,
    Update, View,
};

use state::Monitor;

/// How often the monitor looks at its workers when nothing else happens.
const POLL: Duration = Duration::from_millis(25);

/// How long a stopping monitor waits for a training save to finish.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// What the owner asks of the monitor.
#[derive(Debug)]
pub enum Command {
    /// Judge this data set (a file, the sample, Test mode's spiked data);
    /// stops following Prometheus.
    Show {
        frame: MetricFrame,
        kind: DataKind,
        label: String,
        warnings: Vec<String>,
    },
    /// Follow Prometheus (`prometheus` and `metrics` of the config), every
    /// `dashboard.refresh_interval`; restarts the poll when already
    /// following.
    FollowLive,
    /// Stop following Prometheus (the last frame stays in view).
    StopLive,
    /// Train on the frame in view; the job id (or why not) is sent back.
    Train {
        reason: RetrainReason,
        reply: Option<SyncSender<Result<u64, StartError>>>,
    },
    CancelTraining,
    /// Mark at this autoencoder threshold (None: the model's own).
    SetThreshold(Option<f64>),
    SetShowForecast(bool),
    /// New settings: trainings, fits and polls use them from now on.
    Configure(Box<Config>),
    /// Finish: a training in progress saves (or is cancelled within a
    /// batch), live events going on are closed.
    Stop,
}

/// The owner's end: commands in, updates out.
pub struct MonitorHandle {
    commands: SyncSender<Command>,
    pub updates: Receiver<Update>,
    /// Commands sent so far (an update that has taken them all is current).
    sent: u64,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("sent", &self.sent)
            .finish()
    }
}

impl MonitorHandle {
    /// Sends a command; false when the monitor is gone or its queue is full
    /// (it takes 64; a full queue means it is far behind).
    pub fn send(&mut self, command: Command) -> bool {
        match self.commands.try_send(command) {
            Ok(()) => {
                self.sent += 1;
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// Commands sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// A sender for other threads (the daemon's HTTP side), whose commands
    /// are not counted.
    pub fn sender(&self) -> SyncSender<Command> {
        self.commands.clone()
    }

    /// Stops the monitor and waits for it: a training in progress finishes
    /// its save (or is cancelled within a batch), open events are closed.
    /// Returns the updates it sent meanwhile (the last says how it ended).
    pub fn stop(mut self) -> Result<Vec<Update>, EngineError> {
        let Some(thread) = self.thread.take() else {
            return Ok(Vec::new());
        };
        let updates = std::mem::replace(&mut self.updates, sync_channel(1).1);
        // Other senders (the daemon's HTTP side) may still hold the channel:
        // say so. A full queue or a gone monitor: dropping ours is the
        // signal once theirs are gone too.
        let _ = self.commands.try_send(Command::Stop);
        drop(self);
        let mut last = Vec::new();
        while !thread.is_finished() {
            if let Ok(update) = updates.recv_timeout(POLL) {
                last.push(update);
            }
        }
        last.extend(updates.try_iter());
        thread.join().map_err(|_| EngineError {
            job: "monitor",
            reason: "the monitor thread panicked while stopping".into(),
        })?;
        Ok(last)
    }
}

/// Starts the monitor on its thread. `wake` runs after every update (the
/// window's `request_repaint`).
pub fn spawn(
    options: MonitorOptions,
    wake: impl Fn() + Send + 'static,
) -> Result<MonitorHandle, EngineError> {
    let (commands, inbox) = sync_channel::<Command>(64);
    let (outbox, updates) = sync_channel::<Update>(8);
    let thread = std::thread::Builder::new()
        .name("monitor".into())
        .spawn(move || {
            crate::priority::lower_this_thread();
            run(options, &inbox, &outbox, &wake)
        })
        .map_err(|e| EngineError {
            job: "monitor",
            reason: e.to_string(),
        })?;
    Ok(MonitorHandle {
        commands,
        updates,
        sent: 0,
        thread: Some(thread),
    })
}

/// The monitor's loop: commands, live frames, fits and trainings, each
/// taken as it comes; an update after anything changed.
fn run(
    options: MonitorOptions,
    inbox: &Receiver<Command>,
    outbox: &SyncSender<Update>,
    wake: &dyn Fn(),
) {
    let mut monitor = Monitor::new(options);
    let mut live: Option<LiveJob> = None;
    let mut done = 0_u64;
    'running: loop {
        match inbox.recv_timeout(POLL) {
            Ok(first) => {
                // Take every command queued before reporting.
                for command in std::iter::once(first).chain(inbox.try_iter()) {
                    if matches!(command, Command::Stop) {
                        break 'running;
                    }
                    apply(&mut monitor, &mut live, command);
                    done += 1;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if let Some(job) = &live {
            poll_live(&mut monitor, job);
        }
        monitor.poll_fit();
        monitor.poll_training();
        if monitor.dirty || !monitor.notes.is_empty() {
            if outbox.send(report(&mut monitor, done)).is_err() {
                break;
            }
            wake();
        }
    }
    drop(live);
    if let Some(finished) = monitor.keeper.shutdown(SHUTDOWN_WAIT) {
        monitor.training_finished(finished);
    }
    if monitor.kind == DataKind::Live {
        monitor.save_state(true);
    }
    monitor.close_open_events();
    // The owner may still read this (see `MonitorHandle::stop`).
    let _ = outbox.try_send(report(&mut monitor, done));
}

fn report(monitor: &mut Monitor, done: u64) -> Update {
    monitor.dirty = false;
    Update {
        commands_done: done,
        view: Arc::new(monitor.view()),
        changes: std::mem::take(&mut monitor.changes),
        notes: std::mem::take(&mut monitor.notes),
    }
}

fn apply(monitor: &mut Monitor, live: &mut Option<LiveJob>, command: Command) {
    match command {
        Command::Show {
            frame,
            kind,
            label,
            warnings,
        } => {
            *live = None;
            monitor.live = None;
            monitor.warnings = warnings;
            monitor.set_frame(Arc::new(frame), kind, label);
        }
        Command::FollowLive => {
            let config = monitor.config();
            let plan = LivePlan {
                prometheus: config.prometheus.clone(),
                metrics: config.metrics.clone(),
                fleet: config.fleet.clone(),
                shard: monitor.options.shard,
                refresh: config.dashboard.refresh_interval,
                warmup: monitor.live_warmup(),
            };
            let job = crate::engine::spawn_live(plan, Arc::clone(&monitor.options.clock), || {});
            match job {
                Ok(job) => {
                    *live = Some(job);
                    monitor.live = Some(LiveStatus::Connecting);
                }
                Err(error) => {
                    *live = None;
                    monitor.live = Some(LiveStatus::Down {
                        reason: error.to_string(),
                        retry_at_ms: i64::MAX,
                    });
                }
            }
            monitor.dirty = true;
        }
        Command::StopLive => {
            *live = None;
            monitor.live = None;
            monitor.dirty = true;
        }
        Command::Train { reason, reply } => {
            let started = monitor.start_training(reason);
            if let Some(reply) = reply {
                // The asker gave up waiting: nothing to tell.
                let _ = reply.try_send(started);
            }
        }
        Command::CancelTraining => monitor.keeper.cancel(),
        Command::SetThreshold(threshold) => monitor.set_threshold(threshold),
        Command::SetShowForecast(show) => monitor.set_show_forecast(show),
        Command::Configure(config) => {
            let following = live.is_some();
            monitor.configure(*config);
            if following {
                apply(monitor, live, Command::FollowLive);
            }
        }
        // Taken by the loop before it gets here.
        Command::Stop => {}
    }
}

/// Takes the poller's news: the latest frame (older ones queued behind it
/// are superseded) or the latest failure.
fn poll_live(monitor: &mut Monitor, job: &LiveJob) {
    let mut latest = None;
    let mut failure = None;
    while let Ok(event) = job.events.try_recv() {
        match event {
            LiveEvent::Frame {
                frame,
                warnings,
                fetched_at_ms,
                stale,
                selection,
                warmup,
            } => {
                latest = Some((frame, warnings, fetched_at_ms, stale, selection));
                if warmup.is_some() {
                    monitor.pending_warmup = warmup;
                }
            }
            LiveEvent::Failed {
                reason,
                retry_at_ms,
            } => failure = Some((reason, retry_at_ms)),
        }
    }
    if let Some((reason, retry_at_ms)) = failure {
        monitor.fetch_failed(reason, retry_at_ms);
    }
    if let Some((frame, warnings, at_ms, stale, selection)) = latest {
        monitor.stale = stale;
        monitor.selection = selection;
        monitor.fetched(frame, warnings, at_ms);
    }
}
