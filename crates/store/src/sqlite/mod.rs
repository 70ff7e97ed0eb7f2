//! The embedded store: one SQLite file in WAL mode, one writer thread with group
//! commit (see `writer.rs`), and a small pool of reader connections used from
//! `spawn_blocking`.

mod children;
mod key_registry;
mod schema;
mod writer;

use crate::audit_chain::{self, ChainKeySlot, ChainKeys, ChainState, Head, VerifyReport};
use crate::rows::*;
use crate::{
    CommitVersion, DropBindings, Expect, MoveBindings, Snapshot, Store, StoreError, StoreResult,
};
use async_trait::async_trait;
use lockbox_core::{Role, Scope, Timestamp, Visibility};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use writer::{Job, WriteCtx};

pub const DB_FILE_NAME: &str = "lockbox.db";

/// `PRAGMA application_id` of a Lockbox database ("LKBX"), written by the
/// write probe behind `/readyz`.
const APPLICATION_ID: i32 = 0x4C4B_4258;

pub struct SqliteStore {
    path: PathBuf,
    writer: mpsc::Sender<Job>,
    readers: Arc<Mutex<Vec<Connection>>>,
    /// One permit per reader connection: a read waits for a connection rather
    /// than opening one more.
    reader_slots: Arc<tokio::sync::Semaphore>,
    /// The last write that failed for want of disk (or a writable file), until a
    /// write succeeds: a probe's one-page write can still fit where a real one
    /// did not, so `probe_write` reports this for a while.
    write_failure: Mutex<Option<(std::time::Instant, String)>>,
    chain_keys: Arc<ChainKeySlot>,
}

/// Reader connections: at most this many reads run at once, each on a
/// connection kept between reads with its page cache and prepared statements.
/// A read past this waits for a connection: opening one costs more than most
/// reads (the schema is parsed again, every statement prepared again), which
/// under 32 clients made a 100-key folder listing spend a fifth of its time
/// opening and closing connections. Eight keep two cores busy with room for a
/// slow read.
const MAX_READERS: usize = 8;

/// Each reader connection's page cache, in KiB (`PRAGMA cache_size`, negative
/// meaning KiB; SQLite's default is 2,000 KiB). Pages missed here come from the
/// OS page cache, which is shared and not counted in the process's RSS.
const READER_CACHE_KIB: i64 = 1024;

/// How long a failed write keeps `probe_write` failing without a successful
/// write since.
const WRITE_FAILURE_HOLD: std::time::Duration = std::time::Duration::from_secs(30);

impl SqliteStore {
    /// Opens (creating and migrating if needed) `lockbox.db` in `data_dir`.
    pub fn open(data_dir: &Path) -> StoreResult<SqliteStore> {
        let path = data_dir.join(DB_FILE_NAME);
        let mut conn = Connection::open(&path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let chain_keys = Arc::new(ChainKeySlot::default());
        let writer = writer::spawn(conn, chain_keys.clone())?;
        Ok(SqliteStore {
            path,
            writer,
            readers: Arc::new(Mutex::new(Vec::new())),
            reader_slots: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            write_failure: Mutex::new(None),
            chain_keys,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Test support: creates `lockbox.db` in `data_dir` as a release before keyed
    /// audit links wrote it (that schema version), holding `records` as audit rows
    /// with legacy links. Opening it afterwards migrates it.
    #[doc(hidden)]
    pub fn create_pre_keyed_database(
        data_dir: &Path,
        records: Vec<AuditRecord>,
    ) -> StoreResult<()> {
        let mut conn = Connection::open(data_dir.join(DB_FILE_NAME))?;
        schema::configure(&conn)?;
        schema::migrate_to(&mut conn, schema::before_keyed_audit())?;
        let mut prev = audit_chain::GENESIS.to_string();
        for (i, record) in records.into_iter().enumerate() {
            let mut row = AuditRow {
                seq: i as i64 + 1,
                record,
                prev_hash: prev,
                key_version: None,
                hash: String::new(),
                chain: None,
            };
            row.hash = audit_chain::legacy_row_hash(&row.prev_hash, &row);
            conn.execute(
                "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, \
                 request_id, detail, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                params![
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
                ],
            )?;
            prev = row.hash;
        }
        Ok(())
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.submit(true, f).await
    }

    async fn submit<T: Send + 'static>(
        &self,
        savepoint: bool,
        f: impl FnOnce(&mut WriteCtx<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::job(savepoint, f, tx))
            .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
        let result = rx
            .await
            .map_err(|_| StoreError::Backend("writer dropped the job".into()))?;
        let mut failure = self.write_failure.lock().expect("write failure");
        match &result {
            Err(StoreError::Unavailable(why)) => {
                *failure = Some((std::time::Instant::now(), why.clone()))
            }
            Ok(_) => *failure = None,
            Err(_) => {}
        }
        result
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let pool = self.readers.clone();
        let path = self.path.clone();
        let slot = self
            .reader_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Backend("the reader pool is closed".into()))?;
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let conn = pool.lock().expect("reader pool").pop();
            let conn = match conn {
                Some(c) => c,
                None => {
                    let c = Connection::open_with_flags(
                        &path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    c.busy_timeout(std::time::Duration::from_secs(10))?;
                    c.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
                    // No memory map: every mapped page a read touched would count
                    // in the process's RSS (0 is SQLite's default; said here so a
                    // build with another default does not change it).
                    c.pragma_update(None, "mmap_size", 0)?;
                    c
                }
            };
            let out = f(&conn);
            pool.lock().expect("reader pool").push(conn);
            out
        })
        .await
        .map_err(|e| StoreError::Backend(format!("reader task: {e}")))?
    }
}

fn ts(v: i64) -> Timestamp {
    Timestamp(v)
}

fn role_of(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).map_err(|_| {
        rusqlite::Error::InvalidColumnType(0, "role".into(), rusqlite::types::Type::Text)
    })
}

fn workspace_from(r: &Row<'_>) -> rusqlite::Result<WorkspaceRow> {
    let settings: String = r.get("settings")?;
    Ok(WorkspaceRow {
        id: r.get("id")?,
        name: r.get("name")?,
        settings: serde_json::from_str(&settings).unwrap_or_default(),
        active_key_version: r.get("active_key_version")?,
        created_at: ts(r.get("created_at")?),
    })
}

