//! The Vault KV v2 compatible API over raw HTTP against a real server: the wire
//! details Vault clients depend on (envelope, `LIST`, the CLI's preflight, error
//! shape and Content-Type, both auth headers, namespaces), and the rules that
//! carry over from the native API (restricted never revealed, bindings, wrapping
//! refused, roles), each cross-checked through the native API.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::io::{Read, Write};
use support::{Resp, TestServer};

const DATA: &str = "/vault/v1/secret/data";
const META: &str = "/vault/v1/secret/metadata";

async fn vault(s: &TestServer, token: &str, method: &str, path: &str, body: Option<Value>) -> Resp {
    let m = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = s
        .http
        .request(m, format!("{}{}", s.url, path))
        .header("X-Vault-Token", token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    s.raw(req).await
}

/// Sends bytes as they are (no client-side path normalisation) and reads the answer.
async fn raw_http(s: &TestServer, request: &str) -> String {
    let addr = s.url.trim_start_matches("http://").to_owned();
    let request = request.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    })
    .await
    .unwrap()
}

fn assert_vault_error(r: &Resp, status: u16) -> Value {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.text);
    assert_eq!(
        r.headers["content-type"], "application/json",
        "Vault clients need exactly application/json on errors"
    );
    let j = r.json();
    assert!(j["errors"].is_array(), "Vault's error shape: {}", r.text);
    assert!(
        j.get("error").is_none(),
        "never the native shape: {}",
        r.text
    );
    j
}

fn assert_envelope(r: &Resp) -> Value {
    let j = r.json();
    for k in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "data",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(j.get(k).is_some(), "envelope lacks {k}: {}", r.text);
    }
    assert_eq!(j["lease_id"], "");
    assert_eq!(j["renewable"], false);
    assert_eq!(j["lease_duration"], 0);
    assert_eq!(
        j["request_id"].as_str(),
        r.headers["x-request-id"].to_str().ok(),
        "request_id is the request's (and the audit row's) id"
    );
    j
}

async fn native_value(s: &TestServer, name: &str) -> Value {
    let r = s.reveal(&s.owner, name).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["value"].clone()
}

