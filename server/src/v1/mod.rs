//! API v1. Each resource has its own file and `router()`; this file holds what they share:
//! the one [`ApiError`] (always `{"error": {"code", "message"}}`, never internals), bearer
//! authentication, and strict body parsing.

pub(crate) mod agents;
mod audit;
pub(crate) mod authority;
mod budgets;
mod channels;
mod events;
mod grants;
mod keys;
mod openapi;
pub(crate) mod projects;
pub(crate) mod requests;
mod roles;
pub(crate) mod sessions;
mod snapshots;
mod webhooks;

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONNECTION, EXPECT};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body::Body as _;
use serde::Deserialize;
use sha2::Digest as _;

use crate::limits::Metrics;
use crate::store::Principal;
use crate::{token_hash, AppState};

pub use crate::blocking;
pub(crate) use crate::error::{internal, not_found, unauthorized, ApiResult, ErrorBody};
pub use crate::error::{ApiError, Code};
pub(crate) use crate::lifecycle::create_request;
pub use crate::lifecycle::{escalate_due, expire_due, MAX_ESCALATIONS};
pub(crate) use crate::links::{download_url, upload_url, LinkKey};
pub use audit::refresh_checkpoints;
pub(crate) use authority::{operator, Caller, Operator, ProjectOperator};
pub use openapi::document as openapi_document;
pub(crate) use requests::idempotency_key;
pub(crate) use snapshots::{download_by_link, upload_by_link};

/// Largest request body accepted (413 beyond).
pub const MAX_BODY: usize = 1 << 20;
/// Most values (scalars, arrays, objects) one JSON body may hold: 413 `too_many_values`
/// past it, refused before any is built. A megabyte of `[0,0,…]` holds half a million, which
/// would cost some 40 MB to hold as values; a payload a person reviews is far smaller.
pub const MAX_JSON_VALUES: usize = 50_000;
/// Longest long-poll, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;
pub use crate::lifecycle::DEFAULT_TIMEOUT_SECS;

/// Every route of the API (`/v1`, health and metrics), without state: [`crate::app`] merges
/// it with the compatibility layers and the dashboard.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(requests::router())
        .merge(events::router())
        .merge(keys::router())
        .merge(grants::router())
        .merge(webhooks::router())
        .merge(channels::router())
        .merge(agents::router())
        .merge(projects::router())
        .merge(roles::router())
        .merge(audit::router())
        .merge(sessions::router())
        .merge(budgets::router())
        // Streams its own bodies with its own limit (`HANDRAIL_MAX_SNAPSHOT_BYTES`).
        .merge(snapshots::router())
        .merge(openapi::router())
}

/// What every route shares, around the merged router: the 404 of an unknown route, the body
/// limit, the drain of unread bodies, the request log.
pub(crate) fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(|| async { ApiError::new(Code::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), heavy_in_turn))
        .layer(axum::middleware::from_fn(read_what_is_left))
        .layer(axum::middleware::from_fn(crate::log::requests))
        .with_state(state)
}

/// A request with a heavy body waits for its caller's turn (see [`crate::limits::Lanes`])
/// before anything reads it; 429 `rate_limited` when the caller's lane is full.
async fn heavy_in_turn(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if !crate::limits::is_heavy(req.method(), req.headers()) {
        return next.run(req).await;
    }
    let caller: [u8; 32] = match req.headers().get("authorization") {
        Some(token) => sha2::Sha256::digest(token.as_bytes()).into(),
        None => {
            let peer = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
            let source = peer.map_or_else(
                || "unknown".to_string(),
                |c| crate::limits::source_key(state.proxies.client(c.0.ip(), req.headers())),
            );
            sha2::Sha256::digest(source.as_bytes()).into()
        }
    };
    let Some(_turn) = state.lanes.turn(caller).await else {
        Metrics::add(&state.metrics.rate_limited, 1);
        return ApiError {
            retry_after: Some(1),
            ..ApiError::new(Code::RateLimited, "too many large requests from this caller at once")
        }
        .into_response();
    };
    next.run(req).await
}

/// `GET /metrics`: server-wide counters only (no series names a project, so nothing of one
/// tenant shows to another). With `HANDRAIL_METRICS_TOKEN` set, only for a bearer of it,
/// compared in constant time.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<String> {
    if let Some(expected) = &state.metrics_token {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Digests, so the comparison takes as long whatever the lengths.
        let (given, expected) =
            (sha2::Sha256::digest(given.trim()), sha2::Sha256::digest(expected.as_bytes()));
        if !handrail_core::crypto::mac_eq(&given, &expected) {
            return Err(unauthorized());
        }
    }
    Ok(state.metrics.render())
}

/// The address a request came from (the TCP peer, or what a trusted proxy says it forwards
/// for, see `limits::Proxies`), or None when the router runs without connection info (in
/// process).
pub(crate) struct Source(pub(crate) Option<std::net::IpAddr>);

impl axum::extract::FromRequestParts<AppState> for Source {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(Source(peer.map(|c| state.proxies.client(c.0.ip(), &parts.headers))))
    }
}

/// Takes one call from `source`'s sign-up bucket (`HANDRAIL_SIGNUP_RATE_LIMIT`); past it,
/// 429 `rate_limited` with `retry-after`, as the per-key limit answers.
pub(crate) fn limit_source(state: &AppState, source: &Source) -> ApiResult<()> {
    let key = source.0.map_or_else(|| "unknown".to_string(), crate::limits::source_key);
    state.signup_limiter.take(&key).map_err(|retry_after| {
        Metrics::add(&state.metrics.rate_limited, 1);
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(Code::RateLimited, "too many sign-up calls from this address")
        }
    })
}