fn token_from(r: &Row<'_>) -> rusqlite::Result<TokenRow> {
    let kind: String = r.get("kind")?;
    let role: Option<String> = r.get("role")?;
    Ok(TokenRow {
        id: r.get("id")?,
        hash: r.get("hash")?,
        name: r.get("name")?,
        kind: TokenKind::parse(&kind).unwrap_or(TokenKind::Service),
        user_id: r.get("user_id")?,
        workspace_id: r.get("workspace_id")?,
        role: role.as_deref().map(role_of).transpose()?,
        created_at: ts(r.get("created_at")?),
        created_by: r.get("created_by")?,
        expires_at: r.get::<_, Option<i64>>("expires_at")?.map(ts),
        last_used_at: r.get::<_, Option<i64>>("last_used_at")?.map(ts),
        revoked_at: r.get::<_, Option<i64>>("revoked_at")?.map(ts),
        run_as_users: r.get::<_, i64>("run_as_users")? != 0,
    })
}

fn secret_from(r: &Row<'_>) -> rusqlite::Result<SecretRow> {
    let scope: String = r.get("scope")?;
    let vis: String = r.get("visibility")?;
    Ok(SecretRow {
        id: r.get("id")?,
        workspace_id: r.get("workspace_id")?,
        scope: Scope::parse(&scope).unwrap_or(Scope::Workspace),
        owner: r.get("owner")?,
        name: r.get("name")?,
        visibility: Visibility::parse(&vis).unwrap_or(Visibility::Restricted),
        description: r.get("description")?,
        current_version: r.get::<_, i64>("current_version")? as u64,
        fingerprint: r.get("fingerprint")?,
        expires_at: r.get::<_, Option<i64>>("expires_at")?.map(ts),
        created_at: ts(r.get("created_at")?),
        created_by: r.get("created_by")?,
        updated_at: ts(r.get("updated_at")?),
        updated_by: r.get("updated_by")?,
        allowed_hosts: serde_json::from_str(&r.get::<_, String>("allowed_hosts")?)
            .unwrap_or_default(),
        labels: serde_json::from_str(&r.get::<_, String>("labels")?).unwrap_or_default(),
        max_versions: r.get("max_versions")?,
        cas_required: r.get("cas_required")?,
        delete_version_after: r
            .get::<_, Option<i64>>("delete_version_after")?
            .map(|s| s as u64),
        current_deleted_at: r.get::<_, Option<i64>>("current_deleted_at")?.map(ts),
        current_destroyed: r.get("current_destroyed")?,
    })
}

fn version_from(r: &Row<'_>) -> rusqlite::Result<VersionRow> {
    Ok(VersionRow {
        secret_id: r.get("secret_id")?,
        version: r.get::<_, i64>("version")? as u64,
        key_version: r.get("key_version")?,
        sealed: r.get("sealed")?,
        fingerprint: r.get("fingerprint")?,
        created_at: ts(r.get("created_at")?),
        created_by: r.get("created_by")?,
        deleted_at: r.get::<_, Option<i64>>("deleted_at")?.map(ts),
        destroyed: r.get("destroyed")?,
        policy: VersionPolicy::from_column(r.get::<_, Option<String>>("policy")?.as_deref()),
    })
}

fn audit_from(r: &Row<'_>) -> rusqlite::Result<AuditRow> {
    let detail: String = r.get("detail")?;
    Ok(AuditRow {
        seq: r.get("seq")?,
        record: AuditRecord {
            workspace_id: r.get("workspace_id")?,
            at: ts(r.get("at")?),
            actor: r.get("actor")?,
            action: r.get("action")?,
            target: r.get("target")?,
            outcome: r.get("outcome")?,
            request_id: r.get("request_id")?,
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        },
        prev_hash: r.get("prev_hash")?,
        key_version: r.get("key_version")?,
        hash: r.get("hash")?,
        chain: r.get("chain")?,
    })
}

/// The stored columns of `secrets`, as inserted.
const SECRET_INSERT_COLS: &str = "id, workspace_id, scope, owner, name, visibility, description, \
    current_version, fingerprint, expires_at, created_at, created_by, updated_at, updated_by, \
    allowed_hosts, labels, max_versions, cas_required, delete_version_after";

/// What a secret row is read with: its columns plus the state of its current
/// version (`FROM secrets` must not be aliased).
const SECRET_COLS: &str = "id, workspace_id, scope, owner, name, visibility, description, \
    current_version, fingerprint, expires_at, created_at, created_by, updated_at, updated_by, \
    allowed_hosts, labels, max_versions, cas_required, delete_version_after, \
    (SELECT cv.deleted_at FROM secret_versions cv WHERE cv.secret_id = secrets.id \
     AND cv.version = secrets.current_version) AS current_deleted_at, \
    COALESCE((SELECT cv.destroyed FROM secret_versions cv WHERE cv.secret_id = secrets.id \
     AND cv.version = secrets.current_version), 0) AS current_destroyed";

/// The columns of `secret_versions`, in insert order.
const VERSION_COLS: &str = "secret_id, version, key_version, sealed, fingerprint, created_at, \
    created_by, deleted_at, destroyed, policy";

fn labels_json(labels: &std::collections::BTreeMap<String, String>) -> String {
    serde_json::to_string(labels).expect("strings serialize")
}

fn insert_version(conn: &Connection, v: &VersionRow) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO secret_versions ({VERSION_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
    ))?
    .execute(params![
        v.secret_id,
        v.version as i64,
        v.key_version,
        v.sealed,
        v.fingerprint,
        v.created_at.millis(),
        v.created_by,
        v.deleted_at.map(|t| t.millis()),
        v.destroyed,
        VersionPolicy::to_column(v.policy.as_ref()),
    ])?;
    Ok(())
}

fn insert_secret(conn: &Connection, s: &SecretRow) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO secrets ({SECRET_INSERT_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    ))?
    .execute(params![
        s.id,
        s.workspace_id,
        s.scope.as_str(),
        s.owner,
        s.name,
        s.visibility.as_str(),
        s.description,
        s.current_version as i64,
        s.fingerprint,
        s.expires_at.map(|t| t.millis()),
        s.created_at.millis(),
        s.created_by,
        s.updated_at.millis(),
        s.updated_by,
        hosts_json(&s.allowed_hosts),
        labels_json(&s.labels),
        s.max_versions,
        s.cas_required,
        s.delete_version_after.map(|d| d as i64),
    ])?;
    Ok(())
}

