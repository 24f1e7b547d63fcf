//! The engine: the live [`monitor`] that the window and the daemon share,
//! the retraining rules ([`schedule`]), and the jobs that run off the
//! owner's thread, each on a named worker thread, its result sent back over
//! a bounded channel, with a callback (the window's `request_repaint`) when
//! it lands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

use crate::config::LstmConfig;
use crate::data::{self, CsvLoad, DataError, MetricFrame};
use crate::detect::store::SavedModel;
use crate::detect::train::{TrainOutcome, TrainProgress};
use crate::detect::{self, Scores};
use crate::forecast::{self, ForecastError, ForecastSettings, FrameForecast};

mod entity_train;
mod live;
pub mod monitor;
pub mod schedule;

pub use entity_train::{EntityEvent, EntityTrainingJob, spawn_entity_training};
pub use live::{LiveEvent, LiveJob, LivePlan, LiveWindow, WindowChange, spawn_live};

pub use schedule::{Clock, ManualClock, SystemClock};

/// A job could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {job} worker thread: {reason}")]
pub struct EngineError {
    pub job: &'static str,
    pub reason: String,
}

/// Runs `work` on a thread named `job`; its result arrives on the returned
/// channel (bounded, one slot), then `wake` runs.
fn spawn_job<T: Send + 'static>(
    job: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<T>, EngineError> {
    let (sender, receiver) = sync_channel(1);
    std::thread::Builder::new()
        .name(job.into())
        .spawn(move || {
            crate::priority::lower_this_thread();
            // The receiver is gone when the window closed first: nothing to do.
            let _ = sender.send(work());
            wake();
        })
        .map_err(|e| EngineError {
            job,
            reason: e.to_string(),
        })?;
    Ok(receiver)
}

/// Forecasts `frame` on the `forecast` thread (which fans the series out to
/// a pool of one worker per core); the result arrives on the returned channel, then `wake` runs.
pub fn spawn_forecast(
    frame: MetricFrame,
    settings: ForecastSettings,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<Result<FrameForecast, ForecastError>>, EngineError> {
    spawn_job(
        "forecast",
        move || forecast::forecast_frame(&frame, &settings),
        wake,
    )
}

/// What the training worker reports.
#[derive(Debug)]
pub enum TrainEvent {
    /// Sent at most every batch; dropped when the UI has not caught up (the
    /// next one carries newer numbers anyway).
    Progress(TrainProgress),
    /// The end: the model is saved and swapped in, or the reason it was not
    /// (the previous model stays).
    Finished(Result<Box<TrainedModel>, String>),
}

/// A model fresh from training, saved, with the frame it was trained on scored.
#[derive(Debug)]
pub struct TrainedModel {
    pub saved: SavedModel,
    pub outcome: TrainOutcome,
    pub scores: Scores,
    pub path: PathBuf,
}

/// A running training: its events and the flag that cancels it.
#[derive(Debug)]
pub struct TrainingJob {
    pub events: Receiver<TrainEvent>,
    pub cancel: Arc<AtomicBool>,
}

/// Trains the LSTM autoencoder on `frame` on the `train` thread, saves it to
/// `save_dir` (atomically: a failed save keeps the old model) and scores the
/// frame with it. `wake` runs after every event.
pub fn spawn_training(
    frame: MetricFrame,
    lstm: LstmConfig,
    save_dir: PathBuf,
    wake: impl Fn() + Send + 'static,
) -> Result<TrainingJob, EngineError> {
    let (sender, events) = sync_channel(16);
    let cancel = Arc::new(AtomicBool::new(false));
    let cancel_flag = Arc::clone(&cancel);
    std::thread::Builder::new()
        .name("train".into())
        .spawn(move || {
            crate::priority::lower_this_thread();
            let mut progress = |p: &TrainProgress| {
                if sender.try_send(TrainEvent::Progress(p.clone())).is_ok() {
                    wake();
                }
            };
            let result = train_and_save(&frame, &lstm, &save_dir, &mut progress, &cancel_flag);
            let _ = sender.send(TrainEvent::Finished(result.map(Box::new)));
            wake();
        })
        .map_err(|e| EngineError {
            job: "train",
            reason: e.to_string(),
        })?;
    Ok(TrainingJob { events, cancel })
}

fn train_and_save(
    frame: &MetricFrame,
    lstm: &LstmConfig,
    save_dir: &Path,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> Result<TrainedModel, String> {
    let (saved, outcome) =
        detect::train_model(frame, lstm, progress, cancel).map_err(|e| e.to_string())?;
    if outcome.cancelled || cancel.load(Ordering::Relaxed) {
        return Err("training was cancelled".into());
    }
    let path =
        detect::store::save(save_dir, &saved.model, &saved.meta).map_err(|e| e.to_string())?;
    let scores = detect::score_frame(&saved, frame).map_err(|e| e.to_string())?;
    Ok(TrainedModel {
        saved,
        outcome,
        scores,
        path,
    })
}

/// Reads a CSV file on the `csv` thread (a large file never stalls a frame).
pub fn spawn_csv_load(
    path: PathBuf,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<Result<CsvLoad, DataError>>, EngineError> {
    spawn_job("csv", move || data::read_csv(&path), wake)
}

/// What the window asks of the history database (the monitor writes it).
#[derive(Debug)]
pub enum HistoryRequest {
    /// Events overlapping `[from_ms, to_ms]` (Long-term mode).
    Load { from_ms: i64, to_ms: i64 },
}

/// What the history thread answers.
#[derive(Debug)]
pub enum HistoryReply {
    Events {
        from_ms: i64,
        to_ms: i64,
        events: Vec<crate::history::AnomalyEvent>,
    },
    /// A request failed: shown, then the app goes on without history.
    Failed(String),
}

/// The history database's own thread, so a busy database (the daemon
/// writing) never stalls the UI. The database is opened on first use;
/// requests queue on a bounded channel, replies come back on another and
/// `wake` runs after each.
pub struct HistoryJob {
    pub requests: std::sync::mpsc::SyncSender<HistoryRequest>,
    pub replies: Receiver<HistoryReply>,
}

pub fn spawn_history(
    path: PathBuf,
    wake: impl Fn() + Send + 'static,
) -> Result<HistoryJob, EngineError> {
    let (requests, inbox) = sync_channel::<HistoryRequest>(32);
    let (outbox, replies) = sync_channel(32);
    std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            let mut history = None;
            for request in inbox.iter() {
                if history.is_none() {
                    match crate::history::History::open(&path) {
                        Ok(opened) => history = Some(opened),
                        Err(error) => {
                            let _ = outbox.send(HistoryReply::Failed(error.to_string()));
                            wake();
                            continue;
                        }
                    }
                }
                let Some(db) = &history else { continue };
                let HistoryRequest::Load { from_ms, to_ms } = request;
                let reply = match db.events_between(from_ms, to_ms) {
                    Ok(events) => HistoryReply::Events {
                        from_ms,
                        to_ms,
                        events,
                    },
                    Err(error) => HistoryReply::Failed(error.to_string()),
                };
                // The window closed: nobody to tell.
                if outbox.send(reply).is_err() {
                    return;
                }
                wake();
            }
        })
        .map_err(|e| EngineError {
            job: "history",
            reason: e.to_string(),
        })?;
    Ok(HistoryJob { requests, replies })
}
