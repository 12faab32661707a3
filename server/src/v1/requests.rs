//! Requests: create with `Idempotency-Key`, read, list, wait by long-poll, resolve; and
//! the deadline sweep that expires what nobody decided.

use std::time::Duration;

use axum::extract::State;

use super::{Path, Query};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handrail_core::idempotency::Fingerprint;
use handrail_core::request::{Decision, NewRequest, RequestSummary, Status};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::authority;
use super::Code;
use super::{blocking, not_found, parse, principal, ApiError, ApiResult, Caller, MAX_WAIT_SECS};
use crate::lifecycle::{create_request, decide};
use crate::limits::Metrics;
use crate::limits::Open;
use crate::store::{RequestFilter, RequestRow, Role};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/requests", post(create).get(list))
        .route("/v1/requests/{id}", get(read))
        .route("/v1/requests/{id}/wait", get(wait))
        .route("/v1/requests/{id}/resolve", post(resolve))
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Response> {
    let who = principal(&state, &headers)?;
    let new: NewRequest = parse(&bytes)?;
    let key = idempotency_key(&headers)?;
    let fingerprint = Fingerprint::new("POST", "/v1/requests", &bytes)?;
    let (status, body, replayed) = create_request(&state, &who, &new, key, fingerprint).await?;
    let mut response = (status, [("content-type", "application/json")], body).into_response();
    if replayed {
        response.headers_mut().insert("idempotent-replayed", axum::http::HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The `Idempotency-Key` header, if one was sent (ASCII only).
pub(crate) fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<&str>> {
    headers
        .get("idempotency-key")
        .map(|key| {
            key.to_str().map_err(|_| ApiError::new(Code::IdempotencyKey, "Idempotency-Key must be ASCII"))
        })
        .transpose()
}

async fn read(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = authority::readable(&state, &who, &id)?;
    Ok(Json(super::snapshots::with_snapshot(&state, &row)?))
}

/// `GET /v1/requests` query.
#[derive(Deserialize, JsonSchema)]
pub(super) struct ListQuery {
    /// Only the requests with this status.
    #[schemars(with = "Option<Status>")]
    status: Option<String>,
    /// Only requests restricted to this role.
    role: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<usize>,
    /// `full` (default): the rows as stored; `summary`: what a queue shows, without payloads,
    /// schemas, context or decisions (a queue of a thousand large payloads stays small).
    #[schemars(extend("enum" = ["full", "summary"]))]
    view: Option<String>,
}

/// A page of requests: full rows, or with `view=summary`, summaries.
#[derive(Serialize, JsonSchema)]
#[serde(untagged)]
pub(super) enum RequestList {
    /// Newest first.
    Full {
        /// Newest first.
        requests: Vec<RequestRow>,
    },
    /// Newest first.
    Summary {
        /// Newest first.
        requests: Vec<RequestSummary>,
    },
}

async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<RequestList>> {
    let status = q.status.map(|s| s.parse::<Status>().map(|s| s.as_str())).transpose()?;
    let summary = match q.view.as_deref() {
        None | Some("full") => false,
        Some("summary") => true,
        Some(_) => return Err(ApiError::new(Code::InvalidQuery, "view is full or summary")),
    };
    let filter = RequestFilter {
        status,
        role: q.role.as_deref(),
        limit: q.limit.unwrap_or(100).min(1000),
        ..RequestFilter::default()
    };
    let filter = authority::list_filter(&who, filter);
    Ok(Json(if summary {
        RequestList::Summary { requests: blocking(|| state.store.list_summaries(&who.project, &filter))? }
    } else {
        RequestList::Full { requests: blocking(|| state.store.list(&who.project, &filter))? }
    }))
}

/// `GET /v1/requests/{id}/wait` query.
#[derive(Deserialize, JsonSchema)]
pub(super) struct WaitQuery {
    /// Seconds to wait for a decision (default 30, at most 60).
    timeout: Option<u64>,
}

/// Long-poll: answers as soon as the request is decided, or with it still pending after
/// `timeout` seconds (at most 60). A key holds at most `HANDRAIL_MAX_WAITS_PER_KEY` at once
/// (429 beyond); a revoked key's long-polls end at once with 401.
async fn wait(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Json<Value>> {
    // Readable first: no waiter is registered for an id the caller cannot see.
    let row = authority::readable(&state, &who, &id)?;
    if row.status != Status::Pending {
        return Ok(Json(super::snapshots::with_snapshot(&state, &row)?));
    }
    let _slot = state.open.open(&who.key_id, Open::Wait).ok_or_else(|| too_many_open("long-polls"))?;
    // Subscribe before reading again, so a decision between the two is not missed.
    let mut rx = state.subscribe(&id);
    let mut revocations = state.revocations();
    let row = authority::readable(&state, &who, &id)?;
    if row.status == Status::Pending {
        let timeout = tokio::time::sleep(Duration::from_secs(q.timeout.unwrap_or(30).min(MAX_WAIT_SECS)));
        tokio::pin!(timeout);
        let held = Metrics::hold(&state.metrics.waiters);
        loop {
            tokio::select! {
                _ = &mut timeout => break,
                _ = rx.decided() => break,
                changed = revocations.changed() => {
                    if changed.is_err() || !state.still_valid(&who) {
                        return Err(super::unauthorized());
                    }
                }
            }
        }
        drop(held);
    }
    let row = authority::readable(&state, &who, &id)?;
    Ok(Json(super::snapshots::with_snapshot(&state, &row)?))
}

/// 429 `too_many_open`: the key holds its cap of `what` already.
pub(crate) fn too_many_open(what: &str) -> ApiError {
    ApiError::new(Code::TooManyOpen, format!("this key holds as many open {what} as it may; close one first"))
}

/// A person's decision on a pending request.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Resolve {
    /// `approve` or `reject`.
    #[schemars(extend("enum" = ["approve", "reject"]))]
    decision: String,
    /// With `approve`: the edited payload, checked against the request's schema.
    payload: Option<Value>,
    /// Why (shown to the agent).
    reason: Option<String>,
    /// With a plain `approve`: approve this agent's later requests for the same tool (service
    /// and action, same role) too, for `for_secs`, and only in this request's
    /// `context.thread` with `thread`. Revocable (`DELETE /v1/grants/{id}`).
    grant: Option<crate::lifecycle::GrantAsk>,
}

async fn resolve(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<Decision>> {
    if who.role != Role::Operator {
        return Err(ApiError::new(Code::Forbidden, "agent keys cannot decide requests"));
    }
    let ask: Resolve = parse(&bytes)?;
    let row = state.store.request(&who.project, &id)?.ok_or_else(not_found)?;
    if !who.may_decide(row.role.as_deref()) {
        return Err(super::roles::role_required(row.role.as_deref().unwrap_or_default()));
    }
    if row.status != Status::Pending {
        return Err(ApiError::new(Code::AlreadyDecided, format!("the request is {}", row.status)));
    }
    if crate::now() >= row.expires_at {
        // Fail closed at decision time, whatever the expiry sweep's backlog: it expires now.
        blocking(|| crate::lifecycle::expire(&state, &row))?;
        return Err(ApiError::new(Code::Expired, "the request's deadline passed: it has expired"));
    }
    let (status, patched, diff) = crate::lifecycle::judge(&row, &ask.decision, ask.payload)?;
    let grant = match &ask.grant {
        Some(grant) if status == Status::Approved => {
            Some(crate::lifecycle::grant_for(&state, &row, &who, grant)?)
        }
        Some(_) => return Err(ApiError::new(
            Code::InvalidRequest,
            "a grant comes with a plain approval: it approves the tool as asked, not an edit or a rejection",
        )),
        None => None,
    };
    let ruling = crate::lifecycle::Ruling {
        patched,
        diff,
        reason: ask.reason,
        grant: grant.as_ref().map(|g| g.id.clone()),
        ..crate::lifecycle::Ruling::plain(status, &who.key_id)
    };
    let decision = blocking(|| decide(&state, &row, ruling))?;
    if let Some(grant) = grant {
        blocking(|| crate::lifecycle::give_grant(&state, &row.project, &grant))?;
    }
    Ok(Json(decision))
}
