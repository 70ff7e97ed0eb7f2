//! The non-secret endpoints as methods on [`Client`]: workspaces and their settings,
//! members, tokens, the caller (`/v1/me`) and the audit log.

use crate::client::{seg, Call, Client};
use crate::error::Result;
use lockbox_core::Role;
use lockbox_wire::{
    AddMemberBody, AddedMember, AuditPage, CreateTokenBody, CreateWorkspaceBody, CreatedToken, Me,
    Member, MemberList, RoleBody, Settings, SettingsPatch, TokenDefaults, TokenInfo, TokenList,
    UpdateTokenBody, WorkspaceInfo, WorkspaceList,
};
use reqwest::Method;

impl Client {
    pub(crate) fn workspace_path(ws: &str) -> Result<String> {
        Ok(format!("/v1/workspaces/{}", seg("workspace", ws)?))
    }

    // ---- workspaces -------------------------------------------------------------

    /// `GET /v1/workspaces`: the workspaces the caller belongs to, with its role.
    pub async fn list_workspaces(&self) -> Result<Vec<WorkspaceInfo>> {
        let body: WorkspaceList = self
            .send_json(
                "list workspaces",
                Call::new(Method::GET, "/v1/workspaces".into()),
            )
            .await?;
        Ok(body.workspaces)
    }

    /// `POST /v1/workspaces`: the caller becomes its owner.
    pub async fn create_workspace(&self, name: &str) -> Result<WorkspaceInfo> {
        let call = Call::new(Method::POST, "/v1/workspaces".into()).json(&CreateWorkspaceBody {
            name: name.to_owned(),
        })?;
        self.send_json("create workspace", call).await
    }

    /// `DELETE /v1/workspaces/{ws}` (owner; destroys the workspace key).
    pub async fn delete_workspace(&self, ws: &str) -> Result<()> {
        self.send_unit(Call::new(Method::DELETE, Self::workspace_path(ws)?))
            .await
    }

    /// `GET /v1/workspaces/{ws}/settings`.
    pub async fn get_settings(&self, ws: &str) -> Result<Settings> {
        let call = Call::new(
            Method::GET,
            format!("{}/settings", Self::workspace_path(ws)?),
        );
        self.send_json("settings", call).await
    }

    /// `PATCH /v1/workspaces/{ws}/settings` (owner): changes the fields that are `Some`.
    pub async fn patch_settings(&self, ws: &str, patch: &SettingsPatch) -> Result<Settings> {
        let call = Call::new(
            Method::PATCH,
            format!("{}/settings", Self::workspace_path(ws)?),
        )
        .json(patch)?;
        self.send_json("settings", call).await
    }

    // ---- members ----------------------------------------------------------------

    /// `GET /v1/workspaces/{ws}/members`.
    pub async fn list_members(&self, ws: &str) -> Result<Vec<Member>> {
        let call = Call::new(
            Method::GET,
            format!("{}/members", Self::workspace_path(ws)?),
        );
        let body: MemberList = self.send_json("list members", call).await?;
        Ok(body.members)
    }

    /// `POST /v1/workspaces/{ws}/members`. When `user` is new, the answer carries
    /// their first token, shown only this once.
    pub async fn add_member(&self, ws: &str, user: &str, role: Role) -> Result<AddedMember> {
        let call = Call::new(
            Method::POST,
            format!("{}/members", Self::workspace_path(ws)?),
        )
        .json(&AddMemberBody {
            user: user.to_owned(),
            role: role.as_str().to_owned(),
        })?;
        self.send_json("add member", call).await
    }

    /// `PUT /v1/workspaces/{ws}/members/{user}`: changes a member's role.
    pub async fn set_member_role(&self, ws: &str, user: &str, role: Role) -> Result<Member> {
        let path = format!(
            "{}/members/{}",
            Self::workspace_path(ws)?,
            seg("user", user)?
        );
        let call = Call::new(Method::PUT, path).json(&RoleBody {
            role: role.as_str().to_owned(),
        })?;
        self.send_json("set member role", call).await
    }

    /// `DELETE /v1/workspaces/{ws}/members/{user}`.
    pub async fn remove_member(&self, ws: &str, user: &str) -> Result<()> {
        let path = format!(
            "{}/members/{}",
            Self::workspace_path(ws)?,
            seg("user", user)?
        );
        self.send_unit(Call::new(Method::DELETE, path)).await
    }

