//! Keys and encrypted envelopes ([`handrail_core::envelope`]): the names and semantics of
//! the Node package (`generateKey`, `sealEnvelope`, `openEnvelope`, …), plus
//! `envelopeParts`, which hands the AES work of opening to WebCrypto.

use handrail_core::envelope::{self, Context, Key, Keyring};
use wasm_bindgen::prelude::*;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::input;
use crate::output::Builder;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** How `sealEnvelope` keys and randomizes an envelope. */
export interface SealOptions {
  /** Encrypt under a fresh data key, stored wrapped (AES-KW) under `key` in `ek`. Default: `false`, or `true` when `dataKey` is given. */
  wrap?: boolean;
  /** The 12-byte IV. **For test vectors only**: reusing an IV under one key breaks GCM. Default: random. */
  iv?: Uint8Array;
  /** The 32-byte data key of a wrapped envelope. **For test vectors only**; needs `iv`. Default: random. */
  dataKey?: Uint8Array;
}
/** How `openEnvelope` finds keys beyond `keys`. */
export interface OpenOptions {
  /** Compact key text of the key for the legacy `{"_lp_enc":true,…}` form (its `kid` is ignored). */
  legacyKey?: string;
}
/** A symmetric key as a JWK (what WebCrypto's `importKey("jwk", …)` takes). */
export interface OctJwk { kty: "oct"; kid: string; k: string }
/**
 * An envelope taken apart for WebCrypto: when `ek` is set,
 * `crypto.subtle.unwrapKey("raw", ek, kek, "AES-KW", "AES-GCM", false, ["decrypt"])` under the
 * key named by `kid`; then `crypto.subtle.decrypt({name: "AES-GCM", iv, additionalData: aad}, key, ct)`.
 */
export interface EnvelopeParts {
  /** The key the envelope names; `null` for the legacy form (use the legacy key). */
  kid: string | null;
  /** The legacy `_lp_enc` form: no AAD, bound to no request. */
  legacy: boolean;
  /** The 12-byte IV. */
  iv: Uint8Array;
  /** Ciphertext with the 16-byte GCM tag appended. */
  ct: Uint8Array;
  /** The AES-KW wrapped data key (40 bytes), or `null` when `kid`'s key encrypts directly. */
  ek: Uint8Array | null;
  /** The additional authenticated data for this request and field (empty for legacy). */
  aad: Uint8Array;
}
"#;

/// A fresh random 256-bit key named `kid`, as compact key text `hrk1.<kid>.<base64url key>`.
///
/// The text *is* the secret: keep it in a secret store. Throws a `HandrailError` with `code`
/// `invalid_key` unless `kid` is 1–64 characters of `[A-Za-z0-9._:-]`.
#[wasm_bindgen(js_name = generateKey)]
pub fn generate_key(kid: String) -> Result<String> {
    Ok(Key::generate(kid)?.export())
}

/// The `kid` of compact key text; throws `invalid_key` for text that is not a key.
#[wasm_bindgen(js_name = keyKid)]
pub fn key_kid(key: &str) -> Result<String> {
    Ok(Key::parse(key)?.kid().to_string())
}

/// Compact key text as a JWK (`{"kty":"oct","kid","k"}`), JSON text that WebCrypto's
/// `importKey("jwk", JSON.parse(…), …)` takes. It *is* the secret. Throws `invalid_key`.
#[wasm_bindgen(js_name = keyToJwk)]
pub fn key_to_jwk(key: &str) -> Result<String> {
    Ok(Key::parse(key)?.to_jwk().to_string())
}

/// A JWK (JSON text of `{"kty":"oct","kid","k"}` with a 32-byte `k`) as compact key text.
/// Throws `invalid_key`, or `json_syntax` (…) for text that is not JSON.
#[wasm_bindgen(js_name = keyFromJwk)]
pub fn key_from_jwk(#[wasm_bindgen(js_name = jwkJson)] jwk_json: &str) -> Result<String> {
    let jwk = handrail_core::canonical::parse(jwk_json.as_bytes())?;
    Ok(Key::from_jwk(&jwk)?.export())
}

