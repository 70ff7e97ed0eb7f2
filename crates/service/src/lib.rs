//! Lockbox's business rules, and the only place they live. The HTTP server, the
//! automation runtimes and the CLI all call [`Lockbox`]; none of them touches the
//! store or the crypto crate directly.
//!
//! Each public operation follows the same shape: resolve the workspace, settle the
//! caller's role there, ask the role matrix (`lockbox_core::allowed`), do the work,
//! and write an audit row in the same commit as the change. Denied attempts are
//! audited too. Nothing here formats a value into an error, a log line or an audit row.

pub mod admin;
pub mod audit;
mod auth;
mod backup;
mod cache;
mod children;
mod denied;
mod dotenv_io;
mod evict;
mod flows;
mod keycheck;
mod keys;
mod listing;
mod members;
mod memory;
mod policy_seal;
mod read_version;
mod redactors;
pub mod runs;
mod secrets;
mod sessions;
mod tokens;
mod types;
mod versions;
mod workspaces;
mod write_queue;

pub use auth::Principal;
pub use children::{ChildrenPage, ChildrenRequest, MAX_CHILDREN_PER_PAGE};
pub use dotenv_io::{ExportFormat, ImportOutcome, ImportRow, MAX_IMPORT_BYTES};
pub use flows::{BindingInfo, FlowInfo};
pub use keycheck::{CHECK_EVERY as KEY_CHECK_EVERY, NODE_TTL};
pub use listing::{ListOptions, ListSort, ListingPage};
pub use lockbox_store::postgres::Deadlines as DbDeadlines;
pub use policy_seal::PolicySweepReport;
pub use read_version::VersionRead;
pub use redactors::RedactorStats;
pub use secrets::{effective_delete_after, PatchDoc, PutSecret};
pub use sessions::{NewSession, Session, SessionSeal, SESSION_NAME_PREFIX, SESSION_TTL_SECONDS};
pub use types::*;
pub use versions::{check_labels, SecretSettingsPatch, RESERVED_LABEL_PREFIX};
pub use workspaces::WorkspaceSettingsPatch;

use cache::TtlCache;
use keys::KeyCache;
use lockbox_core::{Action, Actor, Clock, Error, Result, Role, SystemClock, Timestamp};
use lockbox_crypto::MasterKeyring;
use lockbox_store::{AuditRecord, SqliteStore, Store, StoreError, WorkspaceRow};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Tunables. Defaults are the ones docs/api.md and docs/operating-limits.md give.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub max_value_bytes: usize,
    /// How long cached tokens, workspaces, memberships and secret metadata are
    /// trusted before a re-read: the safety net behind change notifications, and so
    /// the bound on how stale another node's change can look if one is missed.
    pub cache_ttl_ms: i64,
    /// How long a `$secret:` reference stays usable (seed 001: "a few minutes").
    pub reference_ttl_seconds: u64,
    /// The longest a run may be opened for (`POST /v1/runs` `ttl`); a run also
    /// ends when the token that opened it does.
    pub max_run_ttl_seconds: u64,
    /// Time limits on PostgreSQL (statement timeout, pool wait, answer deadline).
    pub db_deadlines: lockbox_store::postgres::Deadlines,
    /// Most bytes of sealed versions kept in memory (each up to the value limit;
    /// the default is `memory::VERSIONS_BYTES`, 8 MiB).
    pub version_cache_bytes: usize,
    /// How often the audit chain head is written to the log again once it moved.
    pub audit_checkpoint_seconds: u64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_value_bytes: lockbox_core::value::DEFAULT_MAX_VALUE_BYTES,
            cache_ttl_ms: 400,
            reference_ttl_seconds: 300,
            max_run_ttl_seconds: 3600,
            db_deadlines: lockbox_store::postgres::Deadlines::default(),
            version_cache_bytes: memory::VERSIONS_BYTES,
            audit_checkpoint_seconds: 600,
        }
    }
}

