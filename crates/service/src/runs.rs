//! Automation runs and `$secret:` references (seed 001).
//!
//! A run is one execution of an automation. Opening one over the API mints a run
//! token (`lbr_…`): a sealed, stateless token naming the run, its workspace, its
//! user (if any), its trigger and its expiry, which any node with the master key
//! can open. A run opened for use in this process ([`Lockbox::open_run_here`])
//! answers the run's principal instead; either way the run is a row.
//! A run stores, gets and deletes secrets through seed 001's module, but never sees
//! a value: `set` and `get` answer a reference (`$secret:…`), sealed too, naming one
//! secret version (and optionally a field of a JSON value), bound to the run and
//! expiring after minutes. Only the egress executor resolves a reference, for the
//! run it was minted for, and the values it resolves are redacted from what the run
//! sees afterwards.
//!
//! A run is bounded by who opened it: its claims name the opening token, and every
//! use re-checks that this token is live and may still open runs there, that the
//! run's row (in the tokens table, so `DELETE /v1/runs/{id}` and revocation reach
//! every node like a token's) is not ended, and that its user is still a member.
//! Opening a run that acts as another user is the owner's right, or that of a
//! service token the owner granted `run_as_users`.
//!
//! A value derived from secrets keeps their guard when a run stores it:
//! [`Lockbox::run_set_secret`] resolves the references in the value itself and the
//! new version gets the strictest visibility and the intersection of the sources'
//! `allowed_hosts`.

use crate::auth::Principal;
use crate::secrets::intersect_hosts;
use crate::{store_err, Lockbox, PutSecret, RequestCtx};
use lockbox_core::{
    find_references, AccountAction, Action, Actor, EgressAttempt, Error, ErrorCode, Resolved,
    Result, Role, Scope, SecretName, SecretValue, Timestamp, UserName, Visibility, Wipe,
    REFERENCE_PREFIX,
};
use lockbox_crypto::{hash_token, random_id, TokenPurpose};
use lockbox_store::{AuditRecord, TokenKind, TokenRow};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const RUN_TOKEN_PREFIX: &str = "lbr_";
/// Default run lifetime (never more than the configured maximum).
const DEFAULT_RUN_TTL: u64 = 15 * 60;
/// The trigger under which no user scope is available (seed 001).
pub const CRON_TRIGGER: &str = "cron";
/// `/v1/run/redact`: calls per run per minute, and references per call.
const REDACT_CALLS_PER_MINUTE: u32 = 120;
const MAX_REDACT_REFERENCES: usize = 256;

/// The run a run token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunContext {
    pub run_id: String,
    pub workspace_id: String,
    pub workspace: String,
    pub trigger: String,
    pub expires_at: Timestamp,
    /// The token that opened the run; the run ends with it.
    pub opener: String,
    /// The stored flow this run runs (`POST …/flows/<slug>/runs`): its own
    /// bindings do not stop it deleting a secret.
    pub flow: Option<String>,
}

impl RunContext {
    /// Seed 001: a cron-triggered run has no user scope, even if opened with a user.
    pub fn user_scope_available(&self) -> bool {
        self.trigger != CRON_TRIGGER
    }
}

#[derive(Serialize, Deserialize)]
struct RunClaims {
    r: String,
    w: String,
    n: String,
    u: Option<String>,
    t: String,
    e: i64,
    /// The opening token's id.
    o: String,
    /// The stored flow's slug, for a run of a stored flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    f: Option<String>,
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
    #[serde(serialize_with = "lockbox_core::sensitive::serialize_exposed")]
    pub token: lockbox_core::Sensitive<String>,
    pub workspace: String,
    pub user: Option<String>,
    pub trigger: String,
    pub expires_at: String,
}

/// A run opened for this process ([`Lockbox::open_run_here`]): its id and the
/// principal that acts as it. No token is handed out: the caller already holds
/// what authenticating one would give, so it is not minted into a string that the
/// same process would then have to authenticate again.
#[derive(Debug, Clone)]
pub struct LocalRun {
    pub run_id: String,
    pub principal: Principal,
}

