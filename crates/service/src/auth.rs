//! Authentication: a presented API token becomes a [`Principal`]. Only the token's
//! SHA-256 is looked up; lookups are cached briefly, and revocation evicts at once in
//! this process (other processes follow within the cache bound).

use crate::{store_err, Lockbox};
use lockbox_core::{Error, Result, Role};
use lockbox_store::{TokenKind, TokenRow, UserRow};

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: String,
    pub token_name: String,
    pub kind: TokenKind,
    /// The user a personal token acts as.
    pub user: Option<UserRow>,
    /// The workspace id and role a service token acts with.
    pub service: Option<(String, Role)>,
    /// Set when the caller is an automation run (a run token).
    pub run: Option<crate::runs::RunContext>,
}

impl Principal {
    /// How the caller appears in audit rows and `created_by`: `user:<name>` or
    /// `token:<name>`.
    pub fn label(&self) -> String {
        if let Some(run) = &self.run {
            return format!("run:{}", run.run_id);
        }
        match &self.user {
            Some(u) => format!("user:{}", u.name),
            None => format!("token:{}", self.token_name),
        }
    }
}

#[derive(Clone)]
pub(crate) struct CachedToken {
    row: TokenRow,
    user: Option<UserRow>,
}

impl Lockbox {
    /// Turns a bearer token into a principal, or `unauthenticated`. The message does
    /// not say whether the token was unknown, revoked or expired: that would help an
    /// attacker probing stolen tokens.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let denied = || Error::unauthenticated("missing, unknown, revoked or expired token");
        if let Some(sealed) = token.strip_prefix(crate::runs::RUN_TOKEN_PREFIX) {
            return self.authenticate_run(sealed).await.map_err(|_| denied());
        }
        if !lockbox_crypto::looks_like_token(token) {
            return Err(denied());
        }
        let hash = lockbox_crypto::hash_token(token);
        let cached = match self.tokens_by_hash.get(&hash) {
            Some(c) => c,
            None => {
                let row = self.store.token_by_hash(&hash).await.map_err(store_err)?;
                let entry = match row {
                    Some(row) => {
                        let user = match &row.user_id {
                            Some(uid) => self.store.user_by_id(uid).await.map_err(store_err)?,
                            None => None,
                        };
                        Some(CachedToken { row, user })
                    }
                    None => None,
                };
                self.tokens_by_hash.put(hash.clone(), entry.clone());
                entry
            }
        };
        let Some(CachedToken { row, user }) = cached else {
            return Err(denied());
        };
        // The lookup was by hash; compare the stored hash in constant time anyway so
        // a cache or index quirk can never match a different token.
        if !lockbox_crypto::constant_time_eq(row.hash.as_bytes(), hash.as_bytes()) {
            return Err(denied());
        }
        let now = self.clock.now();
        if row.revoked_at.is_some() || row.expires_at.is_some_and(|e| e <= now) {
            return Err(denied());
        }
        self.token_last_used
            .lock()
            .expect("last-used lock")
            .insert(row.id.clone(), now);
        let service = match (row.kind, &row.workspace_id, row.role) {
            (TokenKind::Service, Some(ws), Some(role)) => Some((ws.clone(), role)),
            _ => None,
        };
        if row.kind == TokenKind::Personal && user.is_none() {
            return Err(denied());
        }
        Ok(Principal {
            token_id: row.id,
            token_name: row.name,
            kind: row.kind,
            user,
            service,
            run: None,
        })
    }

    /// Writes collected last-use times (batched: not one write per request).
    pub async fn flush_token_use(&self) {
        let used: Vec<_> =
            std::mem::take(&mut *self.token_last_used.lock().expect("last-used lock"))
                .into_iter()
                .collect();
        if used.is_empty() {
            return;
        }
        if let Err(e) = self.store.touch_tokens(used).await {
            tracing::warn!(error = %e, "recording token last use failed");
        }
    }

    pub(crate) fn forget_token(&self, token_id: &str) {
        self.tokens_by_hash
            .retain(|_, v| v.as_ref().is_none_or(|c| c.row.id != token_id));
    }
}
