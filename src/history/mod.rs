//! Anomaly history: an embedded SQLite database in the platform data dir that
//! the app and the daemon share. It owns three tables: anomaly events (start,
//! end, metric, peak score, severity, model version), training runs (when,
//! why, rows, loss, duration, device, outcome) and fetch failures. WAL mode,
//! so one process can write while another reads; every write is its own
//! transaction, so a crash loses at most the write in flight.

pub mod alerts;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, params};

use crate::event::severity;

/// `user_version` of the schema this build writes. Version 2 keeps peak
/// scores on the 0–100 scale (version 1 kept them as shares, 0–1);
/// version 3 adds the alert outbox.
const SCHEMA_VERSION: i64 = 3;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("cannot open the history database {path}: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("cannot create the folder for the history database {path}: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the history database {path} has schema version {found}; this build reads version {SCHEMA_VERSION} (a newer PulseWatch wrote it)"
    )]
    NewerSchema { path: PathBuf, found: i64 },
    #[error("history database {path}: cannot {action}: {source}")]
    Query {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
}

/// The one event type (see [`crate::event`]): the history keeps its peak on
/// the same 0–100 scale as every other place.
pub use crate::event::{AnomalyEvent, EventSource};

/// One training run, successful or not.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainingRun {
    pub id: i64,
    pub started_ms: i64,
    /// Why it ran: "scheduled", "manual", "drift: …".
    pub reason: String,
    pub rows: i64,
    pub final_loss: Option<f64>,
    pub duration_secs: f64,
    pub device: String,
    /// "ok" or "failed".
    pub status: String,
    pub error: Option<String>,
}

/// One failed fetch from Prometheus.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FetchFailure {
    pub id: i64,
    pub at_ms: i64,
    /// A short class ("refused", "timeout", "http", …) for grouping.
    pub reason: String,
    pub message: String,
}

