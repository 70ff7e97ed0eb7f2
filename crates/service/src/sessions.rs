//! Web-console sessions: a presented API token (personal or service; never a run
//! token) is exchanged for a session that acts with exactly the token's rights.
//!
//! A session is stored as a row of the tokens table (no new table or store method):
//! its `hash` is the SHA-256 of a random session secret (`lbs_` + 256 bits, which
//! only the browser's cookie holds), its `name` links it to the parent token
//! (`console-session:<parent id>`), and it copies the parent's kind, user, workspace
//! and role. Every use re-reads both rows, so a session ends the moment it is signed
//! out, when it expires (12 hours, or the parent's expiry if sooner), and when its
//! parent token is revoked or expires — on every node sharing the store.
//!
//! The session secret can never be used as a bearer token: it fails the `lbx_`
//! shape check, and its hash can only match a session row. The CSRF token is a
//! one-way function of the secret, so it is bound to the session without any stored
//! state or server key. This module must never log or audit a secret or a token.

use crate::auth::Principal;
use crate::{store_err, Lockbox, RequestCtx};
use lockbox_core::{Error, ErrorCode, Result, Timestamp};
use lockbox_crypto::{
    constant_time_eq, generate_token, hash_token, random_id, TokenPurpose, TOKEN_PREFIX,
};
use lockbox_store::{AuditRecord, TokenKind, TokenRow};
use zeroize::Zeroizing;

/// Prefix of a session secret (the cookie value).
pub const SESSION_PREFIX: &str = "lbs_";
/// Token-row name prefix marking a session; the parent token's id follows.
pub const SESSION_NAME_PREFIX: &str = "console-session:";
/// Absolute lifetime of a session.
pub const SESSION_TTL_SECONDS: u64 = 12 * 3600;

/// A live console session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session row's id (never the secret).
    pub id: String,
    /// Exactly the parent token's principal.
    pub principal: Principal,
    pub expires_at: Timestamp,
    csrf: String,
}

impl Session {
    /// The CSRF token pages embed and state-changing requests must send back.
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// Constant-time comparison of a presented CSRF token.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        constant_time_eq(presented.as_bytes(), self.csrf.as_bytes())
    }

    /// Seconds until the session expires (for the cookie's Max-Age).
    pub fn max_age_seconds(&self, now: Timestamp) -> i64 {
        ((self.expires_at.millis() - now.millis()) / 1000).max(0)
    }
}

/// A session just made: `secret` goes into the cookie and nowhere else.
pub struct NewSession {
    pub secret: String,
    pub session: Session,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("secret", &"[REDACTED]")
            .field("session", &self.session)
            .finish()
    }
}

fn csrf_of(secret: &str) -> String {
    hash_token(&format!("lockbox-console-csrf:{secret}"))
}

fn looks_like_session(secret: &str) -> bool {
    secret.len() == SESSION_PREFIX.len() + 43 && secret.starts_with(SESSION_PREFIX)
}

fn denied() -> Error {
    Error::unauthenticated("no session, or it ended; sign in again")
}

impl Lockbox {
    /// Signs in with an API token: authenticates it and creates a session acting
    /// with its rights. Run tokens are refused. Audited as `session.start`.
    pub async fn sign_in(&self, token: &str, ctx: &RequestCtx) -> Result<NewSession> {
        let token = token.trim();
        if token.starts_with(crate::runs::RUN_TOKEN_PREFIX) {
            return Err(Error::unauthenticated(
                "a run token cannot sign in to the console; use a personal or service token",
            ));
        }
        let principal = self.authenticate(token).await?;
        let parent = self
            .store
            .token_by_id(&principal.token_id)
            .await
            .map_err(store_err)?
            .ok_or_else(|| Error::unauthenticated("missing, unknown, revoked or expired token"))?;
        let now = self.clock.now();
        let mut expires_at = now.plus_seconds(SESSION_TTL_SECONDS);
        if let Some(e) = parent.expires_at {
            expires_at = expires_at.min(e);
        }
        let body = generate_token();
        // EXPOSE: its random body becomes the session secret, handed to the console.
        let secret = format!("{SESSION_PREFIX}{}", &body.expose()[TOKEN_PREFIX.len()..]);
        let row = TokenRow {
            id: random_id(),
            hash: hash_token(&secret),
            name: format!("{SESSION_NAME_PREFIX}{}", parent.id),
            kind: parent.kind,
            user_id: parent.user_id.clone(),
            workspace_id: parent.workspace_id.clone(),
            role: parent.role,
            created_at: now,
            created_by: principal.label(),
            expires_at: Some(expires_at),
            last_used_at: None,
            revoked_at: None,
            // The session acts as its parent; the parent's own grants apply.
            run_as_users: false,
        };
        let audit = self.session_audit(&principal, &parent, "session.start", &row.id, ctx);
        self.store
            .insert_token(row.clone(), audit)
            .await
            .map_err(store_err)?;
        Ok(NewSession {
            session: Session {
                id: row.id,
                principal,
                expires_at,
                csrf: csrf_of(&secret),
            },
            secret,
        })
    }

