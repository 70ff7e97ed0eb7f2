//! Workspaces, settings, members, tokens, the caller and the audit log.

use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, Caller, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use lockbox_core::{Role, TokenName, UserName, WorkspaceName};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(me))
        .route(
            "/v1/workspaces",
            get(list_workspaces).post(create_workspace),
        )
        .route("/v1/workspaces/{ws}", delete(delete_workspace))
        .route(
            "/v1/workspaces/{ws}/settings",
            get(get_settings).patch(patch_settings),
        )
        .route(
            "/v1/workspaces/{ws}/members",
            get(list_members).post(add_member),
        )
        .route(
            "/v1/workspaces/{ws}/members/{user}",
            put(set_member).delete(remove_member),
        )
        .route("/v1/workspaces/{ws}/audit", get(audit))
        .route("/v1/audit", get(account_audit))
        .route("/v1/workspaces/{ws}/bindings/{owner}", put(put_bindings))
        .route("/v1/tokens", get(list_tokens).post(create_token))
        .route("/v1/tokens/{id}", delete(revoke_token).patch(update_token))
}

type ApiResult<T> = Result<T, ApiError>;

#[utoipa::path(get, path = "/v1/me", responses((status = 200, description = "the caller and its workspaces")))]
pub async fn me(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<lockbox_service::WhoAmI>> {
    Ok(Json(st.svc.whoami(&caller.principal).await?))
}

#[utoipa::path(get, path = "/v1/workspaces", responses((status = 200, description = "{\"workspaces\": […]}")))]
pub async fn list_workspaces(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let list = st.svc.list_workspaces(&caller.principal).await?;
    Ok(Json(json!({ "workspaces": list })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWorkspaceBody {
    pub name: String,
}

#[utoipa::path(post, path = "/v1/workspaces", request_body = CreateWorkspaceBody,
    responses((status = 201, description = "created; the caller is its owner")))]
pub async fn create_workspace(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateWorkspaceBody>,
) -> ApiResult<(StatusCode, Json<lockbox_service::WorkspaceInfo>)> {
    let name = WorkspaceName::parse(&body.name)?;
    let ws = st
        .svc
        .create_workspace(&caller.principal, &name, &caller.ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(ws)))
}

#[utoipa::path(delete, path = "/v1/workspaces/{ws}", params(("ws" = String, Path)),
    responses((status = 200, description = "deleted; its key is destroyed")))]
pub async fn delete_workspace(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    st.svc
        .delete_workspace(&caller.principal, &ws, &caller.ctx)
        .await?;
    Ok(Json(json!({"deleted": true})))
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/settings", params(("ws" = String, Path)),
    responses((status = 200, description = "workspace settings")))]
pub async fn get_settings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<lockbox_service::WorkspaceSettings>> {
    Ok(Json(
        st.svc
            .workspace_settings(&caller.principal, &ws, &caller.ctx)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    pub allow_rename: Option<bool>,
    pub max_versions: Option<u32>,
    pub cas_required: Option<bool>,
    /// Seconds; 0 turns it off.
    pub delete_version_after: Option<u64>,
}

#[utoipa::path(patch, path = "/v1/workspaces/{ws}/settings", params(("ws" = String, Path)),
    request_body = SettingsBody, responses((status = 200, description = "updated settings (owner)")))]
pub async fn patch_settings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    JsonBody(body): JsonBody<SettingsBody>,
) -> ApiResult<Json<lockbox_service::WorkspaceSettings>> {
    Ok(Json(
        st.svc
            .update_workspace_settings(
                &caller.principal,
                &ws,
                lockbox_service::WorkspaceSettingsPatch {
                    allow_rename: body.allow_rename,
                    max_versions: body.max_versions,
                    cas_required: body.cas_required,
                    delete_version_after: body.delete_version_after,
                },
                &caller.ctx,
            )
            .await?,
    ))
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/members", params(("ws" = String, Path)),
    responses((status = 200, description = "{\"members\": […]}")))]
pub async fn list_members(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let members = st
        .svc
        .list_members(&caller.principal, &ws, &caller.ctx)
        .await?;
    Ok(Json(json!({ "members": members })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMemberBody {
    pub user: String,
    pub role: String,
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/members", params(("ws" = String, Path)),
    request_body = AddMemberBody,
    responses((status = 201, description = "added; a new user's first token is returned once")))]
pub async fn add_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    JsonBody(body): JsonBody<AddMemberBody>,
) -> ApiResult<(StatusCode, Json<lockbox_service::AddedMember>)> {
    let user = UserName::parse(&body.user)?;
    let role = Role::parse(&body.role)?;
    let added = st
        .svc
        .add_member(&caller.principal, &ws, &user, role, &caller.ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub role: String,
}

#[utoipa::path(put, path = "/v1/workspaces/{ws}/members/{user}", params(("ws" = String, Path), ("user" = String, Path)),
    request_body = RoleBody, responses((status = 200, description = "role changed")))]
