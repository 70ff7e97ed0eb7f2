//! Version states and per-secret settings: soft delete, undelete and destroy of
//! individual versions, and a secret's labels, `max_versions`, `cas_required` and
//! `delete_version_after` (the storage concepts Vault KV v2 clients rely on, offered
//! natively too).
//!
//! Owns the rules: who may change a version's state, that a bound secret's versions
//! are not deleted or destroyed, which label keys are reserved, and the audit rows
//! of version changes and of expiry (`secret.expire`). What a delete, undelete or
//! destroy does to a state, and when a secret has expired, is
//! `lockbox_core::versions`; the store only applies the answer, compare-and-set. It
//! must never hand out a value, and never renumber: versions keep the numbers
//! `secrets` gave them (from the secret's `current_version`, which only grows). The
//! matching read rule, "a deleted or destroyed version reads as `not_found`
//! wherever a value could leave" (reveal, runs, patch, rollback), is
//! `Lockbox::open_version`.

use crate::auth::Principal;
use crate::evict::Change;
use crate::secrets::{not_found, secret_key, Target};
use crate::{store_err, Lockbox, RequestCtx, SecretMeta};
use lockbox_core::versions::{self as rules, VersionOp};
use lockbox_core::{Action, Error, ErrorCode, Result, Scope, SecretName, Visibility};
use lockbox_store::{
    AuditRecord, Expect, ExpiredSecret, SecretRow, SecretSettings, StoreError, VersionStateChange,
};
use std::collections::BTreeMap;

/// At most this many labels per secret (Vault's limit on `custom_metadata`).
const MAX_LABELS: usize = 64;
/// Longest label key and value, in bytes (Vault's limits).
const MAX_LABEL_KEY: usize = 128;
const MAX_LABEL_VALUE: usize = 512;
/// Reserved label prefix: Lockbox's own facts are shown under it, read-only.
pub const RESERVED_LABEL_PREFIX: &str = "lockbox.";
/// At most this many version numbers in one call.
const MAX_VERSIONS_PER_CALL: usize = 1000;
/// Tries of a version-state change that keeps meeting concurrent changes.
const MAX_STATE_ATTEMPTS: usize = 16;
/// Expired secrets removed per purge pass (the next pass takes the rest).
const PURGE_BATCH: u32 = 1000;

/// A change to one secret's settings; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SecretSettingsPatch {
    /// The description: `Some("")` clears it. A metadata change, not a new version.
    pub description: Option<String>,
    /// Replaces every label (Vault `custom_metadata`); keys `lockbox.*` are refused.
    pub labels: Option<BTreeMap<String, String>>,
    /// Versions kept for this secret; `Some(0)` falls back to the workspace setting.
    pub max_versions: Option<u32>,
    pub cas_required: Option<bool>,
    /// Seconds; `Some(0)` falls back to the workspace setting.
    pub delete_version_after: Option<u64>,
}

impl Lockbox {
    /// Soft-deletes versions (empty slice = the current version). Recoverable.
    pub async fn delete_versions(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        versions: &[u64],
        ctx: &RequestCtx,
    ) -> Result<()> {
        self.change_versions(p, ws, scope, name, versions, VersionOp::Delete, ctx)
            .await
    }

    /// Undoes a soft delete (empty slice = the current version); destroyed
    /// versions stay destroyed.
    pub async fn undelete_versions(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        versions: &[u64],
        ctx: &RequestCtx,
    ) -> Result<()> {
        self.change_versions(p, ws, scope, name, versions, VersionOp::Undelete, ctx)
            .await
    }

    /// Removes the ciphertext of these versions for good; metadata stays.
    pub async fn destroy_versions(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        versions: &[u64],
        ctx: &RequestCtx,
    ) -> Result<()> {
        self.change_versions(p, ws, scope, name, versions, VersionOp::Destroy, ctx)
            .await
    }

