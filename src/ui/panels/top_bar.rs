//! The top bar: mode, data source and its state (file, or Prometheus with
//! connection state), compute device, forecast state, config origin, and how
//! the data was loaded (warnings included).

use eframe::egui;

use crate::ui::state::Mode;
use crate::ui::{UiCommand, marks::ForecastStatus, theme};

pub struct SourceInfo {
    /// File name, "bundled sample data", or the Prometheus URL in Live mode.
    pub label: String,
    pub rows: usize,
    pub metrics: usize,
    pub warnings: Vec<String>,
    pub prometheus_url: String,
    /// Where the configuration came from (a path or "built-in defaults").
    pub config_source: String,
    /// GPU adapter name or CPU.
    pub device: String,
    /// Live mode: connected / last refresh / down with the reason.
    pub live: Option<String>,
}

pub fn top_bar_ui(
    ui: &mut egui::Ui,
    info: &SourceInfo,
    forecast: &ForecastStatus,
    mode: Mode,
    refresh: std::time::Duration,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    ui.horizontal_wrapped(|ui| {
        ui.heading("PulseWatch");
        ui.separator();
        let mut selected = mode;
        egui::ComboBox::from_label("Mode")
            .selected_text(mode.label())
            .show_ui(ui, |ui| {
                for option in Mode::ALL {
                    ui.selectable_value(&mut selected, option, option.label());
                }
            });
        if selected != mode {
            commands.push(UiCommand::SetMode(selected));
        }
        let mut refresh_secs = refresh.as_secs();
        let choices = [1_u64, 2, 5, 10, 30, 60, 300];
        egui::ComboBox::from_label("Refresh")
            .selected_text(format!("{refresh_secs} s"))
            .show_ui(ui, |ui| {
                for choice in choices {
                    ui.selectable_value(&mut refresh_secs, choice, format!("{choice} s"));
                }
            });
        if refresh_secs != refresh.as_secs() {
            commands.push(UiCommand::SetRefreshInterval(
                std::time::Duration::from_secs(refresh_secs),
            ));
        }
        ui.separator();
        ui.label(format!("Data: {}", info.label));
        ui.label(
            egui::RichText::new(format!("{} rows × {} metrics", info.rows, info.metrics))
                .color(theme::MUTED),
        );
        ui.separator();
        match &info.live {
            Some(state) if state.starts_with("down") => {
                ui.colored_label(theme::ANOMALY, format!("Prometheus {state}"));
            }
            Some(state) => {
                ui.label(format!("Prometheus {}: {state}", info.prometheus_url));
            }
            None => {
                ui.label(
                    egui::RichText::new(format!("Prometheus: {}", info.prometheus_url))
                        .color(theme::MUTED),
                );
            }
        }
        ui.separator();
        ui.label(egui::RichText::new(format!("Device: {}", info.device)).color(theme::MUTED));
        ui.separator();
        match forecast {
            ForecastStatus::Off => {
                ui.label(egui::RichText::new("Forecast: off").color(theme::MUTED));
            }
            ForecastStatus::Running => {
                ui.spinner();
                ui.label("Forecasting…");
            }
            ForecastStatus::Ready { marked_points } => {
                ui.label("Forecast: Prophet ·");
                ui.colored_label(
                    theme::ANOMALY,
                    format!("{marked_points} points far outside the expected band"),
                );
            }
            ForecastStatus::Failed(_) => {
                ui.colored_label(theme::WARNING, "Forecast failed");
            }
        }
        ui.separator();
        ui.label(
            egui::RichText::new(format!("Config: {}", info.config_source)).color(theme::MUTED),
        );
    });
    if let ForecastStatus::Failed(reason) = forecast {
        ui.colored_label(theme::WARNING, format!("Forecast failed: {reason}"));
    }
    for warning in &info.warnings {
        ui.colored_label(theme::WARNING, format!("Warning: {warning}"));
    }
    commands
}
