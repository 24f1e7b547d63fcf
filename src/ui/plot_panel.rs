//! The centre of the window: one plot per metric, stacked, with linked x axes
//! and cursors and a readable time axis.

use eframe::egui;
use egui_plot::{
    FilledArea, GridInput, GridMark, HoverPosition, Line, LineStyle, MarkerShape, Plot, PlotPoint,
    PlotPoints, Points,
};

use super::theme;
use crate::data::time::civil_from_days;
use crate::forecast::{SeriesForecast, band_score};

/// One metric ready to draw: points are built once, not every frame.
pub struct MetricSeries {
    pub name: String,
    /// x = Unix seconds, y = value; NaN rows are left out.
    pub points: Vec<PlotPoint>,
    /// The expected band and forecast, once they have been computed.
    pub band: Option<BandOverlay>,
    /// Anomalous points (in Test mode: detections of injected spikes).
    pub anomalies: Vec<PlotPoint>,
    /// Test mode: detections where nothing was injected.
    pub false_positives: Vec<PlotPoint>,
    /// Test mode: injected spikes not detected.
    pub missed: Vec<PlotPoint>,
}

/// Points at least this many band half-widths outside the band are marked.
/// With the default 80 % band, 20 % of ordinary points fall just outside it;
/// one half-width further out (≈ 2.6 σ from the forecast for a normal error)
/// leaves the points a person should look at.
pub const MARKER_MIN_BAND_SCORE: f64 = 1.0;

/// A metric's forecast, ready to draw.
pub struct BandOverlay {
    /// Unix seconds for history and horizon.
    pub xs: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// The forecast line over the horizon only (the band covers history).
    pub horizon: Vec<PlotPoint>,
    /// History rows at least [`MARKER_MIN_BAND_SCORE`] outside the band.
    pub outside_rows: Vec<usize>,
    /// Per history row: distance from the forecast as 0–100, 50 at the band's
    /// edge (NaN where the value is missing).
    pub row_scores: Vec<f64>,
    /// 0–100 for the latest value (50 at the band's edge).
    latest: Option<f64>,
}

impl BandOverlay {
    pub fn new(forecast: &SeriesForecast, values: &[f64]) -> Self {
        let xs: Vec<f64> = forecast
            .timestamps_ms
            .iter()
            .map(|t| *t as f64 / 1000.0)
            .collect();
        let (ts, yhat, ..) = forecast.horizon();
        let horizon = ts
            .iter()
            .zip(yhat)
            .map(|(t, y)| PlotPoint::new(*t as f64 / 1000.0, *y))
            .collect();
        let outside_rows = values
            .iter()
            .enumerate()
            .filter(|(i, y)| {
                band_score(**y, forecast.lower[*i], forecast.upper[*i])
                    .is_some_and(|b| b.score >= MARKER_MIN_BAND_SCORE)
            })
            .map(|(i, _)| i)
            .collect();
        let row_scores: Vec<f64> = values
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let half = (forecast.upper[i] - forecast.lower[i]) / 2.0;
                let distance = (y - forecast.yhat[i]).abs() / half;
                if half > 0.0 && distance.is_finite() {
                    100.0 * distance / (distance + 1.0)
                } else {
                    f64::NAN
                }
            })
            .collect();
        let latest = row_scores.iter().rev().find(|s| s.is_finite()).copied();
        Self {
            xs,
            lower: forecast.lower.clone(),
            upper: forecast.upper.clone(),
            horizon,
            outside_rows,
            row_scores,
            latest,
        }
    }

    /// The latest value's distance from the forecast as 0–100, 50 at the
    /// band's edge (the same scale as the autoencoder's score).
    pub fn latest_score(&self) -> Option<f64> {
        self.latest
    }
}

/// An axis mark in Unix seconds: the date (`MM-DD`) at midnight, the time
/// (`HH:MM`) otherwise, so neighbouring labels stay short and apart.
pub fn format_time_axis(seconds: f64, span_secs: f64) -> String {
    let total = seconds.round() as i64;
    let (_, month, day) = civil_from_days(total.div_euclid(86_400));
    let in_day = total.rem_euclid(86_400);
    let (h, m, s) = (in_day / 3600, in_day / 60 % 60, in_day % 60);
    if span_secs < 120.0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else if in_day == 0 {
        format!("{month:02}-{day:02}")
    } else {
        format!("{h:02}:{m:02}")
    }
}

/// Full timestamp (to the second) for hover labels.
fn format_hover_time(seconds: f64) -> String {
    crate::data::time::format_rfc3339_ms(seconds.round() as i64 * 1000)
}

/// Grid steps a person reads as times: seconds, minutes, hours, days, weeks.
const TIME_STEPS_SECS: [i64; 18] = [
    1, 5, 10, 15, 30, 60, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800,
    604_800,
];

