//! LoopPause (PyPI `looppause` 0.1.0), under `/compat/looppause`: `POST /v1/pauses` creates an
//! ordinary request (exactly once per `Idempotency-Key`), `GET /v1/pauses/{id}` reports it,
//! and a decided one carries the proof their client verifies: HMAC-SHA256, keyed with the
//! project's signing secret, over the bytes Python's
//! `json.dumps(proof_without_signature, sort_keys=True, separators=(",", ":"))` gives.
//!
//! Their `recipients` (`[{"channel": "email" | "slack", "target": …}]`, at most 16) choose
//! among the channels the operator configured; an agent's key never adds an address nor
//! names who may decide. An `email` target selects that addressee (compared lower-cased) of
//! an e-mail channel, a `slack` target that Slack channel id (`C…`/`G…`; a `#name` cannot be
//! resolved here and matches nothing), among the channels that hear the request's role. When
//! at least one matches, the request is announced to the matched ones only — at creation and
//! when it is escalated into another role, and their reminders follow (the recipients are
//! stored with the request; [`crate::store::narrow`] is the rule). When none matches, the
//! request is announced as without recipients. Recipients that matched no channel when the
//! pause was received are listed in the request's `context.recipients_unmatched`, for the
//! operator. Who may decide stays the channels' rule (see [`crate::mail`], [`crate::slack`]).

use axum::extract::State;

use crate::v1::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handrail_core::crypto::hmac_sha256;
use handrail_core::encoding::hex_encode;
use handrail_core::idempotency::Fingerprint;
use handrail_core::request::{NewRequest, Priority};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::secrets::{self, Kind};
use crate::lifecycle::create_request_for;
use crate::store::RequestRow;
use crate::store::{ChannelKind, Recipient};
use crate::v1::Code;
use crate::v1::{idempotency_key, internal, parse, principal, ApiError, ApiResult, Caller};
use crate::AppState;

/// The marker in a request's `context.compat` that it came through this layer.
const MARK: &str = "looppause";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/compat/looppause/v1/pauses", post(create))
        .route("/compat/looppause/v1/pauses/{id}", get(read))
}

/// The body their `create_pause` sends.
#[derive(Deserialize)]
struct CreatePause {
    agent_id: String,
    action: Value,
    #[serde(default)]
    recipients: Value,
    #[serde(default)]
    timeout_hours: Option<u64>,
    #[serde(default)]
    webhook_url: Option<String>,
    #[serde(default)]
    form: Option<Value>,
    #[serde(default)]
    escalation: Option<Value>,
}

/// `POST /v1/pauses`: service = `agent_id`, action = `action.type` (else `pause`), payload =
/// the `action` object, deadline = `timeout_hours`; recipients narrow where it is announced
/// (see the module's doc); recipients, form and escalation are kept in the request's context, and `escalation.after_hours` / `escalate_to` become the
/// request's own escalation (`context.escalate_at`, `context.escalate_to`; see
/// [`crate::v1::escalate_due`]).
async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Response> {
    let who = principal(&state, &headers)?;
    let ask: CreatePause = parse(&bytes)?;
    let escalation = match own_escalation(ask.escalation.as_ref()) {
        Ok(e) => e,
        Err(message) => return Err(ApiError::new(Code::InvalidRequest, message)),
    };
    let recipients = recipients(&ask.recipients).map_err(|m| ApiError::new(Code::InvalidRequest, m))?;
    let unmatched = unmatched(&state, &who.project, None, &ask.recipients, &recipients)?;
    let mut context = json!({
        "compat": MARK,
        "recipients": ask.recipients,
        "form": ask.form,
        "escalation": ask.escalation,
        "webhook_url": ask.webhook_url,
    });
    if let (false, Some(obj)) = (unmatched.is_empty(), context.as_object_mut()) {
        obj.insert("recipients_unmatched".into(), Value::Array(unmatched));
    }
    if let (Some((after_secs, to)), Some(obj)) = (escalation, context.as_object_mut()) {
        obj.insert("escalate_at".into(), json!(crate::now().saturating_add(after_secs)));
        if let Some(to) = to {
            obj.insert("escalate_to".into(), json!(to));
        }
    }
    let action = ask.action.get("type").and_then(Value::as_str).unwrap_or("pause").to_string();
    let new = NewRequest {
        service: ask.agent_id,
        action,
        payload: ask.action,
        priority: Priority::default(),
        role: None,
        schema: None,
        timeout_secs: Some(ask.timeout_hours.unwrap_or(24).saturating_mul(3600)),
        context: Some(context),
        id: None,
    };
    let key = idempotency_key(&headers)?;
    let fingerprint = Fingerprint::new("POST", "/compat/looppause/v1/pauses", &bytes)?;
    let (status, text, _) = create_request_for(
        &state,
        &who,
        &new,
        key,
        fingerprint,
        &recipients.into_iter().flatten().collect::<Vec<_>>(),
    )
    .await?;
    let row: RequestRow = serde_json::from_str(&text).map_err(internal)?;
    Ok((status, Json(json!({ "pause_id": row.id, "status": "pending" }))).into_response())
}

