//! Building the overview from a view: one pass over each series' values,
//! scores and marks.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::data::MetricFrame;
use crate::detect::entities::entities_of;
use crate::engine::monitor::View;
use crate::event::EVENT_GAP_ROWS;

use super::{Cell, EntityRow, FleetOverview, SPARK_BUCKETS, peers};

/// The 0–100 score at the alarm level: a mark's excess is measured from it.
const ALARM_SCORE: f64 = 50.0;

/// The overview of `view`'s frame, its entities by `entity_labels`.
pub fn build(view: &View, entity_labels: &[String]) -> FleetOverview {
    let frame = &view.frame;
    let judged = &view.judged;
    // A judging of another frame (a rescore still running) gives no scores.
    let judged_here = judged.rows == frame.len()
        && judged.first_ms == frame.timestamps_ms().first().copied()
        && judged.metrics.len() == frame.names().len();
    let mut metrics: Vec<String> = Vec::new();
    let metric_of: Vec<usize> = (0..frame.names().len())
        .map(|column| {
            let metric = frame.metric_of(column);
            match metrics.iter().position(|m| *m == metric) {
                Some(index) => index,
                None => {
                    metrics.push(metric);
                    metrics.len() - 1
                }
            }
        })
        .collect();
    let stale: HashSet<&str> = view.fleet.stale.iter().map(String::as_str).collect();
    let learning: HashSet<&str> = view.fleet.in_probation.iter().map(String::as_str).collect();
    let mut entities: Vec<EntityRow> = Vec::new();
    let mut entity_of_series: HashMap<&str, usize> = HashMap::new();
    for group in entities_of(frame, entity_labels) {
        let mut labels = crate::data::Labels::new();
        let mut cells = vec![None; metrics.len()];
        for &column in &group.columns {
            labels.extend(
                frame.series_labels()[column]
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
            let name = frame.names()[column].as_str();
            entity_of_series.insert(name, entities.len());
            let cell = cell_of(
                frame,
                column,
                judged_here.then(|| &judged.metrics[column]),
                stale.contains(name),
                learning.contains(name),
            );
            // Two series of one metric on one entity (a label the entity
            // labels leave out): the worse one shows.
            let slot: &mut Option<Cell> = &mut cells[metric_of[column]];
            if slot
                .as_ref()
                .is_none_or(|c| rank_cell(&cell) > rank_cell(c))
            {
                *slot = Some(cell);
            }
        }
        let present = || cells.iter().flatten();
        entities.push(EntityRow {
            anomalous_now: present().any(|c| c.marked_now),
            stale: present().all(|c| c.stale),
            in_probation: present().any(|c| c.in_probation),
            peak: present().map(|c| c.peak).fold(0.0, f64::max),
            marked_rows: present().map(|c| c.marked_rows).sum(),
            excess: present().map(|c| c.excess).sum(),
            events: 0,
            key: group.key,
            labels,
            cells,
        });
    }
    if judged_here {
        for event in &judged.events {
            if let Some(&index) = entity_of_series.get(event.metric.as_str()) {
                entities[index].events += 1;
            }
        }
    }
    entities.sort_by(|a, b| {
        (b.anomalous_now, b.excess)
            .partial_cmp(&(a.anomalous_now, a.excess))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.key.cmp(&b.key))
    });
    let label_names: BTreeSet<String> = entities
        .iter()
        .flat_map(|e| e.labels.keys().cloned())
        .collect();
    FleetOverview {
        first_ms: frame.timestamps_ms().first().copied(),
        rows: frame.len(),
        anomalous_now: entities.iter().filter(|e| e.anomalous_now).count(),
        stale: entities.iter().filter(|e| e.stale).count(),
        in_probation: entities.iter().filter(|e| e.in_probation).count(),
        peers: peers::references(frame, &metrics, &metric_of),
        label_names: label_names.into_iter().collect(),
        metrics,
        entities,
    }
}

fn rank_cell(cell: &Cell) -> (bool, f64) {
    (cell.marked_now, cell.excess)
}

fn cell_of(
    frame: &MetricFrame,
    column: usize,
    judged: Option<&crate::engine::monitor::MetricAssessment>,
    stale: bool,
    in_probation: bool,
) -> Cell {
    let values = &frame.columns()[column];
    let rows = values.len();
    let (low, high) = values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        });
    let span = if high > low { high - low } else { 1.0 };
    let bucket_of = |row: usize| row * SPARK_BUCKETS / rows.max(1);
    let mut sparkline: Vec<Option<(f32, f32)>> = vec![None; SPARK_BUCKETS.min(rows)];
    for (row, value) in values.iter().enumerate() {
        if !value.is_finite() {
            continue;
        }
        let scaled = ((value - low) / span) as f32;
        let slot = &mut sparkline[bucket_of(row)];
        *slot = Some(match *slot {
            Some((lo, hi)) => (lo.min(scaled), hi.max(scaled)),
            None => (scaled, scaled),
        });
    }
    let mut marked_buckets = vec![false; sparkline.len()];
    let (mut peak, mut marked_rows, mut excess, mut last_marked) = (0.0_f64, 0, 0.0, None);
    let mut current = 0.0;
    if let Some(judged) = judged {
        for (row, mark) in judged.marks.iter().enumerate() {
            if let Some(score) = mark {
                peak = peak.max(score);
                marked_rows += 1;
                excess += (score - ALARM_SCORE).max(0.0);
                last_marked = Some(row);
                marked_buckets[bucket_of(row)] = true;
            }
        }
        current = judged.scores.last().copied().unwrap_or(0.0);
    }
    Cell {
        column,
        series: frame.names()[column].clone(),
        latest: values.iter().rev().find(|v| v.is_finite()).copied(),
        current,
        peak,
        marked_rows,
        excess,
        marked_now: last_marked.is_some_and(|row| row + EVENT_GAP_ROWS >= rows.saturating_sub(1)),
        stale,
        in_probation,
        sparkline,
        marked_buckets,
    }
}
