//! `.env` import and export for people (the console; a CLI can use the same):
//! a preview of what a pasted file would do (keys, lines, new or existing; no
//! value), the import itself as one normal, audited put per secret, and an export
//! of names and metadata (`.env.example` style, or JSON) for anyone who may list,
//! with values only through audited reveals for roles that may reveal them.
//!
//! Parsing is `lockbox_core::dotenv`: its errors name a line and a key, never a
//! value, and values stay in `Zeroizing` strings until they are put.

use crate::auth::Principal;
use crate::listing::ListOptions;
use crate::{Lockbox, PutSecret, RequestCtx, SecretMeta};
use lockbox_core::dotenv;
use lockbox_core::{Action, Error, ErrorCode, Result, Scope, SecretName};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use zeroize::Zeroizing;

/// One key of a pasted `.env` file, as the preview shows it (never the value).
#[derive(Debug, Clone, Serialize)]
pub struct ImportRow {
    pub key: String,
    /// 1-based line of the key in the text.
    pub line: usize,
    /// A secret of that name exists in the scope (importing would overwrite it).
    pub exists: bool,
    /// Why this key cannot be imported (a name Lockbox refuses), in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// What an import did, key by key (never a value).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportOutcome {
    pub created: Vec<String>,
    pub updated: Vec<String>,
    /// Existing secrets left alone (overwrite not chosen) or keys not chosen.
    pub skipped: Vec<String>,
    /// Key and message (the service's words; never a value).
    pub failed: Vec<(String, String)>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `.env` lines (`KEY=` without values: `.env.example` style).
    Env,
    /// A JSON array of metadata objects.
    Json,
}

impl ExportFormat {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "env" | "" => Ok(Self::Env),
            "json" => Ok(Self::Json),
            _ => Err(Error::invalid("export format is 'env' or 'json'")),
        }
    }
}

/// The longest `.env` text taken (bytes).
pub const MAX_IMPORT_BYTES: usize = 1024 * 1024;
/// The most keys one import takes.
pub const MAX_IMPORT_KEYS: usize = 1000;

fn parse(text: &str) -> Result<Vec<dotenv::DotenvEntry>> {
    if text.len() > MAX_IMPORT_BYTES {
        return Err(Error::new(
            ErrorCode::TooLarge,
            format!(
                "the .env text is larger than {} KiB",
                MAX_IMPORT_BYTES / 1024
            ),
        ));
    }
    let entries = dotenv::parse(text)?;
    if entries.len() > MAX_IMPORT_KEYS {
        return Err(Error::invalid(format!(
            "the .env text has more than {MAX_IMPORT_KEYS} keys; split it"
        )));
    }
    Ok(entries)
}

impl Lockbox {
    /// Every live secret of the scope by name (metadata only).
    async fn metas_by_name(
        &self,
        p: &Principal,
        ws: &str,
        scope: Scope,
        ctx: &RequestCtx,
    ) -> Result<BTreeMap<String, SecretMeta>> {
        let mut out = BTreeMap::new();
        let mut page = 1;
        loop {
            let opts = ListOptions {
                page,
                per_page: crate::listing::MAX_PER_PAGE,
                ..ListOptions::default()
            };
            let pg = self.browse_secrets(p, ws, scope, &opts, ctx).await?;
            out.extend(pg.secrets.into_iter().map(|m| (m.name.clone(), m)));
            if pg.page >= pg.pages {
                return Ok(out);
            }
            page += 1;
        }
    }

    /// What importing `text` into `scope` of `ws_name` would do: its keys, each
    /// new or existing. Needs the right to write secrets; reads no value.
    pub async fn import_preview(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        text: &str,
        ctx: &RequestCtx,
    ) -> Result<Vec<ImportRow>> {
        self.authorized_target(p, ws_name, scope, Action::WriteSecret, None, ctx)
            .await?;
        let entries = parse(text)?;
        let existing = self.metas_by_name(p, ws_name, scope, ctx).await?;
        Ok(entries
            .iter()
            .map(|e| {
                let name = SecretName::parse(&e.key);
                ImportRow {
                    exists: name
                        .as_ref()
                        .is_ok_and(|n| existing.contains_key(n.as_str())),
                    problem: name.err().map(|e| e.message),
                    key: e.key.clone(),
                    line: e.line,
                }
            })
            .collect())
    }

