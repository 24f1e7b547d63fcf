//! Jobs that run off the UI thread: each on a named worker thread, its result
//! sent back over a bounded channel, with a callback (the app's
//! `request_repaint`) when it lands.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};

use crate::config::{LstmConfig, MetricQuery, PrometheusConfig};
use crate::data::{self, CsvLoad, DataError, MetricFrame};
use crate::detect::store::SavedModel;
use crate::detect::train::{TrainOutcome, TrainProgress};
use crate::detect::{self, Scores};
use crate::forecast::{self, ForecastError, ForecastSettings, FrameForecast};
use crate::ingest::{PromClient, TimeRange};

/// A job could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {job} worker thread: {reason}")]
pub struct EngineError {
    pub job: &'static str,
    pub reason: String,
}

/// Forecasts `frame` on the `forecast` thread (which fans out one thread per
/// metric); the result arrives on the returned channel, then `wake` runs.
pub fn spawn_forecast(
    frame: MetricFrame,
    settings: ForecastSettings,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<Result<FrameForecast, ForecastError>>, EngineError> {
    let (sender, receiver) = sync_channel(1);
    std::thread::Builder::new()
        .name("forecast".into())
        .spawn(move || {
            let result = forecast::forecast_frame(&frame, &settings);
            // The receiver is gone when the window closed first: nothing to do.
            let _ = sender.send(result);
            wake();
        })
        .map_err(|e| EngineError {
            job: "forecast",
            reason: e.to_string(),
        })?;
    Ok(receiver)
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
        detect::train(frame, lstm, progress, cancel).map_err(|e| e.to_string())?;
    if outcome.cancelled || cancel.load(Ordering::Relaxed) {
        return Err("training was cancelled; the previous model stays".into());
    }
    let path =
        detect::store::save(save_dir, &saved.model, &saved.meta).map_err(|e| e.to_string())?;
    let scores = detect::score(&saved, frame).map_err(|e| e.to_string())?;
    Ok(TrainedModel {
        saved,
        outcome,
        scores,
        path,
    })
}

/// A saved model, loaded and used to score the data in view.
#[derive(Debug)]
pub struct LoadedModel {
    pub saved: SavedModel,
    pub scores: Scores,
}

/// What loading a model gives: `Ok(None)` when none has been saved yet.
pub type ModelLoad = Result<Option<Box<LoadedModel>>, String>;

/// Loads the model under `dir` and scores `frame` with it, on the `model`
/// thread. `Ok(None)`: there is no saved model yet.
pub fn spawn_model_load(
    dir: PathBuf,
    frame: MetricFrame,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<ModelLoad>, EngineError> {
    let (sender, receiver) = sync_channel(1);
    std::thread::Builder::new()
        .name("model".into())
        .spawn(move || {
            let result = if dir.join("current").is_dir() {
                detect::store::load(&dir)
                    .and_then(|saved| {
                        let scores = detect::score(&saved, &frame)?;
                        Ok(Some(Box::new(LoadedModel { saved, scores })))
                    })
                    .map_err(|e| e.to_string())
            } else {
                Ok(None)
            };
            let _ = sender.send(result);
            wake();
        })
        .map_err(|e| EngineError {
            job: "model",
            reason: e.to_string(),
        })?;
    Ok(receiver)
}

/// Reads a CSV file on the `csv` thread (a large file never stalls a frame).
pub fn spawn_csv_load(
    path: PathBuf,
    wake: impl FnOnce() + Send + 'static,
) -> Result<Receiver<Result<CsvLoad, DataError>>, EngineError> {
    let (sender, receiver) = sync_channel(1);
    std::thread::Builder::new()
        .name("csv".into())
        .spawn(move || {
            let _ = sender.send(data::read_csv(&path));
            wake();
        })
        .map_err(|e| EngineError {
            job: "csv",
            reason: e.to_string(),
        })?;
    Ok(receiver)
}

/// What the live poller reports.
#[derive(Debug)]
pub enum LiveEvent {
    /// The latest window, every configured metric merged.
    Frame {
        frame: MetricFrame,
        warnings: Vec<String>,
        fetched_at_ms: i64,
    },
    /// The fetch failed; the next try is in `retry_in`.
    Failed {
        reason: String,
        retry_in: std::time::Duration,
    },
}

/// A running live poll: its events and the flag that stops it.
#[derive(Debug)]
pub struct LiveJob {
    pub events: Receiver<LiveEvent>,
    pub stop: Arc<AtomicBool>,
}

impl Drop for LiveJob {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Polls Prometheus for `prometheus.window` of every metric every `refresh`
/// on the `live` thread (its own tokio runtime), until the job is dropped.
pub fn spawn_live(
    prometheus: PrometheusConfig,
    metrics: Vec<MetricQuery>,
    refresh: std::time::Duration,
    wake: impl Fn() + Send + 'static,
) -> Result<LiveJob, EngineError> {
    let fail = |reason: String| EngineError {
        job: "live",
        reason,
    };
    let client = PromClient::new(&prometheus).map_err(|e| fail(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let (sender, events) = sync_channel(4);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("live".into())
        .spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let event =
                    match TimeRange::window_ending(now_ms, prometheus.window, prometheus.step) {
                        None => LiveEvent::Failed {
                            reason: "prometheus.window holds no step".into(),
                            retry_in: refresh,
                        },
                        Some(range) => {
                            match runtime.block_on(client.fetch_metrics(&metrics, range)) {
                                Ok(fetched) => LiveEvent::Frame {
                                    frame: fetched.frame,
                                    warnings: fetched.warnings,
                                    fetched_at_ms: now_ms,
                                },
                                Err(error) => LiveEvent::Failed {
                                    reason: error.to_string(),
                                    retry_in: refresh,
                                },
                            }
                        }
                    };
                if sender.send(event).is_err() {
                    return;
                }
                wake();
                let until = std::time::Instant::now() + refresh;
                while std::time::Instant::now() < until && !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
            }
        })
        .map_err(|e| fail(e.to_string()))?;
    Ok(LiveJob { events, stop })
}
