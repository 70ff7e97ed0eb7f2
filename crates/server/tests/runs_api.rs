//! Automations over HTTP (seed 001): runs, references, the egress executor against
//! an in-process upstream that records what it received, redaction of what comes
//! back, and every way a reference can fail.

mod support;

use axum::extract::Request;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::TestServer;

/// An upstream that records each request (method, path+query, headers, body) and
/// echoes it back: as JSON, plus headers carrying the values in other encodings.
struct Upstream {
    url: String,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn upstream() -> Upstream {
    use base64::Engine;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let headers: serde_json::Map<String, Value> = parts
                .headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        Value::String(v.to_str().unwrap_or("").to_owned()),
                    )
                })
                .collect();
            let record = json!({
                "method": parts.method.as_str(),
                "uri": parts.uri.to_string(),
                "headers": headers,
                "body": String::from_utf8_lossy(&body),
            });
            log.lock().unwrap().push(record.clone());
            let all = record.to_string();
            let b64 = base64::engine::general_purpose::STANDARD.encode(all.as_bytes());
            let echo_auth = parts.headers.get("authorization").cloned();
            let mut resp = axum::response::IntoResponse::into_response(axum::Json(
                json!({"received": record, "as_base64": b64, "as_text": all}),
            ));
            if let Some(v) = echo_auth {
                resp.headers_mut().insert("x-echo-auth", v);
            }
            resp
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    Upstream { url, seen }
}

async fn server(allow_private: bool) -> TestServer {
    TestServer::start_with(|c| c.egress_allow_private = allow_private).await
}

async fn open_run(s: &TestServer, body: Value) -> (u16, Value) {
    let r = s.call(&s.owner, Method::POST, "/v1/runs", Some(body)).await;
    (r.status.as_u16(), r.json())
}

async fn run_token(s: &TestServer, user: Option<&str>, trigger: &str) -> String {
    let mut body = json!({"workspace": "default", "trigger": trigger});
    if let Some(u) = user {
        body["user"] = json!(u);
    }
    let (st, j) = open_run(s, body).await;
    assert_eq!(st, 201, "{j}");
    assert!(j["token"].as_str().unwrap().starts_with("lbr_"));
    j["token"].as_str().unwrap().to_owned()
}

async fn run_call(s: &TestServer, run: &str, path: &str, body: Value) -> support::Resp {
    s.call(run, Method::POST, path, Some(body)).await
}

