//! End-to-end `fetch` against an in-process upstream on loopback (`allow_private`):
//! values reach the upstream in every position, come back redacted in every encoding
//! the upstream echoes, `allowed_hosts` refuses before anything is sent, and limits,
//! timeouts and errors behave and never quote a value or a URL's query.

mod support;

use base64::Engine as _;
use lockbox_core::ErrorCode;
use lockbox_egress::{EgressPolicy, Executor, FetchRequest, UsedSecret};
use serde_json::json;
use std::time::{Duration, Instant};
use support::*;

const API_KEY: &str = "ak_live_9f8e7d6c5b4a3210ZYXWvuts";
const QUERY_TOKEN: &str = "qt+Value/with spaces&amp=and=more";
const PATH_SEG: &str = "pathSeg0123456789abcdefXYZ";
const BODY_SECRET: &str = "body\"secret\\value<>&'=ÅÄÖ-777";
const PASSWORD: &str = "pw-Zx81!mQ2#longer-password";

fn req(v: serde_json::Value) -> FetchRequest {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn values_reach_the_upstream_and_come_back_redacted_everywhere() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let k = res.add("apiKey", API_KEY, &["127.0.0.1"]);
    let q = res.add("queryToken", QUERY_TOKEN, &[]);
    let p = res.add("pathSeg", PATH_SEG, &["*.example.org", "127.0.0.1"]);
    let b = res.add("bodySecret", BODY_SECRET, &[]);
    let pw = res.add("password", PASSWORD, &[]);
    let r = req(json!({
        "url": up.url(&format!("/v1/{p}/items?fixed=1")),
        "method": "post",
        "headers": {"X-Api-Key": k, "X-Trace": "plain-trace"},
        "query": {"token": q, "plain": "x"},
        "body": {"nested": {"deep": [{"leaf": format!("pre-{b} post")}]}, "n": 5},
        "auth": {"basic": {"username": "svc-user", "password": pw}}
    }));
    let out = executor().fetch(r, &res).await.unwrap();
    assert_eq!(out.status, 200);

    // The upstream got the real values.
    let got = up.only();
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, format!("/v1/{PATH_SEG}/items"));
    let query: Vec<(String, String)> = url::form_urlencoded::parse(got.query.as_bytes())
        .into_owned()
        .collect();
    assert!(
        query.contains(&("token".into(), QUERY_TOKEN.into())),
        "{query:?}"
    );
    assert!(query.contains(&("fixed".into(), "1".into())));
    assert_eq!(got.header("x-api-key"), Some(API_KEY));
    assert_eq!(got.header("x-trace"), Some("plain-trace"));
    assert_eq!(got.header("content-type"), Some("application/json"));
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("svc-user:{PASSWORD}"));
    assert_eq!(
        got.header("authorization"),
        Some(format!("Basic {basic}").as_str())
    );
    let body: serde_json::Value = serde_json::from_slice(&got.body).unwrap();
    assert_eq!(
        body["nested"]["deep"][0]["leaf"],
        format!("pre-{BODY_SECRET} post")
    );
    assert_eq!(body["n"], 5);

    // The automation sees none of them, in any encoding, in headers or body.
    let text = outcome_text(&out);
    for v in [API_KEY, QUERY_TOKEN, PATH_SEG, BODY_SECRET, PASSWORD] {
        assert_no_leak(&text, v);
    }
    assert!(!text.contains(&basic), "basic credentials leaked as base64");
    for name in ["apiKey", "queryToken", "pathSeg", "bodySecret"] {
        assert!(
            text.contains(&format!("[REDACTED:{name}]")),
            "no marker for {name}"
        );
    }
    // Echoed in response headers too: raw header, path, query.
    let header = |n: &str| {
        out.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {n} header"))
    };
    assert_eq!(header("x-echo-x-api-key"), "[REDACTED:apiKey]");
    assert!(header("x-echo-path").contains("[REDACTED:pathSeg]"));
    assert!(header("x-echo-query").contains("[REDACTED:queryToken]"));
    assert!(!header("x-echo-authorization").contains(&basic));
    // Plain text survives.
    assert_eq!(header("x-echo-x-trace"), "plain-trace");
    assert_eq!(out.body["headers"]["x-trace"], "plain-trace");
    assert_eq!(out.body["method"], "POST");

    assert_eq!(
        out.used,
        // In order of first use: URL, headers, query, body, auth.
        ["pathSeg", "apiKey", "queryToken", "bodySecret", "password"]
            .iter()
            .map(|n| UsedSecret {
                name: n.to_string(),
                secret_id: format!("id-{n}")
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(out.method, "POST");
    assert_eq!(out.host, "127.0.0.1");
    assert!(out.bytes > 0);
}

#[tokio::test]
async fn bearer_text_body_object_keys_and_several_references_per_string() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let t = res.add("bearerToken", "tok_0123456789abcdefghij", &[]);
    let a = res.add("partA", "partA-6f1c2e9d", &[]);
    let b = res.add("partB", "partB-0a7b3c5e", &[]);
    let key = res.add("keyName", "keyName-93jd83hf", &[]);
    // The same reference twice resolves once and is listed once.
    let r = req(json!({
        "url": up.url("/text"),
        "method": "PUT",
        "headers": {"X-Combo": format!("{a}:{b}:{a}")},
        "body": format!("text body {a} and {b}"),
        "auth": {"bearer": {"token": t}}
    }));
    let out = executor().fetch(r, &res).await.unwrap();
    let got = up.only();
    assert_eq!(
        got.header("authorization"),
        Some("Bearer tok_0123456789abcdefghij")
    );
    assert_eq!(
        got.header("x-combo"),
        Some("partA-6f1c2e9d:partB-0a7b3c5e:partA-6f1c2e9d")
    );
    assert_eq!(got.body, b"text body partA-6f1c2e9d and partB-0a7b3c5e");
    assert_eq!(
        got.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    let body = out.body.as_str().unwrap();
    assert!(
        body.contains("[REDACTED:partA]:[REDACTED:partB]:[REDACTED:partA]"),
        "{body}"
    );
    assert!(body.contains("Bearer [REDACTED:bearerToken]"));
    assert_eq!(out.used.len(), 3);
    assert_eq!(
        res.calls().len(),
        3,
        "each distinct reference resolves once"
    );

    // Object keys hold references too.
    let up2 = Upstream::start().await;
    let r = req(json!({
        "url": up2.url("/echo"),
        "method": "POST",
        "headers": {"content-type": "application/vnd.custom+json"},
        "body": {key.clone(): {"inner": [key.clone(), 1, null, true]}}
    }));
    let out = executor().fetch(r, &res).await.unwrap();
    let got: serde_json::Value = serde_json::from_slice(&up2.only().body).unwrap();
    assert_eq!(
        got,
        json!({"keyName-93jd83hf": {"inner": ["keyName-93jd83hf", 1, null, true]}})
    );
    assert_eq!(
        up2.only().header("content-type"),
        Some("application/vnd.custom+json")
    );
    assert_no_leak(&outcome_text(&out), "keyName-93jd83hf");
}

#[tokio::test]
async fn a_reference_in_the_host_is_refused_before_it_is_resolved() {
    // A value in the host would reach DNS, errors and the audit row lower-cased (out
    // of the redactor's reach); a whole URL in a secret is the supported way (see
    // tests/confinement.rs).
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let h = res.add("baseHost", "127.0.0.1", &["127.0.0.1"]);
    let r = req(json!({"url": format!("http://{h}:{}/echo", up.port())}));
    let (attempt, result) = executor().fetch_audited(r, &res).await;
    let err = result.unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid, "{}", err.message);
    assert!(err.message.contains("host"), "{}", err.message);
    assert!(res.calls().is_empty(), "the reference was resolved");
    assert_eq!(attempt.host, "");
    assert!(attempt.used.is_empty());
    assert!(up.records().is_empty());
}

#[tokio::test]
async fn allowed_hosts_refuses_before_anything_is_sent() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let ok = res.add("openSecret", "open-secret-value-123456", &[]);
    let k = res.add(
        "stripeKey",
        "sk_live_abcdefghijklmnop",
        &["api.stripe.com", "*.stripe.com"],
    );
    for r in [
        req(
            json!({"url": up.url("/echo"), "headers": {"Authorization": format!("Bearer {k}"), "X-Other": ok}}),
        ),
        req(json!({"url": up.url("/echo"), "query": {"key": k}})),
        req(json!({"url": up.url("/echo"), "body": {"k": k}})),
        req(json!({"url": up.url("/echo"), "auth": {"basic": {"username": "u", "password": k}}})),
        req(json!({"url": up.url(&format!("/echo/{k}"))})),
    ] {
        let err = executor().fetch(r, &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied);
        assert!(err.message.contains("stripeKey"), "{}", err.message);
        assert!(err.message.contains("127.0.0.1"), "{}", err.message);
        assert!(!err.message.contains("sk_live"), "{}", err.message);
    }
    assert!(up.records().is_empty(), "the upstream saw a request");

    // The refused call can still be audited with what it tried to use.
    let r = req(json!({"url": up.url("/echo"), "method": "delete", "query": {"key": k}}));
    let (attempt, result) = executor().fetch_audited(r, &res).await;
    assert_eq!(result.unwrap_err().code, ErrorCode::EgressDenied);
    assert_eq!(attempt.method, "DELETE");
    assert_eq!(attempt.host, "127.0.0.1");
    assert_eq!(
        attempt.used,
        [UsedSecret {
            name: "stripeKey".into(),
            secret_id: "id-stripeKey".into()
        }]
    );
    assert!(up.records().is_empty());
}

