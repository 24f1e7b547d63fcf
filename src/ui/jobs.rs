//! Taking what the window's workers sent, once per frame and never
//! waiting: the monitor's reports, a CSV file read, the file dialog's
//! answer, and past events from the history thread.

use std::sync::Arc;
use std::sync::mpsc::TryRecvError;

use super::marks::{self, ForecastStatus};
use super::panels::anomaly_table::HistoryNote;
use super::state::Mode;
use super::{LoadedData, PulseWatchApp, UiCommand};
use crate::data;
use crate::engine::HistoryReply;
use crate::engine::monitor::{DataKind, LiveStatus, View};
use crate::event::AnomalyEvent;

impl PulseWatchApp {
    /// Takes whatever the jobs have finished; never blocks.
    pub fn poll_jobs(&mut self) {
        self.poll_monitor();
        self.poll_history();
        self.poll_files();
        self.poll_overview();
    }

    fn poll_monitor(&mut self) {
        let Some(monitor) = &self.monitor else { return };
        let mut latest = None;
        while let Ok(update) = monitor.updates.try_recv() {
            self.commands_done = update.commands_done;
            // A view skipped for a newer one may be the last hold on its
            // frame.
            if let Some(skipped) = latest.replace(update.view) {
                self.reaper.free(skipped);
            }
        }
        if let Some(view) = latest {
            self.take_view(view);
        }
    }

    /// Makes `view` the one on screen.
    fn take_view(&mut self, view: Arc<View>) {
        let new_frame = !Arc::ptr_eq(&view.frame, &self.view.frame);
        if self
            .train_asked_at
            .is_some_and(|asked| self.commands_done >= asked)
        {
            self.train_asked_at = None;
        }
        if view.kind == DataKind::Live && self.state.mode == Mode::Live {
            self.source.label = view.label.clone();
            self.source.rows = view.frame.len();
            self.source.metrics = view.frame.names().len();
            self.source.warnings = view.warnings.clone();
        }
        self.source.live = view.live.as_ref().map(|status| self.live_words(status));
        // A report without a new judging (training progress, the
        // connection) leaves the plots as they are.
        let same_forecast = match (&view.forecast, &self.view.forecast) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        let judged_again =
            new_frame || !Arc::ptr_eq(&view.judged, &self.view.judged) || !same_forecast;
        let old = std::mem::replace(&mut self.view, view);
        self.reaper.free(old);
        self.forecast = ForecastStatus::of(&self.view);
        if new_frame {
            self.take_entities();
        }
        if !judged_again {
            return;
        }
        if new_frame {
            self.rebuild_series();
        } else {
            self.remark_series();
        }
        self.request_overview();
        self.row_details = marks::row_details(&self.view);
        for event in &self.view.judged.events {
            self.session_events
                .insert((event.metric.clone(), event.start_ms));
        }
        if new_frame {
            self.request_history();
        }
        self.merge_table();
    }

    fn live_words(&self, status: &LiveStatus) -> String {
        match status {
            LiveStatus::Connecting => "connecting…".to_owned(),
            LiveStatus::Connected { last_refresh_ms } => {
                // A fleet: how its series stand (stale, still learning).
                let fleet = &self.view.fleet;
                let mut series = format!("{} series", self.view.frame.names().len());
                if !fleet.stale.is_empty() {
                    series.push_str(&format!(", {} stale", fleet.stale.len()));
                }
                if !fleet.in_probation.is_empty() {
                    series.push_str(&format!(", {} in probation", fleet.in_probation.len()));
                }
                format!(
                    "connected, last refresh {} · {series}",
                    data::time::format_rfc3339_ms(*last_refresh_ms)
                )
            }
            LiveStatus::Down {
                reason,
                retry_at_ms,
            } => {
                let left_ms = retry_at_ms.saturating_sub(self.clock.now_ms()).max(0);
                format!("down: {reason} (retry in {} s)", left_ms / 1000)
            }
        }
    }

    /// Long-term mode shows past events that overlap the data in view:
    /// asks the history thread for them (never waits for it).
    fn request_history(&mut self) {
        self.history_events.clear();
        if self.state.mode != Mode::LongTerm {
            self.history_note = HistoryNote::Unused;
            return;
        }
        let stamps = self.view.frame.timestamps_ms();
        let (Some(&from_ms), Some(&to_ms), Some(job)) =
            (stamps.first(), stamps.last(), &self.history)
        else {
            return;
        };
        // A full queue means the thread is busy; the next view asks again.
        let _ = job
            .requests
            .try_send(crate::engine::HistoryRequest::Load { from_ms, to_ms });
    }

    fn poll_history(&mut self) {
        let Some(job) = &self.history else {
            return;
        };
        let mut changed = false;
        while let Ok(reply) = job.replies.try_recv() {
            match reply {
                HistoryReply::Events {
                    from_ms,
                    to_ms,
                    events,
                } => {
                    let stamps = self.view.frame.timestamps_ms();
                    // An answer for data no longer in view is stale.
                    if self.state.mode != Mode::LongTerm
                        || stamps.first() != Some(&from_ms)
                        || stamps.last() != Some(&to_ms)
                    {
                        continue;
                    }
                    self.history_note = HistoryNote::Read(events.len());
                    self.history_events = events;
                    changed = true;
                }
                HistoryReply::Failed(error) => {
                    self.history_note = HistoryNote::Failed(error);
                }
            }
        }
        if changed {
            self.merge_table();
        }
    }

    /// The table: events in view, plus past ones not found again.
    fn merge_table(&mut self) {
        let found: std::collections::HashSet<(&str, i64)> = self
            .view
            .judged
            .events
            .iter()
            .map(|e| (e.metric.as_str(), e.start_ms))
            .collect();
        let mut table: Vec<AnomalyEvent> = self.view.judged.events.clone();
        if self.state.mode == Mode::LongTerm {
            table.extend(
                self.history_events
                    .iter()
                    .filter(|e| !found.contains(&(e.metric.as_str(), e.start_ms)))
                    .cloned(),
            );
        }
        table.sort_by_key(|e| e.start_ms);
        self.table_events = table;
        self.table_entities_of_events();
        self.refilter_table();
    }

    fn poll_files(&mut self) {
        if let Some(receiver) = &self.dialog_job {
            match receiver.try_recv() {
                Ok(Some(path)) => {
                    self.dialog_job = None;
                    self.apply(UiCommand::OpenCsv(path));
                }
                Ok(None) | Err(TryRecvError::Disconnected) => self.dialog_job = None,
                Err(TryRecvError::Empty) => {}
            }
        }
        let Some((path, receiver)) = &self.csv_job else {
            return;
        };
        let path = path.clone();
        match receiver.try_recv() {
            Ok(Ok(load)) => {
                self.csv_job = None;
                self.load_error = None;
                self.state.last_file = Some(path.clone());
                self.save_state();
                if self.state.mode == Mode::Live {
                    self.offline = None;
                    self.apply(UiCommand::SetMode(Mode::LongTerm));
                }
                self.set_data(LoadedData::from_csv(load, path.display().to_string()));
            }
            // The data in view stays; the error names the file and line.
            Ok(Err(error)) => {
                self.csv_job = None;
                self.load_error = Some(error.to_string());
            }
            Err(TryRecvError::Empty) => {}
            Err(TryRecvError::Disconnected) => {
                self.csv_job = None;
                self.load_error = Some(format!("{}: the reader stopped", path.display()));
            }
        }
    }
}
