//! The desktop window (eframe/egui). It owns the UI state and draws panels;
//! the panels take what they need and never touch the engine directly.

mod plot_panel;
mod theme;
mod top_bar;

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, TryRecvError};

use anyhow::Context as _;
use eframe::egui;
use egui_plot::PlotPoint;

use crate::config::{Config, ConfigSource};
use crate::data::{self, MetricFrame};
use crate::forecast::{ForecastError, ForecastModel, ForecastSettings, FrameForecast};

pub use plot_panel::format_time_axis;
use plot_panel::{BandOverlay, MetricSeries};
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

/// Where the forecast of the data in view stands.
pub enum ForecastStatus {
    /// `prophet_model.enabled` is off.
    Off,
    Running(Receiver<Result<FrameForecast, ForecastError>>),
    /// `marked_points`: points marked as anomalies, over all metrics.
    Ready {
        marked_points: usize,
    },
    Failed(String),
}

pub struct PulseWatchApp {
    source: SourceInfo,
    series: Vec<MetricSeries>,
    frame: MetricFrame,
    forecast: ForecastStatus,
}

impl PulseWatchApp {
    /// Builds the app and starts forecasting the data in view on a worker
    /// thread; `ctx` is woken when the forecast lands.
    pub fn new(
        ctx: &egui::Context,
        config: &Config,
        config_source: &ConfigSource,
        loaded: LoadedData,
    ) -> Self {
        let forecast = if config.prophet.enabled {
            let settings = ForecastSettings::from_config(config, ForecastModel::Prophet);
            let ctx = ctx.clone();
            match crate::engine::spawn_forecast(loaded.frame.clone(), settings, move || {
                ctx.request_repaint()
            }) {
                Ok(receiver) => ForecastStatus::Running(receiver),
                Err(error) => ForecastStatus::Failed(error.to_string()),
            }
        } else {
            ForecastStatus::Off
        };
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
                band: None,
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
            frame: loaded.frame,
            forecast,
        }
    }

    /// Takes the forecast when it has landed and builds the overlays once.
    fn poll_forecast(&mut self) {
        let ForecastStatus::Running(receiver) = &self.forecast else {
            return;
        };
        let result = match receiver.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => {
                self.forecast = ForecastStatus::Failed("the forecast thread stopped".into());
                return;
            }
        };
        self.forecast = match result {
            Ok(forecast) => {
                let mut failures = Vec::new();
                for outcome in &forecast.series {
                    if let Err(error) = outcome {
                        failures.push(error.to_string());
                    }
                }
                for series in &mut self.series {
                    if let (Some(f), Some(values)) =
                        (forecast.get(&series.name), self.frame.column(&series.name))
                    {
                        series.band = Some(BandOverlay::new(f, values));
                    }
                }
                let marked_points = self
                    .series
                    .iter()
                    .filter_map(|s| s.band.as_ref())
                    .map(|b| b.outside.len())
                    .sum();
                if failures.is_empty() {
                    ForecastStatus::Ready { marked_points }
                } else {
                    ForecastStatus::Failed(failures.join("; "))
                }
            }
            Err(error) => ForecastStatus::Failed(error.to_string()),
        };
    }
}

impl eframe::App for PulseWatchApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll_forecast();
        egui::Panel::top("top-bar").show(ui, |ui| {
            top_bar::top_bar_ui(ui, &self.source, &self.forecast)
        });
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
    eframe::run_native(
        &title,
        options,
        Box::new(move |cc| {
            Ok(Box::new(PulseWatchApp::new(
                &cc.egui_ctx,
                &config,
                &config_source,
                loaded,
            )))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
