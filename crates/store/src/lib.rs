//! Storage: the [`Store`] trait (rows in, rows out, no business rules) and its SQLite
//! implementation.
//!
//! What a store guarantees, whichever the backend:
//! - every write is durable when its future resolves (SQLite: WAL with
//!   `synchronous=FULL`, group-committed by one writer thread);
//! - version commits are compare-and-set on the secret's current version, so
//!   concurrent writers never lose an update;
//! - version-state changes and expiry deletions are compare-and-set on the state
//!   the caller read. Which change to make, which versions retention removes and
//!   when a secret has expired are `lockbox_core::versions`' rules, asked by the
//!   service, which also writes those audit rows; a store only applies them;
//! - audit rows are appended in the same transaction as the change they describe,
//!   each to its workspace's chain (or the account chain) in commit order, each
//!   link an HMAC under the audit chain key (see `audit_chain.rs`).
//!
//! A store never sees plaintext: values arrive sealed, keys arrive wrapped.

pub mod audit_chain;
pub mod children;
pub mod key_registry;
pub mod postgres;
pub mod rows;
pub mod sqlite;

pub use children::{Children, ChildrenQuery};
pub use key_registry::{KeyRegistry, MasterKeyCheckRow, NodeRow};
pub use postgres::PostgresStore;
pub use rows::*;
pub use sqlite::SqliteStore;

use async_trait::async_trait;
use lockbox_core::{Role, Scope, Timestamp};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule or a compare-and-set failed; the caller decides what it means.
    #[error("conflict")]
    Conflict,
    /// The store cannot answer now, for a reason outside Lockbox: the database is
    /// unreachable or did not answer within its deadline, the disk is full or
    /// read-only, the process is out of file descriptors. The text says which
    /// (never a value) and may be shown to the caller; retrying later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The store was opened with something it cannot use (a malformed database
    /// URL or schema name). The text says what, never a password.
    #[error("invalid: {0}")]
    Invalid(String),
    /// Anything else: a corrupt file, a bug. The text is for logs only.
    #[error("storage: {0}")]
    Backend(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            use rusqlite::ErrorCode as C;
            let unavailable = |why: &str| StoreError::Unavailable(format!("{why} ({e})"));
            match f.code {
                C::ConstraintViolation => return StoreError::Conflict,
                C::DiskFull => return unavailable("the disk holding the data directory is full"),
                C::ReadOnly => {
                    return unavailable(
                        "the database file or the data directory cannot be written (read-only)",
                    )
                }
                C::SystemIoFailure => {
                    return unavailable(
                        "the disk holding the data directory failed a read or write \
                         (full, read-only or failing)",
                    )
                }
                C::CannotOpen if fds_exhausted() => {
                    return unavailable(
                        "out of file descriptors: cannot open the database file \
                         (raise the open-files limit, ulimit -n)",
                    )
                }
                C::CannotOpen => return unavailable("cannot open the database file"),
                C::DatabaseBusy | C::DatabaseLocked => {
                    return unavailable("the database file is locked by another process")
                }
                C::OutOfMemory => return unavailable("out of memory"),
                _ => {}
            }
        }
        StoreError::Backend(e.to_string())
    }
}

/// True when this process cannot open another file (EMFILE/ENFILE): probed by
/// opening `/dev/null`, right after an open failed without saying why.
pub fn fds_exhausted() -> bool {
    #[cfg(unix)]
    {
        matches!(
            std::fs::File::open("/dev/null").map_err(|e| e.raw_os_error()),
            Err(Some(23 | 24)) // ENFILE, EMFILE (Linux and the BSDs alike)
        )
    }
    #[cfg(not(unix))]
    {
        false
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A change committed through a store shared by several processes, so caches in
/// every process can follow it. Ids, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Settings, keys or existence of a workspace (by id).
    Workspace(String),
    /// A membership (workspace id, user id).
    Membership(String, String),
    /// A token (by id): revoked or created.
    Token(String),
    /// A secret (by id): new version, rename, delete, expiry, re-seal.
    Secret(String),
    /// Notifications may have been missed (the listener reconnected): drop every cache.
    Everything,
}

/// A consistent copy of everything a store holds, for backup and restore. Values
/// stay sealed and keys wrapped: a snapshot is useless without the master key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub workspaces: Vec<WorkspaceRow>,
    pub workspace_keys: Vec<WorkspaceKeyRow>,
    pub users: Vec<UserRow>,
    pub memberships: Vec<MembershipRow>,
    pub tokens: Vec<TokenRow>,
    pub secrets: Vec<SecretRow>,
    pub versions: Vec<VersionRow>,
    pub audit: Vec<AuditRow>,
    pub flows: Vec<FlowRow>,
    pub bindings: Vec<BindingRow>,
}