/// What a request needs before its body is read (see [`Lockbox::authorize_request`]).
#[derive(Debug, Clone, Copy)]
pub enum Requirement<'a> {
    /// An action outside one workspace's matrix.
    Account(lockbox_core::AccountAction),
    /// Workspace administration (members, settings, flows, audit, tokens): members
    /// by role; never a run.
    Workspace { workspace: &'a str, action: Action },
    /// Secrets of one scope: members by role (or as owners of their own user
    /// scope), runs by the run column in their own workspace.
    Secrets {
        workspace: &'a str,
        scope: lockbox_core::Scope,
        action: Action,
    },
    /// The run API (`/v1/run/*`): run tokens only, by the run column.
    Run(Action),
}

/// Per-request facts the service records (never a value).
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: Option<String>,
}

pub struct Lockbox {
    store: Arc<dyn Store>,
    keyring: Arc<MasterKeyring>,
    clock: Arc<dyn Clock>,
    config: ServiceConfig,
    keys: KeyCache,
    tokens_by_hash: TtlCache<String, Option<auth::CachedToken>>,
    /// Token rows by id: a run's opener, checked on every run call.
    tokens_by_id: TtlCache<String, Option<lockbox_store::TokenRow>>,
    users_by_id: TtlCache<String, Option<lockbox_store::UserRow>>,
    /// `/v1/run/redact` calls per run, for its rate limit.
    redact_budget: runs::RedactBudget,
    workspaces: TtlCache<String, Option<WorkspaceRow>>,
    memberships: TtlCache<(String, String), Option<Role>>,
    secrets: TtlCache<secrets::SecretKey, lockbox_store::SecretRow>,
    /// The same rows by id, for resolving references (which follow the id).
    secrets_by_id: TtlCache<String, lockbox_store::SecretRow>,
    bindings_cache: TtlCache<(String, String), Vec<BindingInfo>>,
    /// Folder listings (`children.rs`), dropped by any secret write.
    children: TtlCache<children::ChildrenKey, Arc<lockbox_store::Children>>,
    versions: TtlCache<(String, u64), Arc<lockbox_store::VersionRow>>,
    /// Bumped before every eviction from `versions`: a version read from the store
    /// is cached only if no eviction started meanwhile, so a version deleted or
    /// destroyed during the read is never cached in its old state.
    versions_gen: std::sync::atomic::AtomicU64,
    /// Per-version pattern sets and runs' redactors over them (redactors.rs).
    redactors: redactors::RunRedactors,
    token_last_used: Mutex<HashMap<String, Timestamp>>,
    /// Master keys every node agrees on (keycheck.rs).
    key_watch: keycheck::KeyWatch,
    /// Refused attempts counted per kind and minute (denied.rs).
    denied: denied::DeniedLog,
    audit_checkpoints: audit::Checkpoints,
    /// Writes without If-Match, queued per secret (write_queue.rs).
    write_queue: write_queue::WriteQueue,
}

/// Creates the data directory if needed and, when the embedded store will write
/// there (`writable`), proves it can: a failure names the path, the operation and
/// the OS error instead of SQLite's "unable to open database file".
fn prepare_data_dir(data_dir: &Path, writable: bool) -> Result<()> {
    let fail = |op: &str, path: &Path, e: std::io::Error| {
        Error::invalid(format!(
            "data directory {}: cannot {op} {}: {e}",
            data_dir.display(),
            path.display()
        ))
    };
    std::fs::create_dir_all(data_dir).map_err(|e| fail("create", data_dir, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
    }
    if writable {
        let probe = data_dir.join(".lockbox-write-check");
        std::fs::write(&probe, b"").map_err(|e| fail("write (it must be writable)", &probe, e))?;
        let _ = std::fs::remove_file(&probe);
        let db = data_dir.join(lockbox_store::sqlite::DB_FILE_NAME);
        if db.exists() {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&db)
                .map_err(|e| fail("open for writing", &db, e))?;
        }
    }
    Ok(())
}

/// The embedded store in `data_dir`, or PostgreSQL when `database` is a
/// `postgres://` URL.
pub(crate) async fn open_store(data_dir: &Path, database: Option<&str>) -> Result<Arc<dyn Store>> {
    open_store_with(
        data_dir,
        database,
        lockbox_store::postgres::Deadlines::maintenance(),
    )
    .await
}

