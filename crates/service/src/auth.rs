//! Authentication: a presented API token becomes a [`Principal`]. Only the token's
//! SHA-256 is looked up; lookups are cached briefly, and revocation evicts at once in
//! this process (other processes follow within the cache bound).

use crate::{store_err, Lockbox, RequestCtx};
use lockbox_core::{AccountAction, CallerKind, Error, Result, Role};
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
    /// The kind of credential, as the account matrix sees it.
    pub fn caller_kind(&self) -> CallerKind {
        if self.run.is_some() {
            return CallerKind::Run;
        }
        match self.kind {
            TokenKind::Personal => CallerKind::Person,
            TokenKind::Service | TokenKind::Run => CallerKind::ServiceToken,
        }
    }

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
    pub(crate) row: TokenRow,
    pub(crate) user: Option<UserRow>,
}

impl Lockbox {
    /// Turns a bearer token into a principal, or `unauthenticated`. The message does
    /// not say whether the token was unknown, revoked or expired: that would help an
    /// attacker probing stolen tokens.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        let denied = || Error::unauthenticated("missing, unknown, revoked or expired token");
        if let Some(sealed) = token.strip_prefix(crate::runs::RUN_TOKEN_PREFIX) {
            // A store that cannot answer is not a bad token: keep `unavailable`.
            return self.authenticate_run(sealed).await.map_err(|e| {
                if e.code == lockbox_core::ErrorCode::Unavailable {
                    e
                } else {
                    denied()
                }
            });
        }
        if !lockbox_crypto::looks_like_token(token) {
            return Err(denied());
        }
        let hash = lockbox_crypto::hash_token(token);
        let Some(CachedToken { row, user }) = self.token_by_hash_cached(&hash).await? else {
            return Err(denied());
        };
        // A run's row (or any row that is not an API token) never authenticates as one.
        if !matches!(row.kind, TokenKind::Personal | TokenKind::Service) {
            return Err(denied());
        }
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

    /// Asks the account matrix; a refusal is audited (without a workspace for a
    /// person: the action is not about one).
    pub(crate) async fn check_account(
        &self,
        p: &Principal,
        action: AccountAction,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let kind = p.caller_kind();
        if lockbox_core::account_allowed(kind, action) {
            return Ok(());
        }
        let err = Error::forbidden(format!("{} may not {}", kind.as_str(), action.as_str()));
        let verb = match action {
            AccountAction::ReadIdentity => "identity.read",
            AccountAction::CreateWorkspace => "workspace.create",
            AccountAction::CreatePersonalToken | AccountAction::ManageTokens => "token.change",
            AccountAction::ManageRuns => "run.open",
            AccountAction::ReadAccountAudit => "audit.read",
        };
        // A run's or a service token's refusal goes to its own workspace's log,
        // where its owners see it; a person's stays on the account view.
        let ws = p
            .run
            .as_ref()
            .map(|r| r.workspace_id.clone())
            .or_else(|| p.service.as_ref().map(|(ws, _)| ws.clone()));
        Err(self.refuse(p, ws.as_deref(), verb, None, err, ctx).await)
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

    /// A token row by the SHA-256 of the presented token, with its user (cached;
    /// revocation evicts).
    pub(crate) async fn token_by_hash_cached(&self, hash: &str) -> Result<Option<CachedToken>> {
        if let Some(c) = self.tokens_by_hash.get(&hash.to_owned()) {
            return Ok(c);
        }
        let row = self.store.token_by_hash(hash).await.map_err(store_err)?;
        let entry = match row {
            Some(row) => {
                let user = match &row.user_id {
                    Some(uid) => self.user_by_id(uid).await?,
                    None => None,
                };
                Some(CachedToken { row, user })
            }
            None => None,
        };
        self.tokens_by_hash.put(hash.to_owned(), entry.clone());
        Ok(entry)
    }
}