    /// The live session a cookie's secret names, or `unauthenticated`.
    pub async fn session(&self, secret: &str) -> Result<Session> {
        if !looks_like_session(secret) {
            return Err(denied());
        }
        let hash = hash_token(secret);
        let row = self
            .store
            .token_by_hash(&hash)
            .await
            .map_err(store_err)?
            .ok_or_else(denied)?;
        if !constant_time_eq(row.hash.as_bytes(), hash.as_bytes()) {
            return Err(denied());
        }
        let now = self.clock.now();
        let live = |t: &TokenRow| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now);
        let parent_id = row
            .name
            .strip_prefix(SESSION_NAME_PREFIX)
            .ok_or_else(denied)?;
        if !live(&row) {
            return Err(denied());
        }
        let parent = self
            .store
            .token_by_id(parent_id)
            .await
            .map_err(store_err)?
            .ok_or_else(denied)?;
        let same_rights = parent.kind == row.kind
            && parent.user_id == row.user_id
            && parent.workspace_id == row.workspace_id
            && parent.role == row.role;
        if !live(&parent) || parent.name.starts_with(SESSION_NAME_PREFIX) || !same_rights {
            return Err(denied());
        }
        let user = match &parent.user_id {
            Some(uid) => Some(
                self.store
                    .user_by_id(uid)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(denied)?,
            ),
            None => None,
        };
        let service = match (parent.kind, &parent.workspace_id, parent.role) {
            (TokenKind::Service, Some(ws), Some(role)) => Some((ws.clone(), role)),
            (TokenKind::Service | TokenKind::Run, _, _) => return Err(denied()),
            (TokenKind::Personal, _, _) => None,
        };
        self.token_last_used
            .lock()
            .expect("last-used lock")
            .insert(parent.id.clone(), now);
        Ok(Session {
            id: row.id,
            principal: Principal {
                token_id: parent.id,
                token_name: parent.name,
                kind: parent.kind,
                user,
                service,
                run: None,
            },
            expires_at: row.expires_at.unwrap_or(now),
            csrf: csrf_of(secret),
        })
    }

    /// Ends a session on the server: its cookie stops working everywhere at once.
    /// Audited as `session.end`.
    pub async fn sign_out(&self, session: &Session, ctx: &RequestCtx) -> Result<()> {
        let parent = self
            .store
            .token_by_id(&session.principal.token_id)
            .await
            .map_err(store_err)?
            .ok_or_else(denied)?;
        let audit =
            self.session_audit(&session.principal, &parent, "session.end", &session.id, ctx);
        let ended = self
            .store
            .revoke_token(&session.id, self.clock.now(), audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::token(&session.id));
        if !ended {
            return Err(Error::new(
                ErrorCode::Unauthenticated,
                "session already ended",
            ));
        }
        Ok(())
    }

    fn session_audit(
        &self,
        p: &Principal,
        parent: &TokenRow,
        action: &str,
        session_id: &str,
        ctx: &RequestCtx,
    ) -> AuditRecord {
        AuditRecord {
            workspace_id: parent.workspace_id.clone(),
            at: self.clock.now(),
            actor: p.label(),
            action: action.to_owned(),
            target: Some(session_id.to_owned()),
            outcome: "ok".to_owned(),
            request_id: ctx.request_id.clone(),
            detail: serde_json::json!({"token": parent.id}),
        }
    }
}

/// What a console text sealed for one session is for (each its own key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionSeal {
    /// A note for the next page (a fresh token shown once after a redirect).
    Note,
    /// A form's one-time nonce.
    FormNonce,
}

impl SessionSeal {
    fn purpose(self) -> TokenPurpose {
        match self {
            SessionSeal::Note => TokenPurpose::ConsoleNote,
            SessionSeal::FormNonce => TokenPurpose::ConsoleFormNonce,
        }
    }
}

impl Lockbox {
    /// Seals `payload` so that only `session`, on any node sharing the master key,
    /// opens it, for `ttl_seconds`. The console keeps state that must survive a
    /// redirect to another node this way (a cookie or a form field), instead of in
    /// one node's memory. The text is opaque; what it carries stays secret.
    pub fn seal_for_session(
        &self,
        session: &Session,
        kind: SessionSeal,
        payload: &[u8],
        ttl_seconds: u64,
    ) -> String {
        let expires = self.clock.now().millis() + (ttl_seconds as i64) * 1000;
        let id = session.id.as_bytes();
        let mut plain = Zeroizing::new(Vec::with_capacity(10 + id.len() + payload.len()));
        plain.extend_from_slice(&expires.to_be_bytes());
        plain.extend_from_slice(&(id.len() as u16).to_be_bytes());
        plain.extend_from_slice(id);
        plain.extend_from_slice(payload);
        // Opaque sealed text for a cookie or form field of this session only.
        self.keyring
            .seal_token(kind.purpose(), &plain)
            .into_exposed()
    }

    /// Opens text made by [`Lockbox::seal_for_session`] for the same session and
    /// kind, before it expires; `None` otherwise (edited, another session's,
    /// another kind, expired, or a master key this node lacks).
    pub fn open_for_session(
        &self,
        session: &Session,
        kind: SessionSeal,
        sealed: &str,
    ) -> Option<Zeroizing<Vec<u8>>> {
        let plain = self.keyring.open_token(kind.purpose(), sealed).ok()?;
        let expires = i64::from_be_bytes(plain.get(..8)?.try_into().ok()?);
        let id_len = u16::from_be_bytes(plain.get(8..10)?.try_into().ok()?) as usize;
        let id = plain.get(10..10 + id_len)?;
        if id != session.id.as_bytes() || self.clock.now().millis() >= expires {
            return None;
        }
        Some(Zeroizing::new(plain[10 + id_len..].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_secrets_are_not_bearer_tokens() {
        let (a, b) = (generate_token(), generate_token());
        // EXPOSE: the test builds a session secret the way sign_in does.
        let s = format!("{SESSION_PREFIX}{}", &a.expose()[TOKEN_PREFIX.len()..]);
        assert!(looks_like_session(&s));
        assert!(!lockbox_crypto::looks_like_token(&s));
        // EXPOSE: as above.
        assert!(!looks_like_session(b.expose()));
        assert_ne!(csrf_of(&s), hash_token(&s));
    }
}
