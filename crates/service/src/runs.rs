//! Automation runs and `$secret:` references (seed 001).
//!
//! A run is one execution of an automation. Opening one mints a run token
//! (`lbr_…`): a sealed, stateless token naming the run, its workspace, its user (if
//! any), its trigger and its expiry, which any node with the master key can open.
//! A run stores, gets and deletes secrets through seed 001's module, but never sees
//! a value: `set` and `get` answer a reference (`$secret:…`), sealed too, naming one
//! secret version (and optionally a field of a JSON value), bound to the run and
//! expiring after minutes. Only the egress executor resolves a reference, for the
//! run it was minted for, and the values it resolves are redacted from what the run
//! sees afterwards.

use crate::auth::Principal;
use crate::{store_err, Lockbox, PutSecret, RequestCtx};
use lockbox_core::{
    Action, Error, ErrorCode, Result, Scope, SecretName, SecretValue, Timestamp, UserName,
};
use lockbox_crypto::{random_id, TokenPurpose};
use lockbox_store::TokenKind;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const RUN_TOKEN_PREFIX: &str = "lbr_";
pub const REFERENCE_PREFIX: &str = "$secret:";
/// Default and longest run lifetimes.
const DEFAULT_RUN_TTL: u64 = 15 * 60;
const MAX_RUN_TTL: u64 = 24 * 3600;

/// The run a run token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub run_id: String,
    pub workspace_id: String,
    pub workspace: String,
    pub trigger: String,
    pub expires_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct RunClaims {
    r: String,
    w: String,
    n: String,
    u: Option<String>,
    t: String,
    e: i64,
}

#[derive(Serialize, Deserialize)]
struct RefClaims {
    /// Secret id and version.
    s: String,
    v: u64,
    /// Field of a JSON object value.
    f: Option<String>,
    /// Run id and workspace id.
    r: String,
    w: String,
    /// Expiry, Unix milliseconds.
    e: i64,
}

/// `POST /v1/runs` answer.
#[derive(Debug, Clone, Serialize)]
pub struct OpenedRun {
    pub run_id: String,
    pub token: String,
    pub workspace: String,
    pub user: Option<String>,
    pub trigger: String,
    pub expires_at: String,
}

/// A reference resolved for the egress executor: the text to substitute (a string
/// value's own text, any other JSON value as JSON text) and what guards it.
pub struct ResolvedReference {
    pub name: String,
    pub secret_id: String,
    pub value: SecretValue,
    pub allowed_hosts: Vec<String>,
}

/// What one egress call did, for its audit row. Never a value, never a URL.
pub struct EgressRecord {
    pub method: String,
    /// The host as the run wrote it; empty when the URL came from a secret.
    pub host: String,
    /// The name of the secret that held the URL, when one did (its host is never
    /// recorded).
    pub url_secret: Option<String>,
    pub status: Option<u16>,
    pub bytes: u64,
    pub secrets: Vec<(String, String)>,
    pub error: Option<ErrorCode>,
}

