//! Group commit of version commits on PostgreSQL: one task per store takes every
//! [`Store::commit_version`](crate::Store::commit_version) waiting for it and runs
//! them in one transaction, each job inside a `SAVEPOINT`, then appends all their
//! audit rows and notifications through [`WriteTx::commit`] and commits once;
//! only then is each caller answered.
//!
//! Why: one transaction per version means one COMMIT (one WAL flush) and one
//! hold of its chain's `audit_heads` row per version, so a node's durable writes
//! stop at the commits per second the database can flush. Batched, a flush carries every
//! commit that arrived while the previous one was flushing.
//!
//! Semantics are those of one transaction per job, run in queue order:
//! - a job whose compare-and-set finds another version, or that breaks a
//!   uniqueness or foreign-key rule, is rolled back to its savepoint (PostgreSQL's
//!   `ROLLBACK TO SAVEPOINT` also clears the error state, so the batch goes on) and
//!   answered `Conflict`; its audit row and notifications are never queued, so a
//!   rolled-back job leaves no trace;
//! - a serialization failure or deadlock reruns the whole batch (the retry rules of
//!   `write_tx!`); a database that is unreachable or slower than the answer
//!   deadline answers every job of the batch `Unavailable`, as it would each alone;
//! - a caller that stopped waiting before its batch started is left out, as its
//!   own transaction would have been dropped.
//!
//! The statements of one job are pipelined (sent together, answers read after), so
//! a job costs one round trip, not one per statement: tokio-postgres sends a
//! request when its future is first polled, and [`in_order`] polls them in order.

use super::tx::{self, in_order, Fail, Pending, WriteTx};
use super::{insert_secret_sql, insert_version_sql, SecretValues, VersionValues};
use crate::rows::AuditRecord;
use crate::{Change, CommitVersion, Expect, StoreError, StoreResult};
use deadpool_postgres::{Pool, Transaction};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;

use crate::audit_chain::ChainKeySlot;

/// Jobs per transaction at most. Each job's savepoint becomes a subtransaction;
/// PostgreSQL caches 64 of them per backend (`PGPROC_MAX_CACHED_SUBXIDS`), past
/// which every other session's snapshot checks slow down ("suboverflow").
pub(super) const MAX_BATCH: usize = 64;

/// One `commit_version` waiting for its batch.
pub(super) struct CommitJob {
    commit: CommitVersion,
    audit: AuditRecord,
    reply: oneshot::Sender<StoreResult<()>>,
}

/// Batching tasks per store. One task runs one transaction at a time, and most of
/// a batch's time is round trips, not work; a few lanes keep the database busy
/// while each waits. A workspace's commits always take the same lane, so two lanes
/// seldom wait for each other on one audit chain's head row.
pub(super) const LANES: usize = 4;

/// Where `commit_version` queues its job: one queue per lane.
pub(super) struct CommitQueue(Vec<mpsc::UnboundedSender<CommitJob>>);

impl CommitQueue {
    /// The lane of a workspace (FNV-1a of its id: stable, cheap, no allocation).
    fn lane(&self, workspace_id: &str) -> &mpsc::UnboundedSender<CommitJob> {
        let hash = workspace_id
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
            });
        &self.0[(hash % self.0.len() as u64) as usize]
    }
}

/// What the batching tasks need of their store.
#[derive(Clone)]
pub(super) struct Batcher {
    pub(super) pool: Pool,
    pub(super) channel: String,
    pub(super) node_id: String,
    pub(super) answer: Duration,
    pub(super) keys: Arc<ChainKeySlot>,
}

/// Starts the batching tasks, one per lane; they end when the store (the queues'
/// senders) is dropped.
pub(super) fn spawn(b: Batcher) -> CommitQueue {
    let lanes = (0..LANES)
        .map(|_| {
            let (tx, mut rx) = mpsc::unbounded_channel::<CommitJob>();
            let b = b.clone();
            tokio::spawn(async move {
                while let Some(first) = rx.recv().await {
                    let mut jobs = vec![first];
                    while jobs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => jobs.push(job),
                            Err(_) => break,
                        }
                    }
                    b.run(jobs).await;
                }
            });
            tx
        })
        .collect();
    CommitQueue(lanes)
}

