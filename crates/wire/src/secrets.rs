//! `/v1/workspaces/{ws}/secrets…`: secret metadata, versions, the reveal answer,
//! and the bodies of put, rollback, rename, the version state changes and the
//! per-secret settings.

use crate::flows::BindingInfo;
use lockbox_core::Sensitive;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Body of `PUT …/secrets/{name}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutBody {
    /// A string or any non-empty JSON value.
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    #[schema(value_type = Object)]
    pub value: Sensitive<serde_json::Value>,
    /// Omitted or null keeps the current description; "" clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `masked` (default) or `restricted`; fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
    /// Seconds until the secret expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Hosts the egress executor may send this secret to (`api.example.com`,
    /// `*.example.org`); omitted keeps the current list, `[]` allows any host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Free-form string labels (Vault `custom_metadata`); omitted keeps them, `{}`
    /// clears them. Keys starting with `lockbox.` are reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

impl PutBody {
    /// A body that writes `value` and leaves everything else as it is.
    pub fn new(value: Sensitive<serde_json::Value>) -> PutBody {
        PutBody {
            value,
            description: None,
            visibility: None,
            ttl: None,
            allowed_hosts: None,
            labels: None,
        }
    }
}

/// A secret's metadata. Never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Hosts the egress executor may send this secret to; empty means anywhere.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Who uses it (stored flows, platforms' own flows): on a single secret's
    /// metadata, not in lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bindings: Option<Vec<BindingInfo>>,
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

/// One page of `GET …/secrets`; pass `next_cursor` as `cursor` for the next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretPage {
    pub secrets: Vec<SecretMeta>,
    pub next_cursor: Option<String>,
}

/// One version of a secret, as `GET …/versions` lists them (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// `{"versions": […]}`: `GET …/versions` and the answer to a version state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VersionList {
    pub versions: Vec<VersionInfo>,
}

/// The answer to `POST …/reveal`: the value (audited) and its version.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revealed {
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    #[schema(value_type = Object)]
    pub value: Sensitive<serde_json::Value>,
    pub version: u64,
}

/// Body of `POST …/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    pub version: u64,
}

/// Body of `POST …/rename`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    pub name: String,
}

/// Body of `POST …/versions/{delete|undelete|destroy}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionsBody {
    /// Version numbers; omitted or `[]` means the current version. Unknown numbers
    /// are ignored.
    #[serde(default)]
    pub versions: Vec<u64>,
}

/// Body of `PATCH …/secrets/{name}/settings`: only the fields that are `Some` are
/// sent; the others keep their value. Not a new version of the secret.
///
/// ```
/// use lockbox_wire::SecretSettingsPatch;
///
/// let patch = SecretSettingsPatch::default()
///     .label("team", "payments")
///     .max_versions(5)
///     .cas_required(true)
///     .delete_version_after(30 * 24 * 3600);
/// assert_eq!(patch.labels.as_ref().map(|l| l.len()), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSettingsPatch {
    /// The description (`Some("")` clears it); no new version is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Replaces every label (`Some(empty)` clears them). Keys starting with
    /// `lockbox.` are reserved and refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Versions kept; `0` goes back to the workspace's setting (at most 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u32>,
    /// Refuse writes that do not name the version they expect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Seconds after which each new version reads as deleted; `0` goes back to the
    /// workspace's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn meta_round_trips_the_documented_shape() {
        let body = json!({"id": "s1", "name": "stripe/api key", "workspace": "default",
            "scope": "workspace", "visibility": "masked", "description": null, "version": 3,
            "fingerprint": "9f1c", "expires_at": null, "created_at": "2026-01-01T00:00:00Z",
            "created_by": "user:owner", "updated_at": "2026-01-02T00:00:00Z",
            "updated_by": "token:ci", "allowed_hosts": ["api.example.com"],
            "bindings": [{"owner": "flow:sync", "location": "do[0].fetch.headers.Authorization"}],
            "labels": {"team": "payments"}, "max_versions": null,
            "cas_required": false, "delete_version_after": 3600, "current_deleted": true});
        let meta: SecretMeta = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(meta.allowed_hosts, ["api.example.com"]);
        assert_eq!(meta.bindings.as_ref().unwrap()[0].owner, "flow:sync");
        assert_eq!(serde_json::to_value(&meta).unwrap(), body);
    }

    #[test]
    fn older_answers_without_the_newer_fields_still_decode() {
        let v: VersionInfo = serde_json::from_value(json!({"version": 2, "fingerprint": "ab",
            "created_at": "x", "created_by": "y", "current": true}))
        .unwrap();
        assert_eq!((v.deleted_at, v.destroyed), (None, false));
    }

    #[test]
    fn put_body_sends_only_what_is_set_and_hides_the_value_in_debug() {
        let body = PutBody::new(Sensitive::new(json!({"token": "hunter2-secret"})));
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"value": {"token": "hunter2-secret"}})
        );
        assert!(!format!("{body:?}").contains("hunter2"));
        let typo = serde_json::from_value::<PutBody>(json!({"value": "x", "ttl_s": 3}));
        assert!(typo.is_err());
    }

    #[test]
    fn revealed_decodes_and_never_prints_the_value() {
        let r: Revealed =
            serde_json::from_str(r#"{"value":{"k":"hunter2-secret"},"version":4}"#).unwrap();
        assert_eq!(r.version, 4);
        assert!(!format!("{r:?}").contains("hunter2"));
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
}
