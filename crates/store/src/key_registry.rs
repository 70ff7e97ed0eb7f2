//! What the nodes sharing a store agree on about master keys (issue 16):
//! - a **key check** per master-key version the deployment uses: a value only that
//!   key opens (never the key), so a node can tell at start whether its keyring holds
//!   the same key under the same number; the newest recorded version is the one every
//!   node wraps new keys under;
//! - a **node row** per running server, refreshed as a heartbeat with an expiry,
//!   naming the versions its keyring holds and its key source, so `lockbox keys
//!   rotate` can refuse to switch while a live node lacks the new version.
//!
//! Both are plain rows: not audited, not announced on the change feed.

use crate::StoreResult;
use async_trait::async_trait;
use lockbox_core::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterKeyCheckRow {
    pub version: u32,
    /// The sealed check value (see `lockbox_crypto::MasterKeyring::key_check`).
    pub check: Vec<u8>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    /// Random per process start.
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// Where the node's keys come from, as the node describes it
    /// (`the key file /srv/lockbox/master.key`, `LOCKBOX_MASTER_KEYS`).
    pub key_source: String,
    /// The master-key versions its keyring holds, ascending.
    pub key_versions: Vec<u32>,
    /// What the node cannot do for lack of a key, if anything.
    pub problem: Option<String>,
    pub started_at: Timestamp,
    pub seen_at: Timestamp,
    /// After this the row no longer counts as a live node.
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait KeyRegistry: Send + Sync {
    /// Every recorded key check, by ascending version.
    async fn master_key_checks(&self) -> StoreResult<Vec<MasterKeyCheckRow>>;
    /// Records a key check unless its version already has one; true when this call
    /// recorded it (a check is never replaced).
    async fn add_master_key_check(&self, check: MasterKeyCheckRow) -> StoreResult<bool>;
    /// Inserts or refreshes a node's row, and drops rows that expired long ago.
    async fn put_node(&self, node: NodeRow) -> StoreResult<()>;
    /// Nodes whose row has not expired at `now`, by id.
    async fn live_nodes(&self, now: Timestamp) -> StoreResult<Vec<NodeRow>>;
    /// A node leaving on purpose (graceful shutdown).
    async fn remove_node(&self, id: &str) -> StoreResult<()>;
}

/// Rows expired longer than this are deleted by `put_node`.
pub const NODE_ROW_RETENTION_MS: i64 = 24 * 3600 * 1000;

pub(crate) fn versions_text(v: &[u32]) -> String {
    serde_json::to_string(v).expect("numbers serialize")
}

pub(crate) fn versions_of(text: &str) -> Vec<u32> {
    serde_json::from_str(text).unwrap_or_default()
}
