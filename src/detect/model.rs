//! The one LSTM-autoencoder definition every path shares: hyperparameters,
//! weight shapes and layout, initialisation and the flat weights format.
//!
//! Encoder LSTM(n_features → hidden); its last hidden state repeated
//! `sequence_length` times into a decoder LSTM(hidden → hidden); a Linear
//! (hidden → n_features) per step. Same parameter count as PyTorch's
//! `nn.LSTM` + `nn.Linear` (13,283 for 3 features, hidden 32).
//!
//! Layout: weights are stored input-major (`[inputs × outputs]`, like burn's
//! `Linear`), the four gate blocks in PyTorch's order i, f, g, o along the
//! output axis. Both biases are kept, as PyTorch and burn have them.

use serde::{Deserialize, Serialize};

use crate::data::rng::Rng;

/// Hyperparameters, saved as JSON beside the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub n_features: usize,
    pub hidden_size: usize,
    pub sequence_length: usize,
}

impl ModelConfig {
    /// Builds a model with PyTorch's default initialisation (uniform in
    /// ±1/√hidden for the LSTMs, ±1/√fan_in for the Linear), seeded.
    pub fn init(&self, seed: u64) -> LstmAe {
        let mut rng = Rng::new(seed);
        let lstm_bound = 1.0 / (self.hidden_size as f32).sqrt();
        LstmAe {
            config: *self,
            encoder: LstmLayer::init(self.n_features, self.hidden_size, lstm_bound, &mut rng),
            decoder: LstmLayer::init(self.hidden_size, self.hidden_size, lstm_bound, &mut rng),
            output: LinearLayer::init(self.hidden_size, self.n_features, &mut rng),
        }
    }

    /// (features, hidden size, steps): the three sizes every kernel needs.
    pub fn dims(&self) -> (usize, usize, usize) {
        (self.n_features, self.hidden_size, self.sequence_length)
    }

    pub fn parameter_count(&self) -> usize {
        let lstm = |input: usize| 4 * self.hidden_size * (input + self.hidden_size + 2);
        lstm(self.n_features) + lstm(self.hidden_size) + (self.hidden_size + 1) * self.n_features
    }
}

fn uniform(n: usize, bound: f32, rng: &mut Rng) -> Vec<f32> {
    (0..n)
        .map(|_| ((rng.uniform() * 2.0 - 1.0) as f32) * bound)
        .collect()
}

/// One LSTM layer: z = x·w_x + b_x + h·w_h + b_h, gates i, f, g, o.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LstmLayer {
    pub input: usize,
    pub hidden: usize,
    /// `[input × 4·hidden]`
    pub w_x: Vec<f32>,
    /// `[hidden × 4·hidden]`
    pub w_h: Vec<f32>,
    /// `[4·hidden]`
    pub b_x: Vec<f32>,
    /// `[4·hidden]`
    pub b_h: Vec<f32>,
}

impl LstmLayer {
    fn init(input: usize, hidden: usize, bound: f32, rng: &mut Rng) -> Self {
        let gates = 4 * hidden;
        Self {
            input,
            hidden,
            w_x: uniform(input * gates, bound, rng),
            w_h: uniform(hidden * gates, bound, rng),
            b_x: uniform(gates, bound, rng),
            b_h: uniform(gates, bound, rng),
        }
    }
}

/// y = h·w + b.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearLayer {
    pub input: usize,
    pub output: usize,
    /// `[input × output]`
    pub w: Vec<f32>,
    /// `[output]`
    pub b: Vec<f32>,
}

impl LinearLayer {
    fn init(input: usize, output: usize, rng: &mut Rng) -> Self {
        let bound = 1.0 / (input as f32).sqrt();
        Self {
            input,
            output,
            w: uniform(input * output, bound, rng),
            b: uniform(output, bound, rng),
        }
    }
}

/// The model: plain arrays, so the CPU trainer, the burn (GPU) path and the
/// file format all read the same numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct LstmAe {
    pub config: ModelConfig,
    pub encoder: LstmLayer,
    pub decoder: LstmLayer,
    pub output: LinearLayer,
}

impl LstmAe {
    /// The parameter tensors in file order.
    pub fn tensors(&self) -> [&Vec<f32>; 10] {
        [
            &self.encoder.w_x,
            &self.encoder.w_h,
            &self.encoder.b_x,
            &self.encoder.b_h,
            &self.decoder.w_x,
            &self.decoder.w_h,
            &self.decoder.b_x,
            &self.decoder.b_h,
            &self.output.w,
            &self.output.b,
        ]
    }

    pub fn tensors_mut(&mut self) -> [&mut Vec<f32>; 10] {
        [
            &mut self.encoder.w_x,
            &mut self.encoder.w_h,
            &mut self.encoder.b_x,
            &mut self.encoder.b_h,
            &mut self.decoder.w_x,
            &mut self.decoder.w_h,
            &mut self.decoder.b_x,
            &mut self.decoder.b_h,
            &mut self.output.w,
            &mut self.output.b,
        ]
    }

    /// All parameters, flattened in file order.
    pub fn to_flat(&self) -> Vec<f32> {
        self.tensors()
            .iter()
            .flat_map(|t| t.iter().copied())
            .collect()
    }

    /// Rebuilds a model from flat parameters; `None` when the count is wrong.
    pub fn from_flat(config: ModelConfig, flat: &[f32]) -> Option<Self> {
        if flat.len() != config.parameter_count() {
            return None;
        }
        let mut model = config.init(0);
        let mut offset = 0;
        for tensor in model.tensors_mut() {
            let n = tensor.len();
            tensor.copy_from_slice(&flat[offset..offset + n]);
            offset += n;
        }
        Some(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_model_has_pytorchs_parameter_count() {
        let config = ModelConfig {
            n_features: 3,
            hidden_size: 32,
            sequence_length: 50,
        };
        assert_eq!(config.parameter_count(), 13_283);
        let model = config.init(7);
        assert_eq!(model.to_flat().len(), 13_283);
        assert_eq!(
            LstmAe::from_flat(config, &model.to_flat()),
            Some(model.clone())
        );
        assert!(LstmAe::from_flat(config, &[0.0; 3]).is_none());
        let bound = 1.0 / 32f32.sqrt();
        assert!(model.encoder.w_h.iter().all(|w| w.abs() <= bound));
        assert_ne!(config.init(8), model);
    }
}
