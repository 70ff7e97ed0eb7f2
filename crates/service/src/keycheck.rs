//! Master keys every node agrees on (issue 16).
//!
//! The store keeps a key check per master-key version the deployment uses (a value
//! only that key opens, never the key; see `lockbox_store::key_registry`). The newest
//! recorded version is the deployment's active one: every node wraps new keys under
//! it, whatever its own key file calls active.
//!
//! - **At start** ([`open_keyring`], [`verify_at_start`]): a node whose keyring does not
//!   hold the newest version, or holds another key under a recorded number, refuses
//!   to start with a message naming the version and its key source. A node with no
//!   key at all does not create one when the store already has checks. The first
//!   start after the upgrade records the checks (after proving, by unwrapping a
//!   workspace key of each version in use, that the keyring is the store's).
//! - **While running** ([`Lockbox::spawn_key_watch`]): every [`CHECK_EVERY`] the node
//!   re-reads its key file and the checks, follows a switch to a newer version it
//!   holds, and writes its heartbeat row (versions held, key source, any problem;
//!   expires after [`NODE_TTL`]). A version it lacks is a *key problem*: requests that
//!   need that key answer `503 unavailable` naming the version and the key source,
//!   `/readyz` fails with the same text, and the log says so once, at error level.
//! - **Rotation** (`admin::rotate_master_key`) reads the heartbeats and refuses to
//!   switch while a live node lacks the new version.

use crate::{store_err, Lockbox};
use lockbox_core::{Error, Result, Timestamp};
use lockbox_crypto::{CheckOutcome, MasterKeyring};
use lockbox_store::{MasterKeyCheckRow, NodeRow, Store};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

/// How often a running node re-reads its keys and the store's checks, and beats.
pub const CHECK_EVERY: Duration = Duration::from_secs(2);
/// A node whose heartbeat is older than this no longer counts as live.
pub const NODE_TTL: Duration = Duration::from_secs(15);
/// Where the procedure is written down, for messages.
pub const KEYS_DOC: &str = "docs/operating-keys.md";

fn wall_now() -> Timestamp {
    use lockbox_core::Clock;
    lockbox_core::SystemClock.now()
}

fn versions_list(v: &[u32]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
}

/// The message for a version this keyring lacks.
pub(crate) fn missing_message(keyring: &MasterKeyring, version: u32) -> String {
    format!(
        "master key version {version} is in use but missing from this node's keyring ({}; it holds version(s) {}): \
         add version {version} to this node's keyring (see {KEYS_DOC})",
        keyring.source(),
        versions_list(&keyring.versions())
    )
}

fn wrong_key_message(keyring: &MasterKeyring, version: u32) -> String {
    format!(
        "master key version {version} from {} is not the key this store was set up with \
         (the store's key check for version {version} does not open with it): this node has \
         another deployment's key, or a fresh one; give it the deployment's keys (see {KEYS_DOC})",
        keyring.source()
    )
}

/// Loads the keyring for `data_dir`, creating a key file only for a store that has
/// no key check yet (a new deployment): a node that comes to an existing store
/// without its key refuses instead of making one that opens nothing.
pub(crate) async fn open_keyring(data_dir: &Path, store: &dyn Store) -> Result<MasterKeyring> {
    if !MasterKeyring::configured(data_dir) {
        let checks = store.master_key_checks().await.map_err(store_err)?;
        if let Some(newest) = checks.iter().map(|c| c.version).max() {
            return Err(Error::invalid(format!(
                "this store is set up with master key version {newest}, and this node has no master key \
                 ({} does not exist, LOCKBOX_MASTER_KEYS and LOCKBOX_MASTER_KEY are unset): \
                 copy the deployment's master.key there or set LOCKBOX_MASTER_KEYS (see {KEYS_DOC})",
                MasterKeyring::source_for(data_dir)
                    .to_string()
                    .trim_start_matches("the key file ")
            )));
        }
    }
    MasterKeyring::load_or_create(data_dir).map_err(key_err)
}

/// A key source that cannot be used is the operator's to fix (a wrong mode, an
/// unreadable file, a malformed variable): `invalid`, with the crypto layer's
/// message (path, operation, cause), not an anonymous `internal`.
pub(crate) fn key_err(e: lockbox_crypto::CryptoError) -> Error {
    use lockbox_crypto::CryptoError as C;
    match e {
        C::KeyFile { .. } | C::MasterKey(_) => Error::invalid(e.to_string()),
        other => other.into(),
    }
}

