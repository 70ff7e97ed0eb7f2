//! API tokens: personal tokens (act as their user) and service tokens (act in one
//! workspace with a fixed role). The plaintext token exists once, in the answer to
//! its creation (a [`Sensitive`](lockbox_core::Sensitive) until it is serialized
//! there); the store keeps its SHA-256.

use crate::auth::Principal;
use crate::{store_err, CreatedToken, Lockbox, RequestCtx, TokenInfo};
use lockbox_core::{
    can_assign_role, AccountAction, Action, Error, Result, Role, Timestamp, TokenName,
};
use lockbox_crypto::{generate_token, hash_token, random_id};
use lockbox_store::{TokenKind, TokenRow, UserRow};

const MAX_TOKEN_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

impl Lockbox {
    fn token_expiry(&self, ttl: Option<u64>) -> Result<Option<Timestamp>> {
        match ttl {
            None => Ok(None),
            Some(0) => Err(Error::invalid("ttl must be at least 1 second").with_field("ttl")),
            Some(s) if s > MAX_TOKEN_TTL_SECONDS => {
                Err(Error::invalid("ttl must be at most ten years").with_field("ttl"))
            }
            Some(s) => Ok(Some(self.clock.now().plus_seconds(s))),
        }
    }

    pub(crate) async fn insert_personal_token(
        &self,
        user: &UserRow,
        name: &str,
        expires_at: Option<Timestamp>,
        actor: &str,
        ctx: &RequestCtx,
    ) -> Result<CreatedToken> {
        let token = generate_token();
        let row = TokenRow {
            id: random_id(),
            // EXPOSE: only its hash is stored; the token itself goes to the response.
            hash: hash_token(token.expose()),
            name: name.to_owned(),
            kind: TokenKind::Personal,
            user_id: Some(user.id.clone()),
            workspace_id: None,
            role: None,
            created_at: self.clock.now(),
            created_by: actor.to_owned(),
            expires_at,
            last_used_at: None,
            revoked_at: None,
            run_as_users: false,
        };
        let audit = lockbox_store::AuditRecord {
            workspace_id: None,
            at: row.created_at,
            actor: actor.to_owned(),
            action: "token.create".into(),
            target: Some(row.id.clone()),
            outcome: "ok".into(),
            request_id: ctx.request_id.clone(),
            detail: serde_json::json!({"kind": "personal", "user": user.name, "name": name}),
        };
        self.store
            .insert_token(row.clone(), audit)
            .await
            .map_err(store_err)?;
        Ok(CreatedToken {
            id: row.id,
            name: row.name,
            kind: "personal",
            workspace: None,
            role: None,
            token,
            expires_at: expires_at.map(Timestamp::to_rfc3339),
            run_as_users: false,
        })
    }

