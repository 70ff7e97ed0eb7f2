//! Lockbox's business rules, and the only place they live. The HTTP server, the
//! automation runtimes and the CLI all call [`Lockbox`]; none of them touches the
//! store or the crypto crate directly.
//!
//! Each public operation follows the same shape: resolve the workspace, settle the
//! caller's role there, ask the role matrix (`lockbox_core::allowed`), do the work,
//! and write an audit row in the same commit as the change. Denied attempts are
//! audited too. Nothing here formats a value into an error, a log line or an audit row.

pub mod admin;
mod auth;
mod cache;
mod keys;
mod members;
mod secrets;
mod tokens;
mod types;
mod workspaces;

pub use auth::Principal;
pub use secrets::{PatchDoc, PutSecret};
pub use types::*;

use cache::TtlCache;
use keys::KeyCache;
use lockbox_core::{Action, Actor, Clock, Error, Result, Role, SystemClock, Timestamp};
use lockbox_crypto::MasterKeyring;
use lockbox_store::{AuditRecord, SqliteStore, Store, StoreError, WorkspaceRow};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Tunables. Defaults follow DESIGN.md.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub max_value_bytes: usize,
    /// How long cached tokens, workspaces and memberships are trusted before a
    /// re-read; the bound on how stale another process's change can look.
    pub cache_ttl_ms: i64,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_value_bytes: lockbox_core::value::DEFAULT_MAX_VALUE_BYTES,
            cache_ttl_ms: 1000,
        }
    }
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
    workspaces: TtlCache<String, Option<WorkspaceRow>>,
    memberships: TtlCache<(String, String), Option<Role>>,
    secrets: TtlCache<secrets::SecretKey, lockbox_store::SecretRow>,
    versions: TtlCache<(String, u64), Arc<lockbox_store::VersionRow>>,
    token_last_used: Mutex<HashMap<String, Timestamp>>,
}

fn store_err(e: StoreError) -> Error {
    match e {
        StoreError::Conflict => Error::conflict("the change conflicts with the current state"),
        StoreError::Backend(s) => Error::internal(s),
    }
}

impl Lockbox {
    /// Opens the embedded store and key file in `data_dir`, creating both if needed.
    pub fn open(data_dir: &Path, config: ServiceConfig) -> Result<Lockbox> {
        Lockbox::open_with_clock(data_dir, config, Arc::new(SystemClock))
    }

    /// As [`Lockbox::open`], with an injected clock (tests move time instead of
    /// sleeping).
    pub fn open_with_clock(
        data_dir: &Path,
        config: ServiceConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Lockbox> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::internal(format!("create {}: {e}", data_dir.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
        }
        let keyring = MasterKeyring::load_or_create(data_dir)?;
        let store = SqliteStore::open(data_dir).map_err(store_err)?;
        Ok(Lockbox::with_parts(
            Arc::new(store),
            Arc::new(keyring),
            clock,
            config,
        ))
    }

    pub fn with_parts(
        store: Arc<dyn Store>,
        keyring: Arc<MasterKeyring>,
        clock: Arc<dyn Clock>,
        config: ServiceConfig,
    ) -> Lockbox {
        let ttl = config.cache_ttl_ms;
        Lockbox {
            keys: KeyCache::new(clock.clone(), 60_000),
            tokens_by_hash: TtlCache::new(clock.clone(), ttl),
            workspaces: TtlCache::new(clock.clone(), ttl),
            memberships: TtlCache::new(clock.clone(), ttl),
            secrets: TtlCache::new(clock.clone(), ttl),
            versions: TtlCache::new(clock.clone(), 60_000),
            token_last_used: Mutex::new(HashMap::new()),
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

    /// True when the store answers a read.
    pub async fn ready(&self) -> bool {
        self.store.list_workspaces().await.is_ok()
    }

    /// First start: creates user `owner`, workspace `default` and a personal token
    /// for the owner, and returns that token (shown once). Later starts return None.
    pub async fn bootstrap(&self) -> Result<Option<String>> {
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
        self.create_workspace_row("default", &owner.id, "system", &RequestCtx::default())
            .await?;
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

    /// Background upkeep: purge expired secrets and flush token last-use times.
    /// Runs until the returned handle is aborted.
    pub fn spawn_background(
        self: &Arc<Self>,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = me.purge_expired().await {
                    tracing::warn!(error = %e, "purging expired secrets failed");
                }
                me.flush_token_use().await;
            }
        })
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
        self.audit_denied(p, Some(&ws.id), action_verb(action), target, &err, ctx)
            .await;
        Err(err)
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

    /// Records a refused or failed attempt. Never fails the request itself.
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
        if let Err(e) = self.store.append_audit(vec![rec]).await {
            tracing::error!(error = %e, "could not write audit row for a denied attempt");
        }
    }
}

fn action_verb(a: Action) -> &'static str {
    match a {
        Action::ListSecrets => "secret.list",
        Action::WriteSecret => "secret.put",
        Action::RenameSecret => "secret.rename",
        Action::DeleteSecret => "secret.delete",
        Action::RevealMasked | Action::RevealRestricted => "secret.reveal",
        Action::UseReferences => "secret.reference",
        Action::ManageMembers => "member.change",
        Action::ManageTokens => "token.change",
        Action::ManageSettings => "workspace.settings",
        Action::DeleteWorkspace => "workspace.delete",
        Action::ReadAudit => "audit.read",
    }
}
