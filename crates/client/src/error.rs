//! The SDK's one error type, and the decoding of the server's error body
//! (`{"error": "<code>", "message": "<text>", "request_id": "<id>"}`) into it.
//!
//! Nothing here formats a response body that could hold a secret value: decode
//! errors report only where the JSON went wrong, never the text around it.

use lockbox_core::ErrorCode;

/// Everything a [`crate::Client`] call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status. `code` is the stable machine code
    /// (an unknown code string becomes [`ErrorCode::Internal`]).
    #[error("{code}: {message}")]
    Api {
        code: ErrorCode,
        message: String,
        status: u16,
        request_id: Option<String>,
    },
    /// The request never got an answer: connection refused, TLS failure, timeout.
    #[error("transport: {0}")]
    Transport(String),
    /// The server answered 2xx but the body was not what the API promises.
    #[error("decode: {0}")]
    Decode(String),
    /// The client is misconfigured: bad address, unreadable CA file, missing token.
    #[error("config: {0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The API error code, for [`Error::Api`] only.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, for [`Error::Api`] only.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's request id, when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The code as printed by tools: the API code, or `transport`/`decode`/`config`.
    pub fn code_str(&self) -> &'static str {
        match self {
            Error::Api { code, .. } => code.as_str(),
            Error::Transport(_) => "transport",
            Error::Decode(_) => "decode",
            Error::Config(_) => "config",
        }
    }

    /// The message without the code prefix.
    pub fn message(&self) -> &str {
        match self {
            Error::Api { message, .. } => message,
            Error::Transport(m) | Error::Decode(m) | Error::Config(m) => m,
        }
    }

    /// A transport failure, with reqwest's cause chain flattened into the text.
    pub(crate) fn transport(err: &reqwest::Error) -> Error {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !text.contains(&cause_text) {
                text.push_str(": ");
                text.push_str(&cause_text);
            }
            source = cause.source();
        }
        Error::Transport(text)
    }

    /// A body that did not decode. Only the position and category are kept: the
    /// serde message can quote the offending text, which might be a secret.
    pub(crate) fn decode(what: &str, err: &serde_json::Error) -> Error {
        Error::Decode(format!(
            "{what}: unexpected response body ({:?} error at line {} column {})",
            err.classify(),
            err.line(),
            err.column()
        ))
    }
}

/// The code a bare status implies, for error answers without a Lockbox body
/// (a `HEAD`, or a proxy in front of the server).
fn code_for_status(status: u16) -> ErrorCode {
    match status {
        400 => ErrorCode::Invalid,
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        410 => ErrorCode::Expired,
        412 => ErrorCode::VersionMismatch,
        413 => ErrorCode::TooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        429 => ErrorCode::RateLimited,
        // A bare 502/504 is a proxy's, not an automation's upstream: internal.
        503 => ErrorCode::Unavailable,
        _ => ErrorCode::Internal,
    }
}

/// Builds [`Error::Api`] from an error answer: its status, its body and the
/// `x-request-id` header (used when the body carries no id).
pub(crate) fn api_error(status: u16, body: &[u8], header_request_id: Option<String>) -> Error {
    // Read as a generic object, each field optional, so a proxy's or an older
    // server's answer still yields an error (a typed struct would also accept arrays).
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let object = parsed.as_ref().and_then(serde_json::Value::as_object);
    let field = |key: &str| {
        object
            .and_then(|o| o.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let (error, message) = (field("error"), field("message"));
    if error.is_none() && message.is_none() {
        return Error::Api {
            code: code_for_status(status),
            message: format!("HTTP {status} without a Lockbox error body"),
            status,
            request_id: header_request_id,
        };
    }
    Error::Api {
        code: match error.as_deref() {
            Some(s) => ErrorCode::parse(s).unwrap_or(ErrorCode::Internal),
            None => code_for_status(status),
        },
        message: message.unwrap_or_else(|| format!("HTTP {status}")),
        status,
        request_id: field("request_id").or(header_request_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_body() {
        let body = br#"{"error":"version_mismatch","message":"secret 'a' is at version 4","request_id":"req-1"}"#;
        let err = api_error(412, body, None);
        assert_eq!(
            err,
            Error::Api {
                code: ErrorCode::VersionMismatch,
                message: "secret 'a' is at version 4".into(),
                status: 412,
                request_id: Some("req-1".into()),
            }
        );
        assert_eq!(err.code(), Some(ErrorCode::VersionMismatch));
        assert_eq!(
            err.to_string(),
            "version_mismatch: secret 'a' is at version 4"
        );
    }

    #[test]
    fn every_documented_code_parses() {
        for code in ErrorCode::ALL {
            let body =
                serde_json::json!({"error": code.as_str(), "message": "m", "request_id": "r"});
            let err = api_error(400, body.to_string().as_bytes(), None);
            assert_eq!(err.code(), Some(code));
        }
    }

    #[test]
    fn unknown_code_is_internal() {
        let err = api_error(
            418,
            br#"{"error":"teapot","message":"short and stout"}"#,
            None,
        );
        assert_eq!(err.code(), Some(ErrorCode::Internal));
        assert_eq!(err.status(), Some(418));
        assert_eq!(err.request_id(), None);
    }

    #[test]
    fn header_request_id_fills_in() {
        let err = api_error(
            404,
            br#"{"error":"not_found","message":"no"}"#,
            Some("hdr".into()),
        );
        assert_eq!(err.request_id(), Some("hdr"));
        let err = api_error(
            404,
            br#"{"error":"not_found","message":"no","request_id":"body"}"#,
            Some("hdr".into()),
        );
        assert_eq!(err.request_id(), Some("body"));
    }

    #[test]
    fn non_json_bodies_fall_back_to_the_status() {
        let err = api_error(404, b"", Some("r".into()));
        assert_eq!(err.code(), Some(ErrorCode::NotFound));
        assert_eq!(err.request_id(), Some("r"));
        let err = api_error(502, b"<html>bad gateway</html>", None);
        assert_eq!(err.code(), Some(ErrorCode::Internal));
        assert!(!err.message().contains("html"));
        let err = api_error(413, br#"["not","an","object"]"#, None);
        assert_eq!(err.code(), Some(ErrorCode::TooLarge));
    }

    #[test]
    fn decode_errors_never_quote_the_body() {
        let err = serde_json::from_str::<u64>(r#""hunter2-secret""#).unwrap_err();
        let e = Error::decode("reveal", &err);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert_eq!(e.code(), None);
        assert_eq!(e.code_str(), "decode");
    }
}
