//! Where a secret call points: the workspace, the scope and its owner, and the
//! actor the role matrix judges there (a member by role, a member in their own
//! user scope as its owner, or a run). Also the keys secrets are cached and queued
//! under.

use crate::auth::Principal;
use crate::{Lockbox, RequestCtx};
use lockbox_core::{Action, Actor, Error, Result, Role, Scope, SecretName};
use lockbox_store::WorkspaceRow;

/// Where a secret call points: workspace plus scope plus owner.
pub(crate) struct Target {
    pub(crate) ws: WorkspaceRow,
    pub(crate) scope: Scope,
    pub(crate) owner: String,
    pub(crate) actor: Actor,
}

/// A secret's row cache key: workspace id, scope, owner, name.
pub(crate) type SecretKey = (String, &'static str, String, String);

impl Lockbox {
    /// Settles workspace, scope owner and the actor the matrix should judge.
    /// In their own user scope, members act as owners of their private secrets.
    pub(crate) async fn target(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
    ) -> Result<Target> {
        let ws = self.workspace(ws_name).await?;
        if let Some(run) = &p.run {
            // A run acts in its own workspace only, and in its user's scope only
            // while that user is still a member.
            if run.workspace_id != ws.id {
                return Err(Error::not_found(format!("workspace '{ws_name}' not found")));
            }
            let owner = match scope {
                Scope::Workspace => String::new(),
                Scope::User => {
                    // Seed 001: no user scope in cron triggers, whoever the run acts as.
                    if !run.user_scope_available() {
                        return Err(Error::user_required());
                    }
                    let user = p.user.as_ref().ok_or_else(Error::user_required)?;
                    if self.member_role(&ws.id, &user.id).await?.is_none() {
                        return Err(Error::forbidden("the run's user is no longer a member"));
                    }
                    user.id.clone()
                }
            };
            return Ok(Target {
                ws,
                scope,
                owner,
                actor: Actor::Run,
            });
        }
        let role = self.role_in(p, &ws).await?;
        let (owner, actor) = match scope {
            Scope::Workspace => (String::new(), Actor::Member(role)),
            Scope::User => {
                let user = p.user.as_ref().ok_or_else(Error::user_required)?;
                (user.id.clone(), Actor::Member(Role::Owner))
            }
        };
        Ok(Target {
            ws,
            scope,
            owner,
            actor,
        })
    }

    /// Audits a refusal about secret `name` of target `t`; returns the error.
    pub(crate) async fn refuse_secret(
        &self,
        p: &Principal,
        t: &Target,
        action: &str,
        name: &SecretName,
        err: Error,
        ctx: &RequestCtx,
    ) -> Error {
        self.refuse(p, Some(&t.ws.id), action, Some(name.as_str()), err, ctx)
            .await
    }

    pub(crate) async fn authorized_target(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        action: Action,
        name: Option<&SecretName>,
        ctx: &RequestCtx,
    ) -> Result<Target> {
        let t = self.target(p, ws_name, scope).await?;
        self.check(p, &t.ws, t.actor, action, name.map(SecretName::as_str), ctx)
            .await?;
        Ok(t)
    }
}

/// The write queue's key for one secret (write_queue.rs).
pub(super) fn queue_key(t: &Target, name: &SecretName) -> String {
    format!(
        "{}\0{}\0{}\0{}",
        t.ws.id,
        t.scope.as_str(),
        t.owner,
        name.as_str()
    )
}

pub(crate) fn secret_key(t: &Target, name: &str) -> SecretKey {
    (
        t.ws.id.clone(),
        t.scope.as_str(),
        t.owner.clone(),
        name.to_owned(),
    )
}
