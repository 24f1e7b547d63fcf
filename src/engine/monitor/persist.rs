//! The live detector state on disk: read back at the first live frame
//! (the events resume after the rows it had judged), saved every
//! `detection.state_save_interval` and when the monitor stops.

use super::online::OnlineState;
use super::state::Monitor;

impl Monitor {
    /// Each live series' probation (`detection.probation_rows`).
    pub(super) fn live_probation(&self) -> usize {
        self.config().detection.probation_rows
    }

    /// How far before the window the first live fetch reaches: a probation's
    /// rows, so the window's rows are judged from the start.
    pub(super) fn live_warmup(&self) -> std::time::Duration {
        let step = self.config().prometheus.step;
        step.saturating_mul(u32::try_from(self.live_probation()).unwrap_or(u32::MAX))
    }

    /// The live streams: read back from the state file when there is one
    /// for these settings (the events resume after the rows it had judged),
    /// else fresh.
    pub(super) fn restore_streams(
        &mut self,
        method: crate::config::DetectionMethod,
    ) -> OnlineState {
        let probation = self.live_probation();
        let Some(path) = self.options.state_path.clone() else {
            return OnlineState::new(method, probation);
        };
        match OnlineState::load(&path, method, probation) {
            Ok(Some(restored)) => {
                self.notes.push(format!(
                    "restored the detector state of {} series from {} (saved at {})",
                    restored.state.len(),
                    path.display(),
                    crate::data::time::format_rfc3339_ms(restored.saved_at_ms)
                ));
                self.tracker.resume_after(restored.judged_until_ms);
                self.state_saved_ms = Some(self.now_ms());
                restored.state
            }
            Ok(None) => OnlineState::new(method, probation),
            Err(error) => {
                self.notes.push(error.to_string());
                OnlineState::new(method, probation)
            }
        }
    }

    /// Saves the live detector state when `force`d or due.
    pub(super) fn save_state(&mut self, force: bool) {
        let (Some(path), Some(streams)) = (&self.options.state_path, &self.streams) else {
            return;
        };
        let now = self.now_ms();
        let every_ms = i64::try_from(self.config().detection.state_save_interval.as_millis())
            .unwrap_or(i64::MAX);
        let due = self
            .state_saved_ms
            .is_none_or(|saved| now - saved >= every_ms);
        if !(force || due) {
            return;
        }
        let result = streams.save(path, self.tracker.newest_ms(), now);
        self.state_saved_ms = Some(now);
        match result {
            Ok(()) => self.notes.push(format!(
                "saved the detector state of {} series to {}",
                streams.len(),
                path.display()
            )),
            Err(error) => self.notes.push(error.to_string()),
        }
    }
}
