//! How much memory the service's caches may hold (issue 20: RSS at 100k secrets
//! read once ≤ 86 MiB). Every cache has a byte budget; an entry weighs the heap
//! bytes it holds (strings by length, vectors by their items) plus its slots in
//! the cache's map and queue (`cache.rs`). Past the budget the oldest entries go,
//! whatever their age; the time bound (`cache_ttl_ms`, 60 s for versions and
//! keys) still decides how stale an entry may be.
//!
//! The budgets are the most each may hold, not what it usually holds: the
//! metadata caches live 400 ms, so under load they hold the last few hundred
//! rows. docs/architecture.md ("Memory") lists them and what they cost at 100k.

// The weighers are `fn(&K, &V)` for the cache's key and value types (`&String`,
// `&Vec<_>`): a slice would not match the cache's `Weigher` type.
#![allow(clippy::ptr_arg)]

use crate::auth::CachedToken;
use crate::cache::TtlCache;
use crate::children::ChildrenKey;
use crate::flows::BindingInfo;
use crate::secrets::SecretKey;
use lockbox_core::{Clock, Role};
use lockbox_crypto::DataKey;
use lockbox_store::{Children, SecretRow, TokenRow, UserRow, VersionRow, WorkspaceRow};
use std::sync::Arc;

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// Token lookups by hash (with their user): one per live token in use.
pub(crate) const TOKENS_BYTES: usize = MIB;
/// Token rows by id (a run's opener).
pub(crate) const TOKENS_BY_ID_BYTES: usize = MIB;
pub(crate) const USERS_BYTES: usize = 512 * KIB;
pub(crate) const WORKSPACES_BYTES: usize = 512 * KIB;
pub(crate) const MEMBERSHIPS_BYTES: usize = 512 * KIB;
/// Secret rows by name, and the same rows by id: about 600 bytes a row, so
/// some 7,000 rows each (a 400 ms window of reads).
pub(crate) const SECRETS_BYTES: usize = 4 * MIB;
pub(crate) const SECRETS_BY_ID_BYTES: usize = 4 * MIB;
pub(crate) const BINDINGS_BYTES: usize = MIB;
/// Folder listings (pages of children): a 100-key page is a few KiB, a
/// 1,000-child page some 40 KiB.
pub(crate) const CHILDREN_BYTES: usize = MIB;
/// Unwrapped workspace data keys (a few hundred bytes each).
pub(crate) const KEYS_BYTES: usize = 256 * KIB;
/// Sealed versions (`ServiceConfig::version_cache_bytes`'s default): about 450
/// bytes for a small value, so some 18,000 versions; a 64 KiB value counts 64 KiB.
pub(crate) const VERSIONS_BYTES: usize = 8 * MIB;

fn s(v: &str) -> usize {
    v.len()
}

fn opt(v: &Option<String>) -> usize {
    v.as_deref().map_or(0, str::len)
}

fn strings(v: &[String]) -> usize {
    v.iter()
        .map(|h| h.len() + std::mem::size_of::<String>())
        .sum()
}

fn token_row(t: &TokenRow) -> usize {
    s(&t.id) + s(&t.hash) + s(&t.name) + opt(&t.user_id) + opt(&t.workspace_id) + s(&t.created_by)
}

fn user_row(u: &UserRow) -> usize {
    s(&u.id) + s(&u.name)
}

fn secret_row(r: &SecretRow) -> usize {
    s(&r.id)
        + s(&r.workspace_id)
        + s(&r.owner)
        + s(&r.name)
        + opt(&r.description)
        + s(&r.fingerprint)
        + s(&r.created_by)
        + s(&r.updated_by)
        + strings(&r.allowed_hosts)
        // A B-tree node per few labels: count each label with 64 bytes of room.
        + r.labels.iter().map(|(k, v)| k.len() + v.len() + 64).sum::<usize>()
}

fn weigh_token(k: &String, v: &Option<CachedToken>) -> usize {
    2 * k.len()
        + v.as_ref().map_or(0, |t| {
            token_row(&t.row) + t.user.as_ref().map_or(0, user_row)
        })
}

fn weigh_token_row(k: &String, v: &Option<TokenRow>) -> usize {
    2 * k.len() + v.as_ref().map_or(0, token_row)
}

fn weigh_user(k: &String, v: &Option<UserRow>) -> usize {
    2 * k.len() + v.as_ref().map_or(0, user_row)
}

fn weigh_workspace(k: &String, v: &Option<WorkspaceRow>) -> usize {
    // Settings are a few numbers and flags; 64 bytes covers their heap.
    2 * k.len() + v.as_ref().map_or(0, |w| s(&w.id) + s(&w.name) + 64)
}

fn weigh_membership(k: &(String, String), _: &Option<Role>) -> usize {
    2 * (k.0.len() + k.1.len())
}

fn weigh_secret(k: &SecretKey, v: &SecretRow) -> usize {
    2 * (k.0.len() + k.2.len() + k.3.len()) + secret_row(v)
}

fn weigh_secret_by_id(k: &String, v: &SecretRow) -> usize {
    2 * k.len() + secret_row(v)
}

