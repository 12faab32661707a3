//! The one place where a [`handrail_core::Error`] becomes a JavaScript exception.
//!
//! A core error is thrown as a real `Error` with `code` (the core's stable code,
//! `"duplicate_key"`, `"decrypt_failed"`, …), `kind` (the core's stable category,
//! [`handrail_core::Error::kind`]), `data` (the error's structured fields: `status`, `id`,
//! `field`, `reason`, `retryAfter`, where it has them). The core decides the kind; the
//! TypeScript layer (`ts/errors.ts`) maps kinds to its `HandrailError` subclasses, the same
//! class names the Python package raises, for this addon and the wasm backend alike.
//!
//! An argument the core API cannot even take (an IV that is not 12 bytes) is thrown with
//! napi's own `PascalCase` code `InvalidArg`, like napi's argument conversion errors: core
//! codes are `snake_case`, which is how the TS layer tells a Handrail failure from a
//! programming error.

use napi::bindgen_prelude::{JsValue, Object};
use napi::Env;

/// What the exported functions return; the error side is thrown.
pub type Result<T> = napi::Result<T>;

/// An argument of the wrong shape: a programming error, thrown with napi's `InvalidArg`
/// code, not as a `HandrailError`.
pub fn invalid_arg(reason: impl Into<String>) -> napi::Error {
    napi::Error::new(napi::Status::InvalidArg, reason.into())
}

/// Converts one core error into a thrown JS `Error` with `code`, `kind` and `data`. The
/// message is the core's `Display`, which never holds key material or plaintext.
pub fn thrown(env: &Env, err: &handrail_core::Error) -> napi::Error {
    match build(env, err) {
        Ok(object) => napi::Error::from(object.to_unknown()),
        // Creating the object only fails while the environment tears down: the plain form
        // still carries code and message.
        Err(_) => napi::Error::new(napi::Status::GenericFailure, err.to_string()),
    }
}

fn build<'env>(env: &'env Env, err: &handrail_core::Error) -> napi::Result<Object<'env>> {
    let mut object = env.create_error(napi::Error::new(napi::Status::GenericFailure, err.to_string()))?;
    object.set("code", err.code())?;
    object.set("kind", err.kind().as_str())?;
    let mut data = Object::new(env)?;
    if let Some(status) = err.status() {
        data.set("status", u32::from(status))?;
    }
    if let Some(id) = err.id() {
        data.set("id", id)?;
    }
    if let Some(field) = err.field() {
        data.set("field", field)?;
    }
    if let Some(reason) = err.reason() {
        data.set("reason", reason)?;
    }
    if let Some(retry_after) = err.retry_after() {
        // Seconds from a Retry-After header: far below 2^53, exact as a double.
        data.set("retryAfter", retry_after as f64)?;
    }
    object.set("data", data)?;
    Ok(object)
}

/// Extension for core results: `core_call().thrown(&env)?`.
pub trait ThrownJs<T> {
    /// Maps the core error into a thrown JS error with `code`, `kind` and `data`.
    fn thrown(self, env: &Env) -> napi::Result<T>;
}

impl<T> ThrownJs<T> for handrail_core::Result<T> {
    fn thrown(self, env: &Env) -> napi::Result<T> {
        self.map_err(|err| thrown(env, &err))
    }
}
