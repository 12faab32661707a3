//! Decision proofs: a compact JWS, signed with Ed25519, that a person decided a request.
//!
//! ```text
//! base64url(header) "." base64url(claims) "." base64url(signature)
//! header = {"alg":"Ed25519","kid":"…","typ":"handrail-proof+jws"}
//! claims = {"act","dec","exp","iat","iss","jti","pat"?,"prj","req","rid"}
//! ```
//!
//! Header and claims are canonical JSON (RFC 8785), so the same decision always yields the
//! same signing input. The claims bind the request id (`rid`), the SHA-256 of the canonical
//! request (`req`), the decision (`dec`), the approver (`act`), the SHA-256 of the canonical
//! patched payload when the approver edited it (`pat`), issue and expiry times (`iat`,
//! `exp`, Unix seconds), a unique id (`jti`), the project of the request (`prj`) and the
//! server that issued the proof (`iss`: its public URL or a stable `srv_…` id, published
//! beside the keys at `/v1/keys/proof`).
//!
//! `prj` and `iss` are why a proof from one project, or from another server that happens to
//! share a key, cannot be replayed as a decision somewhere else: a verifier that expects a
//! project or an issuer refuses a proof that names another one — or none
//! ([`Error::ProofProject`], [`Error::ProofIssuer`]). Proofs issued before these claims
//! existed lack them; they still verify, but only for a caller that expects neither.
//!
//! The same signing machinery signs the audit chain's checkpoints (see
//! [`crate::audit::CheckpointClaims`]) under another `typ`, so one can never be taken for
//! the other.
//!
//! Anyone holding the public key (published as JWKS) can verify a proof offline; nobody
//! without the private key can forge one. [`Verifier::verify`] pins the algorithm to
//! Ed25519 (the header may say `Ed25519` or the older `EdDSA`; `none`, HMAC and everything
//! else are refused), looks the key up strictly by `kid`, checks the times against `now`, and
//! checks that the proof belongs to the request in hand.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::canonical::{canonicalize, to_canonical};
use crate::crypto::fill_random;
use crate::crypto::{ed25519_public, ed25519_sign, ed25519_valid_public, ed25519_verify};
use crate::encoding::{b64url_decode, b64url_encode};
use crate::error::{Error, Result};

/// Longest proof token accepted, in bytes.
pub const MAX_PROOF_LEN: usize = 8192;
/// Clock skew tolerated for `iat` in the future, in seconds.
pub const MAX_SKEW_SECS: i64 = 60;
/// The `typ` header value of a decision proof.
pub const TYP: &str = "handrail-proof+jws";

/// What a proof asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// The request id.
    pub rid: String,
    /// base64url SHA-256 of the canonical request, see [`digest`].
    pub req: String,
    /// The decision status (`APPROVED`, `APPROVED_WITH_MODIFICATIONS`, `REJECTED`, `EXPIRED`).
    pub dec: String,
    /// Who decided (operator id; `system` for expiry).
    pub act: String,
    /// base64url SHA-256 of the canonical patched payload, when the approver edited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pat: Option<String>,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Unique proof id.
    pub jti: String,
    /// The project the request belongs to. Every new proof carries it; only proofs issued
    /// before it existed lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prj: Option<String>,
    /// The issuing server: its public URL or a stable `srv_…` id. Every new proof carries
    /// it; only proofs issued before it existed lack it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The grant (`grt_…`) an approval was made under, or that it gave: a standing approval
    /// of the same tool for the same agent, bounded in time and revocable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grt: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    alg: String,
    kid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
}

/// base64url SHA-256 of the canonical form of a JSON text (used for `req` and `pat`).
pub fn digest(json: impl AsRef<[u8]>) -> Result<String> {
    let canonical = canonicalize(json)?;
    Ok(b64url_encode(Sha256::digest(canonical.as_bytes())))
}

/// The `req` claim of a decision: the digest of `{"service", "action", "payload"}` of the
/// request as stored (the envelope, when the payload is sealed). The server that signs and
/// every verifier compute it here, so they cannot drift apart.
pub fn request_digest(service: &str, action: &str, payload: &serde_json::Value) -> Result<String> {
    // Borrowed, so a megabyte payload is written once, not copied into a new value first.
    #[derive(serde::Serialize)]
    struct Requested<'a> {
        service: &'a str,
        action: &'a str,
        payload: &'a serde_json::Value,
    }
    let canonical = crate::canonical::to_canonical(&Requested { service, action, payload })?;
    Ok(b64url_encode(Sha256::digest(canonical.as_bytes())))
}

