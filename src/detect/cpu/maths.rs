//! The activations: polynomial e^x, sigmoid and tanh written with plain
//! arithmetic so loops of them vectorise, and the gate activations of one
//! LSTM step.

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
pub(super) fn sigmoid(x: f32) -> f32 {
    0.5 * tanh_approx(0.5 * x) + 0.5
}

/// tanh as a 13/6 rational function on [-7.9, 7.9] (Eigen's fast float
/// tanh; outside, tanh is ±1 in f32). One divide and ten multiply-adds:
/// cheaper than exp plus a divide, and the activations are as much work as
/// the matmuls in this model.
#[inline(always)]
pub(super) fn tanh_approx(x: f32) -> f32 {
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
pub(super) fn activate_gates(row: &mut [f32], h: usize) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
