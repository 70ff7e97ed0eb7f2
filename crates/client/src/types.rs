//! The API's wire types: response bodies (field names exactly as in `docs/api.md`)
//! and the option structs that shape requests.
//!
//! None of these holds a secret value. The two that hold a freshly issued token
//! ([`CreatedToken`], [`AddedMember`]) redact it in their `Debug` output; their
//! `Serialize` keeps it, because showing it once is the point.

use lockbox_core::Visibility;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A secret's metadata. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretMeta {
    pub id: String,
    pub name: String,
    pub workspace: String,
    /// `workspace` or `user`.
    pub scope: String,
    /// `masked` or `restricted`.
    pub visibility: String,
    pub description: Option<String>,
    pub version: u64,
    pub fingerprint: String,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// Free-form string labels (Vault's `custom_metadata`). Never secret.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Versions kept for this secret; `None` means the workspace's setting.
    #[serde(default)]
    pub max_versions: Option<u32>,
    /// Writes must say which version they expect (`If-Match`) or create only.
    #[serde(default)]
    pub cas_required: bool,
    /// Seconds after which a new version reads as deleted; `None` means the
    /// workspace's setting.
    #[serde(default)]
    pub delete_version_after: Option<u64>,
    /// The current version reads as deleted (or is destroyed) now: revealing it is
    /// `not_found` until it is undeleted.
    #[serde(default)]
    pub current_deleted: bool,
    /// On the answer to a write: what to know about the value just written (it,
    /// or some of its JSON fields, is shorter than the minimum length Lockbox
    /// masks everywhere). Never the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One page of `GET /secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretList {
    pub secrets: Vec<SecretMeta>,
    pub next_cursor: Option<String>,
}

/// One entry of `GET /secrets/{name}/versions`, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub version: u64,
    pub fingerprint: String,
    pub created_at: String,
    pub created_by: String,
    pub current: bool,
    /// When the version was (or, when scheduled by `delete_version_after`, will be)
    /// soft-deleted, RFC 3339. A deleted version can be undeleted.
    #[serde(default)]
    pub deleted_at: Option<String>,
    /// The ciphertext is gone for good; only the metadata is left.
    #[serde(default)]
    pub destroyed: bool,
}

/// A `PATCH /secrets/{name}/settings` body: only the fields that are `Some` are
/// sent; the others keep their value. Not a new version of the secret.
///
/// ```
/// use lockbox_client::SecretSettingsPatch;
///
/// let patch = SecretSettingsPatch::default()
///     .label("team", "payments")
///     .max_versions(5)
///     .cas_required(true)
///     .delete_version_after(30 * 24 * 3600);
/// assert_eq!(patch.labels.as_ref().map(|l| l.len()), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SecretSettingsPatch {
    /// The description (`Some("")` clears it); no new version is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces every label (`Some(empty)` clears them). Keys starting with
    /// `lockbox.` are reserved and refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Versions kept; `0` goes back to the workspace's setting (at most 1000).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u32>,
    /// Refuse writes that do not name the version they expect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Seconds after which each new version reads as deleted; `0` goes back to the
    /// workspace's setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<u64>,
}

impl SecretSettingsPatch {
    /// Changes the description only (`""` clears it); the value and its version stay.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    /// Adds one label to the set that will replace the current labels.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }
    /// Removes every label.
    pub fn clear_labels(mut self) -> Self {
        self.labels = Some(BTreeMap::new());
        self
    }
    pub fn max_versions(mut self, n: u32) -> Self {
        self.max_versions = Some(n);
        self
    }
    pub fn cas_required(mut self, on: bool) -> Self {
        self.cas_required = Some(on);
        self
    }
    pub fn delete_version_after(mut self, seconds: u64) -> Self {
        self.delete_version_after = Some(seconds);
        self
    }
}

/// The answer to a `PUT /secrets/{name}`: `created` is true on `201`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutOutcome {
    pub created: bool,
    pub meta: SecretMeta,
}

/// What a `PUT` does to the description. `docs/api.md`: omitted keeps the old one,
/// `""` clears it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DescriptionUpdate {
    /// Leave the description as it is (the field is omitted).
    #[default]
    Keep,
    /// Set it to this text.
    Set(String),
    /// Remove it (sends `""`).
    Clear,
}

/// Optional parts of a `PUT /secrets/{name}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PutOptions {
    pub description: DescriptionUpdate,
    /// Fixed at creation; a different one on update is `invalid`.
    pub visibility: Option<Visibility>,
    /// Seconds from now until the secret expires.
    pub ttl: Option<u64>,
    /// Only write when the current version is this one (`If-Match: "<n>"`).
    pub if_match: Option<u64>,
    /// Only create: refused with `version_mismatch` when the secret exists
    /// (`If-None-Match: *`).
    pub create_only: bool,
    /// Replaces the labels (`Some(empty)` clears them); `None` keeps them.
    pub labels: Option<BTreeMap<String, String>>,
}

impl PutOptions {
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = DescriptionUpdate::Set(text.into());
        self
    }
    pub fn clear_description(mut self) -> Self {
        self.description = DescriptionUpdate::Clear;
        self
    }
    pub fn visibility(mut self, visibility: Visibility) -> Self {
        self.visibility = Some(visibility);
        self
    }
    pub fn ttl(mut self, seconds: u64) -> Self {
        self.ttl = Some(seconds);
        self
    }
    pub fn if_match(mut self, version: u64) -> Self {
        self.if_match = Some(version);
        self
    }
    pub fn create_only(mut self) -> Self {
        self.create_only = true;
        self
    }
    /// Adds one label to the set that replaces the secret's labels.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }
}

