//! API-token material. Tokens are `lbx_` + 43 base64url characters (256 random bits),
//! so scanners and people can recognise a leaked one. Only their SHA-256 is stored: a
//! token is high-entropy, so a fast hash is enough and lookups stay cheap.

use base64::Engine;

pub const TOKEN_PREFIX: &str = "lbx_";

/// A fresh token. The caller shows it once and stores only [`hash_token`] of it.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = crate::hazmat::random_bytes();
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// Hex SHA-256 of a presented token: the only form that reaches storage.
pub fn hash_token(token: &str) -> String {
    hex::encode(crate::hazmat::sha256(token.as_bytes()))
}

/// Cheap shape check before any lookup: prefix and length.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_PREFIX.len() + 43 && token.starts_with(TOKEN_PREFIX)
}

/// A random identifier (128 bits, hex) for rows: workspaces, secrets, users, tokens.
pub fn random_id() -> String {
    hex::encode(crate::hazmat::random_bytes::<16>())
}

/// Constant-time equality for token hashes and other non-secret-length strings.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_unique_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert!(looks_like_token(&a) && looks_like_token(&b));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(!hash_token(&a).contains(&a[4..]));
        assert!(!looks_like_token("lbx_short"));
    }
}
