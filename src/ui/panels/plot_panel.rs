//! The centre of the window: one plot per metric, stacked, with linked x axes
//! and cursors and a readable time axis.

use eframe::egui;
use egui_plot::{
    FilledArea, GridInput, GridMark, HoverPosition, Line, LineStyle, MarkerShape, Plot, PlotPoint,
    PlotPoints, Points,
};

use crate::data::time::civil_from_days;
use crate::forecast::SeriesForecast;
use crate::forecast::band::RowBands;
use crate::ui::overview::PeerReference;
use crate::ui::theme;

/// One metric ready to draw: points are built once, not every frame.
pub struct MetricSeries {
    /// The series' full name (`cpu{instance="host-003:9100"}`).
    pub name: String,
    /// What its plot is titled: the metric (the entity is in the breadcrumb).
    pub title: String,
    /// Its column in the frame in view.
    pub column: usize,
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
    /// A fleet's median and spread of this metric, drawn faintly behind.
    pub peers: Option<PeerReference>,
}

/// A metric's forecast, ready to draw.
pub struct BandOverlay {
    /// Unix seconds for history and horizon.
    pub xs: Vec<f64>,
    pub lower: Vec<f64>,
    pub upper: Vec<f64>,
    /// The forecast line over the horizon only (the band covers history).
    pub horizon: Vec<PlotPoint>,
    /// Per history row: distance from the forecast as 0–100, 50 at the band's
    /// edge (NaN where the value is missing).
    pub row_scores: Vec<f64>,
}

impl BandOverlay {
    /// The overlay of `forecast`, judged at the frame's rows by the monitor
    /// (`rows`).
    pub fn new(forecast: &SeriesForecast, rows: &RowBands) -> Self {
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
        Self {
            xs,
            lower: forecast.lower.clone(),
            upper: forecast.upper.clone(),
            horizon,
            row_scores: rows.row_scores.clone(),
        }
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

/// The x range a plot showed last frame and its width in pixels: drawing is
/// cut to that range and thinned to min/max per pixel column, so 100,000
/// points cost what 2 × width points cost.
#[derive(Debug, Clone, Copy)]
pub struct ViewRange {
    start: f64,
    end: f64,
    columns: usize,
}

impl ViewRange {
    pub fn new(start: f64, end: f64, width_px: f32) -> Self {
        Self {
            start,
            end,
            columns: (width_px.max(100.0)) as usize,
        }
    }

    /// Index range of `xs` (sorted) inside the view, one point of margin on
    /// each side; everything when the view is unset or misses the data (the
    /// first frame, before any bounds exist).
    fn slice(&self, xs: impl Fn(usize) -> f64, len: usize) -> (usize, usize) {
        if len == 0 {
            return (0, 0);
        }
        let overlaps = self.start.is_finite()
            && self.end.is_finite()
            && self.end > self.start
            && self.start <= xs(len - 1)
            && self.end >= xs(0);
        if !overlaps {
            return (0, len);
        }
        let first = partition(len, |i| xs(i) < self.start).saturating_sub(1);
        let last = (partition(len, |i| xs(i) <= self.end) + 1).min(len);
        (first, last.max(first))
    }

    /// Bucket of `x` among `columns` buckets over `[x0, x1]`.
    fn bucket(&self, x: f64, x0: f64, x1: f64) -> usize {
        let span = (x1 - x0).max(f64::MIN_POSITIVE);
        (((x - x0) / span) * self.columns as f64) as usize
    }

    /// The line's points to draw: all of them when few, else per pixel column
    /// the lowest and highest (in time order, so spikes survive).
    pub fn line<'a>(&self, points: &'a [PlotPoint]) -> PlotPoints<'a> {
        let (first, last) = self.slice(|i| points[i].x, points.len());
        let visible = &points[first..last];
        if visible.len() <= 4 * self.columns {
            return PlotPoints::Borrowed(visible);
        }
        let (x0, x1) = (visible[0].x, visible[visible.len() - 1].x);
        let mut out = Vec::with_capacity(2 * self.columns + 2);
        let mut i = 0;
        while i < visible.len() {
            let bucket = self.bucket(visible[i].x, x0, x1);
            let (mut low, mut high) = (i, i);
            let mut j = i + 1;
            while j < visible.len() && self.bucket(visible[j].x, x0, x1) == bucket {
                if visible[j].y < visible[low].y {
                    low = j;
                }
                if visible[j].y > visible[high].y {
                    high = j;
                }
                j += 1;
            }
            out.push(visible[low.min(high)]);
            if low != high {
                out.push(visible[low.max(high)]);
            }
            i = j;
        }
        PlotPoints::Owned(out)
    }

