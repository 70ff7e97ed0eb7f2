//! The one error type every layer returns, with stable machine-readable codes.
//!
//! Messages name things (a secret's name, a field) but never carry a value: an error
//! can end up in a log line or an HTTP body, so nothing secret may be formatted into it.

use std::fmt;

/// Stable codes. They appear on the wire as `{"error": "<code>"}` and in the SDK;
/// renaming one is a breaking change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// A Lockbox error: a stable code plus a human message safe to show the caller.
///
/// `Internal` errors keep their cause out of the message: the server logs the cause
/// with the request id and sends only the id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
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
    /// An internal failure. `context` is for the log only; callers see a generic text.
    pub fn internal(context: impl fmt::Display) -> Self {
        Error::new(ErrorCode::Internal, format!("internal error: {context}"))
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
}
