//! API v1: requests (create with `Idempotency-Key`, read, wait by long-poll, list, resolve)
//! and the proof keys. Errors are always `{"error": {"code", "message"}}` and never carry
//! internals.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handrail_core::envelope::is_envelope;
use handrail_core::idempotency::{self, Begin, Fingerprint, Stored};
use handrail_core::proof::{self, Claims};
use handrail_core::request::{self, Decision, NewRequest, Status};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::limits::Metrics;
use crate::store::{AuditEvent, Claim, Principal, RequestRow, Role, StoreError};
use crate::{now, random, token_hash, AppState};

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 1 << 20;
/// Longest long-poll, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;
/// Default deadline of a request without `timeout_secs`: a day.
pub const DEFAULT_TIMEOUT_SECS: u64 = 86_400;
/// How long an in-flight idempotent create holds its key before another may take over.
const LEASE_SECS: i64 = 30;
/// How long a decision proof stays valid.
const PROOF_LIFETIME_SECS: i64 = 365 * 86_400;

/// The v1 routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(|State(state): State<AppState>| async move { state.metrics.render() }))
        .route("/v1/keys/proof", get(proof_keys))
        .route("/v1/requests", post(create).get(list))
        .route("/v1/requests/{id}", get(read))
        .route("/v1/requests/{id}/wait", get(wait))
        .route("/v1/requests/{id}/resolve", post(resolve))
        .route("/v1/events", get(events))
        .route("/v1/keys", post(add_key).get(list_keys))
        .route("/v1/webhooks", post(add_webhook).get(list_webhooks))
        .route("/v1/webhooks/{id}/deliveries", get(deliveries))
        .route("/v1/deliveries/{id}/redeliver", post(redeliver))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// An API error: status, stable code, message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": { "code": self.code, "message": self.message } }));
        match self.retry_after {
            Some(secs) => (self.status, [("retry-after", secs.to_string())], body).into_response(),
            None => (self.status, body).into_response(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        eprintln!("storage error: {}", e.0);
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }
}

impl From<handrail_core::Error> for ApiError {
    fn from(e: handrail_core::Error) -> Self {
        let status = match e.code() {
            "edit_invalid" | "schema_invalid" => StatusCode::UNPROCESSABLE_ENTITY,
            "too_large" => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError { status, code: e.code(), message: e.to_string(), retry_after: None }
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn principal(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let unauthorized =
        || ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid bearer token is required");
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let who = state.store.principal(&token_hash(token.trim()))?.ok_or_else(unauthorized)?;
    if let Err(retry_after) = state.limiter.take(&who.key_id) {
        Metrics::add(&state.metrics.rate_limited, 1);
        return Err(ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests for this key")
        });
    }
    Ok(who)
}

fn body(bytes: Result<Bytes, BytesRejection>) -> ApiResult<Bytes> {
    bytes.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("bodies are limited to {MAX_BODY} bytes"),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_body", "the request body could not be read")
        }
    })
}

/// Parses a JSON body strictly (the core's parser names the problem), then into `T`.
fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> ApiResult<T> {
    handrail_core::canonical::canonicalize(bytes)?;
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such request")
}

async fn proof_keys(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "keys": [state.signer.public_jwk()] }))
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let who = principal(&state, &headers)?;
    let bytes = body(bytes)?;
    let new: NewRequest = parse(&bytes)?;
    new.validate()?;
    let Some(key) = headers.get("idempotency-key") else {
        let (status, body) =
            insert(&state, &who, &new, None)?.ok_or_else(|| internal("unclaimed insert refused"))?;
        return Ok((status, [("content-type", "application/json")], body).into_response());
    };
    let key = key.to_str().map_err(|_| {
        ApiError::new(StatusCode::BAD_REQUEST, "idempotency_key", "Idempotency-Key must be ASCII")
    })?;
    let fingerprint = Fingerprint::new("POST", "/v1/requests", &bytes)?;
    // A few rounds at most: each lost race re-reads what the winner stored.
    for _ in 0..5 {
        let existing = state.store.execution(&who.project, key)?;
        match idempotency::begin(existing.as_ref(), key, fingerprint, now(), LEASE_SECS)? {
            Begin::Proceed(exec) => match insert(&state, &who, &new, Some((exec, existing.as_ref())))? {
                Some((status, body)) => {
                    return Ok((status, [("content-type", "application/json")], body).into_response())
                }
                None => continue, // another create won the key: read what it stored
            },
            Begin::Replay(stored) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                return Ok((
                    status,
                    [("content-type", "application/json"), ("idempotent-replayed", "true")],
                    stored.body,
                )
                    .into_response());
            }
            Begin::Conflict { .. } => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                // Most in-flight creates finish within milliseconds; answer 409 only if not.
                let again = state.store.execution(&who.project, key)?;
                if let Some(Begin::Replay(_)) = again
                    .as_ref()
                    .map(|e| idempotency::begin(Some(e), key, fingerprint, now(), LEASE_SECS))
                    .transpose()?
                {
                    continue;
                }
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_conflict",
                    "a request with this key is in flight",
                ));
            }
            Begin::Mismatch => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_mismatch",
                    "this Idempotency-Key was used with another request body",
                ))
            }
        }
    }
    Err(ApiError::new(StatusCode::CONFLICT, "idempotency_conflict", "a request with this key is in flight"))
}

