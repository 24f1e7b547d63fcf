//! The online detector's state over live data: one [`SeriesStream`] per
//! series, fed only the rows it has not seen, so a refresh costs new rows ×
//! series however long the window. A series that joins starts its own
//! probation; one that leaves the window is forgotten. The state can be
//! saved to a file and read back (atomically, as vmanomaly's
//! `restore_state`), so a restarted daemon goes on where it stopped: no
//! series back on probation, no row judged twice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::DetectionMethod;
use crate::data::MetricFrame;
use crate::detect::online::{PeerDetector, SeriesStream};

use super::fuse::OnlineScores;
use super::score_trail::ScoreTrail;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Tracked {
    stream: SeriesStream,
    /// The newest row fed.
    last_ms: i64,
    /// (row time, row likelihood) of the rows still in the window.
    scores: ScoreTrail,
}

/// Why the state could not be saved or read back.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot write the detector state to {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the detector state {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a PulseWatch detector state file (formats {OLDEST_STATE_FORMAT} to {STATE_FORMAT}): {detail}; starting afresh", .path.display())]
    Format { path: PathBuf, detail: String },
    #[error(
        "{}: saved for detection.method {saved_method} with a probation of {saved_probation} \
         rows, but this run uses {method} and {probation}; starting afresh",
        .path.display()
    )]
    Settings {
        path: PathBuf,
        saved_method: String,
        saved_probation: usize,
        method: String,
        probation: usize,
    },
}

/// The state file's format; a file of another one is not read.
/// 2: the contextual detector's memory as flat arrays (format 1 kept its
/// indexes as maps; still read).
const STATE_FORMAT: u32 = 2;
/// The oldest format still read.
const OLDEST_STATE_FORMAT: u32 = 1;

/// What a state file holds: written from the state as it is (borrowed,
/// `StateFile<&…>`), read into owned maps.
#[derive(serde::Serialize, serde::Deserialize)]
struct StateFile<
    S = HashMap<String, Tracked>,
    P = HashMap<String, PeerDetector>,
    L = HashMap<String, i64>,
> {
    format: u32,
    method: DetectionMethod,
    probation: usize,
    saved_at_ms: i64,
    /// The newest row whose marks were read into events.
    judged_until_ms: Option<i64>,
    series: S,
    peers: P,
    peer_last_ms: L,
}

/// A state read back from its file.
#[derive(Debug)]
pub struct Restored {
    pub state: OnlineState,
    pub judged_until_ms: Option<i64>,
    pub saved_at_ms: i64,
}

/// Every followed series' stream, and each metric's peer detector.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OnlineState {
    method: DetectionMethod,
    probation: usize,
    series: HashMap<String, Tracked>,
    /// Each metric's peer detector (the ensemble, over a fleet) and the
    /// newest row it has judged.
    peers: HashMap<String, PeerDetector>,
    peer_last_ms: HashMap<String, i64>,
}

impl OnlineState {
    /// Streams for `method`, each series' first `probation` rows its
    /// probation.
    pub fn new(method: DetectionMethod, probation: usize) -> Self {
        Self {
            method,
            probation,
            series: HashMap::new(),
            peers: HashMap::new(),
            peer_last_ms: HashMap::new(),
        }
    }

