//! Import and export in the console (issue 18, item 3). The import page takes a
//! pasted or uploaded `.env` text; the preview (`POST …/import/preview`, JSON)
//! answers keys, lines and new/existing, never a value, so the pasted values stay
//! in the browser (the script shows one only on request, from what was pasted)
//! and are re-posted once, as JSON with the CSRF header, for the import itself
//! (`POST …/import`): one normal, audited put per secret, answered with keys only.
//! No page the server renders ever holds a pasted value.
//!
//! Export: `GET …/export?format=env|json` gives names and metadata to anyone who
//! may list; `POST …/export` (a confirmed form) adds values for roles that may
//! reveal them, each an audited reveal. Both are downloads, never compressed.

use super::pages::{fail, layout};
use super::session::Console;
use super::view;
use super::ConsoleForm;
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lockbox_core::{Error, Scope};
use lockbox_service::ExportFormat;
use serde::Deserialize;
use std::collections::BTreeSet;

fn json_error(c: &Console, e: Error) -> Response {
    view::error_response(&e, c.ctx.request_id.as_deref(), true)
}

/// The import and export page.
pub async fn page(
    State(st): State<AppState>,
    c: Console,
    ApiPath(ws): ApiPath<String>,
) -> Response {
    let lay = match layout(&st, &c, &ws, "secrets").await {
        Ok(l) => l,
        Err(e) => return fail(&c, e),
    };
    view::render(
        StatusCode::OK,
        "import.html",
        minijinja::context! {
            title => "Import and export",
            signed_in => true,
            csrf => c.session.csrf_token(),
            lay => minijinja::Value::from(minijinja::value::Serde(&lay)),
            max_kib => lockbox_service::MAX_IMPORT_BYTES / 1024,
        },
    )
}

#[derive(Deserialize)]
pub struct PreviewBody {
    text: String,
}

/// Keys of the pasted text, each new or existing (JSON; no value).
pub async fn preview(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    c: Console,
    JsonBody(b): JsonBody<PreviewBody>,
) -> Response {
    match st
        .svc
        .import_preview(&c.session.principal, &ws, Scope::Workspace, &b.text, &c.ctx)
        .await
    {
        Ok(rows) => axum::Json(serde_json::json!({ "rows": rows })).into_response(),
        Err(e) => json_error(&c, e),
    }
}

#[derive(Deserialize)]
pub struct ImportBody {
    text: String,
    /// The keys chosen in the preview.
    keys: Vec<String>,
    #[serde(default)]
    overwrite: bool,
}

/// Imports the chosen keys (JSON in, JSON out: keys and messages, no value).
pub async fn import(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    c: Console,
    JsonBody(b): JsonBody<ImportBody>,
) -> Response {
    let only: BTreeSet<String> = b.keys.into_iter().collect();
    match st
        .svc
        .import_dotenv(
            &c.session.principal,
            &ws,
            Scope::Workspace,
            &b.text,
            Some(&only),
            b.overwrite,
            &c.ctx,
        )
        .await
    {
        Ok(out) => axum::Json(serde_json::json!({
            "created": out.created,
            "updated": out.updated,
            "skipped": out.skipped,
            "failed": out.failed.into_iter().map(|(key, message)| serde_json::json!({"key": key, "message": message})).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => json_error(&c, e),
    }
}

#[derive(Deserialize, Default)]
pub struct ExportQuery {
    #[serde(default)]
    format: String,
}

fn download(ws: &str, format: ExportFormat, with_values: bool, body: String) -> Response {
    let (mime, ext) = match format {
        ExportFormat::Env => (
            "text/plain; charset=utf-8",
            if with_values { "env" } else { "env.example" },
        ),
        ExportFormat::Json => ("application/json", "json"),
    };
    // Workspace names are plain ([a-z0-9-]); keep the header safe anyway.
    let safe: String = ws
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"lockbox-{safe}.{ext}\""))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r.extensions_mut().insert(super::NoCompress);
    r
}

/// Names and metadata, for anyone who may list.
pub async fn export_names(
    State(st): State<AppState>,
    c: Console,
    ApiPath(ws): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Response {
    export(&st, &c, &ws, &q.format, false).await
}

#[derive(Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    format: String,
}

/// With values (a confirmed form; each value an audited reveal).
pub async fn export_values(
    State(st): State<AppState>,
    ApiPath(ws): ApiPath<String>,
    f: ConsoleForm<ExportForm>,
) -> Response {
    export(&st, &f.console, &ws, &f.form.format, true).await
}

/// The download: names and metadata, or with values (each an audited reveal;
/// the service refuses roles that may not reveal).
async fn export(st: &AppState, c: &Console, ws: &str, format: &str, values: bool) -> Response {
    let format = match ExportFormat::parse(format) {
        Ok(f) => f,
        Err(e) => return fail(c, e),
    };
    match st
        .svc
        .export_secrets(
            &c.session.principal,
            ws,
            Scope::Workspace,
            format,
            values,
            &c.ctx,
        )
        .await
    {
        // EXPOSE: an export; values only after the confirmed form, each an audited reveal.
        Ok(text) => download(ws, format, values, text.to_string()),
        Err(e) => fail(c, e),
    }
}
