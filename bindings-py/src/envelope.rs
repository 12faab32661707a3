//! Field envelopes (`handrail_core::envelope`) as `handrail._core.Keyring`.
//!
//! A newtype over the core's `Keyring`; sealing and opening, the AAD (key id, request id,
//! field) and every envelope check are the core's. Large payloads are sealed and opened with
//! the GIL released.

use std::cell::RefCell;

use handrail_core::envelope::{self, Context, Key, Keyring};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::CoreError;
use crate::input::{JsonText, Str};
use crate::DETACH_THRESHOLD;

/// Scratch buffers kept alive per thread above this size would hold too much memory idle.
const MAX_KEPT: usize = 16 * 1024 * 1024;

thread_local! {
    /// The plaintext of an envelope opened the general way, reused across calls on one
    /// thread: at a megabyte, faulting fresh pages in for each buffer costs more than AES-GCM
    /// itself.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with this thread's scratch buffer (a fresh one when re-entered), then drops it
/// if it grew beyond [`MAX_KEPT`].
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let r = f(&mut buf);
            buf.clear();
            if buf.capacity() > MAX_KEPT {
                *buf = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// Bytes of a fixed length from Python, or the core's own `invalid_key`-style error.
fn fixed<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], CoreError> {
    bytes.try_into().map_err(|_| CoreError(handrail_core::Error::InvalidKey { reason: what }))
}

/// Seals with a random IV straight into a new `bytes` of the envelope's exact size
/// (`envelope::sealed_len`): the text is written once, by the core, into the result.
fn seal_direct<'py>(
    py: Python<'py>,
    key: &Key,
    ctx: &Context<'_>,
    plaintext: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let len = envelope::sealed_len(key, plaintext.len());
    let bytes = new_bytes(py, len)?;
    // SAFETY: `bytes` is ours alone (not yet returned), `len` bytes long, and stays alive
    // while `out` is used; nothing reads it until `seal_to` has filled every byte.
    let out =
        unsafe { std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(bytes.as_ptr()).cast::<u8>(), len) };
    let mut run = || envelope::seal_to(key, ctx, plaintext, out);
    if plaintext.len() >= DETACH_THRESHOLD { py.detach(run) } else { run() }.map_err(CoreError)?;
    Ok(bytes)
}

/// A new, uninitialized `bytes` of `len` bytes, for its creator to fill before sharing it.
fn new_bytes(py: Python<'_>, len: usize) -> PyResult<Bound<'_, PyBytes>> {
    let size = ffi::Py_ssize_t::try_from(len)
        .map_err(|_| pyo3::exceptions::PyOverflowError::new_err("envelope too large"))?;
    // SAFETY: a NULL source asks CPython for an uninitialized bytes object of `size` bytes,
    // which its creator may fill before sharing it; the thread is attached.
    let any =
        unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyBytes_FromStringAndSize(std::ptr::null(), size)) }?;
    Ok(any.cast_into::<PyBytes>()?)
}

impl PyKeyring {
    /// Opens an envelope of the layout `seal` writes straight into a new `bytes` of the
    /// plaintext's size (no scratch buffer, no copy); `None` when it does not open that
    /// way, for the general path to open it or report why not.
    fn open_direct<'py>(
        &self,
        py: Python<'py>,
        envelope: &[u8],
        ctx: &Context<'_>,
        len: usize,
    ) -> Option<Bound<'py, PyBytes>> {
        let bytes = new_bytes(py, len).ok()?;
        // SAFETY: `bytes` is ours alone (not yet returned), `len` bytes long, and stays
        // alive while `out` is used; nothing else reads it until it is filled.
        let out = unsafe {
            std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(bytes.as_ptr()).cast::<u8>(), len)
        };
        let mut run = || envelope::open_compact_to(envelope, &self.ring, ctx, out);
        let opened = if envelope.len() >= DETACH_THRESHOLD { py.detach(run) } else { run() };
        opened.ok().map(|()| bytes)
    }
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

    /// Seals ``plaintext`` under key ``kid`` for one field of one request; returns the
    /// envelope's JSON text (ASCII) as ``bytes``, as ``cryptography``'s Fernet returns its
    /// tokens: the wire form, written once straight into the result.
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
    ) -> PyResult<Bound<'py, PyBytes>> {
        let (kid, request_id, field) = (kid.0, request_id.0, field.0);
        let key =
            self.ring.get(kid).ok_or(CoreError(handrail_core::Error::UnknownKid { kid: kid.to_string() }))?;
        let ctx = Context::new(request_id, field);
        let data_key = data_key.map(|d| fixed::<32>(d, "a data key is 32 bytes")).transpose()?;
        let iv = match iv {
            None if data_key.is_some() => {
                return Err(
                    CoreError(handrail_core::Error::InvalidKey { reason: "data_key needs an iv" }).into()
                )
            }
            None => return seal_direct(py, key, &ctx, plaintext),
            Some(iv) => fixed(iv, "an IV is 12 bytes")?,
        };
        // An explicit IV (test vectors only): no fast path needed.
        let text = envelope::seal_with(key, &ctx, plaintext, iv, data_key.as_ref()).map_err(CoreError)?;
        Ok(PyBytes::new(py, text.as_bytes()))
    }

    /// Seals in the legacy LetsPing form under the legacy key, with an explicit IV.
    fn seal_legacy<'py>(
        &self,
        py: Python<'py>,
        plaintext: &[u8],
        iv: &[u8],
    ) -> Result<Bound<'py, PyBytes>, CoreError> {
        let key = self.legacy.as_ref().ok_or(handrail_core::Error::NoKey { field: "legacy" })?;
        let text = handrail_core::compat::letsping::seal_legacy_with(
            key,
            plaintext,
            fixed(iv, "an IV is 12 bytes")?,
        )?;
        Ok(PyBytes::new(py, text.as_bytes()))
    }

    /// Opens an envelope of either form for one field of one request; ``envelope`` is what
    /// ``seal`` returned (``bytes``) or the same text as ``str``.
    fn open<'py>(
        &self,
        py: Python<'py>,
        envelope: JsonText,
        request_id: Str<'_>,
        field: Str<'_>,
    ) -> Result<Bound<'py, PyBytes>, CoreError> {
        let envelope = envelope.as_bytes();
        let ctx = Context::new(request_id.0, field.0);
        if let Some(len) = envelope::compact_plaintext_len(envelope) {
            if let Some(bytes) = self.open_direct(py, envelope, &ctx, len) {
                return Ok(bytes);
            }
        }
        with_scratch(|buf| {
            let mut run = || envelope::open_into(envelope, &self.ring, &ctx, buf);
            if envelope.len() >= DETACH_THRESHOLD { py.detach(run) } else { run() }?;
            Ok(PyBytes::new(py, buf))
        })
    }
}
