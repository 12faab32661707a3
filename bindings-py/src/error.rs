//! The one place where `handrail_core::Error` becomes a Python exception.
//!
//! Every core error surfaces as `handrail.HandrailError`, a `ValueError` subclass whose
//! `code` attribute is the core's stable code (`"duplicate_key"`, `"decrypt_failed"`, …) —
//! the same string the shared vectors in `tests/vectors/` and the other bindings use — and
//! whose message is the core's `Display` text. Errors of the client protocol raise
//! subclasses of it, chosen by code in [`class_of`]: `AuthError`, `NotFoundError`,
//! `ConflictError`, `InvalidPayload`, `RateLimited` (with `retry_after`), `ServerError`,
//! `ProtocolError`, `DecryptionFailed`, `ExpiredError`, `WaitTimeout`, `ProofError`,
//! `WebhookError`. Input errors of the other functions (`json_syntax`, …) stay plain
//! `HandrailError`.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    handrail,
    HandrailError,
    PyValueError,
    "Raised when Handrail rejects its input.\n\n\
     ``code`` is a stable, machine-readable ``snake_case`` string such as\n\
     ``\"json_syntax\"`` or ``\"duplicate_key\"``; compare against it rather than against the\n\
     message, which is meant for people and may change. ``HandrailError`` is a\n\
     ``ValueError``, so ``except ValueError`` also catches it."
);

macro_rules! subclass {
    ($name:ident, $doc:literal) => {
        pyo3::create_exception!(handrail, $name, HandrailError, $doc);
    };
}

subclass!(
    AuthError,
    "The API key is missing, unknown or not allowed to do this (``unauthorized``, ``forbidden``)."
);
subclass!(NotFoundError, "No such request in this key's project (``not_found``).");
subclass!(
    ConflictError,
    "The server's state forbids it (``conflict``: id taken, already decided; ``idempotency_mismatch``)."
);
subclass!(InvalidPayload, "The server or the schema refused the input (``invalid_request``, ``edit_invalid``, ``schema_invalid``, ``too_large``).");
subclass!(RateLimited, "Too many requests (``rate_limited``); ``retry_after`` is in seconds.");
subclass!(ServerError, "The server failed (``server_error``) after the retries.");
subclass!(ProtocolError, "The server's answer does not have the promised shape (``invalid_response``).");
subclass!(
    DecryptionFailed,
    "An envelope did not open, or a plain value came where an envelope belongs: never taken as the payload."
);
subclass!(ExpiredError, "Nobody decided before the request's deadline (``expired``): do not act.");
subclass!(WaitTimeout, "The caller's wait timeout passed while the request was pending (``wait_timeout``).");
subclass!(ProofError, "A decision proof did not verify (``proof_*``, ``unknown_kid``).");
subclass!(WebhookError, "A webhook did not verify (``webhook_*``).");

/// Registers the exception classes on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("HandrailError", py.get_type::<HandrailError>())?;
    m.add("AuthError", py.get_type::<AuthError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("InvalidPayload", py.get_type::<InvalidPayload>())?;
    m.add("RateLimited", py.get_type::<RateLimited>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("DecryptionFailed", py.get_type::<DecryptionFailed>())?;
    m.add("ExpiredError", py.get_type::<ExpiredError>())?;
    m.add("WaitTimeout", py.get_type::<WaitTimeout>())?;
    m.add("ProofError", py.get_type::<ProofError>())?;
    m.add("WebhookError", py.get_type::<WebhookError>())?;
    Ok(())
}

/// The exception for an error: a subclass for the protocol's codes, else `HandrailError`.
fn class_of(err: &handrail_core::Error) -> fn(String) -> PyErr {
    match err.code() {
        "unauthorized" | "forbidden" => AuthError::new_err,
        "not_found" => NotFoundError::new_err,
        "conflict" | "idempotency_mismatch" => ConflictError::new_err,
        "invalid_request" | "edit_invalid" | "schema_invalid" => InvalidPayload::new_err,
        "too_large" if matches!(err, handrail_core::Error::BodyTooLarge { .. }) => InvalidPayload::new_err,
        "rate_limited" => RateLimited::new_err,
        "server_error" => ServerError::new_err,
        "invalid_response" => ProtocolError::new_err,
        "decrypt_failed"
        | "unwrap_failed"
        | "envelope_malformed"
        | "envelope_unsupported"
        | "not_encrypted"
        | "no_key"
        | "unknown_kid" => DecryptionFailed::new_err,
        "expired" => ExpiredError::new_err,
        "wait_timeout" => WaitTimeout::new_err,
        code if code.starts_with("proof_") => ProofError::new_err,
        code if code.starts_with("webhook_") => WebhookError::new_err,
        _ => HandrailError::new_err,
    }
}

/// A core error on its way to Python; lets binding functions use `?` on core results.
///
/// A newtype because the orphan rule forbids `impl From<handrail_core::Error> for PyErr`.
#[derive(Debug)]
pub struct CoreError(pub handrail_core::Error);

impl From<handrail_core::Error> for CoreError {
    fn from(err: handrail_core::Error) -> Self {
        Self(err)
    }
}

impl From<CoreError> for PyErr {
    fn from(CoreError(err): CoreError) -> Self {
        // Conversions happen inside `#[pyfunction]` bodies, where the thread is already
        // attached, so `attach` only reads the thread state.
        Python::attach(|py| {
            let exc = class_of(&err)(err.to_string());
            // Setting an attribute on a fresh exception instance only fails on memory
            // exhaustion; the exception then still carries its message and type.
            let _ = exc.value(py).setattr("code", err.code());
            match &err {
                handrail_core::Error::RateLimited { retry_after } => {
                    let _ = exc.value(py).setattr("retry_after", *retry_after);
                }
                handrail_core::Error::Conflict { reason, .. } => {
                    let _ = exc.value(py).setattr("reason", reason.as_str());
                }
                _ => {}
            }
            exc
        })
    }
}