/// Queues one version commit and waits for its batch's answer.
pub(super) async fn submit(
    queue: &CommitQueue,
    commit: CommitVersion,
    audit: AuditRecord,
) -> StoreResult<()> {
    let (reply, answer) = oneshot::channel();
    queue
        .lane(&commit.secret.workspace_id)
        .send(CommitJob {
            commit,
            audit,
            reply,
        })
        .map_err(|_| StoreError::Backend("the PostgreSQL commit batcher has stopped".into()))?;
    answer.await.unwrap_or_else(|_| {
        Err(StoreError::Backend(
            "the PostgreSQL commit batcher stopped before answering".into(),
        ))
    })
}

/// How one job of a batch ended, before COMMIT.
enum Outcome {
    /// Its statements held: its audit row and changes are queued.
    Done,
    /// Rolled back to its savepoint; the caller gets this.
    Refused(Fail),
    /// Its values cannot be stored (nothing was sent); the caller gets this.
    Unsendable(Fail),
}

impl Batcher {
    /// Runs one batch (again after a retryable failure) and answers every caller.
    async fn run(&self, mut jobs: Vec<CommitJob>) {
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            jobs.retain(|j| !j.reply.is_closed());
            if jobs.is_empty() {
                return;
            }
            let result = tx::within(self.answer, self.attempt(&jobs)).await;
            match result {
                Err(Fail::Retry(why)) if attempt < tx::MAX_ATTEMPTS => {
                    tracing::debug!(attempt, %why, jobs = jobs.len(), "retrying a commit batch");
                    tokio::time::sleep(tx::retry_delay(attempt)).await;
                }
                Err(fail) => {
                    let err = StoreError::from(fail);
                    for job in jobs {
                        let _ = job.reply.send(Err(err.clone()));
                    }
                    return;
                }
                Ok(outcomes) => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        let _ = job.reply.send(match outcome {
                            Outcome::Done => Ok(()),
                            Outcome::Refused(f) | Outcome::Unsendable(f) => Err(f.into()),
                        });
                    }
                    return;
                }
            }
        }
    }

    /// One transaction over every job; answers each job's outcome once committed.
    async fn attempt(&self, jobs: &[CommitJob]) -> Result<Vec<Outcome>, Fail> {
        let mut client = self.pool.get().await?;
        let t = client.transaction().await?;
        let mut w = WriteTx::new(t);
        let mut outcomes = Vec::with_capacity(jobs.len());
        // The previous job's savepoint, released in the next job's pipeline (a
        // job's success is known only from its answers; COMMIT releases the last).
        let mut open = false;
        for job in jobs {
            match run_job(w.tx(), &job.commit, open).await? {
                Outcome::Done => {
                    w.audit(job.audit.clone());
                    if let Expect::ReplaceExpired(old) = &job.commit.expect {
                        w.changed(Change::Secret(old.clone()));
                    }
                    w.changed(Change::Secret(job.commit.secret.id.clone()));
                    outcomes.push(Outcome::Done);
                    open = true;
                }
                Outcome::Refused(f) => {
                    w.tx().batch_execute("ROLLBACK TO SAVEPOINT job").await?;
                    outcomes.push(Outcome::Refused(f));
                    open = true;
                }
                unsendable => outcomes.push(unsendable),
            }
        }
        w.commit(&self.channel, &self.node_id, &self.keys).await?;
        Ok(outcomes)
    }
}

