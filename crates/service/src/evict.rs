//! Cache eviction, in one place. Every write made here names what it changed
//! as a [`Change`] and calls [`Lockbox::evict`] once it is committed; the change
//! follower (another node's writes, from the store's change feed) calls the same
//! function with the store's changes. So a write evicts the same entries on the
//! node that made it as on every other, and no path forgets a cache: a deleted
//! workspace's rows, keys, pattern sets (plaintext forms) and bindings go
//! whichever node deleted it.
//!
//! Nothing else removes a cache entry because something changed: the caches
//! only fill on reads (and a writer caches the row it wrote, after evicting),
//! and expire on their own (cache.rs, `Lockbox::sweep_caches`).

use crate::secrets::SecretKey;
use crate::Lockbox;
use lockbox_store::Change as StoreChange;
use std::sync::atomic::Ordering;

/// What changed, as far as caches care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// What the store's change feed reports: another node's write, or the same
    /// change written here.
    Store(StoreChange),
    /// Which owners bind which secrets in one workspace (by id): a flow stored
    /// or deleted, bindings declared, a secret deleted or renamed with its
    /// bindings. (Other nodes see these within the cache bound.)
    Bindings(String),
    /// What one name of a secret resolves to: a rename to or from it, a create
    /// under it.
    Name(SecretKey),
    /// A read found no secret under this name: whatever the row cache still
    /// holds there is stale. Nothing was written, so no listing changed.
    Missing(SecretKey),
}

impl Change {
    /// A secret (by id): a new version, settings, version states, rename,
    /// delete, expiry, re-seal.
    pub(crate) fn secret(id: &str) -> Change {
        Change::Store(StoreChange::Secret(id.to_owned()))
    }

    /// A workspace (by id): created, settings, keys, deleted.
    pub(crate) fn workspace(id: &str) -> Change {
        Change::Store(StoreChange::Workspace(id.to_owned()))
    }

    /// A token (by id): revoked, or a run or session ended.
    pub(crate) fn token(id: &str) -> Change {
        Change::Store(StoreChange::Token(id.to_owned()))
    }

    /// A membership (workspace id, user id): added, changed, removed.
    pub(crate) fn membership(workspace_id: &str, user_id: &str) -> Change {
        Change::Store(StoreChange::Membership(
            workspace_id.to_owned(),
            user_id.to_owned(),
        ))
    }
}

impl Lockbox {
    /// Drops every cached entry `change` made stale. Writers call it after the
    /// commit (before it, a concurrent read could cache the old state again),
    /// and also when the commit failed in a way that leaves its outcome unknown.
    pub(crate) fn evict(&self, change: &Change) {
        // A folder listing changes with any secret, name or workspace write:
        // pages are cheap to list again, so every such write drops them all (a
        // change names a secret by id, not by the folders it sits in). A read that
        // found nothing wrote nothing.
        if !matches!(
            change,
            Change::Store(StoreChange::Token(_) | StoreChange::Membership(..))
                | Change::Bindings(_)
                | Change::Missing(_)
        ) {
            self.children.clear();
        }
        match change {
            Change::Store(StoreChange::Secret(id)) => {
                self.secrets_by_id.remove(id);
                self.secrets.retain(|_, row| &row.id != id);
                self.forget_versions(|sid| sid != id);
                self.redactors.forget_secret(id);
            }
            Change::Store(StoreChange::Token(id)) => {
                self.tokens_by_hash
                    .retain(|_, v| v.as_ref().is_none_or(|c| &c.row.id != id));
                self.tokens_by_id.remove(id);
            }
            Change::Store(StoreChange::Membership(ws, user)) => {
                self.memberships.remove(&(ws.clone(), user.clone()))
            }
            Change::Store(StoreChange::Workspace(id)) => {
                // Drop the entry for this id, and negative entries (a workspace
                // created under a name remembered as absent).
                self.workspaces
                    .retain(|_, row| row.as_ref().is_some_and(|w| &w.id != id));
                self.memberships.retain(|(ws, _), _| ws != id);
                self.secrets.retain(|(ws, _, _, _), _| ws != id);
                self.secrets_by_id.retain(|_, row| &row.workspace_id != id);
                self.keys.0.retain(|(ws, _), _| ws != id);
                self.forget_versions(|_| false);
                self.tokens_by_hash.clear();
                self.tokens_by_id.clear();
                // Its secrets may be gone: drop every plaintext-derived pattern
                // set and run redactor (rare, so all of them), and the bindings.
                self.redactors.clear();
                self.bindings_cache.clear();
            }
            Change::Store(StoreChange::Everything) => {
                self.redactors.clear();
                self.tokens_by_id.clear();
                self.users_by_id.clear();
                self.secrets_by_id.clear();
                self.workspaces.clear();
                self.memberships.clear();
                self.secrets.clear();
                self.bindings_cache.clear();
                self.forget_versions(|_| false);
                self.tokens_by_hash.clear();
                self.keys.0.clear();
            }
            Change::Bindings(ws) => self.bindings_cache.retain(|(w, _), _| w != ws),
            Change::Name(key) | Change::Missing(key) => self.secrets.remove(key),
        }
    }

    /// Evicts cached versions of the secrets `keep` rejects (by secret id), after
    /// bumping the generation that `version_row` checks before it caches.
    fn forget_versions(&self, keep: impl Fn(&str) -> bool) {
        self.versions_gen.fetch_add(1, Ordering::SeqCst);
        self.versions.retain(|(id, _), _| keep(id));
    }
}
