//! Request edits ([`handrail_core::request`]): diffs, patches and schema checks, as in the
//! Node package, except that diffs come back as objects (the dashboard renders the ops).

use handrail_core::request::{self, PatchOp};
use wasm_bindgen::prelude::*;

use crate::error::Result;
use crate::output::to_js;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** One RFC 6902 operation, as the core writes them. */
export type PatchOp =
  | { op: "add"; path: string; value: unknown }
  | { op: "remove"; path: string }
  | { op: "replace"; path: string; value: unknown };
/** What an edit changed: operations in order, and a one-line summary (`amount: 500 → 50`). */
export interface EditDiff { ops: PatchOp[]; summary: string }
"#;

/// The RFC 6902 diff from `before` to `after` (JSON texts): `{ops, summary}`.
///
/// Throws `json_syntax`, `duplicate_key`, … for text that is not strict JSON.
#[wasm_bindgen(unchecked_return_type = "EditDiff")]
pub fn diff(before: &str, after: &str) -> Result<JsValue> {
    let before = handrail_core::canonical::parse(before.as_bytes())?;
    let after = handrail_core::canonical::parse(after.as_bytes())?;
    Ok(to_js(&request::diff(&before, &after)))
}

/// Applies RFC 6902 `opsJson` (JSON text of the list of `add`, `remove` and `replace`
/// operations) to `doc` (JSON text); returns the patched document as JSON text. Throws
/// `invalid_request` for a list that is not such operations, `edit_invalid` for a path that
/// does not apply.
#[wasm_bindgen(js_name = applyPatch)]
pub fn apply_patch(doc: &str, #[wasm_bindgen(js_name = opsJson)] ops_json: &str) -> Result<String> {
    let doc = handrail_core::canonical::parse(doc.as_bytes())?;
    let ops = handrail_core::canonical::parse(ops_json.as_bytes())?;
    let ops: Vec<PatchOp> = serde_json::from_value(ops).map_err(|e| {
        handrail_core::Error::InvalidRequest { reason: "invalid_patch".into(), message: e.to_string() }
    })?;
    Ok(request::apply(&doc, &ops)?.to_string())
}

/// Checks an edited payload (JSON text) against a JSON Schema (JSON text); throws
/// `edit_invalid` when it does not satisfy it, `schema_invalid` when the schema is not one.
#[cfg(feature = "schema")]
#[wasm_bindgen(js_name = validateEdit)]
pub fn validate_edit(schema: &str, edited: &str) -> Result<()> {
    let schema = handrail_core::canonical::parse(schema.as_bytes())?;
    let edited = handrail_core::canonical::parse(edited.as_bytes())?;
    Ok(request::validate_edit(&schema, &edited)?)
}

/// Validates `edited` against `schema` (when given) and diffs it from `original` (all JSON
/// texts): `{ops, summary}`. Throws `edit_invalid`, `schema_invalid`.
#[cfg(feature = "schema")]
#[wasm_bindgen(js_name = reviewEdit, unchecked_return_type = "EditDiff")]
pub fn review_edit(original: &str, edited: &str, schema: Option<String>) -> Result<JsValue> {
    let original = handrail_core::canonical::parse(original.as_bytes())?;
    let edited = handrail_core::canonical::parse(edited.as_bytes())?;
    let schema = schema.map(|s| handrail_core::canonical::parse(s.as_bytes())).transpose()?;
    Ok(to_js(&request::review_edit(&original, &edited, schema.as_ref())?))
}

/// `text` with each bidi control or other invisible format character written as `<U+XXXX>`
/// (`"acct_\u202E1"` → `"acct_<U+202E>1"`), the core's `request::reveal_invisible`: what
/// the dashboard renders wherever a payload, a preview, a name or a diff meets a person.
#[wasm_bindgen(js_name = revealInvisible)]
pub fn reveal_invisible(text: &str) -> String {
    request::reveal_invisible(text).into_owned()
}

/// What a queue row shows of a payload (the core's `request::preview`, the same as the
/// server's `view=summary`): `{encrypted, text?, complete}`; `text` is at most 160 bytes of
/// the compact JSON, and `complete` says it is the whole payload. `payload` is JSON text.
#[wasm_bindgen(js_name = payloadPreview, unchecked_return_type = "{ encrypted: boolean; text?: string; complete: boolean }")]
pub fn payload_preview(payload: &str) -> Result<JsValue> {
    handrail_core::canonical::canonicalize(payload.as_bytes())?;
    let value: serde_json::Value =
        serde_json::from_str(payload).map_err(|e| crate::error::Error::Type(format!("payload: {e}")))?;
    Ok(to_js(&request::preview(&value)))
}