/// Stores a new request; with an idempotent execution, claims its key and commits it in the
/// same transaction. None when another create claimed the key first.
fn insert(
    state: &AppState,
    who: &Principal,
    new: &NewRequest,
    exec: Option<(idempotency::Execution, Option<&idempotency::Execution>)>,
) -> ApiResult<Option<(StatusCode, String)>> {
    let new = new.clone();
    let created_at = now();
    let id = format!("req_{}", handrail_core::encoding::b64url_encode(random::<12>().map_err(internal)?));
    let timeout = new.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).min(365 * 86_400);
    let row = RequestRow {
        id,
        project: who.project.clone(),
        service: new.service,
        action: new.action,
        payload: new.payload,
        priority: new.priority.as_str().to_string(),
        role: new.role,
        schema: new.schema,
        context: new.context,
        status: Status::Pending.as_str().to_string(),
        created_at,
        expires_at: created_at + timeout as i64,
        decision: None,
    };
    let body = serde_json::to_string(&row).map_err(internal)?;
    let committed = match exec {
        Some((pending, previous)) => {
            Some((pending.commit(Stored { status: 201, body: body.clone() }, created_at)?, previous))
        }
        None => None,
    };
    let claim = committed.as_ref().map(|(committed, previous)| Claim { committed, previous: *previous });
    let audit = AuditEvent {
        at: created_at,
        actor: &who.key_id,
        event: "request.created",
        data: json!({ "service": row.service, "action": row.action, "priority": row.priority }),
    };
    if !state.store.insert_request(&row, claim, audit)? {
        return Ok(None);
    }
    Metrics::add(&state.metrics.requests_created, 1);
    let _ = state.events.send((row.project.clone(), "request.created", body.clone()));
    Ok(Some((StatusCode::CREATED, body)))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    eprintln!("internal error: {e}");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
}

async fn read(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestRow>> {
    let who = principal(&state, &headers)?;
    Ok(Json(state.store.request(&who.project, &id)?.ok_or_else(not_found)?))
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let who = principal(&state, &headers)?;
    let status = q.status.map(|s| s.parse::<Status>().map(|s| s.as_str())).transpose()?;
    let rows = state.store.list(&who.project, status, q.limit.unwrap_or(100).min(1000))?;
    Ok(Json(json!({ "requests": rows })))
}

#[derive(Deserialize)]
struct WaitQuery {
    timeout: Option<u64>,
}

/// Long-poll: answers as soon as the request is decided, or with it still pending after
/// `timeout` seconds (at most 60).
async fn wait(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<WaitQuery>,
) -> ApiResult<Json<RequestRow>> {
    let who = principal(&state, &headers)?;
    // Subscribe before reading, so a decision between the two is not missed.
    let mut rx = state.subscribe(&id);
    let row = state.store.request(&who.project, &id)?.ok_or_else(not_found)?;
    if row.status != Status::Pending.as_str() {
        return Ok(Json(row));
    }
    let timeout = Duration::from_secs(q.timeout.unwrap_or(30).min(MAX_WAIT_SECS));
    let held = Metrics::hold(&state.metrics.waiters);
    let _ = tokio::time::timeout(timeout, rx.changed()).await;
    drop(held);
    Ok(Json(state.store.request(&who.project, &id)?.ok_or_else(not_found)?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resolve {
    decision: String,
    payload: Option<Value>,
    reason: Option<String>,
}

async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let who = principal(&state, &headers)?;
    if who.role != Role::Operator {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "agent keys cannot decide requests"));
    }
    let ask: Resolve = parse(&body(bytes)?)?;
    let row = state.store.request(&who.project, &id)?.ok_or_else(not_found)?;
    if row.status != Status::Pending.as_str() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_decided",
            format!("the request is {}", row.status),
        ));
    }
    let (status, patched, diff) = match ask.decision.as_str() {
        "approve" => match ask.payload {
            Some(edited) => {
                let schema = row.schema.as_ref().filter(|_| !is_envelope(&edited));
                let diff = request::review_edit(&row.payload, &edited, schema)?;
                if diff.is_empty() {
                    (Status::Approved, None, None)
                } else {
                    (Status::ApprovedWithModifications, Some(edited), Some(diff))
                }
            }
            None => (Status::Approved, None, None),
        },
        "reject" => (Status::Rejected, None, None),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "decision is approve or reject",
            ))
        }
    };
    let decision = decide(&state, &row, status, &who.key_id, patched, diff, ask.reason)?;
    Ok(Json(decision))
}

