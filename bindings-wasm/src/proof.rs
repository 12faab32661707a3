//! Decision proofs ([`handrail_core::proof`]): `proofDigest` and `ProofVerifier`, as in the
//! Node package, except that `verify` returns the claims as an object.

use handrail_core::proof::{self, Expect, Verifier};
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};
use crate::input;
use crate::output::to_js;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** What `ProofVerifier.verify` checks beyond the signature and the time. */
export interface ProofExpect {
  /** The request the proof must be about (always checked). */
  requestId: string;
  /** base64url SHA-256 of the canonical request (`proofDigest`). */
  requestDigest?: string;
  /** The decision status the proof must assert. */
  decision?: string;
  /** base64url SHA-256 of the canonical patched payload. */
  patchedDigest?: string;
  /** The project the proof must name (`prj`): the signed-in project. Throws `proof_project`. */
  project?: string;
  /** The server that must have issued it (`iss`, the `issuer` of `GET /v1/keys/proof`). Throws `proof_issuer`. */
  issuer?: string;
}
/** What a verified proof asserts. */
export interface ProofClaims {
  /** Request id. */
  rid: string;
  /** base64url SHA-256 of the canonical request. */
  req: string;
  /** The decision status. */
  dec: string;
  /** Who decided. */
  act: string;
  /** base64url SHA-256 of the canonical patched payload, after an edit. */
  pat?: string;
  /** Issued at, Unix seconds. */
  iat: number;
  /** Expires at, Unix seconds. */
  exp: number;
  /** The proof's unique id. */
  jti: string;
  /** The project of the request (absent only from proofs issued before it existed). */
  prj?: string;
  /** The issuing server: its public URL or `srv_…` id (absent only from older proofs). */
  iss?: string;
  /** The grant (`grt_…`) an approval was made under or gave. */
  grt?: string;
}
"#;

/// base64url SHA-256 of the canonical form of JSON text (a proof's `req` and `pat`).
///
/// `json` is JSON text or its UTF-8 bytes; throws `json_syntax`, `duplicate_key`, … when it
/// is not canonicalizable.
#[wasm_bindgen(js_name = proofDigest)]
pub fn proof_digest(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] json: JsValue,
) -> Result<String> {
    Ok(proof::digest(input::json_bytes(&json, "json")?)?)
}

/// The `req` claim a decision on this request must carry: the digest of its service, action
/// and payload as stored (the envelope, when sealed), computed by the same core function the
/// server signs with. `payload` is JSON text or its UTF-8 bytes.
#[wasm_bindgen(js_name = requestDigest)]
pub fn request_digest(
    service: &str,
    action: &str,
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] payload: JsValue,
) -> Result<String> {
    let bytes = input::json_bytes(&payload, "payload")?;
    // The strict reading first (duplicate keys, lone surrogates, …), then the value.
    handrail_core::canonical::canonicalize(&bytes)?;
    let payload: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| crate::error::Error::Type(format!("payload: {e}")))?;
    Ok(proof::request_digest(service, action, &payload)?)
}

/// Verifies decision proofs against a JWKS.
#[wasm_bindgen]
pub struct ProofVerifier {
    verifier: Verifier,
}

#[wasm_bindgen]
impl ProofVerifier {
    /// `jwksJson` is JSON text of a JWKS (`{"keys": […]}`, what `GET /v1/keys/proof` serves)
    /// or of one JWK. Throws `invalid_key` for keys that are not OKP Ed25519.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(js_name = jwksJson)] jwks_json: &str) -> Result<ProofVerifier> {
        let jwks = handrail_core::canonical::parse(jwks_json.as_bytes())?;
        Ok(ProofVerifier { verifier: Verifier::from_jwks(&jwks)? })
    }

    /// Verifies `token` at `now` (Unix seconds) against `expect`; returns its claims. Throws
    /// a `HandrailError` with `code` `proof_malformed`, `proof_algorithm`, `proof_signature`,
    /// `proof_expired`, `proof_mismatch`, `proof_project`, `proof_issuer`, `unknown_kid` or
    /// `encoding`, and a `TypeError`
    /// when `expect.requestId` is missing.
    #[wasm_bindgen(unchecked_return_type = "ProofClaims")]
    pub fn verify(
        &self,
        token: &str,
        now: f64,
        #[wasm_bindgen(unchecked_param_type = "ProofExpect")] expect: JsValue,
    ) -> Result<JsValue> {
        let now = input::unix_seconds(now, "now")?;
        let field = |name: &str| input::opt_string(&input::member(&expect, name, "expect")?, name);
        let request_id = field("requestId")?
            .ok_or_else(|| Error::Type("expect.requestId must be the request's id".into()))?;
        let (request_digest, decision, patched_digest) =
            (field("requestDigest")?, field("decision")?, field("patchedDigest")?);
        let (project, issuer) = (field("project")?, field("issuer")?);
        let expect = Expect {
            request_id: &request_id,
            request_digest: request_digest.as_deref(),
            decision: decision.as_deref(),
            patched_digest: patched_digest.as_deref(),
            project: project.as_deref(),
            issuer: issuer.as_deref(),
        };
        Ok(to_js(&self.verifier.verify(token, now, &expect)?))
    }
}
