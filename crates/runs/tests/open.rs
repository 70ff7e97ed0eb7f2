//! Opening a run in process: one call checks the caller, writes the run's row and
//! answers a module acting as that run, which `end_run` (`DELETE /v1/runs/{id}`)
//! ends like a run opened over HTTP.

mod common;

use common::Env;
use lockbox_core::ErrorCode;
use lockbox_runs::RunSpec;
use lockbox_service::RequestCtx;

fn spec<'a>(flow: Option<&'a str>) -> RunSpec<'a> {
    RunSpec {
        workspace: "default",
        flow,
        user: None,
        trigger: "manual",
        ttl: None,
    }
}

#[tokio::test]
async fn a_run_opened_here_acts_as_its_row_and_ends_like_any_run() {
    let env = Env::new().await;
    let ctx = RequestCtx::default();
    let module = env.module(None, "manual").await;
    let run = module
        .principal()
        .run
        .as_ref()
        .expect("the module acts as a run");
    assert_eq!(run.run_id, module.run_id());
    assert_eq!(run.workspace, "default");
    assert_eq!(run.trigger, "manual");
    assert_eq!(module.principal().token_id, module.run_id());

    // The run is a row: ending it works once, then it is gone.
    env.svc
        .end_run(&env.owner, module.run_id(), &ctx)
        .await
        .expect("the run has a row to end");
    let again = env
        .svc
        .end_run(&env.owner, module.run_id(), &ctx)
        .await
        .unwrap_err();
    assert_eq!(again.code, ErrorCode::NotFound);
}

#[tokio::test]
async fn only_a_caller_who_may_open_runs_opens_one_and_a_flow_must_exist() {
    let env = Env::new().await;
    let ctx = RequestCtx::default();
    let module = env.module(None, "manual").await;
    // A run may not open runs (no account action is open to it).
    let e = env
        .runs()
        .open(module.principal(), &spec(None), &ctx)
        .await
        .err()
        .expect("a run cannot open a run");
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    // A stored flow's run needs the flow.
    let e = env
        .runs()
        .open(&env.owner, &spec(Some("no-such-flow")), &ctx)
        .await
        .err()
        .expect("no such flow");
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
}
