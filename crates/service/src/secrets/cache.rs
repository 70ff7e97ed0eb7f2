//! Secret rows and sealed versions, read through their caches: by name (the
//! metadata cache) and by version. Reads fill the caches; only
//! [`Lockbox::evict`](crate::Lockbox) (evict.rs) empties them. A cached row may
//! be stale for at most the cache bound; writes are compare-and-set, so a stale
//! row costs at worst one retry.

use super::not_found;
use super::target::{secret_key, SecretKey, Target};
use crate::auth::Principal;
use crate::evict::Change;
use crate::{store_err, Lockbox, RequestCtx};
use lockbox_core::{Action, Result, Scope, SecretName};
use lockbox_store::{SecretRow, VersionRow};
use std::sync::Arc;

impl Lockbox {
    /// `row`, unless it has expired.
    pub(crate) fn live(&self, row: Option<SecretRow>) -> Option<SecretRow> {
        let now = self.clock.now();
        row.filter(|s| s.expires_at.is_none_or(|e| e > now))
    }

    /// The secret row, from the metadata cache unless `fresh`. Writes are
    /// compare-and-set, so a stale cached row can at worst cost one retry.
    pub(crate) async fn find_secret(
        &self,
        t: &Target,
        name: &SecretName,
        fresh: bool,
    ) -> Result<Option<SecretRow>> {
        let key = secret_key(t, name.as_str());
        if !fresh {
            if let Some(row) = self.secrets.get(&key) {
                return Ok(Some(row));
            }
        }
        let generation = self.secrets.generation();
        let row = self
            .store
            .find_secret(&t.ws.id, t.scope, &t.owner, name.as_str())
            .await
            .map_err(store_err)?;
        match &row {
            Some(r) => self.cache_secret(key, r.clone(), generation),
            None => self.evict(&Change::Missing(key)),
        }
        Ok(row)
    }

    /// Caches a secret row read or written after `generation` was captured, unless
    /// an eviction ran since or the cached row is a later state of the same secret
    /// (a slower writer or reader must not put back an older version).
    pub(crate) fn cache_secret(&self, key: SecretKey, row: SecretRow, generation: u64) {
        self.secrets.put_fresh(key, row, generation, |have, new| {
            have.id == new.id
                && (have.current_version, have.updated_at) > (new.current_version, new.updated_at)
        });
    }

    /// The live secret `name`, after checking `action` on it.
    pub(crate) async fn live_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        action: Action,
        ctx: &RequestCtx,
    ) -> Result<SecretRow> {
        let t = self
            .authorized_target(p, ws_name, scope, action, Some(name), ctx)
            .await?;
        self.find_live(&t, name).await
    }

    pub(crate) async fn find_live(&self, t: &Target, name: &SecretName) -> Result<SecretRow> {
        self.find_live_fresh(t, name, false).await
    }

    /// The live secret `name` that holds at least one version: an entry without
    /// versions (Vault metadata written first, see `versions.rs`) is `not_found`
    /// on every path but the few that name it (`…_or_entry`).
    pub(crate) async fn find_live_fresh(
        &self,
        t: &Target,
        name: &SecretName,
        fresh: bool,
    ) -> Result<SecretRow> {
        let row = self.find_live_or_entry(t, name, fresh).await?;
        if row.current_version == 0 {
            return Err(not_found(name));
        }
        Ok(row)
    }

    /// The live secret `name`, or its entry without versions.
    pub(crate) async fn find_live_or_entry(
        &self,
        t: &Target,
        name: &SecretName,
        fresh: bool,
    ) -> Result<SecretRow> {
        let row = self.find_secret(t, name, fresh).await?;
        self.live(row).ok_or_else(|| not_found(name))
    }

    /// One sealed version. Only its state (deleted, destroyed) and its sealing
    /// (re-encryption) ever change, and both evict it, so it caches well.
    pub(crate) async fn version_row(
        &self,
        secret_id: &str,
        version: u64,
    ) -> Result<Option<Arc<VersionRow>>> {
        use std::sync::atomic::Ordering;
        let key = (secret_id.to_owned(), version);
        if let Some(v) = self.versions.get(&key) {
            return Ok(Some(v));
        }
        let generation = self.versions_gen.load(Ordering::SeqCst);
        let v = self
            .store
            .secret_version(secret_id, version)
            .await
            .map_err(store_err)?
            .map(Arc::new);
        if let Some(v) = &v {
            self.versions.put_if(key, v.clone(), || {
                self.versions_gen.load(Ordering::SeqCst) == generation
            });
        }
        Ok(v)
    }
}
