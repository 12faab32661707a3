//! Conversions of JavaScript arguments into what the core takes.

use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};

use crate::error::{Error, Result};

/// JSON text given as a `string` or as its bytes in a `Uint8Array`.
///
/// Strings are encoded as UTF-8. A `Uint8Array` is copied as is, so bytes that are not
/// UTF-8 reach the core and are reported as a `json_syntax` error, like in every other
/// binding; a string cannot carry them.
pub fn json_bytes(value: &JsValue, arg: &str) -> Result<Vec<u8>> {
    if let Some(text) = value.as_string() {
        return Ok(text.into_bytes());
    }
    if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
        return Ok(bytes.to_vec());
    }
    Err(Error::Type(format!("{arg} must be a string or a Uint8Array")))
}
