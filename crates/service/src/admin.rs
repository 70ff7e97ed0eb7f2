//! Offline administration on a data directory, for the CLI: master-key rotation
//! and audit-chain verification. Both work while a server runs on the same
//! directory (SQLite WAL lets a second process write; the server reloads the key
//! file when it meets a key version it does not know).

use crate::store_err;
use lockbox_core::{Clock, Error, Result, SystemClock};
use lockbox_crypto::{MasterKeyring, WrappedDataKey};
use lockbox_store::{AuditRecord, SqliteStore, Store, WorkspaceKeyRow};
use std::path::Path;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RotateReport {
    pub new_master_version: u32,
    pub rewrapped: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditVerify {
    pub rows: u64,
    pub head: String,
    pub broken_at: Option<(i64, String)>,
}

fn open(data_dir: &Path) -> Result<(MasterKeyring, SqliteStore)> {
    if !data_dir.join(lockbox_store::sqlite::DB_FILE_NAME).exists() {
        return Err(Error::not_found(format!(
            "no Lockbox data in {}",
            data_dir.display()
        )));
    }
    let keyring = MasterKeyring::load_or_create(data_dir)?;
    let store = SqliteStore::open(data_dir).map_err(store_err)?;
    Ok((keyring, store))
}

/// Adds a master-key version and rewraps every workspace key under it. Old versions
/// stay in the key file for anything not yet rewrapped.
pub async fn rotate_master_key(data_dir: &Path) -> Result<RotateReport> {
    let (keyring, store) = open(data_dir)?;
    let keys = store.all_workspace_keys().await.map_err(store_err)?;
    // Unwrap everything first: a key that does not open stops the rotation before
    // anything changes.
    let mut opened = Vec::with_capacity(keys.len());
    for k in &keys {
        let wrapped = WrappedDataKey {
            master_version: k.master_version,
            blob: k.wrapped.clone(),
        };
        opened.push((k, keyring.unwrap(&k.workspace_id, k.version, &wrapped)?));
    }
    let new_version = keyring.rotate()?;
    let rewrapped: Vec<WorkspaceKeyRow> = opened
        .iter()
        .map(|(k, dk)| {
            let w = keyring.wrap(&k.workspace_id, k.version, dk);
            WorkspaceKeyRow {
                workspace_id: k.workspace_id.clone(),
                version: k.version,
                master_version: w.master_version,
                wrapped: w.blob,
            }
        })
        .collect();
    let n = rewrapped.len();
    let audit = AuditRecord {
        workspace_id: None,
        at: SystemClock.now(),
        actor: "system".into(),
        action: "keys.rotate".into(),
        target: None,
        outcome: "ok".into(),
        request_id: None,
        detail: serde_json::json!({"master_version": new_version, "rewrapped": n}),
    };
    store
        .rewrap_workspace_keys(rewrapped, audit)
        .await
        .map_err(store_err)?;
    Ok(RotateReport {
        new_master_version: new_version,
        rewrapped: n,
    })
}

/// Walks the audit chain from the first row; `broken_at` names the first bad row.
pub async fn verify_audit(data_dir: &Path) -> Result<AuditVerify> {
    let (_, store) = open(data_dir)?;
    let r = store.verify_audit().await.map_err(store_err)?;
    Ok(AuditVerify {
        rows: r.rows,
        head: r.head,
        broken_at: r.broken_at,
    })
}
