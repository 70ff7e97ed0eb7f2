//! Redirects, followed by the executor hop by hop. Two upstreams on different ports
//! are two origins; the second records exactly what reached it. Cross-origin hops
//! lose every secret-bearing header, query parameter and auth; a secret-bearing body
//! is never replayed to another origin; 301/302/303 become GET without a body; each
//! hop is checked against every used secret's `allowed_hosts`.

mod support;

use lockbox_core::ErrorCode;
use lockbox_egress::{EgressPolicy, Executor, FetchRequest};
use serde_json::json;
use support::*;

fn req(v: serde_json::Value) -> FetchRequest {
    serde_json::from_value(v).unwrap()
}

fn redirect(up: &Upstream, status: u16, to: &str) -> String {
    format!(
        "{}?status={status}&to={}",
        up.url("/redirect"),
        urlencode(to)
    )
}

#[tokio::test]
async fn a_cross_origin_redirect_carries_no_secret_header_query_or_auth() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let mut res = MapResolver::new();
    let key = res.add("apiKey", "xak-1234567890-abcdef", &[]);
    let tok = res.add("queryToken", "xqt-0987654321-fedcba", &[]);
    let pw = res.add("password", "xpw-5555555555-aaaaaa", &[]);
    for status in [301, 302, 303, 307, 308] {
        let r = req(json!({
            "url": redirect(&a, status, &b.url("/landing")),
            "headers": {"X-Api-Key": key, "X-Trace": "plain", "Cookie": "session=plain-cookie"},
            "query": {"token": tok},
            "auth": {"basic": {"username": "user", "password": pw}}
        }));
        let out = executor().fetch(r, &res).await.unwrap();
        assert_eq!(out.status, 200, "{status}");
    }
    // The first origin got the secrets …
    for got in a.records() {
        assert_eq!(got.header("x-api-key"), Some("xak-1234567890-abcdef"));
        assert!(got.query.contains("xqt-0987654321-fedcba"));
        assert!(got.header("authorization").is_some());
    }
    // … the second got none of them, nor any credential header, but kept the rest.
    let landed = b.records();
    assert_eq!(landed.len(), 5);
    for got in landed {
        let dump = got.dump();
        for v in ["xak-1234567890", "xqt-0987654321", "xpw-5555555555"] {
            assert!(!dump.contains(v), "{v} reached the second origin:\n{dump}");
        }
        assert_eq!(got.header("x-api-key"), None);
        assert_eq!(got.header("authorization"), None);
        assert_eq!(got.header("cookie"), None);
        assert_eq!(got.header("x-trace"), Some("plain"));
        assert_eq!(got.path, "/landing");
        assert_eq!(got.query, "");
    }
}

#[tokio::test]
async fn a_same_origin_redirect_keeps_secret_headers_and_auth() {
    let a = Upstream::start().await;
    let mut res = MapResolver::new();
    let key = res.add("apiKey", "sak-1234567890-abcdef", &[]);
    let r = req(json!({
        "url": redirect(&a, 302, "/echo?x=1"),
        "headers": {"X-Api-Key": key},
        "auth": {"bearer": {"token": key}}
    }));
    let out = executor().fetch(r, &res).await.unwrap();
    assert_eq!(out.status, 200);
    let recs = a.records();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1].path, "/echo");
    assert_eq!(recs[1].header("x-api-key"), Some("sak-1234567890-abcdef"));
    assert_eq!(
        recs[1].header("authorization"),
        Some("Bearer sak-1234567890-abcdef")
    );
    assert_no_leak(&outcome_text(&out), "sak-1234567890-abcdef");
}

#[tokio::test]
async fn a_307_or_308_to_another_origin_with_a_secret_body_is_refused() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let mut res = MapResolver::new();
    let s = res.add("bodySecret", "xbody-1234567890-zz", &[]);
    for status in [307, 308] {
        let r = req(json!({
            "url": redirect(&a, status, &b.url("/landing")),
            "method": "POST",
            "body": {"client_secret": s}
        }));
        let err = executor().fetch(r, &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{}", err.message);
        assert!(err.message.contains("bodySecret"), "{}", err.message);
        assert!(!err.message.contains("xbody"), "{}", err.message);
    }
    assert_eq!(a.records().len(), 2);
    assert!(
        b.records().is_empty(),
        "the body was replayed to another origin"
    );
}

