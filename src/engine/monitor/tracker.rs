//! Live events as they happen: each refresh, only the rows newer than the
//! last one judged are read, so an event is opened, raised and closed once
//! however the window slides (older rows may be judged again differently as
//! the detectors' warm-up moves with the window; what was live stays as it
//! was). The same rule as [`crate::event::group_events`]: marks at most
//! [`EVENT_GAP_ROWS`] apart are one event.

use std::collections::BTreeMap;

use crate::event::{AnomalyEvent, EVENT_GAP_ROWS, EventSource};

use super::fuse::Assessment;

/// An event still going on.
#[derive(Debug, Clone, PartialEq)]
struct Open {
    event: AnomalyEvent,
    /// Unmarked rows since its last mark.
    quiet_rows: usize,
}

/// What one refresh changed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventChanges {
    /// Events that started (with their peak so far).
    pub started: Vec<AnomalyEvent>,
    /// Open events whose peak rose.
    pub raised: Vec<AnomalyEvent>,
    /// Events that ended (their `end_ms` is the last marked row).
    pub ended: Vec<AnomalyEvent>,
}

impl EventChanges {
    pub fn is_empty(&self) -> bool {
        self.started.is_empty() && self.raised.is_empty() && self.ended.is_empty()
    }
}

/// Per metric, the event going on, and the newest row judged.
#[derive(Debug, Default)]
pub struct EventTracker {
    open: BTreeMap<String, Open>,
    newest_ms: Option<i64>,
}

impl EventTracker {
    /// The events going on, by metric.
    pub fn open_events(&self) -> impl Iterator<Item = &AnomalyEvent> {
        self.open.values().map(|o| &o.event)
    }

    /// The newest row read so far.
    pub fn newest_ms(&self) -> Option<i64> {
        self.newest_ms
    }

    /// Reads only rows after `newest_ms` from now on (a restarted monitor
    /// that judged the rows before).
    pub fn resume_after(&mut self, newest_ms: Option<i64>) {
        self.newest_ms = newest_ms;
    }

    /// Gives `id` to the open event of `metric` (once the history has it).
    pub fn set_id(&mut self, metric: &str, id: i64) {
        if let Some(open) = self.open.get_mut(metric) {
            open.event.id = id;
        }
    }

    /// Reads the rows of `judged` newer than the last refresh.
    pub fn update(
        &mut self,
        judged: &Assessment,
        timestamps_ms: &[i64],
        model_version: &str,
    ) -> EventChanges {
        let mut changes = EventChanges::default();
        let from = self
            .newest_ms
            .map_or(0, |newest| timestamps_ms.partition_point(|t| *t <= newest));
        for metric in &judged.metrics {
            let mut raised = false;
            let new_rows = timestamps_ms.iter().zip(metric.marks.iter()).skip(from);
            for (&at_ms, mark) in new_rows {
                match (mark, self.open.get_mut(&metric.name)) {
                    (Some(score), Some(open)) => {
                        open.event.end_ms = Some(at_ms);
                        open.event.points += 1;
                        open.quiet_rows = 0;
                        if score > open.event.peak_score {
                            open.event.peak_score = score;
                            raised = true;
                        }
                    }
                    (Some(score), None) => {
                        let event = AnomalyEvent {
                            id: 0,
                            metric: metric.name.clone(),
                            start_ms: at_ms,
                            end_ms: Some(at_ms),
                            peak_score: if score.is_finite() { score } else { 50.0 },
                            points: 1,
                            model_version: model_version.to_owned(),
                            source: EventSource::Detected,
                        };
                        changes.started.push(AnomalyEvent {
                            end_ms: None,
                            ..event.clone()
                        });
                        self.open.insert(
                            metric.name.clone(),
                            Open {
                                event,
                                quiet_rows: 0,
                            },
                        );
                        raised = false;
                    }
                    (None, Some(open)) => {
                        open.quiet_rows += 1;
                        if open.quiet_rows > EVENT_GAP_ROWS {
                            if let Some(open) = self.open.remove(&metric.name) {
                                changes.ended.push(open.event);
                            }
                            raised = false;
                        }
                    }
                    (None, None) => {}
                }
            }
            if raised && let Some(open) = self.open.get(&metric.name) {
                changes.raised.push(open.event.clone());
            }
        }
        // A metric that left the frame ends where it was last marked.
        let gone: Vec<String> = self
            .open
            .keys()
            .filter(|name| !judged.metrics.iter().any(|m| &m.name == *name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(open) = self.open.remove(&name) {
                changes.ended.push(open.event);
            }
        }
        if let Some(&newest) = timestamps_ms.last() {
            self.newest_ms = Some(self.newest_ms.map_or(newest, |n| n.max(newest)));
        }
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::monitor::fuse::MetricAssessment;

    fn judged(marks: &[Option<f64>]) -> Assessment {
        Assessment {
            first_ms: Some(0),
            rows: marks.len(),
            metrics: vec![MetricAssessment {
                name: "cpu".into(),
                marks: marks.iter().copied().collect(),
                scores: vec![0.0; marks.len()],
                band: None,
            }],
            events: Vec::new(),
        }
    }

    #[test]
    fn an_event_opens_rises_and_ends_once_as_the_window_slides() {
        let mut tracker = EventTracker::default();
        let mut marks = vec![None; 40];
        marks[35] = Some(60.0);
        let stamps: Vec<i64> = (0..40).collect();
        let changes = tracker.update(&judged(&marks), &stamps, "robust");
        assert_eq!(changes.started.len(), 1);
        assert_eq!(changes.started[0].start_ms, 35);
        // The window slides by 5 rows: the old rows are not read again, even
        // if they are judged differently now.
        let stamps: Vec<i64> = (5..45).collect();
        let mut marks = vec![None; 40];
        marks[0] = Some(99.0); // row 5: old, ignored
        marks[37] = Some(80.0); // row 42, six quiet rows later: raises the peak
        let changes = tracker.update(&judged(&marks), &stamps, "robust");
        assert!(changes.started.is_empty());
        assert_eq!(changes.raised.len(), 1);
        assert_eq!(changes.raised[0].peak_score, 80.0);
        assert_eq!(tracker.open_events().count(), 1);
        // Eleven quiet rows later it ends at its last mark.
        let stamps: Vec<i64> = (16..56).collect();
        let changes = tracker.update(&judged(&[None; 40]), &stamps, "robust");
        assert_eq!(changes.ended.len(), 1, "{changes:?}");
        assert_eq!(changes.ended[0].end_ms, Some(42));
        assert_eq!(changes.ended[0].points, 2);
        assert_eq!(tracker.open_events().count(), 0);
    }
}
