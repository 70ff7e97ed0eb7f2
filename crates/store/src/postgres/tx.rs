//! One write transaction: the statements of a store method, then (at commit) its
//! audit rows, each chained under its chain's `audit_heads` row lock, then one `pg_notify` per
//! change, then COMMIT. Also the error mapping ([`Fail`]) and the retry loop
//! ([`write_tx!`]) that reruns a whole transaction after a serialization failure
//! or a deadlock.

use super::listener;
use crate::audit_chain::{self, ChainKeySlot, Head};
use crate::rows::{AuditRecord, AuditRow};
use crate::{Change, StoreError};
use deadpool_postgres::{GenericClient, Transaction};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

/// Parameters as tokio-postgres takes them.
pub(super) type Params<'p> = &'p [&'p (dyn ToSql + Sync)];

/// How a PostgreSQL operation failed, before it becomes a [`StoreError`].
#[derive(Debug)]
pub(crate) enum Fail {
    /// A uniqueness or foreign-key rule, or a compare-and-set.
    Conflict,
    /// A serialization failure or deadlock: running the transaction again may work.
    Retry(String),
    /// The database cannot answer now (unreachable, too slow, out of disk or
    /// connections): see [`StoreError::Unavailable`]. Never holds row values.
    Unavailable(String),
    /// A malformed connection URL or schema name (never quoting a password).
    Invalid(String),
    /// Anything else. Never holds row values.
    Backend(String),
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Conflict => f.write_str("conflict"),
            Fail::Retry(s) | Fail::Unavailable(s) | Fail::Invalid(s) | Fail::Backend(s) => {
                f.write_str(s)
            }
        }
    }
}

/// SQLSTATEs that mean "the database cannot serve this now", not "this request
/// is wrong": the statement timeout, shutdown and recovery, resource limits
/// (disk full, out of memory, too many connections), a read-only server.
fn unavailable_state(code: &SqlState) -> Option<&'static str> {
    Some(match code.code() {
        "57014" => "PostgreSQL cancelled a statement at its statement timeout",
        "57P01" | "57P02" | "57P03" => "PostgreSQL is shutting down or starting up",
        "53100" => "PostgreSQL's disk is full",
        "53200" => "PostgreSQL is out of memory",
        "53300" => "PostgreSQL has no connection slots left",
        "53000" | "53400" => "PostgreSQL is out of a resource",
        "25006" => "PostgreSQL is read-only (a standby?)",
        c if c.starts_with("08") => "the connection to PostgreSQL failed",
        _ => return None,
    })
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => {
                let code = db.code();
                // Unique violations, and foreign-key violations too: SQLite reports
                // both as a constraint violation, which the store maps to Conflict.
                if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::FOREIGN_KEY_VIOLATION {
                    return Fail::Conflict;
                }
                // SQLSTATE and message only: DETAIL may quote row values.
                let text = format!("postgres {}: {}", code.code(), db.message());
                if let Some(why) = unavailable_state(code) {
                    return Fail::Unavailable(format!("{why} ({text})"));
                }
                if *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                {
                    Fail::Retry(text)
                } else {
                    Fail::Backend(text)
                }
            }
            // Not from the server (I/O, protocol, decoding): no row values in it.
            // tokio-postgres tells its kinds apart only in their text: a connection
            // that could not be made, broke or timed out means the database is
            // unreachable; anything else (decoding, protocol) is a bug.
            None => {
                // Its own text, then the cause (an OS error: "Connection refused").
                let text = match std::error::Error::source(&e) {
                    Some(cause) if !e.to_string().contains(&cause.to_string()) => {
                        format!("{e}: {cause}")
                    }
                    _ => e.to_string(),
                };
                let unreachable = e.is_closed()
                    || [
                        "error connecting",
                        "error communicating",
                        "timeout",
                        "connection closed",
                    ]
                    .iter()
                    .any(|p| text.starts_with(p));
                if unreachable {
                    Fail::Unavailable(format!("cannot reach PostgreSQL: {text}"))
                } else {
                    Fail::Backend(format!("postgres: {text}"))
                }
            }
        }
    }
}

