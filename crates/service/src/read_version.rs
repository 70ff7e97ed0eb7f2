//! Reading one version with its facts in one call: what a Vault data read
//! answers (the value, and the version's created time, deletion time, destroyed
//! flag and the secret's custom metadata), decided and audited exactly as
//! `reveal_secret` decides and audits a reveal.
//!
//! A soft-deleted or destroyed version comes back without its value but with its
//! facts (Vault answers such a read `404` with the metadata); nothing was
//! revealed, so nothing is audited as a reveal.

use crate::auth::Principal;
use crate::{Lockbox, RequestCtx};
use lockbox_core::{Error, Result, Scope, SecretName, SecretValue, Timestamp};
use std::collections::BTreeMap;

/// One version of a secret as a read shows it.
#[derive(Debug)]
pub struct VersionRead {
    pub version: u64,
    /// `None` when the version is soft-deleted or destroyed now.
    pub value: Option<SecretValue>,
    /// When the version was written, RFC 3339.
    pub created_at: String,
    /// When it was (or will be) soft-deleted, RFC 3339.
    pub deleted_at: Option<String>,
    pub destroyed: bool,
    /// The secret's labels (Vault `custom_metadata`).
    pub labels: BTreeMap<String, String>,
}

impl Lockbox {
    /// The value of version `version` (the current one when `None`) of `name`
    /// with that version's facts: one reveal, with its refusals and its audit row
    /// (durable before this returns), and no other read of the secret.
    pub async fn read_version(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        version: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<VersionRead> {
        let t = self.target(p, ws_name, scope).await?;
        let row = self.find_live_fresh(&t, name, false).await?;
        // The same refusals, in the same order, as `reveal_secret`.
        self.may_reveal(p, &t, &row, name, ctx).await?;
        let want = version.unwrap_or(row.current_version);
        let v = self
            .version_row(&row.id, want)
            .await?
            .ok_or_else(|| Error::not_found(format!("version {want} of '{name}' not found")))?;
        let mut read = VersionRead {
            version: want,
            value: None,
            created_at: v.created_at.to_rfc3339(),
            deleted_at: v.deleted_at.map(Timestamp::to_rfc3339),
            destroyed: v.destroyed,
            labels: row.labels.clone(),
        };
        if v.is_deleted(self.clock.now()) {
            return Ok(read);
        }
        read.value = Some(self.open_audited(p, &t, &row, &v, name, ctx).await?);
        Ok(read)
    }
}
