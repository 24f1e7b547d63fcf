//! Not part of PulseWatch: Prophet fitted by Stan (wasmstan)
//! and by PulseWatch's native optimizer on the same data; timings, objective, yhat.
#[path = "../../../src/forecast/optimizer.rs"]
mod optimizer;
use augurs_prophet::optimizer::{Data, InitialParams, OptimizeOpts, OptimizedParams, Optimizer};
use augurs_prophet::{wasmstan::WasmstanOptimizer, *};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, Clone)]
struct Recording<O> {
    inner: O,
    last: Arc<Mutex<Option<(Data, OptimizedParams)>>>,
}
impl<O: Optimizer> Optimizer for Recording<O> {
    fn optimize(
        &self,
        init: &InitialParams,
        data: &Data,
        opts: &OptimizeOpts,
    ) -> Result<OptimizedParams, augurs_prophet::optimizer::Error> {
        let r = self.inner.optimize(init, data, opts)?;
        *self.last.lock().unwrap() = Some((data.clone(), r.clone()));
        Ok(r)
    }
}

fn run<O: Optimizer + Clone>(opt: O, ds: &[i64], y: &[f64]) -> (f64, f64, Vec<f64>, f64) {
    let rec = Recording {
        inner: opt,
        last: Arc::new(Mutex::new(None)),
    };
    let opts = OptProphetOptions {
        changepoint_prior_scale: Some(0.1.try_into().unwrap()),
        interval_width: Some(IntervalWidth::try_new(0.8).unwrap()),
        uncertainty_samples: Some(0),
        ..Default::default()
    };
    let mut p = Prophet::new(opts.into(), rec.clone());
    let t0 = Instant::now();
    p.fit(
        TrainingData::new(ds.to_vec(), y.to_vec()).unwrap(),
        Default::default(),
    )
    .unwrap();
    let fit = t0.elapsed().as_secs_f64();
    let fut = p
        .make_future_dataframe(120.try_into().unwrap(), IncludeHistory::Yes)
        .unwrap();
    let pred = p.predict(fut).unwrap();
    let (data, r) = rec.last.lock().unwrap().clone().unwrap();
    let obj = optimizer::objective_at(&data, r.k, r.m, &r.delta, &r.beta, *r.sigma_obs);
    (fit, obj, pred.yhat.point, *r.sigma_obs)
}

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let mut cols = vec![vec![]; 3];
    let mut ds = vec![];
    for (i, line) in text.lines().skip(1).enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        ds.push(1_767_225_600 + 30 * i as i64);
        for c in 0..3 {
            cols[c].push(f[c + 1].parse::<f64>().unwrap());
        }
    }
    let t0 = Instant::now();
    let stan = WasmstanOptimizer::new();
    println!(
        "wasmstan optimizer creation {:.3} s",
        t0.elapsed().as_secs_f64()
    );
    for (name, y) in ["cpu", "memory", "latency"].iter().zip(&cols) {
        let (sf, so, sy, ss) = run(stan.clone(), &ds, y);
        let (nf, no, ny, ns) = run(optimizer::NativeOptimizer, &ds, y);
        let n = sy.len();
        let dev = |a: &[f64], b: &[f64]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs() / b.abs())
                .fold(0.0, f64::max)
        };
        println!(
            "{name}: fit stan {sf:.3} s native {nf:.4} s ({:.0}x); objective stan {so:.6} native {no:.6} (native lower by {:.3e}); sigma stan {ss:.6} native {ns:.6}; yhat max rel diff history {:.3} %, horizon {:.3} %",
            sf / nf,
            so - no,
            100.0 * dev(&ny[..n - 120], &sy[..n - 120]),
            100.0 * dev(&ny[n - 120..], &sy[n - 120..])
        );
    }
}
