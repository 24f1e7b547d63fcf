#![cfg(feature = "gpu")]

//! The burn/wgpu path against the CPU path on Mesa's software Vulkan
//! (lavapipe): same weights → same window errors; same data and batches →
//! the same training.

use std::sync::atomic::AtomicBool;

use pulsewatch::data;
use pulsewatch::detect::gpu;
use pulsewatch::detect::model::ModelConfig;
use pulsewatch::detect::train::{self, TrainSettings};
use pulsewatch::detect::windows::{MinMaxScaler, WindowSet};

fn windows(rows: usize, length: usize) -> WindowSet {
    let frame = data::generate_sample(&data::SampleSpec {
        rows,
        ..data::SampleSpec::default()
    });
    let scaler = MinMaxScaler::fit(&frame);
    WindowSet::new(scaler.transform(&frame), 3, length)
}

fn software_adapter_present() {
    let adapters = gpu::adapters();
    assert!(
        adapters.iter().any(|a| a.software),
        "no software Vulkan adapter (lavapipe) found: {adapters:?}; tests/run.sh installs \
         mesa-vulkan-drivers"
    );
}

#[test]
fn same_weights_give_the_same_window_errors_on_wgpu() {
    software_adapter_present();
    let config = ModelConfig {
        n_features: 3,
        hidden_size: 32,
        sequence_length: 50,
    };
    let model = config.init(42);
    let set = windows(400, 50);
    let (cpu_errors, cpu_features) = train::score_windows(&model, &set, 2);
    let (gpu_errors, gpu_features) = gpu::score_windows_gpu(&model, &set, &gpu::burn_device(true));
    assert_eq!(gpu_errors.len(), cpu_errors.len());
    let worst = cpu_errors
        .iter()
        .zip(&gpu_errors)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "window errors differ by up to {worst}");
    let worst_feature = cpu_features
        .iter()
        .zip(&gpu_features)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst_feature < 1e-2,
        "per-feature sums differ by up to {worst_feature}"
    );
}

#[test]
fn same_batches_train_the_same_model_on_wgpu() {
    software_adapter_present();
    let config = ModelConfig {
        n_features: 3,
        hidden_size: 8,
        sequence_length: 10,
    };
    let set = windows(170, 10);
    let settings = TrainSettings {
        epochs: 2,
        batch_size: 32,
        learning_rate: 0.01,
        seed: 9,
        threads: 2,
    };
    let cancel = AtomicBool::new(false);
    let mut on_cpu = config.init(5);
    let mut on_gpu = on_cpu.clone();
    let cpu = train::train_cpu(&mut on_cpu, &set, &settings, &mut |_| {}, &cancel);
    let gpu = gpu::train_gpu(
        &mut on_gpu,
        &set,
        &settings,
        &gpu::burn_device(true),
        &mut |_| {},
        &cancel,
    );
    assert_eq!(cpu.epochs_run, 2);
    assert_eq!(gpu.epochs_run, 2);
    for (a, b) in cpu.epoch_losses.iter().zip(&gpu.epoch_losses) {
        assert!((a - b).abs() < 1e-4 * a.max(1.0), "epoch losses {a} vs {b}");
    }
    let worst = on_cpu
        .to_flat()
        .iter()
        .zip(on_gpu.to_flat())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-3,
        "weights differ by up to {worst} after 2 epochs"
    );
    // Training moved the weights: the comparison above is not vacuous.
    let moved = config
        .init(5)
        .to_flat()
        .iter()
        .zip(on_cpu.to_flat())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(moved > 1e-2, "training barely moved the weights ({moved})");
}
