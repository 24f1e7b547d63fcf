//! The one rule that turns the detectors' outputs into marks and events,
//! for the window and the daemon alike. A row of a metric is marked when
//! any of these says so, and its mark carries the largest of their 0–100
//! scores:
//!
//! - the online detector (`detection.method`): the row's likelihood is at
//!   the alarm level or above ([`crate::detect::score::score_of_likelihood`]);
//! - the autoencoder: the row's error is over the threshold and this metric
//!   contributes most to it ([`crate::detect::score::normalised_score`]);
//! - the forecast: the value is at least
//!   [`crate::forecast::band::MARKER_MIN_BAND_SCORE`] half-widths outside
//!   the band made before it was seen.
//!
//! Marks at most [`crate::event::EVENT_GAP_ROWS`] apart form one event.

use crate::config::DetectionMethod;
use crate::data::MetricFrame;
use crate::detect::Scores;
use crate::detect::score::{normalised_score, score_of_likelihood};
use crate::event::{AnomalyEvent, EVENT_GAP_ROWS, Marks, group_events};
use crate::forecast::FrameForecast;
use crate::forecast::band::RowBands;

/// The online detector's view of a frame: per metric, the likelihoods
/// point-wise marks are made from (None where the detector has nothing to
/// say, such as `seasonal` without a period).
#[derive(Debug, Clone, PartialEq)]
pub struct OnlineScores {
    /// The frame it belongs to: its first timestamp and length.
    pub first_ms: Option<i64>,
    pub rows: usize,
    pub likelihoods: Vec<Option<Vec<f64>>>,
}

impl OnlineScores {
    /// Scores every metric of `frame` online (row t from rows ≤ t).
    pub fn of(frame: &MetricFrame, method: DetectionMethod) -> Self {
        let probation = crate::detect::online::probation_rows(frame.len());
        let mut likelihoods: Vec<Option<Vec<f64>>> = frame
            .columns()
            .iter()
            .map(|column| {
                crate::detect::online::method_row_likelihoods(method, column, probation, None)
            })
            .collect();
        // A fleet: each entity against its peers too (the ensemble's part).
        if method == DetectionMethod::Ensemble {
            let peers = crate::detect::online::peer_likelihoods(frame);
            for (own, peer) in likelihoods.iter_mut().zip(peers) {
                if let (Some(own), Some(peer)) = (own.as_mut(), peer) {
                    for (slot, l) in own.iter_mut().zip(peer) {
                        *slot = slot.max(l);
                    }
                }
            }
        }
        Self {
            first_ms: frame.timestamps_ms().first().copied(),
            rows: frame.len(),
            likelihoods,
        }
    }

    /// Whether these scores are of `frame`'s rows.
    pub fn matches(&self, frame: &MetricFrame) -> bool {
        self.rows == frame.len() && self.first_ms == frame.timestamps_ms().first().copied()
    }
}

/// Where the online detector's likelihoods of a frame come from.
#[derive(Debug, Clone, Copy)]
pub enum OnlineInput<'a> {
    /// Computed for a frame in one pass (a file; left out when they are of
    /// another frame).
    Scores(&'a OnlineScores),
    /// Read from each series' stream while judging (live data): no aligned
    /// copy of every series' window is made.
    Streams(&'a super::OnlineState),
}

/// The autoencoder's scores of a frame and the threshold they are judged at.
#[derive(Debug, Clone, Copy)]
pub struct LstmView<'a> {
    pub scores: &'a Scores,
    pub threshold: f64,
    /// The first timestamp of the frame the scores are of.
    pub first_ms: Option<i64>,
    /// A model per entity: each row's likelihood of the window ending at it
    /// against the entity's earlier windows
    /// ([`crate::detect::online::window_likelihoods`]). The row is marked
    /// only at certainty (likelihood 1, a tail of 1e-12 or less), as the
    /// local and peer detectors are: a window's error is heavy-tailed (one
    /// spike lifts every window over it), and the training threshold (a
    /// percentile of the training errors) marks that share of every host's
    /// rows, which on a fleet is a page an hour. None: the row is marked
    /// where its error is over `threshold` (one model over a data set).
    pub likelihoods: Option<&'a [f64]>,
}

