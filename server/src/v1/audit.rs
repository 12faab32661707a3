//! The audit log of the caller's project (operators only): its own hash chain, in order, so
//! it can be verified (core `audit::verify`, `verify_after` for later pages) without any
//! other project's entries.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use handrail_core::audit::Entry;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{project_operator, ApiError, ApiResult};
use crate::AppState;

/// Most entries per page.
const MAX_PAGE: usize = 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(audit_log))
}

/// Which page of the audit log.
#[derive(Deserialize, JsonSchema)]
pub(super) struct Page {
    /// The last `seq` already read (0: from the start).
    after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// `{"entries": [...], "next": SEQ | null}`: entries after `after`, in order; `next` is the
/// `after` of the following page, null when this page was the last.
/// A page of the project's audit chain.
#[derive(Serialize, JsonSchema)]
pub(super) struct AuditPage {
    /// Entries after `after`, in order.
    entries: Vec<Entry>,
    /// The `after` of the following page; null when this page was the last.
    next: Option<u64>,
}

async fn audit_log(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: Result<Query<Page>, QueryRejection>,
) -> ApiResult<Json<AuditPage>> {
    let who = project_operator(&state, &headers)?;
    let Query(page) =
        page.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let entries = state.store.audit_page(&who.project, page.after.unwrap_or(0), limit)?;
    let next = (entries.len() == limit).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(Json(AuditPage { entries, next }))
}
