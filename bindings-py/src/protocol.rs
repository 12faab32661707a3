//! The core's sans-IO protocol (`handrail_core::protocol`) as `handrail._core.Protocol`,
//! `handrail._core.Record` and `handrail._core.Wait`.
//!
//! Newtypes and conversions only: requests leave as `(method, url, headers, body,
//! timeout_secs)` tuples for httpx to send; answers arrive as `(status, headers, body)`;
//! JSON crosses as text (the pure-Python client in `handrail/client.py` uses `json`).
//! Every rule — ids, idempotency keys, sealing, status codes, backoff, proofs — is the
//! core's.

use handrail_core::envelope::Key;
use handrail_core::protocol::{self, Ask, Client, HttpRequest, HttpResponse, WaitStep};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde::Serialize;
use serde_json::Value;

use crate::error::CoreError;

/// `(method, url, headers, body, timeout_secs)`: a request for httpx.
type Request<'py> = (&'static str, String, Vec<(String, String)>, Bound<'py, PyBytes>, u64);

fn request<'py>(py: Python<'py>, r: HttpRequest) -> Request<'py> {
    (r.method, r.url, r.headers, PyBytes::new(py, &r.body), r.timeout_secs)
}

fn response(status: u16, headers: Vec<(String, String)>, body: &[u8]) -> HttpResponse {
    HttpResponse { status, headers, body: body.to_vec() }
}

fn json_in(text: Option<&str>) -> Result<Option<Value>, CoreError> {
    Ok(text.map(|t| handrail_core::canonical::parse(t.as_bytes())).transpose()?)
}

fn json_out<T: Serialize>(value: &T) -> String {
    // Serializing a serde_json value or a core model to a string cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

/// A request as the server returned it (payloads as stored).
#[pyclass(name = "Record", module = "handrail._core", frozen)]
pub struct PyRecord {
    record: handrail_core::request::Request,
}

#[pymethods]
impl PyRecord {
    /// The request id.
    #[getter]
    fn id(&self) -> &str {
        &self.record.id
    }

    /// ``"PENDING"``, ``"APPROVED"``, ``"APPROVED_WITH_MODIFICATIONS"``, ``"REJECTED"``,
    /// ``"EXPIRED"``.
    #[getter]
    fn status(&self) -> &'static str {
        self.record.status.as_str()
    }

    /// True when a state snapshot is parked with the request.
    #[getter]
    fn has_snapshot(&self) -> bool {
        self.record.snapshot.is_some()
    }

    fn __repr__(&self) -> String {
        format!("Record(id={:?}, status={:?})", self.record.id, self.record.status.as_str())
    }
}

