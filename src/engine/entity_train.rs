//! Training a fleet's models per entity on a pool of named workers
//! (`train-0`, `train-1`, …): each worker takes the next entity, trains its
//! model on that entity's columns, saves it (atomically, under
//! [`crate::detect::entities::entity_dir`]) and reports it at once, so a
//! fleet's models come into use one by one while the rest train. The pool
//! runs beside the monitor and never holds up a refresh.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::config::LstmConfig;
use crate::data::MetricFrame;
use crate::detect::entities::{EntityColumns, entity_dir};
use crate::detect::{self, ComputeDevice};

use super::{EngineError, TrainedModel};

/// What the pool reports.
#[derive(Debug)]
pub enum EntityEvent {
    /// One entity's training ended: its model saved (and its columns of the
    /// frame scored), or why not (its previous model, if any, stays).
    Done {
        key: String,
        result: Result<Box<TrainedModel>, String>,
    },
    /// Every worker has stopped (all entities done, or cancelled).
    Finished { device: String },
}

/// A running pool: its events and the flag that cancels it.
#[derive(Debug)]
pub struct EntityTrainingJob {
    pub events: Receiver<EntityEvent>,
    pub cancel: Arc<AtomicBool>,
    /// How many entities it trains.
    pub entities: usize,
}

/// Trains one model per entity of `entities` on `frame`'s rows, on at most
/// `workers` threads (the CPU path gives each model one thread; the GPU
/// path, one worker: the device is shared). `wake` runs after every event.
pub fn spawn_entity_training(
    frame: Arc<MetricFrame>,
    entities: Vec<EntityColumns>,
    lstm: LstmConfig,
    save_dir: PathBuf,
    workers: usize,
    wake: impl Fn() + Send + Sync + 'static,
) -> Result<EntityTrainingJob, EngineError> {
    let count = entities.len();
    // Every Done and the Finished fit, so a worker never waits on the owner.
    let (sender, events) = sync_channel(count + 1);
    let cancel = Arc::new(AtomicBool::new(false));
    let cancel_flag = Arc::clone(&cancel);
    std::thread::Builder::new()
        .name("train".into())
        .spawn(move || {
            crate::priority::lower_this_thread();
            let device = match detect::resolve_device(lstm.device) {
                Ok(device) => device,
                Err(error) => {
                    for entity in &entities {
                        let _ = sender.send(EntityEvent::Done {
                            key: entity.key.clone(),
                            result: Err(error.to_string()),
                        });
                    }
                    let _ = sender.send(EntityEvent::Finished {
                        device: String::new(),
                    });
                    wake();
                    return;
                }
            };
            let workers = match device {
                ComputeDevice::Cpu { .. } => workers.clamp(1, count.max(1)),
                #[cfg(feature = "gpu")]
                ComputeDevice::Gpu { .. } => 1,
            };
            let pool = Pool {
                frame: &frame,
                entities: &entities,
                lstm: &lstm,
                save_dir: &save_dir,
                device: &device,
                next: AtomicUsize::new(0),
                cancel: &cancel_flag,
                sender: &sender,
                wake: &wake,
            };
            std::thread::scope(|scope| {
                for index in 0..workers {
                    let pool = &pool;
                    let spawned = std::thread::Builder::new()
                        .name(format!("train-{index}"))
                        .spawn_scoped(scope, move || pool.work());
                    // No thread to be had: this one works instead.
                    if spawned.is_err() {
                        pool.work();
                    }
                }
            });
            let _ = sender.send(EntityEvent::Finished {
                device: device.to_string(),
            });
            wake();
        })
        .map_err(|e| EngineError {
            job: "train",
            reason: e.to_string(),
        })?;
    Ok(EntityTrainingJob {
        events,
        cancel,
        entities: count,
    })
}

/// What the workers share.
struct Pool<'a, W> {
    frame: &'a MetricFrame,
    entities: &'a [EntityColumns],
    lstm: &'a LstmConfig,
    save_dir: &'a std::path::Path,
    device: &'a ComputeDevice,
    next: AtomicUsize,
    cancel: &'a AtomicBool,
    sender: &'a SyncSender<EntityEvent>,
    wake: &'a W,
}

impl<W: Fn() + Sync> Pool<'_, W> {
    fn work(&self) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(entity) = self.entities.get(index) else {
                return;
            };
            let result = if self.cancel.load(Ordering::Relaxed) {
                Err("training was cancelled".to_owned())
            } else {
                self.train(entity).map(Box::new)
            };
            let _ = self.sender.send(EntityEvent::Done {
                key: entity.key.clone(),
                result,
            });
            (self.wake)();
        }
    }

    fn train(&self, entity: &EntityColumns) -> Result<TrainedModel, String> {
        let frame = entity.frame_of(self.frame);
        let threads = match self.device {
            ComputeDevice::Cpu { .. } => 1,
            #[cfg(feature = "gpu")]
            ComputeDevice::Gpu { .. } => crate::detect::train::default_threads(),
        };
        let (mut saved, outcome) = detect::train_threads(
            &frame,
            self.lstm,
            self.device,
            threads,
            &mut |_| {},
            self.cancel,
        )
        .map_err(|e| e.to_string())?;
        if outcome.cancelled || self.cancel.load(Ordering::Relaxed) {
            return Err("training was cancelled".into());
        }
        saved.meta.entity = Some(entity.key.clone());
        let dir = entity_dir(self.save_dir, &entity.key);
        let path =
            detect::store::save(&dir, &saved.model, &saved.meta).map_err(|e| e.to_string())?;
        let scores = detect::score_frame(&saved, &frame).map_err(|e| e.to_string())?;
        Ok(TrainedModel {
            saved,
            outcome,
            scores,
            path,
        })
    }
}
