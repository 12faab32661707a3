//! LetsPing (PyPI `letsping` 0.3.x), under `/compat/letsping/api`.

use axum::Router;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
}
