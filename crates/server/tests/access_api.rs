//! Roles, members, tokens, workspaces and the audit log over HTTP: every role
//! against every secret action, delegation limits, revocation, crypto-shredding.

mod support;

use reqwest::Method;
use serde_json::json;
use support::TestServer;

/// What each role may do to a workspace-scoped secret, as docs/api.md's role table says.
#[tokio::test]
async fn every_role_meets_the_matrix_over_http() {
    let s = TestServer::start().await;
    let admin = s.member("ada", "admin").await;
    let editor = s.member("eddie", "editor").await;
    let viewer = s.member("vera", "viewer").await;
    s.put(&s.owner, "masked", json!({"value": "masked-value-1"}))
        .await;
    s.put(
        &s.owner,
        "restricted",
        json!({"value": "restricted-value-1", "visibility": "restricted"}),
    )
    .await;

    // (token, role, may write/delete, may reveal masked, may read audit, may change settings)
    let cases = [
        (&s.owner, "owner", true, true, true, true),
        (&admin, "admin", true, true, true, false),
        (&editor, "editor", false, true, false, false),
        (&viewer, "viewer", false, false, false, false),
    ];
    for (token, role, write, reveal, audit, settings) in cases {
        // Everyone lists and reads metadata.
        assert_eq!(
            s.get(token, "/v1/workspaces/default/secrets").await.status,
            200,
            "{role} list"
        );
        assert_eq!(
            s.get(token, &TestServer::secret_path("masked"))
                .await
                .status,
            200,
            "{role} meta"
        );
        let name = format!("made-by-{role}");
        let r = s
            .put(token, &name, json!({"value": "some-value-123"}))
            .await;
        if write {
            assert_eq!(r.status, 201, "{role} put: {}", r.text);
        } else {
            r.assert_error(403, "forbidden");
        }
        let r = s
            .put(token, "masked", json!({"value": "changed-by-someone"}))
            .await;
        assert_eq!(r.status == 200, write, "{role} update: {}", r.text);
        let r = s.reveal(token, "masked").await;
        if reveal {
            assert_eq!(r.status, 200, "{role} reveal");
        } else {
            r.assert_error(403, "forbidden");
        }
        s.reveal(token, "restricted")
            .await
            .assert_error(403, "forbidden");
        let r = s.get(token, "/v1/workspaces/default/audit").await;
        assert_eq!(r.status == 200, audit, "{role} audit: {}", r.text);
        let r = s
            .call(
                token,
                Method::PATCH,
                "/v1/workspaces/default/settings",
                Some(json!({"max_versions": 5})),
            )
            .await;
        assert_eq!(r.status == 200, settings, "{role} settings: {}", r.text);
        let r = s
            .call(token, Method::DELETE, &TestServer::secret_path(&name), None)
            .await;
        if write {
            assert_eq!(r.status, 200, "{role} delete");
        } else {
            assert!(
                r.status == 403 || r.status == 404,
                "{role} delete: {}",
                r.text
            );
        }
    }
    // Refusals are audited.
    let log = s
        .get(&s.owner, "/v1/workspaces/default/audit?limit=1000")
        .await
        .json();
    let denied = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"].as_str().unwrap().starts_with("denied:"))
        .count();
    assert!(denied >= 8, "denied attempts are audited: {denied}");
}

