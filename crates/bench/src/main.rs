//! `lockbox-bench`: the baselines and loads `bench/run.sh` needs beside wrk.
//!
//! - `hello`: a bare axum route, so Lockbox's rates read as ratios on any machine;
//! - `sqlite-inserts`: raw single-row inserts, each its own durable transaction
//!   (WAL, `synchronous=FULL`), the baseline for durable upserts;
//! - `hot-patch`: many clients patching one secret with `If-Match`, retrying on 412;
//!   prints p50/p99 latency of each PATCH and the rate of successful ones;
//! - `echo`: an upstream that answers every request with what it received (method,
//!   path and query, headers, body) as JSON, for trying the egress executor;
//! - `run-redactor`: the cost of a run's redactor (`/v1/run/redact`) in a
//!   workspace of many large secrets, against a Lockbox server started in this
//!   process (so a counting allocator sees every byte it allocates): the first
//!   call of a run using a few of them, a cached call, a call after a write to
//!   another secret and to a used one, and parallel first calls of a fresh run;
//! - `scale`: a running server seeded with 100,000 secrets, then Vault `LIST` of a
//!   folder of 1,000 sub-folders and of 100 keys, reads and creates, and the
//!   server's RSS after seeding and after reading every secret once (`scale.rs`);
//! - `pg-nodes`: durable writes to distinct workspaces through N nodes over one
//!   PostgreSQL database, started here or already running (`pg_nodes.rs`).

mod pg_nodes;
mod scale;

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Counts live heap bytes and their peak, for `run-redactor`.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            if new > l.size() {
                let now = LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Hello {
        #[arg(long, default_value = "127.0.0.1:8271")]
        listen: String,
    },
    Echo {
        #[arg(long, default_value = "127.0.0.1:8280")]
        listen: String,
    },
    /// Latency of `/v1/run/fetch` against calling the same upstream directly.
    EgressLatency {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        token: String,
        #[arg(long)]
        upstream: String,
        #[arg(long, default_value_t = 2000)]
        requests: usize,
    },
    SqliteInserts {
        #[arg(long)]
        dir: std::path::PathBuf,
        #[arg(long, default_value_t = 5)]
        seconds: u64,
    },
    HotPatch {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 16)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Seeds a running server with many secrets, then times lists, reads and creates.
    Scale {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        token: String,
        #[arg(long, default_value_t = 100_000)]
        secrets: usize,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The server's process id: its resident memory (VmRSS) is read after
        /// seeding and after reading every secret once.
        #[arg(long)]
        pid: Option<u32>,
    },
    /// Durable writes to distinct workspaces through N nodes on one PostgreSQL.
    PgNodes {
        /// A running node (repeat per node); with --token. Without it, --bin.
        #[arg(long = "addr")]
        addrs: Vec<String>,
        /// The owner token of the running nodes.
        #[arg(long)]
        token: Option<String>,
        /// The `lockbox` binary to start --nodes nodes from.
        #[arg(long)]
        bin: Option<std::path::PathBuf>,
        /// A database URL of the PostgreSQL server; a fresh database is created
        /// beside it (and dropped afterwards) for started nodes.
        #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
        database: String,
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// The first node's port; the others take the next ones.
        #[arg(long, default_value_t = 18500)]
        port: u16,
        #[arg(long, default_value_t = 48)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Secrets per client, written in turn.
        #[arg(long, default_value_t = 20)]
        secrets: usize,
    },
    /// The cost of runs' redactors in a workspace of many large secrets.
    RunRedactor {
        /// Live secrets in the workspace.
        #[arg(long, default_value_t = 10_000)]
        secrets: usize,
        /// Bytes per value (the limit is 64 KiB as JSON, escapes included).
        #[arg(long, default_value_t = 64_000)]
        size: usize,
        /// Secrets a run uses.
        #[arg(long, default_value_t = 10)]
        used: usize,
        /// Parallel first calls of a fresh run.
        #[arg(long, default_value_t = 4)]
        parallel: usize,
        /// Where the server keeps its data (a fresh temporary directory, removed
        /// afterwards, when not given).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Hello { listen } => {
            let app = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello" }));
            let l = tokio::net::TcpListener::bind(&listen).await?;
            axum::serve(l, app).await?;
        }
        Cmd::Echo { listen } => {
            let app = axum::Router::new().fallback(|req: axum::extract::Request| async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let headers: serde_json::Map<String, serde_json::Value> = parts
                    .headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
                    .collect();
                axum::Json(serde_json::json!({
                    // A login endpoint's answer, so seed 000's caching pattern can
                    // run against this server as it is.
                    "token": "echo-jwt-3f9a1c7e5b2d",
                    "method": parts.method.as_str(),
                    "uri": parts.uri.to_string(),
                    "headers": headers,
                    "body": String::from_utf8_lossy(&body),
                }))
            });
            let l = tokio::net::TcpListener::bind(&listen).await?;
            eprintln!("echo server on http://{listen}");
            axum::serve(l, app).await?;
        }
        Cmd::SqliteInserts { dir, seconds } => sqlite_inserts(&dir, seconds)?,
        Cmd::EgressLatency {
            addr,
            token,
            upstream,
            requests,
        } => egress_latency(addr, token, upstream, requests).await?,
        Cmd::HotPatch {
            addr,
            token,
            clients,
            seconds,
        } => hot_patch(addr, token, clients, seconds).await?,
        Cmd::Scale {
            addr,
            token,
            secrets,
            clients,
            seconds,
            pid,
        } => scale::scale(addr, token, secrets, clients, seconds, pid).await?,
        Cmd::PgNodes {
            addrs,
            token,
            bin,
            database,
            nodes,
            port,
            clients,
            seconds,
            secrets,
        } => {
            pg_nodes::pg_nodes(pg_nodes::Options {
                addrs,
                token,
                bin,
                database,
                nodes,
                port,
                clients,
                seconds,
                secrets,
            })
            .await?
        }
        Cmd::RunRedactor {
            secrets,
            size,
            used,
            parallel,
            dir,
        } => run_redactor(secrets, size, used, parallel, dir).await?,
    }
    Ok(())
}

