//! What the script runtime needs from Lockbox: the [`ScriptHost`] trait. The
//! `lockbox-runs` crate implements it over the service; tests may implement it too.

use crate::module::ModuleError;
use serde_json::Value;

/// A secret read for a script: its value and a reference to the version read.
pub struct HostSecret {
    /// The value: a JSON string's text as a string, an object/array as JSON.
    pub value: Value,
    /// `$secret:…` reference to the same version, for the egress executor.
    pub reference: String,
}

/// Lockbox as one script run sees it. Errors never hold a value.
#[async_trait::async_trait]
pub trait ScriptHost: Send + Sync {
    /// The workspace secret `name`, or `None` when missing or expired.
    async fn get_secret(&self, name: &str) -> Result<Option<HostSecret>, ModuleError>;

    /// A reference to one field of the current version of `name` (object values).
    async fn reference(&self, name: &str, field: Option<&str>) -> Result<String, ModuleError>;

    /// Upserts a workspace secret; `description` `None` keeps the old one. Strings
    /// in `value` may hold `$secret:` references (how the script hands over what it
    /// read from secrets): the service resolves them and the stored secret keeps
    /// the strictest guard of those secrets.
    async fn set_secret(
        &self,
        name: &str,
        value: Value,
        description: Option<&str>,
    ) -> Result<(), ModuleError>;

    /// Seed 001's fetch fields through the egress executor; answers `{status,
    /// headers, body}` with resolved values redacted.
    async fn fetch(&self, request: Value) -> Result<Value, ModuleError>;

    /// Masks every secret the run can reach. Fails closed.
    async fn redact(&self, text: &str) -> String;
}