/// Most recipients of one pause.
const MAX_RECIPIENTS: usize = 16;
/// Longest recipient `channel` and `target`, in bytes.
const MAX_CHANNEL_NAME: usize = 32;
const MAX_TARGET: usize = 320;

/// Their `recipients` (absent or null: none), each as the channel target it may select (None
/// for one that can select none: another channel kind, a `#name`, a malformed address). 400
/// for anything but a list of at most 16 `{"channel", "target"}` strings.
fn recipients(value: &Value) -> Result<Vec<Option<Recipient>>, String> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) if items.len() <= MAX_RECIPIENTS => items,
        _ => return Err(format!("recipients is a list of at most {MAX_RECIPIENTS} recipients")),
    };
    let text = |item: &Value, name: &str, max: usize| -> Result<String, String> {
        match item.get(name) {
            Some(Value::String(t)) if !t.is_empty() && t.len() <= max && !t.chars().any(char::is_control) => {
                Ok(t.clone())
            }
            _ => Err(format!("a recipient's {name} is a string of 1 to {max} bytes")),
        }
    };
    items
        .iter()
        .map(|item| {
            if !item.as_object().is_some_and(|o| o.keys().all(|k| k == "channel" || k == "target")) {
                return Err("a recipient is {\"channel\", \"target\"}".to_string());
            }
            let (channel, target) =
                (text(item, "channel", MAX_CHANNEL_NAME)?, text(item, "target", MAX_TARGET)?);
            Ok(match channel.as_str() {
                "email" => crate::mail::check_address(&target)
                    .ok()
                    .map(|address| Recipient { kind: ChannelKind::Email, address }),
                "slack" => crate::store::check_slack_channel(&target)
                    .ok()
                    .map(|_| Recipient { kind: ChannelKind::Slack, address: target }),
                _ => None,
            })
        })
        .collect()
}

/// The recipients (as they were sent) that select no channel of `project` hearing `role`
/// now: what `context.recipients_unmatched` lists for the operator.
fn unmatched(
    state: &AppState,
    project: &str,
    role: Option<&str>,
    sent: &Value,
    parsed: &[Option<Recipient>],
) -> ApiResult<Vec<Value>> {
    if parsed.is_empty() {
        return Ok(Vec::new());
    }
    let channels = state.store.channels(project)?;
    let sent = sent.as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(sent
        .iter()
        .zip(parsed)
        .filter(|(_, r)| {
            !r.as_ref()
                .is_some_and(|r| channels.iter().any(|c| c.hears(role) && c.reaches(r.kind, &r.address)))
        })
        .map(|(s, _)| s.clone())
        .collect())
}

/// Longest `escalation.escalate_to`, in bytes (an e-mail address is at most 254).
const MAX_ESCALATE_TO: usize = 320;
/// Longest `escalation.after_hours`: a year.
const MAX_AFTER_HOURS: f64 = 8760.0;

/// Their `escalation.after_hours` (a number of hours, fractions allowed) and `escalate_to`
/// as our request's own escalation: (seconds after creation, rounded up; the target). None
/// without `after_hours`; `escalate_to` alone is kept in the context only.
fn own_escalation(escalation: Option<&Value>) -> Result<Option<(i64, Option<&str>)>, String> {
    let Some(escalation) = escalation.filter(|e| !e.is_null()) else { return Ok(None) };
    let Some(hours) = escalation.get("after_hours").filter(|h| !h.is_null()) else { return Ok(None) };
    let hours = hours
        .as_f64()
        .filter(|h| (0.0..=MAX_AFTER_HOURS).contains(h))
        .ok_or_else(|| format!("escalation.after_hours is a number of hours from 0 to {MAX_AFTER_HOURS}"))?;
    let to = match escalation.get("escalate_to") {
        None | Some(Value::Null) => None,
        Some(Value::String(to))
            if !to.is_empty() && to.len() <= MAX_ESCALATE_TO && !to.chars().any(char::is_control) =>
        {
            Some(to.as_str())
        }
        Some(_) => return Err(format!("escalation.escalate_to is a string of 1 to {MAX_ESCALATE_TO} bytes")),
    };
    // At most a year of seconds: the cast cannot overflow.
    Ok(Some(((hours * 3600.0).ceil() as i64, to)))
}