/// Seals `plaintext` into an envelope (JSON text) bound to request `requestId` and `field`.
///
/// `key` is the compact key text `hrk1.<kid>.<base64url key>` (see `generateKey`). Opening
/// needs the same request id and field. Throws a `HandrailError` with `code` `invalid_key`
/// for a bad key; a `RangeError` for an `iv` that is not 12 bytes or a `dataKey` that is not
/// 32, or options that contradict each other.
#[wasm_bindgen(js_name = sealEnvelope)]
pub fn seal_envelope(
    key: &str,
    #[wasm_bindgen(js_name = requestId)] request_id: &str,
    field: &str,
    #[wasm_bindgen(unchecked_param_type = "Uint8Array")] plaintext: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "SealOptions")] options: JsValue,
) -> Result<String> {
    let plaintext = Zeroizing::new(input::bytes(&plaintext, "plaintext")?);
    let wrap = input::opt_bool(&input::member(&options, "wrap", "options")?, "options.wrap")?;
    let iv = input::opt_bytes(&input::member(&options, "iv", "options")?, "options.iv")?;
    let data_key = input::opt_bytes(&input::member(&options, "dataKey", "options")?, "options.dataKey")?
        .map(Zeroizing::new);
    let key = Key::parse(key)?;
    let ctx = Context::new(request_id, field);
    let range = |m: &str| Error::Range(m.to_string());
    let wrap = match (wrap, &data_key) {
        (Some(false), Some(_)) => return Err(range("dataKey is only used with wrap: true")),
        (wrap, data_key) => wrap.unwrap_or(data_key.is_some()),
    };
    Ok(match (iv, data_key) {
        (None, None) if wrap => envelope::seal_wrapped(&key, &ctx, &plaintext)?,
        (None, None) => envelope::seal(&key, &ctx, &plaintext)?,
        (None, Some(_)) => return Err(range("dataKey needs an explicit iv")),
        (Some(iv), data_key) => {
            let iv: [u8; 12] = iv.as_slice().try_into().map_err(|_| range("iv must be 12 bytes"))?;
            let data_key: Option<Zeroizing<[u8; 32]>> = data_key
                .map(|dk| dk.as_slice().try_into().map(Zeroizing::new))
                .transpose()
                .map_err(|_| range("dataKey must be 32 bytes"))?;
            if wrap && data_key.is_none() {
                return Err(range("an explicit iv with wrap: true needs an explicit dataKey"));
            }
            envelope::seal_with(&key, &ctx, &plaintext, iv, data_key.as_deref())?
        }
    })
}

/// Opens an envelope sealed for request `requestId` and `field`, returning the plaintext.
///
/// `envelope` is its JSON text or UTF-8 bytes. `keys` are compact key texts; the envelope's
/// `kid` picks exactly one of them. Throws a `HandrailError` with `code` `decrypt_failed`
/// (wrong key, request, field, or tampering), `unknown_kid`, `unwrap_failed`,
/// `envelope_malformed`, `envelope_unsupported`, `encoding` or `invalid_key`.
#[wasm_bindgen(js_name = openEnvelope)]
pub fn open_envelope(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] envelope: JsValue,
    keys: Vec<String>,
    #[wasm_bindgen(js_name = requestId)] request_id: &str,
    field: &str,
    #[wasm_bindgen(unchecked_optional_param_type = "OpenOptions")] options: JsValue,
) -> Result<Vec<u8>> {
    let bytes = input::json_bytes(&envelope, "envelope")?;
    let legacy = input::opt_string(&input::member(&options, "legacyKey", "options")?, "options.legacyKey")?
        .map(Zeroizing::new);
    let mut keyring = Keyring::new();
    for key in keys.into_iter().map(Zeroizing::new) {
        keyring.insert(Key::parse(&key)?);
    }
    if let Some(legacy) = legacy {
        keyring.set_legacy(Key::parse(&legacy)?);
    }
    Ok(envelope::open(&bytes, &keyring, &Context::new(request_id, field))?)
}

/// True when `json` (JSON text) is an envelope of either form: an object with `ct` and `iv`
/// and either `v` or `"_lp_enc": true`. Text that is not JSON is not an envelope.
#[wasm_bindgen(js_name = isEnvelope)]
pub fn is_envelope(json: &str) -> bool {
    handrail_core::canonical::parse(json.as_bytes()).is_ok_and(|value| envelope::is_envelope(&value))
}

/// Takes an envelope for request `requestId` and `field` apart into exactly what WebCrypto
/// needs to open it, with no key: `{kid, legacy, iv, ct, ek, aad}` (see `EnvelopeParts`).
///
/// For opening many envelopes in a browser with `crypto.subtle`: when `ek` is set, unwrap
/// it with AES-KW under the key named by `kid` (`unwrapKey("raw", ek, kek, "AES-KW",
/// "AES-GCM", …)`); then `decrypt({name: "AES-GCM", iv, additionalData: aad}, key, ct)`.
/// A legacy envelope has `kid: null`, `legacy: true` and an empty `aad`. Throws the same
/// `envelope_malformed`, `envelope_unsupported` and `encoding` errors as `openEnvelope`.
#[wasm_bindgen(js_name = envelopeParts, unchecked_return_type = "EnvelopeParts")]
pub fn envelope_parts(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] envelope: JsValue,
    #[wasm_bindgen(js_name = requestId)] request_id: &str,
    field: &str,
) -> Result<JsValue> {
    let bytes = input::json_bytes(&envelope, "envelope")?;
    let parts = envelope::parts(&bytes, &Context::new(request_id, field))?;
    let ek = match &parts.ek {
        Some(ek) => js_sys::Uint8Array::from(ek.as_slice()).into(),
        None => JsValue::NULL,
    };
    Ok(Builder::new()
        .set("kid", parts.kid.map_or(JsValue::NULL, JsValue::from))
        .set("legacy", parts.legacy)
        .bytes("iv", &parts.iv)
        .bytes("ct", &parts.ct)
        .set("ek", ek)
        .bytes("aad", &parts.aad)
        .build())
}
