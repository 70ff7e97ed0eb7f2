//! Plain rows as the store reads and writes them. Values are sealed bytes; keys are
//! wrapped bytes; roles, scopes and visibilities are the core types.

use lockbox_core::versions::VersionState;
use lockbox_core::{Role, Scope, Timestamp, Visibility};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Per-workspace settings, stored as JSON so new ones need no migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkspaceSettings {
    /// Renames are off unless enabled (seed 004: names are fixed once created).
    pub allow_rename: bool,
    /// Versions kept per secret.
    pub max_versions: u32,
    /// Every write must say which version it expects (Vault KV `cas_required`).
    pub cas_required: bool,
    /// Seconds after which a new version reads as deleted; `None` = never
    /// (Vault KV `delete_version_after`).
    pub delete_version_after: Option<u64>,
}

impl Default for WorkspaceSettings {
    fn default() -> Self {
        WorkspaceSettings {
            allow_rename: false,
            max_versions: 10,
            cas_required: false,
            delete_version_after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceRow {
    pub id: String,
    pub name: String,
    pub settings: WorkspaceSettings,
    pub active_key_version: u32,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceKeyRow {
    pub workspace_id: String,
    pub version: u32,
    pub master_version: u32,
    pub wrapped: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    pub since: Timestamp,
}

/// A flow stored in Lockbox (seed 001's YAML automations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRow {
    pub workspace_id: String,
    pub slug: String,
    pub yaml: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
}

/// One use of a secret (by name, workspace scope) by an owner: `flow:<slug>` for
/// stored flows, or a platform's own id for flows it runs itself (seed 003).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BindingRow {
    pub workspace_id: String,
    pub owner: String,
    pub secret: String,
    /// Where in the owner it is used (a step path, a node and field).
    pub location: String,
}

/// A membership row as stored (for snapshots).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRow {
    pub workspace_id: String,
    pub user_id: String,
    pub role: Role,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Acts as its user, with the user's memberships.
    Personal,
    /// Acts in one workspace with a fixed role, without a user.
    Service,
    /// An automation run (`lbr_…`): the row exists so a run can be ended, and ends
    /// with its opener; its rights come from the sealed run claims, never the row.
    Run,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Personal => "personal",
            TokenKind::Service => "service",
            TokenKind::Run => "run",
        }
    }
    pub fn parse(s: &str) -> Option<TokenKind> {
        match s {
            "personal" => Some(TokenKind::Personal),
            "service" => Some(TokenKind::Service),
            "run" => Some(TokenKind::Run),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    /// SHA-256 of the token, hex. The token itself is never stored.
    pub hash: String,
    pub name: String,
    pub kind: TokenKind,
    pub user_id: Option<String>,
    pub workspace_id: Option<String>,
    pub role: Option<Role>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    /// A service token the owner allowed to open runs that act as any member
    /// (a platform's engine); never set on other kinds.
    pub run_as_users: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRow {
    pub id: String,
    pub workspace_id: String,
    pub scope: Scope,
    /// Owning user id for user scope; `""` for workspace scope.
    pub owner: String,
    pub name: String,
    pub visibility: Visibility,
    pub description: Option<String>,
    pub current_version: u64,
    pub fingerprint: String,
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub created_by: String,
    pub updated_at: Timestamp,
    pub updated_by: String,
    /// Destination host patterns the egress executor may send this secret to
    /// (`api.example.com`, `*.example.org`); empty means anywhere.
    pub allowed_hosts: Vec<String>,
    /// Free-form labels (Vault `custom_metadata`); never secret.
    pub labels: BTreeMap<String, String>,
    /// Versions kept for this secret; `None` = the workspace setting.
    pub max_versions: Option<u32>,
    /// Writes must name the version they expect (or the workspace says so).
    pub cas_required: bool,
    /// Seconds after which a new version reads as deleted; `None` = the workspace setting.
    pub delete_version_after: Option<u64>,
    /// Read from the current version's row (never written through this row):
    /// when it is or will be soft-deleted.
    pub current_deleted_at: Option<Timestamp>,
    /// Read from the current version's row (never written through this row):
    /// its ciphertext is destroyed.
    pub current_destroyed: bool,
}

/// A secret's own settings, as `update_secret_settings` writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretSettings {
    /// The secret's description (a metadata change: no new version).
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub max_versions: Option<u32>,
    pub cas_required: bool,
    pub delete_version_after: Option<u64>,
}

/// One version moved by `Store::set_version_states`, compare-and-set: written only
/// while the stored version is still in `from` (its `deleted_at` and `destroyed`
/// as [`VersionState`] gives them back). Which moves are allowed is
/// `lockbox_core::versions::transition`'s to say, not the store's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionStateChange {
    pub version: u64,
    pub from: VersionState,
    pub to: VersionState,
}

/// A secret `Store::delete_expired` removes with its versions, compare-and-set:
/// only while it still has this current version and this expiry (a secret
/// replaced or extended meanwhile stays), appending `audit` with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredSecret {
    pub secret_id: String,
    pub current_version: u64,
    pub expires_at: Timestamp,
    pub audit: AuditRecord,
}

/// The policy a version was sealed under, kept beside its ciphertext (column
/// `secret_versions.policy`, JSON). The ciphertext's associated data binds it (see
/// `lockbox_crypto::ValueAad`), so an edited policy makes the version fail to
/// decrypt rather than take effect. A version without one (`None`, NULL) is a
/// legacy row sealed under the v1 encoding, which binds no policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionPolicy {
    /// The associated-data encoding that binds this policy
    /// ([`VersionPolicy::AAD_V2`]: `lockbox.secret-version.v2`).
    pub aad: u32,
    /// Destination host patterns the egress executor may send this version to;
    /// empty means anywhere.
    pub allowed_hosts: Vec<String>,
}