    /// Series followed.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Writes the state to `path` atomically (a crash leaves the old file).
    pub fn save(
        &self,
        path: &Path,
        judged_until_ms: Option<i64>,
        saved_at_ms: i64,
    ) -> Result<(), StateError> {
        let write_error = |source| StateError::Write {
            path: path.to_owned(),
            source,
        };
        // Serialized from the state itself, straight into the file: a copy
        // of every series' detectors (or the whole file in memory) would
        // double the daemon's memory at each save on a large fleet.
        let file = StateFile {
            format: STATE_FORMAT,
            method: self.method,
            probation: self.probation,
            saved_at_ms,
            judged_until_ms,
            series: &self.series,
            peers: &self.peers,
            peer_last_ms: &self.peer_last_ms,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_error)?;
        }
        crate::fsutil::write_atomic_with(path, |out| {
            ciborium::into_writer(&file, out).map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(write_error)
    }

    /// Reads a state saved for the same `method` and `probation` (None:
    /// no file yet).
    pub fn load(
        path: &Path,
        method: DetectionMethod,
        probation: usize,
    ) -> Result<Option<Restored>, StateError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let file: StateFile =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| StateError::Format {
                path: path.to_owned(),
                detail: e.to_string(),
            })?;
        if !(OLDEST_STATE_FORMAT..=STATE_FORMAT).contains(&file.format) {
            return Err(StateError::Format {
                path: path.to_owned(),
                detail: format!("format {}", file.format),
            });
        }
        if file.method != method || file.probation != probation {
            return Err(StateError::Settings {
                path: path.to_owned(),
                saved_method: file.method.key().to_owned(),
                saved_probation: file.probation,
                method: method.key().to_owned(),
                probation,
            });
        }
        Ok(Some(Restored {
            state: OnlineState {
                method,
                probation,
                series: file.series,
                peers: file.peers,
                peer_last_ms: file.peer_last_ms,
            },
            judged_until_ms: file.judged_until_ms,
            saved_at_ms: file.saved_at_ms,
        }))
    }

    /// Series still in their probation.
    pub fn in_probation(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .series
            .iter()
            .filter(|(_, t)| t.stream.in_probation())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        names
    }

    /// Feeds each series of `frame` the rows newer than it has seen (a new
    /// series: all of its rows), forgets series no longer in the frame, and
    /// returns the frame's scores ([`OnlineState::feed`], then
    /// [`OnlineState::scores`]).
    pub fn update(&mut self, frame: &MetricFrame) -> OnlineScores {
        self.feed(frame);
        self.scores(frame)
    }

    /// Feeds each series of `frame` the rows newer than it has seen (a new
    /// series: all of its rows) and forgets series no longer in the frame.
    /// Series are split over the machine's cores (each series' stream is
    /// its own). The scores stay in the streams: a monitor reads them with
    /// [`OnlineState::scores`] when it judges, rather than keeping a second
    /// copy of every series' window of them.
    pub fn feed(&mut self, frame: &MetricFrame) {
        let columns: HashMap<&str, usize> = frame
            .names()
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        self.series
            .retain(|name, _| columns.contains_key(name.as_str()));
        for name in frame.names() {
            if !self.series.contains_key(name) {
                let tracked = Tracked {
                    stream: SeriesStream::new(self.method, self.probation),
                    last_ms: i64::MIN,
                    scores: ScoreTrail::default(),
                };
                self.series.insert(name.clone(), tracked);
            }
        }
        let peer_rows = self.judge_peers(frame);
        let mut work: Vec<(usize, &mut Tracked)> = self
            .series
            .iter_mut()
            .filter_map(|(name, tracked)| columns.get(name.as_str()).map(|c| (*c, tracked)))
            .collect();
        work.sort_by_key(|(c, _)| *c);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(work.len() / MIN_SERIES_PER_THREAD)
            .max(1);
        let per_thread = work.len().div_ceil(threads).max(1);
        if threads == 1 {
            feed_all(&mut work, frame, &peer_rows);
            return;
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .chunks_mut(per_thread)
                .enumerate()
                .map(|(i, part)| {
                    std::thread::Builder::new()
                        .name(format!("online-{i}"))
                        .spawn_scoped(scope, || feed_all(part, frame, &peer_rows))
                })
                .collect();
            // A thread that could not start, or a stream that panicked (a
            // bug), leaves its series short of these rows (they score 0; a
            // series keeps the scores of the rows it was fed before) rather
            // than taking the monitor down.
            for handle in handles.into_iter().flatten() {
                let _ = handle.join();
            }
        });
    }

    /// Each followed series' row likelihoods aligned to `frame`'s rows (0 on
    /// a row it has not scored; None for a column it does not follow).
    pub fn scores(&self, frame: &MetricFrame) -> OnlineScores {
        let timestamps = frame.timestamps_ms();
        // One thread: on two cores, spreading the copies measured slower
        // (allocations in the helpers' arenas, freed on this thread).
        let likelihoods = frame
            .names()
            .iter()
            .map(|name| self.series.get(name).map(|t| t.aligned(timestamps)))
            .collect();
        OnlineScores {
            first_ms: timestamps.first().copied(),
            rows: frame.len(),
            likelihoods,
        }
    }
}

impl OnlineState {
    /// Calls `each(row, likelihood)` for each row of `timestamps` that
    /// series `name` has scored (what [`OnlineState::scores`] aligns,
    /// without the copy). Nothing when it does not follow `name`.
    pub fn for_each_aligned(&self, name: &str, timestamps: &[i64], each: impl FnMut(usize, f64)) {
        if let Some(tracked) = self.series.get(name) {
            tracked.each_aligned(timestamps, each);
        }
    }
}

/// Feeds every series of `part` its new rows of `frame` (with their peer
/// likelihoods, where the metric has peers).
fn feed_all(part: &mut [(usize, &mut Tracked)], frame: &MetricFrame, peers: &[Option<Vec<f64>>]) {
    for (c, tracked) in part.iter_mut() {
        let peer = peers.get(*c).and_then(|p| p.as_deref());
        tracked.feed(frame.timestamps_ms(), &frame.columns()[*c], peer);
    }
}

