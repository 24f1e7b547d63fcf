//! A generated development set in NAB's layout, in the manner of TimeEval's
//! GutenTAG: labelled series over several bases (sine, daily and weekly
//! seasons, random walk, ECG-like beats, square-wave rhythm, a counter's
//! rate), each with one anomaly of one kind, and clean series of every base.
//! Written as `<out>/data/<category>/<file>.csv` (`timestamp,value`) and
//! `<out>/labels/combined_windows.json`, so `eval nab`, `eval alarms` and
//! `tools/nab_holdout.py` score it as they score NAB, each kind a category.
//! One seed gives the same files on every machine (the generator's numbers
//! come from [`Rng`] only).

use std::collections::BTreeMap;
use std::f64::consts::TAU;
use std::path::{Path, PathBuf};

use crate::data::rng::Rng;

/// Rows per series: 14 days at a 5 minute step (two weekly cycles).
pub const DEVSET_ROWS: usize = 4032;
/// The step between rows.
pub const DEVSET_STEP_SECS: i64 = 300;
/// Rows per day at that step.
const DAY_ROWS: usize = 288;
/// Series per (kind, base) pair; clean series per base.
const SERIES_PER_PAIR: usize = 2;
const CLEAN_PER_BASE: usize = 4;
/// The category of the series without an anomaly.
pub const CLEAN_CATEGORY: &str = "gen-clean";

#[derive(Debug, thiserror::Error)]
pub enum DevsetError {
    #[error("{path}: cannot write the generated set: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a series is made of before any anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Sine,
    Seasons,
    Walk,
    Ecg,
    Square,
    Counter,
}

impl Base {
    pub const ALL: [Base; 6] = [
        Base::Sine,
        Base::Seasons,
        Base::Walk,
        Base::Ecg,
        Base::Square,
        Base::Counter,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Base::Sine => "sine",
            Base::Seasons => "seasons",
            Base::Walk => "walk",
            Base::Ecg => "ecg",
            Base::Square => "square",
            Base::Counter => "counter",
        }
    }

    fn periodic(self) -> bool {
        self != Base::Walk
    }
}

/// The anomaly a series carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One value far outside the range.
    Extremum,
    /// The level moves for a while.
    MeanShift,
    /// The noise grows for a while.
    Variance,
    /// A ramp away from the level, then back.
    Trend,
    /// The cycle runs faster for a while.
    Frequency,
    /// The cycle keeps its period and range but changes its shape.
    Pattern,
    /// The value sticks (a stuck sensor, a stalled exporter).
    Flat,
    /// The cycle stops: level and noise only.
    MissingSeason,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Extremum,
        Kind::MeanShift,
        Kind::Variance,
        Kind::Trend,
        Kind::Frequency,
        Kind::Pattern,
        Kind::Flat,
        Kind::MissingSeason,
    ];

    pub fn category(self) -> &'static str {
        match self {
            Kind::Extremum => "gen-extremum",
            Kind::MeanShift => "gen-mean-shift",
            Kind::Variance => "gen-variance",
            Kind::Trend => "gen-trend",
            Kind::Frequency => "gen-frequency",
            Kind::Pattern => "gen-pattern",
            Kind::Flat => "gen-flat",
            Kind::MissingSeason => "gen-missing-season",
        }
    }

    /// Whether the kind means anything on `base` (a random walk has no
    /// cycle to speed up, reshape or lose).
    pub fn applies_to(self, base: Base) -> bool {
        match self {
            Kind::Frequency | Kind::Pattern | Kind::MissingSeason => base.periodic(),
            _ => true,
        }
    }
}

/// One generated series: its values and the anomaly's rows, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub values: Vec<f64>,
    pub anomaly: Option<std::ops::Range<usize>>,
}

/// An anomaly placed on a series: rows and strength.
#[derive(Debug, Clone)]
struct Placed {
    kind: Kind,
    rows: std::ops::Range<usize>,
    /// ±1: up or down, faster or slower.
    sign: f64,
    /// Strength in the kind's unit (see [`generate`]).
    size: f64,
}

impl Placed {
    fn covers(&self, row: usize) -> bool {
        self.rows.contains(&row)
    }
}

