//! Secrets: upsert, metadata, reveal, list, exists, delete, patch, versions,
//! rollback, rename and expiry.
//!
//! Writes are compare-and-set on the secret's current version: with `If-Match` a
//! stale version is `version_mismatch`; without it the service re-reads and retries,
//! so concurrent upserts and patches never lose an update.

use crate::auth::Principal;
use crate::{store_err, Lockbox, RequestCtx, SecretMeta, SecretPage, ValueKind, VersionInfo};
use base64::Engine;
use lockbox_core::{
    Action, Actor, Error, ErrorCode, Result, Role, Scope, SecretName, SecretValue, Timestamp,
    Visibility,
};
use lockbox_crypto::random_id;
use lockbox_store::{
    CommitVersion, DropBindings, Expect, ListQuery, MoveBindings, SecretRow, StoreError,
    VersionRow, WorkspaceRow,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often a write without `If-Match` re-reads and retries after losing a race.
const MAX_WRITE_ATTEMPTS: usize = 32;
/// The longest TTL accepted: ten years.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// An upsert request, already parsed at the edge.
#[derive(Debug)]
pub struct PutSecret {
    pub value: serde_json::Value,
    /// `None` keeps the current description; `Some("")` clears it.
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub ttl_seconds: Option<u64>,
    pub if_match: Option<u64>,
    /// `None` keeps the current list; `Some(vec![])` allows any host.
    pub allowed_hosts: Option<Vec<String>>,
    /// Only create (`If-None-Match: *`): an existing secret is `version_mismatch`.
    pub create_only: bool,
    /// `None` keeps the current labels; `Some` replaces them (keys `lockbox.*` refused).
    pub labels: Option<BTreeMap<String, String>>,
}

/// A patch document: RFC 7396 merge patch or RFC 6902 JSON Patch (as sent; the
/// service checks its shape).
#[derive(Debug)]
pub enum PatchDoc {
    Merge(serde_json::Value),
    JsonPatch(serde_json::Value),
}

enum Patch {
    Merge(serde_json::Value),
    Json(json_patch::Patch),
}

/// Where a secret call points: workspace plus scope plus owner.
pub(crate) struct Target {
    pub(crate) ws: WorkspaceRow,
    pub(crate) scope: Scope,
    pub(crate) owner: String,
    pub(crate) actor: Actor,
}

impl Lockbox {
    /// Settles workspace, scope owner and the actor the matrix should judge.
    /// In their own user scope, members act as owners of their private secrets.
    pub(crate) async fn target(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
    ) -> Result<Target> {
        let ws = self.workspace(ws_name).await?;
        if let Some(run) = &p.run {
            // A run acts in its own workspace only, and in its user's scope only
            // while that user is still a member.
            if run.workspace_id != ws.id {
                return Err(Error::not_found(format!("workspace '{ws_name}' not found")));
            }
            let owner = match scope {
                Scope::Workspace => String::new(),
                Scope::User => {
                    // Seed 001: no user scope in cron triggers, whoever the run acts as.
                    if !run.user_scope_available() {
                        return Err(Error::user_required());
                    }
                    let user = p.user.as_ref().ok_or_else(Error::user_required)?;
                    if self.member_role(&ws.id, &user.id).await?.is_none() {
                        return Err(Error::forbidden("the run's user is no longer a member"));
                    }
                    user.id.clone()
                }
            };
            return Ok(Target {
                ws,
                scope,
                owner,
                actor: Actor::Run,
            });
        }
        let role = self.role_in(p, &ws).await?;
        let (owner, actor) = match scope {
            Scope::Workspace => (String::new(), Actor::Member(role)),
            Scope::User => {
                let user = p.user.as_ref().ok_or_else(Error::user_required)?;
                (user.id.clone(), Actor::Member(Role::Owner))
            }
        };
        Ok(Target {
            ws,
            scope,
            owner,
            actor,
        })
    }

    /// Audits a refusal about secret `name` of target `t`; returns the error.
    pub(crate) async fn refuse_secret(
        &self,
        p: &Principal,
        t: &Target,
        action: &str,
        name: &SecretName,
        err: Error,
        ctx: &RequestCtx,
    ) -> Error {
        self.refuse(p, Some(&t.ws.id), action, Some(name.as_str()), err, ctx)
            .await
    }

    pub(crate) async fn authorized_target(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        action: Action,
        name: Option<&SecretName>,
        ctx: &RequestCtx,
    ) -> Result<Target> {
        let t = self.target(p, ws_name, scope).await?;
        self.check(p, &t.ws, t.actor, action, name.map(SecretName::as_str), ctx)
            .await?;
        Ok(t)
    }

    fn live(&self, row: Option<SecretRow>) -> Option<SecretRow> {
        let now = self.clock.now();
        row.filter(|s| s.expires_at.is_none_or(|e| e > now))
    }

    /// The secret row, from the metadata cache unless `fresh`. Writes are
    /// compare-and-set, so a stale cached row can at worst cost one retry.
    pub(crate) async fn find_secret(
        &self,
        t: &Target,
        name: &SecretName,
        fresh: bool,
    ) -> Result<Option<SecretRow>> {
        let key = secret_key(t, name.as_str());
        if !fresh {
            if let Some(row) = self.secrets.get(&key) {
                return Ok(Some(row));
            }
        }
        let generation = self.secrets.generation();
        let row = self
            .store
            .find_secret(&t.ws.id, t.scope, &t.owner, name.as_str())
            .await
            .map_err(store_err)?;
        match &row {
            Some(r) => self.cache_secret(key, r.clone(), generation),
            None => self.secrets.remove(&key),
        }
        Ok(row)
    }

    /// Caches a secret row read or written after `generation` was captured, unless
    /// an eviction ran since or the cached row is a later state of the same secret
    /// (a slower writer or reader must not put back an older version).
    pub(crate) fn cache_secret(&self, key: SecretKey, row: SecretRow, generation: u64) {
        self.secrets.put_fresh(key, row, generation, |have, new| {
            have.id == new.id
                && (have.current_version, have.updated_at) > (new.current_version, new.updated_at)
        });
    }

    /// The live secret `name`, after checking `action` on it.
    pub(crate) async fn live_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        action: Action,
        ctx: &RequestCtx,
    ) -> Result<SecretRow> {
        let t = self
            .authorized_target(p, ws_name, scope, action, Some(name), ctx)
            .await?;
        self.find_live(&t, name).await
    }

    async fn find_live(&self, t: &Target, name: &SecretName) -> Result<SecretRow> {
        self.find_live_fresh(t, name, false).await
    }

    /// The live secret `name` that holds at least one version: an entry without
    /// versions (Vault metadata written first, see `versions.rs`) is `not_found`
    /// on every path but the few that name it (`…_or_entry`).
    pub(crate) async fn find_live_fresh(
        &self,
        t: &Target,
        name: &SecretName,
        fresh: bool,
    ) -> Result<SecretRow> {
        let row = self.find_live_or_entry(t, name, fresh).await?;
        if row.current_version == 0 {
            return Err(not_found(name));
        }
        Ok(row)
    }

    /// The live secret `name`, or its entry without versions.
    pub(crate) async fn find_live_or_entry(
        &self,
        t: &Target,
        name: &SecretName,
        fresh: bool,
    ) -> Result<SecretRow> {
        let row = self.find_secret(t, name, fresh).await?;
        self.live(row).ok_or_else(|| not_found(name))
    }

    /// One sealed version. Only its state (deleted, destroyed) and its sealing
    /// (re-encryption) ever change, and both evict it, so it caches well.
    pub(crate) async fn version_row(
        &self,
        secret_id: &str,
        version: u64,
    ) -> Result<Option<Arc<VersionRow>>> {
        use std::sync::atomic::Ordering;
        let key = (secret_id.to_owned(), version);
        if let Some(v) = self.versions.get(&key) {
            return Ok(Some(v));
        }
        let generation = self.versions_gen.load(Ordering::SeqCst);
        let v = self
            .store
            .secret_version(secret_id, version)
            .await
            .map_err(store_err)?
            .map(Arc::new);
        if let Some(v) = &v {
            self.versions.put_if(key, v.clone(), || {
                self.versions_gen.load(Ordering::SeqCst) == generation
            });
        }
        Ok(v)
    }

    /// Metadata as `p` may see it: a run is not shown fingerprints (it can write
    /// versions, so comparing fingerprints would let it test guesses).
    pub(crate) fn meta_for(&self, p: &Principal, ws: &WorkspaceRow, s: &SecretRow) -> SecretMeta {
        let mut m = self.meta(ws, s);
        if p.run.is_some() {
            m.fingerprint = String::new();
        }
        m
    }

    pub(crate) fn meta(&self, ws: &WorkspaceRow, s: &SecretRow) -> SecretMeta {
        SecretMeta {
            id: s.id.clone(),
            name: s.name.clone(),
            workspace: ws.name.clone(),
            scope: s.scope.as_str(),
            visibility: s.visibility.as_str(),
            description: s.description.clone(),
            version: s.current_version,
            fingerprint: s.fingerprint.clone(),
            expires_at: s.expires_at.map(Timestamp::to_rfc3339),
            created_at: s.created_at.to_rfc3339(),
            created_by: s.created_by.clone(),
            updated_at: s.updated_at.to_rfc3339(),
            updated_by: s.updated_by.clone(),
            allowed_hosts: s.allowed_hosts.clone(),
            bindings: None,
            labels: s.labels.clone(),
            max_versions: s.max_versions,
            cas_required: s.cas_required,
            delete_version_after: s.delete_version_after,
            current_deleted: self.current_deleted(s),
            warnings: Vec::new(),
        }
    }

    /// The current version of `s` is soft-deleted or destroyed now.
    pub(crate) fn current_deleted(&self, s: &SecretRow) -> bool {
        s.current_destroyed || s.current_deleted_at.is_some_and(|d| d <= self.clock.now())
    }

    /// The plaintext of one version; a soft-deleted or destroyed version is
    /// `not_found`, whatever asks for it.
    pub(crate) async fn open_version(
        &self,
        ws: &WorkspaceRow,
        s: &SecretRow,
        v: &VersionRow,
    ) -> Result<SecretValue> {
        if v.is_deleted(self.clock.now()) {
            let state = if v.destroyed { "destroyed" } else { "deleted" };
            return Err(Error::not_found(format!(
                "version {} of secret '{}' is {state}",
                v.version, s.name
            )));
        }
        self.open_sealed(ws, s, v).await
    }

    /// Decrypts a version without asking whether it is deleted: only for the
    /// output redactor, which must still mask soft-deleted values. The stored
    /// policy must match what the ciphertext was sealed under (policy_seal.rs).
    pub(crate) async fn open_sealed(
        &self,
        ws: &WorkspaceRow,
        s: &SecretRow,
        v: &VersionRow,
    ) -> Result<SecretValue> {
        self.open_bound(&ws.id, s, v).await
    }

    /// Seals `value` as the next version of `existing` (or version 1 of a new
    /// secret) and commits it, compare-and-set.
    #[allow(clippy::too_many_arguments)] // one private helper behind every version write
    async fn commit_value(
        &self,
        p: &Principal,
        t: &Target,
        name: &SecretName,
        existing: Option<&SecretRow>,
        expired_id: Option<String>,
        value: &SecretValue,
        description: Option<String>,
        visibility: Visibility,
        expires_at: Option<Timestamp>,
        allowed_hosts: Option<Vec<String>>,
        labels: Option<BTreeMap<String, String>>,
        audit_action: &str,
        audit_detail: serde_json::Value,
        ctx: &RequestCtx,
    ) -> std::result::Result<SecretRow, StoreError> {
        let now = self.clock.now();
        let by = p.label();
        let key_version = t.ws.active_key_version;
        // A new version carries on the policy the current version's ciphertext
        // authenticates, never the row's columns alone (policy_seal.rs).
        let allowed_hosts = match existing {
            Some(cur) => Some(
                self.inherited_hosts(&t.ws, cur, allowed_hosts)
                    .await
                    .map_err(|e| StoreError::Backend(e.message))?,
            ),
            None => allowed_hosts,
        };
        let (row, expect) = match existing {
            Some(cur) => (
                SecretRow {
                    // An entry without versions takes its visibility with its
                    // first value; after that it is fixed.
                    visibility: if cur.current_version == 0 {
                        visibility
                    } else {
                        cur.visibility
                    },
                    description: description.or_else(|| cur.description.clone()),
                    current_version: cur.current_version + 1,
                    expires_at: expires_at.or(cur.expires_at),
                    allowed_hosts: allowed_hosts.unwrap_or_else(|| cur.allowed_hosts.clone()),
                    labels: labels.unwrap_or_else(|| cur.labels.clone()),
                    updated_at: now,
                    updated_by: by.clone(),
                    ..cur.clone()
                },
                Expect::Current(cur.current_version),
            ),
            None => (
                SecretRow {
                    id: random_id(),
                    workspace_id: t.ws.id.clone(),
                    scope: t.scope,
                    owner: t.owner.clone(),
                    name: name.as_str().to_owned(),
                    visibility,
                    description,
                    current_version: 1,
                    fingerprint: String::new(),
                    expires_at,
                    created_at: now,
                    created_by: by.clone(),
                    updated_at: now,
                    updated_by: by.clone(),
                    allowed_hosts: allowed_hosts.unwrap_or_default(),
                    labels: labels.unwrap_or_default(),
                    max_versions: None,
                    cas_required: false,
                    delete_version_after: None,
                    current_deleted_at: None,
                    current_destroyed: false,
                },
                match expired_id {
                    Some(old) => Expect::ReplaceExpired(old),
                    None => Expect::Create,
                },
            ),
        };
        let key = self
            .data_key(&t.ws.id, key_version)
            .await
            .map_err(|e| StoreError::Backend(e.message))?;
        // Sealed bound to the secret's visibility and this version's allowed_hosts.
        let (sealed, policy, fingerprint) =
            crate::policy_seal::seal_new(&key, &t.ws.id, &row, key_version, value);
        let mut row = row;
        // An empty description is how a caller clears it.
        if row.description.as_deref() == Some("") {
            row.description = None;
        }
        row.fingerprint = fingerprint.clone();
        // Vault's delete_version_after: the version is born with its deletion time.
        // The secret's own and the workspace's both apply: the shorter one wins.
        let deleted_at =
            effective_delete_after(row.delete_version_after, t.ws.settings.delete_version_after)
                .map(|d| now.plus_seconds(d));
        row.current_deleted_at = deleted_at;
        row.current_destroyed = false;
        let version = VersionRow {
            secret_id: row.id.clone(),
            version: row.current_version,
            key_version,
            sealed,
            fingerprint,
            created_at: now,
            created_by: by,
            deleted_at,
            destroyed: false,
            policy: Some(policy),
        };
        let mut detail = audit_detail;
        detail["version"] = serde_json::json!(row.current_version);
        detail["scope"] = serde_json::json!(t.scope.as_str());
        let audit = self.record(
            p,
            Some(&t.ws.id),
            audit_action,
            Some(name.as_str()),
            ctx,
            detail,
        );
        let max_versions = row.max_versions.unwrap_or(t.ws.settings.max_versions);
        self.store
            .commit_version(
                CommitVersion {
                    secret: row.clone(),
                    expect,
                    version,
                    max_versions,
                },
                audit,
            )
            .await?;
        // The commit pruned the oldest versions: none may linger in the cache
        // (writes read the current version through it, see policy_seal.rs).
        let pruned_through = row
            .current_version
            .saturating_sub(u64::from(max_versions.max(1)));
        self.forget_versions_through(&row.id, pruned_through);
        Ok(row)
    }

    /// Creates or updates a secret. Returns its metadata and whether it was created.
    pub async fn put_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        req: PutSecret,
        ctx: &RequestCtx,
    ) -> Result<(SecretMeta, bool)> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let value = SecretValue::from_json(&req.value, self.config.max_value_bytes)?;
        let warnings = short_value_warnings(&req.value);
        drop(req.value);
        let expires_at = match req.ttl_seconds {
            Some(0) => return Err(Error::invalid("ttl must be at least 1 second")),
            Some(s) if s > MAX_TTL_SECONDS => {
                return Err(Error::invalid(format!(
                    "ttl must be at most {MAX_TTL_SECONDS} seconds"
                )))
            }
            Some(s) => Some(self.clock.now().plus_seconds(s)),
            None => None,
        };
        if let Some(d) = &req.description {
            check_description(d)?;
        }
        let allowed_hosts = req
            .allowed_hosts
            .as_deref()
            .map(parse_host_patterns)
            .transpose()?;
        if let Some(l) = &req.labels {
            crate::versions::check_labels(l)?;
        }
        // Without If-Match, writers of one secret take turns (write_queue.rs).
        let _turn = if req.if_match.is_none() && !req.create_only {
            Some(self.write_queue.turn(queue_key(&t, name)).await)
        } else {
            None
        };
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            crate::write_queue::backoff(attempt).await;
            let fresh = attempt > 0;
            let found = self.find_secret(&t, name, fresh).await?;
            let expired_id = found
                .as_ref()
                .filter(|s| self.live(Some((*s).clone())).is_none())
                .map(|s| s.id.clone());
            let existing = self.live(found);
            // An entry without versions (Vault metadata written first) takes its
            // first version as a new secret would: create-only writes succeed.
            let has_value = existing.as_ref().filter(|s| s.current_version > 0);
            if req.create_only {
                if let Some(cur) = has_value {
                    if !fresh {
                        continue; // the cache may be behind; decide on a fresh read
                    }
                    return Err(Error::new(
                        ErrorCode::VersionMismatch,
                        format!("'{name}' already exists (version {})", cur.current_version),
                    ));
                }
            }
            let cas_required =
                t.ws.settings.cas_required || existing.as_ref().is_some_and(|s| s.cas_required);
            if cas_required && req.if_match.is_none() && !req.create_only {
                if !fresh {
                    continue; // the cache may be behind; decide on a fresh read
                }
                let err = Error::invalid(format!(
                    "check-and-set parameter required for '{name}': send the expected version (If-Match) or create only (If-None-Match: *)"
                ));
                return Err(self
                    .refuse_secret(p, &t, "secret.put", name, err, ctx)
                    .await);
            }
            if let Some(want) = req.if_match {
                let have = existing.as_ref().map(|s| s.current_version);
                if have != Some(want) {
                    if !fresh {
                        continue; // the cache may be behind; decide on a fresh read
                    }
                    return Err(version_mismatch(name, want, have));
                }
            }
            if let (Some(cur), Some(v)) = (has_value, req.visibility) {
                if cur.visibility != v {
                    return Err(Error::invalid(format!(
                        "visibility of '{name}' is '{}' and is fixed at creation",
                        cur.visibility.as_str()
                    )));
                }
            }
            let created = has_value.is_none();
            let mut detail = serde_json::json!({"created": created});
            if let (Some(cur), Some(new)) = (&existing, &allowed_hosts) {
                if &cur.allowed_hosts != new {
                    // Widening where a secret may go is the owner's alone: an admin who
                    // could clear the list (then roll back to the real value) could
                    // send any value anywhere.
                    if hosts_widen(&cur.allowed_hosts, new) && t.actor != Actor::Member(Role::Owner)
                    {
                        let err = Error::forbidden(format!(
                            "only the owner may widen or clear the allowed_hosts of '{name}'; \
                             narrowing is open to anyone who may write it"
                        ));
                        return Err(self
                            .refuse_secret(p, &t, "secret.allowed_hosts", name, err, ctx)
                            .await);
                    }
                    detail["allowed_hosts"] =
                        serde_json::json!({"old": cur.allowed_hosts, "new": new});
                }
            }
            let generation = self.secrets.generation();
            let result = self
                .commit_value(
                    p,
                    &t,
                    name,
                    existing.as_ref(),
                    expired_id,
                    &value,
                    req.description.clone(),
                    req.visibility.unwrap_or_default(),
                    expires_at,
                    allowed_hosts.clone(),
                    req.labels.clone(),
                    "secret.put",
                    detail,
                    ctx,
                )
                .await;
            match result {
                Ok(row) => {
                    self.cache_secret(secret_key(&t, name.as_str()), row.clone(), generation);
                    self.secrets_by_id.remove(&row.id);
                    self.redactors.forget_secret(&row.id);
                    let mut meta = self.meta_for(p, &t.ws, &row);
                    meta.warnings = warnings;
                    return Ok((meta, created));
                }
                Err(StoreError::Conflict) if req.create_only && existing.is_none() => {
                    return Err(Error::new(
                        ErrorCode::VersionMismatch,
                        format!("'{name}' already exists"),
                    ))
                }
                Err(StoreError::Conflict) if req.if_match.is_some() => {
                    return Err(version_mismatch(name, req.if_match.unwrap_or(0), None))
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(Error::conflict(format!(
            "'{name}' is changing too fast; try again"
        )))
    }

    pub async fn secret_metadata(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        self.metadata_of(p, ws_name, scope, name, false, ctx).await
    }

    /// Like [`Lockbox::secret_metadata`], and also an entry without versions
    /// (`version` 0): what Vault's metadata read shows.
    pub async fn secret_metadata_or_entry(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        self.metadata_of(p, ws_name, scope, name, true, ctx).await
    }

    async fn metadata_of(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        entries: bool,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::ListSecrets, Some(name), ctx)
            .await?;
        let row = if entries {
            self.find_live_or_entry(&t, name, false).await?
        } else {
            self.find_live(&t, name).await?
        };
        let mut meta = self.meta_for(p, &t.ws, &row);
        if t.scope == Scope::Workspace {
            let key = (t.ws.id.clone(), name.as_str().to_owned());
            let uses = match self.bindings_cache.get(&key) {
                Some(u) => u,
                None => {
                    let u = self.bindings_of(&t.ws.id, name.as_str()).await?;
                    self.bindings_cache.put(key, u.clone());
                    u
                }
            };
            meta.bindings = Some(uses);
        }
        Ok(meta)
    }

    pub async fn secret_exists(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<bool> {
        match self.secret_metadata(p, ws_name, scope, name, ctx).await {
            Ok(_) => Ok(true),
            Err(e) if e.code == ErrorCode::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The plaintext of a masked secret (current version, or `version`), for a role
    /// that may reveal. Restricted secrets are never revealed. Every reveal, and
    /// every refused one, is audited before the value leaves.
    pub async fn reveal_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        version: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<(SecretValue, u64)> {
        let t = self.target(p, ws_name, scope).await?;
        let row = self.find_live(&t, name).await?;
        let action = match row.visibility {
            Visibility::Masked => Action::RevealMasked,
            Visibility::Restricted => Action::RevealRestricted,
        };
        if row.visibility == Visibility::Restricted {
            let err = Error::forbidden(format!("'{name}' is restricted: no one may reveal it"));
            return Err(self
                .refuse_secret(p, &t, "secret.reveal", name, err, ctx)
                .await);
        }
        self.check(p, &t.ws, t.actor, action, Some(name.as_str()), ctx)
            .await?;
        let want = version.unwrap_or(row.current_version);
        let v = self
            .version_row(&row.id, want)
            .await?
            .ok_or_else(|| Error::not_found(format!("version {want} of '{name}' not found")))?;
        let value = self.open_version(&t.ws, &row, &v).await?;
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.reveal",
            Some(name.as_str()),
            ctx,
            serde_json::json!({"version": want, "scope": t.scope.as_str()}),
        );
        self.store
            .append_audit(vec![audit])
            .await
            .map_err(store_err)?;
        Ok((value, want))
    }

    /// Whether the current value of `name` is a JSON string (`text`) or other
    /// JSON (`json`: an object, array, number or boolean), for an editor that
    /// keeps the value's type (the console's edit form). Only for a role that may
    /// write the secret; the answer is the value's type, never any part of it, so
    /// it is not audited as a reveal.
    pub async fn value_kind(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<ValueKind> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let row = self.find_live(&t, name).await?;
        let v = self
            .version_row(&row.id, row.current_version)
            .await?
            .ok_or_else(|| not_found(name))?;
        let value = self.open_version(&t.ws, &row, &v).await?;
        // EXPOSE: only the first byte is looked at, to tell a JSON string from other JSON.
        Ok(match value.expose().first() {
            Some(b'"') => ValueKind::Text,
            _ => ValueKind::Json,
        })
    }

    pub async fn list_secrets(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        prefix: Option<String>,
        limit: Option<u32>,
        cursor: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<SecretPage> {
        self.list_page(p, ws_name, scope, prefix, limit, cursor, false, ctx)
            .await
    }

    /// Like [`Lockbox::list_secrets`], and also the entries without versions
    /// (`version` 0): what Vault's metadata list shows.
    pub async fn list_secrets_and_entries(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        prefix: Option<String>,
        limit: Option<u32>,
        cursor: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<SecretPage> {
        self.list_page(p, ws_name, scope, prefix, limit, cursor, true, ctx)
            .await
    }

    async fn list_page(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        prefix: Option<String>,
        limit: Option<u32>,
        cursor: Option<&str>,
        entries: bool,
        ctx: &RequestCtx,
    ) -> Result<SecretPage> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::ListSecrets, None, ctx)
            .await?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit must be between 1 and 1000"));
        }
        // No name holds a control character, so a prefix with one matches nothing
        // (and PostgreSQL could not even take it as a parameter).
        if prefix
            .as_deref()
            .is_some_and(|p| p.chars().any(char::is_control) || p.len() > 512)
        {
            return Ok(SecretPage {
                secrets: Vec::new(),
                next_cursor: None,
            });
        }
        let after = match cursor {
            None | Some("") => None,
            Some(c) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .filter(|c| SecretName::parse(c).is_ok())
                    .ok_or_else(|| Error::invalid("cursor is not one this server issued"))?,
            ),
        };
        // Names are stored in NFC; so is the prefix they are compared with.
        let prefix = prefix.map(|p| lockbox_core::names::nfc(&p));
        let rows = self
            .store
            .list_secrets(ListQuery {
                workspace_id: t.ws.id.clone(),
                scope: t.scope,
                owner: t.owner.clone(),
                prefix,
                after,
                limit: limit + 1,
                now: self.clock.now(),
                entries,
            })
            .await
            .map_err(store_err)?;
        let more = rows.len() > limit as usize;
        let secrets: Vec<SecretMeta> = rows
            .iter()
            .take(limit as usize)
            .map(|r| self.meta_for(p, &t.ws, r))
            .collect();
        let next_cursor = more.then(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(secrets.last().map(|s| s.name.as_str()).unwrap_or_default())
        });
        Ok(SecretPage {
            secrets,
            next_cursor,
        })
    }

    pub async fn delete_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        force: bool,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::DeleteSecret, Some(name), ctx)
            .await?;
        // An entry without versions is deleted like a secret.
        let row = self.find_live_or_entry(&t, name, false).await?;
        // Seed 003: a secret a flow uses is not deleted by accident.
        let uses = match t.scope {
            Scope::Workspace => self.bindings_of(&t.ws.id, name.as_str()).await?,
            Scope::User => Vec::new(),
        };
        // A stored flow's run may delete a secret only it binds (its bindings go too).
        let (uses, own) = Self::split_own_bindings(p, uses);
        if !uses.is_empty() && !force {
            let err = Self::secret_in_use(name.as_str(), &uses, "delete");
            return Err(self
                .refuse_secret(p, &t, "secret.delete", name, err, ctx)
                .await);
        }
        let mut detail =
            serde_json::json!({"version": row.current_version, "scope": t.scope.as_str()});
        if !uses.is_empty() {
            detail["forced"] = serde_json::json!(true);
            detail["bindings"] =
                serde_json::json!(uses.iter().map(|b| b.owner.clone()).collect::<Vec<_>>());
        }
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.delete",
            Some(name.as_str()),
            ctx,
            detail,
        );
        let unbind = own.first().map(|b| DropBindings {
            workspace_id: t.ws.id.clone(),
            name: name.as_str().to_owned(),
            owner: b.owner.clone(),
        });
        let deleted = self
            .store
            .delete_secret(&row.id, unbind, audit)
            .await
            .map_err(store_err);
        if !own.is_empty() {
            self.bindings_cache.clear();
        }
        self.secrets.remove(&secret_key(&t, name.as_str()));
        self.forget_versions(|id| id != row.id);
        self.secrets_by_id.remove(&row.id);
        self.redactors.forget_secret(&row.id);
        if !deleted? {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Applies a patch atomically: read, patch, write compare-and-set; with
    /// `if_match` a stale version is `version_mismatch`, without it a lost race retries.
    pub async fn patch_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        patch: PatchDoc,
        if_match: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let patch = match patch {
            PatchDoc::Merge(m) => Patch::Merge(m),
            PatchDoc::JsonPatch(ops) => Patch::Json(serde_json::from_value(ops).map_err(|_| {
                Error::invalid("a JSON Patch document is an array of operations like {\"op\": \"replace\", \"path\": \"/a\", \"value\": 1}")
            })?),
        };
        if let Patch::Json(ops) = &patch {
            if ops
                .0
                .iter()
                .any(|op| matches!(op, json_patch::PatchOperation::Test(_)))
            {
                // A `test` answers whether a guess equals the stored value: a reveal
                // in all but name. Only those who may reveal the value may ask.
                let row = self.find_live(&t, name).await?;
                let may_reveal = row.visibility == Visibility::Masked
                    && lockbox_core::allowed(t.actor, Action::RevealMasked);
                if !may_reveal {
                    let err = Error::forbidden(format!(
                        "a JSON Patch 'test' compares with the value of '{name}', which this caller may \
                         not reveal; leave the test out (use If-Match for concurrency)"
                    ));
                    return Err(self
                        .refuse_secret(p, &t, "secret.reveal", name, err, ctx)
                        .await);
                }
            }
        }
        // Without If-Match, patches of one secret take turns (write_queue.rs): a
        // merge patch never fails for contention alone.
        let _turn = match if_match {
            None => Some(self.write_queue.turn(queue_key(&t, name)).await),
            Some(_) => None,
        };
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            crate::write_queue::backoff(attempt).await;
            let fresh = attempt > 0;
            let row = self.find_live_fresh(&t, name, fresh).await?;
            if if_match.is_none() && (row.cas_required || t.ws.settings.cas_required) {
                if !fresh {
                    continue; // the cache may be behind; decide on a fresh read
                }
                let err = Error::invalid(format!(
                    "check-and-set parameter required for '{name}': send the expected version (If-Match)"
                ));
                return Err(self
                    .refuse_secret(p, &t, "secret.patch", name, err, ctx)
                    .await);
            }
            if let Some(want) = if_match {
                if row.current_version != want {
                    if !fresh {
                        continue; // the cache may be behind; decide on a fresh read
                    }
                    return Err(version_mismatch(name, want, Some(row.current_version)));
                }
            }
            let Some(v) = self.version_row(&row.id, row.current_version).await? else {
                continue;
            };
            let old = self.open_version(&t.ws, &row, &v).await?;
            let mut doc = old.to_json()?;
            drop(old);
            // EXPOSE: the patch is applied in place; the result is checked below.
            let target = doc.expose_mut();
            match &patch {
                Patch::Merge(m) => json_patch::merge(target, m),
                Patch::Json(ops) => json_patch::patch(target, ops).map_err(|e| {
                    Error::invalid(format!(
                        "JSON Patch operation {} failed: {}",
                        e.operation,
                        match e.kind {
                            json_patch::PatchErrorKind::TestFailed => "test did not match",
                            json_patch::PatchErrorKind::InvalidPointer => "path does not exist",
                            json_patch::PatchErrorKind::CannotMoveInsideItself => {
                                "cannot move a value inside itself"
                            }
                            _ => "not applicable",
                        }
                    ))
                })?,
            }
            // EXPOSE: the patched document becomes the next (sealed) value.
            let value = SecretValue::from_json(doc.expose(), self.config.max_value_bytes)?;
            drop(doc);
            let generation = self.secrets.generation();
            match self
                .commit_value(
                    p,
                    &t,
                    name,
                    Some(&row),
                    None,
                    &value,
                    None,
                    row.visibility,
                    None,
                    None,
                    None,
                    "secret.patch",
                    serde_json::json!({}),
                    ctx,
                )
                .await
            {
                Ok(row) => {
                    self.cache_secret(secret_key(&t, name.as_str()), row.clone(), generation);
                    self.secrets_by_id.remove(&row.id);
                    self.redactors.forget_secret(&row.id);
                    return Ok(self.meta_for(p, &t.ws, &row));
                }
                Err(StoreError::Conflict) if if_match.is_some() => {
                    return Err(version_mismatch(name, if_match.unwrap_or(0), None))
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(Error::conflict(format!(
            "'{name}' is changing too fast; try again"
        )))
    }

    pub async fn list_versions(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<Vec<VersionInfo>> {
        self.versions_of(p, ws_name, scope, name, false, ctx).await
    }

    /// Like [`Lockbox::list_versions`], and also an entry without versions (none).
    pub async fn list_versions_or_entry(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<Vec<VersionInfo>> {
        self.versions_of(p, ws_name, scope, name, true, ctx).await
    }

    async fn versions_of(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        entries: bool,
        ctx: &RequestCtx,
    ) -> Result<Vec<VersionInfo>> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::ListSecrets, Some(name), ctx)
            .await?;
        let row = if entries {
            self.find_live_or_entry(&t, name, false).await?
        } else {
            self.find_live(&t, name).await?
        };
        let versions = self.store.list_versions(&row.id).await.map_err(store_err)?;
        Ok(versions
            .into_iter()
            .map(|v| VersionInfo {
                current: v.version == row.current_version,
                version: v.version,
                // Not for runs: see `meta_for`.
                fingerprint: if p.run.is_some() {
                    String::new()
                } else {
                    v.fingerprint
                },
                created_at: v.created_at.to_rfc3339(),
                created_by: v.created_by,
                deleted_at: v.deleted_at.map(Timestamp::to_rfc3339),
                destroyed: v.destroyed,
            })
            .collect())
    }

    /// Writes a new version equal to an old one.
    pub async fn rollback_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        to_version: u64,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let _turn = self.write_queue.turn(queue_key(&t, name)).await;
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            crate::write_queue::backoff(attempt).await;
            let row = self.find_live_fresh(&t, name, attempt > 0).await?;
            let v = self
                .version_row(&row.id, to_version)
                .await?
                .ok_or_else(|| {
                    Error::not_found(format!("version {to_version} of '{name}' not found"))
                })?;
            let value = self.open_version(&t.ws, &row, &v).await?;
            let generation = self.secrets.generation();
            match self
                .commit_value(
                    p,
                    &t,
                    name,
                    Some(&row),
                    None,
                    &value,
                    None,
                    row.visibility,
                    None,
                    None,
                    None,
                    "secret.rollback",
                    serde_json::json!({"from_version": to_version}),
                    ctx,
                )
                .await
            {
                Ok(row) => {
                    self.cache_secret(secret_key(&t, name.as_str()), row.clone(), generation);
                    self.secrets_by_id.remove(&row.id);
                    self.redactors.forget_secret(&row.id);
                    return Ok(self.meta_for(p, &t.ws, &row));
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(Error::conflict(format!(
            "'{name}' is changing too fast; try again"
        )))
    }

    /// Renames a secret, when the workspace allows renames. The id, versions and
    /// ciphertexts stay; anything that follows the id keeps working. A secret that
    /// flows bind (by name) is refused with `secret_in_use` naming them, unless
    /// `force`: then the bindings move with the name (audited as forced).
    #[allow(clippy::too_many_arguments)] // rename's parameters plus force, like delete
    pub async fn rename_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        new_name: &SecretName,
        force: bool,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::RenameSecret, Some(name), ctx)
            .await?;
        if !t.ws.settings.allow_rename {
            let err = Error::forbidden(format!(
                "renames are disabled in workspace '{}' (setting allow_rename)",
                t.ws.name
            ));
            return Err(self
                .refuse_secret(p, &t, "secret.rename", name, err, ctx)
                .await);
        }
        let row = self.find_live(&t, name).await?;
        // Flows bind secrets by name: a rename would leave them failing with
        // not_found and the secret unprotected, so it is refused like a delete.
        let uses = match t.scope {
            Scope::Workspace => self.bindings_of(&t.ws.id, name.as_str()).await?,
            Scope::User => Vec::new(),
        };
        let (foreign, own) = Self::split_own_bindings(p, uses);
        if !foreign.is_empty() && !force {
            let err = Self::secret_in_use(name.as_str(), &foreign, "rename");
            return Err(self
                .refuse_secret(p, &t, "secret.rename", name, err, ctx)
                .await);
        }
        let now = self.clock.now();
        let mut detail =
            serde_json::json!({"new_name": new_name.as_str(), "scope": t.scope.as_str()});
        if !foreign.is_empty() {
            let mut owners: Vec<String> = foreign.iter().map(|b| b.owner.clone()).collect();
            owners.dedup();
            detail["forced"] = serde_json::json!(true);
            detail["bindings"] = serde_json::json!(owners);
        }
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.rename",
            Some(name.as_str()),
            ctx,
            detail,
        );
        let moving = !foreign.is_empty() || !own.is_empty();
        // The bindings move with the name, so delete protection stays.
        let bindings = moving.then(|| MoveBindings {
            workspace_id: t.ws.id.clone(),
            old_name: name.as_str().to_owned(),
        });
        let renamed = self
            .store
            .rename_secret(&row.id, new_name.as_str(), now, &p.label(), bindings, audit)
            .await;
        if moving {
            self.bindings_cache.clear();
        }
        self.secrets.remove(&secret_key(&t, name.as_str()));
        self.secrets.remove(&secret_key(&t, new_name.as_str()));
        self.secrets_by_id.remove(&row.id);
        self.redactors.forget_secret(&row.id);
        match renamed {
            Ok(true) => {}
            Ok(false) => return Err(not_found(name)),
            Err(StoreError::Conflict) => {
                return Err(Error::conflict(format!(
                    "a secret named '{new_name}' already exists"
                )))
            }
            Err(e) => return Err(store_err(e)),
        }
        let renamed = self.find_live(&t, new_name).await?;
        Ok(self.meta_for(p, &t.ws, &renamed))
    }

    /// Deletes every expired secret (each audited as `secret.expire`).
    pub async fn purge_expired(&self) -> Result<usize> {
        let gone = self
            .store
            .purge_expired(self.clock.now())
            .await
            .map_err(store_err)?;
        for row in &gone {
            self.redactors.forget_secret(&row.id);
            self.secrets_by_id.remove(&row.id);
            self.secrets.retain(|_, cached| cached.id != row.id);
            self.forget_versions(|id| id != row.id);
        }
        Ok(gone.len())
    }
}

