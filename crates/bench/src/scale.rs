//! `lockbox-bench scale`: a running Lockbox server at 100,000 secrets. Seeds
//! them through the native API (durable upserts, many clients), then loads, each
//! for the same time: Vault `LIST` of a folder of 1,000 sub-folders and of a
//! folder of 100 keys (1 client and many; listed over and over, so mostly from
//! the server's listing cache), each of the 1,000 sub-folders listed once (what
//! a listing costs when the cache cannot answer), the native metadata GET and reveal,
//! the Vault data GET of random secrets, and Vault creates of new keys. Prints
//! one JSON object: the seed time and, per load, requests/s, p50 and p99 in ms
//! and the answers that were not 2xx.
//!
//! Memory (issue 20: "RSS after loading 100k secrets and reading each once"):
//! given the server's pid, the bench reads its VmRSS after seeding, then reveals
//! every secret once through the native API and reads every one once through
//! the Vault data GET (the two paths fill the same row and version caches today,
//! but a read path with a cache of its own would show here), and reads VmRSS
//! again before the timed loads (which only add a few thousand new secrets).

use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The secrets' layout: `top/fNNNN/kNN` (1,000 sub-folders of `top/`),
/// `hundred/kNNN` (100 keys), the rest flat under `fill/`.
fn name_of(i: usize) -> String {
    const FOLDERS: usize = 1000;
    const PER: usize = 99;
    if i < FOLDERS * PER {
        format!("top/f{:04}/k{:02}", i % FOLDERS, i / FOLDERS)
    } else if i < FOLDERS * PER + 100 {
        format!("hundred/k{:03}", i - FOLDERS * PER)
    } else {
        format!("fill/{i:06}")
    }
}

/// What one load measured.
pub(crate) struct Load {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) failed: u64,
}

impl Load {
    /// The load of requests that took `latencies`, `failed` of them not 2xx,
    /// over `seconds`.
    fn of(mut latencies: Vec<Duration>, seconds: f64, failed: u64) -> Load {
        latencies.sort();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Load {
            rps: latencies.len() as f64 / seconds,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            failed,
        }
    }

    fn json(&self) -> Value {
        json!({
            "rps": self.rps.round(),
            "p50_ms": (self.p50_ms * 100.0).round() / 100.0,
            "p99_ms": (self.p99_ms * 100.0).round() / 100.0,
            "failed": self.failed,
        })
    }
}

/// One request of a load: given its client (0..clients) and a number that is
/// new for every request of the load.
pub(crate) type MakeRequest =
    Arc<dyn Fn(&reqwest::Client, usize, u64) -> reqwest::RequestBuilder + Send + Sync>;

/// Sends `req` and reads its answer whole: whether it was 2xx.
async fn succeeded(req: reqwest::RequestBuilder) -> bool {
    match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// `clients` loops sending `make`'s requests for `seconds`.
pub(crate) async fn load(
    http: &reqwest::Client,
    clients: usize,
    seconds: u64,
    make: MakeRequest,
) -> Load {
    let end = Instant::now() + Duration::from_secs(seconds);
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, make, failed) = (http.clone(), make.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut n = c as u64 * 1_000_003;
            while Instant::now() < end {
                n += 1;
                let t = Instant::now();
                let ok = succeeded(make(&http, c, n)).await;
                lat.push(t.elapsed());
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    Load::of(all, seconds as f64, failed.load(Ordering::Relaxed))
}

/// The resident memory of process `pid` in MiB (`VmRSS` of /proc/PID/status).
fn rss_mib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"))?;
    Ok((kib / 1024.0 * 10.0).round() / 10.0)
}

/// The request for the ith secret.
type MakeEach = Arc<dyn Fn(&reqwest::Client, usize) -> reqwest::RequestBuilder + Send + Sync>;

/// Sends one request per secret (`make(i)` for every i), from `clients`
/// clients; fails if any answer is not 2xx. Answers the seconds it took.
async fn each_once(
    http: &reqwest::Client,
    secrets: usize,
    clients: usize,
    make: MakeEach,
) -> Result<f64> {
    let t = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, make, failed) = (http.clone(), make.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..secrets).step_by(clients) {
                let ok = succeeded(make(&http, i)).await;
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} of {secrets} reads failed");
    }
    Ok(t.elapsed().as_secs_f64())
}