    /// A personal token for the calling user.
    pub async fn create_personal_token(
        &self,
        p: &Principal,
        name: &TokenName,
        ttl: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<CreatedToken> {
        self.check_account(p, AccountAction::CreatePersonalToken, ctx)
            .await?;
        let user = p
            .user
            .as_ref()
            .ok_or_else(|| Error::forbidden("a service token cannot create personal tokens"))?;
        let exp = self.token_expiry(ttl)?;
        self.insert_personal_token(user, name.as_str(), exp, &p.label(), ctx)
            .await
    }

    /// A service token acting in `ws_name` with `role`, which must not exceed what
    /// the caller may hand out. `run_as_users` lets the token open runs that act as
    /// any member (a platform's engine); only the owner may grant it, and only to a
    /// role that may open runs.
    #[allow(clippy::too_many_arguments)] // one call, one field each
    pub async fn create_service_token(
        &self,
        p: &Principal,
        ws_name: &str,
        name: &TokenName,
        role: Role,
        ttl: Option<u64>,
        run_as_users: bool,
        ctx: &RequestCtx,
    ) -> Result<CreatedToken> {
        self.check_account(p, AccountAction::ManageTokens, ctx)
            .await?;
        let (ws, actor_role) = self
            .authorize(p, ws_name, Action::ManageTokens, Some(name.as_str()), ctx)
            .await?;
        if run_as_users
            && !lockbox_core::allowed(lockbox_core::Actor::Member(role), Action::OpenRun)
        {
            return Err(Error::invalid(
                "run_as_users needs a token role that may open runs (owner or admin)",
            ));
        }
        let refusal = if !can_assign_role(actor_role, None, Some(role)) {
            Some(format!(
                "role '{actor_role}' may not create a token with role '{role}'"
            ))
        } else if run_as_users && actor_role != Role::Owner {
            Some(format!(
                "role '{actor_role}' may not let a token open runs as other users; only the owner may"
            ))
        } else {
            None
        };
        if let Some(msg) = refusal {
            let err = Error::forbidden(msg);
            return Err(self
                .refuse(
                    p,
                    Some(&ws.id),
                    "token.create",
                    Some(name.as_str()),
                    err,
                    ctx,
                )
                .await);
        }
        let exp = self.token_expiry(ttl)?;
        let token = generate_token();
        let row = TokenRow {
            id: random_id(),
            // EXPOSE: only its hash is stored; the token itself goes to the response.
            hash: hash_token(token.expose()),
            name: name.as_str().to_owned(),
            kind: TokenKind::Service,
            user_id: None,
            workspace_id: Some(ws.id.clone()),
            role: Some(role),
            created_at: self.clock.now(),
            created_by: p.label(),
            expires_at: exp,
            last_used_at: None,
            revoked_at: None,
            run_as_users,
        };
        let audit = self.record(
            p,
            Some(&ws.id),
            "token.create",
            Some(&row.id),
            ctx,
            serde_json::json!({"kind": "service", "role": role.as_str(), "name": name.as_str(), "run_as_users": run_as_users}),
        );
        self.store
            .insert_token(row.clone(), audit)
            .await
            .map_err(store_err)?;
        Ok(CreatedToken {
            id: row.id,
            name: row.name,
            kind: "service",
            workspace: Some(ws.name),
            role: Some(role.as_str()),
            token,
            expires_at: exp.map(Timestamp::to_rfc3339),
            run_as_users,
        })
    }

    /// Tokens the caller may see: their own personal tokens, and service tokens of
    /// workspaces where they manage tokens.
    pub async fn list_tokens(
        &self,
        p: &Principal,
        ws_filter: Option<&str>,
    ) -> Result<Vec<TokenInfo>> {
        self.check_account(p, AccountAction::ManageTokens, &RequestCtx::default())
            .await?;
        let all = self.store.list_tokens().await.map_err(store_err)?;
        let workspaces = self.store.list_workspaces().await.map_err(store_err)?;
        let ws_name = |id: &Option<String>| {
            id.as_ref().and_then(|id| {
                workspaces
                    .iter()
                    .find(|w| &w.id == id)
                    .map(|w| w.name.clone())
            })
        };
        let mut out = Vec::new();
        for t in all {
            // Runs are ended with DELETE /v1/runs/{id}, not listed as tokens.
            if t.kind == TokenKind::Run {
                continue;
            }
            let visible = match (&t.user_id, &t.workspace_id) {
                (Some(uid), _) => p.user.as_ref().is_some_and(|u| &u.id == uid),
                (None, Some(ws_id)) => {
                    let Some(ws) = workspaces.iter().find(|w| &w.id == ws_id) else {
                        continue;
                    };
                    match self.role_in(p, ws).await {
                        Ok(r) => lockbox_core::allowed(
                            lockbox_core::Actor::Member(r),
                            Action::ManageTokens,
                        ),
                        Err(_) => false,
                    }
                }
                (None, None) => false,
            };
            let name = ws_name(&t.workspace_id);
            if !visible || ws_filter.is_some_and(|f| name.as_deref() != Some(f)) {
                continue;
            }
            let user = match &t.user_id {
                Some(uid) if p.user.as_ref().is_some_and(|u| &u.id == uid) => {
                    p.user.as_ref().map(|u| u.name.clone())
                }
                _ => None,
            };
            out.push(TokenInfo {
                id: t.id,
                name: t.name,
                kind: t.kind.as_str(),
                workspace: name,
                role: t.role.map(Role::as_str),
                user,
                created_at: t.created_at.to_rfc3339(),
                created_by: t.created_by,
                expires_at: t.expires_at.map(Timestamp::to_rfc3339),
                last_used_at: t.last_used_at.map(Timestamp::to_rfc3339),
                revoked_at: t.revoked_at.map(Timestamp::to_rfc3339),
                run_as_users: t.run_as_users,
            });
        }
        Ok(out)
    }

    /// Sets the workspace one of the caller's own personal tokens addresses when a
    /// call names none (see [`Lockbox::default_workspace`]); `None` clears it (the
    /// user's oldest membership). The workspace must be one of the user's.
    pub async fn set_token_default_workspace(
        &self,
        p: &Principal,
        id: &str,
        workspace: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<()> {
        self.check_account(p, AccountAction::ManageTokens, ctx)
            .await?;
        let not_found = || Error::not_found(format!("token '{id}' not found"));
        let t = self
            .store
            .token_by_id(id)
            .await
            .map_err(store_err)?
            .filter(|t| t.kind == TokenKind::Personal && t.revoked_at.is_none())
            .ok_or_else(not_found)?;
        if p.user.as_ref().map(|u| &u.id) != t.user_id.as_ref() {
            return Err(not_found());
        }
        let ws = match workspace {
            None => None,
            Some(name) => {
                let ws = self.workspace(name).await?;
                // Only a workspace the user belongs to (the same answer as for one
                // that does not exist).
                self.role_in(p, &ws).await?;
                Some(ws)
            }
        };
        let audit = self.record(
            p,
            None,
            "token.default_workspace",
            Some(id),
            ctx,
            serde_json::json!({"name": t.name, "default_workspace": workspace}),
        );
        let set = self
            .store
            .set_token_default_workspace(id, ws.map(|w| w.id), audit)
            .await
            .map_err(store_err)?;
        if !set {
            return Err(not_found());
        }
        Ok(())
    }

    /// Revokes a token: the caller's own personal token, or a service token in a
    /// workspace where the caller manages tokens (admins: only below owner).
    pub async fn revoke_token(&self, p: &Principal, id: &str, ctx: &RequestCtx) -> Result<()> {
        self.check_account(p, AccountAction::ManageTokens, ctx)
            .await?;
        let not_found = || Error::not_found(format!("token '{id}' not found"));
        let t = self
            .store
            .token_by_id(id)
            .await
            .map_err(store_err)?
            .filter(|t| t.kind != TokenKind::Run)
            .ok_or_else(not_found)?;
        let ws_id = match (&t.user_id, &t.workspace_id) {
            (Some(uid), _) => {
                if p.user.as_ref().is_none_or(|u| &u.id != uid) {
                    return Err(not_found());
                }
                None
            }
            (None, Some(ws_id)) => {
                let ws = self.workspace_by_id(ws_id).await?.ok_or_else(not_found)?;
                let role = self.role_in(p, &ws).await.map_err(|_| not_found())?;
                self.check(
                    p,
                    &ws,
                    lockbox_core::Actor::Member(role),
                    Action::ManageTokens,
                    Some(id),
                    ctx,
                )
                .await?;
                if !can_assign_role(role, t.role, None) {
                    let err =
                        Error::forbidden(format!("role '{role}' may not revoke an owner token"));
                    self.audit_denied(p, Some(&ws.id), "token.revoke", Some(id), &err, ctx)
                        .await;
                    return Err(err);
                }
                Some(ws.id)
            }
            (None, None) => return Err(not_found()),
        };
        let audit = self.record(
            p,
            ws_id.as_deref(),
            "token.revoke",
            Some(id),
            ctx,
            serde_json::json!({"name": t.name}),
        );
        let revoked = self
            .store
            .revoke_token(id, self.clock.now(), audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::token(id));
        if !revoked {
            return Err(Error::not_found(format!("token '{id}' is already revoked")));
        }
        Ok(())
    }
}