impl OnlineState {
    /// The peer detector (the ensemble's, over metrics with enough
    /// entities) on the rows each metric's detector has not judged: per
    /// column, likelihoods aligned to the frame (0 on older rows).
    fn judge_peers(&mut self, frame: &MetricFrame) -> Vec<Option<Vec<f64>>> {
        if self.method != DetectionMethod::Ensemble {
            return vec![None; frame.names().len()];
        }
        let timestamps = frame.timestamps_ms();
        let last = &self.peer_last_ms;
        let rows = crate::detect::online::peer_likelihoods_from(frame, &mut self.peers, |metric| {
            let last_ms = last.get(metric).copied().unwrap_or(i64::MIN);
            timestamps.partition_point(|ms| *ms <= last_ms)
        });
        let newest = timestamps.last().copied().unwrap_or(i64::MIN);
        for metric in self.peers.keys() {
            let last_ms = self.peer_last_ms.entry(metric.clone()).or_insert(newest);
            *last_ms = (*last_ms).max(newest);
        }
        rows
    }
}

/// Below this many series per thread, splitting costs more than it saves.
const MIN_SERIES_PER_THREAD: usize = 32;

impl Tracked {
    /// Feeds the rows of `values` newer than the last fed and drops scores
    /// older than the frame.
    fn feed(&mut self, timestamps: &[i64], values: &[f64], peer: Option<&[f64]>) {
        let first_ms = timestamps.first().copied().unwrap_or(i64::MAX);
        let from = timestamps.partition_point(|ms| *ms <= self.last_ms);
        for row in from..timestamps.len() {
            // A live series is judged only after its probation (the first
            // fetch's warm-up usually holds it): its own detectors stand on
            // too few rows before, and its first hours rarely show its whole
            // range. Its peers judge it from the start.
            let value = values[row];
            let in_probation = self.stream.in_probation();
            // A series starts at its first value: the rows of the frame
            // before it (a host that joined later) are not its rows and do
            // not count towards its probation.
            let started = self.stream.rows() > 0 || value.is_finite();
            let own = if started {
                self.stream.push(value)
            } else {
                0.0
            };
            let own = if in_probation { 0.0 } else { own };
            let l = own.max(peer.map_or(0.0, |p| p[row]));
            self.scores.push(timestamps[row], l);
            self.last_ms = timestamps[row];
        }
        self.scores.drop_before(first_ms);
    }

    /// The scores aligned to `timestamps` (a row the series never had
    /// scores 0).
    fn aligned(&self, timestamps: &[i64]) -> Vec<f64> {
        let mut aligned = vec![0.0; timestamps.len()];
        self.each_aligned(timestamps, |row, l| aligned[row] = l);
        aligned
    }

