//! Who may do what: the one table of powers, and the checks every route calls.
//!
//! | power | agent key | operator of some roles | operator of `*` | admin |
//! |---|---|---|---|---|
//! | create requests, park state, post observations (never `trusted`) | yes | yes | yes | yes |
//! | read, wait on, fetch the state of a request | those it created | its roles' and unrestricted ones | all | all |
//! | decide a request | never | its roles' and unrestricted ones | all | all |
//! | the live queue (`/v1/events`) | no | its roles' and unrestricted ones | all | all |
//! | project-wide powers: keys, webhooks, roles, firewall modes, `trusted` history, budgets, compat secrets, the audit log, a request's deliveries | no | no | yes | yes |
//! | projects (create, list all) | no | no | no | yes |
//! | a project's settings (`PATCH /v1/projects/{id}`: its bound on grants) | no | no | its own | any project |
//!
//! A request reaches `APPROVED` only through [`super::requests`]' `resolve`, by an
//! operator allowed to decide it, with a signed proof; the store refuses any other approval
//! ([`crate::store::approving_actor`]), so a route that forgets this table still cannot
//! approve.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::Code;
use super::{not_found, principal, ApiError, ApiResult};
use crate::store::{Principal, RequestFilter, RequestRow, Role, ANY_ROLE};
use crate::AppState;

/// The caller: a valid key of a project, agent or operator (401 `unauthorized`, 429
/// `rate_limited`). As an extractor, checked before the body is read.
pub(crate) struct Caller(pub(crate) Principal);

/// The caller, who must hold an operator token (403 `forbidden` for an agent key).
pub(crate) struct Operator(pub(crate) Principal);

/// The caller, who must hold the project-wide powers (see [`project_operator`]).
pub(crate) struct ProjectOperator(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        principal(state, &parts.headers).map(Caller)
    }
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        operator(state, &parts.headers).map(Operator)
    }
}

impl FromRequestParts<AppState> for ProjectOperator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        project_operator(state, &parts.headers).map(ProjectOperator)
    }
}

/// The caller, who must hold an operator token.
pub(crate) fn operator(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let who = principal(state, headers)?;
    if who.role != Role::Operator {
        return Err(ApiError::new(Code::Forbidden, "this needs an operator token"));
    }
    Ok(who)
}

/// Whether `who` holds the project-wide powers: an operator of every role (`*`).
pub(crate) fn is_project_operator(who: &Principal) -> bool {
    who.role == Role::Operator && who.roles.iter().any(|r| r == ANY_ROLE)
}

/// The caller, who must hold the project-wide powers (an operator token of role `*`): 403
/// `forbidden` for an agent key, 403 `all_roles_required` for a role-limited operator.
pub(crate) fn project_operator(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let who = operator(state, headers)?;
    if !is_project_operator(&who) {
        return Err(all_roles_required());
    }
    Ok(who)
}

/// 403 `all_roles_required`.
pub(crate) fn all_roles_required() -> ApiError {
    ApiError::new(
        Code::AllRolesRequired,
        "this changes the whole project: it needs an operator token of role \"*\"",
    )
}

/// Whether `who` may read `row` (and wait on it, and fetch its state).
pub(crate) fn may_read(who: &Principal, row: &RequestRow) -> bool {
    match who.role {
        Role::Agent => row.created_by.as_deref() == Some(who.key_id.as_str()),
        Role::Operator => who.may_decide(row.role.as_deref()),
    }
}

/// Request `id` of the caller's project if the caller may read it; 404 `not_found` otherwise
/// (whether it exists elsewhere is not the caller's to learn).
pub(crate) fn readable(state: &AppState, who: &Principal, id: &str) -> ApiResult<RequestRow> {
    // No request has an id of another form: such an id is not looked up at all.
    if handrail_core::request::check_id(id).is_err() {
        return Err(not_found());
    }
    match state.store.request(&who.project, id)? {
        Some(row) if may_read(who, &row) => Ok(row),
        _ => Err(not_found()),
    }
}

/// A listing's filter narrowed to what `who` may read.
pub(crate) fn list_filter<'a>(who: &'a Principal, mut filter: RequestFilter<'a>) -> RequestFilter<'a> {
    match who.role {
        Role::Agent => filter.created_by = Some(&who.key_id),
        Role::Operator if !is_project_operator(who) => filter.readable_roles = Some(&who.roles),
        Role::Operator => {}
    }
    filter
}

/// Whether `row`'s decision is a person's: it carries a decision proof and names an
/// operator key (not `system`, not a self-declaration stored by an earlier version). What a
/// compatibility view may call a human decision.
pub(crate) fn decided_by_person(row: &RequestRow) -> bool {
    let Some(decision) = row.decision.as_ref() else { return false };
    let proof = decision.proof.as_deref().is_some_and(|p| !p.is_empty());
    proof && decision.actor.as_deref().is_some_and(crate::store::is_person)
}
