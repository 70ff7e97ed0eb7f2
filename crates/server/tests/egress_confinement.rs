//! Egress confinement over HTTP: a run cannot make Lockbox call its own API (by its
//! listen address, by its public URL, or by carrying a Lockbox token anywhere), and a
//! reference placed in the URL's host is refused with no trace of its value in the
//! answer or the `egress.fetch` audit row. Every server here runs with
//! `--egress-allow-private`, the setting under which the original attack worked.

mod support;

use axum::extract::Request;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::TestServer;

/// A value with upper-case letters: a URL parser lower-cases hosts, so every leak
/// check looks for both forms.
const HOST_VALUE: &str = "Sk_Live_UPPERserverVALUE7";

/// An upstream on loopback that records the path of each request.
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
            log.lock().unwrap().push(req.uri().to_string());
            axum::Json(json!({"ok": true}))
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    Upstream { url, seen }
}

async fn server() -> TestServer {
    TestServer::start_with(|c| {
        c.egress_allow_private = true;
        c.public_url = Some("http://lockbox.test/".into());
    })
    .await
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

async fn get_ref(s: &TestServer, run: &str, name: &str) -> String {
    let r = s
        .call(
            run,
            Method::POST,
            "/v1/run/secrets/get",
            Some(json!({"name": name, "scope": "workspace"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["ref"].as_str().unwrap().to_owned()
}

async fn fetch(s: &TestServer, run: &str, body: Value) -> support::Resp {
    s.call(run, Method::POST, "/v1/run/fetch", Some(body)).await
}

/// The `egress.fetch` audit rows, read as the owner (the row of a finished call is
/// committed in the background, so wait for `n` of them).
async fn egress_rows(s: &TestServer, n: usize) -> (Vec<Value>, String) {
    for _ in 0..200 {
        let log = s.get(&s.owner, "/v1/workspaces/default/audit").await;
        let rows: Vec<Value> = log.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "egress.fetch")
            .cloned()
            .collect();
        if rows.len() >= n {
            return (rows, log.text);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("expected {n} egress.fetch audit rows");
}

#[tokio::test]
async fn a_run_token_sent_to_lockbox_itself_is_refused() {
    let s = server().await;
    let up = upstream().await;
    let run = run_token(&s).await;
    // The attack: the run's own token, in a header, to Lockbox's own URL.
    let r = fetch(
        &s,
        &run,
        json!({"url": format!("{}/v1/me", s.url), "headers": {"Authorization": format!("Bearer {run}")}}),
    )
    .await;
    r.assert_error(403, "egress_denied");
    assert!(!r.text.contains(&run[4..]), "{}", r.text);

    // Each defence on its own. Lockbox's address, with no credential at all: by the
    // listen address, a name for it, and the public URL (by name, any case).
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    for url in [
        format!("{}/healthz", s.url),
        format!("http://localhost:{port}/healthz"),
        format!("http://[::ffff:127.0.0.1]:{port}/healthz"),
        "http://LOCKBOX.test./healthz".to_string(),
    ] {
        let r = fetch(&s, &run, json!({"url": url})).await;
        r.assert_error(403, "egress_denied");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("Lockbox's own"),
            "{url}: {}",
            r.text
        );
    }
    // A Lockbox token to any other destination, as written or through a secret.
    let r = fetch(
        &s,
        &run,
        json!({"url": format!("{}/x", up.url), "headers": {"X-Vault-Token": run}}),
    )
    .await;
    r.assert_error(403, "egress_denied");
    assert_eq!(
        r.json()["message"],
        "header \"x-vault-token\" carries a Lockbox token"
    );
    s.put(&s.owner, "ownerToken", json!({"value": s.owner}))
        .await;
    let owner_ref = get_ref(&s, &run, "ownerToken").await;
    let r = fetch(
        &s,
        &run,
        json!({"url": format!("{}/x", up.url), "auth": {"bearer": {"token": owner_ref}}}),
    )
    .await;
    r.assert_error(403, "egress_denied");
    assert!(!r.text.contains(&s.owner[4..]), "{}", r.text);
    assert!(up.seen.lock().unwrap().is_empty(), "a Lockbox token left");

    // Control: the same run reaches an ordinary upstream on loopback.
    let r = fetch(&s, &run, json!({"url": format!("{}/ok", up.url)})).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn a_reference_in_the_url_host_leaves_no_trace_of_its_value() {
    let s = server().await;
    s.put(&s.owner, "hostPart", json!({"value": HOST_VALUE}))
        .await;
    let run = run_token(&s).await;
    let r_host = get_ref(&s, &run, "hostPart").await;
    let port = s.url.rsplit(':').next().unwrap().to_owned();
    let r = fetch(
        &s,
        &run,
        json!({"url": format!("http://{r_host}.localhost:{port}/")}),
    )
    .await;
    r.assert_error(400, "invalid");
    let lower = HOST_VALUE.to_ascii_lowercase();
    assert!(
        !r.text.contains(HOST_VALUE) && !r.text.contains(&lower),
        "{}",
        r.text
    );
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("scheme, credentials, host or port"),
        "{}",
        r.text
    );
    // The refused call is audited, without the value in any form.
    let (rows, log) = egress_rows(&s, 1).await;
    assert_eq!(rows[0]["outcome"], "failed:invalid", "{}", rows[0]);
    assert_eq!(rows[0]["detail"]["host"], "", "{}", rows[0]);
    assert!(
        !log.contains(HOST_VALUE) && !log.contains(&lower),
        "the audit log holds the value: {log}"
    );
}

#[tokio::test]
async fn a_url_valued_secret_is_audited_by_name_not_by_host() {
    let s = server().await;
    let up = upstream().await;
    let hook = format!("{}/services/T0/B0/XyZsecret", up.url);
    s.put(&s.owner, "slackHook", json!({"value": hook})).await;
    let run = run_token(&s).await;
    let r_hook = get_ref(&s, &run, "slackHook").await;
    let r = fetch(
        &s,
        &run,
        json!({"url": r_hook, "method": "POST", "body": {"text": "deployed"}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        up.seen.lock().unwrap().as_slice(),
        ["/services/T0/B0/XyZsecret"]
    );
    let (rows, _) = egress_rows(&s, 1).await;
    let row = rows[0].to_string();
    assert_eq!(rows[0]["detail"]["host"], "", "{row}");
    assert_eq!(rows[0]["detail"]["url_secret"], "slackHook", "{row}");
    assert!(
        !row.contains("XyZsecret") && !row.contains("127.0.0.1"),
        "{row}"
    );
}
