//! The top bar: app name, data source, configured Prometheus, where the
//! config came from, and how the data was loaded (warnings included).

use eframe::egui;

use super::theme;

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

pub fn top_bar_ui(ui: &mut egui::Ui, info: &SourceInfo) {
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
    });
    for warning in &info.warnings {
        ui.colored_label(theme::WARNING, format!("⚠ {warning}"));
    }
}
