//! Seed 001's examples, run as written (only example hosts pointed at a local
//! upstream) against a real Lockbox, a real egress executor and a real HTTP server.
//! Each test checks what the upstream received and that nothing printed holds a
//! secret value.

mod common;

use common::*;
use lockbox_automation::{OutputLine, OUTPUT_REDACTED};
use serde_json::{json, Value};

const SET: &str = r#"
- run:
    module: secrets
    function: set
    parameters:
      name: myApiKey
      value: "sk-live-abc123"
      scope: workspace
    output: secretRef
"#;

const GET: &str = r#"
- run:
    module: secrets
    function: get
    parameters:
      name: myApiKey
      scope: workspace
    output: secretRef
"#;

const DELETE: &str = r#"
- run:
    module: secrets
    function: delete
    parameters:
      name: myApiKey
      scope: workspace
    output: result
"#;

const FETCH: &str = r#"
do:
  # 1. Retrieve the secret reference
  - run:
      module: secrets
      function: get
      parameters:
        name: myApiKey
        scope: workspace
      output: secretRef

  # 2. Use it in a fetch — the platform injects the real value at execution time
  - fetch:
      url: https://api.example.com/data
      method: GET
      headers:
        Authorization: "Bearer {{secretRef}}"
      output: apiResponse
"#;

const OAUTH: &str = r#"
slug: call-with-oauth
name: Call API with OAuth token
do:
  # Authenticate and get a token
  - fetch:
      url: https://auth.example.com/oauth/token
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
      url: https://api.example.com/resources
      method: GET
      headers:
        Authorization: "Bearer {{tokenRef}}"
      output: resources
"#;

const ON_ERROR: &str = r#"
- run:
    module: secrets
    function: get
    parameters:
      name: myApiKey
      scope: workspace
    onError: continue
    output: result
- conditions:
    '{{result.error}}':
      - emit:
          event: secret-missing
          payload:
            message: "Secret myApiKey not found"
"#;

fn is_ref(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.starts_with("$secret:"))
}

#[tokio::test]
async fn set_get_delete_snippets_run_as_written() {
    let env = Env::new().await;
    let m = env.module(None, "manual").await;

    let (res, lines) = run_yaml(&m, SET, Value::Null).await;
    res.unwrap();
    assert!(is_ref(step_result(&lines, "do[0].run")), "{lines:?}");

    let (res, lines) = run_yaml(&m, GET, Value::Null).await;
    res.unwrap();
    assert!(is_ref(step_result(&lines, "do[0].run")));

    let (res, lines) = run_yaml(&m, DELETE, Value::Null).await;
    res.unwrap();
    assert_eq!(step_result(&lines, "do[0].run"), &json!({"deleted": true}));

    // Deleting again: not_found, and the default onError stops the flow there.
    let (res, _) = run_yaml(&m, DELETE, Value::Null).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, "not_found");
    assert_eq!(e.path, "do[0].run");
    assert_eq!(e.line, Some(2));
}

#[tokio::test]
async fn fetch_snippet_sends_the_value_and_prints_it_redacted() {
    let env = Env::new().await;
    let m = env.module(None, "manual").await;
    run_yaml(&m, SET, Value::Null).await.0.unwrap();

    let (res, lines) = run_yaml(&m, &env.localize(FETCH), Value::Null).await;
    res.unwrap();
    let got = env.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].route, "GET /data");
    assert_eq!(
        got[0].authorization.as_deref(),
        Some("Bearer sk-live-abc123")
    );

    // The upstream echoed the header; the run sees it masked.
    let body = step_result(&lines, "do[1].fetch");
    assert_eq!(body["data"], json!([1, 2, 3]));
    assert_eq!(body["you_sent"], json!("Bearer [REDACTED:myApiKey]"));
    assert!(!printed(&lines).contains("sk-live-abc123"));
}

#[tokio::test]
async fn call_with_oauth_flow_runs_as_written() {
    let env = Env::new().await;
    env.put("clientSecret", json!(CLIENT_SECRET)).await;
    let m = env.module(None, "manual").await;

    let (res, lines) = run_yaml(&m, &env.localize(OAUTH), json!({"clientId": CLIENT_ID})).await;
    let out = res.unwrap_or_else(|e| panic!("{e:?} {lines:?} {:?}", env.received()));
    assert_eq!(out.output, None);
    assert!(out.warnings.is_empty());

    // The upstream got the real client secret, then the real token.
    let got = env.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].route, "POST /oauth/token");
    assert_eq!(got[0].body["client_secret"], json!(CLIENT_SECRET));
    assert_eq!(got[0].body["client_id"], json!(CLIENT_ID));
    assert_eq!(got[1].route, "GET /resources");
    assert_eq!(
        got[1].authorization.as_deref(),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );

    // The token was stored as a secret, the API answered, and nothing printed holds
    // the client secret or the token (the token printed by step 1 is masked too,
    // because it became a secret in step 2).
    assert!(is_ref(step_result(&lines, "do[1].run")));
    assert_eq!(
        step_result(&lines, "do[2].fetch"),
        &json!({"items": ["alpha", "beta"]})
    );
    let text = printed(&lines);
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    assert!(!text.contains(ACCESS_TOKEN), "{text}");
    assert!(text.contains("[REDACTED:oauthToken]"), "{text}");
}

