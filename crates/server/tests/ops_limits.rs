//! Issue 16 over HTTP: the account audit view (rows without a workspace).

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::TestServer;

/// The `default` workspace's audit rows, oldest first.
async fn audit_rows(s: &TestServer) -> Vec<Value> {
    let r = s
        .get(&s.owner, "/v1/workspaces/default/audit?limit=1000")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut rows = r.json()["events"].as_array().unwrap().clone();
    rows.reverse();
    rows
}

/// `GET /v1/audit`: rows that belong to no workspace. A person sees their own
/// (personal tokens, refused account-level attempts); an owner also sees the
/// deployment's `system` rows; others' rows and workspace rows are not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_audit_view_shows_rows_without_a_workspace() {
    let s = TestServer::start().await;
    let ada = s.member("ada", "editor").await;
    let r = s
        .call(
            &ada,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "laptop"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.put(&s.owner, "in-workspace", json!({"value": "some-value-123"}))
        .await;

    let page = s.get(&ada, "/v1/audit").await;
    assert_eq!(page.status, 200, "{}", page.text);
    let events = page.json()["events"].as_array().unwrap().clone();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|e| e["actor"] == "user:ada"),
        "{events:#?}"
    );
    assert!(events
        .iter()
        .any(|e| e["action"] == "token.create" && e["detail"]["name"] == "laptop"));

    let owner = s.get(&s.owner, "/v1/audit").await.json();
    let events = owner["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["actor"] == "system" && e["action"] == "token.create"),
        "the first start's owner token: {events:#?}"
    );
    assert!(events.iter().all(|e| e["actor"] != "user:ada"));
    assert!(events.iter().all(|e| e["action"] != "secret.put"));

    // Not for service tokens; their account-level refusal goes to their workspace.
    let svc = s.service_token("ci", "admin").await;
    s.get(&svc, "/v1/audit")
        .await
        .assert_error(403, "forbidden");
    let rows = audit_rows(&s).await;
    assert!(
        rows.iter()
            .any(|r| r["action"] == "audit.read" && r["outcome"] == "denied:forbidden"),
        "{rows:#?}"
    );
    assert_eq!(s.get(&ada, "/v1/audit?limit=0").await.status, 400);
}
