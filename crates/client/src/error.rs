//! The SDK's one error type, and the decoding of the server's error body
//! (`{"error": "<code>", "message": "<text>", "request_id": "<id>"}`) into it.
//!
//! Nothing here formats a response body that could hold a secret value: decode
//! errors name the type and the field path that failed and what kind of JSON was
//! found there, never the text itself.

use lockbox_core::ErrorCode;
use std::fmt;

/// An error code as the server sent it: one this SDK knows, or a newer one kept
/// as its text (never folded into another code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiCode {
    Known(ErrorCode),
    /// A code this version of the SDK does not know (a newer server's).
    Unknown(String),
}

impl ApiCode {
    /// Reads a code as sent.
    pub fn parse(text: &str) -> ApiCode {
        match ErrorCode::parse(text) {
            Some(code) => ApiCode::Known(code),
            None => ApiCode::Unknown(text.to_owned()),
        }
    }

    /// The code as sent.
    pub fn as_str(&self) -> &str {
        match self {
            ApiCode::Known(code) => code.as_str(),
            ApiCode::Unknown(text) => text,
        }
    }

    /// The known code, if it is one.
    pub fn known(&self) -> Option<ErrorCode> {
        match self {
            ApiCode::Known(code) => Some(*code),
            ApiCode::Unknown(_) => None,
        }
    }
}

impl fmt::Display for ApiCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<ErrorCode> for ApiCode {
    fn from(code: ErrorCode) -> Self {
        ApiCode::Known(code)
    }
}

impl PartialEq<ErrorCode> for ApiCode {
    fn eq(&self, other: &ErrorCode) -> bool {
        self.known() == Some(*other)
    }
}

