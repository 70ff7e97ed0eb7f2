//! `/v1/workspaces/{ws}/secrets…`: thin handlers that parse the request into
//! service types, call the service, and shape the answer.

use crate::error::ApiError;
use crate::extract::{
    body_bytes, if_match, media_type, parse_json, ApiPath, ApiQuery, Caller, JsonBody, ScopeQuery,
};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lockbox_core::{ErrorCode, Scope, SecretName, Visibility};
use lockbox_service::{PatchDoc, PutSecret, SecretMeta};
use lockbox_wire as wire;
use lockbox_wire::{PutBody, RenameBody, RollbackBody, SecretSettingsPatch, VersionsBody};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/secrets", get(list))
        .route(
            "/v1/workspaces/{ws}/secrets/{name}",
            get(metadata).put(put_secret).delete(delete).patch(patch),
        )
        .route("/v1/workspaces/{ws}/secrets/{name}/reveal", post(reveal))
        .route("/v1/workspaces/{ws}/secrets/{name}/versions", get(versions))
        .route(
            "/v1/workspaces/{ws}/secrets/{name}/rollback",
            post(rollback),
        )
        .route("/v1/workspaces/{ws}/secrets/{name}/rename", post(rename))
        .route(
            "/v1/workspaces/{ws}/secrets/{name}/versions/{op}",
            post(change_versions),
        )
        .route(
            "/v1/workspaces/{ws}/secrets/{name}/settings",
            axum::routing::patch(patch_settings),
        )
}

fn parse_name(ws_and_name: (String, String)) -> Result<(String, SecretName), ApiError> {
    let (ws, name) = ws_and_name;
    Ok((ws, SecretName::parse(&name)?))
}

/// `If-None-Match: *` on PUT: create only, never overwrite.
fn if_none_match_any(headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(header::IF_NONE_MATCH) {
        None => Ok(false),
        Some(v) if v.as_bytes() == b"*" => Ok(true),
        Some(_) => Err(ApiError::new(
            ErrorCode::Invalid,
            "If-None-Match takes only '*' (create only)",
        )),
    }
}

fn meta_response(status: StatusCode, meta: SecretMeta) -> Response {
    let etag = format!("\"{}\"", meta.version);
    let mut resp = (status, Json(super::wire_meta(meta))).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

#[utoipa::path(put, path = "/v1/workspaces/{ws}/secrets/{name}", request_body = PutBody,
    params(("ws" = String, Path), ("name" = String, Path, description = "percent-encoded secret name"),
           ("scope" = Option<String>, Query, description = "workspace (default) or user")),
    responses((status = 201, description = "created", body = wire::SecretMeta),
              (status = 200, description = "updated", body = wire::SecretMeta),
              (status = 412, description = "If-Match did not match")))]
pub async fn put_secret(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<PutBody>,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let req = PutSecret {
        value: body.value,
        description: body.description,
        visibility: body
            .visibility
            .as_deref()
            .map(Visibility::parse)
            .transpose()?,
        ttl_seconds: body.ttl,
        if_match: if_match(&headers)?,
        allowed_hosts: body.allowed_hosts,
        create_only: if_none_match_any(&headers)?,
        labels: body.labels,
    };
    let (meta, created) = st
        .svc
        .put_secret(&caller.principal, &ws, q.scope()?, &name, req, &caller.ctx)
        .await?;
    Ok(meta_response(
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        },
        meta,
    ))
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/secrets/{name}",
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query)),
    responses((status = 200, description = "metadata, never the value", body = wire::SecretMeta), (status = 404, description = "no such secret")))]
pub async fn metadata(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let meta = st
        .svc
        .secret_metadata(&caller.principal, &ws, q.scope()?, &name, &caller.ctx)
        .await?;
    Ok(meta_response(StatusCode::OK, meta))
}

