//! The version writer: the one place a new version of a secret is written.
//!
//! [`Lockbox::write_version`] owns what every version write shares: taking a
//! turn in the per-secret write queue (writes without `If-Match`,
//! write_queue.rs), the compare-and-set loop on the secret's current version
//! (a lost race re-reads and retries; under `If-Match` it is
//! `version_mismatch`), the create-only, check-and-set and `If-Match` checks
//! (decided on a fresh read, never on the cache alone), sealing the value under
//! the policy it is written with, the audit row committed with it, and the
//! eviction that follows (evict.rs). Put, patch and rollback (writes.rs) are
//! steps: given the current row, each says what the next version holds.

use super::target::{queue_key, secret_key, Target};
use super::{not_found, version_mismatch};
use crate::auth::Principal;
use crate::evict::Change;
use crate::{store_err, Lockbox, RequestCtx};
use lockbox_core::{Error, ErrorCode, Result, SecretName, SecretValue, Timestamp, Visibility};
use lockbox_crypto::random_id;
use lockbox_store::{CommitVersion, Expect, SecretRow, StoreError, VersionRow};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

/// How often a write without `If-Match` re-reads and retries after losing a race.
const MAX_WRITE_ATTEMPTS: usize = 32;

/// How a write checks the current version before it writes the next.
pub(super) struct WriteSpec {
    /// The audit action of the write, and of a check-and-set refusal.
    pub(super) verb: &'static str,
    /// `If-Match`: the version the caller saw.
    pub(super) if_match: Option<u64>,
    /// `If-None-Match: *`: only create.
    pub(super) create_only: bool,
    /// The write may create the secret, or give an entry without versions its
    /// first one (put); otherwise a live secret with a value is required.
    pub(super) creates: bool,
    /// `cas_required` (the secret's or the workspace's) applies to this write.
    pub(super) cas_checked: bool,
}

/// What a step makes of the current row: the next version's value, and what
/// the secret row takes with it (`None` keeps the current setting).
pub(super) struct NextVersion {
    pub(super) value: Arc<SecretValue>,
    /// `Some("")` clears it.
    pub(super) description: Option<String>,
    /// Only for a new secret, or an entry's first value; fixed after that.
    pub(super) visibility: Visibility,
    pub(super) expires_at: Option<Timestamp>,
    pub(super) allowed_hosts: Option<Vec<String>>,
    pub(super) labels: Option<BTreeMap<String, String>>,
    /// The audit row's detail; the writer adds `version` and `scope`.
    pub(super) detail: serde_json::Value,
}

/// A version the writer committed.
pub(super) struct Written {
    pub(super) row: SecretRow,
    /// No version existed before (a new secret, or an entry's first value).
    pub(super) created: bool,
}

