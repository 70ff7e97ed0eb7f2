//! Refused attempts, audited once per kind and minute with a count.
//!
//! A refusal is a row: who, what, which target, which refusal. Writing one per
//! request let a single caller make the server write (and fsync) about 1,400 rows
//! a second by asking again and again (issue 16). Now the first refusal of a
//! kind (actor, workspace, action, target, outcome) is written at once, with
//! `detail.count = 1`; repeats within the next minute are only counted, and one
//! row with their count (`detail.count`, `detail.since`: when the counting
//! started) is written when the minute is over, by the next repeat or by the
//! background upkeep, whichever comes first. A kind that keeps being refused thus
//! costs one row a minute. Counts still pending are written at shutdown.
//!
//! What a summary row cannot say is each repeat's own request id: it carries the
//! last one. At most [`MAX_KINDS`] kinds are counted at once; past that a refusal
//! is written as it happens, as before.

use lockbox_core::Timestamp;
use lockbox_store::AuditRecord;
use std::collections::HashMap;
use std::sync::Mutex;

/// How long repeats are counted before their row is written.
pub(crate) const WINDOW_MS: i64 = 60_000;
/// Kinds counted at once (memory bound); beyond it refusals are written one by one.
pub(crate) const MAX_KINDS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Kind {
    actor: String,
    workspace_id: Option<String>,
    action: String,
    target: Option<String>,
    outcome: String,
}

impl Kind {
    fn of(r: &AuditRecord) -> Kind {
        Kind {
            actor: r.actor.clone(),
            workspace_id: r.workspace_id.clone(),
            action: r.action.clone(),
            target: r.target.clone(),
            outcome: r.outcome.clone(),
        }
    }
}

struct Window {
    started: Timestamp,
    /// Refusals since the last row, not yet written.
    pending: u64,
    last: Option<AuditRecord>,
}

#[derive(Default)]
pub(crate) struct DeniedLog {
    windows: Mutex<HashMap<Kind, Window>>,
}

fn with_count(mut r: AuditRecord, count: u64, since: Option<Timestamp>) -> AuditRecord {
    let mut detail = match r.detail {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    detail.insert("count".into(), count.into());
    if let Some(s) = since {
        detail.insert("since".into(), s.to_rfc3339().into());
    }
    r.detail = serde_json::Value::Object(detail);
    r
}

impl DeniedLog {
    /// One refusal at `rec.at`: the row to write now, or `None` when it was counted.
    pub(crate) fn note(&self, rec: AuditRecord) -> Option<AuditRecord> {
        let now = rec.at;
        let kind = Kind::of(&rec);
        let mut windows = self.windows.lock().expect("denied lock");
        match windows.get_mut(&kind) {
            Some(w) if now.millis() - w.started.millis() < WINDOW_MS => {
                w.pending += 1;
                w.last = Some(rec);
                None
            }
            Some(w) => {
                // The minute is over: this row also carries what was counted in it.
                let since = (w.pending > 0).then_some(w.started);
                let count = w.pending + 1;
                *w = Window {
                    started: now,
                    pending: 0,
                    last: None,
                };
                Some(with_count(rec, count, since))
            }
            None => {
                if windows.len() < MAX_KINDS {
                    windows.insert(
                        kind,
                        Window {
                            started: now,
                            pending: 0,
                            last: None,
                        },
                    );
                }
                Some(with_count(rec, 1, None))
            }
        }
    }

    /// The rows of counts whose minute is over at `now` (every count with `all`,
    /// at shutdown). A kind with a count starts a new minute; one without is
    /// forgotten.
    pub(crate) fn due(&self, now: Timestamp, all: bool) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        let mut windows = self.windows.lock().expect("denied lock");
        windows.retain(|_, w| {
            let over = now.millis() - w.started.millis() >= WINDOW_MS;
            if !(over || all) {
                return true;
            }
            match w.last.take() {
                Some(mut last) if w.pending > 0 => {
                    last.at = now;
                    out.push(with_count(last, w.pending, Some(w.started)));
                    w.started = now;
                    w.pending = 0;
                    !all
                }
                _ => false,
            }
        });
        out
    }

    #[cfg(test)]
    fn kinds(&self) -> usize {
        self.windows.lock().expect("denied lock").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(at: i64, target: &str) -> AuditRecord {
        AuditRecord {
            workspace_id: Some("w".into()),
            at: Timestamp(at),
            actor: "user:vera".into(),
            action: "secret.reveal".into(),
            target: Some(target.into()),
            outcome: "denied:forbidden".into(),
            request_id: Some(format!("r{at}")),
            detail: serde_json::json!({}),
        }
    }

    fn count(r: &AuditRecord) -> u64 {
        r.detail["count"].as_u64().unwrap()
    }

    #[test]
    fn the_first_is_written_repeats_are_counted_once_a_minute() {
        let log = DeniedLog::default();
        let first = log.note(refusal(0, "a")).unwrap();
        assert_eq!(count(&first), 1);
        assert!(first.detail.get("since").is_none());
        for t in 1..1000 {
            assert!(log.note(refusal(t, "a")).is_none());
        }
        // Another target is its own kind.
        assert_eq!(count(&log.note(refusal(0, "b")).unwrap()), 1);
        assert!(log.due(Timestamp(59_999), false).is_empty());
        let rows = log.due(Timestamp(60_000), false);
        assert_eq!(rows.len(), 1);
        assert_eq!(count(&rows[0]), 999);
        assert_eq!(rows[0].request_id.as_deref(), Some("r999"));
        assert_eq!(rows[0].at, Timestamp(60_000));
        // `b` had no repeats: forgotten; `a` counts a new minute.
        assert_eq!(log.kinds(), 1);
        assert!(log.note(refusal(60_001, "a")).is_none());
        // A repeat after the minute writes the count itself (this one included).
        let row = log.note(refusal(120_500, "a")).unwrap();
        assert_eq!(count(&row), 2);
        assert!(row.detail["since"].is_string());
        assert!(log.due(Timestamp(200_000), false).is_empty());
        assert_eq!(log.kinds(), 0);
    }

    #[test]
    fn shutdown_writes_every_pending_count() {
        let log = DeniedLog::default();
        log.note(refusal(0, "a"));
        log.note(refusal(1, "a"));
        log.note(refusal(2, "a"));
        log.note(refusal(3, "c"));
        let rows = log.due(Timestamp(10), true);
        assert_eq!(rows.iter().map(count).collect::<Vec<_>>(), vec![2]);
        assert_eq!(log.kinds(), 0);
    }

    #[test]
    fn memory_is_bounded() {
        let log = DeniedLog::default();
        for i in 0..MAX_KINDS + 10 {
            assert!(log.note(refusal(0, &format!("t{i}"))).is_some());
        }
        assert_eq!(log.kinds(), MAX_KINDS);
        // Untracked kinds are written every time.
        assert!(log
            .note(refusal(1, &format!("t{}", MAX_KINDS + 5)))
            .is_some());
    }
}
