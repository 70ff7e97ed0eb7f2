//! What the script runtime needs from Lockbox, and the in-process implementation.

use crate::module::{ModuleError, SecretsModule};
use crate::EmbeddedModule;
use lockbox_core::{ErrorCode, Scope, SecretName};
use lockbox_egress::Executor;
use lockbox_service::{Lockbox, Principal, RequestCtx};
use serde_json::Value;
use std::sync::Arc;

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

/// [`ScriptHost`] in-process: the service's run API as the run a run token names,
/// and the egress executor (through [`EmbeddedModule`]).
pub struct EmbeddedScriptHost {
    svc: Arc<Lockbox>,
    principal: Principal,
    module: EmbeddedModule,
    ctx: RequestCtx,
}

impl EmbeddedScriptHost {
    /// Acts as the run `run_token` (`lbr_…`) names. Any other token is refused.
    pub async fn new(
        svc: Arc<Lockbox>,
        run_token: &str,
        egress: Arc<Executor>,
    ) -> Result<EmbeddedScriptHost, ModuleError> {
        let module = EmbeddedModule::new(svc.clone(), run_token, egress).await?;
        let principal = svc.authenticate(run_token).await?;
        if principal.run.is_none() {
            return Err(ModuleError::new(
                "forbidden",
                "the script runtime needs a run token",
            ));
        }
        Ok(EmbeddedScriptHost {
            svc,
            principal,
            module,
            ctx: RequestCtx::default(),
        })
    }
}

fn name_of(name: &str) -> Result<SecretName, ModuleError> {
    Ok(SecretName::parse(name)?)
}

#[async_trait::async_trait]
impl ScriptHost for EmbeddedScriptHost {
    async fn get_secret(&self, name: &str) -> Result<Option<HostSecret>, ModuleError> {
        let n = name_of(name)?;
        let reference = match self
            .svc
            .run_get_secret(&self.principal, &n, Scope::Workspace, None, &self.ctx)
            .await
        {
            Ok(r) => {
                self.module.remember_reference(&r);
                r
            }
            Err(e) if e.code == ErrorCode::NotFound || e.code == ErrorCode::Expired => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        let resolved = match self
            .svc
            .resolve_reference(&self.principal, &reference)
            .await
        {
            Ok(r) => r,
            Err(e) if e.code == ErrorCode::NotFound || e.code == ErrorCode::Expired => {
                return Ok(None)
            }
            Err(e) => return Err(e.into()),
        };
        self.svc
            .record_run_read(
                &self.principal,
                &resolved.name,
                &resolved.secret_id,
                &self.ctx,
            )
            .await?;
        // The substitution text: a string value's own characters, other JSON as
        // JSON text. Objects and arrays come back as JSON; the rest as text.
        // EXPOSE: GetSecret hands the script the value (tainted from here on).
        let bytes = resolved.value.expose();
        let text = String::from_utf8_lossy(bytes).into_owned();
        let value = match bytes.first() {
            Some(b'{') | Some(b'[') => match serde_json::from_slice::<Value>(bytes) {
                Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
                _ => Value::String(text),
            },
            _ => Value::String(text),
        };
        Ok(Some(HostSecret { value, reference }))
    }

    async fn reference(&self, name: &str, field: Option<&str>) -> Result<String, ModuleError> {
        let n = name_of(name)?;
        let r = self
            .svc
            .run_get_secret(&self.principal, &n, Scope::Workspace, field, &self.ctx)
            .await?;
        self.module.remember_reference(&r);
        Ok(r)
    }

    async fn set_secret(
        &self,
        name: &str,
        value: Value,
        description: Option<&str>,
    ) -> Result<(), ModuleError> {
        self.module
            .store(
                name,
                value,
                "workspace",
                None,
                description.map(str::to_owned),
            )
            .await?;
        Ok(())
    }

    async fn fetch(&self, request: Value) -> Result<Value, ModuleError> {
        self.module.fetch(request).await
    }

    async fn redact(&self, text: &str) -> String {
        match self.module.redact(Value::String(text.to_owned())).await {
            Value::String(s) => s,
            _ => crate::runtime::OUTPUT_REDACTED.to_owned(),
        }
    }
}
