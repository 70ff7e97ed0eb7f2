//! The run use case in one place: what it takes to act as an automation run inside
//! a Lockbox process, and the module a runtime outside it uses over HTTP.
//!
//! ```text
//! Runs::new(svc, egress)
//! runs.open(&caller, &RunSpec { workspace, flow, user, trigger, ttl }, &ctx)
//!     -> EmbeddedModule          (SecretsModule: flows)
//!     -> EmbeddedScriptHost::from(module)   (ScriptHost: scripts)
//! runs.fetch(&run_principal, request, &ctx)  (/v1/run/fetch)
//! RemoteModule::new(base_url, run_token)     (SecretsModule over the run API)
//! ```
//!
//! [`Runs::open`] is the one way a run is opened for in-process use (the server's
//! flow and script routes, the CLI's embedded `flow run` and `script run`): the
//! service checks the caller, writes the run's row and its `run.open` audit row,
//! and answers the run's principal directly; no run token is minted for the
//! process to authenticate again. The run is still a row, so
//! `DELETE /v1/runs/{id}` ends it like a run opened over HTTP.
//!
//! This crate owns the egress executor's [`fetch::RunResolver`] (references open
//! only as the run that holds them) and [`fetch_as_run`] (resolve, send, redact,
//! audit `egress.fetch`). Every rule stays in the service or the executor; the
//! flow and script runtimes (`lockbox-automation`) know none of this and talk to
//! the traits they define.

mod embedded;
pub mod fetch;
mod host;
mod references;
mod remote;

pub use embedded::EmbeddedModule;
pub use fetch::fetch_as_run;
pub use host::EmbeddedScriptHost;
pub use lockbox_service::runs::RunSpec;
pub use remote::RemoteModule;

use lockbox_core::Error;
use lockbox_egress::{Executor, FetchRequest};
use lockbox_service::{Lockbox, Principal, RequestCtx};
use serde_json::Value;
use std::sync::Arc;

/// Runs in this process: the service they act through and the egress executor
/// their outbound calls take.
#[derive(Clone)]
pub struct Runs {
    svc: Arc<Lockbox>,
    egress: Arc<Executor>,
}

impl Runs {
    pub fn new(svc: Arc<Lockbox>, egress: Arc<Executor>) -> Runs {
        Runs { svc, egress }
    }

    /// Opens a run as `caller` (who must be allowed to open it: see
    /// `Lockbox::open_run`) and answers its secrets module. Service calls the
    /// module makes are audited with `ctx`'s request id.
    pub async fn open(
        &self,
        caller: &Principal,
        spec: &RunSpec<'_>,
        ctx: &RequestCtx,
    ) -> Result<EmbeddedModule, Error> {
        let run = self.svc.open_run_here(caller, spec, ctx).await?;
        Ok(EmbeddedModule {
            svc: self.svc.clone(),
            run_id: run.run_id,
            principal: run.principal,
            egress: self.egress.clone(),
            ctx: ctx.clone(),
            references: Default::default(),
        })
    }

    /// One outbound call as the run `run` (a run token's principal): see
    /// [`fetch_as_run`].
    pub async fn fetch(
        &self,
        run: &Principal,
        req: FetchRequest,
        ctx: &RequestCtx,
    ) -> Result<Value, Error> {
        fetch_as_run(&self.svc, run, &self.egress, req, ctx).await
    }
}
