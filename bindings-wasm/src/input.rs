//! Conversions of JavaScript arguments into what the core takes.

use js_sys::{Uint8Array, JSON};
use serde_json::Value;
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

/// JSON text given as JSON text (a `string` or its UTF-8 bytes) or as a JavaScript value
/// that `JSON.stringify` accepts (an object, array, number, boolean or `null`).
pub fn json_text(value: &JsValue, arg: &str) -> Result<Vec<u8>> {
    if value.as_string().is_some() || value.is_instance_of::<Uint8Array>() {
        return json_bytes(value, arg);
    }
    match JSON::stringify(value).ok().and_then(|text| text.as_string()) {
        Some(text) => Ok(text.into_bytes()),
        // undefined, a function, a symbol, a BigInt or a cycle.
        None => Err(Error::Type(format!("{arg} must be JSON text or a JSON-compatible value"))),
    }
}

/// A call's arguments (see [`json_text`]), read by the core's strict parser, so malformed
/// JSON is the same `HandrailError` (`json_syntax`, `duplicate_key`, …) as everywhere else.
pub fn json_value(value: &JsValue, arg: &str) -> Result<Value> {
    Ok(handrail_core::canonical::parse(json_text(value, arg)?)?)
}

/// A `Uint8Array`.
pub fn bytes(value: &JsValue, arg: &str) -> Result<Vec<u8>> {
    match value.dyn_ref::<Uint8Array>() {
        Some(bytes) => Ok(bytes.to_vec()),
        None => Err(Error::Type(format!("{arg} must be a Uint8Array"))),
    }
}

/// A time in whole Unix seconds: the core has no clock, so every `now` is an argument.
pub fn unix_seconds(value: f64, arg: &str) -> Result<i64> {
    // 2^53: beyond it a double no longer holds every integer.
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if value.is_finite() && value.fract() == 0.0 && value.abs() < SAFE {
        Ok(value as i64)
    } else {
        Err(Error::Range(format!("{arg} must be a whole number of Unix seconds, not {value}")))
    }
}

/// A finite number (`NaN` would compare false against every limit).
pub fn finite(value: Option<f64>, arg: &str) -> Result<Option<f64>> {
    match value {
        Some(v) if !v.is_finite() => Err(Error::Range(format!("{arg} must be a finite number, not {v}"))),
        _ => Ok(value),
    }
}

/// Member `name` of an options object; `undefined` when the options are `undefined` or
/// `null`.
pub fn member(options: &JsValue, name: &str, arg: &str) -> Result<JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !options.is_object() {
        return Err(Error::Type(format!("{arg} must be an object")));
    }
    js_sys::Reflect::get(options, &JsValue::from_str(name))
        .map_err(|_| Error::Type(format!("{arg}.{name} could not be read")))
}

/// An optional boolean (`undefined` or `null` is absent).
pub fn opt_bool(value: &JsValue, arg: &str) -> Result<Option<bool>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_bool().map(Some).ok_or_else(|| Error::Type(format!("{arg} must be a boolean")))
}

/// An optional `Uint8Array` (`undefined` or `null` is absent).
pub fn opt_bytes(value: &JsValue, arg: &str) -> Result<Option<Vec<u8>>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    bytes(value, arg).map(Some)
}

/// An optional string (`undefined` or `null` is absent).
pub fn opt_string(value: &JsValue, arg: &str) -> Result<Option<String>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.as_string().map(Some).ok_or_else(|| Error::Type(format!("{arg} must be a string")))
}

/// An optional count (`undefined` or `null` is absent): a whole number ≥ 0.
pub fn opt_count(value: Option<f64>, arg: &str) -> Result<Option<usize>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v.fract() == 0.0 && v >= 0.0 => Ok(Some(v.min(u32::MAX as f64) as usize)),
        Some(v) => Err(Error::Range(format!("{arg} must be a whole number of at least 0, not {v}"))),
    }
}
