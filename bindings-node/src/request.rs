//! Request edits (`handrail_core::request`): diffs, patches, schema checks and the names of
//! statuses and priorities. JSON crosses as text, parsed by the core's strict parser.

use handrail_core::canonical;
use handrail_core::request::{self, Diff, PatchOp, Priority, Status};
use napi::Env;
use napi_derive::napi;

use crate::error::ThrownJs;

fn json(env: &Env, text: &str) -> napi::Result<serde_json::Value> {
    canonical::parse(text.as_bytes()).thrown(env)
}

/// An edit's RFC 6902 operations (JSON text) and its one-line summary.
#[napi(object, object_from_js = false)]
pub struct DiffText {
    /// The operations, JSON text of the list.
    pub ops_json: String,
    /// `amount: 500 → 50; removed cc`.
    pub summary: String,
}

fn diff_out(d: Diff) -> DiffText {
    // Serializing the core's patch operations cannot fail.
    DiffText { ops_json: serde_json::to_string(&d.ops).unwrap_or_default(), summary: d.summary }
}

/// The RFC 6902 diff from `before` to `after` (JSON texts).
#[napi]
pub fn diff(env: Env, before: String, after: String) -> napi::Result<DiffText> {
    Ok(diff_out(request::diff(&json(&env, &before)?, &json(&env, &after)?)))
}

/// Applies RFC 6902 `opsJson` (JSON text of the list) to `doc`; returns JSON text.
#[napi]
pub fn apply_patch(env: Env, doc: String, ops_json: String) -> napi::Result<String> {
    let ops: handrail_core::Result<Vec<PatchOp>> =
        serde_json::from_value(json(&env, &ops_json)?).map_err(|e| handrail_core::Error::InvalidRequest {
            reason: "invalid_patch".into(),
            message: e.to_string(),
        });
    Ok(request::apply(&json(&env, &doc)?, &ops.thrown(&env)?).thrown(&env)?.to_string())
}

/// Checks an edited payload against a JSON Schema; throws `edit_invalid`, `schema_invalid`.
#[napi]
pub fn validate_edit(env: Env, schema: String, edited: String) -> napi::Result<()> {
    request::validate_edit(&json(&env, &schema)?, &json(&env, &edited)?).thrown(&env)
}

/// Validates `edited` against `schema` (when given) and diffs it from `original`.
#[napi]
pub fn review_edit(
    env: Env,
    original: String,
    edited: String,
    schema: Option<String>,
) -> napi::Result<DiffText> {
    let schema = schema.as_deref().map(|s| json(&env, s)).transpose()?;
    let d =
        request::review_edit(&json(&env, &original)?, &json(&env, &edited)?, schema.as_ref()).thrown(&env)?;
    Ok(diff_out(d))
}

/// The canonical name of a request status (`PENDING`, …); throws on an unknown one.
#[napi]
pub fn request_status(env: Env, name: String) -> napi::Result<&'static str> {
    Ok(name.parse::<Status>().thrown(&env)?.as_str())
}

/// The canonical name of a priority (`low`, …); throws on an unknown one.
#[napi]
pub fn request_priority(env: Env, name: String) -> napi::Result<&'static str> {
    Ok(name.parse::<Priority>().thrown(&env)?.as_str())
}