/// The `pat` claim of an edited approval: the digest of the patched payload as stored.
pub fn payload_digest(payload: &serde_json::Value) -> Result<String> {
    let canonical = crate::canonical::to_canonical(payload)?;
    Ok(b64url_encode(Sha256::digest(canonical.as_bytes())))
}

/// A fresh random proof id (128 bits, base64url).
pub fn new_jti() -> Result<String> {
    let mut bytes = [0u8; 16];
    fill_random(&mut bytes)?;
    Ok(b64url_encode(bytes))
}

/// The server's signing key. Prints `[redacted]` in `Debug`.
pub struct Signer {
    kid: String,
    seed: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).field("key", &"[redacted]").finish()
    }
}

impl Signer {
    /// A signer from a 32-byte Ed25519 seed.
    pub fn from_seed(kid: impl Into<String>, seed: [u8; 32]) -> Result<Signer> {
        let kid = kid.into();
        if kid.is_empty() || kid.len() > 64 || !kid.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidKey { reason: "kid must be 1-64 printable ASCII characters" });
        }
        Ok(Signer { kid, public: ed25519_public(&seed), seed: Zeroizing::new(seed) })
    }

    /// A signer with a fresh random key.
    pub fn generate(kid: impl Into<String>) -> Result<Signer> {
        let mut seed = Zeroizing::new([0u8; 32]);
        fill_random(seed.as_mut())?;
        Signer::from_seed(kid, *seed)
    }

    /// The 32-byte seed, for storing the key. It *is* the secret.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        self.seed.clone()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK (`kty` OKP, `crv` Ed25519), for `/v1/keys/proof`.
    pub fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "Ed25519",
            "use": "sig",
            "kid": self.kid,
            "x": b64url_encode(self.public),
        })
    }

    /// Signs claims into a compact JWS.
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        self.sign_typed(TYP, claims)
    }

    /// Signs any claims under header `typ` (decision proofs, audit checkpoints).
    pub(crate) fn sign_typed(&self, typ: &str, claims: &impl Serialize) -> Result<String> {
        let header = Header { alg: "Ed25519".into(), kid: self.kid.clone(), typ: Some(typ.into()) };
        let mut token = b64url_encode(to_canonical(&header)?);
        token.push('.');
        token.push_str(&b64url_encode(to_canonical(claims)?));
        let signature = ed25519_sign(&self.seed, token.as_bytes());
        token.push('.');
        token.push_str(&b64url_encode(signature));
        Ok(token)
    }
}

/// What the verifier expects a proof to be about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expect<'a> {
    /// The request id in hand (always checked).
    pub request_id: &'a str,
    /// The digest of the request in hand, when the verifier has the request.
    pub request_digest: Option<&'a str>,
    /// The decision the caller was told, when it wants it confirmed.
    pub decision: Option<&'a str>,
    /// The digest of the patched payload the caller received, when there is one.
    pub patched_digest: Option<&'a str>,
    /// The project the request belongs to, when the caller knows it: a proof for another
    /// project, or naming none, is refused with [`Error::ProofProject`].
    pub project: Option<&'a str>,
    /// The server the caller trusts to issue proofs (its public URL or `srv_…` id, as
    /// `/v1/keys/proof` publishes it): a proof from another, or naming none, is refused with
    /// [`Error::ProofIssuer`].
    pub issuer: Option<&'a str>,
}

/// Checks an expected project and issuer against the ones a signed statement names.
pub(crate) fn check_origin(
    project: Option<&str>,
    issuer: Option<&str>,
    claimed_project: Option<&str>,
    claimed_issuer: Option<&str>,
) -> Result<()> {
    if project.is_some_and(|p| claimed_project != Some(p)) {
        return Err(Error::ProofProject);
    }
    if issuer.is_some_and(|i| claimed_issuer != Some(i)) {
        return Err(Error::ProofIssuer);
    }
    Ok(())
}

/// Verification keys, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    keys: Vec<(String, [u8; 32])>,
}