fn flow_from(r: &Row<'_>) -> rusqlite::Result<FlowRow> {
    Ok(FlowRow {
        workspace_id: r.get(0)?,
        slug: r.get(1)?,
        yaml: r.get(2)?,
        updated_at: ts(r.get(3)?),
        updated_by: r.get(4)?,
    })
}

fn binding_from(r: &Row<'_>) -> rusqlite::Result<BindingRow> {
    Ok(BindingRow {
        workspace_id: r.get(0)?,
        owner: r.get(1)?,
        secret: r.get(2)?,
        location: r.get(3)?,
    })
}

fn replace_bindings(
    c: &Connection,
    workspace_id: &str,
    owner: &str,
    rows: &[BindingRow],
) -> StoreResult<()> {
    c.prepare_cached("DELETE FROM bindings WHERE workspace_id = ? AND owner = ?")?
        .execute([workspace_id, owner])?;
    for b in rows {
        c.prepare_cached("INSERT OR IGNORE INTO bindings (workspace_id, owner, secret, location) VALUES (?,?,?,?)")?
            .execute(params![workspace_id, owner, b.secret, b.location])?;
    }
    Ok(())
}

fn hosts_json(hosts: &[String]) -> String {
    serde_json::to_string(hosts).expect("strings serialize")
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_workspace(
        &self,
        ws: WorkspaceRow,
        key: WorkspaceKeyRow,
        owner: Option<(String, Role)>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO workspaces (id, name, settings, active_key_version, created_at) VALUES (?,?,?,?,?)",
                params![
                    ws.id,
                    ws.name,
                    serde_json::to_string(&ws.settings).expect("settings serialize"),
                    ws.active_key_version,
                    ws.created_at.millis()
                ],
            )?;
            ctx.conn.execute(
                "INSERT INTO workspace_keys (workspace_id, version, master_version, wrapped) VALUES (?,?,?,?)",
                params![key.workspace_id, key.version, key.master_version, key.wrapped],
            )?;
            if let Some((user_id, role)) = owner {
                ctx.conn.execute(
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?,?,?,?)",
                    params![ws.id, user_id, role.as_str(), ws.created_at.millis()],
                )?;
            }
            ctx.append_audit(audit)
        })
        .await
    }

    async fn workspace_by_name(&self, name: &str) -> StoreResult<Option<WorkspaceRow>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT * FROM workspaces WHERE name = ?")?
                .query_row([name], workspace_from)
                .optional()?)
        })
        .await
    }

    async fn list_workspaces(&self) -> StoreResult<Vec<WorkspaceRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT * FROM workspaces ORDER BY name")?;
            let rows = st
                .query_map([], workspace_from)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn update_workspace_settings(
        &self,
        id: &str,
        settings: WorkspaceSettings,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |ctx| {
            ctx.conn.execute(
                "UPDATE workspaces SET settings = ? WHERE id = ?",
                params![
                    serde_json::to_string(&settings).expect("settings serialize"),
                    id
                ],
            )?;
            ctx.append_audit(audit)
        })
        .await
    }

    async fn delete_workspace(&self, id: &str, audit: AuditRecord) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |ctx| {
            // Keys first: once they are gone nothing sealed under them can be read.
            ctx.conn.execute("DELETE FROM workspace_keys WHERE workspace_id = ?", [&id])?;
            ctx.conn.execute(
                "DELETE FROM secret_versions WHERE secret_id IN (SELECT id FROM secrets WHERE workspace_id = ?)",
                [&id],
            )?;
            ctx.conn.execute("DELETE FROM secrets WHERE workspace_id = ?", [&id])?;
            ctx.conn.execute("DELETE FROM memberships WHERE workspace_id = ?", [&id])?;
            ctx.conn.execute("DELETE FROM tokens WHERE workspace_id = ?", [&id])?;
            let n = ctx.conn.execute("DELETE FROM workspaces WHERE id = ?", [&id])?;
            ctx.append_audit(audit)?;
            Ok(n > 0)
        })
        .await
    }

    async fn workspace_keys(&self, workspace_id: &str) -> StoreResult<Vec<WorkspaceKeyRow>> {
        let id = workspace_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT workspace_id, version, master_version, wrapped FROM workspace_keys WHERE workspace_id = ?",
            )?;
            let rows = st
                .query_map([id], |r| {
                    Ok(WorkspaceKeyRow {
                        workspace_id: r.get(0)?,
                        version: r.get(1)?,
                        master_version: r.get(2)?,
                        wrapped: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn all_workspace_keys(&self) -> StoreResult<Vec<WorkspaceKeyRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT workspace_id, version, master_version, wrapped FROM workspace_keys",
            )?;
            let rows = st
                .query_map([], |r| {
                    Ok(WorkspaceKeyRow {
                        workspace_id: r.get(0)?,
                        version: r.get(1)?,
                        master_version: r.get(2)?,
                        wrapped: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn rewrap_workspace_keys(
        &self,
        keys: Vec<WorkspaceKeyRow>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.write(move |ctx| {
            for k in &keys {
                ctx.conn.execute(
                    "UPDATE workspace_keys SET master_version = ?, wrapped = ? WHERE workspace_id = ? AND version = ?",
                    params![k.master_version, k.wrapped, k.workspace_id, k.version],
                )?;
            }
            ctx.append_audit(audit)
        })
        .await
    }

    async fn create_user(&self, user: UserRow) -> StoreResult<()> {
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO users (id, name, created_at) VALUES (?,?,?)",
                params![user.id, user.name, user.created_at.millis()],
            )?;
            Ok(())
        })
        .await
    }

    async fn user_by_name(&self, name: &str) -> StoreResult<Option<UserRow>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id, name, created_at FROM users WHERE name = ?")?
                    .query_row([name], |r| {
                        Ok(UserRow {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            created_at: ts(r.get(2)?),
                        })
                    })
                    .optional()?,
            )
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT id, name, created_at FROM users WHERE id = ?")?
                    .query_row([id], |r| {
                        Ok(UserRow {
                            id: r.get(0)?,
                            name: r.get(1)?,
                            created_at: ts(r.get(2)?),
                        })
                    })
                    .optional()?,
            )
        })
        .await
    }

    async fn membership(&self, workspace_id: &str, user_id: &str) -> StoreResult<Option<Role>> {
        let (w, u) = (workspace_id.to_owned(), user_id.to_owned());
        self.read(move |c| {
            let role: Option<String> = c
                .prepare_cached(
                    "SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?",
                )?
                .query_row([w, u], |r| r.get(0))
                .optional()?;
            Ok(role.as_deref().map(role_of).transpose()?)
        })
        .await
    }

    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<(WorkspaceRow, Role)>> {
        let u = user_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT w.*, m.role AS member_role FROM memberships m JOIN workspaces w ON w.id = m.workspace_id \
                 WHERE m.user_id = ? ORDER BY w.name",
            )?;
            let rows = st
                .query_map([u], |r| {
                    let role: String = r.get("member_role")?;
                    Ok((workspace_from(r)?, role_of(&role)?))
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn list_members(&self, workspace_id: &str) -> StoreResult<Vec<MemberRow>> {
        let w = workspace_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT u.id, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id \
                 WHERE m.workspace_id = ? ORDER BY u.name",
            )?;
            let rows = st
                .query_map([w], |r| {
                    let role: String = r.get(2)?;
                    Ok(MemberRow {
                        user_id: r.get(0)?,
                        user_name: r.get(1)?,
                        role: role_of(&role)?,
                        since: ts(r.get(3)?),
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn put_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: Role,
        at: Timestamp,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let (w, u) = (workspace_id.to_owned(), user_id.to_owned());
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?,?,?,?) \
                 ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
                params![w, u, role.as_str(), at.millis()],
            )?;
            ctx.append_audit(audit)
        })
        .await
    }

    async fn delete_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let (w, u) = (workspace_id.to_owned(), user_id.to_owned());
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?",
                [&w, &u],
            )?;
            if n > 0 {
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn insert_token(&self, t: TokenRow, audit: AuditRecord) -> StoreResult<()> {
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO tokens (id, hash, name, kind, user_id, workspace_id, role, created_at, created_by, \
                 expires_at, last_used_at, revoked_at, run_as_users) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                params![
                    t.id,
                    t.hash,
                    t.name,
                    t.kind.as_str(),
                    t.user_id,
                    t.workspace_id,
                    t.role.map(|r| r.as_str()),
                    t.created_at.millis(),
                    t.created_by,
                    t.expires_at.map(|x| x.millis()),
                    t.last_used_at.map(|x| x.millis()),
                    t.revoked_at.map(|x| x.millis()),
                    i64::from(t.run_as_users),
                ],
            )?;
            ctx.append_audit(audit)
        })
        .await
    }

    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRow>> {
        let h = hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT * FROM tokens WHERE hash = ?")?
                .query_row([h], token_from)
                .optional()?)
        })
        .await
    }

    async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached("SELECT * FROM tokens WHERE id = ?")?
                .query_row([id], token_from)
                .optional()?)
        })
        .await
    }

    async fn token_default_workspace(&self, id: &str) -> StoreResult<Option<String>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT default_workspace FROM tokens WHERE id = ?")?
                    .query_row([id], |r| r.get::<_, Option<String>>(0))
                    .optional()?
                    .flatten(),
            )
        })
        .await
    }

    async fn set_token_default_workspace(
        &self,
        id: &str,
        workspace_id: Option<String>,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "UPDATE tokens SET default_workspace = ? WHERE id = ?",
                params![workspace_id, id],
            )?;
            if n > 0 {
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn list_tokens(&self) -> StoreResult<Vec<TokenRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached("SELECT * FROM tokens ORDER BY created_at, id")?;
            let rows = st.query_map([], token_from)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn revoke_token(&self, id: &str, at: Timestamp, audit: AuditRecord) -> StoreResult<bool> {
        let id = id.to_owned();
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                params![at.millis(), id],
            )?;
            if n > 0 {
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn touch_tokens(&self, used: Vec<(String, Timestamp)>) -> StoreResult<()> {
        self.write(move |ctx| {
            for (id, at) in &used {
                ctx.conn
                    .prepare_cached("UPDATE tokens SET last_used_at = MAX(COALESCE(last_used_at, 0), ?) WHERE id = ?")?
                    .execute(params![at.millis(), id])?;
            }
            Ok(())
        })
        .await
    }

    async fn find_secret(
        &self,
        workspace_id: &str,
        scope: Scope,
        owner: &str,
        name: &str,
    ) -> StoreResult<Option<SecretRow>> {
        let (w, o, n) = (workspace_id.to_owned(), owner.to_owned(), name.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {SECRET_COLS} FROM secrets WHERE workspace_id = ? AND scope = ? AND owner = ? AND name = ?"
            ))?
            .query_row(params![w, scope.as_str(), o, n], secret_from)
            .optional()?)
        })
        .await
    }

    async fn secret_by_id(&self, id: &str) -> StoreResult<Option<SecretRow>> {
        let id = id.to_owned();
        self.read(move |c| {
            Ok(
                c.prepare_cached(&format!("SELECT {SECRET_COLS} FROM secrets WHERE id = ?"))?
                    .query_row([id], secret_from)
                    .optional()?,
            )
        })
        .await
    }

    async fn secret_version(
        &self,
        secret_id: &str,
        version: u64,
    ) -> StoreResult<Option<VersionRow>> {
        let id = secret_id.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT * FROM secret_versions WHERE secret_id = ? AND version = ?",
            )?
            .query_row(params![id, version as i64], version_from)
            .optional()?)
        })
        .await
    }

    async fn list_versions(&self, secret_id: &str) -> StoreResult<Vec<VersionRow>> {
        let id = secret_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT * FROM secret_versions WHERE secret_id = ? ORDER BY version DESC",
            )?;
            let rows = st
                .query_map([id], version_from)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn list_secrets(&self, q: ListQuery) -> StoreResult<Vec<SecretRow>> {
        self.read(move |c| {
            let prefix = q.prefix.unwrap_or_default();
            let mut st = c.prepare_cached(&format!(
                "SELECT {SECRET_COLS} FROM secrets WHERE workspace_id = ?1 AND scope = ?2 AND owner = ?3 \
                 AND (expires_at IS NULL OR expires_at > ?4) \
                 AND name >= ?5 AND substr(name, 1, length(?5)) = ?5 \
                 AND (?8 IS NULL OR name < ?8) \
                 AND (?6 IS NULL OR name > ?6) \
                 AND (?9 OR current_version > 0) \
                 ORDER BY name LIMIT ?7"
            ))?;
            let upper = crate::rows::prefix_upper_bound(&prefix);
            let rows = st
                .query_map(
                    params![
                        q.workspace_id,
                        q.scope.as_str(),
                        q.owner,
                        q.now.millis(),
                        prefix,
                        q.after,
                        q.limit,
                        upper,
                        q.entries
                    ],
                    secret_from,
                )?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn list_children(&self, q: crate::ChildrenQuery) -> StoreResult<crate::Children> {
        self.read(move |c| children::list(c, &q)).await
    }

    async fn commit_version(&self, commit: CommitVersion, audit: AuditRecord) -> StoreResult<()> {
        self.write(move |ctx| {
            let s = &commit.secret;
            match &commit.expect {
                Expect::Create => insert_secret(ctx.conn, s)?,
                Expect::ReplaceExpired(old) => {
                    ctx.conn.execute("DELETE FROM secrets WHERE id = ?", [old])?;
                    insert_secret(ctx.conn, s)?;
                }
                Expect::Current(expected) => {
                    let n = ctx
                        .conn
                        .prepare_cached(
                            "UPDATE secrets SET description = ?, current_version = ?, fingerprint = ?, \
                             expires_at = ?, updated_at = ?, updated_by = ?, allowed_hosts = ?, labels = ? \
                             WHERE id = ? AND current_version = ?",
                        )?
                        .execute(params![
                            s.description,
                            s.current_version as i64,
                            s.fingerprint,
                            s.expires_at.map(|t| t.millis()),
                            s.updated_at.millis(),
                            s.updated_by,
                            hosts_json(&s.allowed_hosts),
                            labels_json(&s.labels),
                            s.id,
                            *expected as i64,
                        ])?;
                    if n == 0 {
                        return Err(StoreError::Conflict);
                    }
                }
            }
            let v = &commit.version;
            insert_version(ctx.conn, v)?;
            if commit.prune_through > 0 {
                ctx.conn
                    .prepare_cached("DELETE FROM secret_versions WHERE secret_id = ? AND version <= ?")?
                    .execute(params![v.secret_id, commit.prune_through as i64])?;
            }
            ctx.append_audit(audit)
        })
        .await
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
        self.write(move |ctx| {
            match &expect {
                Expect::Create => insert_secret(ctx.conn, &secret)?,
                Expect::ReplaceExpired(old) => {
                    ctx.conn
                        .execute("DELETE FROM secrets WHERE id = ?", [old])?;
                    insert_secret(ctx.conn, &secret)?;
                }
                Expect::Current(_) => return Err(StoreError::Conflict),
            }
            ctx.append_audit(audit)
        })
        .await
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
        let (id, name, by) = (secret_id.to_owned(), new_name.to_owned(), by.to_owned());
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "UPDATE secrets SET name = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                params![name, at.millis(), by, id],
            )?;
            if n > 0 {
                if let Some(m) = &bindings {
                    ctx.conn.execute(
                        "INSERT OR IGNORE INTO bindings (workspace_id, owner, secret, location) \
                         SELECT workspace_id, owner, ?, location FROM bindings WHERE workspace_id = ? AND secret = ?",
                        params![name, m.workspace_id, m.old_name],
                    )?;
                    ctx.conn.execute(
                        "DELETE FROM bindings WHERE workspace_id = ? AND secret = ?",
                        params![m.workspace_id, m.old_name],
                    )?;
                }
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn delete_secret(
        &self,
        secret_id: &str,
        bindings: Option<DropBindings>,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let id = secret_id.to_owned();
        self.write(move |ctx| {
            ctx.conn
                .execute("DELETE FROM secret_versions WHERE secret_id = ?", [&id])?;
            let n = ctx
                .conn
                .execute("DELETE FROM secrets WHERE id = ?", [&id])?;
            if n > 0 {
                if let Some(d) = &bindings {
                    ctx.conn.execute(
                        "DELETE FROM bindings WHERE workspace_id = ? AND secret = ? AND owner = ?",
                        params![d.workspace_id, d.name, d.owner],
                    )?;
                }
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn set_version_states(
        &self,
        secret_id: &str,
        changes: Vec<VersionStateChange>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let id = secret_id.to_owned();
        self.write(move |ctx| {
            for c in &changes {
                // A destroyed version keeps no ciphertext (secure_delete zeroes it).
                let n = ctx
                    .conn
                    .prepare_cached(
                        "UPDATE secret_versions SET deleted_at = ?1, destroyed = ?2, \
                         sealed = CASE WHEN ?2 THEN x'' ELSE sealed END \
                         WHERE secret_id = ?3 AND version = ?4 AND deleted_at IS ?5 AND destroyed = ?6",
                    )?
                    .execute(params![
                        c.to.deleted_at().map(|t| t.millis()),
                        c.to.is_destroyed(),
                        id,
                        c.version as i64,
                        c.from.deleted_at().map(|t| t.millis()),
                        c.from.is_destroyed(),
                    ])?;
                if n == 0 {
                    // The savepoint is rolled back: no move of this call is kept.
                    return Err(StoreError::Conflict);
                }
            }
            ctx.append_audit(audit)
        })
        .await
    }

    async fn update_secret_settings(
        &self,
        secret_id: &str,
        settings: SecretSettings,
        at: Timestamp,
        by: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let (id, by) = (secret_id.to_owned(), by.to_owned());
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "UPDATE secrets SET description = ?, labels = ?, max_versions = ?, cas_required = ?, \
                 delete_version_after = ?, updated_at = ?, updated_by = ? WHERE id = ?",
                params![
                    settings.description,
                    labels_json(&settings.labels),
                    settings.max_versions,
                    settings.cas_required,
                    settings.delete_version_after.map(|d| d as i64),
                    at.millis(),
                    by,
                    id
                ],
            )?;
            if n > 0 {
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn expired_secrets(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<SecretRow>> {
        self.read(move |conn| {
            let rows = conn
                .prepare_cached(&format!(
                    "SELECT {SECRET_COLS} FROM secrets WHERE expires_at IS NOT NULL AND expires_at <= ? \
                     ORDER BY expires_at, id LIMIT ?"
                ))?
                .query_map(params![now.millis(), i64::from(limit)], secret_from)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn delete_expired(&self, expired: Vec<ExpiredSecret>) -> StoreResult<Vec<String>> {
        self.write(move |ctx| {
            let mut deleted = Vec::new();
            for e in &expired {
                let n = ctx
                    .conn
                    .prepare_cached(
                        "DELETE FROM secrets WHERE id = ? AND current_version = ? AND expires_at = ?",
                    )?
                    .execute(params![e.secret_id, e.current_version as i64, e.expires_at.millis()])?;
                if n > 0 {
                    ctx.conn
                        .prepare_cached("DELETE FROM secret_versions WHERE secret_id = ?")?
                        .execute([&e.secret_id])?;
                    ctx.append_audit(e.audit.clone())?;
                    deleted.push(e.secret_id.clone());
                }
            }
            Ok(deleted)
        })
        .await
    }

    async fn probe_write(&self) -> StoreResult<()> {
        // Sets the file's application id (to the value it keeps): a real page
        // write that goes through the writer, its transaction and its fsync, and
        // changes nothing any reader sees.
        let recent = self
            .write_failure
            .lock()
            .expect("write failure")
            .clone()
            .filter(|(at, _)| at.elapsed() < WRITE_FAILURE_HOLD);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let probe = writer::job(
            true,
            |ctx: &mut WriteCtx<'_>| {
                ctx.conn
                    .execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID}"))?;
                Ok(())
            },
            tx,
        );
        // Sent directly, not through `submit`: the probe's success must not
        // clear a real write's failure.
        self.writer
            .send(probe)
            .map_err(|_| StoreError::Backend("writer thread has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("writer dropped the job".into()))??;
        match recent {
            Some((at, why)) => Err(StoreError::Unavailable(format!(
                "a write failed {} s ago and none has succeeded since: {why}",
                at.elapsed().as_secs()
            ))),
            None => Ok(()),
        }
    }

    async fn append_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()> {
        self.submit(false, move |ctx| ctx.append_audits(records))
            .await
    }

    fn queue_audit(&self, records: Vec<AuditRecord>) {
        let job = writer::detached(move |ctx| ctx.append_audits(records));
        if self.writer.send(job).is_err() {
            tracing::error!("could not queue an audit row: the writer thread has stopped");
        }
    }

    async fn checkpoint_audit(&self, record: AuditRecord) -> StoreResult<Head> {
        self.submit(false, move |ctx| {
            let heads = ctx.chain_heads().others();
            let account = ctx.chain_heads().head(audit_chain::ACCOUNT_CHAIN);
            // Nothing moved since the newest checkpoint: it still names every head.
            let newest = ctx
                .conn
                .prepare_cached("SELECT * FROM audit_events WHERE seq = ?1")?
                .query_row([account.seq], audit_from)
                .optional()?;
            if let Some(row) = newest.filter(audit_chain::is_checkpoint) {
                if audit_chain::checkpoint_heads(&row.record.detail).as_ref() == Some(&heads) {
                    return Ok(account);
                }
            }
            ctx.append_audit_row(AuditRecord {
                workspace_id: None,
                detail: audit_chain::checkpoint_detail(&heads),
                ..record
            })
        })
        .await
    }

    async fn list_audit(
        &self,
        workspace_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let w = workspace_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT * FROM audit_events WHERE workspace_id = ?1 AND (?2 IS NULL OR seq < ?2) \
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![w, before_seq, limit], audit_from)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn put_flow(
        &self,
        flow: FlowRow,
        bindings: Vec<BindingRow>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO flows (workspace_id, slug, yaml, updated_at, updated_by) VALUES (?,?,?,?,?) \
                 ON CONFLICT (workspace_id, slug) DO UPDATE SET yaml = excluded.yaml, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                params![flow.workspace_id, flow.slug, flow.yaml, flow.updated_at.millis(), flow.updated_by],
            )?;
            replace_bindings(ctx.conn, &flow.workspace_id, &format!("flow:{}", flow.slug), &bindings)?;
            ctx.append_audit(audit)
        })
        .await
    }

    async fn get_flow(&self, workspace_id: &str, slug: &str) -> StoreResult<Option<FlowRow>> {
        let (w, s) = (workspace_id.to_owned(), slug.to_owned());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT workspace_id, slug, yaml, updated_at, updated_by FROM flows WHERE workspace_id = ? AND slug = ?",
            )?
            .query_row([w, s], flow_from)
            .optional()?)
        })
        .await
    }

    async fn list_flows(&self, workspace_id: &str) -> StoreResult<Vec<FlowRow>> {
        let w = workspace_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT workspace_id, slug, yaml, updated_at, updated_by FROM flows WHERE workspace_id = ? ORDER BY slug",
            )?;
            let rows = st.query_map([w], flow_from)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn delete_flow(
        &self,
        workspace_id: &str,
        slug: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool> {
        let (w, s) = (workspace_id.to_owned(), slug.to_owned());
        self.write(move |ctx| {
            let n = ctx.conn.execute(
                "DELETE FROM flows WHERE workspace_id = ? AND slug = ?",
                [&w, &s],
            )?;
            replace_bindings(ctx.conn, &w, &format!("flow:{s}"), &[])?;
            if n > 0 {
                ctx.append_audit(audit)?;
            }
            Ok(n > 0)
        })
        .await
    }

    async fn put_bindings(
        &self,
        workspace_id: &str,
        owner: &str,
        bindings: Vec<BindingRow>,
        audit: AuditRecord,
    ) -> StoreResult<()> {
        let (w, o) = (workspace_id.to_owned(), owner.to_owned());
        self.write(move |ctx| {
            replace_bindings(ctx.conn, &w, &o, &bindings)?;
            ctx.append_audit(audit)
        })
        .await
    }

    async fn bindings_of(&self, workspace_id: &str, secret: &str) -> StoreResult<Vec<BindingRow>> {
        let (w, s) = (workspace_id.to_owned(), secret.to_owned());
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT workspace_id, owner, secret, location FROM bindings WHERE workspace_id = ? AND secret = ? \
                 ORDER BY owner, location",
            )?;
            let rows = st.query_map([w, s], binding_from)?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    async fn export(&self) -> StoreResult<Snapshot> {
        self.read(|c| {
            // One read transaction: WAL gives it a stable view while writers go on.
            c.execute_batch("BEGIN")?;
            let snap = (|| -> StoreResult<Snapshot> {
                let all = |sql: &str| -> StoreResult<rusqlite::Statement<'_>> { Ok(c.prepare(sql)?) };
                let workspaces = all("SELECT * FROM workspaces ORDER BY id")?
                    .query_map([], workspace_from)?
                    .collect::<Result<_, _>>()?;
                let workspace_keys = all(
                    "SELECT workspace_id, version, master_version, wrapped FROM workspace_keys ORDER BY workspace_id, version",
                )?
                .query_map([], |r| {
                    Ok(WorkspaceKeyRow {
                        workspace_id: r.get(0)?,
                        version: r.get(1)?,
                        master_version: r.get(2)?,
                        wrapped: r.get(3)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
                let users = all("SELECT id, name, created_at FROM users ORDER BY id")?
                    .query_map([], |r| Ok(UserRow { id: r.get(0)?, name: r.get(1)?, created_at: ts(r.get(2)?) }))?
                    .collect::<Result<_, _>>()?;
                let memberships = all(
                    "SELECT workspace_id, user_id, role, created_at FROM memberships ORDER BY workspace_id, user_id",
                )?
                .query_map([], |r| {
                    let role: String = r.get(2)?;
                    Ok(MembershipRow {
                        workspace_id: r.get(0)?,
                        user_id: r.get(1)?,
                        role: role_of(&role)?,
                        created_at: ts(r.get(3)?),
                    })
                })?
                .collect::<Result<_, _>>()?;
                let tokens = all("SELECT * FROM tokens ORDER BY id")?.query_map([], token_from)?.collect::<Result<_, _>>()?;
                let secrets = all(&format!("SELECT {SECRET_COLS} FROM secrets ORDER BY id"))?
                    .query_map([], secret_from)?
                    .collect::<Result<_, _>>()?;
                let versions = all("SELECT * FROM secret_versions ORDER BY secret_id, version")?
                    .query_map([], version_from)?
                    .collect::<Result<_, _>>()?;
                let audit = all("SELECT * FROM audit_events ORDER BY seq")?.query_map([], audit_from)?.collect::<Result<_, _>>()?;
                let flows = all("SELECT workspace_id, slug, yaml, updated_at, updated_by FROM flows ORDER BY workspace_id, slug")?
                    .query_map([], flow_from)?
                    .collect::<Result<_, _>>()?;
                let bindings = all("SELECT workspace_id, owner, secret, location FROM bindings ORDER BY workspace_id, owner, secret, location")?
                    .query_map([], binding_from)?
                    .collect::<Result<_, _>>()?;
                Ok(Snapshot { workspaces, workspace_keys, users, memberships, tokens, secrets, versions, audit, flows, bindings })
            })();
            let _ = c.execute_batch("COMMIT");
            snap
        })
        .await
    }

    async fn import(&self, snap: Snapshot) -> StoreResult<()> {
        self.write(move |ctx| {
            let c = ctx.conn;
            let used: i64 = c.query_row(
                "SELECT (SELECT COUNT(*) FROM workspaces) + (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM audit_events)",
                [],
                |r| r.get(0),
            )?;
            if used > 0 {
                return Err(StoreError::Conflict);
            }
            for w in &snap.workspaces {
                c.execute(
                    "INSERT INTO workspaces (id, name, settings, active_key_version, created_at) VALUES (?,?,?,?,?)",
                    params![w.id, w.name, serde_json::to_string(&w.settings).expect("settings serialize"), w.active_key_version, w.created_at.millis()],
                )?;
            }
            for k in &snap.workspace_keys {
                c.execute(
                    "INSERT INTO workspace_keys (workspace_id, version, master_version, wrapped) VALUES (?,?,?,?)",
                    params![k.workspace_id, k.version, k.master_version, k.wrapped],
                )?;
            }
            for u in &snap.users {
                c.execute("INSERT INTO users (id, name, created_at) VALUES (?,?,?)", params![u.id, u.name, u.created_at.millis()])?;
            }
            for m in &snap.memberships {
                c.execute(
                    "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?,?,?,?)",
                    params![m.workspace_id, m.user_id, m.role.as_str(), m.created_at.millis()],
                )?;
            }
            for t in &snap.tokens {
                c.execute(
                    "INSERT INTO tokens (id, hash, name, kind, user_id, workspace_id, role, created_at, created_by, \
                     expires_at, last_used_at, revoked_at, run_as_users) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    params![
                        t.id, t.hash, t.name, t.kind.as_str(), t.user_id, t.workspace_id, t.role.map(|r| r.as_str()),
                        t.created_at.millis(), t.created_by, t.expires_at.map(|x| x.millis()),
                        t.last_used_at.map(|x| x.millis()), t.revoked_at.map(|x| x.millis()),
                        i64::from(t.run_as_users),
                    ],
                )?;
            }
            for s in &snap.secrets {
                insert_secret(c, s)?;
            }
            for v in &snap.versions {
                insert_version(c, v)?;
            }
            for a in &snap.audit {
                c.prepare_cached(
                    "INSERT INTO audit_events (seq, workspace_id, at, actor, action, target, outcome, request_id, detail, prev_hash, hash, key_version, chain) \
                     VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                )?
                .execute(params![
                    a.seq, a.record.workspace_id, a.record.at.millis(), a.record.actor, a.record.action, a.record.target,
                    a.record.outcome, a.record.request_id, a.record.detail.to_string(), a.prev_hash, a.hash, a.key_version,
                    a.chain,
                ])?;
            }
            // The snapshot's legacy prefix stays legacy; everything after it is keyed.
            c.execute(
                "UPDATE audit_chain SET legacy_rows = ? WHERE id = 1",
                [audit_chain::legacy_prefix(&snap.audit)],
            )?;
            for f in &snap.flows {
                c.execute(
                    "INSERT INTO flows (workspace_id, slug, yaml, updated_at, updated_by) VALUES (?,?,?,?,?)",
                    params![f.workspace_id, f.slug, f.yaml, f.updated_at.millis(), f.updated_by],
                )?;
            }
            for b in &snap.bindings {
                c.execute(
                    "INSERT INTO bindings (workspace_id, owner, secret, location) VALUES (?,?,?,?)",
                    params![b.workspace_id, b.owner, b.secret, b.location],
                )?;
            }
            ctx.reload_chain()
        })
        .await
    }

    async fn add_workspace_key(&self, key: WorkspaceKeyRow, audit: AuditRecord) -> StoreResult<()> {
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO workspace_keys (workspace_id, version, master_version, wrapped) VALUES (?,?,?,?)",
                params![key.workspace_id, key.version, key.master_version, key.wrapped],
            )?;
            ctx.conn.execute(
                "UPDATE workspaces SET active_key_version = ? WHERE id = ?",
                params![key.version, key.workspace_id],
            )?;
            ctx.append_audit(audit)
        })
        .await
    }

    async fn versions_to_reseal(
        &self,
        workspace_id: &str,
        active: u32,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRow, VersionRow)>> {
        let w = workspace_id.to_owned();
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT v.* FROM secret_versions v JOIN secrets s ON s.id = v.secret_id \
                 WHERE s.workspace_id = ? AND v.key_version != ? AND v.destroyed = 0 \
                 ORDER BY v.secret_id, v.version LIMIT ?",
            )?;
            let versions: Vec<VersionRow> = st
                .query_map(params![w, active, limit], version_from)?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(versions.len());
            let mut sst =
                c.prepare_cached(&format!("SELECT {SECRET_COLS} FROM secrets WHERE id = ?"))?;
            for v in versions {
                if let Some(s) = sst.query_row([&v.secret_id], secret_from).optional()? {
                    out.push((s, v));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn reseal_versions(&self, updates: Vec<Reseal>) -> StoreResult<usize> {
        self.write(move |ctx| {
            let mut n = 0;
            for u in &updates {
                let v = &u.version;
                // Converting a legacy version: only while the secret's list is still
                // the one being sealed in.
                let row_hosts = if u.old_policy.is_none() {
                    v.policy.as_ref().map(|p| hosts_json(&p.allowed_hosts))
                } else {
                    None
                };
                let changed = ctx
                    .conn
                    .prepare_cached(
                        "UPDATE secret_versions SET key_version = ?1, sealed = ?2, policy = ?3, \
                         fingerprint = ?4 \
                         WHERE secret_id = ?5 AND version = ?6 AND key_version = ?7 \
                         AND policy IS ?8 AND destroyed = 0 \
                         AND (?9 IS NULL OR EXISTS (SELECT 1 FROM secrets s \
                              WHERE s.id = secret_versions.secret_id AND s.allowed_hosts = ?9))",
                    )?
                    .execute(params![
                        v.key_version,
                        v.sealed,
                        VersionPolicy::to_column(v.policy.as_ref()),
                        v.fingerprint,
                        v.secret_id,
                        v.version as i64,
                        u.old_key_version,
                        VersionPolicy::to_column(u.old_policy.as_ref()),
                        row_hosts,
                    ])?;
                if changed > 0 {
                    ctx.conn
                        .prepare_cached(
                            "UPDATE secrets SET fingerprint = ?1 WHERE id = ?2 \
                             AND current_version = ?3 AND fingerprint != ?1",
                        )?
                        .execute(params![v.fingerprint, v.secret_id, v.version as i64])?;
                }
                n += changed;
            }
            Ok(n)
        })
        .await
    }

    async fn legacy_versions(
        &self,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRow, VersionRow)>> {
        self.read(move |c| {
            let (after_id, after_version) = match after {
                Some((id, v)) => (Some(id), v as i64),
                None => (None, 0),
            };
            let mut st = c.prepare_cached(
                "SELECT * FROM secret_versions WHERE policy IS NULL AND destroyed = 0 \
                 AND (?1 IS NULL OR secret_id > ?1 OR (secret_id = ?1 AND version > ?2)) \
                 ORDER BY secret_id, version LIMIT ?3",
            )?;
            let versions: Vec<VersionRow> = st
                .query_map(params![after_id, after_version, limit], version_from)?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(versions.len());
            let mut sst =
                c.prepare_cached(&format!("SELECT {SECRET_COLS} FROM secrets WHERE id = ?"))?;
            for v in versions {
                if let Some(s) = sst.query_row([&v.secret_id], secret_from).optional()? {
                    out.push((s, v));
                }
            }
            Ok(out)
        })
        .await
    }

    async fn purge_deleted(&self) -> StoreResult<()> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || -> StoreResult<()> {
            // secure_delete zeroed the rows in the pages the deletion rewrote; the
            // WAL still holds earlier frames with them until it is checkpointed and
            // truncated.
            let c = Connection::open(&path)?;
            c.busy_timeout(std::time::Duration::from_secs(10))?;
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Backend(format!("checkpoint task: {e}")))?
    }

    async fn verify_audit(&self) -> StoreResult<VerifyReport> {
        let keys = self.chain_keys.get();
        self.read(move |c| {
            let legacy: i64 = c.query_row(
                "SELECT legacy_rows FROM audit_chain WHERE id = 1",
                [],
                |r| r.get(0),
            )?;
            let mut st = c.prepare("SELECT * FROM audit_events ORDER BY seq")?;
            let rows: Vec<AuditRow> = st.query_map([], audit_from)?.collect::<Result<_, _>>()?;
            Ok(audit_chain::verify_with(
                &rows,
                audit_chain::Rules {
                    keys: keys.as_deref(),
                    // A store given no keys (tests) writes legacy links throughout.
                    legacy_rows: keys.is_some().then_some(legacy),
                },
            ))
        })
        .await
    }

    fn set_chain_keys(&self, keys: Arc<dyn ChainKeys>) {
        self.chain_keys.set(keys);
    }

    async fn audit_chain_state(&self) -> StoreResult<ChainState> {
        self.read(|c| {
            let legacy_rows: i64 =
                c.query_row("SELECT legacy_rows FROM audit_chain WHERE id = 1", [], |r| r.get(0))?;
            let head = c
                .query_row(
                    "SELECT seq, hash, key_version IS NOT NULL FROM audit_events ORDER BY seq DESC LIMIT 1",
                    [],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?)),
                )
                .optional()?;
            let (seq, hash, head_keyed) =
                head.unwrap_or((0, audit_chain::GENESIS.to_string(), false));
            Ok(ChainState {
                head: Head { seq, hash },
                head_keyed,
                legacy_rows,
            })
        })
        .await
    }

    async fn audit_row(&self, seq: i64) -> StoreResult<Option<AuditRow>> {
        self.read(move |c| {
            Ok(
                c.prepare_cached("SELECT * FROM audit_events WHERE seq = ?1")?
                    .query_row([seq], audit_from)
                    .optional()?,
            )
        })
        .await
    }

    async fn list_account_audit(
        &self,
        actors: Vec<String>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>> {
        let actors = serde_json::to_string(&actors).expect("strings serialize");
        self.read(move |c| {
            let mut st = c.prepare_cached(
                "SELECT * FROM audit_events WHERE workspace_id IS NULL \
                 AND actor IN (SELECT value FROM json_each(?1)) \
                 AND action <> 'audit.checkpoint' \
                 AND (?2 IS NULL OR seq < ?2) ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = st
                .query_map(params![actors, before_seq, limit], audit_from)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
