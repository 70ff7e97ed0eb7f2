//! `lockbox-bench`: the baselines and loads `bench/run.sh` needs beside wrk.
//!
//! - `hello`: a bare axum route, so Lockbox's rates read as ratios on any machine;
//! - `sqlite-inserts`: raw single-row inserts, each its own durable transaction
//!   (WAL, `synchronous=FULL`), the baseline for durable upserts;
//! - `hot-patch`: many clients patching one secret with `If-Match`, retrying on 412;
//!   prints p50/p99 latency of each PATCH and the rate of successful ones;
//! - `echo`: an upstream that answers every request with what it received (method,
//!   path and query, headers, body) as JSON, for trying the egress executor.

use anyhow::{bail, Result};
use clap::{Parser, Subcommand};
use std::time::{Duration, Instant};

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
    }
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
