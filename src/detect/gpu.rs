//! The GPU path: the same LSTM autoencoder (same weights layout, same
//! initial weights, same batches) in burn on wgpu, trained with burn's
//! autodiff and Adam. Adapters are found with wgpu directly, so PulseWatch
//! can say which card it uses and treat software rasterisers (llvmpipe,
//! lavapipe) as "no GPU" for `device: gpu`. Only `device: gpu` takes this
//! path: on a real card it is slower than the CPU path for this model (see
//! `resolve_device`).

use std::sync::atomic::AtomicBool;

use burn::module::{Module, Param};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, DeviceKind, Tensor, TensorData, activation};
// wgpu as burn re-exports it (the same crate eframe uses), so the GPU path
// builds without the `gui` feature.
use burn::tensor::wgpu::wgpu;

use super::model::{LinearLayer, LstmAe, LstmLayer, ModelConfig};
use super::train::{TrainOutcome, TrainProgress, TrainSettings, run_epochs};
use super::windows::WindowSet;

/// A wgpu adapter as PulseWatch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    pub name: String,
    pub backend: String,
    /// A software rasteriser (lavapipe, llvmpipe, WARP): usable, not fast.
    pub software: bool,
}

impl std::fmt::Display for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} via {}", self.name, self.backend)
    }
}

/// Every Vulkan, Metal or DX12 adapter wgpu finds, hardware first (burn
/// runs on those; probing GL would only add noise on a headless box).
pub fn adapters() -> Vec<Adapter> {
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let mut found: Vec<Adapter> =
        pollster_block_on(instance.enumerate_adapters(wgpu::Backends::PRIMARY))
            .iter()
            .map(|a| {
                let info = a.get_info();
                Adapter {
                    name: info.name.clone(),
                    backend: format!("{:?}", info.backend),
                    software: info.device_type == wgpu::DeviceType::Cpu,
                }
            })
            .collect();
    found.sort_by_key(|a| a.software);
    found
}

/// Runs a future that completes without waiting on I/O (adapter listing).
fn pollster_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(value) = future.as_mut().poll(&mut context) {
            return value;
        }
        std::thread::yield_now();
    }
}

/// The burn device for an adapter choice: the best hardware GPU, or the
/// software (CPU) adapter when `software` is set (tests on lavapipe).
pub fn burn_device(software: bool) -> Device {
    if software {
        Device::wgpu(DeviceKind::Cpu)
    } else {
        Device::wgpu(DeviceKind::DefaultDevice)
    }
}

#[derive(Module, Debug)]
struct BurnLstm {
    w_x: Param<Tensor<2>>,
    w_h: Param<Tensor<2>>,
    b_x: Param<Tensor<1>>,
    b_h: Param<Tensor<1>>,
    hidden: usize,
}

#[derive(Module, Debug)]
struct BurnLstmAe {
    encoder: BurnLstm,
    decoder: BurnLstm,
    out_w: Param<Tensor<2>>,
    out_b: Param<Tensor<1>>,
    n_features: usize,
    sequence_length: usize,
}

fn param2(values: &[f32], rows: usize, cols: usize, device: &Device) -> Param<Tensor<2>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(values.to_vec(), [rows, cols]),
        device,
    ))
}

fn param1(values: &[f32], device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::from_data(
        TensorData::new(values.to_vec(), [values.len()]),
        device,
    ))
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap_or_default()
}

impl BurnLstm {
    fn from_layer(layer: &LstmLayer, device: &Device) -> Self {
        let gates = 4 * layer.hidden;
        Self {
            w_x: param2(&layer.w_x, layer.input, gates, device),
            w_h: param2(&layer.w_h, layer.hidden, gates, device),
            b_x: param1(&layer.b_x, device),
            b_h: param1(&layer.b_h, device),
            hidden: layer.hidden,
        }
    }

    fn to_layer(&self) -> LstmLayer {
        let [input, _] = self.w_x.val().dims();
        LstmLayer {
            input,
            hidden: self.hidden,
            w_x: values(self.w_x.val()),
            w_h: values(self.w_h.val()),
            b_x: values(self.b_x.val()),
            b_h: values(self.b_h.val()),
        }
    }

    /// One step from gate pre-activations `z` `[b, 4h]` and the cell state.
    fn cell(&self, z: Tensor<2>, c: Option<Tensor<2>>) -> (Tensor<2>, Tensor<2>) {
        let h = self.hidden;
        let i = activation::sigmoid(z.clone().narrow(1, 0, h));
        let f = activation::sigmoid(z.clone().narrow(1, h, h));
        let g = z.clone().narrow(1, 2 * h, h).tanh();
        let o = activation::sigmoid(z.narrow(1, 3 * h, h));
        let c = match c {
            Some(c) => f * c + i * g,
            None => i * g,
        };
        let hidden = o * c.clone().tanh();
        (hidden, c)
    }

    fn bias(&self) -> Tensor<2> {
        (self.b_x.val() + self.b_h.val()).unsqueeze_dim(0)
    }
}

impl BurnLstmAe {
    fn from_model(model: &LstmAe, device: &Device) -> Self {
        Self {
            encoder: BurnLstm::from_layer(&model.encoder, device),
            decoder: BurnLstm::from_layer(&model.decoder, device),
            out_w: param2(
                &model.output.w,
                model.output.input,
                model.output.output,
                device,
            ),
            out_b: param1(&model.output.b, device),
            n_features: model.config.n_features,
            sequence_length: model.config.sequence_length,
        }
    }

