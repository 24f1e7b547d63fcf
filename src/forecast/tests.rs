use augurs_prophet::PositiveFloat;
use augurs_prophet::optimizer::{Data, InitialParams, Optimizer, TrendIndicator};

use super::optimizer::{NativeOptimizer, objective_at};
use super::*;
use crate::data::rng::Rng;

fn positive(v: f64) -> PositiveFloat {
    PositiveFloat::try_from(v).expect("positive")
}

/// A small Prophet problem: a bent line, one daily-like harmonic, noise.
fn problem(multiplicative: bool) -> Data {
    let rows = 300;
    let mut rng = Rng::new(7);
    let t: Vec<f64> = (0..rows).map(|i| i as f64 / (rows - 1) as f64).collect();
    let mut x = Vec::new();
    let y: Vec<f64> = t
        .iter()
        .map(|&t| {
            let (s, c) = ((t * 40.0).sin(), (t * 40.0).cos());
            x.extend([s, c]);
            let trend = 0.4 + 0.2 * t + if t > 0.5 { 0.3 * (t - 0.5) } else { 0.0 };
            let season = 0.05 * s - 0.02 * c;
            let mean = if multiplicative {
                trend * (1.0 + season)
            } else {
                trend + season
            };
            mean + 0.01 * rng.normal()
        })
        .collect();
    let t_change: Vec<f64> = (1..=8).map(|i| i as f64 * 0.1).collect();
    Data {
        T: rows as i32,
        y,
        t,
        cap: vec![0.0; rows],
        S: t_change.len() as i32,
        t_change,
        trend_indicator: TrendIndicator::Linear,
        K: 2,
        s_a: vec![i32::from(!multiplicative); 2],
        s_m: vec![i32::from(multiplicative); 2],
        X: x,
        sigmas: vec![positive(10.0); 2],
        tau: positive(0.05),
    }
}

fn initial(data: &Data) -> InitialParams {
    InitialParams {
        k: 0.1,
        m: 0.3,
        delta: vec![0.0; data.t_change.len()],
        beta: vec![0.0; 2],
        sigma_obs: positive(1.0),
    }
}

/// The optimizer's answer is a minimum of Stan's objective: no single
/// coordinate moved either way (nor sigma) lowers it.
fn assert_is_minimum(data: &Data) {
    let fit = NativeOptimizer
        .optimize(&initial(data), data, &Default::default())
        .expect("fit");
    let sigma = *fit.sigma_obs;
    let best = objective_at(data, fit.k, fit.m, &fit.delta, &fit.beta, sigma);
    let mut point: Vec<f64> = vec![fit.k, fit.m];
    point.extend(&fit.delta);
    point.extend(&fit.beta);
    let split = 2 + fit.delta.len();
    for j in 0..point.len() {
        for step in [1e-4, -1e-4, 1e-6, -1e-6] {
            let mut moved = point.clone();
            moved[j] += step;
            let value = objective_at(
                data,
                moved[0],
                moved[1],
                &moved[2..split],
                &moved[split..],
                sigma,
            );
            assert!(
                value >= best - 1e-9 * best.abs(),
                "coordinate {j} moved by {step} lowers the objective: {value} < {best}"
            );
        }
    }
    for factor in [1.001, 0.999] {
        let value = objective_at(data, fit.k, fit.m, &fit.delta, &fit.beta, sigma * factor);
        assert!(value >= best - 1e-9 * best.abs(), "sigma × {factor}");
    }
    // The fitted trend is the one the parameters describe.
    assert_eq!(fit.trend.len(), data.y.len());
    assert!((fit.trend[0] - (fit.k * data.t[0] + fit.m)).abs() < 1e-12);
    // And it recovers the signal: sigma near the noise level.
    assert!((0.005..0.02).contains(&sigma), "sigma {sigma}");
}

#[test]
fn native_optimizer_finds_the_map_point_additive() {
    assert_is_minimum(&problem(false));
}

#[test]
fn native_optimizer_finds_the_map_point_multiplicative() {
    assert_is_minimum(&problem(true));
}

