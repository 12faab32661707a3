//! base64url and hex helpers shared by the formats.
//!
//! Envelopes, proofs and keys use unpadded base64url (RFC 4648 §5); decoding is strict
//! (no padding, no whitespace, canonical trailing bits) so one value has one encoding.

use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use crate::error::{Error, Result};

/// Standard-alphabet base64 that accepts input with or without padding.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as unpadded base64url.
///
/// SIMD (`base64-simd`): envelopes carry megabytes of ciphertext, and at that size base64
/// would otherwise cost more than AES-GCM itself.
pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    base64_simd::URL_SAFE_NO_PAD.encode_to_string(bytes)
}

/// Appends the unpadded base64url form of `bytes` to `out`.
pub fn b64url_encode_into(bytes: impl AsRef<[u8]>, out: &mut Vec<u8>) {
    base64_simd::URL_SAFE_NO_PAD.encode_append(bytes, out);
}

/// Decodes unpadded base64url strictly (no padding, no whitespace, zero trailing bits).
pub fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(text).map_err(|_| Error::Encoding { what: "base64url" })
}

/// Appends the strictly decoded bytes of unpadded base64url `text` to `out`.
pub fn b64url_decode_append(text: &str, out: &mut Vec<u8>) -> Result<()> {
    base64_simd::URL_SAFE_NO_PAD.decode_append(text, out).map_err(|_| Error::Encoding { what: "base64url" })
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
    base64_simd::URL_SAFE_NO_PAD
        .decode(text, base64_simd::Out::from_slice(out))
        .map(|decoded| decoded.len())
        .map_err(|_| Error::Encoding { what: "base64url" })
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
}
