//! The error body every native error answer carries (`docs/api.md`, "Errors").

use serde::{Deserialize, Serialize};

/// `{"error": "<code>", "message": "<text>", "request_id": "<id>"}`. `error` is a
/// stable machine code; it is kept as text here so a client meets a code newer than
/// itself as that code, not as something else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
    #[serde(default)]
    pub request_id: Option<String>,
}