    #[allow(clippy::too_many_arguments)] // the three public calls above, one body
    async fn change_versions(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        versions: &[u64],
        op: VersionOp,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let (action, verb) = match op {
            VersionOp::Delete => (Action::DeleteSecret, "secret.delete_versions"),
            VersionOp::Undelete => (Action::WriteSecret, "secret.undelete_versions"),
            VersionOp::Destroy => (Action::DeleteSecret, "secret.destroy_versions"),
        };
        let t = self
            .authorized_target(p, ws, scope, action, Some(name), ctx)
            .await?;
        if versions.len() > MAX_VERSIONS_PER_CALL {
            return Err(Error::invalid(format!(
                "at most {MAX_VERSIONS_PER_CALL} versions per call"
            )));
        }
        let row = self.find_live_fresh(&t, name, true).await?;
        if action == Action::DeleteSecret && t.scope == Scope::Workspace {
            // Seed 003: what a flow uses is not deleted by accident, one version or all.
            let uses = self.bindings_of(&t.ws.id, name.as_str()).await?;
            if !uses.is_empty() {
                let mut owners: Vec<&str> = uses.iter().map(|b| b.owner.as_str()).collect();
                owners.dedup();
                let err = Error::new(
                    ErrorCode::SecretInUse,
                    format!(
                        "secret '{name}' is used by {}; remove those uses before deleting or destroying its versions",
                        owners.join(", ")
                    ),
                );
                return Err(self.refuse_secret(p, &t, verb, name, err, ctx).await);
            }
        }
        let wanted: Vec<u64> = if versions.is_empty() {
            vec![row.current_version]
        } else {
            versions.to_vec()
        };
        let audit = self.record(
            p,
            Some(&t.ws.id),
            verb,
            Some(name.as_str()),
            ctx,
            serde_json::json!({"versions": wanted, "scope": t.scope.as_str()}),
        );
        let result = self.apply_version_op(&row.id, &wanted, op, audit).await;
        self.evict(&Change::secret(&row.id));
        let changed = result?;
        if op == VersionOp::Destroy && changed > 0 {
            // SQLite: the rows were zeroed in place (secure_delete); the WAL still
            // holds the old pages until it is checkpointed.
            if let Err(e) = self.store.purge_deleted().await {
                tracing::warn!(error = %e, "could not purge destroyed versions from the write-ahead log");
            }
        }
        Ok(())
    }

    /// Moves the `wanted` versions of a secret as `op` says (numbers it does not
    /// have are ignored) and appends `audit` whatever changed; answers how many
    /// moved. Each try reads the stored states and asks the transition rule; a
    /// concurrent change makes the store refuse the whole try, and it is made
    /// again on fresh states.
    async fn apply_version_op(
        &self,
        secret_id: &str,
        wanted: &[u64],
        op: VersionOp,
        audit: AuditRecord,
    ) -> Result<usize> {
        let mut wanted = wanted.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        for attempt in 0..MAX_STATE_ATTEMPTS {
            crate::write_queue::backoff(attempt).await;
            let now = self.clock.now();
            let stored = self
                .store
                .list_versions(secret_id)
                .await
                .map_err(store_err)?;
            let changes: Vec<VersionStateChange> = stored
                .iter()
                .filter(|v| wanted.binary_search(&v.version).is_ok())
                .filter_map(|v| {
                    let from = v.state(now);
                    rules::transition(from, op, now).map(|to| VersionStateChange {
                        version: v.version,
                        from,
                        to,
                    })
                })
                .collect();
            let moved = changes.len();
            match self
                .store
                .set_version_states(secret_id, changes, audit.clone())
                .await
            {
                Ok(()) => return Ok(moved),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(store_err(e)),
            }
        }
        Err(Error::conflict(
            "the versions kept changing at the same time; try again",
        ))
    }

    /// Removes one batch of expired secrets, each with its `secret.expire` audit
    /// row (actor `system`), and answers the ids removed. Another process purging
    /// at the same time never removes, or audits, the same secret twice: the store
    /// removes each only while it still reads as found here.
    pub(crate) async fn delete_expired_secrets(&self) -> Result<Vec<String>> {
        let now = self.clock.now();
        let found = self
            .store
            .expired_secrets(now, PURGE_BATCH)
            .await
            .map_err(store_err)?;
        let expired: Vec<ExpiredSecret> = found
            .into_iter()
            .filter(|s| rules::is_expired(s.expires_at, now))
            .filter_map(|s| {
                let expires_at = s.expires_at?;
                Some(ExpiredSecret {
                    audit: AuditRecord {
                        workspace_id: Some(s.workspace_id.clone()),
                        at: now,
                        actor: "system".into(),
                        action: "secret.expire".into(),
                        target: Some(s.name.clone()),
                        outcome: "ok".into(),
                        request_id: None,
                        detail: serde_json::json!({
                            "scope": s.scope.as_str(),
                            "version": s.current_version,
                        }),
                    },
                    secret_id: s.id,
                    current_version: s.current_version,
                    expires_at,
                })
            })
            .collect();
        if expired.is_empty() {
            return Ok(Vec::new());
        }
        self.store.delete_expired(expired).await.map_err(store_err)
    }