#[tokio::test]
async fn a_307_replays_a_plain_body_and_303_turns_into_get_without_body() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let res = MapResolver::new();
    let r = req(
        json!({"url": redirect(&a, 307, &b.url("/landing")), "method": "PUT", "body": {"plain": true}}),
    );
    executor().fetch(r, &res).await.unwrap();
    let got = &b.records()[0];
    assert_eq!(got.method, "PUT");
    assert_eq!(got.body, br#"{"plain":true}"#);
    assert_eq!(got.header("content-type"), Some("application/json"));

    for status in [301, 302, 303] {
        let b = Upstream::start().await;
        let r = req(
            json!({"url": redirect(&a, status, &b.url("/landing")), "method": "POST", "body": "form=1"}),
        );
        executor().fetch(r, &res).await.unwrap();
        let got = &b.records()[0];
        assert_eq!(got.method, "GET", "{status}");
        assert!(got.body.is_empty());
        assert_eq!(got.header("content-type"), None);
    }

    // Same origin, secret body, 303: becomes a GET without the body, which is fine.
    let mut res = MapResolver::new();
    let s = res.add("s", "same-origin-body-123456", &[]);
    let r = req(json!({"url": redirect(&a, 303, "/echo"), "method": "POST", "body": {"s": s}}));
    assert_eq!(executor().fetch(r, &res).await.unwrap().status, 200);
}

#[tokio::test]
async fn every_hop_is_checked_against_allowed_hosts() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let mut res = MapResolver::new();
    let key = res.add("pinnedKey", "pin-1234567890-abcdef", &["127.0.0.1"]);
    // Another host name for the same machine: allowed by the guard here
    // (allow_private), refused by the secret's allowed_hosts.
    let r = req(json!({
        "url": redirect(&a, 302, &format!("http://localhost:{}/landing", b.port())),
        "headers": {"X-Api-Key": key}
    }));
    let err = executor().fetch(r, &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    // The hop's host is an upstream's choice: named by its hop number, never quoted.
    assert!(
        err.message.contains("pinnedKey") && err.message.contains("redirect hop 1"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("localhost"), "{}", err.message);
    assert!(b.records().is_empty());
}

#[tokio::test]
async fn a_redirect_whose_url_carries_a_secret_to_another_origin_is_refused() {
    let a = Upstream::start().await;
    let b = Upstream::start().await;
    let mut res = MapResolver::new();
    let s = res.add("echoed", "echoed-1234567890-abc", &[]);
    // The first upstream echoes the value into its Location.
    let r = req(json!({
        "url": a.url("/redirect"),
        "query": {"status": "302", "to": format!("{}?leak={s}", b.url("/landing"))}
    }));
    let err = executor().fetch(r, &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied, "{}", err.message);
    assert!(b.records().is_empty());
}

#[tokio::test]
async fn redirects_stop_at_the_limit() {
    let a = Upstream::start().await;
    let exec = Executor::new(EgressPolicy {
        max_redirects: 3,
        ..loopback_policy()
    });
    // A Location that points back at itself.
    let err = exec
        .fetch(request(&a.url("/loop")), &MapResolver::new())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Invalid);
    assert!(err.message.contains("3 redirects"), "{}", err.message);
    assert_eq!(a.records().len(), 4);
}

#[tokio::test]
async fn awsv4_is_re_signed_on_same_origin_hops_and_dropped_across_origins() {
    const SK: &str = "redirect-aws-secret-key-0123456789";
    let a = Upstream::start_with("127.0.0.1", Some(SK)).await;
    let b = Upstream::start().await;
    let mut res = MapResolver::new();
    let sk = res.add("awsKey", SK, &[]);
    let auth = json!({"awsv4": {"access_key": "AKID", "secret_key": sk, "region": "us-east-1", "service": "execute-api"}});
    let r = req(
        json!({"url": redirect(&a, 307, "/sigv4"), "method": "POST", "body": "x=1", "auth": auth}),
    );
    let out = executor().fetch(r, &res).await.unwrap();
    assert_eq!(out.body, json!({"verified": true}));

    let r = req(json!({"url": redirect(&a, 302, &b.url("/landing")), "auth": auth}));
    executor().fetch(r, &res).await.unwrap();
    let got = &b.records()[0];
    assert_eq!(got.header("authorization"), None);
    assert_eq!(got.header("x-amz-date"), None);
}
