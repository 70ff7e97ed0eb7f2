//! Lockbox's cryptography: the master keyring, per-workspace data keys, envelope
//! encryption of secret versions, keyed fingerprints and API-token material.
//!
//! Only `hazmat.rs` touches AEAD, HKDF and HMAC primitives (from `ring`); everything
//! else in Lockbox uses the safe API here. Keys are neither `Clone` nor `Debug`; they
//! are referred to by version.

mod audit_key;
mod digest;
mod hazmat;
pub mod master;
pub mod sealed;
pub mod token;
pub mod workspace_key;

pub use audit_key::AuditChainKey;
pub use digest::{random_bytes, sha256};
pub use master::{CheckOutcome, KeySource, MasterKeyring, WrappedDataKey};
pub use sealed::TokenPurpose;
pub use token::{
    constant_time_eq, generate_token, hash_token, looks_like_token, random_id, TOKEN_PREFIX,
};
pub use workspace_key::{DataKey, PolicyAad, ValueAad};

/// Crypto failures. None carries key or plaintext material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("decryption failed: wrong key, or the ciphertext or its binding was altered")]
    Decrypt,
    #[error("master key version {0} is unknown to this keyring")]
    UnknownMasterVersion(u32),
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("key file {path}: {why}")]
    KeyFile { path: String, why: String },
}

impl From<CryptoError> for lockbox_core::Error {
    fn from(e: CryptoError) -> Self {
        lockbox_core::Error::internal(e)
    }
}
