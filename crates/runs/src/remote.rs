//! [`RemoteModule`]: the secrets module over HTTP, for a runtime that runs outside
//! the Lockbox process. It calls the run API (`/v1/run/secrets/{set,get,delete}`,
//! `/v1/run/fetch`, `/v1/run/redact`) with a run token and maps the server's
//! `{"error", "message"}` answers to [`ModuleError`]s.
//!
//! It follows no redirects (the run token must not travel elsewhere) and never puts
//! a request or response body in an error.

use crate::references::References;
use lockbox_automation::{ModuleError, SecretsModule, OUTPUT_REDACTED};
use lockbox_core::ErrorCode;
use serde_json::{json, Value};

/// The secrets module for one run, over Lockbox's HTTP API.
pub struct RemoteModule {
    http: reqwest::Client,
    base: String,
    token: String,
    /// References this run was given or sent: `/v1/run/redact` masks exactly the
    /// values behind them.
    references: References,
}

impl RemoteModule {
    /// `base_url` is the server (`https://lockbox.example:8270`); `run_token` an
    /// `lbr_…` token from `POST /v1/runs`.
    pub fn new(base_url: &str, run_token: &str) -> Result<RemoteModule, ModuleError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| ModuleError::new(ErrorCode::Internal, "cannot build the HTTP client"))?;
        Ok(RemoteModule::with_client(http, base_url, run_token))
    }

    /// As [`RemoteModule::new`] with a client of the caller's (custom TLS roots).
    pub fn with_client(http: reqwest::Client, base_url: &str, run_token: &str) -> RemoteModule {
        RemoteModule {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token: run_token.to_owned(),
            references: Default::default(),
        }
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, ModuleError> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                ModuleError::new(
                    ErrorCode::Unavailable,
                    format!(
                        "cannot reach Lockbox ({})",
                        if e.is_timeout() {
                            "timeout"
                        } else {
                            "connection failed"
                        }
                    ),
                )
            })?;
        let status = resp.status();
        let v: Value = resp.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(v);
        }
        // The wire carries the code as text: read it as the server's enum. A body
        // without one (a proxy's page) is classed by its status instead.
        let code = v
            .get("error")
            .and_then(Value::as_str)
            .and_then(ErrorCode::parse)
            .unwrap_or_else(|| code_of_status(status.as_u16()));
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("Lockbox answered {}", status.as_u16()));
        Err(ModuleError::new(code, message))
    }

    fn reference(v: Value) -> Result<String, ModuleError> {
        v.get("ref")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| {
                ModuleError::new(ErrorCode::Internal, "Lockbox answered without a reference")
            })
    }
}

/// The code an answer without a Lockbox error body stands for, by its status.
fn code_of_status(status: u16) -> ErrorCode {
    match status {
        400 => ErrorCode::Invalid,
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        412 => ErrorCode::VersionMismatch,
        413 => ErrorCode::TooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        429 => ErrorCode::RateLimited,
        502 => ErrorCode::UpstreamFailed,
        503 => ErrorCode::Unavailable,
        504 => ErrorCode::UpstreamTimeout,
        _ => ErrorCode::Internal,
    }
}

#[async_trait::async_trait]
impl SecretsModule for RemoteModule {
    async fn set(
        &self,
        name: &str,
        value: Value,
        scope: &str,
        ttl: Option<u64>,
    ) -> Result<String, ModuleError> {
        self.references.remember_in(&value);
        let mut body = json!({"name": name, "value": value, "scope": scope});
        if let Some(t) = ttl {
            body["ttl"] = json!(t);
        }
        let r = Self::reference(self.call("/v1/run/secrets/set", body).await?)?;
        self.references.remember(&r);
        Ok(r)
    }

    async fn get(
        &self,
        name: &str,
        scope: &str,
        field: Option<&str>,
    ) -> Result<String, ModuleError> {
        let mut body = json!({"name": name, "scope": scope});
        if let Some(f) = field {
            body["field"] = json!(f);
        }
        let r = Self::reference(self.call("/v1/run/secrets/get", body).await?)?;
        self.references.remember(&r);
        Ok(r)
    }

    async fn delete(&self, name: &str, scope: &str) -> Result<(), ModuleError> {
        self.call(
            "/v1/run/secrets/delete",
            json!({"name": name, "scope": scope}),
        )
        .await
        .map(|_| ())
    }

    async fn fetch(&self, request: Value) -> Result<Value, ModuleError> {
        self.references.remember_in(&request);
        self.call("/v1/run/fetch", request).await
    }

    async fn redact(&self, v: Value) -> Value {
        let body = json!({ "event": v, "refs": self.references.all() });
        match self.call("/v1/run/redact", body).await {
            Ok(mut out) => match out.get_mut("event") {
                Some(e) => e.take(),
                None => Value::String(OUTPUT_REDACTED.to_owned()),
            },
            // Fail closed.
            Err(_) => Value::String(OUTPUT_REDACTED.to_owned()),
        }
    }
}