/// Checks the keyring against the store's key checks, recording them on the first
/// start after the upgrade (or of a new store), and pins the active version to the
/// newest recorded one. Refuses (an `invalid` error naming the version and the key
/// source) when the keyring cannot open the newest check or holds a wrong key.
pub(crate) async fn verify_at_start(store: &dyn Store, keyring: &MasterKeyring) -> Result<()> {
    let mut checks = store.master_key_checks().await.map_err(store_err)?;
    if checks.is_empty() {
        record_initial_checks(store, keyring).await?;
        checks = store.master_key_checks().await.map_err(store_err)?;
    }
    let newest = checks
        .iter()
        .map(|c| c.version)
        .max()
        .ok_or_else(|| Error::internal("no master key check recorded"))?;
    for c in &checks {
        match keyring.open_check(c.version, &c.check) {
            CheckOutcome::Opens => {}
            CheckOutcome::WrongKey => {
                return Err(Error::invalid(wrong_key_message(keyring, c.version)))
            }
            CheckOutcome::Missing if c.version == newest => {
                return Err(Error::invalid(format!(
                    "refusing to start: {}",
                    missing_message(keyring, newest)
                )))
            }
            CheckOutcome::Missing => tracing::warn!(
                version = c.version,
                source = %keyring.source(),
                "this node's keyring lacks an older master key version; anything still wrapped under it will not open here"
            ),
        }
    }
    keyring.pin_active(newest)?;
    Ok(())
}

/// First start on a store without checks: every master-key version its workspace
/// keys are wrapped under must open one of them here (so a wrong key is refused
/// before anything is recorded); then a check is recorded per version in use, or for
/// the active version of a new store. Concurrent first starts race on the insert;
/// the loser's check is ignored and [`verify_at_start`] judges it by the winner's.
async fn record_initial_checks(store: &dyn Store, keyring: &MasterKeyring) -> Result<()> {
    let keys = store.all_workspace_keys().await.map_err(store_err)?;
    let mut in_use = BTreeSet::new();
    for k in &keys {
        if !in_use.insert(k.master_version) {
            continue;
        }
        let wrapped = lockbox_crypto::WrappedDataKey {
            master_version: k.master_version,
            blob: k.wrapped.clone(),
        };
        match keyring.unwrap(&k.workspace_id, k.version, &wrapped) {
            Ok(_) => {}
            Err(lockbox_crypto::CryptoError::UnknownMasterVersion(v)) => {
                return Err(Error::invalid(format!(
                    "refusing to start: this store's workspace keys are wrapped under {}",
                    missing_message(keyring, v)
                )))
            }
            Err(_) => {
                return Err(Error::invalid(format!(
                    "refusing to start: master key version {v} from {} is not the key this store was \
                     set up with (the store's workspace keys wrapped under version {v} do not open with it): \
                     this node has another deployment's key, or a fresh one; give it the deployment's keys (see {KEYS_DOC})",
                    keyring.source(),
                    v = k.master_version
                )))
            }
        }
    }
    if in_use.is_empty() {
        in_use.insert(keyring.active_version());
    }
    for v in in_use {
        let recorded = store
            .add_master_key_check(MasterKeyCheckRow {
                version: v,
                check: keyring.key_check(v)?,
                created_at: wall_now(),
            })
            .await
            .map_err(store_err)?;
        if recorded {
            tracing::info!(version = v, "recorded a master key check");
        }
    }
    Ok(())
}

/// This node's view of its keys, shared by requests, `/readyz` and the watch task.
pub(crate) struct KeyWatch {
    node_id: String,
    started_at: Timestamp,
    /// What this node cannot do for lack of a key (None: nothing).
    problem: Mutex<Option<String>>,
    /// Versions already logged as missing (each is logged once, loudly).
    logged: Mutex<BTreeSet<u32>>,
}

impl KeyWatch {
    pub(crate) fn new() -> KeyWatch {
        KeyWatch {
            node_id: lockbox_crypto::random_id(),
            started_at: wall_now(),
            problem: Mutex::new(None),
            logged: Mutex::new(BTreeSet::new()),
        }
    }

