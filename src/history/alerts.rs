//! The alerts' side of the history: the outbox of alert posts Alertmanager
//! has not acknowledged yet, and the alerts out (fired, not resolved yet),
//! so that a restarted daemon resolves what the last run left firing. An
//! alert is keyed by its labels and start: a later post of the same alert
//! (re-sent while it lasts, then its resolve) replaces the waiting one, so
//! the outbox holds at most one post per alert however long Alertmanager
//! is away.

use rusqlite::params;

use super::{History, HistoryError};

/// One post waiting for Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingAlert {
    pub key: String,
    /// The alert as Alertmanager's API v2 takes it (JSON).
    pub alert: String,
}

/// An alert to queue: its key, its JSON, and whether it is still firing
/// (a resolve carries `endsAt`).
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedAlert {
    pub key: String,
    pub alert: String,
    pub firing: bool,
}

pub(super) const CREATE_TABLES: &str = "
    CREATE TABLE IF NOT EXISTS alert_outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        alert TEXT NOT NULL,
        queued_ms INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS alerts_firing (
        key TEXT PRIMARY KEY,
        alert TEXT NOT NULL
    );";

impl History {
    /// Queues posts (in one transaction) and keeps the set of firing
    /// alerts in step: a firing post adds its alert, a resolve removes it.
    pub fn queue_alerts(&self, alerts: &[QueuedAlert], now_ms: i64) -> Result<(), HistoryError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let error = self.query_error("queue alerts for Alertmanager");
        let transaction = self.connection.unchecked_transaction().map_err(&error)?;
        for queued in alerts {
            transaction
                .execute(
                    "INSERT INTO alert_outbox (key, alert, queued_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET alert = excluded.alert,
                                                    queued_ms = excluded.queued_ms",
                    params![queued.key, queued.alert, now_ms],
                )
                .map_err(&error)?;
            if queued.firing {
                transaction
                    .execute(
                        "INSERT INTO alerts_firing (key, alert) VALUES (?1, ?2)
                         ON CONFLICT(key) DO UPDATE SET alert = excluded.alert",
                        params![queued.key, queued.alert],
                    )
                    .map_err(&error)?;
            } else {
                transaction
                    .execute(
                        "DELETE FROM alerts_firing WHERE key = ?1",
                        params![queued.key],
                    )
                    .map_err(&error)?;
            }
        }
        crate::crashpoint::crash_point("history-write");
        transaction.commit().map_err(&error)
    }

    /// The oldest `limit` posts waiting, first queued first.
    pub fn pending_alerts(&self, limit: usize) -> Result<Vec<PendingAlert>, HistoryError> {
        let error = self.query_error("read the alert outbox");
        let mut statement = self
            .connection
            .prepare_cached("SELECT key, alert FROM alert_outbox ORDER BY seq LIMIT ?1")
            .map_err(&error)?;
        let rows = statement
            .query_map(params![limit as i64], |row| {
                Ok(PendingAlert {
                    key: row.get(0)?,
                    alert: row.get(1)?,
                })
            })
            .map_err(&error)?;
        rows.collect::<Result<_, _>>().map_err(&error)
    }

    /// Posts waiting.
    pub fn pending_alert_count(&self) -> Result<usize, HistoryError> {
        self.connection
            .query_row("SELECT COUNT(*) FROM alert_outbox", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(self.query_error("count the alert outbox"))
    }

    /// Removes posts Alertmanager took, unless a newer post of the same
    /// alert replaced them meanwhile (that one is still to go).
    pub fn acknowledge_alerts(&self, sent: &[PendingAlert]) -> Result<(), HistoryError> {
        let error = self.query_error("clear delivered alerts");
        let transaction = self.connection.unchecked_transaction().map_err(&error)?;
        for alert in sent {
            transaction
                .execute(
                    "DELETE FROM alert_outbox WHERE key = ?1 AND alert = ?2",
                    params![alert.key, alert.alert],
                )
                .map_err(&error)?;
        }
        transaction.commit().map_err(&error)
    }

    /// Queues a resolve, ending at `ends_at` (RFC 3339), for every alert
    /// the last run left firing (it was stopped or killed while they
    /// lasted; their events were closed at start), and forgets them.
    /// Returns how many.
    pub fn resolve_left_firing(&self, ends_at: &str, now_ms: i64) -> Result<usize, HistoryError> {
        let error = self.query_error("resolve the alerts the last run left firing");
        let firing: Vec<(String, String)> = {
            let mut statement = self
                .connection
                .prepare("SELECT key, alert FROM alerts_firing")
                .map_err(&error)?;
            let rows = statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(&error)?;
            rows.collect::<Result<_, _>>().map_err(&error)?
        };
        let resolves: Vec<QueuedAlert> = firing
            .into_iter()
            .filter_map(|(key, alert)| {
                let mut alert: serde_json::Value = serde_json::from_str(&alert).ok()?;
                alert
                    .as_object_mut()?
                    .insert("endsAt".into(), ends_at.into());
                Some(QueuedAlert {
                    key,
                    alert: alert.to_string(),
                    firing: false,
                })
            })
            .collect();
        self.queue_alerts(&resolves, now_ms)?;
        // Rows that did not parse are not kept either.
        self.connection
            .execute("DELETE FROM alerts_firing", [])
            .map_err(&error)?;
        Ok(resolves.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(key: &str, alert: serde_json::Value, firing: bool) -> QueuedAlert {
        QueuedAlert {
            key: key.into(),
            alert: alert.to_string(),
            firing,
        }
    }

    #[test]
    fn the_outbox_keeps_one_post_per_alert_until_acknowledged_across_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.sqlite");
        let history = History::open(&path).expect("open");
        let fire = serde_json::json!({"labels": {"metric": "cpu"}, "startsAt": "t0"});
        history
            .queue_alerts(&[queued("cpu@t0", fire.clone(), true)], 1)
            .expect("queue");
        // Re-sent while it lasts: still one post.
        history
            .queue_alerts(&[queued("cpu@t0", fire.clone(), true)], 2)
            .expect("queue");
        let other = serde_json::json!({"labels": {"metric": "mem"}, "startsAt": "t1"});
        history
            .queue_alerts(&[queued("mem@t1", other.clone(), true)], 3)
            .expect("queue");
        let pending = history.pending_alerts(10).expect("pending");
        assert_eq!(
            pending.iter().map(|p| p.key.as_str()).collect::<Vec<_>>(),
            ["cpu@t0", "mem@t1"]
        );
        // The resolve replaces the fire that was taken but not yet cleared:
        // clearing what was sent leaves the resolve.
        let mut resolve = fire.clone();
        resolve["endsAt"] = "t9".into();
        history
            .queue_alerts(&[queued("cpu@t0", resolve.clone(), false)], 4)
            .expect("queue");
        history.acknowledge_alerts(&pending).expect("ack");
        let left = history.pending_alerts(10).expect("pending");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].alert, resolve.to_string());
        drop(history);

        // Reopened (a restart): the post is still there; `mem` was left
        // firing, so it gets a resolve.
        let history = History::open(&path).expect("reopen");
        assert_eq!(history.pending_alert_count().expect("count"), 1);
        history.acknowledge_alerts(&left).expect("ack");
        assert_eq!(history.resolve_left_firing("t10", 5).expect("resolve"), 1);
        let resolved = history.pending_alerts(10).expect("pending");
        assert_eq!(resolved.len(), 1);
        let alert: serde_json::Value = serde_json::from_str(&resolved[0].alert).expect("json");
        assert_eq!(alert["labels"]["metric"], "mem");
        assert_eq!(alert["endsAt"], "t10");
        assert_eq!(history.resolve_left_firing("t11", 6).expect("again"), 0);
        assert_eq!(history.integrity_check().expect("check"), "ok");
    }
}
