//! The online detector's state over live data: one [`SeriesStream`] per
//! series, fed only the rows it has not seen, so a refresh costs new rows ×
//! series however long the window. A series that joins starts its own
//! probation; one that leaves the window is forgotten.

use std::collections::{HashMap, VecDeque};

use crate::config::DetectionMethod;
use crate::data::MetricFrame;
use crate::detect::online::SeriesStream;

use super::fuse::OnlineScores;

#[derive(Debug, Clone)]
struct Tracked {
    stream: SeriesStream,
    /// The newest row fed.
    last_ms: i64,
    /// (row time, row likelihood) of the rows still in the window.
    scores: VecDeque<(i64, f64)>,
}

/// Every followed series' stream.
#[derive(Debug, Clone)]
pub struct OnlineState {
    method: DetectionMethod,
    probation: usize,
    series: HashMap<String, Tracked>,
}

impl OnlineState {
    /// Streams for `method`, each series' first `probation` rows its
    /// probation.
    pub fn new(method: DetectionMethod, probation: usize) -> Self {
        Self {
            method,
            probation,
            series: HashMap::new(),
        }
    }

    /// Series still in their probation.
    pub fn in_probation(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .series
            .iter()
            .filter(|(_, t)| t.stream.in_probation())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Feeds each series of `frame` the rows newer than it has seen (a new
    /// series: all of its rows), forgets series no longer in the frame, and
    /// returns the frame's scores.
    pub fn update(&mut self, frame: &MetricFrame) -> OnlineScores {
        let timestamps = frame.timestamps_ms();
        let first_ms = timestamps.first().copied().unwrap_or(i64::MAX);
        self.series
            .retain(|name, _| frame.names().iter().any(|n| n == name));
        let mut likelihoods = Vec::with_capacity(frame.names().len());
        for (name, values) in frame.names().iter().zip(frame.columns()) {
            let tracked = self.series.entry(name.clone()).or_insert_with(|| Tracked {
                stream: SeriesStream::new(self.method, self.probation),
                last_ms: i64::MIN,
                scores: VecDeque::new(),
            });
            for (ms, value) in timestamps.iter().zip(values) {
                if *ms > tracked.last_ms {
                    let l = tracked.stream.push(*value);
                    tracked.scores.push_back((*ms, l));
                    tracked.last_ms = *ms;
                }
            }
            while tracked.scores.front().is_some_and(|(ms, _)| *ms < first_ms) {
                tracked.scores.pop_front();
            }
            // Every row of the frame was fed once, in order: the scores
            // line up with the rows (a row the series never had scores 0).
            let mut aligned = Vec::with_capacity(timestamps.len());
            let mut scores = tracked.scores.iter().peekable();
            for ms in timestamps {
                while scores.peek().is_some_and(|(at, _)| at < ms) {
                    scores.next();
                }
                match scores.peek() {
                    Some((at, l)) if at == ms => aligned.push(*l),
                    _ => aligned.push(0.0),
                }
            }
            likelihoods.push(Some(aligned));
        }
        OnlineScores {
            first_ms: timestamps.first().copied(),
            rows: frame.len(),
            likelihoods,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::online::method_row_likelihoods;

    type Column<'a> = (&'a str, fn(usize) -> f64);

    fn frame(start: usize, rows: usize, columns: &[Column]) -> MetricFrame {
        MetricFrame::new(
            (start..start + rows).map(|i| i as i64 * 1000).collect(),
            columns.iter().map(|(n, _)| (*n).to_owned()).collect(),
            columns
                .iter()
                .map(|(_, f)| (start..start + rows).map(f).collect())
                .collect(),
            None,
        )
        .expect("frame")
    }

    /// A sliding window, fed a few rows at a time, scores each row as the
    /// batch pass over the whole series does; a series that joins later
    /// starts its own probation.
    #[test]
    fn sliding_windows_score_as_one_batch_pass() {
        fn wave(i: usize) -> f64 {
            (i as f64 * 0.3).sin() * 10.0 + if i == 700 { 60.0 } else { 0.0 }
        }
        fn other(i: usize) -> f64 {
            (i % 7) as f64
        }
        let method = DetectionMethod::Ensemble;
        let mut state = OnlineState::new(method, 40);
        let window = 200;
        let mut end = window;
        let mut last = None;
        let mut b_start = None;
        while end <= 1000 {
            let start = end - window;
            let f = if end >= 500 {
                b_start.get_or_insert(start);
                frame(start, window, &[("a", wave), ("b", other)])
            } else {
                frame(start, window, &[("a", wave)])
            };
            last = Some((state.update(&f), start));
            end += 7;
        }
        let (scores, start) = last.expect("ran");
        let all: Vec<f64> = (0..start + window).map(wave).collect();
        let batch = method_row_likelihoods(method, &all, 40, None).expect("scores");
        let a = scores.likelihoods[0].as_ref().expect("a");
        for (row, l) in a.iter().enumerate() {
            assert!((l - batch[start + row]).abs() <= 1e-12, "row {row}");
        }
        // b joined later: its rows from there are its own series.
        let b_start = b_start.expect("b joined");
        let b_all: Vec<f64> = (b_start..start + window).map(other).collect();
        let b_batch = method_row_likelihoods(method, &b_all, 40, None).expect("scores");
        let b = scores.likelihoods[1].as_ref().expect("b");
        for (row, l) in b.iter().enumerate() {
            assert!(
                (l - b_batch[start - b_start + row]).abs() <= 1e-12,
                "b row {row}"
            );
        }
        assert!(state.in_probation().is_empty());
        // Gone from the frame: forgotten.
        state.update(&frame(1000, 10, &[("b", other)]));
        assert_eq!(state.series.len(), 1);
    }
}