impl LstmView<'_> {
    /// Whether these scores are of `frame`'s rows, and every column they
    /// score is one of its columns (a model per entity scores some).
    pub fn matches(&self, frame: &MetricFrame) -> bool {
        self.scores.rows.error.len() == frame.len()
            && self
                .scores
                .feature_names
                .iter()
                .all(|name| frame.column(name).is_some())
            && self
                .first_ms
                .is_none_or(|start| frame.timestamps_ms().first() == Some(&start))
    }
}

/// One metric, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricAssessment {
    pub name: String,
    /// Per row: the mark's 0–100 score where the row is marked.
    pub marks: Marks,
    /// Per row: the largest 0–100 score any detector gives it, marked or
    /// not (0 where none scored it): the gauge `/metrics` exports.
    pub scores: Vec<f64>,
    /// The forecast at each row, where there is one.
    pub band: Option<RowBands>,
}

impl MetricAssessment {
    pub fn marked_rows(&self) -> usize {
        self.marks.count()
    }
}

/// A frame, judged by the one rule.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Assessment {
    /// The frame it belongs to: its first timestamp and length.
    pub first_ms: Option<i64>,
    pub rows: usize,
    pub metrics: Vec<MetricAssessment>,
    /// Every metric's events, oldest first.
    pub events: Vec<AnomalyEvent>,
}

impl Assessment {
    /// Per row, whether any metric is marked.
    pub fn marked_rows(&self) -> Vec<bool> {
        self.marked_rows_of(0..self.metrics.len())
    }

    /// Per row, whether any of `columns` is marked (an entity's series).
    pub fn marked_rows_of(&self, columns: impl IntoIterator<Item = usize>) -> Vec<bool> {
        let mut marked = vec![false; self.rows];
        for metric in columns.into_iter().filter_map(|c| self.metrics.get(c)) {
            for (row, mark) in metric.marks.iter().enumerate() {
                if mark.is_some()
                    && let Some(slot) = marked.get_mut(row)
                {
                    *slot = true;
                }
            }
        }
        marked
    }
}