#[tokio::test]
async fn write_then_read_through_the_envelope_and_the_native_api() {
    let s = TestServer::start().await;
    let r = vault(
        &s,
        &s.owner,
        "POST",
        &format!("{DATA}/app/db"),
        Some(json!({"data": {"user": "app", "password": "pw-1"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["version"], 1);
    assert_eq!(j["data"]["destroyed"], false);
    assert_eq!(j["data"]["deletion_time"], "");
    assert_eq!(
        native_value(&s, "app/db").await,
        json!({"user": "app", "password": "pw-1"})
    );

    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/app/db"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(
        j["data"]["data"],
        json!({"user": "app", "password": "pw-1"})
    );
    assert_eq!(j["data"]["metadata"]["version"], 1);
    // custom_metadata holds the labels only: none were written.
    assert_eq!(j["data"]["metadata"]["custom_metadata"], json!({}));
    // The read is a reveal: audited under this request's id.
    let rid = j["request_id"].as_str().unwrap().to_owned();
    let audit = s
        .get(&s.owner, "/v1/workspaces/default/audit?limit=20")
        .await
        .json();
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["request_id"] == rid.as_str()
                && e["action"] == "secret.reveal"
                && e["target"] == "app/db"),
        "{audit}"
    );

    // A second version; reading by version.
    vault(
        &s,
        &s.owner,
        "PUT",
        &format!("{DATA}/app/db"),
        Some(json!({"data": {"user": "app", "password": "pw-2"}})),
    )
    .await;
    let v1 = vault(
        &s,
        &s.owner,
        "GET",
        &format!("{DATA}/app/db?version=1"),
        None,
    )
    .await;
    assert_eq!(v1.json()["data"]["data"]["password"], "pw-1");
    let v2 = vault(&s, &s.owner, "GET", &format!("{DATA}/app/db"), None).await;
    assert_eq!(v2.json()["data"]["data"]["password"], "pw-2");
    assert_eq!(v2.json()["data"]["metadata"]["version"], 2);

    // A missing secret is 404 {"errors": []}.
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/nope"), None).await;
    assert_eq!(assert_vault_error(&r, 404)["errors"], json!([]));
}

#[tokio::test]
async fn list_method_and_list_query_show_folders() {
    let s = TestServer::start().await;
    for n in ["app/db", "app/api", "app/deep/x", "top"] {
        let r = vault(
            &s,
            &s.owner,
            "POST",
            &format!("{DATA}/{n}"),
            Some(json!({"data": {"k": "v"}})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(assert_envelope(&r)["data"]["keys"], json!(["app/", "top"]));
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/app"), None).await;
    assert_eq!(r.json()["data"]["keys"], json!(["api", "db", "deep/"]));
    let r = vault(&s, &s.owner, "GET", &format!("{META}/app/?list=true"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["keys"], json!(["api", "db", "deep/"]));
    // An empty list is 404.
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/nothing-here"), None).await;
    assert_eq!(assert_vault_error(&r, 404)["errors"], json!([]));

    // LIST on the wire, as the `vault` CLI sends it.
    let text = raw_http(
        &s,
        &format!(
            "LIST /vault/v1/secret/metadata/app HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {}\r\nConnection: close\r\n\r\n",
            s.owner
        ),
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("\"keys\":[\"api\",\"db\",\"deep/\"]"),
        "{text}"
    );
}

/// Writes `names` through the Vault API, 16 at a time.
async fn write_many(s: &TestServer, names: Vec<String>) {
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in names.chunks(names.len().div_ceil(16)) {
        let (http, url, token) = (s.http.clone(), s.url.clone(), s.owner.clone());
        let chunk = chunk.to_vec();
        tasks.spawn(async move {
            for n in chunk {
                let r = http
                    .post(format!("{url}{DATA}/{n}"))
                    .header("X-Vault-Token", &token)
                    .json(&json!({"data": {"k": "v"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{n}");
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_answers_every_child_past_a_thousand() {
    let s = TestServer::start().await;
    // 1,001 sub-folders (two secrets in some, a nested folder in others) and 60
    // keys beside them: more children than one page of the store's answer.
    let mut names: Vec<String> = (0..1001).map(|i| format!("many/f{i:04}/k")).collect();
    names.extend((0..1001).step_by(10).map(|i| format!("many/f{i:04}/j")));
    names.extend(
        (0..1001)
            .step_by(100)
            .map(|i| format!("many/f{i:04}/deep/x")),
    );
    names.extend((0..60).map(|i| format!("many/k{i:02}")));
    names.push("other/x".into());
    write_many(&s, names).await;

    let mut want: Vec<String> = (0..1001).map(|i| format!("f{i:04}/")).collect();
    want.extend((0..60).map(|i| format!("k{i:02}")));
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/many"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(assert_envelope(&r)["data"]["keys"], json!(want));
    let r = vault(
        &s,
        &s.owner,
        "GET",
        &format!("{META}/many/?list=true"),
        None,
    )
    .await;
    assert_eq!(r.json()["data"]["keys"], json!(want));
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/many/f0100"), None).await;
    assert_eq!(r.json()["data"]["keys"], json!(["deep/", "j", "k"]));
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/"), None).await;
    assert_eq!(r.json()["data"]["keys"], json!(["many/", "other/"]));
    // The same children through the native list, by prefix: 1,001 + 101 + 11 + 60.
    let mut seen = 0;
    let mut cursor = String::new();
    loop {
        let r = s
            .get(
                &s.owner,
                &format!("/v1/workspaces/default/secrets?prefix=many/&limit=1000&cursor={cursor}"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let j = r.json();
        seen += j["secrets"].as_array().unwrap().len();
        match j["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 1001 + 101 + 11 + 60);
}

#[tokio::test]
async fn the_cli_preflight_names_kv_v2_mounts_and_refuses_unknown_ones() {
    let s = TestServer::start().await;
    let r = vault(
        &s,
        &s.owner,
        "GET",
        "/vault/v1/sys/internal/ui/mounts/secret/app/db",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["path"], "secret/");
    assert_eq!(j["data"]["type"], "kv");
    assert_eq!(j["data"]["options"]["version"], "2");
    let r = vault(
        &s,
        &s.owner,
        "GET",
        "/vault/v1/sys/internal/ui/mounts/private/x",
        None,
    )
    .await;
    assert_eq!(r.json()["data"]["path"], "private/");
    let r = vault(
        &s,
        &s.owner,
        "GET",
        "/vault/v1/sys/internal/ui/mounts/kv/app",
        None,
    )
    .await;
    assert_eq!(
        assert_vault_error(&r, 403)["errors"],
        json!(["permission denied"])
    );
    // Paths under no mount are 403 too; sys/mounts lists the two.
    let r = vault(&s, &s.owner, "GET", "/vault/v1/kv/data/x", None).await;
    assert_vault_error(&r, 403);
    let r = vault(&s, &s.owner, "GET", "/vault/v1/sys/mounts", None).await;
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["secret/"]["options"]["version"], "2");
    assert_eq!(j["data"]["private/"]["type"], "kv");
}

#[tokio::test]
async fn patch_needs_merge_patch_and_never_turns_a_string_into_an_object() {
    let s = TestServer::start().await;
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{DATA}/svc"),
        Some(json!({"data": {"a": "1", "b": "2", "n": {"x": 1, "y": 2}}})),
    )
    .await;
    let url = format!("{}{DATA}/svc", s.url);
    let body = json!({"data": {"a": "one", "b": null, "n": {"y": 3}}}).to_string();
    let r = s
        .raw(
            s.http
                .patch(&url)
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/json")
                .body(body.clone()),
        )
        .await;
    assert_vault_error(&r, 415);
    let r = s
        .raw(
            s.http
                .patch(&url)
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/merge-patch+json")
                .body(body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(assert_envelope(&r)["data"]["version"], 2);
    assert_eq!(
        native_value(&s, "svc").await,
        json!({"a": "one", "n": {"x": 1, "y": 3}})
    );
    // CAS on PATCH.
    let r = s
        .raw(
            s.http
                .patch(&url)
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"data": {"a": "z"}, "options": {"cas": 1}}).to_string()),
        )
        .await;
    let e = assert_vault_error(&r, 400);
    assert!(e["errors"][0]
        .as_str()
        .unwrap()
        .contains("check-and-set parameter did not match the current version"));

    // A string value reads as {"value": …} with a warning, and is not patchable here.
    s.put(&s.owner, "plain", json!({"value": "just-a-string-1"}))
        .await;
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/plain"), None).await;
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["data"], json!({"value": "just-a-string-1"}));
    assert!(j["warnings"][0]
        .as_str()
        .unwrap()
        .contains("not a JSON object"));
    let r = s
        .raw(
            s.http
                .patch(format!("{}{DATA}/plain", s.url))
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"data": {"value": "other"}}).to_string()),
        )
        .await;
    let e = assert_vault_error(&r, 400);
    assert!(e["errors"][0]
        .as_str()
        .unwrap()
        .contains("not a JSON object"));
    assert_eq!(native_value(&s, "plain").await, json!("just-a-string-1"));
}

#[tokio::test]
async fn both_auth_headers_and_namespaces() {
    let s = TestServer::start().await;
    s.put(&s.owner, "k", json!({"value": {"a": "b"}})).await;
    let path = format!("{}{DATA}/k", s.url);
    let ok = s.raw(s.http.get(&path).bearer_auth(&s.owner)).await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // X-Vault-Token wins over Authorization.
    let r = s
        .raw(
            s.http
                .get(&path)
                .bearer_auth(&s.owner)
                .header("X-Vault-Token", "lbx_not_a_real_token"),
        )
        .await;
    assert_eq!(
        assert_vault_error(&r, 403)["errors"],
        json!(["permission denied"])
    );
    let r = s.raw(s.http.get(&path)).await;
    assert_vault_error(&r, 403);
    for ns in ["", "root", "default"] {
        let r = s
            .raw(
                s.http
                    .get(&path)
                    .header("X-Vault-Token", &s.owner)
                    .header("X-Vault-Namespace", ns),
            )
            .await;
        assert_eq!(r.status, 200, "namespace {ns:?}: {}", r.text);
    }
    let r = s
        .raw(
            s.http
                .get(&path)
                .header("X-Vault-Token", &s.owner)
                .header("X-Vault-Namespace", "someone-else"),
        )
        .await;
    assert_vault_error(&r, 403);
    // lookup-self answers the presented token.
    let r = vault(
        &s,
        &s.owner,
        "GET",
        "/vault/v1/auth/token/lookup-self",
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(assert_envelope(&r)["data"]["id"], s.owner.as_str());
    assert_eq!(r.json()["data"]["meta"]["workspace"], "default");
    // sys/health needs no token and is not enveloped.
    let r = s
        .raw(s.http.get(format!("{}/vault/v1/sys/health", s.url)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["initialized"], true);
    assert_eq!(r.json()["sealed"], false);
    let r = s
        .raw(s.http.get(format!("{}/vault/v1/sys/seal-status", s.url)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["sealed"], false);
}

#[tokio::test]
async fn rules_carry_over_restricted_roles_wrapping_and_bindings() {
    let s = TestServer::start().await;
    let r = s
        .put(
            &s.owner,
            "zd",
            json!({"value": {"t": "zd-token-0000"}, "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/zd"), None).await;
    let e = assert_vault_error(&r, 403);
    assert_eq!(e["errors"][0], "permission denied");
    assert!(!r.text.contains("zd-token-0000"));
    // Subkeys read the value too: refused as well.
    let r = vault(&s, &s.owner, "GET", "/vault/v1/secret/subkeys/zd", None).await;
    assert_vault_error(&r, 403);
    // Metadata of a restricted secret is fine.
    let r = vault(&s, &s.owner, "GET", &format!("{META}/zd"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["lockbox"]["visibility"], "restricted");
    assert_eq!(r.json()["data"]["custom_metadata"], json!({}));

    // A viewer may list but not read; may not write.
    s.put(&s.owner, "m", json!({"value": {"a": "secret-m-1"}}))
        .await;
    let viewer = s.service_token("ci-viewer", "viewer").await;
    let r = vault(&s, &viewer, "GET", &format!("{DATA}/m"), None).await;
    assert_vault_error(&r, 403);
    let r = vault(&s, &viewer, "LIST", &format!("{META}/"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vault(
        &s,
        &viewer,
        "POST",
        &format!("{DATA}/m"),
        Some(json!({"data": {"a": "x"}})),
    )
    .await;
    assert_vault_error(&r, 403);

    // A run token never reads a value either (it holds references, not values).
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
    let r = vault(&s, &run, "GET", &format!("{DATA}/m"), None).await;
    assert_vault_error(&r, 403);
    assert!(!r.text.contains("secret-m-1"));

    // Response wrapping is refused, never answered in plaintext.
    let r = s
        .raw(
            s.http
                .get(format!("{}{DATA}/m", s.url))
                .header("X-Vault-Token", &s.owner)
                .header("X-Vault-Wrap-TTL", "60s"),
        )
        .await;
    let e = assert_vault_error(&r, 400);
    assert!(e["errors"][0].as_str().unwrap().contains("wrapping"));
    assert!(!r.text.contains("secret-m-1"));

    // A bound secret is neither deleted nor destroyed through this API.
    let r = s
        .call(
            &s.owner,
            Method::PUT,
            "/v1/workspaces/default/bindings/crm-sync",
            Some(json!({"bindings": [{"secret": "m", "location": "node 1"}]})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for (method, path, body) in [
        ("DELETE", format!("{DATA}/m"), None),
        ("DELETE", format!("{META}/m"), None),
        (
            "POST",
            "/vault/v1/secret/delete/m".to_owned(),
            Some(json!({"versions": [1]})),
        ),
        (
            "POST",
            "/vault/v1/secret/destroy/m".to_owned(),
            Some(json!({"versions": [1]})),
        ),
    ] {
        let r = vault(&s, &s.owner, method, &path, body).await;
        let e = assert_vault_error(&r, 400);
        assert!(
            e["errors"][0].as_str().unwrap().contains("secret_in_use"),
            "{method} {path}: {}",
            r.text
        );
    }
    assert_eq!(native_value(&s, "m").await, json!({"a": "secret-m-1"}));
}

#[tokio::test]
async fn check_and_set_soft_delete_undelete_and_destroy() {
    let s = TestServer::start().await;
    let w = |cas: Option<u64>, v: &str| {
        let mut body = json!({"data": {"v": v}});
        if let Some(c) = cas {
            body["options"] = json!({"cas": c});
        }
        body
    };
    let p = format!("{DATA}/c");
    let r = vault(&s, &s.owner, "POST", &p, Some(w(Some(0), "one"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vault(&s, &s.owner, "POST", &p, Some(w(Some(0), "again"))).await;
    let e = assert_vault_error(&r, 400);
    // Vault's sentence exactly, nothing appended: clients compare it whole.
    assert_eq!(
        e["errors"],
        json!(["check-and-set parameter did not match the current version"])
    );
    let r = vault(&s, &s.owner, "POST", &p, Some(w(Some(1), "two"))).await;
    assert_eq!(r.json()["data"]["version"], 2, "{}", r.text);
    let r = vault(&s, &s.owner, "POST", &p, Some(w(Some(1), "stale"))).await;
    assert_vault_error(&r, 400);
    assert_eq!(native_value(&s, "c").await, json!({"v": "two"}));

    // Soft delete of the current version: 404 with the envelope and its metadata.
    let r = vault(&s, &s.owner, "DELETE", &p, None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &p, None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["data"], Value::Null);
    assert_eq!(j["data"]["metadata"]["version"], 2);
    assert!(j["data"]["metadata"]["deletion_time"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert_eq!(j["data"]["metadata"]["destroyed"], false);
    // Natively too, the deleted current version reads as not_found.
    s.reveal(&s.owner, "c").await.assert_error(404, "not_found");
    // Version 1 is still readable; undelete brings 2 back.
    let r = vault(&s, &s.owner, "GET", &format!("{p}?version=1"), None).await;
    assert_eq!(r.json()["data"]["data"], json!({"v": "one"}));
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/vault/v1/secret/undelete/c",
        Some(json!({"versions": [2]})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(native_value(&s, "c").await, json!({"v": "two"}));
    // Destroy version 1: gone for good, metadata kept.
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/vault/v1/secret/destroy/c",
        Some(json!({"versions": [1]})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{p}?version=1"), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json()["data"]["metadata"]["destroyed"], true);
    let r = vault(&s, &s.owner, "GET", &format!("{META}/c"), None).await;
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["current_version"], 2);
    assert_eq!(j["data"]["versions"]["1"]["destroyed"], true);
    assert_eq!(j["data"]["versions"]["2"]["destroyed"], false);
    // Versions without a number are refused.
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/vault/v1/secret/delete/c",
        Some(json!({"versions": []})),
    )
    .await;
    assert_vault_error(&r, 400);
}

#[tokio::test]
async fn metadata_labels_and_reserved_keys() {
    let s = TestServer::start().await;
    s.put(
        &s.owner,
        "lab",
        json!({"value": {"a": "b"}, "description": "the lab key"}),
    )
    .await;
    let r = vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/lab"),
        Some(json!({
            "custom_metadata": {"team": "infra", "lockbox.description": "forged"},
            "max_versions": 3,
        })),
    )
    .await;
    // A dropped reserved key is said in the answer's warnings.
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(assert_envelope(&r)["warnings"][0]
        .as_str()
        .unwrap()
        .contains("lockbox."));
    let r = vault(&s, &s.owner, "GET", &format!("{META}/lab"), None).await;
    let j = assert_envelope(&r);
    // custom_metadata reads back exactly what was written; Lockbox's facts are in
    // a `lockbox` object beside it.
    assert_eq!(j["data"]["custom_metadata"], json!({"team": "infra"}));
    let facts = &j["data"]["lockbox"];
    assert_eq!(facts["description"], "the lab key");
    assert_eq!(facts["visibility"], "masked");
    let meta = s
        .get(&s.owner, &TestServer::secret_path("lab"))
        .await
        .json();
    assert_eq!(facts["fingerprint"], meta["fingerprint"]);
    assert!(facts.get("expires_at").is_none());
    assert_eq!(j["data"]["max_versions"], 3);
    assert_eq!(j["data"]["delete_version_after"], "0s");
    // Natively, the labels are there without the reserved keys.
    let meta = s
        .get(&s.owner, &TestServer::secret_path("lab"))
        .await
        .json();
    assert_eq!(meta["labels"], json!({"team": "infra"}));
    assert_eq!(meta["description"], "the lab key");
}

#[tokio::test]
async fn private_mount_is_the_callers_user_scope() {
    let s = TestServer::start().await;
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/vault/v1/private/data/mine",
        Some(json!({"data": {"k": "mine-1"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .call(
            &s.owner,
            Method::POST,
            &format!("{}/reveal?scope=user", TestServer::secret_path("mine")),
            None,
        )
        .await;
    assert_eq!(r.json()["value"], json!({"k": "mine-1"}));
    // Not in the workspace scope.
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/mine"), None).await;
    assert_vault_error(&r, 404);
    // A service token has no user: user_required.
    let svc = s.service_token("ci", "admin").await;
    let r = vault(&s, &svc, "GET", "/vault/v1/private/data/mine", None).await;
    let e = assert_vault_error(&r, 400);
    assert!(e["errors"][0].as_str().unwrap().contains("user_required"));
}

#[tokio::test]
async fn paths_vault_cannot_express_and_unknown_routes_keep_the_vault_shape() {
    let s = TestServer::start().await;
    for bad in ["a//b", "a/", "a%00b", "a%2F%2Fb"] {
        let r = vault(
            &s,
            &s.owner,
            "POST",
            &format!("{DATA}/{bad}"),
            Some(json!({"data": {"k": "v"}})),
        )
        .await;
        assert_vault_error(&r, 400);
    }
    // Dot segments, sent as they are (HTTP libraries would resolve them first).
    for bad in ["a/./b", "a/%2E%2E/b", "%2E"] {
        let text = raw_http(
            &s,
            &format!(
                "POST {DATA}/{bad} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: {}\r\nContent-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{{\"data\": {{\"k\": \"v\"}}}}",
                s.owner
            ),
        )
        .await;
        assert!(text.starts_with("HTTP/1.1 400"), "{bad}: {text}");
        assert!(text.contains("{\"errors\":["), "{bad}: {text}");
    }
    // A native name with `//` exists but is left out of Vault lists.
    s.put(&s.owner, "x//y", json!({"value": "v-1"})).await;
    s.put(&s.owner, "x/ok", json!({"value": "v-2"})).await;
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/x"), None).await;
    assert_eq!(r.json()["data"]["keys"], json!(["ok"]), "{}", r.text);

    for path in [
        "/vault",
        "/vault/",
        "/vault/v2/secret/data/a",
        "/vault/v1/secret/nonsense/a",
        "/vault/v1/sys/nonsense",
        "/vault/v1/secret/data/%zz",
    ] {
        let r = vault(&s, &s.owner, "GET", path, None).await;
        assert!(r.status.is_client_error(), "{path}: {}", r.status);
        assert_vault_error(&r, r.status.as_u16());
    }
    // Unsupported method on a KV path.
    let r = vault(&s, &s.owner, "OPTIONS", &format!("{DATA}/a"), None).await;
    assert_vault_error(&r, 405);
    let r = vault(&s, &s.owner, "HEAD", &format!("{DATA}/a"), None).await;
    assert_eq!(r.status, 405);
    // Malformed JSON body: 400 in Vault's shape, input not echoed.
    let r = s
        .raw(
            s.http
                .post(format!("{}{DATA}/a", s.url))
                .header("X-Vault-Token", &s.owner)
                .body("{\"data\": {\"k\": \"hunter2\"")
                .header("content-type", "application/json"),
        )
        .await;
    assert_vault_error(&r, 400);
    assert!(!r.text.contains("hunter2"));
    // A body over the limit: 413 in Vault's shape.
    let big = "x".repeat(2 * 1024 * 1024);
    let r = s
        .raw(
            s.http
                .post(format!("{}{DATA}/big", s.url))
                .header("X-Vault-Token", &s.owner)
                .json(&json!({"data": {"k": big}})),
        )
        .await;
    assert_vault_error(&r, 413);
    // Native routes keep their own shape.
    let r = s.get(&s.owner, "/v1/nonsense").await;
    r.assert_error(404, "not_found");
}

#[tokio::test]
async fn vaultrs_style_prefix_reaches_the_same_api() {
    let s = TestServer::start().await;
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/v1/vault/secret/data/alias",
        Some(json!({"data": {"k": "v"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/alias"), None).await;
    assert_eq!(r.json()["data"]["data"], json!({"k": "v"}));
}

#[tokio::test]
async fn config_cas_required_max_versions_and_delete_version_after() {
    let s = TestServer::start().await;
    let r = vault(&s, &s.owner, "GET", "/vault/v1/secret/config", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["cas_required"], false);
    assert_eq!(j["data"]["delete_version_after"], "0s");
    assert_eq!(j["data"]["max_versions"], 10);
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/vault/v1/secret/config",
        Some(json!({"cas_required": true, "max_versions": 2, "delete_version_after": "1h"})),
    )
    .await;
    assert!(
        r.status == StatusCode::NO_CONTENT || r.status == StatusCode::OK,
        "{}",
        r.text
    );
    let j = vault(&s, &s.owner, "GET", "/vault/v1/secret/config", None)
        .await
        .json();
    assert_eq!(j["data"]["cas_required"], true);
    assert_eq!(j["data"]["max_versions"], 2);
    assert_eq!(j["data"]["delete_version_after"], "1h0m0s");
    // The workspace setting is the native one.
    let native = s
        .get(&s.owner, "/v1/workspaces/default/settings")
        .await
        .json();
    assert_eq!(native["cas_required"], true);

    // cas_required: a write without cas is refused.
    let p = format!("{DATA}/cr");
    let r = vault(&s, &s.owner, "POST", &p, Some(json!({"data": {"v": "1"}}))).await;
    let e = assert_vault_error(&r, 400);
    assert_eq!(
        e["errors"],
        json!(["check-and-set parameter required for this call"]),
        "Vault's words, not the native API's headers"
    );
    for (cas, v) in [(0, "1"), (1, "2"), (2, "3")] {
        let r = vault(
            &s,
            &s.owner,
            "POST",
            &p,
            Some(json!({"data": {"v": v}, "options": {"cas": cas}})),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        // The write's answer carries the scheduled deletion (an hour on).
        assert!(
            r.json()["data"]["deletion_time"]
                .as_str()
                .is_some_and(|t| !t.is_empty()),
            "{}",
            r.text
        );
    }
    // max_versions 2: version 1 was pruned.
    let j = vault(&s, &s.owner, "GET", &format!("{META}/cr"), None)
        .await
        .json();
    let mut kept: Vec<&String> = j["data"]["versions"].as_object().unwrap().keys().collect();
    kept.sort();
    assert_eq!(kept, ["2", "3"]);
    assert!(j["data"]["versions"]["3"]["deletion_time"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    // delete_version_after: an hour later the current version reads as deleted.
    s.clock.advance_seconds(3601);
    let r = vault(&s, &s.owner, "GET", &p, None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_envelope(&r);
}

/// The value of `k` in workspace `ws`, natively revealed by the owner.
async fn reveal_in(s: &TestServer, ws: &str) -> Value {
    s.call(
        &s.owner,
        Method::POST,
        &format!("/v1/workspaces/{ws}/secrets/k/reveal"),
        None,
    )
    .await
    .json()["value"]
        .clone()
}

#[tokio::test]
async fn a_personal_token_in_several_workspaces_uses_its_default_or_the_namespace() {
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
    let path = format!("{}{DATA}/k", s.url);
    let write = |ns: Option<&str>, v: &str| {
        let mut req = s
            .http
            .post(&path)
            .header("X-Vault-Token", &s.owner)
            .json(&json!({"data": {"v": v}}));
        if let Some(ns) = ns {
            req = req.header("X-Vault-Namespace", ns);
        }
        s.raw(req)
    };
    // Joining a second workspace changes nothing for an unmodified client: the
    // token's default is the user's oldest membership, `default`.
    let r = write(None, "in-default").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(reveal_in(&s, "default").await, json!({"v": "in-default"}));
    // X-Vault-Namespace still chooses another.
    let r = write(Some("team-b"), "in-team-b").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(reveal_in(&s, "team-b").await, json!({"v": "in-team-b"}));
    assert_eq!(reveal_in(&s, "default").await, json!({"v": "in-default"}));
    // The default is set per token.
    let me = s.get(&s.owner, "/v1/me").await.json();
    let id = me["token"]["id"].as_str().unwrap().to_owned();
    let r = s
        .call(
            &s.owner,
            Method::PATCH,
            &format!("/v1/tokens/{id}"),
            Some(json!({"default_workspace": "team-b"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["default_workspace"], "team-b");
    // (The Vault layer caches a token's workspaces for a second.)
    s.clock.advance_seconds(2);
    let r = write(None, "default-is-team-b").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        reveal_in(&s, "team-b").await,
        json!({"v": "default-is-team-b"})
    );
    let r = vault(
        &s,
        &s.owner,
        "GET",
        "/vault/v1/auth/token/lookup-self",
        None,
    )
    .await;
    assert_eq!(r.json()["data"]["meta"]["workspace"], "team-b");
    // Only a workspace the token's user belongs to, only the caller's own token.
    let r = s
        .call(
            &s.owner,
            Method::PATCH,
            &format!("/v1/tokens/{id}"),
            Some(json!({"default_workspace": "nowhere"})),
        )
        .await;
    r.assert_error(404, "not_found");
    let alice = s.member("alice", "admin").await;
    let r = s
        .call(
            &alice,
            Method::PATCH,
            &format!("/v1/tokens/{id}"),
            Some(json!({"default_workspace": "default"})),
        )
        .await;
    r.assert_error(404, "not_found");
    // Cleared: back to the oldest membership.
    let r = s
        .call(
            &s.owner,
            Method::PATCH,
            &format!("/v1/tokens/{id}"),
            Some(json!({"default_workspace": null})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.clock.advance_seconds(2);
    let r = write(None, "back-in-default").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        reveal_in(&s, "default").await,
        json!({"v": "back-in-default"})
    );
    // A service token of `default` cannot reach team-b by naming it.
    let svc = s.service_token("ci", "admin").await;
    let r = s
        .raw(
            s.http
                .get(&path)
                .header("X-Vault-Token", &svc)
                .header("X-Vault-Namespace", "team-b"),
        )
        .await;
    assert_vault_error(&r, 403);
}

#[tokio::test]
async fn subkeys_show_structure_never_values_and_metadata_patch_merges_labels() {
    let s = TestServer::start().await;
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{DATA}/nested"),
        Some(json!({"data": {"a": "sub-secret-1", "b": {"c": "sub-secret-2", "d": {"e": 1}}}})),
    )
    .await;
    let r = vault(&s, &s.owner, "GET", "/vault/v1/secret/subkeys/nested", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(
        j["data"]["subkeys"],
        json!({"a": null, "b": {"c": null, "d": {"e": null}}})
    );
    assert_eq!(j["data"]["metadata"]["version"], 1);
    assert!(!r.text.contains("sub-secret"));
    let r = vault(
        &s,
        &s.owner,
        "GET",
        "/vault/v1/secret/subkeys/nested?depth=1",
        None,
    )
    .await;
    assert_eq!(r.json()["data"]["subkeys"], json!({"a": null, "b": null}));

    // Metadata PATCH: labels merge, null removes one, other fields stay.
    let meta_url = format!("{}{META}/nested", s.url);
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/nested"),
        Some(json!({"custom_metadata": {"team": "infra", "tier": "1"}, "max_versions": 4})),
    )
    .await;
    let r = s
        .raw(
            s.http
                .patch(&meta_url)
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"custom_metadata": {"tier": null, "owner": "ops"}}).to_string()),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let meta = s
        .get(&s.owner, &TestServer::secret_path("nested"))
        .await
        .json();
    assert_eq!(meta["labels"], json!({"team": "infra", "owner": "ops"}));
    assert_eq!(meta["max_versions"], 4);
    let r = s
        .raw(
            s.http
                .patch(&meta_url)
                .header("X-Vault-Token", &s.owner)
                .body(json!({"max_versions": 1}).to_string()),
        )
        .await;
    assert_vault_error(&r, 415);
}

#[tokio::test]
async fn another_member_never_reaches_my_private_scope_and_a_removed_member_reads_nothing() {
    let s = TestServer::start().await;
    let alice = s.member("alice", "editor").await;
    let bob = s.member("bob", "editor").await;
    let r = vault(
        &s,
        &alice,
        "POST",
        "/vault/v1/private/data/diary",
        Some(json!({"data": {"t": "alice-private-1"}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Bob's private/ is Bob's: the same path names nothing there.
    let r = vault(&s, &bob, "GET", "/vault/v1/private/data/diary", None).await;
    assert_eq!(assert_vault_error(&r, 404)["errors"], json!([]));
    let r = vault(&s, &bob, "LIST", "/vault/v1/private/metadata/", None).await;
    assert_vault_error(&r, 404);
    // Destroying it in Bob's scope destroys nothing there: 204, as Vault answers a
    // path that holds nothing; Alice's version is untouched.
    let r = vault(
        &s,
        &bob,
        "POST",
        "/vault/v1/private/destroy/diary",
        Some(json!({"versions": [1]})),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = vault(&s, &alice, "GET", "/vault/v1/private/data/diary", None).await;
    assert_eq!(r.json()["data"]["data"]["t"], "alice-private-1");

    // Alice leaves the workspace: her token reads nothing any more.
    s.put(
        &s.owner,
        "shared",
        json!({"value": {"k": "shared-value-1"}}),
    )
    .await;
    let r = vault(&s, &alice, "GET", &format!("{DATA}/shared"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            "/v1/workspaces/default/members/alice",
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vault(&s, &alice, "GET", &format!("{DATA}/shared"), None).await;
    assert!(
        r.status == StatusCode::FORBIDDEN || r.status == StatusCode::NOT_FOUND,
        "{}",
        r.text
    );
    assert!(!r.text.contains("shared-value-1"));
}

#[tokio::test]
async fn nothing_there_deletes_as_done_and_messages_are_vaults() {
    let s = TestServer::start().await;
    // Deleting, undeleting or destroying what is not there: 204, as in Vault.
    for (method, path, body) in [
        ("DELETE", format!("{DATA}/nothing/here"), None),
        ("DELETE", format!("{META}/nothing/here"), None),
        (
            "POST",
            "/vault/v1/secret/delete/nothing/here".to_owned(),
            Some(json!({"versions": [1]})),
        ),
        (
            "POST",
            "/vault/v1/secret/undelete/nothing/here".to_owned(),
            Some(json!({"versions": [1]})),
        ),
        (
            "POST",
            "/vault/v1/secret/destroy/nothing/here".to_owned(),
            Some(json!({"versions": [1]})),
        ),
    ] {
        let r = vault(&s, &s.owner, method, &path, body.clone()).await;
        assert_eq!(r.status, 204, "{method} {path}: {}", r.text);
        // A role that may not delete is still refused first.
        let viewer = s.service_token(&format!("v{}", path.len()), "viewer").await;
        let r = vault(&s, &viewer, method, &path, body).await;
        assert_vault_error(&r, 403);
    }
    let r = vault(&s, &s.owner, "GET", &format!("{META}/nothing/here"), None).await;
    assert_vault_error(&r, 404);

    // cas: -1 never matches a version: Vault's mismatch, not a parse error.
    let p = format!("{DATA}/cas");
    vault(&s, &s.owner, "POST", &p, Some(json!({"data": {"v": "1"}}))).await;
    for cas in [json!(-1), json!("-1")] {
        let r = vault(
            &s,
            &s.owner,
            "POST",
            &p,
            Some(json!({"data": {"v": "x"}, "options": {"cas": cas}})),
        )
        .await;
        let e = assert_vault_error(&r, 400);
        assert_eq!(
            e["errors"],
            json!(["check-and-set parameter did not match the current version"])
        );
    }
    let r = vault(
        &s,
        &s.owner,
        "POST",
        &p,
        Some(json!({"data": {"v": "x"}, "options": {"cas": "one"}})),
    )
    .await;
    assert_vault_error(&r, 400);
    assert_eq!(native_value(&s, "cas").await, json!({"v": "1"}));
    // Under cas_required, a PATCH without cas speaks Vault's words too.
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/cas"),
        Some(json!({"cas_required": true})),
    )
    .await;
    let r = s
        .raw(
            s.http
                .patch(format!("{}{p}", s.url))
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"data": {"w": "2"}}).to_string()),
        )
        .await;
    assert_eq!(
        assert_vault_error(&r, 400)["errors"],
        json!(["check-and-set parameter required for this call"])
    );

    // custom_metadata refusals start with Vault's prefix.
    for bad in [
        json!({"k": 1}),
        json!("not-an-object"),
        json!({"k".repeat(129): "v"}),
    ] {
        let r = vault(
            &s,
            &s.owner,
            "POST",
            &format!("{META}/cas"),
            Some(json!({ "custom_metadata": bad })),
        )
        .await;
        let e = assert_vault_error(&r, 400);
        assert!(
            e["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("custom_metadata validation failed: "),
            "{}",
            r.text
        );
    }

    // oldest_version: 0 until a version is trimmed.
    let meta_url = format!("{META}/cas");
    let meta = || vault(&s, &s.owner, "GET", &meta_url, None);
    assert_eq!(meta().await.json()["data"]["oldest_version"], 0);
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/cas"),
        Some(json!({"max_versions": 2, "cas_required": false})),
    )
    .await;
    for v in ["2", "3"] {
        vault(&s, &s.owner, "POST", &p, Some(json!({"data": {"v": v}}))).await;
    }
    assert_eq!(meta().await.json()["data"]["oldest_version"], 2);

    // sys/init: no token needed, not enveloped (hvac's sys.is_initialized()).
    let r = s
        .raw(s.http.get(format!("{}/vault/v1/sys/init", s.url)))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json(), json!({"initialized": true}));
}

#[tokio::test]
async fn the_shorter_delete_version_after_applies() {
    let s = TestServer::start().await;
    let r = vault(
        &s,
        &s.owner,
        "POST",
        "/vault/v1/secret/config",
        Some(json!({"delete_version_after": "1h"})),
    )
    .await;
    assert!(r.status.is_success(), "{}", r.text);
    // The secret's own is longer (2h): the engine's hour applies.
    // The other's own is shorter (30m): its 30 minutes apply.
    for (name, own) in [("long", "2h"), ("short", "30m")] {
        let data_url = format!("{DATA}/{name}");
        let write = || {
            vault(
                &s,
                &s.owner,
                "POST",
                &data_url,
                Some(json!({"data": {"v": name}})),
            )
        };
        assert_eq!(write().await.status, 200);
        let r = vault(
            &s,
            &s.owner,
            "POST",
            &format!("{META}/{name}"),
            Some(json!({"delete_version_after": own})),
        )
        .await;
        assert!(r.status.is_success(), "{}", r.text);
        // The next version is written under both settings.
        assert_eq!(write().await.status, 200);
        let j = vault(&s, &s.owner, "GET", &format!("{META}/{name}"), None)
            .await
            .json();
        assert_eq!(
            j["data"]["delete_version_after"],
            if own == "2h" { "2h0m0s" } else { "30m0s" },
            "the secret's own setting reads back as written"
        );
    }
    s.clock.advance_seconds(1801);
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/short"), None).await;
    assert_eq!(r.status, 404, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/long"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    s.clock.advance_seconds(1800);
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/long"), None).await;
    assert_eq!(r.status, 404, "capped by the engine's hour: {}", r.text);
    // Natively too.
    s.reveal(&s.owner, "long")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn metadata_written_first_makes_an_entry_that_takes_version_one() {
    let s = TestServer::start().await;
    // Vault creates the metadata entry for a path with no versions.
    let r = vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/app/new"),
        Some(
            json!({"max_versions": 3, "cas_required": true, "custom_metadata": {"team": "infra"}}),
        ),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{META}/app/new"), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = assert_envelope(&r);
    assert_eq!(j["data"]["current_version"], 0);
    assert_eq!(j["data"]["oldest_version"], 0);
    assert_eq!(j["data"]["versions"], json!({}));
    assert_eq!(j["data"]["max_versions"], 3);
    assert_eq!(j["data"]["cas_required"], true);
    assert_eq!(j["data"]["custom_metadata"], json!({"team": "infra"}));
    assert!(j["data"]["lockbox"].get("fingerprint").is_none());
    // It lists as Vault lists it; reading data finds nothing.
    let r = vault(&s, &s.owner, "LIST", &format!("{META}/app"), None).await;
    assert_eq!(r.json()["data"]["keys"], json!(["new"]), "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{DATA}/app/new"), None).await;
    assert_eq!(assert_vault_error(&r, 404)["errors"], json!([]));
    // The native API does not show an entry without a value.
    s.get(&s.owner, &TestServer::secret_path("app/new"))
        .await
        .assert_error(404, "not_found");
    s.reveal(&s.owner, "app/new")
        .await
        .assert_error(404, "not_found");
    let list = s
        .get(&s.owner, "/v1/workspaces/default/secrets?prefix=app/")
        .await
        .json();
    assert_eq!(list["secrets"], json!([]), "{list}");
    // Its cas_required holds: the first write names version 0.
    let p = format!("{DATA}/app/new");
    let r = vault(&s, &s.owner, "POST", &p, Some(json!({"data": {"v": "1"}}))).await;
    assert_eq!(
        assert_vault_error(&r, 400)["errors"],
        json!(["check-and-set parameter required for this call"])
    );
    let r = vault(
        &s,
        &s.owner,
        "POST",
        &p,
        Some(json!({"data": {"v": "1"}, "options": {"cas": 0}})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["data"]["version"], 1);
    // Now it is a secret like any other, with the settings written first.
    assert_eq!(native_value(&s, "app/new").await, json!({"v": "1"}));
    let meta = s
        .get(&s.owner, &TestServer::secret_path("app/new"))
        .await
        .json();
    assert_eq!(meta["version"], 1);
    assert_eq!(meta["labels"], json!({"team": "infra"}));
    assert_eq!(meta["max_versions"], 3);

    // A native write to an entry creates the secret (201), visibility and all.
    vault(
        &s,
        &s.owner,
        "PUT",
        &format!("{META}/native"),
        Some(json!({"custom_metadata": {"k": "v"}})),
    )
    .await;
    let r = s
        .put(
            &s.owner,
            "native",
            json!({"value": "native-value-1", "visibility": "restricted"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["version"], 1);
    assert_eq!(r.json()["visibility"], "restricted");
    assert_eq!(r.json()["labels"], json!({"k": "v"}));

    // Deleting an entry removes it; PATCH does not create one.
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/gone"),
        Some(json!({})),
    )
    .await;
    let r = vault(&s, &s.owner, "DELETE", &format!("{META}/gone"), None).await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{META}/gone"), None).await;
    assert_vault_error(&r, 404);
    let r = s
        .raw(
            s.http
                .patch(format!("{}{META}/gone", s.url))
                .header("X-Vault-Token", &s.owner)
                .header("Content-Type", "application/merge-patch+json")
                .body(json!({"max_versions": 2}).to_string()),
        )
        .await;
    assert_vault_error(&r, 404);
    // Natively too, a delete removes an entry.
    vault(
        &s,
        &s.owner,
        "POST",
        &format!("{META}/gone2"),
        Some(json!({})),
    )
    .await;
    let r = s
        .call(
            &s.owner,
            Method::DELETE,
            &TestServer::secret_path("gone2"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = vault(&s, &s.owner, "GET", &format!("{META}/gone2"), None).await;
    assert_vault_error(&r, 404);

    // A viewer may not make one.
    let viewer = s.service_token("ci-viewer", "viewer").await;
    let r = vault(
        &s,
        &viewer,
        "POST",
        &format!("{META}/by-viewer"),
        Some(json!({"max_versions": 2})),
    )
    .await;
    assert_vault_error(&r, 403);
    let r = vault(&s, &s.owner, "GET", &format!("{META}/by-viewer"), None).await;
    assert_vault_error(&r, 404);
}