#[tokio::test]
async fn resolver_errors_pass_through_unchanged_and_nothing_is_sent() {
    let up = Upstream::start().await;
    let res = MapResolver::new();
    let r = req(json!({"url": up.url("/echo"), "headers": {"X-Key": "$secret:unknownRef123"}}));
    let err = executor().fetch(r, &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::Expired);
    assert_eq!(err.message, "the reference has expired");
    assert!(up.records().is_empty());
}

#[tokio::test]
async fn malformed_requests_are_invalid() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let k = res.add("k", "value-abcdef-123456", &[]);
    let cases = [
        json!({"url": up.url("/"), "headers": {"Host": "evil.example"}}),
        json!({"url": up.url("/"), "headers": {"Accept-Encoding": "gzip"}}),
        json!({"url": up.url("/"), "headers": {"Content-Length": "5"}}),
        json!({"url": up.url("/"), "headers": {"authorization": "x"}, "auth": {"bearer": {"token": "t"}}}),
        json!({"url": up.url("/"), "headers": {k.clone(): "x"}}),
        json!({"url": up.url("/"), "query": {k.clone(): "x"}}),
        json!({"url": up.url("/"), "headers": {"X-Bad": "$secret: oops"}}),
        json!({"url": up.url("/"), "method": "CONNECT"}),
        json!({"url": up.url("/"), "method": "GE T"}),
        json!({"url": "ftp://127.0.0.1/x"}),
        json!({"url": "file:///etc/passwd"}),
        json!({"url": format!("http://user:{k}@127.0.0.1:{}/", up.port())}),
        json!({"url": "not a url"}),
        json!({"url": up.url("/"), "timeout_ms": 0}),
        json!({"url": up.url("/"), "timeout_ms": 121_000}),
    ];
    for c in cases {
        let err = executor().fetch(req(c.clone()), &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::Invalid, "{c}: {}", err.message);
        assert!(!err.message.contains("value-abcdef"), "{}", err.message);
    }
    assert!(up.records().is_empty());
}

