//! The HashiCorp Vault KV version 2 compatible API, under `/vault` on the same
//! listener (`VAULT_ADDR=http://127.0.0.1:8270/vault`), so existing Vault clients
//! (hvac, vaultrs, the `vault kv` CLI, curl) work by changing only `VAULT_ADDR` and
//! `VAULT_TOKEN`.
//!
//! This module owns the routing of Vault paths and methods (including `LIST`), the
//! envelope, and the translation to and from the service's types. Every rule
//! (roles, visibility, audit, bindings, versions, TTL) stays in `lockbox_service`:
//! this layer must never decide who may do what, and its errors are rendered by
//! `crate::error::VaultError`, never in the native shape.

mod envelope;
mod kv;
mod request;
mod sys;

pub use request::vault_addressable;

/// The parsers of untrusted Vault input, public for the fuzz targets (`fuzz/`).
pub mod parse {
    pub use super::envelope::{go_duration, parse_duration};
    pub use super::request::{api_path, secret_name};
}

use crate::error::VaultError;
use crate::extract::RequestId;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use lockbox_core::Scope;
use request::{VaultCaller, Verb};
use std::collections::HashMap;

/// Every path under `/vault` (and `/v1/vault`, where vaultrs sends a `VAULT_ADDR`
/// that has a path), every method: one dispatcher, so unknown paths and methods
/// get Vault's error shape rather than the native fallbacks.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vault", any(dispatch))
        .route("/vault/", any(dispatch))
        .route("/vault/{*path}", any(dispatch))
        .route("/v1/vault", any(dispatch))
        .route("/v1/vault/", any(dispatch))
        .route("/v1/vault/{*path}", any(dispatch))
}

/// True for request paths this module answers (so middleware that refuses a
/// request early can answer in Vault's shape).
pub fn is_vault_path(path: &str) -> bool {
    path == "/vault"
        || path.starts_with("/vault/")
        || path == "/v1/vault"
        || path.starts_with("/v1/vault/")
}

async fn dispatch(State(st): State<AppState>, req: Request) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    match handle(&st, req, &request_id).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(st: &AppState, req: Request, request_id: &str) -> Result<Response, VaultError> {
    let path = request::api_path(req.uri().path())?;
    let query: HashMap<String, String> =
        axum::extract::Query::<HashMap<String, String>>::try_from_uri(req.uri())
            .map(|q| q.0)
            .map_err(|_| VaultError::invalid("invalid: malformed query string"))?;
    let list = query
        .get("list")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let verb = Verb::of(req.method(), list);
    let headers = req.headers().clone();
    // Response wrapping would hand the value to whoever unwraps it; Lockbox does
    // not wrap, and must not answer such a request in plaintext instead.
    if headers.contains_key("x-vault-wrap-ttl") {
        return Err(VaultError::invalid(
            "invalid: response wrapping (X-Vault-Wrap-TTL) is not supported by Lockbox",
        ));
    }
    if path == "sys/health" || path == "sys/seal-status" || path == "sys/init" {
        return match (req.method().as_str(), path.as_str()) {
            ("GET" | "HEAD", "sys/health") => Ok(sys::health(st).await),
            ("GET", "sys/init") => Ok(sys::init_status()),
            ("GET", _) => Ok(sys::seal_status(st).await),
            _ => Err(unsupported_operation()),
        };
    }
    let client = crate::limits::client_addr(req.extensions());
    let caller = VaultCaller::authenticate(st, &headers, client, request_id).await?;
    // The body is read only for an authenticated caller.
    let body = Bytes::from_request(req, &()).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            VaultError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large: request body is larger than this server accepts",
            )
        } else {
            VaultError::invalid("invalid: request body could not be read")
        }
    })?;
    let (mount, rest) = path.split_once('/').unwrap_or((path.as_str(), ""));
    let scope = match mount {
        "secret" => Scope::Workspace,
        "private" => Scope::User,
        "sys" => {
            return match (rest, verb) {
                ("mounts", Verb::Read) => Ok(sys::mounts(request_id)),
                ("internal/ui/mounts", Verb::Read) => sys::ui_mount(request_id, ""),
                (r, Verb::Read) if r.starts_with("internal/ui/mounts/") => {
                    sys::ui_mount(request_id, &r["internal/ui/mounts/".len()..])
                }
                _ => Err(VaultError::new(StatusCode::NOT_FOUND, "unsupported path")),
            }
        }
        "auth" => {
            return match (rest, verb) {
                ("token/lookup-self", Verb::Read | Verb::Write) => {
                    sys::lookup_self(st, &caller, request_id).await
                }
                _ => Err(VaultError::new(StatusCode::NOT_FOUND, "unsupported path")),
            }
        }
        // Vault answers a path under no mount with 403.
        _ => return Err(VaultError::permission_denied()),
    };
    let (op, secret_path) = rest.split_once('/').unwrap_or((rest, ""));
    kv::handle(kv::KvRequest {
        st,
        caller: &caller,
        request_id,
        scope,
        verb,
        op,
        path: secret_path,
        query: &query,
        headers: &headers,
        body,
    })
    .await
}

fn unsupported_operation() -> VaultError {
    VaultError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation")
}

/// Answers a request the middleware refused before routing (malformed
/// percent-encoding) in Vault's shape.
pub fn refused(message: &str) -> Response {
    VaultError::invalid(format!("invalid: {message}")).into_response()
}