    fn set_problem(&self, problem: Option<String>) {
        let mut p = self.problem.lock().expect("key watch lock");
        if p.is_some() && problem.is_none() {
            tracing::info!("master keys: this node holds every version in use again");
            self.logged.lock().expect("key watch lock").clear();
        }
        *p = problem;
    }

    /// Logs a missing version once, at error level.
    fn shout(&self, version: u32, message: &str) {
        if self.logged.lock().expect("key watch lock").insert(version) {
            tracing::error!(version, "{message}");
        }
    }
}

impl Lockbox {
    /// What this node cannot do for lack of a master key, if anything (for
    /// `/readyz`; requests that need the key answer `unavailable` with it).
    pub fn key_problem(&self) -> Option<String> {
        self.key_watch
            .problem
            .lock()
            .expect("key watch lock")
            .clone()
    }

    /// This node's id in the store's node rows.
    pub fn node_id(&self) -> &str {
        &self.key_watch.node_id
    }

    /// The `unavailable` answer for a request that needs master key `version`,
    /// which this keyring lacks; marks the node not ready and logs it once.
    pub(crate) fn missing_master_key(&self, version: u32) -> Error {
        let message = missing_message(&self.keyring, version);
        self.key_watch.shout(version, &message);
        self.key_watch.set_problem(Some(message.clone()));
        Error::unavailable(message)
    }

    /// Refuses work that would wrap a new key while the node lacks the version in
    /// use (it would wrap under an older one).
    pub(crate) fn require_keys(&self) -> Result<()> {
        match self.key_problem() {
            Some(p) => Err(Error::unavailable(p)),
            None => Ok(()),
        }
    }

    /// One round of the watch: re-read the key file and the checks, follow a
    /// switch, record or clear a problem, and beat.
    pub async fn check_keys_once(&self) {
        if let Err(e) = self.keyring.reload() {
            tracing::warn!(error = %e, "could not re-read the master key file");
        }
        let problem = match self.store.master_key_checks().await {
            Err(e) => {
                tracing::debug!(error = %e, "could not read the master key checks");
                return;
            }
            Ok(checks) => match checks.iter().max_by_key(|c| c.version) {
                None => None,
                Some(newest) => match self.keyring.open_check(newest.version, &newest.check) {
                    CheckOutcome::Opens => {
                        if self.keyring.active_version() != newest.version {
                            tracing::info!(
                                version = newest.version,
                                "master key switched: new keys are wrapped under the new version"
                            );
                        }
                        let _ = self.keyring.pin_active(newest.version);
                        None
                    }
                    CheckOutcome::Missing => {
                        let m = missing_message(&self.keyring, newest.version);
                        self.key_watch.shout(newest.version, &m);
                        Some(m)
                    }
                    CheckOutcome::WrongKey => {
                        let m = wrong_key_message(&self.keyring, newest.version);
                        self.key_watch.shout(newest.version, &m);
                        Some(m)
                    }
                },
            },
        };
        self.key_watch.set_problem(problem.clone());
        let now = wall_now();
        let row = NodeRow {
            id: self.key_watch.node_id.clone(),
            host: hostname(),
            pid: std::process::id(),
            key_source: self.keyring.source().to_string(),
            key_versions: self.keyring.versions(),
            problem,
            started_at: self.key_watch.started_at,
            seen_at: now,
            expires_at: Timestamp(now.millis() + NODE_TTL.as_millis() as i64),
        };
        if let Err(e) = self.store.put_node(row).await {
            tracing::warn!(error = %e, "could not write this node's heartbeat");
        }
    }

    /// Runs [`Lockbox::check_keys_once`] now and every [`CHECK_EVERY`], until aborted.
    pub fn spawn_key_watch(self: &std::sync::Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHECK_EVERY);
            loop {
                tick.tick().await;
                me.check_keys_once().await;
            }
        })
    }

    /// Removes this node's heartbeat row (graceful shutdown), so a rotation does not
    /// wait for it to expire.
    pub async fn leave(&self) {
        let _ = self.store.remove_node(&self.key_watch.node_id).await;
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_database_url_is_described_without_its_password() {
        let d = crate::describe_database_url;
        assert_eq!(
            d("postgres://app:s3cret@db:5432/lockbox?sslmode=require"),
            "postgres://app:***@db:5432/lockbox?sslmode=require"
        );
        assert_eq!(d("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(d("postgres://db/x"), "postgres://db/x");
        assert!(!d("mysql://u:pw@h/x").contains("pw"));
    }
}
