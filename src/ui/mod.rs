//! The desktop window (eframe/egui). It owns the window's state and a live
//! [`monitor`](crate::engine::monitor) (the one the daemon uses too), sends
//! it the data to judge and draws what it reports. Split by role, after
//! rerun's viewer:
//!
//! - [`app`]: the app struct, its accessors, and the frame's layout;
//! - [`commands`]: what panels and shortcuts ask ([`UiCommand`]) and how
//!   each is carried out;
//! - [`jobs`]: taking what the monitor, the file reader, the file dialog
//!   and the history thread sent, never waiting on them;
//! - [`marks`]: the monitor's view turned into what the plots draw;
//! - [`overview`]: a fleet's overview (an entity a row, worst first), built
//!   on its worker; `fleet`: the open entity, selection, filter, grouping;
//! - [`panels`]: one file per panel; each reads a view of the app and
//!   returns commands;
//! - [`state`]: what the window remembers between runs; `theme`: colours.

mod app;
mod commands;
mod fleet;
mod jobs;
mod marks;
pub mod overview;
mod panels;
mod reaper;
pub mod state;
mod theme;

use std::path::PathBuf;

use anyhow::Context as _;
use eframe::egui;

use crate::config::{Config, ConfigSource};
use crate::data::{self, CsvLoad};

pub use crate::event::{AnomalyEvent, EventSource};
pub use app::PulseWatchApp;
pub use commands::UiCommand;
pub use panels::anomaly_table::HistoryNote;
pub use panels::plot_panel::format_time_axis;

/// What the window shows and where it came from.
pub struct LoadedData {
    pub frame: data::MetricFrame,
    pub label: String,
    pub warnings: Vec<String>,
}

impl LoadedData {
    fn from_csv(load: CsvLoad, label: String) -> Self {
        Self {
            warnings: load.warnings.iter().map(ToString::to_string).collect(),
            frame: load.frame,
            label,
        }
    }
}

/// Loads `csv`, or the bundled sample data when `None`.
pub fn load_data(csv: Option<PathBuf>) -> anyhow::Result<LoadedData> {
    match csv {
        Some(path) => Ok(LoadedData::from_csv(
            data::read_csv(&path)?,
            path.display().to_string(),
        )),
        None => sample_data(),
    }
}

fn sample_data() -> anyhow::Result<LoadedData> {
    let load = data::bundled_sample().context("the bundled sample data is corrupt")?;
    Ok(LoadedData::from_csv(load, "bundled sample data".to_owned()))
}

/// Opens the window and blocks until it is closed.
pub fn run_native(
    config: Config,
    config_source: ConfigSource,
    csv: Option<PathBuf>,
) -> anyhow::Result<()> {
    let state_path = state::State::default_path();
    let state = state_path
        .as_deref()
        .map(state::State::load)
        .unwrap_or_default();
    // An explicit file wins; else the last file when it still loads; else
    // the bundled sample data.
    let loaded = match csv {
        Some(path) => load_data(Some(path))?,
        None => match state.last_file.clone().filter(|p| p.is_file()) {
            Some(path) => load_data(Some(path)).or_else(|_| sample_data())?,
            None => sample_data()?,
        },
    };
    let title = config.app.name.clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(&title)
            .with_app_id("pulsewatch")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        &title,
        options,
        Box::new(move |cc| {
            Ok(Box::new(PulseWatchApp::new(
                &cc.egui_ctx,
                config,
                &config_source,
                loaded,
                state,
                state_path,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
