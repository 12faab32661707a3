//! The cryptographic primitives every format is built from, each with exactly one meaning.
//!
//! Envelopes, webhooks and proofs call these and nothing else, and the public test suites
//! (Wycheproof AES-GCM, AES-KW, HMAC-SHA256, Ed25519) replay against these same functions,
//! so a primitive's edge cases are checked where the formats use them.
//!
//! - AES-256-GCM with a 96-bit IV and a 128-bit tag appended to the ciphertext (WebCrypto's
//!   layout).
//! - AES-256 key wrap (RFC 3394, no padding).
//! - HMAC-SHA256 with a constant-time check.
//! - Ed25519 (RFC 8032) with *strict* verification: non-canonical `S`, non-canonical or
//!   small-order points are refused, so a signature cannot be mutated into another valid one.

use std::mem::ManuallyDrop;

use aes_kw::KekAes256;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Fills `buf` from the operating system's random number generator (the one system call
/// the core makes; every caller has a twin that takes the bytes instead).
pub fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::getrandom(buf).map_err(|_| Error::Random)
}

/// GCM IV length in bytes.
pub const GCM_IV_LEN: usize = 12;
/// Longest message AES-GCM may encrypt under one IV (2^36 − 32 bytes, NIST SP 800-38D),
/// capped at what the target's `usize` can express (wasm32 cannot reach it).
pub const MAX_GCM_BYTES: usize =
    if (usize::MAX as u64) < (1u64 << 36) - 32 { usize::MAX } else { ((1u64 << 36) - 32) as usize };
/// GCM tag length in bytes.
pub const GCM_TAG_LEN: usize = 16;

/// Encrypts `buf` in place and appends the tag.
pub fn aes256gcm_seal_in_place(
    key: &[u8; 32],
    iv: &[u8; GCM_IV_LEN],
    aad: &[u8],
    buf: &mut Vec<u8>,
) -> Result<()> {
    gcm::seal_in_place(&gcm::prepare(key), iv, aad, buf)
}

/// Checks the tag at the end of `buf` and decrypts in place, leaving the plaintext.
pub fn aes256gcm_open_in_place(
    key: &[u8; 32],
    iv: &[u8; GCM_IV_LEN],
    aad: &[u8],
    buf: &mut Vec<u8>,
) -> Result<()> {
    if buf.len() < GCM_TAG_LEN {
        return Err(Error::DecryptFailed);
    }
    gcm::open_in_place(&gcm::prepare(key), iv, aad, buf)
}

/// Checks `tag` and decrypts `buf` (ciphertext without the tag) in place.
///
/// For callers that decode ciphertext and tag to different places (straight into a
/// result object the size of the plaintext). On failure `buf` holds no plaintext worth
/// anything and must be discarded.
pub fn aes256gcm_open_detached(
    key: &[u8; 32],
    iv: &[u8; GCM_IV_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; GCM_TAG_LEN],
) -> Result<()> {
    gcm::open_detached(&gcm::prepare(key), iv, aad, buf, tag)
}

/// Native AES-GCM: ring's assembly.
#[cfg(not(target_arch = "wasm32"))]
mod gcm {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

    use super::{GCM_IV_LEN, GCM_TAG_LEN, MAX_GCM_BYTES};
    use crate::error::{Error, Result};

    /// A key with its schedule: round keys and the GHASH table (plain arrays, no pointers).
    pub(super) type Prepared = LessSafeKey;

    pub(super) fn prepare(bytes: &[u8; 32]) -> Prepared {
        // A 32-byte key is always a valid AES-256 key.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, bytes).expect("32-byte AES-256 key"))
    }

    pub(super) fn seal_in_place(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        key.seal_in_place_append_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), buf)
            .map_err(|_| Error::TooLarge { size: buf.len(), limit: MAX_GCM_BYTES })
    }

    pub(super) fn open_in_place(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        let len = key
            .open_in_place(Nonce::assume_unique_for_key(*iv), Aad::from(aad), buf)
            .map_err(|_| Error::DecryptFailed)?
            .len();
        buf.truncate(len);
        Ok(())
    }

    pub(super) fn seal_detached(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        let tag = key
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*iv), Aad::from(aad), buf)
            .map_err(|_| Error::TooLarge { size: buf.len(), limit: MAX_GCM_BYTES })?;
        let mut out = [0u8; GCM_TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }

    pub(super) fn open_detached(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<()> {
        key.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            ring::aead::Tag::from(*tag),
            buf,
            0..,
        )
        .map_err(|_| Error::DecryptFailed)?;
        Ok(())
    }
}

