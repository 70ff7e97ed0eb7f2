//! Reads of secrets: metadata (with the bindings that protect a
//! workspace-scoped secret), exists, reveal (audited before the value leaves),
//! the value's kind for editors, lists by page, and version lists. A run is
//! never shown fingerprints.

use super::not_found;
use crate::auth::Principal;
use crate::secrets::Target;
use crate::{store_err, Lockbox, RequestCtx, SecretMeta, SecretPage, ValueKind, VersionInfo};
use base64::Engine;
use lockbox_core::{
    Action, Error, ErrorCode, Result, Scope, SecretName, SecretValue, Timestamp, Visibility,
};
use lockbox_store::{ListQuery, SecretRow, VersionRow, WorkspaceRow};

impl Lockbox {
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
        self.may_reveal(p, &t, &row, name, ctx).await?;
        let want = version.unwrap_or(row.current_version);
        let v = self
            .version_row(&row.id, want)
            .await?
            .ok_or_else(|| Error::not_found(format!("version {want} of '{name}' not found")))?;
        let value = self.open_audited(p, &t, &row, &v, name, ctx).await?;
        Ok((value, want))
    }

    /// Opens a version for a caller `may_reveal` admitted, and makes its
    /// `secret.reveal` row durable before the value is handed back.
    pub(crate) async fn open_audited(
        &self,
        p: &Principal,
        t: &Target,
        row: &SecretRow,
        v: &VersionRow,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<SecretValue> {
        let value = self.open_version(&t.ws, row, v).await?;
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.reveal",
            Some(name.as_str()),
            ctx,
            serde_json::json!({"version": v.version, "scope": t.scope.as_str()}),
        );
        self.store
            .append_audit(vec![audit])
            .await
            .map_err(store_err)?;
        Ok(value)
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

    /// Whether `p` may see this secret's value: a restricted secret is refused to
    /// everyone (audited), a masked one by the role matrix. Every path that hands a
    /// value to a caller asks this first.
    pub(crate) async fn may_reveal(
        &self,
        p: &Principal,
        t: &Target,
        row: &SecretRow,
        name: &SecretName,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let action = match row.visibility {
            Visibility::Masked => Action::RevealMasked,
            Visibility::Restricted => Action::RevealRestricted,
        };
        if row.visibility == Visibility::Restricted {
            let err = Error::forbidden(format!("'{name}' is restricted: no one may reveal it"));
            return Err(self
                .refuse_secret(p, t, "secret.reveal", name, err, ctx)
                .await);
        }
        self.check(p, &t.ws, t.actor, action, Some(name.as_str()), ctx)
            .await
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
                // Entries without versions are Vault's (its metadata list, by
                // `list_children`); this list shows secrets only.
                entries: false,
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
}
