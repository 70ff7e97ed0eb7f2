//! The `vaultrs` crate, unmodified, against a real Lockbox server with
//! `VAULT_ADDR=<server>/vault`: create, read (latest and by version), CAS success
//! and failure, list, soft delete, undelete, destroy, metadata read/update/delete,
//! `cas_required`, `max_versions` pruning, `delete_version_after`, `lookup_self`,
//! health and mounts. vaultrs deserializes every answer into typed structs, so
//! these tests also prove the envelope fields and the shapes of `data`. Each case
//! cross-checks the value through the native API.
//! (vaultrs 0.8 has no KV v2 PATCH; PATCH is covered by the raw HTTP and hvac suites.)

mod support;

use serde_json::{json, Value};
use std::collections::HashMap;
use support::TestServer;
use vaultrs::api::kv2::requests::{SetSecretMetadataRequest, SetSecretRequestOptions};
use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use vaultrs::{kv2, sys, token};

fn client(s: &TestServer, token: &str) -> VaultClient {
    // vaultrs is built without its own TLS provider; these tests speak plain HTTP
    // to loopback, but reqwest still wants a process-wide provider to exist.
    let _ = rustls::crypto::ring::default_provider().install_default();
    VaultClient::new(
        VaultClientSettingsBuilder::default()
            .address(format!("{}/vault", s.url))
            .token(token)
            .build()
            .unwrap(),
    )
    .unwrap()
}

async fn native_value(s: &TestServer, name: &str) -> Value {
    let r = s.reveal(&s.owner, name).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["value"].clone()
}

