//! The audit log around the store's chains: the chain keys (derived from the
//! master key, given to the store, never stored), the boundary row of a chain
//! migrated from legacy links, the checkpoints that tie the per-workspace chains
//! together (written at start, at an interval when a head moved, and by
//! `audit head`; their heads go to the log),
//! verification against a saved head, refused attempts counted per minute
//! (`denied.rs`), and the account audit view (rows that belong to no workspace).

use crate::auth::Principal;
use crate::{store_err, AuditEventView, AuditPage, Lockbox, RequestCtx};
use lockbox_core::{AccountAction, Error, Result, Role, Timestamp};
use lockbox_crypto::{AuditChainKey, MasterKeyring};
use lockbox_store::audit_chain::{self, ChainKeys, ChainState, Head, VerifyReport};
use lockbox_store::{AuditRecord, AuditRow, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The action of the row that marks where a migrated chain's keyed links start.
pub const BOUNDARY_ACTION: &str = "audit.chain.keyed";

/// The chain keys over the master keyring, derived once per version and kept in
/// memory only.
struct KeyringChainKeys {
    keyring: Arc<MasterKeyring>,
    derived: Mutex<HashMap<u32, Arc<AuditChainKey>>>,
}

impl ChainKeys for KeyringChainKeys {
    fn active_version(&self) -> u32 {
        self.keyring.active_version()
    }

    fn mac(&self, version: u32, msg: &[u8]) -> std::result::Result<[u8; 32], String> {
        let cached = self
            .derived
            .lock()
            .expect("chain keys lock")
            .get(&version)
            .cloned();
        let key = match cached {
            Some(k) => k,
            None => {
                let k = Arc::new(
                    self.keyring
                        .audit_chain_key(version)
                        .map_err(|e| e.to_string())?,
                );
                self.derived
                    .lock()
                    .expect("chain keys lock")
                    .insert(version, k.clone());
                k
            }
        };
        Ok(key.mac(msg))
    }
}

/// The audit chain keys of `keyring`, for [`Store::set_chain_keys`] (the service
/// and the admin tools install them themselves; this is for code that opens a
/// store directly and writes to it).
pub fn chain_keys(keyring: Arc<MasterKeyring>) -> Arc<dyn ChainKeys> {
    Arc::new(KeyringChainKeys {
        keyring,
        derived: Mutex::new(HashMap::new()),
    })
}

/// Gives `store` the audit chain keys of `keyring`: every row it appends from now
/// on is keyed, and its verification checks keyed links.
pub(crate) fn install_chain_keys(store: &dyn Store, keyring: Arc<MasterKeyring>) {
    store.set_chain_keys(chain_keys(keyring));
}

/// The same keys in a slot of their own (to verify rows outside a store).
pub(crate) fn install_chain_keys_in(slot: &audit_chain::ChainKeySlot, keyring: Arc<MasterKeyring>) {
    slot.set(chain_keys(keyring));
}

/// A chain that holds only legacy links (a store from before keyed links) gets
/// its boundary row: the first keyed row, linked to the last legacy one, so the
/// legacy part is covered by the key from here on. Returns the boundary's seq.
pub(crate) async fn ensure_keyed(store: &dyn Store, now: Timestamp) -> Result<Option<i64>> {
    let state = store.audit_chain_state().await.map_err(store_err)?;
    if !state.boundary_pending() {
        return Ok(None);
    }
    store
        .append_audit(vec![AuditRecord {
            workspace_id: None,
            at: now,
            actor: "system".into(),
            action: BOUNDARY_ACTION.into(),
            target: None,
            outcome: "ok".into(),
            request_id: None,
            detail: serde_json::json!({"legacy_rows": state.legacy_rows}),
        }])
        .await
        .map_err(store_err)?;
    tracing::info!(
        legacy_rows = state.legacy_rows,
        "audit chain: keyed links start after the existing {} row(s)",
        state.legacy_rows
    );
    Ok(Some(state.legacy_rows + 1))
}

/// Appends a checkpoint to the account chain (or finds the newest one still
/// current) naming every chain's head, and returns it: the head an operator
/// saves and later passes to `audit verify --expect-head`.
pub(crate) async fn checkpoint(store: &dyn Store, now: Timestamp) -> Result<AuditHead> {
    // A migrated chain's boundary row comes first (the first keyed row is that).
    ensure_keyed(store, now).await?;
    let head = store
        .checkpoint_audit(AuditRecord {
            workspace_id: None,
            at: now,
            actor: "system".into(),
            action: audit_chain::CHECKPOINT_ACTION.into(),
            target: None,
            outcome: "ok".into(),
            request_id: None,
            detail: serde_json::json!({}),
        })
        .await
        .map_err(store_err)?;
    let keyed = store
        .audit_row(head.seq)
        .await
        .map_err(store_err)?
        .is_some_and(|r| r.key_version.is_some());
    Ok(AuditHead {
        head: head.to_string(),
        seq: head.seq,
        hash: head.hash,
        keyed,
    })
}

/// The outcome of verifying a chain, optionally against a head saved earlier.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainCheck {
    pub rows: u64,
    /// `SEQ:HASH` of the last row that verified.
    pub head: String,
    pub head_seq: i64,
    pub head_hash: String,
    /// The first keyed row (`None`: no row is keyed yet).
    pub keyed_from: Option<i64>,
    /// The first row whose link does not hold, and why.
    pub broken_at: Option<(i64, String)>,
    /// With an expected head: why the chain does not continue it (`None`: it does).
    pub expected_head_mismatch: Option<String>,
}

