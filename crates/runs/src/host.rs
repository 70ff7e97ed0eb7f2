//! [`EmbeddedScriptHost`]: seed 000's script host in process, as one run. It is
//! the run's [`EmbeddedModule`] plus what only scripts may do: `GetSecret` hands
//! the script a value (audited as `secret.read` before it is used).

use crate::EmbeddedModule;
use lockbox_automation::script::{HostSecret, ScriptHost};
use lockbox_automation::{ModuleError, SecretsModule, OUTPUT_REDACTED};
use lockbox_core::{ErrorCode, Scope, SecretName};
use serde_json::Value;

/// [`ScriptHost`] in process: the run's module, whose service calls it makes as
/// that run. Built from the module [`crate::Runs::open`] answers.
pub struct EmbeddedScriptHost {
    module: EmbeddedModule,
}

impl From<EmbeddedModule> for EmbeddedScriptHost {
    fn from(module: EmbeddedModule) -> EmbeddedScriptHost {
        EmbeddedScriptHost { module }
    }
}

impl EmbeddedScriptHost {
    /// The run's id (`DELETE /v1/runs/{id}` ends it).
    pub fn run_id(&self) -> &str {
        self.module.run_id()
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
            .module
            .svc
            .run_get_secret(
                &self.module.principal,
                &n,
                Scope::Workspace,
                None,
                &self.module.ctx,
            )
            .await
        {
            Ok(r) => {
                self.module.remember_reference(&r);
                r
            }
            Err(e) if e.code == ErrorCode::NotFound || e.code == ErrorCode::Expired => {
                return Ok(None)
            }
            Err(e) => return Err(self.module.fail(e)),
        };
        let resolved = match self
            .module
            .svc
            .resolve_reference(&self.module.principal, &reference)
            .await
        {
            Ok(r) => r,
            Err(e) if e.code == ErrorCode::NotFound || e.code == ErrorCode::Expired => {
                return Ok(None)
            }
            Err(e) => return Err(self.module.fail(e)),
        };
        self.module
            .svc
            .record_run_read(
                &self.module.principal,
                &resolved.secret.name,
                &resolved.secret.secret_id,
                &self.module.ctx,
            )
            .await
            .map_err(|e| self.module.fail(e))?;
        // The substitution text: a string value's own characters, other JSON as
        // JSON text. Objects and arrays come back as JSON; the rest as text.
        // EXPOSE: GetSecret hands the script the value (tainted from here on).
        let bytes = resolved.secret.value.expose();
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
            .module
            .svc
            .run_get_secret(
                &self.module.principal,
                &n,
                Scope::Workspace,
                field,
                &self.module.ctx,
            )
            .await
            .map_err(|e| self.module.fail(e))?;
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
            _ => OUTPUT_REDACTED.to_owned(),
        }
    }
}
