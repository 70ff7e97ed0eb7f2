//! Issue 16 over HTTP: refused attempts audited once a minute with a count,
//! merge patches that never fail for contention alone, metadata that never goes
//! back to an older version, and the account audit view (rows without a
//! workspace).

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

fn denied_reveals(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .filter(|r| r["action"] == "secret.reveal" && r["outcome"] == "denied:forbidden")
        .cloned()
        .collect()
}

/// A viewer asking again and again to reveal a restricted secret made the server
/// write (and fsync) one audit row per request, about 1,400 a second. Now: the
/// first refusal at once, then one row a minute with the count, and what is still
/// counted at shutdown is written then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_hammering_a_restricted_reveal_writes_one_row_a_minute_with_a_count() {
    let mut s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "vault-key",
            json!({"value": "restricted-value-1234", "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status.as_u16(), 201, "{}", r.text);
    let vera = s.member("vera", "viewer").await;
    for _ in 0..300 {
        s.reveal(&vera, "vault-key")
            .await
            .assert_error(403, "forbidden");
    }
    let rows = denied_reveals(&audit_rows(&s).await);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["actor"], "user:vera");
    assert_eq!(rows[0]["detail"]["count"], 1);

    // The minute ends: the upkeep writes the 299 repeats as one row.
    s.clock.advance_seconds(61);
    let svc = s.server.as_ref().unwrap().service.clone();
    svc.flush_denied(false).await;
    let rows = denied_reveals(&audit_rows(&s).await);
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(rows[1]["detail"]["count"], 299);
    assert!(rows[1]["detail"]["since"].is_string());

    // More in the next minute, then shutdown: nothing counted is lost.
    for _ in 0..5 {
        s.reveal(&vera, "vault-key")
            .await
            .assert_error(403, "forbidden");
    }
    assert_eq!(denied_reveals(&audit_rows(&s).await).len(), 2);
    let data = s.data_dir();
    drop(svc);
    s.stop().await;
    let db = rusqlite::Connection::open(data.join("lockbox.db")).unwrap();
    let counts: Vec<String> = db
        .prepare(
            "SELECT detail FROM audit_events WHERE action = 'secret.reveal' \
             AND outcome = 'denied:forbidden' ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let counts: Vec<i64> = counts
        .iter()
        .map(|d| {
            serde_json::from_str::<Value>(d).unwrap()["count"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(counts, vec![1, 299, 5]);
}

/// 50 clients merge-patching one secret without If-Match: each request succeeds
/// (before: 22.7 % answered 409 "changing too fast") and no update is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_merge_patches_all_succeed_and_lose_no_update() {
    let s = TestServer::start().await;
    s.put(&s.owner, "shared", json!({"value": {"start": true}}))
        .await;
    let path = format!("{}{}", s.url, TestServer::secret_path("shared"));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let http = s.http.clone();
        let (path, token) = (path.clone(), s.owner.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .patch(&path)
                .bearer_auth(&token)
                .header("content-type", "application/merge-patch+json")
                .body(json!({ format!("k{i}"): i }).to_string())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }));
    }
    let mut failed = Vec::new();
    for t in tasks {
        let (status, text) = t.await.unwrap();
        if status != 200 {
            failed.push(format!("{status} {text}"));
        }
    }
    assert!(failed.is_empty(), "{} failed: {failed:#?}", failed.len());
    let r = s.reveal(&s.owner, "shared").await;
    let value = &r.json()["value"];
    for i in 0..50 {
        assert_eq!(value[format!("k{i}")], i, "lost k{i}: {value}");
    }
    assert_eq!(r.json()["version"], 51);
}

/// Issue 16: after concurrent writes a node served version 91 after acknowledging
/// 95. Every read that follows an acknowledged write sees that version or a later
/// one, however the writers' answers interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_never_goes_back_behind_an_acknowledged_version() {
    let s = TestServer::start().await;
    s.put(&s.owner, "hot", json!({"value": "v-0000000000"}))
        .await;
    let url = s.url.clone();
    let mut tasks = Vec::new();
    for w in 0..8 {
        let http = s.http.clone();
        let (url, token) = (url.clone(), s.owner.clone());
        tasks.push(tokio::spawn(async move {
            let path = format!("{url}{}", TestServer::secret_path("hot"));
            let mut behind = Vec::new();
            let mut i = 0;
            while i < 25 {
                let mut put = http
                    .put(&path)
                    .bearer_auth(&token)
                    .json(&json!({"value": format!("v-{w}-{i}-padding")}));
                // Half the writers say which version they replace: those do not
                // queue, so their answers race each other to the cache.
                if w % 2 == 1 {
                    let current = http
                        .get(&path)
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap()
                        .json::<Value>()
                        .await
                        .unwrap()["version"]
                        .as_u64()
                        .unwrap();
                    put = put.header("if-match", format!("\"{current}\""));
                }
                let r = put.send().await.unwrap();
                if r.status() == 412 {
                    continue;
                }
                assert_eq!(r.status(), 200);
                i += 1;
                let acked = r.json::<Value>().await.unwrap()["version"]
                    .as_u64()
                    .unwrap();
                let seen = http
                    .get(&path)
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()["version"]
                    .as_u64()
                    .unwrap();
                if seen < acked {
                    behind.push((acked, seen));
                }
            }
            behind
        }));
    }
    let mut behind = Vec::new();
    for t in tasks {
        behind.extend(t.await.unwrap());
    }
    assert!(
        behind.is_empty(),
        "reads behind the acknowledged version (acked, seen): {behind:?}"
    );
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
