//! The Numenta Anomaly Benchmark's scoring (NAB v1.1): probation (15 %),
//! anomaly windows, the scaled sigmoid, earliest detection per window, one
//! threshold optimised over the scored file set per profile, and
//! normalisation between the null detector (constant 0.5) and a perfect one.
//! It follows `shared/tools/nab_score.py` (itself a re-implementation of
//! numenta/NAB's sweeper, optimizer and scorer) step by step, including its
//! summation order, so the two agree to rounding; a test checks 1e-6.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::data::time::days_from_civil;

/// NAB's cost matrix for one profile.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CostMatrix {
    pub tp_weight: f64,
    pub fn_weight: f64,
    pub fp_weight: f64,
}

/// config/profiles.json (NAB v1.1).
pub const PROFILES: [(&str, CostMatrix); 3] = [
    (
        "standard",
        CostMatrix {
            tp_weight: 1.0,
            fn_weight: 1.0,
            fp_weight: 0.11,
        },
    ),
    (
        "reward_low_FP_rate",
        CostMatrix {
            tp_weight: 1.0,
            fn_weight: 1.0,
            fp_weight: 0.22,
        },
    ),
    (
        "reward_low_FN_rate",
        CostMatrix {
            tp_weight: 1.0,
            fn_weight: 2.0,
            fp_weight: 0.11,
        },
    ),
];

const PROBATION_PERCENT: f64 = 0.15;
/// The sweep's "nothing detected" threshold (scores lie in [0, 1]).
const NO_DETECTION_THRESHOLD: f64 = 1.1;
const NULL_SCORE: f64 = 0.5;
const PROBATION: i64 = -2;
const OUTSIDE: i64 = -1;

#[derive(Debug, thiserror::Error)]
pub enum NabError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{file}: {message}")]
    Data { file: String, message: String },
    #[error("--files item `{item}` matches no file in the windows file")]
    NoMatch { item: String },
}

/// A NAB timestamp (`YYYY-MM-DD HH:MM:SS[.ffffff]`, also with `T`) as
/// microseconds since 1970 (naive: NAB compares them as written).
pub fn parse_nab_timestamp(text: &str) -> Option<i64> {
    let s = text.trim();
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
    let mut d = date.split('-');
    let (year, month, day) = (
        d.next()?.parse::<i64>().ok()?,
        d.next()?.parse::<u32>().ok()?,
        d.next()?.parse::<u32>().ok()?,
    );
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut t = clock.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next().unwrap_or("0").parse().ok()?;
    let second: i64 = t.next().unwrap_or("0").parse().ok()?;
    let mut micros = 0_i64;
    for (i, c) in fraction.chars().take(6).enumerate() {
        micros += i64::from(c.to_digit(10)?) * 10_i64.pow(5 - i as u32);
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1_000_000) + micros)
}

/// `combined_windows.json`: file → windows (start, end) in microseconds.
pub fn parse_windows(
    text: &str,
    path: &Path,
) -> Result<BTreeMap<String, Vec<(i64, i64)>>, NabError> {
    let fail = |message: String| NabError::File {
        path: path.to_owned(),
        message,
    };
    let raw: BTreeMap<String, Vec<(String, String)>> = serde_json::from_str(text)
        .map_err(|e| fail(format!("expected {{\"file\": [[start, end], …]}}: {e}")))?;
    raw.into_iter()
        .map(|(file, windows)| {
            let parsed = windows
                .iter()
                .map(
                    |(a, b)| match (parse_nab_timestamp(a), parse_nab_timestamp(b)) {
                        (Some(a), Some(b)) => Ok((a, b)),
                        _ => Err(fail(format!(
                            "{file}: window `{a}`..`{b}` is not a timestamp pair"
                        ))),
                    },
                )
                .collect::<Result<Vec<_>, _>>()?;
            Ok((file, parsed))
        })
        .collect()
}

/// NAB's scaled sigmoid: −1 beyond y > 3, else 2·sigmoid(−5y) − 1.
fn scaled_sigmoid(y: f64) -> f64 {
    if y > 3.0 {
        return -1.0;
    }
    2.0 * (1.0 / (1.0 + (5.0 * y).exp())) - 1.0
}

