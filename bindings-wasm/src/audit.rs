//! The audit chain ([`handrail_core::audit`]) checked in the browser: `verifyAudit` over the
//! pages of `GET /v1/audit`.

use handrail_core::audit::{self, Checkpoint};
use wasm_bindgen::prelude::*;

use crate::error::{Error, Result};
use crate::input;
use crate::output::{to_js, Builder};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** Where a verified audit chain stands: its last entry's `seq` and `hash`. */
export interface AuditCheckpoint { seq: number; hash: string }
/** What `verifyAudit` checked: how many entries, and where the chain now stands. */
export interface AuditVerified { count: number; last: AuditCheckpoint | null }
"#;

/// Verifies one project's audit entries, in order, and returns `{count, last}`.
///
/// `entriesJson` is JSON text of the entries `GET /v1/audit` returns: the page itself
/// (`{"entries": [...], "next": …}`) or its `entries` array. Without `after` they must start
/// the chain (`seq` 1); with `after` (the `last` of the previous page, or `{seq: 0, hash:
/// GENESIS}`) they must continue it. `last` is the checkpoint to pass with the next page
/// (`after` again when this page was empty; `null` only then and without `after`).
///
/// Throws a `HandrailError` with `code` `audit_broken` whose message names the first entry
/// that does not fit (`audit chain broken at entry 3 of project "prj_…": …`);
/// `invalid_response` for JSON that is not entries; `json_syntax`, … for text that is not JSON.
#[wasm_bindgen(js_name = verifyAudit, unchecked_return_type = "AuditVerified")]
pub fn verify_audit(
    #[wasm_bindgen(js_name = entriesJson, unchecked_param_type = "string | Uint8Array")]
    entries_json: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "AuditCheckpoint | null")] after: JsValue,
) -> Result<JsValue> {
    let entries = audit::entries_from_json(&input::json_bytes(&entries_json, "entriesJson")?)?;
    let after = checkpoint(&after)?;
    let count = audit::verify_from(after.as_ref(), &entries)?;
    let last = entries.last().map(|e| Checkpoint { seq: e.seq, hash: e.hash.clone() }).or(after);
    Ok(Builder::new().set("count", count as f64).set("last", to_js(&last)).build())
}

fn checkpoint(value: &JsValue) -> Result<Option<Checkpoint>> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let seq = input::member(value, "seq", "after")?
        .as_f64()
        .filter(|s| s.is_finite() && s.fract() == 0.0 && *s >= 0.0 && *s < 9_007_199_254_740_992.0)
        .ok_or_else(|| Error::Type("after.seq must be a whole number of at least 0".into()))?;
    let hash = input::opt_string(&input::member(value, "hash", "after")?, "after.hash")?
        .ok_or_else(|| Error::Type("after.hash must be a string".into()))?;
    Ok(Some(Checkpoint { seq: seq as u64, hash }))
}
