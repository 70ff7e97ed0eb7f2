//! AWS SigV4: the executor's signer against AWS's published test vectors, the test
//! upstream's independent verifier against the same vectors, and an end-to-end
//! `fetch` with `auth.awsv4` whose secret key is a reference, checked by that verifier.

mod support;

use lockbox_egress::sigv4::{sign, Credentials, SignInput};
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::*;

const CASES: &[&str] = &[
    "get-vanilla",
    "get-vanilla-query",
    "get-vanilla-query-order-key-case",
    "get-vanilla-query-unreserved",
    "get-vanilla-empty-query-key",
    "get-unreserved",
    "get-slashes-normalized",
    "get-header-value-trim",
    "get-vanilla-with-session-token",
    "post-vanilla",
    "post-vanilla-query",
    "post-header-key-sort",
    "post-header-value-case",
    "post-x-www-form-urlencoded",
    "post-x-www-form-urlencoded-parameters",
];

struct Case {
    context: serde_json::Value,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    signature: String,
    signed_request: String,
}

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sigv4")
        .join(case)
}

/// Parses an HTTP/1.1 request as the suite writes it: request line, `Name:value`
/// headers, blank line, body.
fn parse_request(text: &str) -> (String, String, Vec<(String, String)>, Vec<u8>) {
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b)) => (h, b.as_bytes().to_vec()),
        None => (text.trim_end_matches('\n'), Vec::new()),
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap();
    let mut parts = request_line.split(' ');
    let method = parts.next().unwrap().to_string();
    let path = parts.next().unwrap().to_string();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.to_string(), v.trim().to_string())
        })
        .collect();
    (method, path, headers, body)
}

fn load(case: &str) -> Case {
    let d = dir(case);
    let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    let (method, path, headers, body) = parse_request(&read("request.txt"));
    Case {
        context: serde_json::from_str(&read("context.json")).unwrap(),
        method,
        path,
        headers,
        body,
        signature: read("header-signature.txt").trim().to_string(),
        signed_request: read("header-signed-request.txt"),
    }
}

const VECTOR_TIME: u64 = 1_440_938_160; // 2015-08-30T12:36:00Z

#[test]
fn signer_reproduces_aws_published_signatures() {
    for name in CASES {
        let c = load(name);
        let ctx = &c.context;
        assert_eq!(ctx["timestamp"], "2015-08-30T12:36:00Z");
        let host = c
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone())
            .unwrap();
        let url = format!("https://{host}{}", c.path);
        let headers: Vec<(&str, &str)> = c
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("host"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let signed = sign(
            &Credentials {
                access_key: ctx["credentials"]["access_key_id"].as_str().unwrap(),
                secret_key: ctx["credentials"]["secret_access_key"].as_str().unwrap(),
                session_token: ctx["credentials"]["token"].as_str(),
            },
            &SignInput {
                method: &c.method,
                url: &url,
                headers: &headers,
                body: &c.body,
                region: ctx["region"].as_str().unwrap(),
                service: ctx["service"].as_str().unwrap(),
                time: UNIX_EPOCH + Duration::from_secs(VECTOR_TIME),
                content_sha256_header: ctx["sign_body"].as_bool().unwrap(),
            },
        )
        .unwrap();
        assert_eq!(signed.signature, c.signature, "{name}: signature");
        // The Authorization header equals the published signed request's, byte for byte.
        let published_auth = c
            .signed_request
            .lines()
            .find_map(|l| l.strip_prefix("Authorization:"))
            .unwrap();
        let ours = signed
            .headers
            .iter()
            .find(|(k, _)| *k == "authorization")
            .map(|(_, v)| v.as_str())
            .unwrap();
        assert_eq!(ours, published_auth, "{name}: Authorization header");
        let date = signed
            .headers
            .iter()
            .find(|(k, _)| *k == "x-amz-date")
            .unwrap();
        assert_eq!(&*date.1, "20150830T123600Z");
    }
}

