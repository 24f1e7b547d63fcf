//! A native MAP optimizer for Prophet's Stan model, behind augurs' `Optimizer`
//! trait, so Prophet fits offline with no Stan, no CmdStan and no WASM runtime.
//!
//! Prophet's posterior (linear or flat trend) has a structure a general L-BFGS
//! ignores: for a fixed `sigma_obs` the mean is linear in `(k, m, delta, beta)`
//! when seasonality is additive, and the negative log posterior is a quadratic
//! plus an L1 term (the Laplace prior on `delta`): a lasso with Gaussian priors
//! on the other coefficients. And for a fixed mean, `sigma_obs` has a closed
//! form. So the fit alternates an exact lasso solve (coordinate descent to find
//! the support, then a Newton step on it, on a p×p Gram matrix built once per
//! pass over the data) with the closed-form `sigma_obs`, until both settle.
//! Multiplicative seasonality is bilinear (trend × (1 + X·beta)); it alternates
//! the trend block and the seasonal block, each an exact solve.
//!
//! The objective is Stan's (constants dropped, no Jacobian, as Prophet's
//! `optimize` call): `k²/50 + m²/50 + Σ|δ|/τ + 2σ² + Σ β²/(2s²) + T·ln σ +
//! RSS/(2σ²)`.

use augurs_prophet::PositiveFloat;
use augurs_prophet::optimizer::{
    Data, InitialParams, OptimizeOpts, OptimizedParams, Optimizer, TrendIndicator,
};

/// Precision of the N(0, 5) priors on `k` and `m`.
const TREND_PRIOR_PRECISION: f64 = 1.0 / 25.0;
/// Outer passes (sigma updates, or block alternations) before giving up on
/// tighter convergence; the result is still the best point found.
const MAX_OUTER_PASSES: usize = 500;
/// Relative change of the objective below which the outer loop stops.
const OBJECTIVE_REL_TOL: f64 = 1e-12;

/// Prophet's MAP fit in Rust (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeOptimizer;

/// A block of coefficients solved together, reduced to its normal equations:
/// `DᵀD` and `Dᵀy` of its design `D` and target `y`, accumulated row by row so
/// the design (rows × width) never exists in memory; and each coefficient's
/// penalty.
struct Block {
    gram: Vec<f64>,
    cross: Vec<f64>,
    /// Gaussian prior precision per coefficient (0 for none).
    ridge: Vec<f64>,
    /// L1 weight per coefficient (0 for none).
    lasso: Vec<f64>,
}

impl Block {
    fn new(width: usize, ridge: Vec<f64>, lasso: Vec<f64>) -> Self {
        Self {
            gram: vec![0.0; width * width],
            cross: vec![0.0; width],
            ridge,
            lasso,
        }
    }

    /// Adds one design row and its target (upper triangle only).
    fn add_row(&mut self, row: &[f64], y: f64) {
        let p = row.len();
        for (a, &ra) in row.iter().enumerate() {
            if ra == 0.0 {
                continue;
            }
            self.cross[a] += ra * y;
            let gram_row = &mut self.gram[a * p + a..a * p + p];
            for (g, rb) in gram_row.iter_mut().zip(&row[a..]) {
                *g += ra * rb;
            }
        }
    }

    /// Solves this block for a given `1/σ²`, from (and into) `theta`.
    fn solve(&self, inv_var: f64, theta: &mut [f64]) {
        solve_lasso(
            &self.gram,
            &self.cross,
            inv_var,
            &self.ridge,
            &self.lasso,
            theta,
        );
    }

    /// Mirrors the upper triangle once every row is in.
    fn finish(mut self) -> Self {
        let p = self.cross.len();
        for a in 0..p {
            for b in 0..a {
                self.gram[a * p + b] = self.gram[b * p + a];
            }
        }
        self
    }
}

