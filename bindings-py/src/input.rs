//! Argument types shared by the binding functions.
//!
//! Text crosses as a view of the Python object's own UTF-8 buffer, not a copy: with the
//! abi3-py39 build, PyO3's `&str` and `PyBackedStr` go through `PyUnicode_AsUTF8String`,
//! which allocates a `bytes` copy of every string argument — at a megabyte of envelope
//! text, or a hundred dict keys, that copy costs more than the work itself.

use std::os::raw::c_char;

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

extern "C" {
    // Part of the stable ABI only from 3.10, but exported by every CPython 3 (it is public,
    // non-limited API in 3.9), so the abi3-py39 wheel can call it; pyo3-ffi declares it
    // only for builds that target 3.10 or later.
    fn PyUnicode_AsUTF8AndSize(unicode: *mut ffi::PyObject, size: *mut ffi::Py_ssize_t) -> *const c_char;
}

/// The UTF-8 form of a `str`, borrowed from the object (CPython keeps it with the string,
/// which is immutable): no copy for ASCII strings, one cached conversion for others.
///
/// Fails with `UnicodeEncodeError` for a string holding lone surrogates, which have no UTF-8
/// form.
pub fn utf8<'a>(s: Borrowed<'a, '_, PyString>) -> PyResult<&'a str> {
    let mut size: ffi::Py_ssize_t = 0;
    // SAFETY: `s` is a live `str` (the type was checked by the cast that made the
    // `Borrowed`), and the thread is attached.
    let data = unsafe { PyUnicode_AsUTF8AndSize(s.as_ptr(), &mut size) };
    if data.is_null() {
        return Err(PyErr::fetch(s.py()));
    }
    // SAFETY: on success CPython returns a buffer of `size` bytes of valid UTF-8 owned by the
    // string object, which outlives the borrow `'a` and never changes.
    Ok(unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(data.cast::<u8>(), size as usize)) })
}

/// A `str` argument viewed in place (see the module note); used where PyO3's `&str` would
/// copy.
pub struct Str<'a>(pub &'a str);

impl<'a, 'py> FromPyObject<'a, 'py> for Str<'a> {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(Str(utf8(obj.cast::<PyString>()?)?))
    }
}

/// JSON text as Python callers hold it: a `str`, or `bytes` that should be UTF-8.
///
/// Bytes are passed to the core untouched, so invalid UTF-8 is reported by the core with
/// its own error code instead of a `UnicodeDecodeError` raised here. The text is a view of
/// the Python object, which this value keeps alive, so it can be used with the GIL released.
pub struct JsonText {
    /// Keeps the `str` or `bytes` (and so the buffer `data` points into) alive.
    _owner: Py<PyAny>,
    data: *const u8,
    len: usize,
}

// SAFETY: `data` points into an immutable buffer owned by `_owner` (a `str` or `bytes`,
// which never change after creation); reading it from another thread while the object is
// alive is sound, with or without the GIL.
unsafe impl Send for JsonText {}
// SAFETY: as for `Send`: only shared reads of immutable bytes.
unsafe impl Sync for JsonText {}

impl JsonText {
    pub fn as_bytes(&self) -> &[u8] {
        // SAFETY: `data` and `len` describe the owner's buffer, alive as long as `self`.
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for JsonText {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            // Fails with UnicodeEncodeError for a str holding lone surrogates, which no
            // UTF-8 JSON text can contain.
            let text = utf8(s)?;
            return Ok(JsonText { data: text.as_ptr(), len: text.len(), _owner: obj.to_owned().unbind() });
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            let bytes = b.as_bytes();
            return Ok(JsonText { data: bytes.as_ptr(), len: bytes.len(), _owner: obj.to_owned().unbind() });
        }
        Err(PyTypeError::new_err(format!("expected str or bytes, got {}", obj.get_type().qualname()?)))
    }
}
