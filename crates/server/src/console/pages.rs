//! The console's pages (GET): home, sign-in, secrets, members, tokens and the 404
//! page (the audit page is audit.rs). Each asks the service for what the session's principal may see and
//! renders it; controls are shown by role (`lockbox_core::allowed`), but the service
//! enforces every rule again on the action. No page ever holds a secret value.

use super::session::{Console, MaybeConsole};
use super::view;
use crate::extract::{ApiPath, ApiQuery};
use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use lockbox_core::{allowed, Action, Actor, Error, ErrorCode, Role, Scope, Visibility};
use lockbox_service::{BindingInfo, ListOptions, ListSort, ListingPage, SecretMeta};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The parts of every signed-in page: who, where, which role, which nav items.
#[derive(Serialize)]
pub struct Layout {
    pub csrf: String,
    pub who: String,
    pub personal: bool,
    pub workspaces: Vec<WsEntry>,
    pub ws: String,
    pub role: &'static str,
    pub can_write: bool,
    pub can_reveal: bool,
    pub can_members: bool,
    pub can_tokens: bool,
    pub can_audit: bool,
    pub allow_rename: bool,
    pub active: &'static str,
}

#[derive(Serialize)]
pub struct WsEntry {
    pub name: String,
    pub role: &'static str,
}

impl Layout {
    pub fn role(&self) -> Role {
        Role::parse(self.role).unwrap_or(Role::Viewer)
    }
}

/// A service error as a page (an ended session goes back to sign-in).
pub fn fail(c: &Console, e: Error) -> Response {
    if e.code == ErrorCode::Unauthenticated {
        return Redirect::to("/console/sign-in").into_response();
    }
    view::error_response(&e, c.ctx.request_id.as_deref(), false)
}

/// Builds the layout for workspace `ws` (its role must exist for the principal).
pub async fn layout(
    st: &AppState,
    c: &Console,
    ws: &str,
    active: &'static str,
) -> Result<Layout, Error> {
    let p = &c.session.principal;
    let me = st.svc.whoami(p).await?;
    let role = me
        .workspaces
        .iter()
        .find(|w| w.name == ws)
        .map(|w| w.role)
        .ok_or_else(|| Error::not_found(format!("workspace '{ws}' not found")))?;
    let r = Role::parse(role)?;
    let can = |a| allowed(Actor::Member(r), a);
    let allow_rename = if can(Action::RenameSecret) {
        st.svc
            .workspace_settings(p, ws, &c.ctx)
            .await
            .map(|s| s.allow_rename)
            .unwrap_or(false)
    } else {
        false
    };
    Ok(Layout {
        csrf: c.session.csrf_token().to_owned(),
        who: me.user.clone().unwrap_or_else(|| me.token.name.clone()),
        personal: me.user.is_some(),
        workspaces: me
            .workspaces
            .into_iter()
            .map(|w| WsEntry {
                name: w.name,
                role: w.role,
            })
            .collect(),
        ws: ws.to_owned(),
        role,
        can_write: can(Action::WriteSecret),
        can_reveal: can(Action::RevealMasked),
        can_members: can(Action::ManageMembers),
        can_tokens: can(Action::ManageTokens),
        can_audit: can(Action::ReadAudit),
        allow_rename,
        active,
    })
}

/// `2026-11-26T12:30:00.123Z` → `2026-11-26 12:30 UTC`.
pub fn when(rfc3339: &str) -> String {
    match rfc3339.get(..16) {
        Some(s) => format!("{} UTC", s.replace('T', " ")),
        None => rfc3339.to_owned(),
    }
}

pub async fn home(State(st): State<AppState>, MaybeConsole(c): MaybeConsole) -> Response {
    let Some(c) = c else {
        return Redirect::to("/console/sign-in").into_response();
    };
    match st.svc.whoami(&c.session.principal).await {
        Ok(me) => match me.workspaces.first() {
            Some(w) => Redirect::to(&format!("/console/w/{}/secrets", w.name)).into_response(),
            None => view::render(
                StatusCode::OK,
                "message.html",
                minijinja::context! {
                    title => "No workspace",
                    message => "You are not a member of any workspace yet. Ask an owner or admin to invite you.",
                    csrf => c.session.csrf_token(),
                    signed_in => true,
                },
            ),
        },
        Err(e) => fail(&c, e),
    }
}

#[derive(Deserialize)]
pub struct GoQuery {
    ws: String,
}

