//! Policy binding: every secret version is sealed under the policy it was written
//! with, so the policy Lockbox enforces is the one the ciphertext authenticates,
//! never what a database row merely says.
//!
//! The associated data of a version (`lockbox_crypto::ValueAad`, encoding v2)
//! binds the secret's visibility (fixed at creation, read from the secret row) and
//! the version's own `allowed_hosts` (kept beside the ciphertext in
//! `secret_versions.policy`). Someone who can write the database but holds no key
//! can still edit either column, but then the version no longer decrypts: the read
//! fails as an integrity error (logged once, with the secret id and version), never
//! as a reveal or a send to a wider set of hosts.
//!
//! Legacy versions (sealed before policy binding, `policy` NULL) open with the v1
//! encoding and the secret row's columns, exactly as before, until the sweep here
//! (started by `Lockbox::spawn_background`) or `lockbox keys reencrypt` re-seals
//! them as v2 with the policy they have at that moment.

use crate::{store_err, Lockbox};
use lockbox_core::{Error, Result, SecretValue, Visibility};
use lockbox_crypto::{DataKey, PolicyAad, ValueAad};
use lockbox_store::{AuditRecord, Reseal, SecretRow, VersionPolicy, VersionRow, WorkspaceRow};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Versions read and re-sealed per batch by the sweep.
const SWEEP_BATCH: u32 = 200;
/// How often the sweep looks again after its first pass: a node of an older build
/// may still write legacy versions during a rolling upgrade, and a restored backup
/// may bring some.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// The associated data of version `version` of `s`: the v2 encoding with the
/// secret's visibility and `policy`'s hosts, or v1 for a legacy version (`None`).
/// `None` when the policy names an encoding this build does not know.
pub(crate) fn value_aad<'a>(
    workspace_id: &'a str,
    s: &'a SecretRow,
    version: u64,
    key_version: u32,
    policy: Option<&'a VersionPolicy>,
) -> Option<ValueAad<'a>> {
    let policy = match policy {
        None => None,
        Some(p) if p.aad == VersionPolicy::AAD_V2 => Some(PolicyAad {
            visibility: s.visibility,
            allowed_hosts: &p.allowed_hosts,
        }),
        Some(_) => return None,
    };
    Some(ValueAad {
        workspace_id,
        secret_id: &s.id,
        scope: s.scope,
        owner: &s.owner,
        version,
        key_version,
        policy,
    })
}

/// The hosts version `v` may be sent to, given the secret row's list: the
/// version's own list, which its ciphertext authenticates once `v` itself has been
/// opened (`Lockbox::open_version`); for a legacy version, the row's list, as
/// before policy binding. Call it only with the very row that was opened.
pub(crate) fn authenticated_hosts(v: &VersionRow, row_hosts: Vec<String>) -> Vec<String> {
    match &v.policy {
        Some(p) => p.allowed_hosts.clone(),
        None => row_hosts,
    }
}

/// The fingerprint of a version of `s`. Restricted secrets get one keyed to the
/// version (secret id, version, value), so it is no equality oracle on a value no
/// one may see; masked secrets keep the fingerprint of the value alone.
pub(crate) fn fingerprint(
    key: &DataKey,
    s: &SecretRow,
    version: u64,
    value: &SecretValue,
) -> String {
    match s.visibility {
        Visibility::Restricted => key.version_fingerprint(&s.id, version, value),
        Visibility::Masked => key.fingerprint(value),
    }
}

/// A new version `s.current_version` of `s` under `key` (version `key_version`),
/// bound to the secret's visibility and `s.allowed_hosts`: its sealed bytes, its
/// policy and its fingerprint.
pub(crate) fn seal_new(
    key: &DataKey,
    workspace_id: &str,
    s: &SecretRow,
    key_version: u32,
    value: &SecretValue,
) -> (Vec<u8>, VersionPolicy, String) {
    let policy = VersionPolicy::v2(s.allowed_hosts.clone());
    let aad = value_aad(
        workspace_id,
        s,
        s.current_version,
        key_version,
        Some(&policy),
    )
    .expect("v2 is this build's encoding");
    let sealed = key.seal(&aad, value);
    (
        sealed,
        policy,
        fingerprint(key, s, s.current_version, value),
    )
}

/// Re-seals version `v` of `s` (opened with `old_key`) under `new_key`, version
/// `new_key_version`, always with the v2 encoding: a legacy version takes the policy
/// it has now (the secret's visibility and `allowed_hosts`), and a restricted one
/// also gets its per-version fingerprint; a v2 version keeps its policy and
/// fingerprint. `None` if `v` does not open (the caller decides what that means).
/// The update is compare-and-set on `v`'s key version and policy.
pub(crate) fn reseal(
    workspace_id: &str,
    s: &SecretRow,
    v: &VersionRow,
    old_key: &DataKey,
    new_key: &DataKey,
    new_key_version: u32,
) -> Option<Reseal> {
    let aad = value_aad(workspace_id, s, v.version, v.key_version, v.policy.as_ref())?;
    let value = old_key.open(&aad, &v.sealed).ok()?;
    let (policy, fingerprint) = match &v.policy {
        Some(p) => (p.clone(), v.fingerprint.clone()),
        None => (
            VersionPolicy::v2(s.allowed_hosts.clone()),
            fingerprint(new_key, s, v.version, &value),
        ),
    };
    let aad = value_aad(workspace_id, s, v.version, new_key_version, Some(&policy))?;
    let sealed = new_key.seal(&aad, &value);
    drop(value);
    Some(Reseal {
        old_key_version: v.key_version,
        old_policy: v.policy.clone(),
        version: VersionRow {
            key_version: new_key_version,
            sealed,
            policy: Some(policy),
            fingerprint,
            ..v.clone()
        },
    })
}