    /// Labels, max_versions, cas_required, delete_version_after of one secret.
    pub async fn update_secret_settings(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        patch: SecretSettingsPatch,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        self.settings(p, ws, scope, name, patch, false, ctx).await
    }

    /// Vault's metadata write: like [`Lockbox::update_secret_settings`], and where
    /// no secret has the name, an entry without versions is made with these
    /// settings (`current_version` 0; audited `secret.settings` with
    /// `"created": true`). The native API does not show such an entry (reads are
    /// `not_found`, lists leave it out); the first write of a value makes version 1
    /// under its settings, and a delete removes it.
    pub async fn write_secret_settings(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        patch: SecretSettingsPatch,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        self.settings(p, ws, scope, name, patch, true, ctx).await
    }

    #[allow(clippy::too_many_arguments)] // the two public calls above, one body
    async fn settings(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        name: &SecretName,
        patch: SecretSettingsPatch,
        entries: bool,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        if let Some(l) = &patch.labels {
            check_labels(l)?;
        }
        if let Some(d) = &patch.description {
            crate::secrets::check_description(d)?;
        }
        let max_versions = match patch.max_versions {
            Some(m) if m > 1000 => {
                return Err(Error::invalid("max_versions must be between 0 and 1000"))
            }
            other => other,
        };
        let delete_after = patch
            .delete_version_after
            .map(crate::workspaces::check_delete_after)
            .transpose()?;
        let row = if entries {
            match self.find_live_or_entry(&t, name, true).await {
                Err(e) if e.code == ErrorCode::NotFound => {
                    return self
                        .create_entry(p, &t, name, patch, max_versions, delete_after, ctx)
                        .await
                }
                other => other?,
            }
        } else {
            self.find_live_fresh(&t, name, true).await?
        };
        let description_changed = patch.description.is_some();
        let settings = SecretSettings {
            description: match patch.description {
                Some(d) if d.is_empty() => None,
                Some(d) => Some(d),
                None => row.description.clone(),
            },
            labels: patch.labels.unwrap_or_else(|| row.labels.clone()),
            // 0 falls back to the workspace setting, as in Vault.
            max_versions: match max_versions {
                Some(0) => None,
                Some(m) => Some(m),
                None => row.max_versions,
            },
            cas_required: patch.cas_required.unwrap_or(row.cas_required),
            delete_version_after: match delete_after {
                Some(d) => d,
                None => row.delete_version_after,
            },
        };
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.settings",
            Some(name.as_str()),
            ctx,
            serde_json::json!({
                "scope": t.scope.as_str(),
                "description_changed": description_changed,
                "labels": settings.labels.keys().collect::<Vec<_>>(),
                "max_versions": settings.max_versions,
                "cas_required": settings.cas_required,
                "delete_version_after": settings.delete_version_after,
            }),
        );
        let updated = self
            .store
            .update_secret_settings(&row.id, settings, self.clock.now(), &p.label(), audit)
            .await
            .map_err(store_err);
        self.evict(&Change::secret(&row.id));
        if !updated? {
            return Err(not_found(name));
        }
        let row = if entries {
            self.find_live_or_entry(&t, name, true).await?
        } else {
            self.find_live_fresh(&t, name, true).await?
        };
        Ok(self.meta_for(p, &t.ws, &row))
    }

    /// A secret without versions holding these settings (see
    /// [`Lockbox::write_secret_settings`]). Its visibility is chosen with its
    /// first value.
    #[allow(clippy::too_many_arguments)] // the checked settings, one each
    async fn create_entry(
        &self,
        p: &Principal,
        t: &Target,
        name: &SecretName,
        patch: SecretSettingsPatch,
        max_versions: Option<u32>,
        delete_after: Option<Option<u64>>,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let now = self.clock.now();
        let by = p.label();
        // An expired secret may still hold the name until it is purged.
        let expired = self.find_secret(t, name, true).await?.map(|s| s.id);
        let row = SecretRow {
            id: lockbox_crypto::random_id(),
            workspace_id: t.ws.id.clone(),
            scope: t.scope,
            owner: t.owner.clone(),
            name: name.as_str().to_owned(),
            visibility: Visibility::default(),
            description: patch.description.filter(|d| !d.is_empty()),
            current_version: 0,
            fingerprint: String::new(),
            expires_at: None,
            created_at: now,
            created_by: by.clone(),
            updated_at: now,
            updated_by: by,
            allowed_hosts: Vec::new(),
            labels: patch.labels.unwrap_or_default(),
            max_versions: max_versions.filter(|m| *m > 0),
            cas_required: patch.cas_required.unwrap_or(false),
            delete_version_after: delete_after.flatten(),
            current_deleted_at: None,
            current_destroyed: false,
        };
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.settings",
            Some(name.as_str()),
            ctx,
            serde_json::json!({
                "scope": t.scope.as_str(),
                "created": true,
                "labels": row.labels.keys().collect::<Vec<_>>(),
                "max_versions": row.max_versions,
                "cas_required": row.cas_required,
                "delete_version_after": row.delete_version_after,
            }),
        );
        let expect = match expired.clone() {
            Some(old) => Expect::ReplaceExpired(old),
            None => Expect::Create,
        };
        let created = self
            .store
            .create_secret_entry(row.clone(), expect, audit)
            .await;
        self.evict(&Change::Name(secret_key(t, name.as_str())));
        if let Some(old) = &expired {
            self.evict(&Change::secret(old));
        }
        match created {
            Ok(()) => Ok(self.meta_for(p, &t.ws, &row)),
            // Another writer gave the name a secret meanwhile.
            Err(StoreError::Conflict) => Err(Error::conflict(format!(
                "'{name}' was created at the same time; try again"
            ))),
            Err(e) => Err(store_err(e)),
        }
    }
}