impl Lockbox {
    /// Writes the next version of `name` as `step` makes it from the current row
    /// (`None`: no live secret; `step` answering `Ok(None)` re-reads and tries
    /// again), checked as `spec` says, compare-and-set.
    pub(super) async fn write_version<F, Fut>(
        &self,
        p: &Principal,
        t: &Target,
        name: &SecretName,
        spec: WriteSpec,
        step: F,
        ctx: &RequestCtx,
    ) -> Result<Written>
    where
        F: Fn(Option<SecretRow>) -> Fut,
        Fut: Future<Output = Result<Option<NextVersion>>>,
    {
        // Without If-Match, writers of one secret take turns (write_queue.rs), so
        // an upsert or a merge patch never fails for contention alone.
        let _turn = if spec.if_match.is_none() && !spec.create_only {
            Some(self.write_queue.turn(queue_key(t, name)).await)
        } else {
            None
        };
        for attempt in 0..MAX_WRITE_ATTEMPTS {
            crate::write_queue::backoff(attempt).await;
            let fresh = attempt > 0;
            let found = self.find_secret(t, name, fresh).await?;
            let expired_id = found
                .as_ref()
                .filter(|s| self.live(Some((*s).clone())).is_none())
                .map(|s| s.id.clone());
            let existing = self.live(found);
            // An entry without versions (Vault metadata written first) takes its
            // first version as a new secret would: create-only writes succeed.
            let has_value = existing.as_ref().filter(|s| s.current_version > 0);
            let created = has_value.is_none();
            if created && !spec.creates {
                return Err(not_found(name));
            }
            if spec.create_only {
                if let Some(cur) = has_value {
                    if !fresh {
                        continue; // the cache may be behind; decide on a fresh read
                    }
                    return Err(Error::new(
                        ErrorCode::VersionMismatch,
                        format!("'{name}' already exists (version {})", cur.current_version),
                    ));
                }
            }
            let cas_required =
                t.ws.settings.cas_required || existing.as_ref().is_some_and(|s| s.cas_required);
            if spec.cas_checked && cas_required && spec.if_match.is_none() && !spec.create_only {
                if !fresh {
                    continue; // the cache may be behind; decide on a fresh read
                }
                let how = if spec.creates {
                    "send the expected version (If-Match) or create only (If-None-Match: *)"
                } else {
                    "send the expected version (If-Match)"
                };
                let err = Error::invalid(format!(
                    "check-and-set parameter required for '{name}': {how}"
                ));
                return Err(self.refuse_secret(p, t, spec.verb, name, err, ctx).await);
            }
            if let Some(want) = spec.if_match {
                let have = existing.as_ref().map(|s| s.current_version);
                if have != Some(want) {
                    if !fresh {
                        continue; // the cache may be behind; decide on a fresh read
                    }
                    return Err(version_mismatch(name, want, have));
                }
            }
            let Some(next) = step(existing.clone()).await? else {
                continue;
            };
            // Evictions that run while this commit is in flight may be newer
            // changes of this secret (another node's): then the row written here
            // is not cached (a later read fetches the newest).
            let generation = self.secrets.generation();
            let committed = self
                .commit_next(
                    p,
                    t,
                    name,
                    existing.as_ref(),
                    expired_id.clone(),
                    next,
                    spec.verb,
                    ctx,
                )
                .await?;
            match committed {
                Some(row) => {
                    let undisturbed = self.secrets.generation() == generation;
                    self.evict(&Change::secret(&row.id));
                    if let Some(old) = &expired_id {
                        self.evict(&Change::secret(old));
                    }
                    if undisturbed {
                        let generation = self.secrets.generation();
                        self.cache_secret(secret_key(t, name.as_str()), row.clone(), generation);
                    }
                    return Ok(Written { row, created });
                }
                None if spec.create_only && existing.is_none() => {
                    return Err(Error::new(
                        ErrorCode::VersionMismatch,
                        format!("'{name}' already exists"),
                    ))
                }
                None => {
                    if let Some(want) = spec.if_match {
                        return Err(version_mismatch(name, want, None));
                    }
                }
            }
        }
        Err(Error::conflict(format!(
            "'{name}' is changing too fast; try again"
        )))
    }

