//! Put, patch and rollback: what each makes of the current row, written by the
//! version writer (writer.rs). The checks that need the request (a value's size,
//! a TTL, a description, labels, host patterns, a JSON Patch `test` that would
//! compare with a value) run once before the writer; the checks that need the
//! current row (visibility is fixed, only the owner widens `allowed_hosts`) run
//! in the step, on every attempt.

use super::hosts::{hosts_widen, parse_host_patterns};
use super::writer::{NextVersion, WriteSpec};
use crate::auth::Principal;
use crate::{Lockbox, RequestCtx, SecretMeta};
use lockbox_core::{
    Action, Actor, Error, Result, Role, Scope, SecretName, SecretValue, Sensitive, Visibility,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The longest TTL accepted: ten years.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// An upsert request, already parsed at the edge.
#[derive(Debug)]
pub struct PutSecret {
    pub value: Sensitive<serde_json::Value>,
    /// `None` keeps the current description; `Some("")` clears it.
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub ttl_seconds: Option<u64>,
    pub if_match: Option<u64>,
    /// `None` keeps the current list; `Some(vec![])` allows any host.
    pub allowed_hosts: Option<Vec<String>>,
    /// Only create (`If-None-Match: *`): an existing secret is `version_mismatch`.
    pub create_only: bool,
    /// `None` keeps the current labels; `Some` replaces them (keys `lockbox.*` refused).
    pub labels: Option<BTreeMap<String, String>>,
}

/// A patch document: RFC 7396 merge patch or RFC 6902 JSON Patch (as sent; the
/// service checks its shape). Either may carry parts of the new value.
#[derive(Debug)]
pub enum PatchDoc {
    Merge(Sensitive<serde_json::Value>),
    JsonPatch(Sensitive<serde_json::Value>),
}

enum Patch {
    Merge(Sensitive<serde_json::Value>),
    Json(json_patch::Patch),
}

impl Lockbox {
    /// Creates or updates a secret. Returns its metadata and whether it was created.
    pub async fn put_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        req: PutSecret,
        ctx: &RequestCtx,
    ) -> Result<(SecretMeta, bool)> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let PutSecret {
            value: raw,
            description,
            visibility,
            ttl_seconds,
            if_match,
            allowed_hosts,
            create_only,
            labels,
        } = req;
        // EXPOSE: checked and copied into a SecretValue, which wipes it on drop.
        let value = SecretValue::from_json(raw.expose(), self.config.max_value_bytes)?;
        // EXPOSE: only which leaves are short is answered, never a value or a length.
        let warnings = short_value_warnings(raw.expose());
        drop(raw);
        let expires_at = match ttl_seconds {
            Some(0) => {
                return Err(Error::invalid("ttl must be at least 1 second").with_field("ttl"))
            }
            Some(s) if s > MAX_TTL_SECONDS => {
                return Err(Error::invalid(format!(
                    "ttl must be at most {MAX_TTL_SECONDS} seconds"
                ))
                .with_field("ttl"))
            }
            Some(s) => Some(self.clock.now().plus_seconds(s)),
            None => None,
        };
        if let Some(d) = &description {
            check_description(d)?;
        }
        let allowed_hosts = allowed_hosts
            .as_deref()
            .map(parse_host_patterns)
            .transpose()?;
        if let Some(l) = &labels {
            crate::versions::check_labels(l)?;
        }
        let value = Arc::new(value);
        let (t, value, description, allowed_hosts, labels) =
            (&t, &value, &description, &allowed_hosts, &labels);
        let step = |existing: Option<lockbox_store::SecretRow>| async move {
            let has_value = existing.as_ref().filter(|s| s.current_version > 0);
            if let (Some(cur), Some(v)) = (has_value, visibility) {
                if cur.visibility != v {
                    return Err(Error::invalid(format!(
                        "visibility of '{name}' is '{}' and is fixed at creation",
                        cur.visibility.as_str()
                    )));
                }
            }
            let mut detail = serde_json::json!({"created": has_value.is_none()});
            if let (Some(cur), Some(new)) = (&existing, allowed_hosts) {
                if &cur.allowed_hosts != new {
                    // Widening where a secret may go is the owner's alone: an admin who
                    // could clear the list (then roll back to the real value) could
                    // send any value anywhere.
                    if hosts_widen(&cur.allowed_hosts, new) && t.actor != Actor::Member(Role::Owner)
                    {
                        let err = Error::forbidden(format!(
                            "only the owner may widen or clear the allowed_hosts of '{name}'; \
                             narrowing is open to anyone who may write it"
                        ));
                        return Err(self
                            .refuse_secret(p, t, "secret.allowed_hosts", name, err, ctx)
                            .await);
                    }
                    detail["allowed_hosts"] =
                        serde_json::json!({"old": cur.allowed_hosts, "new": new});
                }
            }
            Ok(Some(NextVersion {
                value: value.clone(),
                description: description.clone(),
                visibility: visibility.unwrap_or_default(),
                expires_at,
                allowed_hosts: allowed_hosts.clone(),
                labels: labels.clone(),
                detail,
            }))
        };
        let spec = WriteSpec {
            verb: "secret.put",
            if_match,
            create_only,
            creates: true,
            cas_checked: true,
        };
        let written = self.write_version(p, t, name, spec, step, ctx).await?;
        let mut meta = self.meta_for(p, &t.ws, &written.row);
        meta.warnings = warnings;
        Ok((meta, written.created))
    }

    /// Applies a patch atomically: read, patch, write compare-and-set; with
    /// `if_match` a stale version is `version_mismatch`, without it a lost race retries.
    pub async fn patch_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        patch: PatchDoc,
        if_match: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let patch = match patch {
            PatchDoc::Merge(m) => Patch::Merge(m),
            PatchDoc::JsonPatch(ops) => Patch::Json(
                // EXPOSE: parsed into operations; a shape error names no value.
                serde::Deserialize::deserialize(ops.expose()).map_err(|_| {
                    Error::invalid("a JSON Patch document is an array of operations like {\"op\": \"replace\", \"path\": \"/a\", \"value\": 1}")
                })?,
            ),
        };
        if let Patch::Json(ops) = &patch {
            if ops
                .0
                .iter()
                .any(|op| matches!(op, json_patch::PatchOperation::Test(_)))
            {
                // A `test` answers whether a guess equals the stored value: a reveal
                // in all but name. Only those who may reveal the value may ask.
                let row = self.find_live(&t, name).await?;
                let may_reveal = row.visibility == Visibility::Masked
                    && lockbox_core::allowed(t.actor, Action::RevealMasked);
                if !may_reveal {
                    let err = Error::forbidden(format!(
                        "a JSON Patch 'test' compares with the value of '{name}', which this caller may \
                         not reveal; leave the test out (use If-Match for concurrency)"
                    ));
                    return Err(self
                        .refuse_secret(p, &t, "secret.reveal", name, err, ctx)
                        .await);
                }
            }
        }
        let (t, patch) = (&t, &patch);
        let step = |existing: Option<lockbox_store::SecretRow>| async move {
            let Some(row) = existing else {
                return Err(super::not_found(name));
            };
            let Some(v) = self.version_row(&row.id, row.current_version).await? else {
                return Ok(None);
            };
            let old = self.open_version(&t.ws, &row, &v).await?;
            let mut doc = old.to_json()?;
            drop(old);
            // EXPOSE: the patch edits the value in place; it stays in `doc`, wiped on drop.
            let current = doc.expose_mut();
            match patch {
                // EXPOSE: the merge patch's values become part of the value.
                Patch::Merge(m) => json_patch::merge(current, m.expose()),
                Patch::Json(ops) => json_patch::patch(current, ops).map_err(|e| {
                    Error::invalid(format!(
                        "JSON Patch operation {} failed: {}",
                        e.operation,
                        match e.kind {
                            json_patch::PatchErrorKind::TestFailed => "test did not match",
                            json_patch::PatchErrorKind::InvalidPointer => "path does not exist",
                            json_patch::PatchErrorKind::CannotMoveInsideItself => {
                                "cannot move a value inside itself"
                            }
                            _ => "not applicable",
                        }
                    ))
                })?,
            }
            // EXPOSE: checked and copied into a SecretValue, which wipes it on drop.
            let value = SecretValue::from_json(doc.expose(), self.config.max_value_bytes)?;
            Ok(Some(NextVersion {
                value: Arc::new(value),
                description: None,
                visibility: row.visibility,
                expires_at: None,
                allowed_hosts: None,
                labels: None,
                detail: serde_json::json!({}),
            }))
        };
        let spec = WriteSpec {
            verb: "secret.patch",
            if_match,
            create_only: false,
            creates: false,
            cas_checked: true,
        };
        let written = self.write_version(p, t, name, spec, step, ctx).await?;
        Ok(self.meta_for(p, &t.ws, &written.row))
    }

    /// Writes a new version equal to an old one.
    pub async fn rollback_secret(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        name: &SecretName,
        to_version: u64,
        ctx: &RequestCtx,
    ) -> Result<SecretMeta> {
        let t = self
            .authorized_target(p, ws_name, scope, Action::WriteSecret, Some(name), ctx)
            .await?;
        let t = &t;
        let step = |existing: Option<lockbox_store::SecretRow>| async move {
            let Some(row) = existing else {
                return Err(super::not_found(name));
            };
            let v = self
                .version_row(&row.id, to_version)
                .await?
                .ok_or_else(|| {
                    Error::not_found(format!("version {to_version} of '{name}' not found"))
                })?;
            let value = self.open_version(&t.ws, &row, &v).await?;
            Ok(Some(NextVersion {
                value: Arc::new(value),
                description: None,
                visibility: row.visibility,
                expires_at: None,
                allowed_hosts: None,
                labels: None,
                detail: serde_json::json!({"from_version": to_version}),
            }))
        };
        // Rollback takes no If-Match and was never held to cas_required.
        let spec = WriteSpec {
            verb: "secret.rollback",
            if_match: None,
            create_only: false,
            creates: false,
            cas_checked: false,
        };
        let written = self.write_version(p, t, name, spec, step, ctx).await?;
        Ok(self.meta_for(p, &t.ws, &written.row))
    }
}

