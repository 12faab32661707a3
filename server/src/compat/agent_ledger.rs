//! Agent Ledger (PyPI `agent-ledger-sdk` 0.0.6), under `/compat/agent-ledger`.
//!
//! Its sessions are our sessions (`/v1/sessions`); its events feed the same agent telemetry
//! and firewall profile as `POST /v1/observations` ([`agents::ingest`]): an `llm_call` is an
//! observed read-only call of the tool `llm:PROVIDER/MODEL`, priced from the token counts by
//! [`crate::pricing`]; a `tool_call` is an observed call of its tool; `tool_result` and custom
//! events are counted in the session only. Before anything is recorded, the batch's cost is
//! checked against the agent's daily budget (`PUT /v1/agents/{agent}/budget`): over it, 429
//! with the `details` the client turns into `BudgetGuardrailError`, and nothing is stored.
//! The key travels in `x-api-key`; errors are `{"error": MESSAGE, "code": CODE}`, the shape
//! the client reads its message from.

use axum::extract::State;

use crate::v1::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use handrail_core::encoding::b64url_encode;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::store::{Principal, SessionRow};
use crate::v1::agents::{self, MAX_EVENTS, MAX_NAME};
use crate::v1::sessions::{self, no_session};
use crate::v1::Code;
use crate::v1::{internal, parse, principal, ApiError, ApiResult};
use crate::{now, pricing, random, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/compat/agent-ledger/v1/sessions", post(start))
        .route("/compat/agent-ledger/v1/sessions/{id}/end", post(end))
        .route("/compat/agent-ledger/v1/events", post(events))
}

/// The key's principal: `x-api-key` is checked exactly as a bearer token is.
fn who(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let unauthorized = || ApiError::new(Code::Unauthorized, "a valid x-api-key is required");
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).ok_or_else(unauthorized)?;
    let mut bearer = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {}", key.trim())).map_err(|_| unauthorized())?;
    bearer.insert(header::AUTHORIZATION, value);
    principal(state, &bearer)
}

/// Our error as Agent Ledger's `{"error": MESSAGE}` (plus the stable `code`), same status and
/// headers (`retry-after`).
async fn their_error(e: ApiError) -> Response {
    let (mut parts, body) = e.into_response().into_parts();
    let ours: Value = match axum::body::to_bytes(body, 64 << 10).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let error = &ours["error"];
    let text = json!({ "error": error["message"], "code": error["code"] }).to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    (parts, text).into_response()
}

async fn answer(result: ApiResult<Response>) -> Response {
    match result {
        Ok(r) => r,
        Err(e) => their_error(e).await,
    }
}

/// `POST /v1/sessions` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartBody {
    agent_name: String,
}

fn session_json(row: &SessionRow) -> Value {
    json!({
        "id": row.id,
        "agentName": row.agent,
        "status": row.status,
        "errorMessage": row.error,
        "startedAt": row.started_at,
        "endedAt": row.ended_at,
        "eventCount": row.events,
        "totalCostUsd": row.cost_usd,
    })
}

async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<crate::v1::Body, ApiError>,
) -> Response {
    answer((|| {
        let who = who(&state, &headers)?;
        let ask: StartBody = parse(&bytes?.0)?;
        let row = sessions::start_session(&state, &who, &ask.agent_name)?;
        Ok((StatusCode::CREATED, Json(session_json(&row))).into_response())
    })())
    .await
}

/// `POST /v1/sessions/{id}/end` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EndBody {
    status: String,
    #[serde(default)]
    error_message: Option<String>,
}

async fn end(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Result<crate::v1::Body, ApiError>,
) -> Response {
    answer((|| {
        let who = who(&state, &headers)?;
        let ask: EndBody = parse(&bytes?.0)?;
        let row = sessions::end_session(&state, &who, &id, &ask.status, ask.error_message.as_deref())?;
        Ok(Json(session_json(&row)).into_response())
    })())
    .await
}

/// `POST /v1/events` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsBody {
    session_id: String,
    events: Vec<Value>,
}

fn bad_event(index: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::InvalidEvent, format!("events[{index}]: {message}"))
}

fn text<'a>(event: &'a Value, index: usize, name: &str) -> ApiResult<&'a str> {
    event
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad_event(index, format!("{name} must be a non-empty string")))
}

fn count(event: &Value, index: usize, name: &str) -> ApiResult<u64> {
    match event.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| bad_event(index, format!("{name} must be an integer ≥ 0"))),
    }
}

fn event_id() -> ApiResult<String> {
    Ok(format!("al_{}", b64url_encode(random::<12>().map_err(internal)?)))
}

