//! The console's actions (POST): sign-in and sign-out, create, edit, delete and
//! reveal secrets, members and tokens. Each goes through a CSRF-checking extractor
//! (`session.rs`), calls the service with the session's principal, and answers with
//! a redirect (success) or the page again with the error next to its field.
//!
//! Only `reveal` answers with a value, as JSON to the console script, after the
//! service has authorized and audited it. A value typed into a form is never
//! rendered back into a page, not even after a validation error.

use super::pages::{self, Flow, Notice, Panel};
use super::session::{self, Console, ConsoleForm, PublicForm};
use super::view;
use crate::extract::{ApiPath, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use lockbox_core::{Error, ErrorCode, Role, Scope, SecretName, TokenName, UserName, Visibility};
use lockbox_service::{PutSecret, SecretSettingsPatch, SessionSeal, ValueKind};
use serde::Deserialize;
use zeroize::Zeroizing;

/// The list page after a secret form: the notice, and the list as the user left
/// it (search, sort, page; `list` is the page's query string, which the script puts
/// in the form; only those keys pass).
fn secrets_url(ws: &str, done: &str, name: &str, list: &str) -> String {
    const KEPT: [&str; 5] = ["q", "sort", "dir", "page", "mpage"];
    let mut pairs: Vec<(String, String)> =
        vec![("done".into(), done.into()), ("name".into(), name.into())];
    if list.len() <= 2048 {
        let state: Vec<(String, String)> = serde_urlencoded::from_str(list).unwrap_or_default();
        for (k, v) in state {
            if KEPT.contains(&k.as_str()) && v.len() <= 512 && !pairs.iter().any(|(p, _)| *p == k) {
                pairs.push((k, v));
            }
        }
    }
    let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("/console/w/{ws}/secrets?{q}")
}

fn parse_scope(s: &str) -> Result<Scope, Error> {
    match s {
        "" => Ok(Scope::Workspace),
        s => Scope::parse(s),
    }
}

// ---- sign-in, sign-out

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    token: String,
    /// Where to return after signing in (validated: a console path).
    #[serde(default)]
    next: String,
}

/// Post/redirect/get for a failed sign-in: back to the sign-in page with the
/// error's stable code (the page words it; no free text in the URL) and `next`.
fn sign_in_failed(code: ErrorCode, next: Option<&str>) -> Response {
    let mut pairs = vec![("failed", code.as_str())];
    if let Some(n) = next {
        pairs.push(("next", n));
    }
    let q = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    Redirect::to(&format!("/console/sign-in?{q}")).into_response()
}

pub async fn sign_in(State(st): State<AppState>, f: PublicForm<SignInForm>) -> Response {
    let next = session::safe_next(&f.form.next);
    if f.form.token.trim().is_empty() {
        return sign_in_failed(ErrorCode::Invalid, next.as_deref());
    }
    match st.svc.sign_in(&f.form.token, &f.ctx).await {
        Ok(ns) => {
            let max_age = ns.session.max_age_seconds(st.svc.now());
            let mut r = Redirect::to(next.as_deref().unwrap_or("/console/")).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                session::set_cookie(f.tls, &ns.secret, max_age),
            );
            r
        }
        Err(e) => sign_in_failed(e.code, next.as_deref()),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn sign_out(State(st): State<AppState>, f: ConsoleForm<Empty>) -> Response {
    let c = f.console;
    if let Err(e) = st.svc.sign_out(&c.session, &c.ctx).await {
        if e.code != ErrorCode::Unauthenticated {
            return pages::fail(&c, e);
        }
    }
    let mut r = Redirect::to("/console/sign-in").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(c.tls));
    r
}

// ---- secrets