    // ---- tokens and the caller ---------------------------------------------------

    /// `POST /v1/tokens` for a service token acting in `ws` with `role`.
    /// `ttl` is seconds from now. The answer's `token` is shown only once.
    pub async fn create_service_token(
        &self,
        name: &str,
        ws: &str,
        role: Role,
        ttl: Option<u64>,
    ) -> Result<CreatedToken> {
        self.create_service_token_with(name, ws, role, ttl, false)
            .await
    }

    /// As [`create_service_token`](Self::create_service_token); with
    /// `run_as_users` the owner lets the token open runs that act as any member (a
    /// platform's engine; `POST /v1/runs` with `user`). Only the owner may grant it.
    pub async fn create_service_token_with(
        &self,
        name: &str,
        ws: &str,
        role: Role,
        ttl: Option<u64>,
        run_as_users: bool,
    ) -> Result<CreatedToken> {
        let body = CreateTokenBody {
            name: name.to_owned(),
            workspace: Some(ws.to_owned()),
            role: Some(role.as_str().to_owned()),
            ttl,
            run_as_users,
        };
        let call = Call::new(Method::POST, "/v1/tokens".into()).json(&body)?;
        self.send_json("create token", call).await
    }

    /// `POST /v1/tokens` for a personal token of the calling user.
    pub async fn create_personal_token(
        &self,
        name: &str,
        ttl: Option<u64>,
    ) -> Result<CreatedToken> {
        let body = CreateTokenBody {
            name: name.to_owned(),
            ttl,
            ..CreateTokenBody::default()
        };
        let call = Call::new(Method::POST, "/v1/tokens".into()).json(&body)?;
        self.send_json("create token", call).await
    }

    /// `GET /v1/tokens[?workspace=]`.
    pub async fn list_tokens(&self, workspace: Option<&str>) -> Result<Vec<TokenInfo>> {
        let call = Call::new(Method::GET, "/v1/tokens".into()).query_opt("workspace", workspace);
        let body: TokenList = self.send_json("list tokens", call).await?;
        Ok(body.tokens)
    }

    /// `DELETE /v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let path = format!("/v1/tokens/{}", seg("token id", id)?);
        self.send_unit(Call::new(Method::DELETE, path)).await
    }

    /// `PATCH /v1/tokens/{id}`: the workspace a personal token addresses when a
    /// call names none (the Vault API without `X-Vault-Namespace`); `None` goes
    /// back to the user's oldest membership.
    pub async fn set_token_default_workspace(
        &self,
        id: &str,
        workspace: Option<&str>,
    ) -> Result<TokenDefaults> {
        let path = format!("/v1/tokens/{}", seg("token id", id)?);
        let call = Call::new(Method::PATCH, path).json(&UpdateTokenBody {
            default_workspace: workspace.map(str::to_owned),
        })?;
        self.send_json("token default workspace", call).await
    }

    /// `GET /v1/me`: who the caller is and where it may act.
    pub async fn me(&self) -> Result<Me> {
        self.send_json("me", Call::new(Method::GET, "/v1/me".into()))
            .await
    }

    // ---- audit ------------------------------------------------------------------

    /// `GET /v1/workspaces/{ws}/audit`: newest first; `before` is the previous
    /// page's `next_before`.
    pub async fn audit(
        &self,
        ws: &str,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<AuditPage> {
        let call = Call::new(Method::GET, format!("{}/audit", Self::workspace_path(ws)?))
            .query_opt("limit", limit)
            .query_opt("before", before);
        self.send_json("audit", call).await
    }

    /// `GET /v1/audit`: rows that belong to no workspace and the caller may see
    /// (its own account rows; the deployment's for an owner of a workspace).
    /// People only; newest first, like [`Client::audit`].
    pub async fn account_audit(
        &self,
        limit: Option<u32>,
        before: Option<i64>,
    ) -> Result<AuditPage> {
        let call = Call::new(Method::GET, "/v1/audit".into())
            .query_opt("limit", limit)
            .query_opt("before", before);
        self.send_json("account audit", call).await
    }
}
