//! Security invariants and hostile input: no plaintext at rest, ciphertexts bound to
//! their row, bad input answered with 4xx (never 500, never an echo of a value),
//! operations endpoints, and property tests for names and values over HTTP.

mod support;

use proptest::prelude::*;
use reqwest::Method;
use serde_json::json;
use support::{enc, TestServer};

const DISTINCT: [&str; 3] = [
    "PLAINTEXT-CANARY-7f3a9c2e-string-value",
    "PLAINTEXT-CANARY-b81d44aa-json-leaf",
    "PLAINTEXT-CANARY-0c55e1f7-patched-in",
];

fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn no_plaintext_value_or_token_anywhere_in_the_data_dir() {
    let mut s = TestServer::start().await;
    s.put(&s.owner, "a", json!({"value": DISTINCT[0]})).await;
    s.put(
        &s.owner,
        "b",
        json!({"value": {"nested": {"leaf": DISTINCT[1]}}}),
    )
    .await;
    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, TestServer::secret_path("b")))
                .bearer_auth(&s.owner)
                .header("content-type", "application/merge-patch+json")
                .body(json!({"extra": DISTINCT[2]}).to_string()),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(s.reveal(&s.owner, "b").await.status, 200);
    let svc = s.service_token("scan", "viewer").await;
    // Stop so WAL and database are both on disk as the server left them; scan
    // while the WAL still exists too (before any checkpoint on close).
    let mut files = files_under(&s.data_dir());
    s.stop().await;
    files.extend(files_under(&s.data_dir()));
    assert!(files.iter().any(|f| f.ends_with("lockbox.db")));
    for f in files {
        let Ok(bytes) = std::fs::read(&f) else {
            continue;
        };
        for needle in DISTINCT
            .iter()
            .map(|d| d.as_bytes())
            .chain([s.owner.as_bytes(), svc.as_bytes()])
        {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} contains plaintext",
                f.display()
            );
        }
        // The raw master key and any workspace key never sit in the database.
        if f.ends_with("lockbox.db") {
            let keyfile = std::fs::read_to_string(s.data_dir().join("master.key")).unwrap();
            let k: serde_json::Value = serde_json::from_str(&keyfile).unwrap();
            let b64 = k["keys"][0]["key"].as_str().unwrap();
            assert!(!bytes.windows(b64.len()).any(|w| w == b64.as_bytes()));
        }
    }
}

#[tokio::test]
#[cfg(unix)]
async fn key_file_and_data_dir_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let s = TestServer::start().await;
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(s.data_dir().join("master.key")), 0o600);
    assert_eq!(mode(s.data_dir()), 0o700);
}

