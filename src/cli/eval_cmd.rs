//! `pulsewatch eval nab`: NAB scores of a detector's per-file score CSVs.

use std::path::{Path, PathBuf};

use crate::config::DetectionMethod;
use crate::data::rng::Rng;
use crate::eval::nab::{self, FileSweep, NabError, ProfileScore};

fn as_slices(values: &[Vec<f64>]) -> Vec<&[f64]> {
    values.iter().map(Vec::as_slice).collect()
}

/// `<dir>/<category>/<file>.csv`, else `<dir>/<file>.csv`.
pub(super) fn locate(dir: &Path, relpath: &str) -> PathBuf {
    let nested = dir.join(relpath);
    if nested.exists() {
        return nested;
    }
    let name = Path::new(relpath)
        .file_name()
        .map_or(nested.clone(), |n| dir.join(n));
    if name.exists() { name } else { nested }
}

/// `--files`: comma-separated categories, `category/file.csv` paths, file
/// names or stems; empty: every file in the windows file.
pub(super) fn select(all: &[String], spec: &str) -> Result<Vec<String>, NabError> {
    let items: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Ok(all.to_vec());
    }
    let matches = |item: &str, rel: &str| {
        let (category, name) = rel.split_once('/').unwrap_or(("", rel));
        let stem = name.strip_suffix(".csv").unwrap_or(name);
        item == rel || item == category || item == name || item == stem
    };
    for item in &items {
        if !all.iter().any(|rel| matches(item, rel)) {
            return Err(NabError::NoMatch {
                item: (*item).to_owned(),
            });
        }
    }
    Ok(all
        .iter()
        .filter(|rel| items.iter().any(|item| matches(item, rel)))
        .cloned()
        .collect())
}

pub(super) fn timestamps(path: &Path) -> Result<Vec<i64>, NabError> {
    nab::read_column(path, "timestamp")?
        .iter()
        .enumerate()
        .map(|(i, t)| {
            nab::parse_nab_timestamp(t).ok_or_else(|| NabError::File {
                path: path.to_owned(),
                message: format!("row {}: `{t}` is not a timestamp", i + 2),
            })
        })
        .collect()
}

fn scores(path: &Path, data_timestamps: &[i64]) -> Result<Vec<f64>, NabError> {
    let fail = |message: String| NabError::File {
        path: path.to_owned(),
        message,
    };
    let own = timestamps(path)?;
    if own != data_timestamps {
        return Err(fail(format!(
            "its timestamps differ from the data file's ({} rows vs {})",
            own.len(),
            data_timestamps.len()
        )));
    }
    nab::read_column(path, "anomaly_score")?
        .iter()
        .enumerate()
        .map(|(i, s)| match s.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(fail(format!(
                "row {}: anomaly_score `{s}` is not a finite number",
                i + 2
            ))),
        })
        .collect()
}

/// The settings of the detectors that fit models: the built-in config's
/// autoencoder (on the CPU) and Prophet. The same for every file.
pub(super) struct OnlineSettings {
    pub(super) lstm: crate::config::LstmConfig,
    forecast: crate::forecast::ForecastSettings,
}

impl OnlineSettings {
    pub(super) fn builtin() -> anyhow::Result<Self> {
        let config = crate::config::Config::builtin()?;
        let mut lstm = config.lstm.clone();
        lstm.device = crate::config::DevicePreference::Cpu;
        Ok(Self {
            lstm,
            forecast: crate::forecast::ForecastSettings::from_config(
                &config,
                crate::forecast::ForecastModel::Prophet,
            ),
        })
    }
}

/// Runs the detector online over `rel`'s values and writes
/// `timestamp,anomaly_score` (timestamps as the data file writes them).
fn write_detector_scores(
    data_file: &Path,
    out_file: &Path,
    method: super::MethodArg,
    uncapped: bool,
    settings: &OnlineSettings,
) -> anyhow::Result<()> {
    use crate::detect::online;
    let stamps = nab::read_column(data_file, "timestamp")?;
    let values: Vec<f64> = nab::read_column(data_file, "value")?
        .iter()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
        .collect();
    let params = online::RobustParams::default();
    let probation = online::probation_rows(values.len());
    let likelihoods = match method.detection() {
        Some(detection) => {
            // Trained only where the method uses it: it is the slow part.
            let lstm = matches!(detection, DetectionMethod::Lstm | DetectionMethod::Ensemble)
                .then(|| online::lstm_likelihoods(&values, probation, &settings.lstm))
                .flatten();
            online::method_likelihoods(detection, &values, probation, lstm.as_deref())
        }
        None if matches!(method, super::MethodArg::Discord) => {
            online::discord_likelihoods(&values, probation)
        }
        None => online::band_likelihoods(
            &timestamps(data_file)?,
            &values,
            probation,
            probation,
            &settings.forecast,
        ),
    };
    // A detector with nothing to say (no period, too short to train) is silent.
    let likelihoods = likelihoods.unwrap_or_else(|| vec![0.0; values.len()]);
    let scores = if uncapped {
        likelihoods
    } else {
        online::alarms_from(&likelihoods, params.suppress)
    };
    let mut text = String::from("timestamp,anomaly_score\n");
    for (t, s) in stamps.iter().zip(&scores) {
        text.push_str(&format!("{t},{s}\n"));
    }
    if let Some(dir) = out_file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::fsutil::write_atomic(out_file, text.as_bytes())?;
    Ok(())
}

