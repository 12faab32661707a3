//! base64url and hex helpers shared by the formats.
//!
//! Envelopes, proofs and keys use unpadded base64url (RFC 4648 §5); decoding is strict
//! (no padding, no whitespace, canonical trailing bits) so one value has one encoding.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;

use crate::error::{Error, Result};

/// Standard-alphabet base64 that accepts input with or without padding.
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url strictly.
pub fn b64url_decode(text: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).map_err(|_| Error::Encoding { what: "base64url" })
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
