//! Every kind of write evicts what it made stale, on the node that made it: a
//! run's pattern sets (plaintext forms) of a secret do not outlive a delete, a
//! rename, a patch, a rollback, a destroyed version, or a new secret that
//! replaces an expired one under the same name. (The workspace delete is in
//! run_redactors.rs; another node's changes take the same path, `evict`.)

use lockbox_core::{ManualClock, Scope, SecretName, Timestamp};
use lockbox_service::{Lockbox, PatchDoc, Principal, PutSecret, RequestCtx, ServiceConfig};
use serde_json::{json, Value};
use std::sync::Arc;

struct Env {
    _dir: tempfile::TempDir,
    svc: Lockbox,
    clock: Arc<ManualClock>,
    owner: Principal,
    run: Principal,
}

const VALUE: &str = "value-the-run-has-seen";

fn put(value: Value, ttl_seconds: Option<u64>) -> PutSecret {
    PutSecret {
        value: value.into(),
        description: None,
        visibility: None,
        ttl_seconds,
        if_match: None,
        allowed_hosts: None,
        create_only: false,
        labels: None,
    }
}

fn name(n: &str) -> SecretName {
    SecretName::parse(n).unwrap()
}

/// A store with secret `s` (`VALUE`, written with `ttl`), and a run whose
/// redactor holds the pattern set of its version 1.
async fn env(ttl: Option<u64>) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let svc = Lockbox::open_with_clock(dir.path(), None, ServiceConfig::default(), clock.clone())
        .await
        .unwrap();
    let token = svc
        .bootstrap()
        .await
        .unwrap()
        .expect("first start")
        .into_exposed();
    let owner = svc.authenticate(&token).await.unwrap();
    let ctx = RequestCtx::default();
    // Settings first: a workspace's settings change evicts its caches too.
    svc.update_workspace_settings(
        &owner,
        "default",
        lockbox_service::WorkspaceSettingsPatch {
            allow_rename: Some(true),
            ..Default::default()
        },
        &ctx,
    )
    .await
    .unwrap();
    svc.put_secret(
        &owner,
        "default",
        Scope::Workspace,
        &name("s"),
        put(json!(VALUE), ttl),
        &ctx,
    )
    .await
    .unwrap();
    let opened = svc
        .open_run(&owner, "default", None, "manual", None, &ctx)
        .await
        .unwrap();
    // EXPOSE: the test signs in with the run token it was just given.
    let run = svc.authenticate(opened.token.expose()).await.unwrap();
    let reference = svc
        .run_get_secret(&run, &name("s"), Scope::Workspace, None, &ctx)
        .await
        .unwrap();
    let (lines, _) = svc
        .run_redact(
            &run,
            &[reference],
            Some(vec![format!("x {VALUE}")]),
            None,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(lines.unwrap(), vec!["x [REDACTED:s]".to_owned()]);
    assert_eq!(svc.redactor_stats().cached_versions, 1);
    Env {
        _dir: dir,
        svc,
        clock,
        owner,
        run,
    }
}

fn assert_no_sets(e: &Env, after: &str) {
    let s = e.svc.redactor_stats();
    assert_eq!(
        (s.cached_versions, s.cached_bytes),
        (0, 0),
        "pattern sets outlived {after}"
    );
}

#[tokio::test]
async fn a_delete_drops_the_secrets_pattern_sets() {
    let e = env(None).await;
    e.svc
        .delete_secret(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("s"),
            false,
            &RequestCtx::default(),
        )
        .await
        .unwrap();
    assert_no_sets(&e, "a delete");
    // The run's reference follows the id, and the secret is gone.
    let err = e
        .svc
        .run_get_secret(
            &e.run,
            &name("s"),
            Scope::Workspace,
            None,
            &RequestCtx::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code, lockbox_core::ErrorCode::NotFound);
}

#[tokio::test]
async fn a_rename_drops_the_secrets_pattern_sets() {
    let e = env(None).await;
    let ctx = RequestCtx::default();
    e.svc
        .rename_secret(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("s"),
            &name("t"),
            false,
            &ctx,
        )
        .await
        .unwrap();
    assert_no_sets(&e, "a rename");
    // The cached row under the old name went too.
    let gone = e
        .svc
        .secret_metadata(&e.owner, "default", Scope::Workspace, &name("s"), &ctx)
        .await
        .unwrap_err();
    assert_eq!(gone.code, lockbox_core::ErrorCode::NotFound);
}

#[tokio::test]
async fn a_patch_drops_the_secrets_pattern_sets() {
    let e = env(None).await;
    let ctx = RequestCtx::default();
    let meta = e
        .svc
        .patch_secret(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("s"),
            PatchDoc::Merge(json!({"k": "a-patched-value"}).into()),
            None,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(meta.version, 2);
    assert_no_sets(&e, "a patch");
    // This node reads the version it wrote.
    let again = e
        .svc
        .secret_metadata(&e.owner, "default", Scope::Workspace, &name("s"), &ctx)
        .await
        .unwrap();
    assert_eq!(again.version, 2);
}

#[tokio::test]
async fn a_rollback_drops_the_secrets_pattern_sets() {
    let e = env(None).await;
    let ctx = RequestCtx::default();
    let meta = e
        .svc
        .rollback_secret(&e.owner, "default", Scope::Workspace, &name("s"), 1, &ctx)
        .await
        .unwrap();
    assert_eq!(meta.version, 2);
    assert_no_sets(&e, "a rollback");
}

#[tokio::test]
async fn a_destroyed_version_drops_the_secrets_pattern_sets() {
    let e = env(None).await;
    e.svc
        .destroy_versions(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("s"),
            &[1],
            &RequestCtx::default(),
        )
        .await
        .unwrap();
    assert_no_sets(&e, "a destroyed version");
}

/// A put under the name of an expired secret replaces it (a new id): the
/// expired secret's sets go with it, as they do on a node that sees the
/// replacement on the change feed.
#[tokio::test]
async fn a_new_secret_in_place_of_an_expired_one_drops_the_old_sets() {
    let e = env(Some(60)).await;
    e.clock.advance_seconds(61);
    let (meta, created) = e
        .svc
        .put_secret(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("s"),
            put(json!("a-value-after-expiry"), None),
            &RequestCtx::default(),
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(meta.version, 1);
    assert_no_sets(&e, "the replacement of an expired secret");
}
