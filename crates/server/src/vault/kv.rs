//! The KV version 2 engine's surface over the service: `config`, `data`, `delete`,
//! `undelete`, `destroy`, `metadata` (read, write, patch, delete, list) and
//! `subkeys`, for the `secret/` (workspace) and `private/` (the caller's user scope)
//! mounts.
//!
//! Every handler parses the request into service types, calls `lockbox_service`
//! (which checks roles, visibility, bindings and writes the audit rows) and shapes
//! Vault's answer. It never decides who may do what, never reads a value except
//! through an audited reveal, and never formats a value into an error or a warning.

use super::envelope::{go_duration, no_content, parse_duration, Envelope};
use super::request::{secret_name, vault_addressable, VaultCaller, Verb};
use crate::error::VaultError;
use crate::extract::{media_type, parse_json};
use crate::AppState;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lockbox_core::{ErrorCode, Scope, SecretName};
use lockbox_service::{
    ChildrenRequest, PatchDoc, PutSecret, SecretMeta, SecretSettingsPatch, VersionInfo,
    VersionRead, MAX_CHILDREN_PER_PAGE, RESERVED_LABEL_PREFIX,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// One KV request, parsed.
pub struct KvRequest<'a> {
    pub st: &'a AppState,
    pub caller: &'a VaultCaller,
    pub request_id: &'a str,
    pub scope: Scope,
    pub verb: Verb,
    /// `config`, `data`, `metadata`, …
    pub op: &'a str,
    /// The path after the operation (the secret's name, or a folder for lists).
    pub path: &'a str,
    pub query: &'a HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

pub async fn handle(r: KvRequest<'_>) -> Result<Response, VaultError> {
    match (r.op, r.verb) {
        ("config", Verb::Read) if r.path.is_empty() => r.read_config().await,
        ("config", Verb::Write) if r.path.is_empty() => r.write_config().await,
        ("data", Verb::Read) => r.read_data().await,
        ("data", Verb::Write) => r.write_data().await,
        ("data", Verb::Patch) => r.patch_data().await,
        ("data", Verb::Delete) => r.versions_op(VersionsOp::DeleteLatest).await,
        ("delete", Verb::Write) => r.versions_op(VersionsOp::Delete).await,
        ("undelete", Verb::Write) => r.versions_op(VersionsOp::Undelete).await,
        ("destroy", Verb::Write) => r.versions_op(VersionsOp::Destroy).await,
        ("metadata", Verb::List) => r.list().await,
        ("metadata", Verb::Read) if r.path.is_empty() || r.path.ends_with('/') => r.list().await,
        ("metadata", Verb::Read) => r.read_metadata().await,
        ("metadata", Verb::Write) => r.write_metadata(false).await,
        ("metadata", Verb::Patch) => r.write_metadata(true).await,
        ("metadata", Verb::Delete) => r.delete_metadata().await,
        ("subkeys", Verb::Read) => r.subkeys().await,
        ("config" | "data" | "delete" | "undelete" | "destroy" | "metadata" | "subkeys", _) => Err(
            VaultError::new(StatusCode::METHOD_NOT_ALLOWED, "unsupported operation"),
        ),
        _ => Err(VaultError::new(StatusCode::NOT_FOUND, "unsupported path")),
    }
}

enum VersionsOp {
    DeleteLatest,
    Delete,
    Undelete,
    Destroy,
}

#[derive(Deserialize)]
struct DataBody {
    data: Option<Value>,
    #[serde(default)]
    options: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
struct VersionsBody {
    #[serde(default)]
    versions: Vec<Value>,
}

#[derive(Deserialize)]
struct MetadataBody {
    #[serde(default)]
    max_versions: Option<Value>,
    #[serde(default)]
    cas_required: Option<bool>,
    #[serde(default)]
    delete_version_after: Option<Value>,
    #[serde(default)]
    custom_metadata: Option<Value>,
}

#[derive(Deserialize)]
struct ConfigBody {
    #[serde(default)]
    max_versions: Option<Value>,
    #[serde(default)]
    cas_required: Option<bool>,
    #[serde(default)]
    delete_version_after: Option<Value>,
}

impl KvRequest<'_> {
    fn name(&self) -> Result<SecretName, VaultError> {
        secret_name(self.path)
    }

    fn ws(&self) -> &str {
        &self.caller.workspace
    }

    /// Vault's PATCH calls take only `application/merge-patch+json` (as Vault does).
    fn require_merge_patch(&self) -> Result<(), VaultError> {
        if media_type(self.headers) != "application/merge-patch+json" {
            return Err(VaultError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type: PATCH takes Content-Type application/merge-patch+json",
            ));
        }
        Ok(())
    }

    fn body_json<T: serde::de::DeserializeOwned>(&self) -> Result<T, VaultError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return parse_json(b"{}").map_err(VaultError::from);
        }
        parse_json(&self.body).map_err(VaultError::from)
    }

    fn version_query(&self, key: &str) -> Result<Option<u64>, VaultError> {
        match self.query.get(key).map(String::as_str) {
            None | Some("") | Some("0") => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .map(Some)
                .map_err(|_| VaultError::invalid(format!("invalid: {key} must be a number"))),
        }
    }

    async fn meta_and_versions(
        &self,
        name: &SecretName,
    ) -> Result<(SecretMeta, Vec<VersionInfo>), VaultError> {
        let svc = &self.st.svc;
        let c = self.caller;
        // Vault's metadata shows an entry without versions too (metadata written first).
        let (meta, versions) = tokio::join!(
            svc.secret_metadata_or_entry(&c.principal, self.ws(), self.scope, name, &c.ctx),
            svc.list_versions_or_entry(&c.principal, self.ws(), self.scope, name, &c.ctx),
        );
        Ok((meta?, versions?))
    }

    /// The answer to a write: the new version's metadata. Its `deletion_time` is
    /// the service's scheduled one when a `delete_version_after` applies (one more
    /// read, only then).
    async fn written_version(&self, name: &SecretName, meta: &SecretMeta) -> Value {
        let c = self.caller;
        let svc = &self.st.svc;
        let scheduled = meta.delete_version_after.is_some_and(|d| d > 0)
            || svc
                .workspace_settings(&c.principal, self.ws(), &c.ctx)
                .await
                .is_ok_and(|s| s.delete_version_after.is_some_and(|d| d > 0));
        let deletion_time = if scheduled {
            svc.list_versions(&c.principal, self.ws(), self.scope, name, &c.ctx)
                .await
                .ok()
                .and_then(|vs| vs.into_iter().find(|v| v.version == meta.version))
                .and_then(|v| v.deleted_at)
                .unwrap_or_default()
        } else {
            String::new()
        };
        json!({
            "created_time": meta.updated_at,
            "custom_metadata": custom_metadata(meta),
            "deletion_time": deletion_time,
            "destroyed": false,
            "version": meta.version,
        })
    }

    // ---- data

    async fn read_data(&self) -> Result<Response, VaultError> {
        let name = self.name()?;
        let want = self.version_query("version")?;
        let c = self.caller;
        // One call: the service decides and audits the reveal and hands back the
        // version's facts with it.
        let read = self
            .st
            .svc
            .read_version(&c.principal, self.ws(), self.scope, &name, want, &c.ctx)
            .await?;
        let md = version_facts(&read);
        let Some(value) = read.value else {
            // A soft-deleted or destroyed version is 404 *with* its metadata, as
            // Vault answers; a secret or version that does not exist is `{"errors":[]}`.
            return Ok(
                Envelope::new(self.request_id, json!({"data": null, "metadata": md}))
                    .kv()
                    .respond(StatusCode::NOT_FOUND),
            );
        };
        let env = Envelope::new(self.request_id, md).kv();
        // EXPOSE: the Vault data read is an authorized reveal, audited by the
        // service before it returned; this answer is the one that carries it.
        let bytes = value.expose();
        if bytes.first() == Some(&b'{') {
            Ok(env.respond_with_raw_data(StatusCode::OK, &[bytes]))
        } else {
            Ok(env
                .warn(NOT_AN_OBJECT_WARNING)
                .respond_with_raw_data(StatusCode::OK, &[b"{\"value\":", bytes, b"}"]))
        }
    }

    async fn write_data(&self) -> Result<Response, VaultError> {
        let name = self.name()?;
        let body: DataBody = self.body_json()?;
        let data = object_data(body.data)?;
        let (if_match, create_only) = match cas_option(body.options.as_ref())? {
            None => (None, false),
            Some(0) => (None, true),
            Some(n) => (Some(n), false),
        };
        let c = self.caller;
        let req = PutSecret {
            value: data.into(),
            description: None,
            visibility: None,
            ttl_seconds: None,
            if_match,
            allowed_hosts: None,
            create_only,
            labels: None,
        };
        let (meta, _) = self
            .st
            .svc
            .put_secret(&c.principal, self.ws(), self.scope, &name, req, &c.ctx)
            .await
            .map_err(cas_required_in_vault_terms)?;
        Ok(
            Envelope::new(self.request_id, self.written_version(&name, &meta).await)
                .kv()
                .respond(StatusCode::OK),
        )
    }

    /// Vault's PATCH: an RFC 7396 merge of `data` into the current object. It is
    /// sent to the service as an equivalent JSON Patch whose first operations assert
    /// that the stored value is an object, so a string value is refused rather than
    /// silently replaced by an object.
    async fn patch_data(&self) -> Result<Response, VaultError> {
        self.require_merge_patch()?;
        let name = self.name()?;
        let body: DataBody = self.body_json()?;
        let Value::Object(patch) = object_data(body.data)? else {
            return Err(VaultError::invalid("invalid: data must be a JSON object"));
        };
        let if_match = cas_option(body.options.as_ref())?;
        let mut ops = Vec::new();
        let mut probes = Vec::new();
        merge_to_json_patch("", &patch, &mut ops, &mut probes);
        let c = self.caller;
        let patched = self
            .st
            .svc
            .patch_secret(
                &c.principal,
                self.ws(),
                self.scope,
                &name,
                PatchDoc::JsonPatch(Value::Array(ops).into()),
                if_match,
                &c.ctx,
            )
            .await;
        match patched {
            Ok(meta) => Ok(Envelope::new(
                self.request_id,
                self.written_version(&name, &meta).await,
            )
            .kv()
            .respond(StatusCode::OK)),
            Err(e) if e.code == ErrorCode::Invalid => {
                // The service names the failing operation by index; a failed probe
                // means the member (or the whole value) is not an object.
                let failed = e
                    .message
                    .strip_prefix("JSON Patch operation ")
                    .and_then(|m| m.split(' ').next())
                    .and_then(|n| n.parse::<usize>().ok());
                match failed.and_then(|i| probes.iter().find(|(at, _)| *at == i)) {
                    Some((_, member)) if member.is_empty() => Err(VaultError::invalid(
                        "invalid: this secret's value is not a JSON object (a string value is \
                         shown as {\"value\": …}); it cannot be patched through the Vault API, \
                         write the whole secret instead",
                    )),
                    Some((_, member)) => Err(VaultError::invalid(format!(
                        "invalid: cannot merge into '{member}': it is missing or not an object in \
                         the stored value; write the whole secret instead"
                    ))),
                    None => Err(cas_required_in_vault_terms(e)),
                }
            }
            Err(e) => Err(cas_required_in_vault_terms(e)),
        }
    }

    async fn versions_op(&self, op: VersionsOp) -> Result<Response, VaultError> {
        let name = self.name()?;
        let versions = match op {
            VersionsOp::DeleteLatest => Vec::new(),
            _ => {
                let body: VersionsBody = self.body_json()?;
                let vs = body
                    .versions
                    .iter()
                    .map(|v| match v {
                        Value::Number(n) => n.as_u64(),
                        Value::String(s) => s.trim().parse().ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<u64>>>()
                    .ok_or_else(|| {
                        VaultError::invalid("invalid: versions must be a list of version numbers")
                    })?;
                if vs.is_empty() {
                    return Err(VaultError::invalid("invalid: no version number provided"));
                }
                vs
            }
        };
        let (svc, c) = (&self.st.svc, self.caller);
        let (p, ws, scope, ctx) = (&c.principal, self.ws(), self.scope, &c.ctx);
        let done = match op {
            VersionsOp::DeleteLatest | VersionsOp::Delete => {
                svc.delete_versions(p, ws, scope, &name, &versions, ctx)
                    .await
            }
            VersionsOp::Undelete => {
                svc.undelete_versions(p, ws, scope, &name, &versions, ctx)
                    .await
            }
            VersionsOp::Destroy => {
                svc.destroy_versions(p, ws, scope, &name, &versions, ctx)
                    .await
            }
        };
        nothing_there_is_done(done)?;
        Ok(no_content(self.request_id, Vec::new()))
    }

    async fn subkeys(&self) -> Result<Response, VaultError> {
        let name = self.name()?;
        let want = self.version_query("version")?;
        let depth = self.version_query("depth")?.unwrap_or(0);
        let c = self.caller;
        let read = self
            .st
            .svc
            .read_version(&c.principal, self.ws(), self.scope, &name, want, &c.ctx)
            .await?;
        let md = version_facts(&read);
        // A soft-deleted or destroyed version has no structure to show.
        let Some(value) = read.value else {
            return Err(VaultError::not_found());
        };
        let doc = value.to_json()?;
        drop(value);
        let mut warnings = Vec::new();
        // EXPOSE: only the value's key structure leaves (subkeys), never a leaf.
        let keys = match doc.expose() {
            obj @ Value::Object(_) => subkeys_of(obj, depth, 1),
            _ => {
                warnings.push(NOT_AN_OBJECT_WARNING.to_owned());
                json!({"value": null})
            }
        };
        drop(doc);
        Ok(
            Envelope::new(self.request_id, json!({"subkeys": keys, "metadata": md}))
                .kv()
                .warnings(warnings)
                .respond(StatusCode::OK),
        )
    }

    // ---- metadata

    async fn list(&self) -> Result<Response, VaultError> {
        let folder = self.path;
        if !folder.is_empty() && !vault_addressable(folder.trim_end_matches('/')) {
            return Err(VaultError::not_found());
        }
        let prefix = if folder.is_empty() || folder.ends_with('/') {
            folder.to_owned()
        } else {
            format!("{folder}/")
        };
        let c = self.caller;
        // Every child, page by page: each page costs the store its own size.
        let mut keys: Vec<String> = Vec::new();
        let mut req = ChildrenRequest {
            folder: prefix.clone(),
            limit: Some(MAX_CHILDREN_PER_PAGE),
            cursor: None,
            entries: true,
        };
        // Names Vault paths cannot express are left out: a key is shown when the
        // folder and the key are both addressable (the folder is tested once).
        let prefix_addressable = vault_addressable(&format!("{prefix}k"));
        loop {
            let page = self
                .st
                .svc
                .list_children(&c.principal, self.ws(), self.scope, &req, &c.ctx)
                .await?;
            keys.extend(
                page.children
                    .into_iter()
                    .filter(|child| list_key_shown(prefix_addressable, child)),
            );
            match page.next_cursor {
                Some(next) => req.cursor = Some(next),
                None => break,
            }
        }
        if keys.is_empty() {
            return Err(VaultError::not_found());
        }
        Ok(Envelope::new(self.request_id, json!({ "keys": keys }))
            .kv()
            .respond(StatusCode::OK))
    }

    async fn read_metadata(&self) -> Result<Response, VaultError> {
        let name = self.name()?;
        let (meta, versions) = self.meta_and_versions(&name).await?;
        let mut vs = Map::new();
        for v in &versions {
            vs.insert(
                v.version.to_string(),
                json!({
                    "created_time": v.created_at,
                    "deletion_time": v.deleted_at.clone().unwrap_or_default(),
                    "destroyed": v.destroyed,
                }),
            );
        }
        let data = json!({
            "cas_required": meta.cas_required,
            "created_time": meta.created_at,
            "current_version": meta.version,
            "custom_metadata": custom_metadata(&meta),
            "delete_version_after": go_duration(meta.delete_version_after.unwrap_or(0)),
            "lockbox": lockbox_facts(&meta),
            "max_versions": meta.max_versions.unwrap_or(0),
            "oldest_version": oldest_version(&versions),
            "updated_time": meta.updated_at,
            "versions": vs,
        });
        Ok(Envelope::new(self.request_id, data)
            .kv()
            .respond(StatusCode::OK))
    }

    /// POST/PUT (fields given replace) or PATCH (merge-patch; `custom_metadata`
    /// keys merge, `null` removes one) of one secret's settings.
    async fn write_metadata(&self, patch: bool) -> Result<Response, VaultError> {
        if patch {
            self.require_merge_patch()?;
        }
        let name = self.name()?;
        let body: MetadataBody = self.body_json()?;
        let mut warnings = Vec::new();
        let c = self.caller;
        // PATCH changes what is there (404 where nothing is); POST and PUT also
        // create an entry without versions, as Vault does.
        let current = if patch {
            Some(
                self.st
                    .svc
                    .secret_metadata_or_entry(&c.principal, self.ws(), self.scope, &name, &c.ctx)
                    .await?,
            )
        } else {
            None
        };
        // (JSON `null` reads as absent: the labels stay as they are.)
        let labels = match body.custom_metadata {
            None => None,
            Some(Value::Object(m)) => {
                let mut labels = current.map(|m| m.labels).unwrap_or_default();
                let mut dropped = false;
                for (k, v) in m {
                    if reserved(&k) {
                        dropped = true;
                        continue;
                    }
                    match v {
                        Value::String(s) => {
                            labels.insert(k, s);
                        }
                        Value::Null if patch => {
                            labels.remove(&k);
                        }
                        _ => return Err(custom_metadata_invalid("values must be strings")),
                    }
                }
                if dropped {
                    warnings.push(RESERVED_WARNING.to_owned());
                }
                lockbox_service::check_labels(&labels)
                    .map_err(|e| custom_metadata_invalid(&e.message))?;
                Some(labels)
            }
            Some(_) => return Err(custom_metadata_invalid("it must be an object of strings")),
        };
        let settings = SecretSettingsPatch {
            // `lockbox.description` is shown read-only; Vault clients do not set it.
            description: None,
            labels,
            max_versions: body
                .max_versions
                .as_ref()
                .map(|v| count("max_versions", v))
                .transpose()?,
            cas_required: body.cas_required,
            delete_version_after: body
                .delete_version_after
                .as_ref()
                .map(|v| parse_duration("delete_version_after", v))
                .transpose()?,
        };
        self.st
            .svc
            .write_secret_settings(&c.principal, self.ws(), self.scope, &name, settings, &c.ctx)
            .await?;
        Ok(no_content(self.request_id, warnings))
    }

    async fn delete_metadata(&self) -> Result<Response, VaultError> {
        let name = self.name()?;
        let c = self.caller;
        let done = self
            .st
            .svc
            .delete_secret(&c.principal, self.ws(), self.scope, &name, false, &c.ctx)
            .await;
        nothing_there_is_done(done)?;
        Ok(no_content(self.request_id, Vec::new()))
    }

    // ---- config (workspace settings)

    async fn read_config(&self) -> Result<Response, VaultError> {
        let c = self.caller;
        let s = self
            .st
            .svc
            .workspace_settings(&c.principal, self.ws(), &c.ctx)
            .await?;
        Ok(Envelope::new(self.request_id, config_data(&s)).respond(StatusCode::OK))
    }

    async fn write_config(&self) -> Result<Response, VaultError> {
        let body: ConfigBody = self.body_json()?;
        let c = self.caller;
        let update = lockbox_service::WorkspaceSettingsPatch {
            max_versions: body
                .max_versions
                .as_ref()
                .map(|v| count("max_versions", v))
                .transpose()?,
            cas_required: body.cas_required,
            delete_version_after: body
                .delete_version_after
                .as_ref()
                .map(|v| parse_duration("delete_version_after", v))
                .transpose()?,
            ..Default::default()
        };
        self.st
            .svc
            .update_workspace_settings(&c.principal, self.ws(), update, &c.ctx)
            .await?;
        Ok(no_content(self.request_id, Vec::new()))
    }
}

const NOT_AN_OBJECT_WARNING: &str =
    "this secret's value is not a JSON object; it is shown as {\"value\": …} and cannot be \
     patched through the Vault API";
const RESERVED_WARNING: &str =
    "custom_metadata keys starting with 'lockbox.' are Lockbox facts, read-only; they were \
     ignored";

/// Vault answers a delete, undelete or destroy of a path that holds nothing with
/// `204`, as if it had been done: there is nothing left to do. The service checks
/// the caller's role before it looks for the secret, so a refusal stays a refusal.
fn nothing_there_is_done(r: lockbox_core::Result<()>) -> Result<(), VaultError> {
    match r {
        Err(e) if e.code == ErrorCode::NotFound => Ok(()),
        other => other.map_err(VaultError::from),
    }
}

/// A write without `cas` where the secret or the engine requires one: Vault's
/// sentence (clients match on it), not the native API's, which speaks of headers.
fn cas_required_in_vault_terms(e: lockbox_core::Error) -> VaultError {
    if e.code == ErrorCode::Invalid && e.message.starts_with(CAS_REQUIRED_PREFIX) {
        VaultError::invalid(CAS_REQUIRED)
    } else {
        e.into()
    }
}

/// Vault's prefix for every `custom_metadata` refusal (clients match on it).
fn custom_metadata_invalid(why: &str) -> VaultError {
    VaultError::invalid(format!("custom_metadata validation failed: {why}"))
}

/// How the service's refusal of a write without check-and-set starts.
const CAS_REQUIRED_PREFIX: &str = "check-and-set parameter required";
/// Vault's words for it.
const CAS_REQUIRED: &str = "check-and-set parameter required for this call";

fn config_data(s: &lockbox_service::WorkspaceSettings) -> Value {
    json!({
        "cas_required": s.cas_required,
        "delete_version_after": go_duration(s.delete_version_after.unwrap_or(0)),
        "max_versions": s.max_versions,
    })
}

/// A non-negative integer (JSON number or numeric string).
fn count(field: &str, v: &Value) -> Result<u32, VaultError> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(|| VaultError::invalid(format!("invalid: {field} must be a non-negative number")))
}

