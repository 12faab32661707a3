//! Decision proofs (`handrail_core::proof`) as `ProofSigner`, `ProofVerifier` and
//! `proofDigest`. Claims and JWKs cross as JSON text, parsed and checked by the core.

use handrail_core::canonical;
use handrail_core::proof::{self, Claims, Expect, Signer, Verifier};
use napi::bindgen_prelude::{Either, Uint8Array};
use napi::Env;
use napi_derive::napi;

use crate::error::ThrownJs;

fn text(input: &Either<String, Uint8Array>) -> &[u8] {
    match input {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    }
}

/// base64url SHA-256 of the canonical form of JSON text (a proof's `req` and `pat`).
#[napi]
pub fn proof_digest(env: Env, json: Either<String, Uint8Array>) -> napi::Result<String> {
    proof::digest(text(&json)).thrown(&env)
}

/// Signs decision proofs with an Ed25519 key (what a server does).
#[napi]
pub struct ProofSigner {
    signer: Signer,
}

#[napi]
impl ProofSigner {
    /// `seed` is the 32-byte Ed25519 seed. Throws `invalid_key`.
    #[napi(constructor)]
    pub fn new(env: Env, kid: String, seed: Uint8Array) -> napi::Result<Self> {
        let seed: handrail_core::Result<[u8; 32]> = (*seed)
            .try_into()
            .map_err(|_| handrail_core::Error::InvalidKey { reason: "an Ed25519 seed is 32 bytes" });
        let signer = Signer::from_seed(&kid, seed.thrown(&env)?).thrown(&env)?;
        Ok(ProofSigner { signer })
    }

    /// The public key as a JWK, JSON text.
    #[napi]
    pub fn public_jwk(&self) -> String {
        self.signer.public_jwk().to_string()
    }

    /// Signs `claimsJson` (JSON text of the claims object); returns the compact token.
    #[napi]
    pub fn sign(&self, env: Env, claims_json: String) -> napi::Result<String> {
        let value = canonical::parse(claims_json.as_bytes()).thrown(&env)?;
        let claims: handrail_core::Result<Claims> = serde_json::from_value(value).map_err(|e| {
            handrail_core::Error::InvalidRequest { reason: "invalid_claims".into(), message: e.to_string() }
        });
        self.signer.sign(&claims.thrown(&env)?).thrown(&env)
    }
}

/// What `ProofVerifier.verify` checks beyond the signature and the time.
#[napi(object)]
pub struct ProofExpect {
    /// The request the proof must be about.
    pub request_id: String,
    /// base64url SHA-256 of the canonical request (`proofDigest`).
    pub request_digest: Option<String>,
    /// The decision status the proof must assert.
    pub decision: Option<String>,
    /// base64url SHA-256 of the canonical patched payload.
    pub patched_digest: Option<String>,
    /// The project the proof must name (`prj`); throws `proof_project` otherwise.
    pub project: Option<String>,
    /// The server that must have issued it (`iss`, the `issuer` of `/v1/keys/proof`);
    /// throws `proof_issuer` otherwise.
    pub issuer: Option<String>,
}

/// Verifies decision proofs against a JWKS.
#[napi]
pub struct ProofVerifier {
    verifier: Verifier,
}

#[napi]
impl ProofVerifier {
    /// `jwksJson` is JSON text of a JWKS (`{"keys": […]}`) or of one JWK.
    #[napi(constructor)]
    pub fn new(env: Env, jwks_json: String) -> napi::Result<Self> {
        let jwks = canonical::parse(jwks_json.as_bytes()).thrown(&env)?;
        Ok(ProofVerifier { verifier: Verifier::from_jwks(&jwks).thrown(&env)? })
    }

    /// Verifies `token` at `now` (Unix seconds); returns its claims as JSON text. Throws
    /// `proof_*` codes.
    #[napi]
    pub fn verify(&self, env: Env, token: String, now: i64, expect: ProofExpect) -> napi::Result<String> {
        let expect = Expect {
            request_id: &expect.request_id,
            request_digest: expect.request_digest.as_deref(),
            decision: expect.decision.as_deref(),
            patched_digest: expect.patched_digest.as_deref(),
            project: expect.project.as_deref(),
            issuer: expect.issuer.as_deref(),
        };
        let claims = self.verifier.verify(&token, now, &expect).thrown(&env)?;
        // Serializing the core's claims struct cannot fail.
        Ok(serde_json::to_string(&claims).unwrap_or_default())
    }
}