/// Rows with an index below this are probationary (never scored).
fn probation_length(rows: usize) -> f64 {
    (PROBATION_PERCENT * rows as f64)
        .floor()
        .min(PROBATION_PERCENT * 5000.0)
}

/// One data file's rows against its windows.
#[derive(Debug, Clone)]
pub struct FileSweep {
    pub file: String,
    pub rows: usize,
    pub windows: usize,
    /// PROBATION, OUTSIDE, or the window index a row lies in.
    kind: Vec<i64>,
    /// The unweighted scaled-sigmoid value of each row.
    unweighted: Vec<f64>,
}

impl FileSweep {
    pub fn new(file: &str, timestamps: &[i64], windows: &[(i64, i64)]) -> Result<Self, NabError> {
        let mut first: HashMap<i64, usize> = HashMap::new();
        for (i, t) in timestamps.iter().enumerate() {
            first.entry(*t).or_insert(i);
        }
        for (a, b) in windows {
            if !first.contains_key(a) || !first.contains_key(b) {
                return Err(NabError::Data {
                    file: file.to_owned(),
                    message: "a window's start or end is not a timestamp of the data file".into(),
                });
            }
        }
        let rows = timestamps.len();
        let probation = probation_length(rows);
        let mut pending = windows.iter().copied().peekable();
        let mut kind = vec![OUTSIDE; rows];
        let mut unweighted = vec![0.0; rows];
        // (window index, right row, width)
        let mut current: Option<(usize, usize, f64)> = None;
        let mut previous: Option<(usize, f64)> = None;
        let mut next_window = 0;
        for (i, t) in timestamps.iter().enumerate() {
            if let Some((a, b)) = pending.peek().copied()
                && *t == a
            {
                pending.next();
                let right = first[&b];
                current = Some((next_window, right, (right - first[&a] + 1) as f64));
                next_window += 1;
            }
            let k = match (current, previous) {
                (Some((window, right, width)), _) => {
                    unweighted[i] = scaled_sigmoid(-((right as f64) - i as f64 + 1.0) / width);
                    window as i64
                }
                (None, None) => {
                    unweighted[i] = -1.0;
                    OUTSIDE
                }
                (None, Some((right, width))) => {
                    unweighted[i] =
                        scaled_sigmoid(((right as f64) - i as f64).abs() / (width - 1.0));
                    OUTSIDE
                }
            };
            kind[i] = if (i as f64) >= probation {
                k
            } else {
                PROBATION
            };
            if let Some((window, _, width)) = current
                && *t == windows[window].1
            {
                previous = Some((i, width));
                current = None;
            }
        }
        Ok(Self {
            file: file.to_owned(),
            rows,
            windows: windows.len(),
            kind,
            unweighted,
        })
    }
}

/// The scorable rows of several files, in file order: (score, weighted sweep
/// value, global window id or −1).
fn scorable(
    sweeps: &[&FileSweep],
    scores: &[&[f64]],
    cm: &CostMatrix,
) -> (Vec<f64>, Vec<f64>, Vec<i64>) {
    let max_tp = scaled_sigmoid(-1.0);
    let (mut s_out, mut w_out, mut k_out) = (Vec::new(), Vec::new(), Vec::new());
    let mut base = 0_i64;
    for (sweep, file_scores) in sweeps.iter().zip(scores) {
        for ((score, u), k) in file_scores.iter().zip(&sweep.unweighted).zip(&sweep.kind) {
            if *k == PROBATION {
                continue;
            }
            s_out.push(*score);
            if *k >= 0 {
                w_out.push(u * cm.tp_weight / max_tp);
                k_out.push(base + k);
            } else {
                w_out.push(u * cm.fp_weight);
                k_out.push(-1);
            }
        }
        base += sweep.windows as i64;
    }
    (s_out, w_out, k_out)
}

/// Row indices by score, highest first, ties in row order (Python's stable
/// `sorted(..., reverse=True)`).
fn descending(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    order
}

/// Windows in order of first appearance among the sorted rows.
fn window_order(order: &[usize], kinds: &[i64]) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    order
        .iter()
        .map(|j| kinds[*j])
        .filter(|k| *k >= 0 && seen.insert(*k))
        .collect()
}

/// NAB's total: the FP sum first, then each window's value in first-seen
/// order, added left to right.
fn exact_total(fp_sum: f64, order: &[i64], values: &HashMap<i64, f64>) -> f64 {
    let mut total = 0.0 + fp_sum;
    for w in order {
        total += values[w];
    }
    total
}