#[test]
fn request_shape_is_strict() {
    let bad = [
        json!({"url": "http://x", "extra": 1}),
        json!({"url": "http://x", "auth": {"digest": {"u": 1}}}),
        json!({"url": "http://x", "auth": {"basic": {"username": "u", "password": "p", "x": 1}}}),
        json!({"method": "GET"}),
    ];
    for b in bad {
        assert!(
            serde_json::from_value::<FetchRequest>(b.clone()).is_err(),
            "{b}"
        );
    }
    let ok = json!({"url": "http://x", "method": "GET", "headers": {}, "query": {}, "body": null,
        "auth": {"awsv4": {"access_key": "a", "secret_key": "s", "region": "r", "service": "s"}},
        "timeout_ms": 10});
    assert!(serde_json::from_value::<FetchRequest>(ok).is_ok());
}

#[tokio::test]
async fn a_response_over_the_limit_is_too_large() {
    let up = Upstream::start().await;
    let res = MapResolver::new();
    let exec = Executor::new(EgressPolicy {
        max_response_bytes: 1000,
        ..loopback_policy()
    });
    // Announced by Content-Length.
    let err = exec
        .fetch(request(&up.url("/big?n=1001")), &res)
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
    // Exactly the limit is fine.
    let out = exec
        .fetch(request(&up.url("/big?n=1000")), &res)
        .await
        .unwrap();
    assert_eq!(out.bytes, 1000);
    // Chunked, no length: the executor stops reading past the limit.
    let mut chunked =
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
            .to_vec();
    for _ in 0..10 {
        chunked.extend_from_slice(b"c8\r\n");
        chunked.extend_from_slice(&[b'b'; 200]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let raw = RawUpstream::start(chunked).await;
    let err = exec.fetch(request(&raw.url("/")), &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::TooLarge);
    assert!(err.message.contains("1000"));
}

#[tokio::test]
async fn the_deadline_covers_the_whole_call_and_the_message_holds_no_url() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let k = res.add("k", "deadline-secret-123456", &[]);
    let r = req(json!({"url": up.url("/slow?ms=3000"), "query": {"k": k}, "timeout_ms": 300}));
    let t = Instant::now();
    let err = executor().fetch(r, &res).await.unwrap_err();
    assert!(t.elapsed() < Duration::from_millis(2000));
    assert_eq!(err.code, ErrorCode::UpstreamTimeout);
    assert!(err.message.contains("300 ms"), "{}", err.message);
    // Host and port as the run wrote them.
    assert!(
        err.message
            .contains(&format!("\"127.0.0.1:{}\"", up.port())),
        "{}",
        err.message
    );
    assert!(!err.message.contains("/slow") && !err.message.contains("deadline-secret"));

    // The policy default applies when the request names no deadline.
    let exec = Executor::new(EgressPolicy {
        default_timeout: Duration::from_millis(200),
        ..loopback_policy()
    });
    let err = exec
        .fetch(request(&up.url("/slow?ms=3000")), &res)
        .await
        .unwrap_err();
    assert!(err.message.contains("200 ms"), "{}", err.message);
}

#[tokio::test]
async fn connection_errors_are_upstream_failed_and_name_host_and_port_only() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut res = MapResolver::new();
    let k = res.add("k", "conn-secret-abcdef123", &[]);
    let r = req(json!({"url": format!("http://127.0.0.1:{port}/p/{k}?q=1"), "query": {"k": k}}));
    let err = executor().fetch(r, &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::UpstreamFailed);
    assert!(
        err.message.contains(&format!("\"127.0.0.1:{port}\"")),
        "{}",
        err.message
    );
    assert!(
        !err.message.contains("conn-secret")
            && !err.message.contains("/p/")
            && !err.message.contains("q=1")
    );
}