#[utoipa::path(delete, path = "/v1/workspaces/{ws}/secrets/{name}",
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query),
           ("force" = Option<bool>, Query, description = "delete even though flows use it (audited)")),
    responses((status = 200, description = "deleted", body = wire::Deleted),
              (status = 409, description = "secret_in_use: a flow uses it")))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<Json<wire::Deleted>, ApiError> {
    let (ws, name) = parse_name(path)?;
    let scope = ScopeQuery { scope: q.scope }.scope()?;
    st.svc
        .delete_secret(
            &caller.principal,
            &ws,
            scope,
            &name,
            q.force.unwrap_or(false),
            &caller.ctx,
        )
        .await?;
    Ok(Json(wire::Deleted { deleted: true }))
}

#[utoipa::path(patch, path = "/v1/workspaces/{ws}/secrets/{name}",
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query)),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, description = "patched", body = wire::SecretMeta), (status = 412, description = "stale If-Match"),
              (status = 415, description = "neither merge patch nor JSON Patch")))]
pub async fn patch(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
    headers: HeaderMap,
    req: Request,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let content_type = media_type(&headers);
    let bytes = body_bytes(req, &st).await?;
    let doc = match content_type.as_str() {
        "application/merge-patch+json" => PatchDoc::Merge(parse_json(&bytes)?),
        "application/json-patch+json" => PatchDoc::JsonPatch(parse_json(&bytes)?),
        _ => return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "PATCH takes Content-Type application/merge-patch+json or application/json-patch+json",
        )),
    };
    let meta = st
        .svc
        .patch_secret(
            &caller.principal,
            &ws,
            q.scope()?,
            &name,
            doc,
            if_match(&headers)?,
            &caller.ctx,
        )
        .await?;
    Ok(meta_response(StatusCode::OK, meta))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    pub scope: Option<String>,
    pub force: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RevealQuery {
    pub scope: Option<String>,
    pub version: Option<u64>,
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/secrets/{name}/reveal",
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query), ("version" = Option<u64>, Query)),
    responses((status = 200, description = "the value and its version; audited", body = wire::Revealed),
              (status = 403, description = "restricted, or the role may not reveal")))]
pub async fn reveal(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<RevealQuery>,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let scope = ScopeQuery { scope: q.scope }.scope()?;
    let (value, version) = st
        .svc
        .reveal_secret(&caller.principal, &ws, scope, &name, q.version, &caller.ctx)
        .await?;
    // The body is assembled from the canonical JSON bytes so the plaintext is not
    // copied into an intermediate serde value.
    let mut body = Vec::with_capacity(value.len() + 32);
    body.extend_from_slice(b"{\"value\":");
    // EXPOSE: an authorized, audited reveal is the one response that carries a value.
    body.extend_from_slice(value.expose());
    body.extend_from_slice(format!(",\"version\":{version}}}").as_bytes());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/secrets/{name}/versions",
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query)),
    responses((status = 200, description = "newest first", body = wire::VersionList)))]
pub async fn versions(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
) -> Result<Json<wire::VersionList>, ApiError> {
    let (ws, name) = parse_name(path)?;
    let versions = st
        .svc
        .list_versions(&caller.principal, &ws, q.scope()?, &name, &caller.ctx)
        .await?;
    Ok(Json(super::wire_versions(versions)))
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/secrets/{name}/rollback", request_body = RollbackBody,
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query)),
    responses((status = 200, description = "a new version equal to the old one", body = wire::SecretMeta)))]
pub async fn rollback(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
    JsonBody(body): JsonBody<RollbackBody>,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let meta = st
        .svc
        .rollback_secret(
            &caller.principal,
            &ws,
            q.scope()?,
            &name,
            body.version,
            &caller.ctx,
        )
        .await?;
    Ok(meta_response(StatusCode::OK, meta))
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/secrets/{name}/rename", request_body = RenameBody,
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query),
           ("force" = Option<bool>, Query, description = "rename even though flows use it: their bindings move with the name (audited)")),
    responses((status = 200, description = "renamed", body = wire::SecretMeta), (status = 403, description = "renames disabled"),
              (status = 409, description = "name taken, or secret_in_use: a flow uses it")))]
