//! Bindings and renames (issue 18, items 3 and 6): renaming a secret that stored
//! flows use is refused like a delete (`409 secret_in_use` naming them) unless
//! forced, and a forced rename moves the bindings with the name. A stored flow may
//! delete a secret only it binds (the README's `secrets-demo`), while another
//! flow's binding still protects it. Each scenario runs on SQLite and, with
//! `LOCKBOX_TEST_DATABASE_URL`, on PostgreSQL.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::TestServer;

const ORDERS_SYNC: &str = r#"slug: orders-sync
name: Reads the orders key
do:
  - run:
      module: secrets
      function: get
      parameters:
        name: ordersKey
        scope: workspace
      output: ref
"#;

const KEEPER: &str = r#"slug: keeper
name: Also uses myApiKey
do:
  - run:
      module: secrets
      function: get
      parameters:
        name: myApiKey
        scope: workspace
      output: ref
"#;

/// The `secrets-demo` flow exactly as README.md shows it.
fn readme_secrets_demo() -> String {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find("```yaml\nslug: secrets-demo\n")
        .expect("README shows the secrets-demo flow")
        + "```yaml\n".len();
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_owned()
}

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

async fn run_flow(s: &TestServer, slug: &str) -> Value {
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &format!("/v1/workspaces/default/flows/{slug}/runs"),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

async fn audit(s: &TestServer) -> Vec<Value> {
    s.get(&s.owner, "/v1/workspaces/default/audit?limit=500")
        .await
        .json()["events"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn rename_path(name: &str) -> String {
    format!("{}/rename", TestServer::secret_path(name))
}

async fn renames_of_bound_secrets_are_refused_unless_forced(s: &TestServer) {
    let r = s
        .call(
            &s.owner,
            Method::PATCH,
            "/v1/workspaces/default/settings",
            Some(json!({"allow_rename": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.put(&s.owner, "ordersKey", json!({"value": "orders-value-123"}))
        .await;
    let r = put_flow(s, "orders-sync", ORDERS_SYNC).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Refused without force, naming the flow; nothing changes.
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &rename_path("ordersKey"),
            Some(json!({"name": "ordersKeyV2"})),
        )
        .await;
    r.assert_error(409, "secret_in_use");
    let msg = r.json()["message"].as_str().unwrap().to_owned();
    assert!(msg.contains("flow:orders-sync"), "{msg}");
    assert!(msg.contains("rename with force=true"), "{msg}");
    assert!(!r.text.contains("orders-value-123"));
    assert_eq!(
        s.get(&s.owner, &TestServer::secret_path("ordersKey"))
            .await
            .status,
        200
    );
    assert_eq!(
        s.get(&s.owner, &TestServer::secret_path("ordersKeyV2"))
            .await
            .status,
        404
    );
    let log = audit(s).await;
    assert!(log.iter().any(|e| e["action"] == "secret.rename"
        && e["target"] == "ordersKey"
        && e["outcome"] == "denied:secret_in_use"));

    // Forced: the bindings move with the name.
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &format!("{}?force=true", rename_path("ordersKey")),
            Some(json!({"name": "ordersKeyV2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["name"], "ordersKeyV2");
    let meta = s
        .get(&s.owner, &TestServer::secret_path("ordersKeyV2"))
        .await
        .json();
    assert_eq!(meta["bindings"][0]["owner"], "flow:orders-sync", "{meta}");
    assert_eq!(
        s.get(&s.owner, &TestServer::secret_path("ordersKey"))
            .await
            .status,
        404
    );
    // Delete protection stays on the new name.
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            &TestServer::secret_path("ordersKeyV2"),
            None,
        )
        .await;
    r.assert_error(409, "secret_in_use");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("flow:orders-sync"));

    // The audit row says it was forced and which flows moved.
    let log = audit(s).await;
    let row = log
        .iter()
        .find(|e| e["action"] == "secret.rename" && e["outcome"] == "ok")
        .expect("an audited rename");
    assert_eq!(row["target"], "ordersKey");
    assert_eq!(row["detail"]["new_name"], "ordersKeyV2");
    assert_eq!(row["detail"]["forced"], true);
    assert_eq!(row["detail"]["bindings"], json!(["flow:orders-sync"]));

    // An unbound secret renames without force, and its row says nothing of force.
    s.put(&s.owner, "loose", json!({"value": "loose-value-1"}))
        .await;
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &rename_path("loose"),
            Some(json!({"name": "loose2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let log = audit(s).await;
    let row = log
        .iter()
        .find(|e| e["action"] == "secret.rename" && e["target"] == "loose")
        .unwrap();
    assert!(row["detail"].get("forced").is_none(), "{row}");
}

async fn a_flow_deletes_a_secret_only_it_binds(s: &TestServer) {
    let yaml = readme_secrets_demo();
    let r = put_flow(s, "secrets-demo", &yaml).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.json()["bindings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["secret"] == "myApiKey"),
        "{}",
        r.text
    );
    // It runs to the end and leaves no secret behind, twice.
    for _ in 0..2 {
        let out = run_flow(s, "secrets-demo").await;
        assert_eq!(out["status"], "succeeded", "{out}");
        assert_eq!(
            s.get(&s.owner, &TestServer::secret_path("myApiKey"))
                .await
                .status,
            404
        );
    }
    let log = audit(s).await;
    let del = log
        .iter()
        .find(|e| e["action"] == "secret.delete" && e["target"] == "myApiKey")
        .expect("the delete is audited");
    assert_eq!(del["outcome"], "ok");
    assert!(del["detail"].get("forced").is_none(), "{del}");
    assert!(
        log.iter()
            .any(|e| e["action"] == "run.open" && e["detail"]["flow"] == "secrets-demo"),
        "the run says which flow it runs"
    );

    // Another flow's binding still protects it: the delete step fails, the
    // secret stays.
    put_flow(s, "secrets-demo", &yaml).await;
    let r = put_flow(s, "keeper", KEEPER).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = run_flow(s, "secrets-demo").await;
    assert_eq!(out["status"], "failed", "{out}");
    assert!(out.to_string().contains("secret_in_use"), "{out}");
    assert!(!out.to_string().contains("sk-live-abc123"), "{out}");
    assert_eq!(
        s.get(&s.owner, &TestServer::secret_path("myApiKey"))
            .await
            .status,
        200
    );
    // A run that is not the flow's own is still refused by both bindings.
    let run = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/runs",
            Some(json!({"workspace": "default", "trigger": "manual"})),
        )
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .call(
            &run,
            Method::POST,
            "/v1/run/secrets/delete",
            Some(json!({"name": "myApiKey", "scope": "workspace"})),
        )
        .await;
    r.assert_error(409, "secret_in_use");
    assert!(r.text.contains("flow:secrets-demo") && r.text.contains("flow:keeper"));
}

#[tokio::test]
async fn rename_of_a_bound_secret_sqlite() {
    let s = TestServer::start().await;
    renames_of_bound_secrets_are_refused_unless_forced(&s).await;
}

#[tokio::test]
async fn readme_secrets_demo_cleans_up_after_itself_sqlite() {
    let s = TestServer::start().await;
    a_flow_deletes_a_secret_only_it_binds(&s).await;
}

lockbox_testkit::needs_postgres! {
#[tokio::test]
async fn rename_of_a_bound_secret_postgres() {
    let Some(db) = lockbox_testkit::fresh_database().await else {
        return;
    };
    let s = TestServer::start_with(|c| c.database = Some(db)).await;
    renames_of_bound_secrets_are_refused_unless_forced(&s).await;
}

#[tokio::test]
async fn readme_secrets_demo_cleans_up_after_itself_postgres() {
    let Some(db) = lockbox_testkit::fresh_database().await else {
        return;
    };
    let s = TestServer::start_with(|c| c.database = Some(db)).await;
    a_flow_deletes_a_secret_only_it_binds(&s).await;
}
}
