//! Server-sent events of a project's queue, for live views (operators only).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;

use super::{operator, ApiResult};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/events", get(events))
}

/// Server-sent events: every change of the project's queue (`request.created`,
/// `request.resolved`, `request.expired`, `request.escalated`, with the request as data),
/// for live views.
async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use tokio::sync::broadcast::error::RecvError;
    let who = operator(&state, &headers)?;
    let rx = state.events.subscribe();
    let stream = futures_util::stream::unfold((rx, who.project), |(mut rx, project)| async move {
        loop {
            match rx.recv().await {
                Ok((p, event, data)) if p == project => {
                    return Some((Ok(Event::default().event(event).data(data)), (rx, project)));
                }
                Ok(_) => continue,
                // A slow reader missed some: tell it to reload the queue.
                Err(RecvError::Lagged(_)) => {
                    return Some((Ok(Event::default().event("resync").data("{}")), (rx, project)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