/// Everything a [`crate::Client`] call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status. `code` is the stable machine code
    /// (a code this SDK does not know stays [`ApiCode::Unknown`]).
    #[error("{code}: {message}")]
    Api {
        code: ApiCode,
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
    /// The API error code, for [`Error::Api`] with a code this SDK knows.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Api { code, .. } => code.known(),
            _ => None,
        }
    }

    /// The API error code as sent (known or not), for [`Error::Api`] only.
    pub fn api_code(&self) -> Option<&ApiCode> {
        match self {
            Error::Api { code, .. } => Some(code),
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
    pub fn code_str(&self) -> &str {
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

    /// A body that did not decode as `T`: names `what`, the type, the path of
    /// the field that failed and what was wrong, never the text found there.
    pub(crate) fn decode<T>(
        what: &str,
        err: &serde_path_to_error::Error<serde_json::Error>,
    ) -> Error {
        let inner = err.inner();
        // The key of a field the type does not know is input, not a name the
        // type gave: the path stops at the object that held it.
        let unknown_key = inner.to_string().starts_with("unknown field");
        let segments: Vec<_> = err.path().iter().collect();
        let keep = segments.len() - usize::from(unknown_key && !segments.is_empty());
        let mut path = String::new();
        for segment in &segments[..keep] {
            match segment {
                serde_path_to_error::Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                serde_path_to_error::Segment::Map { key } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                serde_path_to_error::Segment::Enum { variant } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(variant);
                }
                serde_path_to_error::Segment::Unknown => path.push_str(".?"),
            }
        }
        let at = if path.is_empty() {
            String::new()
        } else {
            format!(" at `{path}`")
        };
        Error::Decode(format!(
            "{what}: cannot read it as {}{at}: {} (line {} column {})",
            short_type_name::<T>(),
            safe_serde_message(inner),
            inner.line(),
            inner.column()
        ))
    }
}

/// Decodes `bytes` as `T`, tracking the path so an error can name the field.
pub(crate) fn decode_json<T: serde::de::DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut de)
        .map_err(|e| Error::decode::<T>(what, &e))?;
    de.end().map_err(|e| {
        Error::Decode(format!(
            "{what}: trailing characters after the JSON (line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    Ok(value)
}

/// `my_app::Token` for `my_app::Token` and `Option<my_app::Token>` alike: the
/// type's own name with its module path trimmed to the last two parts.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    full.split(['<', '>', ',', ' '])
        .filter(|part| !part.is_empty())
        .map(|part| {
            let parts: Vec<&str> = part.split("::").collect();
            parts[parts.len().saturating_sub(2)..].join("::")
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// serde's message without the input it quotes: `invalid type: string "…",
/// expected u64` becomes `invalid type: string, expected u64`; a field or variant
/// name the type does not know is left out (it is input, and could be secret);
/// `missing field `value`` names the type's own field and stays.
fn safe_serde_message(err: &serde_json::Error) -> String {
    let full = err.to_string();
    // serde_json appends " at line L column C"; the caller adds the position.
    let msg = match full.rfind(" at line ") {
        Some(i) => &full[..i],
        None => &full,
    };
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = msg.strip_prefix(prefix) {
            let kind = rest
                .split([' ', ','])
                .next()
                .unwrap_or("value")
                .trim_end_matches(':');
            let expected = rest.rfind(", expected ").map(|i| &rest[i..]).unwrap_or("");
            return format!("{prefix}{kind}{expected}");
        }
    }
    if msg.starts_with("missing field ")
        || msg.starts_with("invalid length ")
        || msg.starts_with("duplicate field ")
    {
        return msg.to_owned();
    }
    if msg.starts_with("unknown field") {
        return "a field the type does not have".to_owned();
    }
    if msg.starts_with("unknown variant") {
        return "a variant the type does not have".to_owned();
    }
    format!("{:?} error", err.classify()).to_lowercase()
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
/// `x-request-id` header (used when the body carries no id). A body without a
/// Lockbox error object (a proxy's page, a `HEAD` answer) keeps the code the
/// status implies.
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
            code: code_for_status(status).into(),
            message: format!("HTTP {status} without a Lockbox error body"),
            status,
            request_id: header_request_id,
        };
    }
    Error::Api {
        code: match error.as_deref() {
            Some(s) => ApiCode::parse(s),
            None => code_for_status(status).into(),
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
                code: ErrorCode::VersionMismatch.into(),
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
    fn unknown_codes_are_kept_as_sent() {
        let err = api_error(
            418,
            br#"{"error":"teapot","message":"short and stout"}"#,
            None,
        );
        assert_eq!(err.code(), None);
        assert_eq!(err.api_code(), Some(&ApiCode::Unknown("teapot".into())));
        assert_eq!(err.code_str(), "teapot");
        assert_eq!(err.to_string(), "teapot: short and stout");
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
        let e = decode_json::<u64>("reveal", br#""hunter2-secret""#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(
            e.to_string().contains("invalid type: string, expected u64"),
            "{e}"
        );
        assert_eq!(e.code(), None);
        assert_eq!(e.code_str(), "decode");
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            n: u64,
        }
        let e = decode_json::<std::collections::BTreeMap<String, Inner>>(
            "m",
            br#"{"k": {"n": "hunter2-secret"}}"#,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct Strict {
            n: u64,
        }
        let e = decode_json::<Strict>("m", br#"{"hunter2-secret": 1}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn decode_errors_name_the_type_and_the_field() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Token {
            value: String,
            expiration: u64,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            tokens: Vec<Token>,
        }
        let e = decode_json::<Token>("secret value", br#"{"counter":5,"hour":1,"token":"t"}"#)
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("Token"), "{text}");
        assert!(text.contains("missing field `value`"), "{text}");
        let e = decode_json::<Outer>("x", br#"{"tokens":[{"value":"v","expiration":"soon"}]}"#)
            .unwrap_err();
        let text = e.to_string();
        assert!(text.contains("at `tokens[0].expiration`"), "{text}");
        assert!(
            text.contains("invalid type: string, expected u64"),
            "{text}"
        );
        assert!(!text.contains("soon"), "{text}");
    }
}
