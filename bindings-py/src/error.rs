//! The one place where `handrail_core::Error` becomes a Python exception.
//!
//! Every core error surfaces as `handrail.HandrailError`, a `ValueError` subclass, or one of
//! its subclasses. The core decides each error's category ([`handrail_core::Error::kind`]);
//! [`class_of`] only maps that kind to a class: `AuthError`, `NotFoundError`,
//! `ConflictError`, `InvalidPayloadError`, `RateLimitedError`, `ServerError`,
//! `ProtocolError`, `DecryptionFailedError`, `ExpiredError`, `WaitTimeoutError`,
//! `ProofError`, `WebhookError` — the same names the TypeScript SDK throws. Input errors
//! (`json_syntax`, …) stay plain `HandrailError`. The earlier names without the
//! `Error` suffix (`InvalidPayload`, `RateLimited`, `DecryptionFailed`, `WaitTimeout`) are
//! registered too, as aliases of the same classes.
//!
//! Every raised error carries the attributes `code` (the core's stable code, the string the
//! shared vectors in `tests/vectors/` use), `kind` (the core's stable kind), and `status`,
//! `id`, `field`, `reason` (`None` where the error has none); `RateLimitedError` also has
//! `retry_after`. The message is the core's `Display` text.

use handrail_core::ErrorKind;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    handrail,
    HandrailError,
    PyValueError,
    "Raised when Handrail rejects its input.\n\n\
     ``code`` is a stable, machine-readable ``snake_case`` string such as\n\
     ``\"json_syntax\"`` or ``\"duplicate_key\"``; compare against it rather than against the\n\
     message, which is meant for people and may change. ``kind`` is the error's stable\n\
     category (``\"invalid_input\"``, ``\"proof\"``, …), which decides its class; ``status``,\n\
     ``id``, ``field`` and ``reason`` are the HTTP status, request id, field and server code\n\
     the error is about, or ``None``. ``HandrailError`` is a ``ValueError``, so\n\
     ``except ValueError`` also catches it."
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
subclass!(InvalidPayloadError, "The server or the schema refused the input (``invalid_request``, ``edit_invalid``, ``schema_invalid``, ``too_large``).");
subclass!(RateLimitedError, "Too many requests (``rate_limited``); ``retry_after`` is in seconds.");
subclass!(ServerError, "The server failed (``server_error``) after the retries.");
subclass!(ProtocolError, "The server's answer does not have the promised shape (``invalid_response``).");
subclass!(
    DecryptionFailedError,
    "An envelope did not open, or a plain value came where an envelope belongs: never taken as the payload."
);
subclass!(ExpiredError, "Nobody decided before the request's deadline (``expired``): do not act.");
subclass!(
    WaitTimeoutError,
    "The caller's wait timeout passed while the request was pending (``wait_timeout``)."
);
subclass!(ProofError, "A decision proof did not verify (``proof_*``).");
subclass!(WebhookError, "A webhook did not verify (``webhook_*``).");

/// Registers the exception classes on the module, with the old names as aliases, and the
/// attributes every instance has as class-level `None` defaults (so a `HandrailError` made
/// in Python, like the client's `NetworkError`, has them too).
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<HandrailError>();
    for attr in ["kind", "status", "id", "field", "reason"] {
        base.setattr(attr, py.None())?;
    }
    m.add("HandrailError", base)?;
    m.add("AuthError", py.get_type::<AuthError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("ConflictError", py.get_type::<ConflictError>())?;
    m.add("InvalidPayloadError", py.get_type::<InvalidPayloadError>())?;
    m.add("RateLimitedError", py.get_type::<RateLimitedError>())?;
    m.add("ServerError", py.get_type::<ServerError>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("DecryptionFailedError", py.get_type::<DecryptionFailedError>())?;
    m.add("ExpiredError", py.get_type::<ExpiredError>())?;
    m.add("WaitTimeoutError", py.get_type::<WaitTimeoutError>())?;
    m.add("ProofError", py.get_type::<ProofError>())?;
    m.add("WebhookError", py.get_type::<WebhookError>())?;
    // The names before the TypeScript SDK's were adopted: the same class objects, so
    // `except RateLimited` keeps catching what is raised.
    m.add("InvalidPayload", py.get_type::<InvalidPayloadError>())?;
    m.add("RateLimited", py.get_type::<RateLimitedError>())?;
    m.add("DecryptionFailed", py.get_type::<DecryptionFailedError>())?;
    m.add("WaitTimeout", py.get_type::<WaitTimeoutError>())?;
    Ok(())
}

/// The exception class for a kind of error; kinds without a class of their own (input,
/// audit, and kinds added later) raise `HandrailError`.
fn class_of(kind: ErrorKind) -> fn(String) -> PyErr {
    match kind {
        ErrorKind::Auth | ErrorKind::Forbidden => AuthError::new_err,
        ErrorKind::NotFound => NotFoundError::new_err,
        ErrorKind::Conflict => ConflictError::new_err,
        ErrorKind::InvalidPayload => InvalidPayloadError::new_err,
        ErrorKind::RateLimited => RateLimitedError::new_err,
        ErrorKind::Server => ServerError::new_err,
        ErrorKind::Protocol => ProtocolError::new_err,
        ErrorKind::Decryption => DecryptionFailedError::new_err,
        ErrorKind::Expired => ExpiredError::new_err,
        ErrorKind::Timeout => WaitTimeoutError::new_err,
        ErrorKind::Proof => ProofError::new_err,
        ErrorKind::Webhook => WebhookError::new_err,
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
            let exc = class_of(err.kind())(err.to_string());
            let value = exc.value(py);
            // Setting an attribute on a fresh exception instance only fails on memory
            // exhaustion; the exception then still carries its message and type.
            let _ = value.setattr("code", err.code());
            let _ = value.setattr("kind", err.kind().as_str());
            let _ = value.setattr("status", err.status());
            let _ = value.setattr("id", err.id());
            let _ = value.setattr("field", err.field());
            let _ = value.setattr("reason", err.reason());
            if let Some(retry_after) = err.retry_after() {
                let _ = value.setattr("retry_after", retry_after);
            }
            exc
        })
    }
}
