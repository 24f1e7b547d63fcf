//! The matmul kernels and their multiply-add flavours. `#[inline(always)]`
//! so each one is compiled inside the target-feature wrappers (`mod.rs`'s
//! dispatch) and vectorised for that instruction set.

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
pub(super) type Portable = Fused;
#[cfg(not(target_arch = "aarch64"))]
pub(super) type Portable = Plain;

/// Columns per register block: 64 f32 = four AVX-512 (eight AVX2) registers
/// kept as accumulators across the whole inner dimension.
const BLOCK: usize = 64;

/// c[m×n] += a[m×k] · b[k×n] (row-major). Column blocks of 64 accumulate in
/// registers over all of k; the rest four rows of b per pass.
#[inline(always)]
pub(super) fn gemm_acc<M: MulAdd>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) {
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
pub(super) fn gemm_at_b_acc<M: MulAdd>(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
) {
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
pub(super) fn project_rows(
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
pub(super) fn column_sums_acc(m: usize, n: usize, a: &[f32], out: &mut [f32]) {
    for row in a[..m * n].chunks_exact(n) {
        for (o, x) in out.iter_mut().zip(row) {
            *o += x;
        }
    }
}
