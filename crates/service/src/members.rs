//! Members and their roles. Owners manage everyone; admins only below owner
//! (`lockbox_core::can_assign_role`); a workspace always keeps at least one owner.

use crate::auth::Principal;
use crate::{store_err, AddedMember, Lockbox, MemberInfo, RequestCtx};
use lockbox_core::{can_assign_role, Action, Error, Result, Role, UserName};
use lockbox_store::WorkspaceRow;

impl Lockbox {
    pub async fn list_members(
        &self,
        p: &Principal,
        ws_name: &str,
        ctx: &RequestCtx,
    ) -> Result<Vec<MemberInfo>> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::ViewWorkspace, None, ctx)
            .await?;
        Ok(self
            .store
            .list_members(&ws.id)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|m| MemberInfo {
                user: m.user_name,
                role: m.role.as_str(),
                since: m.since.to_rfc3339(),
            })
            .collect())
    }

    async fn check_assign(
        &self,
        p: &Principal,
        ws: &WorkspaceRow,
        actor_role: Role,
        user: &str,
        current: Option<Role>,
        new_role: Option<Role>,
        ctx: &RequestCtx,
    ) -> Result<()> {
        if can_assign_role(actor_role, current, new_role) {
            return Ok(());
        }
        let err = Error::forbidden(format!(
            "role '{actor_role}' may manage members only below owner"
        ));
        self.audit_denied(p, Some(&ws.id), "member.change", Some(user), &err, ctx)
            .await;
        Err(err)
    }

    async fn ensure_not_last_owner(
        &self,
        ws: &WorkspaceRow,
        current: Option<Role>,
        new_role: Option<Role>,
    ) -> Result<()> {
        if current == Some(Role::Owner) && new_role != Some(Role::Owner) {
            let owners = self
                .store
                .list_members(&ws.id)
                .await
                .map_err(store_err)?
                .iter()
                .filter(|m| m.role == Role::Owner)
                .count();
            if owners <= 1 {
                return Err(Error::conflict("a workspace must keep at least one owner"));
            }
        }
        Ok(())
    }

    /// Adds a member. A user new to this deployment is created and gets a first
    /// personal token, returned once.
    pub async fn add_member(
        &self,
        p: &Principal,
        ws_name: &str,
        user: &UserName,
        role: Role,
        ctx: &RequestCtx,
    ) -> Result<AddedMember> {
        let (ws, actor_role) = self
            .authorize(p, ws_name, Action::ManageMembers, Some(user.as_str()), ctx)
            .await?;
        self.check_assign(p, &ws, actor_role, user.as_str(), None, Some(role), ctx)
            .await?;
        let existing = self
            .store
            .user_by_name(user.as_str())
            .await
            .map_err(store_err)?;
        if let Some(u) = &existing {
            if self
                .store
                .membership(&ws.id, &u.id)
                .await
                .map_err(store_err)?
                .is_some()
            {
                return Err(Error::conflict(format!(
                    "'{user}' is already a member; change the role with PUT"
                )));
            }
        }
        let u = match existing {
            Some(u) => u,
            None => self.ensure_user(user.as_str()).await?,
        };
        let audit = self.record(
            p,
            Some(&ws.id),
            "member.add",
            Some(user.as_str()),
            ctx,
            serde_json::json!({"role": role.as_str()}),
        );
        self.store
            .put_membership(&ws.id, &u.id, role, self.clock.now(), audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::membership(&ws.id, &u.id));
        let has_token = self
            .store
            .list_tokens()
            .await
            .map_err(store_err)?
            .iter()
            .any(|t| t.user_id.as_deref() == Some(u.id.as_str()));
        let token = if has_token {
            None
        } else {
            Some(
                self.insert_personal_token(&u, "first token", None, &p.label(), ctx)
                    .await?
                    .token,
            )
        };
        Ok(AddedMember {
            user: u.name,
            role: role.as_str(),
            token,
        })
    }

    pub async fn set_member_role(
        &self,
        p: &Principal,
        ws_name: &str,
        user: &UserName,
        role: Role,
        ctx: &RequestCtx,
    ) -> Result<MemberInfo> {
        let (ws, actor_role) = self
            .authorize(p, ws_name, Action::ManageMembers, Some(user.as_str()), ctx)
            .await?;
        let u = self.member_user(&ws, user).await?;
        let current = self
            .store
            .membership(&ws.id, &u.id)
            .await
            .map_err(store_err)?;
        let Some(current) = current else {
            return Err(Error::not_found(format!("'{user}' is not a member")));
        };
        self.check_assign(
            p,
            &ws,
            actor_role,
            user.as_str(),
            Some(current),
            Some(role),
            ctx,
        )
        .await?;
        self.ensure_not_last_owner(&ws, Some(current), Some(role))
            .await?;
        let audit = self.record(
            p,
            Some(&ws.id),
            "member.role",
            Some(user.as_str()),
            ctx,
            serde_json::json!({"from": current.as_str(), "to": role.as_str()}),
        );
        self.store
            .put_membership(&ws.id, &u.id, role, self.clock.now(), audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::membership(&ws.id, &u.id));
        Ok(MemberInfo {
            user: u.name,
            role: role.as_str(),
            since: self.clock.now().to_rfc3339(),
        })
    }

    pub async fn remove_member(
        &self,
        p: &Principal,
        ws_name: &str,
        user: &UserName,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let (ws, actor_role) = self
            .authorize(p, ws_name, Action::ManageMembers, Some(user.as_str()), ctx)
            .await?;
        let u = self.member_user(&ws, user).await?;
        let current = self
            .store
            .membership(&ws.id, &u.id)
            .await
            .map_err(store_err)?;
        let Some(current) = current else {
            return Err(Error::not_found(format!("'{user}' is not a member")));
        };
        self.check_assign(p, &ws, actor_role, user.as_str(), Some(current), None, ctx)
            .await?;
        self.ensure_not_last_owner(&ws, Some(current), None).await?;
        let audit = self.record(
            p,
            Some(&ws.id),
            "member.remove",
            Some(user.as_str()),
            ctx,
            serde_json::json!({"role": current.as_str()}),
        );
        self.store
            .delete_membership(&ws.id, &u.id, audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::membership(&ws.id, &u.id));
        Ok(())
    }

    async fn member_user(
        &self,
        _ws: &WorkspaceRow,
        user: &UserName,
    ) -> Result<lockbox_store::UserRow> {
        self.store
            .user_by_name(user.as_str())
            .await
            .map_err(store_err)?
            .ok_or_else(|| Error::not_found(format!("'{user}' is not a member")))
    }
}
