//! The automation API (seed 001): `POST /v1/runs` opens a run; a run token then
//! uses `/v1/run/secrets/{set,get,delete}` (answers are references, never values),
//! `/v1/run/fetch` (the egress executor resolves references and redacts the
//! response) and `/v1/run/redact` (scrubs log lines and event payloads of the
//! values behind the references the run holds). `DELETE /v1/runs/{id}` ends a run.

use crate::error::ApiError;
use crate::extract::{Caller, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete as delete_route, post};
use axum::{Json, Router};
use lockbox_core::{Error, ErrorCode, Scope, SecretName, UserName};
use lockbox_wire as wire;
use lockbox_wire::{
    OpenRunBody, RedactBody, RunDeleteBody as DeleteBody, RunGetBody as GetBody,
    RunSetBody as SetBody,
};
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/runs", post(open_run))
        .route("/v1/runs/{id}", delete_route(end_run))
        .route("/v1/run/secrets/set", post(set))
        .route("/v1/run/secrets/get", post(get))
        .route("/v1/run/secrets/delete", post(delete))
        .route("/v1/run/fetch", post(fetch))
        .route("/v1/run/redact", post(redact))
}

type ApiResult<T> = Result<T, ApiError>;

#[utoipa::path(post, path = "/v1/runs", request_body = OpenRunBody,
    responses((status = 201, description = "the run token is shown once", body = wire::OpenedRun)))]
pub async fn open_run(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<OpenRunBody>,
) -> ApiResult<(StatusCode, Json<wire::OpenedRun>)> {
    let user = body.user.as_deref().map(UserName::parse).transpose()?;
    let run = st
        .svc
        .open_run(
            &caller.principal,
            &body.workspace,
            user.as_ref(),
            &body.trigger,
            body.ttl,
            &caller.ctx,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(super::wire_opened_run(run))))
}

#[utoipa::path(delete, path = "/v1/runs/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "the run token and its references stop working", body = wire::Ended),
              (status = 404, description = "no such run, or already ended")))]
pub async fn end_run(
    State(st): State<AppState>,
    caller: Caller,
    crate::extract::ApiPath(id): crate::extract::ApiPath<String>,
) -> ApiResult<Json<wire::Ended>> {
    st.svc.end_run(&caller.principal, &id, &caller.ctx).await?;
    Ok(Json(wire::Ended { ended: true }))
}

fn scope_of(s: &str) -> Result<Scope, Error> {
    Scope::parse(s)
}

#[utoipa::path(post, path = "/v1/run/secrets/set", request_body = SetBody,
    responses((status = 200, description = "a reference to the stored value", body = wire::SecretRef)))]
pub async fn set(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<SetBody>,
) -> ApiResult<Json<wire::SecretRef>> {
    let name = SecretName::parse(&b.name)?;
    let r = st
        .svc
        .run_set_secret(
            &caller.principal,
            &name,
            b.value,
            scope_of(&b.scope)?,
            b.ttl,
            None,
            &caller.ctx,
        )
        .await?;
    Ok(Json(wire::SecretRef { reference: r }))
}

#[utoipa::path(post, path = "/v1/run/secrets/get", request_body = GetBody,
    responses((status = 200, description = "a reference to the value", body = wire::SecretRef), (status = 404, description = "{\"error\": \"not_found\"}")))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<GetBody>,
) -> ApiResult<Json<wire::SecretRef>> {
    let name = SecretName::parse(&b.name)?;
    let r = st
        .svc
        .run_get_secret(
            &caller.principal,
            &name,
            scope_of(&b.scope)?,
            b.field.as_deref(),
            &caller.ctx,
        )
        .await?;
    Ok(Json(wire::SecretRef { reference: r }))
}

#[utoipa::path(post, path = "/v1/run/secrets/delete", request_body = DeleteBody,
    responses((status = 200, description = "deleted", body = wire::Deleted)))]
pub async fn delete(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<DeleteBody>,
) -> ApiResult<Json<wire::Deleted>> {
    let name = SecretName::parse(&b.name)?;
    st.svc
        .run_delete_secret(&caller.principal, &name, scope_of(&b.scope)?, &caller.ctx)
        .await?;
    Ok(Json(wire::Deleted { deleted: true }))
}

#[utoipa::path(post, path = "/v1/run/fetch", request_body(content = Object),
    responses((status = 200, description = "{\"status\", \"headers\", \"body\"}, every resolved value redacted"),
              (status = 403, description = "egress_denied: a host a secret may not go to, or a private address")))]
pub async fn fetch(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(req): JsonBody<lockbox_egress::FetchRequest>,
) -> ApiResult<Json<Value>> {
    let answer = st.runs.fetch(&caller.principal, req, &caller.ctx).await?;
    Ok(Json(answer))
}

#[utoipa::path(post, path = "/v1/run/redact", request_body = RedactBody,
    responses((status = 200, description = "what was sent, the values behind `refs` masked", body = wire::Redacted),
              (status = 429, description = "rate_limited: too many redactions for this run")))]
pub async fn redact(
    State(st): State<AppState>,
    caller: Caller,
    JsonBody(b): JsonBody<RedactBody>,
) -> ApiResult<Json<wire::Redacted>> {
    if b.lines.is_none() && b.event.is_none() {
        return Err(ApiError::new(
            ErrorCode::Invalid,
            "send {\"lines\": [...]} or {\"event\": ...}, with the run's references in \"refs\"",
        ));
    }
    let (lines, event) = st
        .svc
        .run_redact(&caller.principal, &b.refs, b.lines, b.event, &caller.ctx)
        .await?;
    Ok(Json(wire::Redacted { lines, event }))
}