#[tokio::test]
async fn admins_manage_members_only_below_owner_and_one_owner_stays() {
    let s = TestServer::start().await;
    let admin = s.member("ada", "admin").await;
    let members = "/v1/workspaces/default/members";
    let r = s
        .call(
            &admin,
            Method::POST,
            members,
            Some(json!({"user": "newbie", "role": "editor"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert!(r.json()["token"].as_str().unwrap().starts_with("lbx_"));
    s.call(
        &admin,
        Method::POST,
        members,
        Some(json!({"user": "boss", "role": "owner"})),
    )
    .await
    .assert_error(403, "forbidden");
    s.call(
        &admin,
        Method::PUT,
        &format!("{members}/owner"),
        Some(json!({"role": "viewer"})),
    )
    .await
    .assert_error(403, "forbidden");
    s.call(&admin, Method::DELETE, &format!("{members}/owner"), None)
        .await
        .assert_error(403, "forbidden");
    let r = s
        .call(
            &admin,
            Method::PUT,
            &format!("{members}/newbie"),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(r.json()["role"], "viewer");
    s.call(
        &admin,
        Method::POST,
        members,
        Some(json!({"user": "newbie", "role": "viewer"})),
    )
    .await
    .assert_error(409, "conflict");
    // The last owner can neither be demoted nor removed.
    s.call(
        &s.owner,
        Method::PUT,
        &format!("{members}/owner"),
        Some(json!({"role": "admin"})),
    )
    .await
    .assert_error(409, "conflict");
    s.call(&s.owner, Method::DELETE, &format!("{members}/owner"), None)
        .await
        .assert_error(409, "conflict");
    s.call(
        &s.owner,
        Method::POST,
        members,
        Some(json!({"user": "Bad Name", "role": "viewer"})),
    )
    .await
    .assert_error(400, "invalid");
    s.call(
        &s.owner,
        Method::POST,
        members,
        Some(json!({"user": "x", "role": "root"})),
    )
    .await
    .assert_error(400, "invalid");
    let list = s.get(&s.owner, members).await.json();
    let users: Vec<&str> = list["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["ada", "newbie", "owner"]);
}

#[tokio::test]
async fn removing_a_member_locks_them_out_at_once() {
    let s = TestServer::start().await;
    let eddie = s.member("eddie", "editor").await;
    assert_eq!(
        s.get(&eddie, "/v1/workspaces/default/secrets").await.status,
        200
    );
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            "/v1/workspaces/default/members/eddie",
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    s.get(&eddie, "/v1/workspaces/default/secrets")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn service_tokens_are_prefixed_scoped_and_revocable() {
    let s = TestServer::start().await;
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "ci", "workspace": "default", "role": "editor"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    let token = created["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("lbx_") && token.len() == 47);
    let me = s.get(&token, "/v1/me").await.json();
    assert_eq!(me["kind"], "service");
    assert_eq!(
        me["workspaces"][0],
        json!({"name": "default", "role": "editor"})
    );
    let list = s.get(&s.owner, "/v1/tokens").await;
    assert!(list.text.contains("\"ci\""));
    assert!(!list.text.contains(&token), "listing never shows a token");
    s.put(&token, "x", json!({"value": "editor-cannot"}))
        .await
        .assert_error(403, "forbidden");

    let id = created["id"].as_str().unwrap();
    let r = s
        .call(&s.owner, Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await;
    assert_eq!(r.json(), json!({"revoked": true}));
    s.get(&token, "/v1/me")
        .await
        .assert_error(401, "unauthenticated");
    s.call(&s.owner, Method::DELETE, &format!("/v1/tokens/{id}"), None)
        .await
        .assert_error(404, "not_found");

    // An admin cannot mint an owner token; a viewer cannot mint any.
    let admin = s.member("ada", "admin").await;
    let viewer = s.member("vera", "viewer").await;
    s.call(
        &admin,
        Method::POST,
        "/v1/tokens",
        Some(json!({"name": "x", "workspace": "default", "role": "owner"})),
    )
    .await
    .assert_error(403, "forbidden");
    s.call(
        &viewer,
        Method::POST,
        "/v1/tokens",
        Some(json!({"name": "x", "workspace": "default", "role": "viewer"})),
    )
    .await
    .assert_error(403, "forbidden");
    s.call(
        &s.owner,
        Method::POST,
        "/v1/tokens",
        Some(json!({"name": "x", "workspace": "default"})),
    )
    .await
    .assert_error(400, "invalid");
}

#[tokio::test]
async fn tokens_expire_and_personal_tokens_act_as_their_user() {
    let s = TestServer::start().await;
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/tokens",
            Some(json!({"name": "laptop", "ttl": 60})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let t = r.json()["token"].as_str().unwrap().to_owned();
    let me = s.get(&t, "/v1/me").await.json();
    assert_eq!(
        (me["kind"].as_str(), me["user"].as_str()),
        (Some("personal"), Some("owner"))
    );
    s.clock.advance_seconds(61);
    s.get(&t, "/v1/me")
        .await
        .assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn bad_credentials_are_401_without_detail() {
    let s = TestServer::start().await;
    let r = s.raw(s.http.get(format!("{}/v1/me", s.url))).await;
    r.assert_error(401, "unauthenticated");
    assert!(r.headers.contains_key("www-authenticate"));
    s.get("lbx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/v1/me")
        .await
        .assert_error(401, "unauthenticated");
    s.get("not-a-token", "/v1/me")
        .await
        .assert_error(401, "unauthenticated");
    let r = s
        .raw(
            s.http
                .get(format!("{}/v1/me", s.url))
                .header("authorization", "Basic Zm9vOmJhcg=="),
        )
        .await;
    r.assert_error(401, "unauthenticated");
}

#[tokio::test]
async fn other_workspaces_are_invisible() {
    let s = TestServer::start().await;
    let r = s
        .call(
            &s.owner,
            Method::POST,
            "/v1/workspaces",
            Some(json!({"name": "team-b"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    s.call(
        &s.owner,
        Method::PUT,
        "/v1/workspaces/team-b/secrets/k",
        Some(json!({"value": "team-b-value"})),
    )
    .await;
    let outsider = s.member("olga", "owner").await; // owner of default only
    s.call(
        &outsider,
        Method::GET,
        "/v1/workspaces/team-b/secrets",
        None,
    )
    .await
    .assert_error(404, "not_found");
    s.call(
        &outsider,
        Method::POST,
        "/v1/workspaces/team-b/secrets/k/reveal",
        None,
    )
    .await
    .assert_error(404, "not_found");
    let svc = s.service_token("svc", "owner").await;
    s.call(&svc, Method::GET, "/v1/workspaces/team-b/secrets", None)
        .await
        .assert_error(404, "not_found");
    s.call(
        &s.owner,
        Method::POST,
        "/v1/workspaces",
        Some(json!({"name": "team-b"})),
    )
    .await
    .assert_error(409, "conflict");
    s.call(
        &s.owner,
        Method::POST,
        "/v1/workspaces",
        Some(json!({"name": "Bad/Name"})),
    )
    .await
    .assert_error(400, "invalid");
    s.call(
        &svc,
        Method::POST,
        "/v1/workspaces",
        Some(json!({"name": "by-service"})),
    )
    .await
    .assert_error(403, "forbidden");
    let mine = s.get(&s.owner, "/v1/workspaces").await.json();
    assert_eq!(mine["workspaces"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn deleting_a_workspace_destroys_its_key_and_secrets() {
    let s = TestServer::start().await;
    s.call(
        &s.owner,
        Method::POST,
        "/v1/workspaces",
        Some(json!({"name": "doomed"})),
    )
    .await;
    let p = "/v1/workspaces/doomed/secrets/k";
    s.call(
        &s.owner,
        Method::PUT,
        p,
        Some(json!({"value": "doomed-value"})),
    )
    .await;
    let admin_only = s.member("ada", "admin").await;
    s.call(&admin_only, Method::DELETE, "/v1/workspaces/doomed", None)
        .await
        .assert_error(404, "not_found");
    let r = s
        .call(&s.owner, Method::DELETE, "/v1/workspaces/doomed", None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.call(&s.owner, Method::GET, p, None)
        .await
        .assert_error(404, "not_found");
    // Re-creating the name gives an empty workspace with a new key.
    s.call(
        &s.owner,
        Method::POST,
        "/v1/workspaces",
        Some(json!({"name": "doomed"})),
    )
    .await;
    s.call(&s.owner, Method::GET, p, None)
        .await
        .assert_error(404, "not_found");
    let db = rusqlite::Connection::open(s.data_dir().join("lockbox.db")).unwrap();
    let keys: i64 = db
        .query_row("SELECT COUNT(*) FROM workspace_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        keys, 2,
        "default's key and the new doomed's key; the old one is gone"
    );
}

#[tokio::test]
async fn audit_log_records_mutations_and_reveals_without_values() {
    let s = TestServer::start().await;
    s.put(&s.owner, "audited", json!({"value": "audited-value-xyz"}))
        .await;
    s.reveal(&s.owner, "audited").await;
    s.call(
        &s.owner,
        Method::DELETE,
        &TestServer::secret_path("audited"),
        None,
    )
    .await;
    let r = s.get(&s.owner, "/v1/workspaces/default/audit").await;
    assert!(!r.text.contains("audited-value-xyz"));
    let events = r.json()["events"].as_array().unwrap().clone();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..3],
        ["secret.delete", "secret.reveal", "secret.put"]
    );
    for e in &events[..3] {
        assert_eq!(e["actor"], "user:owner");
        assert_eq!(e["outcome"], "ok");
        assert!(e["request_id"].as_str().is_some());
    }
}