    /// The band to draw: per pixel column the lowest lower and highest upper.
    pub fn band(&self, xs: &[f64], lower: &[f64], upper: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (first, last) = self.slice(|i| xs[i], xs.len());
        let (xs, lower, upper) = (&xs[first..last], &lower[first..last], &upper[first..last]);
        if xs.len() <= 4 * self.columns {
            return (xs.to_vec(), lower.to_vec(), upper.to_vec());
        }
        let (x0, x1) = (xs[0], xs[xs.len() - 1]);
        let (mut out_x, mut out_lo, mut out_hi) = (Vec::new(), Vec::new(), Vec::new());
        let mut i = 0;
        while i < xs.len() {
            let bucket = self.bucket(xs[i], x0, x1);
            let (mut lo, mut hi) = (lower[i], upper[i]);
            let mut j = i + 1;
            while j < xs.len() && self.bucket(xs[j], x0, x1) == bucket {
                lo = lo.min(lower[j]);
                hi = hi.max(upper[j]);
                j += 1;
            }
            out_x.push(xs[i]);
            out_lo.push(lo);
            out_hi.push(hi);
            i = j;
        }
        (out_x, out_lo, out_hi)
    }
}

/// Two corners spanning `points` (none when empty).
fn extent_of(points: &[PlotPoint]) -> Vec<PlotPoint> {
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return Vec::new();
    };
    let (low, high) = points
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
            (lo.min(p.y), hi.max(p.y))
        });
    vec![PlotPoint::new(first.x, low), PlotPoint::new(last.x, high)]
}

fn band_extent(band: &BandOverlay) -> Vec<PlotPoint> {
    let (Some(first), Some(last)) = (band.xs.first(), band.xs.last()) else {
        return Vec::new();
    };
    let low = band.lower.iter().copied().fold(f64::INFINITY, f64::min);
    let high = band.upper.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if low.is_finite() && high.is_finite() {
        vec![PlotPoint::new(*first, low), PlotPoint::new(*last, high)]
    } else {
        Vec::new()
    }
}

