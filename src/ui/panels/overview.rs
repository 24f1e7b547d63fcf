//! The fleet overview, the first view of data with more than one entity:
//! the fleet's counts, a label filter and grouping, and one row per entity
//! (worst first) with a cell per metric coloured by its current score, a
//! sparkline of the window and its marks. Only the rows on screen are laid
//! out, so a fleet of thousands costs what a screenful costs. It reads the
//! overview the worker built and returns commands.

use eframe::egui;

use crate::eval::PointMetrics;
use crate::ui::overview::{Cell, EntityRow, FleetOverview, Line};
use crate::ui::{UiCommand, theme};

/// The filter's widget id (`/` focuses it).
pub fn filter_id() -> egui::Id {
    egui::Id::unique("fleet-filter")
}

const ROW_HEIGHT: f32 = 30.0;
const NAME_WIDTH: f32 = 180.0;
const CELL_WIDTH: f32 = 130.0;
const STATUS_WIDTH: f32 = 100.0;

/// What the overview shows this frame.
pub struct OverviewPanel<'a> {
    /// None while the first one is being built.
    pub overview: Option<&'a FleetOverview>,
    pub lines: &'a [Line],
    pub selected: Option<&'a str>,
    pub filter: &'a str,
    pub filter_error: Option<&'a str>,
    pub group_by: Option<&'a str>,
    /// Bring this line into view (the keyboard moved the selection).
    pub scroll_to: Option<usize>,
    /// Test mode: the spiked entities' precision and recall.
    pub scorecards: &'a [(String, PointMetrics)],
}

pub fn overview_ui(ui: &mut egui::Ui, panel: &OverviewPanel<'_>) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let Some(overview) = panel.overview else {
        ui.centered_and_justified(|ui| ui.label("Building the fleet overview…"));
        return commands;
    };
    ui.horizontal(|ui| {
        ui.heading(format!("Fleet: {} entities", overview.entities.len()));
        let counts = [
            (overview.anomalous_now, "anomalous now", theme::ANOMALY),
            (overview.stale, "stale", theme::MUTED),
            (overview.in_probation, "on probation", theme::WARNING),
        ];
        for (count, words, colour) in counts {
            let colour = if count > 0 { colour } else { theme::MUTED };
            ui.colored_label(colour, format!("· {count} {words}"));
        }
    });
    if !panel.scorecards.is_empty() {
        ui.horizontal_wrapped(|ui| {
            ui.label("Test mode, spiked entities:");
            for (key, metrics) in panel.scorecards {
                ui.label(format!(
                    "{}: precision {:.2}, recall {:.2} ({} of {} spikes)",
                    entity_title(key),
                    metrics.precision,
                    metrics.recall,
                    metrics.tp,
                    metrics.tp + metrics.fn_
                ));
            }
        });
    }
    ui.horizontal(|ui| {
        let mut filter = panel.filter.to_owned();
        let edit = ui.add(
            egui::TextEdit::singleline(&mut filter)
                .id(filter_id())
                .hint_text("filter labels (regex); / to focus")
                .desired_width(300.0),
        );
        if edit.changed() {
            commands.push(UiCommand::SetFleetFilter(filter));
        }
        if let Some(error) = panel.filter_error {
            ui.colored_label(theme::WARNING, error);
        }
        let mut group_by = panel.group_by.map(str::to_owned);
        egui::ComboBox::from_label("group by")
            .selected_text(group_by.as_deref().unwrap_or("none"))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut group_by, None, "none");
                for name in &overview.label_names {
                    ui.selectable_value(&mut group_by, Some(name.clone()), name);
                }
            });
        if group_by.as_deref() != panel.group_by {
            commands.push(UiCommand::SetFleetGroupBy(group_by));
        }
        ui.label(
            egui::RichText::new("arrows or j k to move, Enter to open, Esc back")
                .color(theme::MUTED),
        );
    });
    header_ui(ui, &overview.metrics);
    let mut scroll = egui::ScrollArea::vertical().auto_shrink([false, false]);
    if let Some(line) = panel.scroll_to {
        // Keep the selection on screen: scroll only when it left the
        // rows shown last frame.
        let shown = ui.data(|d| d.get_temp::<(usize, usize)>(visible_id()));
        if shown.is_none_or(|(first, end)| line < first || line + 1 >= end) {
            let offset = (line as f32 - 3.0).max(0.0) * (ROW_HEIGHT + ui.spacing().item_spacing.y);
            scroll = scroll.vertical_scroll_offset(offset);
        }
    }
    scroll.show_rows(ui, ROW_HEIGHT, panel.lines.len(), |ui, range| {
        ui.data_mut(|d| d.insert_temp(visible_id(), (range.start, range.end)));
        for line in &panel.lines[range] {
            match line {
                Line::Group {
                    title,
                    entities,
                    anomalous,
                } => {
                    ui.allocate_ui(egui::vec2(ui.available_width(), ROW_HEIGHT), |ui| {
                        ui.horizontal_centered(|ui| {
                            ui.strong(title);
                            ui.label(
                                egui::RichText::new(format!(
                                    "{entities} entities, {anomalous} anomalous now"
                                ))
                                .color(theme::MUTED),
                            );
                        });
                    });
                }
                Line::Entity(index) => {
                    let entity = &overview.entities[*index];
                    let selected = panel.selected == Some(entity.key.as_str());
                    let spiked = panel.scorecards.iter().any(|(k, _)| *k == entity.key);
                    commands.extend(entity_row_ui(ui, entity, selected, spiked));
                }
            }
        }
    });
    commands
}

