//! The secret endpoints (`/v1/workspaces/{ws}/secrets…`) as methods on [`Client`].
//!
//! Every call takes the workspace name and a [`Scope`]; [`Scope::User`] adds
//! `?scope=user`. Names are sent percent-encoded as one path segment. The only call
//! that returns plaintext is [`Client::reveal`], and it hands back a
//! [`SecretValue`], which redacts itself when printed.

use crate::client::{seg, Call, Client};
use crate::error::{decode_json, Error, Result};
use crate::types::{DescriptionUpdate, PutOptions, PutOutcome};
use lockbox_core::{Scope, SecretValue, Sensitive};
use lockbox_wire::{
    PutBody, RenameBody, Revealed, RollbackBody, SecretMeta, SecretPage, SecretSettingsPatch,
    VersionInfo, VersionList, VersionsBody,
};
use reqwest::{Method, StatusCode};

impl Client {
    fn secrets_path(ws: &str) -> Result<String> {
        Ok(format!("/v1/workspaces/{}/secrets", seg("workspace", ws)?))
    }

    fn secret_path(ws: &str, name: &str) -> Result<String> {
        Ok(format!(
            "{}/{}",
            Self::secrets_path(ws)?,
            seg("secret name", name)?
        ))
    }

    /// `PUT /secrets/{name}`: creates the secret (`created: true`) or writes a new
    /// version. `value` is a JSON string or any non-empty JSON document.
    pub async fn put_secret(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        value: &serde_json::Value,
        opts: &PutOptions,
    ) -> Result<PutOutcome> {
        let body = PutBody {
            // The copy is wiped when the body is dropped, right after encoding.
            value: Sensitive::new(value.clone()),
            description: match &opts.description {
                DescriptionUpdate::Keep => None,
                DescriptionUpdate::Set(text) => Some(text.clone()),
                DescriptionUpdate::Clear => Some(String::new()),
            },
            visibility: opts.visibility.map(|v| v.as_str().to_owned()),
            ttl: opts.ttl,
            allowed_hosts: opts.allowed_hosts.clone(),
            labels: opts.labels.clone(),
        };
        let call = Call::new(Method::PUT, Self::secret_path(ws, name)?)
            .scope(scope)
            .if_match(opts.if_match)
            .create_only(opts.create_only)
            .json(&body)?;
        let (status, bytes) = self.send(call).await?;
        let meta: SecretMeta = decode_json("put secret", &bytes)?;
        Ok(PutOutcome {
            created: status == StatusCode::CREATED,
            meta,
        })
    }

    /// `GET /secrets/{name}`: the metadata (never the value).
    pub async fn get_secret(&self, ws: &str, scope: Scope, name: &str) -> Result<SecretMeta> {
        let call = Call::new(Method::GET, Self::secret_path(ws, name)?).scope(scope);
        self.send_json("get secret", call).await
    }

