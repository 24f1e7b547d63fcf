//! The parameters as the kernels read them: the [`Layout`] of the ten
//! tensors in the flat vector, and [`Weights`], views of them with the
//! combined biases and the transposed copies the backward pass needs.

use crate::detect::model::ModelConfig;

/// Offsets of the ten parameter tensors in the flat vector (file order).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub config: ModelConfig,
    pub(super) offsets: [usize; 11],
}

impl Layout {
    pub fn new(config: ModelConfig) -> Self {
        let (f, h) = (config.n_features, config.hidden_size);
        let g = 4 * h;
        let sizes = [f * g, h * g, g, g, h * g, h * g, g, g, h * f, f];
        let mut offsets = [0; 11];
        for (i, size) in sizes.iter().enumerate() {
            offsets[i + 1] = offsets[i] + size;
        }
        Self { config, offsets }
    }

    pub fn len(&self) -> usize {
        self.offsets[10]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn range(&self, index: usize) -> std::ops::Range<usize> {
        self.offsets[index]..self.offsets[index + 1]
    }
}

/// Read-only views of the parameters plus the transposed copies the
/// backward pass multiplies with.
pub struct Weights<'a> {
    pub(super) layout: Layout,
    pub(super) enc_wx: &'a [f32],
    pub(super) enc_wh: &'a [f32],
    pub(super) dec_wx: &'a [f32],
    pub(super) dec_wh: &'a [f32],
    pub(super) out_w: &'a [f32],
    pub(super) out_b: &'a [f32],
    pub(super) enc_bias: Vec<f32>,
    pub(super) dec_bias: Vec<f32>,
    pub(super) enc_wh_t: Vec<f32>,
    pub(super) dec_wh_t: Vec<f32>,
    pub(super) dec_wx_t: Vec<f32>,
    pub(super) out_w_t: Vec<f32>,
}

fn transpose(rows: usize, cols: usize, m: &[f32]) -> Vec<f32> {
    let mut t = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = m[r * cols + c];
        }
    }
    t
}

impl<'a> Weights<'a> {
    pub fn new(layout: Layout, flat: &'a [f32]) -> Self {
        let (f, h) = (layout.config.n_features, layout.config.hidden_size);
        let g = 4 * h;
        let t = |i: usize| &flat[layout.range(i)];
        let add = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x + y).collect();
        Self {
            layout,
            enc_wx: t(0),
            enc_wh: t(1),
            dec_wx: t(4),
            dec_wh: t(5),
            out_w: t(8),
            out_b: t(9),
            enc_bias: add(t(2), t(3)),
            dec_bias: add(t(6), t(7)),
            enc_wh_t: transpose(h, g, t(1)),
            dec_wh_t: transpose(h, g, t(5)),
            dec_wx_t: transpose(h, g, t(4)),
            out_w_t: transpose(h, f, t(8)),
        }
    }
}
