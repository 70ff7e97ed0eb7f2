//! The automation API (seed 001): opening and ending runs, and the bodies a run
//! token sends to `/v1/run/…`. Answers carry references (`$secret:…`), never values.

use lockbox_core::Sensitive;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of `POST /v1/runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenRunBody {
    pub workspace: String,
    /// A member's user name: the run acts as that user (user scope available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `manual`, `webhook`, `cron`, …
    pub trigger: String,
    /// Seconds the run token lives (default 900, at most the server's
    /// `--max-run-ttl`, default 3600; never longer than the opening token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// The answer to `POST /v1/runs`. `token` is the run token (`lbr_…`), shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OpenedRun {
    pub run_id: String,
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    #[schema(value_type = String)]
    pub token: Sensitive<String>,
    pub workspace: String,
    pub user: Option<String>,
    pub trigger: String,
    pub expires_at: String,
}

/// `{"ended": true}`: the answer to `DELETE /v1/runs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ended {
    pub ended: bool,
}

/// Body of `POST /v1/run/secrets/set`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSetBody {
    pub name: String,
    /// The value; its strings may hold references of the run.
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    #[schema(value_type = Object)]
    pub value: Sensitive<Value>,
    /// `workspace` or `user`.
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

/// Body of `POST /v1/run/secrets/get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunGetBody {
    pub name: String,
    pub scope: String,
    /// One field of a JSON object value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Body of `POST /v1/run/secrets/delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunDeleteBody {
    pub name: String,
    pub scope: String,
}

/// `{"ref": "$secret:…"}`: the answer to `secrets/set` and `secrets/get`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SecretRef {
    #[serde(rename = "ref")]
    pub reference: String,
}

/// Body of `POST /v1/run/redact`: `lines` or `event`, and the run's references.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
    /// Any JSON, `null` included (an `emit` without a payload).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Object)]
    pub event: Option<Value>,
    /// The references the run holds (answers of `secrets.set`/`get`, and those it
    /// sent in fetches): exactly the values behind them are masked.
    #[serde(default)]
    pub refs: Vec<String>,
}

/// The answer to `POST /v1/run/redact`: what was sent, masked.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Redacted {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Object)]
    pub event: Option<Value>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_null_event_is_present_and_an_absent_one_is_not() {
        let b: RedactBody = serde_json::from_value(json!({"event": null, "refs": []})).unwrap();
        assert_eq!(b.event, Some(Value::Null));
        assert_eq!(serde_json::to_value(&b).unwrap()["event"], Value::Null);
        let b: RedactBody = serde_json::from_value(json!({"lines": ["a"]})).unwrap();
        assert_eq!(b.event, None);
        assert_eq!(
            serde_json::to_value(&b).unwrap(),
            json!({"lines": ["a"], "refs": []})
        );
    }

    #[test]
    fn run_tokens_and_set_values_never_print() {
        let r: OpenedRun = serde_json::from_value(json!({"run_id": "r1", "token": "lbr_secret1",
            "workspace": "w", "user": null, "trigger": "manual", "expires_at": "t"}))
        .unwrap();
        assert!(!format!("{r:?}").contains("lbr_secret1"));
        let s = RunSetBody {
            name: "n".into(),
            value: Sensitive::new(json!("hunter2-secret")),
            scope: "workspace".into(),
            ttl: None,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        assert_eq!(serde_json::to_value(&s).unwrap()["value"], "hunter2-secret");
        let r: SecretRef = serde_json::from_value(json!({"ref": "$secret:abc"})).unwrap();
        assert_eq!(r.reference, "$secret:abc");
    }
}
