//! Short-lived sealed tokens: secret references (`$secret:…`), run tokens
//! (`lbr_…`) and the console's per-session notes and form nonces. The payload is
//! sealed with AES-256-GCM under a key derived (HKDF) from the active master-key
//! version and the token's purpose, so any node holding the
//! master key opens any token and nothing is stored per token. A token minted for
//! one purpose never opens as another; an edited token never opens at all.

use crate::master::MasterKeyring;
use crate::{hazmat, CryptoError};
use base64::Engine;
use lockbox_core::Sensitive;
use zeroize::Zeroizing;

/// What a sealed token is for; part of the key derivation and the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    SecretReference,
    RunToken,
    /// A console note bound to one session (a fresh token shown once after a
    /// redirect, on whichever node serves the page).
    ConsoleNote,
    /// A console form's one-time nonce, bound to one session.
    ConsoleFormNonce,
}

impl TokenPurpose {
    fn label(self) -> &'static [u8] {
        match self {
            TokenPurpose::SecretReference => b"lockbox.token.secret-reference.v1",
            TokenPurpose::RunToken => b"lockbox.token.run.v1",
            TokenPurpose::ConsoleNote => b"lockbox.token.console-note.v1",
            TokenPurpose::ConsoleFormNonce => b"lockbox.token.console-form-nonce.v1",
        }
    }
}

impl MasterKeyring {
    /// Seals `payload` into URL-safe text: base64url(master version ‖ sealed). The
    /// text is a bearer credential (a run token, a reference) or carries one (a
    /// console note), so it is returned as [`Sensitive`].
    pub fn seal_token(&self, purpose: TokenPurpose, payload: &[u8]) -> Sensitive<String> {
        let (version, key) = self.derive_active(purpose.label());
        let mut out = version.to_be_bytes().to_vec();
        out.extend_from_slice(&hazmat::seal(&key, purpose.label(), payload));
        Sensitive::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens text made by [`MasterKeyring::seal_token`] for the same purpose.
    pub fn open_token(
        &self,
        purpose: TokenPurpose,
        text: &str,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CryptoError::Decrypt)?;
        if raw.len() < 4 {
            return Err(CryptoError::Decrypt);
        }
        let version = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let key = self.derive_version(version, purpose.label())?;
        hazmat::open(&key, purpose.label(), &raw[4..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_resist_tampering_and_confusion() {
        let k = MasterKeyring::from_key_bytes([3u8; 32]);
        let t = k
            .seal_token(TokenPurpose::SecretReference, b"payload")
            .into_exposed();
        assert_eq!(
            k.open_token(TokenPurpose::SecretReference, &t)
                .unwrap()
                .as_slice(),
            b"payload"
        );
        assert!(
            k.open_token(TokenPurpose::RunToken, &t).is_err(),
            "purposes do not mix"
        );
        let mut bytes = t.clone().into_bytes();
        let last = bytes.len() - 2;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert!(k
            .open_token(
                TokenPurpose::SecretReference,
                std::str::from_utf8(&bytes).unwrap()
            )
            .is_err());
        assert!(k.open_token(TokenPurpose::SecretReference, "").is_err());
        assert!(k.open_token(TokenPurpose::SecretReference, "!!!").is_err());
        let other = MasterKeyring::from_key_bytes([4u8; 32]);
        assert!(
            other.open_token(TokenPurpose::SecretReference, &t).is_err(),
            "another deployment's key"
        );
        assert!(!t.contains("payload"));
    }
}