/// The workspace switcher's target (works without JavaScript).
pub async fn go(
    State(st): State<AppState>,
    c: Console,
    ApiQuery(q): ApiQuery<GoQuery>,
) -> Response {
    match st.svc.whoami(&c.session.principal).await {
        Ok(me) => match me.workspaces.iter().find(|w| w.name == q.ws) {
            Some(w) => Redirect::to(&format!("/console/w/{}/secrets", w.name)).into_response(),
            None => view::error_page(
                ErrorCode::NotFound,
                "no such workspace",
                c.ctx.request_id.as_deref(),
            ),
        },
        Err(e) => fail(&c, e),
    }
}

#[derive(Deserialize, Default)]
pub struct NextQuery {
    #[serde(default)]
    next: Option<String>,
    /// The stable code of a failed sign-in (post/redirect/get); worded here.
    #[serde(default)]
    failed: Option<String>,
}

/// A failed sign-in's code, in words (only known codes; the URL is forgeable).
fn sign_in_error(code: &str) -> Option<(&'static str, &'static str)> {
    Some(match code {
        "unauthenticated" => (
            "unauthenticated",
            "That token was not accepted: it is unknown, revoked or expired, or a run token.",
        ),
        "invalid" => ("invalid", "Enter an API token."),
        "rate_limited" => (
            "rate_limited",
            "Too many sign-in attempts: wait a minute and try again.",
        ),
        "unavailable" => (
            "unavailable",
            "The server cannot sign you in just now: try again shortly.",
        ),
        _ => return None,
    })
}

pub async fn sign_in_page(
    MaybeConsole(c): MaybeConsole,
    ApiQuery(q): ApiQuery<NextQuery>,
) -> Response {
    let next = q.next.as_deref().and_then(super::session::safe_next);
    if c.is_some() {
        return Redirect::to(next.as_deref().unwrap_or("/console/")).into_response();
    }
    match q
        .failed
        .as_deref()
        .map(|f| sign_in_error(f).unwrap_or(("error", "Signing in did not work: try again.")))
    {
        Some((code, msg)) => {
            sign_in_form_next(StatusCode::OK, Some(code), Some(msg), next.as_deref())
        }
        None => sign_in_form_next(StatusCode::OK, None, None, next.as_deref()),
    }
}

/// The sign-in page; with `next`, it says the session ended and returns there.
pub fn sign_in_form_next(
    status: StatusCode,
    code: Option<&str>,
    error: Option<&str>,
    next: Option<&str>,
) -> Response {
    view::render(
        status,
        "sign_in.html",
        minijinja::context! { title => "Sign in", code => code, error => error, next => next },
    )
}

pub async fn not_found() -> Response {
    view::error_page(ErrorCode::NotFound, "There is no console page here.", None)
}

// ---- secrets

#[derive(Deserialize, Default)]
pub struct SecretsQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    name: Option<String>,
    /// `name` (default) or `updated`.
    #[serde(default)]
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    page: Option<String>,
    #[serde(default)]
    mpage: Option<String>,
    /// `1`: only the list part of the page (the search box's fetch).
    #[serde(default)]
    fragment: Option<String>,
}

/// What an open side panel or dialog shows after a failed action.
#[derive(Serialize, Default)]
pub struct Panel {
    /// `new`, `edit` or `delete`.
    pub kind: &'static str,
    pub name: String,
    pub new_name: String,
    pub description: String,
    pub visibility: String,
    pub scope: String,
    /// Field name → message, shown next to the field.
    pub errors: BTreeMap<&'static str, String>,
    pub code: Option<&'static str>,
    pub error: Option<String>,
    pub flows: Vec<Flow>,
    /// The version the edit form was opened on.
    pub version: String,
    /// The value type chosen in the form (`text`, `json`, or empty: keep).
    pub value_kind: String,
    /// "Rename anyway and move the bindings" was ticked.
    pub force: bool,
    /// A rename was refused because flows use the secret: offer `force`.
    pub rename_blocked: bool,
    /// A stale edit: where to review what changed (the secret page).
    pub review: Option<String>,
}

/// The secret page's address (names may hold '/', so they go in the query).
pub fn secret_url(ws: &str, name: &str, scope: Scope) -> String {
    let q = serde_urlencoded::to_string([("name", name), ("scope", scope.as_str())])
        .unwrap_or_default();
    format!("/console/w/{ws}/secret?{q}")
}

#[derive(Serialize)]
pub struct Flow {
    pub owner: String,
    pub location: String,
}

impl From<&BindingInfo> for Flow {
    fn from(b: &BindingInfo) -> Self {
        Flow {
            owner: b.owner.clone(),
            location: b.location.clone(),
        }
    }
}