/// One workspace the caller belongs to (`GET /v1/workspaces`, `POST /v1/workspaces`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceInfo {
    pub name: String,
    pub role: String,
    pub created_at: String,
}

/// A workspace's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub allow_rename: bool,
    pub max_versions: u32,
    /// Every write in the workspace must name the version it expects.
    #[serde(default)]
    pub cas_required: bool,
    /// Seconds after which a new version reads as deleted; `None` = never.
    #[serde(default)]
    pub delete_version_after: Option<u64>,
}

/// A `PATCH /settings` body: only the fields that are `Some` are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SettingsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_rename: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Seconds; `0` turns it off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<u64>,
}

/// One member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub user: String,
    pub role: String,
    pub since: String,
}

/// The answer to `PUT /members/{user}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRole {
    pub user: String,
    pub role: String,
}

/// The answer to `POST /members`: `token` is present (and shown only this once)
/// when the user was created by the call.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedMember {
    pub user: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl fmt::Debug for AddedMember {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddedMember")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("token", &self.token.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

/// A token as listed by `GET /v1/tokens` (never the token string itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// `personal` or `service`.
    pub kind: String,
    pub workspace: Option<String>,
    pub role: Option<String>,
    pub user: Option<String>,
    pub created_at: String,
    pub created_by: Option<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The owner let this service token open runs acting as any member.
    #[serde(default)]
    pub run_as_users: bool,
}

/// The answer to `POST /v1/tokens`. `token` is the bearer string, shown only once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub workspace: Option<String>,
    pub role: Option<String>,
    pub token: String,
    pub expires_at: Option<String>,
    #[serde(default)]
    pub run_as_users: bool,
}

impl fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("workspace", &self.workspace)
            .field("role", &self.role)
            .field("token", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The caller's token, as `GET /v1/me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeToken {
    pub id: String,
    pub name: String,
}

/// One workspace the caller can act in, as `GET /v1/me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeWorkspace {
    pub name: String,
    pub role: String,
}

/// `GET /v1/me`: who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// `personal` or `service`.
    pub kind: String,
    pub user: Option<String>,
    pub token: MeToken,
    pub workspaces: Vec<MeWorkspace>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    #[serde(default)]
    pub detail: serde_json::Value,
}

/// One page of `GET /audit`, newest first; pass `next_before` to get the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meta_decodes_the_documented_shape() {
        let body = json!({"id": "s1", "name": "stripe/api key", "workspace": "default",
            "scope": "workspace", "visibility": "masked", "description": null, "version": 3,
            "fingerprint": "9f1c", "expires_at": null, "created_at": "2026-01-01T00:00:00Z",
            "created_by": "user:owner", "updated_at": "2026-01-02T00:00:00Z",
            "updated_by": "token:ci", "labels": {"team": "payments"}, "max_versions": null,
            "cas_required": false, "delete_version_after": 3600, "current_deleted": true});
        let meta: SecretMeta = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(meta.version, 3);
        assert_eq!(serde_json::to_value(&meta).unwrap(), body);
        assert!(meta.current_deleted);
        assert_eq!(meta.delete_version_after, Some(3600));
    }

    #[test]
    fn older_servers_without_the_new_fields_still_decode() {
        let body = json!({"version": 2, "fingerprint": "ab", "created_at": "x",
            "created_by": "y", "current": true});
        let v: VersionInfo = serde_json::from_value(body).unwrap();
        assert_eq!((v.deleted_at, v.destroyed), (None, false));
    }

    #[test]
    fn secret_settings_patch_sends_only_set_fields() {
        let p = SecretSettingsPatch::default().cas_required(false);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"cas_required": false})
        );
        let p = SecretSettingsPatch::default()
            .clear_labels()
            .max_versions(0);
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"labels": {}, "max_versions": 0})
        );
    }

    #[test]
    fn fresh_tokens_are_redacted_in_debug() {
        let t = CreatedToken {
            id: "t1".into(),
            name: "ci".into(),
            kind: "service".into(),
            workspace: Some("default".into()),
            role: Some("editor".into()),
            token: "lbx_supersecret".into(),
            expires_at: None,
            run_as_users: false,
        };
        assert!(!format!("{t:?}").contains("supersecret"));
        let m = AddedMember {
            user: "bob".into(),
            role: "viewer".into(),
            token: Some("lbx_x".into()),
        };
        assert!(!format!("{m:?}").contains("lbx_x"));
        let m: AddedMember =
            serde_json::from_value(json!({"user": "bob", "role": "viewer"})).unwrap();
        assert_eq!(m.token, None);
    }

    #[test]
    fn settings_patch_sends_only_set_fields() {
        let p = SettingsPatch {
            allow_rename: Some(true),
            ..SettingsPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"allow_rename": true})
        );
    }
}

/// `POST /v1/runs` answer. `token` is the run token, shown once.
#[derive(Clone, serde::Deserialize, serde::Serialize)]
pub struct OpenedRun {
    pub run_id: String,
    pub token: String,
    pub workspace: String,
    pub user: Option<String>,
    pub trigger: String,
    pub expires_at: String,
}

impl std::fmt::Debug for OpenedRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedRun")
            .field("run_id", &self.run_id)
            .field("token", &"[REDACTED]")
            .finish()
    }
}
