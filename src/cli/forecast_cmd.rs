//! `pulsewatch forecast` and `pulsewatch bench forecast`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::{ModelArg, UsageError, duration_arg, median, peak_rss_mb, print_against_labels};
use crate::config::{Config, format_duration};
use crate::data::{self, MetricFrame, time};
use crate::eval;
use crate::forecast::{
    self, ForecastModel, ForecastSettings, FrameForecast, SeriesForecast, band_score, reference,
    rows_outside_band,
};

impl From<ModelArg> for ForecastModel {
    fn from(value: ModelArg) -> Self {
        match value {
            ModelArg::Prophet => Self::Prophet,
            ModelArg::Mstl => Self::Mstl,
        }
    }
}

fn successes(result: &FrameForecast) -> Vec<&SeriesForecast> {
    result
        .series
        .iter()
        .filter_map(|s| s.as_ref().ok())
        .collect()
}

fn signed_band_score(y: f64, lower: f64, upper: f64) -> Option<f64> {
    band_score(y, lower, upper).map(|b| match b.direction {
        forecast::BandDirection::Above => b.score,
        forecast::BandDirection::Below => -b.score,
    })
}

/// The long table: one row per metric and timestamp; the band score is signed
/// (positive above the band, negative below, empty inside).
fn forecast_csv(frame: &MetricFrame, series: &[&SeriesForecast]) -> String {
    let mut text = String::from("metric,timestamp,part,y,yhat,yhat_lower,yhat_upper,band_score\n");
    for s in series {
        let values = frame.column(&s.metric).unwrap_or(&[]);
        for i in 0..s.timestamps_ms.len() {
            let y = values.get(i).copied().filter(|v| v.is_finite());
            let score = y.and_then(|y| signed_band_score(y, s.lower[i], s.upper[i]));
            let _ = writeln!(
                text,
                "{},{},{},{},{},{},{},{}",
                s.metric,
                time::format_rfc3339_ms(s.timestamps_ms[i]),
                if i < s.history_points {
                    "history"
                } else {
                    "horizon"
                },
                y.map_or(String::new(), |v| v.to_string()),
                s.yhat[i],
                s.lower[i],
                s.upper[i],
                score.map_or(String::new(), |v| format!("{v:.4}")),
            );
        }
    }
    text
}