/// What one pass of the policy sweep did. Counts only.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PolicySweepReport {
    /// Legacy versions re-sealed as v2 by this node.
    pub converted: usize,
    /// Legacy versions another writer changed first (another node's sweep, a
    /// re-encryption, a destroy, a new list on the secret): left for the next pass.
    pub raced: usize,
    /// Legacy versions that did not open (or whose key is gone): left as they are.
    pub failed: usize,
}

impl Lockbox {
    /// Decrypts version `v` of `s` under the policy binding. A version whose stored
    /// policy (the secret's visibility, the version's `allowed_hosts`) does not match
    /// what its ciphertext was sealed under fails here, as `internal`, logged once;
    /// its value never leaves.
    pub(crate) async fn open_bound(
        &self,
        workspace_id: &str,
        s: &SecretRow,
        v: &VersionRow,
    ) -> Result<SecretValue> {
        let key = self.data_key(workspace_id, v.key_version).await?;
        value_aad(workspace_id, s, v.version, v.key_version, v.policy.as_ref())
            .and_then(|aad| key.open(&aad, &v.sealed).ok())
            .ok_or_else(|| {
                tracing::error!(
                    secret_id = %s.id,
                    version = v.version,
                    aad = v.policy.as_ref().map_or(1, |p| p.aad),
                    "stored policy does not match its ciphertext"
                );
                Error::internal("a stored secret version failed its integrity check")
            })
    }

    /// The `allowed_hosts` of a new version of `cur`: `named` when the write names a
    /// list, else the list the current version authenticates. The current version
    /// is opened (its value dropped at once) whenever it still holds one, which also
    /// checks the row's visibility before a new version is sealed under it; so an
    /// edited row fails the write instead of being carried on. Only a deleted or
    /// destroyed current version leaves nothing to check against: then the row's
    /// list is used.
    pub(crate) async fn inherited_hosts(
        &self,
        ws: &WorkspaceRow,
        cur: &SecretRow,
        named: Option<Vec<String>>,
    ) -> Result<Vec<String>> {
        let current = self.version_row(&cur.id, cur.current_version).await?;
        match current {
            Some(v) if !v.is_deleted(self.clock.now()) => {
                drop(self.open_bound(&ws.id, cur, &v).await?);
                Ok(named.unwrap_or_else(|| authenticated_hosts(&v, cur.allowed_hosts.clone())))
            }
            _ => Ok(named.unwrap_or_else(|| cur.allowed_hosts.clone())),
        }
    }

    /// One pass of the policy sweep: re-seals every legacy version (v1, no policy)
    /// as v2 with the policy it has now, in batches of 200, each version
    /// compare-and-set on its key version and policy (and the secret's current list),
    /// so it is idempotent, resumable, and safe with several nodes sweeping at once.
    /// Versions under their current key version stay under it. Reports counts in one
    /// log line and one audit row, never a value.
    pub async fn reseal_legacy_versions(&self) -> Result<PolicySweepReport> {
        let mut report = PolicySweepReport::default();
        let mut after: Option<(String, u64)> = None;
        loop {
            let batch = self
                .store
                .legacy_versions(after.clone(), SWEEP_BATCH)
                .await
                .map_err(store_err)?;
            let Some((s, v)) = batch.last() else {
                break;
            };
            after = Some((s.id.clone(), v.version));
            let mut updates = Vec::with_capacity(batch.len());
            for (s, v) in &batch {
                let resealed = match self.data_key(&s.workspace_id, v.key_version).await {
                    Ok(key) => reseal(&s.workspace_id, s, v, &key, &key, v.key_version),
                    Err(_) => None,
                };
                match resealed {
                    Some(r) => updates.push(r),
                    None => {
                        report.failed += 1;
                        tracing::warn!(
                            secret_id = %s.id,
                            version = v.version,
                            "a legacy secret version does not decrypt; left as it is"
                        );
                    }
                }
            }
            let tried = updates.len();
            let ids: HashSet<String> = updates
                .iter()
                .map(|u| u.version.secret_id.clone())
                .collect();
            let n = self
                .store
                .reseal_versions(updates)
                .await
                .map_err(store_err)?;
            report.converted += n;
            report.raced += tried - n;
            if n > 0 {
                for id in &ids {
                    self.evict(&crate::evict::Change::secret(id));
                }
            }
        }
        if report != PolicySweepReport::default() {
            tracing::info!(
                converted = report.converted,
                raced = report.raced,
                failed = report.failed,
                "policy sweep: legacy secret versions re-sealed with their policy bound"
            );
        }
        if report.converted > 0 {
            let audit = AuditRecord {
                workspace_id: None,
                at: self.clock.now(),
                actor: "system".into(),
                action: "secrets.policy_reseal".into(),
                target: None,
                outcome: "ok".into(),
                request_id: None,
                detail: serde_json::json!({
                    "converted": report.converted,
                    "raced": report.raced,
                    "failed": report.failed,
                }),
            };
            self.store
                .append_audit(vec![audit])
                .await
                .map_err(store_err)?;
        }
        Ok(report)
    }

    /// Runs the policy sweep now and then every ten minutes, until aborted.
    pub(crate) fn spawn_policy_sweep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = me.reseal_legacy_versions().await {
                    tracing::warn!(error = %e, "the policy sweep failed; it will try again");
                }
                tokio::time::sleep(SWEEP_EVERY).await;
            }
        })
    }
}
