//! The one place errors become HTTP: status codes, the `{"error", "message",
//! "field"?, "request_id"}` body, and the rule that an error's private cause goes to
//! the log (with the request id) and never to the client. The console's pages and
//! notices use [`public_message`] and [`log_cause`] from here too.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lockbox_core::{Error, ErrorCode};

/// An error on its way out, tagged with the request it belongs to.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    pub request_id: Option<String>,
    /// Seconds for `Retry-After` (`unavailable` and `rate_limited` get a default
    /// when this is None).
    pub retry_after: Option<u64>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError {
            error,
            request_id: None,
            retry_after: None,
        }
    }
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::from(Error::new(code, message))
    }
    pub fn with_request_id(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_owned());
        self
    }
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

/// `Retry-After` when an `unavailable` answer names no time of its own: long
/// enough for a paused database or a full disk to be noticed, short enough that a
/// client retries soon after it is fixed.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// The `Retry-After` a code carries by default, if any.
pub fn default_retry_after(code: ErrorCode) -> Option<u64> {
    match code {
        ErrorCode::Unavailable => Some(UNAVAILABLE_RETRY_AFTER_SECS),
        ErrorCode::RateLimited => Some(1),
        _ => None,
    }
}

/// The public text of an `internal` error: the request id to quote, never the cause.
pub fn internal_message(request_id: Option<&str>) -> String {
    match request_id {
        Some(id) => format!("internal error; quote the request id {id} when reporting it"),
        None => "internal error; quote the request id when reporting it".to_owned(),
    }
}

/// What a caller may be shown of `e`: its message, or for an `internal` error
/// [`internal_message`]. Never the cause.
pub fn public_message(e: &Error, request_id: Option<&str>) -> String {
    if e.code == ErrorCode::Internal {
        internal_message(request_id)
    } else {
        e.message.clone()
    }
}

/// Logs `e`'s private cause, if it has one, with the request id: for error paths
/// that do not end in a 5xx answer (which the request-id layer logs itself), such
/// as a console notice or a form shown again.
pub fn log_cause(e: &Error, request_id: Option<&str>) {
    if let Some(cause) = e.cause() {
        tracing::error!(
            request_id = request_id.unwrap_or("-"),
            code = e.code.as_str(),
            cause,
            "request failed"
        );
    }
}

pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::Invalid | ErrorCode::UserRequired => StatusCode::BAD_REQUEST,
        ErrorCode::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden | ErrorCode::EgressDenied => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::Conflict | ErrorCode::SecretInUse => StatusCode::CONFLICT,
        ErrorCode::Expired => StatusCode::GONE,
        ErrorCode::VersionMismatch => StatusCode::PRECONDITION_FAILED,
        ErrorCode::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::UpstreamFailed => StatusCode::BAD_GATEWAY,
        ErrorCode::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        // A code newer than this mapping: a server error, so it is noticed (the
        // test `every_code_has_a_4xx_or_5xx` fails until it is mapped).
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Left on an error response so the request-id middleware can stamp the body.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<&'static str>,
}

/// The cause of a 5xx answer, left on the response for the request-id layer,
/// which logs it with the request id (the one place every 5xx is logged). Never
/// sent to the client.
#[derive(Debug, Clone)]
pub struct ErrorCause(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.error;
        let (code, field) = (e.code, e.field);
        // The cause stays in the log; the client gets the id to quote. The
        // request-id layer writes the id in (it knows it when this does not).
        let message = if code == ErrorCode::Internal {
            internal_message(None)
        } else {
            e.message.clone()
        };
        let mut resp = error_body(code, &message, field, self.request_id.as_deref());
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if resp.status().is_server_error() {
            let cause = e.cause().map(str::to_owned).unwrap_or(e.message);
            resp.extensions_mut().insert(ErrorCause(cause));
        }
        resp.extensions_mut().insert(ErrorInfo {
            code,
            message,
            field,
        });
        resp
    }
}

pub fn error_response(code: ErrorCode, message: &str, request_id: Option<&str>) -> Response {
    error_body(code, message, None, request_id)
}

