//! The automation endpoints as methods on [`Client`]: runs (`/v1/runs`), the run
//! API a run token uses (`/v1/run/…`), stored flows, bindings and scripts.
//!
//! The run API answers references (`$secret:…`), never values. Call it with a
//! client that carries the run's token: `client.with_token(run.token.expose())`.

use crate::client::{seg, Call, Client};
use crate::error::{Error, Result};
use lockbox_core::{Scope, Sensitive};
use lockbox_wire::{
    BindingUse, Bindings, Deleted, Ended, FlowInfo, FlowList, FlowRun, OpenRunBody, OpenedRun,
    RedactBody, Redacted, RunDeleteBody, RunFlowBody, RunGetBody, RunScriptBody, RunSetBody,
    ScriptRun, SecretRef, StoredFlow,
};
use reqwest::Method;

/// Every [`Scope`] is spelled on the run API as in query strings.
fn scope_text(scope: Scope) -> String {
    match scope {
        Scope::Workspace => "workspace".to_owned(),
        Scope::User => "user".to_owned(),
    }
}

impl Client {
    // ---- runs -------------------------------------------------------------------

    /// `POST /v1/runs`: opens an automation run (owner/admin) and returns its
    /// token (`lbr_…`, shown once) for the run API.
    pub async fn open_run(
        &self,
        ws: &str,
        user: Option<&str>,
        trigger: &str,
        ttl: Option<u64>,
    ) -> Result<OpenedRun> {
        let body = OpenRunBody {
            workspace: ws.to_owned(),
            user: user.map(str::to_owned),
            trigger: trigger.to_owned(),
            ttl,
        };
        let call = Call::new(Method::POST, "/v1/runs".into()).json(&body)?;
        self.send_json("open run", call).await
    }

    /// `DELETE /v1/runs/{id}`: ends a run; its token and references stop working.
    pub async fn end_run(&self, run_id: &str) -> Result<Ended> {
        let path = format!("/v1/runs/{}", seg("run id", run_id)?);
        self.send_json("end run", Call::new(Method::DELETE, path))
            .await
    }

    // ---- the run API (a run token) ------------------------------------------------

    /// `POST /v1/run/secrets/set`: writes `value` (its strings may hold the run's
    /// references) and answers a reference to it.
    pub async fn run_set_secret(
        &self,
        name: &str,
        scope: Scope,
        value: Sensitive<serde_json::Value>,
        ttl: Option<u64>,
    ) -> Result<SecretRef> {
        let body = RunSetBody {
            name: name.to_owned(),
            value,
            scope: scope_text(scope),
            ttl,
        };
        let call = Call::new(Method::POST, "/v1/run/secrets/set".into()).json(&body)?;
        self.send_json("run secrets set", call).await
    }

    /// `POST /v1/run/secrets/get`: a reference to the secret (or to one `field`
    /// of a JSON object value), never the value.
    pub async fn run_get_secret(
        &self,
        name: &str,
        scope: Scope,
        field: Option<&str>,
    ) -> Result<SecretRef> {
        let body = RunGetBody {
            name: name.to_owned(),
            scope: scope_text(scope),
            field: field.map(str::to_owned),
        };
        let call = Call::new(Method::POST, "/v1/run/secrets/get".into()).json(&body)?;
        self.send_json("run secrets get", call).await
    }

    /// `POST /v1/run/secrets/delete`.
    pub async fn run_delete_secret(&self, name: &str, scope: Scope) -> Result<Deleted> {
        let body = RunDeleteBody {
            name: name.to_owned(),
            scope: scope_text(scope),
        };
        let call = Call::new(Method::POST, "/v1/run/secrets/delete".into()).json(&body)?;
        self.send_json("run secrets delete", call).await
    }

    /// `POST /v1/run/fetch`: the server sends `request` (`{"url", "method",
    /// "headers", "query", "body", "auth", "timeout_ms"}`, whose strings may hold
    /// the run's references) and answers `{"status", "headers", "body"}` with every
    /// resolved value redacted. The request shape is the egress executor's
    /// (`docs/api.md`, "Fetch"), passed through as JSON.
    pub async fn run_fetch(&self, request: &serde_json::Value) -> Result<serde_json::Value> {
        let call = Call::new(Method::POST, "/v1/run/fetch".into()).json(request)?;
        self.send_json("run fetch", call).await
    }

    /// `POST /v1/run/redact`: `lines` or `event` with the values behind `refs`
    /// masked.
    pub async fn run_redact(&self, body: &RedactBody) -> Result<Redacted> {
        if body.lines.is_none() && body.event.is_none() {
            return Err(Error::Config(
                "run_redact needs lines or an event to redact".into(),
            ));
        }
        let call = Call::new(Method::POST, "/v1/run/redact".into()).json(body)?;
        self.send_json("run redact", call).await
    }