pub(crate) type SecretKey = (String, &'static str, String, String);

/// What the version cache counts for one sealed version.
pub(crate) fn version_weight(v: &Arc<VersionRow>) -> usize {
    v.sealed.len() + v.fingerprint.len() + v.secret_id.len() + v.created_by.len() + 160
}

/// The write queue's key for one secret (write_queue.rs).
fn queue_key(t: &Target, name: &SecretName) -> String {
    format!(
        "{}\0{}\0{}\0{}",
        t.ws.id,
        t.scope.as_str(),
        t.owner,
        name.as_str()
    )
}

pub(crate) fn secret_key(t: &Target, name: &str) -> SecretKey {
    (
        t.ws.id.clone(),
        t.scope.as_str(),
        t.owner.clone(),
        name.to_owned(),
    )
}

/// Host patterns for `allowed_hosts`: `api.example.com` or `*.example.org`
/// (any subdomain, not the apex), lowercased, without a trailing dot; at most 32.
pub(crate) fn parse_host_patterns(raw: &[String]) -> Result<Vec<String>> {
    if raw.len() > 32 {
        return Err(Error::invalid("allowed_hosts takes at most 32 patterns"));
    }
    raw.iter()
        .map(|p| {
            let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
            let host = p.strip_prefix("*.").unwrap_or(&p);
            let ok = !host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                });
            if ok {
                Ok(p)
            } else {
                Err(Error::invalid(
                    "allowed_hosts entries are host names like 'api.example.com' or '*.example.org'",
                ))
            }
        })
        .collect()
}