/// Labels as Vault's `custom_metadata` allows them, minus the reserved prefix:
/// at most 64, keys 1 to 128 bytes, values up to 512 bytes, no control characters.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<()> {
    if labels.len() > MAX_LABELS {
        return Err(
            Error::invalid(format!("a secret takes at most {MAX_LABELS} labels"))
                .with_field("labels"),
        );
    }
    for (k, v) in labels {
        if k.is_empty() || k.len() > MAX_LABEL_KEY || k.chars().any(char::is_control) {
            return Err(Error::invalid(format!(
                "label keys are 1 to {MAX_LABEL_KEY} bytes without control characters"
            ))
            .with_field("labels"));
        }
        if k.to_ascii_lowercase().starts_with(RESERVED_LABEL_PREFIX) {
            return Err(Error::invalid(format!(
                "label key '{k}' is reserved: keys starting with '{RESERVED_LABEL_PREFIX}' show Lockbox's own facts and are read-only"
            ))
            .with_field("labels"));
        }
        if v.len() > MAX_LABEL_VALUE
            || v.chars()
                .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
        {
            return Err(Error::invalid(format!(
                "label '{k}': values are at most {MAX_LABEL_VALUE} bytes without control characters"
            ))
            .with_field("labels"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(k: &str, v: &str) -> BTreeMap<String, String> {
        [(k.to_owned(), v.to_owned())].into()
    }

    #[test]
    fn labels_refuse_reserved_keys_in_any_case() {
        assert!(check_labels(&one("team", "payments")).is_ok());
        for k in ["lockbox.description", "LockBox.visibility", "lockbox."] {
            let e = check_labels(&one(k, "x")).unwrap_err();
            assert_eq!(e.code, ErrorCode::Invalid);
            assert!(e.message.contains("reserved"), "{}", e.message);
        }
        assert!(check_labels(&one("lockboxer", "x")).is_ok());
    }

    #[test]
    fn labels_refuse_sizes_and_control_characters() {
        assert!(check_labels(&one("", "x")).is_err());
        assert!(check_labels(&one(&"k".repeat(129), "x")).is_err());
        assert!(check_labels(&one("k", &"v".repeat(513))).is_err());
        assert!(check_labels(&one("k", "a\0b")).is_err());
        assert!(check_labels(&one("k\u{1b}", "x")).is_err());
        assert!(check_labels(&one("k", "line\nbreak")).is_ok());
        let many: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(check_labels(&many).is_err());
    }
}
