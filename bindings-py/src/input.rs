//! Argument types shared by the binding functions.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::{PyBackedBytes, PyBackedStr};
use pyo3::types::{PyBytes, PyString};

/// JSON text as Python callers hold it: a `str`, or `bytes` that should be UTF-8.
///
/// Bytes are passed to the core untouched, so invalid UTF-8 is reported by the core with
/// its own error code instead of a `UnicodeDecodeError` raised here. Both variants own a
/// reference to the Python object, so the text can be used with the GIL released.
pub enum JsonText {
    Str(PyBackedStr),
    Bytes(PyBackedBytes),
}

impl JsonText {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            JsonText::Str(s) => s.as_bytes(),
            JsonText::Bytes(b) => b,
        }
    }
}

impl<'a, 'py> FromPyObject<'a, 'py> for JsonText {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(s) = obj.cast::<PyString>() {
            // Fails with UnicodeEncodeError for a str holding lone surrogates, which no
            // UTF-8 JSON text can contain.
            return Ok(JsonText::Str(PyBackedStr::try_from(s.to_owned())?));
        }
        if let Ok(b) = obj.cast::<PyBytes>() {
            return Ok(JsonText::Bytes(PyBackedBytes::from(b.to_owned())));
        }
        Err(PyTypeError::new_err(format!("expected str or bytes, got {}", obj.get_type().qualname()?)))
    }
}
