//! Workspaces: create, list, settings, delete (crypto-shredding), the audit log view
//! and `whoami`.

use crate::auth::Principal;
use crate::evict::Change;
use crate::{
    store_err, AuditPage, Lockbox, RequestCtx, TokenRef, WhoAmI, WorkspaceInfo, WorkspaceRole,
    WorkspaceSettings,
};
use lockbox_core::{AccountAction, Action, Error, Result, Role, WorkspaceName};
use lockbox_crypto::random_id;
use lockbox_store::{AuditRecord, StoreError, TokenKind, UserRow, WorkspaceRow};

impl Lockbox {
    pub(crate) async fn ensure_user(&self, name: &str) -> Result<UserRow> {
        if let Some(u) = self.store.user_by_name(name).await.map_err(store_err)? {
            return Ok(u);
        }
        let user = UserRow {
            id: random_id(),
            name: name.to_owned(),
            created_at: self.clock.now(),
        };
        match self.store.create_user(user.clone()).await {
            Ok(()) => Ok(user),
            // Someone created it between our read and write.
            Err(StoreError::Conflict) => self
                .store
                .user_by_name(name)
                .await
                .map_err(store_err)?
                .ok_or_else(|| Error::internal("user vanished after a conflict")),
            Err(e) => Err(store_err(e)),
        }
    }