/// Minimises `½θᵀHθ − cᵀθ + Σ lasso_j |θ_j|` where `H = gram/σ² + diag(ridge)`
/// and `c = cross/σ²`, starting from (and writing to) `theta`.
fn solve_lasso(
    gram: &[f64],
    cross: &[f64],
    inv_var: f64,
    ridge: &[f64],
    lasso: &[f64],
    theta: &mut [f64],
) {
    let p = theta.len();
    let h: Vec<f64> = (0..p * p)
        .map(|i| gram[i] * inv_var + if i % (p + 1) == 0 { ridge[i / p] } else { 0.0 })
        .collect();
    let c: Vec<f64> = cross.iter().map(|v| v * inv_var).collect();
    let scale = (0..p)
        .map(|j| h[j * p + j])
        .fold(0.0_f64, f64::max)
        .max(1.0);
    for _ in 0..200 {
        // Coordinate descent finds the support (which deltas are zero).
        for _ in 0..20 {
            coordinate_sweep(&h, &c, lasso, theta);
        }
        // Newton on the support with fixed signs: exact where the signs hold.
        let support: Vec<usize> = (0..p)
            .filter(|&j| lasso[j] == 0.0 || theta[j] != 0.0)
            .collect();
        if let Some(target) = support_solution(&h, &c, lasso, theta, &support) {
            // Go as far towards the support optimum as the signs allow; the
            // objective is convex and agrees with this quadratic on the orthant.
            let mut step = 1.0_f64;
            let mut limiting = None;
            for (i, &j) in support.iter().enumerate() {
                if lasso[j] != 0.0 && target[i].signum() != theta[j].signum() {
                    let crossing = theta[j] / (theta[j] - target[i]);
                    if crossing < step {
                        step = crossing;
                        limiting = Some(j);
                    }
                }
            }
            for (i, &j) in support.iter().enumerate() {
                theta[j] += step * (target[i] - theta[j]);
            }
            if let Some(j) = limiting {
                theta[j] = 0.0;
            }
        }
        if kkt_violation(&h, &c, lasso, theta) <= 1e-10 * scale {
            return;
        }
    }
}

fn coordinate_sweep(h: &[f64], c: &[f64], lasso: &[f64], theta: &mut [f64]) {
    let p = theta.len();
    for j in 0..p {
        let row = &h[j * p..j * p + p];
        let mut z = c[j];
        for (l, (hv, t)) in row.iter().zip(theta.iter()).enumerate() {
            if l != j {
                z -= hv * t;
            }
        }
        theta[j] = soft_threshold(z, lasso[j]) / row[j];
    }
}

fn soft_threshold(z: f64, limit: f64) -> f64 {
    if z > limit {
        z - limit
    } else if z < -limit {
        z + limit
    } else {
        0.0
    }
}

/// Solves `H_SS x = c_S − lasso_S ∘ sign(θ_S)` by Cholesky; `None` when the
/// reduced matrix is not positive definite (then coordinate descent carries on).
fn support_solution(
    h: &[f64],
    c: &[f64],
    lasso: &[f64],
    theta: &[f64],
    support: &[usize],
) -> Option<Vec<f64>> {
    let p = theta.len();
    let n = support.len();
    let mut a: Vec<f64> = Vec::with_capacity(n * n);
    for &i in support {
        for &j in support {
            a.push(h[i * p + j]);
        }
    }
    let mut b: Vec<f64> = support
        .iter()
        .map(|&j| c[j] - lasso[j] * theta[j].signum() * f64::from(u8::from(lasso[j] != 0.0)))
        .collect();
    // In-place Cholesky, lower triangle.
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    Some(b)
}

/// The largest violation of the lasso's optimality conditions.
fn kkt_violation(h: &[f64], c: &[f64], lasso: &[f64], theta: &[f64]) -> f64 {
    let p = theta.len();
    (0..p)
        .map(|j| {
            let grad: f64 = h[j * p..j * p + p]
                .iter()
                .zip(theta)
                .map(|(a, b)| a * b)
                .sum::<f64>()
                - c[j];
            if lasso[j] == 0.0 {
                grad.abs()
            } else if theta[j] == 0.0 {
                (grad.abs() - lasso[j]).max(0.0)
            } else {
                (grad + lasso[j] * theta[j].signum()).abs()
            }
        })
        .fold(0.0, f64::max)
}

