//! Workspaces, settings, members, tokens, the caller and the audit log.

use crate::error::ApiError;
use crate::extract::{ApiPath, ApiQuery, Caller, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use lockbox_core::{Role, TokenName, UserName, WorkspaceName};
use lockbox_wire as wire;
use lockbox_wire::{
    AddMemberBody, BindingsBody, CreateTokenBody, CreateWorkspaceBody, RoleBody, SettingsPatch,
    UpdateTokenBody,
};
use serde::Deserialize;

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

#[utoipa::path(get, path = "/v1/me", responses((status = 200, description = "the caller and its workspaces", body = wire::Me)))]
pub async fn me(State(st): State<AppState>, caller: Caller) -> ApiResult<Json<wire::Me>> {
    Ok(Json(super::wire_me(
        st.svc.whoami(&caller.principal).await?,
    )))
}

#[utoipa::path(get, path = "/v1/workspaces", responses((status = 200, description = "the caller's workspaces", body = wire::WorkspaceList)))]
pub async fn list_workspaces(
    State(st): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<wire::WorkspaceList>> {
    let list = st.svc.list_workspaces(&caller.principal).await?;
    Ok(Json(wire::WorkspaceList {
        workspaces: list.into_iter().map(super::wire_workspace).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/workspaces", request_body = CreateWorkspaceBody,
    responses((status = 201, description = "created; the caller is its owner", body = wire::WorkspaceInfo)))]
pub async fn create_workspace(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateWorkspaceBody>,
) -> ApiResult<(StatusCode, Json<wire::WorkspaceInfo>)> {
    let name = WorkspaceName::parse(&body.name)?;
    let ws = st
        .svc
        .create_workspace(&caller.principal, &name, &caller.ctx)
        .await?;
    Ok((StatusCode::CREATED, Json(super::wire_workspace(ws))))
}

#[utoipa::path(delete, path = "/v1/workspaces/{ws}", params(("ws" = String, Path)),
    responses((status = 200, description = "deleted; its key is destroyed", body = wire::Deleted)))]
pub async fn delete_workspace(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<wire::Deleted>> {
    st.svc
        .delete_workspace(&caller.principal, &ws, &caller.ctx)
        .await?;
    Ok(Json(wire::Deleted { deleted: true }))
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/settings", params(("ws" = String, Path)),
    responses((status = 200, description = "workspace settings", body = wire::Settings)))]
pub async fn get_settings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<wire::Settings>> {
    Ok(Json(super::wire_settings(
        st.svc
            .workspace_settings(&caller.principal, &ws, &caller.ctx)
            .await?,
    )))
}

#[utoipa::path(patch, path = "/v1/workspaces/{ws}/settings", params(("ws" = String, Path)),
    request_body = SettingsPatch, responses((status = 200, description = "updated settings (owner)", body = wire::Settings)))]
pub async fn patch_settings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    JsonBody(body): JsonBody<SettingsPatch>,
) -> ApiResult<Json<wire::Settings>> {
    Ok(Json(super::wire_settings(
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
    )))
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/members", params(("ws" = String, Path)),
    responses((status = 200, description = "the workspace's members", body = wire::MemberList)))]
pub async fn list_members(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<wire::MemberList>> {
    let members = st
        .svc
        .list_members(&caller.principal, &ws, &caller.ctx)
        .await?;
    Ok(Json(wire::MemberList {
        members: members.into_iter().map(super::wire_member).collect(),
    }))
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/members", params(("ws" = String, Path)),
    request_body = AddMemberBody,
    responses((status = 201, description = "added; a new user's first token is returned once", body = wire::AddedMember)))]
pub async fn add_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    JsonBody(body): JsonBody<AddMemberBody>,
) -> ApiResult<(StatusCode, Json<wire::AddedMember>)> {
    let user = UserName::parse(&body.user)?;
    let role = Role::parse(&body.role)?;
    let added = st
        .svc
        .add_member(&caller.principal, &ws, &user, role, &caller.ctx)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::AddedMember {
            user: added.user,
            role: added.role.to_owned(),
            token: added.token,
        }),
    ))
}

#[utoipa::path(put, path = "/v1/workspaces/{ws}/members/{user}", params(("ws" = String, Path), ("user" = String, Path)),
    request_body = RoleBody, responses((status = 200, description = "role changed", body = wire::Member)))]
pub async fn set_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, user)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> ApiResult<Json<wire::Member>> {
    let user = UserName::parse(&user)?;
    let role = Role::parse(&body.role)?;
    Ok(Json(super::wire_member(
        st.svc
            .set_member_role(&caller.principal, &ws, &user, role, &caller.ctx)
            .await?,
    )))
}