pub(super) fn eval_nab(
    data: &Path,
    windows_path: &Path,
    scores_dir: &Path,
    method: Option<(super::MethodArg, bool)>,
    files: &str,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(windows_path).map_err(|e| NabError::File {
        path: windows_path.to_owned(),
        message: e.to_string(),
    })?;
    let windows = nab::parse_windows(&text, windows_path)?;
    let all: Vec<String> = windows.keys().cloned().collect();
    let chosen = select(&all, files)?;
    if let Some((method, uncapped)) = method {
        let started = std::time::Instant::now();
        let settings = OnlineSettings::builtin()?;
        for rel in &chosen {
            let (data_file, out_file) = (locate(data, rel), scores_dir.join(rel));
            write_detector_scores(&data_file, &out_file, method, uncapped, &settings)?;
        }
        eprintln!(
            "scored {} files online in {:.2} s into {}",
            chosen.len(),
            started.elapsed().as_secs_f64(),
            scores_dir.display()
        );
    }
    let mut sweeps = Vec::new();
    let mut detector = Vec::new();
    let mut random = Vec::new();
    // NAB's random baseline: uniform scores, seeded so runs compare.
    let mut rng = Rng::new(42);
    for rel in &chosen {
        let data_ts = timestamps(&locate(data, rel))?;
        detector.push(scores(&locate(scores_dir, rel), &data_ts)?);
        random.push(
            (0..data_ts.len())
                .map(|_| rng.uniform())
                .collect::<Vec<f64>>(),
        );
        sweeps.push(FileSweep::new(rel, &data_ts, &windows[rel])?);
    }
    let sweep_refs: Vec<&FileSweep> = sweeps.iter().collect();
    let ours = nab::evaluate(&sweep_refs, &as_slices(&detector));
    let baseline = nab::evaluate(&sweep_refs, &as_slices(&random));
    if json {
        let summary = serde_json::json!({
            "files": chosen,
            "windows": sweeps.iter().map(|s| s.windows).sum::<usize>(),
            "rows": sweeps.iter().map(|s| s.rows).sum::<usize>(),
            "profiles": ours,
            "random": baseline,
        });
        outln!("{summary}");
        return Ok(());
    }
    outln!(
        "NAB scores of {} on {} files ({} windows); null = 0, perfect = 100",
        scores_dir.display(),
        chosen.len(),
        sweeps.iter().map(|s| s.windows).sum::<usize>()
    );
    outln!();
    outln!("| profile | score | random | raw | threshold | TP | FP | FN | windows detected |");
    outln!("|---|---|---|---|---|---|---|---|---|");
    for (p, r) in ours.iter().zip(&baseline) {
        print_row(p, r)?;
    }
    Ok(())
}

fn print_row(p: &ProfileScore, random: &ProfileScore) -> anyhow::Result<()> {
    outln!(
        "| {} | {:.2} | {:.2} | {:.4} | {:.6} | {} | {} | {} | {}/{} |",
        p.profile,
        p.score,
        random.score,
        p.totals.raw,
        p.totals.threshold,
        p.totals.tp,
        p.totals.fp,
        p.totals.fn_,
        p.totals.windows_detected,
        p.windows
    );
    Ok(())
}

/// Per row, whether `method` flags it (every anomalous row, online).
fn row_flags(
    frame: &crate::data::MetricFrame,
    method: super::MethodArg,
    settings: &OnlineSettings,
) -> Vec<bool> {
    use crate::detect::online;
    let probation = online::probation_rows(frame.len());
    let Some(detection) = method.detection() else {
        // The detectors only the evaluation runs, column by column.
        let likelihoods = |column: &[f64]| match method {
            super::MethodArg::Discord => online::discord_likelihoods(column, probation),
            _ => online::band_likelihoods(
                frame.timestamps_ms(),
                column,
                probation,
                probation,
                &settings.forecast,
            ),
        };
        let columns: Vec<Vec<f64>> = frame
            .columns()
            .iter()
            .filter_map(|column| likelihoods(column))
            .collect();
        return online::rows_at_alarm_level(&columns, frame.len());
    };
    match detection {
        DetectionMethod::Lstm => online::lstm_frame_likelihoods(frame, probation, &settings.lstm)
            .map(|l| online::rows_at_alarm_level(&[l], frame.len()))
            .unwrap_or_else(|| vec![false; frame.len()]),
        other => online::frame_method_flags(frame, other),
    }
}