/// The problem in the form the solver needs, from augurs' Stan data.
struct Problem<'a> {
    data: &'a Data,
    rows: usize,
    regressors: usize,
    changepoints: usize,
    flat: bool,
    multiplicative: bool,
}

/// Current parameter values.
#[derive(Clone)]
struct Params {
    k: f64,
    m: f64,
    delta: Vec<f64>,
    beta: Vec<f64>,
    sigma: f64,
}

impl Problem<'_> {
    fn trend(&self, p: &Params) -> Vec<f64> {
        let d = self.data;
        if self.flat {
            return vec![p.m; self.rows];
        }
        let mut out = Vec::with_capacity(self.rows);
        let mut rate = p.k;
        let mut offset = p.m;
        let mut next = 0;
        for &t in &d.t {
            while next < self.changepoints && t >= d.t_change[next] {
                rate += p.delta[next];
                offset -= d.t_change[next] * p.delta[next];
                next += 1;
            }
            out.push(rate * t + offset);
        }
        out
    }

    /// `(X_sa·β, X_sm·β)` per row.
    fn seasonal(&self, beta: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let d = self.data;
        let k = self.regressors;
        let mut additive = Vec::with_capacity(self.rows);
        let mut multiplicative = Vec::with_capacity(self.rows);
        for row in d.X.chunks_exact(k) {
            let (mut a, mut m) = (0.0, 0.0);
            for j in 0..k {
                let v = row[j] * beta[j];
                if d.s_a[j] != 0 {
                    a += v;
                }
                if d.s_m[j] != 0 {
                    m += v;
                }
            }
            additive.push(a);
            multiplicative.push(m);
        }
        (additive, multiplicative)
    }

    fn residual_sum(&self, p: &Params) -> f64 {
        let trend = self.trend(p);
        let (add, mul) = self.seasonal(&p.beta);
        self.data
            .y
            .iter()
            .zip(trend.iter().zip(add.iter().zip(&mul)))
            .map(|(y, (t, (a, m)))| {
                let r = y - (t * (1.0 + m) + a);
                r * r
            })
            .sum()
    }

    fn objective(&self, p: &Params) -> f64 {
        let d = self.data;
        let tau = *d.tau;
        let mut f = (p.k * p.k + p.m * p.m) * TREND_PRIOR_PRECISION / 2.0;
        f += p.delta.iter().map(|x| x.abs()).sum::<f64>() / tau;
        f += p
            .beta
            .iter()
            .zip(&d.sigmas)
            .map(|(b, s)| b * b / (2.0 * **s * **s))
            .sum::<f64>();
        f += 2.0 * p.sigma * p.sigma + self.rows as f64 * p.sigma.ln();
        f + self.residual_sum(p) / (2.0 * p.sigma * p.sigma)
    }

    /// Fills `row` with the trend design `[t, 1, (t − t_c)₊…]` (or `[1]` for
    /// a flat trend), each scaled by `gain`.
    fn trend_row(&self, t: f64, gain: f64, row: &mut Vec<f64>) {
        if self.flat {
            row.push(gain);
            return;
        }
        row.push(gain * t);
        row.push(gain);
        for &tc in &self.data.t_change {
            row.push(if t >= tc { gain * (t - tc) } else { 0.0 });
        }
    }

    /// Penalties of the trend coefficients: N(0, 5) on k and m, Laplace(0, τ)
    /// on each δ.
    fn trend_penalties(&self) -> (Vec<f64>, Vec<f64>) {
        if self.flat {
            return (vec![TREND_PRIOR_PRECISION], vec![0.0]);
        }
        let mut ridge = vec![TREND_PRIOR_PRECISION; 2];
        ridge.extend(std::iter::repeat_n(0.0, self.changepoints));
        let mut lasso = vec![0.0; 2];
        lasso.extend(std::iter::repeat_n(1.0 / *self.data.tau, self.changepoints));
        (ridge, lasso)
    }

    /// Fills `row` with the seasonal design for a row of X and its trend.
    fn seasonal_row(&self, x: &[f64], trend: f64, row: &mut Vec<f64>) {
        let d = self.data;
        for ((x, additive), multiplicative) in x.iter().zip(&d.s_a).zip(&d.s_m) {
            let a = if *additive != 0 { *x } else { 0.0 };
            let m = if *multiplicative != 0 { trend * x } else { 0.0 };
            row.push(a + m);
        }
    }

    fn seasonal_penalties(&self) -> Vec<f64> {
        self.data.sigmas.iter().map(|s| 1.0 / (**s * **s)).collect()
    }

    /// The trend coefficients for fixed β: each row's design scaled by
    /// `1 + X_sm·β`, the target net of `X_sa·β`.
    fn trend_block(&self, p: &Params) -> Block {
        let d = self.data;
        let (add, mul) = self.seasonal(&p.beta);
        let (ridge, lasso) = self.trend_penalties();
        let mut block = Block::new(ridge.len(), ridge, lasso);
        let mut row = Vec::with_capacity(block.cross.len());
        for i in 0..self.rows {
            row.clear();
            self.trend_row(d.t[i], 1.0 + mul[i], &mut row);
            block.add_row(&row, d.y[i] - add[i]);
        }
        block.finish()
    }

    /// The seasonal coefficients β for a fixed trend.
    fn seasonal_block(&self, trend: &[f64]) -> Block {
        let d = self.data;
        let ridge = self.seasonal_penalties();
        let mut block = Block::new(self.regressors, ridge, vec![0.0; self.regressors]);
        let mut row = Vec::with_capacity(self.regressors);
        for ((x, tr), y) in d.X.chunks_exact(self.regressors).zip(trend).zip(&d.y) {
            row.clear();
            self.seasonal_row(x, *tr, &mut row);
            block.add_row(&row, y - tr);
        }
        block.finish()
    }

    /// Everything at once: possible when no feature is multiplicative.
    fn joint_block(&self) -> Block {
        let d = self.data;
        let (mut ridge, mut lasso) = self.trend_penalties();
        ridge.extend(self.seasonal_penalties());
        lasso.extend(std::iter::repeat_n(0.0, self.regressors));
        let mut block = Block::new(ridge.len(), ridge, lasso);
        let mut row = Vec::with_capacity(block.cross.len());
        for (i, x) in d.X.chunks_exact(self.regressors).enumerate() {
            row.clear();
            self.trend_row(d.t[i], 1.0, &mut row);
            self.seasonal_row(x, 0.0, &mut row);
            block.add_row(&row, d.y[i]);
        }
        block.finish()
    }

    fn trend_coefficients(&self, p: &Params) -> Vec<f64> {
        if self.flat {
            vec![p.m]
        } else {
            let mut v = vec![p.k, p.m];
            v.extend_from_slice(&p.delta);
            v
        }
    }

    fn set_trend_coefficients(&self, p: &mut Params, v: &[f64]) {
        if self.flat {
            p.m = v[0];
        } else {
            p.k = v[0];
            p.m = v[1];
            p.delta.copy_from_slice(&v[2..]);
        }
    }
}

