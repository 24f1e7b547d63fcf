//! The monitor's view turned into what the window draws: each metric's
//! points, band and markers (in Test mode split into detections, false
//! alarms and misses against the injected spikes), the hover details, and
//! the side panel's rows. Nothing here judges anything: the marks are the
//! monitor's.

use egui_plot::PlotPoint;

use super::panels::plot_panel::{BandOverlay, MetricSeries, RowDetails};
use super::panels::side_panel::{MetricRow, TestSummary};
use super::theme;
use crate::data::MetricFrame;
use crate::detect::entities::EntityColumns;
use crate::detect::score::normalised_score;
use crate::engine::monitor::{ForecastState, ModelState, View};
use crate::eval;
use crate::ui::overview::FleetOverview;

/// Where the forecast of the data in view stands, as the top bar says it.
#[derive(Debug, Clone, PartialEq)]
pub enum ForecastStatus {
    /// `prophet_model.enabled` or the toggle is off.
    Off,
    Running,
    /// `marked_points`: rows outside the band, over all metrics.
    Ready {
        marked_points: usize,
    },
    Failed(String),
}

impl ForecastStatus {
    pub fn of(view: &View) -> Self {
        match &view.forecast_state {
            ForecastState::Off => ForecastStatus::Off,
            ForecastState::Running => ForecastStatus::Running,
            ForecastState::Failed(error) => ForecastStatus::Failed(error.clone()),
            ForecastState::Ready => ForecastStatus::Ready {
                marked_points: view
                    .judged
                    .metrics
                    .iter()
                    .filter_map(|m| m.band.as_ref())
                    .map(|b| b.outside_rows.len())
                    .sum(),
            },
        }
    }
}

/// Test mode's truth for the frame sent: 1 where a spike was injected, and
/// which column got it.
#[derive(Debug, Clone, PartialEq)]
pub struct Injected {
    pub labels: Vec<u8>,
    pub columns: Vec<Option<usize>>,
    /// The spiked frame's first timestamp and length, to match the view.
    pub first_ms: Option<i64>,
    pub rows: usize,
    /// A fleet: the entities spiked and their columns (empty otherwise).
    pub entities: Vec<EntityColumns>,
}

impl Injected {
    /// The truth of spiking `base` into `spiked` with `labels`.
    pub fn new(base: &MetricFrame, spiked: &MetricFrame, labels: Vec<u8>) -> Self {
        let columns = labels
            .iter()
            .enumerate()
            .map(|(row, spiked_row)| {
                (*spiked_row == 1).then(|| changed_column(base, spiked, row))?
            })
            .collect();
        Self {
            labels,
            columns,
            first_ms: spiked.timestamps_ms().first().copied(),
            rows: spiked.len(),
            entities: Vec::new(),
        }
    }

    fn matches(&self, frame: &MetricFrame) -> bool {
        self.rows == frame.len() && self.first_ms == frame.timestamps_ms().first().copied()
    }
}

/// The column whose value differs between two frames at `row`.
fn changed_column(before: &MetricFrame, after: &MetricFrame, row: usize) -> Option<usize> {
    before
        .columns()
        .iter()
        .zip(after.columns())
        .position(|(a, b)| a[row].to_bits() != b[row].to_bits())
}

/// The points of `columns` as the plots take them (built once per new
/// frame, and when another entity of a fleet is opened); `peers` draws
/// each metric's fleet reference behind it.
pub fn series_of(
    frame: &MetricFrame,
    columns: &[usize],
    peers: Option<&FleetOverview>,
) -> Vec<MetricSeries> {
    columns
        .iter()
        .filter(|c| **c < frame.names().len())
        .map(|&column| {
            let metric = frame.metric_of(column);
            MetricSeries {
                name: frame.names()[column].clone(),
                column,
                points: frame
                    .timestamps_ms()
                    .iter()
                    .zip(&frame.columns()[column])
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| PlotPoint::new(*t as f64 / 1000.0, *v))
                    .collect(),
                peers: peers
                    .filter(|_| columns.len() < frame.names().len())
                    .and_then(|o| o.peer_reference(&metric))
                    .cloned(),
                title: metric,
                band: None,
                anomalies: Vec::new(),
                false_positives: Vec::new(),
                missed: Vec::new(),
            }
        })
        .collect()
}

