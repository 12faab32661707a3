//! Roles of a project and their escalation rules (operators), and the sweep that moves a
//! pending request to the next role when nobody of its role decided in time.

use axum::extract::State;

use super::Path;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Code;
use super::{parse, ApiError, ApiResult, Operator, ProjectOperator};
use crate::store::{AuditEvent, RoleRule};
use crate::{now, AppState};

/// Longest escalation delay: a year.
const MAX_DELAY_SECS: u64 = 365 * 86_400;
/// Longest role name, in bytes.
const MAX_ROLE_LEN: usize = 64;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/roles", post(add_role).get(list_roles))
        .route("/v1/roles/{name}", delete(delete_role))
}

/// The 403 for an operator whose roles do not include the request's.
pub(crate) fn role_required(role: &str) -> ApiError {
    ApiError::new(Code::RoleRequired, format!("this request is for operators with the role {role:?}"))
}

/// Checks a role name: 1 to 64 bytes of `A–Z a–z 0–9 . _ - :`. Bidi controls and other
/// invisible characters are refused first with the core's rule and code
/// (`invisible_character`), as in a request's `role`.
pub(crate) fn check_role_name(name: &str) -> ApiResult<()> {
    handrail_core::request::check_visible("role", name)?;
    let ok = !name.is_empty()
        && name.len() <= MAX_ROLE_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidRole,
            format!("a role name is 1 to {MAX_ROLE_LEN} characters of A-Z a-z 0-9 . _ - :"),
        ))
    }
}

/// A role to add, with its escalation rule if any.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewRole {
    /// The role's name.
    name: String,
    /// Where a pending request of this role moves after `escalate_after_secs`.
    escalate_to: Option<String>,
    /// Seconds in this role before the move (1 to 31536000); only with `escalate_to`.
    escalate_after_secs: Option<u64>,
}

/// The project's roles.
#[derive(Serialize, JsonSchema)]
pub(super) struct RoleList {
    /// By name.
    roles: Vec<RoleRule>,
}

/// Adds a role, optionally with its escalation rule; 409 `role_exists` if it is there
/// (delete it first to change it).
async fn add_role(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<(StatusCode, Json<RoleRule>)> {
    let new: NewRole = parse(&bytes)?;
    check_role_name(&new.name)?;
    let invalid = |m: &str| ApiError::new(Code::InvalidRequest, m);
    match (&new.escalate_to, new.escalate_after_secs) {
        (None, None) => {}
        (Some(to), Some(after)) => {
            check_role_name(to)?;
            if *to == new.name {
                return Err(invalid("a role cannot escalate to itself"));
            }
            if after == 0 || after > MAX_DELAY_SECS {
                return Err(invalid("escalate_after_secs is between 1 and 31536000"));
            }
        }
        _ => return Err(invalid("escalate_to and escalate_after_secs go together")),
    }
    let rule = RoleRule {
        name: new.name,
        escalate_to: new.escalate_to,
        escalate_after_secs: new.escalate_after_secs,
        created_at: now(),
    };
    let audit = AuditEvent {
        at: rule.created_at,
        actor: &who.key_id,
        event: "role.created",
        data: json!({ "escalate_to": rule.escalate_to, "escalate_after_secs": rule.escalate_after_secs }),
    };
    if !state.store.add_role(&who.project, &rule, audit)? {
        return Err(ApiError::new(Code::RoleExists, "the project has this role already"));
    }
    Ok((StatusCode::CREATED, Json(rule)))
}

async fn list_roles(State(state): State<AppState>, Operator(who): Operator) -> ApiResult<Json<RoleList>> {
    Ok(Json(RoleList { roles: state.store.roles(&who.project)? }))
}

/// Removes a role and its rule. Requests restricted to it stay so (and no longer escalate).
async fn delete_role(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let audit = AuditEvent { at: now(), actor: &who.key_id, event: "role.deleted", data: json!({}) };
    if state.store.delete_role(&who.project, &name, audit)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(Code::NotFound, "no such role"))
    }
}
