//! A workspace's data key: it seals and opens secret versions and keys the
//! fingerprints. Deleting the wrapped copy of this key (workspace delete) makes every
//! ciphertext of the workspace unreadable at once: crypto-shredding.

use crate::{hazmat, CryptoError};
use lockbox_core::{Scope, SecretValue, Visibility};
use zeroize::Zeroizing;

/// An unwrapped 256-bit workspace data key. Not `Clone`, not `Debug`.
pub struct DataKey {
    seal_key: Zeroizing<[u8; 32]>,
    fingerprint_key: Zeroizing<[u8; 32]>,
    /// Keys the fingerprints of restricted versions, which also bind the version
    /// (see [`DataKey::version_fingerprint`]).
    version_fingerprint_key: Zeroizing<[u8; 32]>,
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
    /// The policy the version was sealed under. `Some`: the v2 encoding
    /// (`lockbox.secret-version.v2`), which binds it. `None`: the legacy v1
    /// encoding, which binds no policy; only for reading versions written before
    /// policy binding, until they are re-sealed.
    pub policy: Option<PolicyAad<'a>>,
}

/// The policy fields a v2 seal binds: change either in the database and the
/// version no longer decrypts.
#[derive(Debug, Clone, Copy)]
pub struct PolicyAad<'a> {
    /// The secret's visibility (fixed at creation).
    pub visibility: Visibility,
    /// The version's `allowed_hosts` patterns. Bound as a set: the encoding sorts
    /// and deduplicates them, so order and repeats do not matter.
    pub allowed_hosts: &'a [String],
}

fn put_len_prefixed(out: &mut Vec<u8>, part: &[u8]) {
    out.extend_from_slice(&(part.len() as u32).to_be_bytes());
    out.extend_from_slice(part);
}

