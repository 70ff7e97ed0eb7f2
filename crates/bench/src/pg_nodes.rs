//! `lockbox-bench pg-nodes`: durable writes through several Lockbox nodes over one
//! PostgreSQL database. Either against running nodes (`--addr` per node, one owner
//! `--token`), or it starts `--nodes` `lockbox server` processes itself from a
//! given binary on consecutive ports, over a fresh database it creates (and drops
//! afterwards); the first node initializes it, the others get its master key file
//! (every node of a deployment shares it) and the owner token works on all.
//!
//! Each client has a workspace of its own (created before timing) and sends its
//! PUTs (new versions of its secrets) to node `client % nodes`; for `--seconds` it
//! writes as fast as its answers come back. Prints one JSON object:
//! `{nodes, clients, writes_per_s, p50_ms, p99_ms, failed}`.

use crate::scale::{load, MakeRequest};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use std::sync::Arc;
use std::time::Duration;

/// What `pg-nodes` was asked to do.
pub struct Options {
    /// Running nodes to load (then `token` is their owner token).
    pub addrs: Vec<String>,
    pub token: Option<String>,
    /// Else: the `lockbox` binary to start nodes from.
    pub bin: Option<PathBuf>,
    /// A database URL of the server to create the fresh database on.
    pub database: String,
    pub nodes: usize,
    pub port: u16,
    pub clients: usize,
    pub seconds: u64,
    /// Secrets each client writes new versions of, in turn.
    pub secrets: usize,
}

