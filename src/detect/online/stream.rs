//! One series' online detector as a stream: the state of every detector a
//! method uses, fed one row at a time, so a live monitor scores only the
//! rows that are new (cost per refresh: new rows × series, not the window).
//! Fed a whole series with the same probation, it gives exactly the batch
//! pass's row likelihoods ([`super::method_row_likelihoods`]; a part the
//! batch leaves out, such as `seasonal` without a period, is 0 here).

use crate::config::DetectionMethod;

use super::context::{ContextDetector, context_likelihood, probation_context_detector};
use super::level::{LEVEL_ROWS, LevelDetector};
use super::local::LocalStream;
use super::robust::{RobustDetector, RobustParams};
use super::seasonal::{SEASONAL_LAGS, SEASONAL_MIN_ACF, SeasonalDetector, dominant_period};

/// The detectors that learn something from the probationary rows (the
/// period, the value range): set up once those rows have been seen, then
/// fed them again, as the batch pass does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
enum Learned {
    /// Still in probation: the rows so far.
    Waiting(Vec<f64>),
    Ready {
        seasonal: Option<Box<SeasonalDetector>>,
        context: Option<Box<ContextDetector>>,
    },
}

/// One series' streaming state for `method`'s row likelihoods.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SeriesStream {
    method: DetectionMethod,
    probation: usize,
    rows: usize,
    robust: Option<RobustDetector>,
    local: Option<LocalStream>,
    level: Option<LevelDetector>,
    learned: Learned,
}

impl SeriesStream {
    /// A fresh stream whose first `probation` rows are its probation.
    pub fn new(method: DetectionMethod, probation: usize) -> Self {
        let params = RobustParams::default();
        let uses = |methods: &[DetectionMethod]| methods.contains(&method);
        use DetectionMethod as M;
        let mut stream = Self {
            method,
            probation,
            rows: 0,
            robust: uses(&[M::Robust, M::Ensemble]).then(|| RobustDetector::new(params)),
            local: uses(&[M::Ensemble]).then(|| LocalStream::new(params)),
            level: uses(&[M::Level]).then(|| LevelDetector::new(LEVEL_ROWS, params)),
            learned: Learned::Waiting(Vec::new()),
        };
        if probation == 0 {
            stream.learn();
        }
        stream
    }

    /// Rows seen so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whether the series is still in its probation (its detectors that
    /// learn from it say nothing yet).
    pub fn in_probation(&self) -> bool {
        self.rows < self.probation
    }

    fn learns(&self) -> (bool, bool) {
        use DetectionMethod as M;
        let seasonal = matches!(self.method, M::Seasonal | M::Ensemble);
        let context = matches!(self.method, M::Context | M::Ensemble);
        (seasonal, context)
    }

    /// The probation is over: find the period and the range in its rows,
    /// set the detectors up and feed them those rows.
    fn learn(&mut self) {
        let Learned::Waiting(head) = std::mem::replace(
            &mut self.learned,
            Learned::Ready {
                seasonal: None,
                context: None,
            },
        ) else {
            return;
        };
        let (use_seasonal, use_context) = self.learns();
        let params = RobustParams::default();
        let mut seasonal = use_seasonal
            .then(|| dominant_period(&head, SEASONAL_MIN_ACF))
            .flatten()
            .map(|period| SeasonalDetector::new(period, SEASONAL_LAGS, params));
        let mut context = use_context
            .then(|| probation_context_detector(&head, self.probation))
            .flatten();
        for value in &head {
            if let Some(s) = &mut seasonal {
                s.update_scored(*value);
            }
            if let Some(c) = &mut context {
                c.update(*value);
            }
        }
        self.learned = Learned::Ready {
            seasonal: seasonal.map(Box::new),
            context: context.map(Box::new),
        };
    }

    /// Scores the next row (NaN: missing).
    pub fn push(&mut self, value: f64) -> f64 {
        let row = self.rows;
        self.rows += 1;
        let mut out: f64 = 0.0;
        if let Some(robust) = &mut self.robust {
            out = out.max(robust.update_scored(value).row_likelihood);
        }
        if let Some(local) = &mut self.local {
            out = out.max(local.push(value));
        }
        if let Some(level) = &mut self.level {
            out = out.max(level.update_scored(value).likelihood);
        }
        match &mut self.learned {
            Learned::Waiting(head) => {
                head.push(value);
                if row + 1 >= self.probation {
                    self.learn();
                }
            }
            Learned::Ready { seasonal, context } => {
                if let Some(s) = seasonal {
                    out = out.max(s.update_scored(value).likelihood);
                }
                if let Some(c) = context {
                    out = out.max(context_likelihood(c.update(value)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::rng::Rng;
    use crate::detect::online::method_row_likelihoods;
    use crate::detect::online::tests::cycle;

    /// Row by row equals the batch pass, for every method, with gaps.
    #[test]
    fn a_stream_gives_the_batch_scores() {
        let mut rng = Rng::new(3);
        let mut values = cycle(1500, 48, 11);
        for (i, v) in values.iter_mut().enumerate() {
            if i % 97 == 5 {
                *v = f64::NAN;
            }
            if i % 331 == 200 {
                *v += 25.0 + rng.normal();
            }
        }
        use DetectionMethod as M;
        for method in [
            M::Robust,
            M::Level,
            M::Seasonal,
            M::Context,
            M::Lstm,
            M::Ensemble,
        ] {
            for probation in [0, 10, 225] {
                let batch = method_row_likelihoods(method, &values, probation, None)
                    .unwrap_or_else(|| vec![0.0; values.len()]);
                let mut stream = SeriesStream::new(method, probation);
                for (row, v) in values.iter().enumerate() {
                    let got = stream.push(*v);
                    assert!(
                        (got - batch[row]).abs() <= 1e-12,
                        "{method:?}, probation {probation}, row {row}: {got} vs {}",
                        batch[row]
                    );
                }
                assert_eq!(stream.rows(), values.len());
            }
        }
    }
}
