//! The single writer thread and its group commit.
//!
//! Every write is a job sent to one thread. The thread takes all jobs waiting (up to
//! a batch limit), runs each inside its own savepoint in one transaction, commits
//! once (one fsync for the batch), and only then answers each job. A job that fails
//! rolls back its savepoint alone. Because one thread appends every audit row, each
//! audit chain (per workspace, plus the account chain) is simply "the previous row
//! of that chain this thread wrote": the thread keeps every chain's head in a map.

use crate::audit_chain::{self, ChainKeySlot, ChainKeys, Head};
use crate::rows::{AuditRecord, AuditRow};
use crate::{StoreError, StoreResult};
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::sync::mpsc;

const MAX_BATCH: usize = 512;

/// The transaction a job runs in, plus the audit chain heads.
pub struct WriteCtx<'c> {
    pub conn: &'c Connection,
    chain: &'c mut ChainHeads,
    /// The chain keys as the batch started (`None`: legacy links, tests only).
    keys: Option<&'c dyn ChainKeys>,
}

/// Every audit chain's head, and the newest `seq` of all (the next row's is one
/// more: seq stays gapless on SQLite).
#[derive(Default)]
pub(crate) struct ChainHeads {
    last_seq: i64,
    heads: HashMap<String, Head>,
    /// What the current job changed (chain, head before), to undo it when the
    /// job's savepoint rolls back, and `last_seq` before it.
    undo: Vec<(String, Option<Head>)>,
    undo_seq: i64,
}

impl ChainHeads {
    fn new(last_seq: i64) -> ChainHeads {
        ChainHeads {
            last_seq,
            ..ChainHeads::default()
        }
    }

    /// A job starts: what it appends can be undone until the next.
    fn begin_job(&mut self) {
        self.undo.clear();
        self.undo_seq = self.last_seq;
    }

    /// The job's savepoint rolled back: its appends are gone, so are their heads.
    fn undo_job(&mut self) {
        while let Some((chain, before)) = self.undo.pop() {
            match before {
                Some(h) => self.heads.insert(chain, h),
                None => self.heads.remove(&chain),
            };
        }
        self.last_seq = self.undo_seq;
    }

    /// The head of `chain` (genesis for a chain with no row yet).
    pub(crate) fn head(&self, chain: &str) -> Head {
        self.heads.get(chain).cloned().unwrap_or_else(|| Head {
            seq: 0,
            hash: audit_chain::GENESIS.to_string(),
        })
    }

    /// Every chain's head but the account chain's, in chain order (what a
    /// checkpoint names).
    pub(crate) fn others(&self) -> Vec<audit_chain::ChainHead> {
        let mut v: Vec<_> = self
            .heads
            .iter()
            .filter(|(c, _)| c.as_str() != audit_chain::ACCOUNT_CHAIN)
            .map(|(c, h)| audit_chain::ChainHead {
                chain: c.clone(),
                head: h.clone(),
            })
            .collect();
        v.sort();
        v
    }
}

impl WriteCtx<'_> {
    /// Re-reads the chain heads after rows were inserted verbatim (restore).
    pub fn reload_chain(&mut self) -> StoreResult<()> {
        *self.chain = load_chain_heads(self.conn)?;
        Ok(())
    }

    /// The chain heads as they stand in this batch.
    pub(crate) fn chain_heads(&self) -> &ChainHeads {
        self.chain
    }

    pub fn append_audit(&mut self, record: AuditRecord) -> StoreResult<()> {
        self.append_audit_row(record).map(|_| ())
    }

    /// Appends each of `records` in order.
    pub(crate) fn append_audits(&mut self, records: Vec<AuditRecord>) -> StoreResult<()> {
        records.into_iter().try_for_each(|r| self.append_audit(r))
    }

    /// Appends `record` to its chain and returns the new row's head.
    pub(crate) fn append_audit_row(&mut self, record: AuditRecord) -> StoreResult<Head> {
        let chain = audit_chain::chain_of(&record).to_string();
        let mut row = AuditRow {
            seq: self.chain.last_seq + 1,
            record,
            prev_hash: self.chain.head(&chain).hash,
            key_version: None,
            hash: String::new(),
            chain: Some(chain),
        };
        audit_chain::seal_row(self.keys, &mut row).map_err(StoreError::Backend)?;
        self.conn
            .prepare_cached(
                "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, \
                 request_id, detail, prev_hash, hash, key_version, chain) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                row.chain,
            ])?;
        let head = Head {
            seq: row.seq,
            hash: row.hash,
        };
        self.chain.last_seq = row.seq;
        let chain = row.chain.unwrap_or_default();
        let before = self.chain.heads.insert(chain.clone(), head.clone());
        self.chain.undo.push((chain, before));
        Ok(head)
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

/// The newest `seq` of all chains (0 for none).
fn last_seq(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM audit_events")?
        .query_row([], |r| r.get(0))
}

/// Every chain's head: the newest row of each chain (rows from before chains,
/// `chain` NULL, count as the account chain's).
pub(crate) fn load_chain_heads(conn: &Connection) -> rusqlite::Result<ChainHeads> {
    let mut heads = ChainHeads::new(last_seq(conn)?);
    let mut st = conn.prepare_cached(
        "SELECT e.chain, e.seq, e.hash FROM audit_events e \
         JOIN (SELECT chain, MAX(seq) AS m FROM audit_events GROUP BY chain) g ON e.seq = g.m",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    for row in rows {
        let (chain, seq, hash) = row?;
        let chain = chain.unwrap_or_default();
        if heads.heads.get(&chain).is_none_or(|h| h.seq < seq) {
            heads.heads.insert(chain, Head { seq, hash });
        }
    }
    Ok(heads)
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
    // Loaded at the first batch (last_seq -1 never matches).
    let mut chain = ChainHeads::new(-1);
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
            // Check the heads under the write lock: another process (`lockbox keys
            // rotate`) may have appended since our last batch. The newest seq tells
            // (seq is gapless here); only then are all heads read again.
            if last_seq(conn)? != chain.last_seq {
                chain = load_chain_heads(conn)?;
            }
            for job in jobs.drain(..) {
                if job.savepoint {
                    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
                }
                chain.begin_job();
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
                        chain.undo_job();
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
                // The heads include rows that were rolled back: read them again.
                chain = ChainHeads::new(-1);
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
    job_then(savepoint, f, move |outcome| {
        let _ = tx.send(outcome);
    })
}

/// A plain append whose caller does not wait: the outcome, known only after the
/// batch commits (or not), is logged on failure instead of answered.
pub(crate) fn detached(
    f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<()> + Send + 'static,
) -> Job {
    job_then(false, f, |outcome| {
        if let Err(e) = outcome {
            tracing::error!(error = %e, "a queued audit row was not written");
        }
    })
}

/// Wraps a closure into a job whose outcome (its result, or the batch's failure to
/// commit) goes to `then` only after the batch's commit.
fn job_then<T: Send + 'static>(
    savepoint: bool,
    f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<T> + Send + 'static,
    then: impl FnOnce(StoreResult<T>) + Send + 'static,
) -> Job {
    Job {
        savepoint,
        run: Box::new(move |ctx| {
            let result = f(ctx);
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |committed: StoreResult<()>| {
                then(committed.and(result));
            });
            (ok, reply)
        }),
    }
}
