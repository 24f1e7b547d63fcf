//! Alarm shaping on top of row likelihoods: the [`Suppressor`] (one alarm
//! per event) and the [`NewsGate`] (an alarm only where it is news).

use std::collections::VecDeque;

use super::likelihood::ALARM_LEVEL;

/// One alarm per event: after a likelihood at [`ALARM_LEVEL`] or above, the
/// next `rows` rows are capped just under it.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Suppressor {
    rows: usize,
    /// Rows left in the current suppression.
    quiet_rows: usize,
}

impl Suppressor {
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            quiet_rows: 0,
        }
    }

    /// The alarm score for the next row's likelihood.
    pub fn alarm(&mut self, likelihood: f64) -> f64 {
        if self.quiet_rows > 0 {
            self.quiet_rows -= 1;
            likelihood.min(ALARM_LEVEL - 0.005)
        } else {
            if likelihood >= ALARM_LEVEL {
                self.quiet_rows = self.rows;
            }
            likelihood
        }
    }
}

/// Alarm scores from row likelihoods: capped just under [`ALARM_LEVEL`] for
/// `suppress` rows after an alarm (one alarm per event).
pub fn alarms_from(likelihoods: &[f64], suppress: usize) -> Vec<f64> {
    let mut suppressor = Suppressor::new(suppress);
    likelihoods.iter().map(|&l| suppressor.alarm(l)).collect()
}

/// The share of the probation over which an alarm of a single-row
/// detector must be news: see [`NewsGate`]. Half the probation was picked
/// on NAB (a quarter, three quarters and one probation were tried,
/// docs/evaluation.md).
pub const NEWS_PROBATION_SHARE: f64 = 0.5;

/// Rows of [`NEWS_PROBATION_SHARE`] for a probation of `probation` rows.
pub fn news_rows(probation: usize) -> usize {
    (probation as f64 * NEWS_PROBATION_SHARE) as usize
}

/// Alarms that are news: a likelihood at the alarm level passes only where
/// it is higher than every likelihood of the previous `rows` rows; others
/// are capped just under [`ALARM_LEVEL`]. A metric whose bursts recur at
/// the same height pages for the first, and again for a larger one. Used on
/// the detectors that judge single rows (robust, seasonal, autoencoder)
/// inside the ensemble, whose recurring bursts were most of its false
/// alarms on NAB; the level and contextual detectors, which already judge
/// patterns, are not gated.
#[derive(Debug, Clone)]
pub struct NewsGate {
    rows: usize,
    seen: usize,
    /// (row, likelihood) of the previous rows' running maxima, decreasing.
    peaks: VecDeque<(usize, f64)>,
}

impl NewsGate {
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            seen: 0,
            peaks: VecDeque::new(),
        }
    }

    /// The gated likelihood of the next row.
    pub fn gate(&mut self, likelihood: f64) -> f64 {
        let row = self.seen;
        self.seen += 1;
        while self
            .peaks
            .front()
            .is_some_and(|(at, _)| at + self.rows <= row)
        {
            self.peaks.pop_front();
        }
        let previous = self.peaks.front().map_or(0.0, |(_, peak)| *peak);
        let gated = if likelihood > previous {
            likelihood
        } else {
            likelihood.min(ALARM_LEVEL - 0.005)
        };
        while self
            .peaks
            .back()
            .is_some_and(|(_, peak)| *peak <= likelihood)
        {
            self.peaks.pop_back();
        }
        self.peaks.push_back((row, likelihood));
        gated
    }
}

/// [`NewsGate`] over a whole series.
pub fn news_only(likelihoods: &[f64], rows: usize) -> Vec<f64> {
    let mut gate = NewsGate::new(rows);
    likelihoods.iter().map(|l| gate.gate(*l)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alarms_from_caps_after_an_alarm() {
        let likelihoods = [0.5, 0.999, 0.999, 0.3, 0.999, 0.5, 0.999];
        let alarms = alarms_from(&likelihoods, 3);
        assert_eq!(alarms[1], 0.999);
        assert!(alarms[2] < ALARM_LEVEL && alarms[4] < ALARM_LEVEL);
        assert_eq!(alarms[3], 0.3);
        assert_eq!(alarms[6], 0.999);
    }

    #[test]
    fn only_news_passes_the_gate() {
        let quiet = 0.3;
        let mut likelihoods = vec![quiet; 1000];
        // The same burst height at 100 and 300, a higher one at 400, the
        // first height again at 900 (more than 500 rows after the last).
        for (row, l) in [(100, 0.999), (300, 0.999), (400, 0.9995), (900, 0.999)] {
            likelihoods[row] = l;
        }
        let gated = news_only(&likelihoods, 500);
        let alarms: Vec<usize> = (0..gated.len())
            .filter(|i| gated[*i] >= ALARM_LEVEL)
            .collect();
        assert_eq!(alarms, vec![100, 400, 900]);
        // What is not an alarm passes unchanged; a blocked one is capped.
        assert_eq!(gated[300], ALARM_LEVEL - 0.005);
        assert!(
            gated
                .iter()
                .enumerate()
                .all(|(i, g)| i == 300 || *g == likelihoods[i])
        );
        // Streaming: a prefix gates the same.
        assert_eq!(news_only(&likelihoods[..350], 500), gated[..350]);
        assert_eq!(news_rows(600), 300);
    }
}
