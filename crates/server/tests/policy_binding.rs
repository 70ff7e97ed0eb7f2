//! Policy fields are bound to the ciphertext: someone who can write the database
//! file, but holds no key, cannot loosen a secret's policy by editing a row. Each
//! case stops the real server, edits its SQLite file with rusqlite, restarts it on
//! the same data directory and checks that the edit made nothing revealable or
//! sendable: a restricted secret edited to `masked` does not reveal, a widened
//! `allowed_hosts` does not widen where a run may send the value (an in-process
//! upstream records whatever reaches it), and writes and rollbacks carry on the
//! authenticated list rather than the edited one. Also: a restricted secret's
//! fingerprint is no equality oracle on its value.

mod support;

use axum::extract::Request;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::TestServer;

/// An upstream that records every request it receives.
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn upstream() -> Upstream {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            log.lock().unwrap().push(format!(
                "{} {:?} {}",
                parts.uri,
                parts.headers,
                String::from_utf8_lossy(&body)
            ));
            "ok"
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    Upstream { url, seen }
}

async fn server() -> TestServer {
    TestServer::start_with(|c| c.egress_allow_private = true).await
}

/// Stops the server, runs `sql` on its SQLite file, and starts it again on the
/// same data directory (same clock, private egress allowed as before).
async fn edit_database(s: &mut TestServer, sql: &str) {
    s.stop().await;
    {
        let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
        db.execute_batch(sql).unwrap();
    }
    let server = lockbox_server::start_with_clock(
        lockbox_server::ServerConfig {
            data_dir: s.data_dir(),
            listen: "127.0.0.1:0".into(),
            egress_allow_private: true,
            ..Default::default()
        },
        Arc::new(s.clock.clone()),
    )
    .await
    .unwrap();
    assert!(server.init_token.is_none(), "the same deployment restarted");
    s.url = server.url();
    s.server = Some(server);
}

