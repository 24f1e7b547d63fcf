//! The backward pass: one LSTM layer back through time, and the
//! autoencoder's forward and backward on a batch (the training step).

use super::forward::{LayerTrace, Workspace, forward_impl};
use super::kernels::{MulAdd, column_sums_acc, gemm_acc, gemm_at_b_acc};
use super::weights::Weights;

/// Scratch buffers for the backward pass.
#[derive(Default)]
pub(super) struct BackScratch {
    pub(super) dz: Vec<f32>,
    pub(super) dh: Vec<f32>,
    pub(super) dc: Vec<f32>,
    pub(super) dh_next: Vec<f32>,
    /// The cell state before the first step.
    pub(super) zeros: Vec<f32>,
}

/// The gradient flowing into a layer's hidden states from outside it.
enum ExternalGrad<'a> {
    /// `[steps][b][h]`: every step feeds the output (the decoder).
    EveryStep(&'a [f32]),
    /// `[b][h]`: only the last hidden state is used (the encoder's latent).
    LastStep(&'a [f32]),
}

impl<'a> ExternalGrad<'a> {
    #[inline(always)]
    fn at(&self, t: usize, steps: usize, size: usize) -> Option<&'a [f32]> {
        match self {
            ExternalGrad::EveryStep(all) => Some(&all[t * size..(t + 1) * size]),
            ExternalGrad::LastStep(last) => (t + 1 == steps).then_some(*last),
        }
    }
}

/// Where the gate gradients of each step go besides the recurrent weights.
enum InputGrad<'a> {
    /// Accumulate x_tᵀ·dz into `grad_wx` `[features × 4h]` (the encoder).
    Sequence {
        x: &'a [f32],
        features: usize,
        grad_wx: &'a mut [f32],
    },
    /// Sum dz over the steps into `[b][4h]` (the decoder, whose input is
    /// the same at every step).
    Sum(&'a mut [f32]),
}

/// Backward through time, given the external gradients on the hidden states;
/// accumulates into `grad_wh` `[h×4h]` and `grad_b` `[4h]`, and passes each
/// step's gate gradients to `input_grad`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lstm_backward<M: MulAdd>(
    steps: usize,
    b: usize,
    h: usize,
    trace: &LayerTrace,
    w_h_t: &[f32],
    scratch: &mut BackScratch,
    grad_wh: &mut [f32],
    grad_b: &mut [f32],
    external: ExternalGrad,
    mut input_grad: InputGrad,
) {
    let g = 4 * h;
    scratch.dz.resize(b * g, 0.0);
    scratch.dh.resize(b * h, 0.0);
    scratch.dc.resize(b * h, 0.0);
    scratch.dh_next.resize(b * h, 0.0);
    scratch.zeros.resize(h, 0.0);
    scratch.dc.fill(0.0);
    scratch.dh_next.fill(0.0);
    for t in (0..steps).rev() {
        let gates = &trace.gates[t * b * g..(t + 1) * b * g];
        let tc = &trace.tc[t * b * h..(t + 1) * b * h];
        let ext = external.at(t, steps, b * h);
        for s in 0..b {
            let dh = &mut scratch.dh[s * h..(s + 1) * h];
            let next = &scratch.dh_next[s * h..(s + 1) * h];
            match ext {
                Some(e) => {
                    let e = &e[s * h..(s + 1) * h];
                    for ((d, e), n) in dh.iter_mut().zip(e).zip(next) {
                        *d = e + n;
                    }
                }
                None => dh.copy_from_slice(next),
            }
            let gate = &gates[s * g..(s + 1) * g];
            let (i, rest) = gate.split_at(h);
            let (f, rest) = rest.split_at(h);
            let (gg, o) = rest.split_at(h);
            let tc_row = &tc[s * h..(s + 1) * h];
            let dc = &mut scratch.dc[s * h..(s + 1) * h];
            let dz = &mut scratch.dz[s * g..(s + 1) * g];
            let (dzi, rest) = dz.split_at_mut(h);
            let (dzf, rest) = rest.split_at_mut(h);
            let (dzg, dzo) = rest.split_at_mut(h);
            let c_prev: &[f32] = if t > 0 {
                &trace.c[(t - 1) * b * h + s * h..(t - 1) * b * h + (s + 1) * h]
            } else {
                &scratch.zeros[..h]
            };
            // Every slice re-cut to exactly h so the loop has no bounds checks.
            let (dh, tc_row, c_prev) = (&dh[..h], &tc_row[..h], &c_prev[..h]);
            let (i, f, gg, o) = (&i[..h], &f[..h], &gg[..h], &o[..h]);
            let (dc, dzi, dzf) = (&mut dc[..h], &mut dzi[..h], &mut dzf[..h]);
            let (dzg, dzo) = (&mut dzg[..h], &mut dzo[..h]);
            for j in 0..h {
                let do_ = dh[j] * tc_row[j];
                let dcj = dc[j] + dh[j] * o[j] * (1.0 - tc_row[j] * tc_row[j]);
                dzi[j] = dcj * gg[j] * i[j] * (1.0 - i[j]);
                dzf[j] = dcj * c_prev[j] * f[j] * (1.0 - f[j]);
                dzg[j] = dcj * i[j] * (1.0 - gg[j] * gg[j]);
                dzo[j] = do_ * o[j] * (1.0 - o[j]);
                dc[j] = dcj * f[j];
            }
        }
        column_sums_acc(b, g, &scratch.dz, grad_b);
        if t > 0 {
            let h_prev = &trace.h[(t - 1) * b * h..t * b * h];
            gemm_at_b_acc::<M>(b, h, g, h_prev, &scratch.dz, grad_wh);
            scratch.dh_next.fill(0.0);
            gemm_acc::<M>(b, g, h, &scratch.dz, w_h_t, &mut scratch.dh_next);
        }
        match &mut input_grad {
            InputGrad::Sequence {
                x,
                features,
                grad_wx,
            } => {
                let f = *features;
                gemm_at_b_acc::<M>(
                    b,
                    f,
                    g,
                    &x[t * b * f..(t + 1) * b * f],
                    &scratch.dz,
                    grad_wx,
                );
            }
            InputGrad::Sum(sum) => {
                for (s, d) in sum.iter_mut().zip(&scratch.dz) {
                    *s += d;
                }
            }
        }
    }
}