fn object_data(data: Option<Value>) -> Result<Value, VaultError> {
    match data {
        Some(v @ Value::Object(_)) => Ok(v),
        Some(Value::Null) | None => Err(VaultError::invalid("invalid: no data provided")),
        Some(_) => Err(VaultError::invalid(
            "invalid: data must be a JSON object of key/value pairs",
        )),
    }
}

/// `options.cas`: a version number (JSON number or numeric string). A negative
/// number can never match a version: Vault answers it as a mismatch.
fn cas_option(options: Option<&Map<String, Value>>) -> Result<Option<u64>, VaultError> {
    let bad = || VaultError::invalid("invalid: options.cas must be a version number");
    let mismatch = || VaultError::invalid(VaultError::CAS_MISMATCH);
    match options.and_then(|o| o.get("cas")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(v), _, _) => Ok(Some(v)),
            (None, Some(_), _) => Err(mismatch()),
            (None, None, Some(f)) if f < 0.0 => Err(mismatch()),
            _ => Err(bad()),
        },
        Some(Value::String(s)) => {
            let s = s.trim();
            match (s.parse::<u64>(), s.parse::<i64>()) {
                (Ok(v), _) => Ok(Some(v)),
                (Err(_), Ok(_)) => Err(mismatch()),
                _ => Err(bad()),
            }
        }
        Some(_) => Err(bad()),
    }
}

