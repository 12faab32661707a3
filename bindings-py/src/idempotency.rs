//! Idempotency (`handrail_core::idempotency`): tool-call keys, request fingerprints and the
//! execution state machine as `handrail._core.Execution` and `handrail._core.idempotency_begin`.
//!
//! What to do with a retried request (run, replay, refuse) is decided by the core; Python
//! only stores the execution between calls (``Execution.to_json`` / ``from_json``).

use handrail_core::canonical::canonicalize_into;
use handrail_core::idempotency::{self, Begin, Execution, Fingerprint, State, Stored};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use pyo3::IntoPyObjectExt;

use crate::error::CoreError;
use crate::input::{JsonText, Str};
use crate::pyjson::write_canonical;

/// The idempotency key of one tool call: ``scope``, ``tool`` and the canonical form of the
/// arguments, so equal arguments written differently give the same key.
///
/// ``args`` is JSON text (``str`` or ``bytes``) or a Python value (``dict``, ``list``,
/// ``tuple``, ``int``, ``float``, ``bool``, ``None``), walked natively: the key is the one
/// its ``json.dumps`` text would give, without the text.
#[pyfunction]
pub fn tool_call_key(scope: Str<'_>, tool: Str<'_>, args: &Bound<'_, PyAny>) -> PyResult<String> {
    let mut canonical = Vec::with_capacity(1024);
    if args.is_instance_of::<PyString>() || args.is_instance_of::<PyBytes>() {
        let text: JsonText = args.extract()?;
        canonicalize_into(text.as_bytes(), &mut canonical).map_err(CoreError)?;
    } else {
        write_canonical(args, &mut canonical)?;
    }
    Ok(idempotency::derive_key(&[scope.0.as_bytes(), tool.0.as_bytes(), &canonical]))
}

/// The fingerprint (hex SHA-256) of a request: method, path and canonical JSON body.
#[pyfunction]
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> Result<String, CoreError> {
    Ok(Fingerprint::new(method, path, body)?.to_hex())
}

/// One execution under one idempotency key, as the core's state machine left it.
#[pyclass(name = "Execution", module = "handrail._core", frozen)]
pub struct PyExecution {
    exec: Execution,
}

#[pymethods]
impl PyExecution {
    /// The idempotency key.
    #[getter]
    fn key(&self) -> &str {
        &self.exec.key
    }

    /// How many times it was started (1 for the first run).
    #[getter]
    fn attempts(&self) -> u32 {
        self.exec.attempts
    }

    /// ``"pending"``, ``"committed"`` or ``"failed"``.
    #[getter]
    fn state(&self) -> &'static str {
        match self.exec.state {
            State::Pending { .. } => "pending",
            State::Committed { .. } => "committed",
            State::Failed { .. } => "failed",
        }
    }

    /// Pending → committed with ``(status, body)``; returns the new execution.
    fn commit(&self, status: u16, body: String, now: i64) -> Result<PyExecution, CoreError> {
        let exec = self.exec.clone().commit(Stored { status, body }, now)?;
        Ok(PyExecution { exec })
    }

    /// Pending → failed with ``(status, body)``; a ``retryable`` failure may run again.
    fn fail(&self, status: u16, body: String, retryable: bool, now: i64) -> Result<PyExecution, CoreError> {
        let exec = self.exec.clone().fail(Stored { status, body }, retryable, now)?;
        Ok(PyExecution { exec })
    }

    /// The execution as JSON text, to store between requests.
    fn to_json(&self) -> String {
        // Serializing the core's execution struct cannot fail.
        serde_json::to_string(&self.exec).unwrap_or_default()
    }

    /// Reads an execution stored by ``to_json``.
    #[staticmethod]
    fn from_json(text: &str) -> Result<PyExecution, CoreError> {
        let exec = serde_json::from_str(text).map_err(|e| handrail_core::Error::InvalidRequest {
            reason: "invalid_execution".into(),
            message: e.to_string(),
        })?;
        Ok(PyExecution { exec })
    }
}

/// Decides what to do with a request carrying ``key``, given the stored execution.
///
/// Returns ``("proceed", Execution)``, ``("replay", (status, body))``,
/// ``("conflict", lease_until)`` (answer 409) or ``("mismatch", None)`` (answer 422).
#[pyfunction]
#[pyo3(signature = (existing, key, method, path, body, now, lease_secs))]
#[allow(clippy::too_many_arguments)]
pub fn idempotency_begin(
    py: Python<'_>,
    existing: Option<PyRef<'_, PyExecution>>,
    key: &str,
    method: &str,
    path: &str,
    body: &[u8],
    now: i64,
    lease_secs: i64,
) -> PyResult<(&'static str, Py<PyAny>)> {
    let fp = Fingerprint::new(method, path, body).map_err(CoreError)?;
    let begin = idempotency::begin(existing.as_ref().map(|e| &e.exec), key, fp, now, lease_secs)
        .map_err(CoreError)?;
    Ok(match begin {
        Begin::Proceed(exec) => ("proceed", Py::new(py, PyExecution { exec })?.into_any()),
        Begin::Replay(stored) => ("replay", (stored.status, stored.body).into_py_any(py)?),
        Begin::Conflict { lease_until } => ("conflict", lease_until.into_py_any(py)?),
        Begin::Mismatch => ("mismatch", py.None()),
    })
}
