//! What the service hands back: metadata views safe to serialize (they never hold a
//! value). Times are RFC 3339 strings.

use serde::Serialize;
use std::collections::BTreeMap;

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

impl SecretMeta {
    /// The labels plus Lockbox's own facts under the reserved `lockbox.` keys
    /// (`lockbox.description`, `lockbox.visibility`, `lockbox.fingerprint`,
    /// `lockbox.expires_at`; absent facts are left out), as Vault clients see
    /// `custom_metadata`. Users can never write these keys, so they cannot spoof them.
    pub fn labels_with_facts(&self) -> BTreeMap<String, String> {
        let mut out = self.labels.clone();
        let facts = [
            ("description", self.description.clone()),
            ("visibility", Some(self.visibility.to_owned())),
            ("fingerprint", Some(self.fingerprint.clone())),
            ("expires_at", self.expires_at.clone()),
        ];
        for (k, v) in facts {
            if let Some(v) = v {
                out.insert(format!("{}{k}", crate::RESERVED_LABEL_PREFIX), v);
            }
        }
        out
    }
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
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
    pub token: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_with_facts_adds_the_reserved_keys() {
        let meta = SecretMeta {
            id: "i".into(),
            name: "n".into(),
            workspace: "w".into(),
            scope: "workspace",
            visibility: "masked",
            description: None,
            version: 1,
            fingerprint: "fp".into(),
            expires_at: Some("2030-01-01T00:00:00Z".into()),
            created_at: String::new(),
            created_by: String::new(),
            updated_at: String::new(),
            updated_by: String::new(),
            allowed_hosts: vec![],
            bindings: None,
            labels: [("team".to_owned(), "ops".to_owned())].into(),
            max_versions: None,
            cas_required: false,
            delete_version_after: None,
            current_deleted: false,
            warnings: vec![],
        };
        let all = meta.labels_with_facts();
        assert_eq!(all["team"], "ops");
        assert_eq!(all["lockbox.visibility"], "masked");
        assert_eq!(all["lockbox.fingerprint"], "fp");
        assert_eq!(all["lockbox.expires_at"], "2030-01-01T00:00:00Z");
        assert!(!all.contains_key("lockbox.description"));
    }
}
