//! Encrypted envelopes: AES-256-GCM bound to the request and field they belong to.
//!
//! An envelope is a small JSON object:
//!
//! ```json
//! {"v":1,"alg":"A256GCM","kid":"k1","ek":"<AES-KW wrapped data key>","iv":"<12 bytes>","ct":"<ciphertext||tag>"}
//! ```
//!
//! All binary fields are unpadded base64url. `ct` is the GCM ciphertext with the 16-byte tag
//! appended, exactly what WebCrypto's `encrypt({name:"AES-GCM"})` returns, so a browser can
//! open an envelope with `crypto.subtle` alone.
//!
//! **Two ways to key it.** Without `ek`, the key named by `kid` encrypts directly (a client
//! key shared by the agent and the approver's browser). With `ek`, a fresh 256-bit data key
//! encrypted this one payload and is stored wrapped with AES-KW (RFC 3394) under the master
//! key named by `kid`.
//!
//! **Bound to its place.** The additional authenticated data is the canonical JSON (RFC 8785)
//! of the header plus a [`Context`] — request id and field path — that the *decrypting* side
//! supplies from where it found the envelope:
//!
//! ```json
//! {"alg":"A256GCM","ctx":{"field":"payload","request":"req_1"},"ek":"…","kid":"k1","v":1}
//! ```
//!
//! so a ciphertext copied into another request or another field does not open.
//!
//! **Keys by `kid` only.** GCM is not key-committing: one ciphertext can be made to
//! authenticate under two keys. [`open`] therefore uses exactly the key the envelope names
//! and never tries keys in turn.
//!
//! **The legacy LetsPing form** `{"_lp_enc":true,"iv":…,"ct":…}` (standard base64, no AAD,
//! no `kid`) lives in `crate::compat::letsping`, behind the `compat` feature; this module
//! only calls its hooks (`legacy::…`) where an envelope may be of that form. It has none of
//! the bindings above.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use zeroize::Zeroizing;

use crate::canonical::write_string;
use crate::crypto::{
    aes256gcm_open_in_place, aes256gcm_seal_in_place, aes256kw_unwrap, aes256kw_wrap, fill_random,
    hmac_sha256, GcmKey,
};
use crate::encoding::{
    b64url_decode, b64url_decode_append, b64url_decode_to, b64url_decoded_len, b64url_encode,
    b64url_encode_into, b64url_encode_to, b64url_encoded_len,
};
use crate::error::{Error, Result};

/// The only algorithm name of envelope v1.
pub const ALG: &str = "A256GCM";
/// Largest envelope text [`open`] accepts (a 64 MiB state snapshot in base64 fits).
pub const MAX_ENVELOPE_BYTES: usize = 96 * 1024 * 1024;
/// Largest `kid`, in bytes.
pub const MAX_KID_LEN: usize = 64;
/// Prefix of the compact text form of a key (`hrk1.<kid>.<base64url key>`).
const KEY_PREFIX: &str = "hrk1.";
pub(crate) const IV_LEN: usize = 12;
pub(crate) const TAG_LEN: usize = 16;

/// A 256-bit AES key with its identifier. Prints `[redacted]` in `Debug`; zeroed on drop.
pub struct Key {
    kid: String,
    secret: Zeroizing<[u8; 32]>,
    /// The AES-GCM schedule of `secret`, prepared once (zeroed on drop too): a keyring
    /// seals and opens many envelopes under one key.
    pub(crate) cipher: GcmKey,
}

impl Clone for Key {
    fn clone(&self) -> Self {
        Key { kid: self.kid.clone(), secret: self.secret.clone(), cipher: GcmKey::new(&self.secret) }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key").field("kid", &self.kid).field("secret", &"[redacted]").finish()
    }
}

impl Key {
    /// Builds a key from raw bytes. `kid` is 1–64 characters of `[A-Za-z0-9._:-]`.
    pub fn new(kid: impl Into<String>, secret: [u8; 32]) -> Result<Key> {
        let kid = kid.into();
        check_kid(&kid)?;
        let cipher = GcmKey::new(&secret);
        Ok(Key { kid, secret: Zeroizing::new(secret), cipher })
    }

    /// Generates a fresh random key.
    pub fn generate(kid: impl Into<String>) -> Result<Key> {
        let mut secret = Zeroizing::new([0u8; 32]);
        fill_random(secret.as_mut())?;
        Key::new(kid, *secret)
    }

