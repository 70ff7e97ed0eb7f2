//! The one interface the flow runtime uses to reach Lockbox: seed 001's secrets
//! module (`set`, `get`, `delete`), the egress executor (`fetch`) and the run's
//! redactor. This crate defines it and never implements it against Lockbox: the
//! `lockbox-runs` crate does (in-process over the service, or over HTTP), so the
//! runtimes depend on nothing but core and redact. Neither implementation ever
//! hands the runtime a secret value: `set` and `get` answer `$secret:` references,
//! and `fetch` answers a response with every resolved value already redacted.

use lockbox_core::ErrorCode;
use serde_json::Value;
use std::fmt;

/// A failed module call: Lockbox's code (`not_found`, `user_required`, `forbidden`,
/// `egress_denied`, `invalid`, …), typed, and a message that never holds a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleError {
    pub code: ErrorCode,
    pub message: String,
}

impl ModuleError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ModuleError {
        ModuleError {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> ModuleError {
        ModuleError::new(ErrorCode::Invalid, message)
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ModuleError {}

/// Keeps the code and the public message only: whoever converts logs an internal
/// error's private cause first (the in-process module in `lockbox-runs` does).
impl From<lockbox_core::Error> for ModuleError {
    fn from(e: lockbox_core::Error) -> ModuleError {
        ModuleError::new(e.code, e.message)
    }
}

/// Seed 001's secrets module plus egress and redaction, as one run sees them.
#[async_trait::async_trait]
pub trait SecretsModule: Send + Sync {
    /// Upserts; answers a `$secret:…` reference to the new version.
    async fn set(
        &self,
        name: &str,
        value: Value,
        scope: &str,
        ttl: Option<u64>,
    ) -> Result<String, ModuleError>;

    /// Answers a fresh `$secret:…` reference (to one field of a JSON object value
    /// when `field` is given).
    async fn get(
        &self,
        name: &str,
        scope: &str,
        field: Option<&str>,
    ) -> Result<String, ModuleError>;

    async fn delete(&self, name: &str, scope: &str) -> Result<(), ModuleError>;

    /// Sends seed 001's fetch fields (`url`, `method`, `headers`, `query`, `body`,
    /// `auth`, `timeout_ms`; references inside) through the egress executor and
    /// answers `{"status", "headers", "body"}` with every resolved value redacted.
    async fn fetch(&self, request: Value) -> Result<Value, ModuleError>;

    /// Masks every secret value the run can reach. Events, step results and the
    /// flow's output go through this before anyone sees them. Fails closed.
    async fn redact(&self, v: Value) -> Value;
}
