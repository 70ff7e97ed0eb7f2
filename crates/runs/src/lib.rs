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

use lockbox_automation::ModuleError;
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

/// A service error as a run's module answers it: the code and the public message
/// only. The private cause of an internal error is logged here, with the request
/// id and the run, because nothing downstream ever sees it: the run's answer (a
/// flow's `error`, a script's log line) carries only "internal error".
pub(crate) fn module_error(e: Error, ctx: &RequestCtx, run_id: &str) -> ModuleError {
    log_cause(&e, ctx, run_id);
    ModuleError::from(e)
}

/// Logs `e`'s private cause, if it has one, as the server's `log_cause` does.
pub(crate) fn log_cause(e: &Error, ctx: &RequestCtx, run_id: &str) {
    if let Some(cause) = e.cause() {
        tracing::error!(
            request_id = ctx.request_id.as_deref().unwrap_or("-"),
            run_id,
            code = e.code.as_str(),
            cause,
            "run call failed"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbox_core::ErrorCode;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(f: impl FnOnce()) -> String {
        let out = Captured::default();
        let writer = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn an_internal_cause_reaches_the_log_with_the_request_and_never_the_run() {
        let ctx = RequestCtx {
            request_id: Some("req-41".into()),
        };
        let mut answered = None;
        let log = logged(|| {
            answered = Some(module_error(
                Error::internal("row 7 failed its integrity check"),
                &ctx,
                "run-9",
            ))
        });
        let answered = answered.unwrap();
        assert_eq!(answered.code, ErrorCode::Internal);
        assert!(!answered.message.contains("row 7"), "{}", answered.message);
        assert!(log.contains("row 7 failed its integrity check"), "{log}");
        assert!(log.contains("req-41") && log.contains("run-9"), "{log}");

        // A public error has no cause: the run sees its message, the log nothing.
        let mut answered = None;
        let log = logged(|| {
            answered = Some(module_error(
                Error::not_found("no such secret"),
                &ctx,
                "run-9",
            ))
        });
        assert_eq!(answered.unwrap().message, "no such secret");
        assert!(log.is_empty(), "{log}");
    }
}