/// Forward and backward for `b` windows; adds the gradient of
/// Σ (y − x)² / `loss_count` to `grad` and returns Σ (y − x)².
#[inline(always)]
pub(super) fn train_chunk_impl<M: MulAdd>(
    w: &Weights,
    x: &[f32],
    b: usize,
    loss_count: usize,
    ws: &mut Workspace,
    grad: &mut [f32],
) -> f64 {
    forward_impl::<M>(w, x, b, ws);
    let layout = w.layout;
    let config = layout.config;
    let (f, h, steps) = config.dims();
    let g = 4 * h;
    ws.dy.resize(x.len(), 0.0);
    let scale = 2.0 / loss_count as f32;
    let mut loss = 0.0f64;
    for ((dy, y), x) in ws.dy.iter_mut().zip(&ws.y).zip(x) {
        let diff = y - x;
        loss += f64::from(diff * diff);
        *dy = scale * diff;
    }
    let (before, rest) = grad.split_at_mut(layout.offsets[8]);
    let (grad_out_w, grad_out_b) = rest.split_at_mut(h * f);
    gemm_at_b_acc::<M>(steps * b, h, f, &ws.decoder.h, &ws.dy, grad_out_w);
    column_sums_acc(steps * b, f, &ws.dy, grad_out_b);
    // dL/dh of the decoder at every step: dy · w_outᵀ.
    ws.dh_out.resize(steps * b * h, 0.0);
    ws.dh_out.fill(0.0);
    gemm_acc::<M>(steps * b, f, h, &ws.dy, &w.out_w_t, &mut ws.dh_out);

    let (enc_grads, dec_grads) = before.split_at_mut(layout.offsets[4]);
    let (dec_gwx, rest) = dec_grads.split_at_mut(h * g);
    let (dec_gwh, rest) = rest.split_at_mut(h * g);
    let (dec_gbx, dec_gbh) = rest.split_at_mut(g);
    ws.dz_sum.resize(b * g, 0.0);
    ws.dz_sum.fill(0.0);
    lstm_backward::<M>(
        steps,
        b,
        h,
        &ws.decoder,
        &w.dec_wh_t,
        &mut ws.scratch,
        dec_gwh,
        dec_gbx,
        ExternalGrad::EveryStep(&ws.dh_out),
        InputGrad::Sum(&mut ws.dz_sum),
    );
    dec_gbh.copy_from_slice(dec_gbx);
    let latent = &ws.encoder.h[(steps - 1) * b * h..steps * b * h];
    gemm_at_b_acc::<M>(b, h, g, latent, &ws.dz_sum, dec_gwx);
    ws.dlatent.resize(b * h, 0.0);
    ws.dlatent.fill(0.0);
    gemm_acc::<M>(b, g, h, &ws.dz_sum, &w.dec_wx_t, &mut ws.dlatent);

    let (enc_gwx, rest) = enc_grads.split_at_mut(f * g);
    let (enc_gwh, rest) = rest.split_at_mut(h * g);
    let (enc_gbx, enc_gbh) = rest.split_at_mut(g);
    lstm_backward::<M>(
        steps,
        b,
        h,
        &ws.encoder,
        &w.enc_wh_t,
        &mut ws.scratch,
        enc_gwh,
        enc_gbx,
        ExternalGrad::LastStep(&ws.dlatent),
        InputGrad::Sequence {
            x,
            features: f,
            grad_wx: enc_gwx,
        },
    );
    enc_gbh.copy_from_slice(enc_gbx);
    loss
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::cpu::tests::tiny;
    use crate::detect::cpu::{flat_params, train_chunk};

    /// The analytic gradient matches central finite differences in f64-ish
    /// precision for every parameter of a small model.
    #[test]
    fn gradients_match_finite_differences() {
        let (config, x, b) = tiny();
        let model = config.init(11);
        let (layout, params) = flat_params(&model);
        let count = x.len();
        let loss_at = |p: &[f32]| {
            let w = Weights::new(layout, p);
            let mut ws = Workspace::default();
            let mut g = vec![0.0; layout.len()];
            train_chunk(&w, &x, b, count, &mut ws, &mut g) / count as f64
        };
        let mut grad = vec![0.0; layout.len()];
        let w = Weights::new(layout, &params);
        train_chunk(&w, &x, b, count, &mut Workspace::default(), &mut grad);
        let eps = 1e-2f32;
        let mut worst = 0.0f64;
        for i in 0..params.len() {
            let mut plus = params.clone();
            plus[i] += eps;
            let mut minus = params.clone();
            minus[i] -= eps;
            let numeric = (loss_at(&plus) - loss_at(&minus)) / (2.0 * f64::from(eps));
            let error = (numeric - f64::from(grad[i])).abs() / (numeric.abs() + 1e-3);
            worst = worst.max(error);
        }
        assert!(worst < 2e-2, "worst relative gradient error {worst}");
    }
}
