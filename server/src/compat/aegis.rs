//! AEGIS (PyPI `aegis-idempotency` 0.1.x), under `/compat/aegis`.

use axum::Router;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
}
