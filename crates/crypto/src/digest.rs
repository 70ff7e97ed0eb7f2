//! Unkeyed digests and random bytes for crates that must not call primitives
//! themselves: the store's legacy audit links (SHA-256) and its row ids and retry
//! jitter. Keyed hashing stays behind the key types (`AuditChainKey`, `DataKey`).

use crate::hazmat;

/// SHA-256 of `msg`.
pub fn sha256(msg: &[u8]) -> [u8; 32] {
    hazmat::sha256(msg)
}

/// `N` bytes from the operating system's random number generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    hazmat::random_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2's "abc" example: the digest is SHA-256 and nothing else.
    #[test]
    fn sha256_matches_the_published_vector() {
        assert_eq!(
            hex::encode(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
    }
}