#[test]
fn native_optimizer_zeroes_needless_changepoints() {
    // A straight line plus noise: the Laplace prior should leave (almost)
    // every delta at exactly 0.
    let mut data = problem(false);
    let mut rng = Rng::new(11);
    data.y = data
        .t
        .iter()
        .map(|t| 0.2 + 0.5 * t + 0.01 * rng.normal())
        .collect();
    let fit = NativeOptimizer
        .optimize(&initial(&data), &data, &Default::default())
        .expect("fit");
    let zeros = fit.delta.iter().filter(|d| **d == 0.0).count();
    assert!(zeros >= 4, "deltas {:?}", fit.delta);
    assert!(
        fit.delta.iter().all(|d| d.abs() < 0.01),
        "deltas {:?}",
        fit.delta
    );
    assert!((fit.k - 0.5).abs() < 0.01, "k {}", fit.k);
}

#[test]
fn logistic_growth_is_refused_with_a_reason() {
    let mut data = problem(false);
    data.trend_indicator = TrendIndicator::Logistic;
    let error = NativeOptimizer
        .optimize(&initial(&data), &data, &Default::default())
        .expect_err("logistic");
    assert!(error.to_string().contains("logistic"), "{error}");
}

#[test]
fn band_scores_count_half_widths_and_direction() {
    assert_eq!(band_score(5.0, 4.0, 6.0), None);
    assert_eq!(band_score(6.0, 4.0, 6.0), None, "the edge is inside");
    let above = band_score(8.0, 4.0, 6.0).expect("above");
    assert_eq!(above.direction, BandDirection::Above);
    assert!((above.score - 2.0).abs() < 1e-12);
    let below = band_score(3.5, 4.0, 6.0).expect("below");
    assert_eq!(below.direction, BandDirection::Below);
    assert!((below.score - 0.5).abs() < 1e-12);
    assert_eq!(band_score(f64::NAN, 4.0, 6.0), None);
    assert_eq!(
        band_score(2.0 + 1e-15, 2.0, 2.0),
        None,
        "rounding noise on a constant series is not an anomaly"
    );
    let flat = band_score(5.1, 5.0, 5.0).expect("zero-width band");
    assert!(flat.score.is_finite() && flat.score > 1.0);
}

