//! The left panel: one row per metric, the model (age, rows, threshold,
//! Train/Cancel with progress), the forecast toggle, Test-mode spikes, and
//! Open CSV. It reads a view of the app and returns commands.

use eframe::egui;

use crate::detect::train::TrainProgress;
use crate::eval::PointMetrics;
use crate::ui::state::{Mode, State};
use crate::ui::{UiCommand, theme};

/// One metric's line in the panel.
pub struct MetricRow {
    pub name: String,
    pub latest: Option<f64>,
    pub anomalies: usize,
    /// 0–100 (50 at the threshold) for the latest scored row.
    pub latest_score: Option<f64>,
    pub colour: egui::Color32,
}

/// What the panel shows about the model.
pub struct ModelPanel<'a> {
    /// "no model yet", "loading…", or age and rows.
    pub summary: String,
    /// (current, lowest, highest) window error for the slider.
    pub threshold: Option<(f64, f64, f64)>,
    /// Some while training: the latest progress (None before the first batch).
    pub training: Option<Option<&'a TrainProgress>>,
    /// A fleet's training of models per entity: how many are done.
    pub entity_progress: Option<crate::engine::schedule::EntityJobProgress>,
    pub train_enabled: bool,
    pub error: Option<&'a str>,
}

/// Test mode's scorecard against the injected spikes.
pub struct TestSummary {
    pub injected_rows: usize,
    pub metrics: PointMetrics,
}

pub fn side_panel_ui(
    ui: &mut egui::Ui,
    rows: &[MetricRow],
    model: &ModelPanel<'_>,
    state: &State,
    test: Option<&TestSummary>,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    ui.heading("Metrics");
    if rows.is_empty() {
        ui.label(
            egui::RichText::new("A fleet: open an entity in the overview to see its metrics.")
                .color(theme::MUTED),
        );
    }
    egui::Grid::new("metric-rows")
        .num_columns(4)
        .striped(true)
        .show(ui, |ui| {
            ui.label(egui::RichText::new("metric").color(theme::MUTED));
            ui.label(egui::RichText::new("latest").color(theme::MUTED));
            ui.label(egui::RichText::new("anomalies").color(theme::MUTED));
            ui.label(egui::RichText::new("score").color(theme::MUTED));
            ui.end_row();
            for row in rows {
                ui.colored_label(row.colour, &row.name);
                ui.label(row.latest.map_or("–".to_owned(), |v| format!("{v:.2}")));
                ui.label(row.anomalies.to_string());
                match row.latest_score {
                    Some(score) => ui.colored_label(theme::severity(score), format!("{score:.0}")),
                    None => ui.label("–"),
                };
                ui.end_row();
            }
        });

    ui.separator();
    ui.heading("Model");
    ui.label(&model.summary);
    if let Some((current, low, high)) = model.threshold {
        let mut value = current;
        let slider = egui::Slider::new(&mut value, low..=high)
            .logarithmic(true)
            .text("threshold")
            .custom_formatter(|v, _| format!("{v:.5}"));
        if ui.add(slider).changed() {
            commands.push(UiCommand::SetThreshold(value));
        }
    }
    match model.training {
        Some(progress) => {
            let (fraction, text) = match (model.entity_progress, progress) {
                (Some(e), _) => (
                    e.done as f32 / e.total.max(1) as f32,
                    format!(
                        "{}/{} entities{}",
                        e.done,
                        e.total,
                        if e.failed > 0 {
                            format!(" · {} failed", e.failed)
                        } else {
                            String::new()
                        }
                    ),
                ),
                (None, Some(p)) => {
                    let done = (p.epoch.saturating_sub(1) * p.batches + p.batch) as f32;
                    let total = (p.epochs * p.batches).max(1) as f32;
                    (
                        done / total,
                        format!(
                            "epoch {}/{} · loss {:.5} · ETA {:.0} s",
                            p.epoch,
                            p.epochs,
                            p.loss,
                            p.eta.as_secs_f64()
                        ),
                    )
                }
                (None, None) => (0.0, "starting…".to_owned()),
            };
            ui.add(egui::ProgressBar::new(fraction).text(text));
            if ui.button("Cancel").clicked() {
                commands.push(UiCommand::CancelTraining);
            }
        }
        None => {
            let button = ui.add_enabled(model.train_enabled, egui::Button::new("Train model"));
            if button.clicked() {
                commands.push(UiCommand::Train);
            }
        }
    }
    if let Some(error) = model.error {
        ui.colored_label(theme::WARNING, format!("Error: {error}"));
    }

    ui.separator();
    let mut show_forecast = state.show_forecast;
    if ui.checkbox(&mut show_forecast, "Show forecast").changed() {
        commands.push(UiCommand::SetShowForecast(show_forecast));
    }
    ui.horizontal(|ui| {
        if ui.button("Open CSV…").clicked() {
            commands.push(UiCommand::OpenCsvDialog);
        }
        if ui.button("Settings…").clicked() {
            commands.push(UiCommand::OpenSettings);
        }
    });

    if state.mode == Mode::Test {
        ui.separator();
        ui.heading("Injected spikes");
        let mut rate = state.spike_rate * 100.0;
        if ui
            .add(egui::Slider::new(&mut rate, 0.0..=5.0).text("% of rows"))
            .drag_stopped()
        {
            commands.push(UiCommand::SetSpikes {
                rate: rate / 100.0,
                magnitude: state.spike_magnitude,
            });
        }
        let mut magnitude = state.spike_magnitude;
        if ui
            .add(egui::Slider::new(&mut magnitude, 1.0..=20.0).text("size (σ)"))
            .drag_stopped()
        {
            commands.push(UiCommand::SetSpikes {
                rate: state.spike_rate,
                magnitude,
            });
        }
        if ui.button("Re-seed").clicked() {
            commands.push(UiCommand::Reseed);
        }
        if let Some(test) = test {
            let m = &test.metrics;
            ui.label(format!("{} rows spiked", test.injected_rows));
            ui.label(format!(
                "precision {:.3} · recall {:.3} · F1 {:.3}",
                m.precision, m.recall, m.f1
            ));
            ui.label(
                egui::RichText::new(format!("TP {} · FP {} · FN {}", m.tp, m.fp, m.fn_))
                    .color(theme::MUTED),
            );
        }
    }
    commands
}
