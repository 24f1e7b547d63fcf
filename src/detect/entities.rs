//! A fleet's autoencoders: one model per entity (a host, a pod), trained on
//! that entity's series alone and stored beside the others under the model
//! directory (`entities/<hash of the entity>/`, each with the same atomic,
//! versioned files as a single model). Data of one entity keep the one
//! model of [`super::store`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::data::MetricFrame;

use super::online::TailLikelihood;
use super::store::{self, SavedModel};
use super::windows::WindowSet;
use super::{DetectError, Scores};

/// One entity's columns of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityColumns {
    /// The entity as text (`instance="host-003:9100"`; empty: fleet-wide).
    pub key: String,
    /// Its columns, in the frame's order.
    pub columns: Vec<usize>,
}

impl EntityColumns {
    /// The entity's own frame: its columns, every row.
    pub fn frame_of(&self, frame: &MetricFrame) -> MetricFrame {
        let mut keep = vec![false; frame.names().len()];
        for &column in &self.columns {
            keep[column] = true;
        }
        frame.select_columns(&keep)
    }
}

/// The entities of `frame`'s columns by `entity_labels`, sorted by key. A
/// column without any of the labels belongs to the fleet-wide entity (key
/// "").
pub fn entities_of(frame: &MetricFrame, entity_labels: &[String]) -> Vec<EntityColumns> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (column, labels) in frame.series_labels().iter().enumerate() {
        let key = crate::fleet::entity_key(&crate::fleet::entity_of(labels, entity_labels));
        groups.entry(key).or_default().push(column);
    }
    groups
        .into_iter()
        .map(|(key, columns)| EntityColumns { key, columns })
        .collect()
}

/// Where an entity's model lives under `save_dir`: named by the entity's
/// stable hash, so any label text makes a valid directory name.
pub fn entity_dir(save_dir: &Path, key: &str) -> PathBuf {
    save_dir
        .join("entities")
        .join(format!("{:016x}", crate::fleet::stable_hash(key)))
}

/// Every entity model saved under `save_dir`, by entity; the models that
/// could not be read, each with its reason (the others load regardless).
pub fn load_entity_models(save_dir: &Path) -> (BTreeMap<String, Arc<SavedModel>>, Vec<String>) {
    let mut models = BTreeMap::new();
    let mut errors = Vec::new();
    let Ok(dirs) = std::fs::read_dir(save_dir.join("entities")) else {
        return (models, errors);
    };
    let mut dirs: Vec<PathBuf> = dirs
        .filter_map(Result::ok)
        .map(|d| d.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        match store::load(&dir) {
            Ok(saved) => match saved.meta.entity.clone() {
                Some(key) if entity_dir(save_dir, &key) == dir => {
                    models.insert(key, Arc::new(saved));
                }
                _ => errors.push(format!(
                    "{}: not the model of the entity its directory names",
                    dir.display()
                )),
            },
            Err(error) => errors.push(error.to_string()),
        }
    }
    (models, errors)
}

/// One model's windows so far, by the timestamp of each window's last row:
/// a live window that slides by a few rows needs only its new windows
/// scored (a refresh costs new rows × entities, not the window).
#[derive(Debug, Clone)]
pub struct WindowCache {
    /// The model the errors are of (its creation time).
    model: String,
    /// Window end → what it scored.
    windows: BTreeMap<i64, ScoredWindow>,
    /// The likelihood of each new window's error against the windows
    /// before it, kept across refreshes (a row's likelihood does not change
    /// as the frame slides). Its reference is the [`REFERENCE_WINDOWS`]
    /// windows before it (as [`super::online::window_likelihoods`] judges
    /// a frame in one pass), and a model marks nothing until it holds
    /// [`MIN_REFERENCE_WINDOWS`]: a tail of 1e-12 read from a few dozen
    /// errors is noise. Measured on the fleet replay with models trained on
    /// a probation's rows (`docs/evaluation.md`): a reference of a window's
    /// worth (111 windows) gave 152 false events on the clean hosts, 5,000
    /// windows 44, and 5,000 with the wait for 240 within the budget.
    tail: TailLikelihood,
}

