//! The web console: server-rendered HTML pages under `/console/…` (plus `/`, which
//! redirects there), with templates, one script and one stylesheet compiled into
//! the binary. It is a thin transport like the `/v1` API: every page and action
//! calls `lockbox_service::Lockbox` with the session's principal, and the service
//! enforces every rule; the console only decides which controls to show.
//!
//! What it owns: the session cookie, CSRF and Origin checks (`session.rs`), the
//! security headers on every console response, HTML error pages with stable codes.
//! What it must never do: put a secret value into a page (only the reveal action's
//! JSON answer carries one), accept a bearer token, or let the `/v1` API accept the
//! cookie.

mod actions;
mod assets;
mod audit;
mod flash;
mod pages;
mod session;
mod transfer;
mod view;

use session::ConsoleForm;
pub use session::Tls;

use crate::AppState;
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use lockbox_core::ErrorCode;

/// The strict Content-Security-Policy every console response carries.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes; merged into the main router with one line.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(pages::home))
        .route("/console/go", get(pages::go))
        .route(
            "/console/sign-in",
            get(pages::sign_in_page).post(actions::sign_in),
        )
        .route("/console/sign-out", post(actions::sign_out))
        .route(
            "/console/w/{ws}/secrets",
            get(pages::secrets).post(actions::create_secret),
        )
        .route("/console/w/{ws}/secrets/edit", post(actions::edit_secret))
        .route(
            "/console/w/{ws}/secrets/delete",
            post(actions::delete_secret),
        )
        .route("/console/w/{ws}/secrets/reveal", post(actions::reveal))
        .route(
            "/console/w/{ws}/import",
            get(transfer::page).post(transfer::import),
        )
        .route("/console/w/{ws}/import/preview", post(transfer::preview))
        .route(
            "/console/w/{ws}/export",
            get(transfer::export_names).post(transfer::export_values),
        )
        .route("/console/w/{ws}/secret", get(pages::secret))
        .route(
            "/console/w/{ws}/secret/rollback",
            post(actions::rollback_secret),
        )
        .route("/console/w/{ws}/members", get(pages::members))
        .route("/console/w/{ws}/members/add", post(actions::add_member))
        .route("/console/w/{ws}/members/role", post(actions::set_role))
        .route(
            "/console/w/{ws}/members/remove",
            post(actions::remove_member),
        )
        .route("/console/w/{ws}/tokens", get(pages::tokens))
        .route("/console/w/{ws}/tokens/create", post(actions::create_token))
        .route("/console/w/{ws}/tokens/revoke", post(actions::revoke_token))
        .route("/console/w/{ws}/audit", get(audit::audit))
        .route("/console/w/{ws}/audit/export", get(audit::export))
        .route("/console/assets/{file}", get(assets::serve))
        .route("/console/{*rest}", any(pages::not_found))
        .layer(axum::middleware::from_fn(same_origin_only))
        .layer(axum::middleware::from_fn(security_headers))
        .layer(axum::middleware::from_fn(breach_guard))
        .layer(
            tower_http::compression::CompressionLayer::new()
                .gzip(true)
                .compress_when(Compressible),
        )
}

/// Marks a response that must never be compressed (BREACH): it carries a secret
/// value or a fresh token beside text someone else may have chosen. See
/// docs/threat-model.md ("Compression").
#[derive(Clone, Copy, Debug)]
pub struct NoCompress;

/// Every answer to a state-changing request is marked [`NoCompress`]: the reveal
/// JSON, a re-rendered form, anything an action answers.
async fn breach_guard(req: Request, next: Next) -> Response {
    let changing = state_changing(req.method());
    let mut resp = next.run(req).await;
    if changing {
        resp.extensions_mut().insert(NoCompress);
    }
    resp
}

/// The compression rule: only HTML, CSS and JavaScript, at least 256 bytes, and
/// never a response marked [`NoCompress`] (so never JSON: the reveal answer is
/// JSON, and so is every error the script reads).
#[derive(Clone, Copy, Debug)]
struct Compressible;

impl tower_http::compression::Predicate for Compressible {
    fn should_compress<B>(&self, response: &axum::http::Response<B>) -> bool
    where
        B: axum::body::HttpBody,
    {
        if response.extensions().get::<NoCompress>().is_some() {
            return false;
        }
        let text = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| {
                ct.starts_with("text/html")
                    || ct.starts_with("text/css")
                    || ct.starts_with("text/javascript")
            });
        let big = response.body().size_hint().exact().is_none_or(|n| n >= 256);
        text && big
    }
}

/// Headers on every console response: no framing, no inline script, no referrer
/// to other sites. (`Referrer-Policy: same-origin` rather than `no-referrer`: under
/// `no-referrer` Chromium sends `Origin: null` on same-origin form posts, which would
/// make the Origin check below useless.)
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Hashed assets say how long they keep (forever); everything else: no-store.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}

/// True for methods that change state (everything but GET, HEAD, OPTIONS).
pub(crate) fn state_changing(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing request from another site: an `Origin` that is not
/// this server's, or a browser's `Sec-Fetch-Site` saying cross-site. (The CSRF
/// token is checked as well, by the extractors in `session.rs`.)
async fn same_origin_only(req: Request, next: Next) -> Response {
    if state_changing(req.method()) && !same_origin(req.headers()) {
        return view::error_page(
            ErrorCode::Forbidden,
            "cross-origin requests may not change anything",
            None,
        );
    }
    next.run(req).await
}

fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.as_bytes(), b"same-origin" | b"none") {
            return false;
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase)
    else {
        return false;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.to_ascii_lowercase();
    let authority = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    authority == Some(host.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn h(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(*k, HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn origin_rules() {
        assert!(same_origin(&h(&[("host", "127.0.0.1:8270")])));
        assert!(same_origin(&h(&[
            ("host", "127.0.0.1:8270"),
            ("origin", "http://127.0.0.1:8270")
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8270"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8270"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8270"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8270"),
            ("origin", "http://127.0.0.1:8270.evil.example")
        ])));
    }
}
