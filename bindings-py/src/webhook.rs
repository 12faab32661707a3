//! Standard Webhooks (`handrail_core::webhook`) as `handrail._core.Webhook` and
//! `handrail._core.verify_letsping`.
//!
//! A newtype over the core's parsed secrets, so each secret is decoded once, not on every
//! delivery. Signing, the header rules, the tolerance and the constant-time comparison are
//! the core's; `now` is always passed in.

use handrail_core::webhook::{self, Headers, Secret};
use pyo3::prelude::*;

use crate::error::CoreError;

// The default of `verify`'s `tolerance` must be a literal for Python's signature.
const _: () = assert!(webhook::DEFAULT_TOLERANCE_SECS == 300);

/// One or more webhook secrets (``whsec_``, ``whsk_``, ``whpk_``): signs with the first,
/// verifies against any.
#[pyclass(name = "Webhook", module = "handrail._core", frozen)]
pub struct PyWebhook {
    secrets: Vec<Secret>,
}

#[pymethods]
impl PyWebhook {
    #[new]
    fn new(secrets: Vec<String>) -> Result<Self, CoreError> {
        let secrets = secrets.iter().map(|s| Secret::parse(s)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { secrets })
    }

    /// The secrets in their text form (they *are* secrets).
    fn export(&self) -> Vec<String> {
        self.secrets.iter().map(Secret::export).collect()
    }

    /// The ``webhook-signature`` entry (``v1,…`` or ``v1a,…``) of one message.
    fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> Result<String, CoreError> {
        let secret = self
            .secrets
            .first()
            .ok_or(handrail_core::Error::InvalidKey { reason: "no secret to sign with" })?;
        Ok(webhook::sign(secret, msg_id, timestamp, body)?)
    }

    /// Verifies one delivery from its three headers; returns its timestamp. ``tolerance``
    /// (seconds) defaults to the core's `DEFAULT_TOLERANCE_SECS` (asserted below).
    #[pyo3(signature = (msg_id, timestamp, signature, body, now, tolerance = 300))]
    fn verify(
        &self,
        msg_id: &str,
        timestamp: &str,
        signature: &str,
        body: &[u8],
        now: i64,
        tolerance: u64,
    ) -> Result<i64, CoreError> {
        let headers = Headers { id: msg_id, timestamp, signature };
        Ok(webhook::verify(&self.secrets, &headers, body, now, tolerance)?)
    }

    fn __repr__(&self) -> String {
        format!("Webhook([redacted] x{})", self.secrets.len())
    }
}

/// Verifies a LetsPing ``x-letsping-signature`` header; returns its timestamp (ms).
///
/// For receivers migrating from LetsPing: its MAC covers the body only, so a captured
/// delivery replays with a fresh ``t``; new receivers use :class:`Webhook`.
#[pyfunction]
pub fn verify_letsping(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_ms: i64,
    tolerance_ms: u64,
) -> Result<i64, CoreError> {
    Ok(handrail_core::compat::letsping::verify(secret, header, body, now_ms, tolerance_ms)?)
}
