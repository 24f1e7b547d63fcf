//! What the daemon publishes, made from the monitor's [`View`]: `/metrics`
//! in Prometheus text format 0.0.4 and the JSON windows. Scores are the
//! monitor's 0–100 scale; `/metrics` divides them by 100 (a ratio, by
//! Prometheus convention), the JSON routes keep them as they are.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::monitor::View;

/// What the daemon last computed, as `/metrics` and the JSON routes show it.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Per metric: the latest row's score, 0 to 1 (the 0–100 score / 100).
    pub scores: BTreeMap<String, f64>,
    /// Per metric: whether an anomaly event is going on.
    pub anomalous: BTreeMap<String, bool>,
    /// Per metric: (yhat, lower, upper) at the latest row.
    pub forecasts: BTreeMap<String, (f64, f64, f64)>,
    pub last_refresh_secs: Option<f64>,
    pub fetch_errors: BTreeMap<String, u64>,
    pub model_age_secs: Option<f64>,
    pub training_secs: Option<f64>,
    pub last_error: Option<String>,
    /// The model in use and its schedule, for `GET /`.
    pub model: serde_json::Value,
    /// The latest window, for the JSON routes: per metric, its rows.
    pub window: BTreeMap<String, Vec<WindowRow>>,
    /// The window's timestamps (every metric has a row at each).
    pub timestamps_ms: Vec<i64>,
    /// The events in the window (the one rule's), oldest first.
    pub events: Vec<crate::event::AnomalyEvent>,
}

/// One row of a metric's window as the JSON routes show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WindowRow {
    pub timestamp: String,
    pub value: f64,
    /// 0–100.
    pub score: f64,
    /// Marked by the one rule.
    pub anomalous: bool,
    pub yhat: Option<f64>,
    pub yhat_lower: Option<f64>,
    pub yhat_upper: Option<f64>,
}

impl Snapshot {
    /// The snapshot of what the monitor says.
    pub fn of(view: &View) -> Self {
        let frame = &view.frame;
        let mut snapshot = Snapshot::default();
        for (metric, values) in view.judged.metrics.iter().zip(frame.columns()) {
            let name = metric.name.clone();
            if let Some(score) = metric.scores.last() {
                snapshot.scores.insert(name.clone(), score / 100.0);
            }
            let at = |row: usize| metric.band.as_ref().and_then(|b| b.at_rows[row]);
            if let Some(last) = frame.len().checked_sub(1).and_then(at) {
                snapshot.forecasts.insert(name.clone(), last);
            }
            let rows = (0..frame.len())
                .map(|row| {
                    let band = at(row);
                    WindowRow {
                        timestamp: crate::data::time::format_rfc3339_ms(frame.timestamps_ms()[row]),
                        value: values[row],
                        score: metric.scores[row],
                        anomalous: metric.marks[row].is_some(),
                        yhat: band.map(|b| b.0),
                        yhat_lower: band.map(|b| b.1),
                        yhat_upper: band.map(|b| b.2),
                    }
                })
                .collect();
            snapshot.window.insert(name, rows);
        }
        snapshot.events = view.judged.events.clone();
        snapshot.timestamps_ms = frame.timestamps_ms().to_vec();
        snapshot.refresh_status(view);
        snapshot
    }

    /// Takes what changes without new rows (training progress, the model,
    /// fetch errors, the events going on) from `view`, keeping the window.
    pub fn refresh_status(&mut self, view: &View) {
        self.anomalous = view
            .judged
            .metrics
            .iter()
            .map(|m| {
                let open = view.open_events.iter().any(|e| e.metric == m.name);
                (m.name.clone(), open)
            })
            .collect();
        self.last_refresh_secs = view.last_refresh_ms.map(|ms| ms as f64 / 1000.0);
        self.fetch_errors = view.fetch_errors.clone();
        self.model_age_secs = view.model_age_secs;
        self.training_secs = view.last_training_secs;
        self.last_error = view
            .last_fetch_error
            .clone()
            .or_else(|| view.history_error.clone());
        self.model = model_json(view);
    }