    /// Builds a key from its base64url-encoded 32 bytes.
    pub fn from_b64url(kid: impl Into<String>, secret: &str) -> Result<Key> {
        let bytes = Zeroizing::new(b64url_decode(secret)?);
        let secret: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| Error::InvalidKey { reason: "an AES-256 key is 32 bytes" })?;
        Key::new(kid, secret)
    }

    /// Parses the compact text form `hrk1.<kid>.<base64url key>` made by [`Key::export`].
    pub fn parse(text: &str) -> Result<Key> {
        let rest =
            text.strip_prefix(KEY_PREFIX).ok_or(Error::InvalidKey { reason: "expected the prefix hrk1." })?;
        let (kid, secret) =
            rest.rsplit_once('.').ok_or(Error::InvalidKey { reason: "expected hrk1.<kid>.<key>" })?;
        Key::from_b64url(kid, secret)
    }

    /// The compact text form, for an environment variable or a key file. It *is* the secret.
    pub fn export(&self) -> String {
        format!("{KEY_PREFIX}{}.{}", self.kid, b64url_encode(self.secret.as_slice()))
    }

    /// The key as a JWK (`{"kty":"oct","kid","k"}`), importable by WebCrypto. It *is* the secret.
    pub fn to_jwk(&self) -> serde_json::Value {
        serde_json::json!({ "kty": "oct", "kid": self.kid, "k": b64url_encode(self.secret.as_slice()) })
    }

    /// Reads a JWK of `kty` `oct` with a `kid` and a 32-byte `k`.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Key> {
        if jwk.get("kty").and_then(|v| v.as_str()) != Some("oct") {
            return Err(Error::InvalidKey { reason: "JWK kty must be oct" });
        }
        let kid =
            jwk.get("kid").and_then(|v| v.as_str()).ok_or(Error::InvalidKey { reason: "JWK needs a kid" })?;
        let k = jwk.get("k").and_then(|v| v.as_str()).ok_or(Error::InvalidKey { reason: "JWK needs k" })?;
        Key::from_b64url(kid, k)
    }

    /// The key's identifier.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

fn check_kid(kid: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    if kid.is_empty() || kid.len() > MAX_KID_LEN || !kid.chars().all(ok_char) {
        return Err(Error::InvalidKey { reason: "kid must be 1-64 characters of [A-Za-z0-9._:-]" });
    }
    Ok(())
}

/// Where an envelope lives: the decrypting side states it, and it must match the sealing side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context<'a> {
    /// The id of the request the envelope belongs to.
    pub request_id: &'a str,
    /// The field path inside the request (`payload`, `state`, `payload.account`…).
    pub field: &'a str,
}

impl<'a> Context<'a> {
    /// A context for `field` of request `request_id`.
    pub fn new(request_id: &'a str, field: &'a str) -> Self {
        Context { request_id, field }
    }
}

/// The keys an opener holds, looked up strictly by `kid`.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<Key>,
    /// The key of the legacy LetsPing form, which names none (`Keyring::set_legacy`).
    #[cfg(feature = "compat")]
    pub(crate) legacy: Option<Key>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Keyring::default()
    }

    /// Adds a key, replacing any key with the same `kid`.
    pub fn insert(&mut self, key: Key) {
        self.keys.retain(|k| k.kid != key.kid);
        self.keys.push(key);
    }

    /// Adds a key (builder style).
    pub fn with(mut self, key: Key) -> Self {
        self.insert(key);
        self
    }

    /// True when the keyring holds no key at all (not even a legacy one).
    pub fn is_empty(&self) -> bool {
        #[cfg(feature = "compat")]
        if self.legacy.is_some() {
            return false;
        }
        self.keys.is_empty()
    }

    /// The key with this `kid`, if any.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

/// Seals `plaintext` directly under `key` with a random IV.
pub fn seal(key: &Key, ctx: &Context<'_>, plaintext: &[u8]) -> Result<String> {
    let mut iv = [0u8; IV_LEN];
    fill_random(&mut iv)?;
    seal_with(key, ctx, plaintext, iv, None)
}

/// The exact length of the envelope text [`seal`] and [`seal_to`] write for a plaintext of
/// `plaintext_len` bytes under `key`: a binding allocates its result object at this size and
/// lets [`seal_to`] fill it, so the text is written once and never copied.
///
/// With [`seal_to`], a fast path kept for the Python benchmark "envelope seal + open, 1 MB"
/// (BENCHMARKS.md, Python: `Keyring.seal` writes into the result `bytes`).
pub fn sealed_len(key: &Key, plaintext_len: usize) -> usize {
    // `{"v":1,"alg":"A256GCM","kid":"` kid `","iv":"` iv `","ct":"` ct `"}`; a kid is
    // `[A-Za-z0-9._:-]` (see `Key::new`), so as a JSON string it is itself in quotes.
    const FIXED: usize = COMPACT_HEAD.len() + COMPACT_IV.len() + 16 + COMPACT_CT.len() + 2;
    FIXED + key.kid.len() + b64url_encoded_len(plaintext_len + TAG_LEN)
}

