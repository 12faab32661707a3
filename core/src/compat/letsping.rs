//! LetsPing's formats: the `x-letsping-signature` webhook header and the legacy
//! `{"_lp_enc":true,"iv":…,"ct":…}` envelope.
//!
//! The envelope's reader is a part of `envelope` (`envelope/legacy.rs`, where the v1 reader
//! meets it); it is re-exported here with the other LetsPing forms.
//!
//! Both are weaker than what Handrail uses instead ([`crate::webhook`],
//! [`crate::envelope`]): the signature covers the body only, and the envelope is bound to
//! no request, field or key id. They are read so that LetsPing users can migrate; a server
//! speaking LetsPing signs deliveries with [`sign`], and the envelope is sealed only to make
//! test vectors.

use crate::crypto::{hmac_sha256, mac_eq};
use crate::encoding::hex_decode;
use crate::error::{Error, Result};
use crate::webhook::{parse_timestamp, MAX_SIGNATURE_HEADER};

/// The LetsPing header `t=<unix ms>,v1=<hex HMAC-SHA256(secret, body)>` for `body`: what
/// a server speaking LetsPing's protocol sends, and what [`verify`] accepts. Same weakness
/// as [`verify`]'s: the MAC does not cover `t`.
pub fn sign(secret: &[u8], body: &[u8], now_ms: i64) -> String {
    format!("t={now_ms},v1={}", crate::encoding::hex_encode(hmac_sha256(secret, &[body])))
}

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

pub use crate::envelope::legacy::seal_legacy_with;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_sign_makes_verify_accepts_and_nothing_else() {
        let body = br#"{"id":"req_1","status":"APPROVED"}"#;
        let header = sign(b"lp_secret", body, 1_700_000_000_000);
        assert!(header.starts_with("t=1700000000000,v1="));
        assert_eq!(verify(b"lp_secret", &header, body, 1_700_000_001_000, 300_000), Ok(1_700_000_000_000));
        assert_eq!(
            verify(
                b"lp_secret",
                &header,
                br#"{"id":"req_1","status":"REJECTED"}"#,
                1_700_000_000_000,
                300_000
            ),
            Err(Error::WebhookSignature)
        );
        assert_eq!(verify(b"other", &header, body, 1_700_000_000_000, 300_000), Err(Error::WebhookSignature));
        assert_eq!(
            verify(b"lp_secret", &header, body, 1_700_001_000_000, 300_000),
            Err(Error::WebhookTimestamp)
        );
    }
}
