//! The console's audit page (issue 18): the workspace's audit log, newest first,
//! filtered by secret, actor, action, outcome (allowed or denied) and day, paged
//! with cursors so every row down to the oldest is reachable (`before=SEQ`: the
//! page of matching rows older than that row; `after=SEQ`: the page just newer),
//! and the filtered rows downloaded as CSV or JSON, streamed one store page at a
//! time. Audit rows carry names, actors, actions and details, never a secret value.
//!
//! Like every console page it is thin: `Lockbox::audit_log` authorizes each read
//! (owners and admins); this module only filters and lays out what it answers.

use super::pages::{fail, layout, when, Layout};
use super::session::Console;
use super::view;
use crate::extract::{ApiPath, ApiQuery};
use crate::AppState;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lockbox_core::{Error, ErrorCode};
use lockbox_service::AuditEventView;
use serde::{Deserialize, Serialize};

/// Rows shown per page.
const PAGE: usize = 100;
/// At most this many audit rows are read for one page view; a narrow filter over a
/// long log then shows what it found and a cursor to search on.
const SCAN: usize = 10_000;
/// Rows per store read.
const CHUNK: u32 = 1000;

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    action: Option<String>,
    /// `allowed` or `denied`.
    #[serde(default)]
    outcome: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: Option<String>,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    to: Option<String>,
    /// The page older than this row.
    #[serde(default)]
    before: Option<String>,
    /// The page newer than this row.
    #[serde(default)]
    after: Option<String>,
    /// Export only: `csv` or `json`.
    #[serde(default)]
    format: Option<String>,
}

/// `YYYY-MM-DD` (the shape only; a day is compared as text).
fn is_date(d: &str) -> bool {
    d.len() == 10
        && d.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        })
}

/// The filters, trimmed and checked, as the page and the export apply them.
#[derive(Serialize, Default, Clone)]
struct Filter {
    secret: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

impl Filter {
    fn parse(q: &AuditQuery) -> Result<Filter, Error> {
        let norm = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let f = Filter {
            secret: norm(&q.secret),
            actor: norm(&q.actor),
            action: norm(&q.action),
            outcome: norm(&q.outcome),
            from: norm(&q.from),
            to: norm(&q.to),
        };
        for d in [&f.from, &f.to].into_iter().flatten() {
            if !is_date(d) {
                return Err(Error::invalid("dates are YYYY-MM-DD"));
            }
        }
        if let Some(o) = &f.outcome {
            if o != "allowed" && o != "denied" {
                return Err(Error::invalid(
                    "the outcome filter is 'allowed' or 'denied'",
                ));
            }
        }
        Ok(f)
    }

    fn keep(&self, e: &AuditEventView) -> bool {
        let day = e.at.get(..10).unwrap_or("");
        self.secret
            .as_deref()
            .is_none_or(|s| e.target.as_deref().is_some_and(|t| t.contains(s)))
            && self.actor.as_deref().is_none_or(|a| e.actor.contains(a))
            && self
                .action
                .as_deref()
                .is_none_or(|a| e.action.starts_with(a))
            && self.outcome.as_deref().is_none_or(|o| match o {
                "allowed" => e.outcome == "ok",
                _ => e.outcome.starts_with("denied"),
            })
            && self.from.as_deref().is_none_or(|f| day >= f)
            && self.to.as_deref().is_none_or(|t| day <= t)
    }

    /// The filters as a query string (`secret=…&outcome=…`), for links.
    fn query(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

fn cursor(v: &Option<String>, name: &str) -> Result<Option<i64>, Error> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| Error::invalid(format!("'{name}' is an audit row number"))),
    }
}

/// One page of matching rows, newest first, and where the neighbours start.
struct Page {
    rows: Vec<AuditEventView>,
    /// `before=` for the older page, when there may be one.
    older: Option<i64>,
    /// `after=` for the newer page, when there may be one.
    newer: Option<i64>,
    /// The scan budget ran out before the page filled.
    partial: bool,
}

