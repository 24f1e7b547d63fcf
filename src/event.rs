//! The one anomaly event type and the one score scale, shared by the
//! monitor that finds events, the history that keeps them, the window that
//! lists them and the daemon that alerts on them.
//!
//! Scores are 0–100 everywhere: 50 exactly at a detector's alarm level, the
//! autoencoder's threshold or three band half-widths outside the forecast,
//! 100 at certainty. `/metrics` exports the same number divided by 100
//! (Prometheus convention for a ratio); nothing else rescales it.

pub use crate::detect::score::severity;

/// One anomaly: consecutive marked rows of one metric (rows at most
/// [`EVENT_GAP_ROWS`] apart join one event).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AnomalyEvent {
    /// The history's row id; 0 for an event not (yet) stored.
    pub id: i64,
    pub metric: String,
    pub start_ms: i64,
    /// The last marked row; `None` while the event lasts (history only).
    pub end_ms: Option<i64>,
    /// The highest score of its rows, 0–100.
    pub peak_score: f64,
    /// Marked rows in it (0 for events read from the history).
    pub points: usize,
    /// What judged it: the detection method, and the model it used.
    pub model_version: String,
    pub source: EventSource,
}

/// Quiet rows an event bridges: marks at most this many rows apart are one
/// event, and a live event ends after this many unmarked rows. Ten rows (five
/// minutes at the default 30 s step) keep a flapping metric from paging
/// again and again, and is the hold the daemon's alerts always used.
pub const EVENT_GAP_ROWS: usize = 10;

/// Where an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum EventSource {
    /// Found in the data in view, now.
    Detected,
    /// Read from the history database (found earlier, by the app or the
    /// daemon).
    History,
}

impl EventSource {
    pub fn label(self) -> &'static str {
        match self {
            EventSource::Detected => "detected",
            EventSource::History => "history",
        }
    }
}

impl AnomalyEvent {
    /// `critical`, `major` or `minor` by the peak score.
    pub fn severity(&self) -> &'static str {
        severity(self.peak_score)
    }

    /// The end, or `open_until_ms` while it lasts.
    pub fn end_or(&self, open_until_ms: i64) -> i64 {
        self.end_ms.unwrap_or(open_until_ms)
    }
}

/// Groups marked rows into events: `marks[row]` holds the row's score when
/// the row is marked; rows at most `gap_rows` apart join one event. Every
/// event it returns is closed (`end_ms` is its last marked row).
pub fn group_events(
    metric: &str,
    timestamps_ms: &[i64],
    marks: &[Option<f64>],
    gap_rows: usize,
    model_version: &str,
) -> Vec<AnomalyEvent> {
    let mut events: Vec<AnomalyEvent> = Vec::new();
    let mut last_row: Option<usize> = None;
    for (row, mark) in marks.iter().enumerate() {
        let Some(score) = mark else { continue };
        let score = if score.is_finite() { *score } else { 50.0 };
        match (events.last_mut(), last_row) {
            (Some(event), Some(last)) if row - last <= gap_rows + 1 => {
                event.end_ms = Some(timestamps_ms[row]);
                event.peak_score = event.peak_score.max(score);
                event.points += 1;
            }
            _ => events.push(AnomalyEvent {
                id: 0,
                start_ms: timestamps_ms[row],
                end_ms: Some(timestamps_ms[row]),
                metric: metric.to_owned(),
                peak_score: score,
                points: 1,
                model_version: model_version.to_owned(),
                source: EventSource::Detected,
            }),
        }
        last_row = Some(row);
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_within_the_gap_join_one_event_with_the_peak_score() {
        let stamps: Vec<i64> = (0..30).map(|i| i * 1000).collect();
        let mut marks = vec![None; 30];
        marks[2] = Some(60.0);
        marks[5] = Some(90.0); // 3 rows later: joins with a gap of 2
        marks[20] = Some(f64::NAN); // alone, scored 50
        let events = group_events("cpu", &stamps, &marks, 2, "robust");
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!((events[0].start_ms, events[0].end_ms), (2000, Some(5000)));
        assert_eq!((events[0].peak_score, events[0].points), (90.0, 2));
        assert_eq!(events[0].severity(), "critical");
        assert_eq!(events[1].peak_score, 50.0);
        assert_eq!(events[1].severity(), "minor");
        // With no gap allowed, row 5 is an event of its own.
        assert_eq!(group_events("cpu", &stamps, &marks, 1, "robust").len(), 3);
    }
}
