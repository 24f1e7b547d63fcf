//! `pulsewatch eval alarms`: alarms and marks at the shipped alarm level per
//! category of a NAB-layout set (NAB, the generated set of `eval generate`)
//! and on unlabelled files of normal data: the windows they find and the
//! false ones per series per week ([`crate::eval::budget`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::DetectionMethod;
use crate::detect::online::{self, ALARM_LEVEL};
use crate::eval::budget::{Budget, series_budget, weeks_of};
use crate::eval::nab::{self, NabError};

use super::eval_cmd::{OnlineSettings, entity_labels, labelled_frames, locate, select, timestamps};

/// One series' marks and alarms by `method`, after a probation of
/// `probation_rows` (None: NAB's 15 % of the series), and the rows judged
/// (after the probation: the weeks a budget is counted over).
/// Marks: the row likelihoods the window and the daemon mark from; alarms:
/// the capped likelihoods `eval nab` scores (the autoencoder trained on the
/// probation, as there).
fn marks_and_alarms(
    values: &[f64],
    method: Scorer,
    probation_rows: Option<usize>,
    settings: &OnlineSettings,
) -> (Vec<bool>, Vec<bool>, usize) {
    let probation = probation_rows
        .unwrap_or_else(|| online::probation_rows(values.len()))
        .min(values.len());
    let at_level = |l: Option<Vec<f64>>| {
        l.map(|l| l.iter().map(|v| *v >= ALARM_LEVEL).collect())
            .unwrap_or_else(|| vec![false; values.len()])
    };
    let suppress = online::RobustParams::default().suppress;
    let method = match method {
        Scorer::Live(method) => method,
        Scorer::Discord => {
            // One likelihood: its rows are the marks, capped the alarms.
            let l = online::discord_likelihoods(values, probation);
            let alarms = at_level(l.as_deref().map(|l| online::alarms_from(l, suppress)));
            return (at_level(l), alarms, values.len() - probation);
        }
    };
    let marks = at_level(online::method_row_likelihoods(
        method, values, probation, None,
    ));
    let lstm = matches!(method, DetectionMethod::Lstm | DetectionMethod::Ensemble)
        .then(|| online::lstm_likelihoods(values, probation, &settings.lstm))
        .flatten();
    let alarms = at_level(
        online::method_likelihoods(method, values, probation, lstm.as_deref())
            .map(|l| online::alarms_from(&l, suppress)),
    );
    (marks, alarms, values.len() - probation)
}

/// What scores a series: a live detection method, or the discord
/// detector (evaluation only).
#[derive(Debug, Clone, Copy)]
enum Scorer {
    Live(DetectionMethod),
    Discord,
}

/// The median step of `stamps_ms`, in seconds (a week's rows).
fn step_secs(stamps_ms: &[i64]) -> f64 {
    let mut steps: Vec<i64> = stamps_ms.windows(2).map(|w| w[1] - w[0]).collect();
    if steps.is_empty() {
        return 0.0;
    }
    let mid = steps.len() / 2;
    let (_, median, _) = steps.select_nth_unstable(mid);
    *median as f64 / 1000.0
}

/// A NAB-layout set's files, each scored: (category, budget).
fn nab_budgets(
    data: &Path,
    windows_path: &Path,
    files: &str,
    method: Scorer,
    probation_rows: Option<usize>,
    settings: &OnlineSettings,
) -> anyhow::Result<Vec<(String, Budget)>> {
    let text = std::fs::read_to_string(windows_path).map_err(|e| NabError::File {
        path: windows_path.to_owned(),
        message: e.to_string(),
    })?;
    let windows = nab::parse_windows(&text, windows_path)?;
    let all: Vec<String> = windows.keys().cloned().collect();
    let chosen = select(&all, files)?;
    let work = |rel: &String| -> anyhow::Result<(String, Budget)> {
        let path = locate(data, rel);
        let stamps_us = timestamps(&path)?;
        let values: Vec<f64> = nab::read_column(&path, "value")?
            .iter()
            .map(|v| v.parse::<f64>().unwrap_or(f64::NAN))
            .collect();
        let rows: Vec<std::ops::Range<usize>> = windows[rel]
            .iter()
            .map(|(a, b)| {
                let start = stamps_us.partition_point(|t| t < a);
                let end = stamps_us.partition_point(|t| t <= b);
                start..end
            })
            .collect();
        let stamps_ms: Vec<i64> = stamps_us.iter().map(|t| t / 1000).collect();
        let (marks, alarms, judged) = marks_and_alarms(&values, method, probation_rows, settings);
        let weeks = weeks_of(judged, step_secs(&stamps_ms));
        let category = rel.split_once('/').map_or("", |(c, _)| c).to_owned();
        Ok((category, series_budget(&marks, &alarms, &rows, weeks)))
    };
    // Files on every core: the autoencoder's training is the slow part.
    // Each worker takes the next file and keeps what it scored.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let worker = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(rel) = chosen.get(i) else {
                return done;
            };
            done.push((i, work(rel)));
        }
    };
    let mut results: Vec<Option<anyhow::Result<(String, Budget)>>> =
        (0..chosen.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cores.min(chosen.len()))
            .map(|_| scope.spawn(worker))
            .collect();
        for finished in workers.into_iter().filter_map(|w| w.join().ok()) {
            for (i, result) in finished {
                results[i] = Some(result);
            }
        }
    });
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a scoring worker stopped early"))))
        .collect()
}

