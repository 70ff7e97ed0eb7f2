//! Vault's system and token paths that KV clients call around their real work:
//! `sys/health`, `sys/seal-status`, `sys/init`, `sys/mounts`,
//! `sys/internal/ui/mounts/<path>` (the `vault kv` CLI's preflight) and
//! `auth/token/lookup-self`.
//!
//! Lockbox has exactly two KV v2 mounts, `secret/` (the workspace scope) and
//! `private/` (the caller's user scope); this module describes them and the token.
//! It never lists anything a token could not already see and never mounts,
//! unmounts or creates tokens.

use super::envelope::{json_response, Envelope};
use super::request::VaultCaller;
use crate::error::VaultError;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// The mounts, with what each one holds.
pub const MOUNTS: [(&str, &str); 2] = [
    (
        "secret",
        "Lockbox workspace secrets (the token's workspace)",
    ),
    (
        "private",
        "Lockbox user-scope secrets (the caller's own, in the token's workspace)",
    ),
];

pub fn mount_info(name: &str, description: &str) -> Value {
    json!({
        "accessor": format!("kv_lockbox_{name}"),
        "config": {"default_lease_ttl": 0, "force_no_cache": false, "max_lease_ttl": 0},
        "description": description,
        "external_entropy_access": false,
        "local": false,
        "options": {"version": "2"},
        "path": format!("{name}/"),
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "seal_wrap": false,
        "type": "kv",
        "uuid": format!("lockbox-{name}"),
    })
}

/// `sys/health`: unauthenticated and not enveloped, as in Vault. 200 when the store
/// answers, 503 (Vault's "sealed") when it does not.
pub async fn health(st: &AppState) -> Response {
    let ready = st.svc.ready().await;
    let body = json!({
        "initialized": true,
        "sealed": !ready,
        "standby": false,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": st.svc.now().millis() / 1000,
        "version": format!("1.15.0+lockbox.{}", env!("CARGO_PKG_VERSION")),
        "cluster_name": "lockbox",
        "cluster_id": "lockbox",
    });
    json_response(
        if ready {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// `sys/seal-status`: unauthenticated and not enveloped, as in Vault (`vault status`,
/// hvac's `is_sealed`). Lockbox has no seal: it is "unsealed" while its store answers.
pub async fn seal_status(st: &AppState) -> Response {
    let ready = st.svc.ready().await;
    let body = json!({
        "type": "lockbox",
        "initialized": true,
        "sealed": !ready,
        "t": 1,
        "n": 1,
        "progress": 0,
        "nonce": "",
        "version": format!("1.15.0+lockbox.{}", env!("CARGO_PKG_VERSION")),
        "build_date": "",
        "migration": false,
        "cluster_name": "lockbox",
        "cluster_id": "lockbox",
        "recovery_seal": false,
        "storage_type": "lockbox",
    });
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

/// `sys/init`: unauthenticated and not enveloped, as in Vault (hvac's
/// `sys.is_initialized()`). A running Lockbox is always initialized: it creates
/// its store, keys and first workspace on its first start.
pub fn init_status() -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(&json!({"initialized": true})).unwrap_or_default(),
    )
}

/// `sys/mounts`: the two KV v2 mounts, in `data` and (as Vault does) at the top level.
pub fn mounts(request_id: &str) -> Response {
    let data: serde_json::Map<String, Value> = MOUNTS
        .iter()
        .map(|(n, d)| (format!("{n}/"), mount_info(n, d)))
        .collect();
    let mut env = Envelope::new(request_id, Value::Object(data.clone()));
    for (k, v) in data {
        env = env.extra(&k, v);
    }
    env.respond(StatusCode::OK)
}

/// `sys/internal/ui/mounts/<path>`: which mount serves a path. An unknown mount is
/// 403, never 404 (the CLI reads a 404 as "KV version 1").
pub fn ui_mount(request_id: &str, path: &str) -> Result<Response, VaultError> {
    if path.is_empty() {
        let secret: serde_json::Map<String, Value> = MOUNTS
            .iter()
            .map(|(n, d)| (format!("{n}/"), mount_info(n, d)))
            .collect();
        return Ok(
            Envelope::new(request_id, json!({"auth": {}, "secret": secret}))
                .respond(StatusCode::OK),
        );
    }
    let mount = path.split('/').next().unwrap_or("");
    let (name, description) = MOUNTS
        .iter()
        .find(|(n, _)| *n == mount)
        .ok_or_else(VaultError::permission_denied)?;
    Ok(Envelope::new(request_id, mount_info(name, description)).respond(StatusCode::OK))
}

/// `auth/token/lookup-self`: the presented token as Vault describes a token;
/// `data.id` is the token itself (clients check it).
pub async fn lookup_self(
    st: &AppState,
    c: &VaultCaller,
    request_id: &str,
) -> Result<Response, VaultError> {
    let me = st.svc.whoami(&c.principal).await?;
    let role = me
        .workspaces
        .iter()
        .find(|w| w.name == c.workspace)
        .map(|w| w.role)
        .unwrap_or("run");
    let mut meta = serde_json::Map::new();
    meta.insert("workspace".into(), json!(c.workspace));
    meta.insert("role".into(), json!(role));
    meta.insert("kind".into(), json!(me.kind));
    if let Some(u) = &me.user {
        meta.insert("user".into(), json!(u));
    }
    let data = json!({
        "accessor": me.token.id,
        "creation_time": 0,
        "creation_ttl": 0,
        "display_name": me.token.name,
        "entity_id": "",
        "expire_time": null,
        "explicit_max_ttl": 0,
        "id": c.token,
        "identity_policies": [],
        "issue_time": null,
        "meta": meta,
        "num_uses": 0,
        "orphan": true,
        "path": "auth/token/create",
        "policies": ["default"],
        "renewable": false,
        "ttl": 0,
        "type": "service",
    });
    Ok(Envelope::new(request_id, data).respond(StatusCode::OK))
}
