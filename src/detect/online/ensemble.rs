//! The detectors together: one series' likelihoods and point-wise row
//! likelihoods by detection method (the ensemble is the largest of its
//! parts), the probationary period, and whole-frame flags and alarms.

use super::alarms::{news_only, news_rows};
use super::context::context_likelihoods;
use super::level::level_likelihoods;
use super::likelihood::ALARM_LEVEL;
use super::local::local_row_likelihoods;
use super::robust::{RobustParams, robust_likelihoods, robust_row_likelihoods, robust_scores};
use super::seasonal::seasonal_likelihoods;

/// NAB's probationary period, used by every online detector that trains:
/// the first 15 % of the rows.
pub fn probation_rows(rows: usize) -> usize {
    (rows as f64 * 0.15) as usize
}

/// Per row, whether any of `columns` (per-metric scores, `rows` each) is at
/// [`ALARM_LEVEL`] or above.
pub fn rows_at_alarm_level(columns: &[Vec<f64>], rows: usize) -> Vec<bool> {
    (0..rows)
        .map(|row| columns.iter().any(|column| column[row] >= ALARM_LEVEL))
        .collect()
}

/// Point-wise flags of `frame` by `method`: a row is flagged when any
/// metric's [`method_row_likelihoods`] reaches [`ALARM_LEVEL`] (every
/// anomalous row, not one alarm per event). The autoencoder is not run here
/// (see [`lstm_frame_likelihoods`]): `lstm` flags nothing.
///
/// [`lstm_frame_likelihoods`]: super::lstm_frame_likelihoods
pub fn frame_method_flags(
    frame: &crate::data::MetricFrame,
    method: crate::config::DetectionMethod,
) -> Vec<bool> {
    let probation = probation_rows(frame.len());
    let columns: Vec<Vec<f64>> = frame
        .columns()
        .iter()
        .filter_map(|column| method_row_likelihoods(method, column, probation, None))
        .collect();
    rows_at_alarm_level(&columns, frame.len())
}

/// Every metric of `frame` scored online, and per row whether any metric
/// reached [`ALARM_LEVEL`].
pub fn frame_alarms(frame: &crate::data::MetricFrame) -> (Vec<Vec<f64>>, Vec<bool>) {
    let scores: Vec<Vec<f64>> = frame
        .columns()
        .iter()
        .map(|column| robust_scores(column, RobustParams::default()))
        .collect();
    let flags = rows_at_alarm_level(&scores, frame.len());
    (scores, flags)
}

/// The statistical detectors of one series together: per row the largest of
/// the robust and seasonal likelihoods (the seasonal one where the first
/// `probation` rows show a period), both through a [`NewsGate`], and the
/// level likelihood.
///
/// [`NewsGate`]: super::NewsGate
pub fn statistical_likelihoods(values: &[f64], probation: usize, params: RobustParams) -> Vec<f64> {
    let news = news_rows(probation);
    let mut out = news_only(&robust_likelihoods(values, params), news);
    raise_to(&mut out, &level_likelihoods(values, params));
    if let Some(seasonal) = seasonal_likelihoods(values, probation, params) {
        raise_to(&mut out, &news_only(&seasonal, news));
    }
    out
}

/// Per row, the larger of `out` and `part`: how the ensembles combine.
fn raise_to(out: &mut [f64], part: &[f64]) {
    for (slot, l) in out.iter_mut().zip(part) {
        *slot = slot.max(*l);
    }
}

/// One series' row likelihoods by `method`, the autoencoder's likelihoods
/// for this series (if a model scored it) given as `lstm`. None when the
/// chosen detector has nothing to say: `seasonal` on rows without a clear
/// period in the first `probation` rows, `lstm` without a model. The
/// autoencoder's likelihoods (alone or in the ensemble) and the ensemble's
/// robust and seasonal ones pass a [`NewsGate`] of [`news_rows`].
///
/// [`NewsGate`]: super::NewsGate
pub fn method_likelihoods(
    method: crate::config::DetectionMethod,
    values: &[f64],
    probation: usize,
    lstm: Option<&[f64]>,
) -> Option<Vec<f64>> {
    use crate::config::DetectionMethod;
    let params = RobustParams::default();
    match method {
        DetectionMethod::Robust => Some(robust_likelihoods(values, params)),
        DetectionMethod::Level => Some(level_likelihoods(values, params)),
        DetectionMethod::Seasonal => seasonal_likelihoods(values, probation, params),
        DetectionMethod::Context => context_likelihoods(values, probation),
        DetectionMethod::Lstm => lstm.map(|l| news_only(l, news_rows(probation))),
        DetectionMethod::Ensemble => {
            let mut out = statistical_likelihoods(values, probation, params);
            if let Some(context) = context_likelihoods(values, probation) {
                raise_to(&mut out, &context);
            }
            if let Some(lstm) = lstm {
                raise_to(&mut out, &news_only(lstm, news_rows(probation)));
            }
            Some(out)
        }
    }
}

