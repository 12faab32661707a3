//! The one place where a [`handrail_core::Error`] becomes a JavaScript exception.
//!
//! napi-rs throws a returned `napi::Error<S>` as a plain JS `Error` whose `code` is
//! `S::as_ref()` and whose `message` is the reason. We use the core's stable code
//! (`"duplicate_key"`, `"decrypt_failed"`, …) as that status, so the thrown error
//! already carries `.code`; the TypeScript layer (`ts/errors.ts`) turns it into a
//! `HandrailError` subclass. Core codes are `snake_case`, napi's own statuses
//! (`InvalidArg`, `StringExpected`, …) are `PascalCase`, which is how the TS layer
//! tells the two apart.

use napi::bindgen_prelude::JsError;

/// The `code` of every error this addon throws: a core error code, or napi's `InvalidArg`
/// for an argument the core API cannot even take (an IV that is not 12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(&'static str);

impl AsRef<str> for ErrorCode {
    fn as_ref(&self) -> &str {
        self.0
    }
}

/// What the exported functions return; the error side is thrown as a JS `Error`.
pub type Result<T> = napi::Result<T, ErrorCode>;

/// Extension for core results: `core_call().js()?`.
pub trait IntoJs<T> {
    /// Maps the core error into the error thrown to JavaScript.
    fn js(self) -> Result<T>;
}

impl<T> IntoJs<T> for handrail_core::Result<T> {
    fn js(self) -> Result<T> {
        self.map_err(|err| to_js(&err))
    }
}

/// Converts one core error. The message is the core's `Display`, which never holds
/// key material or plaintext.
pub fn to_js(err: &handrail_core::Error) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode(err.code()), err.to_string())
}

/// An argument of the wrong shape: a programming error, thrown with napi's own
/// `InvalidArg` code like napi's argument conversion errors, not as a `HandrailError`.
pub fn invalid_arg(reason: impl Into<String>) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode("InvalidArg"), reason.into())
}

// `JsError::from` must accept our status type; checked here so a napi upgrade that breaks
// it fails at this line rather than inside macro-generated code.
#[allow(dead_code)]
fn _assert_throwable(err: napi::Error<ErrorCode>) -> JsError<ErrorCode> {
    JsError::from(err)
}
