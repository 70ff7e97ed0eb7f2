//! The console's session cookie and CSRF checks, as extractors.
//!
//! Handlers can only reach the session through these extractors, and every one
//! used by a state-changing route checks the CSRF token (header `X-CSRF-Token`, or
//! the `csrf` form field) in constant time, so a forgotten check fails closed.
//! This module must never log or echo the cookie's secret.

use super::view;
use crate::extract::RequestId;
use crate::AppState;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use lockbox_core::{Error, ErrorCode};
use lockbox_service::{RequestCtx, Session};
use serde::de::DeserializeOwned;

/// Whether the server listens with TLS (set as a request extension at start-up):
/// decides the cookie's name (`__Host-` prefix) and its `Secure` flag.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tls(pub bool);

const COOKIE: &str = "lockbox_session";
const HOST_COOKIE: &str = "__Host-lockbox_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

fn tls(parts_ext: &axum::http::Extensions) -> bool {
    parts_ext.get::<Tls>().is_some_and(|t| t.0)
}

fn cookie_name(tls: bool) -> &'static str {
    if tls {
        HOST_COOKIE
    } else {
        COOKIE
    }
}

/// The session cookie's value, if the request carries one.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(tls: bool, secret: &str, max_age: i64) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let v = format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(tls)
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(tls: bool) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        cookie_name(tls)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

const NOTE_COOKIE: &str = "lockbox_note";
const HOST_NOTE_COOKIE: &str = "__Host-lockbox_note";
/// How long a sealed note waits for the page it was left for.
pub const NOTE_TTL_SECONDS: u64 = 300;

fn note_cookie_name(tls: bool) -> &'static str {
    if tls {
        HOST_NOTE_COOKIE
    } else {
        NOTE_COOKIE
    }
}

/// `Set-Cookie` carrying a note sealed for this session (`Lockbox::seal_for_session`),
/// so the page after a redirect shows it on whichever node serves it; `None`
/// (empty) clears it.
pub fn note_cookie(tls: bool, sealed: Option<&str>) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let (value, max_age) = match sealed {
        Some(v) => (v, NOTE_TTL_SECONDS),
        None => ("", 0),
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        note_cookie_name(tls)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The sealed note this request carries, if any.
pub fn note_of(headers: &HeaderMap, tls: bool) -> Option<&str> {
    cookie_value(headers, note_cookie_name(tls)).filter(|v| !v.is_empty())
}

const KEPT_COOKIE: &str = "lockbox_kept";
const HOST_KEPT_COOKIE: &str = "__Host-lockbox_kept";

fn kept_cookie_name(tls: bool) -> &'static str {
    if tls {
        HOST_KEPT_COOKIE
    } else {
        KEPT_COOKIE
    }
}

