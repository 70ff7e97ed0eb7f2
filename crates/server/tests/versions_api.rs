//! Version states and per-secret settings over the native API, against a real
//! server: soft delete and undelete, destroy (ciphertext gone, metadata kept),
//! bound secrets, check-and-set, per-secret `max_versions`, `delete_version_after`
//! on the injectable clock, labels, roles and runs, and version numbers that are
//! never reused.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{Resp, TestServer};

fn path(name: &str, rest: &str) -> String {
    format!("{}{rest}", TestServer::secret_path(name))
}

async fn versions_op(s: &TestServer, token: &str, name: &str, op: &str, versions: Value) -> Resp {
    s.call(
        token,
        Method::POST,
        &path(name, &format!("/versions/{op}")),
        Some(json!({ "versions": versions })),
    )
    .await
}

async fn settings(s: &TestServer, token: &str, name: &str, body: Value) -> Resp {
    s.call(token, Method::PATCH, &path(name, "/settings"), Some(body))
        .await
}

async fn ws_settings(s: &TestServer, body: Value) -> Value {
    let r = s
        .call(
            &s.owner,
            Method::PATCH,
            "/v1/workspaces/default/settings",
            Some(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()
}

async fn put_ok(s: &TestServer, name: &str, value: &str) -> u64 {
    let r = s.put(&s.owner, name, json!({ "value": value })).await;
    assert!(r.status == 200 || r.status == 201, "{}", r.text);
    r.json()["version"].as_u64().unwrap()
}

async fn reveal_version(s: &TestServer, name: &str, version: u64) -> Resp {
    s.call(
        &s.owner,
        Method::POST,
        &path(name, &format!("/reveal?version={version}")),
        None,
    )
    .await
}

async fn versions(s: &TestServer, name: &str) -> Vec<Value> {
    let r = s.get(&s.owner, &path(name, "/versions")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["versions"].as_array().unwrap().clone()
}

fn version_of(list: &[Value], n: u64) -> &Value {
    list.iter()
        .find(|v| v["version"] == n)
        .unwrap_or_else(|| panic!("version {n} listed in {list:?}"))
}

async fn audit_actions(s: &TestServer) -> Vec<(String, String)> {
    let r = s.get(&s.owner, "/v1/workspaces/default/audit").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn soft_delete_hides_the_value_until_undeleted() {
    let s = TestServer::start().await;
    put_ok(&s, "app/db", "first-value-A1").await;
    put_ok(&s, "app/db", "second-value-B2").await;

    let r = versions_op(&s, &s.owner, "app/db", "delete", json!([])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = r.json()["versions"].as_array().unwrap().clone();
    assert!(version_of(&listed, 2)["deleted_at"].is_string());
    assert!(version_of(&listed, 1)["deleted_at"].is_null());

    // The current version is deleted: reveal is not_found, never the value.
    let r = s.reveal(&s.owner, "app/db").await;
    r.assert_error(404, "not_found");
    assert!(r.text.contains("deleted") && !r.text.contains("second-value"));
    r.assert_error(404, "not_found");
    reveal_version(&s, "app/db", 2)
        .await
        .assert_error(404, "not_found");
    // Older versions still read; metadata and lists still show the secret.
    let r = reveal_version(&s, "app/db", 1).await;
    assert_eq!(r.json()["value"], "first-value-A1", "{}", r.text);
    let meta = s.get(&s.owner, &path("app/db", "")).await.json();
    assert_eq!(
        (meta["current_deleted"].clone(), meta["version"].clone()),
        (json!(true), json!(2))
    );
    let list = s
        .get(&s.owner, "/v1/workspaces/default/secrets")
        .await
        .json();
    assert_eq!(list["secrets"][0]["current_deleted"], true);
    // A patch reads the current value: refused as well.
    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, path("app/db", "")))
                .bearer_auth(&s.owner)
                .header("content-type", "application/merge-patch+json")
                .body(json!({"k": "v"}).to_string()),
        )
        .await;
    r.assert_error(404, "not_found");
    // A run cannot get a reference to it.
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
        "/v1/run/secrets/get",
        Some(json!({"name": "app/db", "scope": "workspace"})),
    )
    .await
    .assert_error(404, "not_found");

    // Undelete brings it back.
    let r = versions_op(&s, &s.owner, "app/db", "undelete", json!([2])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s.reveal(&s.owner, "app/db").await;
    assert_eq!(r.json()["value"], "second-value-B2", "{}", r.text);
    let meta = s.get(&s.owner, &path("app/db", "")).await.json();
    assert_eq!(meta["current_deleted"], false);

    let actions = audit_actions(&s).await;
    for a in ["secret.delete_versions", "secret.undelete_versions"] {
        assert!(
            actions.contains(&(a.to_owned(), "ok".to_owned())),
            "{a} in {actions:?}"
        );
    }
    // Unknown operations and numbers.
    versions_op(&s, &s.owner, "app/db", "shred", json!([1]))
        .await
        .assert_error(404, "not_found");
    let r = versions_op(&s, &s.owner, "app/db", "delete", json!([77])).await;
    assert_eq!(r.status, 200, "unknown versions are ignored: {}", r.text);
    versions_op(&s, &s.owner, "app/db", "delete", json!([-1]))
        .await
        .assert_error(400, "invalid");
    versions_op(&s, &s.owner, "missing", "delete", json!([]))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn destroy_removes_the_ciphertext_and_keeps_the_metadata() {
    let mut s = TestServer::start().await;
    put_ok(&s, "doomed", "destroy-me-value-7Q").await;
    put_ok(&s, "doomed", "keep-me-value-8R").await;
    let sealed_of = |s: &TestServer, v: i64| {
        let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
        db.query_row(
            "SELECT sealed FROM secret_versions v JOIN secrets s ON s.id = v.secret_id \
             WHERE s.name = 'doomed' AND v.version = ?",
            [v],
            |r| r.get::<_, Vec<u8>>(0),
        )
        .unwrap()
    };
    let before = sealed_of(&s, 1);
    assert!(before.len() > 16);
    let fingerprint = version_of(&versions(&s, "doomed").await, 1)["fingerprint"].clone();

    let r = versions_op(&s, &s.owner, "doomed", "destroy", json!([1])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let listed = r.json()["versions"].as_array().unwrap().clone();
    let v1 = version_of(&listed, 1);
    assert_eq!(v1["destroyed"], true);
    assert_eq!(v1["fingerprint"], fingerprint, "metadata stays");
    assert_eq!(version_of(&listed, 2)["destroyed"], false);
    assert!(sealed_of(&s, 1).is_empty());

    let r = reveal_version(&s, "doomed", 1).await;
    r.assert_error(404, "not_found");
    assert!(r.text.contains("destroyed"), "{}", r.text);
    // Undelete cannot bring it back; the current version is untouched.
    versions_op(&s, &s.owner, "doomed", "undelete", json!([1])).await;
    reveal_version(&s, "doomed", 1)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        s.reveal(&s.owner, "doomed").await.json()["value"],
        "keep-me-value-8R"
    );
    // Rolling back to it is not a way around.
    s.call(
        &s.owner,
        Method::POST,
        &path("doomed", "/rollback"),
        Some(json!({"version": 1})),
    )
    .await
    .assert_error(404, "not_found");
    assert!(audit_actions(&s)
        .await
        .contains(&("secret.destroy_versions".to_owned(), "ok".to_owned())));

    // The old ciphertext is nowhere in the data directory (database or WAL),
    // neither while the server runs nor after it stops.
    let scan = |s: &TestServer| {
        for entry in std::fs::read_dir(s.data_dir()).unwrap() {
            let f = entry.unwrap().path();
            let bytes = std::fs::read(&f).unwrap_or_default();
            assert!(
                !bytes.windows(before.len()).any(|w| w == before.as_slice()),
                "{} still holds the destroyed ciphertext",
                f.display()
            );
        }
    };
    scan(&s);
    s.stop().await;
    scan(&s);
}

#[tokio::test]
async fn a_bound_secret_keeps_its_versions() {
    let s = TestServer::start().await;
    put_ok(&s, "crm/key", "crm-key-value-1").await;
    let r = s
        .call(
            &s.owner,
            Method::PUT,
            "/v1/workspaces/default/bindings/crm-sync",
            Some(json!({"bindings": [{"secret": "crm/key", "location": "node 3"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for op in ["delete", "destroy"] {
        let r = versions_op(&s, &s.owner, "crm/key", op, json!([])).await;
        r.assert_error(409, "secret_in_use");
        assert!(r.text.contains("crm-sync"), "{}", r.text);
    }
    assert_eq!(
        s.reveal(&s.owner, "crm/key").await.json()["value"],
        "crm-key-value-1"
    );
    assert!(audit_actions(&s)
        .await
        .iter()
        .any(|(a, o)| a == "secret.destroy_versions" && o.starts_with("denied:secret_in_use")));
    // Undelete is harmless and allowed.
    let r = versions_op(&s, &s.owner, "crm/key", "undelete", json!([])).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn cas_required_refuses_blind_writes() {
    let s = TestServer::start().await;
    put_ok(&s, "one", "value-one-1").await;
    let w = ws_settings(&s, json!({"cas_required": true})).await;
    assert_eq!(w["cas_required"], true);

    let r = s
        .put(&s.owner, "one", json!({"value": "blind-write"}))
        .await;
    r.assert_error(400, "invalid");
    assert!(
        r.text.contains("check-and-set parameter required"),
        "{}",
        r.text
    );
    assert!(audit_actions(&s)
        .await
        .contains(&("secret.put".to_owned(), "denied:invalid".to_owned())));
    let r = s
        .put(&s.owner, "new", json!({"value": "blind-create"}))
        .await;
    r.assert_error(400, "invalid");
    // Naming the version, or creating only, is accepted.
    let r = s
        .raw(
            s.http
                .put(format!("{}{}", s.url, TestServer::secret_path("one")))
                .bearer_auth(&s.owner)
                .header("if-match", "\"1\"")
                .json(&json!({"value": "value-one-2"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .raw(
            s.http
                .put(format!("{}{}", s.url, TestServer::secret_path("new")))
                .bearer_auth(&s.owner)
                .header("if-none-match", "*")
                .json(&json!({"value": "created"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // A stale version is still a mismatch, even with the current one soft-deleted.
    versions_op(&s, &s.owner, "one", "delete", json!([])).await;
    let r = s
        .raw(
            s.http
                .put(format!("{}{}", s.url, TestServer::secret_path("one")))
                .bearer_auth(&s.owner)
                .header("if-match", "\"1\"")
                .json(&json!({"value": "stale"})),
        )
        .await;
    r.assert_error(412, "version_mismatch");
    let r = s
        .raw(
            s.http
                .put(format!("{}{}", s.url, TestServer::secret_path("one")))
                .bearer_auth(&s.owner)
                .header("if-match", "\"2\"")
                .json(&json!({"value": "value-one-3"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // Per secret, with the workspace setting off.
    ws_settings(&s, json!({"cas_required": false})).await;
    put_ok(&s, "free", "free-1").await;
    put_ok(&s, "guarded", "guarded-1").await;
    let r = settings(&s, &s.owner, "guarded", json!({"cas_required": true})).await;
    assert_eq!(r.json()["cas_required"], true, "{}", r.text);
    s.put(&s.owner, "guarded", json!({"value": "blind"}))
        .await
        .assert_error(400, "invalid");
    put_ok(&s, "free", "free-2").await;
    // A patch is a write too.
    let patch = |if_match: Option<&str>| {
        let mut req = s
            .http
            .patch(format!("{}{}", s.url, TestServer::secret_path("guarded")))
            .bearer_auth(&s.owner)
            .header("content-type", "application/merge-patch+json")
            .body(json!({"k": "v"}).to_string());
        if let Some(m) = if_match {
            req = req.header("if-match", m);
        }
        s.raw(req)
    };
    let r = patch(None).await;
    r.assert_error(400, "invalid");
    assert!(
        r.text.contains("check-and-set parameter required"),
        "{}",
        r.text
    );
    assert_eq!(patch(Some("\"1\"")).await.status, 200);
}

#[tokio::test]
async fn per_secret_max_versions_prunes_on_the_next_write() {
    let s = TestServer::start().await;
    for i in 1..=4 {
        put_ok(&s, "rotating", &format!("rot-{i}")).await;
    }
    assert_eq!(versions(&s, "rotating").await.len(), 4);
    let r = settings(&s, &s.owner, "rotating", json!({"max_versions": 2})).await;
    assert_eq!(r.json()["max_versions"], 2, "{}", r.text);
    // Lowering it prunes on the next write, as Vault does.
    assert_eq!(versions(&s, "rotating").await.len(), 4);
    put_ok(&s, "rotating", "rot-5").await;
    let kept: Vec<u64> = versions(&s, "rotating")
        .await
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(kept, [5, 4]);
    reveal_version(&s, "rotating", 3)
        .await
        .assert_error(404, "not_found");
    // Other secrets keep the workspace's 10.
    for i in 1..=4 {
        put_ok(&s, "other", &format!("o-{i}")).await;
    }
    assert_eq!(versions(&s, "other").await.len(), 4);
    // 0 falls back to the workspace setting; out of range is refused.
    let r = settings(&s, &s.owner, "rotating", json!({"max_versions": 0})).await;
    assert!(r.json()["max_versions"].is_null(), "{}", r.text);
    settings(&s, &s.owner, "rotating", json!({"max_versions": 1001}))
        .await
        .assert_error(400, "invalid");
}

#[tokio::test]
async fn delete_version_after_makes_versions_read_as_deleted() {
    let s = TestServer::start().await;
    let w = ws_settings(&s, json!({"delete_version_after": 60})).await;
    assert_eq!(w["delete_version_after"], 60);
    put_ok(&s, "short", "short-lived-1").await;
    assert_eq!(s.reveal(&s.owner, "short").await.status, 200);
    let v = versions(&s, "short").await;
    assert!(v[0]["deleted_at"].is_string(), "scheduled: {v:?}");
    s.clock.advance_seconds(59);
    assert_eq!(s.reveal(&s.owner, "short").await.status, 200);
    s.clock.advance_seconds(2);
    s.reveal(&s.owner, "short")
        .await
        .assert_error(404, "not_found");
    let meta = s.get(&s.owner, &path("short", "")).await.json();
    assert_eq!(meta["current_deleted"], true);
    // Undelete clears the schedule for that version.
    versions_op(&s, &s.owner, "short", "undelete", json!([])).await;
    assert_eq!(s.reveal(&s.owner, "short").await.status, 200);
    s.clock.advance_seconds(3600);
    assert_eq!(s.reveal(&s.owner, "short").await.status, 200);

    // A per-secret override wins; 0 turns the workspace's off.
    ws_settings(&s, json!({"delete_version_after": 0})).await;
    put_ok(&s, "never", "never-1").await;
    s.clock.advance_seconds(86_400);
    assert_eq!(s.reveal(&s.owner, "never").await.status, 200);
    settings(&s, &s.owner, "never", json!({"delete_version_after": 5})).await;
    put_ok(&s, "never", "never-2").await;
    s.clock.advance_seconds(6);
    s.reveal(&s.owner, "never")
        .await
        .assert_error(404, "not_found");
    assert_eq!(reveal_version(&s, "never", 1).await.status, 200);
    // Out of range is refused, with a code.
    s.call(
        &s.owner,
        Method::PATCH,
        "/v1/workspaces/default/settings",
        Some(json!({"delete_version_after": 400_000_000u64})),
    )
    .await
    .assert_error(400, "invalid");
}

#[tokio::test]
async fn labels_round_trip_and_reserved_keys_are_refused() {
    let s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "labelled",
            json!({"value": "v-1", "labels": {"team": "payments ✓", "env": "prod"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json()["labels"],
        json!({"team": "payments ✓", "env": "prod"})
    );
    // A write without labels keeps them.
    put_ok(&s, "labelled", "v-2").await;
    let meta = s.get(&s.owner, &path("labelled", "")).await.json();
    assert_eq!(meta["labels"]["team"], "payments ✓");
    // Settings replace them.
    let r = settings(
        &s,
        &s.owner,
        "labelled",
        json!({"labels": {"owner": "ops"}}),
    )
    .await;
    assert_eq!(r.json()["labels"], json!({"owner": "ops"}), "{}", r.text);
    assert_eq!(r.json()["version"], 2, "settings are not a version");
    // Reserved keys, however spelled, and bad shapes are refused.
    for labels in [
        json!({"lockbox.description": "x"}),
        json!({"LOCKBOX.visibility": "x"}),
        json!({"": "x"}),
        json!({"k": "a\u{0}b"}),
    ] {
        settings(&s, &s.owner, "labelled", json!({ "labels": labels }))
            .await
            .assert_error(400, "invalid");
        s.put(
            &s.owner,
            "labelled",
            json!({"value": "v", "labels": labels}),
        )
        .await
        .assert_error(400, "invalid");
    }
    settings(&s, &s.owner, "labelled", json!({"labels": {"n": 1}}))
        .await
        .assert_error(400, "invalid");
    let meta = s.get(&s.owner, &path("labelled", "")).await.json();
    assert_eq!(meta["labels"], json!({"owner": "ops"}));
    assert_eq!(meta["version"], 2);
    // Settings changes are audited, naming label keys, never more.
    let r = s.get(&s.owner, "/v1/workspaces/default/audit").await;
    let events = r.json()["events"].as_array().unwrap().clone();
    let set = events
        .iter()
        .find(|e| e["action"] == "secret.settings" && e["outcome"] == "ok")
        .expect("secret.settings audited");
    assert_eq!(set["target"], "labelled");
    assert_eq!(set["detail"]["labels"], json!(["owner"]));
    assert!(!set.to_string().contains("\"ops\""), "{set}");
}

#[tokio::test]
async fn roles_and_runs_follow_the_matrix() {
    let s = TestServer::start().await;
    put_ok(&s, "guarded", "guarded-value-1").await;
    let viewer = s.member("vera", "viewer").await;
    let editor = s.member("eddie", "editor").await;
    let admin = s.member("ada", "admin").await;
    for token in [&viewer, &editor] {
        for op in ["delete", "undelete", "destroy"] {
            versions_op(&s, token, "guarded", op, json!([]))
                .await
                .assert_error(403, "forbidden");
        }
        settings(&s, token, "guarded", json!({"cas_required": true}))
            .await
            .assert_error(403, "forbidden");
    }
    // Workspace settings are the owner's.
    s.call(
        &admin,
        Method::PATCH,
        "/v1/workspaces/default/settings",
        Some(json!({"cas_required": true})),
    )
    .await
    .assert_error(403, "forbidden");
    assert_eq!(s.reveal(&s.owner, "guarded").await.status, 200);
    // Admins may.
    let r = versions_op(&s, &admin, "guarded", "delete", json!([])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = versions_op(&s, &admin, "guarded", "undelete", json!([])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = settings(&s, &admin, "guarded", json!({"labels": {"a": "b"}})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    // A run may delete and write (the matrix's run column), never reveal.
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
    let r = versions_op(&s, &run, "guarded", "delete", json!([])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = versions_op(&s, &run, "guarded", "undelete", json!([])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.reveal(&run, "guarded")
        .await
        .assert_error(403, "forbidden");
    // Denials are audited.
    assert!(audit_actions(&s)
        .await
        .iter()
        .any(|(_, o)| o.starts_with("denied:forbidden")));
    // Another user's private scope is out of reach.
    let r = s.put(&s.owner, "guarded", json!({"value": "x"})).await;
    assert_eq!(r.status, 200);
    let mine = s
        .call(
            &admin,
            Method::PUT,
            &format!("{}?scope=user", TestServer::secret_path("private")),
            Some(json!({"value": "admin-private-1"})),
        )
        .await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    s.call(
        &s.owner,
        Method::POST,
        &format!("{}?scope=user", path("private", "/versions/destroy")),
        Some(json!({"versions": [1]})),
    )
    .await
    .assert_error(404, "not_found");
    let r = s
        .call(
            &admin,
            Method::POST,
            &format!("{}?scope=user", path("private", "/reveal")),
            None,
        )
        .await;
    assert_eq!(r.json()["value"], "admin-private-1", "{}", r.text);
}

#[tokio::test]
async fn version_numbers_are_never_reused() {
    let s = TestServer::start().await;
    assert_eq!(put_ok(&s, "counter", "c-1").await, 1);
    assert_eq!(put_ok(&s, "counter", "c-2").await, 2);
    versions_op(&s, &s.owner, "counter", "delete", json!([2])).await;
    assert_eq!(put_ok(&s, "counter", "c-3").await, 3);
    versions_op(&s, &s.owner, "counter", "destroy", json!([3])).await;
    assert_eq!(put_ok(&s, "counter", "c-4").await, 4);
    // Rollback writes a new version equal to the old one.
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &path("counter", "/rollback"),
            Some(json!({"version": 1})),
        )
        .await;
    assert_eq!(r.json()["version"], 5, "{}", r.text);
    assert_eq!(s.reveal(&s.owner, "counter").await.json()["value"], "c-1");
    // Rolling back to a soft-deleted version is refused.
    s.call(
        &s.owner,
        Method::POST,
        &path("counter", "/rollback"),
        Some(json!({"version": 2})),
    )
    .await
    .assert_error(404, "not_found");
    let listed: Vec<u64> = versions(&s, "counter")
        .await
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(listed, [5, 4, 3, 2, 1]);
    // Deleting the whole secret and writing the name again starts over.
    let r = s
        .call(&s.owner, Method::DELETE, &path("counter", ""), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(put_ok(&s, "counter", "again").await, 1);
}

#[tokio::test]
async fn backup_and_restore_carry_version_states_and_settings() {
    let mut s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "kept",
            json!({"value": "kept-1", "labels": {"team": "ops"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    put_ok(&s, "kept", "kept-2").await;
    put_ok(&s, "kept", "kept-3").await;
    settings(
        &s,
        &s.owner,
        "kept",
        json!({"cas_required": true, "max_versions": 5, "delete_version_after": 3600}),
    )
    .await;
    versions_op(&s, &s.owner, "kept", "destroy", json!([1])).await;
    versions_op(&s, &s.owner, "kept", "delete", json!([3])).await;
    ws_settings(&s, json!({"delete_version_after": 7200})).await;
    let meta_before = s.get(&s.owner, &path("kept", "")).await.json();
    let versions_before = versions(&s, "kept").await;
    s.stop().await;

    let backup = s.dir.path().join("lockbox.backup");
    let src = lockbox_service::admin::Location {
        data_dir: s.data_dir(),
        database: None,
    };
    lockbox_service::admin::backup(&src, &backup, &lockbox_service::admin::NoProgress)
        .await
        .unwrap();
    let restored = tempfile::tempdir().unwrap();
    let dst_dir = restored.path().join("data");
    std::fs::create_dir_all(&dst_dir).unwrap();
    std::fs::copy(s.data_dir().join("master.key"), dst_dir.join("master.key")).unwrap();
    let dst = lockbox_service::admin::Location {
        data_dir: dst_dir.clone(),
        database: None,
    };
    lockbox_service::admin::restore(&dst, &backup, &lockbox_service::admin::NoProgress)
        .await
        .unwrap();
    let server = lockbox_server::start_with_clock(
        lockbox_server::ServerConfig {
            data_dir: dst_dir,
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        },
        std::sync::Arc::new(s.clock.clone()),
    )
    .await
    .unwrap();
    let url = server.url();
    let get = |p: String| {
        let http = s.http.clone();
        let (url, owner) = (url.clone(), s.owner.clone());
        async move {
            let r = http
                .get(format!("{url}{p}"))
                .bearer_auth(owner)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (st, meta) = get(path("kept", "")).await;
    assert_eq!(st, 200);
    assert_eq!(meta, meta_before);
    assert_eq!(meta["labels"], json!({"team": "ops"}));
    assert_eq!(meta["current_deleted"], true);
    let (_, v) = get(path("kept", "/versions")).await;
    assert_eq!(v["versions"].as_array().unwrap(), &versions_before);
    let (_, w) = get("/v1/workspaces/default/settings".into()).await;
    assert_eq!(w["delete_version_after"], 7200);
    // Version 2 still reveals; 1 stays destroyed and 3 deleted.
    let reveal = |v: u64| {
        let http = s.http.clone();
        let (url, owner) = (url.clone(), s.owner.clone());
        async move {
            let r = http
                .post(format!(
                    "{url}{}",
                    path("kept", &format!("/reveal?version={v}"))
                ))
                .bearer_auth(owner)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    assert_eq!(
        reveal(2).await,
        (200, json!({"value": "kept-2", "version": 2}))
    );
    assert_eq!(reveal(1).await.0, 404);
    assert_eq!(reveal(3).await.0, 404);
    server.stop().await;
}

#[tokio::test]
async fn the_openapi_document_lists_the_new_routes() {
    let s = TestServer::start().await;
    let doc = s
        .raw(s.http.get(format!("{}/openapi.json", s.url)))
        .await
        .json();
    let paths = &doc["paths"];
    assert!(paths["/v1/workspaces/{ws}/secrets/{name}/versions/{op}"]["post"].is_object());
    assert!(paths["/v1/workspaces/{ws}/secrets/{name}/settings"]["patch"].is_object());
}

#[tokio::test]
async fn settings_change_the_description_without_a_new_version() {
    let s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "described",
            json!({"value": "v-1", "description": "first"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = settings(&s, &s.owner, "described", json!({"description": "second"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["description"], "second");
    assert_eq!(r.json()["version"], 1, "a description is not a version");
    // Omitted keeps it; "" clears it.
    let r = settings(&s, &s.owner, "described", json!({"cas_required": false})).await;
    assert_eq!(r.json()["description"], "second");
    let r = settings(&s, &s.owner, "described", json!({"description": ""})).await;
    assert_eq!(r.json()["description"], serde_json::Value::Null);
    // Bad text is refused; a viewer may not change it.
    settings(&s, &s.owner, "described", json!({"description": "a\u{0}b"}))
        .await
        .assert_error(400, "invalid");
    let viewer = s.member("vic", "viewer").await;
    settings(&s, &viewer, "described", json!({"description": "x"}))
        .await
        .assert_error(403, "forbidden");
}