#[derive(Serialize)]
struct Row {
    name: String,
    description: String,
    visibility: &'static str,
    scope: &'static str,
    fingerprint: String,
    version: u64,
    /// The secret page of this row.
    url: String,
    updated: String,
    updated_day: String,
    updated_time: String,
    updated_by: String,
    /// `key=value` per label (searched, so shown).
    labels: Vec<String>,
    can_reveal: bool,
    can_edit: bool,
    can_delete: bool,
    /// Another listed name that looks the same (Unicode confusables, UTS #39).
    looks_like: Option<String>,
}

/// Marks each row whose name differs from another listed name only by
/// characters that look alike (`pаypal` with a Cyrillic `а` beside `paypal`).
fn mark_confusables(rows: &mut [Row]) {
    use unicode_security::confusable_detection::skeleton;
    let skeletons: Vec<String> = rows.iter().map(|r| skeleton(&r.name).collect()).collect();
    for i in 0..rows.len() {
        let twin = (0..rows.len())
            .find(|&j| j != i && skeletons[j] == skeletons[i] && rows[j].name != rows[i].name);
        rows[i].looks_like = twin.map(|j| rows[j].name.clone());
    }
}

fn row(ws: &str, m: SecretMeta, actor: Role) -> Row {
    let can = |a| allowed(Actor::Member(actor), a);
    let scope = Scope::parse(m.scope).unwrap_or(Scope::Workspace);
    Row {
        version: m.version,
        url: secret_url(ws, &m.name, scope),
        can_reveal: m.visibility == Visibility::Masked.as_str() && can(Action::RevealMasked),
        can_edit: can(Action::WriteSecret),
        can_delete: can(Action::DeleteSecret),
        name: m.name,
        description: m.description.unwrap_or_default(),
        visibility: m.visibility,
        scope: m.scope,
        fingerprint: m.fingerprint,
        updated: m.updated_at.clone(),
        updated_day: m.updated_at.get(..10).unwrap_or("").to_owned(),
        updated_time: m
            .updated_at
            .get(11..16)
            .map(|t| format!("{t} UTC"))
            .unwrap_or_default(),
        updated_by: m.updated_by,
        labels: m.labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        looks_like: None,
    }
}

/// Secrets shown per page of the console's list.
pub const PER_PAGE: u32 = 50;

/// How the list is searched, sorted and paged: the query string of the
/// secrets page (`q`, `sort`, `dir`, `page`, `mpage` for "My secrets").
#[derive(Debug, Clone, Default)]
pub struct ListView {
    pub q: String,
    pub sort: ListSort,
    pub desc: bool,
    pub page: u32,
    pub mpage: u32,
}

impl ListView {
    /// The view with search `q` and everything else as default.
    pub fn search(q: &str) -> Self {
        Self {
            q: q.to_owned(),
            ..Self::default()
        }
    }

    fn from_query(q: &SecretsQuery) -> Self {
        let parse_page = |p: &Option<String>| {
            p.as_deref()
                .and_then(|p| p.parse::<u32>().ok())
                .unwrap_or(1)
                .max(1)
        };
        Self {
            q: q.q.clone().unwrap_or_default(),
            sort: q
                .sort
                .as_deref()
                .and_then(ListSort::parse)
                .unwrap_or_default(),
            desc: q.dir.as_deref() == Some("desc"),
            page: parse_page(&q.page),
            mpage: parse_page(&q.mpage),
        }
    }

    fn options(&self, page: u32) -> ListOptions {
        ListOptions {
            search: self.q.clone(),
            sort: self.sort,
            descending: self.desc,
            page,
            per_page: PER_PAGE,
        }
    }

    /// The secrets page's URL for this view with some parts changed.
    fn url(&self, ws: &str, sort: ListSort, desc: bool, page: u32, mpage: u32) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.q.is_empty() {
            pairs.push(("q", self.q.clone()));
        }
        if sort != ListSort::Name {
            pairs.push(("sort", sort.as_str().to_owned()));
        }
        if desc {
            pairs.push(("dir", "desc".to_owned()));
        }
        if page > 1 {
            pairs.push(("page", page.to_string()));
        }
        if mpage > 1 {
            pairs.push(("mpage", mpage.to_string()));
        }
        let qs = serde_urlencoded::to_string(&pairs).unwrap_or_default();
        if qs.is_empty() {
            format!("/console/w/{ws}/secrets")
        } else {
            format!("/console/w/{ws}/secrets?{qs}")
        }
    }
}