impl From<deadpool_postgres::PoolError> for Fail {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::{PoolError, TimeoutType};
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(TimeoutType::Wait) => Fail::Unavailable(
                "no PostgreSQL connection came free within the pool wait (every pooled \
                 connection is busy: the database is slow or stopped answering)"
                    .into(),
            ),
            PoolError::Timeout(_) => Fail::Unavailable(
                "cannot reach PostgreSQL: a new connection was not ready in time".into(),
            ),
            PoolError::Closed => Fail::Unavailable("the PostgreSQL pool is closed".into()),
            other => Fail::Backend(format!("postgres pool: {other}")),
        }
    }
}

impl From<Fail> for StoreError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Conflict => StoreError::Conflict,
            Fail::Unavailable(s) => StoreError::Unavailable(s),
            Fail::Invalid(s) => StoreError::Invalid(s),
            Fail::Retry(s) | Fail::Backend(s) => StoreError::Backend(s),
        }
    }
}

/// Runs one database operation under the store's answer deadline: a database that
/// stops answering without closing its connections (paused, cut off by the
/// network) would otherwise hold the caller forever.
pub(super) async fn within<T>(
    deadline: Duration,
    op: impl std::future::Future<Output = Result<T, Fail>>,
) -> Result<T, Fail> {
    match tokio::time::timeout(deadline, op).await {
        Ok(r) => r,
        Err(_) => Err(Fail::Unavailable(format!(
            "PostgreSQL did not answer within {} ms",
            deadline.as_millis()
        ))),
    }
}

/// Attempts of one write transaction before a retryable failure is given up.
pub(super) const MAX_ATTEMPTS: u32 = 8;

/// Pause before attempt `n + 1`, growing, with a little jitter so two retrying
/// transactions do not collide again in lockstep.
pub(super) fn retry_delay(attempt: u32) -> Duration {
    let [b] = lockbox_crypto::random_bytes::<1>();
    Duration::from_millis((2u64 << attempt.min(7)) + u64::from(b % 8))
}

/// Runs `$body` in a write transaction bound to `$w` (a [`WriteTx`]), commits,
/// and reruns the whole thing after a serialization failure or deadlock. The body
/// may use `?` on tokio-postgres errors and `Fail`; it is an expression whose
/// value the macro returns as `StoreResult<_>` once committed. The body may run
/// more than once, so it must not move out of captured values.
macro_rules! write_tx {
    ($store:expr, |$w:ident| $body:expr) => {{
        let store: &PostgresStore = $store;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let result: Result<_, Fail> = tx::within(store.deadlines.answer, async {
                let mut client = store.client().await?;
                let tx = client.transaction().await?;
                #[allow(unused_mut)]
                let mut $w = WriteTx::new(tx);
                let out = $body;
                $w.commit(&store.channel, &store.node_id, &store.chain_keys).await?;
                Ok(out)
            })
            .await;
            match result {
                Err(Fail::Retry(why)) if attempt < tx::MAX_ATTEMPTS => {
                    tracing::debug!(attempt, %why, "retrying a PostgreSQL transaction");
                    tokio::time::sleep(tx::retry_delay(attempt)).await;
                }
                other => break other.map_err(StoreError::from),
            }
        }
    }};
}
pub(super) use write_tx;

/// Prepares (cached per connection) and runs a statement.
pub(super) async fn exec<C: GenericClient>(c: &C, sql: &str, p: Params<'_>) -> Result<u64, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, p).await?)
}

/// Prepares (cached per connection) and runs a query.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Vec<Row>, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, p).await?)
}

/// Prepares (cached per connection) and runs a query expecting at most one row.
pub(super) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    p: Params<'_>,
) -> Result<Option<Row>, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, p).await?)
}

/// A write transaction in progress, collecting the audit records and changes it
/// will write when it commits.
pub(super) struct WriteTx<'a> {
    tx: Transaction<'a>,
    audit: Vec<AuditRecord>,
    changes: Vec<Change>,
}

impl<'a> WriteTx<'a> {
    pub(super) fn new(tx: Transaction<'a>) -> Self {
        WriteTx {
            tx,
            audit: Vec::new(),
            changes: Vec::new(),
        }
    }