    fn to_model(&self, config: ModelConfig) -> LstmAe {
        LstmAe {
            config,
            encoder: self.encoder.to_layer(),
            decoder: self.decoder.to_layer(),
            output: LinearLayer {
                input: config.hidden_size,
                output: config.n_features,
                w: values(self.out_w.val()),
                b: values(self.out_b.val()),
            },
        }
    }

    /// `x` is time-major `[steps, b, f]`; returns the reconstruction, same shape.
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [steps, b, f] = x.dims();
        let enc_bias = self.encoder.bias();
        let mut state: Option<(Tensor<2>, Tensor<2>)> = None;
        for t in 0..steps {
            let x_t = x.clone().narrow(0, t, 1).reshape([b, f]);
            let mut z = x_t.matmul(self.encoder.w_x.val()) + enc_bias.clone();
            if let Some((h, _)) = &state {
                z = z + h.clone().matmul(self.encoder.w_h.val());
            }
            let (h, c) = self.encoder.cell(z, state.map(|(_, c)| c));
            state = Some((h, c));
        }
        let Some((latent, _)) = state else {
            return x;
        };
        // The decoder's input is the latent at every step: project it once.
        let projected = latent.matmul(self.decoder.w_x.val()) + self.decoder.bias();
        let mut hidden = Vec::with_capacity(steps);
        let mut state: Option<(Tensor<2>, Tensor<2>)> = None;
        for _ in 0..steps {
            let z = match &state {
                Some((h, _)) => projected.clone() + h.clone().matmul(self.decoder.w_h.val()),
                None => projected.clone(),
            };
            let (h, c) = self.decoder.cell(z, state.map(|(_, c)| c));
            hidden.push(h.clone());
            state = Some((h, c));
        }
        let h_all: Tensor<3> = Tensor::stack(hidden, 0);
        let hidden_size = self.decoder.hidden;
        let y = h_all
            .reshape([steps * b, hidden_size])
            .matmul(self.out_w.val())
            + self.out_b.val().unsqueeze_dim(0);
        y.reshape([steps, b, self.n_features])
    }
}

fn batch_tensor(
    windows: &WindowSet,
    starts: &[usize],
    buffer: &mut Vec<f32>,
    device: &Device,
) -> Tensor<3> {
    windows.gather(starts, buffer);
    Tensor::from_data(
        TensorData::new(
            buffer.clone(),
            [windows.length, starts.len(), windows.features],
        ),
        device,
    )
}

/// Trains on `device` (an autodiff wgpu device is made from it) with the same
/// batches as the CPU trainer; `model` is replaced by the result.
pub fn train_gpu(
    model: &mut LstmAe,
    windows: &WindowSet,
    settings: &TrainSettings,
    device: &Device,
    progress: &mut dyn FnMut(&TrainProgress),
    cancel: &AtomicBool,
) -> TrainOutcome {
    let autodiff = device.clone().autodiff();
    let mut net = Some(BurnLstmAe::from_model(model, &autodiff));
    let mut optimizer = AdamConfig::new()
        .with_beta_1(0.9)
        .with_beta_2(0.999)
        .with_epsilon(1e-8)
        .init();
    let mut buffer = Vec::new();
    let outcome = run_epochs(windows, settings, progress, cancel, |batch| {
        let Some(current) = net.take() else {
            return f64::NAN;
        };
        let x = batch_tensor(windows, batch, &mut buffer, &autodiff);
        let y = current.forward(x.clone());
        let loss = (y - x).powf_scalar(2.0).mean();
        let loss_value = f64::from(values(loss.clone()).first().copied().unwrap_or(f32::NAN));
        let grads = GradientsParams::from_grads(loss.backward(), &current);
        net = Some(optimizer.step(settings.learning_rate, current, grads));
        loss_value
    });
    if let Some(net) = net {
        *model = net.to_model(model.config);
    }
    outcome
}

/// Window errors and per-feature sums, as [`super::train::score_windows`]
/// computes them, on `device`.
pub fn score_windows_gpu(
    model: &LstmAe,
    windows: &WindowSet,
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    const CHUNK: usize = 4096;
    let net = BurnLstmAe::from_model(model, device);
    let (steps, f) = (windows.length, windows.features);
    let mut errors = Vec::with_capacity(windows.starts.len());
    let mut feature_errors = Vec::with_capacity(windows.starts.len() * f);
    let mut buffer = Vec::new();
    for chunk in windows.starts.chunks(CHUNK) {
        let x = batch_tensor(windows, chunk, &mut buffer, device);
        let y = net.forward(x.clone());
        // [steps, b, f] → per window and feature: Σ over steps.
        let squared = (y - x).powf_scalar(2.0);
        let per_feature: Tensor<2> = squared.sum_dim(0).reshape([chunk.len(), f]);
        let sums = values(per_feature);
        for window in sums.chunks_exact(f) {
            errors.push(window.iter().sum::<f32>() / (steps * f) as f32);
            feature_errors.extend_from_slice(window);
        }
    }
    (errors, feature_errors)
}