/// What the template needs to draw one table's sort headers, counts and pager.
#[derive(Serialize)]
struct Listing {
    rows: Vec<Row>,
    matched: usize,
    page: u32,
    pages: u32,
    first: usize,
    last: usize,
    prev: Option<String>,
    next: Option<String>,
    truncated: bool,
}

#[derive(Serialize)]
struct Sorts {
    /// `name` or `updated`.
    by: &'static str,
    /// `ascending` or `descending` (for `aria-sort`).
    dir: &'static str,
    name_url: String,
    updated_url: String,
}

fn listing(
    page: ListingPage,
    rows: Vec<Row>,
    prev: Option<String>,
    next: Option<String>,
) -> Listing {
    let first = (page.page as usize - 1) * page.per_page as usize;
    Listing {
        first: if rows.is_empty() { 0 } else { first + 1 },
        last: first + rows.len(),
        rows,
        matched: page.matched,
        page: page.page,
        pages: page.pages,
        prev,
        next,
        truncated: page.truncated,
    }
}

pub async fn secrets(
    State(st): State<AppState>,
    c: Console,
    headers: axum::http::HeaderMap,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<SecretsQuery>,
) -> Response {
    let flash = match (q.done.as_deref(), q.name.as_deref()) {
        // Only a real secret name (the link is forgeable: no free text in the flash).
        (Some(d @ ("created" | "updated" | "deleted")), Some(n))
            if n.len() <= 128 && lockbox_core::SecretName::parse(n).is_ok() =>
        {
            Some(format!("Secret '{n}' {d}."))
        }
        _ => None,
    };
    let view = ListView::from_query(&q);
    let fragment = q.fragment.as_deref() == Some("1");
    let path = format!("/console/w/{ws}/secrets");
    let kept = (!fragment)
        .then(|| super::session::take_kept(&headers, c.tls, &path))
        .flatten();
    let panel = kept.as_ref().and_then(|(f, _)| {
        let kind = match f.get("_form").map(String::as_str) {
            Some("new") => "new",
            Some("edit") => "edit",
            _ => return None,
        };
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        Some(Panel {
            kind,
            name: get("name"),
            new_name: get("new_name"),
            description: get("description"),
            visibility: get("visibility"),
            scope: get("scope"),
            version: get("version"),
            value_kind: get("kind"),
            error: Some(KEPT_MESSAGE.to_owned()),
            ..Panel::default()
        })
    });
    // A failed secret form's panel, left by `render_secrets` (not for a fragment).
    let (panel, flash) = match (panel, fragment) {
        (None, false) => match super::flash::take(&c.session.id) {
            Some(f) => (f.panel, f.text.or(flash)),
            None => (None, flash),
        },
        (p, _) => (p, flash),
    };
    let mut r = render_list(&st, &c, &ws, &view, flash, panel, StatusCode::OK, fragment).await;
    if let Some((_, clear)) = kept {
        r.headers_mut()
            .append(axum::http::header::SET_COOKIE, clear);
    }
    r
}

/// Shown on a form kept across an ended session.
pub const KEPT_MESSAGE: &str = "Your session ended before this was saved. You are signed in \
again and what you typed is back, except any secret value: enter the value again if you \
were changing it, then save.";

/// After a failed form of a secret's page (edit, rollback): post/redirect/get,
/// as [`render_secrets`] does for the list.
pub fn secret_again(c: &Console, ws: &str, name: &str, scope: Scope, panel: Panel) -> Response {
    super::flash::put(
        &c.session.id,
        super::flash::Flash {
            panel: Some(panel),
            ..Default::default()
        },
    );
    Redirect::to(&secret_url(ws, name, scope)).into_response()
}

/// After a failed secret form: post/redirect/get. The panel or dialog (never a
/// value) waits in the session's flash and the browser is sent to the secrets
/// page (`303`), which opens it again; reloading that page sends nothing.
/// (`status` was the failure's status; the redirect replaces it.)
pub async fn render_secrets(
    _st: &AppState,
    c: &Console,
    ws: &str,
    q: &str,
    flash: Option<String>,
    panel: Option<Panel>,
    _status: StatusCode,
) -> Response {
    super::flash::put(
        &c.session.id,
        super::flash::Flash {
            panel,
            text: flash,
            ..Default::default()
        },
    );
    let view = ListView::search(q);
    Redirect::to(&view.url(ws, view.sort, view.desc, 1, 1)).into_response()
}

