//! Webhook signatures: Standard Webhooks v1 (HMAC-SHA256) and v1a (Ed25519). The older
//! LetsPing `t=…,v1=…` header is verified by [`crate::compat::letsping::verify`].
//!
//! A Standard Webhooks message carries three headers: `webhook-id`, `webhook-timestamp`
//! (Unix seconds) and `webhook-signature`, a space-separated list of `v1,<base64>` (HMAC)
//! and/or `v1a,<base64>` (Ed25519) entries. Each signature covers
//! `"{id}.{timestamp}.{body}"`, so the id and time are as authenticated as the body.
//!
//! Verification is sans-IO: the caller passes `now`. A timestamp further than the tolerance
//! (default [`DEFAULT_TOLERANCE_SECS`]) from `now`, in either direction, is refused before
//! any MAC is computed. Several signatures may appear (key rotation); one match is enough.
//! Unknown versions are ignored as the specification asks. MACs are compared in constant
//! time.
//!
//! Secrets: `whsec_<base64>` (HMAC key, 24–64 bytes), `whsk_<base64>` (Ed25519 private key:
//! 32-byte seed, or 64 bytes seed‖public), `whpk_<base64>` (Ed25519 public key, 32 bytes).
//!
//! Requests that Slack sends to an app are signed differently; see [`slack`].

use std::fmt;

use zeroize::Zeroizing;

use crate::crypto::{
    ed25519_public, ed25519_sign, ed25519_valid_public, ed25519_verify, hmac_sha256, mac_eq,
};

use crate::crypto::fill_random;
use crate::encoding::{b64_decode, b64_encode};
use crate::error::{Error, Result};

pub mod slack;

/// Default tolerance between a webhook's timestamp and `now`, in seconds (both directions).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// Longest `webhook-signature` header accepted, in bytes.
pub const MAX_SIGNATURE_HEADER: usize = 4096;
/// Longest `webhook-id` accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// A webhook signing or verification secret. Prints `[redacted]` in `Debug`.
#[derive(Clone)]
pub enum Secret {
    /// `whsec_`: a shared HMAC-SHA256 key (signs and verifies `v1`).
    Hmac(Zeroizing<Vec<u8>>),
    /// `whsk_`: an Ed25519 private key, kept as its seed with the public key (signs and
    /// verifies `v1a`).
    Ed25519Signing { seed: Zeroizing<[u8; 32]>, public: [u8; 32] },
    /// `whpk_`: an Ed25519 public key (verifies `v1a` only).
    Ed25519Public([u8; 32]),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Hmac(_) => f.write_str("Secret::Hmac([redacted])"),
            Secret::Ed25519Signing { .. } => f.write_str("Secret::Ed25519Signing([redacted])"),
            Secret::Ed25519Public(k) => write!(f, "Secret::Ed25519Public({})", b64_encode(k)),
        }
    }
}

impl Secret {
    /// Parses `whsec_…`, `whsk_…` or `whpk_…`.
    pub fn parse(text: &str) -> Result<Secret> {
        if let Some(b64) = text.strip_prefix("whsec_") {
            let bytes = Zeroizing::new(b64_decode(b64)?);
            if !(24..=64).contains(&bytes.len()) {
                return Err(Error::InvalidKey { reason: "whsec_ secrets are 24 to 64 bytes" });
            }
            return Ok(Secret::Hmac(bytes));
        }
        if let Some(b64) = text.strip_prefix("whsk_") {
            let bytes = Zeroizing::new(b64_decode(b64)?);
            if bytes.len() != 32 && bytes.len() != 64 {
                return Err(Error::InvalidKey { reason: "whsk_ keys are 32 or 64 bytes" });
            }
            let seed: [u8; 32] = bytes[..32].try_into().expect("checked length");
            let secret = Secret::from_seed(seed);
            if let Secret::Ed25519Signing { public, .. } = &secret {
                if bytes.len() == 64 && public[..] != bytes[32..] {
                    return Err(Error::InvalidKey { reason: "whsk_ public half does not match" });
                }
            }
            return Ok(secret);
        }
        if let Some(b64) = text.strip_prefix("whpk_") {
            let public: [u8; 32] = b64_decode(b64)?
                .try_into()
                .map_err(|_| Error::InvalidKey { reason: "whpk_ keys are 32 bytes" })?;
            if !ed25519_valid_public(&public) {
                return Err(Error::InvalidKey { reason: "not an Ed25519 public key" });
            }
            return Ok(Secret::Ed25519Public(public));
        }
        Err(Error::InvalidKey { reason: "expected a whsec_, whsk_ or whpk_ secret" })
    }

    fn from_seed(seed: [u8; 32]) -> Secret {
        let public = ed25519_public(&seed);
        Secret::Ed25519Signing { seed: Zeroizing::new(seed), public }
    }

    /// A fresh random HMAC secret (32 bytes).
    pub fn generate_hmac() -> Result<Secret> {
        let mut bytes = Zeroizing::new(vec![0u8; 32]);
        fill_random(&mut bytes)?;
        Ok(Secret::Hmac(bytes))
    }

    /// A fresh random Ed25519 key pair.
    pub fn generate_ed25519() -> Result<Secret> {
        let mut seed = Zeroizing::new([0u8; 32]);
        fill_random(seed.as_mut())?;
        Ok(Secret::from_seed(*seed))
    }

