//! What the window remembers between runs (mode, panels, last file, Test-mode
//! spikes), kept apart from runtime resources and saved as JSON in the
//! platform config dir (atomically, like every file PulseWatch writes).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The three ways to look at metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Mode {
    /// Polls Prometheus every refresh interval.
    Live,
    /// The whole data set with forecasts and past anomalies.
    #[default]
    LongTerm,
    /// Sample data (or an opened CSV) with injected spikes, scored against them.
    Test,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Live, Mode::LongTerm, Mode::Test];

    pub fn label(self) -> &'static str {
        match self {
            Mode::Live => "Live",
            Mode::LongTerm => "Long-term",
            Mode::Test => "Test",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct State {
    pub mode: Mode,
    pub show_forecast: bool,
    /// The CSV shown last (reopened at start when it still exists).
    pub last_file: Option<PathBuf>,
    pub side_panel_width: f32,
    /// Test mode: share of rows that get a spike, its size in robust σ, seed.
    pub spike_rate: f64,
    pub spike_magnitude: f64,
    pub spike_seed: u64,
    /// The fleet overview's filter: a regular expression over an entity's
    /// labels (`instance="host-003:9100",job="node"`).
    pub fleet_filter: String,
    /// The label the overview groups entities by (None: no groups).
    pub fleet_group_by: Option<String>,
    /// The anomaly table sorted by entity, then time.
    pub table_by_entity: bool,
}

impl Default for State {
    fn default() -> Self {
        Self {
            mode: Mode::LongTerm,
            show_forecast: true,
            last_file: None,
            side_panel_width: 280.0,
            spike_rate: 0.005,
            spike_magnitude: 6.0,
            spike_seed: 1,
            fleet_filter: String::new(),
            fleet_group_by: None,
            table_by_entity: false,
        }
    }
}

impl State {
    /// Where the state lives: `ui_state.json` in the platform config dir.
    pub fn default_path() -> Option<PathBuf> {
        crate::config::config_dir().map(|d| d.join("ui_state.json"))
    }

    /// The saved state, or the defaults when there is none or it does not
    /// parse (a UI preference is never worth refusing to start over).
    pub fn load(path: &Path) -> Self {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    pub fn save(&self, path: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        crate::fsutil::write_atomic(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_tolerates_missing_fields() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ui_state.json");
        let state = State {
            mode: Mode::Test,
            last_file: Some(PathBuf::from("/data/x.csv")),
            ..State::default()
        };
        state.save(&path).expect("save");
        assert_eq!(State::load(&path), state);
        std::fs::write(&path, r#"{"mode": "Live"}"#).expect("write");
        let partial = State::load(&path);
        assert_eq!(partial.mode, Mode::Live);
        assert!(partial.show_forecast, "missing fields take their defaults");
        std::fs::write(&path, "not json").expect("write");
        assert_eq!(State::load(&path), State::default());
    }
}