/// Unlabelled files of normal data: every metric of every entity a series,
/// every mark and alarm a false one.
fn csv_budgets(
    config_path: Option<&Path>,
    files: &[PathBuf],
    method: Scorer,
    probation_rows: Option<usize>,
    settings: &OnlineSettings,
) -> anyhow::Result<Vec<(String, Budget)>> {
    let entity_labels = entity_labels(config_path);
    let mut out = Vec::new();
    for file in files {
        let name = file.display().to_string();
        for (_, frame) in labelled_frames(file, &entity_labels)? {
            let step = step_secs(frame.timestamps_ms());
            for column in frame.columns() {
                let (marks, alarms, judged) =
                    marks_and_alarms(column, method, probation_rows, settings);
                let weeks = weeks_of(judged, step);
                out.push((name.clone(), series_budget(&marks, &alarms, &[], weeks)));
            }
        }
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn eval_alarms(
    config_path: Option<&Path>,
    data: Option<&Path>,
    windows: Option<&Path>,
    files: &str,
    csv: &[PathBuf],
    method: super::MethodArg,
    probation_rows: Option<usize>,
    json: bool,
) -> anyhow::Result<()> {
    let detection = match (method, method.detection()) {
        (_, Some(detection)) => Scorer::Live(detection),
        (super::MethodArg::Discord, None) => Scorer::Discord,
        (_, None) => {
            anyhow::bail!("eval alarms: --method band is not scored here; choose another")
        }
    };
    let settings = OnlineSettings::builtin()?;
    let started = std::time::Instant::now();
    let mut per_series = Vec::new();
    match (data, windows) {
        (Some(data), Some(windows)) => per_series.extend(nab_budgets(
            data,
            windows,
            files,
            detection,
            probation_rows,
            &settings,
        )?),
        (None, None) => {}
        _ => anyhow::bail!("eval alarms: --data and --windows go together"),
    }
    per_series.extend(csv_budgets(
        config_path,
        csv,
        detection,
        probation_rows,
        &settings,
    )?);
    if per_series.is_empty() {
        anyhow::bail!("eval alarms: nothing to score (give --data with --windows, or --csv)");
    }
    let mut groups: BTreeMap<String, Budget> = BTreeMap::new();
    let mut total = Budget::default();
    for (group, budget) in &per_series {
        groups.entry(group.clone()).or_default().add(budget);
        total.add(budget);
    }
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let summary = serde_json::json!({
            "method": format!("{method:?}").to_lowercase(),
            "alarm_level": ALARM_LEVEL,
            "probation_rows": probation_rows,
            "groups": groups.iter().map(|(g, b)| serde_json::json!({
                "group": g, "budget": b,
                "false_events_per_series_week": b.false_events_per_week(),
                "false_alarms_per_series_week": b.false_alarms_per_week(),
            })).collect::<Vec<_>>(),
            "total": total,
            "seconds": seconds,
        });
        outln!("{summary}");
        return Ok(());
    }
    outln!(
        "| category or file | series | series-weeks | windows | marked | alarmed | false events / series-week | false alarms / series-week |"
    );
    outln!("|---|---|---|---|---|---|---|---|");
    for (group, b) in groups.iter().chain([(&"all".to_owned(), &total)]) {
        outln!(
            "| {group} | {} | {:.1} | {} | {} | {} | {:.2} | {:.2} |",
            b.series,
            b.weeks,
            b.windows,
            b.windows_marked,
            b.windows_alarmed,
            b.false_events_per_week(),
            b.false_alarms_per_week()
        );
    }
    eprintln!("scored {} series in {seconds:.1} s", per_series.len());
    Ok(())
}
