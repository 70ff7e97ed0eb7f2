//! Flows stored in Lockbox (seed 001's YAML automations): validated by the flow
//! runtime on the way in, their secret uses recorded as bindings (seed 003), and
//! run on the server as a run of the caller's workspace.

use crate::error::ApiError;
use crate::extract::{body_bytes, parse_json, ApiPath, Caller};
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use lockbox_automation::{Flow, FlowError};
use lockbox_core::{Error, ErrorCode, UserName};
use lockbox_runs::RunSpec;
use lockbox_wire as wire;
use lockbox_wire::RunFlowBody;
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/workspaces/{ws}/flows", get(list))
        .route(
            "/v1/workspaces/{ws}/flows/{slug}",
            get(get_flow).put(put_flow).delete(delete_flow),
        )
        .route("/v1/workspaces/{ws}/flows/{slug}/runs", post(run_flow))
}

type ApiResult<T> = Result<T, ApiError>;

/// A refused flow as an API error: `invalid` (what the parser and the validator
/// answer), with line, column and path in the message.
fn flow_error(e: FlowError) -> ApiError {
    let code = e.code.lockbox().unwrap_or(ErrorCode::Invalid);
    let mut message = e.message.clone();
    if let (Some(l), Some(c)) = (e.line, e.column) {
        message.push_str(&format!(" (line {l}, column {c})"));
    }
    if !e.path.is_empty() {
        message.push_str(&format!(" at {}", e.path));
    }
    ApiError::from(Error::new(code, message))
}

fn parse(slug: &str, yaml: &str) -> ApiResult<Flow> {
    let flow = Flow::from_yaml(yaml).map_err(flow_error)?;
    lockbox_automation::validate(&flow).map_err(flow_error)?;
    if let Some(own) = flow.slug.as_deref().filter(|s| *s != slug) {
        return Err(Error::invalid(format!("the flow's slug is '{own}', not '{slug}'")).into());
    }
    Ok(flow)
}

#[utoipa::path(put, path = "/v1/workspaces/{ws}/flows/{slug}", params(("ws" = String, Path), ("slug" = String, Path)),
    request_body(content = String, content_type = "application/yaml"),
    responses((status = 200, description = "stored; its secret uses become bindings", body = wire::StoredFlow),
              (status = 400, description = "invalid, with line and column")))]
pub async fn put_flow(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, slug)): ApiPath<(String, String)>,
    req: Request,
) -> ApiResult<Json<wire::StoredFlow>> {
    let bytes = body_bytes(req, &st).await?;
    let yaml =
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::invalid("a flow is UTF-8 YAML"))?;
    let flow = parse(&slug, &yaml)?;
    let uses: Vec<(String, String)> = lockbox_automation::bindings(&flow)
        .into_iter()
        .map(|b| (b.secret, b.path))
        .collect();
    let info = st
        .svc
        .put_flow(
            &caller.principal,
            &ws,
            &slug,
            yaml,
            uses.clone(),
            &caller.ctx,
        )
        .await?;
    Ok(Json(wire::StoredFlow {
        slug: info.slug,
        updated_at: info.updated_at,
        updated_by: info.updated_by,
        bindings: uses
            .into_iter()
            .map(|(secret, location)| wire::BindingUse { secret, location })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/flows/{slug}", params(("ws" = String, Path), ("slug" = String, Path)),
    responses((status = 200, description = "the flow's YAML")))]
pub async fn get_flow(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, slug)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let yaml = st
        .svc
        .get_flow(&caller.principal, &ws, &slug, &caller.ctx)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/yaml")], yaml).into_response())
}

#[utoipa::path(get, path = "/v1/workspaces/{ws}/flows", params(("ws" = String, Path)),
    responses((status = 200, description = "the workspace's flows", body = wire::FlowList)))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
) -> ApiResult<Json<wire::FlowList>> {
    let flows = st
        .svc
        .list_flows(&caller.principal, &ws, &caller.ctx)
        .await?;
    Ok(Json(wire::FlowList {
        flows: flows.into_iter().map(super::wire_flow).collect(),
    }))
}

#[utoipa::path(delete, path = "/v1/workspaces/{ws}/flows/{slug}", params(("ws" = String, Path), ("slug" = String, Path)),
    responses((status = 200, description = "deleted; its secrets are no longer bound by it", body = wire::Deleted)))]
pub async fn delete_flow(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, slug)): ApiPath<(String, String)>,
) -> ApiResult<Json<wire::Deleted>> {
    st.svc
        .delete_flow(&caller.principal, &ws, &slug, &caller.ctx)
        .await?;
    Ok(Json(wire::Deleted { deleted: true }))
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/flows/{slug}/runs", params(("ws" = String, Path), ("slug" = String, Path)),
    request_body = RunFlowBody,
    responses((status = 200, description = "the run's lines and output or error, all redacted", body = wire::FlowRun)))]
pub async fn run_flow(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath((ws, slug)): ApiPath<(String, String)>,
    req: Request,
) -> ApiResult<Json<wire::FlowRun>> {
    let bytes = body_bytes(req, &st).await?;
    let body: RunFlowBody = if bytes.is_empty() {
        RunFlowBody::default()
    } else {
        parse_json(&bytes)?
    };
    let yaml = st
        .svc
        .get_flow(&caller.principal, &ws, &slug, &caller.ctx)
        .await?;
    let flow = parse(&slug, &yaml)?;
    let user = body.user.as_deref().map(UserName::parse).transpose()?;
    let trigger = body.trigger.unwrap_or_else(|| "manual".into());
    // The run knows its flow: it may delete a secret only this flow binds.
    let spec = RunSpec {
        workspace: &ws,
        flow: Some(&slug),
        user: user.as_ref(),
        trigger: &trigger,
        ttl: None,
    };
    let module = st.runs.open(&caller.principal, &spec, &caller.ctx).await?;
    let mut lines = Vec::new();
    let result =
        lockbox_automation::run_flow(&flow, &module, body.config.unwrap_or_default(), &mut |l| {
            lines.push(serde_json::to_value(&l).unwrap_or(Value::Null))
        })
        .await;
    let run_id = module.run_id().to_owned();
    Ok(Json(match result {
        Ok(r) => wire::FlowRun {
            run_id,
            status: "succeeded".into(),
            lines,
            // A succeeded run always names its output: `null` for a flow without one.
            output: Some(r.output.unwrap_or(Value::Null)),
            warnings: Some(r.warnings),
            error: None,
        },
        Err(e) => wire::FlowRun {
            run_id,
            status: "failed".into(),
            lines,
            output: None,
            warnings: None,
            error: Some(serde_json::to_value(&e).unwrap_or_default()),
        },
    }))
}
