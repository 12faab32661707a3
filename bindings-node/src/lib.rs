//! Node.js bindings for `handrail-core`, built with napi-rs.
//!
//! This crate is deliberately thin: every function converts its arguments, calls the core
//! and converts the result. Errors go through [`error`], the only place that knows how a
//! core error looks to JavaScript. The behavioral firewall's classes live in [`firewall`].
//! The public JavaScript API is the TypeScript layer in `ts/`, which loads this addon
//! through its `Backend` interface.

use handrail_core::envelope::{self, Context, Key, Keyring};
use napi::bindgen_prelude::{Buffer, Either, Uint8Array};
use napi_derive::napi;

mod error;
mod firewall;
mod guard;
mod idempotency;
mod proof;
mod protocol;
mod request;
mod text;
mod webhook;

// The protocol's free functions, exported to JavaScript by `#[napi]`; re-exported so a
// test build (where the napi registration is compiled out) sees them used.
pub use guard::{
    decision_text, guard_call_key, guard_observation, guard_outcome, guard_plan, guard_review_context,
};
pub use idempotency::{fingerprint, idempotency_begin, idempotency_key, tool_call_key};
pub use proof::proof_digest;
pub use protocol::{retry_network, retry_response, verify_webhook};
pub use request::{apply_patch, diff, request_priority, request_status, review_edit, validate_edit};
pub use webhook::verify_letsping;

use error::{invalid_arg, Result, ThrownJs};
use napi::Env;

/// RFC 8785 canonical JSON of `input` (JSON text, or its raw bytes).
///
/// Throws with `code` `json_syntax`, `duplicate_key`, `lone_surrogate`, … when the input is
/// not canonicalizable JSON.
#[napi]
pub fn canonicalize(env: &Env, input: Either<String, Uint8Array>) -> Result<String> {
    match input {
        Either::A(text) => handrail_core::canonical::canonicalize(text),
        Either::B(bytes) => handrail_core::canonical::canonicalize(&*bytes),
    }
    .thrown(env)
}

/// How `sealEnvelope` keys and randomizes an envelope.
#[napi(object)]
pub struct SealOptions {
    /// Encrypt under a fresh data key, stored wrapped (AES-KW) under `key` in the field
    /// `ek`. Default: `false`, or `true` when `dataKey` is given.
    pub wrap: Option<bool>,
    /// The 12-byte IV. **For test vectors only**: reusing an IV under one key breaks GCM.
    /// Default: random.
    pub iv: Option<Uint8Array>,
    /// The 32-byte data key of a wrapped envelope. **For test vectors only**; needs `iv`.
    /// Default: random.
    pub data_key: Option<Uint8Array>,
}

/// Seals `plaintext` into an envelope (JSON text) bound to request `requestId` and `field`.
///
/// `key` is the compact key text `hrk1.<kid>.<base64url key>` (see `generateKey`). Opening
/// needs the same request id and field. Throws with `code` `invalid_key` for a bad key.
#[napi]
pub fn seal_envelope(
    env: &Env,
    key: String,
    request_id: String,
    field: String,
    plaintext: Uint8Array,
    options: Option<SealOptions>,
) -> Result<String> {
    let key = Key::parse(&key).thrown(env)?;
    let ctx = Context::new(&request_id, &field);
    let SealOptions { wrap, iv, data_key } =
        options.unwrap_or(SealOptions { wrap: None, iv: None, data_key: None });
    let wrap = match (wrap, &data_key) {
        (Some(false), Some(_)) => return Err(invalid_arg("dataKey is only used with wrap: true")),
        (wrap, data_key) => wrap.unwrap_or(data_key.is_some()),
    };
    match (iv, data_key) {
        (None, None) if wrap => envelope::seal_wrapped(&key, &ctx, &plaintext),
        (None, None) => envelope::seal(&key, &ctx, &plaintext),
        (None, Some(_)) => return Err(invalid_arg("dataKey needs an explicit iv")),
        (Some(iv), data_key) => {
            let iv: [u8; 12] = (*iv).try_into().map_err(|_| invalid_arg("iv must be 12 bytes"))?;
            let data_key: Option<[u8; 32]> = data_key
                .map(|dk| (*dk).try_into().map_err(|_| invalid_arg("dataKey must be 32 bytes")))
                .transpose()?;
            if wrap && data_key.is_none() {
                return Err(invalid_arg("an explicit iv with wrap: true needs an explicit dataKey"));
            }
            envelope::seal_with(&key, &ctx, &plaintext, iv, data_key.as_ref())
        }
    }
    .thrown(env)
}

/// How `openEnvelope` finds keys beyond `keys`.
#[napi(object)]
pub struct OpenOptions {
    /// Compact key text of the key for the legacy `{"_lp_enc":true,…}` form, which names no
    /// key and is bound to no request; its `kid` is ignored. Default: legacy envelopes fail
    /// with `unknown_kid`.
    pub legacy_key: Option<String>,
}

/// Opens an envelope sealed for request `requestId` and `field`, returning the plaintext.
///
/// `keys` are compact key texts; the envelope's `kid` picks exactly one of them. Throws with
/// `code` `decrypt_failed` (wrong key, request, field, or tampering), `unknown_kid`,
/// `unwrap_failed`, `envelope_malformed`, `envelope_unsupported`, `encoding` or
/// `invalid_key`.
#[napi]
pub fn open_envelope(
    env: &Env,
    envelope: Either<String, Uint8Array>,
    keys: Vec<String>,
    request_id: String,
    field: String,
    options: Option<OpenOptions>,
) -> Result<Buffer> {
    let mut keyring = Keyring::new();
    for key in &keys {
        keyring.insert(Key::parse(key).thrown(env)?);
    }
    if let Some(legacy) = options.and_then(|o| o.legacy_key) {
        keyring.set_legacy(Key::parse(&legacy).thrown(env)?);
    }
    let ctx = Context::new(&request_id, &field);
    let bytes: &[u8] = match &envelope {
        Either::A(text) => text.as_bytes(),
        Either::B(bytes) => bytes,
    };
    envelope::open(bytes, &keyring, &ctx).map(Buffer::from).thrown(env)
}

/// A fresh random 256-bit key named `kid`, as compact key text `hrk1.<kid>.<base64url key>`.
///
/// The text *is* the secret: keep it in a secret store. Throws with `code` `invalid_key`
/// unless `kid` is 1–64 characters of `[A-Za-z0-9._:-]`.
#[napi]
pub fn generate_key(env: &Env, kid: String) -> Result<String> {
    Key::generate(kid).map(|key| key.export()).thrown(env)
}
