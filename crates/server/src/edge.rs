//! What every request passes through on its way in and out, in one middleware
//! ([`edge`]): its id, the refusal of malformed percent-encoding, the request
//! deadline, the security headers, the metrics and the one log line of a 5xx.
//!
//! One function rather than a stack of `from_fn` layers: each layer clones the
//! routes below it and boxes a future for every request, which at tens of
//! thousands of requests a second was a measurable part of a cached read.

use crate::error::{error_body, ApiError, ErrorCause, ErrorInfo};
use crate::extract::RequestId;
use crate::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lockbox_core::{Error, ErrorCode};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn next_request_id() -> String {
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        use lockbox_core::Clock;
        // Microseconds at process start: tells this process's ids from another's.
        (lockbox_core::SystemClock.now().millis() as u64).wrapping_mul(1000)
    });
    format!(
        "{:x}-{:06x}",
        start & 0xffff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The middleware (outermost, on every route and the fallbacks).
///
/// - Gives the request an id: `x-request-id` on the response, `request_id` in
///   error bodies (stamped here into any error body made below) and audit rows.
/// - Refuses a path whose `%` is not followed by two hex digits (axum would pass
///   it through literally, so `%zz` and `%25zz` would name the same secret).
/// - Answers `503 unavailable` when the request is still running after the
///   request timeout (automation runs excepted: they have their own limits).
/// - Sets `Cache-Control: no-store` unless the route set its own, and
///   `X-Content-Type-Options: nosniff`.
/// - Counts and times the request by route template (never the raw path, which
///   holds secret names), and logs every 5xx once with its id and cause.
pub async fn edge(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let id = next_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route_str = route.as_ref().map_or("unmatched", |r| r.as_str());
    let start = Instant::now();

    let mut resp = if has_malformed_percent_encoding(req.uri().path()) {
        refuse_malformed(crate::vault::is_vault_path(req.uri().path()))
    } else if crate::limits::runs_automation(route_str) {
        next.run(req).await
    } else {
        let vault = crate::vault::is_vault_path(req.uri().path());
        let limit = st.limits.request_timeout;
        match tokio::time::timeout(limit, next.run(req)).await {
            Ok(resp) => resp,
            Err(_) => deadline_passed(limit, vault),
        }
    };
    let elapsed = start.elapsed();

    let headers = resp.headers_mut();
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );

    let status = resp.status();
    crate::routes::ops::record_request(&method, route_str, status.as_u16(), elapsed);
    // One line per request at debug: route template, never the raw path or query.
    // (At tens of thousands of requests a second an info-level access log would
    // cost more than the request; the audit log is the record of what happened.)
    tracing::debug!(
        method = %method,
        route = %route_str,
        status = status.as_u16(),
        ms = elapsed.as_secs_f64() * 1000.0,
        request_id = %id,
        "request"
    );
    if status.is_server_error() {
        // Every 5xx is logged here, once, with the id its body and header carry.
        let cause = resp.extensions().get::<ErrorCause>().map(|c| c.0.as_str());
        tracing::error!(
            request_id = %id,
            status = status.as_u16(),
            method = %method,
            route = route_str,
            cause = cause.unwrap_or("(no cause recorded)"),
            "request failed"
        );
    }
    if let Some(info) = resp.extensions().get::<ErrorInfo>().cloned() {
        let headers = std::mem::take(resp.headers_mut());
        resp = error_body(info.code, &info.message, info.field, Some(&id));
        for (k, v) in headers.iter() {
            if k != header::CONTENT_LENGTH {
                resp.headers_mut().insert(k, v.clone());
            }
        }
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// A `%` not followed by two hex digits.
fn has_malformed_percent_encoding(path: &str) -> bool {
    let path = path.as_bytes();
    path.iter().enumerate().any(|(i, b)| {
        *b == b'%'
            && !(path.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && path.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn refuse_malformed(vault: bool) -> Response {
    const WHY: &str = "path has malformed percent-encoding";
    if vault {
        crate::vault::refused(WHY)
    } else {
        ApiError::new(ErrorCode::Invalid, WHY).into_response()
    }
}

/// The answer to a request still running after the request timeout (what it was
/// doing is dropped; a write may or may not have been committed, as with any
/// lost connection).
fn deadline_passed(limit: std::time::Duration, vault: bool) -> Response {
    let message = format!(
        "the request did not finish within {} s (the request timeout); the store may \
         be slow or unreachable. A write may or may not have been applied: read before \
         retrying it",
        limit.as_secs_f64()
    );
    if vault {
        crate::error::VaultError::from(Error::unavailable(message)).into_response()
    } else {
        ApiError::new(ErrorCode::Unavailable, message).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_percent_encoding() {
        for ok in ["/a", "/a%20b", "/%2F", "/%aF%00"] {
            assert!(!has_malformed_percent_encoding(ok), "{ok}");
        }
        for bad in ["/a%", "/a%2", "/%zz", "/%2g", "/ok%20then%"] {
            assert!(has_malformed_percent_encoding(bad), "{bad}");
        }
    }
}
