//! Expiry: purging secrets whose TTL has passed (the background upkeep calls
//! this; reads already treat an expired secret as absent).

use crate::evict::Change;
use crate::{store_err, Lockbox};
use lockbox_core::Result;

impl Lockbox {
    /// Deletes every expired secret (each audited as `secret.expire`).
    pub async fn purge_expired(&self) -> Result<usize> {
        let gone = self
            .store
            .purge_expired(self.clock.now())
            .await
            .map_err(store_err)?;
        for row in &gone {
            self.evict(&Change::secret(&row.id));
        }
        Ok(gone.len())
    }
}
