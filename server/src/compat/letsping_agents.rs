//! LetsPing's agent identities: `POST /agents/register` gives an agent key's project a
//! signing agent (`agent_id` + `agent_secret`), and a signed ingest (`agent_id`,
//! `agent_signature`) is checked against it. Their self-serve sign-up is
//! `letsping_signup`'s, closed unless an admin opens it.
//!
//! The signature is hex HMAC-SHA256 over the compact JSON of `{project_id, service, action,
//! payload}` in that order. Their Python client writes it with `json.dumps` (`ensure_ascii`,
//! floats as `repr`), a JavaScript signer with `JSON.stringify` (UTF-8 as is, JavaScript
//! number forms), so both byte forms are accepted.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use handrail_core::crypto::{hmac_sha256, mac_eq};
use handrail_core::encoding::{b64url_encode, hex_decode};
use serde_json::{json, Value};

use super::looppause::python_dumps;
use crate::store::Principal;
use crate::v1::{internal, ApiResult, Caller};
use crate::{random, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/compat/letsping/api/agents/register", post(register))
}

/// An error in the shape their client parses (`{"error", "code"}`), raised there as
/// `LetsPingError` with that code.
pub(super) fn their_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": message, "code": code }))).into_response()
}

/// The settings name of an agent's signing secret.
fn setting_name(project: &str, agent_id: &str) -> String {
    format!("compat.letsping.agent.{project}.{agent_id}")
}

/// `POST /agents/register` (bearer agent key): a new signing agent of the key's project.
async fn register(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    let agent_id = format!("agt_{}", b64url_encode(random::<12>().map_err(internal)?));
    let secret = b64url_encode(random::<32>().map_err(internal)?);
    let secret = state.store.setting_or_insert(&setting_name(&who.project, &agent_id), &secret)?;
    Ok(Json(json!({ "agent_id": agent_id, "agent_secret": secret, "project_id": who.project })))
}

/// Why a signed ingest is refused.
pub(super) enum Refused {
    /// One of `agent_id` / `agent_signature` without the other, or not strings.
    Incomplete,
    /// A `project_id` other than the key's.
    OtherProject,
    /// No such agent in the key's project, or a signature that matches neither form.
    BadSignature,
}

impl Refused {
    /// Their error shape: 401 with a `LETSPING_*` code.
    pub(super) fn response(&self) -> Response {
        let (code, message) = match self {
            Refused::Incomplete => ("LETSPING_SIGNATURE_INVALID", "agent_id and agent_signature go together"),
            Refused::OtherProject => {
                ("LETSPING_SIGNATURE_INVALID", "project_id is not the project of this API key")
            }
            Refused::BadSignature => ("LETSPING_SIGNATURE_INVALID", "invalid agent signature"),
        };
        their_error(StatusCode::UNAUTHORIZED, code, message)
    }
}

/// Checks the agent signature of an ingest body, if it carries one: `Ok(None)` when it is
/// unsigned, `Ok(Some(agent_id))` when the signature matches either canonical form.
pub(super) fn verify(
    state: &AppState,
    who: &Principal,
    body: &Value,
) -> ApiResult<Result<Option<String>, Refused>> {
    let agent_id = body.get("agent_id");
    let signature = body.get("agent_signature");
    let (agent_id, signature) = match (agent_id, signature) {
        (None, None) => return Ok(Ok(None)),
        (Some(Value::String(a)), Some(Value::String(s))) => (a, s),
        _ => return Ok(Err(Refused::Incomplete)),
    };
    let project = body.get("project_id").cloned().unwrap_or(Value::Null);
    if project.as_str() != Some(who.project.as_str()) {
        return Ok(Err(Refused::OtherProject));
    }
    let Some(secret) = state.store.setting(&setting_name(&who.project, agent_id))? else {
        return Ok(Err(Refused::BadSignature));
    };
    let Ok(received) = hex_decode(signature) else {
        return Ok(Err(Refused::BadSignature));
    };
    let signed = signed_call(body);
    let mut python = String::new();
    python_dumps(&signed, false, &mut python);
    let mut js = String::new();
    js_stringify(&signed, &mut js);
    let python_ok = mac_eq(&hmac_sha256(secret.as_bytes(), &[python.as_bytes()]), &received);
    let js_ok = mac_eq(&hmac_sha256(secret.as_bytes(), &[js.as_bytes()]), &received);
    Ok(if python_ok | js_ok { Ok(Some(agent_id.clone())) } else { Err(Refused::BadSignature) })
}

/// What the agent signed: `{project_id, service, action, payload}` in that order, with a
/// missing or empty payload as `{}` (their `call.get("payload") or {}`).
fn signed_call(body: &Value) -> Value {
    let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
    let payload = match body.get("payload") {
        None | Some(Value::Null) | Some(Value::Bool(false)) => json!({}),
        Some(Value::String(s)) if s.is_empty() => json!({}),
        Some(Value::Array(a)) if a.is_empty() => json!({}),
        Some(Value::Object(o)) if o.is_empty() => json!({}),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => json!({}),
        Some(v) => v.clone(),
    };
    json!({
        "project_id": field("project_id"),
        "service": field("service"),
        "action": field("action"),
        "payload": payload,
    })
}

/// Writes `value` as JavaScript's `JSON.stringify(value)` does: keys in their order, strings
/// with only `"`, `\` and control characters escaped, numbers in JavaScript's forms.
fn js_stringify(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) if i.unsigned_abs() < (1 << 53) => out.push_str(&i.to_string()),
            (_, _, Some(f)) => out.push_str(&js_number(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => js_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                js_stringify(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                js_string(key, out);
                out.push(':');
                js_stringify(item, out);
            }
            out.push('}');
        }
    }
}

/// A string as `JSON.stringify` writes it: the escapes JSON requires (`\"`, `\\`, `\b`, `\f`,
/// `\n`, `\r`, `\t`, other controls as lowercase `\u00xx`) and everything else as is, which
/// is exactly serde_json's string form.
fn js_string(s: &str, out: &mut String) {
    // A `str` always serializes; the fallback is unreachable.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

/// JavaScript's `Number.prototype.toString()`: shortest round-trip digits, positional for
/// 1e-6 <= |x| < 1e21 (an integral value without a point), else `de±x` / `d.ddde±x`.
fn js_number(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    if f == 0.0 {
        return "0".into();
    }
    let abs = f.abs();
    if (1e-6..1e21).contains(&abs) {
        // Rust's `Display` is positional with the shortest round-trip digits and no ".0".
        return format!("{f}");
    }
    let sci = format!("{f:e}"); // "1e21", "-1.5e-7"
    match sci.split_once('e') {
        Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
        _ => sci,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_forms() {
        let mut out = String::new();
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":[1.0,1.5,1e21,1.5e-7,0.000001,-0.0,100,"é\u0001\u2028😀"]}"#)
                .unwrap();
        js_stringify(&v, &mut out);
        assert_eq!(out, "{\"b\":1,\"a\":[1,1.5,1e+21,1.5e-7,0.000001,0,100,\"é\\u0001\u{2028}😀\"]}");
    }

    #[test]
    fn python_form_keeps_order() {
        let v: Value = serde_json::from_str(r#"{"b":1.0,"a":"é"}"#).unwrap();
        let mut out = String::new();
        python_dumps(&v, false, &mut out);
        assert_eq!(out, r#"{"b":1.0,"a":"\u00e9"}"#);
    }

    #[test]
    fn empty_payload_signs_as_an_object() {
        let body = json!({"project_id": "p", "service": "s", "action": "a", "payload": []});
        assert_eq!(signed_call(&body)["payload"], json!({}));
    }
}
