//! What the daemon publishes, made from the monitor's [`View`]: `/metrics`
//! in Prometheus text format 0.0.4 and the JSON windows. Scores are the
//! monitor's 0–100 scale; `/metrics` divides them by 100 (a ratio, by
//! Prometheus convention), the JSON routes keep them as they are.
//!
//! Every series keeps its source labels: `pulsewatch_anomaly_score` of the
//! `cpu` query's series `{instance="host-003:9100",job="node"}` is
//! `pulsewatch_anomaly_score{metric="cpu",instance="host-003:9100",job="node"}`,
//! so it joins with the source series in PromQL and routes in Alertmanager
//! by the same labels (a source label named like one of ours, `metric` or
//! `bound`, becomes `exported_metric`, as Prometheus renames on conflicts).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::engine::monitor::View;

/// What the daemon last computed, as `/metrics` and the JSON routes show it.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Per series (by column name): its exported labels, `metric` first.
    pub labels: BTreeMap<String, Vec<(String, String)>>,
    /// How the followed series stand.
    pub fleet: crate::engine::monitor::FleetStatus,
    /// Series followed.
    pub series_followed: usize,
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
    /// The monitor's view the JSON windows are made from, when asked
    /// (building every row of every series at each refresh would cost more
    /// than the refresh).
    pub view: Option<std::sync::Arc<View>>,
}

/// `pulsewatch_alerts_pending`, appended to the exposition when serve
/// sends alerts.
pub fn write_alerts_pending(out: &mut String, pending: usize) {
    let _ = writeln!(
        out,
        "# HELP pulsewatch_alerts_pending Alert posts kept until Alertmanager takes them.\n\
         # TYPE pulsewatch_alerts_pending gauge\npulsewatch_alerts_pending {pending}"
    );
}

/// `text` gzip-compressed at a fast level: the exposition is rendered once
/// per refresh and compressed once, so speed matters more than the last
/// few percent.
pub fn gzip(text: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(text);
    encoder.finish().unwrap_or_default()
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
    pub fn of(view: &std::sync::Arc<View>) -> Self {
        let frame = &view.frame;
        let mut snapshot = Snapshot::default();
        for (index, metric) in view.judged.metrics.iter().enumerate() {
            let name = metric.name.clone();
            snapshot
                .labels
                .insert(name.clone(), export_labels(frame, index));
            if let Some(score) = metric.scores.last() {
                snapshot.scores.insert(name.clone(), score / 100.0);
            }
            let last = frame
                .len()
                .checked_sub(1)
                .and_then(|row| metric.band.as_ref().and_then(|b| b.at_rows[row]));
            if let Some(last) = last {
                snapshot.forecasts.insert(name, last);
            }
        }
        snapshot.view = Some(std::sync::Arc::clone(view));
        snapshot.refresh_status(view);
        snapshot
    }

    /// Takes what changes without new rows (training progress, the model,
    /// fetch errors, the events going on) from `view`, keeping the window.
    pub fn refresh_status(&mut self, view: &View) {
        let open: std::collections::HashSet<&str> =
            view.open_events.iter().map(|e| e.metric.as_str()).collect();
        self.anomalous = view
            .judged
            .metrics
            .iter()
            .map(|m| (m.name.clone(), open.contains(m.name.as_str())))
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
        self.fleet = view.fleet.clone();
        self.series_followed = view.frame.names().len();
    }

    /// A series' labels as `/metrics` writes them, `extra` (such as
    /// `bound`) last.
    fn series_labels(&self, name: &str, extra: &[(&str, &str)]) -> String {
        let fallback = vec![("metric".to_owned(), name.to_owned())];
        let labels = self.labels.get(name).unwrap_or(&fallback);
        let mut out = String::from("{");
        for (i, (key, value)) in labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra.iter().copied())
            .enumerate()
        {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{key}=\"{}\"", escape(value));
        }
        out.push('}');
        out
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
            let labels = self.series_labels(metric, &[]);
            let _ = writeln!(out, "pulsewatch_anomaly_score{labels} {score}");
        }
        family(
            "pulsewatch_anomalous",
            "1 while an anomaly event is going on.",
            "gauge",
            &mut out,
        );
        for (metric, anomalous) in &self.anomalous {
            let labels = self.series_labels(metric, &[]);
            let _ = writeln!(out, "pulsewatch_anomalous{labels} {}", u8::from(*anomalous));
        }
        family(
            "pulsewatch_forecast",
            "Forecast at the latest point: yhat and the band.",
            "gauge",
            &mut out,
        );
        for (metric, (yhat, lower, upper)) in &self.forecasts {
            for (bound, value) in [("yhat", yhat), ("lower", lower), ("upper", upper)] {
                let labels = self.series_labels(metric, &[("bound", bound)]);
                let _ = writeln!(out, "pulsewatch_forecast{labels} {value}");
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
        family(
            "pulsewatch_series",
            "Series followed, by state (stale: no value in the last two steps; \
             probation: detectors still learning).",
            "gauge",
            &mut out,
        );
        let fleet = &self.fleet;
        for (state, count) in [
            ("followed", self.series_followed),
            ("stale", fleet.stale.len()),
            ("probation", fleet.in_probation.len()),
        ] {
            let _ = writeln!(out, "pulsewatch_series{{state=\"{state}\"}} {count}");
        }
        family(
            "pulsewatch_series_dropped",
            "Series of the last fetch left out: over fleet.max_series, or owned by another shard.",
            "gauge",
            &mut out,
        );
        for (reason, count) in [
            ("over_limit", fleet.selection.over_limit),
            ("other_shard", fleet.selection.other_shards),
        ] {
            let _ = writeln!(
                out,
                "pulsewatch_series_dropped{{reason=\"{reason}\"}} {count}"
            );
        }
        if let Some(shard) = fleet.shard {
            family(
                "pulsewatch_shard_info",
                "The shard this replica follows (serve --shard K/N).",
                "gauge",
                &mut out,
            );
            let _ = writeln!(
                out,
                "pulsewatch_shard_info{{shard=\"{}\",shards=\"{}\"}} 1",
                shard.index, shard.count
            );
        }
        out
    }

    /// The last `rows` rows of every metric's window (all of them for
    /// `None`), with the events that overlap them.
    pub fn window_json(&self, rows: Option<usize>) -> String {
        let empty = View::empty();
        let view = self.view.as_deref().unwrap_or(&empty);
        let frame = &view.frame;
        let stamps = frame.timestamps_ms();
        let from = rows.map_or(0, |n| stamps.len().saturating_sub(n));
        let from_ms = stamps.get(from).copied().unwrap_or(i64::MAX);
        let mut metrics = serde_json::Map::new();
        for (metric, values) in view.judged.metrics.iter().zip(frame.columns()) {
            let at = |row: usize| metric.band.as_ref().and_then(|b| b.at_rows[row]);
            let rows: Vec<WindowRow> = (from..frame.len())
                .map(|row| {
                    let band = at(row);
                    WindowRow {
                        timestamp: crate::data::time::format_rfc3339_ms(stamps[row]),
                        value: values[row],
                        score: metric.scores[row],
                        anomalous: metric.marks.get(row).is_some(),
                        yhat: band.map(|b| b.0),
                        yhat_lower: band.map(|b| b.1),
                        yhat_upper: band.map(|b| b.2),
                    }
                })
                .collect();
            metrics.insert(metric.name.clone(), serde_json::json!(rows));
        }
        let events: Vec<&crate::event::AnomalyEvent> = view
            .judged
            .events
            .iter()
            .filter(|e| e.end_or(e.start_ms) >= from_ms)
            .collect();
        // Each series' exported labels, so a client can group by entity.
        let labels: serde_json::Map<String, serde_json::Value> = self
            .labels
            .iter()
            .map(|(name, labels)| {
                let map: serde_json::Map<String, serde_json::Value> = labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect();
                (name.clone(), serde_json::Value::Object(map))
            })
            .collect();
        serde_json::json!({
            "last_refresh_seconds": self.last_refresh_secs,
            "metrics": metrics,
            "labels": labels,
            "stale": self.fleet.stale,
            "events": events,
        })
        .to_string()
    }
}