/// The secrets page (or, for `fragment`, only its list part: what the search box
/// fetches as you type) for one view of the list.
#[allow(clippy::too_many_arguments)]
async fn render_list(
    st: &AppState,
    c: &Console,
    ws: &str,
    view: &ListView,
    flash: Option<String>,
    panel: Option<Panel>,
    status: StatusCode,
    fragment: bool,
) -> Response {
    let lay = match layout(st, c, ws, "secrets").await {
        Ok(l) => l,
        Err(e) => return fail(c, e),
    };
    let p = &c.session.principal;
    let page = match st
        .svc
        .browse_secrets(p, ws, Scope::Workspace, &view.options(view.page), &c.ctx)
        .await
    {
        Ok(pg) => pg,
        Err(e) => return fail(c, e),
    };
    let mut rows: Vec<Row> = page
        .secrets
        .iter()
        .cloned()
        .map(|m| row(ws, m, lay.role()))
        .collect();
    mark_confusables(&mut rows);
    let at = |pg: u32| view.url(ws, view.sort, view.desc, pg, view.mpage);
    let list = listing(
        page.clone(),
        rows,
        (page.page > 1).then(|| at(page.page - 1)),
        (page.page < page.pages).then(|| at(page.page + 1)),
    );
    // A member's own user-scoped secrets: they act as owner there.
    let mine: Option<Listing> = if lay.personal {
        match st
            .svc
            .browse_secrets(p, ws, Scope::User, &view.options(view.mpage), &c.ctx)
            .await
        {
            Ok(mp) => {
                let mut rows: Vec<Row> = mp
                    .secrets
                    .iter()
                    .cloned()
                    .map(|m| row(ws, m, Role::Owner))
                    .collect();
                mark_confusables(&mut rows);
                let at = |mpg: u32| view.url(ws, view.sort, view.desc, page.page, mpg);
                Some(listing(
                    mp.clone(),
                    rows,
                    (mp.page > 1).then(|| at(mp.page - 1)),
                    (mp.page < mp.pages).then(|| at(mp.page + 1)),
                ))
            }
            Err(e) => return fail(c, e),
        }
    } else {
        None
    };
    // A header link sorts by its column; on the sorted column it flips the order.
    let sorts = Sorts {
        by: view.sort.as_str(),
        dir: if view.desc { "descending" } else { "ascending" },
        name_url: view.url(
            ws,
            ListSort::Name,
            view.sort == ListSort::Name && !view.desc,
            1,
            1,
        ),
        updated_url: view.url(
            ws,
            ListSort::Updated,
            // Newest first is what one usually wants from a time column.
            !(view.sort == ListSort::Updated && view.desc),
            1,
            1,
        ),
    };
    let ctx = minijinja::context! {
        title => "Secrets",
        signed_in => true,
        lay => minijinja::Value::from(minijinja::value::Serde(&lay)),
        csrf => c.session.csrf_token(),
        list => minijinja::Value::from(minijinja::value::Serde(&list)),
        mine => minijinja::Value::from(minijinja::value::Serde(&mine)),
        sorts => minijinja::Value::from(minijinja::value::Serde(&sorts)),
        q => view.q.as_str(),
        sort => view.sort.as_str(),
        dir => if view.desc { "desc" } else { "asc" },
        url => view.url(ws, view.sort, view.desc, view.page, view.mpage),
        flash => flash,
        panel => minijinja::Value::from(minijinja::value::Serde(&panel)),
        max_bytes => st.svc.config().max_value_bytes,
    };
    if fragment {
        view::render(status, "secrets_list.html", ctx)
    } else {
        view::render(status, "secrets.html", ctx)
    }
}

// ---- one secret: metadata, versions, rollback, edit

#[derive(Deserialize, Default)]
pub struct SecretQuery {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    done: Option<String>,
    #[serde(default)]
    from: Option<u64>,
    #[serde(default)]
    to: Option<u64>,
}