/// The first index in `0..len` where `before(i)` is false (`before` must be
/// true then false along the range).
fn partition(len: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The autoencoder's view of each row, for hover labels.
pub struct RowDetails {
    /// Unix seconds per frame row.
    pub xs: Vec<f64>,
    /// 0–100 per row (NaN where no window covers it).
    pub scores: Vec<f64>,
    /// The metric that contributed most to each row's worst window.
    pub top_metric: Vec<Option<String>>,
}

/// The hover label at `x`: the nearest point's time and value, the expected
/// range and band score there, and the autoencoder's score with the metric
/// that drove it.
fn hover_text(name: &str, metric: &MetricSeries, rows: Option<&RowDetails>, x: f64) -> String {
    let nearest = |xs: &dyn Fn(usize) -> f64, len: usize| -> Option<usize> {
        if len == 0 {
            return None;
        }
        let i = partition(len, |i| xs(i) < x).min(len - 1);
        Some(if i > 0 && (xs(i - 1) - x).abs() < (xs(i) - x).abs() {
            i - 1
        } else {
            i
        })
    };
    let Some(i) = nearest(&|i| metric.points[i].x, metric.points.len()) else {
        return name.to_owned();
    };
    let point = metric.points[i];
    let mut text = format!(
        "{name}\n{}\nvalue {:.3}",
        format_hover_time(point.x),
        point.y
    );
    if let Some(band) = &metric.band
        && let Some(j) = nearest(&|j| band.xs[j], band.xs.len())
        && band.xs[j] == point.x
    {
        text.push_str(&format!(
            "\nexpected {:.3} to {:.3}",
            band.lower[j], band.upper[j]
        ));
        if let Some(score) = band.row_scores.get(j).filter(|s| s.is_finite()) {
            text.push_str(&format!("\nband score {score:.0}"));
        }
    }
    if let Some(rows) = rows
        && let Some(r) = nearest(&|r| rows.xs[r], rows.xs.len())
        && rows.xs[r] == point.x
        && rows.scores[r].is_finite()
    {
        text.push_str(&format!("\nmodel score {:.0}", rows.scores[r]));
        if let Some(top) = &rows.top_metric[r] {
            text.push_str(&format!(" (driven by {top})"));
        }
    }
    text
}

/// Draws every metric; `zoom_to` (Unix seconds), when set, moves every x axis
/// there this frame.
pub fn metric_plots_ui(
    ui: &mut egui::Ui,
    series: &[MetricSeries],
    rows: Option<&RowDetails>,
    zoom_to: Option<(f64, f64)>,
) {
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
                .y_axis_label(metric.title.clone())
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
                    Some(hover_text(&name, metric, rows, point.x))
                })
                .show(ui, |plot_ui| {
                    if let Some((start, end)) = zoom_to {
                        plot_ui.set_plot_bounds_x(start..=end);
                        plot_ui.set_auto_bounds(egui::Vec2b::new(false, true));
                    }
                    // What last frame showed decides what to draw now: at most
                    // two points (min and max) per pixel column.
                    let transform = plot_ui.transform();
                    let view = ViewRange::new(
                        transform.bounds().min()[0],
                        transform.bounds().max()[0],
                        transform.frame().width(),
                    );
                    if let Some(peers) = &metric.peers {
                        let (xs, lower, upper) = view.band(&peers.xs, &peers.lower, &peers.upper);
                        plot_ui.add(
                            FilledArea::new("peers' spread", &xs, &lower, &upper)
                                .fill_color(theme::PEER_FILL),
                        );
                        let (xs, median, _) = view.band(&peers.xs, &peers.median, &peers.median);
                        let median: Vec<PlotPoint> = xs
                            .iter()
                            .zip(&median)
                            .map(|(x, y)| PlotPoint::new(*x, *y))
                            .collect();
                        plot_ui.line(
                            Line::new("peers' median", PlotPoints::Owned(median))
                                .color(theme::PEER_LINE)
                                .width(1.0),
                        );
                    }
                    if let Some(band) = &metric.band {
                        let (xs, lower, upper) = view.band(&band.xs, &band.lower, &band.upper);
                        plot_ui.add(
                            FilledArea::new("expected band", &xs, &lower, &upper)
                                .fill_color(theme::band_fill(colour)),
                        );
                    }
                    plot_ui.line(
                        Line::new(metric.name.clone(), view.line(&metric.points))
                            .color(colour)
                            .width(1.5),
                    );
                    // Thinning passes only the visible part, so the full
                    // extent goes in as two invisible points: double-click
                    // (auto bounds) still zooms out to everything.
                    let mut extent = extent_of(&metric.points);
                    if let Some(band) = &metric.band {
                        extent.extend(band_extent(band));
                    }
                    plot_ui.points(
                        Points::new("extent", PlotPoints::Owned(extent))
                            .radius(0.0)
                            .color(egui::Color32::TRANSPARENT),
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
    fn thinning_keeps_extremes_and_the_visible_range() {
        let points: Vec<PlotPoint> = (0..100_000)
            .map(|i| PlotPoint::new(i as f64, if i == 55_555 { 1e6 } else { (i % 7) as f64 }))
            .collect();
        let view = ViewRange::new(0.0, 99_999.0, 500.0);
        let PlotPoints::Owned(thin) = view.line(&points) else {
            panic!("100,000 points on 500 pixels are thinned");
        };
        assert!(thin.len() <= 2 * 501, "{} points", thin.len());
        assert!(thin.iter().any(|p| p.y == 1e6), "the spike survives");
        assert!(thin.windows(2).all(|w| w[0].x < w[1].x), "time order");
        // Zoomed in: only the visible part (plus one point each side), unthinned.
        let zoomed = ViewRange::new(1000.0, 1100.0, 500.0);
        let PlotPoints::Borrowed(visible) = zoomed.line(&points) else {
            panic!("few points stay borrowed");
        };
        assert_eq!(
            (visible[0].x, visible[visible.len() - 1].x),
            (999.0, 1101.0)
        );
        // No bounds yet (first frame): everything, thinned.
        let unset = ViewRange::new(0.0, 1.0, 500.0);
        let PlotPoints::Owned(all) = ViewRange::new(-5.0, -1.0, 500.0).line(&points) else {
            panic!("thinned");
        };
        assert_eq!(all.last().map(|p| p.x), Some(99_999.0));
        assert!(matches!(unset.line(&points), PlotPoints::Borrowed(p) if p.len() == 3));
        let xs: Vec<f64> = (0..100_000).map(f64::from).collect();
        let lower: Vec<f64> = xs.iter().map(|x| -(x % 5.0)).collect();
        let upper: Vec<f64> = xs.iter().map(|x| x % 3.0).collect();
        let (bx, bl, bu) = view.band(&xs, &lower, &upper);
        assert!(bx.len() <= 501);
        assert_eq!(bl.iter().copied().fold(0.0, f64::min), -4.0);
        assert_eq!(bu.iter().copied().fold(0.0, f64::max), 2.0);
    }

    #[test]
    fn hover_names_value_expected_range_and_the_driving_metric() {
        use crate::forecast::{ForecastModel, SeriesForecast};
        let ts: Vec<i64> = (0..4).map(|i| 1_767_225_600_000 + i * 30_000).collect();
        let values = [10.0, 11.0, 30.0, 10.5];
        let forecast = SeriesForecast {
            metric: "cpu".into(),
            model: ForecastModel::Prophet,
            timestamps_ms: ts.clone(),
            history_points: 4,
            yhat: vec![10.0; 4],
            lower: vec![9.0; 4],
            upper: vec![11.0; 4],
            missing_points: 0,
            fit_secs: 0.0,
            predict_secs: 0.0,
            notes: Vec::new(),
        };
        let xs: Vec<f64> = ts.iter().map(|t| *t as f64 / 1000.0).collect();
        let judged = RowBands::new(&forecast, &ts, &values);
        assert_eq!(judged.outside_rows, vec![2]);
        let series = MetricSeries {
            name: "cpu".into(),
            title: "cpu".into(),
            column: 0,
            peers: None,
            points: xs
                .iter()
                .zip(values)
                .map(|(x, y)| PlotPoint::new(*x, y))
                .collect(),
            band: Some(BandOverlay::new(&forecast, &judged)),
            anomalies: Vec::new(),
            false_positives: Vec::new(),
            missed: Vec::new(),
        };
        let rows = RowDetails {
            xs: xs.clone(),
            scores: vec![20.0, 30.0, 80.0, 40.0],
            top_metric: vec![None, None, Some("latency".into()), None],
        };
        let text = hover_text("cpu", &series, Some(&rows), xs[2] + 3.0);
        assert!(text.contains("2026-01-01T00:01:00Z"), "{text}");
        assert!(text.contains("value 30.000"), "{text}");
        assert!(text.contains("expected 9.000 to 11.000"), "{text}");
        // 20 half-widths out: 100·20/21.
        assert!(text.contains("band score 95"), "{text}");
        assert!(
            text.contains("model score 80 (driven by latency)"),
            "{text}"
        );
    }

    #[test]
    fn axis_marks_are_readable_dates() {
        // 2026-01-02T00:00:00Z and 2026-01-02T13:30:00Z
        assert_eq!(format_time_axis(1_767_312_000.0, 86_400.0), "01-02");
        assert_eq!(format_time_axis(1_767_360_600.0, 86_400.0), "13:30");
        assert_eq!(format_time_axis(1_767_360_615.0, 60.0), "13:30:15");
    }
}