/// Grid marks on round times (whole minutes, hours, days) in place of
/// egui_plot's decimal spacing, which puts marks at 20:40 or 00:26.
pub fn time_grid_spacer(input: GridInput) -> Vec<GridMark> {
    let (min, max) = input.bounds;
    let Some(small) = TIME_STEPS_SECS
        .iter()
        .position(|&s| s as f64 >= input.base_step_size)
    else {
        return Vec::new();
    };
    // Three thicknesses, each at least 4× the one below, so the thickest
    // marks are far enough apart for egui_plot to label them.
    let first = TIME_STEPS_SECS[small];
    let at_least = |minimum: i64| {
        TIME_STEPS_SECS
            .iter()
            .copied()
            .find(|&s| s >= minimum)
            .unwrap_or(TIME_STEPS_SECS[TIME_STEPS_SECS.len() - 1])
    };
    let levels = [first, at_least(4 * first), at_least(16 * first)];
    let step = levels[0];
    let first = (min / step as f64).ceil() as i64;
    let last = (max / step as f64).floor() as i64;
    if last < first || last - first > 10_000 {
        return Vec::new();
    }
    (first..=last)
        .map(|k| {
            let value = k * step;
            let step_size = levels
                .iter()
                .rev()
                .find(|&&s| value % s == 0)
                .copied()
                .unwrap_or(step);
            GridMark {
                value: value as f64,
                step_size: step_size as f64,
            }
        })
        .collect()
}

/// Draws every metric; `zoom_to` (Unix seconds), when set, moves every x axis
/// there this frame.
pub fn metric_plots_ui(ui: &mut egui::Ui, series: &[MetricSeries], zoom_to: Option<(f64, f64)>) {
    if series.is_empty() {
        ui.centered_and_justified(|ui| ui.label("No metrics to show."));
        return;
    }
    let link_group = egui::Id::unique("pulsewatch-time-axis");
    let spacing = ui.spacing().item_spacing.y;
    let height = ((ui.available_height() - spacing * (series.len() as f32 - 1.0))
        / series.len() as f32)
        .max(80.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        for (index, metric) in series.iter().enumerate() {
            let colour = theme::series_colour(index);
            let name = metric.name.clone();
            Plot::new(("metric-plot", index))
                .height(height)
                .link_axis(link_group, [true, false])
                .link_cursor(link_group, [true, false])
                .y_axis_label(metric.name.clone())
                .y_axis_min_width(56.0)
                .x_grid_spacer(time_grid_spacer)
                .x_axis_formatter(|mark: GridMark, range| {
                    format_time_axis(mark.value, range.end() - range.start())
                })
                .label_formatter(move |position: &HoverPosition<'_>| {
                    let point = match position {
                        HoverPosition::NearDataPoint { position, .. }
                        | HoverPosition::Elsewhere { position } => position,
                    };
                    Some(format!(
                        "{name}\n{}\nvalue {:.3}",
                        format_hover_time(point.x),
                        point.y
                    ))
                })
                .show(ui, |plot_ui| {
                    if let Some((start, end)) = zoom_to {
                        plot_ui.set_plot_bounds_x(start..=end);
                        plot_ui.set_auto_bounds(egui::Vec2b::new(false, true));
                    }
                    if let Some(band) = &metric.band {
                        plot_ui.add(
                            FilledArea::new("expected band", &band.xs, &band.lower, &band.upper)
                                .fill_color(theme::band_fill(colour)),
                        );
                    }
                    plot_ui.line(
                        Line::new(metric.name.clone(), PlotPoints::Borrowed(&metric.points))
                            .color(colour)
                            .width(1.5),
                    );
                    if let Some(band) = &metric.band {
                        plot_ui.line(
                            Line::new("forecast", PlotPoints::Borrowed(&band.horizon))
                                .color(theme::forecast_line(colour))
                                .style(LineStyle::dashed_loose())
                                .width(1.5),
                        );
                    }
                    for (name, points, colour, filled) in [
                        ("anomaly", &metric.anomalies, theme::ANOMALY, true),
                        (
                            "false positive",
                            &metric.false_positives,
                            theme::FALSE_POSITIVE,
                            true,
                        ),
                        ("missed spike", &metric.missed, theme::MISSED, false),
                    ] {
                        if !points.is_empty() {
                            plot_ui.points(
                                Points::new(name, PlotPoints::Borrowed(points))
                                    .color(colour)
                                    .shape(MarkerShape::Circle)
                                    .filled(filled)
                                    .radius(2.5),
                            );
                        }
                    }
                });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_marks_fall_on_round_times() {
        let marks = time_grid_spacer(GridInput {
            bounds: (1_767_225_600.0 + 100.0, 1_767_225_600.0 + 4.0 * 86_400.0),
            base_step_size: 2000.0,
        });
        assert!(!marks.is_empty());
        assert!(marks.iter().all(|m| m.value as i64 % 3600 == 0));
        // Hourly marks, 6-hourly ones and daily ones (which get the labels).
        assert!(marks.iter().any(|m| m.step_size == 3600.0));
        assert!(marks.iter().any(|m| m.step_size == 21_600.0));
        assert_eq!(marks.iter().filter(|m| m.step_size == 86_400.0).count(), 4);
    }

    #[test]
    fn axis_marks_are_readable_dates() {
        // 2026-01-02T00:00:00Z and 2026-01-02T13:30:00Z
        assert_eq!(format_time_axis(1_767_312_000.0, 86_400.0), "01-02");
        assert_eq!(format_time_axis(1_767_360_600.0, 86_400.0), "13:30");
        assert_eq!(format_time_axis(1_767_360_615.0, 60.0), "13:30:15");
    }
}
