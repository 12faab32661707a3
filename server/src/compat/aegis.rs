//! AEGIS (PyPI `aegis-idempotency` 0.1.x), under `/compat/aegis`.
//!
//! AEGIS is an exactly-once execution log in which the caller approves or rejects its own
//! action. Handrail lets no caller approve itself: each first `POST
//! /api/v1/hitl/{approve,reject}` under an `Idempotency-Key` opens an ordinary PENDING
//! request of the key's project (service `aegis`, the verb the agent asked for kept in
//! `context.aegis_verb`) and answers 202, AEGIS' "accepted and queued"; an operator decides
//! it like any other, and `GET /api/v1/hitl/status/{id}` shows where it really stands. The
//! tenant is always the project of the bearer key; a `Tenant-Id` header is ignored.

use axum::extract::State;

use crate::v1::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handrail_core::idempotency::{self, Begin, Fingerprint};
use handrail_core::request::{NewRequest, Status};
use serde_json::{json, Value};

use crate::lifecycle::{self, LEASE_SECS};
use crate::store::{Principal, RequestRow};
use crate::v1::Code;
use crate::v1::{blocking, internal, parse, principal, ApiError, ApiResult, Caller};
use crate::{now, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/compat/aegis/api/v1/hitl/approve", post(approve))
        .route("/compat/aegis/api/v1/hitl/reject", post(reject))
        .route("/compat/aegis/api/v1/hitl/status/{id}", get(status))
}

async fn approve(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: crate::v1::Body,
) -> ApiResult<Response> {
    record(&state, &headers, bytes, Status::Approved).await
}

async fn reject(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: crate::v1::Body,
) -> ApiResult<Response> {
    record(&state, &headers, bytes, Status::Rejected).await
}

/// A header as text, required.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> ApiResult<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::new(Code::MissingHeader, format!("{name} is required")))
}

/// Where an AEGIS status stands: the decision is committed exactly once; a request that
/// expired undecided (an operator could also have let one lapse) failed.
fn state_of(status: Status) -> &'static str {
    match status {
        Status::Pending => "PENDING",
        Status::Expired => "FAILED",
        _ => "COMMITTED",
    }
}

/// The answer AEGIS clients read: 202 body and status body alike. `self_declared` is always
/// false: a decision here is an operator's.
fn answer(row: &RequestRow) -> Value {
    let context = row.context.as_ref();
    let decision = row.decision.as_ref();
    json!({
        "request_id": row.id,
        "state": state_of(row.status),
        "status": row.status,
        "thread_id": context.and_then(|c| c.get("thread_id")),
        "idempotency_key": context.and_then(|c| c.get("idempotency_key")),
        "requested": context.and_then(|c| c.get("aegis_verb")),
        "self_declared": false,
        "decided_by": decision.and_then(|d| d.actor.as_deref()),
        "proof": decision.and_then(|d| d.proof.as_deref()),
        "payload": row.payload,
    })
}

/// The first call under a key opens a pending request (202); any later one, whatever its
/// body or its verb, is a duplicate (409) naming the request the first one made.
async fn record(
    state: &AppState,
    headers: &HeaderMap,
    bytes: crate::v1::Body,
    status: Status,
) -> ApiResult<Response> {
    let who = principal(state, headers)?;
    let key = header(headers, "idempotency-key")?;
    let thread = header(headers, "thread-id")?;
    let trace = headers.get("x-request-id").and_then(|v| v.to_str().ok());
    let bytes = bytes.0;
    let payload: Value = if bytes.is_empty() { json!({}) } else { parse(&bytes)? };
    let verb = if status == Status::Approved { "approve" } else { "reject" };
    let action = payload
        .get("action")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty() && a.chars().count() <= 128)
        .unwrap_or(verb)
        .to_string();
    let new: NewRequest = serde_json::from_value(json!({
        "service": "aegis",
        "action": action,
        "payload": payload,
        "context": {
            "compat": "aegis",
            "aegis_verb": verb,
            "thread_id": thread,
            "idempotency_key": key,
            "x_request_id": trace,
        },
    }))
    .map_err(internal)?;
    new.validate()?;
    // One key, one action: the fingerprint leaves the body out, so a retry with another body
    // is a duplicate too, as in AEGIS, never a mismatch.
    let scoped = format!("aegis:{key}");
    let fingerprint = Fingerprint::new("POST", "/compat/aegis/api/v1/hitl", b"{}")?;
    for _ in 0..5 {
        let existing = state.store.execution(&who.project, &scoped)?;
        match idempotency::begin(existing.as_ref(), &scoped, fingerprint, now(), LEASE_SECS)? {
            Begin::Proceed(exec) => {
                let Some((_, created)) =
                    blocking(|| lifecycle::insert(state, &who, &new, Some((exec, existing.as_ref())), &[]))?
                else {
                    continue; // another call won the key: it is a duplicate now
                };
                let row: RequestRow = serde_json::from_str(&created).map_err(internal)?;
                return Ok((StatusCode::ACCEPTED, Json(answer(&row))).into_response());
            }
            Begin::Replay(stored) => return Ok(duplicate(state, &who, Some(&stored.body))),
            Begin::Conflict { .. } | Begin::Mismatch => return Ok(duplicate(state, &who, None)),
        }
    }
    Ok(duplicate(state, &who, None))
}

/// 409, with the first call's request when it is known.
fn duplicate(state: &AppState, who: &Principal, first: Option<&str>) -> Response {
    let row = first
        .and_then(|body| serde_json::from_str::<RequestRow>(body).ok())
        .and_then(|row| crate::v1::authority::readable(state, who, &row.id).ok());
    let mut body = json!({ "detail": "duplicate Idempotency-Key: already processed" });
    if let Some(row) = row {
        body["request_id"] = json!(row.id);
        body["state"] = json!(state_of(row.status));
        body["status"] = json!(row.status);
    }
    (StatusCode::CONFLICT, Json(body)).into_response()
}

/// `GET /api/v1/hitl/status/{id}`: the request by the id a 202 gave, in the key's project.
async fn status(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = crate::v1::authority::readable(&state, &who, &id)?;
    Ok(Json(answer(&row)))
}
