//! The console's script and stylesheet, compiled into the binary and served under
//! content-hashed names (`app.<hash>.js`), so a new binary never mixes with an old
//! asset. Nothing else is served from here; unknown names are `not_found`.

use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use lockbox_core::ErrorCode;
use std::sync::OnceLock;

const JS: &str = include_str!("../../console/app.js");
const CSS: &str = include_str!("../../console/app.css");

fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}", h & 0xffff_ffff_ffff)
}

/// `app.<hash>.js`
pub fn js_path() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| format!("app.{}.js", fnv(JS)))
}

/// `app.<hash>.css`
pub fn css_path() -> &'static str {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| format!("app.{}.css", fnv(CSS)))
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, mime) = if file == js_path() {
        (JS, "text/javascript; charset=utf-8")
    } else if file == css_path() {
        (CSS, "text/css; charset=utf-8")
    } else {
        return super::view::error_page(ErrorCode::NotFound, "no such file", None);
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // The name changes with the content, so a cached copy is never stale.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}
