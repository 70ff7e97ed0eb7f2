//! [`RemoteModule`]: the secrets module over HTTP, for a runtime that runs outside
//! the Lockbox process. It calls the run API (`/v1/run/secrets/{set,get,delete}`,
//! `/v1/run/fetch`, `/v1/run/redact`) with a run token and maps the server's
//! `{"error", "message"}` answers to [`ModuleError`]s.
//!
//! It follows no redirects (the run token must not travel elsewhere) and never puts
//! a request or response body in an error.

use crate::module::{ModuleError, SecretsModule};
use serde_json::{json, Value};

/// The secrets module for one run, over Lockbox's HTTP API.
pub struct RemoteModule {
    http: reqwest::Client,
    base: String,
    token: String,
    /// References this run was given or sent: `/v1/run/redact` masks exactly the
    /// values behind them.
    references: crate::embedded::References,
}

impl RemoteModule {
    /// `base_url` is the server (`https://lockbox.example:8270`); `run_token` an
    /// `lbr_…` token from `POST /v1/runs`.
    pub fn new(base_url: &str, run_token: &str) -> Result<RemoteModule, ModuleError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| ModuleError::new("internal", "cannot build the HTTP client"))?;
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
                    "unavailable",
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
        let code = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("internal")
            .to_owned();
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
            .ok_or_else(|| ModuleError::new("internal", "Lockbox answered without a reference"))
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
                None => Value::String(crate::runtime::OUTPUT_REDACTED.to_owned()),
            },
            // Fail closed.
            Err(_) => Value::String(crate::runtime::OUTPUT_REDACTED.to_owned()),
        }
    }
}