/// Draws the view's bands and marks on `series` (of the same frame); in
/// Test mode splits the marks against the injected spikes and returns the
/// scorecard.
pub fn apply_marks(
    series: &mut [MetricSeries],
    view: &View,
    injected: Option<&Injected>,
) -> Option<TestSummary> {
    let frame = &view.frame;
    let values = frame.columns();
    let times = frame.timestamps_ms();
    let point =
        |row: usize, column: usize| PlotPoint::new(times[row] as f64 / 1000.0, values[column][row]);
    let injected = injected.filter(|i| i.matches(frame));
    // Test mode's scorecard counts every series, plotted or not (a fleet
    // plots one entity at a time); only Test mode needs it: a fleet's
    // every mark is millions of rows.
    let mut detected = match injected {
        Some(_) => view.judged.marked_rows(),
        None => Vec::new(),
    };
    detected.resize(frame.len(), false);
    for series in series.iter_mut() {
        let column = series.column;
        let Some(judged) = view.judged.metrics.get(column) else {
            continue;
        };
        series.anomalies.clear();
        series.false_positives.clear();
        series.missed.clear();
        series.band = match (&view.forecast, &judged.band) {
            (Some(forecast), Some(rows)) => forecast
                .get(&series.name)
                .map(|f| BandOverlay::new(f, rows)),
            _ => None,
        };
        for (row, mark) in judged.marks.iter().enumerate() {
            if mark.is_none() {
                continue;
            }
            let target = match injected.map(|i| i.labels[row] == 1) {
                Some(false) => &mut series.false_positives,
                _ => &mut series.anomalies,
            };
            target.push(point(row, column));
        }
    }
    let injected = injected?;
    for (row, column) in injected.columns.iter().enumerate() {
        if let Some(column) = column
            && !detected[row]
            && let Some(series) = series.iter_mut().find(|s| s.column == *column)
        {
            series.missed.push(point(row, *column));
        }
    }
    Some(TestSummary {
        injected_rows: injected.labels.iter().filter(|l| **l == 1).count(),
        metrics: eval::point_metrics(&detected, &injected.labels),
    })
}

/// The autoencoder's per-row scores for hover labels (with a model that
/// scored the frame in view).
pub fn row_details(view: &View) -> Option<RowDetails> {
    let ModelState::Ready(model) = &view.model else {
        return None;
    };
    let scores = model.scores.as_ref()?;
    if scores.rows.error.len() != view.frame.len() {
        return None;
    }
    Some(RowDetails {
        xs: view
            .frame
            .timestamps_ms()
            .iter()
            .map(|t| *t as f64 / 1000.0)
            .collect(),
        scores: scores
            .rows
            .error
            .iter()
            .map(|e| normalised_score(*e, model.threshold))
            .collect(),
        top_metric: (0..view.frame.len())
            .map(|row| scores.top_metric(row).map(str::to_owned))
            .collect(),
    })
}

/// The side panel's rows: latest value, marks, and the latest row's score.
pub fn metric_rows(series: &[MetricSeries], view: &View) -> Vec<MetricRow> {
    series
        .iter()
        .enumerate()
        .map(|(index, series)| {
            let latest_score = view
                .judged
                .metrics
                .get(series.column)
                .and_then(|m| m.scores.last().copied())
                .filter(|s| *s > 0.0);
            MetricRow {
                name: series.name.clone(),
                latest: series.points.last().map(|p| p.y),
                anomalies: series.anomalies.len() + series.false_positives.len(),
                latest_score,
                colour: theme::series_colour(index),
            }
        })
        .collect()
}

/// Test mode on a fleet: each spiked entity's precision and recall, its
/// rows marked on any of its series against its own spikes.
pub fn entity_scorecards(
    view: &View,
    injected: Option<&Injected>,
) -> Vec<(String, eval::PointMetrics)> {
    let Some(injected) = injected.filter(|i| i.matches(&view.frame)) else {
        return Vec::new();
    };
    injected
        .entities
        .iter()
        .map(|entity| {
            let truth: Vec<u8> = injected
                .columns
                .iter()
                .map(|c| u8::from(c.is_some_and(|c| entity.columns.contains(&c))))
                .collect();
            let mut marked = view.judged.marked_rows_of(entity.columns.iter().copied());
            marked.resize(injected.rows, false);
            (entity.key.clone(), eval::point_metrics(&marked, &truth))
        })
        .collect()
}