/// The warnings a write answers for a value below the minimum length Lockbox
/// masks everywhere (named by JSON Pointer for fields of a JSON value; never the
/// value, nor its length).
pub(crate) fn short_value_warnings(value: &serde_json::Value) -> Vec<String> {
    let min = lockbox_redact::MIN_LEN;
    let rule = format!(
        "shorter than {min} bytes: Lockbox masks it in outputs only where it stands as a whole \
         token in the answer to an outbound call that sent it, not in logs, events or `lockbox \
         run` output; use a longer value"
    );
    let paths = lockbox_redact::short_leaves(value, min, 8);
    match paths.as_slice() {
        [] => Vec::new(),
        [p] if p.is_empty() => vec![format!("the value is {rule}")],
        _ => vec![format!(
            "field(s) {} of the value are {rule}",
            paths.join(", ")
        )],
    }
}

/// A description: at most 4 KiB of text. Line breaks and tabs are text; other
/// control characters (NUL above all, which PostgreSQL cannot store) are not.
pub(crate) fn check_description(d: &str) -> Result<()> {
    if d.len() > 4096 {
        return Err(
            Error::invalid("description must be at most 4096 bytes").with_field("description")
        );
    }
    if d.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(
            Error::invalid("description must not contain control characters")
                .with_field("description"),
        );
    }
    Ok(())
}
