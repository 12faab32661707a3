//! Request edits (`handrail_core::request`): diffs, patches, schema checks and the names of
//! statuses and priorities. JSON crosses as text, parsed by the core's strict parser.

use handrail_core::canonical;
use handrail_core::request::{self, Diff, PatchOp, Priority, Status};
use pyo3::prelude::*;

use crate::error::CoreError;
use crate::input::JsonText;

fn json(text: &JsonText) -> Result<serde_json::Value, CoreError> {
    Ok(canonical::parse(text.as_bytes())?)
}

fn diff_out(d: Diff) -> (String, String) {
    // Serializing the core's patch operations cannot fail.
    (serde_json::to_string(&d.ops).unwrap_or_default(), d.summary)
}

/// The RFC 6902 diff from ``before`` to ``after``: ``(ops as JSON text, summary)``.
#[pyfunction]
pub fn diff(before: JsonText, after: JsonText) -> Result<(String, String), CoreError> {
    Ok(diff_out(request::diff(&json(&before)?, &json(&after)?)))
}

/// Applies RFC 6902 ``ops`` (JSON text of the list) to ``doc``; returns JSON text.
#[pyfunction]
pub fn apply_patch(doc: JsonText, ops: JsonText) -> Result<String, CoreError> {
    let ops: Vec<PatchOp> = serde_json::from_value(json(&ops)?).map_err(|e| {
        handrail_core::Error::InvalidRequest { reason: "invalid_patch".into(), message: e.to_string() }
    })?;
    Ok(request::apply(&json(&doc)?, &ops)?.to_string())
}

/// Checks an edited payload against a JSON Schema (``edit_invalid``, ``schema_invalid``).
#[pyfunction]
pub fn validate_edit(schema: JsonText, edited: JsonText) -> Result<(), CoreError> {
    Ok(request::validate_edit(&json(&schema)?, &json(&edited)?)?)
}

/// Validates ``edited`` against ``schema`` (when given) and diffs it from ``original``.
#[pyfunction]
#[pyo3(signature = (original, edited, schema = None))]
pub fn review_edit(
    original: JsonText,
    edited: JsonText,
    schema: Option<JsonText>,
) -> Result<(String, String), CoreError> {
    let schema = schema.as_ref().map(json).transpose()?;
    Ok(diff_out(request::review_edit(&json(&original)?, &json(&edited)?, schema.as_ref())?))
}

/// The canonical name of a request status (``"PENDING"``, …); raises on an unknown one.
#[pyfunction]
pub fn request_status(name: &str) -> Result<&'static str, CoreError> {
    Ok(name.parse::<Status>()?.as_str())
}

/// The canonical name of a priority (``"low"``, …); raises on an unknown one.
#[pyfunction]
pub fn request_priority(name: &str) -> Result<&'static str, CoreError> {
    Ok(name.parse::<Priority>()?.as_str())
}