/// A base's shape at cycle phase `phase` (in cycles), in [-1, 1] roughly;
/// `alternate` is its shape under a pattern anomaly (same period, same
/// range, another form).
fn shape(base: Base, phase: f64, duty: f64, alternate: bool) -> f64 {
    let p = phase.rem_euclid(1.0);
    let bump = |centre: f64, width: f64| (-((p - centre) / width).powi(2)).exp();
    match (base, alternate) {
        (Base::Sine, false) => (TAU * p).sin(),
        // A square wave of the sine's period and range.
        (Base::Sine, true) => (TAU * p).sin().signum() * 0.9,
        // A working day: up in the morning, down in the evening.
        (Base::Seasons, false) => -(TAU * p).cos(),
        // The day runs six hours late.
        (Base::Seasons, true) => -(TAU * (p - 0.25)).cos(),
        // P wave, QRS complex, T wave.
        (Base::Ecg, false) => {
            0.15 * bump(0.15, 0.03) - 0.2 * bump(0.28, 0.008) + bump(0.3, 0.01)
                - 0.25 * bump(0.32, 0.008)
                + 0.3 * bump(0.55, 0.05)
        }
        // The T wave inverted and the P wave gone.
        (Base::Ecg, true) => {
            -0.2 * bump(0.28, 0.008) + bump(0.3, 0.01)
                - 0.25 * bump(0.32, 0.008)
                - 0.3 * bump(0.55, 0.05)
        }
        (Base::Square, false) => {
            if p < duty {
                1.0
            } else {
                -1.0
            }
        }
        // Short pulses instead of the usual duty.
        (Base::Square, true) => {
            if p < duty / 3.0 {
                1.0
            } else {
                -1.0
            }
        }
        (Base::Counter, false) => (TAU * p).sin(),
        (Base::Counter, true) => (TAU * 2.0 * p).sin(),
        (Base::Walk, _) => 0.0,
    }
}

/// A Poisson draw (Knuth's method for small means, normal beyond).
fn poisson(rng: &mut Rng, mean: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean > 30.0 {
        return (mean + mean.sqrt() * rng.normal()).round().max(0.0);
    }
    let limit = (-mean).exp();
    let (mut k, mut product) = (0.0, rng.uniform());
    while product > limit {
        k += 1.0;
        product *= rng.uniform();
    }
    k
}