/// Which run to open: `POST /v1/runs`' fields, plus the stored flow it runs.
#[derive(Debug, Clone, Copy)]
pub struct RunSpec<'a> {
    pub workspace: &'a str,
    /// The stored flow's slug (it must exist and the caller must be able to read
    /// it): the run may delete a secret that only this flow binds.
    pub flow: Option<&'a str>,
    /// A member the run acts as (user scope available).
    pub user: Option<&'a UserName>,
    pub trigger: &'a str,
    /// Seconds (default 900, at most the configured maximum).
    pub ttl: Option<u64>,
}

/// A reference resolved for the run that holds it: what the egress executor gets
/// (`secret`: the text to substitute, a string value's own text and any other JSON
/// value as JSON text, and the hosts it may go to) plus what the service itself
/// needs when the run stores a value derived from it.
pub struct ResolvedReference {
    pub secret: Resolved,
    pub version: u64,
    /// The value (or field) is JSON other than a string: `secret.value` holds its
    /// JSON text.
    pub non_string: bool,
    pub visibility: Visibility,
}

/// Per-run counters for `/v1/run/redact`'s rate limit (this node's share).
#[derive(Default)]
pub(crate) struct RedactBudget(Mutex<HashMap<String, (i64, u32)>>);

impl RedactBudget {
    /// Counts one call of `run_id` at `now_ms`; false when the minute's budget is spent.
    fn take(&self, run_id: &str, now_ms: i64) -> bool {
        let mut map = self.0.lock().expect("redact budget lock");
        if map.len() > 10_000 {
            map.retain(|_, (start, _)| now_ms - *start < 60_000);
        }
        let entry = map.entry(run_id.to_owned()).or_insert((now_ms, 0));
        if now_ms - entry.0 >= 60_000 {
            *entry = (now_ms, 0);
        }
        entry.1 += 1;
        entry.1 <= REDACT_CALLS_PER_MINUTE
    }
}

/// What a run's stored value was derived from: the strictest guard of its sources.
#[derive(Debug, Default)]
struct Taint {
    sources: Vec<String>,
    restricted: bool,
    /// `None`: no source limits where it may go.
    hosts: Option<Vec<String>>,
}

/// What one egress call did, for its audit row. Never a value, never a URL.
pub struct EgressRecord {
    /// Method, host as the run wrote it (empty when the URL came from a secret,
    /// whose name is recorded instead), and the secrets it used.
    pub attempt: EgressAttempt,
    pub status: Option<u16>,
    pub bytes: u64,
    pub error: Option<ErrorCode>,
}

/// The principal a run acts as, from its claims: one construction for a run opened
/// here and a run token authenticated.
fn run_principal(
    run_id: String,
    claims: RunClaims,
    user: Option<lockbox_store::UserRow>,
) -> Principal {
    Principal {
        token_id: run_id,
        token_name: format!("run:{}", claims.r),
        kind: TokenKind::Run,
        user,
        service: None,
        run: Some(RunContext {
            run_id: claims.r,
            workspace_id: claims.w,
            workspace: claims.n,
            trigger: claims.t,
            expires_at: Timestamp(claims.e),
            opener: claims.o,
            flow: claims.f,
        }),
    }
}