pub async fn rename(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<DeleteQuery>,
    JsonBody(body): JsonBody<RenameBody>,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let new_name = SecretName::parse(&body.name)?;
    let scope = ScopeQuery { scope: q.scope }.scope()?;
    let meta = st
        .svc
        .rename_secret(
            &caller.principal,
            &ws,
            scope,
            &name,
            &new_name,
            q.force.unwrap_or(false),
            &caller.ctx,
        )
        .await?;
    Ok(meta_response(StatusCode::OK, meta))
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub scope: Option<String>,
    pub prefix: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/secrets",
    params(("ws" = String, Path), ("scope" = Option<String>, Query), ("prefix" = Option<String>, Query),
           ("limit" = Option<u32>, Query), ("cursor" = Option<String>, Query)),
    responses((status = 200, description = "one page", body = wire::SecretPage)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<wire::SecretPage>, ApiError> {
    let scope: Scope = ScopeQuery { scope: q.scope }.scope()?;
    let page = st
        .svc
        .list_secrets(
            &caller.principal,
            &ws,
            scope,
            q.prefix,
            q.limit,
            q.cursor.as_deref(),
            &caller.ctx,
        )
        .await?;
    Ok(Json(wire::SecretPage {
        secrets: page.secrets.into_iter().map(super::wire_meta).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/secrets/{name}/versions/{op}", request_body = VersionsBody,
    params(("ws" = String, Path), ("name" = String, Path),
           ("op" = String, Path, description = "delete (soft, recoverable), undelete, or destroy (ciphertext removed for good)"),
           ("scope" = Option<String>, Query)),
    responses((status = 200, description = "the secret's versions after the change", body = wire::VersionList),
              (status = 409, description = "secret_in_use: a bound secret's versions are not deleted or destroyed")))]
pub async fn change_versions(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
    JsonBody(body): JsonBody<VersionsBody>,
) -> Result<Json<wire::VersionList>, ApiError> {
    let (ws, name, op) = path;
    let (ws, name) = parse_name((ws, name))?;
    let scope = q.scope()?;
    let (p, ctx) = (&caller.principal, &caller.ctx);
    match op.as_str() {
        "delete" => {
            st.svc
                .delete_versions(p, &ws, scope, &name, &body.versions, ctx)
                .await?
        }
        "undelete" => {
            st.svc
                .undelete_versions(p, &ws, scope, &name, &body.versions, ctx)
                .await?
        }
        "destroy" => {
            st.svc
                .destroy_versions(p, &ws, scope, &name, &body.versions, ctx)
                .await?
        }
        _ => {
            return Err(ApiError::new(
                ErrorCode::NotFound,
                "versions operations are delete, undelete and destroy",
            ))
        }
    }
    let versions = st.svc.list_versions(p, &ws, scope, &name, ctx).await?;
    Ok(Json(super::wire_versions(versions)))
}

#[utoipa::path(patch, path = "/v1/workspaces/{ws}/secrets/{name}/settings", request_body = SecretSettingsPatch,
    params(("ws" = String, Path), ("name" = String, Path), ("scope" = Option<String>, Query)),
    responses((status = 200, description = "the secret's metadata", body = wire::SecretMeta)))]
pub async fn patch_settings(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(path): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<ScopeQuery>,
    JsonBody(body): JsonBody<SecretSettingsPatch>,
) -> Result<Response, ApiError> {
    let (ws, name) = parse_name(path)?;
    let patch = lockbox_service::SecretSettingsPatch {
        description: body.description,
        labels: body.labels,
        max_versions: body.max_versions,
        cas_required: body.cas_required,
        delete_version_after: body.delete_version_after,
    };
    let meta = st
        .svc
        .update_secret_settings(
            &caller.principal,
            &ws,
            q.scope()?,
            &name,
            patch,
            &caller.ctx,
        )
        .await?;
    Ok(meta_response(StatusCode::OK, meta))
}