#[tokio::test]
async fn oauth_flow_fails_at_the_step_the_upstream_refused() {
    let env = Env::new().await;
    env.put("clientSecret", json!("cs_wrong_0123456789abcdef"))
        .await;
    let m = env.module(None, "manual").await;
    let (res, lines) = run_yaml(&m, &env.localize(OAUTH), json!({"clientId": CLIENT_ID})).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, "http_error");
    assert_eq!(e.path, "do[0].fetch");
    assert!(e.message.contains("401"), "{e}");
    assert!(lines.is_empty());
    assert_eq!(env.received().len(), 1);
}

#[tokio::test]
async fn not_found_continues_into_the_conditions_branch_that_emits() {
    let env = Env::new().await;
    let m = env.module(None, "manual").await;
    let (res, lines) = run_yaml(&m, ON_ERROR, Value::Null).await;
    res.unwrap();
    assert_eq!(
        step_result(&lines, "do[0].run"),
        &json!({"error": "not_found"})
    );
    let events: Vec<_> = lines
        .iter()
        .filter_map(|l| match l {
            OutputLine::Event { event, payload } => Some((event.clone(), payload.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        events,
        vec![(
            "secret-missing".to_owned(),
            json!({"message": "Secret myApiKey not found"})
        )]
    );

    // With the secret present, `result.error` is missing (null): no event.
    run_yaml(&m, SET, Value::Null).await.0.unwrap();
    let (res, lines) = run_yaml(&m, ON_ERROR, Value::Null).await;
    res.unwrap();
    assert!(is_ref(step_result(&lines, "do[0].run")));
    assert!(!lines.iter().any(|l| matches!(l, OutputLine::Event { .. })));
}

#[tokio::test]
async fn user_scope_in_a_cron_run_is_user_required() {
    let env = Env::new().await;
    let cron = env.module(None, "cron").await;
    let yaml = r#"
- run:
    module: secrets
    function: get
    parameters:
      name: myApiKey
      scope: user
    onError: continue
    output: result
- run:
    module: secrets
    function: set
    parameters:
      name: myApiKey
      value: "personal-value-123456"
      scope: user
"#;
    let (res, lines) = run_yaml(&cron, yaml, Value::Null).await;
    let e = res.unwrap_err();
    assert_eq!(e.code, "user_required");
    assert_eq!(e.path, "do[1].run");
    assert_eq!(
        step_result(&lines, "do[0].run"),
        &json!({"error": "user_required"})
    );

    // The same flow in a run that carries a user works.
    let manual = env.module(Some("owner"), "manual").await;
    let (res, lines) = run_yaml(&manual, yaml, Value::Null).await;
    res.unwrap();
    assert_eq!(
        step_result(&lines, "do[0].run"),
        &json!({"error": "not_found"})
    );
}

#[tokio::test]
async fn events_and_output_are_redacted_and_references_kept_out_of_the_output() {
    let env = Env::new().await;
    env.put("apiKey", json!("key_live_7Hq2Lm9Xw4Rt8Zp3")).await;
    let m = env.module(None, "manual").await;
    // A config value that happens to hold a secret's value, and one holding a
    // reference: validate cannot see either; the runtime guards catch both.
    let r = lockbox_automation::SecretsModule::get(&m, "apiKey", "workspace", None)
        .await
        .unwrap();
    let yaml = r#"
do:
  - emit:
      event: leaked
      payload:
        text: "value is {{config.plain}}"
output:
  plain: "{{config.plain}}"
  reference: "{{config.ref}}"
"#;
    let (res, lines) = run_yaml(
        &m,
        yaml,
        json!({"plain": "key_live_7Hq2Lm9Xw4Rt8Zp3", "ref": r}),
    )
    .await;
    let out = res.unwrap();
    let output = out.output.unwrap();
    assert_eq!(output["plain"], json!("[REDACTED:apiKey]"));
    assert_eq!(output["reference"], json!(OUTPUT_REDACTED));
    assert_eq!(out.warnings.len(), 1);
    let text = printed(&lines);
    assert!(!text.contains("key_live_7Hq2Lm9Xw4Rt8Zp3"), "{text}");
    assert!(text.contains("[REDACTED:apiKey]"));
}

#[tokio::test]
async fn egress_refusal_is_the_step_error() {
    let env = Env::new().await;
    let m = env.module(None, "manual").await;
    // A reference from another run does not resolve here.
    let other = env.module(None, "manual").await;
    env.put("apiKey", json!("key_live_7Hq2Lm9Xw4Rt8Zp3")).await;
    let foreign = lockbox_automation::SecretsModule::get(&other, "apiKey", "workspace", None)
        .await
        .unwrap();
    let yaml = env.localize(
        r#"
- fetch:
    url: https://api.example.com/data
    headers:
      Authorization: "Bearer {{config.token}}"
    onError: continue
    output: r
- emit:
    event: done
    payload: "{{r}}"
"#,
    );
    let (res, lines) = run_yaml(&m, &yaml, json!({"token": foreign})).await;
    res.unwrap();
    assert_eq!(
        step_result(&lines, "do[0].fetch"),
        &json!({"error": "forbidden"})
    );
    assert!(env.received().is_empty());
}
