//! Frame times of the real dashboard (egui_kittest harness, 1280×800): 100,000
//! points per metric × 3 on screen, then while training and the forecast run
//! on their worker threads; then the fleet overview of 1,000 hosts × 3
//! metrics (24 h at 30 s) in Live mode, refreshed every second, forecasts
//! fitting, and opening hosts from it. Each frame is egui's layout pass plus
//! tessellation (what the GPU then draws is not counted). Prints median, p95
//! and max per phase. `cargo bench --bench ui_frame` (`-- fleet` for the
//! fleet part alone).
//!
//! The fleet's Prometheus is a stand-in served from this process (1,000
//! hosts' `query_range` answers, computed from the timestamps asked for):
//! the monitor runs its real live loop against it, fetch, merge, every
//! series' detectors and the one rule, every second. A real Prometheus
//! backfilled with 1,000 hosts over 24 h is a 1.5 GB OpenMetrics import
//! first, and what is measured here is the window's side.

#[path = "ui_frame/fleet.rs"]
mod fleet;

use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use pulsewatch::config::{Config, ConfigSource};
use pulsewatch::data::{SampleSpec, generate_sample};
use pulsewatch::ui::state::State;
use pulsewatch::ui::{LoadedData, PulseWatchApp, UiCommand};

/// The real app on `loaded` in a 1280×800 harness.
pub(crate) fn app_harness(
    config: Config,
    state: State,
    loaded: LoadedData,
) -> Harness<'static, PulseWatchApp> {
    Harness::builder()
        .with_size(egui::vec2(1280.0, 800.0))
        .build_eframe(move |cc| {
            PulseWatchApp::new(
                &cc.egui_ctx,
                config,
                &ConfigSource::BuiltIn,
                loaded,
                state,
                None,
            )
        })
}

pub(crate) fn frame(harness: &mut Harness<'static, PulseWatchApp>) -> Duration {
    let started = Instant::now();
    harness.step();
    let output = harness.output().clone();
    let _ = harness
        .ctx
        .tessellate(output.shapes, output.pixels_per_point);
    started.elapsed()
}

pub(crate) fn report(phase: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "| {phase} | {} | {:.1} | {:.1} | {:.1} |",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        ms(times[times.len() - 1])
    );
}

fn main() {
    let fleet_only = std::env::args().any(|a| a == "fleet");
    if !fleet_only {
        sample_phases();
    }
    fleet::phases();
}

fn sample_phases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "lstm_model:\n  epochs: 1\n  device: cpu\n  save_path: {}\n",
        dir.path().join("model").display()
    );
    let config = Config::from_yaml_str(&yaml, "bench.yml").expect("config");
    let rows = 100_000;
    let loaded = LoadedData {
        frame: generate_sample(&SampleSpec {
            rows,
            ..SampleSpec::default()
        }),
        label: "bench".into(),
        warnings: Vec::new(),
    };
    let mut harness = app_harness(config, State::default(), loaded);
    println!("# ui_frame: {rows} points × 3 metrics, 1280×800 (layout + tessellation per frame)");
    println!();
    println!("| phase | frames | median ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    // While the first forecast (3 Prophet fits on 100k rows) runs.
    let mut times = Vec::new();
    while !harness.state().is_idle() {
        times.push(frame(&mut harness));
    }
    report("forecast running", &mut times);
    let mut times: Vec<Duration> = (0..60).map(|_| frame(&mut harness)).collect();
    report("idle, bands and markers drawn", &mut times);
    harness.state_mut().apply(UiCommand::Train);
    let mut times = Vec::new();
    while harness.state().is_training() {
        times.push(frame(&mut harness));
    }
    report("training (1 epoch on 100k rows)", &mut times);
}