fn weigh_bindings(k: &(String, String), v: &Vec<BindingInfo>) -> usize {
    2 * (k.0.len() + k.1.len())
        + v.iter()
            .map(|b| b.owner.len() + b.location.len() + std::mem::size_of::<BindingInfo>())
            .sum::<usize>()
}

fn weigh_children(k: &ChildrenKey, v: &Arc<Children>) -> usize {
    2 * (k.workspace_id.len() + k.owner.len() + k.folder.len() + opt(&k.after))
        + std::mem::size_of::<Children>()
        + 16
        + strings(&v.children)
}

fn weigh_key(k: &(String, u32), _: &Arc<DataKey>) -> usize {
    // The key itself sits behind an Arc: its struct plus the Arc's counts.
    2 * k.0.len() + std::mem::size_of::<DataKey>() + 16
}

/// What the version cache counts for one sealed version.
pub(crate) fn weigh_version(k: &(String, u64), v: &Arc<VersionRow>) -> usize {
    2 * k.0.len()
        + std::mem::size_of::<VersionRow>()
        + 16
        + v.sealed.len()
        + v.fingerprint.len()
        + v.secret_id.len()
        + v.created_by.len()
        + v.policy.as_ref().map_or(0, |p| strings(&p.allowed_hosts))
}

/// The service's caches, each with its budget (`Lockbox::with_parts`).
pub(crate) struct Caches {
    pub keys: TtlCache<(String, u32), Arc<DataKey>>,
    pub tokens_by_hash: TtlCache<String, Option<CachedToken>>,
    pub tokens_by_id: TtlCache<String, Option<TokenRow>>,
    pub users_by_id: TtlCache<String, Option<UserRow>>,
    pub workspaces: TtlCache<String, Option<WorkspaceRow>>,
    pub memberships: TtlCache<(String, String), Option<Role>>,
    pub secrets: TtlCache<SecretKey, SecretRow>,
    pub secrets_by_id: TtlCache<String, SecretRow>,
    pub bindings: TtlCache<(String, String), Vec<BindingInfo>>,
    pub versions: TtlCache<(String, u64), Arc<VersionRow>>,
    pub children: TtlCache<ChildrenKey, Arc<Children>>,
}

