//! The only module that calls cryptographic primitives: AES-256-GCM seal/open with a
//! random 96-bit nonce, HKDF-SHA256 and HMAC-SHA256, all from `ring`.
//! Nothing outside this crate can import it.

use crate::CryptoError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// Sealed-blob format byte; bump it when the layout changes.
const FORMAT_V1: u8 = 1;

pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .expect("the operating system's random number generator failed");
    out
}

/// Length of a sealed blob for a plaintext of `len` bytes.
fn sealed_len(len: usize) -> usize {
    1 + NONCE_LEN + len + AES_256_GCM.tag_len()
}

/// `FORMAT_V1 || nonce || ciphertext+tag`.
///
/// The plaintext is copied once, into the output buffer, and encrypted there.
/// The buffer is allocated at its final size (tag included) first: a buffer that
/// grew while it held plaintext would leave that plaintext behind in the freed
/// allocation, where nothing wipes it.
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let nonce_bytes: [u8; NONCE_LEN] = random_bytes();
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let mut buf = Vec::with_capacity(sealed_len(plaintext.len()));
    buf.push(FORMAT_V1);
    buf.extend_from_slice(&nonce_bytes);
    let body = buf.len();
    buf.extend_from_slice(plaintext);
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(aad),
            &mut buf[body..],
        )
        .expect("AES-GCM seal of a bounded buffer");
    buf.extend_from_slice(tag.as_ref());
    buf
}

pub(crate) fn open(
    key: &[u8; 32],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Decrypt);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).expect("32-byte key"));
    let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut body,
        )
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    body.truncate(len);
    Ok(body)
}

struct Len32;
impl ring::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// HKDF-SHA256(ikm = key, salt = empty, info) → 32 bytes.
pub(crate) fn derive(key: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &[]).extract(key);
    let infos = [info];
    let okm = prk.expand(&infos, Len32).expect("HKDF output of 32 bytes");
    let mut out = Zeroizing::new([0u8; 32]);
    okm.fill(out.as_mut()).expect("HKDF fill of 32 bytes");
    out
}

pub(crate) fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let tag = ring::hmac::sign(&k, msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// HMAC-SHA256 over the concatenation of `parts`, without copying them into one
/// buffer (one of them may be a plaintext).
pub(crate) fn hmac_sha256_parts(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut ctx = ring::hmac::Context::with_key(&k);
    for p in parts {
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

pub(crate) fn sha256(msg: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, msg);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = [7u8; 32];
        let blob = seal(&key, b"aad-1", b"plain");
        assert_eq!(open(&key, b"aad-1", &blob).unwrap().as_slice(), b"plain");
        assert!(open(&key, b"aad-2", &blob).is_err());
        assert!(open(&[8u8; 32], b"aad-1", &blob).is_err());
        let mut flipped = blob.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(open(&key, b"aad-1", &flipped).is_err());
        assert!(open(&key, b"aad-1", &blob[..10]).is_err());
        assert!(open(&key, b"aad-1", &[]).is_err());
    }

    #[test]
    fn hmac_over_parts_is_hmac_over_their_concatenation() {
        let key = [3u8; 32];
        assert_eq!(
            hmac_sha256_parts(&key, &[b"ab", b"", b"cde"]),
            hmac_sha256(&key, b"abcde")
        );
    }

    #[test]
    fn sealing_never_grows_the_buffer_that_held_plaintext() {
        // A reallocation would leave a plaintext copy in the old allocation. Vec
        // grows by doubling, so a buffer that grew has spare capacity; one sized
        // up front has none.
        let key = [9u8; 32];
        for len in [0usize, 1, 15, 16, 17, 100, 4096, 64 * 1024 + 3] {
            let plain = vec![0x5au8; len];
            let blob = seal(&key, b"aad", &plain);
            assert_eq!(blob.len(), sealed_len(len));
            assert_eq!(blob.capacity(), blob.len(), "plaintext of {len} bytes");
            assert_eq!(open(&key, b"aad", &blob).unwrap().as_slice(), &plain[..]);
        }
    }

    #[test]
    fn nonces_differ() {
        let key = [1u8; 32];
        assert_ne!(seal(&key, b"", b"x"), seal(&key, b"", b"x"));
    }
}