/// A deterministic printable value (letters, digits, punctuation, spaces,
/// quotes and backslashes: every kind of form applies) of `size` bytes.
fn bench_value(i: usize, size: usize) -> String {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b' ' + (x % 95) as u8) as char
        })
        .collect()
}

/// One timed call: milliseconds, and heap bytes at the peak above what was
/// live before it.
async fn measured<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<(f64, usize)> {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let t = Instant::now();
    f.await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    Ok((ms, PEAK.load(Ordering::Relaxed).saturating_sub(base)))
}

async fn run_redactor(
    secrets: usize,
    size: usize,
    used: usize,
    parallel: usize,
    dir: Option<std::path::PathBuf>,
) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let data = dir.unwrap_or_else(|| tmp.path().join("data"));
    let server = lockbox_server::start(lockbox_server::ServerConfig {
        data_dir: data,
        listen: "127.0.0.1:0".into(),
        ..lockbox_server::ServerConfig::default()
    })
    .await?;
    let addr = server.url();
    let token = server
        .init_token
        .clone()
        .map(|t| t.into_exposed())
        .unwrap_or_default();
    let svc = server.service.clone();
    let http = reqwest::Client::new();
    let secret_url = |i: usize| format!("{addr}/v1/workspaces/default/secrets/big-{i}");

    // The workspace: `secrets` values of `size` bytes, written 16 at a time.
    let t = Instant::now();
    let next = std::sync::Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for _ in 0..16 {
        let (http, token, next) = (http.clone(), token.clone(), next.clone());
        let addr = addr.clone();
        writers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= secrets {
                    return Ok::<(), anyhow::Error>(());
                }
                let r = http
                    .put(format!("{addr}/v1/workspaces/default/secrets/big-{i}"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({ "value": bench_value(i, size) }))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("writing secret {i} failed: {}", r.status());
                }
            }
        }));
    }
    for w in writers {
        w.await??;
    }
    let populate_s = t.elapsed().as_secs_f64();

    let open_run = || async {
        let r: serde_json::Value = http
            .post(format!("{addr}/v1/runs"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"workspace": "default", "trigger": "manual"}))
            .send()
            .await?
            .json()
            .await?;
        Ok::<String, anyhow::Error>(r["token"].as_str().unwrap_or_default().to_owned())
    };
    let refs_of = |run: String, ids: Vec<usize>| {
        let (http, addr) = (http.clone(), addr.clone());
        async move {
            let mut refs = Vec::new();
            for i in ids {
                let r: serde_json::Value = http
                    .post(format!("{addr}/v1/run/secrets/get"))
                    .bearer_auth(&run)
                    .json(&serde_json::json!({"name": format!("big-{i}"), "scope": "workspace"}))
                    .send()
                    .await?
                    .json()
                    .await?;
                refs.push(r["ref"].as_str().unwrap_or_default().to_owned());
            }
            Ok::<Vec<String>, anyhow::Error>(refs)
        }
    };
    // A log line holding one of the values, and a plain one.
    let redact = |run: String, refs: Vec<String>, value: String| {
        let (http, addr) = (http.clone(), addr.clone());
        async move {
            let r: serde_json::Value = http
                .post(format!("{addr}/v1/run/redact"))
                .bearer_auth(&run)
                .json(&serde_json::json!({"refs": refs, "lines": ["step 1 done", format!("got {value} back")]}))
                .send()
                .await?
                .json()
                .await?;
            if r["lines"][1].as_str() != Some("got [REDACTED:big-3] back") {
                bail!(
                    "the value was not masked: {}",
                    &r.to_string()[..200.min(r.to_string().len())]
                );
            }
            Ok(())
        }
    };
    let stride = (secrets / used.max(1)).max(1);
    let ids: Vec<usize> = (0..used).map(|k| (3 + k * stride) % secrets).collect();
    let run = open_run().await?;
    let refs = refs_of(run.clone(), ids.clone()).await?;
    let value3 = bench_value(3, size);

    let builds = || svc.redactor_stats();
    let b0 = builds();
    let first = measured(redact(run.clone(), refs.clone(), value3.clone())).await?;
    let b1 = builds();
    let cached = measured(redact(run.clone(), refs.clone(), value3.clone())).await?;
    let b2 = builds();
    // A write to a secret the run does not use.
    let other = (0..secrets).find(|i| !ids.contains(i)).unwrap_or(0);
    http.put(secret_url(other))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "value": bench_value(secrets + 1, size) }))
        .send()
        .await?;
    let b3 = builds();
    let after_other = measured(redact(run.clone(), refs.clone(), value3.clone())).await?;
    let b4 = builds();
    // A new version of a secret the run uses (its sets are dropped).
    http.put(secret_url(ids[1]))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "value": bench_value(secrets + 2, size) }))
        .send()
        .await?;
    let after_used = measured(redact(run.clone(), refs.clone(), value3.clone())).await?;
    let b5 = builds();
    // Parallel first calls of a fresh run over other secrets.
    let run2 = open_run().await?;
    let mut ids2: Vec<usize> = (0..used).map(|k| (5 + k * stride) % secrets).collect();
    ids2[0] = 3;
    let refs2 = refs_of(run2.clone(), ids2).await?;
    let b6 = builds();
    let par = measured(async {
        let mut tasks = Vec::new();
        for _ in 0..parallel {
            tasks.push(tokio::spawn(redact(
                run2.clone(),
                refs2.clone(),
                value3.clone(),
            )));
        }
        for t in tasks {
            t.await??;
        }
        Ok(())
    })
    .await?;
    let b7 = builds();
    println!(
        "{{\"secrets\": {secrets}, \"size\": {size}, \"used\": {used}, \"populate_s\": {populate_s:.1}, \
         \"first_ms\": {:.1}, \"first_mb\": {:.2}, \"first_builds\": {}, \
         \"cached_ms\": {:.1}, \"cached_mb\": {:.2}, \"cached_builds\": {}, \
         \"after_other_write_ms\": {:.1}, \"after_other_write_mb\": {:.2}, \"after_other_write_builds\": {}, \
         \"after_used_write_ms\": {:.1}, \"after_used_write_mb\": {:.2}, \"after_used_write_builds\": {}, \
         \"parallel\": {parallel}, \"parallel_ms\": {:.1}, \"parallel_mb\": {:.2}, \"parallel_builds\": {}, \
         \"cached_set_mb\": {:.2}}}",
        first.0,
        first.1 as f64 / 1e6,
        b1.version_builds - b0.version_builds,
        cached.0,
        cached.1 as f64 / 1e6,
        b2.version_builds - b1.version_builds,
        after_other.0,
        after_other.1 as f64 / 1e6,
        b4.version_builds - b3.version_builds,
        after_used.0,
        after_used.1 as f64 / 1e6,
        b5.version_builds - b4.version_builds,
        par.0,
        par.1 as f64 / 1e6,
        b7.version_builds - b6.version_builds,
        b7.cached_bytes as f64 / 1e6,
    );
    server.stop().await;
    Ok(())
}