    /// Imports `text` into `scope` of `ws_name`: the keys in `only` (all when
    /// `None`), existing secrets overwritten only when `overwrite`. One normal put
    /// per secret (authorized and audited as any write); a key that fails does not
    /// stop the others.
    #[allow(clippy::too_many_arguments)]
    pub async fn import_dotenv(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        text: &str,
        only: Option<&BTreeSet<String>>,
        overwrite: bool,
        ctx: &RequestCtx,
    ) -> Result<ImportOutcome> {
        self.authorized_target(p, ws_name, scope, Action::WriteSecret, None, ctx)
            .await?;
        let entries = parse(text)?;
        let existing = self.metas_by_name(p, ws_name, scope, ctx).await?;
        let mut out = ImportOutcome::default();
        for e in entries {
            if only.is_some_and(|o| !o.contains(&e.key)) {
                out.skipped.push(e.key.clone());
                continue;
            }
            let name = match SecretName::parse(&e.key) {
                Ok(n) => n,
                Err(err) => {
                    out.failed.push((e.key.clone(), err.message));
                    continue;
                }
            };
            let exists = existing.contains_key(name.as_str());
            if exists && !overwrite {
                out.skipped.push(e.key.clone());
                continue;
            }
            let req = PutSecret {
                value: lockbox_core::Sensitive::new(serde_json::Value::String(e.value.to_string())),
                description: None,
                visibility: None,
                ttl_seconds: None,
                if_match: None,
                allowed_hosts: None,
                create_only: !exists,
                labels: None,
            };
            match self.put_secret(p, ws_name, scope, &name, req, ctx).await {
                Ok((_, true)) => out.created.push(e.key.clone()),
                Ok((_, false)) => out.updated.push(e.key.clone()),
                Err(err) if err.code == ErrorCode::VersionMismatch => out.failed.push((
                    e.key.clone(),
                    "a secret of this name was created meanwhile; import again to overwrite it"
                        .into(),
                )),
                Err(err) => out.failed.push((e.key.clone(), err.message)),
            }
        }
        Ok(out)
    }

    /// The secrets of `scope` as a file: names and metadata for anyone who may
    /// list them; with `with_values`, values too, each through an audited reveal
    /// (the role must be allowed to reveal; restricted secrets are never
    /// exported and are named in a comment or a `"skipped"` field instead).
    pub async fn export_secrets(
        &self,
        p: &Principal,
        ws_name: &str,
        scope: Scope,
        format: ExportFormat,
        with_values: bool,
        ctx: &RequestCtx,
    ) -> Result<Zeroizing<String>> {
        if with_values {
            self.authorized_target(p, ws_name, scope, Action::RevealMasked, None, ctx)
                .await?;
        }
        let metas = self.metas_by_name(p, ws_name, scope, ctx).await?;
        let mut values: BTreeMap<String, Zeroizing<String>> = BTreeMap::new();
        let mut skipped: Vec<(String, String)> = Vec::new();
        if with_values {
            for m in metas.values() {
                if m.visibility == "restricted" {
                    skipped.push((m.name.clone(), "restricted: never revealed".into()));
                    continue;
                }
                let name = SecretName::parse(&m.name)?;
                match self
                    .reveal_secret(p, ws_name, scope, &name, None, ctx)
                    .await
                {
                    Ok((v, _)) => {
                        let doc = v.to_json()?;
                        // EXPOSE: an export with values, confirmed by the user and
                        // audited as a reveal of this secret.
                        let text = match doc.expose() {
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        values.insert(m.name.clone(), Zeroizing::new(text));
                    }
                    Err(e) if e.code == ErrorCode::NotFound => {
                        skipped.push((m.name.clone(), "no current version".into()))
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let mut out = Zeroizing::new(String::new());
        match format {
            ExportFormat::Env => {
                out.push_str(&format!(
                    "# Lockbox export of workspace '{ws_name}' ({}), {}\n",
                    scope.as_str(),
                    if with_values {
                        "with values"
                    } else {
                        "names only"
                    }
                ));
                for m in metas.values() {
                    if !dotenv::is_valid_key(&m.name) {
                        out.push_str(&format!(
                            "# skipped {:?}: not a key a .env file can hold\n",
                            m.name
                        ));
                        continue;
                    }
                    if let Some(d) = m.description.as_deref().filter(|d| !d.is_empty()) {
                        for l in d.lines() {
                            out.push_str("# ");
                            out.push_str(l);
                            out.push('\n');
                        }
                    }
                    match values.get(&m.name) {
                        Some(v) => out.push_str(&dotenv::render_line(&m.name, v)),
                        None => {
                            if let Some((_, why)) = skipped.iter().find(|(n, _)| n == &m.name) {
                                out.push_str(&format!("# {}: {why}\n", m.name));
                            }
                            out.push_str(&m.name);
                            out.push_str("=\n");
                        }
                    }
                }
            }
            ExportFormat::Json => {
                let rows: Vec<serde_json::Value> = metas
                    .values()
                    .map(|m| {
                        let mut o = serde_json::json!({
                            "name": m.name,
                            "description": m.description,
                            "visibility": m.visibility,
                            "scope": m.scope,
                            "labels": m.labels,
                            "version": m.version,
                            "updated_at": m.updated_at,
                            "updated_by": m.updated_by,
                        });
                        if let Some(v) = values.get(&m.name) {
                            o["value"] = serde_json::Value::String(v.to_string());
                        }
                        if let Some((_, why)) = skipped.iter().find(|(n, _)| n == &m.name) {
                            o["skipped"] = serde_json::Value::String(why.clone());
                        }
                        o
                    })
                    .collect();
                out.push_str(
                    &serde_json::to_string_pretty(&serde_json::json!({
                        "workspace": ws_name,
                        "scope": scope.as_str(),
                        "with_values": with_values,
                        "secrets": rows,
                    }))
                    .map_err(|_| Error::internal("export could not be encoded"))?,
                );
                out.push('\n');
            }
        }
        Ok(out)
    }
}