impl ChainCheck {
    /// Nothing is broken and any expected head holds.
    pub fn ok(&self) -> bool {
        self.broken_at.is_none() && self.expected_head_mismatch.is_none()
    }
}

/// Verifies the store's chain (with the keys it was given) and, with `expect`,
/// that the chain still continues that head: the row at its seq exists and holds
/// its hash, so rows were neither removed from the end nor rewritten before it.
pub(crate) async fn check_chain(store: &dyn Store, expect: Option<&Head>) -> Result<ChainCheck> {
    let report: VerifyReport = store.verify_audit().await.map_err(store_err)?;
    let mismatch = match expect {
        None => None,
        Some(h) => {
            let row: Option<AuditRow> = if h.seq > 0 {
                store.audit_row(h.seq).await.map_err(store_err)?
            } else {
                None
            };
            audit_chain::check_expected_head(&report, row.as_ref(), h)
        }
    };
    Ok(ChainCheck {
        rows: report.rows,
        head: Head {
            seq: report.head_seq,
            hash: report.head.clone(),
        }
        .to_string(),
        head_seq: report.head_seq,
        head_hash: report.head,
        keyed_from: report.keyed_from,
        broken_at: report.broken_at,
        expected_head_mismatch: mismatch,
    })
}

/// Parses an expected head given by an operator (`SEQ:HASH`).
pub fn parse_head(text: &str) -> Result<Head> {
    Head::parse(text).ok_or_else(|| {
        Error::invalid(
            "an audit head is SEQ:HASH, the sequence number and the 64-hex-digit link \
             `lockbox audit head` prints",
        )
    })
}

/// A checkpoint's head (see [`Lockbox::audit_head`]).
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditHead {
    pub seq: i64,
    pub hash: String,
    /// `SEQ:HASH`, what `lockbox audit verify --expect-head` takes.
    pub head: String,
    /// The newest row is keyed (false only before a migrated chain's boundary).
    pub keyed: bool,
}

impl From<ChainState> for AuditHead {
    fn from(s: ChainState) -> Self {
        AuditHead {
            head: s.head.to_string(),
            seq: s.head.seq,
            hash: s.head.hash,
            keyed: s.head_keyed,
        }
    }
}

/// When the head was last written to the log, to log it again only once it moved.
#[derive(Default)]
pub(crate) struct Checkpoints {
    last: Mutex<Option<(i64, Timestamp)>>,
}

/// An audit row as the API shows it.
pub(crate) fn view(r: AuditRow) -> AuditEventView {
    AuditEventView {
        seq: r.seq,
        at: r.record.at.to_rfc3339(),
        actor: r.record.actor,
        action: r.record.action,
        target: r.record.target,
        outcome: r.record.outcome,
        request_id: r.record.request_id,
        detail: r.record.detail,
    }
}