/// Matching rows with `seq < before` (all when `None`), down to `floor`
/// (exclusive), newest first: at most `want`, within the scan budget. Returns the
/// rows, whether the log goes on below the last row read, the last row read and
/// how many rows were read.
async fn scan_down(
    st: &AppState,
    c: &Console,
    ws: &str,
    f: &Filter,
    mut before: Option<i64>,
    floor: i64,
    want: usize,
    budget: usize,
) -> Result<(Vec<AuditEventView>, bool, Option<i64>, usize), Error> {
    let mut rows = Vec::new();
    let mut read = 0;
    let mut last = None;
    loop {
        let page = st
            .svc
            .audit_log(&c.session.principal, ws, before, Some(CHUNK), &c.ctx)
            .await?;
        for e in page.events {
            if e.seq <= floor {
                return Ok((rows, true, last, read));
            }
            read += 1;
            last = Some(e.seq);
            if f.keep(&e) {
                rows.push(e);
                if rows.len() >= want {
                    return Ok((rows, true, last, read));
                }
            }
            if read >= budget {
                return Ok((rows, true, last, read));
            }
        }
        match page.next_before {
            Some(b) => before = Some(b),
            None => return Ok((rows, false, last, read)),
        }
    }
}

/// The page older than `before` (the newest page without it).
async fn older_page(
    st: &AppState,
    c: &Console,
    ws: &str,
    f: &Filter,
    before: Option<i64>,
) -> Result<Page, Error> {
    let (mut rows, more, last, read) = scan_down(st, c, ws, f, before, 0, PAGE + 1, SCAN).await?;
    let full = rows.len() > PAGE;
    rows.truncate(PAGE);
    let partial = !full && more && read >= SCAN;
    let older = if full {
        rows.last().map(|e| e.seq)
    } else if partial {
        last
    } else {
        None
    };
    let newer = match (before, rows.first()) {
        (None, _) => None,
        (Some(_), Some(first)) => Some(first.seq),
        (Some(b), None) => Some(b - 1),
    };
    Ok(Page {
        rows,
        older,
        newer,
        partial,
    })
}

/// The page just newer than `after`: the `PAGE` matching rows nearest above it.
/// The store reads newest first, so windows above `after` widen until they hold a
/// page (or reach the newest row).
async fn newer_page(
    st: &AppState,
    c: &Console,
    ws: &str,
    f: &Filter,
    after: i64,
) -> Result<Page, Error> {
    let top = st
        .svc
        .audit_log(&c.session.principal, ws, None, Some(1), &c.ctx)
        .await?
        .events
        .first()
        .map_or(0, |e| e.seq);
    let mut width: i64 = CHUNK as i64;
    let mut budget = SCAN;
    loop {
        let hi = after.saturating_add(width).min(top);
        let (rows, _, _, read) = scan_down(
            st,
            c,
            ws,
            f,
            Some(hi.saturating_add(1)),
            after,
            usize::MAX,
            budget,
        )
        .await?;
        budget = budget.saturating_sub(read);
        if rows.len() > PAGE || hi >= top || budget == 0 {
            let at_top = hi >= top && rows.len() <= PAGE;
            let skip = rows.len().saturating_sub(PAGE);
            let rows: Vec<AuditEventView> = rows.into_iter().skip(skip).collect();
            return Ok(Page {
                older: Some(rows.last().map_or(after + 1, |e| e.seq)),
                newer: if at_top {
                    None
                } else {
                    rows.first().map(|e| e.seq)
                },
                partial: budget == 0 && !at_top,
                rows,
            });
        }
        width = width.saturating_mul(4);
    }
}

