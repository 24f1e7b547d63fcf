//! Query ranges: aligned to the step, split into chunks Prometheus accepts,
//! and the incremental range Live mode asks for.

use std::time::Duration;

/// Prometheus refuses range queries of more than 11,000 points per series.
pub const MAX_POINTS_PER_QUERY: i64 = 11_000;

/// An inclusive range of step-aligned timestamps (Unix ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
    pub step_ms: i64,
}

impl TimeRange {
    /// Aligns `start` up and `end` down to multiples of `step`, so every
    /// request (and every refresh) lands on the same grid.
    pub fn aligned(start_ms: i64, end_ms: i64, step: Duration) -> Option<Self> {
        let step_ms = i64::try_from(step.as_millis()).ok().filter(|s| *s > 0)?;
        let start = start_ms.div_euclid(step_ms) * step_ms
            + if start_ms.rem_euclid(step_ms) == 0 {
                0
            } else {
                step_ms
            };
        let end = end_ms.div_euclid(step_ms) * step_ms;
        (start <= end).then_some(Self {
            start_ms: start,
            end_ms: end,
            step_ms,
        })
    }

    /// The `window` that ends at `now_ms` (both ends aligned).
    pub fn window_ending(now_ms: i64, window: Duration, step: Duration) -> Option<Self> {
        let window_ms = i64::try_from(window.as_millis()).ok()?;
        Self::aligned(now_ms - window_ms, now_ms, step)
    }

    /// Grid points in the range.
    pub fn points(&self) -> i64 {
        (self.end_ms - self.start_ms) / self.step_ms + 1
    }

    /// Splits into consecutive ranges of at most [`MAX_POINTS_PER_QUERY`]
    /// points; each chunk starts one step after the previous one ends, so
    /// stitching them gives no duplicates.
    pub fn chunks(&self) -> Vec<TimeRange> {
        let span_ms = (MAX_POINTS_PER_QUERY - 1) * self.step_ms;
        let mut chunks = Vec::new();
        let mut start = self.start_ms;
        while start <= self.end_ms {
            let end = (start + span_ms).min(self.end_ms);
            chunks.push(TimeRange {
                start_ms: start,
                end_ms: end,
                step_ms: self.step_ms,
            });
            start = end + self.step_ms;
        }
        chunks
    }

    /// What Live mode asks for next: everything after `last_ms` (the newest
    /// sample it has) up to `now_ms`, never more than `window`; the whole
    /// window when it has nothing yet. `None` when there is nothing new.
    pub fn incremental(
        last_ms: Option<i64>,
        now_ms: i64,
        window: Duration,
        step: Duration,
    ) -> Option<Self> {
        let full = Self::window_ending(now_ms, window, step)?;
        let Some(last) = last_ms else {
            return Some(full);
        };
        let next = last.div_euclid(full.step_ms) * full.step_ms + full.step_ms;
        let start = next.max(full.start_ms);
        (start <= full.end_ms).then_some(Self {
            start_ms: start,
            ..full
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: Duration = Duration::from_secs(30);

    #[test]
    fn aligns_to_the_step() {
        let r = TimeRange::aligned(1_000, 95_000, STEP).unwrap();
        assert_eq!((r.start_ms, r.end_ms, r.points()), (30_000, 90_000, 3));
        let exact = TimeRange::aligned(30_000, 90_000, STEP).unwrap();
        assert_eq!((exact.start_ms, exact.end_ms), (30_000, 90_000));
        assert!(TimeRange::aligned(31_000, 59_000, STEP).is_none());
        assert!(TimeRange::aligned(0, 10, Duration::ZERO).is_none());
    }

    #[test]
    fn chunks_cover_the_range_once() {
        let r = TimeRange::aligned(0, 30_000 * 25_000, STEP).unwrap();
        let chunks = r.chunks();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].points(), MAX_POINTS_PER_QUERY);
        assert_eq!(chunks[1].start_ms, chunks[0].end_ms + 30_000);
        assert_eq!(
            chunks.iter().map(TimeRange::points).sum::<i64>(),
            r.points()
        );
        assert_eq!(chunks.last().unwrap().end_ms, r.end_ms);
        let small = TimeRange::aligned(0, 30_000 * 10, STEP).unwrap();
        assert_eq!(small.chunks(), vec![small]);
    }

    #[test]
    fn incremental_asks_only_for_what_is_new() {
        let hour = Duration::from_secs(3600);
        let now = 10_000_000;
        let first = TimeRange::incremental(None, now, hour, STEP).unwrap();
        assert_eq!(first.end_ms, 9_990_000);
        // An hour of 30 s steps; the window's start (6,400,000) is aligned up.
        assert_eq!(first.start_ms, 6_420_000);
        assert_eq!(first.points(), 120);
        let next = TimeRange::incremental(Some(9_930_000), now, hour, STEP).unwrap();
        assert_eq!((next.start_ms, next.end_ms), (9_960_000, 9_990_000));
        assert!(TimeRange::incremental(Some(9_990_000), now, hour, STEP).is_none());
        // A last sample older than the window: only the window.
        let stale = TimeRange::incremental(Some(0), now, hour, STEP).unwrap();
        assert_eq!(stale, first);
    }
}
