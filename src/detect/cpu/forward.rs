//! The forward passes: one LSTM layer through time keeping what the
//! backward pass needs, the autoencoder on a batch ([`Workspace`]), and the
//! lean scoring pass that keeps only the current step.

use super::backward::BackScratch;
use super::kernels::{MulAdd, gemm_acc, project_rows};
use super::maths::{activate_gates, tanh_approx};
use super::weights::Weights;

/// What the forward pass keeps for the backward pass, time-major.
#[derive(Default)]
pub(super) struct LayerTrace {
    /// Post-activation gates i, f, g, o: `[steps][b][4h]`.
    pub(super) gates: Vec<f32>,
    /// Cell states `[steps][b][h]`.
    pub(super) c: Vec<f32>,
    /// tanh of the cell states `[steps][b][h]`.
    pub(super) tc: Vec<f32>,
    /// Hidden states `[steps][b][h]`.
    pub(super) h: Vec<f32>,
}

impl LayerTrace {
    fn resize(&mut self, steps: usize, b: usize, h: usize) {
        self.gates.resize(steps * b * 4 * h, 0.0);
        self.c.resize(steps * b * h, 0.0);
        self.tc.resize(steps * b * h, 0.0);
        self.h.resize(steps * b * h, 0.0);
    }
}

/// The input part of a layer's gate pre-activations. An enum rather than a
/// closure: closures are not inlined into the target-feature wrappers, and
/// their matmuls would run without the wide instructions.
enum GateInput<'a> {
    /// x_t·w_x + bias for a time-major sequence x `[steps][b][features]`.
    Sequence {
        x: &'a [f32],
        features: usize,
        w_x: &'a [f32],
        bias: &'a [f32],
    },
    /// The same projected input `[b][4h]` at every step.
    Constant(&'a [f32]),
}

impl GateInput<'_> {
    #[inline(always)]
    fn write<M: MulAdd>(&self, t: usize, b: usize, g: usize, z: &mut [f32]) {
        match self {
            GateInput::Sequence {
                x,
                features,
                w_x,
                bias,
            } => {
                for row in z.chunks_exact_mut(g) {
                    row.copy_from_slice(bias);
                }
                let f = *features;
                gemm_acc::<M>(b, f, g, &x[t * b * f..(t + 1) * b * f], w_x, z);
            }
            GateInput::Constant(projected) => z.copy_from_slice(projected),
        }
    }
}

/// Forward through time. `input` gives the input part of the gate
/// pre-activations (x_t·w_x + biases) for step t into z `[b][4h]`.
#[inline(always)]
fn lstm_forward<M: MulAdd>(
    steps: usize,
    b: usize,
    h: usize,
    w_h: &[f32],
    trace: &mut LayerTrace,
    input: GateInput,
) {
    let g = 4 * h;
    for t in 0..steps {
        let z = &mut trace.gates[t * b * g..(t + 1) * b * g];
        input.write::<M>(t, b, g, z);
        if t > 0 {
            let h_prev = &trace.h[(t - 1) * b * h..t * b * h];
            gemm_acc::<M>(b, h, g, h_prev, w_h, z);
        }
        for row in z.chunks_exact_mut(g) {
            activate_gates(row, h);
        }
        let (c_done, c_rest) = trace.c.split_at_mut(t * b * h);
        let c_now = &mut c_rest[..b * h];
        let tc_now = &mut trace.tc[t * b * h..(t + 1) * b * h];
        let h_now = &mut trace.h[t * b * h..(t + 1) * b * h];
        for s in 0..b {
            let gates = &z[s * g..(s + 1) * g];
            let (i, rest) = gates.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (gg, o) = rest.split_at(h);
            let c_row = &mut c_now[s * h..(s + 1) * h];
            if t > 0 {
                let c_prev = &c_done[(t - 1) * b * h + s * h..(t - 1) * b * h + (s + 1) * h];
                for ((((c, f), cp), i), g) in c_row.iter_mut().zip(f).zip(c_prev).zip(i).zip(gg) {
                    *c = f * cp + i * g;
                }
            } else {
                for ((c, i), g) in c_row.iter_mut().zip(i).zip(gg) {
                    *c = i * g;
                }
            }
            let tc_row = &mut tc_now[s * h..(s + 1) * h];
            let h_row = &mut h_now[s * h..(s + 1) * h];
            for (((tc, hv), c), o) in tc_row
                .iter_mut()
                .zip(h_row.iter_mut())
                .zip(c_row.iter())
                .zip(o)
            {
                *tc = tanh_approx(*c);
                *hv = o * *tc;
            }
        }
    }
}