/// The native error body; `field` only when the error names one (additive).
pub fn error_body(
    code: ErrorCode,
    message: &str,
    field: Option<&str>,
    request_id: Option<&str>,
) -> Response {
    let mut body = serde_json::json!({
        "error": code.as_str(),
        "message": message,
        "request_id": request_id,
    });
    if let Some(f) = field {
        body["field"] = serde_json::Value::from(f);
    }
    let mut resp = (status_of(code), axum::Json(body)).into_response();
    if code == ErrorCode::Unauthenticated {
        resp.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"lockbox\""),
        );
    }
    if let Some(secs) = default_retry_after(code) {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

// ---- Vault-compatible API (`/vault/v1/…`): the second renderer -------------------

/// An error on the Vault KV v2 compatible API: Vault's `{"errors": […]}` body with
/// `Content-Type: application/json` exactly (hvac ignores the body otherwise) and
/// Vault's statuses. Like [`ApiError`], internal details go to the log only.
#[derive(Debug)]
pub struct VaultError {
    pub status: StatusCode,
    pub errors: Vec<String>,
    /// Logged (with the request id) for 500s; never sent.
    cause: Option<String>,
    /// `Retry-After` seconds, for a 429.
    retry_after: Option<u64>,
}

impl VaultError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        VaultError {
            status,
            errors: vec![message.into()],
            cause: None,
            retry_after: None,
        }
    }
    /// 429 `rate_limited` with `Retry-After` (failed authentication, too often).
    pub fn rate_limited(wait: u64) -> Self {
        let mut e = VaultError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("rate_limited: too many failed authentications; retry after {wait} s"),
        );
        e.retry_after = Some(wait.max(1));
        e
    }
    /// 404 `{"errors": []}`: what Vault answers for a path that holds nothing.
    pub fn not_found() -> Self {
        VaultError {
            status: StatusCode::NOT_FOUND,
            errors: Vec::new(),
            cause: None,
            retry_after: None,
        }
    }
    /// 403 `permission denied`: bad or missing token, unknown mount, refused role.
    pub fn permission_denied() -> Self {
        VaultError::new(StatusCode::FORBIDDEN, "permission denied")
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        VaultError::new(StatusCode::BAD_REQUEST, message)
    }
    /// The text Vault clients match on for a compare-and-set failure.
    pub const CAS_MISMATCH: &'static str =
        "check-and-set parameter did not match the current version";
}

/// Vault's status for each code: 400 for every refusal of the request itself (with
/// the stable code at the start of the message), 403 for anything about who asks,
/// 404 with an empty list for what is not there.
impl From<Error> for VaultError {
    fn from(e: Error) -> Self {
        let code = e.code;
        match code {
            ErrorCode::NotFound => VaultError::not_found(),
            ErrorCode::Unauthenticated => VaultError::permission_denied(),
            ErrorCode::Forbidden | ErrorCode::EgressDenied => VaultError {
                status: StatusCode::FORBIDDEN,
                errors: vec![
                    "permission denied".to_owned(),
                    format!("{code}: {}", e.message),
                ],
                cause: None,
                retry_after: None,
            },
            // Vault's sentence exactly: clients compare the whole message.
            ErrorCode::VersionMismatch => VaultError::invalid(VaultError::CAS_MISMATCH),
            ErrorCode::Internal => VaultError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                errors: vec![
                    "internal error; quote the x-request-id response header when reporting it"
                        .to_owned(),
                ],
                cause: Some(e.cause().map(str::to_owned).unwrap_or(e.message)),
                retry_after: None,
            },
            ErrorCode::TooLarge
            | ErrorCode::UnsupportedMediaType
            | ErrorCode::RateLimited
            | ErrorCode::Unavailable
            | ErrorCode::UpstreamFailed
            | ErrorCode::UpstreamTimeout => {
                VaultError::new(status_of(code), format!("{code}: {}", e.message))
            }
            ErrorCode::Invalid
            | ErrorCode::UserRequired
            | ErrorCode::Conflict
            | ErrorCode::SecretInUse
            | ErrorCode::Expired => VaultError::invalid(format!("{code}: {}", e.message)),
            // A code newer than this mapping: its native status, the code first.
            _ => VaultError::new(status_of(code), format!("{code}: {}", e.message)),
        }
    }
}