pub(super) fn forecast(
    config_path: Option<&Path>,
    csv: &Path,
    model: ModelArg,
    horizon: Option<&str>,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (config, _) = Config::load(config_path)?;
    let mut settings = ForecastSettings::from_config(&config, model.into());
    if let Some(text) = horizon {
        settings.horizon = duration_arg("--horizon", text)?;
    }
    let load = data::read_csv(csv)?;
    for warning in &load.warnings {
        eprintln!("warning: {}: {warning}", csv.display());
    }
    let frame = &load.frame;
    let started = Instant::now();
    let result = forecast::forecast_frame(frame, &settings)
        .with_context(|| format!("cannot forecast {}", csv.display()))?;
    let wall_secs = started.elapsed().as_secs_f64();
    let series = successes(&result);
    let outside = rows_outside_band(frame, &series);
    let metrics = frame
        .labels()
        .map(|labels| eval::point_metrics(&outside, labels));
    if let Some(out) = out {
        crate::fsutil::write_atomic(out, forecast_csv(frame, &series).as_bytes())
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    let per_metric_outside: Vec<(String, usize, usize)> = series
        .iter()
        .map(|s| {
            let values = frame.column(&s.metric).unwrap_or(&[]);
            let scores = forecast::series_band_scores(s, values);
            let above = scores
                .iter()
                .flatten()
                .filter(|b| b.direction == forecast::BandDirection::Above)
                .count();
            let below = scores.iter().flatten().count() - above;
            (s.metric.clone(), above, below)
        })
        .collect();
    // Printed before the failures are judged, but a reader that closed the
    // pipe does not hide them: the failure wins over the closed pipe.
    let printed = (|| -> anyhow::Result<()> {
        if json {
            let summary = serde_json::json!({
                "file": csv.display().to_string(),
                "model": settings.model,
                "rows": frame.len(),
                "step_ms": result.step_ms,
                "horizon_points": result.horizon_points,
                "wall_seconds": wall_secs,
                "series": series.iter().map(|s| {
                    let (ts, yhat, lower, upper) = s.horizon();
                    serde_json::json!({
                        "metric": s.metric,
                        "fit_seconds": s.fit_secs,
                        "predict_seconds": s.predict_secs,
                        "missing_points": s.missing_points,
                        "notes": s.notes,
                        "horizon": {
                            "timestamps": ts.iter().map(|t| time::format_rfc3339_ms(*t)).collect::<Vec<_>>(),
                            "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper,
                        },
                    })
                }).collect::<Vec<_>>(),
                "errors": result.series.iter().filter_map(|s| s.as_ref().err()).map(|e| e.to_string()).collect::<Vec<_>>(),
                "outside_band": {
                    "any_metric_rows": outside.iter().filter(|o| **o).count(),
                    "per_metric": per_metric_outside.iter().map(|(m, a, b)| serde_json::json!({"metric": m, "above": a, "below": b})).collect::<Vec<_>>(),
                },
                "metrics": metrics,
            });
            outln!("{summary}");
        } else {
            outln!(
                "{} forecast of {}: {} rows, step {}, horizon {} = {} points, {:.3} s",
                settings.model,
                csv.display(),
                frame.len(),
                format_duration(std::time::Duration::from_millis(result.step_ms as u64)),
                format_duration(settings.horizon),
                result.horizon_points,
                wall_secs
            );
            for s in &series {
                outln!(
                    "  {}: fit {:.3} s, predict {:.3} s; {}",
                    s.metric,
                    s.fit_secs,
                    s.predict_secs,
                    s.notes.join("; ")
                );
            }
            if let Some(first) = series.first() {
                let mut header = String::from("| time |");
                let mut rule = String::from("|---|");
                for s in &series {
                    let _ = write!(header, " {} yhat [lower, upper] |", s.metric);
                    rule.push_str("---|");
                }
                outln!();
                outln!("{header}");
                outln!("{rule}");
                let (ts, ..) = first.horizon();
                for (i, t) in ts.iter().enumerate() {
                    let mut line = format!("| {} |", time::format_rfc3339_ms(*t));
                    for s in &series {
                        let (_, yhat, lower, upper) = s.horizon();
                        let _ =
                            write!(line, " {:.2} [{:.2}, {:.2}] |", yhat[i], lower[i], upper[i]);
                    }
                    outln!("{line}");
                }
                outln!();
            }
            for (metric, above, below) in &per_metric_outside {
                outln!("outside the band: {metric} {above} above, {below} below");
            }
            outln!(
                "outside the band, any metric: {} of {} rows",
                outside.iter().filter(|o| **o).count(),
                frame.len()
            );
            if let Some(m) = metrics {
                print_against_labels(&m)?;
            }
        }
        Ok(())
    })();
    let errors: Vec<String> = result
        .series
        .iter()
        .filter_map(|s| s.as_ref().err())
        .map(|e| e.to_string())
        .collect();
    if !errors.is_empty() {
        anyhow::bail!(
            "{} of {} metrics have no forecast:\n  {}",
            errors.len(),
            result.series.len(),
            errors.join("\n  ")
        );
    }
    printed
}

/// The Python Prophet peer on the same files and machine
/// (shared/reference/peer-results.md): fit + predict s, band F1, RSS MB.
fn prophet_peer(file: &Path) -> Option<(f64, f64, f64)> {
    let name = file.file_name()?.to_str()?;
    if name.contains("metrics_100k") {
        Some((219.0, 0.520, 3300.0))
    } else if name.contains("metrics_10k") {
        Some((16.3, 0.551, 440.0))
    } else {
        None
    }
}

pub(super) fn bench(
    files: &[PathBuf],
    runs: usize,
    model: Option<ModelArg>,
    references: &[PathBuf],
) -> anyhow::Result<()> {
    if runs == 0 {
        return Err(UsageError("--runs must be at least 1".into()).into());
    }
    let files = if files.is_empty() {
        vec![PathBuf::from("tests/fixtures/metrics_10k.csv")]
    } else {
        files.to_vec()
    };
    if !references.is_empty() && references.len() != files.len() {
        return Err(UsageError(format!(
            "--reference: give one per --csv file ({} files, {} references)",
            files.len(),
            references.len()
        ))
        .into());
    }
    let models = match model {
        Some(m) => vec![ForecastModel::from(m)],
        None => vec![ForecastModel::Prophet, ForecastModel::Mstl],
    };
    let config = Config::builtin()?;
    outln!(
        "# pulsewatch bench forecast: reference settings (horizon {}, changepoint_prior_scale {}, interval {}), {} threads, median of {runs} runs",
        format_duration(config.prophet.forecast_horizon),
        config.prophet.changepoint_prior_scale,
        config.prophet.interval_width,
        std::thread::available_parallelism().map_or(1, |n| n.get()),
    );
    outln!();
    outln!(
        "| file | model | rows | fit + predict s (peer) | ratio | fit s, per metric | band F1, any metric (peer) | horizon yhat vs peer, max deviation |"
    );
    outln!("|---|---|---|---|---|---|---|---|");
    for (index, file) in files.iter().enumerate() {
        let frame = data::read_csv(file)?.frame;
        let reference = match references.get(index) {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Some(reference::parse_reference(
                    &text,
                    &path.display().to_string(),
                )?)
            }
            None => None,
        };
        for &model in &models {
            let settings = ForecastSettings::from_config(&config, model);
            let mut walls = Vec::new();
            let mut last = None;
            for _ in 0..runs {
                let started = Instant::now();
                let result = forecast::forecast_frame(&frame, &settings)?;
                walls.push(started.elapsed().as_secs_f64());
                last = Some(result);
            }
            let Some(result) = last else { continue };
            let series = successes(&result);
            if series.len() != result.series.len() {
                for error in result.series.iter().filter_map(|s| s.as_ref().err()) {
                    eprintln!("warning: {}: {error}", file.display());
                }
            }
            let wall = median(&mut walls);
            let peer = (model == ForecastModel::Prophet)
                .then(|| prophet_peer(file))
                .flatten();
            let f1 = frame
                .labels()
                .map(|labels| eval::point_metrics(&rows_outside_band(&frame, &series), labels).f1);
            let fits = series
                .iter()
                .map(|s| format!("{} {:.3}", s.metric, s.fit_secs))
                .collect::<Vec<_>>()
                .join(", ");
            let agreement = match (&reference, model) {
                (Some(reference), ForecastModel::Prophet) => series
                    .iter()
                    .filter_map(|s| {
                        let a = reference::agreement(s, reference.get(&s.metric)?)?;
                        Some(format!(
                            "{} {:.2} % ({} points; half-width {:.1} %)",
                            s.metric,
                            100.0 * a.max_relative_yhat,
                            a.points,
                            100.0 * a.max_relative_half_width
                        ))
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => "–".to_owned(),
            };
            outln!(
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                file.display(),
                model,
                frame.len(),
                match peer {
                    Some(p) => format!("{wall:.3} ({})", p.0),
                    None => format!("{wall:.3}"),
                },
                peer.map_or("–".to_owned(), |p| format!("{:.1}× faster", p.0 / wall)),
                fits,
                match (f1, peer) {
                    (Some(f), Some(p)) => format!("{f:.3} ({})", p.1),
                    (Some(f), None) => format!("{f:.3}"),
                    _ => "–".to_owned(),
                },
                agreement
            );
        }
    }
    if let Some(rss) = peak_rss_mb() {
        outln!();
        outln!(
            "peak RSS of this process: {rss:.0} MB (Prophet peer: 440 MB at 10k, 3,300 MB at 100k)"
        );
    }
    Ok(())
}
