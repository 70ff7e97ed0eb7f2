//! Opening a sealed version, and the read rule every path that could hand out a
//! value shares: a soft-deleted or destroyed version is `not_found`. Sealing a
//! new version is the writer's (writer.rs); what the associated data binds is
//! policy_seal.rs.

use crate::Lockbox;
use lockbox_core::{Error, Result, SecretValue};
use lockbox_store::{SecretRow, VersionRow, WorkspaceRow};

impl Lockbox {
    /// The plaintext of one version; a soft-deleted or destroyed version is
    /// `not_found`, whatever asks for it.
    pub(crate) async fn open_version(
        &self,
        ws: &WorkspaceRow,
        s: &SecretRow,
        v: &VersionRow,
    ) -> Result<SecretValue> {
        if v.is_deleted(self.clock.now()) {
            let state = if v.destroyed { "destroyed" } else { "deleted" };
            return Err(Error::not_found(format!(
                "version {} of secret '{}' is {state}",
                v.version, s.name
            )));
        }
        self.open_sealed(ws, s, v).await
    }

    /// Decrypts a version without asking whether it is deleted: only for the
    /// output redactor, which must still mask soft-deleted values. The stored
    /// policy must match what the ciphertext was sealed under (policy_seal.rs).
    pub(crate) async fn open_sealed(
        &self,
        ws: &WorkspaceRow,
        s: &SecretRow,
        v: &VersionRow,
    ) -> Result<SecretValue> {
        self.open_bound(&ws.id, s, v).await
    }
}
