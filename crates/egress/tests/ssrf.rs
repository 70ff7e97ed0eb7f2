//! The SSRF guard end to end, with `allow_private` off: loopback in every spelling
//! (IP literals, legacy numeric forms, IPv6 forms that embed it, `localhost` names,
//! a name that DNS maps to loopback) is refused before anything is sent, and a
//! redirect from an allowed upstream to a private address is refused.
//!
//! How the redirect test reaches an upstream at all with the guard on: the policy's
//! `dangerous_allow_ips` lets exactly 127.0.0.1 through (the deployment feature for a
//! trusted internal API), and the second upstream listens on 127.0.0.2, another
//! loopback address that stays refused. The guard code path is the production one;
//! only the exception list differs. Ranges that must never see test traffic (cloud
//! metadata, RFC 1918) are covered by the classifier's unit tests and by
//! `hop_checks_refuse_metadata_and_private_literals` below, which calls the hop check
//! without sending.

mod support;

use lockbox_core::ErrorCode;
use lockbox_egress::guard::Guard;
use lockbox_egress::{EgressPolicy, Executor};
use serde_json::json;
use support::*;

fn guarded() -> Executor {
    Executor::new(EgressPolicy::default())
}

#[tokio::test]
async fn loopback_is_refused_in_every_spelling() {
    let up = Upstream::start().await;
    let p = up.port();
    let res = MapResolver::new();
    let hosts = [
        "127.0.0.1".to_string(),
        "127.0.0.1.".into(),
        "127.9.9.9".into(),
        "localhost".into(),
        "localhost.".into(),
        "LocalHost".into(),
        "api.localhost".into(),
        "2130706433".into(),
        "0x7f000001".into(),
        "0X7F000001".into(),
        "017700000001".into(),
        "0177.0.0.1".into(),
        "0x7f.0.0.1".into(),
        "0x7f.1".into(),
        "127.1".into(),
        "127.0.1".into(),
        "0".into(),
        "0.0.0.0".into(),
        "[::1]".into(),
        "[::]".into(),
        "[0:0:0:0:0:0:0:1]".into(),
        "[::ffff:127.0.0.1]".into(),
        "[::ffff:7f00:1]".into(),
        "[::127.0.0.1]".into(),
        "[64:ff9b::7f00:1]".into(),
        "[2002:7f00:1::]".into(),
    ];
    for h in &hosts {
        let url = format!("http://{h}:{p}/echo");
        let err = guarded().fetch(request(&url), &res).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::EgressDenied, "{url}: {}", err.message);
        assert!(!err.message.contains("/echo"), "{}", err.message);
    }
    assert!(
        up.records().is_empty(),
        "a refused request reached the upstream"
    );

    // Control: the same upstream is reachable when the deployment allows private
    // destinations, so the refusals above are the guard's doing.
    let out = executor()
        .fetch(request(&format!("http://0x7f000001:{p}/echo")), &res)
        .await
        .unwrap();
    assert_eq!(out.status, 200);
}

#[tokio::test]
async fn a_name_that_resolves_to_loopback_is_refused_at_resolution() {
    // This machine's own host name is not a `localhost` name, so only the resolver's
    // address check can refuse it. Skip when it does not resolve to loopback here.
    let name = std::fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    if name.is_empty() || name.contains("localhost") {
        eprintln!("skipped: no usable /etc/hostname");
        return;
    }
    let addrs: Vec<_> = match tokio::net::lookup_host((name.as_str(), 0)).await {
        Ok(a) => a.collect(),
        Err(_) => {
            eprintln!("skipped: {name} does not resolve");
            return;
        }
    };
    if addrs.is_empty() || !addrs.iter().all(|a| a.ip().is_loopback()) {
        eprintln!("skipped: {name} does not resolve to loopback only");
        return;
    }
    let up = Upstream::start().await;
    let url = format!("http://{name}:{}/echo", up.port());
    let err = guarded()
        .fetch(request(&url), &MapResolver::new())
        .await
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied, "{}", err.message);
    assert!(err.message.contains("loopback"), "{}", err.message);
    assert!(up.records().is_empty());
    // With private destinations allowed, the same name goes through the resolver.
    let out = executor()
        .fetch(request(&url), &MapResolver::new())
        .await
        .unwrap();
    assert_eq!(out.status, 200);
}

#[tokio::test]
async fn a_redirect_from_an_allowed_upstream_to_a_private_address_is_refused() {
    let a = Upstream::start_with("127.0.0.1", None).await;
    let b = Upstream::start_with("127.0.0.2", None).await;
    let exec = Executor::new(EgressPolicy {
        dangerous_allow_ips: vec!["127.0.0.1".parse().unwrap()],
        ..EgressPolicy::default()
    });
    let res = MapResolver::new();
    // A itself is reachable (the exception).
    assert_eq!(
        exec.fetch(request(&a.url("/echo")), &res)
            .await
            .unwrap()
            .status,
        200
    );
    for target in [
        format!("http://127.0.0.2:{}/x", b.port()),
        format!("http://0x7f000002:{}/x", b.port()),
        format!("http://localhost:{}/x", a.port()),
        format!("http://[::ffff:127.0.0.2]:{}/x", b.port()),
    ] {
        for status in [302, 307] {
            let url = format!(
                "{}?status={status}&to={}",
                a.url("/redirect"),
                urlencode(&target)
            );
            let err = exec.fetch(request(&url), &res).await.unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::EgressDenied,
                "{target}: {}",
                err.message
            );
        }
    }
    assert!(
        b.records().is_empty(),
        "the private second hop was contacted"
    );
    // B is a working upstream: the refusal is the guard's.
    assert_eq!(
        executor()
            .fetch(request(&b.url("/echo")), &res)
            .await
            .unwrap()
            .status,
        200
    );
}

#[test]
fn hop_checks_refuse_metadata_and_private_literals() {
    // What the executor runs before each hop, on URLs as the URL parser gives them.
    let g = Guard::new(false, &[]);
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://0xa9fea9fe/",
        "http://2852039166/",
        "http://169.254.43518/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://100.100.100.200/",
        "http://168.63.129.16/",
        "http://169.254.170.2/v2/credentials",
        "http://10.0.0.1/",
        "http://012.0.0.1/",
        "http://172.16.0.1/",
        "http://192.168.0.1/",
        "http://[fe80::1]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:a00:1::]/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        "http://255.255.255.255/",
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://metadata.localhost/",
    ] {
        let u = url::Url::parse(url).unwrap();
        assert!(g.check_host(&u.host().unwrap()).is_err(), "{url}");
    }
    for url in [
        "http://93.184.215.14/",
        "http://[2606:4700:4700::1111]/",
        "http://example.com/",
    ] {
        let u = url::Url::parse(url).unwrap();
        assert!(g.check_host(&u.host().unwrap()).is_ok(), "{url}");
    }
}

#[tokio::test]
async fn secrets_are_not_resolved_into_a_refused_request_body_either() {
    // The guard refuses the destination; the request with its secret never leaves.
    let up = Upstream::start().await;
    let mut res = MapResolver::new();
    let k = res.add("k", "guard-secret-0123456789", &[]);
    let r = serde_json::from_value(json!({
        "url": format!("http://localhost:{}/echo", up.port()),
        "method": "POST",
        "body": {"k": k}
    }))
    .unwrap();
    let err = guarded().fetch(r, &res).await.unwrap_err();
    assert_eq!(err.code, ErrorCode::EgressDenied);
    assert!(!err.message.contains("guard-secret"));
    assert!(up.records().is_empty());
}
