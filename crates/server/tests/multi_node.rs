//! Several Lockbox nodes over one PostgreSQL database, in one process: a change on
//! one node is seen on the others within the bound (measured here), a revoked token
//! or member is refused everywhere within it, and compare-and-set holds across
//! nodes. Needs `LOCKBOX_TEST_DATABASE_URL`; each test makes its own database.

use lockbox_server::{RunningServer, ServerConfig};
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

struct Cluster {
    nodes: Vec<RunningServer>,
    db: String,
    _dirs: Vec<tempfile::TempDir>,
    owner: String,
    http: reqwest::Client,
}

impl Cluster {
    async fn start(n: usize) -> Option<Cluster> {
        let db = lockbox_testkit::fresh_database().await?;
        let mut dirs = Vec::new();
        let mut nodes = Vec::new();
        for i in 0..n {
            let dir = tempfile::tempdir().unwrap();
            if i > 0 {
                // Every node shares the deployment's master key.
                std::fs::create_dir_all(dir.path().join("data")).unwrap();
                std::fs::copy(
                    dirs_first(&dirs).join("data/master.key"),
                    dir.path().join("data/master.key"),
                )
                .unwrap();
            }
            let node = lockbox_server::start(ServerConfig {
                data_dir: dir.path().join("data"),
                database: Some(db.clone()),
                listen: "127.0.0.1:0".into(),
                ..ServerConfig::default()
            })
            .await
            .expect("node starts");
            dirs.push(dir);
            nodes.push(node);
        }
        let owner = nodes[0]
            .init_token
            .clone()
            .expect("first node bootstraps")
            .into_exposed();
        assert!(
            nodes[1..].iter().all(|n| n.init_token.is_none()),
            "only one node bootstraps"
        );
        Some(Cluster {
            nodes,
            db,
            _dirs: dirs,
            owner,
            http: reqwest::Client::new(),
        })
    }

    fn url(&self, node: usize, path: &str) -> String {
        format!("{}{}", self.nodes[node].url(), path)
    }

