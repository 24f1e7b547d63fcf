//! The CPU path: the LSTM autoencoder's forward and backward written for its
//! shape (four gates in one matmul per step, the decoder's constant input
//! projected once per window, polynomial sigmoid/tanh that vectorise, the
//! batch split over the cores), compiled for AVX-512 and AVX2 and chosen at
//! run time. Stock burn on the CPU is about 5× slower than PyTorch here
//! (see benches/README.md), so burn drives only the GPU.

use super::model::{LstmAe, ModelConfig};

/// Offsets of the ten parameter tensors in the flat vector (file order).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub config: ModelConfig,
    offsets: [usize; 11],
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
    layout: Layout,
    enc_wx: &'a [f32],
    enc_wh: &'a [f32],
    dec_wx: &'a [f32],
    dec_wh: &'a [f32],
    out_w: &'a [f32],
    out_b: &'a [f32],
    enc_bias: Vec<f32>,
    dec_bias: Vec<f32>,
    enc_wh_t: Vec<f32>,
    dec_wh_t: Vec<f32>,
    dec_wx_t: Vec<f32>,
    out_w_t: Vec<f32>,
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

// ---------------------------------------------------------------------------
// Kernels. `#[inline(always)]` so each one is compiled inside the
// target-feature wrappers below and vectorised for that instruction set.

/// How the matmul kernels multiply-add: fused (one instruction, one
/// rounding) where the CPU has FMA; plain on x86 without it, where `mul_add`
/// would be a libm call per element.
pub trait MulAdd {
    /// Whether the matmul may block four rows of `a` at a time: sixteen
    /// 64-column accumulators fit AVX-512's 32 registers, not AVX2's 16.
    const FOUR_ROW_BLOCKS: bool = false;
    fn mul_add(a: f32, b: f32, c: f32) -> f32;
}

pub struct Fused;
/// [`Fused`] with AVX-512's 32 vector registers.
pub struct FusedWide;
pub struct Plain;

