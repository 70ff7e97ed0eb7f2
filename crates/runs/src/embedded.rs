//! [`EmbeddedModule`]: seed 001's secrets module in process, as one run, over the
//! service's `run_*` methods and the egress executor (through [`fetch_as_run`]).
//!
//! Thin on purpose: every rule lives in the service or the executor. It mirrors the
//! server's `/v1/run/*` handlers and never sees a value: the resolver hands
//! `SecretValue`s straight to the executor.

use crate::fetch::fetch_as_run;
use crate::references::References;
use crate::{log_cause, module_error};
use lockbox_automation::{ModuleError, SecretsModule, OUTPUT_REDACTED};
use lockbox_core::{Error, Scope, SecretName};
use lockbox_egress::{Executor, FetchRequest};
use lockbox_service::{Lockbox, Principal, RequestCtx};
use serde_json::Value;
use std::sync::Arc;

/// The secrets module of one run, in process. Built by [`crate::Runs::open`].
pub struct EmbeddedModule {
    pub(crate) svc: Arc<Lockbox>,
    pub(crate) run_id: String,
    pub(crate) principal: Principal,
    pub(crate) egress: Arc<Executor>,
    pub(crate) ctx: RequestCtx,
    /// Every reference this run was given or sent: its redactor masks exactly the
    /// values behind them (never other secrets, so output is no guessing oracle).
    pub(crate) references: References,
}

impl EmbeddedModule {
    /// The run's id (`DELETE /v1/runs/{id}` ends it).
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The run this module acts as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Notes a reference the run holds (seed 000's `GetSecret` reads through the
    /// service directly), so the run's redactor masks its value.
    pub(crate) fn remember_reference(&self, reference: &str) {
        self.references.remember(reference);
    }

    /// A service error as this run sees it; an internal cause goes to the log.
    pub(crate) fn fail(&self, e: Error) -> ModuleError {
        module_error(e, &self.ctx, &self.run_id)
    }

    /// `secrets.set` with seed 000's description (`None` keeps the current one).
    /// References in the value are resolved by the service, which keeps their guard.
    pub(crate) async fn store(
        &self,
        name: &str,
        value: Value,
        scope: &str,
        ttl: Option<u64>,
        description: Option<String>,
    ) -> Result<String, ModuleError> {
        let (name, scope) = parse_name_scope(name, scope)?;
        self.references.remember_in(&value);
        let r = self
            .svc
            .run_set_secret(
                &self.principal,
                &name,
                // The runtime's module interface hands over a plain `Value`; from
                // here to sealing it stays wrapped.
                lockbox_core::Sensitive::new(value),
                scope,
                ttl,
                description,
                &self.ctx,
            )
            .await
            .map_err(|e| self.fail(e))?;
        self.references.remember(&r);
        Ok(r)
    }
}

fn parse_name_scope(name: &str, scope: &str) -> Result<(SecretName, Scope), ModuleError> {
    Ok((SecretName::parse(name)?, Scope::parse(scope)?))
}

#[async_trait::async_trait]
impl SecretsModule for EmbeddedModule {
    async fn set(
        &self,
        name: &str,
        value: Value,
        scope: &str,
        ttl: Option<u64>,
    ) -> Result<String, ModuleError> {
        self.store(name, value, scope, ttl, None).await
    }

    async fn get(
        &self,
        name: &str,
        scope: &str,
        field: Option<&str>,
    ) -> Result<String, ModuleError> {
        let (name, scope) = parse_name_scope(name, scope)?;
        let r = self
            .svc
            .run_get_secret(&self.principal, &name, scope, field, &self.ctx)
            .await
            .map_err(|e| self.fail(e))?;
        self.references.remember(&r);
        Ok(r)
    }

    async fn delete(&self, name: &str, scope: &str) -> Result<(), ModuleError> {
        let (name, scope) = parse_name_scope(name, scope)?;
        self.svc
            .run_delete_secret(&self.principal, &name, scope, &self.ctx)
            .await
            .map_err(|e| self.fail(e))
    }

    async fn fetch(&self, request: Value) -> Result<Value, ModuleError> {
        self.references.remember_in(&request);
        // serde's message could quote a field's content; say which shape is expected.
        let req: FetchRequest = serde_json::from_value(request).map_err(|_| {
            ModuleError::invalid(
                "the fetch request does not match seed 001's fields (url, method, headers, \
                 query, body, auth {basic|bearer|awsv4}, timeout_ms)",
            )
        })?;
        fetch_as_run(&self.svc, &self.principal, &self.egress, req, &self.ctx)
            .await
            .map_err(|e| self.fail(e))
    }

    async fn redact(&self, v: Value) -> Value {
        let refs = self.references.all();
        match self
            .svc
            .run_redact(&self.principal, &refs, None, Some(v), &self.ctx)
            .await
        {
            Ok((_, Some(v))) => v,
            // Fail closed: nothing leaves unredacted.
            Ok((_, None)) => Value::String(OUTPUT_REDACTED.to_owned()),
            Err(e) => {
                log_cause(&e, &self.ctx, &self.run_id);
                Value::String(OUTPUT_REDACTED.to_owned())
            }
        }
    }
}