    async fn call(
        &self,
        node: usize,
        token: &str,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .http
            .request(method, self.url(node, path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }
}

fn dirs_first(dirs: &[tempfile::TempDir]) -> std::path::PathBuf {
    dirs[0].path().to_path_buf()
}

fn percentile(mut v: Vec<Duration>, p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(v.len() - 1)]
}

/// Polls `check` on a node until it holds; returns how long that took.
async fn time_until<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "not seen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn a_write_on_one_node_is_read_on_another_within_the_bound() {
    let Some(c) = Cluster::start(3).await else {
        return;
    };
    let path = "/v1/workspaces/default/secrets/shared";
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::PUT,
            path,
            Some(json!({"value": "v-0"})),
        )
        .await;
    assert_eq!(st, 201);
    // Warm every node's cache so what we measure is propagation, not a cold read.
    for n in 0..3 {
        assert_eq!(
            c.call(n, &c.owner, Method::GET, path, None).await.1["version"],
            1
        );
    }
    let mut delays = Vec::new();
    for i in 1..=40u64 {
        let writer = (i % 3) as usize;
        let reader = ((i + 1) % 3) as usize;
        let (st, _) = c
            .call(
                writer,
                &c.owner,
                Method::PUT,
                path,
                Some(json!({"value": format!("v-{i}")})),
            )
            .await;
        assert_eq!(st, 200);
        let want = i + 1;
        delays.push(
            time_until(Duration::from_secs(1), || async {
                c.call(reader, &c.owner, Method::GET, path, None).await.1["version"] == want
            })
            .await,
        );
    }
    let p99 = percentile(delays.clone(), 0.99);
    let max = *delays.iter().max().unwrap();
    println!(
        "propagation over 40 writes: p50 {:?}, p99 {p99:?}, max {max:?}",
        percentile(delays, 0.5)
    );
    assert!(p99 <= Duration::from_millis(500), "p99 {p99:?}");
    assert!(max <= Duration::from_secs(1), "max {max:?}");
    // And the value itself, not just metadata.
    let (_, v) = c
        .call(2, &c.owner, Method::POST, &format!("{path}/reveal"), None)
        .await;
    assert_eq!(v["value"], "v-40");
}
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn a_folder_listed_on_one_node_shows_another_nodes_creates_and_deletes() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let list = |node: usize| {
        let c = &c;
        async move {
            let r = c
                .http
                .get(c.url(node, "/vault/v1/secret/metadata/app/?list=true"))
                .header("X-Vault-Token", &c.owner)
                .send()
                .await
                .unwrap();
            let j: serde_json::Value = r.json().await.unwrap_or_default();
            j["data"]["keys"].clone()
        }
    };
    let put = |name: &'static str| {
        let c = &c;
        async move {
            let (st, _) = c
                .call(
                    0,
                    &c.owner,
                    Method::PUT,
                    &format!("/v1/workspaces/default/secrets/app%2F{name}"),
                    Some(json!({"value": "v"})),
                )
                .await;
            assert!(st == 200 || st == 201, "{st}");
        }
    };
    put("a").await;
    // Node 1 lists (and caches) the folder, then node 0 writes in it.
    assert_eq!(list(1).await, json!(["a"]));
    put("b").await;
    time_until(Duration::from_secs(2), || async {
        list(1).await == json!(["a", "b"])
    })
    .await;
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::DELETE,
            "/v1/workspaces/default/secrets/app%2Fa",
            None,
        )
        .await;
    assert_eq!(st, 200);
    time_until(Duration::from_secs(2), || async { list(1).await == json!(["b"]) }).await;
}
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn revoking_a_token_or_a_member_on_one_node_locks_them_out_everywhere() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let (_, t) = c
        .call(
            0,
            &c.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "ci", "workspace": "default", "role": "viewer"})),
        )
        .await;
    let token = t["token"].as_str().unwrap().to_owned();
    let (_, m) = c
        .call(
            0,
            &c.owner,
            Method::POST,
            "/v1/workspaces/default/members",
            Some(json!({"user": "eve", "role": "editor"})),
        )
        .await;
    let eve = m["token"].as_str().unwrap().to_owned();
    // Both work on node 1 (and are cached there).
    assert_eq!(
        c.call(
            1,
            &token,
            Method::GET,
            "/v1/workspaces/default/secrets",
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        c.call(1, &eve, Method::GET, "/v1/workspaces/default/secrets", None)
            .await
            .0,
        200
    );

    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::DELETE,
            &format!("/v1/tokens/{}", t["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let d = time_until(Duration::from_secs(1), || async {
        c.call(
            1,
            &token,
            Method::GET,
            "/v1/workspaces/default/secrets",
            None,
        )
        .await
        .0 == 401
    })
    .await;
    println!("token revocation reached node 1 after {d:?}");

    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::DELETE,
            "/v1/workspaces/default/members/eve",
            None,
        )
        .await;
    assert_eq!(st, 200);
    let d = time_until(Duration::from_secs(1), || async {
        c.call(1, &eve, Method::GET, "/v1/workspaces/default/secrets", None)
            .await
            .0
            == 404
    })
    .await;
    println!("member removal reached node 1 after {d:?}");
}
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn concurrent_incrementers_through_different_nodes_lose_no_update() {
    let Some(c) = Cluster::start(3).await else {
        return;
    };
    let path = "/v1/workspaces/default/secrets/counter";
    c.call(
        0,
        &c.owner,
        Method::PUT,
        path,
        Some(json!({"value": {"n": 0}})),
    )
    .await;
    const N: usize = 24;
    let mut tasks = Vec::new();
    for i in 0..N {
        let node = c.nodes[i % 3].url();
        let (http, owner) = (c.http.clone(), c.owner.clone());
        tasks.push(tokio::spawn(async move {
            let url = format!("{node}{path}");
            for _attempt in 0..200 {
                let rev: serde_json::Value = http
                    .post(format!("{url}/reveal"))
                    .bearer_auth(&owner)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let n = rev["value"]["n"].as_i64().unwrap();
                let r = http
                    .patch(&url)
                    .bearer_auth(&owner)
                    .header("content-type", "application/merge-patch+json")
                    .header("if-match", format!("\"{}\"", rev["version"]))
                    .body(json!({"n": n + 1}).to_string())
                    .send()
                    .await
                    .unwrap();
                match r.status().as_u16() {
                    200 => return,
                    412 => continue,
                    s => panic!("unexpected {s}"),
                }
            }
            panic!("never won the race");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (_, v) = c
        .call(1, &c.owner, Method::POST, &format!("{path}/reveal"), None)
        .await;
    assert_eq!(v["value"], json!({"n": N}));
    // The audit chain, written by three nodes at once, is one unbroken chain.
    let report = c.nodes[0].service.verify_audit_chain().await.unwrap();
    assert_eq!(report.broken_at, None);
}
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn version_states_and_settings_reach_every_node() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let path = "/v1/workspaces/default/secrets/states";
    for v in ["pg-value-1", "pg-value-2"] {
        let (st, _) = c
            .call(0, &c.owner, Method::PUT, path, Some(json!({ "value": v })))
            .await;
        assert!(st == 200 || st == 201);
    }
    let reveal = format!("{path}/reveal");
    // Warm node 1's caches (metadata and the sealed version).
    let (st, v) = c.call(1, &c.owner, Method::POST, &reveal, None).await;
    assert_eq!((st, v["value"].clone()), (200, json!("pg-value-2")));

    // Soft delete on node 0: node 1 stops revealing within the bound.
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::POST,
            &format!("{path}/versions/delete"),
            Some(json!({"versions": []})),
        )
        .await;
    assert_eq!(st, 200);
    time_until(Duration::from_secs(1), || async {
        c.call(1, &c.owner, Method::POST, &reveal, None).await.0 == 404
    })
    .await;
    let (_, meta) = c.call(1, &c.owner, Method::GET, path, None).await;
    assert_eq!(meta["current_deleted"], true);

    // Destroy version 1 on node 1: the row keeps its metadata, loses its bytes.
    let (st, body) = c
        .call(
            1,
            &c.owner,
            Method::POST,
            &format!("{path}/versions/destroy"),
            Some(json!({"versions": [1]})),
        )
        .await;
    assert_eq!(st, 200, "{body}");
    let v1 = body["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version"] == 1)
        .unwrap()
        .clone();
    assert_eq!(v1["destroyed"], true);
    time_until(Duration::from_secs(1), || async {
        c.call(
            0,
            &c.owner,
            Method::POST,
            &format!("{reveal}?version=1"),
            None,
        )
        .await
        .0 == 404
    })
    .await;

    // Per-secret settings and labels, written on one node, read on the other.
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::PATCH,
            &format!("{path}/settings"),
            Some(json!({"labels": {"team": "db"}, "cas_required": true, "max_versions": 3})),
        )
        .await;
    assert_eq!(st, 200);
    time_until(Duration::from_secs(1), || async {
        c.call(1, &c.owner, Method::GET, path, None).await.1["labels"]["team"] == "db"
    })
    .await;
    let (st, _) = c
        .call(
            1,
            &c.owner,
            Method::PUT,
            path,
            Some(json!({"value": "blind"})),
        )
        .await;
    assert_eq!(st, 400, "cas_required holds on the other node");
    // Undelete on node 1: node 0 reveals again, and a new version is number 3.
    let (st, _) = c
        .call(
            1,
            &c.owner,
            Method::POST,
            &format!("{path}/versions/undelete"),
            Some(json!({"versions": [2]})),
        )
        .await;
    assert_eq!(st, 200);
    time_until(Duration::from_secs(1), || async {
        c.call(0, &c.owner, Method::POST, &reveal, None).await.1["value"] == "pg-value-2"
    })
    .await;
}
}

