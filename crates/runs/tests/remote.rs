//! The remote module reads the server's error code as Lockbox's enum; an answer
//! without a Lockbox body (a proxy's page) is classed by its status, not called
//! `internal`.

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use lockbox_automation::SecretsModule;
use lockbox_core::ErrorCode;
use lockbox_runs::RemoteModule;
use serde_json::json;

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn error_codes_arrive_typed() {
    let app = Router::new()
        .route(
            "/v1/run/fetch",
            post(|| async {
                (
                    StatusCode::FORBIDDEN,
                    Json(json!({"error": "egress_denied", "message": "not to that host"})),
                )
            }),
        )
        .route(
            "/v1/run/secrets/get",
            post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "upstream proxy is down") }),
        )
        .route(
            "/v1/run/secrets/delete",
            post(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"error": "not_found", "message": "secret 'x' not found"})),
                )
            }),
        );
    let base = serve(app).await;
    let m = RemoteModule::new(&base, "lbr_test").unwrap();

    let e = m
        .fetch(json!({"url": "https://x.example"}))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::EgressDenied, "not to that host")
    );
    let e = m.get("x", "workspace", None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::Unavailable, "{e}");
    let e = m.delete("x", "workspace").await.unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
}
