//! What panels and shortcuts ask of the app ([`UiCommand`]) and how each is
//! carried out: most become commands to the monitor; the rest change what
//! the window shows or remembers.

use std::path::PathBuf;

use eframe::egui;

use super::marks::Injected;
use super::panels::overview as overview_panel;
use super::panels::settings::SettingsForm;
use super::state::Mode;
use super::{LoadedData, PulseWatchApp};
use crate::config::{self, edit::SettingKey};
use crate::data;
use crate::engine::monitor::{Command, DataKind};
use crate::engine::schedule::RetrainReason;

/// What a panel asks the app to do.
#[derive(Debug, Clone, PartialEq)]
pub enum UiCommand {
    SetMode(Mode),
    Train,
    CancelTraining,
    SetThreshold(f64),
    SetShowForecast(bool),
    OpenCsvDialog,
    OpenCsv(PathBuf),
    SetSpikes {
        rate: f64,
        magnitude: f64,
    },
    Reseed,
    Refresh,
    /// Zoom every plot to this span (Unix ms).
    ZoomTo {
        start_ms: i64,
        end_ms: i64,
    },
    /// For this session (the settings window saves it to the file).
    SetRefreshInterval(std::time::Duration),
    OpenSettings,
    SetSetting {
        key: SettingKey,
        value: String,
    },
    SaveSettings,
    /// The fleet overview's label filter, as typed.
    SetFleetFilter(String),
    SetFleetGroupBy(Option<String>),
    /// Opens an entity of a fleet; with a span, zooms its plots there.
    OpenEntity {
        key: String,
        span_ms: Option<(i64, i64)>,
    },
    /// Back from an entity to the fleet overview.
    ShowFleet,
    /// Moves the overview's selection by this many entities.
    MoveSelection(i32),
    OpenSelected,
    FocusFilter,
    SetTableByEntity(bool),
}

impl PulseWatchApp {
    /// Shows `loaded` (a file or the sample) and judges it.
    pub(super) fn set_data(&mut self, loaded: LoadedData) {
        self.source.label = loaded.label;
        self.source.rows = loaded.frame.len();
        self.source.metrics = loaded.frame.names().len();
        self.source.warnings = loaded.warnings;
        self.base = loaded.frame;
        self.show_base();
    }

    /// Sends the data as loaded to the monitor: as it is, or with Test
    /// mode's spikes.
    pub(super) fn show_base(&mut self) {
        self.injected = None;
        let mut frame = self.base.clone();
        let mut kind = DataKind::File;
        if self.state.mode == Mode::Test {
            // A fleet's spikes go into a few of its entities, so each of
            // those gets its own precision and recall beside the quiet rest.
            let (entities, targets) = self.test_targets();
            match data::inject_spikes_into(
                &self.base,
                self.state.spike_rate,
                self.state.spike_magnitude,
                self.state.spike_seed,
                &targets,
            ) {
                Ok((spiked, labels)) => {
                    let mut injected = Injected::new(&self.base, &spiked, labels);
                    injected.entities = entities;
                    self.injected = Some(injected);
                    frame = spiked;
                    kind = DataKind::Test;
                }
                Err(error) => self.load_error = Some(error.to_string()),
            }
        }
        let label = self.source.label.clone();
        let warnings = self.source.warnings.clone();
        self.send(Command::Show {
            frame,
            kind,
            label,
            warnings,
        });
    }