/// `GET /console/w/{ws}/secret?name=…&scope=…`: one secret's page.
pub async fn secret(
    State(st): State<AppState>,
    c: Console,
    headers: axum::http::HeaderMap,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<SecretQuery>,
) -> Response {
    let scope = match q.scope.as_str() {
        "" => Scope::Workspace,
        s => match Scope::parse(s) {
            Ok(s) => s,
            Err(e) => return fail(&c, e),
        },
    };
    // The flash is built from numbers and a fixed word only (the link is forgeable).
    let flash = match (q.done.as_deref(), q.from, q.to) {
        (Some("updated"), _, _) => Some("Saved.".to_owned()),
        (Some("rolled-back"), Some(f), Some(t)) => Some(format!(
            "Rolled back: version {t} is now current, with the value of version {f}."
        )),
        _ => None,
    };
    // A failed form of this page, left by `secret_again` (post/redirect/get).
    let (flash, mut panel) = match super::flash::take(&c.session.id) {
        Some(f) => (f.text.or(flash), f.panel),
        None => (flash, None),
    };
    // The edit form of a session that ended while it was being filled in.
    let kept = super::session::take_kept(&headers, c.tls, &format!("/console/w/{ws}/secret"));
    if let Some((f, _)) = kept.as_ref().filter(|(f, _)| {
        f.get("_form").map(String::as_str) == Some("edit")
            && f.get("name").map(String::as_str) == Some(q.name.as_str())
    }) {
        let get = |k: &str| f.get(k).cloned().unwrap_or_default();
        panel = Some(Panel {
            kind: "edit",
            name: get("name"),
            new_name: get("new_name"),
            description: get("description"),
            visibility: get("visibility"),
            scope: get("scope"),
            version: get("version"),
            value_kind: get("kind"),
            error: Some(KEPT_MESSAGE.to_owned()),
            ..Panel::default()
        });
    }
    let mut r = render_secret(&st, &c, &ws, &q.name, scope, flash, panel, StatusCode::OK).await;
    if let Some((_, clear)) = kept {
        r.headers_mut()
            .append(axum::http::header::SET_COOKIE, clear);
    }
    r
}

#[derive(Serialize)]
struct VersionRow {
    version: u64,
    state: &'static str,
    current: bool,
    fingerprint: String,
    created: String,
    created_at: String,
    created_by: String,
    can_rollback: bool,
}

/// The secret page, optionally with an edit error or a refused rollback.
#[allow(clippy::too_many_arguments)]
pub async fn render_secret(
    st: &AppState,
    c: &Console,
    ws: &str,
    name: &str,
    scope: Scope,
    flash: Option<String>,
    panel: Option<Panel>,
    status: StatusCode,
) -> Response {
    let lay = match layout(st, c, ws, "secrets").await {
        Ok(l) => l,
        Err(e) => return fail(c, e),
    };
    let name = match lockbox_core::SecretName::parse(name) {
        Ok(n) => n,
        Err(e) => return fail(c, e),
    };
    let p = &c.session.principal;
    let meta = match st.svc.secret_metadata(p, ws, scope, &name, &c.ctx).await {
        Ok(m) => m,
        Err(e) => return fail(c, e),
    };
    let versions = match st.svc.list_versions(p, ws, scope, &name, &c.ctx).await {
        Ok(v) => v,
        Err(e) => return fail(c, e),
    };
    // In their own user scope, members act as owner (the service's rule).
    let actor = match scope {
        Scope::Workspace => lay.role(),
        Scope::User => Role::Owner,
    };
    let can = |a| allowed(Actor::Member(actor), a);
    let can_write = can(Action::WriteSecret);
    let can_reveal = meta.visibility == Visibility::Masked.as_str() && can(Action::RevealMasked);
    let now = st.svc.now().to_rfc3339();
    let mut rows: Vec<VersionRow> = versions
        .into_iter()
        .map(|v| {
            let deleted = v.deleted_at.as_deref().is_some_and(|d| d <= now.as_str());
            let state = if v.destroyed {
                "destroyed"
            } else if deleted {
                "deleted"
            } else if v.current {
                "current"
            } else {
                "kept"
            };
            VersionRow {
                version: v.version,
                state,
                current: v.current,
                fingerprint: v.fingerprint,
                created: when(&v.created_at),
                created_at: v.created_at,
                created_by: v.created_by,
                can_rollback: can_write && !v.current && state == "kept",
            }
        })
        .collect();
    rows.sort_by_key(|v| std::cmp::Reverse(v.version));
    // The edit form keeps the value's type: JSON is edited as JSON.
    let value_kind = if can_write {
        st.svc
            .value_kind(p, ws, scope, &name, &c.ctx)
            .await
            .map(|k| k.as_str())
            .unwrap_or("text")
    } else {
        "text"
    };
    let flows: Vec<Flow> = meta
        .bindings
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(Flow::from)
        .collect();
    let mut flow_names: Vec<&str> = flows.iter().map(|f| f.owner.as_str()).collect();
    flow_names.dedup();
    let flow_count = flow_names.len();
    view::render(
        status,
        "secret.html",
        minijinja::context! {
            title => format!("Secret {}", name.as_str()),
            signed_in => true,
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)),
            csrf => c.session.csrf_token(),
            s => minijinja::context! {
                name => name.as_str(),
                scope => meta.scope,
                visibility => meta.visibility,
                description => meta.description.clone().unwrap_or_default(),
                version => meta.version,
                fingerprint => meta.fingerprint.clone(),
                created => when(&meta.created_at),
                created_by => meta.created_by.clone(),
                updated => when(&meta.updated_at),
                updated_at => meta.updated_at.clone(),
                updated_by => meta.updated_by.clone(),
                expires => meta.expires_at.as_deref().map(when),
                allowed_hosts => meta.allowed_hosts.clone(),
                labels => meta.labels.clone(),
                current_deleted => meta.current_deleted,
                flows => minijinja::Value::from(minijinja::value::Serde(&flows)),
                flow_count => flow_count,
                value_kind => value_kind,
            },
            can_write => can_write,
            can_reveal => can_reveal,
            can_rename => can_write && lay.allow_rename,
            versions => minijinja::Value::from(minijinja::value::Serde(&rows)),
            list_url => format!("/console/w/{ws}/secrets"),
            flash => flash,
            panel => minijinja::Value::from(minijinja::value::Serde(&panel)),
            max_bytes => st.svc.config().max_value_bytes,
        },
    )
}

