//! A workspace's data key: it seals and opens secret versions and keys the
//! fingerprints. Deleting the wrapped copy of this key (workspace delete) makes every
//! ciphertext of the workspace unreadable at once: crypto-shredding.

use crate::{hazmat, CryptoError};
use lockbox_core::{Scope, SecretValue};
use zeroize::Zeroizing;

/// An unwrapped 256-bit workspace data key. Not `Clone`, not `Debug`.
pub struct DataKey {
    seal_key: Zeroizing<[u8; 32]>,
    fingerprint_key: Zeroizing<[u8; 32]>,
    raw: Zeroizing<[u8; 32]>,
}

/// What a sealed secret version is bound to. A ciphertext copied to a row with any
/// other field value does not decrypt.
#[derive(Debug, Clone, Copy)]
pub struct ValueAad<'a> {
    pub workspace_id: &'a str,
    pub secret_id: &'a str,
    pub scope: Scope,
    /// The owning user's id for user-scoped secrets, `""` for workspace scope.
    pub owner: &'a str,
    pub version: u64,
    /// The data-key version that sealed it.
    pub key_version: u32,
}

impl ValueAad<'_> {
    fn encode(&self) -> Vec<u8> {
        let mut out = b"lockbox.secret-version.v1".to_vec();
        for part in [
            self.workspace_id.as_bytes(),
            self.secret_id.as_bytes(),
            self.scope.as_str().as_bytes(),
            self.owner.as_bytes(),
        ] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.key_version.to_be_bytes());
        out
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        DataKey::from_raw(hazmat::random_bytes())
    }

    pub(crate) fn from_raw(raw: [u8; 32]) -> DataKey {
        let raw = Zeroizing::new(raw);
        DataKey {
            seal_key: hazmat::derive(&raw, b"lockbox.workspace.seal.v1"),
            fingerprint_key: hazmat::derive(&raw, b"lockbox.workspace.fingerprint.v1"),
            raw,
        }
    }

    pub(crate) fn raw(&self) -> &[u8; 32] {
        &self.raw
    }

    /// Seals a value for one secret version: `format || nonce || ciphertext+tag`.
    pub fn seal(&self, aad: &ValueAad<'_>, value: &SecretValue) -> Vec<u8> {
        // EXPOSE: the plaintext goes into AES-GCM and nowhere else.
        hazmat::seal(&self.seal_key, &aad.encode(), value.expose())
    }

    pub fn open(&self, aad: &ValueAad<'_>, sealed: &[u8]) -> Result<SecretValue, CryptoError> {
        let plain = hazmat::open(&self.seal_key, &aad.encode(), sealed)?;
        Ok(SecretValue::from_json_bytes(plain.to_vec()))
    }

    /// A short keyed hash of the value (HMAC-SHA256, first 8 bytes as hex), so people
    /// can tell values apart without seeing them. Keyed per workspace: the same value
    /// in two workspaces has two unrelated fingerprints.
    pub fn fingerprint(&self, value: &SecretValue) -> String {
        // EXPOSE: hashed under a workspace key; only 64 bits of the MAC are kept.
        let mac = hazmat::hmac_sha256(&self.fingerprint_key, value.expose());
        hex::encode(&mac[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn aad(version: u64) -> ValueAad<'static> {
        ValueAad {
            workspace_id: "ws1",
            secret_id: "s1",
            scope: Scope::Workspace,
            owner: "",
            version,
            key_version: 1,
        }
    }

    #[test]
    fn binds_every_aad_field() {
        let key = DataKey::generate();
        let v = SecretValue::from_json(&json!("swordfish"), 1000).unwrap();
        let sealed = key.seal(&aad(1), &v);
        assert_eq!(key.open(&aad(1), &sealed).unwrap(), v);
        let variants = [
            ValueAad {
                workspace_id: "ws2",
                ..aad(1)
            },
            ValueAad {
                secret_id: "s2",
                ..aad(1)
            },
            ValueAad {
                scope: Scope::User,
                ..aad(1)
            },
            ValueAad {
                owner: "u1",
                ..aad(1)
            },
            aad(2),
            ValueAad {
                key_version: 2,
                ..aad(1)
            },
        ];
        for other in variants {
            assert!(key.open(&other, &sealed).is_err(), "{other:?}");
        }
        assert!(DataKey::generate().open(&aad(1), &sealed).is_err());
    }

    #[test]
    fn fingerprints_are_keyed() {
        let v = SecretValue::from_json(&json!("swordfish"), 1000).unwrap();
        let k1 = DataKey::generate();
        assert_eq!(k1.fingerprint(&v), k1.fingerprint(&v));
        assert_eq!(k1.fingerprint(&v).len(), 16);
        assert_ne!(k1.fingerprint(&v), DataKey::generate().fingerprint(&v));
    }

    /// Frozen vector: a version sealed by format v1. If this stops decrypting, a
    /// change broke every existing database.
    #[test]
    fn frozen_v1_ciphertext_still_opens() {
        let key = DataKey::from_raw([42u8; 32]);
        let sealed = hex::decode(FROZEN_V1).unwrap();
        let v = key.open(&aad(3), &sealed).expect("frozen vector decrypts");
        assert_eq!(
            v,
            SecretValue::from_json(&json!({"token": "frozen"}), 1000).unwrap()
        );
    }

    const FROZEN_V1: &str =
        "0166fbbe9b3a30aa9f159315e5b854cdfa598c7a13b3ded0b5afbe41e7c7a0df8bb18e47b049b0b47dd1c9d4e7f1b9";
}