/// `custom_metadata` as Vault clients see it: the secret's labels, exactly what
/// was written (Lockbox's own facts stand beside it, see [`lockbox_facts`]).
pub fn custom_metadata(meta: &SecretMeta) -> Value {
    json!(meta.labels)
}

/// Lockbox's facts about a secret, read-only, in a `lockbox` object beside
/// `custom_metadata` in the metadata answer (Vault clients ignore keys they do not
/// know). Absent facts are left out.
fn lockbox_facts(meta: &SecretMeta) -> Value {
    let mut m = Map::new();
    if let Some(d) = &meta.description {
        m.insert("description".into(), json!(d));
    }
    m.insert("visibility".into(), json!(meta.visibility));
    // (None before the first version, and never for a run token.)
    if !meta.fingerprint.is_empty() {
        m.insert("fingerprint".into(), json!(meta.fingerprint));
    }
    if let Some(e) = &meta.expires_at {
        m.insert("expires_at".into(), json!(e));
    }
    Value::Object(m)
}

/// True for label keys Lockbox reserves (refused by the service, case-insensitively).
fn reserved(key: &str) -> bool {
    key.get(..RESERVED_LABEL_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(RESERVED_LABEL_PREFIX))
}

/// Vault's `oldest_version`: 0 until versions have been trimmed (`max_versions`),
/// then the oldest version kept.
fn oldest_version(versions: &[VersionInfo]) -> u64 {
    match versions.iter().map(|v| v.version).min() {
        Some(v) if v > 1 => v,
        _ => 0,
    }
}