fn visible_id() -> egui::Id {
    egui::Id::unique("fleet-overview-visible")
}

fn header_ui(ui: &mut egui::Ui, metrics: &[String]) {
    ui.horizontal(|ui| {
        let muted = |text: &str| egui::RichText::new(text).color(theme::MUTED);
        ui.add_sized([NAME_WIDTH, 18.0], egui::Label::new(muted("entity")));
        for metric in metrics {
            ui.add_sized([CELL_WIDTH, 18.0], egui::Label::new(muted(metric)));
        }
        ui.add_sized([STATUS_WIDTH, 18.0], egui::Label::new(muted("status")));
        ui.add_sized([60.0, 18.0], egui::Label::new(muted("events")));
    });
}

/// The entity's name as a person reads it: the label values
/// (`host-003:9100`), or "(fleet-wide)" for series without entity labels.
pub fn entity_title(key: &str) -> String {
    match crate::data::parse_labels(key) {
        _ if key.is_empty() => "(fleet-wide)".to_owned(),
        Some(labels) if !labels.is_empty() => labels.into_values().collect::<Vec<_>>().join(", "),
        _ => key.to_owned(),
    }
}

fn entity_row_ui(
    ui: &mut egui::Ui,
    entity: &EntityRow,
    selected: bool,
    spiked: bool,
) -> Vec<UiCommand> {
    let mut commands = Vec::new();
    let row = egui::Rect::from_min_size(
        ui.cursor().min,
        egui::vec2(ui.available_width(), ROW_HEIGHT),
    );
    if selected {
        ui.painter()
            .rect_filled(row, 2.0, ui.visuals().selection.bg_fill.gamma_multiply(0.5));
    }
    ui.horizontal(|ui| {
        ui.set_height(ROW_HEIGHT);
        let title = entity_title(&entity.key);
        let title = if spiked {
            format!("{title} (spiked)")
        } else {
            title
        };
        let name = ui.add_sized([NAME_WIDTH, ROW_HEIGHT], egui::Link::new(title));
        if name.clicked() {
            commands.push(UiCommand::OpenEntity {
                key: entity.key.clone(),
                span_ms: None,
            });
        }
        name.on_hover_text(entity.label_text());
        for cell in &entity.cells {
            let response = cell_ui(ui, cell.as_ref());
            if response.clicked() {
                commands.push(UiCommand::OpenEntity {
                    key: entity.key.clone(),
                    span_ms: None,
                });
            }
        }
        let (status, colour) = if entity.anomalous_now {
            ("anomalous", theme::ANOMALY)
        } else if entity.stale {
            ("stale", theme::MUTED)
        } else if entity.in_probation {
            ("on probation", theme::WARNING)
        } else if entity.peak > 0.0 {
            ("was marked", theme::WARNING)
        } else {
            ("ok", theme::OK)
        };
        ui.add_sized(
            [STATUS_WIDTH, ROW_HEIGHT],
            egui::Label::new(egui::RichText::new(status).color(colour)),
        );
        ui.add_sized(
            [60.0, ROW_HEIGHT],
            egui::Label::new(entity.events.to_string()),
        );
    });
    commands
}

