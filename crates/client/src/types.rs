//! The API's wire types: response bodies (field names exactly as in `docs/api.md`)
//! and the option structs that shape requests.
//!
//! None of these holds a secret value. The two that hold a freshly issued token
//! ([`CreatedToken`], [`AddedMember`]) redact it in their `Debug` output; their
//! `Serialize` keeps it, because showing it once is the point.

use lockbox_core::Visibility;
use serde::{Deserialize, Serialize};
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
}

/// A `PATCH /settings` body: only the fields that are `Some` are sent.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SettingsPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_rename: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u32>,
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
            "updated_by": "token:ci"});
        let meta: SecretMeta = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(meta.version, 3);
        assert_eq!(serde_json::to_value(&meta).unwrap(), body);
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
            max_versions: None,
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
