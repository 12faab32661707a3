//! The one place where `handrail_core::Error` becomes a Python exception.
//!
//! Every core error surfaces as `handrail.HandrailError`, a `ValueError` subclass whose
//! `code` attribute is the core's stable code (`"duplicate_key"`, `"decrypt_failed"`, …) —
//! the same string the shared vectors in `tests/vectors/` and the other bindings use — and
//! whose message is the core's `Display` text.

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
            let exc = HandrailError::new_err(err.to_string());
            // Setting an attribute on a fresh exception instance only fails on memory
            // exhaustion; the exception then still carries its message and type.
            let _ = exc.value(py).setattr("code", err.code());
            exc
        })
    }
}