/// One cell: the current score's colour behind, the sparkline (each
/// bucket's low to high), red ticks under marked buckets, the score.
fn cell_ui(ui: &mut egui::Ui, cell: Option<&Cell>) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(
        egui::vec2(CELL_WIDTH, ROW_HEIGHT - 2.0),
        egui::Sense::click(),
    );
    if !ui.is_rect_visible(rect) {
        return response;
    }
    let painter = ui.painter_at(rect);
    let Some(cell) = cell else {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "–",
            egui::FontId::proportional(12.0),
            theme::MUTED,
        );
        return response;
    };
    let background = if cell.stale {
        egui::Color32::from_gray(0x30)
    } else {
        theme::cell_colour(cell.current).gamma_multiply(if cell.current >= 50.0 {
            0.35
        } else {
            0.08
        })
    };
    painter.rect_filled(rect, 3.0, background);
    let text_width = 30.0;
    let spark = egui::Rect::from_min_max(
        rect.min + egui::vec2(3.0, 3.0),
        rect.max - egui::vec2(text_width, 5.0),
    );
    let buckets = cell.sparkline.len().max(1) as f32;
    let x_of = |i: usize| spark.left() + (i as f32 + 0.5) * spark.width() / buckets;
    let y_of = |v: f32| spark.bottom() - v * spark.height();
    // One zigzag through every bucket's low and high: a spike of one row
    // shows as its bucket's full height.
    let mut points = Vec::with_capacity(2 * cell.sparkline.len());
    for (i, bucket) in cell.sparkline.iter().enumerate() {
        if let Some((low, high)) = bucket {
            points.push(egui::pos2(x_of(i), y_of(*low)));
            if high > low {
                points.push(egui::pos2(x_of(i), y_of(*high)));
            }
        }
    }
    let colour = if cell.in_probation {
        theme::MUTED
    } else {
        theme::SERIES[0]
    };
    painter.add(egui::Shape::line(points, egui::Stroke::new(1.0, colour)));
    for (i, marked) in cell.marked_buckets.iter().enumerate() {
        if *marked {
            let x = x_of(i);
            painter.line_segment(
                [
                    egui::pos2(x, rect.bottom() - 4.0),
                    egui::pos2(x, rect.bottom() - 1.0),
                ],
                egui::Stroke::new(2.0, theme::ANOMALY),
            );
        }
    }
    let score_text = if cell.stale {
        "stale".to_owned()
    } else {
        format!("{:.0}", cell.current)
    };
    painter.text(
        egui::pos2(rect.right() - 3.0, rect.center().y),
        egui::Align2::RIGHT_CENTER,
        score_text,
        egui::FontId::proportional(12.0),
        if cell.stale {
            theme::MUTED
        } else {
            theme::cell_colour(cell.current)
        },
    );
    response.on_hover_text(format!(
        "{}\nlatest {}\nscore now {:.0}, highest mark {:.0}\n{} marked rows{}{}",
        cell.series,
        cell.latest.map_or("–".to_owned(), |v| format!("{v:.3}")),
        cell.current,
        cell.peak,
        cell.marked_rows,
        if cell.stale { "\nstale" } else { "" },
        if cell.in_probation {
            "\non probation (still learning)"
        } else {
            ""
        },
    ))
}
