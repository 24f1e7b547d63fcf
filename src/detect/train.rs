//! Training as a job: shuffled mini-batches, Adam, progress events, and
//! cancellation checked between batches. Also batch scoring of windows.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::cpu::{self, Layout, Weights, Workspace};
use super::model::LstmAe;
use super::windows::WindowSet;
use crate::data::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
    /// Worker threads the batch is split over (≥ 1).
    pub threads: usize,
}

/// A progress event, sent after every batch.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainProgress {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// 1-based, within the epoch.
    pub batch: usize,
    pub batches: usize,
    /// Mean loss of the epoch's batches so far.
    pub loss: f64,
    pub windows_per_sec: f64,
    pub eta: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    /// Mean batch loss of the last full epoch.
    pub final_loss: f64,
    pub epoch_losses: Vec<f64>,
    pub epochs_run: usize,
    pub cancelled: bool,
    pub duration: Duration,
}

/// Adam with PyTorch's defaults (β = 0.9, 0.999; ε = 1e-8).
struct Adam {
    lr: f64,
    m: Vec<f32>,
    v: Vec<f32>,
    step: i32,
}

impl Adam {
    fn new(n: usize, lr: f64) -> Self {
        Self {
            lr,
            m: vec![0.0; n],
            v: vec![0.0; n],
            step: 0,
        }
    }

    fn update(&mut self, params: &mut [f32], grad: &[f32]) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.step += 1;
        let c1 = 1.0 - B1.powi(self.step);
        let c2 = 1.0 - B2.powi(self.step);
        let lr = self.lr as f32;
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grad)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            *m = B1 * *m + (1.0 - B1) * g;
            *v = B2 * *v + (1.0 - B2) * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + 1e-8);
        }
    }
}

/// Shuffles the windows for the next epoch: Fisher–Yates with the seeded
/// generator, so every path (CPU, GPU) sees the same batches in every run.
pub fn epoch_order(rng: &mut Rng, order: &mut [usize]) {
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
}

/// Splits `0..n` into `parts` contiguous ranges of near-equal size.
fn split(n: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    (0..parts)
        .map(|p| (n * p / parts)..(n * (p + 1) / parts))
        .filter(|r| !r.is_empty())
        .collect()
}

/// The epoch and batch loop every trainer shares: the seeded shuffle, the
/// cancel check before each batch, progress events and the loss record.
/// `step` trains on one batch (window starts) and returns its mean loss.
pub fn run_epochs(
    windows: &WindowSet,
    settings: &TrainSettings,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
    mut step: impl FnMut(&[usize]) -> f64,
) -> TrainOutcome {
    let started = Instant::now();
    let mut rng = Rng::new(settings.seed);
    let mut order = windows.starts.clone();
    let batch_size = settings.batch_size.max(1);
    let batches = order.len().div_ceil(batch_size);
    let total_windows = order.len() * settings.epochs;
    let mut epoch_losses = Vec::new();
    let mut cancelled = false;
    let mut windows_done = 0usize;
    'epochs: for epoch in 0..settings.epochs {
        epoch_order(&mut rng, &mut order);
        let mut loss_sum = 0.0;
        for (batch_index, batch) in order.chunks(batch_size).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                cancelled = true;
                break 'epochs;
            }
            loss_sum += step(batch);
            windows_done += batch.len();
            let rate = windows_done as f64 / started.elapsed().as_secs_f64().max(1e-9);
            progress(&TrainProgress {
                epoch: epoch + 1,
                epochs: settings.epochs,
                batch: batch_index + 1,
                batches,
                loss: loss_sum / (batch_index + 1) as f64,
                windows_per_sec: rate,
                eta: Duration::from_secs_f64(
                    total_windows.saturating_sub(windows_done) as f64 / rate.max(1e-9),
                ),
            });
        }
        epoch_losses.push(loss_sum / batches.max(1) as f64);
    }
    TrainOutcome {
        final_loss: epoch_losses.last().copied().unwrap_or(f64::NAN),
        epochs_run: epoch_losses.len(),
        epoch_losses,
        cancelled,
        duration: started.elapsed(),
    }
}