/// `Set-Cookie` naming the form kept when a session ended mid-edit (an id, not
/// the fields; see `flash::keep_form`), so only this browser gets it back.
fn set_kept_cookie(tls: bool, id: &str) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=1800{secure}",
        kept_cookie_name(tls)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The form kept for this browser when its session ended on page `path` (taken
/// once), and the `Set-Cookie` that clears the cookie naming it.
pub fn take_kept(
    headers: &HeaderMap,
    tls: bool,
    path: &str,
) -> Option<(std::collections::BTreeMap<String, String>, HeaderValue)> {
    let id = cookie_value(headers, kept_cookie_name(tls))?;
    let form = super::flash::take_form(id)?;
    let secure = if tls { "; Secure" } else { "" };
    let clear = HeaderValue::from_str(&format!(
        "{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}",
        kept_cookie_name(tls)
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""));
    // Only on the page it was typed on.
    (form.get("_page").map(String::as_str) == Some(path)).then_some((form, clear))
}

/// A `next` path to return to after signing in, if it is safe: a console path on
/// this server (no scheme, no `//` host, no backslash, no control character).
pub fn safe_next(next: &str) -> Option<String> {
    let ok = next.len() <= 2048
        && next.starts_with("/console/")
        && !next.starts_with("/console/sign-in")
        && !next.contains("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then(|| next.to_owned())
}

/// Form fields that never hold a secret and are kept when a session ends
/// mid-edit (never `value`, `token`, `csrf` or `nonce`): `version` is the version
/// the edit was opened on, `kind` the value's type (`text` or `json`).
const KEPT_FIELDS: &[&str] = &[
    "name",
    "new_name",
    "description",
    "visibility",
    "scope",
    "user",
    "role",
    "days",
    "version",
    "kind",
];

/// Where to go back to after signing in: the page the form was on (its
/// same-origin `Referer`), else the page the action belongs to.
fn return_path(parts: &Parts) -> String {
    let from_referer = parts
        .headers
        .get(header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| {
            let host = parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            let authority = match u.port() {
                Some(p) => format!("{}:{p}", u.host_str().unwrap_or("")),
                None => u.host_str().unwrap_or("").to_owned(),
            };
            host.is_some_and(|h| h.eq_ignore_ascii_case(&authority))
        })
        .and_then(|u| {
            let pq = match u.query() {
                Some(q) => format!("{}?{q}", u.path()),
                None => u.path().to_owned(),
            };
            safe_next(&pq)
        });
    from_referer.unwrap_or_else(|| {
        let path = parts.uri.path();
        let page = match path.rsplit_once('/') {
            Some((head, _))
                if head.ends_with("/secrets")
                    || head.ends_with("/tokens")
                    || head.ends_with("/members") =>
            {
                head
            }
            _ => path,
        };
        safe_next(page).unwrap_or_else(|| "/console/".to_owned())
    })
}

/// Whether the client wants JSON answers (the console script's `fetch` calls).
pub fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn ctx_of(parts: &Parts) -> RequestCtx {
    RequestCtx {
        request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
    }
}

/// A signed-in console request.
pub struct Console {
    pub session: Session,
    pub ctx: RequestCtx,
    pub tls: bool,
}

/// Why a console extractor refused.
pub enum Refusal {
    /// No live session on a page: go to the sign-in page, and back to `next`
    /// after it; `kept` names a form kept for after the sign-in.
    SignIn {
        tls: bool,
        had_cookie: bool,
        next: Option<String>,
        kept: Option<String>,
    },
    Error {
        error: Error,
        json: bool,
        request_id: Option<String>,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::SignIn {
                tls,
                had_cookie,
                next,
                kept,
            } => {
                let to = match next {
                    Some(n) => format!(
                        "/console/sign-in?{}",
                        serde_urlencoded::to_string([("next", n.as_str())]).unwrap_or_default()
                    ),
                    None => "/console/sign-in".to_owned(),
                };
                let mut r = Redirect::to(&to).into_response();
                if had_cookie {
                    r.headers_mut()
                        .append(header::SET_COOKIE, clear_cookie(tls));
                }
                if let Some(id) = kept {
                    r.headers_mut()
                        .append(header::SET_COOKIE, set_kept_cookie(tls, &id));
                }
                r
            }
            Refusal::Error {
                error,
                json,
                request_id,
            } => view::error_response(&error, request_id.as_deref(), json),
        }
    }
}

async fn resolve(parts: &Parts, state: &AppState) -> Result<Console, Refusal> {
    let tls = tls(&parts.extensions);
    let ctx = ctx_of(parts);
    let changing = super::state_changing(&parts.method);
    let cookie = cookie_value(&parts.headers, cookie_name(tls));
    let refuse_missing = || {
        if changing {
            Refusal::Error {
                error: Error::unauthenticated("no session, or it ended; sign in again"),
                json: wants_json(&parts.headers),
                request_id: ctx.request_id.clone(),
            }
        } else {
            let pq = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/console/");
            Refusal::SignIn {
                tls,
                had_cookie: cookie.is_some(),
                next: safe_next(pq),
                kept: None,
            }
        }
    };
    let Some(secret) = cookie else {
        return Err(refuse_missing());
    };
    match state.svc.session(secret).await {
        Ok(session) => Ok(Console {
            session,
            ctx: ctx.clone(),
            tls,
        }),
        Err(e) if e.code == ErrorCode::Unauthenticated => Err(refuse_missing()),
        Err(e) => Err(Refusal::Error {
            error: e,
            json: wants_json(&parts.headers),
            request_id: ctx.request_id.clone(),
        }),
    }
}

fn csrf_refusal(parts: &Parts) -> Refusal {
    Refusal::Error {
        error: Error::forbidden("missing or wrong CSRF token; reload the page and try again"),
        json: wants_json(&parts.headers),
        request_id: ctx_of(parts).request_id,
    }
}

fn header_csrf(parts: &Parts) -> Option<&str> {
    parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
}

impl FromRequestParts<AppState> for Console {
    type Rejection = Refusal;

    /// On a state-changing request this also demands the `X-CSRF-Token` header.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        let c = resolve(parts, state).await?;
        if super::state_changing(&parts.method)
            && !header_csrf(parts).is_some_and(|t| c.session.csrf_matches(t))
        {
            return Err(csrf_refusal(parts));
        }
        Ok(c)
    }
}

/// An optional session (the sign-in page and `/console/`).
pub struct MaybeConsole(pub Option<Console>);