impl Default for WindowCache {
    fn default() -> Self {
        Self {
            model: String::new(),
            windows: BTreeMap::new(),
            tail: TailLikelihood::new(REFERENCE_WINDOWS, 2),
        }
    }
}

#[derive(Debug, Clone)]
struct ScoredWindow {
    error: f32,
    feature_errors: Vec<f32>,
    likelihood: f64,
}

/// The windows a new window's likelihood is judged against.
const REFERENCE_WINDOWS: usize = 5000;

/// The windows a model's reference must hold before its likelihoods mark:
/// 2 h at the shipped 30 s step, fixed up front (a few hundred errors for
/// a tail of 1e-12), not tuned on the replay.
const MIN_REFERENCE_WINDOWS: usize = 240;

/// A model's scores of a frame and, per row, the likelihood of the window
/// ending there (0 where none ends).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedScores {
    pub scores: Scores,
    pub likelihoods: Vec<f64>,
}

/// [`super::score_frame`] of `frame` by `saved`, scoring only the windows
/// `cache` does not hold yet (a window is the same rows once complete:
/// the model is what changes it, and a new model empties the cache). Gives
/// the same scores as [`super::score_frame`]; each new window's likelihood
/// is against the windows before it (up to [`REFERENCE_WINDOWS`]), also
/// those that slid out of the frame, as
/// [`super::online::window_likelihoods`] judges them in one pass; 0 for a
/// model's first [`MIN_REFERENCE_WINDOWS`] windows.
pub fn score_cached(
    saved: &SavedModel,
    frame: &MetricFrame,
    cache: &mut WindowCache,
) -> Result<CachedScores, DetectError> {
    if cache.model != saved.meta.created_at {
        *cache = WindowCache {
            model: saved.meta.created_at.clone(),
            ..WindowCache::default()
        };
    }
    let selected = super::select_features(saved, frame)?;
    let length = saved.meta.config.sequence_length;
    let features = selected.names().len();
    let mut set = WindowSet::new(saved.meta.scaler.transform(&selected), features, length);
    if set.starts.is_empty() {
        return Err(DetectError::NoWindows { action: "score" });
    }
    let stamps = frame.timestamps_ms();
    let end_of = |start: usize| stamps[start + length - 1];
    let starts = std::mem::take(&mut set.starts);
    set.starts = starts
        .iter()
        .copied()
        .filter(|s| !cache.windows.contains_key(&end_of(*s)))
        .collect();
    if !set.starts.is_empty() {
        // A refresh's few new windows: on this thread (spawning workers
        // would cost more than the windows).
        let threads = if set.starts.len() < 256 {
            1
        } else {
            super::train::default_threads()
        };
        let (errors, feature_errors) = super::train::score_windows(&saved.model, &set, threads);
        for (i, start) in set.starts.iter().enumerate() {
            let judged = cache.tail.len() >= MIN_REFERENCE_WINDOWS;
            let likelihood = cache.tail.update(f64::from(errors[i]));
            let likelihood = if judged { likelihood } else { 0.0 };
            cache.windows.insert(
                end_of(*start),
                ScoredWindow {
                    error: errors[i],
                    feature_errors: feature_errors[i * features..(i + 1) * features].to_vec(),
                    likelihood,
                },
            );
        }
    }
    // Windows that slid out of the frame are forgotten.
    let first_end = end_of(starts[0]);
    cache.windows = cache.windows.split_off(&first_end);
    let mut errors = Vec::with_capacity(starts.len());
    let mut feature_errors = Vec::with_capacity(starts.len() * features);
    let mut likelihoods = vec![0.0; selected.len()];
    for start in &starts {
        let window = &cache.windows[&end_of(*start)];
        errors.push(window.error);
        feature_errors.extend_from_slice(&window.feature_errors);
        likelihoods[start + length - 1] = window.likelihood;
    }
    let rows = super::score::row_scores(
        selected.len(),
        length,
        &starts,
        &errors,
        &feature_errors,
        features,
        saved.meta.threshold,
    );
    Ok(CachedScores {
        scores: Scores {
            rows,
            feature_names: saved.meta.feature_names.clone(),
            threshold: saved.meta.threshold,
            window_errors: errors,
            window_starts: starts,
            skipped_windows: set.skipped,
        },
        likelihoods,
    })
}

