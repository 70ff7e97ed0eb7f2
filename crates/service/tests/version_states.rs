//! The service decides version changes and expiry (with `lockbox_core::versions`)
//! and writes their audit rows; the store only applies them compare-and-set. These
//! cases hold the rows to what they were when the stores wrote them (actions,
//! actors, fields), and show that concurrent changes and concurrent purges leave
//! one consistent answer and one audit row per expiry.

use lockbox_core::{ManualClock, Scope, SecretName, Timestamp};
use lockbox_service::{Lockbox, Principal, PutSecret, RequestCtx, ServiceConfig};
use serde_json::{json, Value};
use std::sync::Arc;

struct Env {
    _dir: tempfile::TempDir,
    svc: Arc<Lockbox>,
    clock: ManualClock,
    owner: Principal,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(Timestamp(1_764_000_000_000));
    let svc = Lockbox::open_with_clock(
        dir.path(),
        None,
        ServiceConfig::default(),
        Arc::new(clock.clone()),
    )
    .await
    .unwrap();
    let token = svc
        .bootstrap()
        .await
        .unwrap()
        .expect("first start")
        .into_exposed();
    let owner = svc.authenticate(&token).await.unwrap();
    Env {
        _dir: dir,
        svc: Arc::new(svc),
        clock,
        owner,
    }
}

fn name(n: &str) -> SecretName {
    SecretName::parse(n).unwrap()
}

impl Env {
    async fn put(&self, n: &str, value: &str, ttl_seconds: Option<u64>) {
        let req = PutSecret {
            value: json!(value).into(),
            description: None,
            visibility: None,
            ttl_seconds,
            if_match: None,
            allowed_hosts: None,
            create_only: false,
            labels: None,
        };
        self.svc
            .put_secret(
                &self.owner,
                "default",
                Scope::Workspace,
                &name(n),
                req,
                &RequestCtx::default(),
            )
            .await
            .unwrap();
    }

    /// The newest audit rows of the default workspace with this action, newest first.
    async fn rows(&self, action: &str) -> Vec<lockbox_service::AuditEventView> {
        let page = self
            .svc
            .audit_log(
                &self.owner,
                "default",
                None,
                Some(1000),
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        page.events
            .into_iter()
            .filter(|e| e.action == action)
            .collect()
    }

    /// (version, deleted, destroyed) of each version, ascending.
    async fn states(&self, n: &str) -> Vec<(u64, bool, bool)> {
        let page = self
            .svc
            .list_versions(
                &self.owner,
                "default",
                Scope::Workspace,
                &name(n),
                &RequestCtx::default(),
            )
            .await
            .unwrap();
        let mut out: Vec<(u64, bool, bool)> = page
            .iter()
            .map(|v| (v.version, v.deleted_at.is_some(), v.destroyed))
            .collect();
        out.sort_unstable();
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_changes_follow_the_rule_and_keep_their_audit_rows() {
    let e = env().await;
    for v in ["value-one", "value-two", "value-three"] {
        e.put("db/password", v, None).await;
    }
    let ctx = RequestCtx::default();
    let n = name("db/password");
    e.svc
        .delete_versions(&e.owner, "default", Scope::Workspace, &n, &[1, 3, 99], &ctx)
        .await
        .unwrap();
    assert_eq!(
        e.states("db/password").await,
        [(1, true, false), (2, false, false), (3, true, false)]
    );
    e.svc
        .undelete_versions(&e.owner, "default", Scope::Workspace, &n, &[], &ctx)
        .await
        .unwrap();
    e.svc
        .destroy_versions(&e.owner, "default", Scope::Workspace, &n, &[1, 2], &ctx)
        .await
        .unwrap();
    // Destroyed is final: undelete leaves it, and a deleted version keeps its time.
    e.svc
        .undelete_versions(&e.owner, "default", Scope::Workspace, &n, &[1], &ctx)
        .await
        .unwrap();
    assert_eq!(
        e.states("db/password").await,
        [(1, true, true), (2, false, true), (3, false, false)]
    );
    let detail = |rows: Vec<lockbox_service::AuditEventView>| -> Vec<Value> {
        rows.into_iter()
            .map(|r| {
                assert_eq!(
                    (r.target.as_deref(), r.outcome.as_str()),
                    (Some("db/password"), "ok")
                );
                r.detail
            })
            .collect()
    };
    assert_eq!(
        detail(e.rows("secret.delete_versions").await),
        [json!({"versions": [1, 3, 99], "scope": "workspace"})]
    );
    assert_eq!(
        detail(e.rows("secret.undelete_versions").await),
        [
            json!({"versions": [1], "scope": "workspace"}),
            json!({"versions": [3], "scope": "workspace"}),
        ]
    );
    assert_eq!(
        detail(e.rows("secret.destroy_versions").await),
        [json!({"versions": [1, 2], "scope": "workspace"})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_of_one_version_agree() {
    let e = env().await;
    e.put("api/key", "value-one", None).await;
    e.put("api/key", "value-two", None).await;
    let n = name("api/key");
    let mut tasks = Vec::new();
    for i in 0..12 {
        let (svc, owner, n) = (e.svc.clone(), e.owner.clone(), n.clone());
        tasks.push(tokio::spawn(async move {
            let ctx = RequestCtx::default();
            let ws = Scope::Workspace;
            match i % 3 {
                0 => {
                    svc.delete_versions(&owner, "default", ws, &n, &[1], &ctx)
                        .await
                }
                1 => {
                    svc.undelete_versions(&owner, "default", ws, &n, &[1], &ctx)
                        .await
                }
                _ => {
                    svc.destroy_versions(&owner, "default", ws, &n, &[1], &ctx)
                        .await
                }
            }
        }));
    }
    for t in tasks {
        t.await
            .unwrap()
            .expect("every change applies or finds nothing to do");
    }
    // Four destroys ran: whatever came first, version 1 ends destroyed, and
    // version 2 was never touched.
    let states = e.states("api/key").await;
    assert!(states[0].2, "{states:?}");
    assert_eq!(states[1], (2, false, false));
    assert_eq!(e.rows("secret.destroy_versions").await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_secret_is_purged_once_with_its_audit_row() {
    let e = env().await;
    e.put("short", "value-one", Some(60)).await;
    e.put("short", "value-two", Some(60)).await;
    e.put("long", "value-one", Some(3600)).await;
    assert_eq!(e.svc.purge_expired().await.unwrap(), 0);
    e.clock.advance_seconds(60);
    // Two purges at once: the secret goes once, audited once.
    let (a, b) = tokio::join!(e.svc.purge_expired(), e.svc.purge_expired());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    assert_eq!(e.svc.purge_expired().await.unwrap(), 0);
    let rows = e.rows("secret.expire").await;
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.actor.as_str(),
            r.target.as_deref(),
            r.outcome.as_str(),
            r.request_id.as_deref()
        ),
        ("system", Some("short"), "ok", None)
    );
    assert_eq!(r.detail, json!({"scope": "workspace", "version": 2}));
    assert_eq!(r.at, Timestamp(1_764_000_000_000 + 60_000).to_rfc3339());
    // The name is free again; the other secret stays.
    e.put("short", "value-new", None).await;
    assert_eq!(e.states("short").await, [(1, false, false)]);
    assert_eq!(e.states("long").await.len(), 1);
}