/// `GET /v1/pauses/{id}`: `pending`; `responded` with the signed proof (`authorization_type:
/// human` only for an operator's signed decision); `timed_out` when the deadline passed —
/// also with `escalation.fallback_action: auto_approve`, which an agent could otherwise use
/// to approve itself; with `auto_reject` it is `responded`, rejected, `authorization_type:
/// system_fallback`.
async fn read(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = crate::v1::authority::readable(&state, &who, &id)?;
    let Some(decision) = row.decision.as_ref() else {
        return Ok(Json(json!({ "pause_id": row.id, "status": "pending" })));
    };
    let decided_at = decision.decided_at;
    // `human` only for an operator's signed decision; anything else decided is handled as a
    // request nobody decided in time.
    let person = crate::v1::authority::decided_by_person(&row);
    let (outcome, authorization, human) = match row.status.as_str() {
        "APPROVED" | "APPROVED_WITH_MODIFICATIONS" if person => ("approved", "human", true),
        "REJECTED" if person => ("rejected", "human", true),
        _ => {
            let fallback = row
                .context
                .as_ref()
                .and_then(|c| c.pointer("/escalation/fallback_action"))
                .and_then(Value::as_str);
            // `auto_approve` would let the agent approve itself by letting its deadline
            // pass: it fails closed as a timeout. Rejecting by default is always allowed.
            match fallback {
                Some("auto_reject") => ("rejected", "system_fallback", false),
                _ => {
                    return Ok(Json(json!({
                        "pause_id": row.id,
                        "status": "timed_out",
                        "timed_out_at": crate::rfc3339(decided_at),
                    })))
                }
            }
        }
    };
    let mut proof = Map::new();
    proof.insert("pause_id".into(), json!(row.id));
    proof.insert("status".into(), json!("responded"));
    proof.insert("decision".into(), json!(outcome));
    proof.insert("authorization_type".into(), json!(authorization));
    proof.insert("human_response".into(), json!(human));
    proof.insert("responder".into(), json!(decision.actor.clone().unwrap_or_default()));
    proof.insert("responded_at".into(), json!(crate::rfc3339(decided_at)));
    proof.insert("channel".into(), json!("handrail"));
    proof.insert("comment".into(), json!(decision.reason));
    proof.insert("fields".into(), decision.patched_payload.clone().unwrap_or(Value::Null));
    // Our own Ed25519 proof travels inside theirs, so it is covered by their HMAC too.
    proof.insert("handrail_proof".into(), json!(decision.proof));
    let secret = secrets::secret(state.store.as_ref(), &row.project, Kind::LoopPauseSigning)?;
    let mut canonical = String::new();
    python_json(&Value::Object(proof.clone()), &mut canonical);
    let signature = hex_encode(hmac_sha256(secret.as_bytes(), &[canonical.as_bytes()]));
    proof.insert("signature".into(), json!(signature));
    Ok(Json(Value::Object(proof)))
}

/// Writes `value` exactly as Python's `json.dumps(value, sort_keys=True, separators=(",",
/// ":"))` does (`ensure_ascii`: every non-ASCII character as `\uXXXX`, surrogate pairs beyond
/// the BMP; floats as `repr`).
fn python_json(value: &Value, out: &mut String) {
    python_dumps(value, true, out);
}

/// Python's compact `json.dumps(value, separators=(",", ":"))`, keys sorted or in the order
/// they came in (`sort_keys=False`).
pub(crate) fn python_dumps(value: &Value, sort: bool, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (None, Some(u), _) => out.push_str(&u.to_string()),
            (None, None, Some(f)) => out.push_str(&python_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => python_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_dumps(item, sort, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Python sorts by code point, which is the byte order of UTF-8.
            let mut keys: Vec<&String> = map.keys().collect();
            if sort {
                keys.sort();
            }
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                python_str(key, out);
                out.push(':');
                python_dumps(&map[key], sort, out);
            }
            out.push('}');
        }
    }
}

fn python_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='\u{7e}' | '\u{7f}' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
        }
    }
    out.push('"');
}

/// Python's `repr(float)`: the shortest round-trip digits, positional when the decimal
/// exponent is in -4..16, else `d.ddde±XX`.
fn python_float(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        // JSON cannot carry these; serde_json never yields them.
        return "null".into();
    }
    let sci = format!("{f:e}"); // e.g. "-1.5e-7", shortest round-trip digits
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let point = exp + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point as usize >= digits.len() {
            format!("{digits}{}.0", "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let (head, tail) = digits.split_at(1);
        let tail = if tail.is_empty() { String::new() } else { format!(".{tail}") };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{head}{tail}e{esign}{:02}", exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(crate::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(crate::rfc3339(1_796_110_129), "2026-12-01T07:28:49Z");
        assert_eq!(crate::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn python_dumps() {
        // Each expected string is what CPython 3 prints for the same value.
        let value = json!({ "b": [1, 1.5, 1e16, 1e-5, 0.0001, -2.0], "a": "é😀\"\n\u{1}/", "é": null });
        let mut out = String::new();
        python_json(&value, &mut out);
        assert_eq!(
            out,
            r#"{"a":"\u00e9\ud83d\ude00\"\n\u0001/","b":[1,1.5,1e+16,1e-05,0.0001,-2.0],"\u00e9":null}"#
        );
    }
}
