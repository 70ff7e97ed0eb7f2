//! Answers under faults and abuse (issue 16): a PostgreSQL that stops answering
//! gets `503 unavailable` with `Retry-After` within the deadline and fails
//! `/readyz`; an unreachable upstream is `502 upstream_failed`, a hanging one
//! `504 upstream_timeout`; repeated bad tokens from one client get `429
//! rate_limited` while a good token still works; idle and slow-header
//! connections are closed, and connections past the limit are refused.

mod support;

use lockbox_server::limits::Limits;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy the test controls: while paused it stops forwarding in both
/// directions (like a database process stopped with SIGSTOP, or a cut network:
/// the connections stay open, nothing answers).
struct PausingProxy {
    addr: std::net::SocketAddr,
    paused: Arc<AtomicBool>,
}

impl PausingProxy {
    async fn start(upstream: String) -> PausingProxy {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let paused = Arc::new(AtomicBool::new(false));
        let p = paused.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, p.clone()));
                tokio::spawn(pump(sr, cw, p.clone()));
            }
        });
        PausingProxy { addr, paused }
    }

    fn pause(&self, on: bool) {
        self.paused.store(on, Ordering::SeqCst);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Held bytes are delivered after the pause, as a resumed process would.
        while paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `postgres://user@host:port/db` with host:port replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, tail) = rest.split_once('@').unwrap();
    let (hostport, db) = tail.split_once('/').unwrap();
    (
        format!("{scheme}://{auth}@{addr}/{db}"),
        hostport.to_owned(),
    )
}

lockbox_testkit::needs_postgres! {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paused_postgres_answers_503_with_retry_after_within_the_deadline() {
        let Some(db) = lockbox_testkit::fresh_database().await else {
            return;
        };
        let (_, upstream) = through(&db, "127.0.0.1:1".parse().unwrap());
        let proxy = PausingProxy::start(upstream).await;
        let (via_proxy, _) = through(&db, proxy.addr);
        let limits = Limits {
            readyz_timeout: Duration::from_secs(1),
            db: lockbox_service::DbDeadlines {
                statement: Some(Duration::from_secs(1)),
                pool_wait: Duration::from_secs(1),
                answer: Duration::from_secs(2),
            },
            ..Limits::default()
        };
        let s = TestServer::start_with(|c| {
            c.database = Some(via_proxy);
            c.limits = limits;
        })
        .await;
        s.put(&s.owner, "before", json!({"value": "v1"})).await;
        assert_eq!(s.get(&s.owner, "/readyz").await.status, 200);

        proxy.pause(true);
        let t = Instant::now();
        let r = s.put(&s.owner, "during", json!({"value": "v2"})).await;
        let took = t.elapsed();
        r.assert_error(503, "unavailable");
        assert!(
            took < Duration::from_secs(5),
            "answered after {took:?}, past the 2 s answer deadline"
        );
        assert!(r.headers.contains_key("retry-after"), "{:?}", r.headers);
        let msg = r.json()["message"].as_str().unwrap().to_owned();
        assert!(msg.contains("PostgreSQL"), "{msg}");
        assert!(!msg.contains("v2"));
        // The Vault API says the same, with Vault's body and the same header.
        let v = s
            .raw(
                s.http
                    .post(format!("{}/vault/v1/secret/data/during-vault", s.url))
                    .header("x-vault-token", &s.owner)
                    .json(&json!({"data": {"k": "v3-vault"}})),
            )
            .await;
        assert_eq!(v.status, 503, "{}", v.text);
        assert!(v.headers.contains_key("retry-after"), "{:?}", v.headers);
        assert!(v.text.contains("\"errors\"") && !v.text.contains("v3-vault"), "{}", v.text);

        let t = Instant::now();
        let ready = s.get(&s.owner, "/readyz").await;
        assert_eq!(ready.status, 503, "{}", ready.text);
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
        assert!(ready.headers.contains_key("retry-after"));

        // Resumed: answers again (the deadline dropped what it waited for).
        proxy.pause(false);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = s.put(&s.owner, "after", json!({"value": "v3"})).await;
            if r.status.is_success() {
                break;
            }
            assert!(Instant::now() < deadline, "never recovered: {}", r.text);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(s.get(&s.owner, "/readyz").await.status, 200);
    }
}

/// A listener that accepts and then never answers.
async fn hanging_upstream() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((c, _)) = l.accept().await {
            held.push(c);
        }
    });
    port
}

