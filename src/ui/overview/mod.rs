//! The fleet overview's content: one row per entity (a host, a pod), one
//! cell per metric with its current 0–100 score, its marks and a sparkline
//! of the window, sorted worst first; the fleet's counts (anomalous now,
//! stale, on probation); and each metric's peer reference (the fleet's
//! median and spread at every row) that the entity view draws behind a
//! host's own line. Built from the monitor's [`View`] on a worker thread
//! ([`job`]), never on the UI thread: a 1,000-host fleet is millions of
//! values. Filtering and grouping ([`lines`]) work on the built rows and
//! are cheap enough for every frame.

mod build;
pub mod job;
mod peers;

use crate::data::{Labels, format_labels};

pub use build::build;
pub use peers::PeerReference;

/// Sparkline buckets per cell: the cells are about 100 px wide, so a bucket
/// is 1–2 px: the line is thinned per pixel as the plots are, and a spike
/// of one row survives as its bucket's high.
pub const SPARK_BUCKETS: usize = 96;

/// One series of an entity, as its overview cell shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The frame column.
    pub column: usize,
    /// The series' full name (`cpu{instance="host-003:9100"}`).
    pub series: String,
    pub latest: Option<f64>,
    /// The latest row's 0–100 score (0: nothing scored it).
    pub current: f64,
    /// The highest mark in the window (0: unmarked).
    pub peak: f64,
    pub marked_rows: usize,
    /// How far its marks rose over the alarm level (50), summed over its
    /// marked rows: how much, for how long (see [`FleetOverview::entities`]).
    pub excess: f64,
    /// Marked within the last [`crate::event::EVENT_GAP_ROWS`] rows: the
    /// event is still going on by the live rule.
    pub marked_now: bool,
    pub stale: bool,
    pub in_probation: bool,
    /// Per bucket, the lowest and highest value scaled to 0–1 over the
    /// window's range (None: no value in the bucket).
    pub sparkline: Vec<Option<(f32, f32)>>,
    /// Per bucket, whether a row in it is marked.
    pub marked_buckets: Vec<bool>,
}

/// One entity: its cells in the overview's metric order.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRow {
    /// The entity as text (`instance="host-003:9100"`).
    pub key: String,
    /// Every label its series carry (the entity's and the rest, such as
    /// `job`): what the filter reads and the grouping picks from.
    pub labels: Labels,
    pub cells: Vec<Option<Cell>>,
    pub anomalous_now: bool,
    /// Every series of it stale.
    pub stale: bool,
    /// Some series of it still learning.
    pub in_probation: bool,
    /// The highest mark of its series in the window.
    pub peak: f64,
    pub marked_rows: usize,
    /// Its series' [`Cell::excess`], summed.
    pub excess: f64,
    /// Its series' events in the window.
    pub events: usize,
}

impl EntityRow {
    /// Its labels as text, what the filter matches: `instance="…",job="…"`.
    pub fn label_text(&self) -> String {
        format_labels(&self.labels)
    }
}

/// A fleet as the overview shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetOverview {
    /// The frame it was built from: its first timestamp and length.
    pub first_ms: Option<i64>,
    pub rows: usize,
    /// The metrics (configured query names), the cells' order.
    pub metrics: Vec<String>,
    /// Worst first: anomalous now, then by the excess of its marks over
    /// the alarm level summed over the window (a sustained incident
    /// outweighs a blip: marks saturate at 100, so the highest mark alone
    /// ties most marked hosts), then by key.
    pub entities: Vec<EntityRow>,
    /// Label names the entities carry (for grouping), sorted.
    pub label_names: Vec<String>,
    pub anomalous_now: usize,
    pub stale: usize,
    pub in_probation: usize,
    /// Each metric's peer reference (metrics with enough entities).
    pub peers: Vec<PeerReference>,
}

impl FleetOverview {
    pub fn peer_reference(&self, metric: &str) -> Option<&PeerReference> {
        self.peers.iter().find(|p| p.metric == metric)
    }

    pub fn entity(&self, key: &str) -> Option<&EntityRow> {
        self.entities.iter().find(|e| e.key == key)
    }
}

/// A line of the overview's table: a group's header or an entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Group {
        /// `job="node"`, or `job (none)` for entities without the label.
        title: String,
        entities: usize,
        anomalous: usize,
    },
    /// An index into [`FleetOverview::entities`].
    Entity(usize),
}

/// The table's lines: the entities whose labels match `filter`, worst
/// first; with `group_by`, under one header per value of that label (the
/// group holding the worst entity first).
pub fn lines(
    overview: &FleetOverview,
    filter: Option<&regex::Regex>,
    group_by: Option<&str>,
) -> Vec<Line> {
    let matching = overview
        .entities
        .iter()
        .enumerate()
        .filter(|(_, e)| filter.is_none_or(|f| f.is_match(&e.label_text())))
        .map(|(index, _)| index);
    let Some(label) = group_by else {
        return matching.map(Line::Entity).collect();
    };
    // Groups in order of their first (worst) entity.
    let mut groups: Vec<(Option<&str>, Vec<usize>)> = Vec::new();
    for index in matching {
        let value = overview.entities[index]
            .labels
            .get(label)
            .map(String::as_str);
        match groups.iter_mut().find(|(v, _)| *v == value) {
            Some((_, members)) => members.push(index),
            None => groups.push((value, vec![index])),
        }
    }
    let mut out = Vec::new();
    for (value, members) in groups {
        out.push(Line::Group {
            title: match value {
                Some(value) => format_labels(&Labels::from([(label.to_owned(), value.to_owned())])),
                None => format!("{label} (none)"),
            },
            entities: members.len(),
            anomalous: members
                .iter()
                .filter(|i| overview.entities[**i].anomalous_now)
                .count(),
        });
        out.extend(members.into_iter().map(Line::Entity));
    }
    out
}

/// The filter as typed: None when empty; an error names the mistake.
pub fn parse_filter(text: &str) -> Result<Option<regex::Regex>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    regex::RegexBuilder::new(text)
        .size_limit(1 << 20)
        .build()
        .map(Some)
        .map_err(|e| format!("not a regular expression: {e}"))
}

#[cfg(test)]
mod tests;