    // ---- flows and bindings -------------------------------------------------------

    fn flow_path(ws: &str, slug: &str) -> Result<String> {
        Ok(format!(
            "{}/flows/{}",
            Self::workspace_path(ws)?,
            seg("flow slug", slug)?
        ))
    }

    /// `GET /v1/workspaces/{ws}/flows`.
    pub async fn list_flows(&self, ws: &str) -> Result<Vec<FlowInfo>> {
        let call = Call::new(Method::GET, format!("{}/flows", Self::workspace_path(ws)?));
        let body: FlowList = self.send_json("list flows", call).await?;
        Ok(body.flows)
    }

    /// `PUT /v1/workspaces/{ws}/flows/{slug}`: stores a flow (seed 001's YAML).
    /// It is validated first (errors name line and column), and the secrets it
    /// uses become the bindings of `flow:<slug>`.
    pub async fn put_flow(&self, ws: &str, slug: &str, yaml: &str) -> Result<StoredFlow> {
        let call = Call::new(Method::PUT, Self::flow_path(ws, slug)?)
            .raw(yaml.as_bytes().to_vec(), "application/yaml");
        self.send_json("put flow", call).await
    }

    /// `GET /v1/workspaces/{ws}/flows/{slug}`: the flow's YAML as stored.
    pub async fn get_flow(&self, ws: &str, slug: &str) -> Result<String> {
        let (_, body) = self
            .send(Call::new(Method::GET, Self::flow_path(ws, slug)?))
            .await?;
        String::from_utf8(body).map_err(|_| Error::Decode("get flow: the YAML is not UTF-8".into()))
    }

    /// `DELETE /v1/workspaces/{ws}/flows/{slug}`: its secrets are no longer bound by it.
    pub async fn delete_flow(&self, ws: &str, slug: &str) -> Result<Deleted> {
        self.send_json(
            "delete flow",
            Call::new(Method::DELETE, Self::flow_path(ws, slug)?),
        )
        .await
    }

    /// `POST /v1/workspaces/{ws}/flows/{slug}/runs`: runs a stored flow on the
    /// server as a run of the workspace; everything in the answer is redacted.
    pub async fn run_flow(&self, ws: &str, slug: &str, body: &RunFlowBody) -> Result<FlowRun> {
        let call =
            Call::new(Method::POST, format!("{}/runs", Self::flow_path(ws, slug)?)).json(body)?;
        self.send_json("run flow", call).await
    }

    /// `PUT /v1/workspaces/{ws}/bindings/{owner}`: declares every secret `owner`
    /// (a platform running its own flows) uses, replacing what it declared before.
    /// A bound secret is not deleted or renamed without `force`.
    pub async fn put_bindings(
        &self,
        ws: &str,
        owner: &str,
        bindings: &[BindingUse],
    ) -> Result<Bindings> {
        let path = format!(
            "{}/bindings/{}",
            Self::workspace_path(ws)?,
            seg("binding owner", owner)?
        );
        let call = Call::new(Method::PUT, path).json(&lockbox_wire::BindingsBody {
            bindings: bindings.to_vec(),
        })?;
        self.send_json("put bindings", call).await
    }

    // ---- scripts --------------------------------------------------------------------

    /// `POST /v1/workspaces/{ws}/scripts/run`: runs a seed 000 script on the server
    /// as a run of the workspace; the logs and message are redacted.
    pub async fn run_script_typed(&self, ws: &str, body: &RunScriptBody) -> Result<ScriptRun> {
        let path = format!("{}/scripts/run", Self::workspace_path(ws)?);
        let call = Call::new(Method::POST, path).json(body)?;
        self.send_json("run script", call).await
    }

    /// [`Client::run_script_typed`] with the body's fields as arguments, answering
    /// the [`ScriptRun`] as JSON (for printing it as it came).
    pub async fn run_script(
        &self,
        ws: &str,
        source: &str,
        request: Option<&serde_json::Value>,
        user: Option<&str>,
        trigger: Option<&str>,
    ) -> Result<serde_json::Value> {
        let body = RunScriptBody {
            source: source.to_owned(),
            request: request.cloned(),
            user: user.map(str::to_owned),
            trigger: trigger.map(str::to_owned),
        };
        let run = self.run_script_typed(ws, &body).await?;
        serde_json::to_value(run)
            .map_err(|_| Error::Decode("run script: the answer does not re-encode".into()))
    }
}