    /// Calls `each(row, likelihood)` for each row of `timestamps` the
    /// series has a score for, in order.
    fn each_aligned(&self, timestamps: &[i64], mut each: impl FnMut(usize, f64)) {
        let mut row = 0;
        for (at, l) in self.scores.iter() {
            while timestamps.get(row).is_some_and(|ms| *ms < at) {
                row += 1;
            }
            match timestamps.get(row) {
                Some(ms) if *ms == at => {
                    each(row, l);
                    row += 1;
                }
                Some(_) => {}
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::online::method_row_likelihoods;

    type Column<'a> = (&'a str, fn(usize) -> f64);

    fn frame(start: usize, rows: usize, columns: &[Column]) -> MetricFrame {
        MetricFrame::new(
            (start..start + rows).map(|i| i as i64 * 1000).collect(),
            columns.iter().map(|(n, _)| (*n).to_owned()).collect(),
            columns
                .iter()
                .map(|(_, f)| (start..start + rows).map(f).collect())
                .collect(),
            None,
        )
        .expect("frame")
    }

    /// A sliding window, fed a few rows at a time, scores each row as the
    /// batch pass over the whole series does; a series that joins later
    /// starts its own probation.
    #[test]
    fn sliding_windows_score_as_one_batch_pass() {
        fn wave(i: usize) -> f64 {
            (i as f64 * 0.3).sin() * 10.0 + if i == 700 { 60.0 } else { 0.0 }
        }
        fn other(i: usize) -> f64 {
            (i % 7) as f64
        }
        let method = DetectionMethod::Ensemble;
        let mut state = OnlineState::new(method, 40);
        let window = 200;
        let mut end = window;
        let mut last = None;
        let mut b_start = None;
        while end <= 1000 {
            let start = end - window;
            let f = if end >= 500 {
                b_start.get_or_insert(start);
                frame(start, window, &[("a", wave), ("b", other)])
            } else {
                frame(start, window, &[("a", wave)])
            };
            last = Some((state.update(&f), start));
            end += 7;
        }
        let (scores, start) = last.expect("ran");
        let all: Vec<f64> = (0..start + window).map(wave).collect();
        let batch = method_row_likelihoods(method, &all, 40, None).expect("scores");
        let a = scores.likelihoods[0].as_ref().expect("a");
        for (row, l) in a.iter().enumerate() {
            assert!((l - batch[start + row]).abs() <= 1e-12, "row {row}");
        }
        // b joined later: its rows from there are its own series.
        let b_start = b_start.expect("b joined");
        let b_all: Vec<f64> = (b_start..start + window).map(other).collect();
        let b_batch = method_row_likelihoods(method, &b_all, 40, None).expect("scores");
        let b = scores.likelihoods[1].as_ref().expect("b");
        for (row, l) in b.iter().enumerate() {
            assert!(
                (l - b_batch[start - b_start + row]).abs() <= 1e-12,
                "b row {row}"
            );
        }
        assert!(state.in_probation().is_empty());
        // Gone from the frame: forgotten.
        state.update(&frame(1000, 10, &[("b", other)]));
        assert_eq!(state.series.len(), 1);
    }

    /// Over a fleet, the ensemble's scores are the series' own detectors
    /// and the peer detector together, fed a sliding window as in one pass.
    #[test]
    fn a_fleet_is_judged_against_its_peers_as_in_one_pass() {
        let hosts = 6;
        let value = |h: usize, i: usize| -> f64 {
            let base = 10.0 + 3.0 * h as f64 + ((i * (h + 3)) % 11) as f64 * 0.1;
            if h == 4 && i == 520 { 500.0 } else { base }
        };
        let names: Vec<String> = (0..hosts)
            .map(|h| format!("cpu{{instance=\"h{h}\"}}"))
            .collect();
        let make = |start: usize, rows: usize| {
            MetricFrame::new(
                (start..start + rows).map(|i| i as i64 * 1000).collect(),
                names.clone(),
                (0..hosts)
                    .map(|h| (start..start + rows).map(|i| value(h, i)).collect())
                    .collect(),
                None,
            )
            .expect("frame")
        };
        let method = DetectionMethod::Ensemble;
        let mut state = OnlineState::new(method, 30);
        let mut last = None;
        for end in (150..=600).step_by(9) {
            last = Some((state.update(&make(end - 150, 150)), end - 150));
        }
        let (scores, start) = last.expect("ran");
        let whole = make(0, start + 150);
        let peers = crate::detect::online::peer_likelihoods(&whole);
        for (h, peer) in peers.iter().enumerate() {
            let own = crate::detect::online::method_row_likelihoods(
                method,
                &whole.columns()[h],
                30,
                None,
            )
            .expect("scores");
            let peer = peer.as_ref().expect("six peers");
            let got = scores.likelihoods[h].as_ref().expect("scored");
            for (row, l) in got.iter().enumerate() {
                let expected = own[start + row].max(peer[start + row]);
                assert!((l - expected).abs() <= 1e-12, "host {h}, row {row}");
            }
        }
        // Host 4's jump is its peers' news.
        assert!(peers[4].as_ref().expect("peers")[520] >= 1.0);
    }

    /// Saved and read back, the state goes on exactly as if it had never
    /// stopped; saved for other settings, it is refused with a reason.
    #[test]
    fn a_saved_state_goes_on_where_it_stopped() {
        fn wave(i: usize) -> f64 {
            (i as f64 * 0.21).sin() * 5.0 + if i % 150 == 99 { 30.0 } else { 0.0 }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state").join("online.cbor");
        let method = DetectionMethod::Ensemble;
        let mut running = OnlineState::new(method, 30);
        running.update(&frame(0, 300, &[("a", wave), ("b", wave)]));
        running.save(&path, Some(299_000), 5).expect("save");
        let restored = OnlineState::load(&path, method, 30)
            .expect("load")
            .expect("a file");
        assert_eq!(restored.judged_until_ms, Some(299_000));
        assert_eq!(restored.saved_at_ms, 5);
        let mut back = restored.state;
        assert_eq!(back.len(), 2);
        let next = frame(100, 400, &[("a", wave), ("b", wave)]);
        assert_eq!(back.update(&next), running.update(&next));
        // Other settings: refused, saying why.
        let error = OnlineState::load(&path, DetectionMethod::Robust, 30).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("saved for detection.method ensemble"),
            "{error}"
        );
        assert!(
            OnlineState::load(&dir.path().join("none"), method, 30)
                .expect("ok")
                .is_none()
        );
        std::fs::write(&path, b"not cbor").expect("write");
        let error = OnlineState::load(&path, method, 30).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("not a PulseWatch detector state file"),
            "{error}"
        );
    }
}
