//! LoopPause (PyPI `looppause` 0.1.0), under `/compat/looppause`.

use axum::Router;

use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
}