lockbox_testkit::needs_postgres! {
/// Issue 14: a run ends everywhere when it is ended, or when the token that opened
/// it is revoked, on another node, within the propagation bound.
#[tokio::test]
async fn ending_a_run_or_revoking_its_opener_on_one_node_ends_it_everywhere() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let (_, t) = c
        .call(
            0,
            &c.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "engine", "workspace": "default", "role": "admin"})),
        )
        .await;
    let (engine, engine_id) = (
        t["token"].as_str().unwrap().to_owned(),
        t["id"].as_str().unwrap().to_owned(),
    );
    let open = |token: String| {
        let c = &c;
        async move {
            let (st, r) = c
                .call(
                    0,
                    &token,
                    Method::POST,
                    "/v1/runs",
                    Some(json!({"workspace": "default", "trigger": "manual"})),
                )
                .await;
            assert_eq!(st, 201, "{r}");
            (
                r["token"].as_str().unwrap().to_owned(),
                r["run_id"].as_str().unwrap().to_owned(),
            )
        }
    };
    let alive = |node: usize, run: String| {
        let c = &c;
        async move {
            c.call(
                node,
                &run,
                Method::GET,
                "/v1/workspaces/default/secrets",
                None,
            )
            .await
            .0 == 200
        }
    };
    let (by_engine, _) = open(engine.clone()).await;
    let (by_owner, owner_run_id) = open(c.owner.clone()).await;
    // Both runs work (and are cached) on node 1.
    assert!(alive(1, by_engine.clone()).await && alive(1, by_owner.clone()).await);
    // Ending one on node 0 ends it on node 1.
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::DELETE,
            &format!("/v1/runs/{owner_run_id}"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let took = time_until(Duration::from_secs(1), || async {
        !alive(1, by_owner.clone()).await
    })
    .await;
    println!("an ended run was refused on the other node after {took:?}");
    // Revoking the opener on node 0 ends its run on node 1.
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::DELETE,
            &format!("/v1/tokens/{engine_id}"),
            None,
        )
        .await;
    assert_eq!(st, 200);
    let took = time_until(Duration::from_secs(1), || async {
        !alive(1, by_engine.clone()).await
    })
    .await;
    println!("a run whose opener was revoked was refused on the other node after {took:?}");
}
}

