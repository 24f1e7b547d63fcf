//! `pulsewatch bench fleet`: what one live refresh costs as the fleet and
//! the window grow. Each size runs in its own process (so its peak and
//! steady memory are its own) on a synthetic fleet (hosts × cpu, memory,
//! latency): a first load of the whole window, then refreshes of one new
//! step each: the Prometheus answer for the step parsed and merged, the
//! live window appended, every series' detectors fed the new row, the frame
//! judged by the one rule and `/metrics` written.

use std::time::{Duration, Instant};

use anyhow::Context as _;

use super::UsageError;
use crate::config::{DetectionMethod, format_duration, parse_duration};
use crate::data::MetricFrame;
use crate::data::rng::Rng;
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::detect::entities::{WindowCache, entities_of, score_entities};
use crate::detect::store::SavedModel;
use crate::engine::LiveWindow;
use crate::engine::monitor::{LstmView, OnlineInput, OnlineState, TrainingRows, View, assess};
use crate::engine::schedule::{rows_needed, training_rows_kept};
use crate::ingest::{QueryAnswer, TimeRange, merge, parse_range_body};
use crate::serve::Snapshot;

const METRICS: [&str; 3] = ["cpu", "memory", "latency"];

/// One size's result.
#[derive(Debug, Clone, Copy)]
struct Measured {
    series: usize,
    rows: usize,
    first_load: Duration,
    refresh: Duration,
    parse: Duration,
    score: Duration,
    /// Peak resident set (the first load's frames included).
    rss_kib: u64,
    /// Resident set after the refreshes: freed heap handed back after the
    /// first load, as the monitor does after its first refresh, and not
    /// since (the monitor does it every 10 minutes), so the most it holds
    /// between two releases.
    steady_kib: u64,
    /// The autoencoder's training on the first load: time, models.
    training: Option<(Duration, usize)>,
    /// The detectors' state saved as the daemon saves it (every 5 minutes
    /// and at a stop) and read back as at a restart: times and file size.
    state: StateCost,
}

/// What saving and reading the detectors' state costs.
#[derive(Debug, Clone, Copy)]
struct StateCost {
    save: Duration,
    read: Duration,
    bytes: u64,
    /// The peak resident set grew by this much while saving (reading back
    /// makes a second state beside the first here, which a restart does
    /// not).
    peak_growth_kib: u64,
}

