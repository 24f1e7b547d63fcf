//! The CPU path: the LSTM autoencoder's forward and backward written for its
//! shape (four gates in one matmul per step, the decoder's constant input
//! projected once per window, polynomial sigmoid/tanh that vectorise, the
//! batch split over the cores), compiled for AVX-512 and AVX2 and chosen at
//! run time. Stock burn on the CPU is about 5× slower than PyTorch here
//! (see benches/README.md), so burn drives only the GPU.
//!
//! - `weights`: the flat parameters' layout and the kernels' view of them.
//! - `kernels`: the matmuls.
//! - `maths`: the activations.
//! - `forward`: the forward passes (training and scoring).
//! - `backward`: the backward pass and the training step.
//! - here: run-time dispatch to the widest instruction set the CPU has.

mod backward;
mod forward;
mod kernels;
mod maths;
mod weights;

use super::model::LstmAe;
use backward::train_chunk_impl;
use forward::{forward_impl, score_chunk_impl};
use kernels::Portable;

pub use forward::Workspace;
pub use kernels::{Fused, FusedWide, MulAdd, Plain};
pub use maths::exp_approx;
pub use weights::{Layout, Weights};

macro_rules! dispatch {
    ($name:ident, $impl_fn:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        pub fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn avx512($($arg: $ty),*) -> $ret {
                    $impl_fn::<FusedWide>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) -> $ret {
                    $impl_fn::<Fused>($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU was just checked for these features.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU was just checked for these features.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $impl_fn::<Portable>($($arg),*)
        }
    };
}

dispatch!(train_chunk, train_chunk_impl,
    (w: &Weights, x: &[f32], b: usize, loss_count: usize, ws: &mut Workspace, grad: &mut [f32]) -> f64);
dispatch!(score_chunk, score_chunk_impl,
    (w: &Weights, x: &[f32], b: usize, ws: &mut Workspace, errors: &mut [f32], feature_errors: &mut [f32]) -> ());
dispatch!(forward, forward_impl, (w: &Weights, x: &[f32], b: usize, ws: &mut Workspace) -> ());

/// The instruction set the dispatcher picks on this CPU.
pub fn simd_level() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return "avx2";
        }
    }
    "portable"
}

/// A model's flat parameters with their layout.
pub fn flat_params(model: &LstmAe) -> (Layout, Vec<f32>) {
    (Layout::new(model.config), model.to_flat())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::model::ModelConfig;

    pub(super) fn tiny() -> (ModelConfig, Vec<f32>, usize) {
        let config = ModelConfig {
            n_features: 2,
            hidden_size: 5,
            sequence_length: 4,
        };
        let b = 3;
        let mut rng = crate::data::rng::Rng::new(3);
        let x: Vec<f32> = (0..config.sequence_length * b * config.n_features)
            .map(|_| rng.uniform() as f32)
            .collect();
        (config, x, b)
    }

    #[test]
    fn dispatched_and_portable_paths_agree() {
        let (config, x, b) = tiny();
        let (layout, params) = flat_params(&config.init(5));
        let w = Weights::new(layout, &params);
        let mut fast = vec![0.0; layout.len()];
        let mut portable = vec![0.0; layout.len()];
        let l1 = train_chunk(&w, &x, b, x.len(), &mut Workspace::default(), &mut fast);
        let l2 =
            train_chunk_impl::<Plain>(&w, &x, b, x.len(), &mut Workspace::default(), &mut portable);
        assert!((l1 - l2).abs() < 1e-5 * l1.max(1e-9));
        for (a, p) in fast.iter().zip(&portable) {
            assert!((a - p).abs() < 1e-5, "{a} vs {p}");
        }
    }
}