    pub(crate) async fn create_workspace_row(
        &self,
        name: &str,
        owner_user_id: &str,
        actor: &str,
        ctx: &RequestCtx,
    ) -> Result<WorkspaceRow> {
        let ws = WorkspaceRow {
            id: random_id(),
            name: name.to_owned(),
            settings: WorkspaceSettings::default(),
            active_key_version: 1,
            created_at: self.clock.now(),
        };
        let key = self.new_workspace_key(&ws.id)?;
        let audit = AuditRecord {
            workspace_id: Some(ws.id.clone()),
            at: ws.created_at,
            actor: actor.to_owned(),
            action: "workspace.create".into(),
            target: Some(name.to_owned()),
            outcome: "ok".into(),
            request_id: ctx.request_id.clone(),
            detail: serde_json::json!({}),
        };
        match self
            .store
            .create_workspace(
                ws.clone(),
                key,
                Some((owner_user_id.to_owned(), Role::Owner)),
                audit,
            )
            .await
        {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(
                    Error::conflict(format!("workspace '{name}' already exists"))
                        .with_field("workspace"),
                );
            }
            Err(e) => return Err(store_err(e)),
        }
        self.evict(&Change::workspace(&ws.id));
        Ok(ws)
    }

    /// Any user may create a workspace and becomes its owner. Service tokens may not.
    pub async fn create_workspace(
        &self,
        p: &Principal,
        name: &WorkspaceName,
        ctx: &RequestCtx,
    ) -> Result<WorkspaceInfo> {
        self.check_account(p, AccountAction::CreateWorkspace, ctx)
            .await?;
        let user = p
            .user
            .as_ref()
            .ok_or_else(|| Error::forbidden("only a user may create workspaces"))?;
        let ws = self
            .create_workspace_row(name.as_str(), &user.id, &p.label(), ctx)
            .await?;
        Ok(WorkspaceInfo {
            name: ws.name,
            role: Role::Owner.as_str(),
            created_at: ws.created_at.to_rfc3339(),
        })
    }

    pub async fn list_workspaces(&self, p: &Principal) -> Result<Vec<WorkspaceInfo>> {
        Ok(self
            .workspace_roles(p)
            .await?
            .into_iter()
            .map(|(ws, role)| WorkspaceInfo {
                name: ws.name,
                role: role.as_str(),
                created_at: ws.created_at.to_rfc3339(),
            })
            .collect())
    }

    async fn workspace_roles(&self, p: &Principal) -> Result<Vec<(WorkspaceRow, Role)>> {
        self.check_account(p, AccountAction::ReadIdentity, &RequestCtx::default())
            .await?;
        match (&p.user, &p.service) {
            (_, Some((ws_id, role))) => {
                let all = self.store.list_workspaces().await.map_err(store_err)?;
                Ok(all
                    .into_iter()
                    .filter(|w| &w.id == ws_id)
                    .map(|w| (w, *role))
                    .collect())
            }
            (Some(u), None) => self.store.memberships_of(&u.id).await.map_err(store_err),
            (None, None) => Ok(Vec::new()),
        }
    }

    /// Deletes a workspace and destroys its key: every secret in it becomes
    /// unrecoverable at once. Owner only.
    pub async fn delete_workspace(
        &self,
        p: &Principal,
        ws_name: &str,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::DeleteWorkspace, Some(ws_name), ctx)
            .await?;
        let audit = self.record(
            p,
            Some(&ws.id),
            "workspace.delete",
            Some(ws_name),
            ctx,
            serde_json::json!({}),
        );
        let deleted = self
            .store
            .delete_workspace(&ws.id, audit)
            .await
            .map_err(store_err)?;
        // The same eviction as when another node deletes it: one path, so no
        // cache (a run's redactor with the workspace's plaintexts, say) outlives it.
        self.evict(&Change::workspace(&ws.id));
        if !deleted {
            return Err(Error::not_found(format!("workspace '{ws_name}' not found")));
        }
        if let Err(e) = self.store.purge_deleted().await {
            tracing::warn!(error = %e, "could not purge the deleted workspace's leftovers from the write-ahead log");
        }
        Ok(())
    }

    pub async fn workspace_settings(
        &self,
        p: &Principal,
        ws_name: &str,
        ctx: &RequestCtx,
    ) -> Result<WorkspaceSettings> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::ViewWorkspace, None, ctx)
            .await?;
        Ok(ws.settings)
    }

    /// Changes workspace settings (owner only); fields left `None` keep their value.
    pub async fn update_workspace_settings(
        &self,
        p: &Principal,
        ws_name: &str,
        patch: WorkspaceSettingsPatch,
        ctx: &RequestCtx,
    ) -> Result<WorkspaceSettings> {
        let WorkspaceSettingsPatch {
            allow_rename,
            max_versions,
            cas_required,
            delete_version_after,
        } = patch;
        let (ws, _) = self
            .authorize(p, ws_name, Action::ManageSettings, Some(ws_name), ctx)
            .await?;
        let mut settings = ws.settings.clone();
        if let Some(a) = allow_rename {
            settings.allow_rename = a;
        }
        if let Some(m) = max_versions {
            if !(1..=1000).contains(&m) {
                return Err(Error::invalid("max_versions must be between 1 and 1000"));
            }
            settings.max_versions = m;
        }
        if let Some(c) = cas_required {
            settings.cas_required = c;
        }
        if let Some(d) = delete_version_after {
            settings.delete_version_after = check_delete_after(d)?;
        }
        let audit = self.record(
            p,
            Some(&ws.id),
            "workspace.settings",
            Some(ws_name),
            ctx,
            serde_json::json!({
                "allow_rename": settings.allow_rename,
                "max_versions": settings.max_versions,
                "cas_required": settings.cas_required,
                "delete_version_after": settings.delete_version_after,
            }),
        );
        self.store
            .update_workspace_settings(&ws.id, settings.clone(), audit)
            .await
            .map_err(store_err)?;
        self.evict(&Change::workspace(&ws.id));
        Ok(settings)
    }

    pub async fn audit_log(
        &self,
        p: &Principal,
        ws_name: &str,
        before: Option<i64>,
        limit: Option<u32>,
        ctx: &RequestCtx,
    ) -> Result<AuditPage> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::ReadAudit, None, ctx)
            .await?;
        let limit = limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(Error::invalid("limit must be between 1 and 1000"));
        }
        let rows = self
            .store
            .list_audit(&ws.id, before, limit)
            .await
            .map_err(store_err)?;
        let next_before = (rows.len() == limit as usize)
            .then(|| rows.last().map(|r| r.seq))
            .flatten();
        Ok(AuditPage {
            events: rows.into_iter().map(crate::audit::view).collect(),
            next_before,
        })
    }

    /// The workspace a call addresses when it names none (the Vault API without
    /// `X-Vault-Namespace`): a run's or a service token's own; for a personal
    /// token, the default set on the token (`PATCH /v1/tokens/{id}`) while its user
    /// is still a member there, else the user's oldest membership (so joining
    /// another workspace never changes it). `None` for a user in no workspace.
    pub async fn default_workspace(&self, p: &Principal) -> Result<Option<String>> {
        if let Some(run) = &p.run {
            return Ok(Some(run.workspace.clone()));
        }
        let roles = self.workspace_roles(p).await?;
        let user = match (&p.user, roles.as_slice()) {
            (Some(u), [_, _, ..]) if p.service.is_none() => u,
            _ => return Ok(roles.first().map(|(w, _)| w.name.clone())),
        };
        if let Some(id) = self
            .store
            .token_default_workspace(&p.token_id)
            .await
            .map_err(store_err)?
        {
            if let Some((w, _)) = roles.iter().find(|(w, _)| w.id == id) {
                return Ok(Some(w.name.clone()));
            }
        }
        let mut oldest: Option<(lockbox_core::Timestamp, &str)> = None;
        for (w, _) in &roles {
            let since = self
                .store
                .list_members(&w.id)
                .await
                .map_err(store_err)?
                .into_iter()
                .find(|m| m.user_id == user.id)
                .map(|m| m.since);
            if let Some(since) = since {
                // Ties: the name first in order (the roles come sorted by name).
                if oldest.is_none_or(|(at, _)| since < at) {
                    oldest = Some((since, w.name.as_str()));
                }
            }
        }
        Ok(oldest.map(|(_, name)| name.to_owned()))
    }

    pub async fn whoami(&self, p: &Principal) -> Result<WhoAmI> {
        let workspaces = self
            .workspace_roles(p)
            .await?
            .into_iter()
            .map(|(w, r)| WorkspaceRole {
                name: w.name,
                role: r.as_str(),
            })
            .collect();
        Ok(WhoAmI {
            kind: match (p.kind, &p.run) {
                (_, Some(_)) | (TokenKind::Run, _) => "run",
                (TokenKind::Personal, None) => "personal",
                (TokenKind::Service, None) => "service",
            },
            user: p.user.as_ref().map(|u| u.name.clone()),
            token: TokenRef {
                id: p.token_id.clone(),
                name: p.token_name.clone(),
            },
            workspaces,
        })
    }
}

/// A change to workspace settings; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceSettingsPatch {
    pub allow_rename: Option<bool>,
    pub max_versions: Option<u32>,
    pub cas_required: Option<bool>,
    /// Seconds; `Some(0)` turns it off.
    pub delete_version_after: Option<u64>,
}

/// The longest `delete_version_after` accepted: ten years.
pub(crate) const MAX_DELETE_AFTER_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// `delete_version_after` as stored: `0` means never (`None`).
pub(crate) fn check_delete_after(seconds: u64) -> Result<Option<u64>> {
    if seconds > MAX_DELETE_AFTER_SECONDS {
        return Err(Error::invalid(format!(
            "delete_version_after must be at most {MAX_DELETE_AFTER_SECONDS} seconds"
        ))
        .with_field("delete_version_after"));
    }
    Ok((seconds > 0).then_some(seconds))
}