/// [`seal`] writing into `out`, which must be exactly [`sealed_len`] bytes long (else
/// `invalid_request`, nothing written). Nothing else is allocated: the ciphertext is made
/// inside `out`, where its text goes. Kept for the Python benchmark "envelope seal + open,
/// 1 MB" (BENCHMARKS.md, Python), see [`sealed_len`].
pub fn seal_to(key: &Key, ctx: &Context<'_>, plaintext: &[u8], out: &mut [u8]) -> Result<()> {
    let mut iv = [0u8; IV_LEN];
    fill_random(&mut iv)?;
    seal_to_with_iv(key, ctx, plaintext, iv, out)
}

const COMPACT_HEAD: &[u8] = br#"{"v":1,"alg":"A256GCM","kid":""#;
const COMPACT_IV: &[u8] = br#"","iv":""#;
const COMPACT_CT: &[u8] = br#"","ct":""#;

// The one writer of the compact layout, hand-written (ciphertext made in place, encoded in
// place by `encode_in_place`) for the benchmarks "envelope seal, 1 MB" (BENCHMARKS.md, core
// formats: 1.80 GB/s against bare `aes-gcm`'s 0.79) and the Python "envelope seal + open,
// 1 MB".
fn seal_to_with_iv(
    key: &Key,
    ctx: &Context<'_>,
    plaintext: &[u8],
    iv: [u8; IV_LEN],
    out: &mut [u8],
) -> Result<()> {
    let want = sealed_len(key, plaintext.len());
    if out.len() != want {
        return Err(Error::InvalidRequest {
            reason: "invalid_buffer".into(),
            message: format!("the envelope is {want} bytes; the buffer is {}", out.len()),
        });
    }
    let aad = aad(&key.kid, None, ctx);
    let (head, rest) = out.split_at_mut(COMPACT_HEAD.len() + key.kid.len() + COMPACT_IV.len());
    head[..COMPACT_HEAD.len()].copy_from_slice(COMPACT_HEAD);
    head[COMPACT_HEAD.len()..COMPACT_HEAD.len() + key.kid.len()].copy_from_slice(key.kid.as_bytes());
    head[COMPACT_HEAD.len() + key.kid.len()..].copy_from_slice(COMPACT_IV);
    let (iv_text, rest) = rest.split_at_mut(16);
    b64url_encode_to(&iv, iv_text);
    let (ct_key, rest) = rest.split_at_mut(COMPACT_CT.len());
    ct_key.copy_from_slice(COMPACT_CT);
    let (body, end) = rest.split_at_mut(rest.len() - 2);
    end.copy_from_slice(b"\"}");

    // The ciphertext is made where its base64url text will be, at the end of `body`, and
    // encoded from there front to back in place: no buffer beside the result.
    let raw_len = plaintext.len() + TAG_LEN;
    let raw_at = body.len() - raw_len;
    body[raw_at..raw_at + plaintext.len()].copy_from_slice(plaintext);
    let tag = key.cipher.seal_detached(&iv, &aad, &mut body[raw_at..raw_at + plaintext.len()])?;
    body[raw_at + plaintext.len()..].copy_from_slice(&tag);
    encode_in_place(body, raw_at);
    Ok(())
}

/// Encodes the bytes at `body[raw_at..]` as base64url over the whole of `body`, which is
/// exactly their encoded length. Text is written behind the bytes still to be read: a chunk
/// of at most a quarter of what is left, written 4/3 as long, never reaches the bytes after
/// it (the text runs ahead by a third of the rest, which the gap `raw_at` covers).
fn encode_in_place(body: &mut [u8], raw_at: usize) {
    let raw_len = body.len() - raw_at;
    let (mut read, mut written) = (0, 0);
    loop {
        let left = raw_len - read;
        let chunk = left / 4 / 48 * 48; // whole quanta, and whole SIMD blocks
        if chunk == 0 {
            break;
        }
        let (text, raw) = body.split_at_mut(raw_at + read);
        let n = b64url_encode_to(&raw[..chunk], &mut text[written..]);
        read += chunk;
        written += n;
    }
    // The last few bytes (under 192) go through a copy.
    let mut tail = [0u8; 192];
    let left = raw_len - read;
    tail[..left].copy_from_slice(&body[raw_at + read..]);
    let n = b64url_encode_to(&tail[..left], &mut body[written..]);
    debug_assert_eq!(written + n, body.len());
}

/// Seals `plaintext` under a fresh data key that is wrapped under `master`.
pub fn seal_wrapped(master: &Key, ctx: &Context<'_>, plaintext: &[u8]) -> Result<String> {
    let mut iv = [0u8; IV_LEN];
    fill_random(&mut iv)?;
    let mut data_key = Zeroizing::new([0u8; 32]);
    fill_random(data_key.as_mut())?;
    seal_with(master, ctx, plaintext, iv, Some(&data_key))
}