/// The closed-form `sigma_obs` for a residual sum of squares: the positive
/// root of `4σ⁴ + Tσ² − RSS = 0`.
fn best_sigma(rows: usize, residual_sum: f64) -> f64 {
    let t = rows as f64;
    ((-t + (t * t + 16.0 * residual_sum).sqrt()) / 8.0)
        .sqrt()
        .max(1e-12)
}

impl Optimizer for NativeOptimizer {
    fn optimize(
        &self,
        init: &InitialParams,
        data: &Data,
        _opts: &OptimizeOpts,
    ) -> Result<OptimizedParams, augurs_prophet::optimizer::Error> {
        let flat = match data.trend_indicator {
            TrendIndicator::Linear => false,
            TrendIndicator::Flat => true,
            TrendIndicator::Logistic => {
                return Err(augurs_prophet::optimizer::Error::static_str(
                    "logistic growth is not supported by PulseWatch's optimizer (use linear or flat)",
                ));
            }
        };
        let rows = data.y.len();
        let regressors = usize::try_from(data.K).unwrap_or(0);
        let changepoints = data.t_change.len();
        if rows < 2 || regressors == 0 || data.X.len() != rows * regressors {
            return Err(augurs_prophet::optimizer::Error::string(format!(
                "inconsistent Prophet data: {rows} rows, K = {regressors}, X has {} values",
                data.X.len()
            )));
        }
        let problem = Problem {
            data,
            rows,
            regressors,
            changepoints,
            flat,
            multiplicative: data.s_m.iter().any(|&m| m != 0),
        };
        let mut p = Params {
            k: if flat { 0.0 } else { init.k },
            m: init.m,
            delta: if flat {
                vec![0.0; changepoints]
            } else {
                init.delta.clone()
            },
            beta: init.beta.clone(),
            sigma: (*init.sigma_obs).max(1e-3),
        };
        if p.delta.len() != changepoints || p.beta.len() != regressors {
            return Err(augurs_prophet::optimizer::Error::static_str(
                "initial parameters do not match the data's dimensions",
            ));
        }

        let mut previous = problem.objective(&p);
        if problem.multiplicative {
            for _ in 0..MAX_OUTER_PASSES {
                let inv_var = 1.0 / (p.sigma * p.sigma);
                let mut theta = problem.trend_coefficients(&p);
                problem.trend_block(&p).solve(inv_var, &mut theta);
                problem.set_trend_coefficients(&mut p, &theta);
                let trend = problem.trend(&p);
                problem.seasonal_block(&trend).solve(inv_var, &mut p.beta);
                p.sigma = best_sigma(rows, problem.residual_sum(&p));
                let current = problem.objective(&p);
                if (previous - current).abs() <= OBJECTIVE_REL_TOL * previous.abs().max(1.0) {
                    break;
                }
                previous = current;
            }
        } else {
            // One Gram matrix serves every sigma: only the weighting changes.
            let block = problem.joint_block();
            let mut theta = problem.trend_coefficients(&p);
            theta.extend_from_slice(&p.beta);
            let split = theta.len() - regressors;
            for _ in 0..MAX_OUTER_PASSES {
                let inv_var = 1.0 / (p.sigma * p.sigma);
                block.solve(inv_var, &mut theta);
                problem.set_trend_coefficients(&mut p, &theta[..split]);
                p.beta.copy_from_slice(&theta[split..]);
                p.sigma = best_sigma(rows, problem.residual_sum(&p));
                let current = problem.objective(&p);
                if (previous - current).abs() <= OBJECTIVE_REL_TOL * previous.abs().max(1.0) {
                    break;
                }
                previous = current;
            }
        }
        if !p.sigma.is_finite() || p.beta.iter().chain(&p.delta).any(|v| !v.is_finite()) {
            return Err(augurs_prophet::optimizer::Error::static_str(
                "the fit did not converge to finite parameters",
            ));
        }
        let trend = problem.trend(&p);
        let sigma_obs = PositiveFloat::try_from(p.sigma).map_err(|_| {
            augurs_prophet::optimizer::Error::static_str("sigma_obs is not positive")
        })?;
        Ok(OptimizedParams {
            k: p.k,
            m: p.m,
            sigma_obs,
            delta: p.delta,
            beta: p.beta,
            trend,
        })
    }
}

/// Stan's objective (negative log posterior, constants dropped) at a
/// parameter point: how tests and `tools/prophet-stan-compare` judge a fit.
pub fn objective_at(data: &Data, k: f64, m: f64, delta: &[f64], beta: &[f64], sigma: f64) -> f64 {
    let problem = Problem {
        data,
        rows: data.y.len(),
        regressors: usize::try_from(data.K).unwrap_or(0),
        changepoints: data.t_change.len(),
        flat: data.trend_indicator == TrendIndicator::Flat,
        multiplicative: data.s_m.iter().any(|&m| m != 0),
    };
    problem.objective(&Params {
        k,
        m,
        delta: delta.to_vec(),
        beta: beta.to_vec(),
        sigma,
    })
}