pub async fn audit(
    State(st): State<AppState>,
    c: Console,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Response {
    let lay = match layout(&st, &c, &ws, "audit").await {
        Ok(l) => l,
        Err(e) => return fail(&c, e),
    };
    if !lay.can_audit {
        return not_allowed(&c, lay);
    }
    let parsed = Filter::parse(&q)
        .and_then(|f| Ok((f, cursor(&q.before, "before")?, cursor(&q.after, "after")?)));
    let (f, before, after) = match parsed {
        Ok(p) => p,
        Err(e) => return view::error_response(&e, c.ctx.request_id.as_deref(), false),
    };
    let page = match after {
        Some(a) => newer_page(&st, &c, &ws, &f, a).await,
        None => older_page(&st, &c, &ws, &f, before).await,
    };
    let page = match page {
        Ok(p) => p,
        Err(e) => return fail(&c, e),
    };
    let base = format!("/console/w/{}/audit", url_segment(&ws));
    let qs = f.query();
    let link = |k: &str, v: i64| {
        if qs.is_empty() {
            format!("{base}?{k}={v}")
        } else {
            format!("{base}?{qs}&{k}={v}")
        }
    };
    let export = |fmt: &str| {
        if qs.is_empty() {
            format!("{base}/export?format={fmt}")
        } else {
            format!("{base}/export?{qs}&format={fmt}")
        }
    };
    let events: Vec<minijinja::Value> = page
        .rows
        .iter()
        .map(|e| {
            minijinja::context! {
                seq => e.seq, at => when(&e.at), actor => &e.actor, action => &e.action,
                target => &e.target, outcome => &e.outcome,
                detail => if e.detail.as_object().is_some_and(|o| o.is_empty()) {
                    String::new()
                } else {
                    e.detail.to_string()
                },
            }
        })
        .collect();
    let newest = page.rows.first().map(|e| e.seq);
    let oldest = page.rows.last().map(|e| e.seq);
    view::render(
        StatusCode::OK,
        "audit.html",
        minijinja::context! {
            title => "Audit log", signed_in => true, csrf => c.session.csrf_token(),
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)), events => events,
            f => minijinja::Value::from(minijinja::value::Serde(&f)),
            older_href => page.older.map(|s| link("before", s)),
            newer_href => page.newer.map(|s| link("after", s)),
            first_href => (before.is_some() || after.is_some()).then(|| if qs.is_empty() { base.clone() } else { format!("{base}?{qs}") }),
            partial => page.partial,
            scanned => SCAN,
            newest => newest, oldest => oldest,
            csv_href => export("csv"), json_href => export("json"),
        },
    )
}

/// A workspace name as one URL path segment.
fn url_segment(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn not_allowed(c: &Console, lay: Layout) -> Response {
    view::render(
        StatusCode::FORBIDDEN,
        "message.html",
        minijinja::context! {
            title => "Not allowed",
            code => "forbidden",
            message => format!("Your role '{}' may not read the audit log in this workspace.", lay.role),
            signed_in => true,
            csrf => c.session.csrf_token(),
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)),
        },
    )
}

// ---- export

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

const CSV_HEADER: &str = "seq,at,actor,action,target,outcome,request_id,detail\r\n";

/// One CSV field: quoted when it holds a comma, quote or line break; a field that
/// a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) gets a
/// leading `'`.
fn csv_field(s: &str, out: &mut String) {
    let guarded;
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        guarded = format!("'{s}");
        guarded.as_str()
    } else {
        s
    };
    if s.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&s.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(s);
    }
}

fn csv_row(e: &AuditEventView, out: &mut String) {
    let detail = e.detail.to_string();
    let seq = e.seq.to_string();
    let fields = [
        seq.as_str(),
        e.at.as_str(),
        e.actor.as_str(),
        e.action.as_str(),
        e.target.as_deref().unwrap_or(""),
        e.outcome.as_str(),
        e.request_id.as_deref().unwrap_or(""),
        detail.as_str(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(f, out);
    }
    out.push_str("\r\n");
}

struct Export {
    st: AppState,
    c: Console,
    ws: String,
    f: Filter,
    format: Format,
    before: Option<i64>,
    /// Rows written so far (JSON needs it for commas).
    written: usize,
    done: bool,
}

impl Export {
    /// The next chunk of the file: one store page of rows, filtered; `None` at the end.
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Export)> {
        if self.done {
            return None;
        }
        let page = match self
            .st
            .svc
            .audit_log(
                &self.c.session.principal,
                &self.ws,
                self.before,
                Some(CHUNK),
                &self.c.ctx,
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                // Headers are gone: end the download broken rather than pass as whole.
                self.done = true;
                return Some((Err(std::io::Error::other(e.code.as_str())), self));
            }
        };
        let mut out = String::new();
        for e in page.events.iter().filter(|e| self.f.keep(e)) {
            match self.format {
                Format::Csv => csv_row(e, &mut out),
                Format::Json => {
                    out.push_str(if self.written == 0 { "\n" } else { ",\n" });
                    out.push_str(&serde_json::to_string(e).unwrap_or_else(|_| "null".into()));
                }
            }
            self.written += 1;
        }
        match page.next_before {
            Some(b) => self.before = Some(b),
            None => {
                self.done = true;
                if self.format == Format::Json {
                    out.push_str("\n]\n");
                }
            }
        }
        Some((Ok(Bytes::from(out)), self))
    }
}