/// Seals deterministically: the IV is derived from the key, the context and the plaintext
/// (a synthetic IV, as in RFC 5297), so sealing the same plaintext for the same request and
/// field under the same key gives the same envelope byte for byte.
///
/// That is what an idempotent retry needs (its body must not change, or the server answers
/// 422). Two different plaintexts get different IVs except with probability 2^-96, so the IV
/// is never reused for different data; what an observer learns is only that two envelopes of
/// the same context hold the same plaintext. The IV key is derived from the key (HMAC with a
/// fixed label), never the AES key itself.
pub fn seal_synthetic(key: &Key, ctx: &Context<'_>, plaintext: &[u8]) -> Result<String> {
    let iv_key = hmac_sha256(key.secret.as_slice(), &[b"handrail.envelope.siv.v1"]);
    let aad = aad(&key.kid, None, ctx);
    let mac = hmac_sha256(&iv_key, &[&(aad.len() as u64).to_be_bytes(), &aad, plaintext]);
    let mut iv = [0u8; IV_LEN];
    iv.copy_from_slice(&mac[..IV_LEN]);
    seal_with(key, ctx, plaintext, iv, None)
}

/// Seals with an explicit IV and, when `data_key` is given, wraps it under `key`.
///
/// For test vectors only: reusing an IV with the same key destroys GCM's security.
pub fn seal_with(
    key: &Key,
    ctx: &Context<'_>,
    plaintext: &[u8],
    iv: [u8; IV_LEN],
    data_key: Option<&[u8; 32]>,
) -> Result<String> {
    let mut out = Vec::new();
    seal_with_into(key, ctx, plaintext, iv, data_key, &mut out)?;
    Ok(String::from_utf8(out).expect("ASCII syntax, base64 and a JSON string are UTF-8"))
}

/// [`seal_with`], writing the envelope text (ASCII) into `out` (empty). Without a data key
/// the ciphertext is made inside `out`, as [`seal_to`] does.
fn seal_with_into(
    key: &Key,
    ctx: &Context<'_>,
    plaintext: &[u8],
    iv: [u8; IV_LEN],
    data_key: Option<&[u8; 32]>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let Some(dk) = data_key else {
        // The compact layout has one writer: `seal_to`'s, into `out` at its exact size.
        out.resize(sealed_len(key, plaintext.len()), 0);
        return seal_to_with_iv(key, ctx, plaintext, iv, out);
    };
    let ek = b64url_encode(aes256kw_wrap(&key.secret, dk)?);
    let aad = aad(&key.kid, Some(&ek), ctx);
    let mut buf = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buf.extend_from_slice(plaintext);
    aes256gcm_seal_in_place(dk, &iv, &aad, &mut buf)?;

    // Written straight into one buffer: at 1 MB, every extra copy of the base64 text shows.
    out.reserve(96 + key.kid.len() + ek.len() + (buf.len() * 4).div_ceil(3));
    out.extend_from_slice(br#"{"v":1,"alg":"A256GCM","kid":"#);
    write_string(&key.kid, out);
    out.extend_from_slice(br#","ek":""#);
    out.extend_from_slice(ek.as_bytes());
    out.extend_from_slice(br#"","iv":""#);
    b64url_encode_into(iv, out);
    out.extend_from_slice(br#"","ct":""#);
    b64url_encode_into(&buf, out);
    out.extend_from_slice(b"\"}");
    Ok(())
}

/// Every field an envelope may carry; which ones are present decides the form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wire<'a> {
    pub(crate) v: Option<u64>,
    #[serde(borrow)]
    pub(crate) alg: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) kid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) ek: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) iv: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) ct: Option<Cow<'a, str>>,
    /// Only known with the `compat` feature; without it, an unknown member like any other.
    #[cfg(feature = "compat")]
    #[serde(rename = "_lp_enc")]
    pub(crate) lp_enc: Option<bool>,
}

// The hooks to the legacy LetsPing form (`legacy.rs`), the one place this module meets it:
// each answers `None` or `false` for a v1 envelope, which the v1 reader then takes. Without
// the `compat` feature the form is unknown (an `_lp_enc` member fails `read_wire` as an
// unknown field, `envelope_malformed`).
pub(crate) mod legacy;

/// True when `value` looks like an envelope (an object with `ct` and `iv` and either `v`
/// or, with the `compat` feature, `"_lp_enc": true`); lets callers tell sealed fields from
/// plain ones.
pub fn is_envelope(value: &serde_json::Value) -> bool {
    value.get("ct").is_some()
        && value.get("iv").is_some()
        && (value.get("v").is_some() || legacy::is_legacy_envelope(value))
}

/// Opens an envelope, choosing the key strictly by its `kid`.
pub fn open(envelope: &[u8], keyring: &Keyring, ctx: &Context<'_>) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    open_into(envelope, keyring, ctx, &mut buf)?;
    Ok(buf)
}

