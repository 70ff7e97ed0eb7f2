//! The shared store: PostgreSQL through a `deadpool-postgres` pool of
//! `tokio-postgres` connections, for several Lockbox processes on one database.
//!
//! It behaves like the SQLite store method for method (same Conflict cases, same
//! list ordering, same audit rows); what differs is how the guarantees are kept
//! across processes:
//! - every write method is one transaction and resolves only after COMMIT (see
//!   `tx.rs`), rerun whole after a serialization failure or deadlock; version
//!   commits waiting on one store share a transaction, one savepoint each
//!   (`batch.rs`), with the same answers as one transaction each;
//! - version commits are compare-and-set in SQL (`WHERE current_version = $n`);
//! - audit rows are chained under a row lock on their chain's `audit_heads` row
//!   (one per workspace, plus the account chain), so each chain stays linear
//!   whichever process appends, and appends to different workspaces do not wait
//!   for each other;
//! - each write also notifies what it changed, and a background listener turns
//!   other processes' notifications into [`Change`]s for [`Store::subscribe`]
//!   (see `listener.rs`).
//!
//! Schema and migrations are in `schema.rs`; row decoding in `decode.rs`.
//!
//! The changes each write reports to other processes (on commit, ids only):
//! - `commit_version`, `rename_secret`, `delete_secret`, `purge_expired`,
//!   `reseal_versions`, `change_versions`, `update_secret_settings`: `Secret(id)`
//!   per secret changed (a replaced expired
//!   secret too);
//! - `insert_token`, `revoke_token`: `Token(id)`;
//! - `put_membership`, `delete_membership`: `Membership(workspace, user)`;
//! - `create_workspace`, `update_workspace_settings`, `add_workspace_key`,
//!   `rewrap_workspace_keys`: `Workspace(id)` (plus the owner's `Membership` on
//!   create);
//! - `delete_workspace`: `Workspace(id)`, after a `Membership` per membership and
//!   a `Token` per service token it removed, since those grant access;
//! - `import`: `Everything`; `create_user`, `touch_tokens`, `append_audit`: nothing.
//!
//! Unlike SQLite's `secure_delete`, PostgreSQL does not zero deleted rows: a
//! deleted workspace's wrapped keys linger in dead tuples and WAL until vacuumed
//! and recycled (still wrapped under the master key).

mod batch;
mod children;
mod decode;
mod key_registry;
mod listener;
mod schema;
mod tx;

use crate::audit_chain::{self, ChainKeySlot, ChainKeys, ChainState, Head, VerifyReport};
use crate::rows::*;
use crate::{
    Change, CommitVersion, DropBindings, Expect, MoveBindings, Snapshot, Store, StoreError,
    StoreResult,
};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use decode::{
    big, int, AUDIT_COLS, KEY_COLS, SECRET_COLS, SECRET_INSERT_COLS, TOKEN_COLS, USER_COLS,
    VERSION_COLS, WORKSPACE_COLS,
};
use lockbox_core::{Role, Scope, Timestamp};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_postgres::{IsolationLevel, NoTls, Row};

pub(crate) use tx::Fail;
use tx::{write_tx, Params, WriteTx};

/// Connections kept by the pool of one store.
const POOL_SIZE: usize = 16;

/// Time limits of a PostgreSQL store, so a database that is down, paused or
/// overloaded makes requests fail fast (`unavailable`) instead of hanging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// `statement_timeout` of every pooled connection (the server cancels a
    /// statement running longer); None keeps the server's own setting. Also sets
    /// `idle_in_transaction_session_timeout` to twice this, so a transaction left
    /// open by a stuck node cannot hold row locks (the audit head) for long.
    pub statement: Option<Duration>,
    /// The longest an operation waits for a free pooled connection.
    pub pool_wait: Duration,
    /// The longest one store operation (pool wait, statements and commit) may take
    /// before it is abandoned as `unavailable`: this catches a database that stops
    /// answering without closing its connections, which no server-side timeout can.
    pub answer: Duration,
}

impl Default for Deadlines {
    /// What `lockbox server` uses unless told otherwise.
    fn default() -> Self {
        Deadlines {
            statement: Some(Duration::from_secs(10)),
            pool_wait: Duration::from_secs(5),
            answer: Duration::from_secs(15),
        }
    }
}

impl Deadlines {
    /// For maintenance commands (backup, restore, key rotation): no statement
    /// timeout (a backup reads whole tables), generous waits.
    pub fn maintenance() -> Self {
        Deadlines {
            statement: None,
            pool_wait: Duration::from_secs(30),
            answer: Duration::from_secs(3600),
        }
    }
}

/// A [`Store`] on PostgreSQL, shared by any number of processes.
pub struct PostgresStore {
    pool: Pool,
    /// Random per instance; tags this store's notifications so its own listener
    /// skips them.
    node_id: String,
    /// The NOTIFY channel: `lockbox_changes`, suffixed with the schema when the
    /// store lives in one (NOTIFY is database-wide, schemas are not).
    channel: String,
    changes: broadcast::Sender<Change>,
    _listener: listener::ListenerHandle,
    /// Appends that accompany no other change go through one batching task.
    audit_batch: tokio::sync::mpsc::UnboundedSender<AuditJob>,
    deadlines: Deadlines,
    /// The audit chain keys (shared with the batching tasks).
    chain_keys: std::sync::Arc<ChainKeySlot>,
    /// Version commits go through one batching task (`batch.rs`).
    commit_batch: batch::CommitQueue,
}

type AuditJob = (
    Vec<AuditRecord>,
    tokio::sync::oneshot::Sender<StoreResult<()>>,
);

/// Group commit for plain audit appends (reveals, denials, egress calls): every
/// append waiting when a batch starts goes into one transaction, under one
/// lock of each chain it touches and one commit, and each caller is answered only
/// after that commit. Without it, concurrent reveals in one workspace serialize on
/// its head lock one commit at a time.
fn spawn_audit_batcher(
    pool: Pool,
    channel: String,
    node_id: String,
    answer: Duration,
    keys: std::sync::Arc<ChainKeySlot>,
) -> tokio::sync::mpsc::UnboundedSender<AuditJob> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<AuditJob>();
    tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < 512 {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            let records: Vec<&AuditRecord> = batch.iter().flat_map(|(r, _)| r.iter()).collect();
            let result = append_batch(&pool, &channel, &node_id, &keys, &records, answer).await;
            for (_, reply) in batch {
                if let Err(Err(e)) = reply.send(result.clone()) {
                    // Queued (`queue_audit`), or its caller is gone: no one else hears.
                    tracing::error!(error = %e, "an audit append nobody waits for failed");
                }
            }
        }
    });
    tx
}