/// `(status, payload, patched_payload, diff, actor, reason, proof, decided_at)`, JSON as text.
type ResolutionTuple = (
    &'static str,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

/// The protocol client: builds requests and reads answers; sends nothing itself.
#[pyclass(name = "Protocol", module = "handrail._core")]
pub struct PyProtocol {
    client: Client,
}

#[pymethods]
impl PyProtocol {
    /// ``encryption_key`` is ``hrk1.<kid>.<base64url>``. Proofs are verified for the project
    /// their request names and the issuer ``/v1/keys/proof`` names; ``expect_project`` and
    /// ``expect_issuer`` pin them instead.
    #[new]
    #[pyo3(signature = (base_url, api_key, encryption_key = None, *, expect_project = None, expect_issuer = None))]
    fn new(
        base_url: &str,
        api_key: &str,
        encryption_key: Option<&str>,
        expect_project: Option<&str>,
        expect_issuer: Option<&str>,
    ) -> Result<Self, CoreError> {
        let mut client = Client::new(base_url, api_key)?;
        if let Some(key) = encryption_key {
            client = client.with_encryption_key(Key::parse(key)?);
        }
        if let Some(project) = expect_project {
            client = client.with_expected_project(project);
        }
        if let Some(issuer) = expect_issuer {
            client = client.with_expected_issuer(issuer);
        }
        Ok(Self { client })
    }

    fn __repr__(&self) -> String {
        // The core's Debug: the API key is `[redacted]`.
        format!("Protocol({:?})", self.client)
    }

    /// True when payloads and state are sealed.
    #[getter]
    fn encrypts(&self) -> bool {
        self.client.encrypts()
    }

    /// True once the proof keys are loaded.
    #[getter]
    fn has_jwks(&self) -> bool {
        self.client.has_jwks()
    }

    /// ``(id, idempotency_key, create_request, snapshot_request_or_None)``.
    #[pyo3(signature = (service, action, payload, priority = None, role = None, schema = None,
        timeout_secs = None, context = None, state = None, idempotency_scope = None,
        idempotency_key = None))]
    #[allow(clippy::too_many_arguments)]
    fn create<'py>(
        &self,
        py: Python<'py>,
        service: String,
        action: String,
        payload: &str,
        priority: Option<&str>,
        role: Option<String>,
        schema: Option<&str>,
        timeout_secs: Option<u64>,
        context: Option<&str>,
        state: Option<&str>,
        idempotency_scope: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<(String, String, Request<'py>, Option<Request<'py>>), CoreError> {
        let ask = Ask {
            service,
            action,
            payload: handrail_core::canonical::parse(payload.as_bytes())?,
            priority: priority.map(str::parse).transpose()?,
            role,
            schema: json_in(schema)?,
            timeout_secs,
            context: json_in(context)?,
            state: json_in(state)?,
            idempotency_scope,
            idempotency_key,
        };
        let c = self.client.create(&ask)?;
        Ok((c.id, c.idempotency_key, request(py, c.request), c.snapshot.map(|r| request(py, r))))
    }

    /// ``GET /v1/requests/{id}``.
    fn read<'py>(&self, py: Python<'py>, id: &str) -> Result<Request<'py>, CoreError> {
        Ok(request(py, self.client.read(id)?))
    }

    /// Reads an answer carrying one request; raises the typed error of a non-2xx status.
    fn parse_record(
        &self,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<PyRecord, CoreError> {
        Ok(PyRecord { record: self.client.parse_record(&response(status, headers, body))? })
    }

    /// The decision with its payloads opened, or ``None`` while pending.
    fn outcome(&self, record: &PyRecord) -> Result<Option<ResolutionTuple>, CoreError> {
        Ok(self.client.resolution(&record.record)?.map(|o| {
            (
                o.status.as_str(),
                o.payload.as_ref().map(json_out),
                o.patched_payload.as_ref().map(json_out),
                o.diff.as_ref().map(json_out),
                o.actor,
                o.reason,
                o.proof,
                o.decided_at,
            )
        }))
    }

    /// The stored payload, opened (JSON text).
    fn payload(&self, record: &PyRecord) -> Result<String, CoreError> {
        Ok(json_out(&self.client.payload(&record.record)?))
    }

    /// Starts a wait; ``timeout_ms`` ``None`` waits until the request is decided or expires.
    #[pyo3(signature = (id, now_ms, timeout_ms = None))]
    fn wait(&self, id: &str, now_ms: i64, timeout_ms: Option<u64>) -> Result<PyWait, CoreError> {
        Ok(PyWait { wait: self.client.wait(id, now_ms, timeout_ms)? })
    }

    /// ``GET /v1/requests/{id}/snapshot``.
    fn snapshot_download<'py>(&self, py: Python<'py>, id: &str) -> Result<Request<'py>, CoreError> {
        Ok(request(py, self.client.snapshot_download(id)?))
    }

    /// Opens a downloaded snapshot (JSON text).
    fn open_snapshot(
        &self,
        id: &str,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<String, CoreError> {
        Ok(json_out(&self.client.open_snapshot(id, &response(status, headers, body))?))
    }

    /// Checks the answer to a snapshot upload.
    fn parse_snapshot_stored(
        &self,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<(), CoreError> {
        self.client.parse_snapshot_stored(&response(status, headers, body))?;
        Ok(())
    }

    /// ``POST /v1/observations``; ``events`` is a JSON array (text).
    fn observations<'py>(
        &self,
        py: Python<'py>,
        agent: &str,
        events: &str,
    ) -> Result<Request<'py>, CoreError> {
        let events = handrail_core::canonical::parse(events.as_bytes())?;
        Ok(request(py, self.client.observations(agent, &events)?))
    }

    /// ``(accepted, duplicates)``.
    fn parse_observations(
        &self,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<(u64, u64), CoreError> {
        Ok(self.client.parse_observations(&response(status, headers, body))?)
    }

    /// ``GET /v1/keys/proof``.
    fn jwks_request<'py>(&self, py: Python<'py>) -> Request<'py> {
        request(py, self.client.jwks_request())
    }

    /// Loads the proof keys from the JWKS answer.
    fn load_jwks(
        &mut self,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> Result<(), CoreError> {
        Ok(self.client.load_jwks(&response(status, headers, body))?)
    }

    /// Verifies ``proof`` for ``record`` at ``now``; returns the claims (JSON text).
    fn verify_proof(&self, record: &PyRecord, proof: &str, now: i64) -> Result<String, CoreError> {
        Ok(json_out(&self.client.verify_proof(&record.record, proof, now)?))
    }
}