/// Signs and stores a decision, then wakes the waiters.
fn decide(
    state: &AppState,
    row: &RequestRow,
    status: Status,
    actor: &str,
    patched: Option<Value>,
    diff: Option<request::Diff>,
    reason: Option<String>,
) -> ApiResult<Value> {
    let decided_at = now();
    let requested =
        json!({ "service": row.service, "action": row.action, "payload": row.payload }).to_string();
    let claims = Claims {
        rid: row.id.clone(),
        req: proof::digest(&requested)?,
        dec: status.as_str().to_string(),
        act: actor.to_string(),
        pat: patched.as_ref().map(|p| proof::digest(p.to_string())).transpose()?,
        iat: decided_at,
        exp: decided_at + PROOF_LIFETIME_SECS,
        jti: proof::new_jti()?,
    };
    let decision = Decision {
        request_id: row.id.clone(),
        status,
        payload: status.allows_action().then(|| patched.clone().unwrap_or_else(|| row.payload.clone())),
        patched_payload: patched,
        diff,
        actor: Some(actor.to_string()),
        reason,
        decided_at,
        proof: Some(state.signer.sign(&claims)?),
    };
    let value = serde_json::to_value(&decision).map_err(internal)?;
    let event = if status == Status::Expired { "request.expired" } else { "request.resolved" };
    let audit = AuditEvent {
        at: decided_at,
        actor,
        event,
        data: json!({ "status": status.as_str(), "diff": decision.diff.as_ref().map(|d| &d.summary) }),
    };
    if !state.store.decide(&row.project, &row.id, status.as_str(), &value, audit)? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_decided",
            "the request was decided meanwhile",
        ));
    }
    state.notify(&row.id);
    if let Ok(Some(updated)) = state.store.request(&row.project, &row.id) {
        if let Ok(text) = serde_json::to_string(&updated) {
            let _ = state.events.send((row.project.clone(), event, text));
        }
    }
    let counter = if status == Status::Expired {
        &state.metrics.requests_expired
    } else {
        &state.metrics.requests_decided
    };
    Metrics::add(counter, 1);
    Ok(value)
}

/// Expires every overdue pending request: EXPIRED, signed by `system`, waiters woken.
pub fn expire_due(state: &AppState, now: i64) -> Result<usize, String> {
    let due = state.store.due(now, 500).map_err(|e| e.0)?;
    let mut n = 0;
    for row in due {
        match decide(
            state,
            &row,
            Status::Expired,
            "system",
            None,
            None,
            Some("no decision before the deadline".into()),
        ) {
            Ok(_) => n += 1,
            Err(e) if e.code == "already_decided" => {}
            Err(e) => return Err(e.message),
        }
    }
    Ok(n)
}

fn operator(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let who = principal(state, headers)?;
    if who.role != Role::Operator {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "this needs an operator token"));
    }
    Ok(who)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
}

/// Adds an endpoint; the answer carries its `whsec_` secret, shown this once.
async fn add_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = operator(&state, &headers)?;
    let new: NewWebhook = parse(&body(bytes)?)?;
    if !(new.url.starts_with("http://") || new.url.starts_with("https://")) || new.url.len() > 2048 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_url",
            "an http(s) URL of at most 2048 bytes",
        ));
    }
    let id = format!("wh_{}", handrail_core::encoding::b64url_encode(random::<9>().map_err(internal)?));
    let secret = handrail_core::webhook::Secret::generate_hmac()?.export();
    state.store.add_webhook(&id, &who.project, &new.url, &secret, now())?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id, "url": new.url, "secret": secret }))))
}

async fn list_webhooks(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = operator(&state, &headers)?;
    Ok(Json(json!({ "webhooks": state.store.webhooks(&who.project)? })))
}

async fn deliveries(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let who = operator(&state, &headers)?;
    Ok(Json(json!({ "deliveries": state.store.deliveries(&who.project, &id, 200)? })))
}

async fn redeliver(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let who = operator(&state, &headers)?;
    if state.store.redeliver(&who.project, &id, crate::now_ms())? {
        Ok(StatusCode::ACCEPTED)
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such delivery"))
    }
}

/// Server-sent events: every change of the project's queue (`request.created`,
/// `request.resolved`, `request.expired`, with the request as data), for live views.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let who = operator(&state, &headers)?;
    let rx = state.events.subscribe();
    let stream = futures_util::stream::unfold((rx, who.project), |(mut rx, project)| async move {
        loop {
            match rx.recv().await {
                Ok((p, event, data)) if p == project => {
                    return Some((Ok(Event::default().event(event).data(data)), (rx, project)));
                }
                Ok(_) => continue,
                // A slow reader missed some: tell it to reload the queue.
                Err(RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("resync").data("{}")), (rx, project)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    role: Role,
}

/// Creates an agent key or operator token in the caller's project; the token is shown once.
async fn add_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = operator(&state, &headers)?;
    let new: NewKey = parse(&body(bytes)?)?;
    let (key_id, token) =
        crate::new_key(state.store.as_ref(), &who.project, new.role, now()).map_err(internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "key_id": key_id, "role": new.role, "token": token }))))
}

async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = operator(&state, &headers)?;
    let keys: Vec<Value> = state
        .store
        .keys(&who.project)?
        .into_iter()
        .map(|(key_id, role, created_at)| json!({ "key_id": key_id, "role": role, "created_at": created_at }))
        .collect();
    Ok(Json(json!({ "keys": keys })))
}