/// [`open`], leaving the plaintext in `buf` (cleared first) so a caller can reuse it.
pub fn open_into(envelope: &[u8], keyring: &Keyring, ctx: &Context<'_>, buf: &mut Vec<u8>) -> Result<()> {
    buf.clear();
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(Error::TooLarge { size: envelope.len(), limit: MAX_ENVELOPE_BYTES });
    }
    if let Some(fields) = Compact::read(envelope) {
        match open_v1(fields.kid, None, Some(fields.iv), Some(fields.ct), keyring, ctx, buf) {
            // A field that is not base64url may hide other JSON (`"ct":"…","x":"…"`): the
            // general reader below decides, and reports the error it would have anyway.
            Err(Error::Encoding { .. }) => buf.clear(),
            done => return done,
        }
    }
    let wire = read_wire(envelope)?;
    if let Some(opened) = legacy::open_legacy(&wire, keyring) {
        *buf = opened?;
        return Ok(());
    }
    let kid = v1_kid(&wire)?;
    open_v1(
        kid,
        wire.ek.as_deref(),
        wire.iv.as_deref(),
        wire.ct.as_deref().map(str::as_bytes),
        keyring,
        ctx,
        buf,
    )
}

/// The fields of an envelope in exactly the layout [`seal_with`] writes without a
/// data key — `{"v":1,"alg":"A256GCM","kid":"…","iv":"…","ct":"…"}`, no whitespace, no
/// escapes — read by position instead of through a JSON parser: at a megabyte, scanning and
/// copying `ct` in serde_json costs more than AES-GCM. Anything else (`ek`, the legacy form,
/// other spacing or order) is left to the general reader.
struct Compact<'a> {
    kid: &'a str,
    iv: &'a str,
    /// Not checked for UTF-8 here: base64url decoding refuses every non-alphabet byte.
    ct: &'a [u8],
}

impl<'a> Compact<'a> {
    fn read(text: &'a [u8]) -> Option<Compact<'a>> {
        let rest = text.strip_prefix(COMPACT_HEAD)?;
        // A kid is plain text: no quote, backslash or control character inside it.
        let end = rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        let kid = std::str::from_utf8(&rest[..end]).ok()?;
        let rest = rest[end..].strip_prefix(COMPACT_IV)?;
        let end = rest.iter().position(|&b| b == b'"')?;
        // iv and ct are only accepted as base64url, whose alphabet is ASCII without quotes
        // or escapes; a decode failure sends the text to the general reader.
        let iv = std::str::from_utf8(&rest[..end]).ok()?;
        let ct = rest[end..].strip_prefix(COMPACT_CT)?.strip_suffix(br#""}"#)?;
        Some(Compact { kid, iv, ct })
    }
}

/// The plaintext length of an envelope in the layout [`seal`] writes (no `ek`), read from
/// the length of its `ct`; `None` for any other text. With [`open_compact_to`], lets a
/// binding decrypt straight into a result object it allocates at the right size.
pub fn compact_plaintext_len(envelope: &[u8]) -> Option<usize> {
    let fields = Compact::read(envelope)?;
    b64url_decoded_len(fields.ct).ok()?.checked_sub(TAG_LEN)
}

/// Opens an envelope of the layout [`seal`] writes into `out`, which is exactly
/// [`compact_plaintext_len`] bytes long; the tag is decoded aside, so the ciphertext is
/// decoded and decrypted in `out` itself and never copied.
///
/// Any error means "not opened this way": the caller then calls [`open_into`], which opens
/// every envelope this opens and reports the format's own error for the others. On error
/// `out` holds nothing usable and must be discarded.
pub fn open_compact_to(envelope: &[u8], keyring: &Keyring, ctx: &Context<'_>, out: &mut [u8]) -> Result<()> {
    let malformed = Error::EnvelopeMalformed { reason: "not the compact envelope layout" };
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(Error::TooLarge { size: envelope.len(), limit: MAX_ENVELOPE_BYTES });
    }
    let fields = Compact::read(envelope).ok_or(malformed.clone())?;
    let iv = decode_iv(Some(fields.iv), b64url_decode)?;
    let ct = fields.ct;
    if b64url_decoded_len(ct)? != out.len() + TAG_LEN {
        return Err(malformed);
    }
    // Whole base64 quanta (3 bytes per 4 characters) go straight into `out`; the last
    // few plaintext bytes and the tag come from the short tail.
    let head = out.len() / 3 * 3;
    let split = head / 3 * 4;
    b64url_decode_to(&ct[..split], &mut out[..head])?;
    let mut tail = [0u8; 2 + TAG_LEN];
    let n = b64url_decode_to(&ct[split..], &mut tail)?;
    let rest = out.len() - head;
    if n != rest + TAG_LEN {
        return Err(malformed);
    }
    out[head..].copy_from_slice(&tail[..rest]);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&tail[rest..n]);
    let key = keyring.get(fields.kid).ok_or_else(|| Error::UnknownKid { kid: fields.kid.to_string() })?;
    let aad = aad(fields.kid, None, ctx);
    key.cipher.open_detached(&iv, &aad, out, &tag)
}