pub async fn set_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, user)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<Json<lockbox_service::MemberInfo>> {
    let user = UserName::parse(&user)?;
    let role = Role::parse(&body.role)?;
    Ok(Json(
        st.svc
            .set_member_role(&caller.principal, &ws, &user, role, &caller.ctx)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/v1/workspaces/{ws}/members/{user}", params(("ws" = String, Path), ("user" = String, Path)),
    responses((status = 200, description = "{\"deleted\": true}")))]
pub async fn remove_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, user)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let user = UserName::parse(&user)?;
    st.svc
        .remove_member(&caller.principal, &ws, &user, &caller.ctx)
        .await?;
    Ok(Json(json!({"deleted": true})))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub limit: Option<u32>,
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/audit", params(("ws" = String, Path), ("limit" = Option<u32>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, description = "{\"events\": […], \"next_before\": …} newest first")))]
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<lockbox_service::AuditPage>> {
    Ok(Json(
        st.svc
            .audit_log(&caller.principal, &ws, q.before, q.limit, &caller.ctx)
            .await?,
    ))
}

/// Audit rows that belong to no workspace: the caller's own (personal tokens,
/// sessions, refused account-level attempts) and, for owners of a workspace, the
/// deployment's (`system`). People only.
#[utoipa::path(get, path = "/v1/audit", params(("limit" = Option<u32>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, description = "{\"events\": […], \"next_before\": …} newest first: rows without a workspace the caller may see")))]
pub async fn account_audit(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<lockbox_service::AuditPage>> {
    Ok(Json(
        st.svc
            .account_audit_log(&caller.principal, q.before, q.limit, &caller.ctx)
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    pub name: String,
    /// With `role`: a service token in this workspace.
    pub workspace: Option<String>,
    pub role: Option<String>,
    /// Seconds until the token expires.
    pub ttl: Option<u64>,
    /// Service tokens only, granted by the owner: the token may open runs that act
    /// as any member (a platform's engine).
    #[serde(default)]
    pub run_as_users: bool,
}

#[utoipa::path(post, path = "/v1/tokens", request_body = CreateTokenBody,
    responses((status = 201, description = "the token, shown once")))]
pub async fn create_token(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateTokenBody>,
) -> ApiResult<(StatusCode, Json<lockbox_service::CreatedToken>)> {
    let name = TokenName::parse(&body.name)?;
    let created = match (body.workspace, body.role) {
        (Some(ws), Some(role)) => {
            let role = Role::parse(&role)?;
            st.svc
                .create_service_token(
                    &caller.principal,
                    &ws,
                    &name,
                    role,
                    body.ttl,
                    body.run_as_users,
                    &caller.ctx,
                )
                .await?
        }
        (None, None) if body.run_as_users => {
            return Err(lockbox_core::Error::invalid(
                "run_as_users is a grant for service tokens (give 'workspace' and 'role')",
            )
            .into())
        }
        (None, None) => {
            st.svc
                .create_personal_token(&caller.principal, &name, body.ttl, &caller.ctx)
                .await?
        }
        _ => {
            return Err(lockbox_core::Error::invalid(
                "a service token needs both 'workspace' and 'role'; a personal token neither",
            )
            .into())
        }
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokensQuery {
    pub workspace: Option<String>,
}

#[utoipa::path(get, path = "/v1/tokens", params(("workspace" = Option<String>, Query)),
    responses((status = 200, description = "{\"tokens\": […]}, never the tokens themselves")))]
pub async fn list_tokens(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> ApiResult<Json<Value>> {
    let tokens = st
        .svc
        .list_tokens(&caller.principal, q.workspace.as_deref())
        .await?;
    Ok(Json(json!({ "tokens": tokens })))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "{\"revoked\": true}")))]
pub async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    st.svc
        .revoke_token(&caller.principal, &id, &caller.ctx)
        .await?;
    Ok(Json(json!({"revoked": true})))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTokenBody {
    /// The workspace this personal token addresses when a call names none (the
    /// Vault API without `X-Vault-Namespace`); `null` = the user's oldest membership.
    pub default_workspace: Option<String>,
}

#[utoipa::path(patch, path = "/v1/tokens/{id}", params(("id" = String, Path)),
    request_body = UpdateTokenBody,
    responses((status = 200, description = "{\"id\", \"default_workspace\"}")))]
pub async fn update_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<UpdateTokenBody>,
) -> ApiResult<Json<Value>> {
    st.svc
        .set_token_default_workspace(
            &caller.principal,
            &id,
            body.default_workspace.as_deref(),
            &caller.ctx,
        )
        .await?;
    Ok(Json(
        json!({"id": id, "default_workspace": body.default_workspace}),
    ))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingsBody {
    /// Every secret this owner uses, replacing what it declared before.
    pub bindings: Vec<BindingUse>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingUse {
    pub secret: String,
    /// Where the owner uses it (a node and field, a step path).
    pub location: String,
}

#[utoipa::path(put, path = "/v1/workspaces/{ws}/bindings/{owner}", params(("ws" = String, Path), ("owner" = String, Path)),
    request_body = BindingsBody,
    responses((status = 200, description = "{\"owner\", \"bindings\": […]}; bound secrets refuse deletion without force")))]
pub async fn put_bindings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, owner)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<BindingsBody>,
) -> ApiResult<Json<Value>> {
    let uses = body
        .bindings
        .into_iter()
        .map(|b| (b.secret, b.location))
        .collect();
    let out = st
        .svc
        .put_bindings(&caller.principal, &ws, &owner, uses, &caller.ctx)
        .await?;
    Ok(Json(json!({ "owner": owner, "bindings": out })))
}
