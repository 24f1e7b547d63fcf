//! The app on a fleet: which entity is open, the overview's selection,
//! filter and grouping, the table's rows that follow them, and the overview
//! worker's results. Data of one entity (the bundled sample, a plain CSV)
//! never sees any of this: it opens straight in the plots.

use std::sync::Arc;

use super::PulseWatchApp;
use super::marks;
use super::overview::{self, FleetOverview, Line};
use crate::detect::entities::EntityColumns;
use crate::event::AnomalyEvent;

impl PulseWatchApp {
    /// The data in view has more than one entity: the overview comes first.
    pub fn is_fleet(&self) -> bool {
        self.entities.len() > 1
    }

    /// The entity shown in depth (None: the overview, or not a fleet).
    pub fn open_entity_key(&self) -> Option<&str> {
        self.open_entity.as_deref()
    }

    pub fn selected_entity(&self) -> Option<&str> {
        self.selected_entity.as_deref()
    }

    /// The overview last built (None before the first, or not a fleet).
    pub fn fleet_overview(&self) -> Option<&FleetOverview> {
        self.overview.as_deref()
    }

    /// The overview's entities in the order shown (filter and groups
    /// applied).
    pub fn overview_order(&self) -> Vec<&str> {
        let Some(overview) = &self.overview else {
            return Vec::new();
        };
        self.overview_lines
            .iter()
            .filter_map(|line| match line {
                Line::Entity(index) => Some(overview.entities[*index].key.as_str()),
                Line::Group { .. } => None,
            })
            .collect()
    }

    /// The overview's lines, group headers included.
    pub fn overview_lines(&self) -> &[Line] {
        &self.overview_lines
    }

    /// The series plotted now (a fleet: the open entity's).
    pub fn shown_series(&self) -> Vec<&str> {
        self.series.iter().map(|s| s.name.as_str()).collect()
    }

    /// Whether a plotted series has its fleet's median drawn behind it.
    pub fn shows_peers(&self) -> bool {
        self.series.iter().any(|s| s.peers.is_some())
    }

    /// The anomaly table's rows, top first.
    pub fn table_rows(&self) -> Vec<&AnomalyEvent> {
        self.table_rows
            .iter()
            .map(|&i| &self.table_events[i])
            .collect()
    }

    /// Test mode on a fleet: each spiked entity's precision and recall.
    pub fn entity_scorecards(&self) -> &[(String, crate::eval::PointMetrics)] {
        &self.entity_scorecards
    }

    /// What Test mode spikes: a few entities of a fleet (a tenth, 1 to 5,
    /// picked by the spike seed), or every column of other data.
    pub(super) fn test_targets(&self) -> (Vec<EntityColumns>, Vec<usize>) {
        let every = || (0..self.base.names().len()).collect();
        let mut entities =
            crate::detect::entities::entities_of(&self.base, &self.config.fleet.entity_labels);
        if entities.len() < 2 {
            return (Vec::new(), every());
        }
        let count = (entities.len() / 10).clamp(1, 5);
        let mut rng = crate::data::rng::Rng::new(self.state.spike_seed);
        let mut picked = Vec::with_capacity(count);
        for _ in 0..count {
            picked.push(entities.swap_remove(rng.below(entities.len())));
        }
        picked.sort_by(|a, b| a.key.cmp(&b.key));
        let columns = picked.iter().flat_map(|e| e.columns.clone()).collect();
        (picked, columns)
    }

    /// The frame columns the plots show.
    fn shown_columns(&self) -> Vec<usize> {
        if !self.is_fleet() {
            return (0..self.view.frame.names().len()).collect();
        }
        self.open_entity
            .as_ref()
            .and_then(|key| self.entities.iter().find(|e| &e.key == key))
            .map(|e| e.columns.clone())
            .unwrap_or_default()
    }

    /// Rebuilds the plotted series (a new frame, another entity) with
    /// their marks.
    pub(super) fn rebuild_series(&mut self) {
        let columns = self.shown_columns();
        self.series = marks::series_of(&self.view.frame, &columns, self.overview.as_deref());
        self.remark_series();
    }

    /// Draws the view's marks and bands on the plotted series (a new
    /// judging of the same frame), with Test mode's scorecards.
    pub(super) fn remark_series(&mut self) {
        self.test_summary =
            marks::apply_marks(&mut self.series, &self.view, self.injected.as_ref());
        self.entity_scorecards = marks::entity_scorecards(&self.view, self.injected.as_ref());
    }

    /// Opens `key`'s plots, or the overview with None.
    pub(super) fn open_entity(&mut self, key: Option<String>) {
        if key.is_some() {
            self.selected_entity.clone_from(&key);
        }
        self.open_entity = key;
        self.rebuild_series();
        self.refilter_table();
    }

    /// The frame's entities changed: an entity no longer there closes.
    pub(super) fn take_entities(&mut self) {
        self.entities = crate::detect::entities::entities_of(
            &self.view.frame,
            &self.config.fleet.entity_labels,
        );
        if let Some(key) = &self.open_entity
            && !self.entities.iter().any(|e| &e.key == key)
        {
            self.open_entity = None;
        }
        self.series_entity.clear();
        if self.entities.len() > 1 {
            let names = self.view.frame.names();
            for entity in &self.entities {
                for &column in &entity.columns {
                    self.series_entity
                        .insert(names[column].clone(), entity.key.clone());
                }
            }
        }
        if !self.is_fleet() {
            self.overview = None;
            self.overview_lines.clear();
        }
    }

