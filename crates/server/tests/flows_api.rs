//! Flows stored in Lockbox and run on the server: seed 001's OAuth example as
//! written (URLs pointed at an in-process upstream), bindings that protect the
//! secrets it uses, validation errors with a location, and the output guard.

mod support;

use axum::extract::Request;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use support::TestServer;

const CALL_WITH_OAUTH: &str = r#"slug: call-with-oauth
name: Call API with OAuth token
do:
  # Authenticate and get a token
  - fetch:
      url: "{{config.baseUrl}}/oauth/token"
      method: POST
      body:
        grant_type: client_credentials
        client_id: "{{config.clientId}}"
        client_secret: "{{secret.clientSecret}}"
      output: authResponse

  # Store the token as a workspace secret with a 1-hour TTL
  - run:
      module: secrets
      function: set
      parameters:
        name: oauthToken
        value: "{{authResponse.access_token}}"
        scope: workspace
        ttl: 3600
      output: tokenRef

  # Use the token in subsequent API calls
  - fetch:
      url: "{{config.baseUrl}}/resources"
      method: GET
      headers:
        Authorization: "Bearer {{tokenRef}}"
      output: resources
"#;

async fn oauth_upstream() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = axum::Router::new().fallback(move |req: Request| {
        let log = log.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            let auth = parts
                .headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            log.lock().unwrap().push(format!(
                "{} {} auth={auth} body={}",
                parts.method,
                parts.uri,
                String::from_utf8_lossy(&body)
            ));
            let j: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match parts.uri.path() {
                "/oauth/token" if j["client_secret"] == "cs-real-123456" => {
                    axum::Json(json!({"access_token": "at-fresh-7890abcd", "echo": j}))
                        .into_response()
                }
                "/resources" if auth == "Bearer at-fresh-7890abcd" => {
                    axum::Json(json!({"items": [1, 2], "seen_auth": auth})).into_response()
                }
                _ => (axum::http::StatusCode::UNAUTHORIZED, "no").into_response(),
            }
        }
    });
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

use axum::response::IntoResponse;

async fn put_flow(s: &TestServer, slug: &str, yaml: &str) -> support::Resp {
    s.raw(
        s.http
            .put(format!("{}/v1/workspaces/default/flows/{slug}", s.url))
            .bearer_auth(&s.owner)
            .header("content-type", "application/yaml")
            .body(yaml.to_owned()),
    )
    .await
}

#[tokio::test]
async fn seed_oauth_flow_runs_on_the_server_and_binds_its_secret() {
    let s = TestServer::start_with(|c| c.egress_allow_private = true).await;
    let (upstream, seen) = oauth_upstream().await;
    s.put(&s.owner, "clientSecret", json!({"value": "cs-real-123456"}))
        .await;
    let r = put_flow(&s, "call-with-oauth", CALL_WITH_OAUTH).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.text.contains("clientSecret"),
        "bindings are reported: {}",
        r.text
    );
    // The secret is now bound: deleting it is refused, naming the flow.
    let del = s
        .call(
            &s.owner,
            Method::DELETE,
            &TestServer::secret_path("clientSecret"),
            None,
        )
        .await;
    del.assert_error(409, "secret_in_use");
    assert!(del.json()["message"]
        .as_str()
        .unwrap()
        .contains("flow:call-with-oauth"));
    let meta = s
        .get(&s.owner, &TestServer::secret_path("clientSecret"))
        .await
        .json();
    assert_eq!(meta["bindings"][0]["owner"], "flow:call-with-oauth");

    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/workspaces/default/flows/call-with-oauth/runs",
            Some(json!({"config": {"baseUrl": upstream, "clientId": "client-42"}})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = r.json();
    assert_eq!(out["status"], "succeeded", "{out}");
    // The upstream got the real client secret and the fresh token...
    let log = seen.lock().unwrap().join("\n");
    assert!(log.contains("cs-real-123456"), "{log}");
    assert!(log.contains("auth=Bearer at-fresh-7890abcd"), "{log}");
    // ...and nothing the run printed shows either of them, nor a stored value.
    assert!(!r.text.contains("cs-real-123456"), "{}", r.text);
    assert!(!r.text.contains("Bearer at-fresh-7890abcd"), "{}", r.text);
    // The token the flow stored is a secret now.
    let m = s
        .get(&s.owner, &TestServer::secret_path("oauthToken"))
        .await;
    assert_eq!(m.status, 200);

    // Removing the flow frees the secret.
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            "/v1/workspaces/default/flows/call-with-oauth",
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        s.call(
            &s.owner,
            Method::DELETE,
            &TestServer::secret_path("clientSecret"),
            None
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn bad_flows_are_refused_with_a_location() {
    let s = TestServer::start().await;
    let r = put_flow(&s, "broken", "slug: broken\ndo:\n  - fetch: [unclosed\n").await;
    r.assert_error(400, "invalid");
    assert!(
        r.json()["message"].as_str().unwrap().contains("line"),
        "{}",
        r.text
    );
    let r = put_flow(
        &s,
        "unknown",
        "slug: unknown\ndo:\n  - teleport:\n      to: mars\n",
    )
    .await;
    r.assert_error(400, "invalid");
    assert!(
        r.json()["message"].as_str().unwrap().contains("line 3"),
        "{}",
        r.text
    );
    let r = put_flow(
        &s,
        "leaky",
        "slug: leaky\ndo: []\noutput: \"{{secret.clientSecret}}\"\n",
    )
    .await;
    r.assert_error(400, "invalid");
    let r = put_flow(&s, "other", "slug: not-other\ndo: []\n").await;
    r.assert_error(400, "invalid");
    let editor = s.member("eddie", "editor").await;
    let r = s
        .raw(
            s.http
                .put(format!("{}/v1/workspaces/default/flows/ok", s.url))
                .bearer_auth(&editor)
                .body("slug: ok\ndo: []\n"),
        )
        .await;
    r.assert_error(403, "forbidden");
    s.get(&s.owner, "/v1/workspaces/default/flows/nope")
        .await
        .assert_error(404, "not_found");
}
