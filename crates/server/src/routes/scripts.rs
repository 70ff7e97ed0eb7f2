//! `POST /v1/workspaces/{ws}/scripts/run`: runs a seed 000 script on the server as
//! a run of the workspace (opened for the caller, who must be allowed to open runs).
//! The answer holds only redacted logs and messages.

use crate::error::ApiError;
use crate::extract::{ApiPath, Caller, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use lockbox_automation::script::run_script;
use lockbox_core::{Error, UserName};
use lockbox_runs::{EmbeddedScriptHost, RunSpec};
use lockbox_wire as wire;
use lockbox_wire::RunScriptBody;
use serde_json::Value;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/workspaces/{ws}/scripts/run", post(run))
}

#[utoipa::path(post, path = "/v1/workspaces/{ws}/scripts/run", params(("ws" = String, Path)),
    request_body = RunScriptBody,
    responses((status = 200, description = "the run's status, logs and message, redacted", body = wire::ScriptRun)))]
pub async fn run(
    State(st): State<AppState>,
    caller: Caller,
    ApiPath(ws): ApiPath<String>,
    JsonBody(body): JsonBody<RunScriptBody>,
) -> Result<Json<wire::ScriptRun>, ApiError> {
    if body.source.len() > 1024 * 1024 {
        return Err(Error::too_large("a script is at most 1 MiB").into());
    }
    let user = body.user.as_deref().map(UserName::parse).transpose()?;
    let trigger = body.trigger.unwrap_or_else(|| "manual".into());
    let spec = RunSpec {
        workspace: &ws,
        flow: None,
        user: user.as_ref(),
        trigger: &trigger,
        ttl: None,
    };
    let host = EmbeddedScriptHost::from(st.runs.open(&caller.principal, &spec, &caller.ctx).await?);
    let request = body.request.unwrap_or(Value::Null);
    Ok(Json(super::wire_script_run(
        run_script(&body.source, request, &host).await,
    )))
}