impl Caches {
    /// `ttl_ms` for metadata (tokens, workspaces, memberships, rows, bindings,
    /// folder listings);
    /// keys and versions live 60 s.
    pub fn new(clock: &Arc<dyn Clock>, ttl_ms: i64, version_bytes: usize) -> Caches {
        let c = || clock.clone();
        Caches {
            keys: TtlCache::with_budget(c(), 60_000, KEYS_BYTES, weigh_key),
            tokens_by_hash: TtlCache::with_budget(c(), ttl_ms, TOKENS_BYTES, weigh_token),
            tokens_by_id: TtlCache::with_budget(c(), ttl_ms, TOKENS_BY_ID_BYTES, weigh_token_row),
            users_by_id: TtlCache::with_budget(c(), ttl_ms, USERS_BYTES, weigh_user),
            workspaces: TtlCache::with_budget(c(), ttl_ms, WORKSPACES_BYTES, weigh_workspace),
            memberships: TtlCache::with_budget(c(), ttl_ms, MEMBERSHIPS_BYTES, weigh_membership),
            secrets: TtlCache::with_budget(c(), ttl_ms, SECRETS_BYTES, weigh_secret),
            secrets_by_id: TtlCache::with_budget(
                c(),
                ttl_ms,
                SECRETS_BY_ID_BYTES,
                weigh_secret_by_id,
            ),
            bindings: TtlCache::with_budget(c(), ttl_ms, BINDINGS_BYTES, weigh_bindings),
            versions: TtlCache::with_budget(c(), 60_000, version_bytes, weigh_version),
            children: TtlCache::with_budget(c(), ttl_ms, CHILDREN_BYTES, weigh_children),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockbox_core::{ManualClock, Scope, Timestamp, Visibility};
    use lockbox_store::{TokenKind, WorkspaceSettings};

    fn caches() -> Caches {
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(Timestamp(0)));
        // A TTL far beyond the test: only the budgets evict.
        Caches::new(&clock, 3_600_000, VERSIONS_BYTES)
    }

    /// Inserts `n` entries made by `make` and checks the cache kept the newest,
    /// dropped the oldest and stayed within `budget`.
    fn overfill<K, V>(
        cache: &TtlCache<K, V>,
        budget: usize,
        n: usize,
        make: impl Fn(usize) -> (K, V),
    ) where
        K: Eq + std::hash::Hash + Clone + std::fmt::Debug,
        V: Clone,
    {
        for i in 0..n {
            let (k, v) = make(i);
            cache.put(k, v);
            let (_, bytes) = cache.usage();
            assert!(bytes <= budget, "{bytes} > {budget} after {i}");
        }
        let (entries, bytes) = cache.usage();
        assert!(entries < n, "nothing was evicted: {entries} entries");
        assert!(
            bytes > budget / 2,
            "the budget is used: {bytes} of {budget}"
        );
        assert!(cache.get(&make(n - 1).0).is_some(), "the newest stays");
        assert!(cache.get(&make(0).0).is_none(), "the oldest went");
    }

    fn secret_row(i: usize) -> SecretRow {
        SecretRow {
            id: format!("{i:032x}"),
            workspace_id: "0".repeat(32),
            scope: Scope::Workspace,
            owner: String::new(),
            name: format!("top/f{:04}/k{:02}", i % 1000, i / 1000),
            visibility: Visibility::Masked,
            description: None,
            current_version: 1,
            fingerprint: "f".repeat(64),
            expires_at: None,
            created_at: Timestamp(0),
            created_by: "u".repeat(32),
            updated_at: Timestamp(0),
            updated_by: "u".repeat(32),
            allowed_hosts: Vec::new(),
            labels: Default::default(),
            max_versions: None,
            cas_required: false,
            delete_version_after: None,
            current_deleted_at: None,
            current_destroyed: false,
        }
    }

    fn token_row(i: usize) -> TokenRow {
        TokenRow {
            id: format!("{i:032x}"),
            hash: "h".repeat(64),
            name: "ci".into(),
            kind: TokenKind::Service,
            user_id: None,
            workspace_id: Some("0".repeat(32)),
            role: Some(Role::Viewer),
            created_at: Timestamp(0),
            created_by: "u".repeat(32),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            run_as_users: false,
        }
    }

    #[test]
    fn the_secret_row_caches_stay_within_their_budgets() {
        let c = caches();
        overfill(&c.secrets, SECRETS_BYTES, 100_000, |i| {
            let r = secret_row(i);
            (
                (
                    r.workspace_id.clone(),
                    "workspace",
                    String::new(),
                    r.name.clone(),
                ),
                r,
            )
        });
        overfill(&c.secrets_by_id, SECRETS_BY_ID_BYTES, 100_000, |i| {
            let r = secret_row(i);
            (r.id.clone(), r)
        });
    }

    #[test]
    fn the_version_cache_stays_within_its_budget() {
        let c = caches();
        overfill(&c.versions, VERSIONS_BYTES, 100_000, |i| {
            let id = format!("{i:032x}");
            let v = VersionRow {
                secret_id: id.clone(),
                version: 1,
                key_version: 1,
                sealed: vec![7; 120],
                fingerprint: "f".repeat(64),
                created_at: Timestamp(0),
                created_by: "u".repeat(32),
                deleted_at: None,
                destroyed: false,
                policy: None,
            };
            ((id, 1), Arc::new(v))
        });
    }

    #[test]
    fn the_token_user_and_workspace_caches_stay_within_their_budgets() {
        let c = caches();
        overfill(&c.tokens_by_hash, TOKENS_BYTES, 50_000, |i| {
            let t = CachedToken {
                row: token_row(i),
                user: None,
            };
            (format!("{i:064x}"), Some(t))
        });
        overfill(&c.tokens_by_id, TOKENS_BY_ID_BYTES, 50_000, |i| {
            (format!("{i:032x}"), Some(token_row(i)))
        });
        overfill(&c.users_by_id, USERS_BYTES, 50_000, |i| {
            let u = UserRow {
                id: format!("{i:032x}"),
                name: format!("user-{i}"),
                created_at: Timestamp(0),
            };
            (u.id.clone(), Some(u))
        });
        overfill(&c.workspaces, WORKSPACES_BYTES, 50_000, |i| {
            let w = WorkspaceRow {
                id: format!("{i:032x}"),
                name: format!("ws-{i}"),
                settings: WorkspaceSettings::default(),
                active_key_version: 1,
                created_at: Timestamp(0),
            };
            (w.name.clone(), Some(w))
        });
        overfill(&c.memberships, MEMBERSHIPS_BYTES, 50_000, |i| {
            ((format!("{i:032x}"), "0".repeat(32)), Some(Role::Viewer))
        });
    }

    #[test]
    fn the_binding_and_key_caches_stay_within_their_budgets() {
        let c = caches();
        overfill(&c.bindings, BINDINGS_BYTES, 50_000, |i| {
            let b = BindingInfo {
                owner: format!("flow-{i}"),
                location: "steps[0].secrets".into(),
            };
            (("0".repeat(32), format!("{i:032x}")), vec![b])
        });
        overfill(&c.keys, KEYS_BYTES, 50_000, |i| {
            let key = DataKey::generate();
            ((format!("{i:032x}"), 1), Arc::new(key))
        });
    }

    /// A burst fills the secret cache to its budget; once it expires and the
    /// upkeep sweeps, the table it grew is given back.
    #[test]
    fn a_swept_burst_gives_its_table_back() {
        let clock = Arc::new(ManualClock::new(Timestamp(0)));
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let c = Caches::new(&dyn_clock, 400, VERSIONS_BYTES);
        for i in 0..20_000 {
            let r = secret_row(i);
            c.secrets_by_id.put(r.id.clone(), r);
        }
        assert!(c.secrets_by_id.usage().0 > 1_000);
        clock.advance_seconds(1);
        c.secrets_by_id.sweep();
        assert_eq!(c.secrets_by_id.usage(), (0, 0));
    }
}
