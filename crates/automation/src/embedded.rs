//! [`EmbeddedModule`]: the secrets module in-process, over `lockbox_service::Lockbox`
//! (the `run_*` methods, as the run a run token names) and the egress executor
//! (references resolved by the service for that run, every call audited).
//!
//! Thin on purpose: every rule lives in the service or the executor. This adapter
//! mirrors the server's `/v1/run/*` handlers and never sees a value: the resolver
//! hands `SecretValue`s straight to the executor.

use crate::module::{ModuleError, SecretsModule};
use lockbox_core::{Error, Scope, SecretName};
use lockbox_egress::{Executor, FetchRequest, ReferenceResolver, Resolved};
use lockbox_service::runs::EgressRecord;
use lockbox_service::{Lockbox, Principal, RequestCtx};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// The most references one run's redactor is built from (the service's limit).
const MAX_REMEMBERED_REFERENCES: usize = 1024;

/// The secrets module for one run, in-process.
pub struct EmbeddedModule {
    svc: Arc<Lockbox>,
    principal: Principal,
    egress: Arc<Executor>,
    ctx: RequestCtx,
    /// Every reference this run was given or sent: its redactor masks exactly the
    /// values behind them (never other secrets, so output is no guessing oracle).
    references: References,
}

/// The references a run has held, for its redactor.
#[derive(Default)]
pub(crate) struct References(Mutex<Vec<String>>);

impl References {
    pub(crate) fn remember(&self, reference: &str) {
        let mut held = self.0.lock().expect("references lock");
        if held.len() < MAX_REMEMBERED_REFERENCES && !held.iter().any(|r| r == reference) {
            held.push(reference.to_owned());
        }
    }

    /// Every reference in the strings of `v` (a fetch request the run sends).
    pub(crate) fn remember_in(&self, v: &Value) {
        match v {
            Value::String(s) => {
                let mut from = 0;
                while let Some(pos) = s[from..].find(lockbox_egress::REFERENCE_PREFIX) {
                    let start = from + pos;
                    let end = s[start + lockbox_egress::REFERENCE_PREFIX.len()..]
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                        .map_or(s.len(), |e| {
                            start + lockbox_egress::REFERENCE_PREFIX.len() + e
                        });
                    self.remember(&s[start..end]);
                    from = end.max(start + 1);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.remember_in(x)),
            Value::Object(o) => o.values().for_each(|x| self.remember_in(x)),
            _ => {}
        }
    }

    pub(crate) fn all(&self) -> Vec<String> {
        self.0.lock().expect("references lock").clone()
    }
}

impl EmbeddedModule {
    /// Acts as the run `run_token` (`lbr_…`) names. Any other token is refused.
    pub async fn new(
        svc: Arc<Lockbox>,
        run_token: &str,
        egress: Arc<Executor>,
    ) -> Result<EmbeddedModule, ModuleError> {
        let principal = svc.authenticate(run_token).await?;
        if principal.run.is_none() {
            return Err(ModuleError::new(
                "forbidden",
                "the flow runtime needs a run token; open a run first",
            ));
        }
        Ok(EmbeddedModule {
            svc,
            principal,
            egress,
            ctx: RequestCtx::default(),
            references: References::default(),
        })
    }

    /// The run this module acts as.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Notes a reference the run holds (seed 000's `GetSecret` reads through the
    /// service directly), so the run's redactor masks its value.
    pub fn remember_reference(&self, reference: &str) {
        self.references.remember(reference);
    }

    /// `secrets.set` with seed 000's description (`None` keeps the current one).
    /// References in the value are resolved by the service, which keeps their guard.
    pub async fn store(
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
                value,
                scope,
                ttl,
                description,
                &self.ctx,
            )
            .await?;
        self.references.remember(&r);
        Ok(r)
    }

    /// Tags the service's audit rows with a request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> EmbeddedModule {
        self.ctx.request_id = Some(id.into());
        self
    }
}

/// Resolves references for the executor as the run (the server's `RunResolver`).
struct RunResolver<'a> {
    svc: &'a Lockbox,
    principal: &'a Principal,
}

#[async_trait::async_trait]
impl ReferenceResolver for RunResolver<'_> {
    async fn resolve(&self, reference: &str) -> Result<Resolved, Error> {
        let r = self
            .svc
            .resolve_reference(self.principal, reference)
            .await?;
        Ok(Resolved {
            name: r.name,
            secret_id: r.secret_id,
            value: r.value,
            allowed_hosts: r.allowed_hosts,
        })
    }
}

/// One outbound call for a run: references resolved by the service as that run,
/// sent by the egress executor, answered as `{status, headers, body}` (redacted),
/// and audited (`egress.fetch`, with the secrets it used even when it failed). The
/// one path every caller takes: the server's `/v1/run/fetch` and the embedded module.
/// The audit row of a finished call is committed in the background rather than
/// holding the answer on an fsync; a refused call's row is written before answering.
pub async fn fetch_as_run(
    svc: &Arc<Lockbox>,
    principal: &Principal,
    egress: &Executor,
    req: FetchRequest,
    ctx: &RequestCtx,
) -> Result<Value, Error> {
    let resolver = RunResolver { svc, principal };
    let (attempt, result) = egress.fetch_audited(req, &resolver).await;
    let secrets = attempt
        .used
        .iter()
        .map(|u| (u.name.clone(), u.secret_id.clone()))
        .collect();
    match result {
        Ok(out) => {
            let rec = EgressRecord {
                method: out.method.clone(),
                host: out.host.clone(),
                url_secret: out.url_secret.clone(),
                status: Some(out.status),
                bytes: out.bytes,
                secrets,
                error: None,
            };
            let (svc, principal, ctx) = (svc.clone(), principal.clone(), ctx.clone());
            tokio::spawn(async move { svc.record_egress(&principal, rec, &ctx).await });
            let headers: serde_json::Map<String, Value> = out
                .headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(json!({ "status": out.status, "headers": headers, "body": out.body }))
        }
        Err(e) => {
            let rec = EgressRecord {
                method: attempt.method,
                host: attempt.host,
                url_secret: attempt.url_secret,
                status: None,
                bytes: 0,
                secrets,
                error: Some(e.code),
            };
            svc.record_egress(principal, rec, ctx).await;
            Err(e)
        }
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
            .await?;
        self.references.remember(&r);
        Ok(r)
    }

    async fn delete(&self, name: &str, scope: &str) -> Result<(), ModuleError> {
        let (name, scope) = parse_name_scope(name, scope)?;
        Ok(self
            .svc
            .run_delete_secret(&self.principal, &name, scope, &self.ctx)
            .await?)
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
        Ok(fetch_as_run(&self.svc, &self.principal, &self.egress, req, &self.ctx).await?)
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
            _ => Value::String(crate::runtime::OUTPUT_REDACTED.to_owned()),
        }
    }
}