impl VersionPolicy {
    pub const AAD_V2: u32 = 2;

    /// A policy bound by the v2 encoding.
    pub fn v2(allowed_hosts: Vec<String>) -> VersionPolicy {
        VersionPolicy {
            aad: Self::AAD_V2,
            allowed_hosts,
        }
    }

    /// The stored form (NULL for a legacy version).
    pub fn to_column(policy: Option<&VersionPolicy>) -> Option<String> {
        policy.map(|p| serde_json::to_string(p).expect("a policy serializes"))
    }

    /// Reads the stored form. Text that is not a policy reads as none: the version
    /// is then opened with the v1 encoding, which a v2 ciphertext fails, so an
    /// edited policy can never loosen anything.
    pub fn from_column(text: Option<&str>) -> Option<VersionPolicy> {
        text.and_then(|t| serde_json::from_str(t).ok())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub secret_id: String,
    pub version: u64,
    pub key_version: u32,
    /// AES-256-GCM output under the workspace key; see `lockbox_crypto::ValueAad`.
    pub sealed: Vec<u8>,
    pub fingerprint: String,
    pub created_at: Timestamp,
    pub created_by: String,
    /// Soft-deleted at this instant (explicitly, or scheduled by
    /// `delete_version_after`); the version reads as deleted once it has passed.
    pub deleted_at: Option<Timestamp>,
    /// The ciphertext was removed for good (`sealed` is empty).
    pub destroyed: bool,
    /// The policy this version was sealed under; `None` for a legacy (v1) version.
    pub policy: Option<VersionPolicy>,
}

impl VersionRow {
    /// Its lifecycle state at `now`.
    pub fn state(&self, now: Timestamp) -> VersionState {
        VersionState::of(self.deleted_at, self.destroyed, now)
    }

    /// Soft-deleted or destroyed at `now`: its value must not be read.
    pub fn is_deleted(&self, now: Timestamp) -> bool {
        !self.state(now).is_readable()
    }
}

/// One version re-sealed in place by `Store::reseal_versions`: under a new
/// workspace-key version (re-encryption), or from the legacy v1 encoding to v2
/// with the policy it has now (the policy sweep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reseal {
    /// The version as it will read: its `key_version`, `sealed`, `policy` and
    /// `fingerprint` are written (the secret's own fingerprint follows when this is
    /// its current version).
    pub version: VersionRow,
    /// Compare-and-set: written only while the stored version is still sealed
    /// under this key version…
    pub old_key_version: u32,
    /// …and under this policy (`None`: still a legacy version). Converting a
    /// legacy version (`None` to `Some`) also requires the secret's
    /// `allowed_hosts` column to still equal the new policy's list, so a policy
    /// read before a concurrent write is never sealed in.
    pub old_policy: Option<VersionPolicy>,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub workspace_id: String,
    pub scope: Scope,
    pub owner: String,
    pub prefix: Option<String>,
    /// Return names strictly after this one (cursor pagination).
    pub after: Option<String>,
    pub limit: u32,
    /// Secrets expiring at or before this instant are left out.
    pub now: Timestamp,
    /// Also secrets that have no version yet (`current_version` 0: Vault metadata
    /// written before any data); the native API leaves them out.
    pub entries: bool,
}

/// An audit event as the service describes it. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub workspace_id: Option<String>,
    pub at: Timestamp,
    /// `user:<name>` or `token:<name>` (`system` for background work).
    pub actor: String,
    /// Dotted verb: `secret.put`, `secret.reveal`, `token.revoke`, …
    pub action: String,
    /// What it acted on: a secret name, a user, a token id.
    pub target: Option<String>,
    /// `ok`, or `denied:<code>` / `failed:<code>`.
    pub outcome: String,
    pub request_id: Option<String>,
    /// Small structured facts (version numbers, roles). Never a value.
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub record: AuditRecord,
    pub prev_hash: String,
    /// The master-key version whose audit chain key made `hash` (an HMAC); `None`
    /// for a legacy link (plain SHA-256, written before keyed chains).
    pub key_version: Option<u32>,
    pub hash: String,
    /// The chain the row belongs to (see `audit_chain.rs`): its workspace id, or
    /// [`crate::audit_chain::ACCOUNT_CHAIN`] for a row without one. `None` for a
    /// row written before per-workspace chains: those form the start of the
    /// account chain and are linked with the v1 encoding.
    pub chain: Option<String>,
}

/// The smallest text greater than every text that starts with `prefix`, in
/// code-point (= UTF-8 byte) order, which is how both stores order names; `None`
/// when there is none (an empty prefix). A prefix scan bounded by it stops where
/// the prefix's names end instead of walking the index to its end.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod prefix_tests {
    use super::prefix_upper_bound;

    #[test]
    fn the_bound_follows_every_name_with_the_prefix() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(
            prefix_upper_bound("x\u{D7FF}").as_deref(),
            Some("x\u{E000}")
        );
        for (prefix, name) in [
            ("ab", "ab"),
            ("ab", "ab\u{10FFFF}zz"),
            ("é", "é/x"),
            ("a", "a\u{1F511}"),
        ] {
            let bound = prefix_upper_bound(prefix).unwrap();
            assert!(name.as_bytes() < bound.as_bytes(), "{name:?} < {bound:?}");
            assert!(name.starts_with(prefix));
        }
    }
}
