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

/// The score a mark gets where its detector gave none (a NaN): a minor one.
const UNSCORED_MARK: f64 = 50.0;

/// Per row of a frame, the mark's 0–100 score where the row is marked. While
/// a frame is judged it is one `f64` a row (NaN where unmarked);
/// [`Marks::compact`] then keeps only the marked rows where they are few,
/// as they nearly always are: a fleet's daemon keeps one per series over
/// its whole window, and an `Option<f64>` a row would be 16 bytes each.
#[derive(Debug, Clone)]
pub struct Marks {
    rows: Rows,
}

#[derive(Debug, Clone)]
enum Rows {
    Dense(Vec<f64>),
    /// (row, score) of the marked rows, ascending, out of `len` rows.
    Sparse {
        len: usize,
        marked: Vec<(u32, f64)>,
    },
}

impl Default for Marks {
    fn default() -> Self {
        Self::unmarked(0)
    }
}

impl Marks {
    /// `rows` unmarked rows (nothing allocated until a row is marked: most
    /// series of a fleet have no mark in a window).
    pub fn unmarked(rows: usize) -> Self {
        Self {
            rows: Rows::Sparse {
                len: rows,
                marked: Vec::new(),
            },
        }
    }

    /// Marks `row` with `score`, or raises its mark to `score` (a score
    /// that is not a number marks it as [`UNSCORED_MARK`]).
    pub fn raise(&mut self, row: usize, score: f64) {
        let score = if score.is_finite() {
            score
        } else {
            UNSCORED_MARK
        };
        self.spread();
        if let Rows::Dense(scores) = &mut self.rows
            && let Some(slot) = scores.get_mut(row)
        {
            *slot = if slot.is_nan() {
                score
            } else {
                slot.max(score)
            };
        }
    }

    /// Back to one score a row (after [`Marks::compact`]).
    fn spread(&mut self) {
        if let Rows::Sparse { len, marked } = &self.rows {
            let mut scores = vec![f64::NAN; *len];
            for &(row, score) in marked {
                scores[row as usize] = score;
            }
            self.rows = Rows::Dense(scores);
        }
    }

    /// Keeps only the marked rows where that takes less room (a marked row
    /// takes 16 bytes there, a row 8 here: fewer than half of the rows
    /// marked); marks and lookups stay the same.
    pub fn compact(&mut self) {
        let Rows::Dense(scores) = &self.rows else {
            return;
        };
        let count = self.count();
        if count * 2 >= scores.len() || u32::try_from(scores.len()).is_err() {
            return;
        }
        let mut marked = Vec::with_capacity(count);
        marked.extend(
            scores
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_nan())
                .map(|(row, s)| (row as u32, *s)),
        );
        self.rows = Rows::Sparse {
            len: scores.len(),
            marked,
        };
    }

    /// The row's mark (None: unmarked, or past the end).
    pub fn get(&self, row: usize) -> Option<f64> {
        match &self.rows {
            Rows::Dense(scores) => scores.get(row).copied().filter(|s| !s.is_nan()),
            Rows::Sparse { marked, .. } => {
                let row = u32::try_from(row).ok()?;
                let at = marked.binary_search_by_key(&row, |(r, _)| *r).ok()?;
                Some(marked[at].1)
            }
        }
    }

    /// Every row's mark, in order.
    pub fn iter(&self) -> impl Iterator<Item = Option<f64>> + '_ {
        let (dense, len, marked): (&[f64], usize, &[(u32, f64)]) = match &self.rows {
            Rows::Dense(scores) => (scores, 0, &[]),
            Rows::Sparse { len, marked } => (&[], *len, marked),
        };
        let mut next = marked.iter().peekable();
        let sparse = (0..len).map(move |row| {
            next.next_if(|(r, _)| *r as usize == row)
                .map(|(_, score)| *score)
        });
        dense
            .iter()
            .map(|s| (!s.is_nan()).then_some(*s))
            .chain(sparse)
    }

    /// Rows (marked or not).
    pub fn len(&self) -> usize {
        match &self.rows {
            Rows::Dense(scores) => scores.len(),
            Rows::Sparse { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rows marked.
    pub fn count(&self) -> usize {
        match &self.rows {
            Rows::Dense(scores) => scores.iter().filter(|s| !s.is_nan()).count(),
            Rows::Sparse { marked, .. } => marked.len(),
        }
    }
}

impl FromIterator<Option<f64>> for Marks {
    fn from_iter<I: IntoIterator<Item = Option<f64>>>(rows: I) -> Self {
        let rows: Vec<Option<f64>> = rows.into_iter().collect();
        let mut marks = Self::unmarked(rows.len());
        for (row, mark) in rows.iter().enumerate() {
            if let Some(score) = mark {
                marks.raise(row, *score);
            }
        }
        marks
    }
}

impl PartialEq for Marks {
    /// Equal where the same rows carry the same marks (NaN, "unmarked",
    /// equals itself here).
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

/// Groups marked rows into events: rows at most `gap_rows` apart join one
/// event, its peak the largest mark. Every event it returns is closed
/// (`end_ms` is its last marked row).
pub fn group_events(
    metric: &str,
    timestamps_ms: &[i64],
    marks: &Marks,
    gap_rows: usize,
    model_version: &str,
) -> Vec<AnomalyEvent> {
    let mut events: Vec<AnomalyEvent> = Vec::new();
    let mut last_row: Option<usize> = None;
    for (row, mark) in marks.iter().enumerate() {
        let Some(score) = mark else { continue };
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
        let mut marks = Marks::unmarked(30);
        marks.raise(2, 40.0);
        marks.raise(2, 60.0); // raised
        marks.raise(2, 10.0); // not lowered
        marks.raise(5, 90.0); // 3 rows later: joins with a gap of 2
        marks.raise(20, f64::NAN); // alone, scored 50
        marks.raise(30, 99.0); // past the end: nothing
        assert_eq!(
            (marks.get(2), marks.get(3), marks.get(20)),
            (Some(60.0), None, Some(50.0))
        );
        assert_eq!((marks.len(), marks.count()), (30, 3));
        let same: Marks = marks.iter().collect();
        assert_eq!(same, marks);
        assert_ne!(Marks::unmarked(30), marks);
        // Compacted, the same marks, lookups and events.
        let dense_events = group_events("cpu", &stamps, &marks, 2, "robust");
        let mut compact = marks.clone();
        compact.compact();
        assert!(matches!(compact.rows, Rows::Sparse { .. }));
        assert_eq!(compact, marks);
        assert_eq!((compact.len(), compact.count()), (30, 3));
        assert_eq!(
            (compact.get(5), compact.get(6), compact.get(99)),
            (Some(90.0), None, None)
        );
        assert_eq!(
            group_events("cpu", &stamps, &compact, 2, "robust"),
            dense_events
        );
        // Raised again: spread out, the new mark beside the old ones.
        compact.raise(7, 70.0);
        compact.raise(5, 95.0);
        assert_eq!(
            (compact.get(7), compact.get(5), compact.count()),
            (Some(70.0), Some(95.0), 4)
        );
        // Half marked or more: kept dense (a sparse row takes twice the room).
        let mut busy: Marks = (0..30).map(|r| (r % 2 == 0).then_some(60.0)).collect();
        busy.compact();
        assert!(matches!(busy.rows, Rows::Dense(_)));
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
