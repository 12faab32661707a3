//! State snapshots: opaque bytes (the SDK's encrypted envelope; the server never sees
//! plaintext) parked on a pending request while a person decides. Uploaded with a project key
//! or an upload link, downloaded with a project key or an expiring download link.
//!
//! A link is `/v1/blobs/{token}`, where the token is `claims.mac`: `claims` is base64url of
//! the JSON array `[purpose, project, request id, expiry]`, `mac` is base64url of
//! HMAC-SHA256 over a fixed label and `claims`, keyed with a secret in the settings table.
//! The MAC is checked (in constant time) before anything in the claims is believed. A link
//! carries no API key and is never logged.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::extract::State;

use super::{Path, Query};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use futures_util::StreamExt;
use handrail_core::encoding::hex_encode;
use handrail_core::request::Status;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Code;
use super::{internal, not_found, principal, ApiError, ApiResult, Caller};
use crate::links::{Purpose, DEFAULT_LINK_SECS, MAX_LINK_SECS};
use crate::store::{AuditEvent, RequestRow, Snapshot, SnapshotCommit};
use crate::{now, AppState};

/// Largest snapshot by default (`HANDRAIL_MAX_SNAPSHOT_BYTES` overrides): 64 MiB.
pub const DEFAULT_MAX_SNAPSHOT_BYTES: u64 = 64 << 20;
/// How much of an oversized body is still read (and dropped) so the client sees the 413
/// instead of a reset connection; beyond this the connection is cut.
const DRAIN_BYTES: u64 = 8 << 20;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/requests/{id}/snapshot", put(upload).get(download))
        .route("/v1/requests/{id}/snapshot/upload-link", post(upload_link))
        .route("/v1/requests/{id}/snapshot/link", post(download_link))
        .route("/v1/blobs/{token}", put(upload_by_link).get(download_by_link))
}

/// The largest snapshot accepted, from `HANDRAIL_MAX_SNAPSHOT_BYTES`.
fn max_bytes() -> u64 {
    std::env::var("HANDRAIL_MAX_SNAPSHOT_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_SNAPSHOT_BYTES)
}

fn no_snapshot() -> ApiError {
    ApiError::new(Code::NotFound, "this request has no snapshot")
}

fn already_decided(row: &RequestRow) -> ApiError {
    ApiError::new(
        Code::AlreadyDecided,
        format!("the request is {}: snapshots are parked only while it is pending", row.status),
    )
}

/// A request as `GET /v1/requests/{id}` and `/wait` answer it.
#[derive(Serialize, JsonSchema)]
pub(super) struct RequestView<'a> {
    #[serde(flatten)]
    request: &'a RequestRow,
    /// The parked state, when one is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    snapshot: Option<SnapshotLink>,
}

/// A snapshot's metadata with a fresh download link (made at each read, never stored).
#[derive(Serialize, JsonSchema)]
struct SnapshotLink {
    #[serde(flatten)]
    meta: Snapshot,
    /// Download link, valid for 15 minutes.
    url: String,
    /// When the link expires, Unix seconds.
    expires_at: i64,
}

/// A snapshot just stored.
#[derive(Serialize, JsonSchema)]
pub(super) struct SnapshotStored {
    /// Its metadata.
    snapshot: Snapshot,
}

/// An expiring link to a snapshot.
#[derive(Serialize, JsonSchema)]
pub(super) struct BlobLink {
    /// `/v1/blobs/{token}`, absolute when `HANDRAIL_PUBLIC_URL` is set; carries no API key.
    url: String,
    /// When it expires, Unix seconds.
    expires_at: i64,
}

/// The request JSON with its snapshot, if one is stored: metadata and a fresh download link
/// (made now, never stored).
pub(super) fn with_snapshot(state: &AppState, row: &RequestRow) -> ApiResult<Value> {
    let snapshot = match state.store.snapshot(&row.project, &row.id)? {
        Some(meta) => {
            let expires_at = now() + DEFAULT_LINK_SECS;
            let url = state.blob_links.link(Purpose::Download, &row.project, &row.id, expires_at)?;
            Some(SnapshotLink { meta, url, expires_at })
        }
        None => None,
    };
    serde_json::to_value(RequestView { request: row, snapshot }).map_err(internal)
}

async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let who = principal(&state, &headers)?;
    super::authority::readable(&state, &who, &id)?;
    store_upload(&state, &who.project, &id, &who.key_id, &headers, body).await
}

pub(crate) async fn upload_by_link(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let (project, id) = state.blob_links.check(&token, Purpose::Upload, now())?;
    store_upload(&state, &project, &id, "upload-link", &headers, body).await
}