/// Nodes this process started, stopped (and their database dropped) on drop.
struct Cluster {
    children: Vec<Child>,
    admin_url: String,
    db: String,
    /// Each node's data directory, token file and log.
    dir: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let (url, db) = (self.admin_url.clone(), self.db.clone());
        // Our own runtime on our own thread: drop may run inside the bench's.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// `url` with its database name replaced by `db`.
fn with_database(url: &str, db: &str) -> Result<String> {
    let (base, rest) = url
        .rsplit_once('/')
        .context("the database URL has no /database part")?;
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
    Ok(format!("{base}/{db}{}", query.unwrap_or_default()))
}

async fn wait_ready(http: &reqwest::Client, addr: &str) -> Result<()> {
    for _ in 0..300 {
        if let Ok(r) = http.get(format!("{addr}/healthz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{addr} did not answer /healthz within 30 s")
}

async fn wait_file(path: &Path) -> Result<String> {
    for _ in 0..100 {
        if let Ok(s) = std::fs::read_to_string(path) {
            if !s.trim().is_empty() {
                return Ok(s.trim().to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{} was not written within 10 s", path.display())
}

/// Starts `o.nodes` servers over a fresh database; answers their addresses and
/// the owner token.
async fn start_cluster(
    o: &Options,
    bin: &Path,
    http: &reqwest::Client,
) -> Result<(Cluster, Vec<String>, String)> {
    let db = format!(
        "lbx_pgnodes_{}_{}",
        std::process::id(),
        lockbox_core::Clock::now(&lockbox_core::SystemClock).millis()
    );
    let (admin, conn) = tokio_postgres::connect(&o.database, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL to create the benchmark database")?;
    tokio::spawn(conn);
    admin
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await?;
    let url = with_database(&o.database, &db)?;
    let mut cluster = Cluster {
        children: Vec::new(),
        admin_url: o.database.clone(),
        db,
        dir: tempfile::tempdir()?,
    };
    let root = cluster.dir.path().to_path_buf();
    let mut addrs = Vec::new();
    let mut token = String::new();
    for i in 0..o.nodes {
        let home = root.join(format!("node{i}"));
        let data = home.join("data");
        std::fs::create_dir_all(&data)?;
        if i > 0 {
            std::fs::copy(root.join("node0/data/master.key"), data.join("master.key"))
                .context("copying the first node's master key")?;
        }
        let listen = format!("127.0.0.1:{}", o.port + i as u16);
        let log = std::fs::File::create(home.join("server.log"))?;
        let child = Command::new(bin)
            .arg("server")
            .arg("--data-dir")
            .arg(&data)
            .arg("--database")
            .arg(&url)
            .arg("--listen")
            .arg(&listen)
            .arg("--init-token-file")
            .arg(home.join("token"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        cluster.children.push(child);
        let addr = format!("http://{listen}");
        wait_ready(http, &addr).await.with_context(|| {
            format!(
                "node {i}; its log: {}",
                std::fs::read_to_string(home.join("server.log")).unwrap_or_default()
            )
        })?;
        if i == 0 {
            token = wait_file(&home.join("token")).await?;
        }
        addrs.push(addr);
    }
    Ok((cluster, addrs, token))
}

pub async fn pg_nodes(o: Options) -> Result<()> {
    if o.clients == 0 || o.secrets == 0 {
        bail!("--clients and --secrets must be at least 1");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(o.clients * 2)
        .build()?;
    let (_cluster, addrs, token) = if o.addrs.is_empty() {
        let Some(bin) = &o.bin else {
            bail!("give --addr (with --token) per running node, or --bin to start --nodes nodes");
        };
        let (c, a, t) = start_cluster(&o, bin, &http).await?;
        (Some(c), a, t)
    } else {
        let Some(t) = o.token.clone() else {
            bail!("--addr needs --token (an owner token valid on every node)");
        };
        (None, o.addrs.clone(), t)
    };
    let nodes = addrs.len();

    // One workspace per client (name tagged per run so a rerun against running
    // nodes does not collide), created through the first node.
    let run = lockbox_core::Clock::now(&lockbox_core::SystemClock).millis() % 1_000_000_000;
    let workspace = |c: usize| format!("pgn{run:x}-{c}");
    for c in 0..o.clients {
        let r = http
            .post(format!("{}/v1/workspaces", addrs[0]))
            .bearer_auth(&token)
            .json(&json!({"name": workspace(c)}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("creating workspace {} failed: {}", workspace(c), r.status());
        }
    }
    let url = |c: usize, i: usize| {
        format!(
            "{}/v1/workspaces/{}/secrets/k{i}",
            addrs[c % nodes],
            workspace(c)
        )
    };

    // Warm-up (not timed): each client creates its secrets, so the timed writes
    // are new versions.
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let (http, token) = (http.clone(), token.clone());
        let urls: Vec<String> = (0..o.secrets).map(|i| url(c, i)).collect();
        tasks.push(tokio::spawn(async move {
            for u in urls {
                let r = http
                    .put(&u)
                    .bearer_auth(&token)
                    .json(&json!({"value": "warm-up-0123456789abcdef"}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("warm-up PUT {u}: {}", r.status());
                }
            }
            Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }

    let urls: Arc<Vec<Vec<String>>> = Arc::new(
        (0..o.clients)
            .map(|c| (0..o.secrets).map(|i| url(c, i)).collect())
            .collect(),
    );
    let make: MakeRequest = Arc::new(move |h: &reqwest::Client, c, n| {
        let mine = &urls[c];
        h.put(&mine[n as usize % mine.len()])
            .bearer_auth(&token)
            .json(&json!({"value": format!("value-{n}-0123456789abcdef")}))
    });
    let seconds = o.seconds.max(1);
    let l = load(&http, o.clients, seconds, make).await;
    let ok_per_s = (l.rps - l.failed as f64 / seconds as f64).max(0.0);
    println!(
        "{}",
        json!({
            "nodes": nodes,
            "clients": o.clients,
            "writes_per_s": ok_per_s.round() as u64,
            "p50_ms": (l.p50_ms * 100.0).round() / 100.0,
            "p99_ms": (l.p99_ms * 100.0).round() / 100.0,
            "failed": l.failed,
        })
    );
    Ok(())
}
