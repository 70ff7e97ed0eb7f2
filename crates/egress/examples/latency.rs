//! Added latency of `Executor::fetch` over a direct `reqwest` call to the same local
//! upstream: resolve one reference, check, substitute, send, read, redact.
//!
//! Run: `cargo run --release -p lockbox-egress --example latency [-- N]` (default
//! N = 2000 sequential requests per variant after a warm-up). The upstream is an
//! in-process axum server on 127.0.0.1 that echoes the API key header back in a small
//! JSON body and a response header, so redaction has something to do. Prints the
//! median, p99 and mean per request and the difference.

use lockbox_core::{Error, ErrorCode, SecretValue};
use lockbox_egress::{EgressPolicy, Executor, FetchRequest, ReferenceResolver, Resolved};
use std::time::{Duration, Instant};

const VALUE: &str = "sk_live_51Hq2XyZaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";
const REFERENCE: &str = "$secret:bench_reference_token_0123456789abcdef";

struct OneSecret;

#[async_trait::async_trait]
impl ReferenceResolver for OneSecret {
    async fn resolve(&self, reference: &str) -> Result<Resolved, Error> {
        if reference != REFERENCE {
            return Err(Error::new(ErrorCode::Expired, "the reference has expired"));
        }
        Ok(Resolved {
            name: "apiKey".into(),
            secret_id: "sec_1".into(),
            value: SecretValue::from_json_bytes(VALUE.as_bytes().to_vec()),
            allowed_hosts: vec!["127.0.0.1".into()],
        })
    }
}

async fn echo(headers: axum::http::HeaderMap) -> impl axum::response::IntoResponse {
    let key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = serde_json::json!({
        "ok": true,
        "items": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}],
        "echo": key,
    });
    ([("x-echo-key", key)], axum::Json(body))
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = us(v[v.len() / 2]);
    let p99 = us(v[(v.len() * 99 / 100).min(v.len() - 1)]);
    let mean = v.iter().map(|d| us(*d)).sum::<f64>() / v.len() as f64;
    (median, p99, mean)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().route("/v1/items", axum::routing::get(echo));
        axum::serve(listener, app).await.unwrap();
    });
    let url = format!("http://{addr}/v1/items");

    let direct = reqwest::Client::builder().no_proxy().build().unwrap();
    let exec = Executor::new(EgressPolicy {
        allow_private: true,
        ..EgressPolicy::default()
    });
    let request: FetchRequest = serde_json::from_value(serde_json::json!({
        "url": url,
        "headers": {"X-Api-Key": REFERENCE}
    }))
    .unwrap();

    let run_direct = || async {
        let r = direct
            .get(&url)
            .header("x-api-key", VALUE)
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["echo"], VALUE);
    };
    let run_fetch = || async {
        let out = exec.fetch(request.clone(), &OneSecret).await.unwrap();
        assert_eq!(out.body["echo"], "[REDACTED:apiKey]");
    };

    // Warm up both (connection pools, allocator).
    for _ in 0..200 {
        run_direct().await;
        run_fetch().await;
    }
    // Interleave the variants so drift affects both alike.
    let mut t_direct = Vec::with_capacity(n);
    let mut t_fetch = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        run_direct().await;
        t_direct.push(t.elapsed());
        let t = Instant::now();
        run_fetch().await;
        t_fetch.push(t.elapsed());
    }
    // Part of the difference: building the per-call redactor for one value.
    let mut t_redactor = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = lockbox_redact::Redactor::new(
            &[("apiKey", VALUE.as_bytes())],
            lockbox_redact::Options::default(),
        );
        std::hint::black_box(&r);
        t_redactor.push(t.elapsed());
    }
    // Paired differences (each fetch against the direct call just before it) are
    // steadier than a difference of medians on a shared machine.
    let mut diffs: Vec<f64> = t_fetch
        .iter()
        .zip(&t_direct)
        .map(|(f, d)| (f.as_secs_f64() - d.as_secs_f64()) * 1e6)
        .collect();
    diffs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pm = diffs[diffs.len() / 2];
    let pp = diffs[(diffs.len() * 99 / 100).min(diffs.len() - 1)];
    let pa = diffs.iter().sum::<f64>() / diffs.len() as f64;
    let (dm, dp, da) = stats(t_direct);
    let (fm, fp, fa) = stats(t_fetch);
    println!("{n} sequential GETs per variant to an axum upstream on {addr}");
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "variant", "median µs", "p99 µs", "mean µs"
    );
    println!("{:<28} {dm:>10.1} {dp:>10.1} {da:>10.1}", "reqwest direct");
    println!("{:<28} {fm:>10.1} {fp:>10.1} {fa:>10.1}", "Executor::fetch");
    println!(
        "{:<28} {:>10.1} {:>10.1} {:>10.1}",
        "added by fetch",
        fm - dm,
        fp - dp,
        fa - da
    );
    println!(
        "{:<28} {pm:>10.1} {pp:>10.1} {pa:>10.1}",
        "paired fetch - direct"
    );
    let (rm, rp, ra) = stats(t_redactor);
    println!(
        "{:<28} {rm:>10.1} {rp:>10.1} {ra:>10.1}",
        "  of which Redactor::new"
    );
}