#[derive(Deserialize)]
pub struct SecretForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    new_name: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    visibility: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    q: String,
    /// The version the edit form was opened on (compare-and-set).
    #[serde(default)]
    version: String,
    /// `text`, `json`, or empty: keep the type of the current value (edit).
    #[serde(default)]
    kind: String,
    /// "Rename anyway and move the bindings" (a rename of a secret flows use).
    #[serde(default)]
    force: String,
    /// `secret`: the form is on the secret page, so errors show there.
    #[serde(default)]
    from: String,
    /// The list's query string when the form was sent (search, sort, page), to
    /// return to it.
    #[serde(default)]
    list: String,
}

impl SecretForm {
    fn panel(&self, kind: &'static str) -> Panel {
        Panel {
            kind,
            name: self.name.clone(),
            new_name: self.new_name.clone(),
            description: self.description.clone(),
            visibility: self.visibility.clone(),
            scope: self.scope.clone(),
            version: self.version.trim().to_owned(),
            value_kind: match self.kind.as_str() {
                k @ ("text" | "json") => k.to_owned(),
                _ => String::new(),
            },
            force: !self.force.is_empty(),
            ..Panel::default()
        }
    }

    /// The page the form came from, again, with the panel's errors.
    async fn again(
        &self,
        st: &AppState,
        c: &Console,
        ws: &str,
        panel: Panel,
        status: StatusCode,
    ) -> Response {
        if self.from == "secret" {
            let scope = parse_scope(&self.scope).unwrap_or(Scope::Workspace);
            pages::secret_again(c, ws, &self.name, scope, panel)
        } else {
            pages::render_secrets(st, c, ws, &self.q, None, Some(panel), status).await
        }
    }
}

/// The typed value as JSON: a string (line breaks kept, the browser's CRLF made
/// LF) or, for the JSON type, the parsed document. The error is in words and
/// names a position, never any part of the value.
fn form_value(raw: String, json: bool) -> Result<serde_json::Value, String> {
    if json {
        serde_json::from_str(&raw).map_err(|e| {
            format!(
                "invalid: this is not valid JSON (line {}, column {}); fix it, or choose the type Text",
                e.line(),
                e.column()
            )
        })
    } else if raw.contains('\r') {
        Ok(serde_json::Value::String(raw.replace("\r\n", "\n")))
    } else {
        Ok(serde_json::Value::String(raw))
    }
}

/// "Changed by X at T since you opened it": a stale edit, never an overwrite.
async fn stale(
    st: &AppState,
    c: &Console,
    ws: &str,
    scope: Scope,
    name: &SecretName,
    seen: u64,
    panel: &mut Panel,
) {
    let p = &c.session.principal;
    let (by, at, now) = match st.svc.secret_metadata(p, ws, scope, name, &c.ctx).await {
        Ok(m) => (m.updated_by, pages::when(&m.updated_at), m.version),
        Err(_) => ("someone".to_owned(), "a moment ago".to_owned(), 0),
    };
    panel.code = Some(ErrorCode::VersionMismatch.as_str());
    panel.error = Some(format!(
        "'{name}' was changed by {by} at {at} since you opened it (you opened version {seen}; it is now version {now}). Nothing was saved. Review the change, then edit again."
    ));
    panel.review = Some(pages::secret_url(ws, name.as_str(), scope));
}

/// The fields a secret form shows errors next to (the rest go to the top).
const SECRET_FORM_FIELDS: [&str; 4] = ["name", "value", "description", "visibility"];

/// `code: message` next to a form field.
fn field_text(e: &Error) -> String {
    format!("{}: {}", e.code, e.message)
}

/// Puts a service error next to the field it names (`Error::field`), or at the
/// top of the panel; an internal error shows the request id, never its cause.
fn place_error(panel: &mut Panel, e: Error, request_id: Option<&str>) {
    match e.field.filter(|f| SECRET_FORM_FIELDS.contains(f)) {
        Some(f) if e.code != ErrorCode::Internal => {
            panel.errors.insert(f, field_text(&e));
        }
        _ => {
            panel.code = Some(e.code.as_str());
            panel.error = Some(view::shown(&e, request_id));
        }
    }
}