/// Counts and raw score at one threshold (or the optimised one).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Totals {
    pub raw: f64,
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
    pub windows_detected: usize,
    pub threshold: f64,
}

/// The threshold that maximises the summed raw score over the set
/// (highest threshold on ties).
fn optimize_threshold(s: &[f64], w: &[f64], k: &[i64], cm: &CostMatrix) -> f64 {
    let n = s.len();
    let order = descending(s);
    let windows = window_order(&order, k);
    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut current = if s.is_empty() || max < NO_DETECTION_THRESHOLD {
        NO_DETECTION_THRESHOLD
    } else {
        max + 1.0
    };
    let (mut labels, mut cuts, mut approx) = (Vec::new(), Vec::new(), Vec::new());
    let mut fp_sum = 0.0;
    let mut values: HashMap<i64, f64> = windows.iter().map(|w| (*w, -cm.fn_weight)).collect();
    let mut window_total = -cm.fn_weight * windows.len() as f64;
    for (pos, j) in order.iter().enumerate() {
        if s[*j] != current {
            labels.push(current);
            cuts.push(pos);
            approx.push(fp_sum + window_total);
            current = s[*j];
        }
        if k[*j] < 0 {
            fp_sum += w[*j];
        } else if w[*j] > values[&k[*j]] {
            window_total += w[*j] - values[&k[*j]];
            values.insert(k[*j], w[*j]);
        }
    }
    labels.push(current);
    cuts.push(n);
    approx.push(fp_sum + window_total);

    let best_approx = approx.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let candidates: Vec<usize> = (0..approx.len())
        .filter(|c| approx[*c] >= best_approx - 1e-7)
        .collect();
    let mut fp_sum = 0.0;
    let mut values: HashMap<i64, f64> = windows.iter().map(|w| (*w, -cm.fn_weight)).collect();
    let mut pos = 0;
    let mut best: Option<(f64, usize)> = None;
    for c in candidates {
        while pos < cuts[c] {
            let j = order[pos];
            if k[j] < 0 {
                fp_sum += w[j];
            } else if w[j] > values[&k[j]] {
                values.insert(k[j], w[j]);
            }
            pos += 1;
        }
        let exact = exact_total(fp_sum, &windows, &values);
        // Strictly greater: the first (highest) threshold wins ties.
        if best.is_none_or(|(b, _)| exact > b) {
            best = Some((exact, c));
        }
    }
    best.map_or(NO_DETECTION_THRESHOLD, |(_, c)| labels[c])
}

fn score_file_at(sweep: &FileSweep, scores: &[f64], cm: &CostMatrix, threshold: f64) -> Totals {
    let (s, w, k) = scorable(&[sweep], &[scores], cm);
    let order = descending(&s);
    let windows = window_order(&order, &k);
    let mut values: HashMap<i64, f64> = windows.iter().map(|w| (*w, -cm.fn_weight)).collect();
    let mut hit = std::collections::HashSet::new();
    let (mut fp_sum, mut tp, mut fp) = (0.0, 0, 0);
    if threshold != NO_DETECTION_THRESHOLD {
        for j in order {
            if s[j] < threshold {
                break;
            }
            if k[j] < 0 {
                fp += 1;
                fp_sum += w[j];
            } else {
                tp += 1;
                hit.insert(k[j]);
                if w[j] > values[&k[j]] {
                    values.insert(k[j], w[j]);
                }
            }
        }
    }
    let inside = k.iter().filter(|k| **k >= 0).count();
    Totals {
        raw: exact_total(fp_sum, &windows, &values),
        tp,
        fp,
        fn_: inside - tp,
        tn: (s.len() - inside) - fp,
        windows_detected: hit.len(),
        threshold,
    }
}