impl From<ApiError> for VaultError {
    fn from(e: ApiError) -> Self {
        VaultError::from(e.error)
    }
}

impl IntoResponse for VaultError {
    fn into_response(self) -> Response {
        // No `ErrorInfo` extension: the request-id layer must not re-render this
        // body in the native shape. It logs the cause of a 5xx with the id.
        let body = serde_json::to_vec(&serde_json::json!({ "errors": self.errors }))
            .unwrap_or_else(|_| b"{\"errors\":[]}".to_vec());
        let mut resp = (
            self.status,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response();
        let retry_after = match self.status {
            StatusCode::SERVICE_UNAVAILABLE => Some(UNAVAILABLE_RETRY_AFTER_SECS),
            StatusCode::TOO_MANY_REQUESTS => Some(self.retry_after.unwrap_or(1)),
            _ => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status.is_server_error() {
            let cause = self.cause.unwrap_or_else(|| self.errors.join("; "));
            resp.extensions_mut().insert(ErrorCause(cause));
        }
        resp
    }
}

/// serde's messages can quote the offending input (`invalid type: string "…"`),
/// and input may be a secret. Keep only the parts that describe our schema.
pub fn sanitize_serde_message(msg: &str) -> String {
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    if msg.starts_with("missing field") {
        return msg.to_owned();
    }
    if msg.starts_with("unknown field") || msg.starts_with("unknown variant") {
        let kind = if msg.starts_with("unknown field") {
            "unknown field"
        } else {
            "unknown value"
        };
        return match msg.find(", expected") {
            Some(i) => format!("{kind}{}", &msg[i..]),
            None => kind.to_owned(),
        };
    }
    match msg.find(", expected ") {
        Some(i) => format!("wrong type or value{}", &msg[i..]),
        None => "malformed input".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitizer_drops_quoted_input() {
        let m = sanitize_serde_message(
            "invalid type: string \"hunter2\", expected a boolean at line 1 column 20",
        );
        assert_eq!(m, "wrong type or value, expected a boolean");
        let m = sanitize_serde_message("unknown field `hunter2`, expected `value` or `ttl`");
        assert_eq!(m, "unknown field, expected `value` or `ttl`");
        assert_eq!(
            sanitize_serde_message("missing field `value`"),
            "missing field `value`"
        );
        assert_eq!(sanitize_serde_message("weird hunter2"), "malformed input");
    }

    #[test]
    fn vault_errors_keep_vaults_statuses_and_never_a_cause() {
        for c in ErrorCode::ALL {
            let v = VaultError::from(Error::new(c, "the message"));
            let s = v.status.as_u16();
            assert!((400..600).contains(&s));
            assert_eq!(s == 500, c == ErrorCode::Internal);
            assert_eq!(s >= 500, status_of(c).is_server_error());
            if c == ErrorCode::Internal {
                assert!(!v.errors.concat().contains("the message"));
            }
        }
        assert!(VaultError::from(Error::not_found("x")).errors.is_empty());
        assert_eq!(
            VaultError::from(Error::unauthenticated("x")).errors,
            vec!["permission denied".to_owned()]
        );
        let inuse = VaultError::from(Error::new(ErrorCode::SecretInUse, "used by flow:a"));
        assert_eq!(inuse.status, StatusCode::BAD_REQUEST);
        assert!(inuse.errors[0].contains("secret_in_use"));
        let cas = VaultError::from(Error::new(ErrorCode::VersionMismatch, "at 2, not 1"));
        assert!(cas.errors[0].starts_with(VaultError::CAS_MISMATCH));
    }

    /// docs/api.md's error table lists exactly `ErrorCode::ALL`, each with the
    /// status `status_of` answers.
    #[test]
    fn the_api_docs_list_every_code_with_its_status() {
        let doc =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api.md"))
                .expect("docs/api.md");
        let section = doc
            .split("\n## Errors\n")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("an Errors section");
        // The first table of the section, from its `| code | status |` header on.
        let rows = section
            .lines()
            .skip_while(|l| !l.starts_with("| code | status |"))
            .take_while(|l| l.starts_with('|'));
        let mut table = std::collections::BTreeMap::new();
        for line in rows {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // `| `code` | status … |`: the code in backticks, the status first.
            let (Some(code), Some(status)) = (cells.get(1), cells.get(2)) else {
                continue;
            };
            let Some(code) = code.strip_prefix('`').and_then(|c| c.strip_suffix('`')) else {
                continue;
            };
            let status: u16 = status
                .get(..3)
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{code}: no status in {line:?}"));
            assert!(
                table.insert(code.to_owned(), status).is_none(),
                "{code} twice"
            );
        }
        let expected: std::collections::BTreeMap<String, u16> = ErrorCode::ALL
            .into_iter()
            .map(|c| (c.as_str().to_owned(), status_of(c).as_u16()))
            .collect();
        assert_eq!(table, expected);
    }

    #[test]
    fn a_field_reaches_the_body_and_a_cause_only_the_log() {
        let resp = ApiError::from(
            Error::invalid("description must be at most 4096 bytes").with_field("description"),
        )
        .with_request_id("r-1")
        .into_response();
        assert_eq!(
            resp.extensions().get::<ErrorInfo>().unwrap().field,
            Some("description")
        );
        assert!(resp.extensions().get::<ErrorCause>().is_none());
        let resp = ApiError::from(Error::internal("row 7 failed its integrity check"))
            .with_request_id("r-2")
            .into_response();
        let info = resp.extensions().get::<ErrorInfo>().unwrap();
        assert!(!info.message.contains("row 7"), "{}", info.message);
        assert!(info.message.starts_with("internal error"));
        assert_eq!(
            resp.extensions().get::<ErrorCause>().unwrap().0,
            "row 7 failed its integrity check"
        );
        let v = VaultError::from(Error::internal("row 7 failed its integrity check"));
        assert!(!v.errors.concat().contains("row 7"));
        assert_eq!(v.cause.as_deref(), Some("row 7 failed its integrity check"));
    }

    #[test]
    fn every_code_has_a_4xx_or_5xx() {
        for c in ErrorCode::ALL {
            let s = status_of(c).as_u16();
            assert!((400..600).contains(&s));
            assert_eq!(s == 500, c == ErrorCode::Internal);
        }
        assert_eq!(status_of(ErrorCode::Unavailable).as_u16(), 503);
        assert_eq!(status_of(ErrorCode::UpstreamFailed).as_u16(), 502);
        assert_eq!(status_of(ErrorCode::UpstreamTimeout).as_u16(), 504);
    }

    #[test]
    fn unavailable_and_rate_limited_carry_retry_after() {
        let r =
            ApiError::new(ErrorCode::Unavailable, "the database did not answer").into_response();
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
        assert!(r.extensions().get::<ErrorCause>().is_some());
        let r = ApiError::new(ErrorCode::RateLimited, "slow down")
            .with_retry_after(7)
            .into_response();
        assert_eq!(r.headers()["retry-after"], "7");
        let r = ApiError::new(ErrorCode::NotFound, "no").into_response();
        assert!(r.headers().get("retry-after").is_none());
        assert!(r.extensions().get::<ErrorCause>().is_none());
    }

    #[test]
    fn unavailable_is_a_503_with_retry_after_and_its_message() {
        let resp = ApiError::new(ErrorCode::Unavailable, "master key version 2 is missing")
            .into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            resp.headers()[axum::http::header::RETRY_AFTER],
            UNAVAILABLE_RETRY_AFTER_SECS.to_string().as_str()
        );
        let info = resp.extensions().get::<ErrorInfo>().unwrap();
        assert_eq!(info.message, "master key version 2 is missing");
    }
}