/// Errors shown as a page of their own rather than inside a panel: the session
/// ended, or the role may not do this at all (editors have no panel to show it in).
fn refused(e: &Error) -> bool {
    matches!(e.code, ErrorCode::Unauthenticated | ErrorCode::Forbidden)
}

fn status_for(e: &Error) -> StatusCode {
    crate::error::status_of(e.code)
}

pub async fn create_secret(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<SecretForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let mut panel = f.panel("new");
    let name = SecretName::parse(&f.name)
        .map_err(|e| panel.errors.insert("name", field_text(&e)))
        .ok();
    if f.value.is_empty() {
        panel
            .errors
            .insert("value", "invalid: enter the secret's value".into());
    }
    let visibility = Visibility::parse(&f.visibility)
        .map_err(|e| panel.errors.insert("visibility", field_text(&e)))
        .ok();
    let scope = match parse_scope(&f.scope) {
        Ok(s) => s,
        Err(e) => return pages::fail(&c, e),
    };
    let (Some(name), Some(visibility)) = (name, visibility) else {
        return pages::render_secrets(
            &st,
            &c,
            &ws,
            &f.q,
            None,
            Some(panel),
            StatusCode::BAD_REQUEST,
        )
        .await;
    };
    if !panel.errors.is_empty() {
        return pages::render_secrets(
            &st,
            &c,
            &ws,
            &f.q,
            None,
            Some(panel),
            StatusCode::BAD_REQUEST,
        )
        .await;
    }
    let value = match form_value(f.value, f.kind == "json") {
        Ok(v) => v,
        Err(m) => {
            panel.errors.insert("value", m);
            return pages::render_secrets(
                &st,
                &c,
                &ws,
                &f.q,
                None,
                Some(panel),
                StatusCode::BAD_REQUEST,
            )
            .await;
        }
    };
    let req = PutSecret {
        value: value.into(),
        description: Some(f.description.clone()).filter(|d| !d.is_empty()),
        visibility: Some(visibility),
        ttl_seconds: None,
        if_match: None,
        allowed_hosts: None,
        create_only: true,
        labels: None,
    };
    match st
        .svc
        .put_secret(&c.session.principal, &ws, scope, &name, req, &c.ctx)
        .await
    {
        Ok(_) => Redirect::to(&secrets_url(&ws, "created", name.as_str(), &f.list)).into_response(),
        Err(e) if refused(&e) => pages::fail(&c, e),
        Err(e) if e.code == ErrorCode::VersionMismatch => {
            panel.errors.insert(
                "name",
                "conflict: a secret with this name already exists".into(),
            );
            pages::render_secrets(&st, &c, &ws, &f.q, None, Some(panel), StatusCode::CONFLICT).await
        }
        Err(e) => {
            let status = status_for(&e);
            place_error(&mut panel, e, c.ctx.request_id.as_deref());
            pages::render_secrets(&st, &c, &ws, &f.q, None, Some(panel), status).await
        }
    }
}

