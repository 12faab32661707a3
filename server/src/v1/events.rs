//! Server-sent events of a project's queue, for live views (operators only).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::Router;

use super::{operator, ApiResult};
use crate::limits::{Open, OpenSlot};
use crate::store::Principal;
use crate::{AppState, QueueEvent};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/events", get(events))
}

/// A large request as the store holds it now, as JSON, read off the runtime's workers.
async fn stored(state: &AppState, project: &str, id: &str) -> Option<String> {
    let (state, project, id) = (state.clone(), project.to_string(), id.to_string());
    let row = tokio::task::spawn_blocking(move || state.store.request(&project, &id)).await.ok()?.ok()??;
    serde_json::to_string(&row).ok()
}

/// How often an open stream checks that its key still exists, besides on every revocation
/// this process makes (another replica's revocation is seen within this).
const RECHECK: Duration = Duration::from_secs(1);

/// What one open stream holds.
struct Listener {
    state: AppState,
    who: Principal,
    rx: tokio::sync::broadcast::Receiver<Arc<QueueEvent>>,
    revocations: tokio::sync::watch::Receiver<u64>,
    recheck: tokio::time::Interval,
    _slot: OpenSlot,
}

/// Server-sent events: every change of the requests the caller may read (`request.created`,
/// `request.resolved`, `request.expired`, `request.escalated`, with the request as data),
/// for live views. A key holds at most `HANDRAIL_MAX_STREAMS_PER_KEY` streams (429 beyond);
/// a revoked key's streams end within a second.
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
    let slot = state
        .open
        .open(&who.key_id, Open::Stream)
        .ok_or_else(|| super::requests::too_many_open("event streams"))?;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let listener = Listener {
        rx: state.events.subscribe(),
        revocations: state.revocations(),
        state,
        who,
        recheck,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(listener, |mut l| async move {
        loop {
            tokio::select! {
                got = l.rx.recv() => match got {
                    Ok(change) if change.project == l.who.project && l.who.may_decide(change.role.as_deref()) => {
                        let data = match &change.data {
                            Some(data) => data.clone(),
                            None => match stored(&l.state, &change.project, &change.id).await {
                                Some(data) => data,
                                None => continue, // gone (retention) or unreadable: nothing to show
                            },
                        };
                        return Some((Ok(Event::default().event(change.event).data(data)), l));
                    }
                    Ok(_) => continue,
                    // A slow reader missed some: tell it to reload the queue.
                    Err(RecvError::Lagged(_)) => {
                        return Some((Ok(Event::default().event("resync").data("{}")), l));
                    }
                    Err(RecvError::Closed) => return None,
                },
                changed = l.revocations.changed() => {
                    if changed.is_err() || !l.state.still_valid(&l.who) {
                        return None;
                    }
                }
                _ = l.recheck.tick() => {
                    if !l.state.still_valid(&l.who) {
                        return None;
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
