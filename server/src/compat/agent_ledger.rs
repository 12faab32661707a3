//! Agent Ledger (PyPI `agent-ledger-sdk`), under `/compat/agent-ledger`.

use axum::Router;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
}
