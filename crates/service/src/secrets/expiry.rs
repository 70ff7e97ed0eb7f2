//! Expiry: purging secrets whose TTL has passed (the background upkeep calls
//! this; reads already treat an expired secret as absent).

use crate::evict::Change;
use crate::Lockbox;
use lockbox_core::Result;

impl Lockbox {
    /// Deletes every expired secret (each audited as `secret.expire`).
    pub async fn purge_expired(&self) -> Result<usize> {
        let gone = self.delete_expired_secrets().await?;
        for gone_id in &gone {
            self.evict(&Change::secret(gone_id));
        }
        Ok(gone.len())
    }
}