/// One wait for a decision (``Protocol.wait`` makes one).
#[pyclass(name = "Wait", module = "handrail._core")]
pub struct PyWait {
    wait: protocol::Wait,
}

#[pymethods]
impl PyWait {
    /// The request id waited for.
    #[getter]
    fn id(&self) -> &str {
        self.wait.id()
    }

    /// The next long-poll; raises ``WaitTimeoutError`` once the deadline has passed.
    fn request<'py>(
        &self,
        py: Python<'py>,
        protocol: &PyProtocol,
        now_ms: i64,
    ) -> Result<Request<'py>, CoreError> {
        Ok(request(py, self.wait.request(&protocol.client, now_ms)?))
    }

    /// ``("done", record)``, ``("again", None)`` or ``("retry", delay_ms)``; raises
    /// ``ExpiredError`` for an expired request and the typed error of a final failure.
    fn on_response(
        &mut self,
        py: Python<'_>,
        protocol: &PyProtocol,
        status: u16,
        headers: Vec<(String, String)>,
        body: &[u8],
        now_ms: i64,
    ) -> PyResult<(&'static str, Py<PyAny>)> {
        let step = self.wait.on_response(&protocol.client, &response(status, headers, body), now_ms);
        Ok(match step.map_err(CoreError)? {
            WaitStep::Done(record) => ("done", Py::new(py, PyRecord { record: *record })?.into_any()),
            WaitStep::Again => ("again", py.None()),
            WaitStep::Retry { delay_ms } => ("retry", delay_ms.into_pyobject(py)?.into_any().unbind()),
        })
    }

    /// The delay (ms) before the next poll after a transport failure.
    fn on_network_error(&mut self, now_ms: i64) -> u64 {
        self.wait.on_network_error(now_ms)
    }
}

/// Delay (ms) before retrying a call that got this answer; ``None``: do not retry.
#[pyfunction]
pub fn retry_response(status: u16, headers: Vec<(String, String)>, body: &[u8], attempt: u32) -> Option<u64> {
    protocol::retry_response(&response(status, headers, body), attempt)
}

/// Delay (ms) before retrying a call whose transport failed; ``None``: give up.
#[pyfunction]
pub fn retry_network(attempt: u32) -> Option<u64> {
    protocol::retry_network(attempt)
}

/// Verifies a webhook; returns ``(webhook_id, type, timestamp, record)``.
#[pyfunction]
pub fn verify_webhook(
    secret: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
    now: i64,
) -> Result<(String, String, i64, PyRecord), CoreError> {
    let event = protocol::verify_webhook(secret, &headers, body, now)?;
    Ok((event.id, event.kind, event.timestamp, PyRecord { record: event.record }))
}