/// Opens a v1 envelope from its fields, in the order of the checks the format defines.
fn open_v1(
    kid: &str,
    ek: Option<&str>,
    iv: Option<&str>,
    ct: Option<&[u8]>,
    keyring: &Keyring,
    ctx: &Context<'_>,
    buf: &mut Vec<u8>,
) -> Result<()> {
    let iv = decode_iv(iv, b64url_decode)?;
    let ct = ct.ok_or(Error::EnvelopeMalformed { reason: "missing ct" })?;
    b64url_decode_append(ct, buf)?;
    if buf.len() < TAG_LEN {
        return Err(Error::EnvelopeMalformed { reason: "ct shorter than the tag" });
    }
    let key = keyring.get(kid).ok_or_else(|| Error::UnknownKid { kid: kid.to_string() })?;
    let aad = aad(kid, ek, ctx);
    match ek {
        Some(ek) => {
            let wrapped = decode_ek(ek)?;
            let unwrapped = Zeroizing::new(aes256kw_unwrap(&key.secret, &wrapped)?);
            let data_key: &[u8; 32] = unwrapped.as_slice().try_into().map_err(|_| Error::UnwrapFailed)?;
            aes256gcm_open_in_place(data_key, &iv, &aad, buf)?;
        }
        None => key.cipher.open_in_place(&iv, &aad, buf)?,
    }
    Ok(())
}

/// An envelope taken apart into exactly what WebCrypto needs to open it, without any key.
///
/// A browser opening many envelopes can hand the AES work to `crypto.subtle`: when `ek` is
/// present, `unwrapKey("raw", ek, kek, "AES-KW", "AES-GCM", …)` under the key named by
/// `kid`, then `decrypt({name: "AES-GCM", iv, additionalData: aad}, key, ct)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Parts {
    /// The key the envelope names; `None` for the legacy form (use the legacy key).
    pub kid: Option<String>,
    /// True for the legacy `_lp_enc` form ([`crate::compat::letsping`]): no AAD, no `kid`,
    /// not bound to a request. Always false without the `compat` feature.
    pub legacy: bool,
    /// The 12-byte GCM IV.
    pub iv: [u8; IV_LEN],
    /// The ciphertext with the 16-byte tag appended (what WebCrypto's `decrypt` takes).
    pub ct: Vec<u8>,
    /// The AES-KW (RFC 3394) wrapped data key, 40 bytes, when the envelope has one.
    pub ek: Option<Vec<u8>>,
    /// The additional authenticated data for `ctx` ([`aad`]); empty for the legacy form.
    pub aad: Vec<u8>,
}

impl fmt::Debug for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ciphertext is not secret, but it can be large: print sizes, not bytes.
        f.debug_struct("Parts")
            .field("kid", &self.kid)
            .field("legacy", &self.legacy)
            .field("ct_len", &self.ct.len())
            .field("ek", &self.ek.is_some())
            .finish()
    }
}

/// Takes an envelope apart for `ctx` (see [`Parts`]), with the same checks
/// and error codes as [`open`] up to the point where a key is needed.
pub fn parts(envelope: &[u8], ctx: &Context<'_>) -> Result<Parts> {
    let wire = read_wire(envelope)?;
    if let Some(legacy) = legacy::legacy_parts(&wire) {
        return legacy;
    }
    let kid = v1_kid(&wire)?;
    let iv = decode_iv(wire.iv.as_deref(), b64url_decode)?;
    let ct = b64url_decode(wire.ct.as_deref().ok_or(Error::EnvelopeMalformed { reason: "missing ct" })?)?;
    if ct.len() < TAG_LEN {
        return Err(Error::EnvelopeMalformed { reason: "ct shorter than the tag" });
    }
    let ek = wire.ek.as_deref().map(decode_ek).transpose()?;
    Ok(Parts {
        kid: Some(kid.to_string()),
        legacy: false,
        iv,
        ct,
        ek,
        aad: aad(kid, wire.ek.as_deref(), ctx),
    })
}

fn read_wire(envelope: &[u8]) -> Result<Wire<'_>> {
    if envelope.len() > MAX_ENVELOPE_BYTES {
        return Err(Error::TooLarge { size: envelope.len(), limit: MAX_ENVELOPE_BYTES });
    }
    serde_json::from_slice(envelope)
        .map_err(|_| Error::EnvelopeMalformed { reason: "not a JSON object of the envelope shape" })
}

/// Checks `v` and `alg` of a v1 envelope; its `kid`.
fn v1_kid<'w>(wire: &'w Wire<'_>) -> Result<&'w str> {
    match wire.v {
        Some(1) => {}
        Some(v) => return Err(Error::EnvelopeUnsupported { field: "v", value: v.to_string() }),
        None => return Err(Error::EnvelopeMalformed { reason: "missing v" }),
    }
    let alg = wire.alg.as_deref().ok_or(Error::EnvelopeMalformed { reason: "missing alg" })?;
    if alg != ALG {
        return Err(Error::EnvelopeUnsupported { field: "alg", value: alg.to_string() });
    }
    wire.kid.as_deref().ok_or(Error::EnvelopeMalformed { reason: "missing kid" })
}