    /// Asks the worker for the overview of the view in hand.
    pub(super) fn request_overview(&mut self) {
        if !self.is_fleet() {
            return;
        }
        let view = Arc::clone(&self.view);
        let labels = self.config.fleet.entity_labels.clone();
        if let Some(job) = &mut self.overview_job
            && let Some(replaced) = job.request(view, labels)
        {
            self.reaper.free(replaced);
        }
    }

    /// Takes the worker's newest overview, if one is ready.
    pub(super) fn poll_overview(&mut self) {
        let Some(job) = &mut self.overview_job else {
            return;
        };
        match job.poll() {
            Ok(Some(built)) if self.is_fleet() => {
                if let Some(old) = self.overview.replace(built) {
                    self.reaper.free(old);
                }
                self.refilter();
                if self.open_entity.is_some() {
                    // The peers' reference moved with the new rows.
                    self.rebuild_series();
                }
            }
            Ok(_) => {}
            Err(error) => {
                self.overview_job = None;
                self.load_error = Some(error);
            }
        }
    }

    /// A build is running or waiting.
    pub fn overview_busy(&self) -> bool {
        self.overview_job.as_ref().is_some_and(|j| j.is_busy())
    }

    /// Applies the filter and grouping to the overview and the table.
    pub(super) fn refilter(&mut self) {
        let filter = match overview::parse_filter(&self.state.fleet_filter) {
            Ok(filter) => {
                self.filter_error = None;
                filter
            }
            Err(error) => {
                self.filter_error = Some(error);
                None
            }
        };
        self.overview_lines = match &self.overview {
            Some(built) => {
                overview::lines(built, filter.as_ref(), self.state.fleet_group_by.as_deref())
            }
            None => Vec::new(),
        };
        // The selection stays while it is listed; else the worst entity.
        let listed = self.overview_order();
        if self
            .selected_entity
            .as_deref()
            .is_none_or(|key| !listed.contains(&key))
        {
            self.selected_entity = listed.first().map(|k| (*k).to_owned());
        }
        self.refilter_table();
    }

    /// Each table event's entity (a new table): the series' entity where
    /// the frame has the series, else read from its labels (a past event
    /// from the history).
    pub(super) fn table_entities_of_events(&mut self) {
        if !self.is_fleet() {
            self.table_entities.clear();
            return;
        }
        let entity_labels = &self.config.fleet.entity_labels;
        self.table_entities = self
            .table_events
            .iter()
            .map(|e| match self.series_entity.get(&e.metric) {
                Some(key) => key.clone(),
                None => {
                    let (_, labels) = crate::data::parse_column(&e.metric);
                    crate::fleet::entity_key(&crate::fleet::entity_of(&labels, entity_labels))
                }
            })
            .collect();
    }

    /// The table's rows: the open entity's events, or those of the
    /// entities the overview lists (its filter); newest first, or by
    /// entity.
    pub(super) fn refilter_table(&mut self) {
        let fleet = self.is_fleet() && self.table_entities.len() == self.table_events.len();
        // With a filter, the entities it lets through (their events only).
        let listed: Option<std::collections::HashSet<&str>> =
            (fleet && !self.state.fleet_filter.trim().is_empty() && self.filter_error.is_none())
                .then(|| self.overview_order().into_iter().collect());
        let mut rows: Vec<usize> = (0..self.table_events.len())
            .rev()
            .filter(|&i| {
                if !fleet {
                    return true;
                }
                let entity = self.table_entities[i].as_str();
                match &self.open_entity {
                    Some(key) => entity == key,
                    None => listed.as_ref().is_none_or(|l| l.contains(entity)),
                }
            })
            .collect();
        if fleet && self.state.table_by_entity {
            // Stable: newest first within an entity.
            rows.sort_by(|a, b| self.table_entities[*a].cmp(&self.table_entities[*b]));
        }
        self.table_rows = rows;
    }

    /// The selection's line in the overview.
    pub(super) fn selected_line(&self) -> Option<usize> {
        let overview = self.overview.as_ref()?;
        let key = self.selected_entity.as_deref()?;
        self.overview_lines
            .iter()
            .position(|line| matches!(line, Line::Entity(i) if overview.entities[*i].key == key))
    }

    /// Moves the selection `by` entities down the overview (up when
    /// negative), stopping at the ends.
    pub(super) fn move_selection(&mut self, by: i32) {
        let listed = self.overview_order();
        if listed.is_empty() {
            return;
        }
        let at = self
            .selected_entity
            .as_deref()
            .and_then(|key| listed.iter().position(|k| *k == key));
        let next = match at {
            None => 0,
            Some(at) => (at as i64 + i64::from(by)).clamp(0, listed.len() as i64 - 1) as usize,
        };
        self.selected_entity = Some(listed[next].to_owned());
        self.scroll_to_selected = true;
    }

    /// Zooms every plot to the span (Unix ms), with context either side.
    pub(super) fn zoom_plots(&mut self, start_ms: i64, end_ms: i64) {
        // A little context either side, at least a few minutes.
        let pad_ms = ((end_ms - start_ms) / 2).max(300_000);
        self.zoom_to = Some((
            (start_ms - pad_ms) as f64 / 1000.0,
            (end_ms + pad_ms) as f64 / 1000.0,
        ));
    }
}