/// Lists each of the 1,000 sub-folders of `top/` (99 keys each) once, from
/// `clients` clients: no folder is listed twice, so no answer comes from the
/// server's listing cache (what a listing costs the store, not what a folder
/// listed over and over costs). Latencies as [`load`]'s; requests/s over the
/// whole pass.
async fn list_each_folder(
    http: &reqwest::Client,
    vault: &str,
    token: &str,
    clients: usize,
) -> Load {
    const FOLDERS: usize = 1000;
    let t = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, failed) = (http.clone(), failed.clone());
        let (vault, token) = (vault.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for f in (c..FOLDERS).step_by(clients) {
                let t = Instant::now();
                let ok = succeeded(
                    http.request(
                        reqwest::Method::from_bytes(b"LIST").expect("LIST"),
                        format!("{vault}/metadata/top/f{f:04}/"),
                    )
                    .header("X-Vault-Token", &token),
                )
                .await;
                lat.push(t.elapsed());
                if !ok {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    Load::of(
        all,
        t.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// A cheap spread of `n` over `0..m` (so clients read different secrets).
fn spread(n: u64, m: usize) -> usize {
    (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17) as usize % m
}

pub async fn scale(
    addr: String,
    token: String,
    secrets: usize,
    clients: usize,
    seconds: u64,
    pid: Option<u32>,
) -> Result<()> {
    if secrets < 99_100 {
        bail!("the layout needs at least 99,100 secrets (1,000 folders of 99 and 100 keys)");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients * 2)
        .build()?;
    let v1 = format!("{addr}/v1/workspaces/default/secrets");

    // Seed: durable upserts from `clients` clients, each its share of the names.
    let t = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, v1, token, failed) = (http.clone(), v1.clone(), token.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            for i in (c..secrets).step_by(clients) {
                let r = http
                    .put(format!("{v1}/{}", name_of(i).replace('/', "%2F")))
                    .bearer_auth(&token)
                    .json(&json!({"value": {"user": "svc", "password": format!("pw-{i}-0123456789abcdef")}}))
                    .send()
                    .await;
                if !r.is_ok_and(|r| r.status().is_success()) {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let seed_s = t.elapsed().as_secs_f64();
    let seed_failed = failed.load(Ordering::Relaxed);
    if seed_failed > 0 {
        bail!("{seed_failed} of {secrets} seeding writes failed");
    }

    let vault = format!("{addr}/vault/v1/secret");
    let mut out = Map::new();
    out.insert("secrets".into(), json!(secrets));
    out.insert("seed_s".into(), json!((seed_s * 10.0).round() / 10.0));
    out.insert(
        "seed_per_s".into(),
        json!((secrets as f64 / seed_s).round()),
    );
    if let Some(pid) = pid {
        out.insert("rss_seed_mib".into(), json!(rss_mib(pid)?));
    }
    // Read every secret once: a native reveal each, then a Vault data GET each.
    let reveal_s = each_once(&http, secrets, clients, {
        let (v1, token) = (v1.clone(), token.clone());
        Arc::new(move |h: &reqwest::Client, i| {
            let name = name_of(i).replace('/', "%2F");
            h.post(format!("{v1}/{name}/reveal")).bearer_auth(&token)
        })
    })
    .await?;
    let vault_s = each_once(&http, secrets, clients, {
        let (vault, token) = (vault.clone(), token.clone());
        Arc::new(move |h: &reqwest::Client, i| {
            h.get(format!("{vault}/data/{}", name_of(i)))
                .header("X-Vault-Token", &token)
        })
    })
    .await?;
    out.insert(
        "read_each_reveal_s".into(),
        json!((reveal_s * 10.0).round() / 10.0),
    );
    out.insert(
        "read_each_vault_s".into(),
        json!((vault_s * 10.0).round() / 10.0),
    );
    if let Some(pid) = pid {
        out.insert("rss_read_mib".into(), json!(rss_mib(pid)?));
    }
    let list = |folder: &'static str| -> MakeRequest {
        let (url, token) = (format!("{vault}/metadata/{folder}"), token.clone());
        Arc::new(move |h: &reqwest::Client, _, _| {
            h.request(reqwest::Method::from_bytes(b"LIST").expect("LIST"), &url)
                .header("X-Vault-Token", &token)
        })
    };
    // A LIST answers every child: check the shapes once before timing them.
    for (folder, want) in [("top/", 1000), ("hundred/", 100)] {
        let r = list(folder)(&http, 0, 0).send().await?;
        let j: Value = r.json().await?;
        let got = j["data"]["keys"].as_array().map_or(0, Vec::len);
        if got != want {
            bail!("LIST {folder} answered {got} keys, not {want}");
        }
    }
    // Every sub-folder once with one client, then (past the cache's 0.4 s) once
    // more with all of them: listings the cache cannot answer.
    let each_1 = list_each_folder(&http, &vault, &token, 1).await;
    out.insert("list_each_folder_1".into(), each_1.json());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let each_n = list_each_folder(&http, &vault, &token, clients).await;
    out.insert("list_each_folder_n".into(), each_n.json());
    let loads: Vec<(&str, usize, MakeRequest)> = vec![
        ("list_top_1", 1, list("top/")),
        ("list_top_n", clients, list("top/")),
        ("list_hundred_1", 1, list("hundred/")),
        ("list_hundred_n", clients, list("hundred/")),
        ("metadata_n", clients, {
            let (url, token) = (format!("{v1}/hundred%2Fk000"), token.clone());
            Arc::new(move |h: &reqwest::Client, _, _| h.get(&url).bearer_auth(&token))
        }),
        ("reveal_n", clients, {
            let (v1, token) = (v1.clone(), token.clone());
            Arc::new(move |h: &reqwest::Client, _, n| {
                let name = name_of(spread(n, secrets)).replace('/', "%2F");
                h.post(format!("{v1}/{name}/reveal")).bearer_auth(&token)
            })
        }),
        ("vault_read_n", clients, {
            let (vault, token) = (vault.clone(), token.clone());
            Arc::new(move |h: &reqwest::Client, _, n| {
                h.get(format!("{vault}/data/{}", name_of(spread(n, secrets))))
                    .header("X-Vault-Token", &token)
            })
        }),
        ("vault_create_n", clients, {
            let (vault, token) = (vault.clone(), token.clone());
            // A run tag so repeated loads create new names, not new versions.
            let run = lockbox_core::Clock::now(&lockbox_core::SystemClock).millis();
            Arc::new(move |h: &reqwest::Client, _, n| {
                h.post(format!("{vault}/data/new/{run:x}-{n}"))
                    .header("X-Vault-Token", &token)
                    .json(&json!({"data": {"password": format!("new-{n}-0123456789abcdef")}}))
            })
        }),
    ];
    for (name, n, make) in loads {
        let l = load(&http, n, seconds, make).await;
        out.insert(name.into(), l.json());
    }
    println!("{}", Value::Object(out));
    Ok(())
}
