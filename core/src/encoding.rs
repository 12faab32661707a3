//! base64url and hex helpers shared by the formats.
//!
//! Envelopes, proofs and keys use unpadded base64url (RFC 4648 §5); decoding is strict
//! (no padding, no whitespace, canonical trailing bits) so one value has one encoding.

use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use base64_simd::Out;
use std::mem::MaybeUninit;

use crate::error::{Error, Result};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Standard-alphabet base64 that accepts input with or without padding.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Inputs from this size on use the AVX-512 blocks when the CPU has them: below it, the
/// wide registers' start-up costs more than they save.
#[cfg(target_arch = "x86_64")]
const WIDE_FROM: usize = 4096;

/// Encodes bytes as unpadded base64url.
///
/// SIMD (AVX-512 VBMI where the CPU has it, else `base64-simd`): envelopes carry megabytes
/// of ciphertext, and at that size base64 would otherwise cost more than AES-GCM itself.
pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    let mut out = Vec::new();
    b64url_encode_into(bytes, &mut out);
    String::from_utf8(out).expect("base64url is ASCII")
}

/// The unpadded base64url length of `n` bytes.
pub const fn b64url_encoded_len(n: usize) -> usize {
    n / 3 * 4 + [0, 2, 3][n % 3]
}

/// Appends the unpadded base64url form of `bytes` to `out`.
pub fn b64url_encode_into(bytes: impl AsRef<[u8]>, out: &mut Vec<u8>) {
    let bytes = bytes.as_ref();
    let len = b64url_encoded_len(bytes.len());
    out.reserve(len);
    let start = out.len();
    let written = encode_uninit(bytes, &mut out.spare_capacity_mut()[..len]);
    debug_assert_eq!(written, len);
    // SAFETY: `encode_uninit` initialized the `len` bytes after `start`, within capacity.
    unsafe { out.set_len(start + len) };
}

/// Writes the unpadded base64url form of `bytes` at the start of `out`, which must hold at
/// least [`b64url_encoded_len`] bytes (else this panics); returns that length.
pub fn b64url_encode_to(bytes: &[u8], out: &mut [u8]) -> usize {
    encode_uninit(bytes, as_uninit(out))
}

/// Decodes unpadded base64url strictly (no padding, no whitespace, zero trailing bits).
pub fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    b64url_decode_append(text.as_bytes(), &mut out)?;
    Ok(out)
}

/// Appends the strictly decoded bytes of unpadded base64url `text` to `out`; on error `out`
/// is as it was.
pub fn b64url_decode_append(text: &[u8], out: &mut Vec<u8>) -> Result<()> {
    let len = b64url_decoded_len(text)?;
    out.reserve(len);
    let start = out.len();
    let written = decode_uninit(text, &mut out.spare_capacity_mut()[..len])?;
    debug_assert_eq!(written, len);
    // SAFETY: `decode_uninit` initialized the `len` bytes after `start`, within capacity.
    unsafe { out.set_len(start + len) };
    Ok(())
}

/// The exact length unpadded base64url `text` decodes to, if its length is a possible one.
pub fn b64url_decoded_len(text: &[u8]) -> Result<usize> {
    base64_simd::URL_SAFE_NO_PAD.decoded_length(text).map_err(|_| Error::Encoding { what: "base64url" })
}

/// Decodes unpadded base64url `text` strictly into the start of `out`, which must hold at
/// least [`b64url_decoded_len`] bytes; returns that length.
pub fn b64url_decode_to(text: &[u8], out: &mut [u8]) -> Result<usize> {
    let len = b64url_decoded_len(text)?;
    let out = out.get_mut(..len).ok_or(Error::Encoding { what: "base64url" })?;
    decode_uninit(text, as_uninit(out))
}

