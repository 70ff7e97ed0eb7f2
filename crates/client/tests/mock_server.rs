//! The SDK against a canned HTTP/1.1 responder: request lines, headers and bodies the
//! client sends, how it reads answers and errors, and which requests it retries.

use lockbox_client::{Client, Error, ErrorCode, PutOptions, Scope, Visibility};
use serde_json::json;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves `responses` in order, one per connection, on `listener`.
fn serve(listener: TcpListener, responses: Vec<(u16, &'static str, String)>) -> Log {
    let log: Log = Arc::default();
    let log2 = log.clone();
    tokio::spawn(async move {
        for (status, reason, reply) in responses {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = Vec::new();
            let head_end = loop {
                let mut chunk = [0u8; 4096];
                let n = sock.read(&mut chunk).await.unwrap();
                assert!(n > 0, "client closed early");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i;
                }
            };
            let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            let line = lines.next().unwrap().to_owned();
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .collect();
            let len: usize = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse().unwrap())
                .unwrap_or(0);
            let mut body = buf[head_end + 4..].to_vec();
            while body.len() < len {
                let mut chunk = [0u8; 4096];
                let n = sock.read(&mut chunk).await.unwrap();
                body.extend_from_slice(&chunk[..n]);
            }
            log2.lock().unwrap().push(Seen {
                line: line.clone(),
                headers,
                body,
            });
            let is_head = line.starts_with("HEAD ");
            let mut out = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\nx-request-id: hdr-req\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                reply.len()
            );
            if !is_head {
                out.push_str(&reply);
            }
            sock.write_all(out.as_bytes()).await.unwrap();
            sock.shutdown().await.ok();
        }
    });
    log
}

fn meta(name: &str, version: u64) -> String {
    json!({"id": "s1", "name": name, "workspace": "default", "scope": "user",
        "visibility": "masked", "description": "d", "version": version, "fingerprint": "9f1c",
        "expires_at": null, "created_at": "2026-01-01T00:00:00Z", "created_by": "user:owner",
        "updated_at": "2026-01-01T00:00:00Z", "updated_by": "user:owner"})
    .to_string()
}

async fn start(responses: Vec<(u16, &'static str, String)>) -> (Client, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let log = serve(listener, responses);
    (Client::new(&addr, "lbx_test").unwrap(), log)
}

#[tokio::test]
async fn put_sends_encoded_name_scope_if_match_and_body() {
    let (client, log) = start(vec![(201, "Created", meta("a/b c", 1))]).await;
    let opts = PutOptions::default()
        .description("d")
        .visibility(Visibility::Masked)
        .ttl(60)
        .if_match(0);
    let out = client
        .put_secret("default", Scope::User, "a/b c", &json!({"k": "v"}), &opts)
        .await
        .unwrap();
    assert!(out.created);
    assert_eq!(out.meta.name, "a/b c");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.line,
        "PUT /v1/workspaces/default/secrets/a%2Fb%20c?scope=user HTTP/1.1"
    );
    assert_eq!(seen.header("authorization"), Some("Bearer lbx_test"));
    assert_eq!(seen.header("if-match"), Some("\"0\""));
    assert_eq!(seen.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(
        body,
        json!({"value": {"k": "v"}, "description": "d", "visibility": "masked", "ttl": 60})
    );
}

#[tokio::test]
async fn put_update_keeps_description_by_omitting_it() {
    let (client, log) = start(vec![(200, "OK", meta("k", 2))]).await;
    let out = client
        .put_secret(
            "default",
            Scope::Workspace,
            "k",
            &json!("v"),
            &PutOptions::default(),
        )
        .await
        .unwrap();
    assert!(!out.created);
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.line, "PUT /v1/workspaces/default/secrets/k HTTP/1.1");
    assert_eq!(seen.header("if-match"), None);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&seen.body).unwrap(),
        json!({"value": "v"})
    );
}

#[tokio::test]
async fn api_errors_carry_code_status_and_request_id() {
    let body =
        json!({"error": "version_mismatch", "message": "stale", "request_id": "r-9"}).to_string();
    let (client, log) = start(vec![(412, "Precondition Failed", body)]).await;
    let err = client
        .patch_merge(
            "default",
            Scope::Workspace,
            "k",
            &json!({"a": null}),
            Some(3),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        Error::Api {
            code: ErrorCode::VersionMismatch.into(),
            message: "stale".into(),
            status: 412,
            request_id: Some("r-9".into())
        }
    );
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(
        seen.header("content-type"),
        Some("application/merge-patch+json")
    );
    assert_eq!(seen.header("if-match"), Some("\"3\""));
}

#[tokio::test]
async fn head_maps_404_to_false() {
    let (client, log) = start(vec![
        (200, "OK", String::new()),
        (404, "Not Found", String::new()),
    ])
    .await;
    assert!(client
        .secret_exists("default", Scope::Workspace, "🔑")
        .await
        .unwrap());
    assert!(!client
        .secret_exists("default", Scope::Workspace, "🔑")
        .await
        .unwrap());
    assert_eq!(
        log.lock().unwrap()[0].line,
        "HEAD /v1/workspaces/default/secrets/%F0%9F%94%91 HTTP/1.1"
    );
}