/// As [`open_store`], with the server's time limits on PostgreSQL.
pub(crate) async fn open_store_with(
    data_dir: &Path,
    database: Option<&str>,
    deadlines: lockbox_store::postgres::Deadlines,
) -> Result<Arc<dyn Store>> {
    match database {
        None => Ok(Arc::new(SqliteStore::open(data_dir).map_err(|e| {
            Error::invalid(format!(
                "cannot open the embedded store {}: {e}",
                data_dir.join(lockbox_store::sqlite::DB_FILE_NAME).display()
            ))
        })?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            // The PostgreSQL driver says only "invalid connection string"; the URL
            // parser names the part (its messages never quote the input).
            if let Err(e) = url::Url::parse(url) {
                return Err(Error::invalid(format!(
                    "the database URL {} is not a valid URL: {e}",
                    describe_database_url(url)
                )));
            }
            Ok(Arc::new(
                lockbox_store::PostgresStore::connect_with(url, deadlines)
                    .await
                    .map_err(|e| match e {
                        // A bad URL or an unreachable server keeps its own code.
                        StoreError::Backend(s) => Error::invalid(format!(
                            "cannot open the PostgreSQL store {}: {s}",
                            describe_database_url(url)
                        )),
                        other => store_err(other),
                    })?,
            ))
        }
        Some(url) => Err(Error::invalid(format!(
            "the database URL must start with postgres:// or postgresql://, not '{}'",
            describe_database_url(url)
        ))),
    }
}

/// The embedded store's file name inside the data directory.
pub const EMBEDDED_DB_FILE: &str = lockbox_store::sqlite::DB_FILE_NAME;

/// Where the master key for `data_dir` comes from, for messages.
pub fn key_source_for(data_dir: &Path) -> String {
    let s = MasterKeyring::source_for(data_dir).to_string();
    s.trim_start_matches("the key file ").to_owned()
}

/// A fresh random master key as base64 text (for `LOCKBOX_MASTER_KEYS`).
pub fn generate_master_key_text() -> impl std::ops::Deref<Target = String> {
    lockbox_crypto::master::generate_key_text()
}

/// A database URL fit for messages and logs: any password replaced by `***`.
pub fn describe_database_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL: show only its first characters, in case it is a bare password.
        return format!("{}…", url.chars().take(12).collect::<String>());
    };
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

fn store_err(e: StoreError) -> Error {
    match e {
        StoreError::Conflict => Error::conflict("the change conflicts with the current state"),
        // Says which resource is missing; never a value.
        StoreError::Unavailable(s) => Error::unavailable(s),
        StoreError::Invalid(s) => Error::invalid(s),
        StoreError::Backend(s) => Error::internal(s),
    }
}

impl Lockbox {
    /// Opens the store (embedded SQLite in `data_dir`, or PostgreSQL at `database`)
    /// and the master key (environment, or the key file in `data_dir`, created on
    /// first start), with the system clock.
    pub async fn open(
        data_dir: &Path,
        database: Option<&str>,
        config: ServiceConfig,
    ) -> Result<Lockbox> {
        Lockbox::open_with_clock(data_dir, database, config, Arc::new(SystemClock)).await
    }

