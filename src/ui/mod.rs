//! The desktop window (eframe/egui). It owns the UI state and draws panels;
//! the panels take what they need and never touch the engine directly.

mod plot_panel;
mod theme;
mod top_bar;

use std::path::PathBuf;

use anyhow::Context as _;
use eframe::egui;
use egui_plot::PlotPoint;

use crate::config::{Config, ConfigSource};
use crate::data::{self, MetricFrame};

use plot_panel::MetricSeries;
pub use plot_panel::format_time_axis;
use top_bar::SourceInfo;

/// The bundled sample data (`sample_data/multivariant_data.csv`), so the
/// window has something to show on a machine without Prometheus.
pub const SAMPLE_CSV: &[u8] = include_bytes!("../../sample_data/multivariant_data.csv");

/// What the window shows and where it came from.
pub struct LoadedData {
    pub frame: MetricFrame,
    pub label: String,
    pub warnings: Vec<String>,
}

/// Loads `csv`, or the bundled sample data when `None`.
pub fn load_data(csv: Option<PathBuf>) -> anyhow::Result<LoadedData> {
    let (load, label) = match csv {
        Some(path) => (data::read_csv(&path)?, path.display().to_string()),
        None => (
            data::parse_csv(SAMPLE_CSV, "bundled sample_data/multivariant_data.csv")
                .context("the bundled sample data is corrupt")?,
            "bundled sample data".to_owned(),
        ),
    };
    Ok(LoadedData {
        warnings: load.warnings.iter().map(ToString::to_string).collect(),
        frame: load.frame,
        label,
    })
}

pub struct PulseWatchApp {
    source: SourceInfo,
    series: Vec<MetricSeries>,
}

impl PulseWatchApp {
    pub fn new(config: &Config, config_source: &ConfigSource, loaded: LoadedData) -> Self {
        let frame = &loaded.frame;
        let series = frame
            .names()
            .iter()
            .zip(frame.columns())
            .map(|(name, column)| MetricSeries {
                name: name.clone(),
                points: frame
                    .timestamps_ms()
                    .iter()
                    .zip(column)
                    .filter(|(_, v)| v.is_finite())
                    .map(|(t, v)| PlotPoint::new(*t as f64 / 1000.0, *v))
                    .collect(),
            })
            .collect();
        Self {
            source: SourceInfo {
                label: loaded.label,
                rows: frame.len(),
                metrics: frame.names().len(),
                warnings: loaded.warnings,
                prometheus_url: config.prometheus.base_url.clone(),
                config_source: config_source.to_string(),
            },
            series,
        }
    }
}

impl eframe::App for PulseWatchApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::Panel::top("top-bar").show(ui, |ui| top_bar::top_bar_ui(ui, &self.source));
        egui::CentralPanel::default().show(ui, |ui| {
            plot_panel::metric_plots_ui(ui, &self.series);
        });
    }
}

/// Opens the window and blocks until it is closed.
pub fn run_native(
    config: Config,
    config_source: ConfigSource,
    csv: Option<PathBuf>,
) -> anyhow::Result<()> {
    let loaded = load_data(csv)?;
    let title = config.app.name.clone();
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(&title)
            .with_app_id("pulsewatch")
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([640.0, 400.0]),
        ..Default::default()
    };
    let app = PulseWatchApp::new(&config, &config_source, loaded);
    eframe::run_native(&title, options, Box::new(|_cc| Ok(Box::new(app))))
        .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