/// One series' likelihoods for point-wise flags by `method` (the dashboard's
/// marks, `eval labelled`): the robust detector's
/// [`Scored::row_likelihood`], the others' likelihoods as they are. The
/// ensemble's row flags are the robust, local, seasonal and contextual
/// detectors': the level detector and the autoencoder each lowered
/// point-wise F1 on the labelled sets; the local one lowers it a little and
/// finds every labelled event (docs/evaluation.md). None as for
/// [`method_likelihoods`].
///
/// [`Scored::row_likelihood`]: super::Scored::row_likelihood
pub fn method_row_likelihoods(
    method: crate::config::DetectionMethod,
    values: &[f64],
    probation: usize,
    lstm: Option<&[f64]>,
) -> Option<Vec<f64>> {
    use crate::config::DetectionMethod;
    let params = RobustParams::default();
    match method {
        DetectionMethod::Robust => Some(robust_row_likelihoods(values, params)),
        DetectionMethod::Ensemble => {
            let mut out = robust_row_likelihoods(values, params);
            raise_to(&mut out, &local_row_likelihoods(values, params));
            let seasonal = seasonal_likelihoods(values, probation, params);
            let context = context_likelihoods(values, probation);
            for part in [seasonal.as_deref(), context.as_deref()]
                .into_iter()
                .flatten()
            {
                raise_to(&mut out, part);
            }
            Some(out)
        }
        other => method_likelihoods(other, values, probation, lstm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::tests::cycle;

    #[test]
    fn the_ensemble_is_the_largest_of_its_parts() {
        let values = cycle(1200, 48, 9);
        let probation = probation_rows(values.len());
        let params = RobustParams::default();
        let lstm: Vec<f64> = (0..values.len()).map(|i| (i % 7) as f64 / 7.0).collect();
        let ensemble = method_likelihoods(
            crate::config::DetectionMethod::Ensemble,
            &values,
            probation,
            Some(&lstm),
        )
        .expect("always scores");
        let news = news_rows(probation);
        let robust = news_only(&robust_likelihoods(&values, params), news);
        let level = level_likelihoods(&values, params);
        let seasonal = seasonal_likelihoods(&values, probation, params).expect("period");
        let context = context_likelihoods(&values, probation).expect("values");
        let gated_lstm = news_only(&lstm, news);
        for i in 0..values.len() {
            let expected = robust[i]
                .max(level[i])
                .max(news_only(&seasonal, news)[i])
                .max(context[i])
                .max(gated_lstm[i]);
            assert_eq!(ensemble[i], expected, "row {i}");
        }
        // Its point-wise flags: the robust row likelihood, local, seasonal,
        // context.
        let rows = method_row_likelihoods(
            crate::config::DetectionMethod::Ensemble,
            &values,
            probation,
            Some(&lstm),
        )
        .expect("always scores");
        let robust_rows = robust_row_likelihoods(&values, params);
        let local = local_row_likelihoods(&values, params);
        for i in 0..values.len() {
            let expected = robust_rows[i]
                .max(local[i])
                .max(seasonal[i])
                .max(context[i]);
            assert_eq!(rows[i], expected, "row {i}");
        }
        // Without a period or a model, those detectors have nothing to say.
        let mut rng = Rng::new(1);
        let noise: Vec<f64> = (0..600).map(|_| rng.normal()).collect();
        use crate::config::DetectionMethod;
        assert!(method_likelihoods(DetectionMethod::Seasonal, &noise, 90, None).is_none());
        assert!(method_likelihoods(DetectionMethod::Lstm, &noise, 90, None).is_none());
    }
}
