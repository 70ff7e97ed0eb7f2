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
        let owner = nodes[0].init_token.clone().expect("first node bootstraps");
        assert!(
            nodes[1..].iter().all(|n| n.init_token.is_none()),
            "only one node bootstraps"
        );
        Some(Cluster {
            nodes,
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
