//! Rendering: the template environment (templates compiled into the binary,
//! HTML auto-escaping on), and the console's error path: error pages and the text
//! a panel or notice shows for an error, which name the stable code and the request
//! id and never an internal cause (the cause goes to the log with the request id).

use super::assets;
use crate::error::{internal_message, log_cause, ErrorCause};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use lockbox_core::{Error, ErrorCode};
use minijinja::Environment;
use std::sync::OnceLock;

const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../console/templates/base.html"),
    ),
    (
        "sign_in.html",
        include_str!("../../console/templates/sign_in.html"),
    ),
    (
        "secrets.html",
        include_str!("../../console/templates/secrets.html"),
    ),
    (
        "secrets_list.html",
        include_str!("../../console/templates/secrets_list.html"),
    ),
    (
        "import.html",
        include_str!("../../console/templates/import.html"),
    ),
    (
        "secret.html",
        include_str!("../../console/templates/secret.html"),
    ),
    (
        "members.html",
        include_str!("../../console/templates/members.html"),
    ),
    (
        "tokens.html",
        include_str!("../../console/templates/tokens.html"),
    ),
    (
        "audit.html",
        include_str!("../../console/templates/audit.html"),
    ),
    (
        "message.html",
        include_str!("../../console/templates/message.html"),
    ),
    (
        "notice.html",
        include_str!("../../console/templates/notice.html"),
    ),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        // `.html` templates are HTML-escaped (minijinja's default callback).
        env.set_auto_escape_callback(minijinja::default_auto_escape_callback);
        for (name, src) in TEMPLATES {
            env.add_template(name, src)
                .expect("console templates compile (checked by a unit test)");
        }
        env.add_global("js", assets::js_path());
        env.add_global("css", assets::css_path());
        env
    })
}

/// Renders a template with `ctx`; a rendering failure is an `internal` page.
pub fn render(status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(template = name, error = %e, "console template failed");
            error_page(ErrorCode::Internal, &internal_message(None), None)
        }
    }
}

/// An HTML page naming the error's stable code.
pub fn error_page(code: ErrorCode, message: &str, request_id: Option<&str>) -> Response {
    let internal = internal_message(None);
    let message = if code == ErrorCode::Internal {
        &internal
    } else {
        message
    };
    let html = env()
        .get_template("message.html")
        .and_then(|t| {
            t.render(minijinja::context! {
                title => title_of(code),
                code => code.as_str(),
                message => message,
                request_id => request_id,
            })
        })
        .unwrap_or_else(|_| {
            format!(
                "<!doctype html><title>Error</title><p>{}</p>",
                code.as_str()
            )
        });
    let mut r = (crate::error::status_of(code), Html(html)).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A service error as the caller wants it: JSON (`{"error", "message", "field"?,
/// "request_id"}`) for the console script, an HTML page otherwise. Its cause is
/// logged with the request id (by the request-id layer for a 5xx), never shown.
pub fn error_response(e: &Error, request_id: Option<&str>, json: bool) -> Response {
    let mut r = if json {
        let message = if e.code == ErrorCode::Internal {
            internal_message(None)
        } else {
            e.message.clone()
        };
        crate::error::error_body(e.code, &message, e.field, request_id)
    } else {
        error_page(e.code, &e.message, request_id)
    };
    match e.cause() {
        Some(cause) if r.status().is_server_error() => {
            r.extensions_mut().insert(ErrorCause(cause.to_owned()));
        }
        _ => log_cause(e, request_id),
    }
    r
}

/// What a form panel or a notice shows for `e`: its message, or for an
/// `internal` error the request id to quote. The cause is logged here, with
/// the request id, because such an answer is a redirect or the form again, which
/// the request-id layer does not log.
pub fn shown(e: &Error, request_id: Option<&str>) -> String {
    log_cause(e, request_id);
    crate::error::public_message(e, request_id)
}

fn title_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "Not found",
        ErrorCode::Forbidden => "Not allowed",
        ErrorCode::Unauthenticated => "Signed out",
        ErrorCode::Unavailable => "Try again shortly",
        ErrorCode::Internal => "Something went wrong",
        _ => "That did not work",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_and_escape() {
        let e = env();
        for (name, _) in TEMPLATES {
            assert!(e.get_template(name).is_ok(), "{name}");
        }
        let r = e
            .get_template("message.html")
            .unwrap()
            .render(minijinja::context! {
                title => "t", code => "invalid", message => "<script>x</script>",
            })
            .unwrap();
        assert!(!r.contains("<script>x"));
        assert!(r.contains("&lt;script&gt;"));
    }

    /// A rename refused because flows use the secret (the service's `secret_in_use`
    /// on rename): the error next to the name field names the flows, with the
    /// "Rename anyway and move the bindings" checkbox (`force`), kept as ticked.
    #[test]
    fn a_refused_rename_offers_force_next_to_the_name() {
        let mut panel = super::super::pages::Panel {
            kind: "edit",
            name: "orders-api-key".into(),
            new_name: "orders-key".into(),
            version: "3".into(),
            rename_blocked: true,
            force: true,
            ..Default::default()
        };
        panel.errors.insert(
            "name",
            "'orders-api-key' is used by 1 flow (orders-sync); renaming it would break it.".into(),
        );
        let html = env()
            .get_template("secrets.html")
            .unwrap()
            .render(minijinja::context! {
                title => "Secrets", signed_in => true, csrf => "c", q => "",
                lay => minijinja::context! { ws => "default", can_write => true, allow_rename => true, personal => false },
                list => minijinja::context! { rows => Vec::<String>::new(), matched => 0, page => 1, pages => 1, first => 0, last => 0, truncated => false },
                sorts => minijinja::context! { by => "name", dir => "ascending", name_url => "", updated_url => "" },
                sort => "name", dir => "asc", url => "/console/w/default/secrets",
                panel => minijinja::Value::from(minijinja::value::Serde(&Some(panel))),
                max_bytes => 65536,
            })
            .unwrap();
        assert!(html.contains("id=\"edit-name-error\""), "{html}");
        assert!(html.contains("used by 1 flow (orders-sync)"));
        assert!(html.contains(
            "<input type=\"checkbox\" name=\"force\" value=\"1\" checked> Rename anyway and move the bindings"
        ));
        assert!(html.contains("name=\"version\" data-fill-value=\"version\" value=\"3\""));
    }
}