fn valid_trigger(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 32
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Lockbox {
    /// Opens a run in a workspace, optionally as one of its members, and returns its
    /// token (shown once). Owners and admins (people or service tokens) may.
    pub async fn open_run(
        &self,
        p: &Principal,
        ws_name: &str,
        user: Option<&UserName>,
        trigger: &str,
        ttl: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<OpenedRun> {
        let (ws, _) = self
            .authorize(p, ws_name, Action::OpenRun, None, ctx)
            .await?;
        if !valid_trigger(trigger) {
            return Err(Error::invalid(
                "trigger must be 1-32 characters of a-z, 0-9, '-', '_' (manual, webhook, cron, …)",
            ));
        }
        let ttl = ttl.unwrap_or(DEFAULT_RUN_TTL);
        if ttl == 0 || ttl > MAX_RUN_TTL {
            return Err(Error::invalid(format!(
                "ttl must be between 1 and {MAX_RUN_TTL} seconds"
            )));
        }
        let user_row = match user {
            None => None,
            Some(u) => {
                let row = self
                    .store
                    .user_by_name(u.as_str())
                    .await
                    .map_err(store_err)?
                    .ok_or_else(|| Error::not_found(format!("'{u}' is not a member")))?;
                if self.member_role(&ws.id, &row.id).await?.is_none() {
                    return Err(Error::not_found(format!("'{u}' is not a member")));
                }
                Some(row)
            }
        };
        let run_id = random_id();
        let expires_at = self.clock.now().plus_seconds(ttl);
        let claims = RunClaims {
            r: run_id.clone(),
            w: ws.id.clone(),
            n: ws.name.clone(),
            u: user_row.as_ref().map(|u| u.id.clone()),
            t: trigger.to_owned(),
            e: expires_at.millis(),
        };
        let token = format!(
            "{RUN_TOKEN_PREFIX}{}",
            self.keyring.seal_token(
                TokenPurpose::RunToken,
                &serde_json::to_vec(&claims).expect("claims serialize")
            )
        );
        let audit = self.record(
            p,
            Some(&ws.id),
            "run.open",
            Some(&run_id),
            ctx,
            serde_json::json!({"trigger": trigger, "user": user_row.as_ref().map(|u| u.name.clone()), "ttl": ttl}),
        );
        self.store
            .append_audit(vec![audit])
            .await
            .map_err(store_err)?;
        Ok(OpenedRun {
            run_id,
            token,
            workspace: ws.name,
            user: user_row.map(|u| u.name),
            trigger: trigger.to_owned(),
            expires_at: expires_at.to_rfc3339(),
        })
    }

    pub(crate) async fn authenticate_run(&self, sealed: &str) -> Result<Principal> {
        let bad = || Error::unauthenticated("not a valid run token");
        let plain = self
            .keyring
            .open_token(TokenPurpose::RunToken, sealed)
            .map_err(|_| bad())?;
        let claims: RunClaims = serde_json::from_slice(&plain).map_err(|_| bad())?;
        if Timestamp(claims.e) <= self.clock.now() {
            return Err(Error::unauthenticated("the run has ended"));
        }
        let user = match &claims.u {
            Some(id) => Some(
                self.store
                    .user_by_id(id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(bad)?,
            ),
            None => None,
        };
        Ok(Principal {
            token_id: claims.r.clone(),
            token_name: format!("run:{}", claims.r),
            kind: TokenKind::Service,
            user,
            service: None,
            run: Some(RunContext {
                run_id: claims.r,
                workspace_id: claims.w,
                workspace: claims.n,
                trigger: claims.t,
                expires_at: Timestamp(claims.e),
            }),
        })
    }

    fn run_of<'p>(&self, p: &'p Principal) -> Result<&'p RunContext> {
        p.run.as_ref().ok_or_else(|| {
            Error::forbidden("only a run token may use the run API; open a run with POST /v1/runs")
        })
    }

    fn mint_reference(
        &self,
        run: &RunContext,
        secret_id: &str,
        version: u64,
        field: Option<&str>,
    ) -> String {
        let exp = self
            .clock
            .now()
            .plus_seconds(self.config.reference_ttl_seconds)
            .min(run.expires_at);
        let claims = RefClaims {
            s: secret_id.to_owned(),
            v: version,
            f: field.map(str::to_owned),
            r: run.run_id.clone(),
            w: run.workspace_id.clone(),
            e: exp.millis(),
        };
        format!(
            "{REFERENCE_PREFIX}{}",
            self.keyring.seal_token(
                TokenPurpose::SecretReference,
                &serde_json::to_vec(&claims).expect("claims serialize")
            )
        )
    }

    /// Seed 001 `secrets.set`: upsert, answer a reference to the new version.
    pub async fn run_set_secret(
        &self,
        p: &Principal,
        name: &SecretName,
        value: serde_json::Value,
        scope: Scope,
        ttl: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<String> {
        let run = self.run_of(p)?;
        let req = PutSecret {
            value,
            description: None,
            visibility: None,
            ttl_seconds: ttl,
            if_match: None,
            allowed_hosts: None,
            create_only: false,
            labels: None,
        };
        let (meta, _) = self
            .put_secret(p, &run.workspace, scope, name, req, ctx)
            .await?;
        Ok(self.mint_reference(run, &meta.id, meta.version, None))
    }

    /// Seed 001 `secrets.get`: a reference to the current version (or one field of
    /// a JSON object value), or `not_found`.
    pub async fn run_get_secret(
        &self,
        p: &Principal,
        name: &SecretName,
        scope: Scope,
        field: Option<&str>,
        ctx: &RequestCtx,
    ) -> Result<String> {
        let run = self.run_of(p)?;
        let row = self
            .live_secret(p, &run.workspace, scope, name, Action::UseReferences, ctx)
            .await?;
        if self.current_deleted(&row) {
            return Err(Error::not_found(format!(
                "the current version of secret '{name}' is deleted"
            )));
        }
        if let Some(f) = field {
            // Check the field now, so a typo fails here rather than at fetch time.
            let ws = self.workspace(&run.workspace).await?;
            let v = self
                .version_row(&row.id, row.current_version)
                .await?
                .ok_or_else(|| Error::not_found(format!("secret '{name}' not found")))?;
            let value = self.open_version(&ws, &row, &v).await?;
            let doc = value.to_json()?;
            if doc.get(f).is_none() {
                return Err(Error::not_found(format!(
                    "secret '{name}' has no field '{f}'"
                )));
            }
        }
        Ok(self.mint_reference(run, &row.id, row.current_version, field))
    }

    /// Seed 001 `secrets.delete`.
    pub async fn run_delete_secret(
        &self,
        p: &Principal,
        name: &SecretName,
        scope: Scope,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let run = self.run_of(p)?;
        self.delete_secret(p, &run.workspace, scope, name, false, ctx)
            .await
    }

    /// Opens a reference for the run that presents it. Each failure names its
    /// cause: tampered (`invalid`), another run's (`forbidden`), expired
    /// (`expired`), deleted secret or pruned version (`not_found`).
    pub async fn resolve_reference(
        &self,
        p: &Principal,
        reference: &str,
    ) -> Result<ResolvedReference> {
        let run = self.run_of(p)?;
        let sealed = reference
            .strip_prefix(REFERENCE_PREFIX)
            .ok_or_else(|| Error::invalid("a reference starts with '$secret:'"))?;
        let plain = self
            .keyring
            .open_token(TokenPurpose::SecretReference, sealed)
            .map_err(|_| {
                Error::invalid(
                    "the reference is not valid: it was altered, or not issued by this deployment",
                )
            })?;
        let claims: RefClaims = serde_json::from_slice(&plain).map_err(|_| {
            Error::invalid(
                "the reference is not valid: it was altered, or not issued by this deployment",
            )
        })?;
        if claims.r != run.run_id || claims.w != run.workspace_id {
            return Err(Error::forbidden("the reference belongs to another run"));
        }
        if Timestamp(claims.e) <= self.clock.now() {
            return Err(Error::new(
                ErrorCode::Expired,
                "the reference has expired; call secrets.get again right before using it",
            ));
        }
        let gone = || Error::not_found("the secret behind the reference was deleted");
        let row = match self.secrets_by_id.get(&claims.s) {
            Some(row) => row,
            None => {
                let row = self
                    .store
                    .secret_by_id(&claims.s)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(gone)?;
                self.secrets_by_id.put(claims.s.clone(), row.clone());
                row
            }
        };
        if row.workspace_id != run.workspace_id
            || row.expires_at.is_some_and(|e| e <= self.clock.now())
        {
            return Err(gone());
        }
        if row.scope == Scope::User
            && p.user.as_ref().map(|u| u.id.as_str()) != Some(row.owner.as_str())
        {
            return Err(Error::forbidden("the reference belongs to another run"));
        }
        let ws = self.workspace(&run.workspace).await?;
        if ws.id != run.workspace_id {
            return Err(gone());
        }
        let v = self.version_row(&row.id, claims.v).await?.ok_or_else(|| {
            Error::not_found("the secret version behind the reference is no longer kept")
        })?;
        let value = self.open_version(&ws, &row, &v).await?;
        let value = match &claims.f {
            None => value,
            Some(f) => {
                let doc = value.to_json()?;
                let leaf = doc.get(f).ok_or_else(|| {
                    Error::not_found(format!("secret '{}' has no field '{f}'", row.name))
                })?;
                SecretValue::from_json_bytes(serde_json::to_vec(leaf).map_err(Error::internal)?)
            }
        };
        // Substitution text: a JSON string's own characters, other JSON as JSON.
        let text = match value.to_json()? {
            serde_json::Value::String(s) => SecretValue::from_json_bytes(s.into_bytes()),
            _ => value,
        };
        // A value put to use is kept out of this process's own log output too
        // (defense in depth: nothing is meant to log it).
        // EXPOSE: registered with the log redactor, which only ever masks it.
        let plain = text.expose();
        lockbox_redact::global::register(&row.name, plain, std::time::Duration::from_secs(600));
        Ok(ResolvedReference {
            name: row.name,
            secret_id: row.id,
            value: text,
            allowed_hosts: row.allowed_hosts,
        })
    }

    /// A redactor over every live secret the run can reach (its workspace scope and
    /// its user's scope), for `/v1/run/redact` and the egress executor's log lines.
    pub async fn run_redactor(&self, p: &Principal) -> Result<Arc<lockbox_redact::Redactor>> {
        let run = self.run_of(p)?;
        let key = (
            run.workspace_id.clone(),
            p.user.as_ref().map(|u| u.id.clone()).unwrap_or_default(),
        );
        if let Some(r) = self.redactors.get(&key) {
            return Ok(r);
        }
        let ws = self.workspace(&run.workspace).await?;
        let mut owners = vec![(Scope::Workspace, String::new())];
        if let Some(u) = &p.user {
            owners.push((Scope::User, u.id.clone()));
        }
        let mut named: Vec<(String, serde_json::Value)> = Vec::new();
        for (scope, owner) in owners {
            let mut after = None;
            loop {
                let rows = self
                    .store
                    .list_secrets(lockbox_store::ListQuery {
                        workspace_id: ws.id.clone(),
                        scope,
                        owner: owner.clone(),
                        prefix: None,
                        after: after.clone(),
                        limit: 1000,
                        now: self.clock.now(),
                    })
                    .await
                    .map_err(store_err)?;
                let done = rows.len() < 1000;
                after = rows.last().map(|r| r.name.clone());
                for row in rows {
                    // Soft-deleted values are still masked; destroyed ones are gone.
                    let v = self.version_row(&row.id, row.current_version).await?;
                    if let Some(v) = v.filter(|v| !v.destroyed) {
                        let value = self.open_sealed(&ws, &row, &v).await?;
                        named.push((row.name.clone(), value.to_json()?));
                    }
                }
                if done {
                    break;
                }
            }
        }
        let refs: Vec<(&str, &serde_json::Value)> =
            named.iter().map(|(n, v)| (n.as_str(), v)).collect();
        let redactor = Arc::new(lockbox_redact::Redactor::with_json(
            &refs,
            lockbox_redact::Options::default(),
        ));
        drop(named);
        self.redactors.put(key, redactor.clone());
        Ok(redactor)
    }

    /// A script runtime read a value as the run (seed 000's `GetSecret`, which hands
    /// the script plaintext): audited like a reveal, durably, before the value is used.
    pub async fn record_run_read(
        &self,
        p: &Principal,
        name: &str,
        secret_id: &str,
        ctx: &RequestCtx,
    ) -> Result<()> {
        let run = self.run_of(p)?;
        let audit = self.record(
            p,
            Some(&run.workspace_id),
            "secret.read",
            Some(name),
            ctx,
            serde_json::json!({"run": run.run_id, "secret_id": secret_id}),
        );
        self.store
            .append_audit(vec![audit])
            .await
            .map_err(store_err)
    }

    /// Audits one egress call of a run.
    pub async fn record_egress(&self, p: &Principal, rec: EgressRecord, ctx: &RequestCtx) {
        let Some(run) = &p.run else { return };
        let mut detail = serde_json::json!({
            "run": run.run_id,
            "method": rec.method,
            "host": rec.host,
            "status": rec.status,
            "bytes": rec.bytes,
            "secrets": rec.secrets.iter().map(|(n, id)| serde_json::json!({"name": n, "id": id})).collect::<Vec<_>>(),
        });
        if let Some(name) = &rec.url_secret {
            detail["url_secret"] = serde_json::json!(name);
        }
        let target = (!rec.host.is_empty()).then_some(rec.host.as_str());
        let mut audit = self.record(
            p,
            Some(&run.workspace_id),
            "egress.fetch",
            target,
            ctx,
            detail,
        );
        if let Some(code) = rec.error {
            audit.outcome = format!("failed:{code}");
        }
        if let Err(e) = self.store.append_audit(vec![audit]).await {
            tracing::error!(error = %e, "could not write the audit row of an egress call");
        }
    }
}