impl FromRequestParts<AppState> for MaybeConsole {
    type Rejection = Refusal;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Refusal> {
        if super::state_changing(&parts.method) {
            return Err(csrf_refusal(parts));
        }
        match resolve(parts, state).await {
            Ok(c) => Ok(MaybeConsole(Some(c))),
            Err(Refusal::SignIn { .. }) => Ok(MaybeConsole(None)),
            Err(e) => Err(e),
        }
    }
}

/// A form post (`application/x-www-form-urlencoded`) from a signed-in page: the
/// session, the CSRF token (form field `csrf` or the header) and the fields.
pub struct ConsoleForm<T> {
    pub console: Console,
    pub form: T,
}

#[derive(serde::Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: Option<String>,
}

impl<T: DeserializeOwned> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        let (parts, body) = req.into_parts();
        let json = wants_json(&parts.headers);
        let console = match resolve(&parts, state).await {
            Ok(c) => c,
            // The session ended mid-edit: keep the form's non-secret fields for
            // after the sign-in, and return to the page it was on.
            Err(Refusal::Error {
                error, json: false, ..
            }) if error.code == ErrorCode::Unauthenticated => {
                let next = return_path(&parts);
                let had_cookie =
                    cookie_value(&parts.headers, cookie_name(tls(&parts.extensions))).is_some();
                let tls = tls(&parts.extensions);
                let form_kind = parts
                    .uri
                    .path()
                    .rsplit('/')
                    .next()
                    .map(|last| match last {
                        "secrets" => "new",
                        "edit" => "edit",
                        "create" => "token",
                        "add" => "member",
                        _ => "",
                    })
                    .unwrap_or("");
                let bytes = crate::extract::body_bytes(Request::from_parts(parts, body), state)
                    .await
                    .unwrap_or_default();
                let kept = (!form_kind.is_empty()).then(|| {
                    let mut fields: std::collections::BTreeMap<String, String> =
                        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|(k, _)| KEPT_FIELDS.contains(&k.as_str()))
                            .collect();
                    fields.insert("_form".into(), form_kind.into());
                    fields.insert(
                        "_page".into(),
                        next.split('?').next().unwrap_or("").to_owned(),
                    );
                    super::flash::keep_form(fields)
                });
                return Err(Refusal::SignIn {
                    tls,
                    had_cookie,
                    next: Some(next),
                    kept,
                });
            }
            Err(e) => return Err(e),
        };
        let header_token = header_csrf(&parts).map(str::to_owned);
        let refusal = csrf_refusal(&parts);
        let request_id = console.ctx.request_id.clone();
        let bytes = crate::extract::body_bytes(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| Refusal::Error {
                error: e.error,
                json,
                request_id: request_id.clone(),
            })?;
        let field: CsrfField =
            serde_urlencoded::from_bytes(&bytes).unwrap_or(CsrfField { csrf: None });
        let presented = field.csrf.or(header_token);
        if !presented.is_some_and(|t| console.session.csrf_matches(&t)) {
            return Err(refusal);
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| Refusal::Error {
            error: Error::invalid(format!(
                "form: {}",
                crate::error::sanitize_serde_message(&e.to_string())
            )),
            json,
            request_id,
        })?;
        Ok(ConsoleForm { console, form })
    }
}

/// A public form post (sign-in): no session yet, so no CSRF token; the Origin
/// check and `SameSite=Strict` cover it.
pub struct PublicForm<T> {
    pub form: T,
    pub ctx: RequestCtx,
    pub tls: bool,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PublicForm<T> {
    type Rejection = Refusal;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Refusal> {
        let (parts, body) = req.into_parts();
        let ctx = ctx_of(&parts);
        let tls = tls(&parts.extensions);
        let bytes = crate::extract::body_bytes(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| Refusal::Error {
                error: e.error,
                json: false,
                request_id: ctx.request_id.clone(),
            })?;
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| Refusal::Error {
            error: Error::invalid(format!(
                "form: {}",
                crate::error::sanitize_serde_message(&e.to_string())
            )),
            json: false,
            request_id: ctx.request_id.clone(),
        })?;
        Ok(PublicForm { form, ctx, tls })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing_and_flags() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lockbox_session=lbs_x; b=2"),
        );
        assert_eq!(cookie_value(&h, COOKIE), Some("lbs_x"));
        assert_eq!(cookie_value(&h, HOST_COOKIE), None);
        let c = set_cookie(true, "lbs_y", 60);
        let c = c.to_str().unwrap();
        assert!(c.starts_with("__Host-lockbox_session=lbs_y;"));
        for flag in [
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=60",
            "Secure",
        ] {
            assert!(c.contains(flag), "{c}");
        }
        assert!(!set_cookie(false, "lbs_y", 60)
            .to_str()
            .unwrap()
            .contains("Secure"));
    }
}
