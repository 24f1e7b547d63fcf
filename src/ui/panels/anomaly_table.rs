//! The bottom panel: anomaly events (runs of flagged points on one metric),
//! newest first, with past ones from the history database beside them;
//! clicking one zooms every plot to it. On a fleet each row names its
//! entity, the rows follow the entity in view or the overview's filter, can
//! be grouped by entity, and a click opens the entity at that time.

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

/// What the table shows this frame.
pub struct TableView<'a> {
    /// Events in view and from the history, oldest first.
    pub events: &'a [AnomalyEvent],
    /// A fleet: each event's entity (parallel to `events`).
    pub entities: Option<&'a [String]>,
    /// The rows to show, indices into `events`, top first (the entity in
    /// view, the overview's filter, the grouping).
    pub rows: &'a [usize],
    pub by_entity: bool,
    pub session_total: usize,
    pub history: &'a HistoryNote,
}

pub fn anomaly_table_ui(ui: &mut egui::Ui, table: &TableView<'_>) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let events = table.events;
    ui.horizontal(|ui| {
        let detected = events
            .iter()
            .filter(|e| e.source == EventSource::Detected)
            .count();
        ui.strong(format!(
            "Anomalies: {detected} in view, {} this session",
            table.session_total
        ));
        if table.entities.is_some() {
            ui.label(format!("· {} listed", table.rows.len()));
            let mut by_entity = table.by_entity;
            if ui.checkbox(&mut by_entity, "by entity").changed() {
                commands.push(UiCommand::SetTableByEntity(by_entity));
            }
        }
        match table.history {
            HistoryNote::Unused => {}
            HistoryNote::Read(n) => {
                ui.label(format!("· {n} from the history"));
            }
            HistoryNote::Failed(error) => {
                ui.colored_label(theme::WARNING, format!("· history unavailable: {error}"));
            }
        }
        let hint = if table.entities.is_some() {
            "(click a row to open its entity at that time)"
        } else {
            "(click a row to zoom every plot to it)"
        };
        ui.label(egui::RichText::new(hint).color(theme::MUTED));
    });
    let widths = [200.0, 200.0, 160.0, 120.0, 80.0, 80.0, 80.0];
    let titles = [
        "start",
        "end",
        "entity",
        "metric",
        "peak score",
        "severity",
        "source",
    ];
    let shown = |column: usize| column != 2 || table.entities.is_some();
    let header = |ui: &mut egui::Ui| {
        for (column, (title, width)) in titles.iter().zip(widths).enumerate() {
            if shown(column) {
                ui.add_sized(
                    [width, 18.0],
                    egui::Label::new(egui::RichText::new(*title).color(theme::MUTED)),
                );
            }
        }
    };
    ui.horizontal(header);
    let row_height = ui.spacing().interact_size.y;
    // Only the visible rows are laid out: a long history costs nothing.
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, table.rows.len(), |ui, range| {
            for &index in &table.rows[range] {
                let event = &events[index];
                let entity = table.entities.and_then(|e| e.get(index));
                // An event still going on (history) reads as "ongoing".
                let end_ms = event.end_or(event.start_ms);
                ui.horizontal(|ui| {
                    let start = format_rfc3339_ms(event.start_ms);
                    let link = ui.add_sized([widths[0], row_height], egui::Link::new(start));
                    if link.clicked() {
                        commands.push(match entity {
                            Some(key) => UiCommand::OpenEntity {
                                key: key.clone(),
                                span_ms: Some((event.start_ms, end_ms)),
                            },
                            None => UiCommand::ZoomTo {
                                start_ms: event.start_ms,
                                end_ms,
                            },
                        });
                    }
                    ui.add_sized(
                        [widths[1], row_height],
                        egui::Label::new(match event.end_ms {
                            Some(end) => format_rfc3339_ms(end),
                            None => "ongoing".to_owned(),
                        }),
                    );
                    if let Some(key) = entity {
                        ui.add_sized(
                            [widths[2], row_height],
                            egui::Label::new(super::overview::entity_title(key)).truncate(),
                        );
                    }
                    let metric = match entity {
                        Some(_) => crate::data::parse_column(&event.metric).0,
                        None => event.metric.clone(),
                    };
                    ui.add_sized([widths[3], row_height], egui::Label::new(metric).truncate())
                        .on_hover_text(&event.metric);
                    ui.add_sized(
                        [widths[4], row_height],
                        egui::Label::new(
                            egui::RichText::new(format!("{:.0}", event.peak_score))
                                .color(theme::severity(event.peak_score)),
                        ),
                    );
                    ui.add_sized([widths[5], row_height], egui::Label::new(event.severity()));
                    ui.add_sized(
                        [widths[6], row_height],
                        egui::Label::new(event.source.label()),
                    );
                });
            }
        });
    commands
}