#[tokio::test]
async fn a_ciphertext_copied_to_another_row_does_not_decrypt() {
    let mut s = TestServer::start().await;
    s.put(&s.owner, "victim", json!({"value": "victim-value-123"}))
        .await;
    s.put(&s.owner, "attacker", json!({"value": "attacker-value-456"}))
        .await;
    s.stop().await;
    {
        let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
        db.execute(
            "UPDATE secret_versions SET sealed = (SELECT v.sealed FROM secret_versions v JOIN secrets s ON s.id = v.secret_id WHERE s.name = 'victim') \
             WHERE secret_id = (SELECT id FROM secrets WHERE name = 'attacker')",
            [],
        )
        .unwrap();
    }
    // Restart on the same directory; the attacker's row now holds the victim's ciphertext.
    let server = lockbox_server::start(lockbox_server::ServerConfig {
        data_dir: s.data_dir(),
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert!(
        server.init_token.is_none(),
        "a second start reuses everything"
    );
    let r = s
        .raw(
            s.http
                .post(format!(
                    "{}{}/reveal",
                    server.url(),
                    TestServer::secret_path("attacker")
                ))
                .bearer_auth(&s.owner),
        )
        .await;
    r.assert_error(500, "internal");
    assert!(!r.text.contains("victim-value-123"));
    let r = s
        .raw(
            s.http
                .post(format!(
                    "{}{}/reveal",
                    server.url(),
                    TestServer::secret_path("victim")
                ))
                .bearer_auth(&s.owner),
        )
        .await;
    assert_eq!(r.json()["value"], "victim-value-123");
    server.stop().await;
}

#[tokio::test]
async fn hostile_input_gets_4xx_with_a_code_and_no_echo() {
    let s = TestServer::start().await;
    let p = |name: &str| format!("{}{}", s.url, TestServer::secret_path(name));
    let put_raw = |name: &str, body: &'static str| {
        s.http
            .put(p(name))
            .bearer_auth(&s.owner)
            .header("content-type", "application/json")
            .body(body)
    };
    let secretish = "SENSITIVE-INPUT-9d2f";
    for (body, code) in [
        ("{not json", 400),
        ("", 400),
        ("[]", 400),
        (r#"{"value": "SENSITIVE-INPUT-9d2f", "unknown": 1}"#, 400),
        (
            r#"{"value": "SENSITIVE-INPUT-9d2f", "ttl": "SENSITIVE-INPUT-9d2f"}"#,
            400,
        ),
        (
            r#"{"value": "SENSITIVE-INPUT-9d2f", "description": 5}"#,
            400,
        ),
        (
            r#"{"value": "SENSITIVE-INPUT-9d2f", "visibility": "SENSITIVE-INPUT-9d2f"}"#,
            400,
        ),
        (r#"{"description": "no value"}"#, 400),
        (r#"{"value": ""}"#, 400),
        (r#"{"value": null}"#, 400),
        (r#"{"value": {}}"#, 400),
        (
            r#"{"value": "x-value", "description": "nul\u0000here"}"#,
            400,
        ),
    ] {
        let r = s.raw(put_raw("x", body)).await;
        r.assert_error(code, "invalid");
        assert!(!r.text.contains(secretish), "echoed input: {}", r.text);
    }
    // Oversized value: too_large, without the value.
    let big = "v".repeat(64 * 1024 + 1);
    let r = s.put(&s.owner, "big", json!({ "value": big })).await;
    r.assert_error(413, "too_large");
    assert!(!r.text.contains("vvvvvvvv"));
    // Oversized body beyond what the server reads at all.
    let huge = format!("{{\"value\": \"{}\"}}", "h".repeat(2 * 1024 * 1024));
    s.raw(
        s.http
            .put(p("huge"))
            .bearer_auth(&s.owner)
            .header("content-type", "application/json")
            .body(huge),
    )
    .await
    .assert_error(413, "too_large");
    // Names: empty, too long, control characters, bad percent-encoding.
    s.raw(
        s.http
            .put(format!("{}/v1/workspaces/default/secrets/", s.url))
            .bearer_auth(&s.owner)
            .json(&json!({"value": "x"})),
    )
    .await
    .assert_error(404, "not_found");
    s.put(&s.owner, &"n".repeat(513), json!({"value": "x-value"}))
        .await
        .assert_error(400, "invalid");
    assert_eq!(
        s.put(&s.owner, &"n".repeat(512), json!({"value": "x-value"}))
            .await
            .status,
        201
    );
    s.put(&s.owner, "tab\there", json!({"value": "x-value"}))
        .await
        .assert_error(400, "invalid");
    s.raw(
        s.http
            .get(format!("{}/v1/workspaces/default/secrets/%FF%FE", s.url))
            .bearer_auth(&s.owner),
    )
    .await
    .assert_error(400, "invalid");
    s.raw(
        s.http
            .get(format!("{}/v1/workspaces/default/secrets/%zz", s.url))
            .bearer_auth(&s.owner),
    )
    .await
    .assert_error(400, "invalid");
    // A prefix no name can have, and a forged cursor.
    let r = s
        .get(&s.owner, "/v1/workspaces/default/secrets?prefix=%00")
        .await;
    assert_eq!(
        (
            r.status.as_u16(),
            r.json()["secrets"].as_array().map(Vec::len)
        ),
        (200, Some(0))
    );
    s.get(&s.owner, "/v1/workspaces/default/secrets?cursor=AA")
        .await
        .assert_error(400, "invalid");
    // Unknown routes and methods.
    s.get(&s.owner, "/v1/nothing-here")
        .await
        .assert_error(404, "not_found");
    s.call(&s.owner, Method::POST, &TestServer::secret_path("x"), None)
        .await
        .assert_error(400, "invalid");
    // Unknown workspace.
    s.call(&s.owner, Method::GET, "/v1/workspaces/nope/secrets", None)
        .await
        .assert_error(404, "not_found");
    // Wrong JSON types elsewhere.
    s.call(
        &s.owner,
        Method::POST,
        &format!("{}/rollback", TestServer::secret_path("x")),
        Some(json!({"version": "one"})),
    )
    .await
    .assert_error(400, "invalid");
    s.call(
        &s.owner,
        Method::PATCH,
        "/v1/workspaces/default/settings",
        Some(json!({"max_versions": 0})),
    )
    .await
    .assert_error(400, "invalid");
}

#[tokio::test]
async fn operations_endpoints_answer() {
    let s = TestServer::start().await;
    s.put(&s.owner, "m", json!({"value": "metric-canary-value"}))
        .await;
    let h = s.raw(s.http.get(format!("{}/healthz", s.url))).await;
    assert_eq!(
        (h.status.as_u16(), h.json()["status"].as_str()),
        (200, Some("ok"))
    );
    assert_eq!(
        s.raw(s.http.get(format!("{}/readyz", s.url))).await.status,
        200
    );
    let m = s.raw(s.http.get(format!("{}/metrics", s.url))).await;
    assert_eq!(m.status, 200);
    assert!(m.text.contains("lockbox_http_requests_total"), "{}", m.text);
    assert!(m
        .text
        .contains("route=\"/v1/workspaces/{ws}/secrets/{name}\""));
    assert!(!m.text.contains("metric-canary-value"));
    let o = s.raw(s.http.get(format!("{}/openapi.json", s.url))).await;
    let doc = o.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert!(doc["paths"]["/v1/workspaces/{ws}/secrets/{name}"]["put"].is_object());
    assert!(doc["paths"]["/v1/tokens"]["post"].is_object());
    assert!(h.headers.contains_key("x-request-id"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any printable name (odd Unicode, `/`, `%`, spaces) and any non-empty value
    /// round-trip through PUT, metadata, list and reveal.
    #[test]
    fn names_and_values_round_trip_over_http(
        name in "[^\\p{C}]{1,40}",
        value in prop_oneof![
            "\\PC{1,200}".prop_map(serde_json::Value::String),
            any::<i64>().prop_map(|n| json!({"n": n, "s": n.to_string()})),
            prop::collection::vec("[a-z\\u{80}-\\u{10FF}]{1,8}", 1..5).prop_map(|v| json!(v)),
        ],
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let s = shared().await;
            let r = s.put(&s.owner, &name, json!({"value": value})).await;
            // Names are stored in NFC, and names that only look like others (edge
            // whitespace, invisible characters) are refused: the core parser decides.
            let Ok(parsed) = lockbox_core::SecretName::parse(&name) else {
                // `.` and `..` never reach the route: URL paths resolve them away.
                if name != "." && name != ".." {
                    r.assert_error(400, "invalid");
                }
                return;
            };
            assert!(r.status == 201 || r.status == 200, "{name:?}: {}", r.text);
            let name = parsed.as_str().to_owned();
            assert_eq!(r.json()["name"], name.as_str());
            let m = s.get(&s.owner, &TestServer::secret_path(&name)).await;
            assert_eq!(m.json()["name"], name.as_str());
            let rev = s.reveal(&s.owner, &name).await;
            assert_eq!(rev.json()["value"], value);
            let listed = s.get(&s.owner, &format!("/v1/workspaces/default/secrets?prefix={}", enc(&name))).await;
            assert!(listed.json()["secrets"].as_array().unwrap().iter().any(|x| x["name"] == name.as_str()));
        });
    }
}

/// One server for all proptest cases, on its own runtime thread.
async fn shared() -> &'static TestServer {
    static SERVER: std::sync::OnceLock<(TestServer, tokio::runtime::Runtime)> =
        std::sync::OnceLock::new();
    let (s, _) = SERVER.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let s = rt.block_on(TestServer::start());
            (s, rt)
        })
        .join()
        .unwrap()
    });
    s
}
