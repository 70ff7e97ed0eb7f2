//! API-token material. Tokens are `lbx_` + 43 base64url characters (256 random bits),
//! so scanners and people can recognise a leaked one. Only their SHA-256 is stored: a
//! token is high-entropy, so a fast hash is enough and lookups stay cheap.

use base64::Engine;
use lockbox_core::Sensitive;
use zeroize::Zeroizing;

pub const TOKEN_PREFIX: &str = "lbx_";

/// Base64url characters of a token's 256 random bits.
const TOKEN_BODY_LEN: usize = 43;

/// A fresh token, typed as a credential until it reaches its one response (the
/// caller shows it once and stores only [`hash_token`] of it). Built in a buffer
/// of its final size, so no partial copy is left behind.
pub fn generate_token() -> Sensitive<String> {
    let bytes = Zeroizing::new(crate::hazmat::random_bytes::<32>());
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + TOKEN_BODY_LEN);
    token.push_str(TOKEN_PREFIX);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode_string(bytes.as_slice(), &mut token);
    Sensitive::new(token)
}

/// Hex SHA-256 of a presented token: the only form that reaches storage.
pub fn hash_token(token: &str) -> String {
    hex::encode(crate::hazmat::sha256(token.as_bytes()))
}

/// Cheap shape check before any lookup: prefix and length.
pub fn looks_like_token(token: &str) -> bool {
    token.len() == TOKEN_PREFIX.len() + TOKEN_BODY_LEN && token.starts_with(TOKEN_PREFIX)
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
        let (a, b) = (generate_token(), generate_token());
        assert!(
            !format!("{a:?}").contains("lbx_"),
            "Debug redacts a fresh token"
        );
        // EXPOSE: the test reads the tokens it checks.
        let text = a.expose();
        assert_eq!(text.capacity(), text.len(), "built at its final size");
        // EXPOSE: as above.
        let (a, b) = (a.expose().clone(), b.expose().clone());
        assert!(looks_like_token(&a) && looks_like_token(&b));
        assert_ne!(a, b);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(!hash_token(&a).contains(&a[4..]));
        assert!(!looks_like_token("lbx_short"));
    }
}
