//! The live poller: asks Prometheus for what is new every refresh on its own
//! thread and keeps the window ([`LiveWindow`]): series are joined by
//! identity, so a series that joins, misses a step or vanishes leaves every
//! other series' rows alone. A vanished series stays (stale) for
//! `fleet.stale_after`, then is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Duration;

use crate::config::{FleetConfig, MetricQuery, PrometheusConfig};
use crate::data::MetricFrame;
use crate::engine::EngineError;
use crate::engine::schedule::Clock;
use crate::fleet::{Selection, Shard};
use crate::ingest::{IncrementalCursor, PromClient};

/// What the live poller reports.
#[derive(Debug)]
pub enum LiveEvent {
    /// The latest window, every configured metric merged.
    Frame {
        /// Shared with the poller's window (no copy per refresh).
        frame: Arc<MetricFrame>,
        warnings: Vec<String>,
        fetched_at_ms: i64,
        /// Series with no value in their last two steps (kept for
        /// `fleet.stale_after`).
        stale: Vec<String>,
        /// What the shard and the series limit left out of the last fetch.
        selection: Selection,
        /// The first fetch's rows, reaching [`LivePlan::warmup`] before the
        /// window: for the detectors to learn from (they leave probation on
        /// history, not on hours of live rows); not kept in the window.
        warmup: Option<Box<MetricFrame>>,
    },
    /// The fetch failed; the next try is at `retry_at_ms` (Unix ms).
    Failed { reason: String, retry_at_ms: i64 },
}

/// What one append did to the window's series.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WindowChange {
    pub joined: Vec<String>,
    pub dropped: Vec<String>,
    /// Every series now stale.
    pub stale: Vec<String>,
}

/// The live window: the last `window` of every series followed, joined on
/// the step grid by series name.
#[derive(Debug, Clone)]
pub struct LiveWindow {
    /// Shared with whoever took the last refresh: the next append builds a
    /// new frame, so the one handed out never changes.
    frame: Arc<MetricFrame>,
    /// Per column: its newest finite value's time, or when it joined.
    seen_ms: Vec<i64>,
    /// Per column: the last fetch that listed it (a query that returns
    /// nothing is listed by its metric name, without values).
    listed_ms: Vec<i64>,
    /// Per column: whether it has ever had a value.
    valued: Vec<bool>,
    window_ms: i64,
    step_ms: i64,
    stale_after_ms: i64,
}

impl LiveWindow {
    pub fn new(window: Duration, step: Duration, stale_after: Duration) -> Self {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self {
            frame: Arc::default(),
            seen_ms: Vec::new(),
            listed_ms: Vec::new(),
            valued: Vec::new(),
            window_ms: ms(window),
            step_ms: ms(step).max(1),
            stale_after_ms: ms(stale_after),
        }
    }

    pub fn frame(&self) -> &MetricFrame {
        &self.frame
    }

    /// The window, shared (what a refresh hands the monitor).
    pub fn shared_frame(&self) -> Arc<MetricFrame> {
        Arc::clone(&self.frame)
    }

