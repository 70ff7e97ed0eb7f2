//! Stored flows (seed 001's YAML automations), bindings (which owner uses which
//! secret, seed 003), and the answers of running a flow or a script on the server.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One use of a secret: who (`flow:<slug>`, or a platform's own owner name) and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BindingInfo {
    pub owner: String,
    pub location: String,
}

/// Body of `PUT /v1/workspaces/{ws}/bindings/{owner}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingsBody {
    /// Every secret this owner uses, replacing what it declared before.
    pub bindings: Vec<BindingUse>,
}

/// One secret an owner uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingUse {
    pub secret: String,
    /// Where the owner uses it (a node and field, a step path).
    pub location: String,
}

/// The answer to `PUT …/bindings/{owner}`: the owner's bindings now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Bindings {
    pub owner: String,
    pub bindings: Vec<BindingInfo>,
}

/// A stored flow, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowInfo {
    pub slug: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// `{"flows": […]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowList {
    pub flows: Vec<FlowInfo>,
}

/// The answer to `PUT …/flows/{slug}`: the flow stored, and the secret uses found
/// in it (they became the bindings of `flow:<slug>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoredFlow {
    pub slug: String,
    pub updated_at: String,
    pub updated_by: String,
    pub bindings: Vec<BindingUse>,
}

/// Body of `POST …/flows/{slug}/runs` (may be empty).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunFlowBody {
    /// A member the run acts as (user scope available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Default `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// Values for `{{config.*}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub config: Option<serde_json::Map<String, Value>>,
}

/// The answer to running a flow; every string in it has been redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FlowRun {
    pub run_id: String,
    /// `succeeded` or `failed`.
    pub status: String,
    /// The run's log lines and events, in order.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<Value>,
    /// The flow's `output:`, evaluated (succeeded runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub output: Option<Value>,
    /// What the runtime changed to keep a value out of the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<String>>,
    /// The failing step's error, with its code and place (failed runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub error: Option<Value>,
}

/// Body of `POST /v1/workspaces/{ws}/scripts/run`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunScriptBody {
    /// The script (seed 000's language).
    pub source: String,
    /// `Data.Request`: `{"body", "headers", "query"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub request: Option<Value>,
    /// A member the run acts as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Default `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

/// One `Log` line of a script run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogLine {
    /// `Debug`, `Information`, `Warning` or `Error`.
    pub level: String,
    pub message: String,
}

/// The answer to running a script; every string in it has been redacted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScriptRun {
    /// `completed`, `cancelled` or `failed`.
    pub status: String,
    pub logs: Vec<LogLine>,
    /// CancelAction's message, or the error.
    #[serde(default)]
    pub message: Option<String>,
    /// The error, when `status` is `failed`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub error: Option<Value>,
}
