//! Lockbox's own credentials in an outgoing request.
//!
//! A run must not make Lockbox carry a Lockbox credential anywhere: not its own run
//! token (to call Lockbox's API as itself from a place it cannot reach), not an API
//! token or console session stored as a secret (to act with more rights than the run
//! has). This module recognises the shapes: `lbx_` (API tokens), `lbr_` (run tokens)
//! and `lbs_` (console sessions) followed by 20 or more base64url characters, in text
//! as is, percent-decoded, and in JSON string leaves and keys; and a `Cookie` header
//! naming Lockbox's session cookie. It only answers yes or no: it never reports where
//! in the text a token was, so no caller can quote one.

/// Base64url characters a token is made of after its prefix.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// Shortest run of token characters after the prefix that counts as a token.
const MIN_TOKEN_CHARS: usize = 20;

/// Whether `b` holds `lbx_`, `lbr_` or `lbs_` followed by at least
/// [`MIN_TOKEN_CHARS`] base64url characters.
fn scan(b: &[u8]) -> bool {
    let mut i = 0;
    while i + 4 <= b.len() {
        if b[i] == b'l'
            && b[i + 1] == b'b'
            && matches!(b[i + 2], b'x' | b'r' | b's')
            && b[i + 3] == b'_'
        {
            let n = b[i + 4..].iter().take_while(|c| is_token_char(**c)).count();
            if n >= MIN_TOKEN_CHARS {
                return true;
            }
        }
        i += 1;
    }
    false
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `b` with every `%XX` decoded (anything else kept).
fn percent_decode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Whether `b` carries a Lockbox token: as is, or once or twice percent-decoded.
pub(crate) fn carries_token(b: &[u8]) -> bool {
    if scan(b) {
        return true;
    }
    let mut cur = b.to_vec();
    for _ in 0..2 {
        if !cur.contains(&b'%') {
            return false;
        }
        cur = percent_decode(&cur);
        if scan(&cur) {
            return true;
        }
    }
    false
}

/// Whether any string leaf or key of `v` carries a Lockbox token.
pub(crate) fn json_carries_token(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => carries_token(s.as_bytes()),
        serde_json::Value::Array(a) => a.iter().any(json_carries_token),
        serde_json::Value::Object(o) => o
            .iter()
            .any(|(k, v)| carries_token(k.as_bytes()) || json_carries_token(v)),
        _ => false,
    }
}

/// Whether a body carries a Lockbox token: its bytes (as is and percent-decoded) and,
/// when it is JSON, every string in it (which `\u` escapes could spell).
pub(crate) fn body_carries_token(b: &[u8]) -> bool {
    carries_token(b)
        || serde_json::from_slice::<serde_json::Value>(b).is_ok_and(|v| json_carries_token(&v))
}

/// Whether a `Cookie` header value names Lockbox's console session cookie.
pub(crate) fn names_session_cookie(cookie: &str) -> bool {
    cookie.split(';').any(|pair| {
        let name = pair.split('=').next().unwrap_or("").trim();
        name.eq_ignore_ascii_case("lockbox_session")
            || name.eq_ignore_ascii_case("__Host-lockbox_session")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "lbx_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcd";

    #[test]
    fn token_shapes_are_found_in_every_spelling() {
        for t in [
            TOKEN.to_string(),
            format!("Bearer {TOKEN}"),
            format!("x{TOKEN}y"),
            "lbr_01234567890123456789".to_string(),
            "lbs_abcdefghijklmnopqrst".to_string(),
            format!("a=lbx%5F{}", &TOKEN[4..]),
            format!("a=lbx%255F{}", &TOKEN[4..]),
            format!("%6C%62%72%5F{}", &TOKEN[4..]),
        ] {
            assert!(carries_token(t.as_bytes()), "{t}");
        }
        for t in [
            "lbx_short",
            "lbx_0123456789012345678",
            "LBX_01234567890123456789",
            "lbq_01234567890123456789",
            "lbx-01234567890123456789",
            "plain text",
            "",
            "%",
            "%4",
            "abc%",
        ] {
            assert!(!carries_token(t.as_bytes()), "{t}");
        }
        let escaped = format!("{{\"t\": \"lbx\\u005f{}\"}}", &TOKEN[4..]);
        assert!(!carries_token(escaped.as_bytes()));
        assert!(body_carries_token(escaped.as_bytes()));
        assert!(json_carries_token(
            &serde_json::json!({"a": [1, {TOKEN: 2}]})
        ));
        assert!(!json_carries_token(
            &serde_json::json!({"a": [1, {"b": "c"}]})
        ));
    }

    #[test]
    fn session_cookies_are_found_by_name() {
        assert!(names_session_cookie("a=1; lockbox_session=x; b=2"));
        assert!(names_session_cookie("__Host-lockbox_session=x"));
        assert!(names_session_cookie(" LOCKBOX_SESSION = x"));
        assert!(!names_session_cookie(
            "a=lockbox_session; other_lockbox_session=1"
        ));
    }
}