    pub(super) fn tx(&self) -> &Transaction<'a> {
        &self.tx
    }

    pub(super) async fn exec(&self, sql: &str, p: Params<'_>) -> Result<u64, Fail> {
        exec(&self.tx, sql, p).await
    }

    pub(super) async fn query(&self, sql: &str, p: Params<'_>) -> Result<Vec<Row>, Fail> {
        query(&self.tx, sql, p).await
    }

    /// Queues an audit row, appended to the chain at commit.
    pub(super) fn audit(&mut self, record: AuditRecord) {
        self.audit.push(record);
    }

    /// Queues a change notification, sent at commit (and delivered on commit).
    pub(super) fn changed(&mut self, change: Change) {
        if !self.changes.contains(&change) {
            self.changes.push(change);
        }
    }

    /// Appends the queued audit rows, notifies the queued changes, commits.
    ///
    /// The audit rows come last so the `audit_heads` row locks, which serialize
    /// appends to one chain across processes, are held only from here to COMMIT
    /// and are always the last locks a transaction takes, in chain order (no
    /// lock-order cycles through them). Appends to different workspaces lock
    /// different rows and do not wait for each other.
    pub(super) async fn commit(
        self,
        channel: &str,
        node_id: &str,
        keys: &ChainKeySlot,
    ) -> Result<(), Fail> {
        if !self.audit.is_empty() {
            append_chained(&self.tx, keys, self.audit).await?;
        }
        if !self.changes.is_empty() {
            let payloads: Vec<String> = self
                .changes
                .iter()
                .map(|c| listener::encode(node_id, c))
                .collect();
            exec(
                &self.tx,
                "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                &[&channel, &payloads],
            )
            .await?;
        }
        self.tx.commit().await?;
        Ok(())
    }
}

/// Locks the heads of `chains` (created at genesis if new) in chain order and
/// returns them. The caller appends to those chains and then [`store_heads`].
pub(super) async fn lock_heads(
    tx: &Transaction<'_>,
    chains: &[String],
) -> Result<HashMap<String, Head>, Fail> {
    let mut chains = chains.to_vec();
    chains.sort();
    chains.dedup();
    exec(
        tx,
        "INSERT INTO audit_heads (chain, seq, hash) SELECT c, 0, $2 FROM unnest($1::text[]) AS c \
         ON CONFLICT (chain) DO NOTHING",
        &[&chains, &audit_chain::GENESIS],
    )
    .await?;
    // ORDER BY is applied before the rows are locked, so they are locked in chain
    // order: two transactions that share chains never wait on each other in a cycle.
    let rows = query(
        tx,
        "SELECT chain, seq, hash FROM audit_heads WHERE chain = ANY($1) ORDER BY chain FOR UPDATE",
        &[&chains],
    )
    .await?;
    let mut heads = HashMap::with_capacity(rows.len());
    for r in rows {
        heads.insert(
            r.try_get::<_, String>(0)?,
            Head {
                seq: r.try_get(1)?,
                hash: r.try_get(2)?,
            },
        );
    }
    if heads.len() != chains.len() {
        return Err(Fail::Backend("an audit_heads row is missing".into()));
    }
    Ok(heads)
}

/// Writes the heads back after appending.
pub(super) async fn store_heads(
    tx: &Transaction<'_>,
    heads: &HashMap<String, Head>,
) -> Result<(), Fail> {
    let chains: Vec<&str> = heads.keys().map(String::as_str).collect();
    let seqs: Vec<i64> = heads.values().map(|h| h.seq).collect();
    let hashes: Vec<&str> = heads.values().map(|h| h.hash.as_str()).collect();
    exec(
        tx,
        "UPDATE audit_heads h SET seq = u.seq, hash = u.hash \
         FROM unnest($1::text[], $2::bigint[], $3::text[]) AS u(chain, seq, hash) \
         WHERE h.chain = u.chain",
        &[&chains, &seqs, &hashes],
    )
    .await?;
    Ok(())
}