/// Our own label names: a source label with one of these names is exported
/// as `exported_<name>`.
const OWN_LABELS: [&str; 2] = ["metric", "bound"];

/// Column `index`'s labels as exported: `metric` (the configured query's
/// name), then its source labels (reserved `__…` ones left out).
pub fn export_labels(frame: &crate::data::MetricFrame, index: usize) -> Vec<(String, String)> {
    let mut labels = vec![("metric".to_owned(), frame.metric_of(index))];
    for (key, value) in &frame.series_labels()[index] {
        if key.starts_with("__") {
            continue;
        }
        let key = if OWN_LABELS.contains(&key.as_str()) {
            format!("exported_{key}")
        } else {
            key.clone()
        };
        labels.push((key, value.clone()));
    }
    labels[1..].sort();
    labels
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
    let per_entity = view.entity_models.as_ref().map(|m| {
        serde_json::json!({
            "entities": m.entities,
            "scored": m.scored,
            "training": m.training,
            "load_errors": m.load_errors,
        })
    });
    serde_json::json!({
        "loaded": loaded,
        "per_entity": per_entity,
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
        assert!(text.contains("pulsewatch_series{state=\"followed\"} 0\n"));
    }

    #[test]
    fn series_keep_their_source_labels() {
        let name = r#"cpu{instance="host-003:9100"}"#;
        let frame = crate::data::MetricFrame::new(
            vec![0],
            vec![name.to_owned(), "latency".to_owned()],
            vec![vec![1.0], vec![2.0]],
            None,
        )
        .unwrap()
        .with_series_labels(vec![
            crate::ingest::labels(&[
                ("instance", "host-003:9100"),
                ("job", "node"),
                ("metric", "x"),
                ("__name__", "node_cpu"),
            ]),
            Default::default(),
        ])
        .unwrap();
        let mut snapshot = Snapshot::default();
        for index in 0..2 {
            let column = frame.names()[index].clone();
            snapshot
                .labels
                .insert(column.clone(), export_labels(&frame, index));
            snapshot.scores.insert(column.clone(), 0.5);
            snapshot.forecasts.insert(column, (1.0, 0.0, 2.0));
        }
        let text = snapshot.to_prometheus_text();
        assert!(
            text.contains(
                "pulsewatch_anomaly_score{metric=\"cpu\",exported_metric=\"x\",\
                 instance=\"host-003:9100\",job=\"node\"} 0.5\n"
            ),
            "{text}"
        );
        assert!(text.contains("pulsewatch_anomaly_score{metric=\"latency\"} 0.5\n"));
        assert!(text.contains(
            "pulsewatch_forecast{metric=\"cpu\",exported_metric=\"x\",instance=\"host-003:9100\",\
             job=\"node\",bound=\"lower\"} 0\n"
        ));
    }
}