/// Whether host pattern `outer` lets through everything `inner` does: the same
/// pattern, or `*.d` over a name or pattern under `.d` (`*.d` does not match `d`).
fn pattern_covers(outer: &str, inner: &str) -> bool {
    if outer == inner {
        return true;
    }
    match outer.strip_prefix("*.") {
        Some(domain) => inner
            .strip_prefix("*.")
            .unwrap_or(inner)
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.') && rest.len() > 1),
        None => false,
    }
}

/// Whether replacing `old` by `new` lets a value go somewhere it could not before
/// (an empty list means anywhere).
pub(crate) fn hosts_widen(old: &[String], new: &[String]) -> bool {
    if old.is_empty() {
        return false;
    }
    new.is_empty()
        || new
            .iter()
            .any(|n| !old.iter().any(|o| pattern_covers(o, n)))
}

/// The hosts both lists allow (an empty list means anywhere); `None` when they
/// share none, so a value guarded by both could go nowhere.
pub(crate) fn intersect_hosts(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.is_empty() {
        return Some(b.to_vec());
    }
    if b.is_empty() {
        return Some(a.to_vec());
    }
    let mut out: Vec<String> = Vec::new();
    for x in a {
        for y in b {
            let narrower = if pattern_covers(x, y) {
                Some(y)
            } else if pattern_covers(y, x) {
                Some(x)
            } else {
                None
            };
            if let Some(n) = narrower {
                if !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
    }
    out.sort();
    (!out.is_empty()).then_some(out)
}

/// How long a new version lives before it reads as deleted: the smaller of the
/// secret's and the workspace's `delete_version_after` where both are set (0 and
/// unset mean no limit), as Vault does.
pub fn effective_delete_after(secret: Option<u64>, workspace: Option<u64>) -> Option<u64> {
    match (secret.filter(|d| *d > 0), workspace.filter(|d| *d > 0)) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn not_found(name: &SecretName) -> Error {
    Error::not_found(format!("secret '{name}' not found"))
}

fn version_mismatch(name: &SecretName, want: u64, have: Option<u64>) -> Error {
    let have = have.map_or("none".to_owned(), |h| h.to_string());
    Error::new(
        ErrorCode::VersionMismatch,
        format!("'{name}' is at version {have}, not {want}"),
    )
}

/// The warnings a write answers for a value below the minimum length Lockbox
/// masks everywhere (named by JSON Pointer for fields of a JSON value; never the
/// value, nor its length).
pub(crate) fn short_value_warnings(value: &serde_json::Value) -> Vec<String> {
    let min = lockbox_redact::MIN_LEN;
    let rule = format!(
        "shorter than {min} bytes: Lockbox masks it in outputs only where it stands as a whole \
         token in the answer to an outbound call that sent it, not in logs, events or `lockbox \
         run` output; use a longer value"
    );
    let paths = lockbox_redact::short_leaves(value, min, 8);
    match paths.as_slice() {
        [] => Vec::new(),
        [p] if p.is_empty() => vec![format!("the value is {rule}")],
        _ => vec![format!(
            "field(s) {} of the value are {rule}",
            paths.join(", ")
        )],
    }
}

/// A description: at most 4 KiB of text. Line breaks and tabs are text; other
/// control characters (NUL above all, which PostgreSQL cannot store) are not.
pub(crate) fn check_description(d: &str) -> Result<()> {
    if d.len() > 4096 {
        return Err(Error::invalid("description must be at most 4096 bytes"));
    }
    if d.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::invalid(
            "description must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_shorter_delete_version_after_wins() {
        assert_eq!(effective_delete_after(None, None), None);
        assert_eq!(effective_delete_after(Some(0), Some(0)), None);
        assert_eq!(effective_delete_after(Some(60), None), Some(60));
        assert_eq!(effective_delete_after(None, Some(30)), Some(30));
        assert_eq!(effective_delete_after(Some(0), Some(30)), Some(30));
        assert_eq!(effective_delete_after(Some(3600), Some(30)), Some(30));
        assert_eq!(effective_delete_after(Some(30), Some(3600)), Some(30));
    }

    #[test]
    fn host_patterns_cover_only_what_they_match() {
        assert!(pattern_covers("*.example.org", "a.example.org"));
        assert!(pattern_covers("*.example.org", "*.a.example.org"));
        assert!(pattern_covers("*.example.org", "*.example.org"));
        assert!(!pattern_covers("*.example.org", "example.org"));
        assert!(!pattern_covers("*.example.org", "badexample.org"));
        assert!(!pattern_covers("a.example.org", "*.example.org"));
    }

    #[test]
    fn clearing_or_adding_a_host_widens_narrowing_does_not() {
        let old = v(&["api.stripe.com"]);
        assert!(hosts_widen(&old, &[]));
        assert!(hosts_widen(&old, &v(&["api.stripe.com", "evil.com"])));
        assert!(hosts_widen(&old, &v(&["*.stripe.com"])));
        assert!(!hosts_widen(&old, &v(&["api.stripe.com"])));
        assert!(!hosts_widen(&v(&["*.stripe.com"]), &v(&["api.stripe.com"])));
        assert!(!hosts_widen(&[], &v(&["x.com"])));
        assert!(!hosts_widen(&[], &[]));
    }

    #[test]
    fn intersection_keeps_the_narrower_pattern_or_nothing() {
        assert_eq!(
            intersect_hosts(&v(&["*.stripe.com"]), &v(&["api.stripe.com"])),
            Some(v(&["api.stripe.com"]))
        );
        assert_eq!(intersect_hosts(&v(&["a.com"]), &v(&["b.com"])), None);
        assert_eq!(intersect_hosts(&[], &v(&["b.com"])), Some(v(&["b.com"])));
        assert_eq!(intersect_hosts(&v(&["a.com"]), &[]), Some(v(&["a.com"])));
    }
}
