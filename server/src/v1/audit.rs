//! The audit log of the caller's project (operators only): its own hash chain, in order, so
//! it can be verified (core `audit::verify`, `verify_after` for later pages) without any
//! other project's entries; and its signed head (`GET /v1/audit/head`), so that deleting
//! the newest entries is detected too.
//!
//! Checkpoints: the server keeps each project's newest signed checkpoint in the
//! `audit_checkpoints` table, refreshed every second for chains whose head moved
//! ([`refresh_checkpoints`]) and on every `GET /v1/audit/head`. A checkpoint only moves
//! forward, and only over a chain that still holds the previous one, so a truncated or
//! rewritten chain is never re-signed as if nothing happened. The window: entries appended
//! in the last second before someone truncates the table *and* the server stops (no
//! checkpoint names them yet) go unnoticed; deleting the stored checkpoints too is caught
//! only by a verifier that remembers what it saw (`handrail audit verify --state`).

use axum::extract::State;

use super::Query;
use axum::routing::get;
use axum::{Json, Router};
use handrail_core::audit::{self, CheckpointClaims, Entry, GENESIS};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{internal, ApiError, ApiResult, Code, ProjectOperator};
use crate::store::StoredCheckpoint;
use crate::{log, now, AppState};

/// Most entries per page.
const MAX_PAGE: usize = 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/audit", get(audit_log)).route("/v1/audit/head", get(audit_head))
}

/// Which page of the audit log.
#[derive(Deserialize, JsonSchema)]
pub(super) struct Page {
    /// The last `seq` already read (0: from the start).
    after: Option<u64>,
    /// At most this many (default 100, at most 1000).
    limit: Option<usize>,
}

/// `{"entries": [...], "next": SEQ | null}`: entries after `after`, in order; `next` is the
/// `after` of the following page, null when this page was the last.
/// A page of the project's audit chain.
#[derive(Serialize, JsonSchema)]
pub(super) struct AuditPage {
    /// Entries after `after`, in order.
    entries: Vec<Entry>,
    /// The `after` of the following page; null when this page was the last.
    next: Option<u64>,
}

async fn audit_log(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    page: Result<Query<Page>, ApiError>,
) -> ApiResult<Json<AuditPage>> {
    // This route's stable code for an unreadable page is `invalid_request`.
    let Query(page) = page.map_err(|e| ApiError::new(Code::InvalidRequest, e.message))?;
    let limit = page.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let entries = state.store.audit_page(&who.project, page.after.unwrap_or(0), limit)?;
    let next = (entries.len() == limit).then(|| entries.last().map(|e| e.seq)).flatten();
    Ok(Json(AuditPage { entries, next }))
}

/// The project's chain head, signed by the server.
#[derive(Serialize, JsonSchema)]
pub(super) struct AuditHead {
    /// Compact JWS (`typ` `handrail-audit+jws`, Ed25519 under a key of `/v1/keys/proof`) of
    /// `{prj, seq, hash, iat, iss}`; verify with the core's `audit::verify_signed_checkpoint`,
    /// then check the chain holds it with `audit::check_holds`.
    checkpoint: String,
    /// The entry it vouches for (0 before the first).
    seq: u64,
    /// That entry's hash.
    hash: String,
}

/// Signs a checkpoint of `head` (or of the empty chain) for `project`.
fn sign(state: &AppState, project: &str, head: Option<&Entry>, now: i64) -> ApiResult<StoredCheckpoint> {
    let (seq, hash) = head.map_or((0, GENESIS.to_string()), |e| (e.seq, e.hash.clone()));
    let claims =
        CheckpointClaims { prj: project.to_string(), seq, hash, iat: now, iss: state.issuer.to_string() };
    let token = audit::sign_checkpoint(&state.signer, &claims).map_err(internal)?;
    Ok(StoredCheckpoint { project: claims.prj, seq: claims.seq, hash: claims.hash, token })
}

/// Whether the chain still holds the stored checkpoint (its entry, with its hash).
fn holds(state: &AppState, stored: &StoredCheckpoint) -> ApiResult<bool> {
    if stored.seq == 0 {
        return Ok(true);
    }
    Ok(state.store.audit_entry(&stored.project, stored.seq)?.is_some_and(|e| e.hash == stored.hash))
}

fn report_broken(project: &str, stored: &StoredCheckpoint) {
    log::event(
        log::Level::Error,
        "audit chain no longer holds its signed checkpoint",
        serde_json::json!({ "project": project, "checkpoint_seq": stored.seq }),
    );
}

/// Signs and stores a checkpoint for every project whose chain head moved past its stored
/// checkpoint; returns the projects whose chain no longer holds theirs (left as they are:
/// the stored checkpoint is the evidence).
pub fn refresh_checkpoints(state: &AppState, now: i64) -> Result<Vec<String>, String> {
    let run = || -> ApiResult<Vec<String>> {
        let stored: std::collections::HashMap<String, StoredCheckpoint> =
            state.store.audit_checkpoints()?.into_iter().map(|c| (c.project.clone(), c)).collect();
        let mut broken = Vec::new();
        for head in state.store.audit_heads()? {
            match stored.get(&head.project) {
                Some(s) if s.seq == head.seq && s.hash == head.hash => continue,
                Some(s) if s.seq >= head.seq || !holds(state, s)? => {
                    broken.push(head.project.clone());
                    continue;
                }
                _ => {}
            }
            state.store.put_audit_checkpoint(&sign(state, &head.project, Some(&head), now)?)?;
        }
        Ok(broken)
    };
    run().map_err(|e| e.message)
}

async fn audit_head(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
) -> ApiResult<Json<AuditHead>> {
    let checkpoint = super::blocking(|| -> ApiResult<StoredCheckpoint> {
        let stored = state.store.audit_checkpoints()?.into_iter().find(|c| c.project == who.project);
        if let Some(stored) = stored {
            if !holds(&state, &stored)? {
                // Never sign over a truncation: answer what was vouched for, so the reader
                // finds its chain shorter than the checkpoint.
                report_broken(&who.project, &stored);
                return Ok(stored);
            }
        }
        // The project's head, among every project's (one indexed probe each).
        let head = state.store.audit_heads()?.into_iter().find(|e| e.project == who.project);
        let fresh = sign(&state, &who.project, head.as_ref(), now())?;
        state.store.put_audit_checkpoint(&fresh)?;
        Ok(fresh)
    })?;
    Ok(Json(AuditHead { checkpoint: checkpoint.token, seq: checkpoint.seq, hash: checkpoint.hash }))
}
