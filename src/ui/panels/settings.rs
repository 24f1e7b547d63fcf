//! The settings window: the common config values as text fields, validated
//! as typed by the same parser and validator as the file, saved atomically
//! into the config file with every other line (comments too) untouched. An
//! invalid value never reaches the file.

use std::path::{Path, PathBuf};

use eframe::egui;

use crate::config::edit::{SettingKey, apply_edits};
use crate::config::{Config, ConfigError, format_duration};
use crate::ui::{UiCommand, theme};

pub struct SettingsForm {
    pub open: bool,
    /// The file saved to (the one loaded, or the platform config dir's).
    pub path: PathBuf,
    /// Its text when the form opened (the built-in defaults if it did not exist).
    base_text: String,
    /// (key, label, value in the form, value in the file).
    fields: Vec<(SettingKey, String, String, String)>,
    /// The validation result of the form as it stands.
    status: Result<(), String>,
    pub saved: Option<String>,
}

impl SettingsForm {
    pub fn new(config: &Config, path: PathBuf) -> Self {
        let base_text = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| crate::config::DEFAULT_CONFIG_YAML.to_owned());
        let mut fields = vec![
            (
                SettingKey::PrometheusUrl,
                "Prometheus URL".to_owned(),
                config.prometheus.base_url.clone(),
            ),
            (
                SettingKey::Step,
                "Step".to_owned(),
                format_duration(config.prometheus.step),
            ),
            (
                SettingKey::Window,
                "Window".to_owned(),
                format_duration(config.prometheus.window),
            ),
            (
                SettingKey::ThresholdPercentile,
                "Threshold percentile".to_owned(),
                match config.lstm.threshold {
                    crate::config::ThresholdRule::Percentile(p) => p.to_string(),
                    crate::config::ThresholdRule::Fixed(_) => "99".to_owned(),
                },
            ),
            (
                SettingKey::Epochs,
                "Epochs".to_owned(),
                config.lstm.epochs.to_string(),
            ),
            (
                SettingKey::RefreshInterval,
                "Refresh interval".to_owned(),
                format_duration(config.dashboard.refresh_interval),
            ),
            (
                SettingKey::ForecastHorizon,
                "Forecast horizon".to_owned(),
                format_duration(config.prophet.forecast_horizon),
            ),
        ];
        for metric in &config.metrics {
            fields.push((
                SettingKey::Query(metric.name.clone()),
                format!("Query: {}", metric.name),
                metric.query.clone(),
            ));
        }
        Self {
            open: false,
            path,
            base_text,
            fields: fields
                .into_iter()
                .map(|(key, label, value)| (key, label, value.clone(), value))
                .collect(),
            status: Ok(()),
            saved: None,
        }
    }

    fn edits(&self) -> Vec<(SettingKey, String)> {
        self.fields
            .iter()
            .filter(|(_, _, value, original)| value != original)
            .map(|(key, _, value, _)| (key.clone(), value.clone()))
            .collect()
    }

    /// Sets one field (by its key) and revalidates.
    pub fn set(&mut self, key: &SettingKey, value: &str) {
        if let Some(field) = self.fields.iter_mut().find(|(k, ..)| k == key) {
            field.2 = value.to_owned();
        }
        self.saved = None;
        self.status = self.check().map(|_| ());
    }

    fn source_name(&self) -> String {
        self.path.display().to_string()
    }

    fn check(&self) -> Result<(String, Config), String> {
        apply_edits(&self.base_text, &self.source_name(), &self.edits())
            .map_err(|e: ConfigError| e.to_string())
    }

    pub fn error(&self) -> Option<&str> {
        self.status.as_ref().err().map(String::as_str)
    }

    /// Writes the edited file (atomically) and returns the new config; on
    /// any error the file is left as it was.
    pub fn save(&mut self) -> Result<Config, String> {
        let (text, config) = self.check()?;
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        crate::fsutil::write_atomic(&self.path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        self.base_text = text;
        for field in &mut self.fields {
            field.3 = field.2.clone();
        }
        self.saved = Some(format!("Saved to {}", self.path.display()));
        Ok(config)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub fn settings_ui(ctx: &egui::Context, form: &mut SettingsForm) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let mut open = form.open;
    egui::Window::new("Settings")
        .open(&mut open)
        .resizable(true)
        .default_width(560.0)
        .show(ctx, |ui| {
            ui.label(
                egui::RichText::new(format!("File: {}", form.path.display())).color(theme::MUTED),
            );
            egui::Grid::new("settings-grid")
                .num_columns(2)
                .show(ui, |ui| {
                    for (key, label, value, _) in &form.fields {
                        let label = ui.label(label);
                        let mut text = value.clone();
                        let edit = egui::TextEdit::singleline(&mut text)
                            .desired_width(380.0)
                            .id_salt(key.path());
                        if ui.add(edit).labelled_by(label.id).changed() {
                            commands.push(UiCommand::SetSetting {
                                key: key.clone(),
                                value: text,
                            });
                        }
                        ui.end_row();
                    }
                });
            match &form.status {
                Ok(()) => {
                    if let Some(saved) = &form.saved {
                        ui.label(saved);
                    }
                }
                Err(message) => {
                    ui.colored_label(theme::WARNING, message);
                }
            }
            let save = ui.add_enabled(form.status.is_ok(), egui::Button::new("Save"));
            if save.clicked() {
                commands.push(UiCommand::SaveSettings);
            }
        });
    form.open = open;
    commands
}