#[tokio::test]
async fn reveal_returns_a_redacting_value() {
    let body = json!({"value": {"token": "hunter2"}, "version": 4}).to_string();
    let (client, log) = start(vec![(200, "OK", body)]).await;
    let (value, version) = client
        .reveal_with_version("default", Scope::Workspace, "k", Some(4))
        .await
        .unwrap();
    assert_eq!(version, 4);
    assert_eq!(format!("{value:?}"), "[REDACTED]");
    assert_eq!(
        // EXPOSE: the test checks the decoded value.
        *value.to_json().unwrap().expose(),
        json!({"token": "hunter2"})
    );
    assert_eq!(
        log.lock().unwrap()[0].line,
        "POST /v1/workspaces/default/secrets/k/reveal?version=4 HTTP/1.1"
    );
}

#[tokio::test]
async fn list_all_follows_cursors() {
    let page1 = json!({"secrets": [serde_json::from_str::<serde_json::Value>(&meta("a", 1)).unwrap()], "next_cursor": "c 1"}).to_string();
    let page2 = json!({"secrets": [serde_json::from_str::<serde_json::Value>(&meta("b", 1)).unwrap()], "next_cursor": null}).to_string();
    let (client, log) = start(vec![(200, "OK", page1), (200, "OK", page2)]).await;
    let all = client
        .list_all_secrets("default", Scope::Workspace, Some("a/"))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let log = log.lock().unwrap();
    assert_eq!(
        log[0].line,
        "GET /v1/workspaces/default/secrets?prefix=a%2F&limit=1000 HTTP/1.1"
    );
    assert_eq!(
        log[1].line,
        "GET /v1/workspaces/default/secrets?prefix=a%2F&limit=1000&cursor=c%201 HTTP/1.1"
    );
}

#[tokio::test]
async fn undecodable_success_body_is_a_decode_error() {
    let (client, _log) = start(vec![(200, "OK", "{\"value\": 1".into())]).await;
    let err = client
        .reveal("default", Scope::Workspace, "k", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Decode(_)), "{err:?}");
}

/// A port that refuses connections now and accepts them ~50 ms later.
async fn port_that_comes_up_late(
    responses: Vec<(u16, &'static str, String)>,
) -> (String, tokio::task::JoinHandle<Log>) {
    let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    let handle = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let listener = TcpListener::bind(addr).await.unwrap();
        serve(listener, responses)
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn get_is_retried_on_connection_errors() {
    let body = json!({"allow_rename": true, "max_versions": 10}).to_string();
    let (addr, handle) = port_that_comes_up_late(vec![(200, "OK", body)]).await;
    let client = Client::new(&addr, "lbx_test").unwrap();
    let settings = client.get_settings("default").await.unwrap();
    assert!(settings.allow_rename);
    let log = handle.await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn writes_are_never_retried() {
    let (addr, handle) = port_that_comes_up_late(vec![(200, "OK", "{}".into())]).await;
    let client = Client::new(&addr, "lbx_test").unwrap();
    let err = client
        .delete_secret("default", Scope::Workspace, "k")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    let log = handle.await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn tokens_and_members_bodies() {
    let created = json!({"id": "t1", "name": "ci", "kind": "service", "workspace": "default",
        "role": "editor", "token": "lbx_new", "expires_at": null})
    .to_string();
    let added = json!({"user": "bob", "role": "viewer", "token": "lbx_bob"}).to_string();
    let (client, log) = start(vec![(201, "Created", created), (201, "Created", added)]).await;
    let t = client
        .create_service_token("ci", "default", lockbox_client::Role::Editor, Some(3600))
        .await
        .unwrap();
    // EXPOSE: the test checks the token that was decoded.
    assert_eq!(t.token.expose(), "lbx_new");
    let m = client
        .add_member("default", "bob", lockbox_client::Role::Viewer)
        .await
        .unwrap();
    // EXPOSE: the test checks the token that was decoded.
    assert_eq!(
        m.token.as_ref().map(|t| t.expose().as_str()),
        Some("lbx_bob")
    );
    let log = log.lock().unwrap();
    assert_eq!(log[0].line, "POST /v1/tokens HTTP/1.1");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&log[0].body).unwrap(),
        json!({"name": "ci", "workspace": "default", "role": "editor", "ttl": 3600})
    );
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&log[1].body).unwrap(),
        json!({"user": "bob", "role": "viewer"})
    );
}

#[tokio::test]
async fn a_refused_head_is_asked_again_for_the_servers_error_body() {
    let body = json!({"error": "unauthenticated", "message": "unknown or expired token",
        "request_id": "r-1"})
    .to_string();
    let (client, log) = start(vec![
        (401, "Unauthorized", String::new()),
        (401, "Unauthorized", body),
    ])
    .await;
    let err = client.secrets("default").exists("k").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::Unauthenticated));
    assert_eq!(err.message(), "unknown or expired token");
    assert_eq!(err.request_id(), Some("r-1"));
    let log = log.lock().unwrap();
    assert_eq!(
        log[0].line,
        "HEAD /v1/workspaces/default/secrets/k HTTP/1.1"
    );
    assert_eq!(log[1].line, "GET /v1/workspaces/default/secrets/k HTTP/1.1");
}

#[tokio::test]
async fn a_code_newer_than_the_sdk_is_kept_as_sent() {
    let body = json!({"error": "quota_exceeded", "message": "too many secrets"}).to_string();
    let (client, _log) = start(vec![(429, "Too Many Requests", body)]).await;
    let err = client
        .get_secret("default", Scope::Workspace, "k")
        .await
        .unwrap_err();
    assert_eq!(err.code(), None);
    assert_eq!(err.code_str(), "quota_exceeded");
    assert_eq!(err.to_string(), "quota_exceeded: too many secrets");
}