/// An open history database.
pub struct History {
    connection: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

impl History {
    /// Opens (creating if needed) the database at `path`, in WAL mode.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let open_error = |source| HistoryError::Open {
            path: path.to_owned(),
            source,
        };
        let connection = Connection::open(path).map_err(open_error)?;
        // Another process (the app beside the daemon) may hold the write
        // lock for a moment: wait for it rather than fail.
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(open_error)?;
        let mode: String = connection
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(open_error)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_error(rusqlite::Error::InvalidQuery));
        }
        // NORMAL in WAL mode: a committed transaction survives a killed
        // process (the WAL is in the OS's hands); only a power cut may drop
        // the last commits, never corrupt the file.
        connection
            .execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")
            .map_err(open_error)?;
        let history = Self {
            connection,
            path: path.to_owned(),
        };
        history.migrate()?;
        Ok(history)
    }

    fn query_error(&self, action: &'static str) -> impl Fn(rusqlite::Error) -> HistoryError {
        let path = self.path.clone();
        move |source| HistoryError::Query {
            path: path.clone(),
            action,
            source,
        }
    }

    fn migrate(&self) -> Result<(), HistoryError> {
        let version: i64 = self
            .connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(self.query_error("read the schema version"))?;
        if version > SCHEMA_VERSION {
            return Err(HistoryError::NewerSchema {
                path: self.path.clone(),
                found: version,
            });
        }
        if version == SCHEMA_VERSION {
            return Ok(());
        }
        if version == 1 {
            self.connection
                .execute_batch(
                    "BEGIN;
                     UPDATE anomaly_events SET peak_score = peak_score * 100;
                     PRAGMA user_version = 2;
                     COMMIT;",
                )
                .map_err(self.query_error("move peak scores to the 0-100 scale"))?;
        }
        if version == 0 {
            self.connection
                .execute_batch(
                    "BEGIN;
                     CREATE TABLE IF NOT EXISTS anomaly_events (
                         id INTEGER PRIMARY KEY,
                         metric TEXT NOT NULL,
                         start_ms INTEGER NOT NULL,
                         end_ms INTEGER,
                         peak_score REAL NOT NULL,
                         severity TEXT NOT NULL,
                         model_version TEXT NOT NULL
                     );
                     CREATE UNIQUE INDEX IF NOT EXISTS anomaly_events_key
                         ON anomaly_events(metric, start_ms);
                     CREATE TABLE IF NOT EXISTS training_runs (
                         id INTEGER PRIMARY KEY,
                         started_ms INTEGER NOT NULL,
                         reason TEXT NOT NULL,
                         rows INTEGER NOT NULL,
                         final_loss REAL,
                         duration_secs REAL NOT NULL,
                         device TEXT NOT NULL,
                         status TEXT NOT NULL,
                         error TEXT
                     );
                     CREATE TABLE IF NOT EXISTS fetch_failures (
                         id INTEGER PRIMARY KEY,
                         at_ms INTEGER NOT NULL,
                         reason TEXT NOT NULL,
                         message TEXT NOT NULL
                     );
                     PRAGMA user_version = 2;
                     COMMIT;",
                )
                .map_err(self.query_error("create the tables"))?;
        }
        self.connection
            .execute_batch(&format!(
                "BEGIN; {} PRAGMA user_version = 3; COMMIT;",
                alerts::CREATE_TABLES
            ))
            .map_err(self.query_error("create the alert outbox"))
    }

    /// One INSERT in its own transaction; returns the new row's id. The
    /// `history-write` crash point sits between the insert and the commit.
    fn insert(
        &self,
        action: &'static str,
        sql: &str,
        values: impl rusqlite::Params,
    ) -> Result<i64, HistoryError> {
        let error = self.query_error(action);
        let transaction = self.connection.unchecked_transaction().map_err(&error)?;
        transaction.execute(sql, values).map_err(&error)?;
        let id = transaction.last_insert_rowid();
        crate::crashpoint::crash_point("history-write");
        transaction.commit().map_err(&error)?;
        Ok(id)
    }

    /// Records the start of an anomaly event and returns its id. An event of
    /// the same metric and start already there (a restarted process meeting
    /// the same rows again) is the same event: its id comes back, its peak
    /// raised when `score` is higher.
    pub fn start_event(
        &self,
        metric: &str,
        start_ms: i64,
        score: f64,
        model_version: &str,
    ) -> Result<i64, HistoryError> {
        let error = self.query_error("record an anomaly event");
        let transaction = self.connection.unchecked_transaction().map_err(&error)?;
        let id = transaction
            .query_row(
                "INSERT INTO anomaly_events (metric, start_ms, peak_score, severity, model_version)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(metric, start_ms) DO UPDATE SET
                     peak_score = MAX(peak_score, excluded.peak_score),
                     severity = CASE WHEN excluded.peak_score > peak_score
                                     THEN excluded.severity ELSE severity END
                 RETURNING id",
                params![metric, start_ms, score, severity(score), model_version],
                |row| row.get(0),
            )
            .map_err(&error)?;
        crate::crashpoint::crash_point("history-write");
        transaction.commit().map_err(&error)?;
        Ok(id)
    }

    /// Records a whole event (the app, which sees events after the fact);
    /// the same metric and start again updates it (a later end, a higher
    /// peak) instead of adding a copy. Returns its id.
    pub fn upsert_event(&self, event: &AnomalyEvent) -> Result<i64, HistoryError> {
        self.insert(
            "record an anomaly event",
            "INSERT INTO anomaly_events
                 (metric, start_ms, end_ms, peak_score, severity, model_version)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(metric, start_ms) DO UPDATE SET
                 end_ms = MAX(COALESCE(end_ms, excluded.end_ms), excluded.end_ms),
                 peak_score = MAX(peak_score, excluded.peak_score),
                 severity = CASE WHEN excluded.peak_score > peak_score
                                 THEN excluded.severity ELSE severity END",
            params![
                event.metric,
                event.start_ms,
                event.end_ms,
                event.peak_score,
                event.severity(),
                event.model_version
            ],
        )
    }

    /// Events that overlap `[from_ms, to_ms]`, oldest first.
    pub fn events_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AnomalyEvent>, HistoryError> {
        Ok(self
            .events_since(from_ms)?
            .into_iter()
            .filter(|e| e.start_ms <= to_ms)
            .collect())
    }

    /// Raises an open event's peak (and severity) when `score` is higher.
    pub fn raise_peak(&self, id: i64, score: f64) -> Result<(), HistoryError> {
        self.connection
            .execute(
                "UPDATE anomaly_events SET peak_score = ?2, severity = ?3
                 WHERE id = ?1 AND peak_score < ?2",
                params![id, score, severity(score)],
            )
            .map_err(self.query_error("update an anomaly event"))?;
        Ok(())
    }

    /// Closes an event at `end_ms`.
    pub fn end_event(&self, id: i64, end_ms: i64) -> Result<(), HistoryError> {
        self.connection
            .execute(
                "UPDATE anomaly_events SET end_ms = ?2 WHERE id = ?1",
                params![id, end_ms],
            )
            .map_err(self.query_error("close an anomaly event"))?;
        Ok(())
    }

    /// Closes every event still open (after a restart nothing continues
    /// them); returns how many.
    pub fn close_open_events(&self, end_ms: i64) -> Result<usize, HistoryError> {
        self.connection
            .execute(
                "UPDATE anomaly_events SET end_ms = MAX(start_ms, ?1) WHERE end_ms IS NULL",
                params![end_ms],
            )
            .map_err(self.query_error("close open anomaly events"))
    }

    /// Records a training run; returns its id.
    pub fn record_training(&self, run: &TrainingRun) -> Result<i64, HistoryError> {
        self.insert(
            "record a training run",
            "INSERT INTO training_runs
             (started_ms, reason, rows, final_loss, duration_secs, device, status, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run.started_ms,
                run.reason,
                run.rows,
                run.final_loss,
                run.duration_secs,
                run.device,
                run.status,
                run.error
            ],
        )
    }

    /// Records a failed fetch; returns its id.
    pub fn record_fetch_failure(
        &self,
        at_ms: i64,
        reason: &str,
        message: &str,
    ) -> Result<i64, HistoryError> {
        self.insert(
            "record a fetch failure",
            "INSERT INTO fetch_failures (at_ms, reason, message) VALUES (?1, ?2, ?3)",
            params![at_ms, reason, message],
        )
    }

    /// Every row `sql` selects with `values`, each made by `map`.
    fn select<T>(
        &self,
        action: &'static str,
        sql: &str,
        values: impl rusqlite::Params,
        map: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, HistoryError> {
        let error = self.query_error(action);
        let mut statement = self.connection.prepare(sql).map_err(&error)?;
        let rows = statement.query_map(values, map).map_err(&error)?;
        rows.collect::<Result<_, _>>().map_err(&error)
    }

    /// Events that started at or after `since_ms`, or are still open, oldest
    /// first.
    pub fn events_since(&self, since_ms: i64) -> Result<Vec<AnomalyEvent>, HistoryError> {
        self.select(
            "read anomaly events",
            "SELECT id, metric, start_ms, end_ms, peak_score, severity, model_version
             FROM anomaly_events WHERE start_ms >= ?1 OR end_ms IS NULL OR end_ms >= ?1
             ORDER BY start_ms, id",
            params![since_ms],
            |row| {
                Ok(AnomalyEvent {
                    id: row.get(0)?,
                    metric: row.get(1)?,
                    start_ms: row.get(2)?,
                    end_ms: row.get(3)?,
                    peak_score: row.get(4)?,
                    model_version: row.get(6)?,
                    points: 0,
                    source: EventSource::History,
                })
            },
        )
    }

    /// Training runs started at or after `since_ms`, oldest first.
    pub fn trainings_since(&self, since_ms: i64) -> Result<Vec<TrainingRun>, HistoryError> {
        self.select(
            "read training runs",
            "SELECT id, started_ms, reason, rows, final_loss, duration_secs, device, status, error
             FROM training_runs WHERE started_ms >= ?1 ORDER BY started_ms, id",
            params![since_ms],
            |row| {
                Ok(TrainingRun {
                    id: row.get(0)?,
                    started_ms: row.get(1)?,
                    reason: row.get(2)?,
                    rows: row.get(3)?,
                    final_loss: row.get(4)?,
                    duration_secs: row.get(5)?,
                    device: row.get(6)?,
                    status: row.get(7)?,
                    error: row.get(8)?,
                })
            },
        )
    }

    /// Fetch failures at or after `since_ms`, oldest first.
    pub fn fetch_failures_since(&self, since_ms: i64) -> Result<Vec<FetchFailure>, HistoryError> {
        self.select(
            "read fetch failures",
            "SELECT id, at_ms, reason, message FROM fetch_failures
             WHERE at_ms >= ?1 ORDER BY at_ms, id",
            params![since_ms],
            |row| {
                Ok(FetchFailure {
                    id: row.get(0)?,
                    at_ms: row.get(1)?,
                    reason: row.get(2)?,
                    message: row.get(3)?,
                })
            },
        )
    }

    /// `PRAGMA integrity_check`: "ok" or SQLite's list of problems.
    pub fn integrity_check(&self) -> Result<String, HistoryError> {
        let lines = self.select("check integrity", "PRAGMA integrity_check", [], |row| {
            row.get::<_, String>(0)
        })?;
        Ok(lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(started_ms: i64, status: &str) -> TrainingRun {
        TrainingRun {
            id: 0,
            started_ms,
            reason: "scheduled".into(),
            rows: 720,
            final_loss: Some(0.002),
            duration_secs: 1.5,
            device: "cpu".into(),
            status: status.into(),
            error: (status == "failed").then(|| "disk full".into()),
        }
    }

    #[test]
    fn events_training_runs_and_failures_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("history.sqlite");
        let history = History::open(&path).unwrap();
        let id = history.start_event("cpu", 1_000, 52.0, "m1").unwrap();
        history.raise_peak(id, 85.0).unwrap();
        // A lower score never lowers the peak.
        history.raise_peak(id, 60.0).unwrap();
        // The same metric and start again is the same event.
        assert_eq!(history.start_event("cpu", 1_000, 55.0, "m1").unwrap(), id);
        let open = history.events_since(0).unwrap();
        assert_eq!((open[0].id, open[0].end_ms), (id, None));
        history.end_event(id, 5_000).unwrap();
        assert_eq!(history.events_since(0).unwrap()[0].end_ms, Some(5_000));
        let other = history.start_event("latency", 9_000, 90.0, "m1").unwrap();
        history.record_training(&run(2_000, "ok")).unwrap();
        history.record_training(&run(3_000, "failed")).unwrap();
        history
            .record_fetch_failure(4_000, "refused", "connection refused")
            .unwrap();
        drop(history);

        let history = History::open(&path).unwrap();
        let events = history.events_since(0).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].peak_score, 85.0);
        assert_eq!(events[0].severity(), "major");
        assert_eq!(events[0].source, EventSource::History);
        assert_eq!(events[0].end_ms, Some(5_000));
        assert_eq!(events[1].id, other);
        assert_eq!(events[1].end_ms, None);
        // Since 6 s: the closed cpu event is out, the open one stays.
        let recent = history.events_since(6_000).unwrap();
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].metric, "latency");
        assert_eq!(history.close_open_events(10_000).unwrap(), 1);
        assert_eq!(history.events_since(0).unwrap()[1].end_ms, Some(10_000));
        let runs = history.trainings_since(0).unwrap();
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[1].error.as_deref(), Some("disk full"));
        assert_eq!((runs[0].status.as_str(), runs[0].started_ms), ("ok", 2_000));
        let failures = history.fetch_failures_since(0).unwrap();
        assert_eq!(failures[0].reason, "refused");
        assert_eq!(history.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn the_same_event_recorded_twice_is_one_row_with_the_later_end_and_higher_peak() {
        let dir = tempfile::tempdir().unwrap();
        let history = History::open(&dir.path().join("history.sqlite")).unwrap();
        let mut event = AnomalyEvent {
            id: 0,
            metric: "cpu".into(),
            start_ms: 1_000,
            end_ms: Some(2_000),
            peak_score: 70.0,
            model_version: "app".into(),
            points: 3,
            source: EventSource::Detected,
        };
        let id = history.upsert_event(&event).unwrap();
        event.end_ms = Some(5_000);
        event.peak_score = 90.0;
        history.upsert_event(&event).unwrap();
        // An older, smaller view of it changes nothing.
        event.end_ms = Some(3_000);
        event.peak_score = 80.0;
        history.upsert_event(&event).unwrap();
        let events = history.events_between(0, 10_000).unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].id, id);
        assert_eq!(events[0].end_ms, Some(5_000));
        assert_eq!(events[0].peak_score, 90.0);
        assert_eq!(events[0].severity(), "critical");
        assert!(history.events_between(6_000, 10_000).unwrap().is_empty());
        assert!(history.events_between(0, 500).unwrap().is_empty());
    }

    #[test]
    fn a_newer_schema_is_refused_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let connection = Connection::open(&path).unwrap();
        connection.execute_batch("PRAGMA user_version = 7").unwrap();
        drop(connection);
        let error = History::open(&path).unwrap_err().to_string();
        assert!(error.contains("schema version 7"), "{error}");
        assert!(error.contains("history.sqlite"), "{error}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        std::fs::write(&path, "this is not sqlite, just text that is long enough").unwrap();
        let error = History::open(&path).unwrap_err().to_string();
        assert!(error.contains("history.sqlite"), "{error}");
    }

    #[test]
    fn a_version_1_database_moves_its_peaks_to_the_0_100_scale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.sqlite");
        let history = History::open(&path).unwrap();
        history.start_event("cpu", 1_000, 99.5, "m1").unwrap();
        // What version 1 wrote: a share, and the old version number.
        history
            .connection
            .execute_batch("UPDATE anomaly_events SET peak_score = 0.995; PRAGMA user_version = 1;")
            .unwrap();
        drop(history);
        let history = History::open(&path).unwrap();
        let events = history.events_since(0).unwrap();
        assert!((events[0].peak_score - 99.5).abs() < 1e-9, "{events:?}");
        drop(history);
        // Opening it again changes nothing more.
        let events = History::open(&path).unwrap().events_since(0).unwrap();
        assert!((events[0].peak_score - 99.5).abs() < 1e-9, "{events:?}");
    }
}
