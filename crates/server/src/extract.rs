//! Request plumbing: request ids, the authenticated caller, and extractors that
//! turn bad paths, queries, headers and bodies into `invalid`/`too_large` errors
//! (never a 500, never an echo of the input).

use crate::error::{sanitize_serde_message, ApiError};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use lockbox_core::{Error, ErrorCode, Scope};
use lockbox_service::{Principal, RequestCtx};
use serde::de::DeserializeOwned;

/// The request's id (made by [`crate::edge::edge`]).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The authenticated caller plus what the service records about the request.
#[derive(Clone)]
pub struct Caller {
    pub principal: Principal,
    pub ctx: RequestCtx,
}

/// Authenticates the bearer token of a request (the authorization gate does this
/// once for every `/v1` route and hands the result on).
pub async fn authenticate_parts(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.clone());
    // A failure counts against the client's and the token prefix's allowance
    // (429 once spent); a valid token is never held back.
    let failed = |token: Option<&str>, e: Error| {
        crate::limits::on_auth_failure(state, &parts.extensions, token, e)
    };
    let Some(token) = bearer(&parts.headers) else {
        return Err(failed(
            None,
            Error::unauthenticated("send 'Authorization: Bearer <token>'"),
        ));
    };
    let principal = state
        .svc
        .authenticate(token)
        .await
        .map_err(|e| failed(Some(token), e))?;
    Ok(Caller {
        principal,
        ctx: RequestCtx { request_id },
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(c) = parts.extensions.remove::<Caller>() {
            return Ok(c);
        }
        authenticate_parts(parts, state).await
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// A JSON body parsed with sanitized errors (no input echoed back).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = body_bytes(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

pub async fn body_bytes(req: Request, _state: &AppState) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, &()).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::TooLarge,
                "request body is larger than this server accepts",
            )
        } else {
            ApiError::new(ErrorCode::Invalid, "request body could not be read")
        }
    })
}

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "request body is not valid JSON".to_owned()
            }
            _ => format!("request body: {}", sanitize_serde_message(&e.to_string())),
        };
        ApiError::new(
            ErrorCode::Invalid,
            format!("{what} (line {}, column {})", e.line(), e.column()),
        )
    })
}

/// Query parameters, with sanitized errors.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::Invalid,
                    format!("query string: {}", sanitize_serde_message(&e.body_text())),
                )
            })
    }
}

/// Path parameters, percent-decoded; bad encoding is `invalid`.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::Invalid,
                    "path is not valid percent-encoded UTF-8",
                )
            })
    }
}

/// `?scope=workspace|user`, default workspace.
#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ScopeQuery {
    pub scope: Option<String>,
}

impl ScopeQuery {
    pub fn scope(&self) -> Result<Scope, ApiError> {
        match self.scope.as_deref() {
            None | Some("") => Ok(Scope::Workspace),
            Some(s) => Ok(Scope::parse(s)?),
        }
    }
}

/// The request's media type, lower-cased and without parameters (`; charset=…`);
/// `""` when there is none.
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// `If-Match: "<version>"` (also bare or weak); `*` means "whatever is there".
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(v) = headers.get(axum::http::header::IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::new(
            ErrorCode::Invalid,
            "If-Match must be a version number, like \"3\"",
        )
    };
    let s = v.to_str().map_err(|_| bad())?.trim();
    if s == "*" {
        return Ok(None);
    }
    let s = s.strip_prefix("W/").unwrap_or(s).trim_matches('"');
    s.parse::<u64>().map(Some).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn if_match_forms() {
        let mut h = HeaderMap::new();
        assert_eq!(if_match(&h).unwrap(), None);
        for (v, want) in [("\"3\"", 3), ("3", 3), ("W/\"7\"", 7)] {
            h.insert("if-match", HeaderValue::from_static(v));
            assert_eq!(if_match(&h).unwrap(), Some(want));
        }
        h.insert("if-match", HeaderValue::from_static("*"));
        assert_eq!(if_match(&h).unwrap(), None);
        h.insert("if-match", HeaderValue::from_static("\"abc\""));
        assert!(if_match(&h).is_err());
    }

    #[test]
    fn bearer_parsing() {
        let mut h = HeaderMap::new();
        assert!(bearer(&h).is_none());
        h.insert("authorization", HeaderValue::from_static("Bearer lbx_x"));
        assert_eq!(bearer(&h), Some("lbx_x"));
        h.insert("authorization", HeaderValue::from_static("bearer  lbx_y "));
        assert_eq!(bearer(&h), Some("lbx_y"));
        h.insert("authorization", HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_none());
    }
}