    /// Adds the rows of `fetched` newer than the window's newest, drops rows
    /// older than `now_ms − window` and series unseen for `stale_after`.
    pub fn append(&mut self, fetched: &MetricFrame, now_ms: i64) -> WindowChange {
        let old = &self.frame;
        let keep_from_ms = now_ms.saturating_sub(self.window_ms);
        let last_ms = old.timestamps_ms().last().copied().unwrap_or(i64::MIN);
        let old_rows: Vec<usize> = (0..old.len())
            .filter(|r| old.timestamps_ms()[*r] >= keep_from_ms)
            .collect();
        let new_rows: Vec<usize> = (0..fetched.len())
            .filter(|r| {
                let ms = fetched.timestamps_ms()[*r];
                ms > last_ms && ms >= keep_from_ms
            })
            .collect();
        let mut timestamps: Vec<i64> = old_rows.iter().map(|r| old.timestamps_ms()[*r]).collect();
        timestamps.extend(new_rows.iter().map(|r| fetched.timestamps_ms()[*r]));
        let mut names: Vec<String> = old.names().to_vec();
        let mut series_labels = old.series_labels().to_vec();
        let mut seen_ms = self.seen_ms.clone();
        let mut listed_ms = self.listed_ms.clone();
        let mut valued = self.valued.clone();
        let mut listed_now = vec![false; names.len()];
        let mut change = WindowChange::default();
        let index_in_new: std::collections::HashMap<&str, usize> = fetched
            .names()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let known: std::collections::HashSet<&str> =
            old.names().iter().map(String::as_str).collect();
        for (i, name) in fetched.names().iter().enumerate() {
            if !known.contains(name.as_str()) {
                names.push(name.clone());
                series_labels.push(fetched.series_labels()[i].clone());
                seen_ms.push(now_ms);
                listed_ms.push(now_ms);
                valued.push(false);
                listed_now.push(false);
                change.joined.push(name.clone());
            }
        }
        let mut columns = Vec::with_capacity(names.len());
        for (c, name) in names.iter().enumerate() {
            let mut column = Vec::with_capacity(timestamps.len());
            match old.columns().get(c) {
                Some(values) => column.extend(old_rows.iter().map(|r| values[*r])),
                None => column.resize(old_rows.len(), f64::NAN),
            }
            match index_in_new.get(name.as_str()) {
                Some(&i) => {
                    listed_ms[c] = now_ms;
                    listed_now[c] = true;
                    let values = &fetched.columns()[i];
                    for r in &new_rows {
                        let v = values[*r];
                        if v.is_finite() {
                            seen_ms[c] = seen_ms[c].max(fetched.timestamps_ms()[*r]);
                            valued[c] = true;
                        }
                        column.push(v);
                    }
                }
                None => column.resize(timestamps.len(), f64::NAN),
            }
            columns.push(column);
        }
        let newest_ms = timestamps.last().copied().unwrap_or(now_ms);
        // Dropped once neither a value nor the query has shown it for
        // `stale_after` (a query that answers nothing keeps its column); a
        // column that never had a value (an empty query's) goes as soon as
        // the fetch stops listing it (the query now answers with series).
        let keep: Vec<bool> = (0..names.len())
            .map(|c| {
                if !valued[c] && !listed_now[c] {
                    return false;
                }
                let last = seen_ms[c].max(listed_ms[c].min(newest_ms));
                newest_ms.saturating_sub(last) <= self.stale_after_ms
            })
            .collect();
        for (name, kept) in names.iter().zip(&keep) {
            if !kept {
                change.dropped.push(name.clone());
            }
        }
        let frame = MetricFrame::new(timestamps, names, columns, None)
            .and_then(|f| f.with_series_labels(series_labels));
        let Ok(frame) = frame else {
            // Cannot happen (the grid only grows, names are unique); start
            // over from the fetch rather than keep a broken window.
            self.frame = Arc::new(fetched.clone());
            self.seen_ms = vec![now_ms; fetched.names().len()];
            self.listed_ms = self.seen_ms.clone();
            self.valued = vec![true; fetched.names().len()];
            return change;
        };
        // Most refreshes drop no series: no second copy of the window then.
        self.frame = Arc::new(if keep.iter().all(|k| *k) {
            frame
        } else {
            frame.select_columns(&keep)
        });
        let kept = |values: Vec<i64>| -> Vec<i64> {
            values
                .into_iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(v, _)| v)
                .collect()
        };
        self.seen_ms = kept(seen_ms);
        self.listed_ms = kept(listed_ms);
        self.valued = valued
            .into_iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| v)
            .collect();
        change.stale = self
            .frame
            .names()
            .iter()
            .zip(&self.seen_ms)
            .filter(|(_, seen)| newest_ms - **seen >= 2 * self.step_ms)
            .map(|(n, _)| n.clone())
            .collect();
        change
    }
}

