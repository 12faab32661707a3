//! Python bindings for `handrail-core`, imported as `handrail._core`.
//!
//! Users import `handrail`, the pure-Python package in `python/handrail`, which re-exports
//! this module; `python/handrail/_core.pyi` describes it for type checkers and is checked
//! against it by `mypy.stubtest` (see `scripts/test-py.sh`). Each function here only
//! converts arguments, calls the core and converts the result; core errors become
//! `HandrailError` in `error.rs`. A new function is added in three places: a
//! `#[pyfunction]` below, its line in `_core.pyi`, and the re-export in `__init__.py`.
//! The firewall's classes live in `firewall.rs`, wrapped for Python in
//! `handrail/_firewall.py`; the client protocol in `protocol.rs`, driven over httpx by
//! `handrail/client.py`.

mod envelope;
mod error;
mod firewall;
mod guard;
mod idempotency;
mod input;
mod proof;
mod protocol;
mod pyjson;
mod request;
mod webhook;

use pyo3::prelude::*;

use crate::error::CoreError;
use crate::input::JsonText;

/// Inputs at least this large are processed with the GIL released, so other Python threads
/// keep running; below it, releasing and re-acquiring the GIL would cost more than the work.
pub(crate) const DETACH_THRESHOLD: usize = 64 * 1024;

/// Return the canonical form (RFC 8785, JSON Canonicalization Scheme) of JSON text.
///
/// ``data`` is the JSON text itself: a ``str``, or ``bytes`` holding UTF-8. It is parsed
/// as text, never through ``float``, so no number is rounded before it is canonicalized.
/// The result has no whitespace, object members sorted by the UTF-16 code units of their
/// names, minimal string escapes and numbers written as JavaScript writes them. Equal
/// JSON values always give the same string, so it is safe to hash or sign.
///
/// >>> canonicalize('{"b": 1.50, "a": [true, null]}')
/// '{"a":[true,null],"b":1.5}'
/// >>> canonicalize(b'1e21')
/// '1e+21'
///
/// Raises ``HandrailError`` when the input is not strict I-JSON (RFC 7493); its ``code``
/// says why: ``"json_syntax"``, ``"duplicate_key"``, ``"lone_surrogate"``,
/// ``"non_finite_number"``, ``"integer_out_of_range"`` (integers beyond ±(2**53-1),
/// which JavaScript cannot read back exactly) or ``"too_deep"``. Raises ``TypeError`` for
/// anything but ``str`` or ``bytes``.
#[pyfunction]
fn canonicalize(py: Python<'_>, data: JsonText) -> Result<String, CoreError> {
    let text = data.as_bytes();
    let result = if text.len() >= DETACH_THRESHOLD {
        py.detach(|| handrail_core::canonical::canonicalize(text))
    } else {
        handrail_core::canonical::canonicalize(text)
    };
    Ok(result?)
}

/// An idempotency key derived from ``parts``: ``idk_`` + base64url of the SHA-256 of the
/// length-prefixed parts, so ``[b"ab", b"c"]`` and ``[b"a", b"bc"]`` give different keys.
///
/// >>> idempotency_key([b"refund", canonicalize('{"amount":5}').encode()])[:4]
/// 'idk_'
#[pyfunction]
fn idempotency_key(parts: Vec<Vec<u8>>) -> String {
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    handrail_core::idempotency::derive_key(&parts)
}

/// Native core of the ``handrail`` package; import from ``handrail`` instead.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    error::register(m)?;
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(idempotency_key, m)?)?;
    m.add_class::<firewall::PyFirewall>()?;
    m.add_class::<firewall::PySession>()?;
    m.add_class::<firewall::PyVerdict>()?;
    m.add_class::<firewall::PyReason>()?;
    m.add_class::<protocol::PyProtocol>()?;
    m.add_class::<protocol::PyRecord>()?;
    m.add_class::<protocol::PyWait>()?;
    m.add_function(wrap_pyfunction!(protocol::retry_response, m)?)?;
    m.add_function(wrap_pyfunction!(protocol::retry_network, m)?)?;
    m.add_function(wrap_pyfunction!(protocol::verify_webhook, m)?)?;
    m.add_function(wrap_pyfunction!(idempotency::tool_call_key, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_call_key, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_plan, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_outcome, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_review_context, m)?)?;
    m.add_function(wrap_pyfunction!(guard::guard_observation, m)?)?;
    m.add_function(wrap_pyfunction!(guard::decision_text, m)?)?;
    m.add_function(wrap_pyfunction!(idempotency::fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(idempotency::idempotency_begin, m)?)?;
    m.add_class::<idempotency::PyExecution>()?;
    m.add_class::<envelope::PyKeyring>()?;
    m.add_class::<webhook::PyWebhook>()?;
    m.add_function(wrap_pyfunction!(webhook::verify_letsping, m)?)?;
    m.add_function(wrap_pyfunction!(proof::proof_digest, m)?)?;
    m.add_class::<proof::PySigner>()?;
    m.add_class::<proof::PyVerifier>()?;
    m.add_function(wrap_pyfunction!(request::diff, m)?)?;
    m.add_function(wrap_pyfunction!(request::apply_patch, m)?)?;
    m.add_function(wrap_pyfunction!(request::validate_edit, m)?)?;
    m.add_function(wrap_pyfunction!(request::review_edit, m)?)?;
    m.add_function(wrap_pyfunction!(request::request_status, m)?)?;
    m.add_function(wrap_pyfunction!(request::request_priority, m)?)?;
    Ok(())
}