fn valid_trigger(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 32
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Lockbox {
    /// Opens a run in a workspace, optionally as one of its members, and returns its
    /// token (shown once). Owners and admins (people or service tokens) may open
    /// runs; a run that acts as another member needs the owner role or a service
    /// token the owner granted `run_as_users`. The run lives `ttl` seconds (at most
    /// the configured maximum), never longer than the token that opened it.
    pub async fn open_run(
        &self,
        p: &Principal,
        ws_name: &str,
        user: Option<&UserName>,
        trigger: &str,
        ttl: Option<u64>,
        ctx: &RequestCtx,
    ) -> Result<OpenedRun> {
        let spec = RunSpec {
            workspace: ws_name,
            flow: None,
            user,
            trigger,
            ttl,
        };
        Ok(self.open_run_of(p, &spec, ctx).await?.0)
    }

    /// Opens a run for use inside this process (the server running a stored flow
    /// or a script, the CLI running one embedded): the same checks, run row and
    /// `run.open` audit row as [`Lockbox::open_run`], but the answer is the run's
    /// principal rather than a token. `DELETE /v1/runs/{id}` ends it like any run.
    pub async fn open_run_here(
        &self,
        p: &Principal,
        spec: &RunSpec<'_>,
        ctx: &RequestCtx,
    ) -> Result<LocalRun> {
        if let Some(slug) = spec.flow {
            self.get_flow(p, spec.workspace, slug, ctx).await?;
        }
        let (opened, principal) = self.open_run_of(p, spec, ctx).await?;
        Ok(LocalRun {
            run_id: opened.run_id,
            principal,
        })
    }

    async fn open_run_of(
        &self,
        p: &Principal,
        spec: &RunSpec<'_>,
        ctx: &RequestCtx,
    ) -> Result<(OpenedRun, Principal)> {
        let RunSpec {
            workspace: ws_name,
            flow,
            user,
            trigger,
            ttl,
        } = *spec;
        self.check_account(p, AccountAction::ManageRuns, ctx)
            .await?;
        let (ws, role) = self
            .authorize(p, ws_name, Action::OpenRun, None, ctx)
            .await?;
        if !valid_trigger(trigger) {
            return Err(Error::invalid(
                "trigger must be 1-32 characters of a-z, 0-9, '-', '_' (manual, webhook, cron, …)",
            ));
        }
        let max = self.config.max_run_ttl_seconds.max(1);
        let ttl = ttl.unwrap_or(DEFAULT_RUN_TTL.min(max));
        if ttl == 0 || ttl > max {
            return Err(Error::invalid(format!(
                "ttl must be between 1 and {max} seconds (the server's --max-run-ttl)"
            )));
        }
        let opener = self
            .token_row(&p.token_id)
            .await?
            .filter(|t| matches!(t.kind, TokenKind::Personal | TokenKind::Service))
            .ok_or_else(|| Error::unauthenticated("missing, unknown, revoked or expired token"))?;
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
                let is_self = p.user.as_ref().is_some_and(|me| me.id == row.id);
                if !is_self && role != Role::Owner && !opener.run_as_users {
                    let err = Error::forbidden(format!(
                        "role '{role}' may not open a run that acts as '{u}': only the owner, or a \
                         service token the owner created with run_as_users, may act as another member"
                    ));
                    return Err(self
                        .refuse(p, Some(&ws.id), "run.open", Some(u.as_str()), err, ctx)
                        .await);
                }
                Some(row)
            }
        };
        let run_id = random_id();
        let now = self.clock.now();
        let mut expires_at = now.plus_seconds(ttl);
        if let Some(e) = opener.expires_at {
            expires_at = expires_at.min(e);
        }
        let claims = RunClaims {
            r: run_id.clone(),
            w: ws.id.clone(),
            n: ws.name.clone(),
            u: user_row.as_ref().map(|u| u.id.clone()),
            t: trigger.to_owned(),
            e: expires_at.millis(),
            o: opener.id.clone(),
            f: flow.map(str::to_owned),
        };
        let sealed = self.keyring.seal_token(
            TokenPurpose::RunToken,
            &serde_json::to_vec(&claims).expect("claims serialize"),
        );
        // EXPOSE: the sealed claims become the run token, itself kept Sensitive.
        let token = format!("{RUN_TOKEN_PREFIX}{}", sealed.expose());
        let token = lockbox_core::Sensitive::new(token);
        let row = TokenRow {
            id: run_id.clone(),
            // EXPOSE: only its hash is stored; the token goes to the response.
            hash: hash_token(token.expose()),
            name: format!("run:{trigger}"),
            kind: TokenKind::Run,
            user_id: user_row.as_ref().map(|u| u.id.clone()),
            workspace_id: Some(ws.id.clone()),
            role: None,
            created_at: now,
            created_by: p.label(),
            expires_at: Some(expires_at),
            last_used_at: None,
            revoked_at: None,
            run_as_users: false,
        };
        let mut detail = serde_json::json!({"trigger": trigger, "user": user_row.as_ref().map(|u| u.name.clone()), "ttl": ttl, "opener": opener.id});
        if let Some(f) = flow {
            detail["flow"] = serde_json::json!(f);
        }
        let audit = self.record(p, Some(&ws.id), "run.open", Some(&run_id), ctx, detail);
        self.store
            .insert_token(row, audit)
            .await
            .map_err(store_err)?;
        let opened = OpenedRun {
            run_id: run_id.clone(),
            token,
            workspace: ws.name,
            user: user_row.as_ref().map(|u| u.name.clone()),
            trigger: trigger.to_owned(),
            expires_at: expires_at.to_rfc3339(),
        };
        Ok((opened, run_principal(run_id, claims, user_row)))
    }

    /// Ends a run before it expires: its token, and every reference minted for it,
    /// stop working on every node (within the cache bound). Those who may open runs
    /// in its workspace may end it. Audited as `run.end`.
    pub async fn end_run(&self, p: &Principal, run_id: &str, ctx: &RequestCtx) -> Result<()> {
        self.check_account(p, AccountAction::ManageRuns, ctx)
            .await?;
        let not_found = || Error::not_found(format!("run '{run_id}' not found"));
        let row = self
            .store
            .token_by_id(run_id)
            .await
            .map_err(store_err)?
            .filter(|t| t.kind == TokenKind::Run)
            .ok_or_else(not_found)?;
        let ws = self
            .workspace_by_id(row.workspace_id.as_deref().unwrap_or_default())
            .await?
            .ok_or_else(not_found)?;
        let role = self.role_in(p, &ws).await.map_err(|_| not_found())?;
        self.check(
            p,
            &ws,
            Actor::Member(role),
            Action::OpenRun,
            Some(run_id),
            ctx,
        )
        .await?;
        let audit = self.record(
            p,
            Some(&ws.id),
            "run.end",
            Some(run_id),
            ctx,
            serde_json::json!({}),
        );
        let ended = self
            .store
            .revoke_token(run_id, self.clock.now(), audit)
            .await
            .map_err(store_err)?;
        self.evict(&crate::evict::Change::token(run_id));
        if !ended {
            return Err(Error::not_found(format!(
                "run '{run_id}' has already ended"
            )));
        }
        Ok(())
    }

    /// A run token becomes a principal only while the run is live: its row is not
    /// ended, the token that opened it is live and may still open runs in the
    /// workspace, and its user (if any) is still a member. Checked on every call, so
    /// revoking the opener, removing the user or `DELETE /v1/runs/{id}` ends it.
    pub(crate) async fn authenticate_run(&self, sealed: &str) -> Result<Principal> {
        let ended = || Error::unauthenticated("the run has ended");
        let plain = self
            .keyring
            .open_token(TokenPurpose::RunToken, sealed)
            .map_err(|_| ended())?;
        let claims: RunClaims = serde_json::from_slice(&plain).map_err(|_| ended())?;
        let now = self.clock.now();
        if Timestamp(claims.e) <= now {
            return Err(ended());
        }
        let live = |t: &TokenRow| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > now);
        let hash = hash_token(&format!("{RUN_TOKEN_PREFIX}{sealed}"));
        let row = self
            .token_by_hash_cached(&hash)
            .await?
            .map(|c| c.row)
            .filter(|r| r.kind == TokenKind::Run && r.id == claims.r && live(r))
            .ok_or_else(ended)?;
        let opener = self
            .token_row(&claims.o)
            .await?
            .filter(|t| live(t))
            .ok_or_else(ended)?;
        let opener_role = match (
            opener.kind,
            &opener.user_id,
            &opener.workspace_id,
            opener.role,
        ) {
            (TokenKind::Personal, Some(uid), _, _) => self.member_role(&claims.w, uid).await?,
            (TokenKind::Service, _, Some(ws), role) if ws == &claims.w => role,
            _ => None,
        };
        if !opener_role.is_some_and(|r| lockbox_core::allowed(Actor::Member(r), Action::OpenRun)) {
            return Err(ended());
        }
        let user = match &claims.u {
            Some(id) => {
                let u = self.user_by_id(id).await?.ok_or_else(ended)?;
                if self.member_role(&claims.w, id).await?.is_none() {
                    return Err(ended());
                }
                Some(u)
            }
            None => None,
        };
        Ok(run_principal(row.id, claims, user))
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
        let sealed = self.keyring.seal_token(
            TokenPurpose::SecretReference,
            &serde_json::to_vec(&claims).expect("claims serialize"),
        );
        // EXPOSE: a reference is handed to its run, which holds it as text.
        format!("{REFERENCE_PREFIX}{}", sealed.expose())
    }

    /// Seed 001 `secrets.set`: upsert, answer a reference to the new version.
    ///
    /// References of this run inside the value's strings are resolved and put in
    /// place (a string that is exactly one reference to a number, boolean, object or
    /// array takes that JSON value), so a run can store a value derived from other
    /// secrets without ever holding it. The stored secret then keeps the strictest
    /// guard of its sources: `restricted` if any source is, and only the hosts every
    /// source allows. A source that is restricted cannot be copied into a masked
    /// secret, and sources whose `allowed_hosts` share no host cannot be combined.
    #[allow(clippy::too_many_arguments)] // seed 001's parameters plus seed 000's description
    pub async fn run_set_secret(
        &self,
        p: &Principal,
        name: &SecretName,
        value: lockbox_core::Sensitive<serde_json::Value>,
        scope: Scope,
        ttl: Option<u64>,
        description: Option<String>,
        ctx: &RequestCtx,
    ) -> Result<String> {
        let run = self.run_of(p)?;
        let (value, taint) = self.substitute_references(p, value).await?;
        let mut visibility = None;
        let mut allowed_hosts = None;
        if !taint.sources.is_empty() {
            let t = self.target(p, &run.workspace, scope).await?;
            let existing = self.find_live_fresh(&t, name, true).await.ok();
            let sources = taint.sources.join("', '");
            if taint.restricted {
                if existing
                    .as_ref()
                    .is_some_and(|e| e.visibility != Visibility::Restricted)
                {
                    let err = Error::forbidden(format!(
                        "the value comes from restricted secret(s) '{sources}' and cannot be stored in \
                         masked secret '{name}'"
                    ));
                    return Err(self
                        .refuse_secret(p, &t, "secret.put", name, err, ctx)
                        .await);
                }
                visibility = Some(Visibility::Restricted);
            }
            if let Some(hosts) = &taint.hosts {
                let current = existing
                    .as_ref()
                    .map(|e| e.allowed_hosts.clone())
                    .unwrap_or_default();
                let narrowed = if current.is_empty() {
                    Some(hosts.clone())
                } else {
                    intersect_hosts(&current, hosts)
                };
                match narrowed {
                    Some(h) => allowed_hosts = Some(h),
                    None => {
                        return Err(Error::forbidden(format!(
                        "the value comes from '{sources}', whose allowed_hosts share no host with \
                             '{name}': it could be sent nowhere"
                    )))
                    }
                }
            }
        }
        let req = PutSecret {
            value,
            description,
            visibility,
            ttl_seconds: ttl,
            if_match: None,
            allowed_hosts,
            create_only: false,
            labels: None,
        };
        let (meta, _) = self
            .put_secret(p, &run.workspace, scope, name, req, ctx)
            .await?;
        Ok(self.mint_reference(run, &meta.id, meta.version, None))
    }

    /// Resolves this run's references inside `value`'s strings and splices the
    /// values in, in place (the result never leaves its `Sensitive`), returning the
    /// guard the result inherits.
    async fn substitute_references(
        &self,
        p: &Principal,
        mut value: lockbox_core::Sensitive<serde_json::Value>,
    ) -> Result<(lockbox_core::Sensitive<serde_json::Value>, Taint)> {
        let mut refs: Vec<String> = Vec::new();
        // EXPOSE: the value's strings are scanned for references, in place.
        collect_references(value.expose(), &mut refs)?;
        let mut taint = Taint::default();
        if refs.is_empty() {
            return Ok((value, taint));
        }
        let mut table: HashMap<String, ResolvedReference> = HashMap::new();
        for r in refs {
            let resolved = self.resolve_reference(p, &r).await?;
            if !taint.sources.contains(&resolved.secret.name) {
                taint.sources.push(resolved.secret.name.clone());
            }
            taint.restricted |= resolved.visibility == Visibility::Restricted;
            if !resolved.secret.allowed_hosts.is_empty() {
                taint.hosts = match taint.hosts.take() {
                    None => Some(resolved.secret.allowed_hosts.clone()),
                    Some(h) => Some(intersect_hosts(&h, &resolved.secret.allowed_hosts).ok_or_else(|| {
                        Error::forbidden(format!(
                            "the value combines secrets whose allowed_hosts share no host ('{}'): it could \
                             be sent nowhere",
                            taint.sources.join("', '")
                        ))
                    })?),
                };
            }
            table.insert(r, resolved);
        }
        splice_references(value.expose_mut(), &table)?;
        Ok((value, taint))
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
            // EXPOSE: only whether the field exists is read.
            if doc.expose().get(f).is_none() {
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

    /// Opens a reference's claims for the run that presents it: tampered
    /// (`invalid`), another run's (`forbidden`), expired (`expired`, unless
    /// `allow_expired`: redaction still masks what a run used).
    fn open_reference(
        &self,
        run: &RunContext,
        reference: &str,
        allow_expired: bool,
    ) -> Result<RefClaims> {
        let invalid = || {
            Error::invalid(
                "the reference is not valid: it was altered, or not issued by this deployment",
            )
        };
        let sealed = reference
            .strip_prefix(REFERENCE_PREFIX)
            .ok_or_else(|| Error::invalid("a reference starts with '$secret:'"))?;
        let plain = self
            .keyring
            .open_token(TokenPurpose::SecretReference, sealed)
            .map_err(|_| invalid())?;
        let claims: RefClaims = serde_json::from_slice(&plain).map_err(|_| invalid())?;
        if claims.r != run.run_id || claims.w != run.workspace_id {
            return Err(Error::forbidden("the reference belongs to another run"));
        }
        if !allow_expired && Timestamp(claims.e) <= self.clock.now() {
            return Err(Error::new(
                ErrorCode::Expired,
                "the reference has expired; call secrets.get again right before using it",
            ));
        }
        Ok(claims)
    }

    /// The secret row a reference names, if it is still this run's to use.
    async fn referenced_row(
        &self,
        p: &Principal,
        run: &RunContext,
        secret_id: &str,
    ) -> Result<lockbox_store::SecretRow> {
        let gone = || Error::not_found("the secret behind the reference was deleted");
        let row = match self.secrets_by_id.get(&secret_id.to_owned()) {
            Some(row) => row,
            None => {
                let row = self
                    .store
                    .secret_by_id(secret_id)
                    .await
                    .map_err(store_err)?
                    .ok_or_else(gone)?;
                self.secrets_by_id.put(secret_id.to_owned(), row.clone());
                row
            }
        };
        if row.workspace_id != run.workspace_id
            || row.expires_at.is_some_and(|e| e <= self.clock.now())
        {
            return Err(gone());
        }
        if row.scope == Scope::User {
            if !run.user_scope_available() {
                return Err(Error::user_required());
            }
            if p.user.as_ref().map(|u| u.id.as_str()) != Some(row.owner.as_str()) {
                return Err(Error::forbidden("the reference belongs to another run"));
            }
        }
        Ok(row)
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
        let claims = self.open_reference(run, reference, false)?;
        let gone = || Error::not_found("the secret behind the reference was deleted");
        let row = self.referenced_row(p, run, &claims.s).await?;
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
                // EXPOSE: the field's value becomes the resolved (wiped) value.
                let leaf = doc.expose().get(f).ok_or_else(|| {
                    Error::not_found(format!("secret '{}' has no field '{f}'", row.name))
                })?;
                SecretValue::from_json_bytes(serde_json::to_vec(leaf).map_err(Error::internal)?)
            }
        };
        // Substitution text: a JSON string's own characters, other JSON as JSON.
        let doc = value.to_json()?;
        // EXPOSE: a string's characters are copied into a (wiped) SecretValue.
        let (text, non_string) = match doc.expose() {
            serde_json::Value::String(s) => {
                (SecretValue::from_json_bytes(s.as_bytes().to_vec()), false)
            }
            _ => (value, true),
        };
        drop(doc);
        // A value put to use is kept out of this process's own log output too
        // (defense in depth: nothing is meant to log it).
        // EXPOSE: registered with the log redactor, which only ever masks it.
        let plain = text.expose();
        lockbox_redact::global::register(&row.name, plain, std::time::Duration::from_secs(600));
        Ok(ResolvedReference {
            secret: Resolved {
                name: row.name,
                secret_id: row.id,
                value: text,
                allowed_hosts: crate::policy_seal::authenticated_hosts(&v, row.allowed_hosts),
            },
            version: claims.v,
            non_string,
            visibility: row.visibility,
        })
    }

    /// A redactor over the secret versions behind `references`: what this run has
    /// resolved or stored (it holds their references). Never anything else the run
    /// can reach, so a run cannot test guesses against values it never used.
    /// Expired references still count (a run's late log lines are still masked).
    ///
    /// The union of per-version pattern sets built once per process and shared by
    /// every run that uses the version (see `redactors.rs`): a write to another
    /// secret costs this run nothing, a change to one it uses rebuilds only that
    /// secret's sets.
    pub async fn run_redactor(
        &self,
        p: &Principal,
        references: &[String],
    ) -> Result<Arc<lockbox_redact::Redactor>> {
        let run = self.run_of(p)?;
        if references.len() > MAX_REDACT_REFERENCES {
            return Err(Error::invalid(format!(
                "at most {MAX_REDACT_REFERENCES} references per redaction"
            )));
        }
        let mut versions: Vec<(String, u64)> = Vec::new();
        for r in references {
            // Another run's reference (or a made-up one) adds nothing: it masks
            // nothing, so it cannot be used to test guesses either.
            let Ok(c) = self.open_reference(run, r, true) else {
                continue;
            };
            versions.push((c.s, c.v));
        }
        versions.sort();
        versions.dedup();
        if let Some(r) = self.redactors.cached_union(&run.run_id, &versions) {
            return Ok(r);
        }
        let ws = self.workspace(&run.workspace).await?;
        let mut sets = Vec::with_capacity(versions.len());
        for key in &versions {
            // A secret deleted since is no longer masked (its value is gone for the
            // run too); one that cannot be read for another reason fails closed.
            let row = match self.referenced_row(p, run, &key.0).await {
                Ok(row) => row,
                Err(e) if e.code == ErrorCode::NotFound => continue,
                Err(e) => return Err(e),
            };
            let set = self
                .redactors
                .version_set(key, || self.version_pattern_set(&ws, &row, key.1))
                .await?;
            sets.push((key.clone(), set));
        }
        Ok(self.redactors.store_union(&run.run_id, versions, sets))
    }

    /// Every form of one secret version's value, under the secret's name.
    /// Soft-deleted values are still masked; destroyed (or pruned) ones are gone.
    async fn version_pattern_set(
        &self,
        ws: &lockbox_store::WorkspaceRow,
        row: &lockbox_store::SecretRow,
        version: u64,
    ) -> Result<lockbox_redact::PatternSet> {
        let opts = lockbox_redact::Options::default();
        let v = self.version_row(&row.id, version).await?;
        let Some(v) = v.filter(|v| !v.destroyed) else {
            return Ok(lockbox_redact::PatternSet::new(&[], opts));
        };
        let value = self.open_sealed(ws, row, &v).await?.to_json()?;
        Ok(lockbox_redact::PatternSet::with_json(
            // EXPOSE: handed to the redaction set, which only ever masks it.
            &[(row.name.as_str(), value.expose())],
            opts,
        ))
    }

    /// How much the run redactors' cache has built and holds.
    pub fn redactor_stats(&self) -> crate::redactors::RedactorStats {
        self.redactors.stats()
    }

    /// `/v1/run/redact` (and the flow runtime's own masking): masks, in `lines` and
    /// `event`, the values behind `references`. Rate limited per run, and audited
    /// with counts only (`run.redact`), because every masked line says that a guess
    /// matched.
    pub async fn run_redact(
        &self,
        p: &Principal,
        references: &[String],
        lines: Option<Vec<String>>,
        event: Option<serde_json::Value>,
        ctx: &RequestCtx,
    ) -> Result<(Option<Vec<String>>, Option<serde_json::Value>)> {
        let run = self.run_of(p)?;
        if !self
            .redact_budget
            .take(&run.run_id, self.clock.now().millis())
        {
            let err = Error::new(
                ErrorCode::RateLimited,
                format!("at most {REDACT_CALLS_PER_MINUTE} redactions per run per minute"),
            );
            return Err(self
                .refuse(p, Some(&run.workspace_id), "run.redact", None, err, ctx)
                .await);
        }
        let redactor = self.run_redactor(p, references).await?;
        let mut masked = 0usize;
        let mut bytes = 0usize;
        let lines_in = lines.as_ref().map_or(0, Vec::len);
        let lines = lines.map(|ls| {
            ls.into_iter()
                .map(|l| {
                    bytes += l.len();
                    match redactor.redact_str(&l) {
                        std::borrow::Cow::Borrowed(_) => l,
                        std::borrow::Cow::Owned(o) => {
                            masked += 1;
                            o
                        }
                    }
                })
                .collect()
        });
        let event = event.map(|mut e| {
            let before = e.clone();
            bytes += serde_json::to_vec(&e).map_or(0, |b| b.len());
            redactor.redact_json(&mut e);
            if e != before {
                masked += 1;
            }
            e
        });
        let audit = self.record(
            p,
            Some(&run.workspace_id),
            "run.redact",
            None,
            ctx,
            serde_json::json!({"run": run.run_id, "references": references.len(), "lines": lines_in,
                "event": event.is_some(), "bytes": bytes, "masked": masked}),
        );
        self.store
            .append_audit(vec![audit])
            .await
            .map_err(store_err)?;
        Ok((lines, event))
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

    /// Audits one egress call of a run, the row committed before this returns
    /// (a refused call: its answer waits on the row).
    pub async fn record_egress(&self, p: &Principal, rec: EgressRecord, ctx: &RequestCtx) {
        let Some(audit) = self.egress_row(p, rec, ctx) else {
            return;
        };
        if let Err(e) = self.store.append_audit(vec![audit]).await {
            tracing::error!(error = %e, "could not write the audit row of an egress call");
        }
    }

    /// Audits one finished egress call of a run without waiting for the row's
    /// commit: it joins the store's next group commit while the answer goes out
    /// (the store logs a failure).
    pub fn queue_egress_record(&self, p: &Principal, rec: EgressRecord, ctx: &RequestCtx) {
        if let Some(audit) = self.egress_row(p, rec, ctx) {
            self.store.queue_audit(vec![audit]);
        }
    }

    /// The `egress.fetch` row of one call (None for a caller that is not a run).
    fn egress_row(
        &self,
        p: &Principal,
        rec: EgressRecord,
        ctx: &RequestCtx,
    ) -> Option<AuditRecord> {
        let run = p.run.as_ref()?;
        let mut detail = serde_json::json!({
            "run": run.run_id,
            "method": rec.attempt.method,
            "host": rec.attempt.host,
            "status": rec.status,
            "bytes": rec.bytes,
            "secrets": rec.attempt.used.iter().map(|u| serde_json::json!({"name": u.name, "id": u.secret_id})).collect::<Vec<_>>(),
        });
        if let Some(name) = &rec.attempt.url_secret {
            detail["url_secret"] = serde_json::json!(name);
        }
        let target = (!rec.attempt.host.is_empty()).then_some(rec.attempt.host.as_str());
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
        Some(audit)
    }
}

