//! The non-secret endpoints as methods on [`Client`]: workspaces and their settings,
//! members, tokens, the caller (`/v1/me`) and the audit log.

use crate::client::{seg, Call, Client};
use crate::error::Result;
use crate::types::{
    AddedMember, AuditPage, CreatedToken, Me, Member, MemberRole, OpenedRun, Settings,
    SettingsPatch, TokenInfo, WorkspaceInfo,
};
use lockbox_core::Role;
use reqwest::Method;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct WorkspacesBody {
    workspaces: Vec<WorkspaceInfo>,
}

#[derive(Serialize)]
struct NameBody<'a> {
    name: &'a str,
}

#[derive(Deserialize)]
struct MembersBody {
    members: Vec<Member>,
}

#[derive(Serialize)]
struct AddMemberBody<'a> {
    user: &'a str,
    role: &'static str,
}

#[derive(Serialize)]
struct RoleBody {
    role: &'static str,
}

#[derive(Serialize)]
struct CreateTokenBody<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    workspace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<u64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    run_as_users: bool,
}

#[derive(Deserialize)]
struct TokensBody {
    tokens: Vec<TokenInfo>,
}

impl Client {
    fn workspace_path(ws: &str) -> Result<String> {
        Ok(format!("/v1/workspaces/{}", seg("workspace", ws)?))
    }

    // ---- workspaces -------------------------------------------------------------

    /// `GET /v1/workspaces`: the workspaces the caller belongs to, with its role.
    pub async fn list_workspaces(&self) -> Result<Vec<WorkspaceInfo>> {
        let body: WorkspacesBody = self
            .send_json(
                "list workspaces",
                Call::new(Method::GET, "/v1/workspaces".into()),
            )
            .await?;
        Ok(body.workspaces)
    }

    /// `POST /v1/workspaces`: the caller becomes its owner.
    pub async fn create_workspace(&self, name: &str) -> Result<WorkspaceInfo> {
        let call = Call::new(Method::POST, "/v1/workspaces".into()).json(&NameBody { name })?;
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
        let body: MembersBody = self.send_json("list members", call).await?;
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
            user,
            role: role.as_str(),
        })?;
        self.send_json("add member", call).await
    }

    /// `PUT /v1/workspaces/{ws}/members/{user}`: changes a member's role.
    pub async fn set_member_role(&self, ws: &str, user: &str, role: Role) -> Result<MemberRole> {
        let path = format!(
            "{}/members/{}",
            Self::workspace_path(ws)?,
            seg("user", user)?
        );
        let call = Call::new(Method::PUT, path).json(&RoleBody {
            role: role.as_str(),
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
            name,
            workspace: Some(ws),
            role: Some(role.as_str()),
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
            name,
            workspace: None,
            role: None,
            ttl,
            run_as_users: false,
        };
        let call = Call::new(Method::POST, "/v1/tokens".into()).json(&body)?;
        self.send_json("create token", call).await
    }

    /// `GET /v1/tokens[?workspace=]`.
    pub async fn list_tokens(&self, workspace: Option<&str>) -> Result<Vec<TokenInfo>> {
        let call = Call::new(Method::GET, "/v1/tokens".into()).query_opt("workspace", workspace);
        let body: TokensBody = self.send_json("list tokens", call).await?;
        Ok(body.tokens)
    }

    /// `DELETE /v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        let path = format!("/v1/tokens/{}", seg("token id", id)?);
        self.send_unit(Call::new(Method::DELETE, path)).await
    }

    /// `GET /v1/me`: who the caller is and where it may act.
    /// `POST /v1/runs`: opens an automation run (owner/admin) and returns its
    /// token (`lbr_…`, shown once) for the run API.
    pub async fn open_run(
        &self,
        ws: &str,
        user: Option<&str>,
        trigger: &str,
        ttl: Option<u64>,
    ) -> Result<OpenedRun> {
        let body =
            serde_json::json!({"workspace": ws, "user": user, "trigger": trigger, "ttl": ttl});
        let call = Call::new(Method::POST, "/v1/runs".into()).json(&body)?;
        self.send_json("open run", call).await
    }

    /// `POST /v1/workspaces/{ws}/scripts/run`: runs a seed 000 script on the server
    /// as a run of the workspace; answers `{status, logs, message}` (redacted).
    pub async fn run_script(
        &self,
        ws: &str,
        source: &str,
        request: Option<&serde_json::Value>,
        user: Option<&str>,
        trigger: Option<&str>,
    ) -> Result<serde_json::Value> {
        let body = serde_json::json!({"source": source, "request": request, "user": user, "trigger": trigger});
        let path = format!("{}/scripts/run", Self::workspace_path(ws)?);
        let call = Call::new(Method::POST, path).json(&body)?;
        self.send_json("run script", call).await
    }

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
}
