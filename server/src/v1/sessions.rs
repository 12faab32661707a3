//! Sessions: one run of an agent, from start to end, with its event count and cost.

use axum::extract::State;

use super::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use handrail_core::encoding::b64url_encode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::agents::{agent_name, invalid_agent};
use super::Code;
use super::{internal, parse, ApiError, ApiResult, Caller};
use crate::store::{AuditEvent, Principal, SessionRow};
use crate::{now, random, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/agents/{agent}/sessions", get(list))
        .route("/v1/sessions", post(start))
        .route("/v1/sessions/{id}", get(read))
        .route("/v1/sessions/{id}/end", post(end))
}

/// A session to start.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSession {
    /// The agent it runs (1–128 characters of `A–Z a–z 0–9 . _ - : @`).
    agent: String,
}

/// Starts a session of `agent` (its id is new): the row stored.
pub(crate) fn start_session(state: &AppState, who: &Principal, agent: &str) -> ApiResult<SessionRow> {
    if !agent_name(agent) {
        return Err(invalid_agent());
    }
    let row = SessionRow {
        id: format!("ses_{}", b64url_encode(random::<12>().map_err(internal)?)),
        agent: agent.to_string(),
        status: "running".into(),
        error: None,
        started_at: now(),
        ended_at: None,
        events: 0,
        cost_usd: 0.0,
    };
    let audit = AuditEvent {
        at: row.started_at,
        actor: &who.key_id,
        event: "session.started",
        data: json!({ "agent": agent }),
    };
    state.store.start_session(&who.project, &row, audit)?;
    Ok(row)
}

/// Ends a running session with `success` or `error`: the row as stored.
pub(crate) fn end_session(
    state: &AppState,
    who: &Principal,
    id: &str,
    status: &str,
    error: Option<&str>,
) -> ApiResult<SessionRow> {
    if status != "success" && status != "error" {
        return Err(ApiError::new(Code::InvalidStatus, "status is success or error"));
    }
    let error = error.map(|e| e.chars().take(4096).collect::<String>());
    if !state.store.end_session(&who.project, id, status, error.as_deref(), now())? {
        return Err(match state.store.session(&who.project, id)? {
            Some(_) => ApiError::new(Code::SessionEnded, "the session has ended"),
            None => no_session(),
        });
    }
    state.store.session(&who.project, id)?.ok_or_else(no_session)
}

pub(crate) fn no_session() -> ApiError {
    ApiError::new(Code::NotFound, "no such session")
}

/// `POST /v1/sessions`: starts a session.
async fn start(
    State(state): State<AppState>,
    Caller(who): Caller,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Response> {
    let new: NewSession = parse(&bytes)?;
    let row = start_session(&state, &who, &new.agent)?;
    Ok((StatusCode::CREATED, Json(row)).into_response())
}

/// How a session ended.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EndSession {
    /// `success` or `error`.
    #[schemars(extend("enum" = ["success", "error"]))]
    status: String,
    /// What went wrong (with `error`), at most 4096 characters kept.
    #[serde(default)]
    error: Option<String>,
}

/// `POST /v1/sessions/{id}/end`: ends a running session.
async fn end(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<SessionRow>> {
    let ask: EndSession = parse(&bytes)?;
    Ok(Json(end_session(&state, &who, &id, &ask.status, ask.error.as_deref())?))
}

/// `GET /v1/sessions/{id}`.
async fn read(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionRow>> {
    Ok(Json(state.store.session(&who.project, &id)?.ok_or_else(no_session)?))
}

/// `GET /v1/agents/{agent}/sessions` query.
#[derive(Deserialize, JsonSchema)]
pub(super) struct SessionQuery {
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<usize>,
}

/// An agent's sessions.
#[derive(Serialize, JsonSchema)]
pub(super) struct SessionList {
    /// Newest first.
    sessions: Vec<SessionRow>,
}

/// `GET /v1/agents/{agent}/sessions`: newest first.
async fn list(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    Query(q): Query<SessionQuery>,
) -> ApiResult<Json<SessionList>> {
    if !agent_name(&agent) {
        return Err(invalid_agent());
    }
    let sessions = state.store.sessions(&who.project, &agent, q.limit.unwrap_or(100).min(1000))?;
    Ok(Json(SessionList { sessions }))
}
