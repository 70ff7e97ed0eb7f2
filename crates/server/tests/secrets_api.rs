//! The secrets API end to end over HTTP: upsert, metadata, reveal, list, exists,
//! delete, patch, versions, rollback, rename, TTL and scopes.

mod support;

use reqwest::Method;
use serde_json::json;
use support::{enc, TestServer};

#[tokio::test]
async fn upsert_returns_201_then_200_and_metadata_never_holds_the_value() {
    let s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "stripe/api key",
            json!({"value": "sk_live_abc123xyz", "description": "Stripe"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let m = r.json();
    assert_eq!(m["name"], "stripe/api key");
    assert_eq!(m["version"], 1);
    assert_eq!(m["visibility"], "masked");
    assert_eq!(m["scope"], "workspace");
    assert_eq!(m["description"], "Stripe");
    assert_eq!(m["created_by"], "user:owner");
    assert_eq!(m["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(r.headers["etag"], "\"1\"");
    assert!(!r.text.contains("sk_live_abc123xyz"));

    let r = s
        .put(
            &s.owner,
            "stripe/api key",
            json!({"value": "sk_live_def456uvw"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], 2);
    assert_eq!(
        r.json()["description"],
        "Stripe",
        "omitted description keeps the old one"
    );
    assert_ne!(r.json()["fingerprint"], m["fingerprint"]);

    let r = s
        .put(
            &s.owner,
            "stripe/api key",
            json!({"value": "sk_live_def456uvw", "description": null}),
        )
        .await;
    assert_eq!(
        r.json()["description"],
        "Stripe",
        "null description keeps the old one"
    );
    let r = s
        .put(
            &s.owner,
            "stripe/api key",
            json!({"value": "sk_live_def456uvw", "description": ""}),
        )
        .await;
    assert_eq!(
        r.json()["description"],
        json!(null),
        "empty description clears it"
    );

    let r = s
        .get(&s.owner, &TestServer::secret_path("stripe/api key"))
        .await;
    assert_eq!(r.status, 200);
    assert!(!r.text.contains("sk_live"));
    assert_eq!(r.json()["version"], 4);

    let r = s.reveal(&s.owner, "stripe/api key").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({"value": "sk_live_def456uvw", "version": 4})
    );
    assert_eq!(r.headers["cache-control"], "no-store");
}

#[tokio::test]
async fn json_values_keep_their_shape() {
    let s = TestServer::start().await;
    let v = json!({"token": "t-123", "siteId": 123, "nested": {"list": [1, "two", true, null]}});
    assert_eq!(
        s.put(&s.owner, "authToken", json!({"value": v}))
            .await
            .status,
        201
    );
    assert_eq!(s.reveal(&s.owner, "authToken").await.json()["value"], v);
}

#[tokio::test]
async fn visibility_is_fixed_and_restricted_is_never_revealed() {
    let s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "zendesk",
            json!({"value": "zd-token-0000", "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["visibility"], "restricted");
    s.reveal(&s.owner, "zendesk")
        .await
        .assert_error(403, "forbidden");
    s.put(
        &s.owner,
        "zendesk",
        json!({"value": "x-new-value", "visibility": "masked"}),
    )
    .await
    .assert_error(400, "invalid");
    // Updating without naming visibility keeps it restricted.
    let r = s
        .put(&s.owner, "zendesk", json!({"value": "x-new-value"}))
        .await;
    assert_eq!(r.json()["visibility"], "restricted");
    s.put(
        &s.owner,
        "other",
        json!({"value": "v", "visibility": "secret"}),
    )
    .await
    .assert_error(400, "invalid");
}

#[tokio::test]
async fn head_answers_exists() {
    let s = TestServer::start().await;
    let path = TestServer::secret_path("present");
    s.put(&s.owner, "present", json!({"value": "1234567890"}))
        .await;
    let r = s.call(&s.owner, Method::HEAD, &path, None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.is_empty());
    let r = s
        .call(
            &s.owner,
            Method::HEAD,
            &TestServer::secret_path("absent"),
            None,
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn delete_then_everything_is_not_found() {
    let s = TestServer::start().await;
    let path = TestServer::secret_path("gone soon");
    s.put(&s.owner, "gone soon", json!({"value": "will-be-deleted"}))
        .await;
    let r = s.call(&s.owner, Method::DELETE, &path, None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"deleted": true}));
    s.get(&s.owner, &path).await.assert_error(404, "not_found");
    s.reveal(&s.owner, "gone soon")
        .await
        .assert_error(404, "not_found");
    s.call(&s.owner, Method::DELETE, &path, None)
        .await
        .assert_error(404, "not_found");
    // The name can be used again, starting over at version 1.
    let r = s
        .put(&s.owner, "gone soon", json!({"value": "back-again"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["version"].as_u64()),
        (201, Some(1))
    );
}

#[tokio::test]
async fn list_with_prefix_and_cursor_pagination() {
    let s = TestServer::start().await;
    for i in 0..25 {
        s.put(
            &s.owner,
            &format!("svc/{i:02}"),
            json!({"value": format!("value-{i}")}),
        )
        .await;
    }
    s.put(&s.owner, "other", json!({"value": "value-other"}))
        .await;
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/v1/workspaces/default/secrets?prefix=svc%2F&limit=10".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = s.get(&s.owner, &path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(!r.text.contains("value-"));
        let j = r.json();
        for m in j["secrets"].as_array().unwrap() {
            names.push(m["name"].as_str().unwrap().to_owned());
        }
        match j["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("svc/{i:02}")).collect();
    assert_eq!(names, want);
    let all = s
        .get(&s.owner, "/v1/workspaces/default/secrets")
        .await
        .json();
    assert_eq!(all["secrets"].as_array().unwrap().len(), 26);
    s.get(&s.owner, "/v1/workspaces/default/secrets?limit=0")
        .await
        .assert_error(400, "invalid");
    s.get(&s.owner, "/v1/workspaces/default/secrets?limit=abc")
        .await
        .assert_error(400, "invalid");
    s.get(&s.owner, "/v1/workspaces/default/secrets?cursor=%%%")
        .await
        .assert_error(400, "invalid");
    s.get(&s.owner, "/v1/workspaces/default/secrets?bogus=1")
        .await
        .assert_error(400, "invalid");
}

#[tokio::test]
async fn merge_patch_keeps_other_fields_and_json_patch_applies_ops() {
    let s = TestServer::start().await;
    let path = TestServer::secret_path("authToken");
    s.put(
        &s.owner,
        "authToken",
        json!({"value": {"token": "old-token", "siteId": 123}}),
    )
    .await;
    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, path))
                .bearer_auth(&s.owner)
                .header("content-type", "application/merge-patch+json")
                .body(r#"{"token": "new-token"}"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], 2);
    assert_eq!(
        s.reveal(&s.owner, "authToken").await.json()["value"],
        json!({"token": "new-token", "siteId": 123})
    );

    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, path))
                .bearer_auth(&s.owner)
                .header("content-type", "application/json-patch+json")
                .header("if-match", "\"2\"")
                .body(r#"[{"op": "replace", "path": "/siteId", "value": 124}, {"op": "add", "path": "/n", "value": 1}]"#),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        s.reveal(&s.owner, "authToken").await.json()["value"],
        json!({"token": "new-token", "siteId": 124, "n": 1})
    );

    // Stale If-Match.
    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, path))
                .bearer_auth(&s.owner)
                .header("content-type", "application/merge-patch+json")
                .header("if-match", "\"2\"")
                .body(r#"{"n": 2}"#),
        )
        .await;
    r.assert_error(412, "version_mismatch");
    // A failing test op is invalid, and does not echo the value.
    let r = s
        .raw(
            s.http
                .patch(format!("{}{}", s.url, path))
                .bearer_auth(&s.owner)
                .header("content-type", "application/json-patch+json")
                .body(r#"[{"op": "test", "path": "/token", "value": "wrong"}]"#),
        )
        .await;
    r.assert_error(400, "invalid");
    assert!(!r.text.contains("new-token"));
    // Wrong media type.
    s.raw(
        s.http
            .patch(format!("{}{}", s.url, path))
            .bearer_auth(&s.owner)
            .header("content-type", "application/json")
            .body(r#"{"n": 2}"#),
    )
    .await
    .assert_error(415, "unsupported_media_type");
    // Patching everything away leaves an empty value: refused.
    s.raw(
        s.http
            .patch(format!("{}{}", s.url, path))
            .bearer_auth(&s.owner)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"token": null, "siteId": null, "n": null}"#),
    )
    .await
    .assert_error(400, "invalid");
    // Patching a missing secret.
    s.raw(
        s.http
            .patch(format!("{}{}", s.url, TestServer::secret_path("nope")))
            .bearer_auth(&s.owner)
            .header("content-type", "application/merge-patch+json")
            .body(r#"{"a": 1}"#),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn put_with_if_match_is_compare_and_set() {
    let s = TestServer::start().await;
    let path = TestServer::secret_path("cas");
    s.put(&s.owner, "cas", json!({"value": "v1-value"})).await;
    let put = |v: &str, m: &str| {
        s.http
            .put(format!("{}{}", s.url, path))
            .bearer_auth(&s.owner)
            .header("if-match", m.to_owned())
            .json(&json!({"value": v}))
    };
    assert_eq!(s.raw(put("v2-value", "\"1\"")).await.status, 200);
    s.raw(put("v3-value", "\"1\""))
        .await
        .assert_error(412, "version_mismatch");
    s.raw(put("v3-value", "nope"))
        .await
        .assert_error(400, "invalid");
}

#[tokio::test]
async fn concurrent_patches_lose_no_update() {
    let s = TestServer::start().await;
    s.put(&s.owner, "counter", json!({"value": {"n": 0}})).await;
    let path = format!("{}{}", s.url, TestServer::secret_path("counter"));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let http = s.http.clone();
        let (path, token) = (path.clone(), s.owner.clone());
        let url = s.url.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let rev = http
                    .post(format!("{path}/reveal"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json::<serde_json::Value>()
                    .await
                    .unwrap();
                let n = rev["value"]["n"].as_i64().unwrap();
                let r = http
                    .patch(&path)
                    .bearer_auth(&token)
                    .header("content-type", "application/merge-patch+json")
                    .header("if-match", format!("\"{}\"", rev["version"]))
                    .body(json!({"n": n + 1}).to_string())
                    .send()
                    .await
                    .unwrap();
                if r.status() == 200 {
                    break;
                }
                assert_eq!(r.status(), 412, "{url}");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(
        s.reveal(&s.owner, "counter").await.json()["value"],
        json!({"n": 20})
    );
}

#[tokio::test]
async fn versions_keep_the_last_ten_and_rollback_writes_a_new_one() {
    let s = TestServer::start().await;
    for i in 1..=12 {
        s.put(
            &s.owner,
            "rotating",
            json!({"value": format!("value-number-{i}")}),
        )
        .await;
    }
    let path = TestServer::secret_path("rotating");
    let r = s.get(&s.owner, &format!("{path}/versions")).await;
    let versions: Vec<u64> = r.json()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (3..=12).rev().collect::<Vec<_>>());
    assert_eq!(r.json()["versions"][0]["current"], true);
    assert!(!r.text.contains("value-number"));

    let r = s
        .call(
            &s.owner,
            Method::POST,
            &format!("{path}/rollback"),
            Some(json!({"version": 5})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], 13);
    assert_eq!(
        s.reveal(&s.owner, "rotating").await.json()["value"],
        "value-number-5"
    );
    let old = s
        .call(
            &s.owner,
            Method::POST,
            &format!("{path}/reveal?version=7"),
            None,
        )
        .await;
    assert_eq!(old.json(), json!({"value": "value-number-7", "version": 7}));
    s.call(
        &s.owner,
        Method::POST,
        &format!("{path}/rollback"),
        Some(json!({"version": 1})),
    )
    .await
    .assert_error(404, "not_found");
    s.call(
        &s.owner,
        Method::POST,
        &format!("{path}/reveal?version=2"),
        None,
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn rename_is_off_until_the_workspace_allows_it() {
    let s = TestServer::start().await;
    s.put(&s.owner, "old name", json!({"value": "rename-me-please"}))
        .await;
    s.put(&s.owner, "taken", json!({"value": "another-value"}))
        .await;
    let path = format!("{}/rename", TestServer::secret_path("old name"));
    s.call(
        &s.owner,
        Method::POST,
        &path,
        Some(json!({"name": "new name"})),
    )
    .await
    .assert_error(403, "forbidden");
    let r = s
        .call(
            &s.owner,
            Method::PATCH,
            "/v1/workspaces/default/settings",
            Some(json!({"allow_rename": true})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.call(
        &s.owner,
        Method::POST,
        &path,
        Some(json!({"name": "taken"})),
    )
    .await
    .assert_error(409, "conflict");
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &path,
            Some(json!({"name": "new name"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = r.json()["id"].clone();
    let m = s
        .get(&s.owner, &TestServer::secret_path("new name"))
        .await
        .json();
    assert_eq!(
        m["id"], id,
        "the id (and so references and bindings) follows the rename"
    );
    assert_eq!(
        s.reveal(&s.owner, "new name").await.json()["value"],
        "rename-me-please"
    );
    s.get(&s.owner, &TestServer::secret_path("old name"))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn ttl_expires_at_once_and_the_purge_removes_it() {
    let s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "short-lived",
            json!({"value": "temporary-token", "ttl": 60}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(r.json()["expires_at"].as_str().is_some());
    assert_eq!(s.reveal(&s.owner, "short-lived").await.status, 200);
    s.clock.advance_seconds(61);
    s.get(&s.owner, &TestServer::secret_path("short-lived"))
        .await
        .assert_error(404, "not_found");
    s.reveal(&s.owner, "short-lived")
        .await
        .assert_error(404, "not_found");
    let list = s
        .get(&s.owner, "/v1/workspaces/default/secrets")
        .await
        .json();
    assert!(list["secrets"].as_array().unwrap().is_empty());
    // Setting it again starts a fresh secret.
    let r = s
        .put(&s.owner, "short-lived", json!({"value": "fresh-token"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.json()["version"].as_u64()),
        (201, Some(1))
    );
    s.put(&s.owner, "another", json!({"value": "temporary", "ttl": 1}))
        .await;
    s.clock.advance_seconds(2);
    let purged = s
        .server
        .as_ref()
        .unwrap()
        .service
        .purge_expired()
        .await
        .unwrap();
    assert_eq!(purged, 1);
    // The body names the field it is about (additive: `field`).
    let r = s
        .put(&s.owner, "bad ttl", json!({"value": "x-value", "ttl": 0}))
        .await;
    r.assert_error(400, "invalid");
    assert_eq!(r.json()["field"], "ttl", "{}", r.text);
    let r = s
        .put(
            &s.owner,
            "bad ttl",
            json!({"value": "x-value", "description": "a\u{0}b"}),
        )
        .await;
    r.assert_error(400, "invalid");
    assert_eq!(r.json()["field"], "description", "{}", r.text);
    let r = s
        .put(&s.owner, "bad ttl", json!({"value": "x-value", "ttl": -5}))
        .await;
    r.assert_error(400, "invalid");
    assert!(r.json().get("field").is_none(), "{}", r.text);
}

#[tokio::test]
async fn user_scope_is_private_and_needs_a_user() {
    let s = TestServer::start().await;
    let alice = s.member("alice", "viewer").await;
    let bob = s.member("bob", "viewer").await;
    let p = format!("{}?scope=user", TestServer::secret_path("my token"));
    let r = s
        .call(
            &alice,
            Method::PUT,
            &p,
            Some(json!({"value": "alice-private-1"})),
        )
        .await;
    assert_eq!(
        r.status, 201,
        "a member owns their own user scope: {}",
        r.text
    );
    assert_eq!(r.json()["scope"], "user");
    let r = s
        .call(
            &alice,
            Method::POST,
            &format!("{}/reveal?scope=user", TestServer::secret_path("my token")),
            None,
        )
        .await;
    assert_eq!(r.json()["value"], "alice-private-1");
    // Bob's user scope is his own: he does not see Alice's.
    s.call(&bob, Method::GET, &p, None)
        .await
        .assert_error(404, "not_found");
    // The workspace scope does not see it either.
    s.get(&s.owner, &TestServer::secret_path("my token"))
        .await
        .assert_error(404, "not_found");
    // A service token has no user.
    let svc = s.service_token("cron", "admin").await;
    s.call(&svc, Method::GET, &p, None)
        .await
        .assert_error(400, "user_required");
    s.call(&svc, Method::PUT, &p, Some(json!({"value": "x-value"})))
        .await
        .assert_error(400, "user_required");
    s.call(
        &s.owner,
        Method::GET,
        &format!("{}?scope=team", TestServer::secret_path("x")),
        None,
    )
    .await
    .assert_error(400, "invalid");
}

#[tokio::test]
async fn names_with_slashes_spaces_and_emoji_round_trip() {
    let s = TestServer::start().await;
    for name in [
        "a/b/c",
        "with space",
        "🔑 key",
        "100%",
        "?#&=+",
        "..x",
        "Ünïcødé/路径",
    ] {
        let r = s
            .put(&s.owner, name, json!({"value": format!("v-{name}")}))
            .await;
        assert_eq!(r.status, 201, "{name}: {}", r.text);
        assert_eq!(r.json()["name"], name);
        assert_eq!(
            s.reveal(&s.owner, name).await.json()["value"],
            format!("v-{name}")
        );
    }
    let listed = s
        .get(&s.owner, "/v1/workspaces/default/secrets?prefix=a%2F")
        .await
        .json();
    assert_eq!(listed["secrets"][0]["name"], "a/b/c");
    assert_eq!(enc("a/b"), "a%2Fb");
}