/// Every distinct reference in `value`'s strings (keys may not hold one).
fn collect_references(value: &serde_json::Value, out: &mut Vec<String>) -> Result<()> {
    match value {
        serde_json::Value::String(s) => {
            for r in find_references(s)? {
                let r = s[r].to_owned();
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        serde_json::Value::Array(a) => {
            for x in a {
                collect_references(x, out)?;
            }
        }
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                if k.contains(REFERENCE_PREFIX) {
                    return Err(Error::invalid(
                        "references go in a value's strings, not in its keys",
                    ));
                }
                collect_references(x, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Puts resolved values in place of references (see [`Lockbox::run_set_secret`]).
fn splice_references(
    value: &mut serde_json::Value,
    table: &HashMap<String, ResolvedReference>,
) -> Result<()> {
    match value {
        serde_json::Value::String(s) => {
            let ranges = find_references(s)?;
            if ranges.is_empty() {
                return Ok(());
            }
            if ranges.len() == 1 && ranges[0] == (0..s.len()) {
                if let Some(r) = table.get(s.as_str()).filter(|r| r.non_string) {
                    // EXPOSE: the value becomes part of the secret being stored, sealed next.
                    *value = serde_json::from_slice(r.secret.value.expose())
                        .map_err(|_| Error::internal("a resolved value is not JSON"))?;
                    return Ok(());
                }
            }
            let mut out = String::with_capacity(s.len() + 64);
            let mut last = 0;
            for r in ranges {
                out.push_str(&s[last..r.start]);
                let resolved = table.get(&s[r.clone()]).ok_or_else(|| {
                    Error::internal("reference was not resolved before substitution")
                })?;
                // EXPOSE: the value becomes part of the secret being stored, sealed next.
                out.push_str(&String::from_utf8_lossy(resolved.secret.value.expose()));
                last = r.end;
            }
            out.push_str(&s[last..]);
            // The text it replaces is the run's plaintext too: wiped, not just freed.
            std::mem::replace(s, out).wipe();
        }
        serde_json::Value::Array(a) => {
            for x in a {
                splice_references(x, table)?;
            }
        }
        serde_json::Value::Object(o) => {
            for (_, x) in o.iter_mut() {
                splice_references(x, table)?;
            }
        }
        _ => {}
    }
    Ok(())
}