    /// Applies one command from a panel or a shortcut.
    pub fn apply(&mut self, command: UiCommand) {
        match command {
            UiCommand::SetMode(mode) => self.set_mode(mode),
            UiCommand::Train => {
                if self.config.dashboard.retrain_button_enabled && !self.is_training() {
                    self.send(Command::Train {
                        reason: RetrainReason::Manual,
                        reply: None,
                    });
                    self.train_asked_at = self.monitor.as_ref().map(|m| m.sent());
                }
            }
            UiCommand::CancelTraining => self.send(Command::CancelTraining),
            UiCommand::SetThreshold(threshold) => self.send(Command::SetThreshold(Some(threshold))),
            UiCommand::SetShowForecast(show) => {
                self.state.show_forecast = show;
                self.save_state();
                self.send(Command::SetShowForecast(show));
            }
            UiCommand::OpenCsvDialog => self.open_dialog(),
            UiCommand::OpenCsv(path) => {
                let wake = self.wake();
                match crate::engine::spawn_csv_load(path.clone(), wake) {
                    Ok(receiver) => self.csv_job = Some((path, receiver)),
                    Err(error) => self.load_error = Some(error.to_string()),
                }
            }
            UiCommand::SetSpikes { rate, magnitude } => {
                self.state.spike_rate = rate.clamp(0.0, 1.0);
                self.state.spike_magnitude = magnitude;
                self.save_state();
                self.show_base();
            }
            UiCommand::Reseed => {
                self.state.spike_seed = self.state.spike_seed.wrapping_add(1);
                self.save_state();
                self.show_base();
            }
            UiCommand::ZoomTo { start_ms, end_ms } => self.zoom_plots(start_ms, end_ms),
            UiCommand::SetFleetFilter(text) => {
                self.state.fleet_filter = text;
                self.save_state();
                self.refilter();
            }
            UiCommand::SetFleetGroupBy(label) => {
                self.state.fleet_group_by = label;
                self.save_state();
                self.refilter();
            }
            UiCommand::OpenEntity { key, span_ms } => {
                self.selected_entity = Some(key.clone());
                self.open_entity(Some(key));
                if let Some((start_ms, end_ms)) = span_ms {
                    self.zoom_plots(start_ms, end_ms);
                }
            }
            UiCommand::ShowFleet => {
                self.open_entity(None);
                self.scroll_to_selected = true;
            }
            UiCommand::MoveSelection(by) => self.move_selection(by),
            UiCommand::OpenSelected => {
                if let Some(key) = self.selected_entity.clone() {
                    self.open_entity(Some(key));
                }
            }
            UiCommand::FocusFilter => self.focus_filter = true,
            UiCommand::SetTableByEntity(by_entity) => {
                self.state.table_by_entity = by_entity;
                self.save_state();
                self.refilter_table();
            }
            UiCommand::SetRefreshInterval(interval) => {
                self.config.dashboard.refresh_interval = interval;
                let config = Box::new(self.config.clone());
                self.send(Command::Configure(config));
            }
            UiCommand::OpenSettings => self.open_settings(),
            UiCommand::SetSetting { key, value } => {
                if let Some(form) = &mut self.settings {
                    form.set(&key, &value);
                }
            }
            UiCommand::SaveSettings => self.save_settings(),
            UiCommand::Refresh => {
                if self.state.mode == Mode::Live {
                    self.send(Command::FollowLive);
                } else {
                    self.show_base();
                }
            }
        }
    }

    fn set_mode(&mut self, mode: Mode) {
        if mode == self.state.mode {
            return;
        }
        let leaving_live = self.state.mode == Mode::Live;
        self.state.mode = mode;
        self.save_state();
        if leaving_live {
            self.source.live = None;
            if let Some(offline) = self.offline.take() {
                // Showing it stops the poll.
                self.set_data(offline);
                return;
            }
        }
        if mode == Mode::Live {
            self.offline = Some(LoadedData {
                frame: self.base.clone(),
                label: self.source.label.clone(),
                warnings: self.source.warnings.clone(),
            });
            self.send(Command::FollowLive);
            return;
        }
        self.show_base();
    }

    fn open_settings(&mut self) {
        // The file it came from; with built-in defaults, the file
        // `config init` would write.
        let path = self
            .config_path
            .clone()
            .or_else(|| config::config_dir().map(|d| d.join("user_config.yml")));
        match path {
            Some(path) => {
                let mut form = SettingsForm::new(&self.config, path);
                form.open = true;
                self.settings = Some(form);
            }
            None => {
                self.load_error =
                    Some("no config directory on this platform to save settings in".into())
            }
        }
    }