    /// Seals `next` as the version after `existing` (or version 1 of a new
    /// secret, replacing the expired one that held the name) and commits it with
    /// its audit row, compare-and-set. `None`: the race was lost (the current
    /// version moved, or the name was taken, meanwhile).
    #[allow(clippy::too_many_arguments)] // the writer's state for one attempt
    async fn commit_next(
        &self,
        p: &Principal,
        t: &Target,
        name: &SecretName,
        existing: Option<&SecretRow>,
        expired_id: Option<String>,
        next: NextVersion,
        verb: &str,
        ctx: &RequestCtx,
    ) -> Result<Option<SecretRow>> {
        let NextVersion {
            value,
            description,
            visibility,
            expires_at,
            allowed_hosts,
            labels,
            detail,
        } = next;
        let now = self.clock.now();
        let by = p.label();
        let key_version = t.ws.active_key_version;
        // A new version carries on the policy the current version's ciphertext
        // authenticates, never the row's columns alone (policy_seal.rs).
        let allowed_hosts = match existing {
            Some(cur) => Some(self.inherited_hosts(&t.ws, cur, allowed_hosts).await?),
            None => allowed_hosts,
        };
        let (mut row, expect) = match existing {
            Some(cur) => (
                SecretRow {
                    // An entry without versions takes its visibility with its
                    // first value; after that it is fixed.
                    visibility: if cur.current_version == 0 {
                        visibility
                    } else {
                        cur.visibility
                    },
                    description: description.or_else(|| cur.description.clone()),
                    current_version: cur.current_version + 1,
                    expires_at: expires_at.or(cur.expires_at),
                    allowed_hosts: allowed_hosts.unwrap_or_else(|| cur.allowed_hosts.clone()),
                    labels: labels.unwrap_or_else(|| cur.labels.clone()),
                    updated_at: now,
                    updated_by: by.clone(),
                    ..cur.clone()
                },
                Expect::Current(cur.current_version),
            ),
            None => (
                SecretRow {
                    id: random_id(),
                    workspace_id: t.ws.id.clone(),
                    scope: t.scope,
                    owner: t.owner.clone(),
                    name: name.as_str().to_owned(),
                    visibility,
                    description,
                    current_version: 1,
                    fingerprint: String::new(),
                    expires_at,
                    created_at: now,
                    created_by: by.clone(),
                    updated_at: now,
                    updated_by: by.clone(),
                    allowed_hosts: allowed_hosts.unwrap_or_default(),
                    labels: labels.unwrap_or_default(),
                    max_versions: None,
                    cas_required: false,
                    delete_version_after: None,
                    current_deleted_at: None,
                    current_destroyed: false,
                },
                match expired_id {
                    Some(old) => Expect::ReplaceExpired(old),
                    None => Expect::Create,
                },
            ),
        };
        let key = self.data_key(&t.ws.id, key_version).await?;
        // Sealed bound to the secret's visibility and this version's allowed_hosts.
        let (sealed, policy, fingerprint) =
            crate::policy_seal::seal_new(&key, &t.ws.id, &row, key_version, &value);
        drop(value);
        // An empty description is how a caller clears it.
        if row.description.as_deref() == Some("") {
            row.description = None;
        }
        row.fingerprint = fingerprint.clone();
        // Vault's delete_version_after: the version is born with its deletion time.
        // The secret's own and the workspace's both apply: the shorter one wins.
        let deleted_at =
            effective_delete_after(row.delete_version_after, t.ws.settings.delete_version_after)
                .map(|d| now.plus_seconds(d));
        row.current_deleted_at = deleted_at;
        row.current_destroyed = false;
        let version = VersionRow {
            secret_id: row.id.clone(),
            version: row.current_version,
            key_version,
            sealed,
            fingerprint,
            created_at: now,
            created_by: by,
            deleted_at,
            destroyed: false,
            policy: Some(policy),
        };
        let mut detail = detail;
        detail["version"] = serde_json::json!(row.current_version);
        detail["scope"] = serde_json::json!(t.scope.as_str());
        let audit = self.record(p, Some(&t.ws.id), verb, Some(name.as_str()), ctx, detail);
        // The commit also prunes the oldest versions past max_versions; the
        // eviction after it drops every cached version of the secret.
        let max_versions =
            lockbox_core::versions::max_versions(row.max_versions, t.ws.settings.max_versions);
        let prune_through =
            lockbox_core::versions::pruned_through(row.current_version, max_versions);
        match self
            .store
            .commit_version(
                CommitVersion {
                    secret: row.clone(),
                    expect,
                    version,
                    prune_through,
                },
                audit,
            )
            .await
        {
            Ok(()) => Ok(Some(row)),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }
}

/// How long a new version lives before it reads as deleted: the smaller of the
/// secret's and the workspace's `delete_version_after` where both are set (0 and
/// unset mean no limit), as Vault does.
pub fn effective_delete_after(secret: Option<u64>, workspace: Option<u64>) -> Option<u64> {
    lockbox_core::versions::delete_version_after(secret, workspace)
}
