//! The one place errors become HTTP: status codes, the `{"error", "message",
//! "request_id"}` body, and the rule that internal details go to the log (with the
//! request id) and never to the client.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lockbox_core::{Error, ErrorCode};

/// An error on its way out, tagged with the request it belongs to.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    pub request_id: Option<String>,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError {
            error,
            request_id: None,
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
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Left on an error response so the request-id middleware can stamp the body.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.error.code;
        let message = if code == ErrorCode::Internal {
            // The cause stays in the log; the client gets the id to quote.
            tracing::error!(request_id = ?self.request_id, cause = %self.error.message, "internal error");
            "internal error; quote the request id when reporting it".to_owned()
        } else {
            self.error.message
        };
        let mut resp = error_response(code, &message, self.request_id.as_deref());
        resp.extensions_mut().insert(ErrorInfo { code, message });
        resp
    }
}

pub fn error_response(code: ErrorCode, message: &str, request_id: Option<&str>) -> Response {
    let body = serde_json::json!({
        "error": code.as_str(),
        "message": message,
        "request_id": request_id,
    });
    let mut resp = (status_of(code), axum::Json(body)).into_response();
    if code == ErrorCode::Unauthenticated {
        resp.headers_mut().insert(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"lockbox\""),
        );
    }
    resp
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
    fn every_code_has_a_4xx_or_500() {
        for c in ErrorCode::ALL {
            let s = status_of(c).as_u16();
            assert!((400..600).contains(&s));
            assert_eq!(s == 500, c == ErrorCode::Internal);
        }
    }
}
