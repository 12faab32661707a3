//! LetsPing's formats: the `x-letsping-signature` webhook header and the legacy
//! `{"_lp_enc":true,"iv":…,"ct":…}` envelope.
//!
//! Both are weaker than what Handrail uses instead ([`crate::webhook`],
//! [`crate::envelope`]): the signature covers the body only, and the envelope is bound to
//! no request, field or key id. They are read so that LetsPing users can migrate; the
//! signature is verify-only, and the envelope is sealed only to make test vectors.

use crate::crypto::{hmac_sha256, mac_eq};
use crate::encoding::{b64_decode, b64_encode, b64url_decode, hex_decode};
use crate::envelope::{decode_iv, Key, Keyring, Parts, Wire, IV_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::webhook::{parse_timestamp, MAX_SIGNATURE_HEADER};

/// Verifies the LetsPing header `t=<unix ms>,v1=<hex HMAC-SHA256(secret, body)>`; returns
/// its `t`.
///
/// **Weaker than Standard Webhooks:** the MAC covers the body only, not the timestamp or
/// a message id, so an attacker who captured one delivery can replay it with a fresh `t`.
/// Accept it only for compatibility with LetsPing receivers; deduplicate by the event id
/// inside the body.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now_ms: i64, tolerance_ms: u64) -> Result<i64> {
    const NAME: &str = "x-letsping-signature";
    if header.len() > MAX_SIGNATURE_HEADER {
        return Err(Error::WebhookHeader { header: NAME, reason: "too long" });
    }
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = Some(parse_timestamp(value)?),
            Some(("v1", value)) => sigs.push(value),
            _ => {}
        }
    }
    let t = t.ok_or(Error::WebhookHeader { header: NAME, reason: "missing t=" })?;
    if sigs.is_empty() {
        return Err(Error::WebhookHeader { header: NAME, reason: "missing v1=" });
    }
    if t.abs_diff(now_ms) > tolerance_ms {
        return Err(Error::WebhookTimestamp);
    }
    let expected = hmac_sha256(secret, &[body]);
    if sigs.into_iter().filter_map(|sig| hex_decode(sig).ok()).any(|sig| mac_eq(&expected, &sig)) {
        Ok(t)
    } else {
        Err(Error::WebhookSignature)
    }
}

impl Keyring {
    /// Sets the key for the legacy LetsPing `_lp_enc` envelope, which names no key
    /// ([`crate::compat::letsping`]).
    pub fn set_legacy(&mut self, key: Key) {
        self.legacy = Some(key);
    }
}

/// Seals in the legacy LetsPing form `{"_lp_enc":true,"iv","ct"}` (standard base64, no AAD).
///
/// Only for compatibility with clients that read that form (and for test vectors); new
/// code uses [`crate::envelope::seal`].
pub fn seal_legacy_with(key: &Key, plaintext: &[u8], iv: [u8; IV_LEN]) -> Result<String> {
    let mut buf = plaintext.to_vec();
    key.cipher.seal_in_place(&iv, b"", &mut buf)?;
    Ok(format!(r#"{{"_lp_enc":true,"iv":"{}","ct":"{}"}}"#, b64_encode(iv), b64_encode(&buf)))
}

// The hooks `envelope` calls where an envelope may be of the legacy form. Each answers
// `None` (or `false`) for anything without `_lp_enc`, which the v1 reader then takes.

/// `envelope::is_envelope` for the legacy form: `_lp_enc` is `true`.
pub(crate) fn is_legacy_envelope(value: &serde_json::Value) -> bool {
    value.get("_lp_enc") == Some(&serde_json::Value::Bool(true))
}

/// `envelope::open` of a legacy envelope, with the keyring's legacy key only.
pub(crate) fn open_legacy(wire: &Wire<'_>, keyring: &Keyring) -> Option<Result<Vec<u8>>> {
    wire.lp_enc?;
    Some(legacy_fields(wire).and_then(|(iv, mut buf)| {
        let key = keyring.legacy.as_ref().ok_or_else(|| Error::UnknownKid { kid: "_lp_enc".into() })?;
        key.cipher.open_in_place(&iv, b"", &mut buf)?;
        Ok(buf)
    }))
}

/// `envelope::parts` of a legacy envelope: no `kid`, no AAD.
pub(crate) fn legacy_parts(wire: &Wire<'_>) -> Option<Result<Parts>> {
    wire.lp_enc?;
    Some(legacy_fields(wire).map(|(iv, ct)| Parts {
        kid: None,
        legacy: true,
        iv,
        ct,
        ek: None,
        aad: Vec::new(),
    }))
}

/// The IV and the ciphertext (with tag) of a legacy envelope, decoded and checked.
fn legacy_fields(wire: &Wire<'_>) -> Result<([u8; IV_LEN], Vec<u8>)> {
    if wire.lp_enc != Some(true) {
        return Err(Error::EnvelopeMalformed { reason: "_lp_enc must be true" });
    }
    if wire.v.is_some() || wire.alg.is_some() || wire.kid.is_some() || wire.ek.is_some() {
        return Err(Error::EnvelopeMalformed { reason: "legacy envelope with v1 fields" });
    }
    let either = |text: &str| b64_decode(text).or_else(|_| b64url_decode(text));
    let iv = decode_iv(wire.iv.as_deref(), either)?;
    let ct = wire.ct.as_deref().ok_or(Error::EnvelopeMalformed { reason: "missing ct" })?;
    let ct = either(ct)?;
    if ct.len() < TAG_LEN {
        return Err(Error::EnvelopeMalformed { reason: "ct shorter than the tag" });
    }
    Ok((iv, ct))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{open, parts, Context};

    fn key() -> Key {
        Key::new("k1", [7u8; 32]).unwrap()
    }

    #[test]
    fn legacy_form_opens_with_the_legacy_key_only() {
        let sealed = seal_legacy_with(&key(), b"{\"a\":1}", [1u8; 12]).unwrap();
        let ctx = Context::new("x", "y");
        let mut ring = Keyring::new().with(key());
        assert_eq!(open(sealed.as_bytes(), &ring, &ctx).unwrap_err().code(), "unknown_kid");
        ring.set_legacy(key());
        let mut only_legacy = Keyring::new();
        only_legacy.set_legacy(key());
        assert!(!only_legacy.is_empty());
        assert_eq!(open(sealed.as_bytes(), &ring, &ctx).unwrap(), b"{\"a\":1}");
    }

    #[test]
    fn legacy_parts_have_no_kid_and_no_aad() {
        let ctx = Context::new("req_1", "payload");
        let legacy = parts(seal_legacy_with(&key(), b"x", [1u8; 12]).unwrap().as_bytes(), &ctx).unwrap();
        assert_eq!((legacy.kid, legacy.legacy, legacy.aad.len()), (None, true, 0));
    }

    #[test]
    fn legacy_is_an_envelope() {
        let value = serde_json::json!({"_lp_enc": true, "iv": "a", "ct": "b"});
        assert!(crate::envelope::is_envelope(&value));
        assert!(!crate::envelope::is_envelope(&serde_json::json!({"_lp_enc": false, "iv": "a", "ct": "b"})));
    }
}
