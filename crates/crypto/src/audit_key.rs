//! The audit chain's key: HMAC-SHA256 under a subkey of one master-key version, so
//! whoever can write the database but does not hold the master key cannot
//! recompute a chain after editing, dropping or renumbering rows.
//!
//! The key is derived (HKDF, label `lockbox.audit-chain.v1`) each time a process
//! needs it and never stored anywhere. Each keyed row records the master-key
//! version its link was made under, so rows written before and after a master-key
//! rotation both verify while the keyring holds both versions.

use crate::{hazmat, CryptoError, MasterKeyring};
use zeroize::Zeroizing;

const LABEL: &[u8] = b"lockbox.audit-chain.v1";

/// The audit chain key of one master-key version. Not `Clone`, not `Debug`.
pub struct AuditChainKey {
    version: u32,
    key: Zeroizing<[u8; 32]>,
}

impl AuditChainKey {
    /// The master-key version this key is derived from.
    pub fn master_version(&self) -> u32 {
        self.version
    }

    /// HMAC-SHA256 of `msg`.
    pub fn mac(&self, msg: &[u8]) -> [u8; 32] {
        hazmat::hmac_sha256(&self.key, msg)
    }
}

impl MasterKeyring {
    /// The audit chain key under master-key `version` (reloading the key file once
    /// if the version is unknown).
    pub fn audit_chain_key(&self, version: u32) -> Result<AuditChainKey, CryptoError> {
        Ok(AuditChainKey {
            version,
            key: self.derive_version(version, LABEL)?,
        })
    }

    /// The audit chain key under the active master-key version.
    pub fn active_audit_chain_key(&self) -> AuditChainKey {
        let (version, key) = self.derive_active(LABEL);
        AuditChainKey { version, key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_key_depends_on_the_master_key_and_its_version() {
        let a = MasterKeyring::from_key_bytes([1u8; 32]);
        let b = MasterKeyring::from_key_bytes([2u8; 32]);
        let ka = a.audit_chain_key(1).unwrap();
        assert_eq!(ka.master_version(), 1);
        assert_eq!(ka.mac(b"row"), a.active_audit_chain_key().mac(b"row"));
        assert_ne!(ka.mac(b"row"), b.audit_chain_key(1).unwrap().mac(b"row"));
        assert_ne!(ka.mac(b"row"), ka.mac(b"row2"));
        assert!(a.audit_chain_key(2).is_err());
        // Not the plain master key, nor another purpose's subkey.
        assert_ne!(ka.mac(b"row"), hazmat::hmac_sha256(&[1u8; 32], b"row"));
    }

    /// Frozen vector (computed independently: HKDF-SHA256 with an empty salt, then
    /// HMAC-SHA256): a change to the derivation would break every stored chain.
    #[test]
    fn frozen_vector() {
        let k = MasterKeyring::from_key_bytes([7u8; 32])
            .audit_chain_key(1)
            .unwrap();
        assert_eq!(
            hex::encode(k.mac(b"lockbox")),
            "c4265c9539f0ab3406977f7ec171fbadb8ecbf4d209f0c0ed02a00eb684c3252"
        );
    }
}