    /// As [`Lockbox::open`], with an injected clock (tests move time instead of
    /// sleeping).
    pub async fn open_with_clock(
        data_dir: &Path,
        database: Option<&str>,
        config: ServiceConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Lockbox> {
        prepare_data_dir(data_dir, database.is_none())?;
        let store = open_store_with(data_dir, database, config.db_deadlines).await?;
        let keyring = keycheck::open_keyring(data_dir, store.as_ref()).await?;
        keycheck::verify_at_start(store.as_ref(), &keyring).await?;
        Ok(Lockbox::with_parts(store, Arc::new(keyring), clock, config))
    }

    pub fn with_parts(
        store: Arc<dyn Store>,
        keyring: Arc<MasterKeyring>,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Lockbox {
        let ttl = config.cache_ttl_ms;
        audit::install_chain_keys(store.as_ref(), keyring.clone());
        let caches = memory::Caches::new(&clock, ttl, config.version_cache_bytes);
        Lockbox {
            keys: KeyCache(caches.keys),
            tokens_by_hash: caches.tokens_by_hash,
            tokens_by_id: caches.tokens_by_id,
            users_by_id: caches.users_by_id,
            redact_budget: runs::RedactBudget::default(),
            workspaces: caches.workspaces,
            memberships: caches.memberships,
            secrets: caches.secrets,
            secrets_by_id: caches.secrets_by_id,
            bindings_cache: caches.bindings,
            children: caches.children,
            versions: caches.versions,
            versions_gen: std::sync::atomic::AtomicU64::new(0),
            redactors: redactors::RunRedactors::default(),
            token_last_used: Mutex::new(HashMap::new()),
            key_watch: keycheck::KeyWatch::new(),
            denied: denied::DeniedLog::default(),
            audit_checkpoints: audit::Checkpoints::default(),
            write_queue: write_queue::WriteQueue::default(),
            store,
            keyring,
            clock,
            config,
        }
    }

    pub fn config(&self) -> &ServiceConfig {
        &self.config
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Walks the audit chain (operators, tests).
    pub async fn verify_audit_chain(&self) -> Result<lockbox_store::audit_chain::VerifyReport> {
        self.store.verify_audit().await.map_err(store_err)
    }

    /// True when the store can write (see [`Lockbox::readiness`]).
    pub async fn ready(&self) -> bool {
        self.readiness().await.is_ok()
    }

    /// Ok when the store commits a probe write now; else `unavailable` saying why
    /// (disk full or read-only, database unreachable). No deadline of its own: the
    /// caller (`/readyz`) bounds it.
    pub async fn readiness(&self) -> Result<()> {
        self.store.probe_write().await.map_err(store_err)
    }

    /// First start: creates user `owner`, workspace `default` and a personal token
    /// for the owner, and returns that token (shown once). Later starts return None.
    pub async fn bootstrap(&self) -> Result<Option<lockbox_core::Sensitive<String>>> {
        if !self
            .store
            .list_workspaces()
            .await
            .map_err(store_err)?
            .is_empty()
        {
            return Ok(None);
        }
        let owner = self.ensure_user("owner").await?;
        match self
            .create_workspace_row("default", &owner.id, "system", &RequestCtx::default())
            .await
        {
            Ok(_) => {}
            // Another node starting at the same moment bootstrapped first; it prints
            // the token.
            Err(e) if e.code == lockbox_core::ErrorCode::Conflict => return Ok(None),
            Err(e) => return Err(e),
        }
        let token = self
            .insert_personal_token(
                &owner,
                "initial owner token",
                None,
                "system",
                &RequestCtx::default(),
            )
            .await?;
        Ok(Some(token.token))
    }

    /// Background upkeep: purge expired secrets, flush token last-use times and
    /// counts of refused attempts, drop expired cache entries, write the audit
    /// chain head to the log as it moves (see [`Lockbox::start_audit`] for the
    /// start), and re-seal legacy
    /// versions with their policy bound (policy_seal.rs).
    /// Runs until the returned handle is aborted.
    pub fn spawn_background(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let follower = self.store.subscribe().map(|mut changes| {
            let me = self.clone();
            tokio::spawn(async move {
                use tokio::sync::broadcast::error::RecvError;
                loop {
                    match changes.recv().await {
                        Ok(change) => me.evict(&evict::Change::Store(change)),
                        Err(RecvError::Lagged(_)) => {
                            me.evict(&evict::Change::Store(lockbox_store::Change::Everything))
                        }
                        Err(RecvError::Closed) => break,
                    }
                }
            })
        });
        let sweep = self.spawn_policy_sweep();
        let key_watch = self.spawn_key_watch();
        tokio::spawn(async move {
            let _follower = AbortOnDrop(follower);
            let _sweep = AbortOnDrop(Some(sweep));
            let _key_watch = AbortOnDrop(Some(key_watch));
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = me.purge_expired().await {
                    tracing::warn!(error = %e, "purging expired secrets failed");
                }
                me.flush_token_use().await;
                me.flush_denied(false).await;
                me.sweep_caches();
                me.checkpoint_audit_head("interval").await;
            }
        })
    }

    /// Drops what another node's change made stale (the change follower's
    /// path, also open to tests): the same eviction as this node's own writes.
    pub fn apply_change(&self, change: &lockbox_store::Change) {
        self.evict(&evict::Change::Store(change.clone()));
    }

    // ---- helpers shared by the operation modules

    async fn workspace(&self, name: &str) -> Result<WorkspaceRow> {
        if let Some(cached) = self.workspaces.get(&name.to_owned()) {
            return cached.ok_or_else(|| Error::not_found(format!("workspace '{name}' not found")));
        }
        let row = self
            .store
            .workspace_by_name(name)
            .await
            .map_err(store_err)?;
        self.workspaces.put(name.to_owned(), row.clone());
        row.ok_or_else(|| Error::not_found(format!("workspace '{name}' not found")))
    }

    /// A user row by id (briefly cached: users are only ever created).
    pub(crate) async fn user_by_id(&self, id: &str) -> Result<Option<lockbox_store::UserRow>> {
        if let Some(u) = self.users_by_id.get(&id.to_owned()) {
            return Ok(u);
        }
        let u = self.store.user_by_id(id).await.map_err(store_err)?;
        self.users_by_id.put(id.to_owned(), u.clone());
        Ok(u)
    }

    /// A token row by id (cached; revocation evicts it here and on every node).
    pub(crate) async fn token_row(&self, id: &str) -> Result<Option<lockbox_store::TokenRow>> {
        if let Some(t) = self.tokens_by_id.get(&id.to_owned()) {
            return Ok(t);
        }
        let t = self.store.token_by_id(id).await.map_err(store_err)?;
        self.tokens_by_id.put(id.to_owned(), t.clone());
        Ok(t)
    }

    async fn member_role(&self, workspace_id: &str, user_id: &str) -> Result<Option<Role>> {
        let key = (workspace_id.to_owned(), user_id.to_owned());
        if let Some(r) = self.memberships.get(&key) {
            return Ok(r);
        }
        let r = self
            .store
            .membership(workspace_id, user_id)
            .await
            .map_err(store_err)?;
        self.memberships.put(key, r);
        Ok(r)
    }

    /// The caller's role in a workspace. A workspace the caller cannot see at all
    /// answers `not_found`, so names of other tenants' workspaces do not leak.
    async fn role_in(&self, p: &Principal, ws: &WorkspaceRow) -> Result<Role> {
        if p.run.is_some() {
            return Err(Error::forbidden(
                "a run token only uses secrets and the run API, not workspace administration",
            ));
        }
        let role = match (&p.user, &p.service) {
            (_, Some((ws_id, role))) => (ws_id == &ws.id).then_some(*role),
            (Some(user), None) => self.member_role(&ws.id, &user.id).await?,
            (None, None) => None,
        };
        role.ok_or_else(|| Error::not_found(format!("workspace '{}' not found", ws.name)))
    }

    /// Resolves workspace and role, then checks `action`; a refusal is audited.
    async fn authorize(
        &self,
        p: &Principal,
        ws_name: &str,
        action: Action,
        target: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<(WorkspaceRow, Role)> {
        let ws = self.workspace(ws_name).await?;
        let role = self.role_in(p, &ws).await?;
        self.check(p, &ws, Actor::Member(role), action, target, ctx)
            .await?;
        Ok((ws, role))
    }

    async fn check(
        &self,
        p: &Principal,
        ws: &WorkspaceRow,
        actor: Actor,
        action: Action,
        target: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if lockbox_core::allowed(actor, action) {
            return Ok(());
        }
        let who = match actor {
            Actor::Member(r) => format!("role '{r}'"),
            Actor::Run => "a run".to_owned(),
        };
        let err = Error::forbidden(format!("{who} may not {}", action.as_str()));
        Err(self
            .refuse(p, Some(&ws.id), action_verb(action), target, err, ctx)
            .await)
    }

    /// The check a transport makes before it reads a request's body: the row of the
    /// matrix the route is about, asked with the principal as it is. The operation
    /// itself asks again (with what only the body tells: the target secret, the
    /// workspace of `POST /v1/runs` and `POST /v1/tokens`, a restricted value).
    pub async fn authorize_request(
        &self,
        p: &Principal,
        req: Requirement<'_>,
        ctx: &RequestCtx,
    ) -> Result<()> {
        match req {
            Requirement::Account(action) => self.check_account(p, action, ctx).await,
            Requirement::Workspace { workspace, action } => self
                .authorize(p, workspace, action, None, ctx)
                .await
                .map(|_| ()),
            Requirement::Secrets {
                workspace,
                scope,
                action,
            } => self
                .authorized_target(p, workspace, scope, action, None, ctx)
                .await
                .map(|_| ()),
            Requirement::Run(action) => {
                let Some(run) = &p.run else {
                    return Err(Error::forbidden(
                        "only a run token may use the run API; open a run with POST /v1/runs",
                    ));
                };
                let ws = self.workspace(&run.workspace).await?;
                self.check(p, &ws, Actor::Run, action, None, ctx).await
            }
        }
    }

    /// Drops expired entries from every cache (memory goes down when use stops).
    pub(crate) fn sweep_caches(&self) {
        self.keys.sweep();
        self.tokens_by_hash.sweep();
        self.tokens_by_id.sweep();
        self.users_by_id.sweep();
        self.workspaces.sweep();
        self.memberships.sweep();
        self.secrets.sweep();
        self.secrets_by_id.sweep();
        self.bindings_cache.sweep();
        self.children.sweep();
        self.versions.sweep();
        self.redactors.sweep();
    }

    /// Entries and bytes held by the version cache (tests, diagnostics).
    #[doc(hidden)]
    pub fn version_cache_usage(&self) -> (usize, usize) {
        self.versions.usage()
    }

    fn record(
        &self,
        p: &Principal,
        workspace_id: Option<&str>,
        action: &str,
        target: Option<&str>,
        ctx: &RequestCtx,
        detail: serde_json::Value,
    ) -> AuditRecord {
        AuditRecord {
            workspace_id: workspace_id.map(str::to_owned),
            at: self.clock.now(),
            actor: p.label(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            outcome: "ok".to_owned(),
            request_id: ctx.request_id.clone(),
            detail,
        }
    }

    /// Audits a refusal and hands back the error to return with it.
    async fn refuse(
        &self,
        p: &Principal,
        workspace_id: Option<&str>,
        action: &str,
        target: Option<&str>,
        err: Error,
        ctx: &RequestCtx,
    ) -> Error {
        self.audit_denied(p, workspace_id, action, target, &err, ctx)
            .await;
        err
    }

    /// A workspace by id (rows that name theirs by id: tokens, runs).
    pub(crate) async fn workspace_by_id(&self, id: &str) -> Result<Option<WorkspaceRow>> {
        Ok(self
            .store
            .list_workspaces()
            .await
            .map_err(store_err)?
            .into_iter()
            .find(|w| w.id == id))
    }

    /// Records a refused or failed attempt: the first of its kind in a minute at
    /// once, repeats as one counted row (denied.rs). Never fails the request itself.
    async fn audit_denied(
        &self,
        p: &Principal,
        workspace_id: Option<&str>,
        action: &str,
        target: Option<&str>,
        err: &Error,
        ctx: &RequestCtx,
    ) {
        let mut rec = self.record(p, workspace_id, action, target, ctx, serde_json::json!({}));
        rec.outcome = format!("denied:{}", err.code);
        let Some(rec) = self.denied.note(rec) else {
            return;
        };
        if let Err(e) = self.store.append_audit(vec![rec]).await {
            tracing::error!(error = %e, "could not write audit row for a denied attempt");
        }
    }
}

/// Aborts the change follower when the upkeep task ends.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(h) = &self.0 {
            h.abort();
        }
    }
}

fn action_verb(a: Action) -> &'static str {
    match a {
        Action::ListSecrets => "secret.list",
        Action::ViewWorkspace => "workspace.view",
        Action::WriteSecret => "secret.put",
        Action::RenameSecret => "secret.rename",
        Action::DeleteSecret => "secret.delete",
        Action::RevealMasked | Action::RevealRestricted => "secret.reveal",
        Action::UseReferences => "secret.reference",
        Action::OpenRun => "run.open",
        Action::ManageFlows => "flow.change",
        Action::ManageMembers => "member.change",
        Action::ManageTokens => "token.change",
        Action::ManageSettings => "workspace.settings",
        Action::DeleteWorkspace => "workspace.delete",
        Action::ReadAudit => "audit.read",
    }
}
