//! The monitor's writes to the anomaly history (SQLite, shared by the app
//! and the daemon): live events mirrored as they start, rise and end. A
//! write that fails is shown in the view, never fatal: judging goes on.

use std::collections::BTreeMap;

use crate::event::AnomalyEvent;
use crate::history::History;

use super::state::Monitor;
use super::tracker::{EventChanges, EventTracker};

impl Monitor {
    pub(super) fn history(&mut self) -> Option<&History> {
        if self.history.is_none() {
            let path = self.options.history_path.clone()?;
            match History::open(&path) {
                Ok(history) => self.history = Some(history),
                Err(error) => {
                    self.history_error = Some(error.to_string());
                    return None;
                }
            }
        }
        self.history.as_ref()
    }

    /// A history write that failed is shown, not fatal: judging goes on.
    pub(super) fn recorded<T>(
        &mut self,
        result: Result<T, crate::history::HistoryError>,
    ) -> Option<T> {
        match result {
            Ok(value) => {
                self.history_error = None;
                Some(value)
            }
            Err(error) => {
                // Said once per failing streak, not at every refresh.
                if self.history_error.is_none() {
                    self.notes.push(error.to_string());
                }
                self.history_error = Some(error.to_string());
                None
            }
        }
    }

    /// Mirrors live events into the history: a new one starts a row, a
    /// higher peak raises it, an end closes it.
    pub(super) fn record(&mut self, changes: &EventChanges) {
        for event in &changes.started {
            let Some(history) = self.history() else {
                return;
            };
            let result = history.start_event(
                &event.metric,
                event.start_ms,
                event.peak_score,
                &event.model_version,
            );
            if let Some(id) = self.recorded(result) {
                self.notes
                    .push(format!("history: event {id} ({}) committed", event.metric));
                self.tracker.set_id(&event.metric, id);
            }
        }
        let ids: BTreeMap<String, i64> = self
            .tracker
            .open_events()
            .map(|e| (e.metric.clone(), e.id))
            .collect();
        for event in &changes.raised {
            let Some(&id) = ids.get(&event.metric).filter(|id| **id != 0) else {
                continue;
            };
            let Some(history) = self.history() else {
                return;
            };
            let result = history.raise_peak(id, event.peak_score);
            self.recorded(result);
        }
        for event in &changes.ended {
            self.close(event);
        }
    }

    pub(super) fn close(&mut self, event: &AnomalyEvent) {
        let Some(history) = self.history() else {
            return;
        };
        // Started before the history could be written: the whole event now.
        let result = if event.id == 0 {
            history.upsert_event(event).map(|_| ())
        } else {
            history
                .raise_peak(event.id, event.peak_score)
                .and_then(|()| history.end_event(event.id, event.end_or(event.start_ms)))
        };
        self.recorded(result);
    }

    pub(super) fn close_open_events(&mut self) {
        let open: Vec<AnomalyEvent> = self.tracker.open_events().cloned().collect();
        for event in &open {
            self.close(event);
        }
        self.tracker = EventTracker::default();
    }
}