    /// `HEAD /secrets/{name}`: `true` on 200, `false` on 404, an error otherwise.
    ///
    /// A `HEAD` answer has no body, so any other error (a wrong token's 401, a
    /// 403) is asked again as a `GET` of the metadata, whose answer carries the
    /// server's error code and message.
    pub async fn secret_exists(&self, ws: &str, scope: Scope, name: &str) -> Result<bool> {
        let call = Call::new(Method::HEAD, Self::secret_path(ws, name)?).scope(scope);
        match self.send(call).await {
            Ok(_) => Ok(true),
            Err(Error::Api { status: 404, .. }) => Ok(false),
            Err(Error::Api { .. }) => match self.get_secret(ws, scope, name).await {
                Ok(_) => Ok(true),
                Err(Error::Api { status: 404, .. }) => Ok(false),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    /// `DELETE /secrets/{name}`. A secret that flows use fails with
    /// `secret_in_use` naming them; see [`Client::delete_secret_with_force`].
    pub async fn delete_secret(&self, ws: &str, scope: Scope, name: &str) -> Result<()> {
        self.delete_secret_with_force(ws, scope, name, false).await
    }

    /// `DELETE /secrets/{name}?force=…`: with `force`, delete even though flows
    /// use the secret (audited as forced, naming them).
    pub async fn delete_secret_with_force(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        force: bool,
    ) -> Result<()> {
        let mut call = Call::new(Method::DELETE, Self::secret_path(ws, name)?).scope(scope);
        if force {
            call = call.query("force", "true");
        }
        self.send_unit(call).await
    }

    /// `PATCH /secrets/{name}` with a JSON merge patch (RFC 7396). With `if_match`,
    /// a stale version fails with `version_mismatch`.
    pub async fn patch_merge(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        patch: &serde_json::Value,
        if_match: Option<u64>,
    ) -> Result<SecretMeta> {
        let call = Call::new(Method::PATCH, Self::secret_path(ws, name)?)
            .scope(scope)
            .if_match(if_match)
            .body_as(patch, "application/merge-patch+json")?;
        self.send_json("patch secret", call).await
    }

    /// `PATCH /secrets/{name}` with a JSON patch (RFC 6902): `ops` is the array of
    /// operations.
    pub async fn patch_json(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        ops: &serde_json::Value,
        if_match: Option<u64>,
    ) -> Result<SecretMeta> {
        let call = Call::new(Method::PATCH, Self::secret_path(ws, name)?)
            .scope(scope)
            .if_match(if_match)
            .body_as(ops, "application/json-patch+json")?;
        self.send_json("patch secret", call).await
    }

    /// `POST /secrets/{name}/reveal`: the value of the current version, or of
    /// `version`. Audited by the server; masked secrets only.
    pub async fn reveal(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        version: Option<u64>,
    ) -> Result<SecretValue> {
        self.reveal_with_version(ws, scope, name, version)
            .await
            .map(|(value, _)| value)
    }

    /// Like [`Client::reveal`], also returning which version was revealed.
    pub async fn reveal_with_version(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        version: Option<u64>,
    ) -> Result<(SecretValue, u64)> {
        let call = Call::new(
            Method::POST,
            format!("{}/reveal", Self::secret_path(ws, name)?),
        )
        .scope(scope)
        .query_opt("version", version);
        let (_, mut bytes) = self.send(call).await?;
        let decoded = decode_json::<Revealed>("reveal", &bytes);
        // The answer's bytes hold the plaintext too: wipe them before letting go.
        lockbox_core::Wipe::wipe(&mut bytes);
        let body = decoded?;
        // EXPOSE: re-encoded straight into the redacting, wiping SecretValue.
        let encoded = serde_json::to_vec(body.value.expose())
            .map_err(|_| Error::Decode("reveal: the value does not re-encode as JSON".into()))?;
        Ok((SecretValue::from_json_bytes(encoded), body.version))
    }

    /// `GET /secrets/{name}/versions`: newest first.
    pub async fn versions(&self, ws: &str, scope: Scope, name: &str) -> Result<Vec<VersionInfo>> {
        let call = Call::new(
            Method::GET,
            format!("{}/versions", Self::secret_path(ws, name)?),
        )
        .scope(scope);
        let body: VersionList = self.send_json("versions", call).await?;
        Ok(body.versions)
    }

    /// `POST /secrets/{name}/versions/{op}`: the shared body of the three state changes.
    async fn change_versions(
        &self,
        op: &'static str,
        ws: &str,
        scope: Scope,
        name: &str,
        versions: &[u64],
    ) -> Result<Vec<VersionInfo>> {
        let call = Call::new(
            Method::POST,
            format!("{}/versions/{op}", Self::secret_path(ws, name)?),
        )
        .scope(scope)
        .json(&VersionsBody {
            versions: versions.to_vec(),
        })?;
        let body: VersionList = self.send_json(&format!("{op} versions"), call).await?;
        Ok(body.versions)
    }

    /// `POST /secrets/{name}/versions/delete`: soft-deletes `versions` (an empty
    /// slice means the current version). Recoverable with
    /// [`Client::undelete_versions`]; revealing a deleted version is `not_found`.
    /// Unknown numbers are ignored. Returns every version after the change.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use lockbox_client::{Client, Scope};
    ///
    /// let client = Client::from_env()?;
    /// let versions = client
    ///     .delete_versions("default", Scope::Workspace, "stripe/api key", &[2])
    ///     .await?;
    /// assert!(versions.iter().any(|v| v.version == 2 && v.deleted_at.is_some()));
    /// # Ok(()) }
    /// ```
    pub async fn delete_versions(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        versions: &[u64],
    ) -> Result<Vec<VersionInfo>> {
        self.change_versions("delete", ws, scope, name, versions)
            .await
    }

    /// `POST /secrets/{name}/versions/undelete`: makes soft-deleted `versions`
    /// readable again (an empty slice means the current version); a destroyed
    /// version stays destroyed. Returns every version after the change.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use lockbox_client::{Client, Scope};
    ///
    /// let client = Client::from_env()?;
    /// client
    ///     .undelete_versions("default", Scope::Workspace, "stripe/api key", &[2])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn undelete_versions(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        versions: &[u64],
    ) -> Result<Vec<VersionInfo>> {
        self.change_versions("undelete", ws, scope, name, versions)
            .await
    }

    /// `POST /secrets/{name}/versions/destroy`: removes the ciphertext of
    /// `versions` for good (an empty slice means the current version); their
    /// metadata stays listed with `destroyed: true`. Cannot be undone. Returns every
    /// version after the change.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use lockbox_client::{Client, Scope};
    ///
    /// let client = Client::from_env()?;
    /// let versions = client
    ///     .destroy_versions("default", Scope::Workspace, "stripe/api key", &[1])
    ///     .await?;
    /// assert!(versions.iter().any(|v| v.version == 1 && v.destroyed));
    /// # Ok(()) }
    /// ```
    pub async fn destroy_versions(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        versions: &[u64],
    ) -> Result<Vec<VersionInfo>> {
        self.change_versions("destroy", ws, scope, name, versions)
            .await
    }

    /// `PATCH /secrets/{name}/settings`: description, labels, `max_versions`,
    /// `cas_required` and `delete_version_after` of one secret. Fields left `None` keep their value;
    /// no new version is written. Returns the metadata after the change.
    ///
    /// ```no_run
    /// # async fn demo() -> lockbox_client::Result<()> {
    /// use lockbox_client::{Client, Scope, SecretSettingsPatch};
    ///
    /// let client = Client::from_env()?;
    /// let patch = SecretSettingsPatch::default()
    ///     .label("team", "payments")
    ///     .cas_required(true);
    /// let meta = client
    ///     .update_secret_settings("default", Scope::Workspace, "stripe/api key", &patch)
    ///     .await?;
    /// assert!(meta.cas_required);
    /// # Ok(()) }
    /// ```
    pub async fn update_secret_settings(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        patch: &SecretSettingsPatch,
    ) -> Result<SecretMeta> {
        let call = Call::new(
            Method::PATCH,
            format!("{}/settings", Self::secret_path(ws, name)?),
        )
        .scope(scope)
        .json(patch)?;
        self.send_json("secret settings", call).await
    }

    /// `POST /secrets/{name}/rollback`: writes a new version equal to `version`.
    pub async fn rollback(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        version: u64,
    ) -> Result<SecretMeta> {
        let call = Call::new(
            Method::POST,
            format!("{}/rollback", Self::secret_path(ws, name)?),
        )
        .scope(scope)
        .json(&RollbackBody { version })?;
        self.send_json("rollback", call).await
    }

    /// `POST /secrets/{name}/rename` (only when the workspace allows renames). A
    /// secret that flows use fails with `secret_in_use` naming them; see
    /// [`Client::rename_with_force`].
    pub async fn rename(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        new_name: &str,
    ) -> Result<SecretMeta> {
        self.rename_with_force(ws, scope, name, new_name, false)
            .await
    }

    /// `POST /secrets/{name}/rename?force=…`: with `force`, rename even though
    /// flows use the secret; their bindings move with the name (audited).
    pub async fn rename_with_force(
        &self,
        ws: &str,
        scope: Scope,
        name: &str,
        new_name: &str,
        force: bool,
    ) -> Result<SecretMeta> {
        let mut call = Call::new(
            Method::POST,
            format!("{}/rename", Self::secret_path(ws, name)?),
        )
        .scope(scope);
        if force {
            call = call.query("force", "true");
        }
        let call = call.json(&RenameBody {
            name: new_name.to_owned(),
        })?;
        self.send_json("rename", call).await
    }

    /// `GET /secrets`: one page. `limit` is 1–1000 (server default 100); pass the
    /// previous page's `next_cursor` as `cursor` to continue.
    pub async fn list_secrets(
        &self,
        ws: &str,
        scope: Scope,
        prefix: Option<&str>,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<SecretPage> {
        let call = Call::new(Method::GET, Self::secrets_path(ws)?)
            .scope(scope)
            .query_opt("prefix", prefix)
            .query_opt("limit", limit)
            .query_opt("cursor", cursor);
        self.send_json("list secrets", call).await
    }

    /// Every secret under `prefix`, following cursors page by page (1000 a page).
    pub async fn list_all_secrets(
        &self,
        ws: &str,
        scope: Scope,
        prefix: Option<&str>,
    ) -> Result<Vec<SecretMeta>> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .list_secrets(ws, scope, prefix, Some(1000), cursor.as_deref())
                .await?;
            all.extend(page.secrets);
            match page.next_cursor {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }
}
