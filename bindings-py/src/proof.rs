//! Decision proofs (`handrail_core::proof`) as `handrail._core.ProofSigner`,
//! `handrail._core.ProofVerifier` and `handrail._core.proof_digest`.
//!
//! Newtypes over the core's `Signer` and `Verifier`. Claims and JWKs cross as JSON text,
//! parsed and checked by the core; every check of a proof is the core's.

use handrail_core::canonical;
use handrail_core::proof::{self, Claims, Expect, Signer, Verifier};
use pyo3::prelude::*;

use crate::error::CoreError;
use crate::input::JsonText;

/// base64url SHA-256 of the canonical form of JSON text (a proof's ``req`` and ``pat``).
#[pyfunction]
pub fn proof_digest(json: JsonText) -> Result<String, CoreError> {
    Ok(proof::digest(json.as_bytes())?)
}

/// Signs decision proofs with an Ed25519 key (what a server does).
#[pyclass(name = "ProofSigner", module = "handrail._core", frozen)]
pub struct PySigner {
    signer: Signer,
}

#[pymethods]
impl PySigner {
    /// ``seed`` is the 32-byte Ed25519 seed.
    #[new]
    fn new(kid: &str, seed: &[u8]) -> Result<Self, CoreError> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| {
            CoreError(handrail_core::Error::InvalidKey { reason: "an Ed25519 seed is 32 bytes" })
        })?;
        Ok(Self { signer: Signer::from_seed(kid, seed)? })
    }

    /// The public key as a JWK, JSON text.
    fn public_jwk(&self) -> String {
        self.signer.public_jwk().to_string()
    }

    /// Signs ``claims`` (JSON text of the claims object); returns the compact token.
    fn sign(&self, claims: JsonText) -> Result<String, CoreError> {
        let value = canonical::parse(claims.as_bytes())?;
        let claims: Claims = serde_json::from_value(value).map_err(|e| {
            handrail_core::Error::InvalidRequest { reason: "invalid_claims".into(), message: e.to_string() }
        })?;
        Ok(self.signer.sign(&claims)?)
    }
}

/// Verifies decision proofs against a JWKS.
#[pyclass(name = "ProofVerifier", module = "handrail._core", frozen)]
pub struct PyVerifier {
    verifier: Verifier,
}

#[pymethods]
impl PyVerifier {
    /// ``jwks`` is JSON text of a JWKS (``{"keys": […]}``) or of one JWK.
    #[new]
    fn new(jwks: JsonText) -> Result<Self, CoreError> {
        Ok(Self { verifier: Verifier::from_jwks(&canonical::parse(jwks.as_bytes())?)? })
    }

    /// Verifies ``token`` at ``now`` (Unix seconds); returns its claims as JSON text.
    ///
    /// ``project`` and ``issuer``, when given, must be the proof's ``prj`` and ``iss``
    /// (``proof_project``, ``proof_issuer`` otherwise, also when the proof names none).
    #[pyo3(signature = (token, now, request_id, request_digest = None, decision = None, patched_digest = None,
                        *, project = None, issuer = None))]
    #[allow(clippy::too_many_arguments)]
    fn verify(
        &self,
        token: &str,
        now: i64,
        request_id: &str,
        request_digest: Option<&str>,
        decision: Option<&str>,
        patched_digest: Option<&str>,
        project: Option<&str>,
        issuer: Option<&str>,
    ) -> Result<String, CoreError> {
        let expect = Expect { request_id, request_digest, decision, patched_digest, project, issuer };
        let claims = self.verifier.verify(token, now, &expect)?;
        // Serializing the core's claims struct cannot fail.
        Ok(serde_json::to_string(&claims).unwrap_or_default())
    }
}
