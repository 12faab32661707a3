//! Grants: standing approvals given with a decision (`POST /v1/requests/{id}/resolve` with
//! `grant`), listed and revoked here (operators only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::Code;
use super::{ApiError, ApiResult, Path, ProjectOperator};
use crate::store::{AuditEvent, Grant};
use crate::{now, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/grants", get(list)).route("/v1/grants/{id}", delete(revoke))
}

/// The project's grants, newest first (revoked and expired ones too, so the record is whole).
#[derive(Serialize, JsonSchema)]
pub(super) struct GrantList {
    grants: Vec<Grant>,
}

/// Most grants one listing returns.
const LISTED: usize = 500;

async fn list(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
) -> ApiResult<Json<GrantList>> {
    Ok(Json(GrantList { grants: state.store.grants(&who.project, LISTED)? }))
}

async fn revoke(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let audit = AuditEvent { at: now(), actor: &who.key_id, event: "grant.revoked", data: json!({}) };
    if state.store.revoke_grant(&who.project, &id, audit)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(Code::NotFound, "no such grant, or it is revoked already"))
    }
}
