//! Conversions of the core's results into plain JavaScript values.

use js_sys::{JsString, Object, Reflect, Uint8Array};
use serde::Serialize;
use wasm_bindgen::JsValue;

/// A core value as a plain JavaScript object, through the JSON its serde form writes.
pub fn to_js<T: Serialize + ?Sized>(value: &T) -> JsValue {
    // The core's results are structs of strings, numbers and lists: they always serialize,
    // and JSON.parse reads back what serde_json writes.
    serde_json::to_string(value)
        .ok()
        .and_then(|text| js_sys::JSON::parse(&text).ok())
        .unwrap_or(JsValue::NULL)
}

/// A plain object built member by member (for results that hold bytes, which JSON cannot).
pub struct Builder(Object);

impl Builder {
    pub fn new() -> Self {
        Builder(Object::new())
    }

    /// Sets `name` to `value`.
    pub fn set(self, name: &str, value: impl Into<JsValue>) -> Self {
        // `Reflect.set` on a fresh, extensible, non-proxy object cannot fail.
        let _ = Reflect::set(&self.0, &JsString::from(name), &value.into());
        self
    }

    /// Sets `name` to a fresh `Uint8Array` holding a copy of `bytes`.
    pub fn bytes(self, name: &str, bytes: &[u8]) -> Self {
        self.set(name, Uint8Array::from(bytes))
    }

    pub fn build(self) -> JsValue {
        self.0.into()
    }
}