impl MulAdd for FusedWide {
    const FOUR_ROW_BLOCKS: bool = true;
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Fused {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

impl MulAdd for Plain {
    #[inline(always)]
    fn mul_add(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// The portable build's choice: every aarch64 CPU has FMA; x86 may not.
#[cfg(target_arch = "aarch64")]
type Portable = Fused;
#[cfg(not(target_arch = "aarch64"))]
type Portable = Plain;

/// Columns per register block: 64 f32 = four AVX-512 (eight AVX2) registers
/// kept as accumulators across the whole inner dimension.
const BLOCK: usize = 64;

/// c[m×n] += a[m×k] · b[k×n] (row-major). Column blocks of 64 accumulate in
/// registers over all of k; the rest four rows of b per pass.
#[inline(always)]
fn gemm_acc<M: MulAdd>(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let blocks = n / BLOCK;
    // Two rows of a at a time: each block of b is loaded once for both, and
    // the two accumulator chains run in parallel.
    let mut i = 0;
    // Four rows at a time: sixteen independent accumulator chains keep
    // both FMA pipes busy through their latency.
    while M::FOUR_ROW_BLOCKS && blocks > 0 && i + 4 <= m {
        let rows: [&[f32]; 4] = std::array::from_fn(|r| &a[(i + r) * k..(i + r + 1) * k]);
        let (c01, c23) = c[i * n..(i + 4) * n].split_at_mut(2 * n);
        let (c0, c1) = c01.split_at_mut(n);
        let (c2, c3) = c23.split_at_mut(n);
        let (c0_blocks, _) = c0.as_chunks_mut::<BLOCK>();
        let (c1_blocks, _) = c1.as_chunks_mut::<BLOCK>();
        let (c2_blocks, _) = c2.as_chunks_mut::<BLOCK>();
        let (c3_blocks, _) = c3.as_chunks_mut::<BLOCK>();
        for (block, (((b0, b1), b2), b3)) in c0_blocks
            .iter_mut()
            .zip(c1_blocks)
            .zip(c2_blocks)
            .zip(c3_blocks)
            .enumerate()
        {
            let mut acc = [*b0, *b1, *b2, *b3];
            for (p, b_row) in b.chunks_exact(n).enumerate().take(k) {
                let y = &b_row.as_chunks::<BLOCK>().0[block];
                let s = [rows[0][p], rows[1][p], rows[2][p], rows[3][p]];
                for (acc_row, s) in acc.iter_mut().zip(s) {
                    for (x, y) in acc_row.iter_mut().zip(y) {
                        *x = M::mul_add(s, *y, *x);
                    }
                }
            }
            [*b0, *b1, *b2, *b3] = acc;
        }
        i += 4;
    }
    while blocks > 0 && i + 2 <= m {
        let (a0, a1) = (&a[i * k..(i + 1) * k], &a[(i + 1) * k..(i + 2) * k]);
        let (c0, c1) = c[i * n..(i + 2) * n].split_at_mut(n);
        let (c0_blocks, _) = c0.as_chunks_mut::<BLOCK>();
        let (c1_blocks, _) = c1.as_chunks_mut::<BLOCK>();
        for (block, (c0_block, c1_block)) in c0_blocks.iter_mut().zip(c1_blocks).enumerate() {
            let (mut acc0, mut acc1) = (*c0_block, *c1_block);
            for ((&s0, &s1), b_row) in a0.iter().zip(a1).zip(b.chunks_exact(n)) {
                let y = &b_row.as_chunks::<BLOCK>().0[block];
                for ((x0, x1), y) in acc0.iter_mut().zip(acc1.iter_mut()).zip(y) {
                    *x0 = M::mul_add(s0, *y, *x0);
                    *x1 = M::mul_add(s1, *y, *x1);
                }
            }
            *c0_block = acc0;
            *c1_block = acc1;
        }
        i += 2;
    }
    let blocked_rows = i;
    for i in 0..m {
        let a_row = &a[i * k..(i + 1) * k];
        let c_row = &mut c[i * n..(i + 1) * n];
        if i >= blocked_rows {
            let (c_blocks, _) = c_row.as_chunks_mut::<BLOCK>();
            for (block, c_block) in c_blocks.iter_mut().enumerate() {
                let mut acc = *c_block;
                for (&s, b_row) in a_row.iter().zip(b.chunks_exact(n)) {
                    let y = &b_row.as_chunks::<BLOCK>().0[block];
                    for (x, y) in acc.iter_mut().zip(y) {
                        *x = M::mul_add(s, *y, *x);
                    }
                }
                *c_block = acc;
            }
        }
        let done = blocks * BLOCK;
        if done == n {
            continue;
        }
        let c_tail = &mut c_row[done..];
        let mut p = 0;
        while p + 4 <= k {
            let (s0, s1, s2, s3) = (a_row[p], a_row[p + 1], a_row[p + 2], a_row[p + 3]);
            let b0 = &b[p * n + done..(p + 1) * n];
            let b1 = &b[(p + 1) * n + done..(p + 2) * n];
            let b2 = &b[(p + 2) * n + done..(p + 3) * n];
            let b3 = &b[(p + 3) * n + done..(p + 4) * n];
            // Iterators, not indices: no bounds checks, so the loop vectorises.
            for ((((c, x0), x1), x2), x3) in c_tail.iter_mut().zip(b0).zip(b1).zip(b2).zip(b3) {
                *c += s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3;
            }
            p += 4;
        }
        while p < k {
            let s = a_row[p];
            for (c, x) in c_tail.iter_mut().zip(&b[p * n + done..(p + 1) * n]) {
                *c += s * x;
            }
            p += 1;
        }
    }
}

/// c[k×n] += a[m×k]ᵀ · b[m×n]: weight gradients. Column blocks of c
/// accumulate in registers over all m rows.
#[inline(always)]
fn gemm_at_b_acc<M: MulAdd>(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let blocks = n / BLOCK;
    let done = blocks * BLOCK;
    // Two rows of c at a time, sharing each block of b.
    let mut p = 0;
    while blocks > 0 && p + 2 <= k {
        let (c0, c1) = c[p * n..(p + 2) * n].split_at_mut(n);
        let (c0_blocks, _) = c0.as_chunks_mut::<BLOCK>();
        let (c1_blocks, _) = c1.as_chunks_mut::<BLOCK>();
        for (block, (c0_block, c1_block)) in c0_blocks.iter_mut().zip(c1_blocks).enumerate() {
            let (mut acc0, mut acc1) = (*c0_block, *c1_block);
            for (a_row, b_row) in a.chunks_exact(k).zip(b.chunks_exact(n)).take(m) {
                let (s0, s1) = (a_row[p], a_row[p + 1]);
                let y = &b_row.as_chunks::<BLOCK>().0[block];
                for ((x0, x1), y) in acc0.iter_mut().zip(acc1.iter_mut()).zip(y) {
                    *x0 = M::mul_add(s0, *y, *x0);
                    *x1 = M::mul_add(s1, *y, *x1);
                }
            }
            *c0_block = acc0;
            *c1_block = acc1;
        }
        p += 2;
    }
    for p in 0..k {
        let c_row = &mut c[p * n..(p + 1) * n];
        let paired = blocks > 0 && p < k - k % 2;
        if !paired {
            let (c_blocks, _) = c_row.as_chunks_mut::<BLOCK>();
            for (block, c_block) in c_blocks.iter_mut().enumerate() {
                let mut acc = *c_block;
                for (a_row, b_row) in a.chunks_exact(k).zip(b.chunks_exact(n)).take(m) {
                    let y = &b_row.as_chunks::<BLOCK>().0[block];
                    for (x, y) in acc.iter_mut().zip(y) {
                        *x = M::mul_add(a_row[p], *y, *x);
                    }
                }
                *c_block = acc;
            }
        }
        if done == n {
            continue;
        }
        let c_tail = &mut c_row[done..];
        for i in 0..m {
            let s = a[i * k + p];
            for (c, x) in c_tail.iter_mut().zip(&b[i * n + done..(i + 1) * n]) {
                *c += s * x;
            }
        }
    }
}

/// y[r] = bias + hidden[r] · w for narrow outputs (a few features): one dot
/// product per output, summed in 16 lanes so it vectorises (a plain sum is
/// never reordered into vector lanes). `w_t` is `[outputs × h]`.
#[inline(always)]
fn project_rows(
    h: usize,
    outputs: usize,
    hidden: &[f32],
    w_t: &[f32],
    bias: &[f32],
    y: &mut [f32],
) {
    const LANES: usize = 16;
    for (h_row, y_row) in hidden.chunks_exact(h).zip(y.chunks_exact_mut(outputs)) {
        for ((out, w_row), b) in y_row.iter_mut().zip(w_t.chunks_exact(h)).zip(bias) {
            let mut lanes = [0.0f32; LANES];
            let (h_blocks, h_tail) = h_row.as_chunks::<LANES>();
            let (w_blocks, w_tail) = w_row.as_chunks::<LANES>();
            for (hb, wb) in h_blocks.iter().zip(w_blocks) {
                for ((l, x), y) in lanes.iter_mut().zip(hb).zip(wb) {
                    *l += x * y;
                }
            }
            let tail: f32 = h_tail.iter().zip(w_tail).map(|(x, y)| x * y).sum();
            *out = b + lanes.iter().sum::<f32>() + tail;
        }
    }
}

/// Column sums: out[n] += Σ_rows a[m×n].
#[inline(always)]
fn column_sums_acc(m: usize, n: usize, a: &[f32], out: &mut [f32]) {
    for row in a[..m * n].chunks_exact(n) {
        for (o, x) in out.iter_mut().zip(row) {
            *o += x;
        }
    }
}

const LOG2E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// e^x for |x| ≤ 87 (clamped outside), ~2 ulp: Cephes' expf, written with
/// plain arithmetic so a loop of it vectorises.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    // Selects, rounding by the 1.5·2²³ trick and bit moves only: every step
    // has a vector instruction (float→int casts and floor() do not vectorise
    // well without them).
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 87.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let y = p * r * r + r + 1.0;
    // 2^n: n + 127 lands in the mantissa's low bits of (n + 127 + 2²³).
    let biased = (n + 127.0 + 8_388_608.0).to_bits() & 0x7F_FFFF;
    y * f32::from_bits(biased << 23)
}

/// σ(x) = (1 + tanh(x/2)) / 2.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    0.5 * tanh_approx(0.5 * x) + 0.5
}

/// tanh as a 13/6 rational function on [-7.9, 7.9] (Eigen's fast float
/// tanh; outside, tanh is ±1 in f32). One divide and ten multiply-adds:
/// cheaper than exp plus a divide, and the activations are as much work as
/// the matmuls in this model.
#[inline(always)]
fn tanh_approx(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let p = ((((((-2.760_768_5e-16 * x2 + 2.000_188e-13) * x2 - 8.604_672e-11) * x2
        + 5.122_297e-8)
        * x2
        + 1.485_722_4e-5)
        * x2
        + 6.372_619_3e-4)
        * x2
        + 4.893_524_6e-3)
        * x;
    let q = ((1.198_258_4e-6 * x2 + 1.185_347_1e-4) * x2 + 2.268_434_6e-3) * x2 + 4.893_525e-3;
    p / q
}

/// Gate pre-activations `[4h]` → i, f (sigmoid), g (tanh), o (sigmoid).
#[inline(always)]
fn activate_gates(row: &mut [f32], h: usize) {
    for v in &mut row[..2 * h] {
        *v = sigmoid(*v);
    }
    for v in &mut row[2 * h..3 * h] {
        *v = tanh_approx(*v);
    }
    for v in &mut row[3 * h..] {
        *v = sigmoid(*v);
    }
}

// ---------------------------------------------------------------------------
// One LSTM layer over `steps` steps for a batch of `b` sequences.

/// What the forward pass keeps for the backward pass, time-major.
#[derive(Default)]
struct LayerTrace {
    /// Post-activation gates i, f, g, o: `[steps][b][4h]`.
    gates: Vec<f32>,
    /// Cell states `[steps][b][h]`.
    c: Vec<f32>,
    /// tanh of the cell states `[steps][b][h]`.
    tc: Vec<f32>,
    /// Hidden states `[steps][b][h]`.
    h: Vec<f32>,
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

/// Scratch buffers for the backward pass.
#[derive(Default)]
struct BackScratch {
    dz: Vec<f32>,
    dh: Vec<f32>,
    dc: Vec<f32>,
    dh_next: Vec<f32>,
    /// The cell state before the first step.
    zeros: Vec<f32>,
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

// ---------------------------------------------------------------------------
// The autoencoder on a batch.

/// Per-thread buffers, reused across batches.
#[derive(Default)]
pub struct Workspace {
    encoder: LayerTrace,
    decoder: LayerTrace,
    dec_proj: Vec<f32>,
    y: Vec<f32>,
    dy: Vec<f32>,
    dh_out: Vec<f32>,
    dz_sum: Vec<f32>,
    dlatent: Vec<f32>,
    scratch: BackScratch,
}

/// Forward pass for `b` windows; `x` is `[steps][b][f]`. Fills the traces
/// and the reconstruction `ws.y` (same layout as x).
#[inline(always)]
fn forward_impl<M: MulAdd>(w: &Weights, x: &[f32], b: usize, ws: &mut Workspace) {
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

/// Forward and backward for `b` windows; adds the gradient of
/// Σ (y − x)² / `loss_count` to `grad` and returns Σ (y − x)².
#[inline(always)]
fn train_chunk_impl<M: MulAdd>(
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
fn score_chunk_impl<M: MulAdd>(
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

// ---------------------------------------------------------------------------
// Run-time dispatch to the widest instruction set the CPU has.

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

impl Workspace {
    /// The last reconstruction, `[steps][b][f]`.
    pub fn reconstruction(&self) -> &[f32] {
        &self.y
    }
}

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

    #[test]
    fn exp_and_activations_are_accurate() {
        for i in -800..=800 {
            let x = i as f32 / 10.0;
            let want = (x as f64).exp();
            let got = f64::from(exp_approx(x));
            assert!(
                ((got - want) / want).abs() < 2e-6,
                "exp({x}) = {got}, want {want}"
            );
            let t = f64::from(tanh_approx(x));
            assert!((t - (x as f64).tanh()).abs() < 1e-6, "tanh({x})");
            let s = f64::from(sigmoid(x));
            assert!(
                (s - 1.0 / (1.0 + (-x as f64).exp())).abs() < 1e-6,
                "sigmoid({x})"
            );
        }
    }

    fn tiny() -> (ModelConfig, Vec<f32>, usize) {
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