/// What to poll and how.
#[derive(Debug, Clone)]
pub struct LivePlan {
    pub prometheus: PrometheusConfig,
    pub metrics: Vec<MetricQuery>,
    pub fleet: FleetConfig,
    pub shard: Shard,
    pub refresh: Duration,
    /// How much further back than the window the first fetch reaches (see
    /// [`LiveEvent::Frame`]'s `warmup`).
    pub warmup: Duration,
}

/// A running live poll: its events and the flag that stops it.
#[derive(Debug)]
pub struct LiveJob {
    pub events: Receiver<LiveEvent>,
    pub stop: Arc<AtomicBool>,
}

impl Drop for LiveJob {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Polls Prometheus for `prometheus.window` of every metric every `refresh`
/// on the `live` thread (its own tokio runtime), until the job is dropped.
/// "Now" is `clock`'s.
pub fn spawn_live(
    plan: LivePlan,
    clock: Arc<dyn Clock>,
    wake: impl Fn() + Send + 'static,
) -> Result<LiveJob, EngineError> {
    let fail = |reason: String| EngineError {
        job: "live",
        reason,
    };
    let client = PromClient::new(&plan.prometheus).map_err(|e| fail(e.to_string()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let (sender, events) = sync_channel(4);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("live".into())
        .spawn(move || {
            let prometheus = &plan.prometheus;
            // Each refresh asks only for what is new and appends it to the
            // window it keeps.
            let mut cursor = IncrementalCursor::default();
            let mut window =
                LiveWindow::new(prometheus.window, prometheus.step, plan.fleet.stale_after);
            while !stopped.load(Ordering::Relaxed) {
                let now_ms = clock.now_ms();
                // Until a fetch has brought rows, it reaches back the warm-up
                // too.
                let first = cursor.last_ms.is_none();
                let reach = if first {
                    prometheus.window + plan.warmup
                } else {
                    prometheus.window
                };
                let range = cursor.next_range(now_ms, reach, prometheus.step);
                let fetch = |range| {
                    runtime.block_on(client.fetch_metrics(
                        &plan.metrics,
                        range,
                        &plan.fleet.entity_labels,
                    ))
                };
                let event = match range {
                    // Nothing new since the last refresh.
                    None => None,
                    Some(range) => match fetch(range) {
                        Ok(fetched) => {
                            cursor.advance(&fetched);
                            let (frame, selection) = crate::fleet::select(
                                fetched.frame,
                                &plan.fleet.entity_labels,
                                plan.shard,
                                plan.fleet.max_series,
                            );
                            let mut warnings = fetched.warnings;
                            if selection.over_limit > 0 {
                                warnings.push(format!(
                                    "{} series over fleet.max_series ({}) were dropped",
                                    selection.over_limit, plan.fleet.max_series
                                ));
                            }
                            let change = window.append(&frame, now_ms);
                            let warmup = (first && !plan.warmup.is_zero()).then(|| Box::new(frame));
                            Some(LiveEvent::Frame {
                                frame: window.shared_frame(),
                                warnings,
                                fetched_at_ms: now_ms,
                                stale: change.stale,
                                selection,
                                warmup,
                            })
                        }
                        Err(error) => Some(LiveEvent::Failed {
                            reason: error.to_string(),
                            retry_at_ms: now_ms + plan.refresh.as_millis() as i64,
                        }),
                    },
                };
                if let Some(event) = event {
                    if sender.send(event).is_err() {
                        return;
                    }
                    wake();
                }
                let until = std::time::Instant::now() + plan.refresh;
                while std::time::Instant::now() < until && !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
        .map_err(|e| fail(e.to_string()))?;
    Ok(LiveJob { events, stop })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ts: &[i64], columns: &[(&str, &[f64])]) -> MetricFrame {
        MetricFrame::new(
            ts.to_vec(),
            columns.iter().map(|(n, _)| (*n).to_owned()).collect(),
            columns.iter().map(|(_, v)| v.to_vec()).collect(),
            None,
        )
        .expect("frame")
    }

    fn window() -> LiveWindow {
        let s = Duration::from_secs;
        LiveWindow::new(s(120), s(30), s(90))
    }

    #[test]
    fn rows_append_and_old_ones_fall_out() {
        let mut w = window();
        w.append(
            &frame(
                &[0, 30_000, 60_000, 90_000],
                &[("cpu", &[1.0, 2.0, 3.0, 4.0])],
            ),
            90_000,
        );
        // The fetch repeats the last known point and brings two new ones.
        let change = w.append(
            &frame(&[90_000, 120_000, 150_000], &[("cpu", &[9.0, 5.0, 6.0])]),
            180_000,
        );
        assert_eq!(
            w.frame().timestamps_ms(),
            [60_000, 90_000, 120_000, 150_000]
        );
        assert_eq!(w.frame().column("cpu"), Some(&[3.0, 4.0, 5.0, 6.0][..]));
        assert_eq!(change, WindowChange::default());
    }

    #[test]
    fn series_come_and_go_without_touching_the_others() {
        let mut w = window();
        let a = "cpu{instance=\"a\"}";
        let b = "cpu{instance=\"b\"}";
        w.append(
            &frame(&[0, 30_000], &[(a, &[1.0, 2.0]), (b, &[5.0, 6.0])]),
            30_000,
        );
        // b misses a step, c joins: a's rows are untouched, b gets a gap.
        let c = "cpu{instance=\"c\"}";
        let change = w.append(&frame(&[60_000], &[(a, &[3.0]), (c, &[7.0])]), 60_000);
        assert_eq!(change.joined, [c]);
        assert_eq!(w.frame().names(), [a, b, c]);
        assert_eq!(w.frame().column(a), Some(&[1.0, 2.0, 3.0][..]));
        let gap = w.frame().column(b).expect("b stays");
        assert_eq!(&gap[..2], [5.0, 6.0]);
        assert!(gap[2].is_nan());
        assert!(
            w.frame().column(c).expect("c")[..2]
                .iter()
                .all(|v| v.is_nan())
        );
        assert!(change.stale.is_empty(), "{:?}", change.stale);
        // Two steps without b: stale. Then back before stale_after: kept.
        let change = w.append(&frame(&[90_000], &[(a, &[4.0]), (c, &[8.0])]), 90_000);
        assert_eq!(change.stale, [b]);
        let change = w.append(
            &frame(&[120_000], &[(a, &[5.0]), (b, &[9.0]), (c, &[9.0])]),
            120_000,
        );
        assert!(change.stale.is_empty() && change.dropped.is_empty());
        assert_eq!(w.frame().column(b).expect("b").last(), Some(&9.0));
        // Gone for longer than stale_after (90 s): dropped.
        let mut change = WindowChange::default();
        for t in [150_000, 180_000, 210_000, 240_000] {
            change = w.append(&frame(&[t], &[(a, &[1.0]), (c, &[1.0])]), t);
            if !change.dropped.is_empty() {
                break;
            }
        }
        assert_eq!(change.dropped, [b]);
        assert_eq!(w.frame().names(), [a, c]);
        // A query that answers nothing keeps its (empty, stale) column.
        let mut w = window();
        for t in [0, 30_000, 60_000, 90_000, 120_000, 150_000, 180_000] {
            let change = w.append(&frame(&[t], &[("latency", &[f64::NAN])]), t);
            assert!(change.dropped.is_empty(), "{t}");
        }
        assert_eq!(w.frame().names(), ["latency"]);
        // Once the query answers with series, its empty column goes at once.
        let series = "latency{job=\"api\"}";
        let change = w.append(&frame(&[210_000], &[(series, &[5.0])]), 210_000);
        assert_eq!(change.dropped, ["latency"]);
        assert_eq!(w.frame().names(), [series]);
    }
}