/// Optimises the threshold over the files (unless given), scores each file at
/// it and sums, as NAB's optimizer and scorer do.
pub fn score_corpus(
    sweeps: &[&FileSweep],
    scores: &[&[f64]],
    cm: &CostMatrix,
    threshold: Option<f64>,
) -> Totals {
    let threshold = threshold.unwrap_or_else(|| {
        let (s, w, k) = scorable(sweeps, scores, cm);
        optimize_threshold(&s, &w, &k, cm)
    });
    let mut total = Totals {
        threshold,
        ..Totals::default()
    };
    for (sweep, file_scores) in sweeps.iter().zip(scores) {
        let file = score_file_at(sweep, file_scores, cm, threshold);
        total.raw += file.raw;
        total.tp += file.tp;
        total.fp += file.fp;
        total.fn_ += file.fn_;
        total.tn += file.tn;
        total.windows_detected += file.windows_detected;
    }
    total
}

/// One profile's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ProfileScore {
    pub profile: String,
    /// 100·(raw − null)/(perfect − null).
    pub score: f64,
    pub null_raw: f64,
    pub perfect_raw: f64,
    pub windows: usize,
    pub totals: Totals,
}

/// Scores a detector's outputs on every profile, beside the null baseline.
pub fn evaluate(sweeps: &[&FileSweep], scores: &[&[f64]]) -> Vec<ProfileScore> {
    let windows: usize = sweeps.iter().map(|s| s.windows).sum();
    let constant: Vec<Vec<f64>> = sweeps.iter().map(|s| vec![NULL_SCORE; s.rows]).collect();
    let constant: Vec<&[f64]> = constant.iter().map(Vec::as_slice).collect();
    PROFILES
        .iter()
        .map(|(name, cm)| {
            let totals = score_corpus(sweeps, scores, cm, None);
            let null_raw = score_corpus(sweeps, &constant, cm, None).raw;
            let perfect_raw = windows as f64 * cm.tp_weight;
            let score = if perfect_raw == null_raw {
                f64::NAN
            } else {
                100.0 * (totals.raw - null_raw) / (perfect_raw - null_raw)
            };
            ProfileScore {
                profile: (*name).to_owned(),
                score,
                null_raw,
                perfect_raw,
                windows,
                totals,
            }
        })
        .collect()
}

/// Reads a CSV's `timestamp` column (NAB data) or `anomaly_score` column
/// (detector output) by header name.
pub fn read_column(path: &Path, column: &str) -> Result<Vec<String>, NabError> {
    let fail = |message: String| NabError::File {
        path: path.to_owned(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| fail(e.to_string()))?;
    let headers = reader.headers().map_err(|e| fail(e.to_string()))?.clone();
    let index = headers.iter().position(|h| h == column).ok_or_else(|| {
        fail(format!(
            "no `{column}` column (header: {})",
            headers.iter().collect::<Vec<_>>().join(",")
        ))
    })?;
    reader
        .records()
        .map(|r| {
            r.map_err(|e| fail(e.to_string())).and_then(|r| {
                r.get(index)
                    .map(str::to_owned)
                    .ok_or_else(|| fail("short row".into()))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_with_and_without_fractions() {
        let plain = parse_nab_timestamp("2014-04-10 07:15:00").expect("plain");
        assert_eq!(
            parse_nab_timestamp("2014-04-10 07:15:00.000000"),
            Some(plain)
        );
        assert_eq!(
            parse_nab_timestamp("2014-04-10T07:15:00.5"),
            Some(plain + 500_000)
        );
        assert!(parse_nab_timestamp("yesterday").is_none());
    }

    #[test]
    fn a_perfect_detector_scores_100_and_the_null_detector_0() {
        let ts: Vec<i64> = (0..1000).map(|i| i * 60_000_000).collect();
        let windows = [(ts[600], ts[649]), (ts[800], ts[849])];
        let sweep = FileSweep::new("f.csv", &ts, &windows).expect("sweep");
        assert_eq!(sweep.kind.iter().filter(|k| **k == PROBATION).count(), 150);
        // Fires at each window's first row only.
        let mut perfect = vec![0.0; 1000];
        perfect[600] = 1.0;
        perfect[800] = 1.0;
        let results = evaluate(&[&sweep], &[&perfect]);
        let standard = &results[0];
        assert_eq!(standard.profile, "standard");
        assert!((standard.score - 100.0).abs() < 0.5, "{standard:?}");
        assert_eq!(standard.totals.windows_detected, 2);
        let null = vec![NULL_SCORE; 1000];
        let results = evaluate(&[&sweep], &[&null]);
        assert!(results.iter().all(|r| r.score.abs() < 1e-9), "{results:?}");
    }
}
