//! The bodies of Lockbox's native HTTP API (`/v1/...`): what a request sends and
//! what a 2xx or error answer holds, field for field. The server parses requests
//! into these types and answers with them, the OpenAPI document is generated from
//! their schemas, and the SDK (`lockbox-client`) sends and decodes the same types,
//! so the two cannot drift apart.
//!
//! This crate owns only shapes and their serde and schema attributes: no rule, no
//! I/O. Plaintext is typed: a secret value in a request body is a
//! [`Sensitive`](lockbox_core::Sensitive) (redacting `Debug`, wiped on drop), and a
//! fresh token or a revealed value in an answer is a `Sensitive` field that goes on
//! the wire only through `lockbox_core::sensitive::serialize_exposed`.
//!
//! Answers are decoded leniently (unknown fields are ignored, fields a newer server
//! added default), so an older SDK keeps working; request bodies are strict
//! (`deny_unknown_fields`), so a typo in a field name is `invalid`, not ignored.

pub mod admin;
pub mod errors;
pub mod flows;
pub mod runs;
pub mod secrets;

pub use admin::*;
pub use errors::ErrorBody;
pub use flows::*;
pub use runs::*;
pub use secrets::*;

/// `{"deleted": true}`: the answer to the `DELETE` calls and `POST …/secrets/delete`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Deleted {
    pub deleted: bool,
}

/// Serializes an optional `Sensitive` field (a token shown once, when there is one).
pub(crate) fn serialize_exposed_opt<T, S>(
    value: &Option<lockbox_core::Sensitive<T>>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    T: lockbox_core::Wipe + serde::Serialize,
    S: serde::Serializer,
{
    match value {
        Some(inner) => lockbox_core::sensitive::serialize_exposed(inner, serializer),
        None => serializer.serialize_none(),
    }
}