#[test]
fn the_test_upstreams_verifier_accepts_the_published_signed_requests() {
    for name in CASES {
        let c = load(name);
        let (method, target, headers, body) = parse_request(&c.signed_request);
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let secret = c.context["credentials"]["secret_access_key"]
            .as_str()
            .unwrap();
        support::awsv4::verify(&method, path, query, &headers, &body, secret)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // And it rejects a wrong key.
        assert!(support::awsv4::verify(&method, path, query, &headers, &body, "wrong").is_err());
    }
}

#[test]
// Any signing time will do; the wall clock's is the realistic one.
#[allow(clippy::disallowed_methods)]
fn signing_adds_content_sha256_and_session_token_when_asked() {
    let signed = sign(
        &Credentials {
            access_key: "AKIDEXAMPLE",
            secret_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            session_token: Some("tok"),
        },
        &SignInput {
            method: "PUT",
            url: "https://example.amazonaws.com/a?b=c",
            headers: &[("content-type", "application/json")],
            body: b"{}",
            region: "eu-west-1",
            service: "execute-api",
            time: SystemTime::now(),
            content_sha256_header: true,
        },
    )
    .unwrap();
    let names: Vec<&str> = signed.headers.iter().map(|(k, _)| *k).collect();
    for h in [
        "authorization",
        "x-amz-date",
        "x-amz-content-sha256",
        "x-amz-security-token",
    ] {
        assert!(names.contains(&h), "{h} missing from {names:?}");
    }
    let auth = &signed
        .headers
        .iter()
        .find(|(k, _)| *k == "authorization")
        .unwrap()
        .1;
    assert!(auth.contains(
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    ));
}

#[tokio::test]
async fn fetch_with_awsv4_is_verified_by_an_independent_upstream() {
    const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY-lockbox";
    let up = Upstream::start_with("127.0.0.1", Some(SECRET_KEY)).await;
    let mut res = MapResolver::new();
    let sk = res.add("awsSecretKey", SECRET_KEY, &[]);
    let token = res.add(
        "awsSessionToken",
        "FQoGZXIvYXdzEXAMPLEsessiontoken0123456789",
        &[],
    );
    let req: lockbox_egress::FetchRequest = serde_json::from_value(json!({
        "url": up.url("/sigv4"),
        "method": "POST",
        "query": {"Version": "2010-05-08", "Action": "Get Thing", "z": "a/b~c"},
        "headers": {"content-type": "application/json", "x-custom": "  spaced   value "},
        "body": {"hello": "world", "n": [1, 2, 3]},
        "auth": {"awsv4": {
            "access_key": "AKIDEXAMPLE",
            "secret_key": sk,
            "session_token": token,
            "region": "us-east-1",
            "service": "execute-api"
        }}
    }))
    .unwrap();
    let out = executor().fetch(req, &res).await.unwrap();
    assert_eq!(out.status, 200, "upstream said: {}", out.body);
    assert_eq!(out.body, json!({"verified": true}));
    let got = up.only();
    assert!(got.header("x-amz-content-sha256").is_some());
    assert_eq!(
        got.header("x-amz-security-token"),
        Some("FQoGZXIvYXdzEXAMPLEsessiontoken0123456789")
    );
    assert!(got
        .header("authorization")
        .unwrap()
        .starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert!(
        !got.dump().contains(SECRET_KEY),
        "the secret key itself is never sent"
    );
    assert_eq!(out.used.len(), 2);
}

#[tokio::test]
async fn a_wrong_awsv4_key_is_rejected_by_the_upstream() {
    let up = Upstream::start_with("127.0.0.1", Some("the-right-key-0123456789")).await;
    let mut res = MapResolver::new();
    let sk = res.add("awsSecretKey", "a-wrong-key-9876543210", &[]);
    let req: lockbox_egress::FetchRequest = serde_json::from_value(json!({
        "url": up.url("/sigv4"),
        "auth": {"awsv4": {"access_key": "AKID", "secret_key": sk, "region": "us-east-1", "service": "sts"}}
    }))
    .unwrap();
    let out = executor().fetch(req, &res).await.unwrap();
    assert_eq!(out.status, 403);
}