#[tokio::test]
async fn an_unreachable_upstream_is_502_and_a_hanging_one_504_naming_host_and_port() {
    let s = TestServer::start_with(|c| c.egress_allow_private = true).await;
    s.put(
        &s.owner,
        "apiKey",
        json!({"value": "k3y-value-never-shown-123"}),
    )
    .await;
    let run = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/runs",
            Some(json!({"workspace": "default", "trigger": "manual"})),
        )
        .await;
    assert_eq!(run.status, 201, "{}", run.text);
    let run = run.json()["token"].as_str().unwrap().to_owned();
    let key = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/get",
            Some(json!({"name": "apiKey", "scope": "workspace"})),
        )
        .await
        .json()["ref"]
        .as_str()
        .unwrap()
        .to_owned();

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/fetch",
            Some(json!({"url": format!("http://127.0.0.1:{closed}/x"), "query": {"k": key}})),
        )
        .await;
    r.assert_error(502, "upstream_failed");
    let msg = r.json()["message"].as_str().unwrap().to_owned();
    assert!(msg.contains(&format!("127.0.0.1:{closed}")), "{msg}");
    assert!(
        !msg.contains("k3y-value") && !msg.contains("$secret"),
        "{msg}"
    );

    let hang = hanging_upstream().await;
    let t = Instant::now();
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/fetch",
            Some(json!({
                "url": format!("http://127.0.0.1:{hang}/slow"),
                "query": {"k": key},
                "timeout_ms": 400
            })),
        )
        .await;
    assert!(t.elapsed() < Duration::from_secs(5));
    r.assert_error(504, "upstream_timeout");
    let msg = r.json()["message"].as_str().unwrap().to_owned();
    assert!(msg.contains(&format!("127.0.0.1:{hang}")), "{msg}");
    assert!(
        !msg.contains("k3y-value") && !msg.contains("/slow"),
        "{msg}"
    );
}

#[tokio::test]
async fn repeated_bad_tokens_get_429_with_retry_after_while_a_good_token_works() {
    let s = TestServer::start_with(|c| c.limits.auth_failures_per_minute = 5).await;
    let bad = "lbx_0000000000000000000000000000000000000000000";
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..8 {
        let r = s.get(bad, "/v1/me").await;
        statuses.push(r.status.as_u16());
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    let r = limited.expect("the sixth bad token is rate-limited");
    r.assert_error(429, "rate_limited");
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // A good token from the same client is not held back, now or between failures.
    for _ in 0..3 {
        assert_eq!(s.get(&s.owner, "/v1/me").await.status, 200);
        assert_eq!(s.get(bad, "/v1/me").await.status, 429);
    }
    // A different bad token from the same client is limited by the address.
    let other = "lbx_1111111111111111111111111111111111111111111";
    assert_eq!(s.get(other, "/v1/me").await.status, 429);
    // The Vault API shares the limit.
    let r = s
        .raw(
            s.http
                .get(format!("{}/vault/v1/secret/data/x", s.url))
                .header("x-vault-token", bad),
        )
        .await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert!(r.headers.contains_key("retry-after"));
}

/// Reads until the server closes the connection; how long that took.
async fn closed_within(mut c: TcpStream, limit: Duration) -> Duration {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(t.elapsed()), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return t.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("connection still open after {limit:?}"),
        }
    }
}

#[tokio::test]
async fn idle_and_slow_header_connections_are_closed_and_the_connection_limit_holds() {
    let s = TestServer::start_with(|c| {
        c.limits.header_read_timeout = Duration::from_secs(1);
        c.limits.idle_timeout = Duration::from_secs(2);
        c.limits.max_connections = 6;
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_owned();

    // Sends nothing at all.
    let silent = TcpStream::connect(&addr).await.unwrap();
    // Starts a request head and trickles it, never finishing.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if slow.write_all(b"X").await.is_err() {
                break;
            }
        }
        slow
    });
    // Finishes one request, then stays idle on a kept-alive connection.
    let mut kept = TcpStream::connect(&addr).await.unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let took = closed_within(silent, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "silent: {took:?}");
    let took = closed_within(kept, Duration::from_secs(5)).await;
    assert!(took < Duration::from_secs(3), "kept-alive idle: {took:?}");
    let slow = trickle.await.unwrap();
    let took = closed_within(slow, Duration::from_secs(3)).await;
    assert!(took < Duration::from_secs(3), "slow headers: {took:?}");

    // Six held connections; the seventh is answered 503 and closed at once.
    let mut held = Vec::new();
    for _ in 0..6 {
        let mut c = TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = c.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        held.push(c);
    }
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), extra.read_to_end(&mut answer))
        .await
        .expect("refused at once")
        .ok();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.to_ascii_lowercase().contains("retry-after"), "{text}");
    drop(held);
    // Slots come back when connections end.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = s.http.get(format!("{}/healthz", s.url)).send().await;
        if r.is_ok_and(|r| r.status() == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "slots never came back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_request_deadline_answers_503() {
    // The only slow thing a test can make without a fault is the body: a request
    // whose body never arrives is cut at the request deadline.
    let s = TestServer::start_with(|c| {
        c.limits.request_timeout = Duration::from_secs(1);
        c.limits.idle_timeout = Duration::from_secs(30);
    })
    .await;
    let addr = s.url.trim_start_matches("http://").to_owned();
    let mut c = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "PUT /v1/workspaces/default/secrets/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"value\":",
        s.owner
    );
    c.write_all(head.as_bytes()).await.unwrap();
    let t = Instant::now();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("answered")
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(
        text.contains("unavailable") && text.contains("request timeout"),
        "{text}"
    );
    assert!(t.elapsed() < Duration::from_secs(3));
}
