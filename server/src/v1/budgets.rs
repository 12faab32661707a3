//! Budgets: an agent's daily limit in USD, set by an operator, against what it spent today.
//!
//! Spend is counted per UTC day of the server's clock from every observation's `cost_usd`
//! (`POST /v1/observations`, and the priced events of the compatibility layers, which go
//! through the same path). Checking a call's projected cost against the budget before it
//! runs is the guard's job (`Policy::daily_budget_usd`, or a layer's 429): this module stores
//! the limit and reports the spend.

use axum::extract::State;

use super::Path;
use axum::routing::get;
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use super::agents::{agent_name, budget_view, invalid_agent, BudgetView};
use super::Code;
use super::{parse, ApiError, ApiResult, Caller, ProjectOperator};
use crate::store::AuditEvent;
use crate::{now, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/agents/{agent}/budget", get(read_budget).put(set_budget))
}

/// The budget to set.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewBudget {
    /// The daily limit in USD (finite, ≥ 0); null removes the limit.
    daily_usd: Option<f64>,
}

/// `PUT /v1/agents/{agent}/budget` (operators): sets or clears the daily limit, audited. The
/// agent need not have been observed yet.
async fn set_budget(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(agent): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<BudgetView>> {
    let new: NewBudget = parse(&bytes)?;
    if !agent_name(&agent) {
        return Err(invalid_agent());
    }
    if let Some(usd) = new.daily_usd.filter(|u| !u.is_finite() || *u < 0.0) {
        return Err(ApiError::new(
            Code::InvalidBudget,
            format!("daily_usd must be a finite number ≥ 0, not {usd}"),
        ));
    }
    let audit = AuditEvent {
        at: now(),
        actor: &who.key_id,
        event: "agent.budget",
        data: json!({ "agent": agent, "daily_usd": new.daily_usd }),
    };
    state.store.set_budget(&who.project, &agent, new.daily_usd, audit)?;
    Ok(Json(budget_view(&state, &who.project, &agent)?))
}

/// `GET /v1/agents/{agent}/budget`: the limit and today's spend (a guard reads it before a call).
async fn read_budget(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> ApiResult<Json<BudgetView>> {
    if !agent_name(&agent) {
        return Err(invalid_agent());
    }
    Ok(Json(budget_view(&state, &who.project, &agent)?))
}
