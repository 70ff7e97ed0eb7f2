//! The single writer thread and its group commit.
//!
//! Every write is a job sent to one thread. The thread takes all jobs waiting (up to
//! a batch limit), runs each inside its own savepoint in one transaction, commits
//! once (one fsync for the batch), and only then answers each job. A job that fails
//! rolls back its savepoint alone. Because one thread appends every audit row, the
//! hash chain is simply "the previous row this thread wrote".

use crate::audit_chain::{self, ChainKeySlot, ChainKeys};
use crate::rows::{AuditRecord, AuditRow};
use crate::{StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::mpsc;

const MAX_BATCH: usize = 512;

/// The transaction a job runs in, plus the audit chain head.
pub struct WriteCtx<'c> {
    pub conn: &'c Connection,
    chain: &'c mut ChainHead,
    /// The chain keys as the batch started (`None`: legacy links, tests only).
    keys: Option<&'c dyn ChainKeys>,
}

#[derive(Clone)]
pub(crate) struct ChainHead {
    seq: i64,
    hash: String,
}

impl WriteCtx<'_> {
    /// Re-reads the chain head after rows were inserted verbatim (restore).
    pub fn reload_chain(&mut self) -> StoreResult<()> {
        *self.chain = load_chain_head(self.conn)?;
        Ok(())
    }

    pub fn append_audit(&mut self, record: AuditRecord) -> StoreResult<()> {
        let mut row = AuditRow {
            seq: self.chain.seq + 1,
            record,
            prev_hash: self.chain.hash.clone(),
            key_version: None,
            hash: String::new(),
        };
        audit_chain::seal_row(self.keys, &mut row).map_err(StoreError::Backend)?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, \
                 request_id, detail, prev_hash, hash, key_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            )?
            .execute(params![
                row.seq,
                row.record.workspace_id,
                row.record.at.millis(),
                row.record.actor,
                row.record.action,
                row.record.target,
                row.record.outcome,
                row.record.request_id,
                row.record.detail.to_string(),
                row.prev_hash,
                row.hash,
                row.key_version,
            ])?;
        self.chain.seq = row.seq;
        self.chain.hash = row.hash;
        Ok(())
    }
}

/// What a job hands back after running: whether it succeeded, and a continuation
/// told whether the batch committed, which then answers the waiting caller.
pub(crate) type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;
type RunJob = Box<dyn FnOnce(&mut WriteCtx<'_>) -> (bool, Reply) + Send>;

pub(crate) struct Job {
    run: RunJob,
    /// Jobs that can fail on their own (compare-and-set, uniqueness) run in a
    /// savepoint so a failure undoes only them. Plain appends skip it: they fail
    /// only when the whole batch would.
    savepoint: bool,
}

pub(crate) fn load_chain_head(conn: &Connection) -> rusqlite::Result<ChainHead> {
    let head = conn
        .query_row(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)),
        )
        .optional()?;
    Ok(match head {
        Some((seq, hash)) => ChainHead { seq, hash },
        None => ChainHead {
            seq: 0,
            hash: audit_chain::GENESIS.to_string(),
        },
    })
}

pub(crate) fn spawn(
    mut conn: Connection,
    keys: std::sync::Arc<ChainKeySlot>,
) -> StoreResult<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("lockbox-sqlite-writer".into())
        .spawn(move || run(&mut conn, rx, &keys))
        .map_err(|e| StoreError::Backend(format!("spawn writer: {e}")))?;
    Ok(tx)
}

fn run(conn: &mut Connection, rx: mpsc::Receiver<Job>, key_slot: &ChainKeySlot) {
    let mut chain = ChainHead {
        seq: 0,
        hash: audit_chain::GENESIS.to_string(),
    };
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(jobs.len());
        let keys = key_slot.get();
        let result = (|| -> StoreResult<()> {
            conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
            // Re-read the head under the write lock: another process (`lockbox keys
            // rotate`) may have appended since our last batch.
            chain = load_chain_head(conn)?;
            for job in jobs.drain(..) {
                if job.savepoint {
                    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
                }
                let job_chain = chain.clone();
                let mut ctx = WriteCtx {
                    conn,
                    chain: &mut chain,
                    keys: keys.as_deref(),
                };
                let (ok, reply) = (job.run)(&mut ctx);
                replies.push(reply);
                match (ok, job.savepoint) {
                    (true, true) => {
                        conn.prepare_cached("RELEASE job")?.execute([])?;
                    }
                    (true, false) => {}
                    (false, true) => {
                        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
                        conn.prepare_cached("RELEASE job")?.execute([])?;
                        chain = job_chain;
                    }
                    (false, false) => {
                        return Err(StoreError::Backend("an append failed".into()));
                    }
                }
            }
            conn.prepare_cached("COMMIT")?.execute([])?;
            Ok(())
        })();
        let outcome = match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                tracing::error!(error = %e, "write batch failed; every job in it fails");
                Err(e)
            }
        };
        let n = replies.len();
        for reply in replies {
            reply(outcome.clone());
        }
        metrics_batch(n);
    }
}

fn metrics_batch(n: usize) {
    tracing::trace!(jobs = n, "write batch committed");
}

/// Wraps a closure into a job whose result reaches `tx` only after commit.
pub(crate) fn job<T: Send + 'static>(
    savepoint: bool,
    f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<T> + Send + 'static,
    tx: tokio::sync::oneshot::Sender<StoreResult<T>>,
) -> Job {
    Job {
        savepoint,
        run: Box::new(move |ctx| {
            let result = f(ctx);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed: StoreResult<()>| {
                let _ = tx.send(committed.and(result));
            });
            (ok, reply)
        }),
    }
}