fn decode_ek(ek: &str) -> Result<Vec<u8>> {
    let wrapped = b64url_decode(ek)?;
    if wrapped.len() != 40 {
        return Err(Error::EnvelopeMalformed { reason: "ek must wrap a 32-byte key" });
    }
    Ok(wrapped)
}

pub(crate) fn decode_iv(iv: Option<&str>, decode: impl Fn(&str) -> Result<Vec<u8>>) -> Result<[u8; IV_LEN]> {
    let iv = iv.ok_or(Error::EnvelopeMalformed { reason: "missing iv" })?;
    decode(iv)?.as_slice().try_into().map_err(|_| Error::EnvelopeMalformed { reason: "iv must be 12 bytes" })
}

/// The additional authenticated data: canonical JSON of the header and the context.
///
/// Written directly rather than through the parser: the member names are fixed ASCII and
/// already in RFC 8785 order (`alg` < `ctx` < `ek` < `kid` < `v`; `field` < `request`).
pub fn aad(kid: &str, ek: Option<&str>, ctx: &Context<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(96 + kid.len() + ctx.request_id.len() + ctx.field.len());
    out.extend_from_slice(br#"{"alg":"A256GCM","ctx":{"field":"#);
    write_string(ctx.field, &mut out);
    out.extend_from_slice(br#","request":"#);
    write_string(ctx.request_id, &mut out);
    out.push(b'}');
    if let Some(ek) = ek {
        out.extend_from_slice(br#","ek":"#);
        write_string(ek, &mut out);
    }
    out.extend_from_slice(br#","kid":"#);
    write_string(kid, &mut out);
    out.extend_from_slice(br#","v":1}"#);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Key {
        Key::new("k1", [7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_both_modes() {
        let ring = Keyring::new().with(key());
        let ctx = Context::new("req_1", "payload");
        for sealed in [seal(&key(), &ctx, b"hello").unwrap(), seal_wrapped(&key(), &ctx, b"hello").unwrap()] {
            assert_eq!(open(sealed.as_bytes(), &ring, &ctx).unwrap(), b"hello");
            let moved = Context::new("req_2", "payload");
            assert_eq!(open(sealed.as_bytes(), &ring, &moved).unwrap_err().code(), "decrypt_failed");
            let other_field = Context::new("req_1", "state");
            assert_eq!(open(sealed.as_bytes(), &ring, &other_field).unwrap_err().code(), "decrypt_failed");
        }
    }

    #[test]
    fn seal_to_writes_what_seal_writes_at_every_length() {
        let (key, ring, ctx) = (key(), Keyring::new().with(key()), Context::new("req_1", "payload"));
        let iv = [3u8; IV_LEN];
        for len in (0..400).chain([1000, 4099, 65_536, 1 << 20]) {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let want = seal_with(&key, &ctx, &plaintext, iv, None).unwrap();
            assert_eq!(sealed_len(&key, len), want.len(), "length of {len}");
            let mut out = vec![0u8; want.len()];
            seal_to_with_iv(&key, &ctx, &plaintext, iv, &mut out).unwrap();
            assert_eq!(out, want.as_bytes(), "envelope of {len}");
            let mut random = vec![0u8; want.len()];
            seal_to(&key, &ctx, &plaintext, &mut random).unwrap();
            assert_eq!(open(&random, &ring, &ctx).unwrap(), plaintext);
        }
        let mut short = vec![0u8; sealed_len(&key, 5) - 1];
        let err = seal_to(&key, &ctx, b"hello", &mut short).unwrap_err();
        assert_eq!(err.code(), "invalid_request");
        assert!(short.iter().all(|&b| b == 0), "nothing written");
    }

    #[test]
    fn aad_is_canonical_json() {
        let ctx = Context::new("r\u{e9}q", "a\"b");
        let text = aad("k1", Some("ek"), &ctx);
        let canonical = crate::canonical::canonicalize(&text).unwrap();
        assert_eq!(canonical.as_bytes(), text.as_slice());
    }

    #[test]
    fn key_debug_is_redacted_and_export_round_trips() {
        let k = key();
        assert!(!format!("{k:?}").contains("7, 7"));
        assert!(format!("{k:?}").contains("[redacted]"));
        let back = Key::parse(&k.export()).unwrap();
        assert_eq!(back.export(), k.export());
        assert_eq!(Key::from_jwk(&k.to_jwk()).unwrap().export(), k.export());
        assert_eq!(Key::parse("hrk1.k1.AAAA").unwrap_err().code(), "invalid_key");
    }

    #[test]
    fn compact_and_general_readers_agree() {
        let ring = Keyring::new().with(key());
        let ctx = Context::new("req_1", "payload");
        let sealed = seal_with(&key(), &ctx, b"hello", [3u8; 12], None).unwrap();
        assert!(Compact::read(sealed.as_bytes()).is_some(), "seal writes the compact layout");
        // The same envelope spaced and reordered takes the general reader: same plaintext.
        let value: serde_json::Value = serde_json::from_str(&sealed).unwrap();
        let spaced = serde_json::to_string_pretty(&value).unwrap();
        assert!(Compact::read(spaced.as_bytes()).is_none());
        assert_eq!(open(spaced.as_bytes(), &ring, &ctx).unwrap(), b"hello");
        assert_eq!(open(sealed.as_bytes(), &ring, &ctx).unwrap(), b"hello");
        // A member smuggled after ct looks compact up to the end, but ct no longer decodes:
        // the general reader refuses the unknown member.
        let smuggled = format!("{}\",\"x\":\"y\"}}", &sealed[..sealed.len() - 2]);
        assert_eq!(open(smuggled.as_bytes(), &ring, &ctx).unwrap_err().code(), "envelope_malformed");
        // Errors after the fields are read are the format's own, on either path.
        let other = Context::new("req_2", "payload");
        assert_eq!(open(sealed.as_bytes(), &ring, &other).unwrap_err().code(), "decrypt_failed");
        assert_eq!(open(spaced.as_bytes(), &ring, &other).unwrap_err().code(), "decrypt_failed");
        let unknown = sealed.replace(r#""kid":"k1""#, r#""kid":"k2""#);
        assert_eq!(
            open(unknown.as_bytes(), &Keyring::new().with(key()), &ctx).unwrap_err().code(),
            "unknown_kid"
        );
        let escaped = sealed.replace(r#""kid":"k1""#, r#""kid":"\u006b1""#);
        assert!(Compact::read(escaped.as_bytes()).is_none());
        assert_eq!(open(escaped.as_bytes(), &ring, &ctx).unwrap(), b"hello");
        let bad_iv = sealed.replace(r#""iv":""#, r#""iv":"!"#);
        assert_eq!(open(bad_iv.as_bytes(), &ring, &ctx).unwrap_err().code(), "encoding");
    }

    #[test]
    fn open_compact_to_decrypts_in_the_callers_buffer() {
        let ring = Keyring::new().with(key());
        let ctx = Context::new("req_1", "payload");
        for len in [0usize, 1, 2, 3, 4, 5, 100, 1000, 4097] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let sealed = seal(&key(), &ctx, &plain).unwrap();
            assert_eq!(compact_plaintext_len(sealed.as_bytes()), Some(len));
            let mut out = vec![0u8; len];
            open_compact_to(sealed.as_bytes(), &ring, &ctx, &mut out).unwrap();
            assert_eq!(out, plain);
            let other = Context::new("req_1", "state");
            assert_eq!(
                open_compact_to(sealed.as_bytes(), &ring, &other, &mut out).unwrap_err().code(),
                "decrypt_failed"
            );
            let mut short = vec![0u8; len + 1];
            assert!(open_compact_to(sealed.as_bytes(), &ring, &ctx, &mut short).is_err());
        }
        let wrapped = seal_wrapped(&key(), &ctx, b"x").unwrap();
        assert_eq!(compact_plaintext_len(wrapped.as_bytes()), None, "ek envelopes take open_into");
    }

    #[test]
    fn parts_are_what_the_primitives_open() {
        let ctx = Context::new("req_1", "payload");
        let direct = parts(seal(&key(), &ctx, b"hello").unwrap().as_bytes(), &ctx).unwrap();
        assert_eq!((direct.kid.as_deref(), direct.legacy, direct.ek.is_none()), (Some("k1"), false, true));
        assert_eq!(direct.aad, aad("k1", None, &ctx));
        let mut ct = direct.ct.clone();
        aes256gcm_open_in_place(&key().secret, &direct.iv, &direct.aad, &mut ct).unwrap();
        assert_eq!(ct, b"hello");

        let wrapped = parts(seal_wrapped(&key(), &ctx, b"hi").unwrap().as_bytes(), &ctx).unwrap();
        let ek = wrapped.ek.clone().unwrap();
        let data_key: [u8; 32] = aes256kw_unwrap(&key().secret, &ek).unwrap().as_slice().try_into().unwrap();
        assert_eq!(wrapped.aad, aad("k1", Some(&b64url_encode(&ek)), &ctx));
        let mut ct = wrapped.ct.clone();
        aes256gcm_open_in_place(&data_key, &wrapped.iv, &wrapped.aad, &mut ct).unwrap();
        assert_eq!(ct, b"hi");

        assert_eq!(parts(b"[1]", &ctx).unwrap_err().code(), "envelope_malformed");
        assert!(format!("{direct:?}").contains("ct_len: 21"));
    }
}
