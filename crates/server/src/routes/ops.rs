//! Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI
//! document (its schemas are the wire crate's types, `lockbox-wire`), and the
//! request metrics (recorded by `edge.rs`).

use crate::AppState;
use axum::extract::State;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};
use std::time::Duration;
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

/// Counts and times one request by method, route template (never the raw path:
/// paths hold secret names, which are not values but have no business in labels)
/// and status. The handles of each label set are made once and kept: building a
/// metric key (its label strings, their hash, the registry lookup) cost more than
/// the cached read it measured.
pub fn record_request(method: &Method, route: &str, status: u16, elapsed: Duration) {
    static HANDLES: OnceLock<RwLock<HashMap<String, RouteHandles>>> = OnceLock::new();
    let handles = HANDLES.get_or_init(Default::default);
    // Any method a client can write becomes a label: the unknown ones share one.
    let method = match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let seconds = elapsed.as_secs_f64();
    {
        let map = handles.read().unwrap_or_else(|e| e.into_inner());
        if let Some(h) = map.get(route).and_then(|r| r.get(method, status)) {
            h.0.increment(1);
            h.1.record(seconds);
            return;
        }
    }
    let mut map = handles.write().unwrap_or_else(|e| e.into_inner());
    let h = map
        .entry(route.to_owned())
        .or_default()
        .get_or_make(method, route, status);
    h.0.increment(1);
    h.1.record(seconds);
}

/// The metric handles of one route template, by method and status (a handful).
#[derive(Default)]
struct RouteHandles(Vec<(&'static str, u16, Counter, Histogram)>);

impl RouteHandles {
    fn get(&self, method: &str, status: u16) -> Option<(&Counter, &Histogram)> {
        self.0
            .iter()
            .find(|(m, s, _, _)| *m == method && *s == status)
            .map(|(_, _, c, h)| (c, h))
    }

    fn get_or_make(
        &mut self,
        method: &'static str,
        route: &str,
        status: u16,
    ) -> (&Counter, &Histogram) {
        let at = match self
            .0
            .iter()
            .position(|(m, s, _, _)| *m == method && *s == status)
        {
            Some(i) => i,
            None => {
                let counter = metrics::counter!("lockbox_http_requests_total",
                    "method" => method, "route" => route.to_owned(), "status" => status.to_string());
                let histogram = metrics::histogram!("lockbox_http_request_duration_seconds",
                    "method" => method, "route" => route.to_owned());
                self.0.push((method, status, counter, histogram));
                self.0.len() - 1
            }
        };
        let (_, _, c, h) = &self.0[at];
        (c, h)
    }
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