/// Browser AES-GCM: the pure-Rust `aes-gcm` crate.
#[cfg(target_arch = "wasm32")]
mod gcm {
    use aes_gcm::aead::{AeadInPlace, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce};

    use super::{GCM_IV_LEN, GCM_TAG_LEN, MAX_GCM_BYTES};
    use crate::error::{Error, Result};

    /// A key with its schedule (round keys and GHASH key: plain arrays, no pointers).
    pub(super) type Prepared = Aes256Gcm;

    pub(super) fn prepare(bytes: &[u8; 32]) -> Prepared {
        Aes256Gcm::new(bytes.into())
    }

    pub(super) fn seal_in_place(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        key.encrypt_in_place(Nonce::from_slice(iv), aad, buf)
            .map_err(|_| Error::TooLarge { size: buf.len(), limit: MAX_GCM_BYTES })
    }

    pub(super) fn open_in_place(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        key.decrypt_in_place(Nonce::from_slice(iv), aad, buf).map_err(|_| Error::DecryptFailed)
    }

    pub(super) fn seal_detached(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        key.encrypt_in_place_detached(Nonce::from_slice(iv), aad, buf)
            .map(Into::into)
            .map_err(|_| Error::TooLarge { size: buf.len(), limit: MAX_GCM_BYTES })
    }

    pub(super) fn open_detached(
        key: &Prepared,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<()> {
        key.decrypt_in_place_detached(Nonce::from_slice(iv), aad, buf, tag.into())
            .map_err(|_| Error::DecryptFailed)
    }
}

/// An AES-256-GCM key whose schedule (round keys, GHASH table) is computed once, for a key
/// that seals and opens many times: preparing it costs about as much as sealing a
/// kilobyte. The schedule lives in one heap allocation that is overwritten with zeros on
/// drop, like the secret it was derived from. Prints `[redacted]` in `Debug`.
pub struct GcmKey(Box<ManuallyDrop<gcm::Prepared>>);

impl GcmKey {
    /// Prepares `key`.
    pub fn new(key: &[u8; 32]) -> GcmKey {
        GcmKey(Box::new(ManuallyDrop::new(gcm::prepare(key))))
    }

    /// [`aes256gcm_seal_in_place`] under this key.
    pub fn seal_in_place(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], buf: &mut Vec<u8>) -> Result<()> {
        gcm::seal_in_place(&self.0, iv, aad, buf)
    }

    /// [`aes256gcm_open_in_place`] under this key.
    pub fn open_in_place(&self, iv: &[u8; GCM_IV_LEN], aad: &[u8], buf: &mut Vec<u8>) -> Result<()> {
        if buf.len() < GCM_TAG_LEN {
            return Err(Error::DecryptFailed);
        }
        gcm::open_in_place(&self.0, iv, aad, buf)
    }

    /// Encrypts `buf` in place under this key and returns the tag (kept apart).
    pub fn seal_detached(
        &self,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; GCM_TAG_LEN]> {
        gcm::seal_detached(&self.0, iv, aad, buf)
    }

    /// [`aes256gcm_open_detached`] under this key.
    pub fn open_detached(
        &self,
        iv: &[u8; GCM_IV_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; GCM_TAG_LEN],
    ) -> Result<()> {
        gcm::open_detached(&self.0, iv, aad, buf, tag)
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        let prepared: *mut gcm::Prepared = &mut **self.0;
        let bytes = prepared.cast::<u8>();
        for i in 0..std::mem::size_of::<gcm::Prepared>() {
            // SAFETY: `i` is within the allocation of the prepared key, which is ours and is
            // never read again (ManuallyDrop: no destructor runs on the zeroed bytes; the
            // type holds only arrays and a `&'static` algorithm, nothing to free). Volatile,
            // so the writes are not optimized away before the deallocation.
            unsafe { bytes.add(i).write_volatile(0) };
        }
        std::sync::atomic::compiler_fence(std::sync::atomic::Ordering::SeqCst);
    }
}

impl std::fmt::Debug for GcmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GcmKey([redacted])")
    }
}