/// Streams a body into staged storage (never more than a channel's worth in memory), then
/// commits it as the request's snapshot with its audit entry in one transaction.
async fn store_upload(
    state: &AppState,
    project: &str,
    id: &str,
    actor: &str,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let limit = max_bytes();
    let too_large = || ApiError::new(Code::TooLarge, format!("snapshots are limited to {limit} bytes"));
    // Refuse early what cannot succeed, before reading megabytes.
    let row = state.store.request(project, id)?.ok_or_else(not_found)?;
    if row.status != Status::Pending {
        return Err(already_decided(&row));
    }
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.saturating_add(DRAIN_BYTES)) {
        return Err(too_large());
    }
    state.policy.check(state.store.as_ref(), project, declared.unwrap_or(0).min(limit))?;

    // The writer owns the staged blob on a blocking thread; the body arrives here in chunks.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(8);
    let store = state.store.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let mut sink = store.stage_snapshot()?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = rx.blocking_recv() {
            sink.write(&chunk)?;
            hasher.update(&chunk);
            size += chunk.len() as u64;
        }
        Ok::<_, crate::store::StoreError>((sink, size, hex_encode(hasher.finalize())))
    });
    let mut stream = body.into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(Code::BadBody, "the request body could not be read"))?;
        received += chunk.len() as u64;
        if received > limit {
            // Dropping the sender ends the writer; its staged blob is removed when dropped,
            // before the answer, so a 413 leaves nothing behind.
            drop(tx);
            drop(writer.await);
            while let Some(Ok(chunk)) = stream.next().await {
                received += chunk.len() as u64;
                if received > limit.saturating_add(DRAIN_BYTES) {
                    break;
                }
            }
            return Err(too_large());
        }
        if tx.send(chunk).await.is_err() {
            break; // the writer failed: its error is reported below
        }
    }
    drop(tx);
    let (sink, size, sha256) = writer.await.map_err(internal)??;
    // The quota again, with the size received (a dropped sink leaves nothing behind).
    state.policy.check(state.store.as_ref(), project, size)?;
    let blob = tokio::task::spawn_blocking(move || sink.finish()).await.map_err(internal)??;

    let meta = Snapshot { size, sha256, created_at: now() };
    let audit = AuditEvent {
        at: meta.created_at,
        actor,
        event: "snapshot.stored",
        data: json!({ "size": meta.size, "sha256": meta.sha256 }),
    };
    match state.store.commit_snapshot(project, id, &blob, &meta, audit)? {
        SnapshotCommit::Stored => {
            Ok((StatusCode::CREATED, Json(SnapshotStored { snapshot: meta })).into_response())
        }
        SnapshotCommit::NotFound => Err(not_found()),
        SnapshotCommit::NotPending => {
            let row = state.store.request(project, id)?.ok_or_else(not_found)?;
            Err(already_decided(&row))
        }
    }
}

async fn download(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    super::authority::readable(&state, &who, &id)?;
    send_snapshot(&state, who.project, id).await
}

pub(crate) async fn download_by_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let (project, id) = state.blob_links.check(&token, Purpose::Download, now())?;
    send_snapshot(&state, project, id).await
}

/// Streams a snapshot from storage, read on a blocking thread a chunk at a time.
async fn send_snapshot(state: &AppState, project: String, id: String) -> ApiResult<Response> {
    let store = state.store.clone();
    let opened =
        tokio::task::spawn_blocking(move || store.open_snapshot(&project, &id)).await.map_err(internal)??;
    let (meta, mut reader) = opened.ok_or_else(no_snapshot)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || loop {
        let mut buf = vec![0u8; 256 << 10];
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                    break; // the client went away
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                break;
            }
        }
    });
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, meta.size)
        .header(header::CACHE_CONTROL, "private, no-store")
        .header("x-handrail-sha256", meta.sha256)
        .body(Body::from_stream(stream))
        .map_err(internal)
}

/// Query of the link routes.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkQuery {
    /// Lifetime of the link in seconds (default 900, at most 86 400).
    ttl: Option<i64>,
}

/// The expiry of a link asked for with `?ttl=` seconds (1 to a day; default 15 minutes).
fn expiry(q: LinkQuery) -> ApiResult<i64> {
    let bad = |m: &str| ApiError::new(Code::InvalidRequest, m.to_string());
    let ttl = q.ttl.unwrap_or(DEFAULT_LINK_SECS);
    if !(1..=MAX_LINK_SECS).contains(&ttl) {
        return Err(bad(&format!("ttl is between 1 and {MAX_LINK_SECS} seconds")));
    }
    Ok(now() + ttl)
}

async fn upload_link(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    query: Result<Query<LinkQuery>, ApiError>,
) -> ApiResult<Json<BlobLink>> {
    // These routes' stable code for an unreadable `ttl` is `invalid_request`.
    let query = query.map_err(|e| ApiError::new(Code::InvalidRequest, e.message))?.0;
    let expires_at = expiry(query)?;
    let row = super::authority::readable(&state, &who, &id)?;
    if row.status != Status::Pending {
        return Err(already_decided(&row));
    }
    let url = state.blob_links.link(Purpose::Upload, &who.project, &id, expires_at)?;
    Ok(Json(BlobLink { url, expires_at }))
}

async fn download_link(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    query: Result<Query<LinkQuery>, ApiError>,
) -> ApiResult<Json<BlobLink>> {
    // These routes' stable code for an unreadable `ttl` is `invalid_request`.
    let query = query.map_err(|e| ApiError::new(Code::InvalidRequest, e.message))?.0;
    let expires_at = expiry(query)?;
    super::authority::readable(&state, &who, &id)?;
    state.store.snapshot(&who.project, &id)?.ok_or_else(no_snapshot)?;
    let url = state.blob_links.link(Purpose::Download, &who.project, &id, expires_at)?;
    Ok(Json(BlobLink { url, expires_at }))
}
