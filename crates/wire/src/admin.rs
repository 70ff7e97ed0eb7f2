//! Workspaces and their settings, members, tokens, the caller (`/v1/me`) and the
//! audit log.

use lockbox_core::Sensitive;
use serde::{Deserialize, Serialize};

/// Body of `POST /v1/workspaces`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceBody {
    pub name: String,
}

/// One workspace the caller belongs to, with its role there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceInfo {
    pub name: String,
    pub role: String,
    pub created_at: String,
}

/// `{"workspaces": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<WorkspaceInfo>,
}

/// A workspace's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// Body of `PATCH /v1/workspaces/{ws}/settings`: only the fields that are `Some`
/// are sent and changed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_rename: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_versions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cas_required: Option<bool>,
    /// Seconds; `0` turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_version_after: Option<u64>,
}

/// One member of a workspace (`GET …/members`, and the answer to `PUT …/members/{user}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Member {
    pub user: String,
    pub role: String,
    pub since: String,
}

/// `{"members": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemberList {
    pub members: Vec<Member>,
}

/// Body of `POST /v1/workspaces/{ws}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    pub user: String,
    /// `owner`, `admin`, `editor` or `viewer`.
    pub role: String,
}

/// Body of `PUT /v1/workspaces/{ws}/members/{user}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: String,
}

/// The answer to `POST …/members`: `token` is present (and shown only this once)
/// when the user was created by the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AddedMember {
    pub user: String,
    pub role: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serialize_exposed_opt"
    )]
    #[schema(value_type = Option<String>)]
    pub token: Option<Sensitive<String>>,
}

/// Body of `POST /v1/tokens`: with `workspace` and `role` a service token, with
/// neither a personal token of the caller.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    pub name: String,
    /// With `role`: a service token in this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Seconds until the token expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
    /// Service tokens only, granted by the owner: the token may open runs that act
    /// as any member (a platform's engine).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_as_users: bool,
}

/// A token as listed by `GET /v1/tokens` (never the token string itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// `personal`, `service` or `run`.
    pub kind: String,
    pub workspace: Option<String>,
    pub role: Option<String>,
    pub user: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub created_by: Option<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The owner let this service token open runs acting as any member.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_as_users: bool,
}

/// `{"tokens": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// The answer to `POST /v1/tokens`. `token` is the bearer string, shown only once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub workspace: Option<String>,
    pub role: Option<String>,
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    #[schema(value_type = String)]
    pub token: Sensitive<String>,
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_as_users: bool,
}

/// Body of `PATCH /v1/tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTokenBody {
    /// The workspace this personal token addresses when a call names none (the
    /// Vault API without `X-Vault-Namespace`); `null` = the user's oldest membership.
    pub default_workspace: Option<String>,
}

/// The answer to `PATCH /v1/tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TokenDefaults {
    pub id: String,
    pub default_workspace: Option<String>,
}

/// `{"revoked": true}`: the answer to `DELETE /v1/tokens/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Revoked {
    pub revoked: bool,
}

/// The caller's token, as `GET /v1/me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeToken {
    pub id: String,
    pub name: String,
}

/// One workspace the caller can act in, as `GET /v1/me` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MeWorkspace {
    pub name: String,
    pub role: String,
}

/// `GET /v1/me`: who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Me {
    /// `personal`, `service` or `run`.
    pub kind: String,
    pub user: Option<String>,
    pub token: MeToken,
    pub workspaces: Vec<MeWorkspace>,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub request_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// One page of the audit log, newest first; pass `next_before` as `before` for
/// the next page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    pub next_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fresh_tokens_are_sent_but_never_printed() {
        let t: CreatedToken = serde_json::from_value(json!({"id": "t1", "name": "ci",
            "kind": "service", "workspace": "default", "role": "editor",
            "token": "lbx_supersecret", "expires_at": null}))
        .unwrap();
        assert!(!format!("{t:?}").contains("supersecret"));
        assert_eq!(
            serde_json::to_value(&t).unwrap()["token"],
            "lbx_supersecret"
        );
        let m: AddedMember =
            serde_json::from_value(json!({"user": "bob", "role": "viewer", "token": "lbx_x"}))
                .unwrap();
        assert!(!format!("{m:?}").contains("lbx_x"));
        assert_eq!(serde_json::to_value(&m).unwrap()["token"], "lbx_x");
        let m: AddedMember =
            serde_json::from_value(json!({"user": "bob", "role": "viewer"})).unwrap();
        assert_eq!(m.token, None);
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({"user": "bob", "role": "viewer"})
        );
    }

    #[test]
    fn token_body_omits_what_is_unset() {
        let b = CreateTokenBody {
            name: "me".into(),
            ..CreateTokenBody::default()
        };
        assert_eq!(serde_json::to_value(&b).unwrap(), json!({"name": "me"}));
    }
}
