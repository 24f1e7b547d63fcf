//! Alarms and marks held against anomaly windows, at the shipped alarm
//! level (no threshold tuned): which windows they find (recall per kind)
//! and how many fall outside every window, per series per week (the
//! false-alarm budget). Marks are grouped into events as the window and the
//! daemon group them ([`crate::event::EVENT_GAP_ROWS`]): one event is one
//! alert and one marked stretch on the plot.

use std::ops::Range;

use serde::Serialize;

/// Rows per week at a step of `step_secs` seconds.
pub fn weeks_of(rows: usize, step_secs: f64) -> f64 {
    rows as f64 * step_secs / (7.0 * 86_400.0)
}

/// One series' (or a set's) counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Budget {
    pub series: usize,
    /// Weeks judged (after each series' probation), over the series.
    pub weeks: f64,
    pub windows: usize,
    /// Windows that a marked event touches.
    pub windows_marked: usize,
    /// Windows with an alarm (the capped scores NAB scores) inside.
    pub windows_alarmed: usize,
    /// Marked events that touch no window.
    pub false_events: usize,
    /// Alarms outside every window.
    pub false_alarms: usize,
}

impl Budget {
    /// Adds another series' counts.
    pub fn add(&mut self, other: &Budget) {
        self.series += other.series;
        self.weeks += other.weeks;
        self.windows += other.windows;
        self.windows_marked += other.windows_marked;
        self.windows_alarmed += other.windows_alarmed;
        self.false_events += other.false_events;
        self.false_alarms += other.false_alarms;
    }

    /// False marked events per series per week.
    pub fn false_events_per_week(&self) -> f64 {
        per_week(self.false_events, self.weeks)
    }

    /// False alarms per series per week.
    pub fn false_alarms_per_week(&self) -> f64 {
        per_week(self.false_alarms, self.weeks)
    }
}

fn per_week(count: usize, weeks: f64) -> f64 {
    if weeks > 0.0 {
        count as f64 / weeks
    } else {
        0.0
    }
}

/// Marked rows grouped into events: rows at most `gap` apart join one.
pub fn mark_events(marks: &[bool], gap: usize) -> Vec<Range<usize>> {
    let mut events: Vec<Range<usize>> = Vec::new();
    for (row, _) in marks.iter().enumerate().filter(|(_, m)| **m) {
        match events.last_mut() {
            Some(last) if row - (last.end - 1) <= gap => last.end = row + 1,
            _ => events.push(row..row + 1),
        }
    }
    events
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// One series' counts: `marks` (row flags) and `alarms` (rows whose capped
/// score reaches the alarm level) against `windows` (rows), over `weeks`.
pub fn series_budget(
    marks: &[bool],
    alarms: &[bool],
    windows: &[Range<usize>],
    weeks: f64,
) -> Budget {
    let events = mark_events(marks, crate::event::EVENT_GAP_ROWS);
    let alarm_rows: Vec<usize> = (0..alarms.len()).filter(|r| alarms[*r]).collect();
    Budget {
        series: 1,
        weeks,
        windows: windows.len(),
        windows_marked: windows
            .iter()
            .filter(|w| events.iter().any(|e| overlaps(e, w)))
            .count(),
        windows_alarmed: windows
            .iter()
            .filter(|w| alarm_rows.iter().any(|r| w.contains(r)))
            .count(),
        false_events: events
            .iter()
            .filter(|e| !windows.iter().any(|w| overlaps(e, w)))
            .count(),
        false_alarms: alarm_rows
            .iter()
            .filter(|r| !windows.iter().any(|w| w.contains(r)))
            .count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_join_marks_within_the_gap() {
        let mut marks = vec![false; 40];
        for r in [3, 5, 15, 26, 39] {
            marks[r] = true;
        }
        // 3 and 5 join (gap 2); 15 is 10 after 5: joins; 26 is 11 after 15.
        assert_eq!(mark_events(&marks, 10), vec![3..16, 26..27, 39..40]);
        assert!(mark_events(&[false; 5], 10).is_empty());
    }

    #[test]
    fn counts_inside_and_outside_windows() {
        let mut marks = vec![false; 100];
        let mut alarms = vec![false; 100];
        for r in [10, 12, 50, 90] {
            marks[r] = true;
        }
        for r in [11, 52, 70] {
            alarms[r] = true;
        }
        let windows = [45..60, 80..85];
        let b = series_budget(&marks, &alarms, &windows, 0.5);
        assert_eq!(b.windows, 2);
        assert_eq!(b.windows_marked, 1);
        assert_eq!(b.windows_alarmed, 1);
        assert_eq!(b.false_events, 2, "10–12 and 90");
        assert_eq!(b.false_alarms, 2, "11 and 70");
        assert!((b.false_events_per_week() - 4.0).abs() < 1e-12);
        let mut total = Budget::default();
        total.add(&b);
        total.add(&b);
        assert_eq!((total.series, total.false_alarms), (2, 4));
        assert!((total.false_alarms_per_week() - 4.0).abs() < 1e-12);
        assert!((weeks_of(2016, 300.0) - 1.0).abs() < 1e-12);
    }
}