/// AES-256-GCM encryption: returns ciphertext ‖ tag.
pub fn aes256gcm_seal(
    key: &[u8; 32],
    iv: &[u8; GCM_IV_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(plaintext.len() + GCM_TAG_LEN);
    buf.extend_from_slice(plaintext);
    aes256gcm_seal_in_place(key, iv, aad, &mut buf)?;
    Ok(buf)
}

/// AES-256-GCM decryption of ciphertext ‖ tag.
pub fn aes256gcm_open(
    key: &[u8; 32],
    iv: &[u8; GCM_IV_LEN],
    aad: &[u8],
    ct_and_tag: &[u8],
) -> Result<Vec<u8>> {
    let mut buf = ct_and_tag.to_vec();
    aes256gcm_open_in_place(key, iv, aad, &mut buf)?;
    Ok(buf)
}

/// RFC 3394 key wrap under a 256-bit key-encryption key. `key_data` is ≥ 16 bytes, a multiple of 8.
pub fn aes256kw_wrap(kek: &[u8; 32], key_data: &[u8]) -> Result<Vec<u8>> {
    if key_data.len() < 16 || !key_data.len().is_multiple_of(8) {
        return Err(Error::InvalidKey {
            reason: "key wrap input must be at least 16 bytes, a multiple of 8",
        });
    }
    KekAes256::from(*kek).wrap_vec(key_data).map_err(|_| Error::InvalidKey { reason: "key wrap failed" })
}

/// RFC 3394 key unwrap; fails with [`Error::UnwrapFailed`] when the integrity check fails.
pub fn aes256kw_unwrap(kek: &[u8; 32], wrapped: &[u8]) -> Result<Vec<u8>> {
    if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
        return Err(Error::UnwrapFailed);
    }
    KekAes256::from(*kek).unwrap_vec(wrapped).map_err(|_| Error::UnwrapFailed)
}

/// HMAC-SHA256 over the concatenation of `parts` (fed in pieces, nothing copied).
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of a computed MAC with a received one (any length).
pub fn mac_eq(computed: &[u8], received: &[u8]) -> bool {
    computed.ct_eq(received).into()
}

/// Ed25519 public key from a 32-byte seed.
pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Ed25519 signature of `msg` with the key derived from `seed`.
pub fn ed25519_sign(seed: &[u8; 32], msg: &[u8]) -> [u8; 64] {
    SigningKey::from_bytes(seed).sign(msg).to_bytes()
}

/// True when `public` is a valid Ed25519 public key (a canonical curve point).
pub fn ed25519_valid_public(public: &[u8; 32]) -> bool {
    VerifyingKey::from_bytes(public).is_ok()
}

/// Strict Ed25519 verification. Returns `false` for a malformed key or signature as well as
/// for a wrong one; callers map it to their own error.
pub fn ed25519_verify(public: &[u8], msg: &[u8], signature: &[u8]) -> bool {
    let Ok(public) = <[u8; 32]>::try_from(public) else { return false };
    let Ok(key) = VerifyingKey::from_bytes(&public) else { return false };
    let Ok(signature) = Signature::from_slice(signature) else { return false };
    key.verify_strict(msg, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepared_key_gives_the_same_bytes_as_the_one_shot_functions() {
        let (key, iv, aad) = ([9u8; 32], [4u8; GCM_IV_LEN], b"aad".as_slice());
        let prepared = GcmKey::new(&key);
        for len in [0usize, 1, 16, 1000] {
            let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut sealed = plain.clone();
            prepared.seal_in_place(&iv, aad, &mut sealed).unwrap();
            assert_eq!(sealed, aes256gcm_seal(&key, &iv, aad, &plain).unwrap());
            let mut opened = sealed.clone();
            prepared.open_in_place(&iv, aad, &mut opened).unwrap();
            assert_eq!(opened, plain);
            let (ct, tag) = sealed.split_at(len);
            let mut detached = ct.to_vec();
            prepared.open_detached(&iv, aad, &mut detached, tag.try_into().unwrap()).unwrap();
            assert_eq!(detached, plain);
            let mut tampered = sealed.clone();
            tampered[0] ^= 1;
            assert_eq!(prepared.open_in_place(&iv, aad, &mut tampered).unwrap_err().code(), "decrypt_failed");
        }
        assert_eq!(
            prepared.open_in_place(&iv, aad, &mut vec![0u8; 15]).unwrap_err().code(),
            "decrypt_failed"
        );
        assert_eq!(format!("{prepared:?}"), "GcmKey([redacted])");
    }
}