/// Per-thread buffers, reused across batches.
#[derive(Default)]
pub struct Workspace {
    pub(super) encoder: LayerTrace,
    pub(super) decoder: LayerTrace,
    pub(super) dec_proj: Vec<f32>,
    pub(super) y: Vec<f32>,
    pub(super) dy: Vec<f32>,
    pub(super) dh_out: Vec<f32>,
    pub(super) dz_sum: Vec<f32>,
    pub(super) dlatent: Vec<f32>,
    pub(super) scratch: BackScratch,
}

impl Workspace {
    /// The last reconstruction, `[steps][b][f]`.
    pub fn reconstruction(&self) -> &[f32] {
        &self.y
    }
}

/// Forward pass for `b` windows; `x` is `[steps][b][f]`. Fills the traces
/// and the reconstruction `ws.y` (same layout as x).
#[inline(always)]
pub(super) fn forward_impl<M: MulAdd>(w: &Weights, x: &[f32], b: usize, ws: &mut Workspace) {
    let config = w.layout.config;
    let (f, h, steps) = config.dims();
    let g = 4 * h;
    ws.encoder.resize(steps, b, h);
    ws.decoder.resize(steps, b, h);
    let input = GateInput::Sequence {
        x,
        features: f,
        w_x: w.enc_wx,
        bias: &w.enc_bias,
    };
    lstm_forward::<M>(steps, b, h, w.enc_wh, &mut ws.encoder, input);
    // The decoder's input is the same latent at every step: project it once.
    let latent = &ws.encoder.h[(steps - 1) * b * h..steps * b * h];
    ws.dec_proj.resize(b * g, 0.0);
    for row in ws.dec_proj.chunks_exact_mut(g) {
        row.copy_from_slice(&w.dec_bias);
    }
    gemm_acc::<M>(b, h, g, latent, w.dec_wx, &mut ws.dec_proj);
    let input = GateInput::Constant(&ws.dec_proj);
    lstm_forward::<M>(steps, b, h, w.dec_wh, &mut ws.decoder, input);
    ws.y.resize(steps * b * f, 0.0);
    for row in ws.y.chunks_exact_mut(f) {
        row.copy_from_slice(w.out_b);
    }
    gemm_acc::<M>(steps * b, h, f, &ws.decoder.h, w.out_w, &mut ws.y);
}

/// Gate activations and the cell update for one step of `b` rows: `z` holds
/// pre-activations `[b][4h]` on entry; `c` and `h` `[b][h]` are updated in
/// place (`first`: no previous cell state).
#[inline(always)]
fn step_in_place(
    b: usize,
    h: usize,
    z: &mut [f32],
    c: &mut [f32],
    hidden: &mut [f32],
    first: bool,
) {
    let g = 4 * h;
    for ((row, c_row), h_row) in z[..b * g]
        .chunks_exact_mut(g)
        .zip(c[..b * h].chunks_exact_mut(h))
        .zip(hidden[..b * h].chunks_exact_mut(h))
    {
        activate_gates(row, h);
        let (i, rest) = row.split_at(h);
        let (f, rest) = rest.split_at(h);
        let (gg, o) = rest.split_at(h);
        if first {
            for ((c, i), g) in c_row.iter_mut().zip(i).zip(gg) {
                *c = i * g;
            }
        } else {
            for (((c, f), i), g) in c_row.iter_mut().zip(f).zip(i).zip(gg) {
                *c = f * *c + i * g;
            }
        }
        for ((hv, c), o) in h_row.iter_mut().zip(c_row.iter()).zip(o) {
            *hv = o * tanh_approx(*c);
        }
    }
}