/// `n` fresh audit sequence numbers, increasing. Taken after the heads are
/// locked, so within a chain `seq` increases with commit order.
pub(super) async fn next_seqs(tx: &Transaction<'_>, n: usize) -> Result<Vec<i64>, Fail> {
    let n = i32::try_from(n).map_err(|_| Fail::Backend("too many audit rows".into()))?;
    let rows = query(
        tx,
        "SELECT nextval('audit_seq') FROM generate_series(1, $1::int)",
        &[&n],
    )
    .await?;
    let mut seqs = rows
        .iter()
        .map(|r| r.try_get::<_, i64>(0))
        .collect::<Result<Vec<_>, _>>()?;
    seqs.sort_unstable();
    Ok(seqs)
}

/// Appends `records`, each to its chain: locks the heads, takes sequence
/// numbers, seals and inserts each row, stores the new heads. Returns the head
/// of the last row appended.
pub(super) async fn append_chained(
    tx: &Transaction<'_>,
    keys: &ChainKeySlot,
    records: Vec<AuditRecord>,
) -> Result<Head, Fail> {
    let keys = keys.get();
    let chains: Vec<String> = records
        .iter()
        .map(|r| audit_chain::chain_of(r).to_string())
        .collect();
    let mut heads = lock_heads(tx, &chains).await?;
    let seqs = next_seqs(tx, records.len()).await?;
    let mut last = None;
    let mut rows = Vec::with_capacity(records.len());
    for ((record, chain), seq) in records.into_iter().zip(chains).zip(seqs) {
        let head = heads
            .get_mut(&chain)
            .ok_or_else(|| Fail::Backend("audit head not locked".into()))?;
        let mut row = AuditRow {
            seq,
            record,
            prev_hash: head.hash.clone(),
            key_version: None,
            hash: String::new(),
            chain: Some(chain),
        };
        audit_chain::seal_row(keys.as_deref(), &mut row).map_err(Fail::Backend)?;
        *head = Head {
            seq: row.seq,
            hash: row.hash.clone(),
        };
        last = Some(head.clone());
        rows.push(row);
    }
    // Sent together (a batch's rows cost one round trip, not one each); any
    // failure fails the transaction.
    let inserts: Vec<Pending<'_>> = rows
        .iter()
        .map(|row| -> Pending<'_> {
            Box::pin(async move { insert_audit_row(tx, row).await.map(|()| 0) })
        })
        .collect();
    for result in in_order(inserts).await {
        result?;
    }
    store_heads(tx, &heads).await?;
    last.ok_or_else(|| Fail::Backend("no audit row to append".into()))
}

/// Inserts one audit row as given (seq, hashes and all).
pub(super) async fn insert_audit_row(tx: &Transaction<'_>, row: &AuditRow) -> Result<(), Fail> {
    let r = &row.record;
    exec(
        tx,
        "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, \
         request_id, detail, prev_hash, hash, key_version, chain) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)",
        &[
            &row.seq,
            &r.workspace_id,
            &r.at.millis(),
            &r.actor,
            &r.action,
            &r.target,
            &r.outcome,
            &r.request_id,
            &r.detail.to_string(),
            &row.prev_hash,
            &row.hash,
            &row.key_version.map(super::decode::int).transpose()?,
            &row.chain,
        ],
    )
    .await?;
    Ok(())
}

/// A statement on its way, answered with its row count.
pub(super) type Pending<'a> = Pin<Box<dyn Future<Output = Result<u64, Fail>> + Send + 'a>>;

/// Polls every step to its end, each first in the given order, so their requests
/// reach the connection (and the database) in that order; answers in that order.
pub(super) async fn in_order(mut steps: Vec<Pending<'_>>) -> Vec<Result<u64, Fail>> {
    let mut out: Vec<Option<Result<u64, Fail>>> = steps.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut waiting = false;
        for (step, slot) in steps.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match step.as_mut().poll(cx) {
                    Poll::Ready(r) => *slot = Some(r),
                    Poll::Pending => waiting = true,
                }
            }
        }
        if waiting {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|r| r.expect("every step was polled to its end"))
        .collect()
}
