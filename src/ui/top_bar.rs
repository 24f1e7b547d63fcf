//! The top bar: app name, data source, configured Prometheus, where the
//! config came from, and how the data was loaded (warnings included).

use eframe::egui;

use super::{ForecastStatus, theme};

pub struct SourceInfo {
    /// File name or "bundled sample data".
    pub label: String,
    pub rows: usize,
    pub metrics: usize,
    pub warnings: Vec<String>,
    pub prometheus_url: String,
    /// Where the configuration came from (a path or "built-in defaults").
    pub config_source: String,
}

pub fn top_bar_ui(ui: &mut egui::Ui, info: &SourceInfo, forecast: &ForecastStatus) {
    ui.horizontal(|ui| {
        ui.heading("PulseWatch");
        ui.separator();
        ui.label(format!("Data: {}", info.label));
        ui.label(
            egui::RichText::new(format!("{} rows × {} metrics", info.rows, info.metrics))
                .color(theme::MUTED),
        );
        ui.separator();
        ui.label(
            egui::RichText::new(format!("Prometheus: {}", info.prometheus_url)).color(theme::MUTED),
        );
        ui.separator();
        ui.label(
            egui::RichText::new(format!("Config: {}", info.config_source)).color(theme::MUTED),
        );
        ui.separator();
        match forecast {
            ForecastStatus::Off => {
                ui.label(egui::RichText::new("Forecast: off").color(theme::MUTED));
            }
            ForecastStatus::Running(_) => {
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
    });
    if let ForecastStatus::Failed(reason) = forecast {
        ui.colored_label(theme::WARNING, format!("⚠ forecast: {reason}"));
    }
    for warning in &info.warnings {
        ui.colored_label(theme::WARNING, format!("⚠ {warning}"));
    }
}
