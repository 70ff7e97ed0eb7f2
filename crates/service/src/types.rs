//! What the service hands back: metadata views safe to serialize (they never hold a
//! value). Times are RFC 3339 strings.

use lockbox_core::sensitive::serialize_exposed;
use lockbox_core::Sensitive;
use serde::Serialize;
use std::collections::BTreeMap;

/// [`serialize_exposed`] for an optional token (absent fields are skipped).
fn serialize_exposed_opt<S: serde::Serializer>(
    token: &Option<Sensitive<String>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match token {
        Some(t) => serialize_exposed(t, serializer),
        None => serializer.serialize_none(),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SecretMeta {
    pub id: String,
    pub name: String,
    pub workspace: String,
    pub scope: &'static str,
    pub visibility: &'static str,
    pub description: Option<String>,
    pub version: u64,
    pub fingerprint: String,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
    /// Hosts the egress executor may send this secret to; empty means anywhere.
    pub allowed_hosts: Vec<String>,
    /// Who uses it (stored flows, platforms' own flows): on a single secret's
    /// metadata, not in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Vec<crate::BindingInfo>>,
    /// Free-form labels (Vault `custom_metadata`); never secret. Keys starting with
    /// `lockbox.` are reserved.
    pub labels: BTreeMap<String, String>,
    /// Versions kept for this secret; `None` = the workspace setting.
    pub max_versions: Option<u32>,
    /// Writes must name the version they expect (effective: this or the workspace's).
    pub cas_required: bool,
    /// Seconds after which a new version reads as deleted; `None` = the workspace setting.
    pub delete_version_after: Option<u64>,
    /// The current version is soft-deleted or destroyed: reveals answer `not_found`.
    pub current_deleted: bool,
    /// On the answer to a write only: what the writer should know about the
    /// value just written (a value, or JSON fields, shorter than the minimum
    /// length Lockbox masks everywhere). Never the value.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretPage {
    pub secrets: Vec<SecretMeta>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    pub version: u64,
    pub fingerprint: String,
    pub created_at: String,
    pub created_by: String,
    pub current: bool,
    /// When the version was (or will be) soft-deleted, RFC 3339; may be in the future
    /// (`delete_version_after`). A deleted version can be undeleted.
    pub deleted_at: Option<String>,
    /// The ciphertext is gone for good; the metadata stays.
    pub destroyed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceInfo {
    pub name: String,
    pub role: &'static str,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemberInfo {
    pub user: String,
    pub role: &'static str,
    pub since: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddedMember {
    pub user: String,
    pub role: &'static str,
    /// The new user's first personal token, shown once; absent for existing users.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_exposed_opt"
    )]
    pub token: Option<Sensitive<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub workspace: Option<String>,
    pub role: Option<&'static str>,
    pub user: Option<String>,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The owner let this service token open runs acting as any member.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub run_as_users: bool,
}

/// A token just made. `token` is the only time the plaintext token exists outside
/// its holder; it is not a secret *value* in the Lockbox sense.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub workspace: Option<String>,
    pub role: Option<&'static str>,
    #[serde(serialize_with = "serialize_exposed")]
    pub token: Sensitive<String>,
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub run_as_users: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WhoAmI {
    pub kind: &'static str,
    pub user: Option<String>,
    pub token: TokenRef,
    pub workspaces: Vec<WorkspaceRole>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceRole {
    pub name: String,
    pub role: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEventView {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    pub next_before: Option<i64>,
}

pub use lockbox_store::WorkspaceSettings;

/// What a stored value is: a JSON string (`text`) or any other JSON (`json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueKind {
    Text,
    Json,
}

impl ValueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Json => "json",
        }
    }
}