#[test]
fn gaps_are_interpolated_and_counted() {
    let (filled, count) =
        interpolate_gaps(&[f64::NAN, 1.0, f64::NAN, f64::NAN, 4.0, f64::NAN]).expect("some");
    assert_eq!(filled, vec![1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
    assert_eq!(count, 4);
    assert!(interpolate_gaps(&[f64::NAN, f64::NAN]).is_none());
}

#[test]
fn wall_clock_follows_daylight_saving() {
    let berlin = time_zone("Europe/Berlin").expect("zone");
    // 2026-03-29 01:00 UTC is when Berlin moves from +01:00 to +02:00.
    let before = crate::data::time::parse_timestamp_ms("2026-03-29T00:30:00Z").expect("ts");
    let after = crate::data::time::parse_timestamp_ms("2026-03-29T01:30:00Z").expect("ts");
    assert_eq!(wall_clock_secs(&berlin, before) - before / 1000, 3600);
    assert_eq!(wall_clock_secs(&berlin, after) - after / 1000, 7200);
    assert!(time_zone("Mars/Olympus_Mons").is_err());
}

fn settings(model: ForecastModel) -> ForecastSettings {
    ForecastSettings {
        model,
        horizon: Duration::from_secs(3600),
        changepoint_prior_scale: 0.1,
        seasonality_mode: SeasonalityMode::Additive,
        interval_width: 0.8,
        uncertainty_samples: 200,
        timezone: "UTC".into(),
    }
}

/// A daily cycle on New York wall-clock time (peak at 18:00 local), across
/// the 2026-03-08 switch to daylight saving, every 10 minutes for five weeks.
fn business_hours() -> (Vec<i64>, Vec<f64>) {
    let ny = time_zone("America/New_York").expect("zone");
    let start = crate::data::time::parse_timestamp_ms("2026-02-16T00:00:00Z").expect("ts");
    let step = 600_000;
    let mut rng = Rng::new(3);
    (0..5 * 7 * 144)
        .map(|i| {
            let ms = start + i * step;
            let day_fraction = wall_clock_secs(&ny, ms).rem_euclid(86_400) as f64 / 86_400.0;
            let cycle = (std::f64::consts::TAU * day_fraction).sin();
            (ms, 50.0 + 15.0 * cycle + rng.normal())
        })
        .unzip()
}

fn mean_abs_error(forecast: &SeriesForecast, values: &[f64]) -> f64 {
    values
        .iter()
        .zip(&forecast.yhat)
        .map(|(v, f)| (v - f).abs())
        .sum::<f64>()
        / values.len() as f64
}

#[test]
fn prophet_seasonality_on_local_time_survives_dst() {
    let (ts, values) = business_hours();
    let mut local = settings(ForecastModel::Prophet);
    local.timezone = "America/New_York".into();
    let on_local = forecast_series("busy", &ts, &values, 600_000, &local).expect("local");
    let on_utc = forecast_series(
        "busy",
        &ts,
        &values,
        600_000,
        &settings(ForecastModel::Prophet),
    )
    .expect("utc");
    let (local_error, utc_error) = (
        mean_abs_error(&on_local, &values),
        mean_abs_error(&on_utc, &values),
    );
    // On UTC the pattern moves by an hour half-way through, so a daily
    // seasonality cannot fit both halves.
    assert!(
        local_error < 0.7 * utc_error,
        "local {local_error:.3} vs UTC {utc_error:.3}"
    );
    assert!(
        on_local
            .notes
            .iter()
            .any(|n| n.contains("America/New_York"))
    );
}

#[test]
fn forecasts_cover_history_and_horizon_with_ordered_bands() {
    let (ts, values) = business_hours();
    for model in [ForecastModel::Prophet, ForecastModel::Mstl] {
        let f = forecast_series("busy", &ts, &values, 600_000, &settings(model)).expect("fit");
        assert_eq!(f.history_points, ts.len());
        assert_eq!(
            f.timestamps_ms.len(),
            ts.len() + 6,
            "{model}: 60 min at 10 min"
        );
        assert_eq!(f.yhat.len(), f.timestamps_ms.len());
        let (h_ts, h_yhat, h_lower, h_upper) = f.horizon();
        assert_eq!(h_ts[0], ts[ts.len() - 1] + 600_000);
        for i in 0..h_yhat.len() {
            assert!(
                h_lower[i] < h_yhat[i] && h_yhat[i] < h_upper[i],
                "{model} {i}"
            );
        }
        // The band holds roughly interval_width of the history.
        let inside = values
            .iter()
            .zip(f.lower.iter().zip(&f.upper))
            .filter(|(v, (l, u))| *l <= *v && *v <= *u)
            .count() as f64
            / values.len() as f64;
        assert!((0.6..0.97).contains(&inside), "{model}: {inside:.3} inside");
    }
}

#[test]
fn too_little_history_says_how_much_is_needed() {
    let ts: Vec<i64> = (0..5).map(|i| i * 30_000).collect();
    let values = vec![1.0, 2.0, f64::NAN, 3.0, 2.0];
    for model in [ForecastModel::Prophet, ForecastModel::Mstl] {
        let error =
            forecast_series("cpu", &ts, &values, 30_000, &settings(model)).expect_err("too short");
        match &error {
            ForecastError::NotEnoughHistory {
                have_points,
                need_points,
                ..
            } => {
                assert_eq!(*have_points, 4);
                assert_eq!(*need_points, 10);
            }
            other => panic!("{model}: {other}"),
        }
        assert!(error.to_string().contains("cpu: "), "{error}");
    }
}

#[test]
fn short_history_turns_seasonality_off_and_says_so() {
    // Six hours at 30 s: no daily cycle to learn, yet a band.
    let ts: Vec<i64> = (0..720).map(|i| i * 30_000).collect();
    let mut rng = Rng::new(1);
    let values: Vec<f64> = (0..720).map(|_| 50.0 + rng.normal()).collect();
    let prophet = forecast_series(
        "cpu",
        &ts,
        &values,
        30_000,
        &settings(ForecastModel::Prophet),
    )
    .expect("prophet");
    assert!(
        prophet
            .notes
            .iter()
            .any(|n| n.starts_with("daily seasonality off: needs 2.0 days")),
        "{:?}",
        prophet.notes
    );
    let mstl =
        forecast_series("cpu", &ts, &values, 30_000, &settings(ForecastModel::Mstl)).expect("mstl");
    assert!(mstl.notes.iter().any(|n| n.contains("AutoETS alone")));
    for f in [&prophet, &mstl] {
        assert!(f.upper.iter().zip(&f.lower).all(|(u, l)| u > l));
    }
}

#[test]
fn missing_values_are_counted_and_still_forecast() {
    let (ts, mut values) = business_hours();
    for v in values.iter_mut().skip(500).take(40) {
        *v = f64::NAN;
    }
    for model in [ForecastModel::Prophet, ForecastModel::Mstl] {
        let f = forecast_series("busy", &ts, &values, 600_000, &settings(model)).expect("fit");
        assert_eq!(f.missing_points, 40, "{model}");
        assert!(f.yhat[500..540].iter().all(|v| v.is_finite()), "{model}");
    }
}

#[test]
fn horizon_points_round_up() {
    let s = settings(ForecastModel::Mstl);
    assert_eq!(s.horizon_points(30_000), 120);
    assert_eq!(s.horizon_points(7 * 60_000), 9);
}

#[test]
fn analytic_history_band_matches_prophets_simulated_band() {
    use augurs_prophet::{OptProphetOptions, Prophet, TrainingData};
    let (ts, values) = business_hours();
    let ours = forecast_series(
        "busy",
        &ts,
        &values,
        600_000,
        &settings(ForecastModel::Prophet),
    )
    .expect("fit");
    // Prophet's own in-sample band: 1,000 simulated draws per row.
    let options = OptProphetOptions {
        changepoint_prior_scale: Some(positive(0.1)),
        interval_width: Some(augurs_prophet::IntervalWidth::try_new(0.8).expect("width")),
        uncertainty_samples: Some(1000),
        ..Default::default()
    };
    let mut prophet = Prophet::new(options.into(), NativeOptimizer);
    let ds: Vec<i64> = ts.iter().map(|ms| ms / 1000).collect();
    prophet
        .fit(
            TrainingData::new(ds, values.clone()).expect("data"),
            Default::default(),
        )
        .expect("fit");
    let simulated = prophet.predict(None).expect("predict");
    let (lower, upper) = (
        simulated.yhat.lower.expect("lower"),
        simulated.yhat.upper.expect("upper"),
    );
    let n = values.len() as f64;
    let mean_half =
        |l: &[f64], u: &[f64]| l.iter().zip(u).map(|(l, u)| (u - l) / 2.0).sum::<f64>() / n;
    let (ours_half, simulated_half) = (
        mean_half(&ours.lower[..values.len()], &ours.upper[..values.len()]),
        mean_half(&lower, &upper),
    );
    assert!(
        (ours_half / simulated_half - 1.0).abs() < 0.03,
        "analytic half-width {ours_half:.4} vs simulated {simulated_half:.4}"
    );
    // Same centre too.
    let centre_gap = ours
        .yhat
        .iter()
        .zip(&simulated.yhat.point)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(centre_gap < 1e-9, "yhat differs by {centre_gap}");
}

#[test]
fn rows_find_the_forecast_point_nearest_within_half_a_step() {
    let stamps = [1_000, 3_000, 5_000];
    assert_eq!(nearest_index(&stamps, 3_000), Some(1));
    assert_eq!(nearest_index(&stamps, 3_900), Some(1));
    assert_eq!(nearest_index(&stamps, 4_100), Some(2));
    assert_eq!(nearest_index(&stamps, 6_000), Some(2));
    assert_eq!(nearest_index(&stamps, 6_100), None);
    assert_eq!(nearest_index(&stamps, -100), None);
    assert_eq!(nearest_index(&[], 0), None);
}