/// One Agent Ledger event as an observation (None: counted in the session only) and its cost.
fn observation(event: &Value, index: usize, session: &str) -> ApiResult<(Option<Value>, f64)> {
    let kind = text(event, index, "type")?;
    let explicit = match event.get("costUsd") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|c| c.is_finite() && *c >= 0.0)
                .ok_or_else(|| bad_event(index, "costUsd must be a finite number ≥ 0"))?,
        ),
    };
    match kind {
        "llm_call" => {
            let provider = text(event, index, "provider")?;
            let model = text(event, index, "model")?;
            let tokens_in = count(event, index, "tokensIn")?;
            let tokens_out = count(event, index, "tokensOut")?;
            // Unknown models cost nothing unless the event says what it cost (documented).
            let cost =
                explicit.or_else(|| pricing::cost_usd(provider, model, tokens_in, tokens_out)).unwrap_or(0.0);
            let tool: String = format!("llm:{provider}/{model}").chars().take(MAX_NAME).collect();
            // The skeleton learns from keys and types; the prompt and response stay out.
            let args = json!({
                "provider": provider,
                "model": model,
                "tokensIn": tokens_in,
                "tokensOut": tokens_out,
            });
            let obs = json!({
                "id": event_id()?, "session": session, "tool": tool, "args": args,
                "effect": "read", "outcome": "ran", "cost_usd": cost,
            });
            Ok((Some(obs), cost))
        }
        "tool_call" => {
            let tool = text(event, index, "toolName")?;
            let args = match event.get("toolInput") {
                Some(Value::Object(map)) => Value::Object(map.clone()),
                None | Some(Value::Null) => Value::Object(Map::new()),
                Some(other) => json!({ "input": other }),
            };
            let mut obs = json!({ "id": event_id()?, "session": session, "tool": tool, "args": args, "outcome": "ran" });
            if let Some(cost) = explicit {
                obs["cost_usd"] = json!(cost);
            }
            Ok((Some(obs), explicit.unwrap_or(0.0)))
        }
        // Not a call: counted in the session, never priced or charged to the budget.
        _ => Ok((None, 0.0)),
    }
}

/// The 429 Agent Ledger's client turns into `BudgetGuardrailError`.
fn over_budget(agent: &str, limit: f64, spent: f64, attempted: f64) -> Response {
    let body = json!({
        "error": format!("Daily budget exceeded for agent {agent}"),
        "code": "budget_exceeded",
        "details": {
            "agentName": agent,
            "dailyLimitUsd": limit,
            "spentTodayUsd": spent,
            "attemptedCostUsd": attempted,
            "projectedCostUsd": spent + attempted,
            "remainingBudgetUsd": (limit - spent).max(0.0),
        },
    });
    (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response()
}

/// Bodies come as `Result`s: a body refused (too large, unreadable) is answered in their
/// error shape too.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<crate::v1::Body, ApiError>,
) -> Response {
    answer(record(&state, &headers, bytes).await).await
}

/// Checks the whole batch, then the budget, then records it: all of it or nothing.
async fn record(
    state: &AppState,
    headers: &HeaderMap,
    bytes: Result<crate::v1::Body, ApiError>,
) -> ApiResult<Response> {
    let who = who(state, headers)?;
    let ask: EventsBody = parse(&bytes?.0)?;
    if ask.events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            Code::TooManyEvents,
            format!("a batch holds at most {MAX_EVENTS} events, not {}", ask.events.len()),
        ));
    }
    let session = state.store.session(&who.project, &ask.session_id)?.ok_or_else(no_session)?;
    if session.status != "running" {
        return Err(ApiError::new(Code::SessionEnded, "the session has ended"));
    }
    let mut observations = Vec::new();
    let mut attempted = 0.0;
    for (i, event) in ask.events.iter().enumerate() {
        let (obs, cost) = observation(event, i, &session.id)?;
        observations.extend(obs);
        attempted += cost;
    }
    let budget = state.store.budget(&who.project, &session.agent, now().div_euclid(86_400))?;
    if let Some(limit) = budget.daily_usd {
        if budget.spent_usd + attempted > limit {
            return Ok(over_budget(&session.agent, limit, budget.spent_usd, attempted));
        }
    }
    let accepted = if observations.is_empty() {
        0
    } else {
        agents::ingest(state, &who, &session.agent, observations).await?.accepted
    };
    state.store.count_session_events(&who.project, &session.id, ask.events.len() as u64, attempted)?;
    let body = json!({ "sessionId": session.id, "received": ask.events.len(), "observed": accepted, "costUsd": attempted });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
