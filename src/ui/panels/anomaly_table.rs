//! The bottom panel: anomaly events (runs of flagged points on one metric),
//! newest first, with past ones from the history database beside them;
//! clicking one zooms every plot to it.

use eframe::egui;

use crate::data::time::format_rfc3339_ms;
use crate::event::{AnomalyEvent, EventSource};
use crate::ui::{UiCommand, theme};

/// What the table says about the history database.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryNote {
    /// Not consulted in this mode.
    Unused,
    /// Read: this many past events overlap the data in view.
    Read(usize),
    Failed(String),
}

pub fn anomaly_table_ui(
    ui: &mut egui::Ui,
    events: &[AnomalyEvent],
    session_total: usize,
    history: &HistoryNote,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        let detected = events
            .iter()
            .filter(|e| e.source == EventSource::Detected)
            .count();
        ui.strong(format!(
            "Anomalies: {detected} in view, {session_total} this session"
        ));
        match history {
            HistoryNote::Unused => {}
            HistoryNote::Read(n) => {
                ui.label(format!("· {n} from the history"));
            }
            HistoryNote::Failed(error) => {
                ui.colored_label(theme::WARNING, format!("· history unavailable: {error}"));
            }
        }
        ui.label(egui::RichText::new("(click a row to zoom every plot to it)").color(theme::MUTED));
    });
    let widths = [200.0, 200.0, 120.0, 80.0, 80.0, 80.0];
    let header = |ui: &mut egui::Ui| {
        for (title, width) in ["start", "end", "metric", "peak score", "severity", "source"]
            .iter()
            .zip(widths)
        {
            ui.add_sized(
                [width, 18.0],
                egui::Label::new(egui::RichText::new(*title).color(theme::MUTED)),
            );
        }
    };
    ui.horizontal(header);
    let row_height = ui.spacing().interact_size.y;
    // Only the visible rows are laid out: a long history costs nothing.
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, events.len(), |ui, range| {
            for index in range {
                let event = &events[events.len() - 1 - index];
                // An event still going on (history) reads as "ongoing".
                let end_ms = event.end_or(event.start_ms);
                ui.horizontal(|ui| {
                    let start = format_rfc3339_ms(event.start_ms);
                    let link = ui.add_sized([widths[0], row_height], egui::Link::new(start));
                    if link.clicked() {
                        commands.push(UiCommand::ZoomTo {
                            start_ms: event.start_ms,
                            end_ms,
                        });
                    }
                    ui.add_sized(
                        [widths[1], row_height],
                        egui::Label::new(match event.end_ms {
                            Some(end) => format_rfc3339_ms(end),
                            None => "ongoing".to_owned(),
                        }),
                    );
                    ui.add_sized([widths[2], row_height], egui::Label::new(&event.metric));
                    ui.add_sized(
                        [widths[3], row_height],
                        egui::Label::new(
                            egui::RichText::new(format!("{:.0}", event.peak_score))
                                .color(theme::severity(event.peak_score)),
                        ),
                    );
                    ui.add_sized([widths[4], row_height], egui::Label::new(event.severity()));
                    ui.add_sized(
                        [widths[5], row_height],
                        egui::Label::new(event.source.label()),
                    );
                });
            }
        });
    commands
}