pub async fn edit_secret(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<SecretForm>,
) -> Response {
    let (c, mut f) = (f.console, f.form);
    let mut panel = f.panel("edit");
    let p = &c.session.principal;
    let scope = match parse_scope(&f.scope) {
        Ok(s) => s,
        Err(e) => return pages::fail(&c, e),
    };
    let name = match SecretName::parse(&f.name) {
        Ok(n) => n,
        Err(e) => return pages::fail(&c, e),
    };
    let new_name = match f.new_name.trim() {
        "" => None,
        n if n == name.as_str() => None,
        n => match SecretName::parse(n) {
            Ok(n) => Some(n),
            Err(e) => {
                panel.errors.insert("name", field_text(&e));
                None
            }
        },
    };
    // The version the form was opened on; a form without one (an old page) edits
    // what is current, as before.
    let seen = match f.version.trim() {
        "" => None,
        v => match v.parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => return pages::fail(&c, Error::invalid("the form's version is not a number")),
        },
    };
    if !panel.errors.is_empty() {
        return f.again(&st, &c, &ws, panel, StatusCode::BAD_REQUEST).await;
    }
    // Edit what exists (never create by accident), and only the version the user saw.
    let current = match st.svc.secret_metadata(p, &ws, scope, &name, &c.ctx).await {
        Ok(m) => m,
        Err(e) => {
            let status = status_for(&e);
            place_error(&mut panel, e, c.ctx.request_id.as_deref());
            return f.again(&st, &c, &ws, panel, status).await;
        }
    };
    let seen = seen.unwrap_or(current.version);
    if current.version != seen {
        stale(&st, &c, &ws, scope, &name, seen, &mut panel).await;
        return f.again(&st, &c, &ws, panel, StatusCode::CONFLICT).await;
    }
    // The new value, as text or as JSON (the type chosen, or the current value's).
    let value = if f.value.is_empty() {
        None
    } else {
        let json = match f.kind.as_str() {
            "json" => true,
            "text" => false,
            _ => match st.svc.value_kind(p, &ws, scope, &name, &c.ctx).await {
                Ok(k) => k == ValueKind::Json,
                Err(e) if refused(&e) => return pages::fail(&c, e),
                Err(_) => false,
            },
        };
        match form_value(std::mem::take(&mut f.value), json) {
            Ok(v) => Some(v),
            Err(m) => {
                panel.errors.insert("value", m);
                return f.again(&st, &c, &ws, panel, StatusCode::BAD_REQUEST).await;
            }
        }
    };
    let mut target = name.clone();
    if let Some(n) = new_name {
        let force = !f.force.is_empty();
        match st
            .svc
            .rename_secret(p, &ws, scope, &name, &n, force, &c.ctx)
            .await
        {
            Ok(_) => {
                target = n;
                panel.name = target.as_str().to_owned();
            }
            Err(e) => {
                let status = status_for(&e);
                if e.code == ErrorCode::SecretInUse {
                    let flows: Vec<Flow> = current
                        .bindings
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .map(Flow::from)
                        .collect();
                    let names: Vec<&str> = flows.iter().map(|f| f.owner.as_str()).collect();
                    panel.errors.insert(
                        "name",
                        format!(
                            "'{name}' is used by {} ({}); renaming it would break {}. Tick \"Rename anyway and move the bindings\" to rename it and move those uses to the new name.",
                            plural(names.len(), "flow"),
                            names.join(", "),
                            if names.len() == 1 { "it" } else { "them" }
                        ),
                    );
                    panel.rename_blocked = true;
                    panel.flows = flows;
                } else if e.code == ErrorCode::Internal {
                    place_error(&mut panel, e, c.ctx.request_id.as_deref());
                } else {
                    // Every other refusal of a rename is about the new name.
                    panel.errors.insert("name", field_text(&e));
                }
                return f.again(&st, &c, &ws, panel, status).await;
            }
        }
    }
    let saved = match value {
        None => {
            // A blank value keeps the stored one: only the description changes, and
            // no new version is written (an admin never needs to know a restricted
            // value to fix its description).
            let patch = SecretSettingsPatch {
                description: Some(f.description.clone()),
                ..SecretSettingsPatch::default()
            };
            st.svc
                .update_secret_settings(p, &ws, scope, &target, patch, &c.ctx)
                .await
                .map(drop)
        }
        Some(value) => {
            let req = PutSecret {
                value: value.into(),
                description: Some(f.description.clone()),
                visibility: None,
                ttl_seconds: None,
                if_match: Some(seen),
                allowed_hosts: None,
                create_only: false,
                labels: None,
            };
            st.svc
                .put_secret(p, &ws, scope, &target, req, &c.ctx)
                .await
                .map(drop)
        }
    };
    match saved {
        Ok(()) if f.from == "secret" => Redirect::to(&format!(
            "{}&done=updated",
            pages::secret_url(&ws, target.as_str(), scope)
        ))
        .into_response(),
        Ok(()) => {
            Redirect::to(&secrets_url(&ws, "updated", target.as_str(), &f.list)).into_response()
        }
        Err(e) if refused(&e) => pages::fail(&c, e),
        Err(e) if e.code == ErrorCode::VersionMismatch => {
            stale(&st, &c, &ws, scope, &target, seen, &mut panel).await;
            f.again(&st, &c, &ws, panel, StatusCode::CONFLICT).await
        }
        Err(e) => {
            let status = status_for(&e);
            place_error(&mut panel, e, c.ctx.request_id.as_deref());
            f.again(&st, &c, &ws, panel, status).await
        }
    }
}

