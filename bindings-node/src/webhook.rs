//! Standard Webhooks (`handrail_core::webhook`) as `Webhook` and `verifyLetsping`.
//!
//! A newtype over the core's parsed secrets, so each secret is decoded once, not on every
//! delivery. Signing, the header rules, the tolerance and the constant-time comparison are
//! the core's; `now` is always passed in.

use handrail_core::webhook::{self, Headers, Secret};
use napi::bindgen_prelude::Uint8Array;
use napi::Env;
use napi_derive::napi;

use crate::error::ThrownJs;

/// One or more webhook secrets (`whsec_`, `whsk_`, `whpk_`): signs with the first, verifies
/// against any. Throws `invalid_key` for a secret the core cannot read.
#[napi]
pub struct Webhook {
    secrets: Vec<Secret>,
}

#[napi]
impl Webhook {
    #[napi(constructor)]
    pub fn new(env: Env, secrets: Vec<String>) -> napi::Result<Self> {
        let secrets = secrets.iter().map(|s| Secret::parse(s)).collect::<handrail_core::Result<Vec<_>>>();
        Ok(Webhook { secrets: secrets.thrown(&env)? })
    }

    /// The secrets in their text form (they *are* secrets).
    #[napi]
    pub fn export(&self) -> Vec<String> {
        self.secrets.iter().map(Secret::export).collect()
    }

    /// The `webhook-signature` entry (`v1,…` or `v1a,…`) of one message.
    #[napi]
    pub fn sign(&self, env: Env, msg_id: String, timestamp: i64, body: Uint8Array) -> napi::Result<String> {
        let secret =
            self.secrets.first().ok_or(handrail_core::Error::InvalidKey { reason: "no secret to sign with" });
        webhook::sign(secret.thrown(&env)?, &msg_id, timestamp, &body).thrown(&env)
    }

    /// Verifies one delivery from its three headers at `now` (Unix seconds); returns its
    /// timestamp. `tolerance` (seconds) defaults to 300. Throws `webhook_header`,
    /// `webhook_timestamp`, `webhook_signature`.
    #[napi]
    #[allow(clippy::too_many_arguments)]
    pub fn verify(
        &self,
        env: Env,
        msg_id: String,
        timestamp: String,
        signature: String,
        body: Uint8Array,
        now: i64,
        tolerance: Option<u32>,
    ) -> napi::Result<i64> {
        let headers = Headers { id: &msg_id, timestamp: &timestamp, signature: &signature };
        let tolerance = tolerance.map_or(webhook::DEFAULT_TOLERANCE_SECS, u64::from);
        webhook::verify(&self.secrets, &headers, &body, now, tolerance).thrown(&env)
    }
}

/// Verifies a LetsPing `x-letsping-signature` header at `nowMs`; returns its timestamp (ms).
#[napi]
pub fn verify_letsping(
    env: Env,
    secret: Uint8Array,
    header: String,
    body: Uint8Array,
    now_ms: i64,
    tolerance_ms: i64,
) -> napi::Result<i64> {
    let tolerance_ms = u64::try_from(tolerance_ms).unwrap_or(0);
    handrail_core::compat::letsping::verify(&secret, &header, &body, now_ms, tolerance_ms).thrown(&env)
}