// ---- members, tokens, audit (owners and admins)

fn not_allowed(c: &Console, lay: Layout, what: &str) -> Response {
    view::render(
        StatusCode::FORBIDDEN,
        "message.html",
        minijinja::context! {
            title => "Not allowed",
            code => "forbidden",
            message => format!("Your role '{}' may not {what} in this workspace.", lay.role),
            signed_in => true,
            csrf => c.session.csrf_token(),
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)),
        },
    )
}

/// A one-time notice (a new token shown once), passed by the actions.
#[derive(Serialize, Default)]
pub struct Notice {
    pub text: Option<String>,
    pub token: Option<String>,
    pub code: Option<&'static str>,
    pub error: Option<String>,
    /// The non-secret fields of the form that failed, shown again.
    pub form: BTreeMap<String, String>,
}

/// The notice an action left (post/redirect/get), taken once; a page holding a
/// fresh token is marked never to be compressed (BREACH).
async fn with_flash<F, Fut>(
    st: &AppState,
    c: &Console,
    headers: &axum::http::HeaderMap,
    path: &str,
    render: F,
) -> Response
where
    F: FnOnce(Notice) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    let mut notice = super::flash::take(&c.session.id)
        .map(|f| f.notice)
        .unwrap_or_default();
    // A fresh token left by the action, sealed for this session (any node opens
    // it); the cookie is cleared whatever it held.
    let note = super::session::note_of(headers, c.tls);
    if let Some(sealed) = note {
        #[derive(serde::Deserialize)]
        struct Note {
            text: Option<String>,
            token: String,
        }
        if let Some(n) = st
            .svc
            .open_for_session(&c.session, lockbox_service::SessionSeal::Note, sealed)
            .and_then(|plain| serde_json::from_slice::<Note>(&plain).ok())
        {
            notice.text = n.text;
            notice.token = Some(n.token);
        }
    }
    let had_note = note.is_some();
    let kept = super::session::take_kept(headers, c.tls, path);
    if let Some((form, _)) = &kept {
        notice.error = Some(KEPT_MESSAGE.to_owned());
        notice.form = form
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    let fresh_token = notice.token.is_some();
    let mut r = render(notice).await;
    if fresh_token {
        r.extensions_mut().insert(super::NoCompress);
    }
    if let Some((_, clear)) = kept {
        r.headers_mut()
            .append(axum::http::header::SET_COOKIE, clear);
    }
    if had_note {
        r.headers_mut().append(
            axum::http::header::SET_COOKIE,
            super::session::note_cookie(c.tls, None),
        );
    }
    r
}

pub async fn members(
    State(st): State<AppState>,
    c: Console,
    headers: axum::http::HeaderMap,
    ApiPath(ws): ApiPath<String>,
) -> Response {
    let path = format!("/console/w/{ws}/members");
    with_flash(&st, &c, &headers, &path, |n| {
        render_members(&st, &c, &ws, n, StatusCode::OK)
    })
    .await
}