async fn append_batch(
    pool: &Pool,
    channel: &str,
    node_id: &str,
    keys: &ChainKeySlot,
    records: &[&AuditRecord],
    answer: Duration,
) -> StoreResult<()> {
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let result: Result<(), Fail> = tx::within(answer, async {
            let mut client = pool.get().await?;
            let tx = client.transaction().await?;
            let mut w = WriteTx::new(tx);
            for r in records {
                w.audit((*r).clone());
            }
            w.commit(channel, node_id, keys).await
        })
        .await;
        match result {
            Err(Fail::Retry(why)) if attempt < tx::MAX_ATTEMPTS => {
                tracing::debug!(attempt, %why, "retrying an audit batch");
                tokio::time::sleep(tx::retry_delay(attempt)).await;
            }
            other => return other.map_err(StoreError::from),
        }
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("node_id", &self.node_id)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`, no TLS), migrating the
    /// schema if needed, and starts listening for other processes' changes.
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        Ok(Self::open(url, None, Deadlines::maintenance()).await?)
    }

    /// Like [`connect`](Self::connect), with the given time limits (the server's).
    pub async fn connect_with(url: &str, deadlines: Deadlines) -> StoreResult<PostgresStore> {
        Ok(Self::open(url, None, deadlines).await?)
    }

    /// Like [`connect`](Self::connect), with every connection's `search_path` set
    /// to `schema`, which is created if absent. `schema` must be 1 to 47 lowercase
    /// ASCII letters, digits or `_`, not starting with a digit. Used to give each
    /// test its own schema, or to share a database with other applications.
    pub async fn connect_in_schema(url: &str, schema: &str) -> StoreResult<PostgresStore> {
        Ok(Self::open(url, Some(schema), Deadlines::default()).await?)
    }

    /// This instance's random id, as it tags its change notifications.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    async fn open(
        url: &str,
        schema: Option<&str>,
        deadlines: Deadlines,
    ) -> Result<PostgresStore, Fail> {
        // The URL may hold a password: never echo it.
        let mut config: tokio_postgres::Config = url
            .parse()
            // The parser's reason names the option, never its value.
            .map_err(|e| Fail::Invalid(format!("invalid PostgreSQL connection URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        let mut channel = listener::CHANNEL.to_string();
        if let Some(schema) = schema {
            if !valid_schema_name(schema) {
                return Err(Fail::Invalid(format!(
                    "invalid schema name {schema:?}: use 1 to 47 of a-z, 0-9 and _, not starting with a digit"
                )));
            }
            let options = match config.get_options() {
                Some(o) if !o.is_empty() => format!("{o} -c search_path={schema}"),
                _ => format!("-c search_path={schema}"),
            };
            config.options(options);
            channel = format!("{channel}_{schema}");
        }

        // Migrate on a dedicated connection (the advisory lock is per session).
        let (mut client, conn) = config.connect(NoTls).await?;
        let driver = tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %Fail::from(e), "migration connection ended");
            }
        });
        let migrated = schema::migrate(&mut client, schema).await;
        drop(client);
        let _ = driver.await;
        migrated?;

        // Pooled connections only (not the migration's): statements past the
        // statement timeout are cancelled by the server.
        let mut pooled = config.clone();
        if let Some(st) = deadlines.statement {
            let ms = st.as_millis().max(1);
            let limits = format!(
                "-c statement_timeout={ms} -c idle_in_transaction_session_timeout={}",
                ms * 2
            );
            let options = match pooled.get_options() {
                Some(o) if !o.is_empty() => format!("{o} {limits}"),
                _ => limits,
            };
            pooled.options(options);
        }
        let manager = Manager::from_config(
            pooled,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(deadlines.pool_wait))
            .create_timeout(Some(Duration::from_secs(10).min(deadlines.answer)))
            .build()
            .map_err(|e| Fail::Backend(format!("postgres pool: {e}")))?;

        let node_id = hex::encode(lockbox_crypto::random_bytes::<8>());
        let (changes, _) = broadcast::channel(listener::CAPACITY);
        let listener = listener::start(
            listener::config_for(&config, &node_id),
            channel.clone(),
            node_id.clone(),
            changes.clone(),
        )
        .await?;
        let chain_keys = std::sync::Arc::new(ChainKeySlot::default());
        let audit_batch = spawn_audit_batcher(
            pool.clone(),
            channel.clone(),
            node_id.clone(),
            deadlines.answer,
            chain_keys.clone(),
        );
        let commit_batch = batch::spawn(batch::Batcher {
            pool: pool.clone(),
            channel: channel.clone(),
            node_id: node_id.clone(),
            answer: deadlines.answer,
            keys: chain_keys.clone(),
        });
        Ok(PostgresStore {
            pool,
            node_id,
            channel,
            changes,
            _listener: listener,
            audit_batch,
            deadlines,
            chain_keys,
            commit_batch,
        })
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Fail> {
        Ok(self.pool.get().await?)
    }

    async fn rows(&self, sql: &str, p: Params<'_>) -> Result<Vec<Row>, Fail> {
        tx::within(self.deadlines.answer, async {
            let c = self.client().await?;
            tx::query(&c, sql, p).await
        })
        .await
    }

    async fn row(&self, sql: &str, p: Params<'_>) -> Result<Option<Row>, Fail> {
        tx::within(self.deadlines.answer, async {
            let c = self.client().await?;
            tx::query_opt(&c, sql, p).await
        })
        .await
    }
}

fn valid_schema_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 47
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn flow_from(r: &Row) -> Result<FlowRow, Fail> {
    Ok(FlowRow {
        workspace_id: r.try_get(0)?,
        slug: r.try_get(1)?,
        yaml: r.try_get(2)?,
        updated_at: Timestamp(r.try_get(3)?),
        updated_by: r.try_get(4)?,
    })
}

fn binding_from(r: &Row) -> Result<BindingRow, Fail> {
    Ok(BindingRow {
        workspace_id: r.try_get(0)?,
        owner: r.try_get(1)?,
        secret: r.try_get(2)?,
        location: r.try_get(3)?,
    })
}

async fn replace_bindings(
    w: &WriteTx<'_>,
    workspace_id: &str,
    owner: &str,
    rows: &[BindingRow],
) -> Result<(), Fail> {
    w.exec(
        "DELETE FROM bindings WHERE workspace_id = $1 AND owner = $2",
        &[&workspace_id, &owner],
    )
    .await?;
    for b in rows {
        w.exec(
            "INSERT INTO bindings (workspace_id, owner, secret, location) VALUES ($1,$2,$3,$4) ON CONFLICT DO NOTHING",
            &[&workspace_id, &owner, &b.secret, &b.location],
        )
        .await?;
    }
    Ok(())
}

/// `INSERT INTO secrets` of a whole row.
const INSERT_SECRET: &str = "INSERT INTO secrets (SECRET_INSERT_COLS_) \
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)";

/// The SQL of [`INSERT_SECRET`] with its column list filled in.
fn insert_secret_sql() -> String {
    INSERT_SECRET.replace("SECRET_INSERT_COLS_", SECRET_INSERT_COLS)
}

/// `INSERT INTO secret_versions` of a whole row.
fn insert_version_sql() -> String {
    format!("INSERT INTO secret_versions ({VERSION_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)")
}

/// A secret row's values as [`insert_secret_sql`] takes them, owned apart from the
/// row's own strings so a batch can hold them while its statements are pipelined.
struct SecretValues<'a> {
    s: &'a SecretRow,
    scope: &'static str,
    visibility: &'static str,
    current_version: i64,
    expires_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    hosts: String,
    labels: String,
    max_versions: Option<i32>,
    delete_version_after: Option<i64>,
}

impl<'a> SecretValues<'a> {
    fn of(s: &'a SecretRow) -> Result<Self, Fail> {
        Ok(SecretValues {
            s,
            scope: s.scope.as_str(),
            visibility: s.visibility.as_str(),
            current_version: big(s.current_version),
            expires_at: s.expires_at.map(|t| t.millis()),
            created_at: s.created_at.millis(),
            updated_at: s.updated_at.millis(),
            hosts: hosts_json(&s.allowed_hosts),
            labels: labels_json(&s.labels),
            max_versions: s.max_versions.map(int).transpose()?,
            delete_version_after: s.delete_version_after.map(big),
        })
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 19] {
        let s = self.s;
        [
            &s.id,
            &s.workspace_id,
            &self.scope,
            &s.owner,
            &s.name,
            &self.visibility,
            &s.description,
            &self.current_version,
            &s.fingerprint,
            &self.expires_at,
            &self.created_at,
            &s.created_by,
            &self.updated_at,
            &s.updated_by,
            &self.hosts,
            &self.labels,
            &self.max_versions,
            &s.cas_required,
            &self.delete_version_after,
        ]
    }
}

/// A version row's values as [`insert_version_sql`] takes them.
struct VersionValues<'a> {
    v: &'a VersionRow,
    version: i64,
    key_version: i32,
    created_at: i64,
    deleted_at: Option<i64>,
    policy: Option<String>,
}

impl<'a> VersionValues<'a> {
    fn of(v: &'a VersionRow) -> Result<Self, Fail> {
        Ok(VersionValues {
            v,
            version: big(v.version),
            key_version: int(v.key_version)?,
            created_at: v.created_at.millis(),
            deleted_at: v.deleted_at.map(|t| t.millis()),
            policy: VersionPolicy::to_column(v.policy.as_ref()),
        })
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 10] {
        let v = self.v;
        [
            &v.secret_id,
            &self.version,
            &self.key_version,
            &v.sealed,
            &v.fingerprint,
            &self.created_at,
            &v.created_by,
            &self.deleted_at,
            &v.destroyed,
            &self.policy,
        ]
    }
}

async fn insert_secret(w: &WriteTx<'_>, s: &SecretRow) -> Result<(), Fail> {
    let values = SecretValues::of(s)?;
    w.exec(&insert_secret_sql(), &values.params()).await?;
    Ok(())
}

fn hosts_json(hosts: &[String]) -> String {
    serde_json::to_string(hosts).expect("strings serialize")
}

fn labels_json(labels: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).expect("strings serialize")
}

async fn insert_version(w: &WriteTx<'_>, v: &VersionRow) -> Result<(), Fail> {
    let values = VersionValues::of(v)?;
    w.exec(&insert_version_sql(), &values.params()).await?;
    Ok(())
}

async fn insert_key(w: &WriteTx<'_>, k: &WorkspaceKeyRow) -> Result<(), Fail> {
    w.exec(
        &format!("INSERT INTO workspace_keys ({KEY_COLS}) VALUES ($1,$2,$3,$4)"),
        &[
            &k.workspace_id,
            &int(k.version)?,
            &int(k.master_version)?,
            &k.wrapped,
        ],
    )
    .await?;
    Ok(())
}

async fn insert_workspace(w: &WriteTx<'_>, ws: &WorkspaceRow) -> Result<(), Fail> {
    let settings = serde_json::to_string(&ws.settings).expect("settings serialize");
    w.exec(
        &format!("INSERT INTO workspaces ({WORKSPACE_COLS}) VALUES ($1,$2,$3,$4,$5)"),
        &[
            &ws.id,
            &ws.name,
            &settings,
            &int(ws.active_key_version)?,
            &ws.created_at.millis(),
        ],
    )
    .await?;
    Ok(())
}

async fn insert_membership(
    w: &WriteTx<'_>,
    workspace_id: &str,
    user_id: &str,
    role: Role,
    at: Timestamp,
) -> Result<(), Fail> {
    w.exec(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1,$2,$3,$4)",
        &[&workspace_id, &user_id, &role.as_str(), &at.millis()],
    )
    .await?;
    Ok(())
}

async fn insert_token(w: &WriteTx<'_>, t: &TokenRow) -> Result<(), Fail> {
    w.exec(
        &format!(
            "INSERT INTO tokens ({TOKEN_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13)"
        ),
        &[
            &t.id,
            &t.hash,
            &t.name,
            &t.kind.as_str(),
            &t.user_id,
            &t.workspace_id,
            &t.role.map(|r| r.as_str()),
            &t.created_at.millis(),
            &t.created_by,
            &t.expires_at.map(|x| x.millis()),
            &t.last_used_at.map(|x| x.millis()),
            &t.revoked_at.map(|x| x.millis()),
            &t.run_as_users,
        ],
    )
    .await?;
    Ok(())
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_workspace(
        &self,
        ws: WorkspaceRow,
        key: WorkspaceKeyRow,
        owner: Option<(String, Role)>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        write_tx!(self, |w| {
            insert_workspace(&w, &ws).await?;
            insert_key(&w, &key).await?;
            if let Some((user_id, role)) = &owner {
                insert_membership(&w, &ws.id, user_id, *role, ws.created_at).await?;
                w.changed(Change::Membership(ws.id.clone(), user_id.clone()));
            }
            w.audit(audit.clone());
            w.changed(Change::Workspace(ws.id.clone()));
        })
    }

    async fn workspace_by_name(&self, name: &str) -> StoreResult<Option<WorkspaceRow>> {
        let row = self
            .row(
                &format!("SELECT {WORKSPACE_COLS} FROM workspaces WHERE name = $1"),
                &[&name],
            )
            .await?;
        Ok(row.as_ref().map(decode::workspace).transpose()?)
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<WorkspaceRow>> {
        let rows = self
            .rows(
                &format!("SELECT {WORKSPACE_COLS} FROM workspaces ORDER BY name"),
                &[],
            )
            .await?;
        Ok(decode::all(&rows, decode::workspace)?)
    }

    async fn update_workspace_settings(
        &self,
        id: &str,
        settings: WorkspaceSettings,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let settings = serde_json::to_string(&settings).expect("settings serialize");
        write_tx!(self, |w| {
            w.exec(
                "UPDATE workspaces SET settings = $1 WHERE id = $2",
                &[&settings, &id],
            )
            .await?;
            w.audit(audit.clone());
            w.changed(Change::Workspace(id.to_owned()));
        })
    }

    async fn delete_workspace(&self, id: &str, audit: AuditRecord) -> StoreResult<bool> {
        write_tx!(self, |w| {
            // Keys first: once they are gone nothing sealed under them can be read.
            w.exec("DELETE FROM workspace_keys WHERE workspace_id = $1", &[&id])
                .await?;
            w.exec(
                "DELETE FROM secret_versions WHERE secret_id IN \
                 (SELECT id FROM secrets WHERE workspace_id = $1)",
                &[&id],
            )
            .await?;
            w.exec("DELETE FROM secrets WHERE workspace_id = $1", &[&id])
                .await?;
            // Memberships and service tokens go too: tell other processes which,
            // since they are what grants access.
            let members = w
                .query(
                    "DELETE FROM memberships WHERE workspace_id = $1 RETURNING user_id",
                    &[&id],
                )
                .await?;
            for m in &members {
                w.changed(Change::Membership(id.to_owned(), m.try_get(0)?));
            }
            let tokens = w
                .query(
                    "DELETE FROM tokens WHERE workspace_id = $1 RETURNING id",
                    &[&id],
                )
                .await?;
            for t in &tokens {
                w.changed(Change::Token(t.try_get(0)?));
            }
            let n = w
                .exec("DELETE FROM workspaces WHERE id = $1", &[&id])
                .await?;
            w.audit(audit.clone());
            w.changed(Change::Workspace(id.to_owned()));
            n > 0
        })
    }

    async fn workspace_keys(&self, workspace_id: &str) -> StoreResult<Vec<WorkspaceKeyRow>> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {KEY_COLS} FROM workspace_keys WHERE workspace_id = $1 ORDER BY version"
                ),
                &[&workspace_id],
            )
            .await?;
        Ok(decode::all(&rows, decode::key)?)
    }

    async fn all_workspace_keys(&self) -> StoreResult<Vec<WorkspaceKeyRow>> {
        let rows = self
            .rows(
                &format!("SELECT {KEY_COLS} FROM workspace_keys ORDER BY workspace_id, version"),
                &[],
            )
            .await?;
        Ok(decode::all(&rows, decode::key)?)
    }

    async fn rewrap_workspace_keys(
        &self,
        keys: Vec<WorkspaceKeyRow>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        write_tx!(self, |w| {
            for k in &keys {
                w.exec(
                    "UPDATE workspace_keys SET master_version = $1, wrapped = $2 \
                     WHERE workspace_id = $3 AND version = $4",
                    &[
                        &int(k.master_version)?,
                        &k.wrapped,
                        &k.workspace_id,
                        &int(k.version)?,
                    ],
                )
                .await?;
                w.changed(Change::Workspace(k.workspace_id.clone()));
            }
            w.audit(audit.clone());
        })
    }

    async fn create_user(&self, user: UserRow) -> StoreResult<()> {
        write_tx!(self, |w| {
            w.exec(
                &format!("INSERT INTO users ({USER_COLS}) VALUES ($1,$2,$3)"),
                &[&user.id, &user.name, &user.created_at.millis()],
            )
            .await?;
        })
    }

    async fn user_by_name(&self, name: &str) -> StoreResult<Option<UserRow>> {
        let row = self
            .row(
                &format!("SELECT {USER_COLS} FROM users WHERE name = $1"),
                &[&name],
            )
            .await?;
        Ok(row.as_ref().map(decode::user).transpose()?)
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        let row = self
            .row(
                &format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(decode::user).transpose()?)
    }

    async fn membership(&self, workspace_id: &str, user_id: &str) -> StoreResult<Option<Role>> {
        let row = self
            .row(
                "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                &[&workspace_id, &user_id],
            )
            .await?;
        Ok(row.as_ref().map(|r| decode::role(r, "role")).transpose()?)
    }

    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<(WorkspaceRow, Role)>> {
        let rows = self
            .rows(
                "SELECT w.id, w.name, w.settings, w.active_key_version, w.created_at, \
                 m.role AS member_role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
                 WHERE m.user_id = $1 ORDER BY w.name",
                &[&user_id],
            )
            .await?;
        let out: Result<Vec<_>, Fail> = rows
            .iter()
            .map(|r| Ok((decode::workspace(r)?, decode::role(r, "member_role")?)))
            .collect();
        Ok(out?)
    }

    async fn list_members(&self, workspace_id: &str) -> StoreResult<Vec<MemberRow>> {
        let rows = self
            .rows(
                "SELECT u.id, u.name, m.role, m.created_at FROM memberships m \
                 JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 ORDER BY u.name",
                &[&workspace_id],
            )
            .await?;
        let out: Result<Vec<_>, Fail> = rows
            .iter()
            .map(|r| {
                Ok(MemberRow {
                    user_id: r.try_get("id")?,
                    user_name: r.try_get("name")?,
                    role: decode::role(r, "role")?,
                    since: Timestamp(r.try_get("created_at")?),
                })
            })
            .collect();
        Ok(out?)
    }

    async fn put_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: Role,
        at: Timestamp,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        write_tx!(self, |w| {
            w.exec(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1,$2,$3,$4) \
                 ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
                &[&workspace_id, &user_id, &role.as_str(), &at.millis()],
            )
            .await?;
            w.audit(audit.clone());
            w.changed(Change::Membership(
                workspace_id.to_owned(),
                user_id.to_owned(),
            ));
        })
    }

    async fn delete_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        write_tx!(self, |w| {
            let n = w
                .exec(
                    "DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                    &[&workspace_id, &user_id],
                )
                .await?;
            if n > 0 {
                w.audit(audit.clone());
                w.changed(Change::Membership(
                    workspace_id.to_owned(),
                    user_id.to_owned(),
                ));
            }
            n > 0
        })
    }

    async fn insert_token(&self, t: TokenRow, audit: AuditRecord) -> StoreResult<()> {
        write_tx!(self, |w| {
            insert_token(&w, &t).await?;
            w.audit(audit.clone());
            w.changed(Change::Token(t.id.clone()));
        })
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRow>> {
        let row = self
            .row(
                &format!("SELECT {TOKEN_COLS} FROM tokens WHERE hash = $1"),
                &[&hash],
            )
            .await?;
        Ok(row.as_ref().map(decode::token).transpose()?)
    }

    async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        let row = self
            .row(
                &format!("SELECT {TOKEN_COLS} FROM tokens WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(decode::token).transpose()?)
    }

    async fn token_default_workspace(&self, id: &str) -> StoreResult<Option<String>> {
        let row = self
            .row("SELECT default_workspace FROM tokens WHERE id = $1", &[&id])
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<_, Option<String>>(0).map_err(Fail::from)?,
            None => None,
        })
    }

    async fn set_token_default_workspace(
        &self,
        id: &str,
        workspace_id: Option<String>,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        write_tx!(self, |w| {
            let n = w
                .exec(
                    "UPDATE tokens SET default_workspace = $1 WHERE id = $2",
                    &[&workspace_id, &id],
                )
                .await?;
            if n > 0 {
                w.audit(audit.clone());
                w.changed(Change::Token(id.to_owned()));
            }
            n > 0
        })
    }

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRow>> {
        let rows = self
            .rows(
                &format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY created_at, id"),
                &[],
            )
            .await?;
        Ok(decode::all(&rows, decode::token)?)
    }

    async fn revoke_token(&self, id: &str, at: Timestamp, audit: AuditRecord) -> StoreResult<bool> {
        write_tx!(self, |w| {
            let n = w
                .exec(
                    "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    &[&at.millis(), &id],
                )
                .await?;
            if n > 0 {
                w.audit(audit.clone());
                w.changed(Change::Token(id.to_owned()));
            }
            n > 0
        })
    }

    async fn touch_tokens(&self, mut used: Vec<(String, Timestamp)>) -> StoreResult<()> {
        // One order for every process, so two batches never lock rows crosswise.
        used.sort();
        write_tx!(self, |w| {
            for (id, at) in &used {
                w.exec(
                    "UPDATE tokens SET last_used_at = GREATEST(COALESCE(last_used_at, 0), $1) \
                     WHERE id = $2",
                    &[&at.millis(), id],
                )
                .await?;
            }
        })
    }

    async fn find_secret(
        &self,
        workspace_id: &str,
        scope: Scope,
        owner: &str,
        name: &str,
    ) -> StoreResult<Option<SecretRow>> {
        let row = self
            .row(
                &format!(
                    "SELECT {SECRET_COLS} FROM secrets \
                     WHERE workspace_id = $1 AND scope = $2 AND owner = $3 AND name = $4"
                ),
                &[&workspace_id, &scope.as_str(), &owner, &name],
            )
            .await?;
        Ok(row.as_ref().map(decode::secret).transpose()?)
    }

    async fn secret_by_id(&self, id: &str) -> StoreResult<Option<SecretRow>> {
        let row = self
            .row(
                &format!("SELECT {SECRET_COLS} FROM secrets WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(decode::secret).transpose()?)
    }

    async fn secret_version(
        &self,
        secret_id: &str,
        version: u64,
    ) -> StoreResult<Option<VersionRow>> {
        let row = self
            .row(
                &format!(
                    "SELECT {VERSION_COLS} FROM secret_versions WHERE secret_id = $1 AND version = $2"
                ),
                &[&secret_id, &big(version)],
            )
            .await?;
        Ok(row.as_ref().map(decode::version).transpose()?)
    }

    async fn list_versions(&self, secret_id: &str) -> StoreResult<Vec<VersionRow>> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {VERSION_COLS} FROM secret_versions WHERE secret_id = $1 \
                     ORDER BY version DESC"
                ),
                &[&secret_id],
            )
            .await?;
        Ok(decode::all(&rows, decode::version)?)
    }

    async fn list_secrets(&self, q: ListQuery) -> StoreResult<Vec<SecretRow>> {
        let prefix = q.prefix.unwrap_or_default();
        let rows = self
            .rows(
                &format!(
                    "SELECT {SECRET_COLS} FROM secrets WHERE workspace_id = $1 AND scope = $2 AND owner = $3 \
                     AND (expires_at IS NULL OR expires_at > $4) \
                     AND name >= $5::text AND left(name, length($5::text)) = $5::text \
                     AND ($8::text IS NULL OR name < $8::text) \
                     AND ($6::text IS NULL OR name > $6::text) \
                     AND ($9::boolean OR current_version > 0) \
                     ORDER BY name LIMIT $7"
                ),
                &[
                    &q.workspace_id,
                    &q.scope.as_str(),
                    &q.owner,
                    &q.now.millis(),
                    &prefix,
                    &q.after,
                    &i64::from(q.limit),
                    &crate::rows::prefix_upper_bound(&prefix),
                    &q.entries,
                ],
            )
            .await?;
        Ok(decode::all(&rows, decode::secret)?)
    }

    async fn list_children(&self, q: crate::ChildrenQuery) -> StoreResult<crate::Children> {
        Ok(self.children(&q).await?)
    }

    async fn commit_version(&self, commit: CommitVersion, audit: AuditRecord) -> StoreResult<()> {
        // Batched with the other commits waiting on this node: one transaction,
        // one savepoint per commit (see batch.rs).
        batch::submit(&self.commit_batch, commit, audit).await
    }

    async fn create_secret_entry(
        &self,
        secret: SecretRow,
        expect: Expect,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        if secret.current_version != 0 {
            return Err(StoreError::Backend(
                "a secret entry without versions has current_version 0".into(),
            ));
        }
        let s = &secret;
        write_tx!(self, |w| {
            match &expect {
                Expect::Create => insert_secret(&w, s).await?,
                Expect::ReplaceExpired(old) => {
                    w.exec("DELETE FROM secrets WHERE id = $1", &[old]).await?;
                    w.changed(Change::Secret(old.clone()));
                    insert_secret(&w, s).await?;
                }
                Expect::Current(_) => return Err(Fail::Conflict),
            }
            w.audit(audit.clone());
            w.changed(Change::Secret(s.id.clone()));
        })
    }

    async fn rename_secret(
        &self,
        secret_id: &str,
        new_name: &str,
        at: Timestamp,
        by: &str,
        bindings: Option<MoveBindings>,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        write_tx!(self, |w| {
            let n = w
                .exec(
                    "UPDATE secrets SET name = $1, updated_at = $2, updated_by = $3 WHERE id = $4",
                    &[&new_name, &at.millis(), &by, &secret_id],
                )
                .await?;
            if n > 0 {
                if let Some(m) = &bindings {
                    w.exec(
                        "INSERT INTO bindings (workspace_id, owner, secret, location) \
                         SELECT workspace_id, owner, $1, location FROM bindings WHERE workspace_id = $2 AND secret = $3 \
                         ON CONFLICT DO NOTHING",
                        &[&new_name, &m.workspace_id, &m.old_name],
                    )
                    .await?;
                    w.exec(
                        "DELETE FROM bindings WHERE workspace_id = $1 AND secret = $2",
                        &[&m.workspace_id, &m.old_name],
                    )
                    .await?;
                }
                w.audit(audit.clone());
                w.changed(Change::Secret(secret_id.to_owned()));
            }
            n > 0
        })
    }

    async fn delete_secret(
        &self,
        secret_id: &str,
        bindings: Option<DropBindings>,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        write_tx!(self, |w| {
            w.exec(
                "DELETE FROM secret_versions WHERE secret_id = $1",
                &[&secret_id],
            )
            .await?;
            let n = w
                .exec("DELETE FROM secrets WHERE id = $1", &[&secret_id])
                .await?;
            if n > 0 {
                if let Some(d) = &bindings {
                    w.exec(
                        "DELETE FROM bindings WHERE workspace_id = $1 AND secret = $2 AND owner = $3",
                        &[&d.workspace_id, &d.name, &d.owner],
                    )
                    .await?;
                }
                w.audit(audit.clone());
                w.changed(Change::Secret(secret_id.to_owned()));
            }
            n > 0
        })
    }

    async fn set_version_states(
        &self,
        secret_id: &str,
        changes: Vec<VersionStateChange>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        write_tx!(self, |w| {
            for c in &changes {
                // A destroyed version keeps no ciphertext.
                let n = w
                    .exec(
                        "UPDATE secret_versions SET deleted_at = $1, destroyed = $2, \
                         sealed = CASE WHEN $2 THEN ''::bytea ELSE sealed END \
                         WHERE secret_id = $3 AND version = $4 \
                         AND deleted_at IS NOT DISTINCT FROM $5 AND destroyed = $6",
                        &[
                            &c.to.deleted_at().map(|t| t.millis()),
                            &c.to.is_destroyed(),
                            &secret_id,
                            &big(c.version),
                            &c.from.deleted_at().map(|t| t.millis()),
                            &c.from.is_destroyed(),
                        ],
                    )
                    .await?;
                if n == 0 {
                    // Returning before the commit rolls back every move of this call.
                    return Err(Fail::Conflict);
                }
            }
            w.audit(audit.clone());
            w.changed(Change::Secret(secret_id.to_owned()));
        })
    }

    async fn update_secret_settings(
        &self,
        secret_id: &str,
        settings: SecretSettings,
        at: Timestamp,
        by: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let max_versions = settings.max_versions.map(int).transpose()?;
        let delete_after = settings.delete_version_after.map(big);
        let labels = labels_json(&settings.labels);
        write_tx!(self, |w| {
            let n = w
                .exec(
                    "UPDATE secrets SET labels = $1, max_versions = $2, cas_required = $3, \
                     delete_version_after = $4, updated_at = $5, updated_by = $6, description = $8 \
                     WHERE id = $7",
                    &[
                        &labels,
                        &max_versions,
                        &settings.cas_required,
                        &delete_after,
                        &at.millis(),
                        &by,
                        &secret_id,
                        &settings.description,
                    ],
                )
                .await?;
            if n > 0 {
                w.audit(audit.clone());
                w.changed(Change::Secret(secret_id.to_owned()));
            }
            n > 0
        })
    }

    async fn expired_secrets(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<SecretRow>> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {SECRET_COLS} FROM secrets WHERE expires_at IS NOT NULL AND expires_at <= $1 \
                     ORDER BY expires_at, id LIMIT $2"
                ),
                &[&now.millis(), &i64::from(limit)],
            )
            .await?;
        Ok(decode::all(&rows, decode::secret)?)
    }

    async fn delete_expired(&self, expired: Vec<ExpiredSecret>) -> StoreResult<Vec<String>> {
        write_tx!(self, |w| {
            let mut deleted = Vec::new();
            for e in &expired {
                // Its versions go with it (ON DELETE CASCADE). Two processes
                // purging at once: the second finds the row gone and skips its
                // audit row.
                let n = w
                    .exec(
                        "DELETE FROM secrets WHERE id = $1 AND current_version = $2 AND expires_at = $3",
                        &[&e.secret_id, &big(e.current_version), &e.expires_at.millis()],
                    )
                    .await?;
                if n > 0 {
                    w.audit(e.audit.clone());
                    w.changed(Change::Secret(e.secret_id.clone()));
                    deleted.push(e.secret_id.clone());
                }
            }
            deleted
        })
    }

    async fn append_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.audit_batch
            .send((records, tx))
            .map_err(|_| StoreError::Backend("the audit batcher has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the audit batcher dropped an append".into()))?
    }

    fn queue_audit(&self, records: Vec<AuditRecord>) {
        // The batcher logs the failure of an append nobody waits for.
        let (tx, _unheard) = tokio::sync::oneshot::channel();
        if self.audit_batch.send((records, tx)).is_err() {
            tracing::error!("could not queue an audit row: the audit batcher has stopped");
        }
    }

    async fn checkpoint_audit(&self, record: AuditRecord) -> StoreResult<Head> {
        let record = AuditRecord {
            workspace_id: None,
            ..record
        };
        write_tx!(self, |w| {
            // The account chain's lock first: no other checkpoint (or account row)
            // lands between reading the heads and appending.
            let account = tx::lock_heads(w.tx(), &[audit_chain::ACCOUNT_CHAIN.to_string()])
                .await?
                .remove(audit_chain::ACCOUNT_CHAIN)
                .ok_or_else(|| Fail::Backend("account chain head missing".into()))?;
            // Committed heads only: a transaction still open will commit after this
            // checkpoint, and the next one names it.
            let heads = w
                .query(
                    "SELECT chain, seq, hash FROM audit_heads WHERE chain <> '' AND seq > 0 \
                     ORDER BY chain",
                    &[],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(audit_chain::ChainHead {
                        chain: r.try_get(0)?,
                        head: Head {
                            seq: r.try_get(1)?,
                            hash: r.try_get(2)?,
                        },
                    })
                })
                .collect::<Result<Vec<_>, Fail>>()?;
            let newest = w
                .query(
                    &format!("SELECT {AUDIT_COLS} FROM audit_events WHERE seq = $1"),
                    &[&account.seq],
                )
                .await?;
            let newest = newest.first().map(decode::audit).transpose()?;
            match newest.filter(audit_chain::is_checkpoint) {
                Some(row)
                    if audit_chain::checkpoint_heads(&row.record.detail).as_ref()
                        == Some(&heads) =>
                {
                    account
                }
                _ => {
                    let mut cp = record.clone();
                    cp.detail = audit_chain::checkpoint_detail(&heads);
                    tx::append_chained(w.tx(), &self.chain_keys, vec![cp]).await?
                }
            }
        })
    }

    async fn list_audit(
        &self,
        workspace_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {AUDIT_COLS} FROM audit_events WHERE workspace_id = $1 \
                     AND ($2::bigint IS NULL OR seq < $2::bigint) ORDER BY seq DESC LIMIT $3"
                ),
                &[&workspace_id, &before_seq, &i64::from(limit)],
            )
            .await?;
        Ok(decode::all(&rows, decode::audit)?)
    }

    async fn verify_audit(&self) -> StoreResult<VerifyReport> {
        let keys = self.chain_keys.get();
        let legacy: i64 = self
            .row("SELECT legacy_rows FROM audit_head WHERE id = 1", &[])
            .await?
            .ok_or_else(|| Fail::Backend("audit_head row is missing".into()))?
            .try_get(0)
            .map_err(Fail::from)?;
        let rows = self
            .rows(
                &format!("SELECT {AUDIT_COLS} FROM audit_events ORDER BY seq"),
                &[],
            )
            .await?;
        let rows = decode::all(&rows, decode::audit)?;
        Ok(audit_chain::verify_with(
            &rows,
            audit_chain::Rules {
                keys: keys.as_deref(),
                // A store given no keys (tests) writes legacy links throughout.
                legacy_rows: keys.is_some().then_some(legacy),
            },
        ))
    }

    fn set_chain_keys(&self, keys: std::sync::Arc<dyn ChainKeys>) {
        self.chain_keys.set(keys);
    }

    async fn audit_chain_state(&self) -> StoreResult<ChainState> {
        // The newest row of all chains (a gap-free `seq` is not promised here).
        let head = self
            .row(
                &format!(
                    "SELECT COALESCE(e.seq, 0), COALESCE(e.hash, '{}'), h.legacy_rows, \
                     e.key_version IS NOT NULL FROM audit_head h \
                     LEFT JOIN (SELECT seq, hash, key_version FROM audit_events \
                                ORDER BY seq DESC LIMIT 1) e ON true \
                     WHERE h.id = 1",
                    audit_chain::GENESIS
                ),
                &[],
            )
            .await?
            .ok_or_else(|| Fail::Backend("audit_head row is missing".into()))?;
        let get = || -> Result<ChainState, Fail> {
            Ok(ChainState {
                head: Head {
                    seq: head.try_get(0)?,
                    hash: head.try_get(1)?,
                },
                legacy_rows: head.try_get(2)?,
                head_keyed: head.try_get::<_, Option<bool>>(3)?.unwrap_or(false),
            })
        };
        Ok(get()?)
    }

    async fn audit_row(&self, seq: i64) -> StoreResult<Option<AuditRow>> {
        let row = self
            .row(
                &format!("SELECT {AUDIT_COLS} FROM audit_events WHERE seq = $1"),
                &[&seq],
            )
            .await?;
        Ok(row.as_ref().map(decode::audit).transpose()?)
    }

    async fn list_account_audit(
        &self,
        actors: Vec<String>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let rows = self
            .rows(
                &format!(
                    "SELECT {AUDIT_COLS} FROM audit_events WHERE workspace_id IS NULL \
                     AND actor = ANY($1) AND action <> 'audit.checkpoint' \
                     AND ($2::bigint IS NULL OR seq < $2::bigint) \
                     ORDER BY seq DESC LIMIT $3"
                ),
                &[&actors, &before_seq, &i64::from(limit)],
            )
            .await?;
        Ok(decode::all(&rows, decode::audit)?)
    }

    async fn probe_write(&self) -> StoreResult<()> {
        // Taking a transaction id makes the commit write WAL: it fails while the
        // server cannot write (disk full, read-only standby) and hangs while it
        // does not answer (caught by the answer deadline).
        write_tx!(self, |w| {
            w.query("SELECT txid_current()", &[]).await?;
        })
    }

    fn subscribe(&self) -> Option<broadcast::Receiver<Change>> {
        Some(self.changes.subscribe())
    }

    async fn put_flow(
        &self,
        flow: FlowRow,
        bindings: Vec<BindingRow>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        write_tx!(self, |w| {
            w.exec(
                "INSERT INTO flows (workspace_id, slug, yaml, updated_at, updated_by) VALUES ($1,$2,$3,$4,$5) \
                 ON CONFLICT (workspace_id, slug) DO UPDATE SET yaml = excluded.yaml, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                &[&flow.workspace_id, &flow.slug, &flow.yaml, &flow.updated_at.millis(), &flow.updated_by],
            )
            .await?;
            replace_bindings(
                &w,
                &flow.workspace_id,
                &format!("flow:{}", flow.slug),
                &bindings,
            )
            .await?;
            w.audit(audit.clone());
        })
    }

    async fn get_flow(&self, workspace_id: &str, slug: &str) -> StoreResult<Option<FlowRow>> {
        let row = self
            .row(
                "SELECT workspace_id, slug, yaml, updated_at, updated_by FROM flows WHERE workspace_id = $1 AND slug = $2",
                &[&workspace_id, &slug],
            )
            .await?;
        Ok(row.as_ref().map(flow_from).transpose()?)
    }

    async fn list_flows(&self, workspace_id: &str) -> StoreResult<Vec<FlowRow>> {
        let rows = self
            .rows(
                "SELECT workspace_id, slug, yaml, updated_at, updated_by FROM flows WHERE workspace_id = $1 ORDER BY slug",
                &[&workspace_id],
            )
            .await?;
        Ok(decode::all(&rows, flow_from)?)
    }

    async fn delete_flow(
        &self,
        workspace_id: &str,
        slug: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        write_tx!(self, |w| {
            let n = w
                .exec(
                    "DELETE FROM flows WHERE workspace_id = $1 AND slug = $2",
                    &[&workspace_id, &slug],
                )
                .await?;
            replace_bindings(&w, workspace_id, &format!("flow:{slug}"), &[]).await?;
            if n > 0 {
                w.audit(audit.clone());
            }
            n > 0
        })
    }

    async fn put_bindings(
        &self,
        workspace_id: &str,
        owner: &str,
        bindings: Vec<BindingRow>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        write_tx!(self, |w| {
            replace_bindings(&w, workspace_id, owner, &bindings).await?;
            w.audit(audit.clone());
        })
    }

    async fn bindings_of(&self, workspace_id: &str, secret: &str) -> StoreResult<Vec<BindingRow>> {
        let rows = self
            .rows(
                "SELECT workspace_id, owner, secret, location FROM bindings WHERE workspace_id = $1 AND secret = $2 \
                 ORDER BY owner, location",
                &[&workspace_id, &secret],
            )
            .await?;
        Ok(decode::all(&rows, binding_from)?)
    }

    async fn export(&self) -> StoreResult<Snapshot> {
        let mut client = self.client().await?;
        // One snapshot for every table; read-only, so it never fails to serialize.
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(Fail::from)?;
        let all = |sql: String| {
            let tx = &tx;
            async move { tx::query(tx, &sql, &[]).await }
        };
        let workspaces = decode::all(
            &all(format!(
                "SELECT {WORKSPACE_COLS} FROM workspaces ORDER BY id"
            ))
            .await?,
            decode::workspace,
        )?;
        let workspace_keys = decode::all(
            &all(format!(
                "SELECT {KEY_COLS} FROM workspace_keys ORDER BY workspace_id, version"
            ))
            .await?,
            decode::key,
        )?;
        let users = decode::all(
            &all(format!("SELECT {USER_COLS} FROM users ORDER BY id")).await?,
            decode::user,
        )?;
        let memberships = decode::all(
            &all(
                "SELECT workspace_id, user_id, role, created_at FROM memberships \
                 ORDER BY workspace_id, user_id"
                    .to_string(),
            )
            .await?,
            decode::membership,
        )?;
        let tokens = decode::all(
            &all(format!("SELECT {TOKEN_COLS} FROM tokens ORDER BY id")).await?,
            decode::token,
        )?;
        let secrets = decode::all(
            &all(format!("SELECT {SECRET_COLS} FROM secrets ORDER BY id")).await?,
            decode::secret,
        )?;
        let versions = decode::all(
            &all(format!(
                "SELECT {VERSION_COLS} FROM secret_versions ORDER BY secret_id, version"
            ))
            .await?,
            decode::version,
        )?;
        let audit = decode::all(
            &all(format!(
                "SELECT {AUDIT_COLS} FROM audit_events ORDER BY seq"
            ))
            .await?,
            decode::audit,
        )?;
        let flows = decode::all(
            &all(
                "SELECT workspace_id, slug, yaml, updated_at, updated_by FROM flows \
                  ORDER BY workspace_id, slug"
                    .to_string(),
            )
            .await?,
            flow_from,
        )?;
        let bindings = decode::all(
            &all(
                "SELECT workspace_id, owner, secret, location FROM bindings \
                  ORDER BY workspace_id, owner, secret, location"
                    .to_string(),
            )
            .await?,
            binding_from,
        )?;
        tx.commit().await.map_err(Fail::from)?;
        Ok(Snapshot {
            workspaces,
            workspace_keys,
            users,
            memberships,
            tokens,
            secrets,
            versions,
            audit,
            flows,
            bindings,
        })
    }

    async fn import(&self, snap: Snapshot) -> StoreResult<()> {
        // Each chain's newest row, and the newest seq of all.
        let mut heads: HashMap<&str, (i64, &str)> = HashMap::new();
        for a in &snap.audit {
            let chain = audit_chain::row_chain(a);
            if heads.get(chain).is_none_or(|h| h.0 < a.seq) {
                heads.insert(chain, (a.seq, &a.hash));
            }
        }
        let (chains, (seqs, hashes)): (Vec<&str>, (Vec<i64>, Vec<&str>)) =
            heads.iter().map(|(c, (s, h))| (*c, (*s, *h))).unzip();
        let last_seq = snap.audit.iter().map(|a| a.seq).max().unwrap_or(0);
        write_tx!(self, |w| {
            // Lock the legacy head row first: two imports do not interleave.
            w.query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE", &[])
                .await?;
            let used: i64 = w
                .query(
                    "SELECT (SELECT COUNT(*) FROM workspaces) + (SELECT COUNT(*) FROM users) \
                     + (SELECT COUNT(*) FROM audit_events)",
                    &[],
                )
                .await?
                .first()
                .ok_or_else(|| Fail::Backend("count returned no row".into()))?
                .try_get(0)?;
            if used > 0 {
                return Err(Fail::Conflict);
            }
            for ws in &snap.workspaces {
                insert_workspace(&w, ws).await?;
            }
            for k in &snap.workspace_keys {
                insert_key(&w, k).await?;
            }
            for u in &snap.users {
                w.exec(
                    &format!("INSERT INTO users ({USER_COLS}) VALUES ($1,$2,$3)"),
                    &[&u.id, &u.name, &u.created_at.millis()],
                )
                .await?;
            }
            for m in &snap.memberships {
                insert_membership(&w, &m.workspace_id, &m.user_id, m.role, m.created_at).await?;
            }
            for t in &snap.tokens {
                insert_token(&w, t).await?;
            }
            for s in &snap.secrets {
                insert_secret(&w, s).await?;
            }
            for v in &snap.versions {
                insert_version(&w, v).await?;
            }
            for a in &snap.audit {
                tx::insert_audit_row(w.tx(), a).await?;
            }
            for f in &snap.flows {
                w.exec(
                    "INSERT INTO flows (workspace_id, slug, yaml, updated_at, updated_by) VALUES ($1,$2,$3,$4,$5)",
                    &[&f.workspace_id, &f.slug, &f.yaml, &f.updated_at.millis(), &f.updated_by],
                )
                .await?;
            }
            for b in &snap.bindings {
                w.exec(
                    "INSERT INTO bindings (workspace_id, owner, secret, location) VALUES ($1,$2,$3,$4)",
                    &[&b.workspace_id, &b.owner, &b.secret, &b.location],
                )
                .await?;
            }
            // The snapshot's legacy prefix stays legacy; everything after it is keyed.
            w.exec(
                "UPDATE audit_head SET legacy_rows = $1 WHERE id = 1",
                &[&audit_chain::legacy_prefix(&snap.audit)],
            )
            .await?;
            // Every chain's head as the snapshot left it (a head row created by an
            // append racing this empty-store import is a conflict: retried, then
            // refused as the store is no longer empty), and the sequence past them.
            w.exec("DELETE FROM audit_heads WHERE seq = 0", &[]).await?;
            w.exec(
                "INSERT INTO audit_heads (chain, seq, hash) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[])",
                &[&chains, &seqs, &hashes],
            )
            .await?;
            w.query(
                "SELECT setval('audit_seq', $1::bigint + 1, false)",
                &[&last_seq],
            )
            .await?;
            w.changed(Change::Everything);
        })
    }

    async fn add_workspace_key(&self, key: WorkspaceKeyRow, audit: AuditRecord) -> StoreResult<()> {
        write_tx!(self, |w| {
            insert_key(&w, &key).await?;
            w.exec(
                "UPDATE workspaces SET active_key_version = $1 WHERE id = $2",
                &[&int(key.version)?, &key.workspace_id],
            )
            .await?;
            w.audit(audit.clone());
            w.changed(Change::Workspace(key.workspace_id.clone()));
        })
    }

    async fn versions_to_reseal(
        &self,
        workspace_id: &str,
        active: u32,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRow, VersionRow)>> {
        let client = self.client().await?;
        // One snapshot for both queries is not needed: a secret deleted in
        // between is skipped, as in SQLite.
        let rows = tx::query(
            &client,
            "SELECT v.secret_id, v.version, v.key_version, v.sealed, v.fingerprint, v.created_at, \
             v.created_by, v.deleted_at, v.destroyed, v.policy FROM secret_versions v \
             JOIN secrets s ON s.id = v.secret_id \
             WHERE s.workspace_id = $1 AND v.key_version <> $2 AND NOT v.destroyed \
             ORDER BY v.secret_id, v.version LIMIT $3",
            &[&workspace_id, &int(active)?, &i64::from(limit)],
        )
        .await?;
        let versions = decode::all(&rows, decode::version)?;
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<&str> = versions.iter().map(|v| v.secret_id.as_str()).collect();
        ids.dedup();
        let rows = tx::query(
            &client,
            &format!("SELECT {SECRET_COLS} FROM secrets WHERE id = ANY($1)"),
            &[&ids],
        )
        .await?;
        let secrets: HashMap<String, SecretRow> = decode::all(&rows, decode::secret)?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let out = versions
            .into_iter()
            .filter_map(|v| secrets.get(&v.secret_id).map(|s| (s.clone(), v)))
            .collect();
        Ok(out)
    }

    async fn reseal_versions(&self, updates: Vec<Reseal>) -> StoreResult<usize> {
        write_tx!(self, |w| {
            let mut n: u64 = 0;
            for u in &updates {
                let v = &u.version;
                // Converting a legacy version: only while the secret's list is still
                // the one being sealed in.
                let row_hosts = if u.old_policy.is_none() {
                    v.policy.as_ref().map(|p| hosts_json(&p.allowed_hosts))
                } else {
                    None
                };
                let changed = w
                    .exec(
                        "UPDATE secret_versions SET key_version = $1, sealed = $2, policy = $3, \
                         fingerprint = $4 \
                         WHERE secret_id = $5 AND version = $6 AND key_version = $7 \
                         AND policy IS NOT DISTINCT FROM $8::text AND NOT destroyed \
                         AND ($9::text IS NULL OR EXISTS (SELECT 1 FROM secrets s \
                              WHERE s.id = secret_versions.secret_id AND s.allowed_hosts = $9::text))",
                        &[
                            &int(v.key_version)?,
                            &v.sealed,
                            &VersionPolicy::to_column(v.policy.as_ref()),
                            &v.fingerprint,
                            &v.secret_id,
                            &big(v.version),
                            &int(u.old_key_version)?,
                            &VersionPolicy::to_column(u.old_policy.as_ref()),
                            &row_hosts,
                        ],
                    )
                    .await?;
                if changed > 0 {
                    w.exec(
                        "UPDATE secrets SET fingerprint = $1 WHERE id = $2 \
                         AND current_version = $3 AND fingerprint <> $1",
                        &[&v.fingerprint, &v.secret_id, &big(v.version)],
                    )
                    .await?;
                    w.changed(Change::Secret(v.secret_id.clone()));
                }
                n += changed;
            }
            n as usize
        })
    }

    async fn legacy_versions(
        &self,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRow, VersionRow)>> {
        let client = self.client().await?;
        let (after_id, after_version) = match after {
            Some((id, v)) => (Some(id), big(v)),
            None => (None, 0),
        };
        let rows = tx::query(
            &client,
            &format!(
                "SELECT {VERSION_COLS} FROM secret_versions WHERE policy IS NULL AND NOT destroyed \
                 AND ($1::text IS NULL OR secret_id > $1::text \
                      OR (secret_id = $1::text AND version > $2)) \
                 ORDER BY secret_id, version LIMIT $3"
            ),
            &[&after_id, &after_version, &i64::from(limit)],
        )
        .await?;
        let versions = decode::all(&rows, decode::version)?;
        if versions.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<&str> = versions.iter().map(|v| v.secret_id.as_str()).collect();
        ids.dedup();
        let rows = tx::query(
            &client,
            &format!("SELECT {SECRET_COLS} FROM secrets WHERE id = ANY($1)"),
            &[&ids],
        )
        .await?;
        let secrets: HashMap<String, SecretRow> = decode::all(&rows, decode::secret)?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        Ok(versions
            .into_iter()
            .filter_map(|v| secrets.get(&v.secret_id).map(|s| (s.clone(), v)))
            .collect())
    }
}
