//! Every colour the window uses, in one place. The metric lines are never red:
//! red is kept for anomalies.

use eframe::egui::Color32;

/// Line colours for metric series, in order (blue, teal, violet, amber, green).
pub const SERIES: [Color32; 5] = [
    Color32::from_rgb(0x4C, 0x9A, 0xFF),
    Color32::from_rgb(0x2B, 0xC4, 0xB0),
    Color32::from_rgb(0xA9, 0x7C, 0xF8),
    Color32::from_rgb(0xF2, 0xB1, 0x34),
    Color32::from_rgb(0x7C, 0xC9, 0x4E),
];

/// Warnings (data fixed while loading).
pub const WARNING: Color32 = Color32::from_rgb(0xF2, 0xB1, 0x34);

/// Secondary text in the bars.
pub const MUTED: Color32 = Color32::from_gray(0xA0);

pub fn series_colour(index: usize) -> Color32 {
    SERIES[index % SERIES.len()]
}

/// Anomalies: points outside the expected band.
pub const ANOMALY: Color32 = Color32::from_rgb(0xFF, 0x3B, 0x30);

/// The expected band's fill: the series colour, faint.
pub fn band_fill(series: Color32) -> Color32 {
    series.gamma_multiply(0.18)
}

/// The forecast line: the series colour, lighter.
pub fn forecast_line(series: Color32) -> Color32 {
    series.gamma_multiply(0.75)
}

/// Healthy (score well under the threshold).
pub const OK: Color32 = Color32::from_rgb(0x7C, 0xC9, 0x4E);

/// Test mode: detections that were not injected, and injected spikes missed.
pub const FALSE_POSITIVE: Color32 = Color32::from_rgb(0xFF, 0x9F, 0x0A);
pub const MISSED: Color32 = Color32::from_gray(0xF0);

/// Colour for a 0–100 score (50 = at the threshold).
pub fn severity(score: f64) -> Color32 {
    if score >= 50.0 {
        ANOMALY
    } else if score >= 40.0 {
        WARNING
    } else {
        OK
    }
}

/// A fleet's median of a metric, and its spread, behind one host's line:
/// grey and faint, so the host's own line stays in front.
pub const PEER_LINE: Color32 = Color32::from_gray(0x80);
pub const PEER_FILL: Color32 = Color32::from_rgba_premultiplied(0x30, 0x30, 0x30, 0x30);

/// A fleet cell's colour for a 0–100 score, by the events' severities:
/// under the alarm level (50) healthy, then minor, major (75) and critical
/// (90). Most series sit just under 50 (the ensemble takes the largest of
/// its detectors' scores), so [`severity`]'s 40 would paint a calm fleet
/// amber.
pub fn cell_colour(score: f64) -> Color32 {
    if score >= 90.0 {
        ANOMALY
    } else if score >= 75.0 {
        Color32::from_rgb(0xFF, 0x6B, 0x1A)
    } else if score >= 50.0 {
        WARNING
    } else {
        OK
    }
}
