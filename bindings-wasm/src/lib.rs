//! Browser bindings of `handrail-core`, built with wasm-bindgen.
//!
//! Deliberately thin: every export converts its JavaScript arguments ([`input`]), calls
//! the core and returns its result. Keys and envelopes are in [`envelope`] (with
//! `envelopeParts` for opening through WebCrypto), decision proofs in [`proof`], edits in
//! [`request`], the audit chain in [`audit`]; the behavioral firewall is the `Firewall` and
//! `FirewallSession` classes and `layoutProfile` ([`firewall`]). Results that are core serde
//! types cross as plain objects ([`output`]). Errors go through [`error`], the only place that knows
//! how a core error looks to JavaScript. Export names are camelCase (`js_name`) so the
//! browser API matches the Node package.
//!
//! Build and test: `scripts/test-wasm.sh` (wasm-bindgen `--target web` into `pkg/web`,
//! `--target nodejs` into `pkg/node`, then `node --test bindings-wasm/tests/`).

use wasm_bindgen::prelude::*;

mod audit;
mod envelope;
mod error;
mod firewall;
mod input;
mod output;
mod proof;
mod request;

pub use crate::audit::verify_audit;
pub use crate::envelope::{
    envelope_parts, generate_key, is_envelope, key_from_jwk, key_kid, key_to_jwk, open_envelope,
    seal_envelope,
};
pub use crate::firewall::{layout_profile, Firewall, FirewallSession};
pub use crate::proof::{proof_digest, ProofVerifier};
pub use crate::request::{apply_patch, diff, reveal_invisible};
#[cfg(feature = "schema")]
pub use crate::request::{review_edit, validate_edit};

use crate::error::Result;

/// Returns the RFC 8785 canonical form of a JSON text.
///
/// `input` is the JSON text, or its UTF-8 bytes as a `Uint8Array`. Object members are
/// sorted, insignificant whitespace is removed, and numbers and strings are written the way
/// `JSON.stringify` writes them.
///
/// Throws an `Error` named `"HandrailError"` whose `code` says why the input was refused:
/// `"json_syntax"`, `"duplicate_key"`, `"lone_surrogate"`, `"non_finite_number"`,
/// `"integer_out_of_range"` or `"too_deep"`. Throws a `TypeError` when `input` is neither
/// a string nor a `Uint8Array`.
#[wasm_bindgen(js_name = canonicalize)]
pub fn canonicalize(
    #[wasm_bindgen(unchecked_param_type = "string | Uint8Array")] input: JsValue,
) -> Result<String> {
    let bytes = input::json_bytes(&input, "input")?;
    Ok(handrail_core::canonical::canonicalize(bytes)?)
}
