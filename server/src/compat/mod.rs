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

/// The delivery hooks of the layers that shape their requests' deliveries (see
/// [`crate::webhooks::DeliveryHook`]).
pub(crate) fn delivery_hooks() -> Vec<std::sync::Arc<dyn crate::webhooks::DeliveryHook>> {
    vec![std::sync::Arc::new(letsping::Deliveries)]
}
