//! The one place where a [`handrail_core::Error`] becomes a JavaScript exception.
//!
//! napi-rs throws a returned `napi::Error<S>` as a plain JS `Error` whose `code` is
//! `S::as_ref()` and whose `message` is the reason. We use the core's stable code
//! (`"duplicate_key"`, `"decrypt_failed"`, …) as that status, so the thrown error
//! already carries `.code`; the TypeScript layer (`ts/errors.ts`) turns it into a
//! `HandrailError` subclass. Core codes are `snake_case`, napi's own statuses
//! (`InvalidArg`, `StringExpected`, …) are `PascalCase`, which is how the TS layer
//! tells the two apart.

use napi::bindgen_prelude::{JsError, JsValue, Object};
use napi::Env;

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

/// Converts one core error of the client protocol into a thrown JS `Error` that carries,
/// besides `code` and `message`, the structured `data` of the failure (`retryAfter` of a
/// 429, `reason` of a 409, the request `id` of an expiry or a wait timeout, …) and
/// `errorClass`, the name of the `HandrailError` subclass the TypeScript layer throws. The
/// choice of subclass is made here, once, from the core error; `ts/errors.ts` only looks
/// the name up.
pub fn thrown(env: &Env, err: &handrail_core::Error) -> napi::Error {
    match build(env, err) {
        Ok(object) => napi::Error::from(object.to_unknown()),
        // Creating the object only fails while the environment tears down: the plain form
        // still carries code and message.
        Err(_) => napi::Error::new(napi::Status::GenericFailure, err.to_string()),
    }
}

fn build<'env>(env: &'env Env, err: &handrail_core::Error) -> napi::Result<Object<'env>> {
    use handrail_core::Error as E;
    let mut object = env.create_error(napi::Error::new(napi::Status::GenericFailure, err.to_string()))?;
    object.set("code", err.code())?;
    let mut data = Object::new(env)?;
    match err {
        E::RateLimited { retry_after } => data.set("retryAfter", *retry_after as f64)?,
        E::Conflict { reason, .. } => data.set("reason", reason.as_str())?,
        E::Server { status } => data.set("status", u32::from(*status))?,
        E::Expired { id } | E::WaitTimeout { id } => data.set("id", id.as_str())?,
        E::NotEncrypted { field } | E::NoKey { field } => data.set("field", *field)?,
        _ => {}
    }
    object.set("data", data)?;
    object.set("errorClass", class_of(err))?;
    Ok(object)
}

/// The `HandrailError` subclass for a protocol error, by name (`ts/errors.ts` defines them).
fn class_of(err: &handrail_core::Error) -> &'static str {
    match err.code() {
        "unauthorized" | "forbidden" => "AuthError",
        "not_found" => "NotFoundError",
        "conflict" | "idempotency_mismatch" => "ConflictError",
        "invalid_request" | "edit_invalid" | "schema_invalid" => "InvalidPayloadError",
        "too_large" if matches!(err, handrail_core::Error::BodyTooLarge { .. }) => "InvalidPayloadError",
        "rate_limited" => "RateLimitedError",
        "server_error" => "ServerError",
        "invalid_response" => "ProtocolError",
        "decrypt_failed"
        | "unwrap_failed"
        | "envelope_malformed"
        | "envelope_unsupported"
        | "not_encrypted"
        | "no_key"
        | "unknown_kid" => "DecryptionFailedError",
        "expired" => "ExpiredError",
        "wait_timeout" => "WaitTimeoutError",
        code if code.starts_with("proof_") => "ProofError",
        code if code.starts_with("webhook_") => "WebhookError",
        _ => "HandrailError",
    }
}

/// Extension for core results of the client protocol: `core_call().thrown(&env)?`.
pub trait ThrownJs<T> {
    /// Maps the core error into a thrown JS error with `code`, `data` and `errorClass`.
    fn thrown(self, env: &Env) -> napi::Result<T>;
}

impl<T> ThrownJs<T> for handrail_core::Result<T> {
    fn thrown(self, env: &Env) -> napi::Result<T> {
        self.map_err(|err| thrown(env, &err))
    }
}

/// napi's `GenericFailure`, for a state that should be unreachable (a class value borrowed
/// by another call).
pub fn generic_failure(reason: impl Into<String>) -> napi::Error<ErrorCode> {
    napi::Error::new(ErrorCode("GenericFailure"), reason.into())
}