#[tokio::test]
async fn text_and_binary_responses_are_decoded_and_redacted() {
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let k = res.add("binKey", "bin-secret-7777777777", &[]);
    let out = executor()
        .fetch(
            req(json!({"url": up.url("/binary"), "headers": {"X-K": k.clone()}})),
            &res,
        )
        .await
        .unwrap();
    let body = out.body.as_str().unwrap();
    assert!(body.starts_with('\u{fffd}'), "lossy decoding");
    assert!(body.contains("[REDACTED:binKey]"));
    assert_no_leak(body, "bin-secret-7777777777");

    // JSON content type whose body does not parse: text, still redacted.
    let raw = RawUpstream::start(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Leak: bin-secret-7777777777\r\nContent-Length: 30\r\n\r\n{not json bin-secret-7777777777".to_vec(),
    )
    .await;
    let out = executor()
        .fetch(
            req(json!({"url": raw.url("/"), "headers": {"X-K": k}})),
            &res,
        )
        .await
        .unwrap();
    assert!(out.body.is_string());
    assert_no_leak(&outcome_text(&out), "bin-secret-7777777777");
    assert!(out
        .headers
        .contains(&("x-leak".into(), "[REDACTED:binKey]".into())));
}

#[tokio::test]
async fn json_responses_are_parsed_and_redacted_inside() {
    let raw = RawUpstream::start(
        b"HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 60\r\n\r\n{\"token\":\"json-secret-55555\",\"esc\":\"json\\u002dsecret-55555\"}".to_vec(),
    )
    .await;
    let mut res = MapResolver::new();
    let k = res.add("jsonKey", "json-secret-55555", &[]);
    let out = executor()
        .fetch(
            req(json!({"url": raw.url("/"), "headers": {"X-K": k}})),
            &res,
        )
        .await
        .unwrap();
    assert_eq!(out.status, 201);
    assert_eq!(
        out.body,
        json!({"token": "[REDACTED:jsonKey]", "esc": "[REDACTED:jsonKey]"})
    );
}

#[test]
fn the_fetch_future_is_send_so_servers_can_spawn_it() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Send + Sync + Clone>(_: &T) {}
    let exec = executor();
    assert_sync(&exec);
    let res = MapResolver::new();
    let fut = exec.fetch(request("http://example.invalid/"), &res);
    assert_send(&fut);
}