/// Every entity of `groups` that has a model scored by it
/// ([`score_cached`], with its cache in `caches`), the entities split over
/// the cores. Entities without a model, or whose model cannot score the
/// frame (its columns left), are left out; caches of entities not in
/// `groups` are dropped.
pub fn score_entities(
    models: &BTreeMap<String, Arc<SavedModel>>,
    groups: &[EntityColumns],
    frame: &MetricFrame,
    caches: &mut BTreeMap<String, WindowCache>,
) -> BTreeMap<String, CachedScores> {
    caches.retain(|key, _| groups.iter().any(|g| &g.key == key));
    let mut work: Vec<(&String, &SavedModel, WindowCache)> = groups
        .iter()
        .filter_map(|g| {
            let model = models.get(&g.key)?;
            Some((
                &g.key,
                model.as_ref(),
                caches.remove(&g.key).unwrap_or_default(),
            ))
        })
        .collect();
    let threads = super::train::default_threads().clamp(1, work.len().max(1));
    let chunk = work.len().div_ceil(threads).max(1);
    let mut scored = BTreeMap::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = work
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter_mut()
                        .filter_map(|(key, model, cache)| {
                            let scores = score_cached(model, frame, cache).ok()?;
                            Some(((*key).clone(), scores))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            // A panic in a worker is a bug; surface it where it happened.
            let part = handle
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
            scored.extend(part);
        }
    });
    for (key, _, cache) in work {
        caches.insert(key.clone(), cache);
    }
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleets_columns_group_by_entity_and_fleet_wide_series_stand_alone() {
        let names = vec![
            r#"cpu{instance="b"}"#.to_owned(),
            r#"cpu{instance="a"}"#.to_owned(),
            "latency".to_owned(),
            r#"memory{instance="a"}"#.to_owned(),
        ];
        let frame = MetricFrame::new(vec![0], names, vec![vec![1.0]; 4], None).expect("frame");
        let groups = entities_of(&frame, &["instance".to_owned()]);
        let keys: Vec<&str> = groups.iter().map(|g| g.key.as_str()).collect();
        assert_eq!(keys, ["", r#"instance="a""#, r#"instance="b""#]);
        assert_eq!(groups[1].columns, [1, 3]);
        assert_eq!(groups[0].columns, [2]);
        let a = groups[1].frame_of(&frame);
        assert_eq!(
            a.names(),
            [r#"cpu{instance="a"}"#, r#"memory{instance="a"}"#]
        );
        // No entity labels: one entity, the whole frame.
        assert_eq!(entities_of(&frame, &[]).len(), 1);
        // Directory names are hashes: any label text is a valid path.
        let dir = entity_dir(Path::new("/m"), r#"instance="a/b:9100""#);
        assert_eq!(dir.parent(), Some(Path::new("/m/entities")));
        assert_eq!(dir.file_name().map(|n| n.len()), Some(16));
    }

    /// The same scores up to the last bits of f32 sums: a window's error
    /// does not depend on which windows share its batch, but the kernels'
    /// vector lanes may add in another order.
    fn assert_close(a: &Scores, b: &Scores, what: &str) {
        assert_eq!(a.window_starts, b.window_starts, "{what}");
        assert_eq!(a.skipped_windows, b.skipped_windows, "{what}");
        assert_eq!(a.feature_names, b.feature_names, "{what}");
        let worst = a
            .window_errors
            .iter()
            .zip(&b.window_errors)
            .map(|(x, y)| ((x - y) / y.abs().max(1e-6)).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-5, "{what}: relative difference {worst}");
        for (x, y) in a.rows.error.iter().zip(&b.rows.error) {
            assert!(x.is_nan() && y.is_nan() || ((x - y) / y.abs().max(1e-6)).abs() < 1e-5);
        }
    }

    #[test]
    fn a_sliding_window_scored_from_the_cache_matches_a_full_scoring() {
        let sample = crate::data::generate_sample(&crate::data::SampleSpec {
            rows: 400,
            ..Default::default()
        });
        let mut columns = sample.columns().to_vec();
        columns[1][250] = f64::NAN;
        let frame = MetricFrame::new(
            sample.timestamps_ms().to_vec(),
            sample.names().to_vec(),
            columns,
            None,
        )
        .expect("frame");
        let rows = |a: usize, b: usize| {
            MetricFrame::new(
                frame.timestamps_ms()[a..b].to_vec(),
                frame.names().to_vec(),
                frame.columns().iter().map(|c| c[a..b].to_vec()).collect(),
                None,
            )
            .expect("frame")
        };
        let mut lstm = crate::config::Config::builtin().expect("config").lstm;
        lstm.sequence_length = 12;
        lstm.hidden_size = 8;
        lstm.epochs = 1;
        let cancel = std::sync::atomic::AtomicBool::new(false);
        let (saved, _) =
            super::super::train_model(&rows(0, 150), &lstm, &mut |_| {}, &cancel).expect("model");
        let mut cache = WindowCache::default();
        let mut likelihood_at: BTreeMap<i64, f64> = BTreeMap::new();
        for (a, b) in [(0, 200), (20, 230), (90, 300), (100, 400)] {
            let window = rows(a, b);
            let cached = score_cached(&saved, &window, &mut cache).expect("cached");
            let full = super::super::score_frame(&saved, &window).expect("full");
            assert_close(&cached.scores, &full, &format!("rows {a}..{b}"));
            // Only the windows of this frame are kept.
            assert_eq!(cache.windows.len(), full.window_errors.len());
            let length = lstm.sequence_length;
            if a == 0 {
                // The first frame's 189 windows: too few to judge by.
                assert!(cached.likelihoods.iter().all(|l| *l == 0.0));
            }
            // A row's likelihood stays what it was as the frame slides (the
            // frame's first rows end no window of it).
            for (row, l) in cached.likelihoods.iter().enumerate().skip(length - 1) {
                let at = window.timestamps_ms()[row];
                if let Some(before) = likelihood_at.insert(at, *l) {
                    assert_eq!(before, *l, "rows {a}..{b}, row {row}");
                }
            }
        }
        // Past MIN_REFERENCE_WINDOWS, a window's likelihood is the batch
        // one over every row so far; before, 0.
        let all = rows(0, 400);
        let full = super::super::score_frame(&saved, &all).expect("full");
        let batch =
            crate::detect::online::window_likelihoods(&full, all.len(), lstm.sequence_length);
        let mut judged = 0;
        for (row, at) in all.timestamps_ms().iter().enumerate() {
            let Some(cached) = likelihood_at.get(at) else {
                continue;
            };
            let window = row + 1 - lstm.sequence_length.min(row + 1);
            if window >= MIN_REFERENCE_WINDOWS + 20 {
                judged += 1;
                assert!(
                    (cached - batch[row]).abs() < 1e-6,
                    "row {row}: {cached} / {}",
                    batch[row]
                );
            } else if window < MIN_REFERENCE_WINDOWS {
                assert_eq!(*cached, 0.0, "row {row}");
            }
        }
        assert!(judged > 50, "{judged}");
        // A new model: nothing of the old one's errors is used.
        let (other, _) =
            super::super::train_model(&rows(150, 300), &lstm, &mut |_| {}, &cancel).expect("model");
        let window = rows(100, 400);
        let mut other = other;
        other.meta.created_at.push_str("-other");
        assert_close(
            &score_cached(&other, &window, &mut cache)
                .expect("cached")
                .scores,
            &super::super::score_frame(&other, &window).expect("full"),
            "a new model",
        );
    }
}
