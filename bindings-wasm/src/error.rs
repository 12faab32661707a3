//! The one place where a [`handrail_core::Error`] becomes a JavaScript exception.
//!
//! Every exported function returns [`Result`]; wasm-bindgen throws the error side. A core
//! error is thrown as a real `Error` object (stack trace, `instanceof Error`) with
//! `name === "HandrailError"`, `code` set to the core's stable code (`"json_syntax"`,
//! `"duplicate_key"`, …), the same string the shared vectors and the other bindings use, and
//! `kind` to the core's stable category of it ([`handrail_core::Error::kind`]: `"proof"`,
//! `"decryption"`, …), from which the TypeScript SDK picks its error class.
//! An argument of the wrong JavaScript type is a programming error, thrown as a `TypeError`
//! without a `code`, and a number outside what the argument takes (a fractional `now`, a
//! `NaN` cost) a `RangeError` without a `code`, so callers that branch on `code` only ever
//! see core codes.

use js_sys::{JsString, Reflect};
use wasm_bindgen::JsValue;

/// The `name` of every thrown core error.
const NAME: &str = "HandrailError";

/// What the exported functions return; wasm-bindgen throws the error side.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error on its way to JavaScript.
#[derive(Debug)]
pub enum Error {
    /// The core refused the input.
    Core(handrail_core::Error),
    /// An argument of a JavaScript type the function does not take.
    Type(String),
    /// A number the argument does not take.
    Range(String),
}

impl From<handrail_core::Error> for Error {
    fn from(err: handrail_core::Error) -> Self {
        Error::Core(err)
    }
}

impl From<Error> for JsValue {
    fn from(err: Error) -> Self {
        match err {
            Error::Core(err) => core_error(&err).into(),
            Error::Type(message) => js_sys::TypeError::new(&message).into(),
            Error::Range(message) => js_sys::RangeError::new(&message).into(),
        }
    }
}

/// Builds the thrown object. The message is the core's `Display`, which never holds key
/// material or plaintext.
fn core_error(err: &handrail_core::Error) -> js_sys::Error {
    let thrown = js_sys::Error::new(&err.to_string());
    thrown.set_name(NAME);
    // `Reflect.set` on a fresh, extensible, non-proxy Error object cannot fail; if it ever
    // did, the caller would still get a HandrailError, only without `code` or `kind`.
    let _ = Reflect::set(&thrown, &JsString::from("code"), &JsString::from(err.code()));
    let _ = Reflect::set(&thrown, &JsString::from("kind"), &JsString::from(err.kind().as_str()));
    thrown
}
