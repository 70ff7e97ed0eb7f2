//! Unwrapped workspace data keys, cached in memory so a read does not unwrap a key
//! every time. Deleting a workspace evicts its keys here and destroys the wrapped copies
//! in the store.

use crate::cache::TtlCache;
use crate::{store_err, Lockbox};
use lockbox_core::{Error, Result};
use lockbox_crypto::{DataKey, WrappedDataKey};
use lockbox_store::WorkspaceKeyRow;
use std::sync::Arc;

pub(crate) struct KeyCache(pub(crate) TtlCache<(String, u32), Arc<DataKey>>);

impl KeyCache {
    pub(crate) fn sweep(&self) {
        self.0.sweep();
    }
}

impl Lockbox {
    pub(crate) async fn data_key(&self, workspace_id: &str, version: u32) -> Result<Arc<DataKey>> {
        let k = (workspace_id.to_owned(), version);
        if let Some(key) = self.keys.0.get(&k) {
            return Ok(key);
        }
        let rows = self
            .store
            .workspace_keys(workspace_id)
            .await
            .map_err(store_err)?;
        let row = rows
            .into_iter()
            .find(|r| r.version == version)
            .ok_or_else(|| Error::not_found("the workspace key is gone (workspace deleted)"))?;
        let wrapped = WrappedDataKey {
            master_version: row.master_version,
            blob: row.wrapped,
        };
        let key = match self.keyring.unwrap(workspace_id, version, &wrapped) {
            Ok(k) => Arc::new(k),
            // Another node switched to a version this keyring lacks: 503, not 500.
            Err(lockbox_crypto::CryptoError::UnknownMasterVersion(v)) => {
                return Err(self.missing_master_key(v))
            }
            Err(e) => return Err(e.into()),
        };
        self.keys.0.put(k, key.clone());
        Ok(key)
    }

    pub(crate) fn new_workspace_key(&self, workspace_id: &str) -> Result<WorkspaceKeyRow> {
        // Never wrap under an older version than the one the deployment uses.
        self.require_keys()?;
        let key = DataKey::generate();
        let wrapped = self.keyring.wrap(workspace_id, 1, &key);
        // Not cached: the workspace may never be committed (a name taken meanwhile);
        // the first use unwraps it.
        Ok(WorkspaceKeyRow {
            workspace_id: workspace_id.to_owned(),
            version: 1,
            master_version: wrapped.master_version,
            wrapped: wrapped.blob,
        })
    }
}