pub(crate) fn principal(state: &AppState, headers: &HeaderMap) -> ApiResult<Principal> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(unauthorized)?;
    let who = state.store.principal(&token_hash(token.trim()))?.ok_or_else(unauthorized)?;
    if let Err(retry_after) = state.limiter.take(&who.key_id) {
        Metrics::add(&state.metrics.rate_limited, 1);
        return Err(ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(Code::RateLimited, "too many requests for this key")
        });
    }
    Ok(who)
}

/// How much of a body past [`MAX_BODY`] is still read (and dropped) before the 413: a client
/// that is still sending gets the answer instead of a connection reset.
const DRAIN_BYTES: usize = 8 << 20;

/// A request body of at most [`MAX_BODY`] bytes (the extractor every route that takes a
/// body uses; 413 `too_large`, 400 `bad_body` otherwise).
///
/// Past the limit the rest is read and dropped, up to [`DRAIN_BYTES`] more, and the answer is
/// 413 `too_large`: replying while the client is still writing would otherwise close the
/// connection under it (seen as "broken pipe" by clients sending a few MiB). A declared
/// `content-length` beyond that is refused without reading.
pub(crate) struct Body(pub(crate) Bytes);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, _state: &S) -> Result<Self, Self::Rejection> {
        read_limited(req).await.map(Body)
    }
}

fn too_large() -> ApiError {
    ApiError::new(Code::TooLarge, format!("bodies are limited to {MAX_BODY} bytes"))
}

async fn read_limited(req: axum::extract::Request) -> ApiResult<Bytes> {
    use futures_util::StreamExt;
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_BODY + DRAIN_BYTES) {
        return Err(too_large());
    }
    let mut stream = req.into_body().into_data_stream();
    let mut kept = Vec::with_capacity(declared.unwrap_or(0).min(MAX_BODY));
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(Code::BadBody, "the request body could not be read"))?;
        seen += chunk.len();
        if seen > MAX_BODY + DRAIN_BYTES {
            break;
        }
        if seen <= MAX_BODY {
            kept.extend_from_slice(&chunk);
        }
    }
    if seen > MAX_BODY {
        return Err(too_large());
    }
    Ok(Bytes::from(kept))
}

/// Reads what the route left of the request body before its answer goes out, so the
/// connection stays usable.
///
/// A route may answer from the head alone: it takes no body (LetsPing's `request-token`,
/// sent `{}`), an extractor before the body refuses (a bad path or query), the method or
/// the route does not exist. hyper then keeps the connection only if the rest of the body
/// has already arrived; otherwise it closes it after an answer already written without
/// `connection: close`, and a client that sends its next request on it gets no answer
/// (httpx, which writes a small body after the head: "Server disconnected without sending a
/// response"). Past [`DRAIN_BYTES`], or when the client waits for `100 Continue`, the answer
/// says `connection: close` instead. Routes finish with their body before they answer (none
/// hands it to a task), so what is left once they have answered is theirs no more.
async fn read_what_is_left(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let (parts, body) = req.into_parts();
    let waits_for_continue =
        parts.headers.get(EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let shared = Arc::new(Mutex::new(Some(body)));
    let req = axum::extract::Request::from_parts(parts, axum::body::Body::new(Unread(shared.clone())));
    let mut response = next.run(req).await;
    let rest = shared.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(rest) = rest.filter(|b| !b.is_end_stream()) else {
        return response;
    };
    if waits_for_continue || !read_to_end(rest).await {
        response.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Reads and drops a body; false if it is longer than [`DRAIN_BYTES`] or cannot be read.
async fn read_to_end(body: axum::body::Body) -> bool {
    use futures_util::StreamExt;
    if body.size_hint().lower() > DRAIN_BYTES as u64 {
        return false;
    }
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return false;
        };
        seen += chunk.len();
        if seen > DRAIN_BYTES {
            return false;
        }
    }
    true
}

/// The request body as a route sees it; what the route leaves unread stays in the shared
/// slot for [`read_what_is_left`].
struct Unread(Arc<Mutex<Option<axum::body::Body>>>);

impl Unread {
    fn inner(&self) -> std::sync::MutexGuard<'_, Option<axum::body::Body>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl http_body::Body for Unread {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        match self.inner().as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner().as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner().as_ref().map_or_else(|| http_body::SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// The query string as `T`; one it cannot be read as is 400 `invalid_query` in our JSON
/// error shape (axum's own rejection is plain text).
pub(crate) struct Query<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| ApiError::new(Code::InvalidQuery, e.body_text()))
    }
}

/// The path's parameters as `T`; a path they cannot be read from (not UTF-8 once decoded)
/// names nothing: 404 `not_found`, in our JSON error shape.
pub(crate) struct Path<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> axum::extract::FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> ApiResult<Self> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_| ApiError::new(Code::NotFound, "no such resource"))
    }
}

/// Parses a JSON body with the core's strict parser (its code names the problem), then into
/// `T` (`invalid_request` when the shape is wrong). Every body of this API is an object: an
/// array is refused, though serde would read one positionally into a struct's fields
/// (`["approve"]` as a decision).
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> ApiResult<T> {
    let value = handrail_core::canonical::parse_bounded(bytes, MAX_JSON_VALUES)?;
    if !value.is_object() {
        return Err(ApiError::new(Code::InvalidRequest, "the body must be a JSON object"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::new(Code::InvalidRequest, e.to_string()))
}