pub fn bench(
    series: &[usize],
    windows: &[String],
    step: &str,
    refreshes: usize,
    method: super::MethodArg,
    autoencoder: bool,
) -> anyhow::Result<()> {
    let method_key = method_of(method)?.key();
    let step = parse_duration(step).map_err(|m| UsageError(format!("--step: {m}")))?;
    let mut parsed_windows = Vec::new();
    for w in windows {
        parsed_windows.push(parse_duration(w).map_err(|m| UsageError(format!("--window: {m}")))?);
    }
    outln!(
        "CPU: {}; detection.method: {method_key}{}",
        cpu_name(),
        if autoencoder {
            "; the autoencoder, a model per host (first load: + its training on the rows kept for it: the warm-up and the window, a probation's and an eighth)"
        } else {
            ""
        }
    );
    let probation = crate::config::DEFAULT_PROBATION_ROWS;
    outln!(
        "| series | window | rows | first load (+ {probation} warm-up rows) | refresh (median of {refreshes}) | of which parse + merge | of which detectors + judging | peak RSS | steady RSS | steady per series | state save / read | state file | peak growth while saving |"
    );
    outln!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let exe = std::env::current_exe().context("cannot find this executable")?;
    for &n in series {
        for window in &parsed_windows {
            let output = std::process::Command::new(&exe)
                .args(["bench", "fleet-one", "--series", &n.to_string()])
                .args(["--window", &format_duration(*window)])
                .args(["--step", &format_duration(step)])
                .args(["--refreshes", &refreshes.to_string()])
                .args(["--method", method_key])
                .args(autoencoder.then_some("--autoencoder"))
                .output()
                .context("cannot run the benchmark process")?;
            let text = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() {
                anyhow::bail!(
                    "the benchmark of {n} series over {} failed: {}",
                    format_duration(*window),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            out!("{text}");
        }
    }
    Ok(())
}

/// One size, in this process: prints one table row.
pub fn bench_one(
    series: usize,
    window: &str,
    step: &str,
    refreshes: usize,
    method: super::MethodArg,
    autoencoder: bool,
) -> anyhow::Result<()> {
    let window = parse_duration(window).map_err(|m| UsageError(format!("--window: {m}")))?;
    let step = parse_duration(step).map_err(|m| UsageError(format!("--step: {m}")))?;
    let m = measure(
        series,
        window,
        step,
        refreshes.max(1),
        method_of(method)?,
        autoencoder,
    )?;
    let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
    let training = m
        .training
        .map(|(d, n)| format!(" + {:.1} s training {n} models", d.as_secs_f64()))
        .unwrap_or_default();
    outln!(
        "| {} | {} | {} | {}{training} | **{}** | {} | {} | {} MiB | {} MiB | {:.1} KiB | {} / {} | {:.0} MiB | {} MiB |",
        m.series,
        format_duration(window),
        m.rows,
        ms(m.first_load),
        ms(m.refresh),
        ms(m.parse),
        ms(m.score),
        m.rss_kib / 1024,
        m.steady_kib / 1024,
        m.steady_kib as f64 / m.series as f64,
        ms(m.state.save),
        ms(m.state.read),
        m.state.bytes as f64 / (1024.0 * 1024.0),
        m.state.peak_growth_kib / 1024,
    );
    Ok(())
}

/// A synthetic host's value of `metric` at row `t`: a daily cycle plus noise.
fn value(rng: &mut Rng, host: usize, metric: usize, t: i64, step_ms: i64) -> f64 {
    let day = std::f64::consts::TAU * ((t * step_ms) % 86_400_000) as f64 / 86_400_000.0;
    let base = 20.0 + (host % 17) as f64 * 3.0 + metric as f64 * 10.0;
    base + 8.0 * (day + host as f64).sin() + rng.normal()
}

fn series_name(host: usize, metric: usize) -> String {
    format!(
        "{}{{instance=\"host-{host:05}:9100\",job=\"node\"}}",
        METRICS[metric]
    )
}

/// Prometheus' JSON answer for one metric's query over two steps.
fn answer_body(rng: &mut Rng, hosts: usize, metric: usize, rows: [i64; 2], step_ms: i64) -> String {
    let mut body = String::from(r#"{"status":"success","data":{"resultType":"matrix","result":["#);
    for host in 0..hosts {
        if host > 0 {
            body.push(',');
        }
        let values: Vec<String> = rows
            .iter()
            .map(|t| {
                let v = value(rng, host, metric, *t, step_ms);
                format!("[{},\"{v:.4}\"]", t * step_ms / 1000)
            })
            .collect();
        body.push_str(&format!(
            r#"{{"metric":{{"instance":"host-{host:05}:9100","job":"node"}},"values":[{}]}}"#,
            values.join(",")
        ));
    }
    body.push_str("]}}");
    body
}

/// The method `--method` names (the band is not an online detector here).
fn method_of(method: super::MethodArg) -> Result<DetectionMethod, UsageError> {
    method
        .detection()
        .ok_or_else(|| UsageError("--method: band is not a detection.method".into()))
}

fn measure(
    series: usize,
    window: Duration,
    step: Duration,
    refreshes: usize,
    method: DetectionMethod,
    autoencoder: bool,
) -> anyhow::Result<Measured> {
    let hosts = series.div_ceil(METRICS.len()).max(1);
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
    let rows = usize::try_from(window.as_millis() / step.as_millis().max(1))
        .unwrap_or(0)
        .max(2);
    let mut rng = Rng::new(7);
    // The first load: the whole window and, before it, the warm-up the
    // daemon's first fetch reaches back (a probation's rows): the detectors
    // learn from those, the window keeps only its own.
    let probation = crate::config::DEFAULT_PROBATION_ROWS;
    let timestamps: Vec<i64> = (-(probation as i64)..rows as i64)
        .map(|t| t * step_ms)
        .collect();
    let mut names = Vec::with_capacity(hosts * METRICS.len());
    let mut columns = Vec::with_capacity(hosts * METRICS.len());
    for host in 0..hosts {
        for metric in 0..METRICS.len() {
            names.push(series_name(host, metric));
            columns.push(
                (-(probation as i64)..rows as i64)
                    .map(|t| value(&mut rng, host, metric, t, step_ms))
                    .collect(),
            );
        }
    }
    let first = MetricFrame::new(timestamps, names, columns, None)?;
    let started = Instant::now();
    let mut live = LiveWindow::new(window, step, Duration::from_secs(15 * 60));
    let now_ms = (rows as i64 - 1) * step_ms;
    live.append(&first, now_ms);
    let mut online = OnlineState::new(method, probation);
    // Fed only, as the monitor does: the judging reads the streams.
    online.feed(&first);
    // The rows the models per host learn from, kept as the monitor keeps
    // them (the warm-up and every row since).
    let sequence_length = crate::config::Config::builtin()?.lstm.sequence_length;
    let kept = training_rows_kept(rows_needed(sequence_length, probation));
    let mut training_rows = autoencoder.then(|| TrainingRows::new(kept));
    if let Some(training_rows) = &mut training_rows {
        training_rows.push(&first);
    }
    drop(first);
    let mut models = Models::default();
    let mut held = judge(&mut online, live.shared_frame(), &mut models);
    // As the monitor does after its first refresh (then every 10 minutes,
    // not between these refreshes: the steady RSS below is the most it
    // holds between two releases).
    crate::memory::release_free_heap();
    let first_load = started.elapsed();
    let training = if let Some(training_rows) = &training_rows {
        let started = Instant::now();
        models = Models::train(&training_rows.frame()?)?;
        let trained = models.models.len();
        Some((started.elapsed(), trained))
    } else {
        None
    };

    let mut times = Vec::new();
    for k in 0..refreshes {
        let newest = rows as i64 + k as i64;
        // The fetch of the new step (the last known one repeated): parsed
        // and merged as the client does.
        let range =
            TimeRange::aligned((newest - 1) * step_ms, newest * step_ms, step).context("range")?;
        let mut answers = Vec::new();
        for (metric, name) in METRICS.iter().enumerate() {
            let body = answer_body(&mut rng, hosts, metric, [newest - 1, newest], step_ms);
            let parse_started = Instant::now();
            let result = parse_range_body(body.as_bytes())
                .map_err(|p| anyhow::anyhow!("synthetic answer: {p:?}"))?;
            answers.push((
                parse_started.elapsed(),
                QueryAnswer {
                    metric: (*name).to_owned(),
                    query: (*name).to_owned(),
                    series: result.series,
                },
            ));
        }
        let parse_started = Instant::now();
        let parse_time: Duration = answers.iter().map(|(d, _)| *d).sum();
        let answers: Vec<QueryAnswer> = answers.into_iter().map(|(_, a)| a).collect();
        let merged = merge(&range, &answers, &["instance".to_owned()])
            .map_err(|p| anyhow::anyhow!("merge: {p:?}"))?;
        let parse = parse_time + parse_started.elapsed();
        let score_started = Instant::now();
        live.append(&merged.frame, newest * step_ms);
        if let Some(training_rows) = &mut training_rows {
            training_rows.push(live.frame());
        }
        held = judge(&mut online, live.shared_frame(), &mut models);
        let score = score_started.elapsed();
        // Building the answer bodies is not timed: only what the daemon does.
        times.push((parse + score, parse, score));
    }
    times.sort_by_key(|t| t.0);
    let (refresh, parse, score) = times[times.len() / 2];
    let rss_kib = crate::memory::peak_kib().unwrap_or(0);
    let steady_kib = crate::memory::resident_kib().unwrap_or(0);
    let state = state_cost(&online, method, probation)?;
    drop(held);
    Ok(Measured {
        series: hosts * METRICS.len(),
        rows,
        first_load,
        refresh,
        parse,
        score,
        rss_kib,
        steady_kib,
        training,
        state,
    })
}

/// Saves `online` to a scratch file as the daemon does and reads it back.
fn state_cost(
    online: &OnlineState,
    method: DetectionMethod,
    probation: usize,
) -> anyhow::Result<StateCost> {
    let dir = std::env::temp_dir().join(format!("pulsewatch-bench-state-{}", std::process::id()));
    let path = dir.join("online-state.cbor");
    let peak_before = crate::memory::peak_kib().unwrap_or(0);
    let started = Instant::now();
    let saved = online.save(&path, None, 0);
    let save = started.elapsed();
    let peak_growth_kib = crate::memory::peak_kib()
        .unwrap_or(0)
        .saturating_sub(peak_before);
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let started = Instant::now();
    let read = OnlineState::load(&path, method, probation);
    let read_time = started.elapsed();
    let read_back = read.as_ref().map(|r| r.as_ref().map(|r| r.state.len()));
    let _ = std::fs::remove_dir_all(&dir);
    saved.context("saving the state")?;
    let series = read_back
        .map_err(|e| anyhow::anyhow!("reading the state back: {e}"))?
        .unwrap_or(0);
    anyhow::ensure!(
        series == online.len(),
        "the state read back holds {series} series of {}",
        online.len()
    );
    Ok(StateCost {
        save,
        read: read_time,
        bytes,
        peak_growth_kib,
    })
}

/// The autoencoder as the monitor runs it on a fleet: a model per host,
/// each entity's new windows scored at a refresh.
#[derive(Default)]
struct Models {
    models: BTreeMap<String, Arc<SavedModel>>,
    caches: BTreeMap<String, WindowCache>,
}

impl Models {
    /// A model per host of `frame`, trained on the pool the monitor uses
    /// (saved to a scratch directory, removed after).
    fn train(frame: &MetricFrame) -> anyhow::Result<Self> {
        let mut lstm = crate::config::Config::builtin()?.lstm;
        lstm.device = crate::config::DevicePreference::Cpu;
        let dir = std::env::temp_dir().join(format!("pulsewatch-bench-{}", std::process::id()));
        let entities = entities_of(frame, &["instance".to_owned()]);
        let job = crate::engine::spawn_entity_training(
            Arc::new(frame.clone()),
            entities,
            lstm,
            dir.clone(),
            crate::detect::train::default_threads(),
            || {},
        )?;
        let mut models = BTreeMap::new();
        let mut failed = Vec::new();
        for event in job.events.iter() {
            match event {
                crate::engine::EntityEvent::Done { result, key } => match result {
                    Ok(trained) => {
                        models.insert(key, Arc::new(trained.saved));
                    }
                    Err(error) => failed.push(format!("{key}: {error}")),
                },
                crate::engine::EntityEvent::Finished { .. } => break,
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        if let Some(error) = failed.first() {
            anyhow::bail!(
                "{} of the models failed to train, first: {error}",
                failed.len()
            );
        }
        Ok(Self {
            models,
            caches: BTreeMap::new(),
        })
    }

    /// Each model's scores of `frame` and their row likelihoods, as the
    /// monitor makes them.
    fn score(&mut self, frame: &MetricFrame) -> Vec<(crate::detect::Scores, Vec<f64>)> {
        if self.models.is_empty() {
            return Vec::new();
        }
        let groups = entities_of(frame, &["instance".to_owned()]);
        score_entities(&self.models, &groups, frame, &mut self.caches)
            .into_values()
            .map(|cached| (cached.scores, cached.likelihoods))
            .collect()
    }
}

/// What the daemon holds between refreshes besides the detectors' state:
/// the monitor's frame (shared with the live window) and its judgement, in
/// the view, and the `/metrics` snapshot made from them. The detectors'
/// aligned scores are read for judging and dropped, as the monitor does.
struct Held {
    _view: Arc<View>,
    _snapshot: Snapshot,
}

/// The detectors on the frame's new rows, the one rule over the frame, and
/// `/metrics` as the daemon publishes it.
fn judge(online: &mut OnlineState, frame: Arc<MetricFrame>, models: &mut Models) -> Held {
    online.feed(&frame);
    let scored = models.score(&frame);
    let first_ms = frame.timestamps_ms().first().copied();
    let views: Vec<LstmView> = scored
        .iter()
        .map(|(scores, likelihoods)| LstmView {
            scores,
            threshold: scores.threshold,
            first_ms,
            likelihoods: Some(likelihoods),
        })
        .collect();
    let judged = assess(
        &frame,
        Some(OnlineInput::Streams(online)),
        &views,
        None,
        "ensemble",
    );
    let mut view = View::empty();
    view.frame = frame;
    view.judged = Arc::new(judged);
    let view = Arc::new(view);
    let snapshot = Snapshot::of(&view);
    std::hint::black_box(snapshot.to_prometheus_text());
    Held {
        _view: view,
        _snapshot: snapshot,
    }
}

/// The CPU's model name and its widest vector extension, from /proc/cpuinfo.
pub(super) fn cpu_name() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned());
    let flags = info
        .lines()
        .find_map(|l| l.strip_prefix("flags"))
        .unwrap_or("");
    let vector = if flags.contains(" avx512f") {
        "AVX-512"
    } else if flags.contains(" avx2") {
        "AVX2"
    } else {
        "no AVX2"
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model} ({vector}, {cores} cores)")
}