impl Lockbox {
    /// The audit chains' head for anchoring elsewhere: a checkpoint naming every
    /// chain's head, appended unless the newest one is still current.
    pub async fn audit_head(&self) -> Result<AuditHead> {
        checkpoint(self.store.as_ref(), self.clock.now()).await
    }

    /// Verifies the audit chain, and with `expect` that it continues that head.
    pub async fn check_audit_chain(&self, expect: Option<&Head>) -> Result<ChainCheck> {
        check_chain(self.store.as_ref(), expect).await
    }

    /// Writes the chain head to the log (`reason`: `start`, `interval`); at an
    /// interval only when it moved since the last time. These lines are the
    /// checkpoints an operator ships elsewhere and compares with `--expect-head`.
    pub async fn checkpoint_audit_head(&self, reason: &str) {
        let now = self.clock.now();
        if reason != "start" {
            let last = *self.audit_checkpoints.last.lock().expect("checkpoint lock");
            if let Some((_, at)) = last {
                if now.millis() - at.millis() < self.config.audit_checkpoint_seconds as i64 * 1000 {
                    return;
                }
            }
        }
        // A checkpoint row only when a head moved (the store reuses a current one).
        let head = match self.audit_head().await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "could not write an audit checkpoint");
                return;
            }
        };
        {
            let mut last = self.audit_checkpoints.last.lock().expect("checkpoint lock");
            let moved = last.is_none_or(|(seq, _)| seq != head.seq);
            *last = Some((head.seq, now));
            if reason != "start" && !moved {
                return;
            }
        }
        tracing::info!(
            audit_head = %head.head,
            seq = head.seq,
            keyed = head.keyed,
            reason,
            "audit chain head"
        );
    }

    /// Start-up work on the audit chain, for a server before it listens: the
    /// boundary row of a migrated chain, then the head in the log.
    pub async fn start_audit(&self) {
        if let Err(e) = ensure_keyed(self.store.as_ref(), self.clock.now()).await {
            tracing::error!(error = %e, "could not write the audit chain's boundary row");
        }
        self.checkpoint_audit_head("start").await;
    }

    /// Writes the counts of refused attempts whose minute is over (all of them
    /// with `all`, at shutdown).
    pub async fn flush_denied(&self, all: bool) {
        let rows = self.denied.due(self.clock.now(), all);
        if rows.is_empty() {
            return;
        }
        if let Err(e) = self.store.append_audit(rows).await {
            tracing::error!(error = %e, "could not write audit rows for refused attempts");
        }
    }

    /// What a stopping server writes before it exits: counts of refused attempts
    /// and token last-use times.
    pub async fn flush_on_shutdown(&self) {
        self.flush_denied(true).await;
        self.flush_token_use().await;
    }

    /// The account audit view (`GET /v1/audit`): rows that belong to no workspace.
    /// A person sees the rows they wrote themselves (personal tokens made and
    /// revoked, console sessions, refused account-level attempts); a person who
    /// owns a workspace also sees the deployment's own rows (actor `system`:
    /// first start, key rotation, re-encryption, backup and restore, the audit
    /// chain's boundary). Service tokens and runs are refused: their account-level
    /// refusals are written to their workspace's log.
    pub async fn account_audit_log(
        &self,
        p: &Principal,
        before: Option<i64>,
        limit: Option<u32>,
        ctx: &RequestCtx,
    ) -> Result<AuditPage> {
        self.check_account(p, AccountAction::ReadAccountAudit, ctx)
            .await?;
        let user = p
            .user
            .as_ref()
            .ok_or_else(|| Error::forbidden("only a person has an account audit log"))?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit must be between 1 and 1000"));
        }
        let mut actors = vec![p.label()];
        let owns_a_workspace = self
            .store
            .memberships_of(&user.id)
            .await
            .map_err(store_err)?
            .iter()
            .any(|(_, role)| *role == Role::Owner);
        if owns_a_workspace {
            actors.push("system".into());
        }
        let rows = self
            .store
            .list_account_audit(actors, before, limit)
            .await
            .map_err(store_err)?;
        let next_before = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.seq))
            .flatten();
        Ok(AuditPage {
            events: rows.into_iter().map(view).collect(),
            next_before,
        })
    }
}