/// A string column of the SQLite file, read with the server stopped.
async fn column(s: &mut TestServer, sql: &str) -> Option<String> {
    s.stop().await;
    let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

async fn run_token(s: &TestServer) -> String {
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/runs",
            Some(json!({"workspace": "default", "trigger": "manual"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.json()["token"].as_str().unwrap().to_owned()
}

/// A run fetches the upstream with a reference to `name` in a header.
async fn fetch_with(s: &TestServer, up: &Upstream, name: &str) -> support::Resp {
    let run = run_token(s).await;
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/get",
            Some(json!({"name": name, "scope": "workspace"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let reference = r.json()["ref"].as_str().unwrap().to_owned();
    s.call(
        &run,
        Method::POST,
        "/v1/run/fetch",
        Some(json!({"url": format!("{}/x", up.url), "headers": {"X-Key": reference}})),
    )
    .await
}

fn fingerprint(r: &support::Resp) -> String {
    assert!(r.status.is_success(), "{}", r.text);
    r.json()["fingerprint"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn editing_visibility_in_the_database_does_not_make_a_restricted_secret_revealable() {
    let mut s = server().await;
    let editor = s.member("eddie", "editor").await;
    let r = s
        .put(
            &s.owner,
            "webhook/signing",
            json!({"value": "whsec-restricted-4711", "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.reveal(&editor, "webhook/signing")
        .await
        .assert_error(403, "forbidden");

    edit_database(
        &mut s,
        "UPDATE secrets SET visibility = 'masked' WHERE name = 'webhook/signing'",
    )
    .await;
    for token in [editor.clone(), s.owner.clone()] {
        let r = s.reveal(&token, "webhook/signing").await;
        assert!(!r.text.contains("whsec-restricted"), "revealed: {}", r.text);
        r.assert_error(500, "internal");
        assert!(r.json().get("value").is_none());
    }
    // Nor does an older version, nor a patch (which would read the value).
    let r = s
        .call(
            &editor,
            Method::POST,
            &format!(
                "{}/reveal?version=1",
                TestServer::secret_path("webhook/signing")
            ),
            None,
        )
        .await;
    assert!(!r.text.contains("whsec-restricted"), "revealed: {}", r.text);
    assert!(!r.status.is_success());
}

#[tokio::test]
async fn a_write_after_editing_visibility_in_the_database_fails_instead_of_carrying_it_on() {
    let mut s = server().await;
    let r = s
        .put(
            &s.owner,
            "oauth/refresh",
            json!({"value": "refresh-restricted-1", "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    edit_database(
        &mut s,
        "UPDATE secrets SET visibility = 'masked' WHERE name = 'oauth/refresh'",
    )
    .await;
    // A new value (say, a run rotating a token) must not be sealed as masked.
    let r = s
        .put(
            &s.owner,
            "oauth/refresh",
            json!({"value": "refresh-restricted-2"}),
        )
        .await;
    r.assert_error(500, "internal");
    let r = s.reveal(&s.owner, "oauth/refresh").await;
    assert!(
        !r.text.contains("refresh-restricted"),
        "revealed: {}",
        r.text
    );
    assert_eq!(
        column(
            &mut s,
            "SELECT CAST(current_version AS TEXT) FROM secrets WHERE name = 'oauth/refresh'"
        )
        .await
        .as_deref(),
        Some("1"),
        "no version was written"
    );
}

#[tokio::test]
async fn widening_allowed_hosts_in_the_database_does_not_widen_where_a_run_may_send_the_value() {
    let mut s = server().await;
    let up = upstream().await;
    let r = s
        .put(
            &s.owner,
            "stripe/key",
            json!({"value": "sk_live_bound_8812", "allowed_hosts": ["api.stripe.com"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    fetch_with(&s, &up, "stripe/key")
        .await
        .assert_error(403, "egress_denied");

    // The secret row says "anywhere"; the version's authenticated list does not.
    edit_database(
        &mut s,
        "UPDATE secrets SET allowed_hosts = '[]' WHERE name = 'stripe/key'",
    )
    .await;
    let r = fetch_with(&s, &up, "stripe/key").await;
    assert!(!r.text.contains("sk_live_bound"), "{}", r.text);
    r.assert_error(403, "egress_denied");

    // Editing the version's own policy too makes it fail to decrypt: still nothing sent.
    edit_database(
        &mut s,
        "UPDATE secret_versions SET policy = '{\"aad\":2,\"allowed_hosts\":[]}' \
         WHERE secret_id = (SELECT id FROM secrets WHERE name = 'stripe/key')",
    )
    .await;
    let r = fetch_with(&s, &up, "stripe/key").await;
    assert!(!r.text.contains("sk_live_bound"), "{}", r.text);
    r.assert_error(500, "internal");
    // Dropping the policy (a downgrade to the unbound v1 encoding) fails the same way.
    edit_database(
        &mut s,
        "UPDATE secret_versions SET policy = NULL \
         WHERE secret_id = (SELECT id FROM secrets WHERE name = 'stripe/key')",
    )
    .await;
    let r = fetch_with(&s, &up, "stripe/key").await;
    assert!(!r.text.contains("sk_live_bound"), "{}", r.text);
    r.assert_error(500, "internal");

    assert!(
        up.seen.lock().unwrap().is_empty(),
        "the value never left: {:?}",
        up.seen.lock().unwrap()
    );
}

#[tokio::test]
async fn a_new_version_after_a_database_widening_inherits_the_authenticated_list() {
    let mut s = server().await;
    let up = upstream().await;
    let r = s
        .put(
            &s.owner,
            "api/token",
            json!({"value": "token-one-5521", "allowed_hosts": ["api.example.com"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    edit_database(
        &mut s,
        "UPDATE secrets SET allowed_hosts = '[]' WHERE name = 'api/token'",
    )
    .await;
    // A write that names no list keeps the list the current version authenticates.
    let r = s
        .put(&s.owner, "api/token", json!({"value": "token-two-5522"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["allowed_hosts"], json!(["api.example.com"]));
    fetch_with(&s, &up, "api/token")
        .await
        .assert_error(403, "egress_denied");
    assert!(up.seen.lock().unwrap().is_empty());
    // A write that names a list sets it, as before.
    let r = s
        .put(
            &s.owner,
            "api/token",
            json!({"value": "token-three-5523", "allowed_hosts": []}),
        )
        .await;
    assert_eq!(r.json()["allowed_hosts"], json!([]));
    let r = fetch_with(&s, &up, "api/token").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(up.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn rollback_after_a_database_widening_keeps_the_authenticated_list() {
    let mut s = server().await;
    let up = upstream().await;
    let path = TestServer::secret_path("partner/key");
    let r = s
        .put(
            &s.owner,
            "partner/key",
            json!({"value": "partner-one-9001", "allowed_hosts": ["api.partner.example"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = s
        .put(
            &s.owner,
            "partner/key",
            json!({"value": "partner-two-9002"}),
        )
        .await;
    assert_eq!(r.json()["allowed_hosts"], json!(["api.partner.example"]));

    edit_database(
        &mut s,
        "UPDATE secrets SET allowed_hosts = '[]' WHERE name = 'partner/key'",
    )
    .await;
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &format!("{path}/rollback"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], 3);
    assert_eq!(r.json()["allowed_hosts"], json!(["api.partner.example"]));
    assert_eq!(
        s.reveal(&s.owner, "partner/key").await.json()["value"],
        "partner-one-9001"
    );
    let r = fetch_with(&s, &up, "partner/key").await;
    r.assert_error(403, "egress_denied");
    assert!(up.seen.lock().unwrap().is_empty());
    // The new version carries the authenticated list in its own policy.
    let policy = column(
        &mut s,
        "SELECT v.policy FROM secret_versions v JOIN secrets s ON s.id = v.secret_id \
         WHERE s.name = 'partner/key' AND v.version = 3",
    )
    .await
    .unwrap();
    let policy: Value = serde_json::from_str(&policy).unwrap();
    assert_eq!(policy["allowed_hosts"], json!(["api.partner.example"]));
}

#[tokio::test]
async fn restricted_fingerprints_do_not_reveal_equality() {
    let s = server().await;
    let guess = "the-guessed-value-31337";
    let restricted = fingerprint(
        &s.put(
            &s.owner,
            "vault/restricted",
            json!({"value": guess, "visibility": "restricted"}),
        )
        .await,
    );
    // An admin writes the guess elsewhere and compares: nothing matches.
    let masked = fingerprint(
        &s.put(&s.owner, "guess/masked", json!({"value": guess}))
            .await,
    );
    let other_restricted = fingerprint(
        &s.put(
            &s.owner,
            "guess/restricted",
            json!({"value": guess, "visibility": "restricted"}),
        )
        .await,
    );
    let next_version = fingerprint(
        &s.put(&s.owner, "vault/restricted", json!({"value": guess}))
            .await,
    );
    assert_ne!(restricted, masked);
    assert_ne!(restricted, other_restricted);
    assert_ne!(
        restricted, next_version,
        "a new version with the same value"
    );
    assert_eq!(restricted.len(), 16);
    // The version list shows the same per-version fingerprints.
    let versions = s
        .get(
            &s.owner,
            &format!("{}/versions", TestServer::secret_path("vault/restricted")),
        )
        .await
        .json();
    let listed: Vec<&str> = versions["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [next_version.as_str(), restricted.as_str()]);
    // Masked secrets keep telling equal values apart as before.
    let masked_again = fingerprint(
        &s.put(&s.owner, "guess/masked-2", json!({"value": guess}))
            .await,
    );
    assert_eq!(masked, masked_again);
}
