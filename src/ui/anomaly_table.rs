//! The bottom panel: anomaly events (runs of flagged points on one metric),
//! newest first, with past ones from the history database beside them;
//! clicking one zooms every plot to it.

use eframe::egui;

use super::{UiCommand, theme};
use crate::data::time::format_rfc3339_ms;

/// One anomaly: consecutive flagged rows of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct AnomalyEvent {
    pub start_ms: i64,
    pub end_ms: i64,
    pub metric: String,
    /// 0–100, 50 at the threshold or the band's edge.
    pub peak_score: f64,
    pub points: usize,
    pub source: EventSource,
}

/// Where an event in the table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    /// Found in the data in view, now.
    Detected,
    /// Read from the history database (found earlier, by the app or the
    /// daemon).
    History,
}

impl EventSource {
    pub fn label(self) -> &'static str {
        match self {
            EventSource::Detected => "detected",
            EventSource::History => "history",
        }
    }
}

impl AnomalyEvent {
    pub fn severity(&self) -> &'static str {
        crate::detect::score::severity(self.peak_score)
    }
}

/// Groups flagged rows into events: `flags[row]` holds the row's score when
/// the row is flagged; rows at most `gap_rows` apart join one event.
pub fn group_events(
    metric: &str,
    timestamps_ms: &[i64],
    flags: &[Option<f64>],
    gap_rows: usize,
) -> Vec<AnomalyEvent> {
    let mut events: Vec<AnomalyEvent> = Vec::new();
    let mut last_row: Option<usize> = None;
    for (row, flag) in flags.iter().enumerate() {
        let Some(score) = flag else { continue };
        let score = if score.is_finite() { *score } else { 50.0 };
        match (events.last_mut(), last_row) {
            (Some(event), Some(last)) if row - last <= gap_rows + 1 => {
                event.end_ms = timestamps_ms[row];
                event.peak_score = event.peak_score.max(score);
                event.points += 1;
            }
            _ => events.push(AnomalyEvent {
                start_ms: timestamps_ms[row],
                end_ms: timestamps_ms[row],
                metric: metric.to_owned(),
                peak_score: score,
                points: 1,
                source: EventSource::Detected,
            }),
        }
        last_row = Some(row);
    }
    events
}

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
                ui.horizontal(|ui| {
                    let start = format_rfc3339_ms(event.start_ms);
                    let link = ui.add_sized([widths[0], row_height], egui::Link::new(start));
                    if link.clicked() {
                        commands.push(UiCommand::ZoomTo {
                            start_ms: event.start_ms,
                            end_ms: event.end_ms,
                        });
                    }
                    ui.add_sized(
                        [widths[1], row_height],
                        egui::Label::new(format_rfc3339_ms(event.end_ms)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_of_flags_become_events_with_their_peak() {
        let ts: Vec<i64> = (0..10).map(|i| i * 1000).collect();
        let mut flags = vec![None; 10];
        flags[1] = Some(60.0);
        flags[2] = Some(80.0);
        flags[4] = Some(55.0); // one row apart from 2: joins with gap 1
        flags[8] = Some(95.0);
        let events = group_events("cpu", &ts, &flags, 1);
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].start_ms, events[0].end_ms), (1000, 4000));
        assert_eq!(events[0].peak_score, 80.0);
        assert_eq!(events[0].points, 3);
        assert_eq!(events[0].severity(), "major");
        assert_eq!(events[1].severity(), "critical");
        assert_eq!(group_events("cpu", &ts, &flags, 0).len(), 3);
    }
}