    /// Prometheus text format 0.0.4.
    pub fn to_prometheus_text(&self) -> String {
        let mut out = String::new();
        let family = |name: &str, help: &str, kind: &str, out: &mut String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            "pulsewatch_anomaly_score",
            "Anomaly score of the latest point: the 0-100 score divided by 100.",
            "gauge",
            &mut out,
        );
        for (metric, score) in &self.scores {
            let _ = writeln!(
                out,
                "pulsewatch_anomaly_score{{metric=\"{}\"}} {score}",
                escape(metric)
            );
        }
        family(
            "pulsewatch_anomalous",
            "1 while an anomaly event is going on.",
            "gauge",
            &mut out,
        );
        for (metric, anomalous) in &self.anomalous {
            let _ = writeln!(
                out,
                "pulsewatch_anomalous{{metric=\"{}\"}} {}",
                escape(metric),
                u8::from(*anomalous)
            );
        }
        family(
            "pulsewatch_forecast",
            "Forecast at the latest point: yhat and the band.",
            "gauge",
            &mut out,
        );
        for (metric, (yhat, lower, upper)) in &self.forecasts {
            for (bound, value) in [("yhat", yhat), ("lower", lower), ("upper", upper)] {
                let _ = writeln!(
                    out,
                    "pulsewatch_forecast{{metric=\"{}\",bound=\"{bound}\"}} {value}",
                    escape(metric)
                );
            }
        }
        for (name, help, value) in [
            (
                "pulsewatch_model_age_seconds",
                "Age of the autoencoder model in use.",
                self.model_age_secs,
            ),
            (
                "pulsewatch_training_duration_seconds",
                "How long the model in use took to train.",
                self.training_secs,
            ),
            (
                "pulsewatch_last_refresh_timestamp_seconds",
                "When Prometheus last answered.",
                self.last_refresh_secs,
            ),
        ] {
            if let Some(value) = value {
                family(name, help, "gauge", &mut out);
                let _ = writeln!(out, "{name} {value}");
            }
        }
        family(
            "pulsewatch_fetch_errors_total",
            "Failed fetches from Prometheus, by reason.",
            "counter",
            &mut out,
        );
        for (reason, count) in &self.fetch_errors {
            let _ = writeln!(
                out,
                "pulsewatch_fetch_errors_total{{reason=\"{}\"}} {count}",
                escape(reason)
            );
        }
        out
    }

    /// The last `rows` rows of every metric's window (all of them for
    /// `None`), with the events that overlap them.
    pub fn window_json(&self, rows: Option<usize>) -> String {
        let from = rows.map_or(0, |n| self.timestamps_ms.len().saturating_sub(n));
        let from_ms = self.timestamps_ms.get(from).copied().unwrap_or(i64::MAX);
        let metrics: serde_json::Map<String, serde_json::Value> = self
            .window
            .iter()
            .map(|(name, all)| (name.clone(), serde_json::json!(all[from.min(all.len())..])))
            .collect();
        let events: Vec<&crate::event::AnomalyEvent> = self
            .events
            .iter()
            .filter(|e| e.end_or(e.start_ms) >= from_ms)
            .collect();
        serde_json::json!({
            "last_refresh_seconds": self.last_refresh_secs,
            "metrics": metrics,
            "events": events,
        })
        .to_string()
    }
}

/// The model state for `GET /`.
fn model_json(view: &View) -> serde_json::Value {
    let loaded = match &view.model {
        crate::engine::monitor::ModelState::Ready(active) => {
            let meta = &active.saved.meta;
            serde_json::json!({
                "created_at": meta.created_at,
                "training_rows": meta.training_rows,
                "threshold": meta.threshold,
                "features": meta.feature_names,
                "device": meta.device,
            })
        }
        _ => serde_json::Value::Null,
    };
    serde_json::json!({
        "loaded": loaded,
        "training": view.is_training,
        "next_retrain_at": view.next_retrain_ms.map(crate::data::time::format_rfc3339_ms),
        "last_error": view.model_error,
    })
}

/// Label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_text_has_every_family_and_escapes_labels() {
        let mut snapshot = Snapshot::default();
        snapshot.scores.insert("cpu".into(), 0.93);
        snapshot.scores.insert("odd\"name".into(), 0.1);
        snapshot.anomalous.insert("cpu".into(), true);
        snapshot.anomalous.insert("odd\"name".into(), false);
        snapshot.forecasts.insert("cpu".into(), (50.0, 40.0, 60.0));
        snapshot.fetch_errors.insert("refused".into(), 3);
        snapshot.last_refresh_secs = Some(1_767_225_600.0);
        let text = snapshot.to_prometheus_text();
        assert!(
            text.contains("# TYPE pulsewatch_anomaly_score gauge\n"),
            "{text}"
        );
        assert!(text.contains("pulsewatch_anomaly_score{metric=\"cpu\"} 0.93\n"));
        assert!(text.contains("pulsewatch_anomalous{metric=\"cpu\"} 1\n"));
        assert!(text.contains("pulsewatch_anomalous{metric=\"odd\\\"name\"} 0\n"));
        assert!(text.contains("pulsewatch_forecast{metric=\"cpu\",bound=\"upper\"} 60\n"));
        assert!(text.contains("pulsewatch_fetch_errors_total{reason=\"refused\"} 3\n"));
        assert!(text.contains("pulsewatch_last_refresh_timestamp_seconds 1767225600\n"));
    }
}