fn sqlite_inserts(dir: &std::path::Path, seconds: u64) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let conn = rusqlite::Connection::open(dir.join("raw.db"))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")?;
    let payload = vec![7u8; 96];
    let end = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut n = 0u64;
    while Instant::now() < end {
        conn.execute("INSERT INTO t (v) VALUES (?)", [&payload])?;
        n += 1;
    }
    println!("{:.0}", n as f64 / start.elapsed().as_secs_f64());
    Ok(())
}

async fn egress_latency(
    addr: String,
    token: String,
    upstream: String,
    requests: usize,
) -> Result<()> {
    let http = reqwest::Client::new();
    let run: serde_json::Value = http
        .post(format!("{addr}/v1/runs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"workspace": "default", "trigger": "manual"}))
        .send()
        .await?
        .json()
        .await?;
    let run = run["token"].as_str().unwrap_or_default().to_owned();
    http.post(format!("{addr}/v1/run/secrets/set"))
        .bearer_auth(&run)
        .json(&serde_json::json!({"name": "bench-egress", "value": "egress-bench-token-0123456789", "scope": "workspace"}))
        .send()
        .await?;
    let mut reference = String::new();
    let (mut direct, mut via) = (Vec::new(), Vec::new());
    for i in 0..requests {
        if i % 200 == 0 {
            let r: serde_json::Value = http
                .post(format!("{addr}/v1/run/secrets/get"))
                .bearer_auth(&run)
                .json(&serde_json::json!({"name": "bench-egress", "scope": "workspace"}))
                .send()
                .await?
                .json()
                .await?;
            reference = r["ref"].as_str().unwrap_or_default().to_owned();
        }
        let t = Instant::now();
        let r = http
            .get(format!("{upstream}/api/data"))
            .header("authorization", "Bearer egress-bench-token-0123456789")
            .send()
            .await?;
        r.bytes().await?;
        direct.push(t.elapsed());
        let t = Instant::now();
        let r = http
            .post(format!("{addr}/v1/run/fetch"))
            .bearer_auth(&run)
            .json(&serde_json::json!({"url": format!("{upstream}/api/data"), "headers": {"Authorization": format!("Bearer {reference}")}}))
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("fetch failed: {}", r.status());
        }
        r.bytes().await?;
        via.push(t.elapsed());
    }
    direct.sort();
    via.sort();
    let q = |v: &Vec<Duration>, p: f64| {
        v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
    };
    println!(
        "{{\"direct_p50_ms\": {:.3}, \"direct_p99_ms\": {:.3}, \"fetch_p50_ms\": {:.3}, \"fetch_p99_ms\": {:.3}, \"added_p50_ms\": {:.3}, \"added_p99_ms\": {:.3}}}",
        q(&direct, 0.5),
        q(&direct, 0.99),
        q(&via, 0.5),
        q(&via, 0.99),
        q(&via, 0.5) - q(&direct, 0.5),
        q(&via, 0.99) - q(&direct, 0.99)
    );
    Ok(())
}

async fn hot_patch(addr: String, token: String, clients: usize, seconds: u64) -> Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{addr}/v1/workspaces/default/secrets/bench-hot");
    let r = http
        .put(&url)
        .bearer_auth(&token)
        .json(&serde_json::json!({"value": {"n": 0, "pad": "p".repeat(32)}}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("seeding the hot secret failed: {}", r.status());
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut ok = 0u64;
            let mut version = 1u64;
            while Instant::now() < end {
                let t = Instant::now();
                let r = http
                    .patch(&url)
                    .bearer_auth(&token)
                    .header("content-type", "application/merge-patch+json")
                    .header("if-match", format!("\"{version}\""))
                    .body(format!("{{\"n\": {}}}", version))
                    .send()
                    .await;
                lat.push(t.elapsed());
                match r {
                    Ok(r) if r.status() == 200 => {
                        ok += 1;
                        version = r.headers()["etag"]
                            .to_str()
                            .unwrap_or("\"0\"")
                            .trim_matches('"')
                            .parse()
                            .unwrap_or(0);
                    }
                    Ok(r) if r.status() == 412 => {
                        // Learn the current version and go again.
                        if let Ok(m) = http.get(&url).bearer_auth(&token).send().await {
                            if let Ok(j) = m.json::<serde_json::Value>().await {
                                version = j["version"].as_u64().unwrap_or(version);
                            }
                        }
                    }
                    _ => {}
                }
            }
            (lat, ok)
        }));
    }
    let mut all = Vec::new();
    let mut ok = 0;
    for t in tasks {
        let (l, o) = t.await?;
        all.extend(l);
        ok += o;
    }
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "{{\"requests\": {}, \"successful_patches_per_s\": {:.0}, \"p50_ms\": {:.2}, \"p99_ms\": {:.2}}}",
        all.len(),
        ok as f64 / seconds as f64,
        pct(0.50),
        pct(0.99)
    );
    Ok(())
}
