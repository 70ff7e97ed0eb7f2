//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI
//! document (its schemas are the wire crate's types, `lockbox-wire`), and the
//! metrics middleware.

use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use utoipa::OpenApi;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/openapi.json", get(openapi))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Ready when the store commits a probe write within the readiness deadline;
/// else 503 with `Retry-After` and the reason (disk full or read-only, database
/// unreachable or not answering).
async fn readyz(State(st): State<AppState>) -> Response {
    // A node that lacks the master key version in use cannot serve reveals or
    // writes: out of the load balancer until it gets the key.
    if let Some(reason) = st.svc.key_problem() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(
                header::RETRY_AFTER,
                crate::error::UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
            )],
            Json(serde_json::json!({"status": "unavailable", "reason": reason})),
        )
            .into_response();
    }
    let limit = st.limits.readyz_timeout;
    let reason = match tokio::time::timeout(limit, st.svc.readiness()).await {
        Ok(Ok(())) => return Json(serde_json::json!({"status": "ready"})).into_response(),
        Ok(Err(e)) => e.message,
        Err(_) => format!(
            "the store did not commit a probe write within {} ms",
            limit.as_millis()
        ),
    };
    tracing::warn!(reason = %reason, "not ready");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(
            header::RETRY_AFTER,
            crate::error::UNAVAILABLE_RETRY_AFTER_SECS.to_string(),
        )],
        Json(serde_json::json!({"status": "unavailable", "reason": reason})),
    )
        .into_response()
}

/// The process-wide Prometheus recorder (installed once, shared by every server
/// started in this process).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (an embedding program's); then
        // our handle simply renders nothing new.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

async fn metrics_text() -> Response {
    prometheus().run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        prometheus().render(),
    )
        .into_response()
}

/// The route template a response answered (for the 5xx log line; never the raw
/// path, which holds secret names).
#[derive(Debug, Clone)]
pub struct RouteOf(pub String);

/// Counts requests and times them by route template (never by raw path: paths
/// hold secret names, which are not values but have no business in labels).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().as_str().to_owned();
    let request_id = req
        .extensions()
        .get::<crate::extract::RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let start = std::time::Instant::now();
    let mut resp = next.run(req).await;
    let elapsed = start.elapsed();
    resp.extensions_mut().insert(RouteOf(route.clone()));
    // One line per request at debug: route template, never the raw path or query.
    // (At tens of thousands of requests a second an info-level access log would
    // cost more than the request; the audit log is the record of what happened.)
    tracing::debug!(
        method = %method,
        route = %route,
        status = resp.status().as_u16(),
        ms = elapsed.as_secs_f64() * 1000.0,
        request_id = %request_id,
        "request"
    );
    let status = resp.status().as_u16().to_string();
    metrics::counter!("lockbox_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("lockbox_http_request_duration_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    resp
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Lockbox",
        description = "Secrets for automation platforms. See docs/api.md."
    ),
    paths(
        crate::routes::secrets::list,
        crate::routes::secrets::put_secret,
        crate::routes::secrets::metadata,
        crate::routes::secrets::delete,
        crate::routes::secrets::patch,
        crate::routes::secrets::reveal,
        crate::routes::secrets::versions,
        crate::routes::secrets::rollback,
        crate::routes::secrets::rename,
        crate::routes::secrets::change_versions,
        crate::routes::secrets::patch_settings,
        crate::routes::admin::me,
        crate::routes::admin::list_workspaces,
        crate::routes::admin::create_workspace,
        crate::routes::admin::delete_workspace,
        crate::routes::admin::get_settings,
        crate::routes::admin::patch_settings,
        crate::routes::admin::list_members,
        crate::routes::admin::add_member,
        crate::routes::admin::set_member,
        crate::routes::admin::remove_member,
        crate::routes::admin::audit,
        crate::routes::admin::account_audit,
        crate::routes::admin::create_token,
        crate::routes::admin::list_tokens,
        crate::routes::admin::revoke_token,
        crate::routes::admin::update_token,
        crate::routes::admin::put_bindings,
        crate::routes::flows::put_flow,
        crate::routes::flows::get_flow,
        crate::routes::flows::list,
        crate::routes::flows::delete_flow,
        crate::routes::flows::run_flow,
        crate::routes::scripts::run,
        crate::routes::runs::open_run,
        crate::routes::runs::end_run,
        crate::routes::runs::set,
        crate::routes::runs::get,
        crate::routes::runs::delete,
        crate::routes::runs::fetch,
        crate::routes::runs::redact,
    ),
    // Every error answer's body (`docs/api.md`, "Errors"): no handler names it, the
    // error mapping writes it. The 2xx bodies come in through the handlers' `body =`.
    components(schemas(lockbox_wire::ErrorBody))
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