/// Runs one job's statements after `SAVEPOINT job` (releasing the previous one
/// first when `release`), pipelined. `Err` fails the whole batch; a refusal
/// leaves the savepoint to be rolled back; an unsendable job sent nothing.
async fn run_job(t: &Transaction<'_>, c: &CommitVersion, release: bool) -> Result<Outcome, Fail> {
    let (secret, version) = match (SecretValues::of(&c.secret), VersionValues::of(&c.version)) {
        (Ok(s), Ok(v)) => (s, v),
        (Err(f), _) | (_, Err(f)) => return Ok(Outcome::Unsendable(f)),
    };
    let prune_through = super::big(c.prune_through);
    let expected = match &c.expect {
        Expect::Current(n) => Some(super::big(*n)),
        _ => None,
    };
    // Prepared before anything is sent (cached per connection, so no round trip
    // after the first batch): a prepare inside the pipeline would reorder it.
    let cas = t.prepare_cached(CAS_UPDATE).await?;
    let ins_secret = t.prepare_cached(&insert_secret_sql()).await?;
    let ins_version = t.prepare_cached(&insert_version_sql()).await?;
    let delete = t
        .prepare_cached("DELETE FROM secrets WHERE id = $1")
        .await?;
    let prune = t
        .prepare_cached("DELETE FROM secret_versions WHERE secret_id = $1 AND version <= $2")
        .await?;

    let s = &c.secret;
    let cas_params: [&(dyn ToSql + Sync); 10] = [
        &s.description,
        &secret.current_version,
        &s.fingerprint,
        &secret.expires_at,
        &secret.updated_at,
        &s.updated_by,
        &s.id,
        &expected,
        &secret.hosts,
        &secret.labels,
    ];
    let secret_params = secret.params();
    let version_params = version.params();
    let prune_params: [&(dyn ToSql + Sync); 2] = [&c.version.secret_id, &prune_through];
    let old_id = match &c.expect {
        Expect::ReplaceExpired(old) => old.as_str(),
        _ => "",
    };
    let old_params: [&(dyn ToSql + Sync); 1] = [&old_id];

    let mut steps: Vec<Pending<'_>> = Vec::with_capacity(6);
    if release {
        steps.push(Box::pin(simple(t, "RELEASE SAVEPOINT job")));
    }
    steps.push(Box::pin(simple(t, "SAVEPOINT job")));
    let head = steps.len();
    match &c.expect {
        Expect::Current(_) => {
            steps.push(Box::pin(exec(t, &cas, &cas_params)));
        }
        Expect::Create => {
            steps.push(Box::pin(exec(t, &ins_secret, &secret_params)));
        }
        Expect::ReplaceExpired(_) => {
            // Its versions go with it (ON DELETE CASCADE), as in SQLite.
            steps.push(Box::pin(exec(t, &delete, &old_params)));
            steps.push(Box::pin(exec(t, &ins_secret, &secret_params)));
        }
    }
    // For a compare-and-set, the version is inserted whatever the UPDATE found:
    // if it found another version, the savepoint is rolled back anyway.
    steps.push(Box::pin(exec(t, &ins_version, &version_params)));
    if prune_through > 0 {
        steps.push(Box::pin(exec(t, &prune, &prune_params)));
    }
    let answers = in_order(steps).await;

    let mut answers = answers.into_iter();
    // RELEASE and SAVEPOINT: failing, the transaction itself is broken.
    for _ in 0..head {
        answers.next().expect("one answer per step")?;
    }
    for (i, answer) in answers.enumerate() {
        match answer {
            Ok(n) => {
                if i == 0 && expected.is_some() && n == 0 {
                    // Another version is current: compare-and-set lost.
                    return Ok(Outcome::Refused(Fail::Conflict));
                }
            }
            // The job's own fault (a rule it breaks): it alone is refused.
            Err(f @ (Fail::Conflict | Fail::Backend(_))) => return Ok(Outcome::Refused(f)),
            // The batch's: rerun or answer everyone.
            Err(f) => return Err(f),
        }
    }
    Ok(Outcome::Done)
}

/// The compare-and-set of a new version: the secret row as it will read, only
/// if its current version is still the expected one.
const CAS_UPDATE: &str = "UPDATE secrets SET description = $1, current_version = $2, \
     fingerprint = $3, expires_at = $4, updated_at = $5, updated_by = $6, allowed_hosts = $9, \
     labels = $10 WHERE id = $7 AND current_version = $8";

/// A statement without parameters (savepoints), as a pipeline step.
async fn simple(t: &Transaction<'_>, sql: &'static str) -> Result<u64, Fail> {
    t.batch_execute(sql).await?;
    Ok(0)
}

/// A prepared statement, as a pipeline step: rows affected.
async fn exec(
    t: &Transaction<'_>,
    st: &tokio_postgres::Statement,
    p: &[&(dyn ToSql + Sync)],
) -> Result<u64, Fail> {
    Ok(t.execute(st, p).await?)
}
