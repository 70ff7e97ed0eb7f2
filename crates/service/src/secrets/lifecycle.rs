//! Rename and delete of a secret: both refused while flows or platforms bind
//! the secret by name (`secret_in_use`), unless forced (audited with the
//! owners); a forced rename moves the bindings with the name, and a stored
//! flow's run may delete a secret only it binds (its bindings go too).

use super::not_found;
use super::target::secret_key;
use crate::auth::Principal;
use crate::evict::Change;
use crate::{store_err, Lockbox, RequestCtx, SecretMeta};
use lockbox_core::{Action, Error, Result, Scope, SecretName};
use lockbox_store::{DropBindings, MoveBindings, StoreError};

impl Lockbox {
    pub async fn delete_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        force: bool,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::DeleteSecret, Some(name), ctx)
            .await?;
        // An entry without versions is deleted like a secret.
        let row = self.find_live_or_entry(&t, name, false).await?;
        // Seed 003: a secret a flow uses is not deleted by accident.
        let uses = match t.scope {
            Scope::Workspace => self.bindings_of(&t.ws.id, name.as_str()).await?,
            Scope::User => Vec::new(),
        };
        // A stored flow's run may delete a secret only it binds (its bindings go too).
        let (uses, own) = Self::split_own_bindings(p, uses);
        if !uses.is_empty() && !force {
            let err = Self::secret_in_use(name.as_str(), &uses, "delete");
            return Err(self
                .refuse_secret(p, &t, "secret.delete", name, err, ctx)
                .await);
        }
        let mut detail =
            serde_json::json!({"version": row.current_version, "scope": t.scope.as_str()});
        if !uses.is_empty() {
            detail["forced"] = serde_json::json!(true);
            detail["bindings"] =
                serde_json::json!(uses.iter().map(|b| b.owner.clone()).collect::<Vec<_>>());
        }
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.delete",
            Some(name.as_str()),
            ctx,
            detail,
        );
        let unbind = own.first().map(|b| DropBindings {
            workspace_id: t.ws.id.clone(),
            name: name.as_str().to_owned(),
            owner: b.owner.clone(),
        });
        let deleted = self
            .store
            .delete_secret(&row.id, unbind, audit)
            .await
            .map_err(store_err);
        if !own.is_empty() {
            self.evict(&Change::Bindings(t.ws.id.clone()));
        }
        self.evict(&Change::secret(&row.id));
        self.evict(&Change::Name(secret_key(&t, name.as_str())));
        if !deleted? {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Renames a secret, when the workspace allows renames. The id, versions and
    /// ciphertexts stay; anything that follows the id keeps working. A secret that
    /// flows bind (by name) is refused with `secret_in_use` naming them, unless
    /// `force`: then the bindings move with the name (audited as forced).
    #[allow(clippy::too_many_arguments)] // rename's parameters plus force, like delete
    pub async fn rename_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        new_name: &SecretName,
        force: bool,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::RenameSecret, Some(name), ctx)
            .await?;
        if !t.ws.settings.allow_rename {
            let err = Error::forbidden(format!(
                "renames are disabled in workspace '{}' (setting allow_rename)",
                t.ws.name
            ));
            return Err(self
                .refuse_secret(p, &t, "secret.rename", name, err, ctx)
                .await);
        }
        let row = self.find_live(&t, name).await?;
        // Flows bind secrets by name: a rename would leave them failing with
        // not_found and the secret unprotected, so it is refused like a delete.
        let uses = match t.scope {
            Scope::Workspace => self.bindings_of(&t.ws.id, name.as_str()).await?,
            Scope::User => Vec::new(),
        };
        let (foreign, own) = Self::split_own_bindings(p, uses);
        if !foreign.is_empty() && !force {
            let err = Self::secret_in_use(name.as_str(), &foreign, "rename");
            return Err(self
                .refuse_secret(p, &t, "secret.rename", name, err, ctx)
                .await);
        }
        let now = self.clock.now();
        let mut detail =
            serde_json::json!({"new_name": new_name.as_str(), "scope": t.scope.as_str()});
        if !foreign.is_empty() {
            let mut owners: Vec<String> = foreign.iter().map(|b| b.owner.clone()).collect();
            owners.dedup();
            detail["forced"] = serde_json::json!(true);
            detail["bindings"] = serde_json::json!(owners);
        }
        let audit = self.record(
            p,
            Some(&t.ws.id),
            "secret.rename",
            Some(name.as_str()),
            ctx,
            detail,
        );
        let moving = !foreign.is_empty() || !own.is_empty();
        // The bindings move with the name, so delete protection stays.
        let bindings = moving.then(|| MoveBindings {
            workspace_id: t.ws.id.clone(),
            old_name: name.as_str().to_owned(),
        });
        let renamed = self
            .store
            .rename_secret(&row.id, new_name.as_str(), now, &p.label(), bindings, audit)
            .await;
        if moving {
            self.evict(&Change::Bindings(t.ws.id.clone()));
        }
        self.evict(&Change::secret(&row.id));
        self.evict(&Change::Name(secret_key(&t, name.as_str())));
        self.evict(&Change::Name(secret_key(&t, new_name.as_str())));
        match renamed {
            Ok(true) => {}
            Ok(false) => return Err(not_found(name)),
            Err(StoreError::Conflict) => {
                return Err(
                    Error::conflict(format!("a secret named '{new_name}' already exists"))
                        .with_field("name"),
                )
            }
            Err(e) => return Err(store_err(e)),
        }
        let renamed = self.find_live(&t, new_name).await?;
        Ok(self.meta_for(p, &t.ws, &renamed))
    }
}