/// A byte slice as a slice of possibly uninitialized bytes, for writers of either.
fn as_uninit(bytes: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: same layout; the callers only ever write initialized bytes through it, so
    // `bytes` stays initialized.
    unsafe { &mut *(bytes as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

/// Encodes all of `bytes` into the start of `out`; returns the length written.
fn encode_uninit(bytes: &[u8], out: &mut [MaybeUninit<u8>]) -> usize {
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let (mut read, mut written) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= WIDE_FROM && avx512::available() {
        // SAFETY: the CPU has the features (checked just above).
        read = unsafe { avx512::encode_blocks(bytes, out) };
        written = read / 3 * 4;
    }
    let rest =
        base64_simd::URL_SAFE_NO_PAD.encode(&bytes[read..], Out::from_uninit_slice(&mut out[written..]));
    written + rest.len()
}

/// Strictly decodes all of `text` into the start of `out`; returns the length written.
fn decode_uninit(text: &[u8], out: &mut [MaybeUninit<u8>]) -> Result<usize> {
    let invalid = Error::Encoding { what: "base64url" };
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let (mut read, mut written) = (0, 0);
    #[cfg(target_arch = "x86_64")]
    if text.len() >= WIDE_FROM && avx512::available() {
        // SAFETY: the CPU has the features (checked just above).
        read = unsafe { avx512::decode_blocks(text, out) }.map_err(|()| invalid.clone())?;
        written = read / 4 * 3;
    }
    // The last quantum (always left by the blocks) carries the trailing-bit rule.
    let rest = base64_simd::URL_SAFE_NO_PAD
        .decode(&text[read..], Out::from_uninit_slice(&mut out[written..]))
        .map_err(|_| invalid)?;
    Ok(written + rest.len())
}

/// Encodes bytes as standard padded base64 (the Standard Webhooks signature form).
pub fn b64_encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64, padded or not.
pub fn b64_decode(text: &str) -> Result<Vec<u8>> {
    STANDARD_LENIENT.decode(text).map_err(|_| Error::Encoding { what: "base64" })
}

/// Decodes lowercase or uppercase hex.
pub fn hex_decode(text: &str) -> Result<Vec<u8>> {
    hex::decode(text).map_err(|_| Error::Encoding { what: "hex" })
}

/// Encodes bytes as lowercase hex.
pub fn hex_encode(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url_decode("AA").unwrap(), vec![0]);
        assert!(b64url_decode("AB").is_err(), "non-zero trailing bits");
        assert!(b64url_decode("AA==").is_err(), "padding");
        assert!(b64url_decode("A A").is_err(), "whitespace");
        assert!(b64url_decode("+/").is_err(), "standard alphabet");
        assert_eq!(b64url_encode([0xfb, 0xff]), "-_8");
    }

    /// Large inputs take the AVX-512 blocks where the CPU has them: every function must still
    /// give what `base64-simd` alone gives, strictness included.
    #[test]
    fn large_inputs_agree_with_base64_simd() {
        let engine = base64_simd::URL_SAFE_NO_PAD;
        for len in [4095, 4096, 4097, 4098, 5000, 65_536, 1 << 20] {
            let raw: Vec<u8> = (0..len).map(|i: usize| (i.wrapping_mul(31) ^ (i >> 7)) as u8).collect();
            let want = engine.encode_to_string(&raw);
            assert_eq!(b64url_encode(&raw), want, "encode {len}");
            assert_eq!(b64url_encoded_len(len), want.len());
            let mut to = vec![0u8; want.len() + 3];
            assert_eq!(b64url_encode_to(&raw, &mut to), want.len());
            assert_eq!(&to[..want.len()], want.as_bytes());
            let mut appended = b"x".to_vec();
            b64url_encode_into(&raw, &mut appended);
            assert_eq!(&appended[1..], want.as_bytes());

            assert_eq!(b64url_decode(&want).unwrap(), raw, "decode {len}");
            let mut back = vec![0u8; len];
            assert_eq!(b64url_decode_to(want.as_bytes(), &mut back).unwrap(), len);
            assert_eq!(back, raw);

            let mut text = want.clone().into_bytes();
            for (pos, bad) in
                [(0, b'='), (63, b'+'), (64, b'/'), (text.len() / 2, 0xc3), (text.len() - 1, b'.')]
            {
                let saved = text[pos];
                text[pos] = bad;
                let mut kept = b"keep".to_vec();
                assert!(b64url_decode_append(&text, &mut kept).is_err(), "{bad:#04x} at {pos} of {len}");
                assert_eq!(kept, b"keep", "nothing appended on error");
                assert!(engine.decode_to_vec(&text).is_err());
                text[pos] = saved;
            }
            if len % 3 != 0 {
                // Non-zero trailing bits in the last character: not the canonical encoding.
                let last = text.len() - 1;
                text[last] = if text[last] == b'_' { b'-' } else { b'_' };
                assert!(
                    b64url_decode(std::str::from_utf8(&text).unwrap()).is_err(),
                    "trailing bits of {len}"
                );
            }
        }
    }
}
