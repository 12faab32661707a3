//! Field envelopes (`handrail_core::envelope`) as `handrail._core.Keyring`.
//!
//! A newtype over the core's `Keyring`; sealing and opening, the AAD (key id, request id,
//! field) and every envelope check are the core's. Large payloads are sealed and opened with
//! the GIL released.

use std::cell::RefCell;

use handrail_core::envelope::{self, Context, Key, Keyring};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::error::CoreError;
use crate::input::{JsonText, Str};
use crate::DETACH_THRESHOLD;

/// Scratch buffers kept alive per thread above this size would hold too much memory idle.
const MAX_KEPT: usize = 16 * 1024 * 1024;

thread_local! {
    /// Ciphertext scratch and envelope text, reused across calls on one thread: at a
    /// megabyte, faulting fresh pages in for each buffer costs more than AES-GCM itself.
    static SCRATCH: RefCell<(Vec<u8>, Vec<u8>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Runs `f` with this thread's scratch buffers (fresh ones when re-entered), then drops
/// any that grew beyond [`MAX_KEPT`].
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut pair) => {
            let (a, b) = &mut *pair;
            let r = f(a, b);
            for v in [a, b] {
                v.clear();
                if v.capacity() > MAX_KEPT {
                    *v = Vec::new();
                }
            }
            r
        }
        Err(_) => f(&mut Vec::new(), &mut Vec::new()),
    })
}

/// Bytes of a fixed length from Python, or the core's own `invalid_key`-style error.
fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], CoreError> {
    bytes.try_into().map_err(|_| CoreError(handrail_core::Error::InvalidKey { reason: what }))
}

/// Envelope keys by key id (AES-256-GCM), with an optional legacy LetsPing key.
#[pyclass(name = "Keyring", module = "handrail._core", frozen)]
pub struct PyKeyring {
    ring: Keyring,
    legacy: Option<Key>,
}

#[pymethods]
impl PyKeyring {
    /// ``keys`` maps key ids to base64url-encoded 32-byte keys; ``legacy`` is the key of
    /// the legacy LetsPing form (``{"_lp_enc": true, …}``), base64url too.
    #[new]
    #[pyo3(signature = (keys, legacy = None))]
    fn new(keys: Vec<(String, String)>, legacy: Option<&str>) -> Result<Self, CoreError> {
        let mut ring = Keyring::new();
        for (kid, secret) in keys {
            ring.insert(Key::from_b64url(kid, &secret)?);
        }
        let legacy = legacy.map(|k| Key::from_b64url("legacy", k)).transpose()?;
        if let Some(key) = &legacy {
            ring.set_legacy(key.clone());
        }
        Ok(Self { ring, legacy })
    }

    /// Seals ``plaintext`` under key ``kid`` for one field of one request.
    #[pyo3(signature = (kid, request_id, field, plaintext, iv = None, data_key = None))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments, not a Rust call site.
    fn seal<'py>(
        &self,
        py: Python<'py>,
        kid: Str<'_>,
        request_id: Str<'_>,
        field: Str<'_>,
        plaintext: &[u8],
        iv: Option<&[u8]>,
        data_key: Option<&[u8]>,
    ) -> Result<Bound<'py, PyString>, CoreError> {
        let (kid, request_id, field) = (kid.0, request_id.0, field.0);
        let key = self.ring.get(kid).ok_or(handrail_core::Error::UnknownKid { kid: kid.to_string() })?;
        let ctx = Context::new(request_id, field);
        let data_key = data_key.map(|d| fixed::<32>(d, "a data key is 32 bytes")).transpose()?;
        let iv = match iv {
            None if data_key.is_some() => {
                return Err(CoreError(handrail_core::Error::InvalidKey { reason: "data_key needs an iv" }))
            }
            None => None,
            Some(iv) => Some(fixed(iv, "an IV is 12 bytes")?),
        };
        with_scratch(|buf, out| {
            let mut run = || match iv {
                None => envelope::seal_into(key, &ctx, plaintext, buf, out),
                Some(iv) => {
                    envelope::seal_with_buffers(key, &ctx, plaintext, iv, data_key.as_ref(), buf, out)
                }
            };
            if plaintext.len() >= DETACH_THRESHOLD {
                py.detach(run)?
            } else {
                run()?
            }
            let text = std::str::from_utf8(out).expect("the envelope text is ASCII");
            Ok(PyString::new(py, text))
        })
    }

    /// Seals in the legacy LetsPing form under the legacy key, with an explicit IV.
    fn seal_legacy(&self, plaintext: &[u8], iv: &[u8]) -> Result<String, CoreError> {
        let key = self.legacy.as_ref().ok_or(handrail_core::Error::NoKey { field: "legacy" })?;
        Ok(envelope::seal_legacy_with(key, plaintext, fixed(iv, "an IV is 12 bytes")?)?)
    }

    /// Opens an envelope of either form for one field of one request; ``envelope`` is the
    /// text ``seal`` returned, as ``str`` or ``bytes``.
    fn open<'py>(
        &self,
        py: Python<'py>,
        envelope: JsonText,
        request_id: Str<'_>,
        field: Str<'_>,
    ) -> Result<Bound<'py, PyBytes>, CoreError> {
        let envelope = envelope.as_bytes();
        let ctx = Context::new(request_id.0, field.0);
        with_scratch(|buf, _| {
            let mut run = || envelope::open_into(envelope, &self.ring, &ctx, buf);
            if envelope.len() >= DETACH_THRESHOLD { py.detach(run) } else { run() }?;
            Ok(PyBytes::new(py, buf))
        })
    }
}
