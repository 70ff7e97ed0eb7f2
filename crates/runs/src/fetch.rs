//! One outbound call of a run: the [`ReferenceResolver`] over the service (the
//! egress trait's one real implementation) and [`fetch_as_run`], the path both the
//! server's `/v1/run/fetch` and the in-process module take.

use lockbox_core::{EgressAttempt, Error, Resolved};
use lockbox_egress::{Executor, FetchRequest, ReferenceResolver};
use lockbox_service::runs::EgressRecord;
use lockbox_service::{Lockbox, Principal, RequestCtx};
use serde_json::{json, Value};
use std::sync::Arc;

/// Resolves references for the executor as the run `principal` is: only that run's
/// references open, and the service decides every failure.
pub struct RunResolver<'a> {
    pub svc: &'a Lockbox,
    pub principal: &'a Principal,
}

#[async_trait::async_trait]
impl ReferenceResolver for RunResolver<'_> {
    async fn resolve(&self, reference: &str) -> Result<Resolved, Error> {
        Ok(self
            .svc
            .resolve_reference(self.principal, reference)
            .await?
            .secret)
    }
}

/// One outbound call for a run: references resolved by the service as that run,
/// sent by the egress executor, answered as `{status, headers, body}` (redacted),
/// and audited (`egress.fetch`, with the secrets it used even when it failed).
/// The audit row of a finished call is queued for the store's next group commit
/// rather than holding the answer on an fsync (nor on a task spawned to wait for
/// it); a refused call's row is committed before answering.
/// Only a run may fetch (`forbidden` otherwise).
pub async fn fetch_as_run(
    svc: &Arc<Lockbox>,
    principal: &Principal,
    egress: &Executor,
    req: FetchRequest,
    ctx: &RequestCtx,
) -> Result<Value, Error> {
    if principal.run.is_none() {
        return Err(Error::forbidden(
            "only a run token may use the run API; open a run with POST /v1/runs",
        ));
    }
    let resolver = RunResolver { svc, principal };
    let (attempt, result) = egress.fetch_audited(req, &resolver).await;
    match result {
        Ok(out) => {
            let rec = EgressRecord {
                attempt: EgressAttempt {
                    method: out.method.clone(),
                    host: out.host.clone(),
                    url_secret: out.url_secret.clone(),
                    used: attempt.used,
                },
                status: Some(out.status),
                bytes: out.bytes,
                error: None,
            };
            svc.queue_egress_record(principal, rec, ctx);
            let headers: serde_json::Map<String, Value> = out
                .headers
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect();
            Ok(json!({ "status": out.status, "headers": headers, "body": out.body }))
        }
        Err(e) => {
            let rec = EgressRecord {
                attempt,
                status: None,
                bytes: 0,
                error: Some(e.code),
            };
            svc.record_egress(principal, rec, ctx).await;
            Err(e)
        }
    }
}