#[utoipa::path(delete, path = "/v1/workspaces/{ws}/members/{user}", params(("ws" = String, Path), ("user" = String, Path)),
    responses((status = 200, description = "removed", body = wire::Deleted)))]
pub async fn remove_member(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, user)): ApiPath<(String, String)>,
) -> ApiResult<Json<wire::Deleted>> {
    let user = UserName::parse(&user)?;
    st.svc
        .remove_member(&caller.principal, &ws, &user, &caller.ctx)
        .await?;
    Ok(Json(wire::Deleted { deleted: true }))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub limit: Option<u32>,
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/audit", params(("ws" = String, Path), ("limit" = Option<u32>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, description = "newest first", body = wire::AuditPage)))]
pub async fn audit(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<wire::AuditPage>> {
    Ok(Json(super::wire_audit(
        st.svc
            .audit_log(&caller.principal, &ws, q.before, q.limit, &caller.ctx)
            .await?,
    )))
}

/// Audit rows that belong to no workspace: the caller's own (personal tokens,
/// sessions, refused account-level attempts) and, for owners of a workspace, the
/// deployment's (`system`). People only.
#[utoipa::path(get, path = "/v1/audit", params(("limit" = Option<u32>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, description = "newest first: rows without a workspace the caller may see", body = wire::AuditPage)))]
pub async fn account_audit(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<wire::AuditPage>> {
    Ok(Json(super::wire_audit(
        st.svc
            .account_audit_log(&caller.principal, q.before, q.limit, &caller.ctx)
            .await?,
    )))
}

#[utoipa::path(post, path = "/v1/tokens", request_body = CreateTokenBody,
    responses((status = 201, description = "the token, shown once", body = wire::CreatedToken)))]
pub async fn create_token(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<CreateTokenBody>,
) -> ApiResult<(StatusCode, Json<wire::CreatedToken>)> {
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
    Ok((
        StatusCode::CREATED,
        Json(super::wire_created_token(created)),
    ))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokensQuery {
    pub workspace: Option<String>,
}

#[utoipa::path(get, path = "/v1/tokens", params(("workspace" = Option<String>, Query)),
    responses((status = 200, description = "never the tokens themselves", body = wire::TokenList)))]
pub async fn list_tokens(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<TokensQuery>,
) -> ApiResult<Json<wire::TokenList>> {
    let tokens = st
        .svc
        .list_tokens(&caller.principal, q.workspace.as_deref())
        .await?;
    Ok(Json(wire::TokenList {
        tokens: tokens.into_iter().map(super::wire_token).collect(),
    }))
}

#[utoipa::path(delete, path = "/v1/tokens/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "revoked", body = wire::Revoked)))]
pub async fn revoke_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<wire::Revoked>> {
    st.svc
        .revoke_token(&caller.principal, &id, &caller.ctx)
        .await?;
    Ok(Json(wire::Revoked { revoked: true }))
}

#[utoipa::path(patch, path = "/v1/tokens/{id}", params(("id" = String, Path)),
    request_body = UpdateTokenBody,
    responses((status = 200, description = "the token's new default", body = wire::TokenDefaults)))]
pub async fn update_token(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<UpdateTokenBody>,
) -> ApiResult<Json<wire::TokenDefaults>> {
    st.svc
        .set_token_default_workspace(
            &caller.principal,
            &id,
            body.default_workspace.as_deref(),
            &caller.ctx,
        )
        .await?;
    Ok(Json(wire::TokenDefaults {
        id,
        default_workspace: body.default_workspace,
    }))
}

#[utoipa::path(put, path = "/v1/workspaces/{ws}/bindings/{owner}", params(("ws" = String, Path), ("owner" = String, Path)),
    request_body = BindingsBody,
    responses((status = 200, description = "the owner's bindings now; bound secrets refuse deletion without force", body = wire::Bindings)))]
pub async fn put_bindings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, owner)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<BindingsBody>,
) -> ApiResult<Json<wire::Bindings>> {
    let uses = body
        .bindings
        .into_iter()
        .map(|b| (b.secret, b.location))
        .collect();
    let out = st
        .svc
        .put_bindings(&caller.principal, &ws, &owner, uses, &caller.ctx)
        .await?;
    Ok(Json(wire::Bindings {
        owner,
        bindings: out.into_iter().map(super::wire_binding).collect(),
    }))
}
