//! Routes that let the published clients of the services Handrail replaces work against
//! `handrail serve` unchanged: each is a thin router under its own prefix that maps onto
//! our own model and store (no second model, no second store). `docs/compat.md` documents
//! every mapping and every known difference.

mod aegis;
mod agent_ledger;
mod letsping;
mod letsping_agents;
mod letsping_signup;
mod looppause;
mod secrets;

use axum::Router;

use crate::AppState;

/// Every compatibility route (merged into the main router before its fallback).
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(letsping::router())
        .merge(letsping_agents::router())
        .merge(letsping_signup::router())
        .merge(looppause::router())
        .merge(aegis::router())
        .merge(agent_ledger::router())
        .merge(secrets::router())
}

pub(crate) use letsping::callback as letsping_callback;
pub(crate) use letsping::delivery as letsping_delivery;
pub(crate) use letsping::signature_header as letsping_signature;