/// `GET /console/w/{ws}/audit/export?format=csv|json&…filters`: every row the
/// filters match, newest first, as a download.
pub async fn export(
    State(st): State<AppState>,
    c: Console,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Response {
    let lay = match layout(&st, &c, &ws, "audit").await {
        Ok(l) => l,
        Err(e) => return fail(&c, e),
    };
    if !lay.can_audit {
        return not_allowed(&c, lay);
    }
    let f = match Filter::parse(&q) {
        Ok(f) => f,
        Err(e) => return view::error_response(&e, c.ctx.request_id.as_deref(), false),
    };
    let format = match q.format.as_deref() {
        Some("csv") | None => Format::Csv,
        Some("json") => Format::Json,
        Some(_) => {
            return view::error_page(
                ErrorCode::Invalid,
                "the export format is 'csv' or 'json'",
                c.ctx.request_id.as_deref(),
            )
        }
    };
    // Authorize before the headers go out: a refusal is a page, not a broken file.
    if let Err(e) = st
        .svc
        .audit_log(&c.session.principal, &ws, None, Some(1), &c.ctx)
        .await
    {
        return fail(&c, e);
    }
    let (ext, ctype, head) = match format {
        Format::Csv => ("csv", "text/csv; charset=utf-8", CSV_HEADER),
        Format::Json => ("json", "application/json", "["),
    };
    let state = Export {
        st,
        c,
        ws: ws.clone(),
        f,
        format,
        before: None,
        written: 0,
        done: false,
    };
    let head =
        futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(head)) });
    let rows = futures_util::stream::unfold(state, Export::next);
    let body = Body::from_stream(futures_util::StreamExt::chain(head, rows));
    let name: String = ws
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"audit-{name}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(target: &str, outcome: &str) -> AuditEventView {
        AuditEventView {
            seq: 7,
            at: "2027-01-15T10:00:00.000Z".into(),
            actor: "user:owner".into(),
            action: "secret.put".into(),
            target: Some(target.into()),
            outcome: outcome.into(),
            request_id: None,
            detail: serde_json::json!({"version": 1}),
        }
    }

    #[test]
    fn outcome_filter_splits_allowed_and_denied() {
        let allowed = Filter {
            outcome: Some("allowed".into()),
            ..Filter::default()
        };
        let denied = Filter {
            outcome: Some("denied".into()),
            ..Filter::default()
        };
        assert!(allowed.keep(&ev("k", "ok")) && !allowed.keep(&ev("k", "denied:forbidden")));
        assert!(denied.keep(&ev("k", "denied:forbidden")) && !denied.keep(&ev("k", "ok")));
        let bad = AuditQuery {
            outcome: Some("maybe".into()),
            ..AuditQuery::default()
        };
        assert!(Filter::parse(&bad).is_err());
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let mut out = String::new();
        csv_row(&ev("=HYPERLINK(\"x\"),y", "ok"), &mut out);
        assert!(out.contains("\"'=HYPERLINK(\"\"x\"\"),y\""), "{out}");
        assert!(out.ends_with("\r\n"));
        assert!(out.contains("\"{\"\"version\"\":1}\""), "{out}");
    }
}
