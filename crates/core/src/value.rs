//! Secret values and the small enums that describe where a secret lives and who
//! may see it.
//!
//! [`SecretValue`] is the only type that holds plaintext. It prints `[REDACTED]`,
//! zeroizes its buffer on drop, compares in constant time and has no `Serialize`:
//! getting the bytes out takes a call to [`SecretValue::expose`], and every such call
//! carries an `// EXPOSE: why` comment.

use crate::error::{Error, Result};
use crate::sensitive::Sensitive;
use std::fmt;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Default largest value, in bytes of its JSON encoding (docs/api.md: 64 KiB).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 64 * 1024;

/// Plaintext: the value's canonical JSON encoding (a string value is a JSON string).
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Builds a value from a JSON document, checking docs/api.md's rules: non-empty
    /// (no `""`, `{}`, `[]` or `null`) and within `max_bytes` once encoded.
    pub fn from_json(value: &serde_json::Value, max_bytes: usize) -> Result<SecretValue> {
        let empty = match value {
            serde_json::Value::Null => true,
            serde_json::Value::String(s) => s.is_empty(),
            serde_json::Value::Array(a) => a.is_empty(),
            serde_json::Value::Object(o) => o.is_empty(),
            _ => false,
        };
        if empty {
            return Err(
                Error::invalid("secret value must not be empty or null").with_field("value")
            );
        }
        let bytes =
            Zeroizing::new(serde_json::to_vec(value).map_err(|_| {
                Error::invalid("secret value is not valid JSON").with_field("value")
            })?);
        if bytes.len() > max_bytes {
            // Never the actual size: for a patched restricted value it would say how
            // long the value it cannot see is.
            return Err(Error::too_large(format!(
                "secret value is larger than the limit of {max_bytes} bytes (as JSON)"
            ))
            .with_field("value"));
        }
        Ok(SecretValue(bytes))
    }

    /// Wraps bytes that are already canonical JSON (for example just decrypted).
    pub fn from_json_bytes(bytes: Vec<u8>) -> SecretValue {
        SecretValue(Zeroizing::new(bytes))
    }

    /// The plaintext JSON bytes. Loudly named on purpose: grep for `EXPOSE:`.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Parses the plaintext back into a JSON value (for patching, field access),
    /// still typed as plaintext: wiped when dropped, redacted in `Debug`.
    pub fn to_json(&self) -> Result<Sensitive<serde_json::Value>> {
        // EXPOSE: parsed in memory only, to apply a patch or pick a field.
        serde_json::from_slice(self.expose())
            .map(Sensitive::new)
            .map_err(|_| Error::internal("stored secret value is not valid JSON"))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}
impl Eq for SecretValue {}

/// Where a secret lives inside its workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Shared by the workspace's members.
    Workspace,
    /// Private to one user inside the workspace.
    User,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Workspace => "workspace",
            Scope::User => "user",
        }
    }
    pub fn parse(s: &str) -> Result<Scope> {
        match s {
            "workspace" => Ok(Scope::Workspace),
            "user" => Ok(Scope::User),
            _ => Err(Error::invalid("scope must be 'workspace' or 'user'").with_field("scope")),
        }
    }
}

/// Who may ever see a value again. Fixed at creation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Visibility {
    /// People with the right role may reveal it for a moment.
    #[default]
    Masked,
    /// No person sees it again; only automations use it.
    Restricted,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Masked => "masked",
            Visibility::Restricted => "restricted",
        }
    }
    pub fn parse(s: &str) -> Result<Visibility> {
        match s {
            "masked" => Ok(Visibility::Masked),
            "restricted" => Ok(Visibility::Restricted),
            _ => Err(
                Error::invalid("visibility must be 'masked' or 'restricted'")
                    .with_field("visibility"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_and_display_redact() {
        let v = SecretValue::from_json(&json!("hunter2-very-secret"), 100).unwrap();
        assert_eq!(format!("{v:?}"), "[REDACTED]");
        assert_eq!(format!("{v}"), "[REDACTED]");
        assert!(!format!("{v:#?}").contains("hunter2"));
    }

    #[test]
    fn to_json_stays_redacted() {
        let v = SecretValue::from_json(&json!({"pw": "hunter2-very-secret"}), 100).unwrap();
        let doc = v.to_json().unwrap();
        assert!(!format!("{doc:?}").contains("hunter2"));
    }

    #[test]
    fn rejects_empty_and_oversized() {
        for empty in [json!(""), json!({}), json!([]), json!(null)] {
            assert_eq!(
                SecretValue::from_json(&empty, 100).unwrap_err().code,
                crate::ErrorCode::Invalid
            );
        }
        let err = SecretValue::from_json(&json!("x".repeat(200)), 100).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::TooLarge);
        assert!(!err.message.contains("xxxx"));
    }

    #[test]
    fn keeps_json_shape() {
        let v = SecretValue::from_json(&json!({"token": "t", "siteId": 123}), 100).unwrap();
        let doc = v.to_json().unwrap();
        // EXPOSE: the test compares the parsed value.
        assert_eq!(*doc.expose(), json!({"token": "t", "siteId": 123}));
        assert_eq!(
            v,
            SecretValue::from_json_bytes(br#"{"siteId":123,"token":"t"}"#.to_vec())
        );
    }
}
