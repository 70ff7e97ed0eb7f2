//! Flows stored in Lockbox and bindings (seed 003): which owner (a stored flow,
//! or a platform that runs its own flows) uses which secret, and where. A bound
//! secret is not deleted unless the caller says `force`, and that is audited.
//! Parsing flows and finding their secret uses is the flow runtime's job; this
//! module stores what it found and enforces the rules.

use crate::auth::Principal;
use crate::{store_err, Lockbox, RequestCtx};
use lockbox_core::{Action, Error, ErrorCode, Result};
use lockbox_store::{BindingRow, FlowRow};
use serde::Serialize;

/// A stored flow, as listed.
#[derive(Debug, Clone, Serialize)]
pub struct FlowInfo {
    pub slug: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// One use of a secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BindingInfo {
    pub owner: String,
    pub location: String,
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn valid_owner(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control) && !s.starts_with("flow:")
}

impl Lockbox {
    /// Stores (or replaces) a flow already parsed and validated by the flow
    /// runtime, with the secret uses it found; they become the bindings of
    /// `flow:<slug>`.
    pub async fn put_flow(
        &self,
        p: &Principal,
        ws_name: &str,
        slug: &str,
        yaml: String,
        uses: Vec<(String, String)>,
        ctx: &RequestCtx,
    ) -> Result<FlowInfo> {
        if !valid_slug(slug) {
            return Err(Error::invalid(
                "a flow slug is 1-64 characters of a-z, 0-9, '-', '_'",
            ));
        }
        if yaml.len() > 256 * 1024 {
            return Err(Error::too_large("a flow is at most 256 KiB of YAML"));
        }
        let (ws, _) = self
            .authorize(p, ws_name, Action::ManageFlows, Some(slug), ctx)
            .await?;
        let now = self.clock.now();
        let bindings: Vec<BindingRow> = uses
            .into_iter()
            .map(|(secret, location)| BindingRow {
                workspace_id: ws.id.clone(),
                owner: String::new(),
                secret,
                location,
            })
            .collect();
        let audit = self.record(
            p,
            Some(&ws.id),
            "flow.put",
            Some(slug),
            ctx,
            serde_json::json!({"secrets": bindings.iter().map(|b| b.secret.clone()).collect::<Vec<_>>()}),
        );
        let row = FlowRow {
            workspace_id: ws.id.clone(),
            slug: slug.to_owned(),
            yaml,
            updated_at: now,
            updated_by: p.label(),
        };
        self.store
            .put_flow(row, bindings, audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::Bindings(ws.id.clone()));
        Ok(FlowInfo {
            slug: slug.to_owned(),
            updated_at: now.to_rfc3339(),
            updated_by: p.label(),
        })
    }

