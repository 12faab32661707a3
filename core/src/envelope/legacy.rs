//! The legacy LetsPing envelope `{"_lp_enc":true,"iv":…,"ct":…}` (standard base64, no AAD,
//! bound to no request, field or key id), read so that LetsPing users can migrate; sealed
//! only to make test vectors. Behind the `compat` feature; the hooks `envelope` calls are
//! here, and without the feature they are stand-ins that say the form is unknown.

#[cfg(feature = "compat")]
mod form {
    use super::super::{decode_iv, Key, Keyring, Parts, Wire, IV_LEN, TAG_LEN};
    use crate::encoding::{b64_decode, b64_encode, b64url_decode};
    use crate::error::{Error, Result};

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
    pub(in crate::envelope) fn is_legacy_envelope(value: &serde_json::Value) -> bool {
        value.get("_lp_enc") == Some(&serde_json::Value::Bool(true))
    }

    /// `envelope::open` of a legacy envelope, with the keyring's legacy key only.
    pub(in crate::envelope) fn open_legacy(wire: &Wire<'_>, keyring: &Keyring) -> Option<Result<Vec<u8>>> {
        wire.lp_enc?;
        Some(legacy_fields(wire).and_then(|(iv, mut buf)| {
            let key = keyring.legacy.as_ref().ok_or_else(|| Error::UnknownKid { kid: "_lp_enc".into() })?;
            key.cipher.open_in_place(&iv, b"", &mut buf)?;
            Ok(buf)
        }))
    }

    /// `envelope::parts` of a legacy envelope: no `kid`, no AAD.
    pub(in crate::envelope) fn legacy_parts(wire: &Wire<'_>) -> Option<Result<Parts>> {
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
}

#[cfg(feature = "compat")]
pub use form::seal_legacy_with;
#[cfg(feature = "compat")]
pub(super) use form::{is_legacy_envelope, legacy_parts, open_legacy};

#[cfg(not(feature = "compat"))]
mod unknown {
    use super::super::{Keyring, Parts, Wire};
    use crate::error::Result;

    pub(in crate::envelope) fn is_legacy_envelope(_: &serde_json::Value) -> bool {
        false
    }

    pub(in crate::envelope) fn open_legacy(_: &Wire<'_>, _: &Keyring) -> Option<Result<Vec<u8>>> {
        None
    }

    pub(in crate::envelope) fn legacy_parts(_: &Wire<'_>) -> Option<Result<Parts>> {
        None
    }
}

#[cfg(not(feature = "compat"))]
pub(super) use unknown::{is_legacy_envelope, legacy_parts, open_legacy};

#[cfg(all(test, feature = "compat"))]
mod tests {
    use super::super::{open, parts, Context, Key, Keyring};
    use super::seal_legacy_with;

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
