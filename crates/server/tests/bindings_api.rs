//! Bindings (seed 003): a secret a flow uses is not deleted by accident; `force`
//! deletes it anyway and says so in the audit log; dropping the use frees it.

mod support;

use reqwest::Method;
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn a_bound_secret_refuses_deletion_until_forced_or_freed() {
    let s = TestServer::start().await;
    s.put(&s.owner, "crm/key", json!({"value": "crm-key-value-1"}))
        .await;
    s.put(&s.owner, "other", json!({"value": "other-value-1"}))
        .await;
    let r = s
        .call(
            &s.owner,
            Method::PUT,
            "/v1/workspaces/default/bindings/crm-sync",
            Some(
                json!({"bindings": [{"secret": "crm/key", "location": "node 3 / Authorization"}]}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let meta = s
        .get(&s.owner, &TestServer::secret_path("crm/key"))
        .await
        .json();
    assert_eq!(
        meta["bindings"],
        json!([{"owner": "crm-sync", "location": "node 3 / Authorization"}])
    );
    let list = s
        .get(&s.owner, "/v1/workspaces/default/secrets")
        .await
        .json();
    assert!(
        list["secrets"][0].get("bindings").is_none(),
        "lists stay light"
    );

    let path = TestServer::secret_path("crm/key");
    let r = s.call(&s.owner, Method::DELETE, &path, None).await;
    r.assert_error(409, "secret_in_use");
    assert!(r.json()["message"].as_str().unwrap().contains("crm-sync"));
    // A run cannot delete it either.
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
    s.call(
        &run,
        Method::POST,
        "/v1/run/secrets/delete",
        Some(json!({"name": "crm/key", "scope": "workspace"})),
    )
    .await
    .assert_error(409, "secret_in_use");
    // Unbound secrets delete as before.
    assert_eq!(
        s.call(
            &s.owner,
            Method::DELETE,
            &TestServer::secret_path("other"),
            None
        )
        .await
        .status,
        200
    );

    // Freed by dropping the use.
    s.call(
        &s.owner,
        Method::PUT,
        "/v1/workspaces/default/bindings/crm-sync",
        Some(json!({"bindings": []})),
    )
    .await;
    let meta = s.get(&s.owner, &path).await.json();
    assert_eq!(meta["bindings"], json!([]));

    // Forced deletion, audited as such.
    s.call(
        &s.owner,
        Method::PUT,
        "/v1/workspaces/default/bindings/crm-sync",
        Some(json!({"bindings": [{"secret": "crm/key", "location": "node 3"}]})),
    )
    .await;
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            &format!("{path}?force=true"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let log = s.get(&s.owner, "/v1/workspaces/default/audit").await.json();
    let del = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["action"] == "secret.delete" && e["outcome"] == "ok" && e["target"] == "crm/key"
        })
        .cloned()
        .unwrap();
    assert_eq!(del["detail"]["forced"], true);
    assert_eq!(del["detail"]["bindings"], json!(["crm-sync"]));
    assert!(log["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["outcome"] == "denied:secret_in_use"));

    // Who may declare, and what.
    let editor = s.member("eddie", "editor").await;
    s.call(
        &editor,
        Method::PUT,
        "/v1/workspaces/default/bindings/x",
        Some(json!({"bindings": []})),
    )
    .await
    .assert_error(403, "forbidden");
    s.call(
        &s.owner,
        Method::PUT,
        "/v1/workspaces/default/bindings/flow%3Ax",
        Some(json!({"bindings": []})),
    )
    .await
    .assert_error(400, "invalid");
    s.call(
        &s.owner,
        Method::PUT,
        "/v1/workspaces/default/bindings/x",
        Some(json!({"bindings": [{"secret": "", "location": "l"}]})),
    )
    .await
    .assert_error(400, "invalid");
}