// ---------------------------------------------------------------------------
// Master keys every node agrees on (issue 16)

fn location(c_dir: &std::path::Path, db: &str) -> lockbox_service::admin::Location {
    lockbox_service::admin::Location {
        data_dir: c_dir.to_path_buf(),
        database: Some(db.to_owned()),
    }
}

fn copy_key_file(from: &std::path::Path, to: &std::path::Path) {
    // A copy keeps the 0600 mode; written under another name and renamed, as an
    // operator's `install -m 600` would, so a node never reads half a file.
    let tmp = to.with_file_name("master.key.new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

/// A key file holding one fresh random key as version 1 (mode 0600).
fn fresh_key_file(dir: &std::path::Path) {
    use base64::Engine;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let key: [u8; 32] = std::array::from_fn(|i| (lockbox_testkit::random_u64() as u8) ^ i as u8);
    let text = serde_json::json!({"format": 1, "active": 1, "keys": [
        {"version": 1, "state": "active", "key": base64::engine::general_purpose::STANDARD.encode(key)}
    ]});
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join("master.key"))
        .unwrap()
        .write_all(text.to_string().as_bytes())
        .unwrap();
}

async fn reveal(c: &Cluster, node: usize, name: &str) -> (u16, serde_json::Value) {
    c.call(
        node,
        &c.owner,
        Method::POST,
        &format!("/v1/workspaces/default/secrets/{name}/reveal"),
        None,
    )
    .await
}

/// A node that serves HTTP on the shared database but writes no heartbeat (a node
/// cut off from the heartbeat, or an older binary): rotation cannot see it.
async fn silent_node(
    data_dir: &std::path::Path,
    db: &str,
) -> (std::sync::Arc<lockbox_service::Lockbox>, String) {
    let svc = std::sync::Arc::new(
        lockbox_service::Lockbox::open(
            data_dir,
            Some(db),
            lockbox_service::ServiceConfig::default(),
        )
        .await
        .expect("the silent node starts"),
    );
    let egress = std::sync::Arc::new(lockbox_egress::Executor::new(
        lockbox_egress::EgressPolicy::default(),
    ));
    let app = lockbox_server::router(svc.clone(), egress);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum_serve(listener, app).await });
    (svc, url)
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    let _ = axum::serve(listener, app).await;
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn rotation_on_three_nodes_adds_then_switches_and_every_node_reveals() {
    let Some(c) = Cluster::start(3).await else {
        return;
    };
    let db = c.db.clone();
    let dirs: Vec<std::path::PathBuf> = c._dirs.iter().map(|d| d.path().join("data")).collect();
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::PUT,
            "/v1/workspaces/default/secrets/db-password",
            Some(json!({"value": "before-rotation"})),
        )
        .await;
    assert_eq!(st, 201);

    // Step one: a new version in node 0's key file, copied to node 1 only.
    let added = lockbox_service::admin::add_master_key(&location(&dirs[0], &db))
        .await
        .unwrap();
    assert_eq!((added.version, added.added), (2, true));
    copy_key_file(&dirs[0].join("master.key"), &dirs[1].join("master.key"));

    // Step two, too early: node 2 does not hold version 2, so nothing switches.
    let refused = lockbox_service::admin::rotate_master_key(
        &location(&dirs[0], &db),
        false,
        Duration::from_secs(5),
        &lockbox_service::admin::NoProgress,
    )
    .await
    .expect_err("a live node lacks version 2");
    let node2 = c.nodes[2].service.node_id().to_owned();
    assert!(
        refused.message.contains("master key version 2"),
        "{refused}"
    );
    assert!(
        refused.message.contains(&node2),
        "names the node that lacks it: {refused}"
    );
    assert!(
        !refused.message.contains(c.nodes[1].service.node_id()),
        "{refused}"
    );
    for i in 0..3 {
        assert_eq!(
            reveal(&c, i, "db-password").await.0,
            200,
            "nothing switched"
        );
    }

    // Every node holds it now (node 2 re-reads its key file within the check
    // interval); the switch goes through.
    copy_key_file(&dirs[0].join("master.key"), &dirs[2].join("master.key"));
    let report = lockbox_service::admin::rotate_master_key(
        &location(&dirs[0], &db),
        false,
        Duration::from_secs(10),
        &lockbox_service::admin::NoProgress,
    )
    .await
    .expect("every live node holds version 2");
    assert_eq!(report.new_master_version, 2);
    assert!(!report.added_version);
    assert_eq!(report.live_nodes, 3);
    for n in &c.nodes {
        n.service.check_keys_once().await;
        assert_eq!(n.service.key_problem(), None);
    }
    // Reveal everywhere, write everywhere, and a workspace made on node 2 after the
    // switch (wrapped under version 2) is read on node 0.
    for i in 0..3 {
        let (st, v) = reveal(&c, i, "db-password").await;
        assert_eq!(
            (st, v["value"].as_str()),
            (200, Some("before-rotation")),
            "node {i}"
        );
        let (st, _) = c
            .call(
                i,
                &c.owner,
                Method::PUT,
                &format!("/v1/workspaces/default/secrets/after-{i}"),
                Some(json!({"value": format!("written on {i}")})),
            )
            .await;
        assert_eq!(st, 201, "node {i} writes after the switch");
    }
    let (st, _) = c
        .call(
            2,
            &c.owner,
            Method::POST,
            "/v1/workspaces",
            Some(json!({"name": "made-after"})),
        )
        .await;
    assert_eq!(st, 201);
    let (st, _) = c
        .call(
            2,
            &c.owner,
            Method::PUT,
            "/v1/workspaces/made-after/secrets/k",
            Some(json!({"value": "v2"})),
        )
        .await;
    assert_eq!(st, 201);
    let (st, v) = c
        .call(
            0,
            &c.owner,
            Method::POST,
            "/v1/workspaces/made-after/secrets/k/reveal",
            None,
        )
        .await;
    assert_eq!((st, v["value"].as_str()), (200, Some("v2")));
    let store = lockbox_store::PostgresStore::connect(&db).await.unwrap();
    use lockbox_store::Store;
    assert!(
        store
            .all_workspace_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.master_version == 2),
        "every workspace key is wrapped under version 2"
    );
}
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn a_node_without_the_version_in_use_answers_503_and_is_not_ready_until_it_gets_it() {
    let Some(c) = Cluster::start(2).await else {
        return;
    };
    let db = c.db.clone();
    let dirs: Vec<std::path::PathBuf> = c._dirs.iter().map(|d| d.path().join("data")).collect();
    let (st, _) = c
        .call(
            0,
            &c.owner,
            Method::PUT,
            "/v1/workspaces/default/secrets/s",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(st, 201);
    // A third node with the deployment's key (version 1 only) that writes no heartbeat.
    let silent_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(silent_dir.path()).unwrap();
    std::fs::copy(
        dirs[0].join("master.key"),
        silent_dir.path().join("master.key"),
    )
    .unwrap();
    let (silent, silent_url) = silent_node(silent_dir.path(), &db).await;

    // Rotation on node 0's key file; node 1 shares it; the silent node is not live.
    lockbox_service::admin::add_master_key(&location(&dirs[0], &db))
        .await
        .unwrap();
    copy_key_file(&dirs[0].join("master.key"), &dirs[1].join("master.key"));
    lockbox_service::admin::rotate_master_key(
        &location(&dirs[0], &db),
        false,
        Duration::from_secs(10),
        &lockbox_service::admin::NoProgress,
    )
    .await
    .unwrap();

    // Reported, not silently broken: 503 naming the version and the key source.
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{silent_url}/v1/workspaces/default/secrets/s/reveal"
        ))
        .bearer_auth(&c.owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    let message = body["message"].as_str().unwrap().to_owned();
    assert_eq!(body["error"], "unavailable");
    assert!(message.contains("master key version 2"), "{message}");
    assert!(
        message.contains(&silent_dir.path().join("master.key").display().to_string()),
        "names its key source: {message}"
    );
    let r = http
        .get(format!("{silent_url}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("master key version 2"),
        "{body}"
    );
    // Its watch says the same, and its heartbeat row carries it for `keys status`.
    silent.check_keys_once().await;
    let status = lockbox_service::admin::key_status(&location(&dirs[0], &db))
        .await
        .unwrap();
    assert_eq!(status.in_use, 2);
    let row = status
        .nodes
        .iter()
        .find(|n| n.id == silent.node_id())
        .expect("now beating");
    assert_eq!(row.key_versions, vec![1]);
    assert!(row.problem.as_deref().unwrap_or("").contains("version 2"));
    // Nodes that hold it are fine.
    assert_eq!(reveal(&c, 1, "s").await.0, 200);

    // Given the key, it recovers without a restart.
    copy_key_file(
        &dirs[0].join("master.key"),
        &silent_dir.path().join("master.key"),
    );
    silent.check_keys_once().await;
    assert_eq!(silent.key_problem(), None);
    let r = http
        .post(format!(
            "{silent_url}/v1/workspaces/default/secrets/s/reveal"
        ))
        .bearer_auth(&c.owner)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        http.get(format!("{silent_url}/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn a_node_with_its_own_fresh_key_or_without_the_version_in_use_refuses_to_start() {
    let Some(c) = Cluster::start(1).await else {
        return;
    };
    let db = c.db.clone();
    let start = |dir: std::path::PathBuf| {
        let db = db.clone();
        async move {
            lockbox_server::start(ServerConfig {
                data_dir: dir,
                database: Some(db),
                listen: "127.0.0.1:0".into(),
                ..ServerConfig::default()
            })
            .await
        }
    };
    // Its own fresh master.key: refused, naming the version and the key file.
    let own = tempfile::tempdir().unwrap();
    fresh_key_file(own.path());
    let e = format!(
        "{:#}",
        start(own.path().to_path_buf())
            .await
            .err()
            .expect("refused")
    );
    assert!(e.contains("master key version 1"), "{e}");
    assert!(e.contains("not the key this store was set up with"), "{e}");
    assert!(
        e.contains(&own.path().join("master.key").display().to_string()),
        "{e}"
    );

    // No key at all: refused, and no key file is made.
    let none = tempfile::tempdir().unwrap();
    let e = format!(
        "{:#}",
        start(none.path().join("data"))
            .await
            .err()
            .expect("refused")
    );
    assert!(e.contains("no master key"), "{e}");
    assert!(!none.path().join("data/master.key").exists());

    // After a switch to version 2, a node whose keyring holds only version 1.
    let first = c._dirs[0].path().join("data");
    let old = tempfile::tempdir().unwrap();
    std::fs::copy(first.join("master.key"), old.path().join("master.key")).unwrap();
    lockbox_service::admin::rotate_master_key(
        &location(&first, &db),
        false,
        Duration::from_secs(10),
        &lockbox_service::admin::NoProgress,
    )
    .await
    .unwrap();
    let e = format!(
        "{:#}",
        start(old.path().to_path_buf())
            .await
            .err()
            .expect("refused")
    );
    assert!(e.contains("master key version 2"), "{e}");
    assert!(
        e.contains(&old.path().join("master.key").display().to_string()),
        "{e}"
    );
    // With the key file of the deployment it starts.
    copy_key_file(&first.join("master.key"), &old.path().join("master.key"));
    start(old.path().to_path_buf())
        .await
        .expect("starts with the key")
        .stop()
        .await;
}
}