    /// The text form (`whsec_…`, `whsk_…` with the 32-byte seed, `whpk_…`).
    pub fn export(&self) -> String {
        match self {
            Secret::Hmac(bytes) => format!("whsec_{}", b64_encode(bytes.as_slice())),
            Secret::Ed25519Signing { seed, .. } => format!("whsk_{}", b64_encode(seed.as_slice())),
            Secret::Ed25519Public(public) => format!("whpk_{}", b64_encode(public)),
        }
    }

    /// The public half to hand to receivers (`whpk_…`), for Ed25519 secrets.
    pub fn public(&self) -> Option<Secret> {
        match self {
            Secret::Hmac(_) => None,
            Secret::Ed25519Signing { public, .. } | Secret::Ed25519Public(public) => {
                Some(Secret::Ed25519Public(*public))
            }
        }
    }
}

/// Signs one message, returning the `webhook-signature` entry (`v1,…` or `v1a,…`).
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String> {
    check_id(msg_id)?;
    let ts = itoa::Buffer::new().format(timestamp).to_owned();
    match secret {
        Secret::Hmac(key) => {
            let mac = hmac_sha256(key, &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body]);
            Ok(format!("v1,{}", b64_encode(mac)))
        }
        Secret::Ed25519Signing { seed, .. } => {
            let signature = ed25519_sign(seed, &signed_content(msg_id, &ts, body));
            Ok(format!("v1a,{}", b64_encode(signature)))
        }
        Secret::Ed25519Public(_) => Err(Error::InvalidKey { reason: "a public key cannot sign" }),
    }
}

/// The three headers of a received message, as strings.
#[derive(Debug, Clone, Copy)]
pub struct Headers<'a> {
    /// `webhook-id`
    pub id: &'a str,
    /// `webhook-timestamp`
    pub timestamp: &'a str,
    /// `webhook-signature`
    pub signature: &'a str,
}

/// Verifies a Standard Webhooks message against any of `secrets`.
///
/// Checks, in order: the headers' form, the timestamp against `now` ± `tolerance_secs`,
/// then each signature entry against each secret of its kind. Returns the timestamp.
pub fn verify(
    secrets: &[Secret],
    headers: &Headers<'_>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<i64> {
    check_id(headers.id)?;
    let timestamp = parse_timestamp(headers.timestamp)?;
    if timestamp.abs_diff(now) > tolerance_secs {
        return Err(Error::WebhookTimestamp);
    }
    if headers.signature.len() > MAX_SIGNATURE_HEADER {
        return Err(Error::WebhookHeader { header: "webhook-signature", reason: "too long" });
    }
    if headers.signature.trim().is_empty() {
        return Err(Error::WebhookHeader { header: "webhook-signature", reason: "empty" });
    }
    let id = headers.id.as_bytes();
    let ts = headers.timestamp.as_bytes();
    // Each MAC is computed at most once per secret, however many entries the header has.
    let mut macs: Vec<Option<[u8; 32]>> = vec![None; secrets.len()];
    let mut content: Option<Vec<u8>> = None;
    for entry in headers.signature.split(' ').filter(|e| !e.is_empty()) {
        let Some((version, sig_b64)) = entry.split_once(',') else { continue };
        let Ok(sig) = b64_decode(sig_b64) else { continue };
        for (i, secret) in secrets.iter().enumerate() {
            let matched = match (version, secret) {
                ("v1", Secret::Hmac(key)) => {
                    let mac = macs[i].get_or_insert_with(|| hmac_sha256(key, &[id, b".", ts, b".", body]));
                    mac_eq(mac, &sig)
                }
                ("v1a", Secret::Ed25519Signing { public, .. } | Secret::Ed25519Public(public)) => {
                    let content =
                        content.get_or_insert_with(|| signed_content(headers.id, headers.timestamp, body));
                    ed25519_verify(public, content, &sig)
                }
                _ => false,
            };
            if matched {
                return Ok(timestamp);
            }
        }
    }
    Err(Error::WebhookSignature)
}

fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::WebhookHeader {
            header: "webhook-id",
            reason: "1-256 printable ASCII characters",
        });
    }
    Ok(())
}

pub(crate) fn parse_timestamp(text: &str) -> Result<i64> {
    if text.is_empty() || text.len() > 16 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::WebhookHeader {
            header: "webhook-timestamp",
            reason: "expected Unix time digits",
        });
    }
    text.parse().map_err(|_| Error::WebhookHeader { header: "webhook-timestamp", reason: "out of range" })
}

fn signed_content(msg_id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(msg_id.len() + timestamp.len() + 2 + body.len());
    content.extend_from_slice(msg_id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_reference_case() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let sig = sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let headers =
            Headers { id: "msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp: "1614265330", signature: &sig };
        assert_eq!(
            verify(std::slice::from_ref(&secret), &headers, body, 1614265330, 300).unwrap(),
            1614265330
        );
        assert_eq!(
            verify(&[secret], &headers, body, 1614265330 + 301, 300).unwrap_err().code(),
            "webhook_timestamp"
        );
    }

    #[test]
    fn ed25519_round_trip_and_public_only_verify() {
        let secret = Secret::generate_ed25519().unwrap();
        let sig = sign(&secret, "msg_1", 100, b"{}").unwrap();
        assert!(sig.starts_with("v1a,"));
        let public = Secret::parse(&secret.public().unwrap().export()).unwrap();
        let headers = Headers { id: "msg_1", timestamp: "100", signature: &sig };
        assert!(verify(std::slice::from_ref(&public), &headers, b"{}", 100, 300).is_ok());
        assert_eq!(verify(&[public], &headers, b"{ }", 100, 300).unwrap_err().code(), "webhook_signature");
    }
}