/// Trains `model` in place on the CPU. `progress` is called after every
/// batch; `cancel` is checked before every batch, so a cancel stops within
/// one batch (the model then holds the last completed update).
pub fn train_cpu(
    model: &mut LstmAe,
    windows: &WindowSet,
    settings: &TrainSettings,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> TrainOutcome {
    let (layout, mut params) = cpu::flat_params(model);
    let mut adam = Adam::new(params.len(), settings.learning_rate);
    let threads = settings.threads.max(1);
    let mut workspaces: Vec<Workspace> = (0..threads).map(|_| Workspace::default()).collect();
    let mut inputs: Vec<Vec<f32>> = vec![Vec::new(); threads];
    let mut grads: Vec<Vec<f32>> = vec![vec![0.0; layout.len()]; threads];
    let outcome = run_epochs(windows, settings, progress, cancel, |batch| {
        let loss_count = batch.len() * windows.length * windows.features;
        let weights = Weights::new(layout, &params);
        let parts = split(batch.len(), threads);
        let mut batch_loss = 0.0;
        std::thread::scope(|scope| {
            let mut handles = Vec::new();
            for (((range, ws), input), grad) in parts
                .iter()
                .zip(workspaces.iter_mut())
                .zip(inputs.iter_mut())
                .zip(grads.iter_mut())
            {
                let weights = &weights;
                let starts = &batch[range.clone()];
                let work = move || {
                    windows.gather(starts, input);
                    grad.fill(0.0);
                    cpu::train_chunk(weights, input, starts.len(), loss_count, ws, grad)
                };
                handles.push(scope.spawn(work));
            }
            for handle in handles {
                // A panic in a worker is a bug; surface it where it happened.
                batch_loss += handle
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e));
            }
        });
        let (first, rest) = grads.split_at_mut(1);
        for other in rest.iter().take(parts.len().saturating_sub(1)) {
            for (a, b) in first[0].iter_mut().zip(other) {
                *a += b;
            }
        }
        drop(weights);
        adam.update(&mut params, &first[0]);
        batch_loss / loss_count as f64
    });
    if let Some(trained) = LstmAe::from_flat(model.config, &params) {
        *model = trained;
    }
    outcome
}

/// Reconstruction error of every usable window (mean over rows × features)
/// and its per-feature sums `[windows × features]`, on `threads` threads.
pub fn score_windows(model: &LstmAe, windows: &WindowSet, threads: usize) -> (Vec<f32>, Vec<f32>) {
    const CHUNK: usize = 128;
    let layout = Layout::new(model.config);
    let params = model.to_flat();
    let weights = Weights::new(layout, &params);
    let n = windows.starts.len();
    let f = windows.features;
    let mut errors = vec![0.0f32; n];
    let mut feature_errors = vec![0.0f32; n * f];
    let parts = split(n, threads);
    let mut error_parts: Vec<&mut [f32]> = Vec::new();
    let mut feature_parts: Vec<&mut [f32]> = Vec::new();
    let (mut e_rest, mut f_rest) = (&mut errors[..], &mut feature_errors[..]);
    for range in &parts {
        let (e, er) = e_rest.split_at_mut(range.len());
        let (fe, fr) = f_rest.split_at_mut(range.len() * f);
        error_parts.push(e);
        feature_parts.push(fe);
        e_rest = er;
        f_rest = fr;
    }
    std::thread::scope(|scope| {
        for ((range, e), fe) in parts.iter().zip(error_parts).zip(feature_parts) {
            let weights = &weights;
            let starts = &windows.starts[range.clone()];
            scope.spawn(move || {
                let mut ws = Workspace::default();
                let mut input = Vec::new();
                for (i, chunk) in starts.chunks(CHUNK).enumerate() {
                    windows.gather(chunk, &mut input);
                    let at = i * CHUNK;
                    cpu::score_chunk(
                        weights,
                        &input,
                        chunk.len(),
                        &mut ws,
                        &mut e[at..at + chunk.len()],
                        &mut fe[at * f..(at + chunk.len()) * f],
                    );
                }
            });
        }
    });
    (errors, feature_errors)
}

/// The number of worker threads to use: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