/// How a version commit relates to what is stored.
#[derive(Debug, Clone)]
pub enum Expect {
    /// A new secret; conflict if the name is taken in its scope.
    Create,
    /// An existing secret whose current version must still be this one.
    Current(u64),
    /// The name is held by an expired secret (id given) not yet purged: replace it.
    ReplaceExpired(String),
}

/// One new version of a secret plus the secret row as it will read afterwards.
#[derive(Debug, Clone)]
pub struct CommitVersion {
    pub secret: SecretRow,
    pub expect: Expect,
    pub version: VersionRow,
    /// Retention: versions numbered at or below this are removed in the same
    /// transaction (0: none). The service decides it
    /// (`lockbox_core::versions::pruned_through`).
    pub prune_through: u64,
}

/// The bindings that move with a rename: every binding of `old_name` in
/// `workspace_id`.
#[derive(Debug, Clone)]
pub struct MoveBindings {
    pub workspace_id: String,
    pub old_name: String,
}

/// The bindings that go with a delete: those `owner` holds on `name` in
/// `workspace_id`.
#[derive(Debug, Clone)]
pub struct DropBindings {
    pub workspace_id: String,
    pub name: String,
    pub owner: String,
}

#[async_trait]
pub trait Store: KeyRegistry + Send + Sync + 'static {
    // --- workspaces and keys
    async fn create_workspace(
        &self,
        ws: WorkspaceRow,
        key: WorkspaceKeyRow,
        owner: Option<(String, Role)>,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn workspace_by_name(&self, name: &str) -> StoreResult<Option<WorkspaceRow>>;
    async fn list_workspaces(&self) -> StoreResult<Vec<WorkspaceRow>>;
    async fn update_workspace_settings(
        &self,
        id: &str,
        settings: WorkspaceSettings,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Deletes the workspace, its keys, secrets, memberships and service tokens.
    async fn delete_workspace(&self, id: &str, audit: AuditRecord) -> StoreResult<bool>;
    async fn workspace_keys(&self, workspace_id: &str) -> StoreResult<Vec<WorkspaceKeyRow>>;
    async fn all_workspace_keys(&self) -> StoreResult<Vec<WorkspaceKeyRow>>;
    /// Replaces wrapped keys (same workspace and version, new wrapping).
    async fn rewrap_workspace_keys(
        &self,
        keys: Vec<WorkspaceKeyRow>,
        audit: AuditRecord,
    ) -> StoreResult<()>;

    // --- users, members, tokens
    async fn create_user(&self, user: UserRow) -> StoreResult<()>;
    async fn user_by_name(&self, name: &str) -> StoreResult<Option<UserRow>>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRow>>;
    async fn membership(&self, workspace_id: &str, user_id: &str) -> StoreResult<Option<Role>>;
    async fn memberships_of(&self, user_id: &str) -> StoreResult<Vec<(WorkspaceRow, Role)>>;
    async fn list_members(&self, workspace_id: &str) -> StoreResult<Vec<MemberRow>>;
    async fn put_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        role: Role,
        at: Timestamp,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn delete_membership(
        &self,
        workspace_id: &str,
        user_id: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool>;
    async fn insert_token(&self, token: TokenRow, audit: AuditRecord) -> StoreResult<()>;
    async fn token_by_hash(&self, hash: &str) -> StoreResult<Option<TokenRow>>;
    async fn token_by_id(&self, id: &str) -> StoreResult<Option<TokenRow>>;
    async fn list_tokens(&self) -> StoreResult<Vec<TokenRow>>;
    async fn revoke_token(&self, id: &str, at: Timestamp, audit: AuditRecord) -> StoreResult<bool>;
    /// The workspace (id) a personal token addresses when a call names none (the
    /// Vault API without `X-Vault-Namespace`); `None` when not set or no such token.
    async fn token_default_workspace(&self, id: &str) -> StoreResult<Option<String>>;
    /// Sets (or with `None` clears) a token's default workspace and appends
    /// `audit`; `false` if there is no such token.
    async fn set_token_default_workspace(
        &self,
        id: &str,
        workspace_id: Option<String>,
        audit: AuditRecord,
    ) -> StoreResult<bool>;
    /// Records last use; batched by the caller, not audited.
    async fn touch_tokens(&self, used: Vec<(String, Timestamp)>) -> StoreResult<()>;

    // --- secrets
    async fn find_secret(
        &self,
        workspace_id: &str,
        scope: Scope,
        owner: &str,
        name: &str,
    ) -> StoreResult<Option<SecretRow>>;
    /// A secret by id, whatever its name now (references follow the id).
    async fn secret_by_id(&self, id: &str) -> StoreResult<Option<SecretRow>>;
    async fn secret_version(
        &self,
        secret_id: &str,
        version: u64,
    ) -> StoreResult<Option<VersionRow>>;
    async fn list_versions(&self, secret_id: &str) -> StoreResult<Vec<VersionRow>>;
    async fn list_secrets(&self, query: ListQuery) -> StoreResult<Vec<SecretRow>>;
    /// The children of one folder of one workspace scope (see `children.rs`): the
    /// keys directly under `query.folder` and its sub-folders (with their trailing
    /// `/`), in name order, at most `query.limit`, after `query.after`. Filtered as
    /// [`Store::list_secrets`] filters (expired left out, entries on request); a
    /// sub-folder is listed while it holds at least one such secret. Costs one
    /// index seek per child, never a row per secret below a sub-folder. Says until
    /// when the page holds without a write ([`Children::stable_until`]).
    async fn list_children(&self, query: ChildrenQuery) -> StoreResult<Children>;
    async fn commit_version(&self, commit: CommitVersion, audit: AuditRecord) -> StoreResult<()>;
    /// Creates a secret that has no version yet (Vault's metadata written before
    /// any data): `secret.current_version` must be 0, and the first
    /// [`Store::commit_version`] (`Expect::Current(0)`) makes version 1. `expect`
    /// is `Create` (`Conflict` if the name is taken in its scope) or
    /// `ReplaceExpired` (that expired secret is removed in the same transaction).
    async fn create_secret_entry(
        &self,
        secret: SecretRow,
        expect: Expect,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Renames a secret and appends `audit`; false when it is gone. With
    /// `bindings`, in the same transaction every binding of the old name in that
    /// workspace (any owner) points at `new_name`: a forced rename keeps its delete
    /// protection.
    async fn rename_secret(
        &self,
        secret_id: &str,
        new_name: &str,
        at: Timestamp,
        by: &str,
        bindings: Option<MoveBindings>,
        audit: AuditRecord,
    ) -> StoreResult<bool>;
    /// Deletes a secret with its versions and appends `audit`; false when it is
    /// gone. With `bindings`, the same transaction removes the bindings one owner
    /// holds on it (a flow deleting a secret only it binds).
    async fn delete_secret(
        &self,
        secret_id: &str,
        bindings: Option<DropBindings>,
        audit: AuditRecord,
    ) -> StoreResult<bool>;
    /// Moves versions of a secret to new states and appends `audit`, in one
    /// transaction. Each move is compare-and-set on the version's stored state
    /// (`deleted_at`, `destroyed`); if any version is no longer in its `from`
    /// state, or is gone, nothing is written and the answer is `Conflict`. A move
    /// to a destroyed state also drops the ciphertext. With no moves, only the
    /// audit row is appended.
    async fn set_version_states(
        &self,
        secret_id: &str,
        changes: Vec<VersionStateChange>,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Replaces a secret's own settings (labels, max_versions, cas_required,
    /// delete_version_after); `false` if the secret is gone.
    async fn update_secret_settings(
        &self,
        secret_id: &str,
        settings: SecretSettings,
        at: Timestamp,
        by: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool>;
    /// Up to `limit` secrets whose expiry is at or before `now`, soonest first
    /// (candidates for [`Store::delete_expired`]).
    async fn expired_secrets(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<SecretRow>>;
    /// Deletes the listed secrets with their versions, each compare-and-set as
    /// [`ExpiredSecret`] says and with its audit row, in one transaction; returns
    /// the ids it deleted. One already deleted (another process purged it) or
    /// changed is skipped with its audit row, so each expiry is audited once.
    async fn delete_expired(&self, expired: Vec<ExpiredSecret>) -> StoreResult<Vec<String>>;

    // --- audit
    /// Appends rows that accompany no other change (reveals, denials).
    async fn append_audit(&self, records: Vec<AuditRecord>) -> StoreResult<()>;
    /// Queues rows to be appended like [`Store::append_audit`] without waiting for
    /// their commit, for a caller whose answer does not wait on them (a finished
    /// egress call's row). They join the next group commit; a failure is logged by
    /// the store, since no caller is left to tell.
    fn queue_audit(&self, records: Vec<AuditRecord>);
    /// Appends `record` to the account chain as a checkpoint (see `audit_chain.rs`):
    /// its `workspace_id` cleared and its detail replaced by the head of every other
    /// chain, read under the account chain's lock, and returns the checkpoint's head.
    /// When the account chain's newest row is a checkpoint that names exactly the
    /// current heads, returns that one and appends nothing.
    async fn checkpoint_audit(&self, record: AuditRecord) -> StoreResult<audit_chain::Head>;
    async fn list_audit(
        &self,
        workspace_id: &str,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>>;
    /// Walks the whole chain and reports the first broken link, if any. With chain
    /// keys, keyed links are checked and rows past the legacy prefix must be keyed.
    async fn verify_audit(&self) -> StoreResult<audit_chain::VerifyReport>;
    /// Gives the store the audit chain keys: from now on every row it appends gets
    /// a keyed link, and verification checks them. Without keys a store writes
    /// legacy (SHA-256) links, which only tests do.
    fn set_chain_keys(&self, keys: std::sync::Arc<dyn audit_chain::ChainKeys>);
    /// The chain's head and how many rows predate keyed links.
    async fn audit_chain_state(&self) -> StoreResult<audit_chain::ChainState>;
    /// One audit row by sequence number.
    async fn audit_row(&self, seq: i64) -> StoreResult<Option<AuditRow>>;
    /// Rows without a workspace whose actor is one of `actors`, newest first
    /// (the account audit view). Checkpoints are left out: they name every
    /// workspace's chain head, which is no one person's business.
    async fn list_account_audit(
        &self,
        actors: Vec<String>,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<AuditRow>>;

    // --- flows and bindings
    /// Creates or replaces a flow and, in the same transaction, the bindings owned
    /// by `flow:<slug>`.
    async fn put_flow(
        &self,
        flow: FlowRow,
        bindings: Vec<BindingRow>,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    async fn get_flow(&self, workspace_id: &str, slug: &str) -> StoreResult<Option<FlowRow>>;
    async fn list_flows(&self, workspace_id: &str) -> StoreResult<Vec<FlowRow>>;
    /// Deletes a flow and its bindings.
    async fn delete_flow(
        &self,
        workspace_id: &str,
        slug: &str,
        audit: AuditRecord,
    ) -> StoreResult<bool>;
    /// Replaces every binding of `owner` in the workspace.
    async fn put_bindings(
        &self,
        workspace_id: &str,
        owner: &str,
        bindings: Vec<BindingRow>,
        audit: AuditRecord,
    ) -> StoreResult<()>;
    /// Who uses the secret `name` (workspace scope), ordered by owner and location.
    async fn bindings_of(&self, workspace_id: &str, secret: &str) -> StoreResult<Vec<BindingRow>>;

    // --- health
    /// Proves the store can write now: commits a write that changes nothing a
    /// reader sees (SQLite: the file's application id; PostgreSQL: a transaction
    /// that takes a transaction id). Fails while the disk is full or read-only or
    /// the database cannot commit. `/readyz` calls it under its own deadline.
    async fn probe_write(&self) -> StoreResult<()> {
        self.list_workspaces().await.map(|_| ())
    }

    // --- several processes on one store
    /// Changes committed by *other* processes sharing this store (PostgreSQL
    /// LISTEN/NOTIFY). `None` where no other process can write (embedded SQLite,
    /// where the only other writer, `lockbox keys rotate`, changes nothing cached).
    fn subscribe(&self) -> Option<tokio::sync::broadcast::Receiver<Change>> {
        None
    }

    /// After a crypto-shred: make sure no copy of what was deleted stays in files
    /// the store keeps beside its data (SQLite: checkpoint and truncate the WAL).
    async fn purge_deleted(&self) -> StoreResult<()> {
        Ok(())
    }

    // --- backup, restore, re-encryption
    /// A consistent snapshot of every table, read in one transaction.
    async fn export(&self) -> StoreResult<Snapshot>;
    /// Loads a snapshot into an empty store in one transaction, keeping ids,
    /// sequence numbers and hashes. `Conflict` if the store holds any workspace or user.
    async fn import(&self, snapshot: Snapshot) -> StoreResult<()>;
    /// Adds a workspace-key version and makes it the active one.
    async fn add_workspace_key(&self, key: WorkspaceKeyRow, audit: AuditRecord) -> StoreResult<()>;
    /// Up to `limit` versions of the workspace sealed under a key version other than
    /// `active`, each with its secret row.
    async fn versions_to_reseal(
        &self,
        workspace_id: &str,
        active: u32,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRow, VersionRow)>>;
    /// Re-seals versions in place, each compare-and-set as [`Reseal`] describes;
    /// returns how many changed. Not audited (the caller writes one summary row).
    async fn reseal_versions(&self, updates: Vec<Reseal>) -> StoreResult<usize>;
    /// Up to `limit` legacy versions (no policy: sealed under the v1 encoding) that
    /// still hold a ciphertext, in every workspace, each with its secret row,
    /// ordered by (secret id, version) and strictly after `after`.
    async fn legacy_versions(
        &self,
        after: Option<(String, u64)>,
        limit: u32,
    ) -> StoreResult<Vec<(SecretRow, VersionRow)>>;
}