impl ValueAad<'_> {
    /// v1: `label || lp(workspace) || lp(secret) || lp(scope) || lp(owner) ||
    /// version (u64 BE) || key_version (u32 BE)`, where `lp` is a u32 BE length
    /// then the bytes. v2: the same under its own label, then `lp(visibility) ||
    /// host count (u32 BE) || lp(host)…` over the sorted, deduplicated hosts.
    fn encode(&self) -> Vec<u8> {
        let label: &[u8] = match self.policy {
            None => b"lockbox.secret-version.v1",
            Some(_) => b"lockbox.secret-version.v2",
        };
        let mut out = label.to_vec();
        for part in [
            self.workspace_id.as_bytes(),
            self.secret_id.as_bytes(),
            self.scope.as_str().as_bytes(),
            self.owner.as_bytes(),
        ] {
            put_len_prefixed(&mut out, part);
        }
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&self.key_version.to_be_bytes());
        if let Some(policy) = &self.policy {
            put_len_prefixed(&mut out, policy.visibility.as_str().as_bytes());
            let mut hosts: Vec<&[u8]> = policy.allowed_hosts.iter().map(String::as_bytes).collect();
            hosts.sort_unstable();
            hosts.dedup();
            out.extend_from_slice(&(hosts.len() as u32).to_be_bytes());
            for h in hosts {
                put_len_prefixed(&mut out, h);
            }
        }
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
            version_fingerprint_key: hazmat::derive(
                &raw,
                b"lockbox.workspace.fingerprint.restricted-version.v1",
            ),
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

    /// The fingerprint of a restricted secret's version: a keyed hash of (secret id,
    /// version, value) under a key of its own (its own HKDF label). It tells one
    /// version from another, but nothing about whether the value equals any other
    /// value: the same value in another secret, or in another version of this one,
    /// gets an unrelated fingerprint, so writing a guess elsewhere and comparing
    /// fingerprints reveals nothing.
    pub fn version_fingerprint(
        &self,
        secret_id: &str,
        version: u64,
        value: &SecretValue,
    ) -> String {
        let id_len = (secret_id.len() as u32).to_be_bytes();
        let version = version.to_be_bytes();
        let mac = hazmat::hmac_sha256_parts(
            &self.version_fingerprint_key,
            // EXPOSE: hashed under a workspace key with the version's identity; only
            // 64 bits of the MAC are kept.
            &[&id_len, secret_id.as_bytes(), &version, value.expose()],
        );
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
            policy: None,
        }
    }

    const HOSTS: [&str; 2] = ["api.example.com", "*.example.org"];

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|h| (*h).to_owned()).collect()
    }

    fn aad_v2<'a>(version: u64, visibility: Visibility, allowed: &'a [String]) -> ValueAad<'a> {
        ValueAad {
            policy: Some(PolicyAad {
                visibility,
                allowed_hosts: allowed,
            }),
            ..aad(version)
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
    fn v2_binds_visibility_and_allowed_hosts() {
        let key = DataKey::generate();
        let v = SecretValue::from_json(&json!("swordfish"), 1000).unwrap();
        let list = hosts(&HOSTS);
        let sealed = key.seal(&aad_v2(1, Visibility::Restricted, &list), &v);
        assert_eq!(
            key.open(&aad_v2(1, Visibility::Restricted, &list), &sealed)
                .unwrap(),
            v
        );
        // The host list is a set: order and repeats do not matter.
        let reordered = hosts(&["*.example.org", "api.example.com", "*.example.org"]);
        assert!(key
            .open(&aad_v2(1, Visibility::Restricted, &reordered), &sealed)
            .is_ok());
        let wider: [Vec<String>; 4] = [
            Vec::new(),
            hosts(&["api.example.com"]),
            hosts(&["api.example.com", "*.example.org", "evil.example.net"]),
            hosts(&["api.example.com", "*.example.org."]),
        ];
        for other in &wider {
            assert!(
                key.open(&aad_v2(1, Visibility::Restricted, other), &sealed)
                    .is_err(),
                "{other:?}"
            );
        }
        assert!(key
            .open(&aad_v2(1, Visibility::Masked, &list), &sealed)
            .is_err());
        // Neither encoding opens the other's ciphertext: no downgrade to v1.
        assert!(key.open(&aad(1), &sealed).is_err());
        let legacy = key.seal(&aad(1), &v);
        assert!(key
            .open(&aad_v2(1, Visibility::Masked, &[]), &legacy)
            .is_err());
        // Every v1 field is still bound under v2.
        let base = aad_v2(1, Visibility::Restricted, &list);
        for other in [
            ValueAad {
                workspace_id: "ws2",
                ..base
            },
            ValueAad {
                secret_id: "s2",
                ..base
            },
            ValueAad {
                scope: Scope::User,
                ..base
            },
            ValueAad {
                owner: "u1",
                ..base
            },
            ValueAad { version: 2, ..base },
            ValueAad {
                key_version: 2,
                ..base
            },
        ] {
            assert!(key.open(&other, &sealed).is_err(), "{other:?}");
        }
    }

    /// Length prefixes keep host boundaries: ["ab", "c"] is not ["a", "bc"].
    #[test]
    fn v2_host_boundaries_are_unambiguous() {
        let a = hosts(&["ab", "c"]);
        let b = hosts(&["a", "bc"]);
        assert_ne!(
            aad_v2(1, Visibility::Masked, &a).encode(),
            aad_v2(1, Visibility::Masked, &b).encode()
        );
        assert_ne!(
            aad_v2(1, Visibility::Masked, &[]).encode(),
            aad(1).encode(),
            "an empty list under v2 is not v1"
        );
    }

    #[test]
    fn version_fingerprints_say_nothing_about_equality() {
        let key = DataKey::generate();
        let v = SecretValue::from_json(&json!("swordfish"), 1000).unwrap();
        let fp = key.version_fingerprint("s1", 1, &v);
        assert_eq!(fp.len(), 16);
        assert_eq!(fp, key.version_fingerprint("s1", 1, &v), "deterministic");
        // Same value: another secret, another version, or the masked
        // fingerprint all differ.
        assert_ne!(fp, key.version_fingerprint("s2", 1, &v));
        assert_ne!(fp, key.version_fingerprint("s1", 2, &v));
        assert_ne!(fp, key.fingerprint(&v));
        // Different value, same version: differs too.
        let w = SecretValue::from_json(&json!("swordfisH"), 1000).unwrap();
        assert_ne!(fp, key.version_fingerprint("s1", 1, &w));
        // Keyed per workspace.
        assert_ne!(fp, DataKey::generate().version_fingerprint("s1", 1, &v));
        // The id is length-prefixed: ("s1", …) and ("s", …) cannot collide by shifting bytes.
        assert_ne!(
            key.version_fingerprint("s", 1, &v),
            key.version_fingerprint("s1", 1, &v)
        );
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

    /// Frozen vector: a version sealed by format v2 (restricted, two hosts). If this
    /// stops decrypting, a change broke every re-sealed database.
    #[test]
    fn frozen_v2_ciphertext_still_opens() {
        let key = DataKey::from_raw([42u8; 32]);
        let sealed = hex::decode(FROZEN_V2).unwrap();
        let list = hosts(&HOSTS);
        let v = key
            .open(&aad_v2(3, Visibility::Restricted, &list), &sealed)
            .expect("frozen vector decrypts");
        assert_eq!(
            v,
            SecretValue::from_json(&json!({"token": "frozen"}), 1000).unwrap()
        );
        assert!(key
            .open(&aad_v2(3, Visibility::Masked, &list), &sealed)
            .is_err());
        assert!(key.open(&aad(3), &sealed).is_err());
        // The fingerprint of that restricted version, frozen too.
        assert_eq!(key.version_fingerprint("s1", 3, &v), FROZEN_V2_FINGERPRINT);
    }

    const FROZEN_V2: &str =
        "01fdc88c7192f37d31a43c6466299638f86dc99e0b0d62c3ab52fda60105f51b2fc2609f3ff7d42e145f2d3d91804c";
    const FROZEN_V2_FINGERPRINT: &str = "66739eb2e775f3ec";

    const FROZEN_V1: &str =
        "0166fbbe9b3a30aa9f159315e5b854cdfa598c7a13b3ded0b5afbe41e7c7a0df8bb18e47b049b0b47dd1c9d4e7f1b9";
}