    /// A stored flow's YAML: only those who may store flows (it can hold literal
    /// values the flow writes, and it says where secrets go).
    pub async fn get_flow(
        &self,
        p: &Principal,
        ws_name: &str,
        slug: &str,
        ctx: &RequestCtx,
    ) -> Result<String> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::ManageFlows, Some(slug), ctx)
            .await?;
        self.store
            .get_flow(&ws.id, slug)
            .await
            .map_err(store_err)?
            .map(|f| f.yaml)
            .ok_or_else(|| Error::not_found(format!("flow '{slug}' not found")))
    }

    pub async fn list_flows(
        &self,
        p: &Principal,
        ws_name: &str,
        ctx: &RequestCtx,
    ) -> Result<Vec<FlowInfo>> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::ViewWorkspace, None, ctx)
            .await?;
        Ok(self
            .store
            .list_flows(&ws.id)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|f| FlowInfo {
                slug: f.slug,
                updated_at: f.updated_at.to_rfc3339(),
                updated_by: f.updated_by,
            })
            .collect())
    }

    /// Deletes a stored flow; its secrets are no longer bound by it.
    pub async fn delete_flow(
        &self,
        p: &Principal,
        ws_name: &str,
        slug: &str,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::ManageFlows, Some(slug), ctx)
            .await?;
        let audit = self.record(
            p,
            Some(&ws.id),
            "flow.delete",
            Some(slug),
            ctx,
            serde_json::json!({}),
        );
        let deleted = self
            .store
            .delete_flow(&ws.id, slug, audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::Bindings(ws.id.clone()));
        if !deleted {
            return Err(Error::not_found(format!("flow '{slug}' not found")));
        }
        Ok(())
    }

    /// A platform declares every secret its own flows use (replacing what it
    /// declared before): `owner` names the platform's flow or app.
    pub async fn put_bindings(
        &self,
        p: &Principal,
        ws_name: &str,
        owner: &str,
        uses: Vec<(String, String)>,
        ctx: &RequestCtx,
    ) -> Result<Vec<BindingInfo>> {
        if !valid_owner(owner) {
            return Err(Error::invalid(
                "a binding owner is 1-128 printable characters, not starting with 'flow:'",
            ));
        }
        if uses.len() > 1000 {
            return Err(Error::invalid("at most 1000 bindings per owner"));
        }
        for (secret, location) in &uses {
            lockbox_core::SecretName::parse(secret)?;
            if location.len() > 512 || location.chars().any(char::is_control) {
                return Err(Error::invalid(
                    "a binding location is at most 512 printable characters",
                ));
            }
        }
        let (ws, _) = self
            .authorize(p, ws_name, Action::ManageFlows, Some(owner), ctx)
            .await?;
        let rows: Vec<BindingRow> = uses
            .iter()
            .map(|(secret, location)| BindingRow {
                workspace_id: ws.id.clone(),
                owner: owner.to_owned(),
                secret: secret.clone(),
                location: location.clone(),
            })
            .collect();
        let audit = self.record(
            p,
            Some(&ws.id),
            "bindings.put",
            Some(owner),
            ctx,
            serde_json::json!({"count": rows.len()}),
        );
        self.store
            .put_bindings(&ws.id, owner, rows, audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::Bindings(ws.id.clone()));
        Ok(uses
            .into_iter()
            .map(|(_, location)| BindingInfo {
                owner: owner.to_owned(),
                location,
            })
            .collect())
    }

    /// Who uses a workspace-scoped secret.
    pub(crate) async fn bindings_of(
        &self,
        workspace_id: &str,
        name: &str,
    ) -> Result<Vec<BindingInfo>> {
        Ok(self
            .store
            .bindings_of(workspace_id, name)
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|b| BindingInfo {
                owner: b.owner,
                location: b.location,
            })
            .collect())
    }

    /// `secret_in_use`, naming the owners; `verb` is what force would do
    /// (`delete`, `rename`).
    pub(crate) fn secret_in_use(name: &str, uses: &[BindingInfo], verb: &str) -> Error {
        let mut owners: Vec<&str> = uses.iter().map(|b| b.owner.as_str()).collect();
        owners.dedup();
        Error::new(
            ErrorCode::SecretInUse,
            format!(
                "secret '{name}' is used by {}; remove those uses first, or {verb} with force=true",
                owners.join(", ")
            ),
        )
    }

    /// The bindings that protect a secret from `p`: all of them, except that a run
    /// of a stored flow is not stopped by that flow's own bindings (seed 001's
    /// `secrets-demo` creates, uses and deletes its own secret). Returns
    /// (protecting, the run's own).
    pub(crate) fn split_own_bindings(
        p: &Principal,
        uses: Vec<BindingInfo>,
    ) -> (Vec<BindingInfo>, Vec<BindingInfo>) {
        let own = p
            .run
            .as_ref()
            .and_then(|r| r.flow.as_deref())
            .map(|slug| format!("flow:{slug}"));
        match own {
            None => (uses, Vec::new()),
            Some(own) => uses.into_iter().partition(|b| b.owner != own),
        }
    }
}
