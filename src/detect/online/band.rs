//! The forecast band as an online detector: Prophet refitted on the rows
//! seen so far, each new row's distance from the forecast made before it
//! turned into a likelihood.

use super::likelihood::{TailLikelihood, median_in_place};

/// The forecast band as an online detector of one series: Prophet is fitted
/// on the rows seen so far (first on the `probation` rows), predicts the next
/// `refit_rows` rows before they are seen, and is refitted after them. Row
/// t's distance is |value − yhat| in units of the band's half-width (the
/// in-sample band, which is analytic and deterministic), turned into a
/// likelihood against the distances before it (the in-sample residuals of
/// the first fit seed that reference). Rows before probation score 0.
pub fn band_likelihoods(
    stamps_ms: &[i64],
    values: &[f64],
    probation: usize,
    refit_rows: usize,
    settings: &crate::forecast::ForecastSettings,
) -> Option<Vec<f64>> {
    let n = values.len().min(stamps_ms.len());
    if probation < 20 || n <= probation || refit_rows == 0 {
        return None;
    }
    let step_ms = crate::data::median_step_ms(&stamps_ms[..n])?.max(1);
    let mut settings = settings.clone();
    // The horizon's simulated band is not used: one sample keeps it cheap.
    settings.uncertainty_samples = 1;
    let mut tail = TailLikelihood::new(5000, 2);
    let mut out = vec![0.0; n];
    let mut fit_end = probation;
    let mut seeded = false;
    while fit_end < n {
        let next = (fit_end + refit_rows).min(n);
        let span_ms = (stamps_ms[next - 1] - stamps_ms[fit_end - 1]).max(step_ms);
        settings.horizon = std::time::Duration::from_millis(span_ms as u64);
        let fitted = crate::forecast::forecast_series(
            "value",
            &stamps_ms[..fit_end],
            &values[..fit_end],
            step_ms,
            &settings,
        );
        if let Ok(forecast) = fitted {
            let h = forecast.history_points;
            let mut widths: Vec<f64> = (0..h)
                .map(|i| (forecast.upper[i] - forecast.lower[i]) / 2.0)
                .filter(|w| w.is_finite() && *w > 0.0)
                .collect();
            let half_width = if widths.is_empty() {
                1e-9
            } else {
                median_in_place(&mut widths).max(1e-9)
            };
            if !seeded {
                for (value, yhat) in values[..h.min(fit_end)].iter().zip(&forecast.yhat) {
                    let residual = (value - yhat).abs();
                    if residual.is_finite() {
                        tail.update(residual / half_width);
                    }
                }
                seeded = true;
            }
            let horizon_stamps = &forecast.timestamps_ms[h..];
            for row in fit_end..next {
                let at = crate::forecast::nearest_position(horizon_stamps, stamps_ms[row]);
                let yhat = at.and_then(|i| forecast.yhat.get(h + i)).copied();
                if let (Some(yhat), true) = (yhat, values[row].is_finite()) {
                    out[row] = tail.update((values[row] - yhat).abs() / half_width);
                }
            }
        }
        fit_end = next;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::ALARM_LEVEL;

    #[test]
    fn the_band_online_flags_a_spike_from_the_forecast_made_before_it() {
        let mut rng = Rng::new(21);
        let stamps: Vec<i64> = (0..600).map(|i| 1_767_225_600_000 + i * 60_000).collect();
        let mut values: Vec<f64> = (0..600)
            .map(|i| 50.0 + 0.01 * i as f64 + rng.normal())
            .collect();
        values[450] = 80.0;
        let settings = crate::forecast::ForecastSettings::from_config(
            &crate::config::Config::builtin().unwrap(),
            crate::forecast::ForecastModel::Prophet,
        );
        let full = band_likelihoods(&stamps, &values, 200, 100, &settings).unwrap();
        assert!(full[..200].iter().all(|l| *l == 0.0));
        assert!(full[450] >= ALARM_LEVEL, "{}", full[450]);
        let others = full[200..]
            .iter()
            .enumerate()
            .filter(|(i, l)| *i + 200 != 450 && **l >= ALARM_LEVEL)
            .count();
        assert!(others <= 4, "{others} other rows flagged");
        // The forecasts that judge rows ≤ t were all made from rows < t.
        let prefix = band_likelihoods(&stamps[..470], &values[..470], 200, 100, &settings).unwrap();
        assert_eq!(&full[..470], &prefix[..]);
    }
}