async fn get_ref(s: &TestServer, run: &str, name: &str) -> String {
    let r = run_call(
        s,
        run,
        "/v1/run/secrets/get",
        json!({"name": name, "scope": "workspace"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["ref"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn only_owners_and_admins_open_runs_and_run_tokens_expire() {
    let s = server(true).await;
    let viewer = s.member("vera", "viewer").await;
    let r = s
        .call(
            &viewer,
            Method::POST,
            "/v1/runs",
            Some(json!({"workspace": "default", "trigger": "manual"})),
        )
        .await;
    r.assert_error(403, "forbidden");
    let svc = s.service_token("engine", "admin").await;
    let r = s
        .call(
            &svc,
            Method::POST,
            "/v1/runs",
            Some(json!({"workspace": "default", "trigger": "webhook"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (st, _) = open_run(
        &s,
        json!({"workspace": "default", "trigger": "Bad Trigger"}),
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = open_run(
        &s,
        json!({"workspace": "default", "trigger": "manual", "user": "nobody"}),
    )
    .await;
    assert_eq!(st, 404);
    let run = run_token(&s, None, "manual").await;
    // A run has the run column only: not even its identity page.
    s.get(&run, "/v1/me").await.assert_error(403, "forbidden");
    let alive = |t: String| {
        let s = &s;
        async move {
            s.call(&t, Method::GET, "/v1/workspaces/default/secrets", None)
                .await
        }
    };
    assert_eq!(alive(run.clone()).await.status, 200);
    // A run cannot administer, nor reveal.
    s.put(&s.owner, "k", json!({"value": "reveal-me-not"}))
        .await;
    s.reveal(&run, "k").await.assert_error(403, "forbidden");
    s.get(&run, "/v1/workspaces/default/members")
        .await
        .assert_error(403, "forbidden");
    // Tampered run token.
    let mut bad = run.clone();
    bad.pop();
    bad.push(if run.ends_with('A') { 'B' } else { 'A' });
    alive(bad).await.assert_error(401, "unauthenticated");
    s.clock.advance_seconds(901);
    alive(run).await.assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn secrets_module_answers_references_never_values() {
    let s = server(true).await;
    let run = run_token(&s, None, "manual").await;
    let r = run_call(&s, &run, "/v1/run/secrets/set", json!({"name": "oauthToken", "value": "tok-abcdef-123456", "scope": "workspace", "ttl": 3600})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let set_ref = r.json()["ref"].as_str().unwrap().to_owned();
    assert!(set_ref.starts_with("$secret:"));
    assert!(!r.text.contains("tok-abcdef"));
    let get_ref = get_ref(&s, &run, "oauthToken").await;
    assert_ne!(get_ref, set_ref, "references are sealed afresh");
    // The secret exists for people, with the run as its author.
    let m = s
        .get(&s.owner, &TestServer::secret_path("oauthToken"))
        .await
        .json();
    assert!(m["created_by"].as_str().unwrap().starts_with("run:"));
    assert!(m["expires_at"].as_str().is_some());
    // not_found as an error object with a 4xx.
    run_call(
        &s,
        &run,
        "/v1/run/secrets/get",
        json!({"name": "missing", "scope": "workspace"}),
    )
    .await
    .assert_error(404, "not_found");
    run_call(
        &s,
        &run,
        "/v1/run/secrets/delete",
        json!({"name": "missing", "scope": "workspace"}),
    )
    .await
    .assert_error(404, "not_found");
    let r = run_call(
        &s,
        &run,
        "/v1/run/secrets/delete",
        json!({"name": "oauthToken", "scope": "workspace"}),
    )
    .await;
    assert_eq!(r.json(), json!({"deleted": true}));
    // A cron run has no user: the user scope is user_required, for all three.
    let cron = run_token(&s, None, "cron").await;
    for (path, body) in [
        (
            "/v1/run/secrets/set",
            json!({"name": "x", "value": "some-value", "scope": "user"}),
        ),
        ("/v1/run/secrets/get", json!({"name": "x", "scope": "user"})),
        (
            "/v1/run/secrets/delete",
            json!({"name": "x", "scope": "user"}),
        ),
    ] {
        run_call(&s, &cron, path, body)
            .await
            .assert_error(400, "user_required");
    }
    // A run with a user has that user's private scope.
    s.member("alice", "viewer").await;
    let alice_run = run_token(&s, Some("alice"), "manual").await;
    let r = run_call(
        &s,
        &alice_run,
        "/v1/run/secrets/set",
        json!({"name": "mine", "value": "alice-only-1", "scope": "user"}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    run_call(
        &s,
        &run,
        "/v1/run/secrets/get",
        json!({"name": "mine", "scope": "workspace"}),
    )
    .await
    .assert_error(404, "not_found");
    // People's tokens may not use the run API.
    run_call(
        &s,
        &s.owner,
        "/v1/run/secrets/get",
        json!({"name": "x", "scope": "workspace"}),
    )
    .await
    .assert_error(403, "forbidden");
    run_call(
        &s,
        &run,
        "/v1/run/secrets/get",
        json!({"name": "x", "scope": "team"}),
    )
    .await
    .assert_error(400, "invalid");
}

#[tokio::test]
async fn fetch_sends_the_real_value_everywhere_and_redacts_every_echo() {
    let s = server(true).await;
    let up = upstream().await;
    s.put(
        &s.owner,
        "apiKey",
        json!({"value": "sk_live_Zq8vR3xK9pLm2Nw7"}),
    )
    .await;
    s.put(&s.owner, "password", json!({"value": "pa ss/wörd+&=?42"}))
        .await;
    s.put(
        &s.owner,
        "cfg",
        json!({"value": {"clientId": "client-7788", "clientSecret": "cs_Hh5Jj6Kk7Ll8"}}),
    )
    .await;
    let run = run_token(&s, None, "manual").await;
    let key = get_ref(&s, &run, "apiKey").await;
    let pw = get_ref(&s, &run, "password").await;
    let r = run_call(
        &s,
        &run,
        "/v1/run/secrets/get",
        json!({"name": "cfg", "scope": "workspace", "field": "clientSecret"}),
    )
    .await;
    let cs = r.json()["ref"].as_str().unwrap().to_owned();
    let req = json!({
        "url": format!("{}/path/{key}/x", up.url),
        "method": "POST",
        "headers": {"X-Api-Key": key, "X-Forward": format!("Bearer {key}")},
        "query": {"token": key, "plain": "hello"},
        "body": {"grant_type": "client_credentials", "client_secret": cs, "nested": [{"k": key}]},
        "auth": {"basic": {"username": "user", "password": pw}},
    });
    let r = run_call(&s, &run, "/v1/run/fetch", req).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // The upstream got the real values.
    let seen = up.seen.lock().unwrap()[0].clone();
    let seen_text = seen.to_string();
    assert!(seen["uri"]
        .as_str()
        .unwrap()
        .contains("/path/sk_live_Zq8vR3xK9pLm2Nw7/x"));
    assert!(seen["uri"]
        .as_str()
        .unwrap()
        .contains("token=sk_live_Zq8vR3xK9pLm2Nw7"));
    assert_eq!(seen["headers"]["x-api-key"], "sk_live_Zq8vR3xK9pLm2Nw7");
    assert!(seen["body"].as_str().unwrap().contains("cs_Hh5Jj6Kk7Ll8"));
    assert!(seen_text.contains("Basic "), "basic auth was sent");
    assert!(
        !seen_text.contains("$secret:"),
        "no reference reached the upstream"
    );
    // The automation sees none of them, in any encoding, anywhere.
    let out = r.text.clone();
    for leak in [
        "sk_live_Zq8vR3xK9pLm2Nw7",
        "cs_Hh5Jj6Kk7Ll8",
        "pa ss/wörd",
        "pa%20ss",
        "c2tfbGl2ZV9acTh2UjN4Szlw",
    ] {
        assert!(!out.contains(leak), "response leaks {leak}: {out}");
    }
    assert!(out.contains("[REDACTED:apiKey]"), "{out}");
    assert!(
        out.contains("[REDACTED:password]") || out.contains("[REDACTED:"),
        "{out}"
    );
    let j = r.json();
    assert_eq!(j["status"], 200);
    let echo_auth = j["headers"]["x-echo-auth"].as_str().unwrap();
    assert!(
        echo_auth.starts_with("Basic ") && echo_auth.contains("[REDACTED:password]"),
        "{echo_auth}"
    );
    assert!(!out.contains("pa ss/w"), "{out}");
    // Audited: run, secrets by name and id, method, host; no value, no query string.
    // (The row is committed in the background right after the answer.)
    let mut found = None;
    let mut log = s.get(&s.owner, "/v1/workspaces/default/audit").await;
    for _ in 0..200 {
        log = s.get(&s.owner, "/v1/workspaces/default/audit").await;
        found = log.json()["events"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["action"] == "egress.fetch")
            .cloned();
        if found.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let ev = found.expect("the egress call is audited");
    assert_eq!(ev["detail"]["method"], "POST");
    assert_eq!(ev["detail"]["host"], "127.0.0.1");
    let names: Vec<&str> = ev["detail"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"apiKey") && names.contains(&"password") && names.contains(&"cfg"));
    assert!(!log.text.contains("sk_live") && !log.text.contains("token="));
}

#[tokio::test]
async fn every_way_a_reference_fails_has_its_own_error() {
    let s = server(true).await;
    let up = upstream().await;
    s.put(&s.owner, "k", json!({"value": "value-of-k-123456"}))
        .await;
    let run = run_token(&s, None, "manual").await;
    let other = run_token(&s, None, "manual").await;
    let fetch = |r: String| json!({"url": format!("{}/x", up.url), "headers": {"X-Key": r}});
    let good = get_ref(&s, &run, "k").await;
    assert_eq!(
        run_call(&s, &run, "/v1/run/fetch", fetch(good.clone()))
            .await
            .status,
        200
    );
    // Tampered.
    let mut t = good.clone();
    let last = t.pop().unwrap();
    t.push(if last == 'A' { 'B' } else { 'A' });
    let r = run_call(&s, &run, "/v1/run/fetch", fetch(t)).await;
    r.assert_error(400, "invalid");
    assert!(r.json()["message"].as_str().unwrap().contains("altered"));
    // Another run's.
    let r = run_call(&s, &other, "/v1/run/fetch", fetch(good.clone())).await;
    r.assert_error(403, "forbidden");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("another run"));
    // Expired (5 minutes by default).
    s.clock.advance_seconds(301);
    let r = run_call(&s, &run, "/v1/run/fetch", fetch(good.clone())).await;
    r.assert_error(410, "expired");
    // Deleted secret.
    let fresh = get_ref(&s, &run, "k").await;
    s.call(
        &s.owner,
        Method::DELETE,
        &TestServer::secret_path("k"),
        None,
    )
    .await;
    let r = run_call(&s, &run, "/v1/run/fetch", fetch(fresh)).await;
    r.assert_error(404, "not_found");
    assert!(r.json()["message"].as_str().unwrap().contains("deleted"));
    // None of those reached the upstream.
    assert_eq!(up.seen.lock().unwrap().len(), 1);
    // A person's token cannot use the executor.
    run_call(&s, &s.owner, "/v1/run/fetch", fetch(good))
        .await
        .assert_error(403, "forbidden");
}

#[tokio::test]
async fn allowed_hosts_and_the_ssrf_guard_refuse_before_anything_is_sent() {
    let s = server(true).await;
    let up = upstream().await;
    let r = s.put(&s.owner, "scoped", json!({"value": "scoped-value-99", "allowed_hosts": ["api.example.com", "*.Example.org."]})).await;
    assert_eq!(
        r.json()["allowed_hosts"],
        json!(["api.example.com", "*.example.org"])
    );
    s.put(
        &s.owner,
        "bad",
        json!({"value": "x-value-1", "allowed_hosts": ["not a host"]}),
    )
    .await
    .assert_error(400, "invalid");
    let run = run_token(&s, None, "manual").await;
    let r_scoped = get_ref(&s, &run, "scoped").await;
    let r = run_call(
        &s,
        &run,
        "/v1/run/fetch",
        json!({"url": format!("{}/x", up.url), "headers": {"X-Key": r_scoped}}),
    )
    .await;
    r.assert_error(403, "egress_denied");
    let msg = r.json()["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("scoped") && msg.contains("127.0.0.1"), "{msg}");
    assert!(
        up.seen.lock().unwrap().is_empty(),
        "nothing left before the check"
    );

    // Without --egress-allow-private, loopback and private addresses are refused.
    let guarded = server(false).await;
    guarded
        .put(&guarded.owner, "k", json!({"value": "guarded-value-1"}))
        .await;
    let run = run_token(&guarded, None, "manual").await;
    for url in [
        up.url.clone(),
        "http://localhost:9/".into(),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://[::1]:9/".into(),
        "http://2130706433/".into(),
        "http://10.0.0.1/".into(),
    ] {
        let rf = get_ref(&guarded, &run, "k").await;
        let r = run_call(
            &guarded,
            &run,
            "/v1/run/fetch",
            json!({"url": url, "headers": {"X-Key": rf}}),
        )
        .await;
        r.assert_error(403, "egress_denied");
    }
    assert!(up.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn redact_scrubs_log_lines_and_events_for_the_run() {
    let s = server(true).await;
    s.put(
        &s.owner,
        "apiKey",
        json!({"value": "sk_live_RedactMe_12345"}),
    )
    .await;
    s.put(
        &s.owner,
        "json",
        json!({"value": {"user": "bob", "pass": "Secr3t-Pass-Word"}}),
    )
    .await;
    let run = run_token(&s, None, "manual").await;
    // A value the run holds no reference to is not masked: the redactor is no
    // oracle on the workspace's other secrets.
    let r = run_call(
        &s,
        &run,
        "/v1/run/redact",
        json!({"lines": ["calling with sk_live_RedactMe_12345"]}),
    )
    .await;
    assert_eq!(r.json()["lines"][0], "calling with sk_live_RedactMe_12345");
    let refs = json!([
        get_ref(&s, &run, "apiKey").await,
        get_ref(&s, &run, "json").await
    ]);
    let r = run_call(&s, &run, "/v1/run/redact", json!({"refs": refs, "lines": ["calling with sk_live_RedactMe_12345", "b64 c2tfbGl2ZV9SZWRhY3RNZV8xMjM0NQ== end", "nothing here"]})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let lines = r.json()["lines"].clone();
    assert_eq!(lines[0], "calling with [REDACTED:apiKey]");
    assert!(
        !lines[1]
            .as_str()
            .unwrap()
            .contains("c2tfbGl2ZV9SZWRhY3RNZV8xMjM0NQ"),
        "{lines}"
    );
    assert_eq!(lines[2], "nothing here");
    let r = run_call(&s, &run, "/v1/run/redact", json!({"refs": refs, "event": {"msg": "login Secr3t-Pass-Word", "list": ["x", {"deep": "sk_live_RedactMe_12345"}]}})).await;
    let ev = r.json()["event"].clone();
    assert!(
        !ev.to_string().contains("Secr3t-Pass-Word")
            && !ev.to_string().contains("sk_live_RedactMe"),
        "{ev}"
    );
    // A secret the run sets is covered by the reference it got back, at once,
    // and an emit without a payload (`null`) is an event like any other.
    let set = run_call(
        &s,
        &run,
        "/v1/run/secrets/set",
        json!({"name": "fresh", "value": "fresh-token-777888", "scope": "workspace"}),
    )
    .await;
    let fresh = set.json()["ref"].clone();
    let r = run_call(
        &s,
        &run,
        "/v1/run/redact",
        json!({"refs": [fresh], "lines": ["got fresh-token-777888"]}),
    )
    .await;
    assert_eq!(r.json()["lines"][0], "got [REDACTED:fresh]");
    let r = run_call(&s, &run, "/v1/run/redact", json!({"event": null})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"event": null}));
    // Each call is audited with counts, never the lines.
    let audit = s.get(&s.owner, "/v1/workspaces/default/audit").await.text;
    assert!(audit.contains("run.redact"), "{audit}");
    assert!(!audit.contains("fresh-token-777888") && !audit.contains("calling with"));
    run_call(&s, &run, "/v1/run/redact", json!({}))
        .await
        .assert_error(400, "invalid");
}