/// One series of `base` with `kind`'s anomaly (None: clean), from `seed`.
///
/// Sizes, fixed up front so that each anomaly is plain to a person looking
/// at the plot (GutenTAG's defaults are of the same order): an extremum
/// lies 4–6 of the clean series' standard deviations from the value it
/// replaces; a mean shift moves the level by 0.6–1.2 of them, a trend ramps
/// to 1.5–2.5 of them; the noise grows 4–6×; the cycle runs 1.8–2.5× faster
/// (or that much slower); patterns, flat lines and a missing season keep
/// the values inside the series' range. An anomaly lasts one row
/// (extremum) or one to two cycles (at least 60 rows, a random walk's
/// 100–300 rows) and starts between 30 % and 85 % of the rows, after NAB's
/// 15 % probation and with normal rows before it.
pub fn generate(base: Base, kind: Option<Kind>, seed: u64) -> Series {
    let mut rng = Rng::new(seed);
    // The anomaly is placed from its own stream, so a series with an
    // anomaly and the clean one of the same seed share base and noise.
    let mut place_rng = Rng::new(seed ^ 0x5EED_A40D);
    let n = DEVSET_ROWS;
    let period = match base {
        Base::Sine => [48, 96, 144, 288][rng.below(4)],
        Base::Seasons | Base::Counter => DAY_ROWS,
        Base::Ecg => 40 + rng.below(41),
        Base::Square => [24, 48, 72][rng.below(3)],
        Base::Walk => 0,
    };
    let duty = 0.3 + 0.3 * rng.uniform();
    let noise = 0.05 + 0.1 * rng.uniform();
    let level = 10.0 + 90.0 * rng.uniform();
    let amplitude = level * (0.2 + 0.3 * rng.uniform());
    let placed = kind.map(|kind| {
        let length = match (kind, base) {
            (Kind::Extremum, _) => 1,
            (_, Base::Walk) => 100 + place_rng.below(201),
            _ => (period + place_rng.below(period + 1)).max(60),
        };
        let earliest = (n as f64 * 0.30) as usize;
        let latest = ((n as f64 * 0.85) as usize).saturating_sub(length);
        let start = earliest + place_rng.below(latest.saturating_sub(earliest).max(1));
        let sign = if place_rng.uniform() < 0.5 { -1.0 } else { 1.0 };
        let size = match kind {
            Kind::Extremum => 4.0 + 2.0 * place_rng.uniform(),
            Kind::MeanShift => 0.6 + 0.6 * place_rng.uniform(),
            Kind::Trend => 1.5 + place_rng.uniform(),
            Kind::Variance => 4.0 + 2.0 * place_rng.uniform(),
            Kind::Frequency => 1.8 + 0.7 * place_rng.uniform(),
            Kind::Pattern | Kind::Flat | Kind::MissingSeason => 0.0,
        };
        Placed {
            kind,
            rows: start..start + length,
            sign,
            size,
        }
    });
    let active = |row: usize, wanted: Kind| {
        placed
            .as_ref()
            .is_some_and(|p| p.kind == wanted && p.covers(row))
    };
    // The clean shape first (with the cycle-level anomalies, which change
    // how the cycle runs), then the noise and the value-level anomalies.
    let mut phase = 0.0;
    let mut walk = 0.0;
    let mut clean = Vec::with_capacity(n);
    for row in 0..n {
        let rate = if active(row, Kind::Frequency) {
            let factor = placed.as_ref().map_or(1.0, |p| p.size);
            if placed.as_ref().is_some_and(|p| p.sign > 0.0) {
                factor
            } else {
                1.0 / factor
            }
        } else {
            1.0
        };
        if period > 0 {
            phase += rate / period as f64;
        }
        let cycle = if active(row, Kind::MissingSeason) {
            0.0
        } else {
            shape(base, phase, duty, active(row, Kind::Pattern))
        };
        let value = match base {
            Base::Walk => {
                // Mean-reverting, so that two weeks stay in one range.
                walk = 0.995 * walk + 0.1 * rng.normal();
                level + amplitude * walk
            }
            Base::Seasons => {
                // Weekends (days 5 and 6 of a week from Monday) run at 40 %.
                let day = row / DAY_ROWS % 7;
                let week = if day >= 5 { 0.4 } else { 1.0 };
                level + amplitude * week * (0.5 + 0.5 * cycle)
            }
            _ => level + amplitude * cycle,
        };
        clean.push(value);
    }
    let mut values = Vec::with_capacity(n);
    for (row, &shape_value) in clean.iter().enumerate() {
        let spread = if active(row, Kind::Variance) {
            placed.as_ref().map_or(1.0, |p| p.size)
        } else {
            1.0
        };
        let value = match base {
            Base::Counter => {
                let mean = shape_value * 0.2;
                let drawn = poisson(&mut rng, mean);
                (mean + spread * (drawn - mean)).max(0.0).round()
            }
            _ => shape_value + spread * noise * amplitude * rng.normal(),
        };
        values.push(value);
    }
    let sd = {
        let mean = values.iter().sum::<f64>() / n as f64;
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    if let Some(p) = &placed {
        let length = p.rows.len() as f64;
        for (i, row) in p.rows.clone().enumerate() {
            match p.kind {
                Kind::Extremum => values[row] += p.sign * p.size * sd,
                Kind::MeanShift => values[row] += p.sign * p.size * sd,
                Kind::Trend => {
                    // Up (or down) over the first two thirds, back over the rest.
                    let x = i as f64 / length;
                    let ramp = if x < 2.0 / 3.0 {
                        x * 1.5
                    } else {
                        (1.0 - x) * 3.0
                    };
                    values[row] += p.sign * p.size * sd * ramp;
                }
                Kind::Flat => values[row] = values[p.rows.start.saturating_sub(1)],
                _ => {}
            }
        }
    }
    Series {
        values,
        anomaly: placed.map(|p| p.rows),
    }
}

/// `YYYY-MM-DD HH:MM:SS` for `secs` since 1970 (NAB's form).
fn nab_time(secs: i64) -> String {
    let (y, m, d) = crate::data::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Every series the set holds: (category, file name, series), in a fixed
/// order, each from its own seed derived from `seed`.
pub fn devset(seed: u64) -> Vec<(String, String, Series)> {
    let mut out = Vec::new();
    let mut next_seed = {
        let mut rng = Rng::new(seed);
        move || rng.next_u64()
    };
    for kind in Kind::ALL {
        for base in Base::ALL.into_iter().filter(|b| kind.applies_to(*b)) {
            for i in 0..SERIES_PER_PAIR {
                let series = generate(base, Some(kind), next_seed());
                out.push((
                    kind.category().to_owned(),
                    format!("{}-{i}.csv", base.name()),
                    series,
                ));
            }
        }
    }
    for base in Base::ALL {
        for i in 0..CLEAN_PER_BASE {
            let series = generate(base, None, next_seed());
            out.push((
                CLEAN_CATEGORY.to_owned(),
                format!("{}-{i}.csv", base.name()),
                series,
            ));
        }
    }
    out
}

/// NAB's window for an anomaly at `rows` of a series of `n` rows: a tenth
/// of the rows centred on the anomaly's first row (NAB's rule for one
/// anomaly a file), stretched to the anomaly's end where it lasts longer.
pub fn nab_window(rows: &std::ops::Range<usize>, n: usize) -> std::ops::Range<usize> {
    let half = n / 20;
    let start = rows.start.saturating_sub(half);
    let end = (rows.start + half).max(rows.end).min(n);
    start..end
}

/// Writes the set from `seed` under `out` (`data/…`, `labels/…`); returns
/// the number of series written.
pub fn write_devset(out: &Path, seed: u64) -> Result<usize, DevsetError> {
    let write = |path: &Path, text: &str| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| DevsetError::Write {
                path: dir.to_owned(),
                source,
            })?;
        }
        crate::fsutil::write_atomic(path, text.as_bytes()).map_err(|source| DevsetError::Write {
            path: path.to_owned(),
            source,
        })
    };
    // Monday 2026-01-05 00:00 UTC: the seasons' weekends fall on days 5 and 6.
    let first_secs = crate::data::time::days_from_civil(2026, 1, 5) * 86_400;
    let time = |row: usize| nab_time(first_secs + row as i64 * DEVSET_STEP_SECS);
    let mut windows: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let all = devset(seed);
    for (category, file, series) in &all {
        let mut text = String::with_capacity(series.values.len() * 32);
        text.push_str("timestamp,value\n");
        for (row, value) in series.values.iter().enumerate() {
            use std::fmt::Write as _;
            let _ = writeln!(text, "{},{value}", time(row));
        }
        let rel = format!("{category}/{file}");
        write(&out.join("data").join(&rel), &text)?;
        let list = windows.entry(rel).or_default();
        if let Some(rows) = &series.anomaly {
            let window = nab_window(rows, series.values.len());
            list.push((
                format!("{}.000000", time(window.start)),
                format!("{}.000000", time(window.end - 1)),
            ));
        }
    }
    let json = serde_json::to_string_pretty(&windows).unwrap_or_default();
    write(&out.join("labels").join("combined_windows.json"), &json)?;
    Ok(all.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_seed_one_set_and_every_kind_on_its_bases() {
        let a = devset(7);
        let b = devset(7);
        assert_eq!(a, b);
        assert_ne!(a[0].2.values, devset(8)[0].2.values);
        for kind in Kind::ALL {
            let bases = a.iter().filter(|(c, ..)| c == kind.category()).count();
            let expected = Base::ALL.iter().filter(|b| kind.applies_to(**b)).count();
            assert_eq!(bases, expected * SERIES_PER_PAIR, "{kind:?}");
        }
        for (category, file, series) in &a {
            assert_eq!(series.values.len(), DEVSET_ROWS, "{category}/{file}");
            assert!(series.values.iter().all(|v| v.is_finite()));
            match (&series.anomaly, category.as_str()) {
                (None, CLEAN_CATEGORY) => {}
                (Some(rows), _) => {
                    assert!(rows.start >= DEVSET_ROWS * 3 / 10, "{category}/{file}");
                    assert!(rows.end <= DEVSET_ROWS * 85 / 100 + 1, "{category}/{file}");
                }
                other => panic!("{category}/{file}: {other:?}"),
            }
        }
    }

    #[test]
    fn anomalies_change_only_their_rows() {
        // The same seed with and without the anomaly draws the same base
        // and noise: rows outside the anomaly are the clean series' own.
        for kind in [
            Kind::Extremum,
            Kind::MeanShift,
            Kind::Variance,
            Kind::Trend,
            Kind::Pattern,
            Kind::Flat,
            Kind::MissingSeason,
        ] {
            let clean = generate(Base::Sine, None, 5);
            let with = generate(Base::Sine, Some(kind), 5);
            let rows = with.anomaly.clone().expect("placed");
            let changed: Vec<usize> = (0..DEVSET_ROWS)
                .filter(|r| clean.values[*r] != with.values[*r])
                .collect();
            assert!(!changed.is_empty(), "{kind:?} changed nothing");
            assert!(
                changed.iter().all(|r| rows.contains(r)),
                "{kind:?}: rows {:?} outside {rows:?}",
                changed.iter().find(|r| !rows.contains(r))
            );
            let sd = {
                let m = clean.values.iter().sum::<f64>() / DEVSET_ROWS as f64;
                (clean.values.iter().map(|v| (v - m).powi(2)).sum::<f64>() / DEVSET_ROWS as f64)
                    .sqrt()
            };
            let r = rows.start;
            match kind {
                Kind::Extremum => {
                    let jump = (with.values[r] - clean.values[r]).abs();
                    assert!(jump > 3.5 * sd, "{jump} vs sd {sd}");
                }
                Kind::Flat => {
                    let held = with.values[r];
                    assert!(with.values[rows.clone()].iter().all(|v| *v == held));
                    assert_eq!(held, with.values[r - 1]);
                }
                _ => {}
            }
        }
        // A faster cycle moves the phase for good: every row after it differs.
        let clean = generate(Base::Sine, None, 5);
        let faster = generate(Base::Sine, Some(Kind::Frequency), 5);
        let rows = faster.anomaly.clone().expect("placed");
        assert_eq!(&clean.values[..rows.start], &faster.values[..rows.start]);
        assert_ne!(
            clean.values[rows.start + 10],
            faster.values[rows.start + 10]
        );
    }

    #[test]
    fn windows_follow_nab_and_cover_the_anomaly() {
        let n = 4000;
        assert_eq!(nab_window(&(2000..2001), n), 1800..2200);
        assert_eq!(nab_window(&(2000..2500), n), 1800..2500);
        assert_eq!(nab_window(&(100..101), n), 0..300);
        assert_eq!(nab_time(0), "1970-01-01 00:00:00");
        assert_eq!(nab_time(86_400 + 3_723), "1970-01-02 01:02:03");
    }

    #[test]
    fn the_set_is_written_in_nab_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = write_devset(dir.path(), 3).expect("written");
        let text = std::fs::read_to_string(dir.path().join("labels/combined_windows.json"))
            .expect("windows");
        let windows = crate::eval::nab::parse_windows(&text, Path::new("w")).expect("parsed");
        assert_eq!(windows.len(), count);
        let clean: Vec<_> = windows
            .iter()
            .filter(|(k, _)| k.starts_with(CLEAN_CATEGORY))
            .collect();
        assert_eq!(clean.len(), Base::ALL.len() * CLEAN_PER_BASE);
        assert!(clean.iter().all(|(_, w)| w.is_empty()));
        let (rel, list) = windows
            .iter()
            .find(|(k, _)| k.starts_with("gen-flat/"))
            .expect("a flat-line file");
        assert_eq!(list.len(), 1);
        let stamps = crate::eval::nab::read_column(&dir.path().join("data").join(rel), "timestamp")
            .expect("timestamps");
        assert_eq!(stamps.len(), DEVSET_ROWS);
        assert_eq!(stamps[0], "2026-01-05 00:00:00");
        assert_eq!(stamps[1], "2026-01-05 00:05:00");
    }
}
