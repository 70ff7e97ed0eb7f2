//! Folder listings are cached (`children.rs`), and a cached page is never the
//! answer after something changed it: a create, delete, rename or entry in the
//! folder shows at once on the node that wrote it, and a secret that expires
//! leaves the listing at its expiry, with no write to drop the page. (Another
//! node's writes: `server/tests/multi_node.rs`.)

use lockbox_core::{ManualClock, Scope, SecretName, Timestamp};
use lockbox_service::{ChildrenRequest, Lockbox, Principal, PutSecret, RequestCtx, ServiceConfig};
use serde_json::json;
use std::sync::Arc;

struct Env {
    _dir: tempfile::TempDir,
    svc: Lockbox,
    clock: Arc<ManualClock>,
    owner: Principal,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    // Caches that would live the whole test: only a write or an expiry may drop
    // a listing.
    let config = ServiceConfig {
        cache_ttl_ms: 3_600_000,
        ..ServiceConfig::default()
    };
    let svc = Lockbox::open_with_clock(dir.path(), None, config, clock.clone())
        .await
        .unwrap();
    let token = svc
        .bootstrap()
        .await
        .unwrap()
        .expect("first start")
        .into_exposed();
    let owner = svc.authenticate(&token).await.unwrap();
    svc.update_workspace_settings(
        &owner,
        "default",
        lockbox_service::WorkspaceSettingsPatch {
            allow_rename: Some(true),
            ..Default::default()
        },
        &RequestCtx::default(),
    )
    .await
    .unwrap();
    Env {
        _dir: dir,
        svc,
        clock,
        owner,
    }
}

fn name(n: &str) -> SecretName {
    SecretName::parse(n).unwrap()
}

impl Env {
    async fn put(&self, n: &str, ttl_seconds: Option<u64>) {
        self.svc
            .put_secret(
                &self.owner,
                "default",
                Scope::Workspace,
                &name(n),
                PutSecret {
                    value: json!("v").into(),
                    description: None,
                    visibility: None,
                    ttl_seconds,
                    if_match: None,
                    allowed_hosts: None,
                    create_only: false,
                    labels: None,
                },
                &RequestCtx::default(),
            )
            .await
            .unwrap();
    }

    async fn list(&self, folder: &str) -> Vec<String> {
        let req = ChildrenRequest {
            folder: folder.into(),
            ..Default::default()
        };
        let mut pages = Vec::new();
        // Asked twice: the second answer comes from the cache, and must agree.
        for _ in 0..2 {
            let page = self
                .svc
                .list_children(
                    &self.owner,
                    "default",
                    Scope::Workspace,
                    &req,
                    &RequestCtx::default(),
                )
                .await
                .unwrap();
            pages.push(page);
        }
        assert_eq!(pages[0], pages[1]);
        pages.swap_remove(0).children
    }
}

#[tokio::test]
async fn every_write_in_a_folder_shows_in_its_next_listing() {
    let e = env().await;
    let ctx = RequestCtx::default();
    e.put("app/a", None).await;
    assert_eq!(e.list("app/").await, ["a"]);
    assert_eq!(e.list("").await, ["app/"]);
    // Created.
    e.put("app/b", None).await;
    e.put("app/sub/x", None).await;
    assert_eq!(e.list("app/").await, ["a", "b", "sub/"]);
    // Deleted.
    e.svc
        .delete_secret(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("app/a"),
            false,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(e.list("app/").await, ["b", "sub/"]);
    // Renamed out of the folder, and the folder's last key with it.
    e.svc
        .rename_secret(
            &e.owner,
            "default",
            Scope::Workspace,
            &name("app/sub/x"),
            &name("other/x"),
            false,
            &ctx,
        )
        .await
        .unwrap();
    assert_eq!(e.list("app/").await, ["b"]);
    assert_eq!(e.list("").await, ["app/", "other/"]);
    // A new version changes no name, and the listing stays right.
    e.put("app/b", None).await;
    assert_eq!(e.list("app/").await, ["b"]);
}

#[tokio::test]
async fn an_expiry_leaves_the_listing_at_its_time_without_a_write() {
    let e = env().await;
    e.put("app/keep", None).await;
    e.put("app/brief", Some(10)).await;
    // A sub-folder with one short-lived and one lasting secret, and one with
    // only a short-lived one.
    e.put("app/mixed/a", Some(5)).await;
    e.put("app/mixed/b", None).await;
    e.put("app/gone/a", Some(5)).await;
    assert_eq!(e.list("app/").await, ["brief", "gone/", "keep", "mixed/"]);
    // Before the first expiry nothing changed; at it, the sub-folder holding
    // only expired secrets leaves, the other stays (the cached page, which would
    // otherwise live an hour here, is not the answer past it).
    e.clock.advance_seconds(4);
    assert_eq!(e.list("app/").await, ["brief", "gone/", "keep", "mixed/"]);
    e.clock.advance_seconds(1);
    assert_eq!(e.list("app/").await, ["brief", "keep", "mixed/"]);
    e.clock.advance_seconds(5);
    assert_eq!(e.list("app/").await, ["keep", "mixed/"]);
}