/// Per-window reconstruction error (mean over steps × features) and its
/// per-feature part (sum of squares per feature), for `b` windows. A
/// forward pass that keeps only the current step (scoring needs no
/// backward), so its working set stays in cache.
#[inline(always)]
pub(super) fn score_chunk_impl<M: MulAdd>(
    w: &Weights,
    x: &[f32],
    b: usize,
    ws: &mut Workspace,
    errors: &mut [f32],
    feature_errors: &mut [f32],
) {
    let config = w.layout.config;
    let (f, h, steps) = config.dims();
    let g = 4 * h;
    // Reuse the workspace's buffers as step-sized scratch.
    let z = &mut ws.scratch.dz;
    z.resize(b * g, 0.0);
    let c = &mut ws.scratch.dc;
    c.resize(b * h, 0.0);
    let hidden = &mut ws.scratch.dh;
    hidden.resize(b * h, 0.0);
    let proj = &mut ws.dec_proj;
    proj.resize(b * g, 0.0);
    let y = &mut ws.y;
    y.resize(b * f, 0.0);

    for t in 0..steps {
        for row in z.chunks_exact_mut(g) {
            row.copy_from_slice(&w.enc_bias);
        }
        gemm_acc::<M>(b, f, g, &x[t * b * f..(t + 1) * b * f], w.enc_wx, z);
        if t > 0 {
            gemm_acc::<M>(b, h, g, hidden, w.enc_wh, z);
        }
        step_in_place(b, h, z, c, hidden, t == 0);
    }
    for row in proj.chunks_exact_mut(g) {
        row.copy_from_slice(&w.dec_bias);
    }
    gemm_acc::<M>(b, h, g, hidden, w.dec_wx, proj);
    errors[..b].fill(0.0);
    feature_errors[..b * f].fill(0.0);
    for t in 0..steps {
        z.copy_from_slice(proj);
        if t > 0 {
            gemm_acc::<M>(b, h, g, hidden, w.dec_wh, z);
        }
        step_in_place(b, h, z, c, hidden, t == 0);
        project_rows(h, f, hidden, &w.out_w_t, w.out_b, y);
        let x_t = &x[t * b * f..(t + 1) * b * f];
        for ((e, y), x) in feature_errors[..b * f].iter_mut().zip(y.iter()).zip(x_t) {
            let d = y - x;
            *e += d * d;
        }
    }
    for s in 0..b {
        let total: f32 = feature_errors[s * f..(s + 1) * f].iter().sum();
        errors[s] = total / (steps * f) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::cpu::tests::tiny;
    use crate::detect::cpu::{flat_params, forward, score_chunk};

    #[test]
    fn streaming_scores_match_the_full_forward_pass() {
        let (config, x, b) = tiny();
        let (layout, params) = flat_params(&config.init(8));
        let w = Weights::new(layout, &params);
        let mut ws = Workspace::default();
        forward(&w, &x, b, &mut ws);
        let f = config.n_features;
        let mut want = vec![0.0f32; b * f];
        for t in 0..config.sequence_length {
            for s in 0..b {
                for k in 0..f {
                    let i = (t * b + s) * f + k;
                    want[s * f + k] += (ws.reconstruction()[i] - x[i]).powi(2);
                }
            }
        }
        let mut errors = vec![0.0; b];
        let mut features = vec![0.0; b * f];
        score_chunk(
            &w,
            &x,
            b,
            &mut Workspace::default(),
            &mut errors,
            &mut features,
        );
        for (got, want) in features.iter().zip(&want) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
        let total: f32 = want[..f].iter().sum();
        assert!((errors[0] - total / (config.sequence_length * f) as f32).abs() < 1e-7);
    }
}