/// A version's `metadata` as a data read (or subkeys) answers it.
fn version_facts(read: &VersionRead) -> Value {
    json!({
        "created_time": read.created_at,
        "custom_metadata": read.labels,
        "deletion_time": read.deleted_at.clone().unwrap_or_default(),
        "destroyed": read.destroyed,
        "version": read.version,
    })
}

/// Whether a LIST shows `child` (a key, or a sub-folder with its trailing `/`)
/// of a folder (`prefix_addressable`: whether a key in it could be addressed,
/// i.e. the folder's own segments are valid): names Vault paths cannot express
/// are left out. A child holds no `/` but a sub-folder's trailing one.
fn list_key_shown(prefix_addressable: bool, child: &str) -> bool {
    let (seg, folder) = match child.strip_suffix('/') {
        Some(seg) => (seg, true),
        None => (child, false),
    };
    if seg.is_empty() || seg == "." || seg == ".." || seg.chars().any(char::is_control) {
        return false;
    }
    folder || prefix_addressable
}

/// The key structure of a document, leaves replaced by `null`, `depth` levels deep
/// (0 = all).
fn subkeys_of(doc: &Value, depth: u64, level: u64) -> Value {
    match doc {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let sub = match v {
                        Value::Object(_) if depth == 0 || level < depth => {
                            subkeys_of(v, depth, level + 1)
                        }
                        _ => Value::Null,
                    };
                    (k.clone(), sub)
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// The probe key the JSON Patch adds and removes to check that a member is an
/// object (never stored: the operation that removes it follows at once).
const PROBE: &str = "\u{0}lockbox-vault-merge-probe\u{0}";

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Translates an RFC 7396 merge patch into RFC 6902 operations that do the same to
/// an object, plus a probe (add then remove a key) in front of each object level:
/// the probe fails, and so the whole patch, when that level is not an object.
/// `probes` records (operation index, member path) for each probe.
fn merge_to_json_patch(
    base: &str,
    patch: &Map<String, Value>,
    ops: &mut Vec<Value>,
    probes: &mut Vec<(usize, String)>,
) {
    let probe = format!("{base}/{}", pointer_escape(PROBE));
    probes.push((ops.len(), base.trim_start_matches('/').to_owned()));
    ops.push(json!({"op": "add", "path": probe, "value": 0}));
    ops.push(json!({"op": "remove", "path": probe}));
    for (k, v) in patch {
        let path = format!("{base}/{}", pointer_escape(k));
        match v {
            // `add` then `remove`: removes the member whether or not it exists.
            Value::Null => {
                ops.push(json!({"op": "add", "path": path, "value": null}));
                ops.push(json!({"op": "remove", "path": path}));
            }
            Value::Object(inner) => merge_to_json_patch(&path, inner, ops, probes),
            other => ops.push(json!({"op": "add", "path": path, "value": other})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_merge(doc: Value, patch: Value) -> Result<Value, ()> {
        let mut ops = Vec::new();
        let mut probes = Vec::new();
        merge_to_json_patch("", patch.as_object().unwrap(), &mut ops, &mut probes);
        let ops: json_patch_free::Ops = serde_json::from_value(Value::Array(ops)).unwrap();
        json_patch_free::apply(doc, &ops)
    }

    /// A tiny RFC 6902 subset (add, remove) so this test needs no extra crate.
    mod json_patch_free {
        use serde_json::Value;
        pub type Ops = Vec<Value>;
        fn parts(p: &str) -> Vec<String> {
            p.split('/')
                .skip(1)
                .map(|s| s.replace("~1", "/").replace("~0", "~"))
                .collect()
        }
        pub fn apply(mut doc: Value, ops: &Ops) -> Result<Value, ()> {
            for op in ops {
                let path = parts(op["path"].as_str().unwrap());
                let (last, parents) = path.split_last().unwrap();
                let mut cur = &mut doc;
                for p in parents {
                    cur = cur.as_object_mut().ok_or(())?.get_mut(p).ok_or(())?;
                }
                let obj = cur.as_object_mut().ok_or(())?;
                match op["op"].as_str().unwrap() {
                    "add" => {
                        obj.insert(last.clone(), op["value"].clone());
                    }
                    "remove" => {
                        obj.remove(last).ok_or(())?;
                    }
                    _ => return Err(()),
                }
            }
            Ok(doc)
        }
    }

    #[test]
    fn merge_patch_translation_matches_rfc_7396_on_objects() {
        let doc = json!({"a": 1, "b": {"c": 2, "d": 3}, "e/f": 4, "g~": 5});
        let patch = json!({"a": null, "b": {"c": 9, "d": null}, "e/f": 6, "g~": null, "new": [1], "zz": null});
        // What RFC 7396 gives for this document and patch:
        let want = json!({"b": {"c": 9}, "e/f": 6, "new": [1]});
        assert_eq!(apply_merge(doc.clone(), patch).unwrap(), want);
        // A nested object patch into a member that does not exist is refused
        // (documented), never applied halfway.
        assert!(apply_merge(doc, json!({"x": {"y": 1}})).is_err());
    }

    #[test]
    fn a_string_value_is_never_merged() {
        assert!(apply_merge(json!("plain"), json!({"value": "x"})).is_err());
        assert!(apply_merge(json!({"a": "s"}), json!({"a": {"b": 1}})).is_err());
    }

    #[test]
    fn list_keys_are_segments_vault_can_address() {
        let shown = |prefix: &str, child: &str| {
            list_key_shown(vault_addressable(&format!("{prefix}k")), child)
        };
        assert!(shown("", "a"));
        assert!(shown("", "a/"));
        assert!(shown("a/", "b"));
        assert!(shown("a/", "b/"));
        assert!(!shown("a/", "/"));
        assert!(!shown("", "./"));
        assert!(!shown("", ".."));
        assert!(!shown("x/", ""));
        assert!(!shown("", "a\u{7}/"));
        // A key under a folder Vault cannot address (an empty segment) is left out.
        assert!(!shown("a//", "b"));
        assert!(!shown("./", "b"));
    }

    #[test]
    fn reserved_keys_are_recognised_in_any_case() {
        for k in [
            "lockbox.description",
            "LOCKBOX.x",
            "Lockbox.visibility",
            "lockbox.",
        ] {
            assert!(reserved(k), "{k}");
        }
        for k in ["lockbox", "team", "lockboxes.x", "x.lockbox.y", "é"] {
            assert!(!reserved(k), "{k}");
        }
    }

    #[test]
    fn counts_and_cas_accept_numbers_and_numeric_strings_only() {
        assert_eq!(count("m", &json!(3)).ok(), Some(3));
        assert_eq!(count("m", &json!("4")).ok(), Some(4));
        assert!(count("m", &json!(-1)).is_err());
        assert!(count("m", &json!(1u64 << 40)).is_err());
        assert!(count("m", &json!(true)).is_err());
        let opts = |v: Value| json!({"cas": v}).as_object().cloned();
        assert_eq!(cas_option(None).ok(), Some(None));
        assert_eq!(cas_option(opts(json!(0)).as_ref()).ok(), Some(Some(0)));
        assert_eq!(cas_option(opts(json!("2")).as_ref()).ok(), Some(Some(2)));
        assert!(cas_option(opts(json!(-2)).as_ref()).is_err());
        assert!(cas_option(opts(json!([1])).as_ref()).is_err());
    }

    #[test]
    fn subkeys_hide_every_leaf() {
        let d = json!({"a": 1, "b": {"c": "s", "d": {"e": true}}});
        assert_eq!(
            subkeys_of(&d, 0, 1),
            json!({"a": null, "b": {"c": null, "d": {"e": null}}})
        );
        assert_eq!(subkeys_of(&d, 1, 1), json!({"a": null, "b": null}));
    }
}