pub async fn render_members(
    st: &AppState,
    c: &Console,
    ws: &str,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let lay = match layout(st, c, ws, "members").await {
        Ok(l) => l,
        Err(e) => return fail(c, e),
    };
    if !lay.can_members {
        return not_allowed(c, lay, "manage members");
    }
    let members = match st.svc.list_members(&c.session.principal, ws, &c.ctx).await {
        Ok(m) => m,
        Err(e) => return fail(c, e),
    };
    let me = c.session.principal.user.as_ref().map(|u| u.name.clone());
    let rows: Vec<_> = members
        .into_iter()
        .map(|m| {
            let is_me = me.as_deref() == Some(m.user.as_str());
            minijinja::context! {
                user => m.user,
                role => m.role,
                since => when(&m.since),
                is_me => is_me,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| lockbox_core::can_assign_role(lay.role(), None, Some(*r)))
        .map(Role::as_str)
        .collect();
    view::render(
        status,
        "members.html",
        minijinja::context! {
            title => "Members", signed_in => true, csrf => c.session.csrf_token(),
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)), members => rows, roles => roles, notice => minijinja::Value::from(minijinja::value::Serde(&notice)),
            nonce => super::flash::issue_nonce(&st.svc, &c.session),
        },
    )
}

pub async fn tokens(
    State(st): State<AppState>,
    c: Console,
    headers: axum::http::HeaderMap,
    ApiPath(ws): ApiPath<String>,
) -> Response {
    let path = format!("/console/w/{ws}/tokens");
    with_flash(&st, &c, &headers, &path, |n| {
        render_tokens(&st, &c, &ws, n, StatusCode::OK)
    })
    .await
}

pub async fn render_tokens(
    st: &AppState,
    c: &Console,
    ws: &str,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let lay = match layout(st, c, ws, "tokens").await {
        Ok(l) => l,
        Err(e) => return fail(c, e),
    };
    if !lay.can_tokens {
        return not_allowed(c, lay, "manage tokens");
    }
    let all = match st.svc.list_tokens(&c.session.principal, None).await {
        Ok(t) => t,
        Err(e) => return fail(c, e),
    };
    let now = st.svc.now().to_rfc3339();
    let rows: Vec<_> = all
        .into_iter()
        .filter(|t| t.workspace.as_deref().is_none_or(|w| w == ws))
        // Ended console sessions are history, not tokens anyone can use.
        .filter(|t| {
            !t.name.starts_with(lockbox_service::SESSION_NAME_PREFIX)
                || (t.revoked_at.is_none()
                    && t.expires_at.as_deref().is_none_or(|e| e > now.as_str()))
        })
        .map(|t| {
            let session = t.name.starts_with(lockbox_service::SESSION_NAME_PREFIX);
            let parent = t.id == c.session.principal.token_id;
            let current = t.id == c.session.id;
            minijinja::context! {
                id => t.id,
                name => if session { "console session".to_owned() } else { t.name },
                kind => if session { "session" } else { t.kind },
                role => t.role,
                created => when(&t.created_at),
                created_by => t.created_by,
                expires => t.expires_at.as_deref().map(when),
                last_used => t.last_used_at.as_deref().map(when),
                revoked => t.revoked_at.is_some(),
                current => current,
                parent => parent,
            }
        })
        .collect();
    let roles: Vec<&str> = Role::ALL
        .into_iter()
        .filter(|r| lockbox_core::can_assign_role(lay.role(), None, Some(*r)))
        .map(Role::as_str)
        .collect();
    view::render(
        status,
        "tokens.html",
        minijinja::context! {
            title => "Tokens", signed_in => true, csrf => c.session.csrf_token(),
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)), tokens => rows, roles => roles, notice => minijinja::Value::from(minijinja::value::Serde(&notice)),
            nonce => super::flash::issue_nonce(&st.svc, &c.session),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Row {
        Row {
            name: name.into(),
            description: String::new(),
            visibility: "masked",
            scope: "workspace",
            fingerprint: String::new(),
            version: 1,
            url: String::new(),
            updated: String::new(),
            updated_day: String::new(),
            updated_time: String::new(),
            updated_by: String::new(),
            labels: Vec::new(),
            can_reveal: false,
            can_edit: false,
            can_delete: false,
            looks_like: None,
        }
    }

    #[test]
    fn names_that_differ_only_by_lookalikes_are_marked() {
        // Latin "paypal" and one with a Cyrillic "а" (U+0430).
        let mut rows = vec![named("paypal"), named("p\u{0430}ypal"), named("stripe")];
        mark_confusables(&mut rows);
        assert_eq!(rows[0].looks_like.as_deref(), Some("p\u{0430}ypal"));
        assert_eq!(rows[1].looks_like.as_deref(), Some("paypal"));
        assert_eq!(rows[2].looks_like, None);
    }
}