/// The frames a labelled file holds: the file itself (wide), or one per
/// entity (long: `timestamp,<labels…>,metric,value,is_anomaly`), each with
/// the name its table rows get.
pub(super) fn labelled_frames(
    file: &Path,
    entity_labels: &[String],
) -> anyhow::Result<Vec<(String, crate::data::MetricFrame)>> {
    let name = file.display().to_string();
    let first_line = std::fs::read(file)
        .map(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            text.trim_start_matches('\u{feff}')
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    let header: Vec<&str> = first_line.split(',').map(str::trim).collect();
    if !crate::data::is_long_header(&header) {
        return Ok(vec![(name, crate::data::read_csv(file)?.frame)]);
    }
    Ok(crate::data::read_long_csv(file, entity_labels)?
        .into_iter()
        .map(|e| {
            let entity = crate::fleet::entity_key(&e.entity);
            let entity = if entity.is_empty() {
                "fleet-wide".to_owned()
            } else {
                entity
            };
            (format!("{name} [{entity}]"), e.frame)
        })
        .collect())
}

/// The labels a long file's entities are grouped by: the config's
/// `fleet.entity_labels`, else (with a warning) the default `instance`.
pub(super) fn entity_labels(config_path: Option<&Path>) -> Vec<String> {
    match crate::config::Config::load(config_path) {
        Ok((config, _)) => config.fleet.entity_labels,
        Err(error) => {
            eprintln!("warning: {error}; grouping entities by `instance`");
            crate::config::FleetConfig::default().entity_labels
        }
    }
}

pub(super) fn eval_labelled(
    config_path: Option<&Path>,
    files: &[PathBuf],
    method: super::MethodArg,
    json: bool,
) -> anyhow::Result<()> {
    let settings = OnlineSettings::builtin()?;
    let entity_labels = entity_labels(config_path);
    let mut rows_out = Vec::new();
    for file in files {
        let frames = labelled_frames(file, &entity_labels)?;
        let entities = frames.len();
        // Over a long file's entities together, too.
        let (mut all_flags, mut all_labels) = (Vec::new(), Vec::new());
        let mut events = crate::eval::EventMetrics::default();
        for (name, frame) in frames {
            let Some(labels) = frame.labels() else {
                anyhow::bail!(
                    "{}: no label column (is_anomaly) to evaluate against",
                    file.display()
                );
            };
            let timed = |flag: &dyn Fn() -> Vec<bool>| {
                let started = std::time::Instant::now();
                (flag(), started.elapsed().as_secs_f64())
            };
            // Row flags (every anomalous row) for the point-wise numbers; for
            // the robust detector also its alarms (one per event), as NAB
            // scores it.
            let mut kinds = vec![("row flags", timed(&|| row_flags(&frame, method, &settings)))];
            if matches!(method, super::MethodArg::Robust) {
                kinds.push((
                    "alarms",
                    timed(&|| crate::detect::online::frame_alarms(&frame).1),
                ));
            }
            for (kind, flags) in kinds {
                let (flags, seconds) = flags;
                let points = crate::eval::point_metrics(&flags, labels);
                let found = crate::eval::event_metrics(&flags, labels);
                if kind == "row flags" && entities > 1 {
                    all_flags.extend_from_slice(&flags);
                    all_labels.extend_from_slice(labels);
                    events.add(&found);
                }
                rows_out.push((name.clone(), kind, frame.len(), points, found, seconds));
            }
        }
        if entities > 1 {
            let points = crate::eval::point_metrics(&all_flags, &all_labels);
            let name = format!("{} [all {entities} entities]", file.display());
            rows_out.push((name, "row flags", all_flags.len(), points, events, 0.0));
        }
    }
    if json {
        let summary: Vec<_> = rows_out
            .iter()
            .map(|(file, kind, rows, points, events, seconds)| {
                serde_json::json!({"file": file, "flags": kind, "rows": rows, "points": points,
                    "events": events, "seconds": seconds})
            })
            .collect();
        outln!("{}", serde_json::Value::Array(summary));
        return Ok(());
    }
    outln!(
        "| file | flags | rows | precision | recall | F1 | events found | mean delay (rows) | seconds |"
    );
    outln!("|---|---|---|---|---|---|---|---|---|");
    for (file, kind, rows, p, e, seconds) in &rows_out {
        outln!(
            "| {file} | {kind} | {rows} | {:.3} | {:.3} | {:.3} | {}/{} | {:.1} | {seconds:.2} |",
            p.precision,
            p.recall,
            p.f1,
            e.detected,
            e.events,
            e.mean_delay_rows
        );
    }
    Ok(())
}
