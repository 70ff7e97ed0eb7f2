//! The one error type every layer returns: a stable machine-readable code, a public
//! message, the input field it is about (if any), and a private cause.
//!
//! Messages name things (a secret's name, a field) but never carry a value: an error
//! can end up in a log line or an HTTP body, so nothing secret may be formatted into it.
//! The cause (what went wrong inside, for an `internal` error) is kept apart from the
//! message: `Display` never shows it, and the transports log it with the request id
//! instead of rendering it.

use std::fmt;

/// Stable codes. They appear on the wire as `{"error": "<code>"}` and in the SDK;
/// renaming one is a breaking change. New codes may be added, so code outside this
/// crate matches with a fallback arm. docs/api.md lists every one with its HTTP
/// status (a server test checks the table against [`ErrorCode::ALL`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    NotFound,
    UserRequired,
    Forbidden,
    Unauthenticated,
    Invalid,
    Conflict,
    SecretInUse,
    VersionMismatch,
    Expired,
    EgressDenied,
    TooLarge,
    RateLimited,
    UnsupportedMediaType,
    /// The server cannot answer now (its database is unreachable or too slow, its
    /// disk is full, it is out of file descriptors, it lacks the master key version
    /// in use): try again later, or on another node (503 with `Retry-After`). The
    /// message says which.
    Unavailable,
    /// An automation's outbound request could not reach its upstream (502).
    UpstreamFailed,
    /// An automation's outbound request got no answer within its deadline (504).
    UpstreamTimeout,
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::NotFound,
        ErrorCode::UserRequired,
        ErrorCode::Forbidden,
        ErrorCode::Unauthenticated,
        ErrorCode::Invalid,
        ErrorCode::Conflict,
        ErrorCode::SecretInUse,
        ErrorCode::VersionMismatch,
        ErrorCode::Expired,
        ErrorCode::EgressDenied,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unavailable,
        ErrorCode::UpstreamFailed,
        ErrorCode::UpstreamTimeout,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotFound => "not_found",
            ErrorCode::UserRequired => "user_required",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Invalid => "invalid",
            ErrorCode::Conflict => "conflict",
            ErrorCode::SecretInUse => "secret_in_use",
            ErrorCode::VersionMismatch => "version_mismatch",
            ErrorCode::Expired => "expired",
            ErrorCode::EgressDenied => "egress_denied",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::UpstreamFailed => "upstream_failed",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Internal => "internal",
        }
    }

    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Lockbox error: a stable code, a message safe to show the caller, the input
/// field it is about, and a private cause.
///
/// `Internal` errors say only "internal error"; their context is the cause, which
/// [`Error::cause`] hands to a log line (with the request id) and nothing renders.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    /// The public text: safe to show whoever made the request.
    pub message: String,
    /// The input field the error is about (`"name"`, `"value"`, `"description"`, …),
    /// so a form can show it next to that field. Never a value.
    pub field: Option<&'static str>,
    /// For the log only.
    cause: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The public message of every `internal` error.
pub const INTERNAL_MESSAGE: &str = "internal error";

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            field: None,
            cause: None,
        }
    }
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::new(ErrorCode::NotFound, what)
    }
    pub fn invalid(why: impl Into<String>) -> Self {
        Error::new(ErrorCode::Invalid, why)
    }
    pub fn forbidden(why: impl Into<String>) -> Self {
        Error::new(ErrorCode::Forbidden, why)
    }
    pub fn conflict(why: impl Into<String>) -> Self {
        Error::new(ErrorCode::Conflict, why)
    }
    pub fn too_large(why: impl Into<String>) -> Self {
        Error::new(ErrorCode::TooLarge, why)
    }
    pub fn unauthenticated(why: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unauthenticated, why)
    }
    pub fn user_required() -> Self {
        Error::new(
            ErrorCode::UserRequired,
            "the user scope needs a caller with a user; this principal has none",
        )
    }
    /// The server cannot answer now; `why` says which resource is missing (the
    /// database, disk space, file descriptors, a master key version) and what an
    /// operator does about it. Safe to show: never a value.
    pub fn unavailable(why: impl Into<String>) -> Self {
        Error::new(ErrorCode::Unavailable, why)
    }
    /// An internal failure. Callers see [`INTERNAL_MESSAGE`]; `context` becomes the
    /// private cause, for the log.
    pub fn internal(context: impl fmt::Display) -> Self {
        Error::new(ErrorCode::Internal, INTERNAL_MESSAGE).with_cause(context)
    }
    /// Marks the input field this error is about.
    #[must_use]
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
    /// Keeps `cause` for the log (it is never shown to the caller).
    #[must_use]
    pub fn with_cause(mut self, cause: impl fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }
    /// The private cause, for a log line only: never put it into an answer, a
    /// page, a notice or another error's message.
    pub fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn an_internal_error_keeps_its_context_private() {
        let e = Error::internal("row 7 failed its integrity check");
        assert_eq!(e.code, ErrorCode::Internal);
        assert_eq!(e.message, "internal error");
        assert_eq!(e.cause(), Some("row 7 failed its integrity check"));
        assert_eq!(e.to_string(), "internal: internal error");
        assert!(!e.to_string().contains("row 7"));
    }

    #[test]
    fn a_field_is_kept_and_not_displayed() {
        let e = Error::invalid("description must be at most 4096 bytes").with_field("description");
        assert_eq!(e.field, Some("description"));
        assert_eq!(e.cause(), None);
        assert_eq!(
            e.to_string(),
            "invalid: description must be at most 4096 bytes"
        );
    }
}