/// "1 flow", "2 flows".
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[derive(Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    version: String,
}

/// Rolls a secret back to an old version (a new version equal to it), then
/// back to the secret page (post/redirect/get).
pub async fn rollback_secret(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<RollbackForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let scope = match parse_scope(&f.scope) {
        Ok(s) => s,
        Err(e) => return pages::fail(&c, e),
    };
    let name = match SecretName::parse(&f.name) {
        Ok(n) => n,
        Err(e) => return pages::fail(&c, e),
    };
    let Ok(to) = f.version.trim().parse::<u64>() else {
        return pages::fail(&c, Error::invalid("choose a version to roll back to"));
    };
    match st
        .svc
        .rollback_secret(&c.session.principal, &ws, scope, &name, to, &c.ctx)
        .await
    {
        Ok(m) => Redirect::to(&format!(
            "{}&done=rolled-back&from={to}&to={}",
            pages::secret_url(&ws, name.as_str(), scope),
            m.version
        ))
        .into_response(),
        Err(e) if refused(&e) => pages::fail(&c, e),
        Err(e) => {
            let panel = Panel {
                kind: "rollback",
                name: name.as_str().to_owned(),
                code: Some(e.code.as_str()),
                error: Some(view::shown(&e, c.ctx.request_id.as_deref())),
                ..Panel::default()
            };
            pages::secret_again(&c, &ws, name.as_str(), scope, panel)
        }
    }
}

pub async fn delete_secret(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<SecretForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let mut panel = f.panel("delete");
    let p = &c.session.principal;
    let scope = match parse_scope(&f.scope) {
        Ok(s) => s,
        Err(e) => return pages::fail(&c, e),
    };
    let name = match SecretName::parse(&f.name) {
        Ok(n) => n,
        Err(e) => return pages::fail(&c, e),
    };
    match st
        .svc
        .delete_secret(p, &ws, scope, &name, false, &c.ctx)
        .await
    {
        Ok(()) => {
            Redirect::to(&secrets_url(&ws, "deleted", name.as_str(), &f.list)).into_response()
        }
        Err(e) if refused(&e) => pages::fail(&c, e),
        Err(e) => {
            let status = status_for(&e);
            if e.code == ErrorCode::SecretInUse {
                if let Ok(m) = st.svc.secret_metadata(p, &ws, scope, &name, &c.ctx).await {
                    panel.flows = m
                        .bindings
                        .unwrap_or_default()
                        .iter()
                        .map(Flow::from)
                        .collect();
                }
            }
            panel.code = Some(e.code.as_str());
            panel.error = Some(if e.code == ErrorCode::SecretInUse {
                format!("'{name}' is used by the flows below; remove those uses first.")
            } else {
                view::shown(&e, c.ctx.request_id.as_deref())
            });
            pages::render_secrets(&st, &c, &ws, &f.q, None, Some(panel), status).await
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealBody {
    name: String,
    #[serde(default)]
    scope: String,
}

/// The one console answer that carries a value: JSON for the script, after the
/// service authorized and audited the reveal.
pub async fn reveal(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    c: Console,
    JsonBody(b): JsonBody<RevealBody>,
) -> Response {
    let fail = |e: Error| view::error_response(&e, c.ctx.request_id.as_deref(), true);
    let scope = match parse_scope(&b.scope) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let name = match SecretName::parse(&b.name) {
        Ok(n) => n,
        Err(e) => return fail(e),
    };
    match st
        .svc
        .reveal_secret(&c.session.principal, &ws, scope, &name, None, &c.ctx)
        .await
    {
        Ok((value, version)) => {
            let mut body = Vec::with_capacity(value.len() + 32);
            body.extend_from_slice(b"{\"value\":");
            // EXPOSE: an authorized, audited reveal is the one console answer with a value.
            body.extend_from_slice(value.expose());
            body.extend_from_slice(format!(",\"version\":{version}}}").as_bytes());
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(e) => fail(e),
    }
}

// ---- members

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    role: String,
    /// One-time nonce of the invite form (an invite may mint a token).
    #[serde(default)]
    nonce: String,
}

/// Post/redirect/get: the notice goes to the session's flash and the browser to
/// `page` (a `303`), so reloading shows the page, never sends the form again. A
/// notice with a fresh token travels instead in a cookie sealed for this session,
/// so the page shows it once on whichever node serves it.
fn back(st: &AppState, c: &Console, mut notice: Notice, page: String) -> Response {
    let sealed = notice.token.take().map(|token| {
        let note = Zeroizing::new(
            serde_json::json!({"text": notice.text.take(), "token": token}).to_string(),
        );
        st.svc.seal_for_session(
            &c.session,
            SessionSeal::Note,
            note.as_bytes(),
            super::session::NOTE_TTL_SECONDS,
        )
    });
    super::flash::put(
        &c.session.id,
        super::flash::Flash {
            notice,
            ..Default::default()
        },
    );
    let mut r = Redirect::to(&page).into_response();
    if let Some(sealed) = sealed {
        r.headers_mut().append(
            header::SET_COOKIE,
            super::session::note_cookie(c.tls, Some(&sealed)),
        );
    }
    r
}

/// A form sent twice (a double click, a reload of an old answer, a replay): its
/// one-time nonce is spent, so nothing is done again.
fn replayed() -> Error {
    Error::conflict(
        "This form was already sent (a double click, or a reload after sending it), \
         so nothing was done a second time. Check the list below.",
    )
}

/// A refused member or token action as a notice: the public text (an internal
/// error names the request id; its cause goes to the log).
fn notice_err(c: &Console, e: Error) -> (Notice, StatusCode) {
    let status = status_for(&e);
    (
        Notice {
            code: Some(e.code.as_str()),
            error: Some(view::shown(&e, c.ctx.request_id.as_deref())),
            ..Notice::default()
        },
        status,
    )
}

pub async fn add_member(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<MemberForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let run = async {
        // A spent nonce is a replay; but one who may not invite at all is
        // refused (and audited) by the service, as without a nonce.
        if !super::flash::use_nonce(&st.svc, &c.session, &f.nonce)
            && pages::layout(&st, &c, &ws, "members")
                .await
                .is_ok_and(|l| l.can_members)
        {
            return Err(replayed());
        }
        let user = UserName::parse(f.user.trim())?;
        let role = Role::parse(&f.role)?;
        st.svc
            .add_member(&c.session.principal, &ws, &user, role, &c.ctx)
            .await
    };
    let (notice, _status) = match run.await {
        Ok(added) => (
            Notice {
                text: Some(match &added.token {
                    Some(_) => format!(
                        "Invited new user '{}' as {}. Give them this token now; it is shown once:",
                        added.user, added.role
                    ),
                    None => format!("Added '{}' as {}.", added.user, added.role),
                }),
                // The console's notice seals it for this session's next page.
                token: added.token.map(lockbox_core::Sensitive::into_exposed),
                ..Notice::default()
            },
            StatusCode::OK,
        ),
        Err(e) if refused(&e) => return pages::fail(&c, e),
        Err(e) => {
            let (mut n, s) = notice_err(&c, e);
            n.form = [("user", &f.user), ("role", &f.role)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect();
            (n, s)
        }
    };
    back(&st, &c, notice, format!("/console/w/{ws}/members"))
}

pub async fn set_role(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<MemberForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let run = async {
        let user = UserName::parse(f.user.trim())?;
        let role = Role::parse(&f.role)?;
        st.svc
            .set_member_role(&c.session.principal, &ws, &user, role, &c.ctx)
            .await
    };
    let (notice, _status) = match run.await {
        Ok(m) => (
            Notice {
                text: Some(format!("'{}' is now {}.", m.user, m.role)),
                ..Notice::default()
            },
            StatusCode::OK,
        ),
        Err(e) if refused(&e) => return pages::fail(&c, e),
        Err(e) => notice_err(&c, e),
    };
    back(&st, &c, notice, format!("/console/w/{ws}/members"))
}

pub async fn remove_member(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<MemberForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let run = async {
        let user = UserName::parse(f.user.trim())?;
        st.svc
            .remove_member(&c.session.principal, &ws, &user, &c.ctx)
            .await
            .map(|()| user)
    };
    let (notice, _status) = match run.await {
        Ok(u) => (
            Notice {
                text: Some(format!("Removed '{u}'.")),
                ..Notice::default()
            },
            StatusCode::OK,
        ),
        Err(e) if refused(&e) => return pages::fail(&c, e),
        Err(e) => notice_err(&c, e),
    };
    back(&st, &c, notice, format!("/console/w/{ws}/members"))
}

// ---- tokens

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    /// Days until it expires; empty for never.
    #[serde(default)]
    days: String,
    #[serde(default)]
    id: String,
    /// One-time nonce of the create form.
    #[serde(default)]
    nonce: String,
}

pub async fn create_token(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<TokenForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let run = async {
        if !super::flash::use_nonce(&st.svc, &c.session, &f.nonce)
            && pages::layout(&st, &c, &ws, "tokens")
                .await
                .is_ok_and(|l| l.can_tokens)
        {
            return Err(replayed());
        }
        let name = TokenName::parse(&f.name)?;
        let role = Role::parse(&f.role)?;
        let ttl = match f.days.trim() {
            "" => None,
            d => Some(
                d.parse::<u64>()
                    .ok()
                    .filter(|d| *d > 0)
                    .ok_or_else(|| Error::invalid("expiry is a whole number of days"))?
                    .saturating_mul(86_400),
            ),
        };
        st.svc
            .create_service_token(&c.session.principal, &ws, &name, role, ttl, false, &c.ctx)
            .await
    };
    let (notice, _status) = match run.await {
        Ok(t) => (
            Notice {
                text: Some(format!(
                    "Created service token '{}' ({}). Copy it now; it is shown once:",
                    t.name,
                    t.role.unwrap_or("")
                )),
                token: Some(t.token.into_exposed()),
                ..Notice::default()
            },
            StatusCode::OK,
        ),
        Err(e) if refused(&e) => return pages::fail(&c, e),
        Err(e) => {
            let (mut n, s) = notice_err(&c, e);
            n.form = [("name", &f.name), ("role", &f.role), ("days", &f.days)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect();
            (n, s)
        }
    };
    back(&st, &c, notice, format!("/console/w/{ws}/tokens"))
}

pub async fn revoke_token(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<TokenForm>,
) -> Response {
    let (c, f) = (f.console, f.form);
    let (notice, _status) = match st
        .svc
        .revoke_token(&c.session.principal, f.id.trim(), &c.ctx)
        .await
    {
        Ok(()) => (
            Notice {
                text: Some("Token revoked.".into()),
                ..Notice::default()
            },
            StatusCode::OK,
        ),
        Err(e) if refused(&e) => return pages::fail(&c, e),
        Err(e) => notice_err(&c, e),
    };
    back(&st, &c, notice, format!("/console/w/{ws}/tokens"))
}