impl Verifier {
    /// An empty verifier.
    pub fn new() -> Self {
        Verifier::default()
    }

    /// Adds a raw 32-byte Ed25519 public key.
    pub fn add_key(&mut self, kid: impl Into<String>, public: [u8; 32]) -> Result<()> {
        if !ed25519_valid_public(&public) {
            return Err(Error::InvalidKey { reason: "not an Ed25519 public key" });
        }
        let kid = kid.into();
        self.keys.retain(|(k, _)| *k != kid);
        self.keys.push((kid, public));
        Ok(())
    }

    /// Reads a JWKS (`{"keys":[…]}`) or a single JWK; only OKP/Ed25519 keys are accepted.
    pub fn from_jwks(jwks: &serde_json::Value) -> Result<Verifier> {
        let list: Vec<&serde_json::Value> = match jwks.get("keys") {
            Some(serde_json::Value::Array(keys)) => keys.iter().collect(),
            Some(_) => return Err(Error::InvalidKey { reason: "JWKS keys must be an array" }),
            None => vec![jwks],
        };
        let mut verifier = Verifier::new();
        for jwk in list {
            let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
            if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
                return Err(Error::InvalidKey { reason: "proof keys are OKP Ed25519 JWKs" });
            }
            if !matches!(field("alg"), None | Some("Ed25519") | Some("EdDSA")) {
                return Err(Error::InvalidKey { reason: "JWK alg must be Ed25519" });
            }
            let kid = field("kid").ok_or(Error::InvalidKey { reason: "JWK needs a kid" })?;
            let x = b64url_decode(field("x").ok_or(Error::InvalidKey { reason: "JWK needs x" })?)?;
            let x: [u8; 32] =
                x.try_into().map_err(|_| Error::InvalidKey { reason: "Ed25519 keys are 32 bytes" })?;
            verifier.add_key(kid, x)?;
        }
        Ok(verifier)
    }

    /// Verifies `token` at `now` and returns its claims when every check passes.
    pub fn verify(&self, token: &str, now: i64, expect: &Expect<'_>) -> Result<Claims> {
        // Tokens from before `typ` was set carry none; anything else typed is not a proof.
        let claims = self.verify_typed(token, TYP, true)?;
        let claims: Claims = serde_json::from_slice(&claims)
            .map_err(|_| Error::ProofMalformed { reason: "claims are not the expected JSON" })?;
        if now > claims.exp || claims.iat > now + MAX_SKEW_SECS {
            return Err(Error::ProofExpired);
        }
        if claims.rid != expect.request_id {
            return Err(Error::ProofMismatch { field: "rid" });
        }
        if expect.request_digest.is_some_and(|d| d != claims.req) {
            return Err(Error::ProofMismatch { field: "req" });
        }
        if expect.decision.is_some_and(|d| d != claims.dec) {
            return Err(Error::ProofMismatch { field: "dec" });
        }
        if expect.patched_digest.is_some() && expect.patched_digest != claims.pat.as_deref() {
            return Err(Error::ProofMismatch { field: "pat" });
        }
        check_origin(expect.project, expect.issuer, claims.prj.as_deref(), claims.iss.as_deref())?;
        Ok(claims)
    }

    /// Checks a compact JWS's form, algorithm, key and signature, and that its header `typ`
    /// is `typ` (or absent, when `untyped_ok`); returns the decoded claims bytes.
    pub(crate) fn verify_typed(&self, token: &str, typ: &str, untyped_ok: bool) -> Result<Vec<u8>> {
        if token.len() > MAX_PROOF_LEN {
            return Err(Error::TooLarge { size: token.len(), limit: MAX_PROOF_LEN });
        }
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Error::ProofMalformed { reason: "expected three dot-separated parts" });
        };
        let header: Header = serde_json::from_slice(&b64url_decode(h)?)
            .map_err(|_| Error::ProofMalformed { reason: "header is not the expected JSON" })?;
        if header.alg != "Ed25519" && header.alg != "EdDSA" {
            return Err(Error::ProofAlgorithm { alg: header.alg });
        }
        match header.typ.as_deref() {
            Some(t) if t == typ => {}
            None if untyped_ok => {}
            _ => return Err(Error::ProofMalformed { reason: "the header's typ is not this kind of token" }),
        }
        let key = self
            .keys
            .iter()
            .find(|(kid, _)| *kid == header.kid)
            .map(|(_, key)| key)
            .ok_or(Error::UnknownKid { kid: header.kid })?;
        let signature = b64url_decode(s)?;
        if signature.len() != 64 {
            return Err(Error::ProofMalformed { reason: "signature is not 64 bytes" });
        }
        let signing_input = &token[..h.len() + 1 + c.len()];
        if !ed25519_verify(key, signing_input.as_bytes(), &signature) {
            return Err(Error::ProofSignature);
        }
        b64url_decode(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            rid: "req_1".into(),
            req: digest(r#"{"action":"pay","payload":{"amount":10}}"#).unwrap(),
            dec: "APPROVED".into(),
            act: "op_1".into(),
            pat: None,
            iat: 1000,
            exp: 2000,
            jti: "j1".into(),
            prj: Some("prj_a".into()),
            iss: Some("https://hr.example".into()),
            grt: None,
        }
    }

    #[test]
    fn project_and_issuer_bind() {
        let signer = Signer::from_seed("p1", [9u8; 32]).unwrap();
        let verifier = Verifier::from_jwks(&signer.public_jwk()).unwrap();
        let token = signer.sign(&claims()).unwrap();
        let base = Expect { request_id: "req_1", ..Default::default() };
        let with = |project, issuer| Expect { project, issuer, ..base };
        assert!(verifier.verify(&token, 1500, &with(Some("prj_a"), Some("https://hr.example"))).is_ok());
        let code = |e: Expect<'_>| verifier.verify(&token, 1500, &e).unwrap_err().code();
        assert_eq!(code(with(Some("prj_b"), None)), "proof_project");
        assert_eq!(code(with(None, Some("https://other.example"))), "proof_issuer");
        // A proof from before prj/iss: verifies when nothing is expected, never otherwise.
        let old = signer.sign(&Claims { prj: None, iss: None, ..claims() }).unwrap();
        assert!(verifier.verify(&old, 1500, &base).is_ok());
        assert_eq!(
            verifier.verify(&old, 1500, &with(Some("prj_a"), None)).unwrap_err().code(),
            "proof_project"
        );
        assert_eq!(verifier.verify(&old, 1500, &with(None, Some("x"))).unwrap_err().code(), "proof_issuer");
        // A token of another typ (an audit checkpoint) is never a decision proof.
        let other = signer.sign_typed("handrail-audit+jws", &claims()).unwrap();
        assert_eq!(verifier.verify(&other, 1500, &base).unwrap_err().code(), "proof_malformed");
    }

    #[test]
    fn sign_verify_and_bindings() {
        let signer = Signer::from_seed("p1", [9u8; 32]).unwrap();
        let verifier = Verifier::from_jwks(&serde_json::json!({"keys":[signer.public_jwk()]})).unwrap();
        let token = signer.sign(&claims()).unwrap();
        let expect = Expect { request_id: "req_1", ..Default::default() };
        assert_eq!(verifier.verify(&token, 1500, &expect).unwrap(), claims());
        assert_eq!(verifier.verify(&token, 2001, &expect).unwrap_err().code(), "proof_expired");
        let other = Expect { request_id: "req_2", ..Default::default() };
        assert_eq!(verifier.verify(&token, 1500, &other).unwrap_err().code(), "proof_mismatch");
        let mut forged = token.clone();
        forged.replace_range(forged.len() - 3.., "AAA");
        assert!(verifier.verify(&forged, 1500, &expect).is_err());
    }

    #[test]
    fn rejects_alg_none_and_hmac() {
        let verifier =
            Verifier::from_jwks(&Signer::from_seed("p1", [9u8; 32]).unwrap().public_jwk()).unwrap();
        for alg in ["none", "HS256", "ES256"] {
            let header = b64url_encode(format!(r#"{{"alg":"{alg}","kid":"p1"}}"#));
            let body = b64url_encode(to_canonical(&claims()).unwrap());
            let token = format!("{header}.{body}.");
            let err = verifier.verify(&token, 1500, &Expect { request_id: "req_1", ..Default::default() });
            assert_eq!(err.unwrap_err().code(), "proof_algorithm");
        }
    }
}