    fn save_settings(&mut self) {
        let Some(form) = &mut self.settings else {
            return;
        };
        match form.save() {
            Ok(config) => {
                self.config_path = Some(form.path().to_owned());
                self.source.config_source = form.path().display().to_string();
                self.source.prometheus_url = config.prometheus.base_url.clone();
                self.config = config;
                // Trainings, fits and polls from now on use the new settings.
                let config = Box::new(self.config.clone());
                self.send(Command::Configure(config));
            }
            // The file is untouched; the form shows why.
            Err(error) => self.load_error = Some(error),
        }
    }

    fn open_dialog(&mut self) {
        if self.dialog_job.is_some() {
            return;
        }
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let wake = self.wake();
        // rfd's dialog blocks its thread: it gets one of its own.
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Open a metrics CSV")
                    .add_filter("CSV", &["csv"])
                    .pick_file();
                let _ = sender.send(picked);
                wake();
            });
        match spawned {
            Ok(_) => self.dialog_job = Some(receiver),
            Err(error) => self.load_error = Some(format!("cannot open the file dialog: {error}")),
        }
    }

    /// Keyboard shortcuts and dropped files, as commands.
    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) -> Vec<UiCommand> {
        let typing = ctx.memory(|m| m.focused().is_some());
        let overview = self.is_fleet() && self.open_entity.is_none();
        let (open, refresh, train, escape, dropped) = ctx.input_mut(|i| {
            (
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::O),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::R),
                i.consume_key(egui::Modifiers::COMMAND, egui::Key::T),
                i.consume_key(egui::Modifiers::NONE, egui::Key::Escape),
                i.raw
                    .dropped_files
                    .iter()
                    .map(|f| f.path().to_path_buf())
                    .find(|p| !p.as_os_str().is_empty()),
            )
        });
        let mut commands = Vec::new();
        if open {
            commands.push(UiCommand::OpenCsvDialog);
        }
        if refresh {
            commands.push(UiCommand::Refresh);
        }
        if train {
            commands.push(UiCommand::Train);
        }
        if escape {
            // Esc leaves the filter, then the entity, then cancels a training.
            if typing {
                ctx.memory_mut(|m| {
                    if let Some(id) = m.focused() {
                        m.surrender_focus(id);
                    }
                });
            } else if self.is_fleet() && self.open_entity.is_some() {
                commands.push(UiCommand::ShowFleet);
            } else {
                commands.push(UiCommand::CancelTraining);
            }
        }
        // Keys typed into another field (the settings) are that field's.
        let in_filter = ctx.memory(|m| m.has_focus(overview_panel::filter_id()));
        if overview && (!typing || in_filter) {
            commands.extend(overview_keys(ctx, typing));
        }
        if let Some(path) = dropped {
            commands.push(UiCommand::OpenCsv(path));
        }
        commands
    }
}

/// The overview's keys: arrows (and j k when not typing) move, Enter
/// opens, `/` focuses the filter.
fn overview_keys(ctx: &egui::Context, typing: bool) -> Vec<UiCommand> {
    let none = egui::Modifiers::NONE;
    ctx.input_mut(|i| {
        let mut commands = Vec::new();
        let down = i.consume_key(none, egui::Key::ArrowDown)
            || (!typing && i.consume_key(none, egui::Key::J));
        let up = i.consume_key(none, egui::Key::ArrowUp)
            || (!typing && i.consume_key(none, egui::Key::K));
        if down {
            commands.push(UiCommand::MoveSelection(1));
        }
        if up {
            commands.push(UiCommand::MoveSelection(-1));
        }
        if i.consume_key(none, egui::Key::Enter) {
            commands.push(UiCommand::OpenSelected);
        }
        if !typing && i.consume_key(none, egui::Key::Slash) {
            commands.push(UiCommand::FocusFilter);
        }
        commands
    })
}