/// Judges `frame` by the one rule (see the module docs). Inputs that belong
/// to another frame (a rescore or a refit still running) are left out.
pub fn assess(
    frame: &MetricFrame,
    online: Option<OnlineInput<'_>>,
    lstm: &[LstmView<'_>],
    forecast: Option<&FrameForecast>,
    model_version: &str,
) -> Assessment {
    let rows = frame.len();
    let online = online.filter(|o| match o {
        OnlineInput::Scores(scores) => scores.matches(frame),
        OnlineInput::Streams(_) => true,
    });
    let mut metrics: Vec<MetricAssessment> = frame
        .names()
        .iter()
        .zip(frame.columns())
        .map(|(name, values)| MetricAssessment {
            name: name.clone(),
            marks: Marks::unmarked(rows),
            scores: vec![0.0; rows],
            band: forecast
                .and_then(|f| f.get(name))
                .map(|f| RowBands::new(f, frame.timestamps_ms(), values)),
        })
        .collect();
    let column_of: std::collections::HashMap<&str, usize> = frame
        .names()
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    for lstm in lstm.iter().filter(|l| l.matches(frame)) {
        // The model's features are its columns of the frame, in its order.
        let columns: Vec<usize> = lstm
            .scores
            .feature_names
            .iter()
            .filter_map(|name| column_of.get(name.as_str()).copied())
            .collect();
        for (row, error) in lstm.scores.rows.error.iter().enumerate() {
            let Some(column) = lstm.scores.rows.top_feature[row].and_then(|f| columns.get(f))
            else {
                continue;
            };
            let (score, marked) = match lstm.likelihoods {
                Some(likelihoods) => {
                    let l = likelihoods.get(row).copied().unwrap_or(0.0);
                    (score_of_likelihood(l), l >= 1.0)
                }
                None => (
                    normalised_score(*error, lstm.threshold),
                    *error > lstm.threshold,
                ),
            };
            let metric = &mut metrics[*column];
            if score.is_finite() {
                metric.scores[row] = metric.scores[row].max(score);
            }
            if marked {
                metric.marks.raise(row, score);
            }
        }
    }
    for metric in &mut metrics {
        let Some(band) = &metric.band else { continue };
        for (row, score) in band.row_scores.iter().enumerate() {
            if score.is_finite() {
                metric.scores[row] = metric.scores[row].max(*score);
            }
        }
        for &row in &band.outside_rows {
            metric.marks.raise(row, band.row_scores[row]);
        }
    }
    if let Some(online) = online {
        let level = crate::detect::online::ALARM_LEVEL;
        for (column, metric) in metrics.iter_mut().enumerate() {
            let mut judge = |row: usize, l: f64| {
                let score = score_of_likelihood(l);
                metric.scores[row] = metric.scores[row].max(score);
                if l >= level {
                    metric.marks.raise(row, score);
                }
            };
            match online {
                OnlineInput::Scores(scores) => {
                    let likelihoods = scores.likelihoods.get(column).and_then(Option::as_ref);
                    for (row, l) in likelihoods.into_iter().flatten().enumerate() {
                        judge(row, *l);
                    }
                }
                // A row the stream has not scored would score 0: nothing.
                OnlineInput::Streams(state) => {
                    let name = frame.names()[column].as_str();
                    state.for_each_aligned(name, frame.timestamps_ms(), judge);
                }
            }
        }
    }
    for metric in &mut metrics {
        metric.marks.compact();
    }
    let mut events: Vec<AnomalyEvent> = metrics
        .iter()
        .flat_map(|m| {
            group_events(
                &m.name,
                frame.timestamps_ms(),
                &m.marks,
                EVENT_GAP_ROWS,
                model_version,
            )
        })
        .collect();
    events.sort_by_key(|e| e.start_ms);
    Assessment {
        first_ms: frame.timestamps_ms().first().copied(),
        rows,
        metrics,
        events,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shifted_frame() -> MetricFrame {
        let base = crate::data::generate_sample(&crate::data::SampleSpec {
            rows: 1_500,
            ..Default::default()
        });
        let mut columns = base.columns().to_vec();
        for v in &mut columns[0][1_200..1_230] {
            *v += 150.0;
        }
        MetricFrame::new(
            base.timestamps_ms().to_vec(),
            base.names().to_vec(),
            columns,
            None,
        )
        .expect("frame")
    }

    #[test]
    fn the_online_detector_marks_a_shift_and_marks_join_into_events() {
        let frame = shifted_frame();
        let online = OnlineScores::of(&frame, DetectionMethod::Ensemble);
        let judged = assess(
            &frame,
            Some(OnlineInput::Scores(&online)),
            &[],
            None,
            "ensemble",
        );
        assert_eq!(judged.rows, frame.len());
        let cpu = &judged.metrics[0];
        assert!(cpu.marks.get(1_200).is_some(), "the shift's first row");
        let marked = cpu.marks.get(1_200).expect("marked");
        assert!((50.0..=100.0).contains(&marked), "{marked}");
        // Every mark is at least 50 and the gauge is never below the mark.
        for (mark, score) in cpu.marks.iter().zip(&cpu.scores) {
            if let Some(mark) = mark {
                assert!(mark >= 50.0 && *score >= mark);
            }
        }
        let shift = (frame.timestamps_ms()[1_200], frame.timestamps_ms()[1_229]);
        assert!(judged.events.iter().any(|e| e.metric == frame.names()[0]
            && e.start_ms <= shift.1
            && e.end_ms.is_some_and(|end| end >= shift.0)));
        // Scores of another frame are left out: no marks at all.
        let other = crate::data::generate_sample(&crate::data::SampleSpec {
            rows: 1_499,
            ..Default::default()
        });
        let judged = assess(
            &other,
            Some(OnlineInput::Scores(&online)),
            &[],
            None,
            "ensemble",
        );
        assert!(judged.events.is_empty());
        assert_eq!(judged.marked_rows().iter().filter(|m| **m).count(), 0);
    }

    #[test]
    fn the_online_pass_scores_every_metric() {
        let frame = crate::data::generate_sample(&crate::data::SampleSpec {
            rows: 600,
            ..Default::default()
        });
        let method = DetectionMethod::Robust;
        let scores = OnlineScores::of(&frame, method);
        assert!(scores.matches(&frame));
        assert_eq!(scores.likelihoods.len(), frame.columns().len());
        assert!(
            scores
                .likelihoods
                .iter()
                .all(|l| l.as_ref().is_some_and(|l| l.len() == frame.len()))
        );
    }

    #[test]
    fn the_autoencoder_marks_the_metric_that_drives_the_error_at_its_threshold() {
        let stamps: Vec<i64> = (0..10).map(|i| i * 30_000).collect();
        let frame = MetricFrame::new(
            stamps,
            vec!["cpu".into(), "memory".into()],
            vec![vec![1.0; 10], vec![2.0; 10]],
            None,
        )
        .expect("frame");
        let mut error = vec![0.01; 10];
        error[5] = 0.05;
        let mut top_feature = vec![Some(0); 10];
        top_feature[5] = Some(1);
        let scores = Scores {
            rows: crate::detect::score::RowScores {
                flag: error.iter().map(|e| *e > 0.02).collect(),
                score: error.iter().map(|e| normalised_score(*e, 0.02)).collect(),
                error,
                top_feature,
            },
            feature_names: frame.names().to_vec(),
            threshold: 0.02,
            window_errors: vec![0.01; 10],
            window_starts: (0..10).collect(),
            skipped_windows: 0,
        };
        let view = |threshold| LstmView {
            scores: &scores,
            threshold,
            first_ms: Some(0),
            likelihoods: None,
        };
        let judged = assess(&frame, None, &[view(0.02)], None, "lstm");
        assert_eq!(judged.metrics[0].marked_rows(), 0);
        assert_eq!(
            judged.metrics[1].marks.get(5),
            Some(normalised_score(0.05, 0.02))
        );
        assert_eq!(judged.events.len(), 1);
        assert_eq!(judged.events[0].metric, "memory");
        // A threshold above the error marks nothing; the gauge still says how
        // close the row came.
        let judged = assess(&frame, None, &[view(0.1)], None, "lstm");
        assert!(judged.events.is_empty());
        assert!((judged.metrics[1].scores[5] - normalised_score(0.05, 0.1)).abs() < 1e-12);
    }

    #[test]
    fn a_model_per_entity_marks_its_own_columns_only_at_certainty() {
        let stamps: Vec<i64> = (0..6).map(|i| i * 30_000).collect();
        let names: Vec<String> = vec![r#"cpu{instance="a"}"#.into(), r#"cpu{instance="b"}"#.into()];
        let frame =
            MetricFrame::new(stamps, names.clone(), vec![vec![1.0; 6]; 2], None).expect("frame");
        // Entity b's model: its one column, every row far over its
        // threshold, but only row 4 at certainty.
        let error = vec![0.5; 6];
        let scores = Scores {
            rows: crate::detect::score::RowScores {
                flag: vec![true; 6],
                score: error.iter().map(|e| normalised_score(*e, 0.01)).collect(),
                error,
                top_feature: vec![Some(0); 6],
            },
            feature_names: vec![names[1].clone()],
            threshold: 0.01,
            window_errors: vec![0.5; 6],
            window_starts: (0..6).collect(),
            skipped_windows: 0,
        };
        let likelihoods = [0.0, 0.5, 0.99, 0.9999, 1.0, 0.9];
        let view = LstmView {
            scores: &scores,
            threshold: 0.01,
            first_ms: Some(0),
            likelihoods: Some(&likelihoods),
        };
        let judged = assess(&frame, None, &[view], None, "ensemble");
        assert_eq!(judged.metrics[0].marked_rows(), 0, "entity a is not b's");
        let b = &judged.metrics[1];
        let marked: Vec<usize> = (0..6).filter(|r| b.marks.get(*r).is_some()).collect();
        assert_eq!(marked, [4]);
        assert_eq!(b.scores[3], score_of_likelihood(0.9999));
        assert_eq!(judged.events.len(), 1);
        assert_eq!(judged.events[0].metric, names[1]);
        // A model whose column left the frame is left out.
        let other = MetricFrame::new(vec![0], vec![names[0].clone()], vec![vec![1.0]], None)
            .expect("frame");
        assert!(!view.matches(&other));
    }
}