fn api_status(e: &ClientError) -> u16 {
    match e {
        ClientError::APIError { code, .. } => *code,
        // A 404 that carries the envelope (a deleted version), as Vault sends it.
        // rustify's `ServerResponseError { code, content }` (its type is not
        // re-exported): read the code from its Debug form.
        ClientError::RestClientError { source } => format!("{source:?}")
            .split("ServerResponseError { code: ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("expected a server response, got {source:?}")),
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn api_errors(e: &ClientError) -> Vec<String> {
    match e {
        ClientError::APIError { errors, .. } => errors.clone(),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn vaultrs_create_read_cas_list_and_versions() {
    let s = TestServer::start().await;
    let c = client(&s, &s.owner);
    let v1 = kv2::set(
        &c,
        "secret",
        "app/db",
        &json!({"user": "app", "password": "pw-1"}),
    )
    .await
    .unwrap();
    assert_eq!(v1.version, 1);
    assert!(!v1.destroyed);
    assert_eq!(
        native_value(&s, "app/db").await,
        json!({"user": "app", "password": "pw-1"})
    );
    let read: HashMap<String, String> = kv2::read(&c, "secret", "app/db").await.unwrap();
    assert_eq!(read["password"], "pw-1");

    // CAS: success with the current version, failure with a stale one.
    let v2 = kv2::set_with_options(
        &c,
        "secret",
        "app/db",
        &json!({"user": "app", "password": "pw-2"}),
        SetSecretRequestOptions { cas: 1 },
    )
    .await
    .unwrap();
    assert_eq!(v2.version, 2);
    let e = kv2::set_with_options(
        &c,
        "secret",
        "app/db",
        &json!({"password": "stale"}),
        SetSecretRequestOptions { cas: 1 },
    )
    .await
    .unwrap_err();
    assert_eq!(api_status(&e), 400);
    assert!(api_errors(&e)[0].contains("check-and-set parameter did not match"));
    assert_eq!(native_value(&s, "app/db").await["password"], "pw-2");

    // Latest and by version.
    let latest: Value = kv2::read(&c, "secret", "app/db").await.unwrap();
    assert_eq!(latest["password"], "pw-2");
    let old: Value = kv2::read_version(&c, "secret", "app/db", 1).await.unwrap();
    assert_eq!(old["password"], "pw-1");

    // List.
    kv2::set(&c, "secret", "app/api", &json!({"k": "v"}))
        .await
        .unwrap();
    kv2::set(&c, "secret", "top", &json!({"k": "v"}))
        .await
        .unwrap();
    assert_eq!(
        kv2::list(&c, "secret", "").await.unwrap(),
        vec!["app/", "top"]
    );
    assert_eq!(
        kv2::list(&c, "secret", "app/").await.unwrap(),
        vec!["api", "db"]
    );
    let e = kv2::list(&c, "secret", "none/").await.unwrap_err();
    assert_eq!(api_status(&e), 404);

    // Soft delete, undelete, destroy.
    kv2::delete_latest(&c, "secret", "app/db").await.unwrap();
    let e = kv2::read::<Value>(&c, "secret", "app/db")
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 404);
    s.reveal(&s.owner, "app/db")
        .await
        .assert_error(404, "not_found");
    kv2::undelete_versions(&c, "secret", "app/db", vec![2])
        .await
        .unwrap();
    assert_eq!(native_value(&s, "app/db").await["password"], "pw-2");
    kv2::delete_versions(&c, "secret", "app/db", vec![1])
        .await
        .unwrap();
    kv2::destroy_versions(&c, "secret", "app/db", vec![1])
        .await
        .unwrap();
    let meta = kv2::read_metadata(&c, "secret", "app/db").await.unwrap();
    assert_eq!(meta.current_version, 2);
    assert!(meta.versions["1"].destroyed);
    assert!(!meta.versions["2"].destroyed);
    assert_eq!(meta.versions["2"].deletion_time, "");
    let e = kv2::read_version::<Value>(&c, "secret", "app/db", 1)
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 404);
}

#[tokio::test]
async fn vaultrs_metadata_and_engine_config() {
    let s = TestServer::start().await;
    let c = client(&s, &s.owner);
    kv2::set(&c, "secret", "m", &json!({"v": "1"}))
        .await
        .unwrap();
    kv2::set_metadata(
        &c,
        "secret",
        "m",
        Some(
            SetSecretMetadataRequest::builder()
                .max_versions(2u64)
                .delete_version_after("30m")
                .custom_metadata(HashMap::from([("team".to_owned(), "infra".to_owned())])),
        ),
    )
    .await
    .unwrap();
    let meta = kv2::read_metadata(&c, "secret", "m").await.unwrap();
    assert_eq!(meta.max_versions, 2);
    assert_eq!(meta.delete_version_after, "30m0s");
    let cm = meta.custom_metadata.unwrap();
    // custom_metadata reads back exactly as written (Lockbox's facts stand beside it).
    assert_eq!(cm, HashMap::from([("team".to_owned(), "infra".to_owned())]));
    let native = s.get(&s.owner, &TestServer::secret_path("m")).await.json();
    assert_eq!(native["labels"], json!({"team": "infra"}));

    // max_versions 2 prunes on the next writes.
    for v in ["2", "3"] {
        kv2::set(&c, "secret", "m", &json!({"v": v})).await.unwrap();
    }
    let meta = kv2::read_metadata(&c, "secret", "m").await.unwrap();
    let mut kept: Vec<&String> = meta.versions.keys().collect();
    kept.sort();
    assert_eq!(kept, ["2", "3"]);
    assert_eq!(meta.oldest_version, 2);
    // delete_version_after: 30 minutes later the current version reads as deleted.
    assert!(!meta.versions["3"].deletion_time.is_empty());
    s.clock.advance_seconds(31 * 60);
    let e = kv2::read::<Value>(&c, "secret", "m").await.unwrap_err();
    assert_eq!(api_status(&e), 404);

    // Delete metadata and every version.
    kv2::delete_metadata(&c, "secret", "m").await.unwrap();
    let e = kv2::read_metadata(&c, "secret", "m").await.unwrap_err();
    assert_eq!(api_status(&e), 404);
    s.get(&s.owner, &TestServer::secret_path("m"))
        .await
        .assert_error(404, "not_found");

    // Engine config = workspace settings; cas_required then refuses a write without cas.
    kv2::config::set(
        &c,
        "secret",
        Some(
            vaultrs::api::kv2::requests::SetConfigurationRequest::builder()
                .cas_required(true)
                .max_versions(5u64),
        ),
    )
    .await
    .unwrap();
    let cfg = kv2::config::read(&c, "secret").await.unwrap();
    assert!(cfg.cas_required);
    assert_eq!(cfg.max_versions, 5);
    assert_eq!(cfg.delete_version_after, "0s");
    let e = kv2::set(&c, "secret", "cr", &json!({"v": "1"}))
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 400);
    assert!(api_errors(&e)[0].contains("check-and-set parameter required"));
    kv2::set_with_options(
        &c,
        "secret",
        "cr",
        &json!({"v": "1"}),
        SetSecretRequestOptions { cas: 0 },
    )
    .await
    .unwrap();
    assert_eq!(native_value(&s, "cr").await, json!({"v": "1"}));
}

#[tokio::test]
async fn vaultrs_token_health_mounts_and_refusals() {
    let s = TestServer::start().await;
    let c = client(&s, &s.owner);
    let me = token::lookup_self(&c).await.unwrap();
    assert_eq!(me.id, s.owner);
    let health = sys::health(&c).await.unwrap();
    assert!(health.initialized);
    assert!(!health.sealed);
    let mounts = sys::mount::list(&c).await.unwrap();
    assert_eq!(mounts["secret/"].mount_type, "kv");
    assert_eq!(mounts["secret/"].options.as_ref().unwrap()["version"], "2");
    // A bad token: 403 permission denied.
    let bad = client(&s, "lbx_not_a_real_token");
    let e = token::lookup_self(&bad).await.unwrap_err();
    assert_eq!(api_status(&e), 403);
    // A viewer lists but never reads a value.
    kv2::set(&c, "secret", "v", &json!({"v": "viewer-cannot-see"}))
        .await
        .unwrap();
    let viewer = client(&s, &s.service_token("viewer", "viewer").await);
    assert_eq!(kv2::list(&viewer, "secret", "").await.unwrap(), vec!["v"]);
    let e = kv2::read::<Value>(&viewer, "secret", "v")
        .await
        .unwrap_err();
    assert_eq!(api_status(&e), 403);
}
