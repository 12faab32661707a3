//! A request's life, without HTTP: created exactly once, decided (signed, stored, waiters
//! woken, the live views told), expired at its deadline, escalated by its role's rule or its
//! own. Routes (`v1`) and the compatibility layers call these; none of them takes an HTTP
//! type.

use std::time::Duration;

use axum::http::StatusCode;
use handrail_core::idempotency::{self, Begin, Fingerprint, Stored};
use handrail_core::proof::{self, Claims};
use handrail_core::request::{self, Decision, NewRequest, Status};
use serde_json::{json, Value};

use crate::error::{internal, ApiError, ApiResult, Code};
use crate::limits::Metrics;
use crate::store::{
    AuditEvent, Claim, DecideArgs, DueEscalation, EscalationStep, Grant, Inserted, Principal, Recipient,
    RequestRow,
};
use crate::{blocking, now, random, AppState};

/// Default deadline of a request without `timeout_secs`: a day.
pub const DEFAULT_TIMEOUT_SECS: u64 = 86_400;
/// How long an in-flight idempotent create holds its key before another may take over.
pub(crate) const LEASE_SECS: i64 = 30;

/// How long a decision proof stays valid.
const PROOF_LIFETIME_SECS: i64 = 365 * 86_400;

/// Validates and creates a request, exactly once per idempotency key when one is given
/// (`fingerprint` identifies the body the key was first used with). The status and the
/// request JSON as stored, and whether they are a replay of an earlier create. Every
/// surface that creates requests (ours and the compatibility layers) comes through here.
pub(crate) async fn create_request(
    state: &AppState,
    who: &Principal,
    new: &NewRequest,
    key: Option<&str>,
    fingerprint: Fingerprint,
) -> ApiResult<(StatusCode, String, bool)> {
    create_request_for(state, who, new, key, fingerprint, &[]).await
}

/// [`create_request`] for a request with recipients: a choice among the channels the
/// operator configured that narrows where it is announced (see [`crate::store::narrow`]),
/// never more addressees nor other deciders.
pub(crate) async fn create_request_for(
    state: &AppState,
    who: &Principal,
    new: &NewRequest,
    key: Option<&str>,
    fingerprint: Fingerprint,
    recipients: &[Recipient],
) -> ApiResult<(StatusCode, String, bool)> {
    // Schema validation is bounded (`request::MAX_VALIDATION_WORK`) but still the heaviest
    // step of a create: off the runtime's workers.
    blocking(|| new.validate())?;
    let Some(key) = key else {
        let (status, body) = blocking(|| insert(state, who, new, None, recipients))?
            .ok_or_else(|| internal("unclaimed insert refused"))?;
        return Ok((status, body, false));
    };
    // The first round takes the key to be new without reading it (most keys are: a read
    // would be a round trip to the database on every create), and claims it; the claim
    // fails if the key is known, and every later round reads what is stored under it.
    // A few rounds at most: each lost race re-reads what the winner stored.
    let mut existing = None;
    let mut read = false;
    for _ in 0..5 {
        if read {
            existing = state.store.execution(&who.project, key)?;
        }
        match idempotency::begin(existing.as_ref(), key, fingerprint, now(), LEASE_SECS)? {
            Begin::Proceed(exec) => {
                match blocking(|| insert(state, who, new, Some((exec, existing.as_ref())), recipients)) {
                    Ok(Some((status, body))) => return Ok((status, body, false)),
                    // Another create holds the key (before this one, or it won a race): read
                    // what it stored.
                    Ok(None) => read = true,
                    // Refused (a quota, an id taken) while taking the key to be new: an earlier
                    // create with this key answers instead, if there is one.
                    Err(e) if !read => {
                        read = true;
                        if state.store.execution(&who.project, key)?.is_none() {
                            return Err(e);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Begin::Replay(stored) => {
                let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                return Ok((status, stored.body, true));
            }
            Begin::Conflict { .. } => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                // Most in-flight creates finish within milliseconds; answer 409 only if not.
                let again = state.store.execution(&who.project, key)?;
                if let Some(Begin::Replay(_)) = again
                    .as_ref()
                    .map(|e| idempotency::begin(Some(e), key, fingerprint, now(), LEASE_SECS))
                    .transpose()?
                {
                    continue;
                }
                return Err(ApiError::new(Code::IdempotencyConflict, "a request with this key is in flight"));
            }
            Begin::Mismatch => {
                return Err(ApiError::new(
                    Code::IdempotencyMismatch,
                    "this Idempotency-Key was used with another request body",
                ))
            }
        }
    }
    Err(ApiError::new(Code::IdempotencyConflict, "a request with this key is in flight"))
}

/// Stores a new request; with an idempotent execution, claims its key and commits it in the
/// same transaction. None when another create claimed the key first.
pub(crate) fn insert(
    state: &AppState,
    who: &Principal,
    new: &NewRequest,
    exec: Option<(idempotency::Execution, Option<&idempotency::Execution>)>,
    recipients: &[Recipient],
) -> ApiResult<Option<(StatusCode, String)>> {
    let new = new.clone();
    let created_at = now();
    // A client-chosen id (the SDK seals the payload for it) must be new in the project. A
    // retry with the same Idempotency-Key is replayed before it gets here — unless it raced
    // the create that won: then that create's execution is stored by now, and the caller
    // reads and replays it (None) instead of calling the id taken.
    let id = match new.id {
        Some(id) if state.store.request(&who.project, &id)?.is_some() => {
            if let Some((pending, _)) = &exec {
                if state.store.execution(&who.project, &pending.key)?.is_some() {
                    return Ok(None);
                }
            }
            return Err(ApiError::new(Code::IdTaken, "a request with this id exists"));
        }
        Some(id) => id,
        None => format!("req_{}", handrail_core::encoding::b64url_encode(random::<12>().map_err(internal)?)),
    };
    let timeout = new.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS).min(365 * 86_400);
    let row = RequestRow {
        id,
        project: who.project.clone(),
        service: new.service,
        action: new.action,
        payload: new.payload,
        priority: new.priority,
        role: new.role,
        schema: new.schema,
        context: new.context,
        status: Status::Pending,
        created_at,
        expires_at: created_at + timeout as i64,
        decision: None,
        escalations: Vec::new(),
        created_by: Some(who.key_id.clone()),
        snapshot: None,
    };
    let body = serde_json::to_string(&row).map_err(internal)?;
    let committed = match exec {
        Some((pending, previous)) => {
            Some((pending.commit(Stored { status: 201, body: body.clone() }, created_at)?, previous))
        }
        None => None,
    };
    let claim = committed.as_ref().map(|(committed, previous)| Claim { committed, previous: *previous });
    let audit = AuditEvent {
        at: created_at,
        actor: &who.key_id,
        event: "request.created",
        data: json!({ "service": row.service, "action": row.action, "priority": row.priority }),
    };
    // The project's quota is checked by the create itself (no read of its own first).
    match state.store.insert_request_for(&row, &body, claim, audit, recipients, state.policy.quota_bytes)? {
        Inserted::Created => {}
        Inserted::KeyTaken => return Ok(None),
        Inserted::OverQuota { used } => return Err(state.policy.exceeded(used)),
        // Another project's request has this client-chosen id (ids are global).
        Inserted::IdTaken => return Err(ApiError::new(Code::IdTaken, "a request with this id exists")),
    }
    Metrics::add(&state.metrics.requests_created, 1);
    state.announce(&row, "request.created", &body);
    approve_under_grant(state, &row);
    Ok(Some((StatusCode::CREATED, body)))
}

/// What an operator asks for with an approval: a grant (see [`Grant`]).
#[derive(Debug, Clone, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantAsk {
    /// How long it stands, seconds: 1 to the bound in force, the smaller of the server's
    /// `HANDRAIL_MAX_GRANT_SECS` (default 3600) and the project's `max_grant_secs` (see
    /// `GET /v1/projects/{id}`); a longer grant is refused, never shortened.
    for_secs: u64,
    /// Only for requests naming this request's `context.thread` (it must name one).
    #[serde(default)]
    thread: bool,
}

/// Most seconds a grant may stand on this server: `HANDRAIL_MAX_GRANT_SECS`, default an hour.
pub(crate) fn max_grant_secs() -> u64 {
    std::env::var("HANDRAIL_MAX_GRANT_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3600)
}

/// Most seconds a grant given in `project` may stand: the smaller of the server's bound
/// ([`max_grant_secs`]) and the project's own (`project`'s `max_grant_secs`), if it has one.
pub(crate) fn grant_bound(project: Option<u64>) -> u64 {
    let server = max_grant_secs();
    project.map_or(server, |p| p.min(server))
}

/// The grant `who` gives by approving `row` as `ask` says; 400 `invalid_request` when it
/// cannot stand (longer than the bound in force, [`grant_bound`], no thread to limit it to,
/// no agent to give it for).
pub(crate) fn grant_for(
    state: &AppState,
    row: &RequestRow,
    who: &Principal,
    ask: &GrantAsk,
) -> ApiResult<Grant> {
    let project = state.store.project(&row.project)?.and_then(|p| p.max_grant_secs);
    let max = grant_bound(project);
    if ask.for_secs == 0 || ask.for_secs > max {
        let whose =
            if project.is_some_and(|p| p <= max_grant_secs()) { "this project" } else { "this server" };
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("a grant stands 1 to {max} seconds (the bound {whose} sets)"),
        ));
    }
    let thread = match ask.thread {
        true => Some(crate::store::thread_of(row).ok_or_else(|| {
            ApiError::new(
                Code::InvalidRequest,
                "a thread grant needs a request whose context names its `thread`",
            )
        })?),
        false => None,
    };
    let agent = row
        .created_by
        .clone()
        .ok_or_else(|| ApiError::new(Code::InvalidRequest, "this request names no agent key to grant for"))?;
    let at = now();
    Ok(Grant {
        id: format!("grt_{}", handrail_core::encoding::b64url_encode(random::<12>().map_err(internal)?)),
        agent,
        service: row.service.clone(),
        action: row.action.clone(),
        role: row.role.clone(),
        thread: thread.map(str::to_string),
        granted_by: who.key_id.clone(),
        request_id: row.id.clone(),
        created_at: at,
        expires_at: at + ask.for_secs as i64,
        revoked_at: None,
    })
}

/// Stores a grant, audited (`grant.created`), once the approval that gives it is stored.
pub(crate) fn give_grant(state: &AppState, project: &str, grant: &Grant) -> ApiResult<()> {
    let audit = AuditEvent {
        at: grant.created_at,
        actor: &grant.granted_by,
        event: "grant.created",
        data: json!({
            "request": grant.request_id, "agent": grant.agent, "service": grant.service,
            "action": grant.action, "thread": grant.thread, "expires_at": grant.expires_at,
        }),
    };
    Ok(state.store.add_grant(project, grant, audit)?)
}

/// Approves a new request in the name of a live grant that covers it, if any: the approval
/// names the grant (in the decision and its proof) and is made as the operator who gave it,
/// so the store's check of the approver holds — a revoked operator's grants approve nothing.
/// A grant that cannot apply leaves the request pending for a person.
fn approve_under_grant(state: &AppState, row: &RequestRow) {
    let grant = match state.store.live_grant(&row.project, row, now()) {
        Ok(Some(grant)) => grant,
        Ok(None) => return,
        Err(e) => return grant_skipped(&row.id, &e.0),
    };
    let ruling = Ruling {
        reason: Some(format!("approved under grant {}", grant.id)),
        grant: Some(grant.id.clone()),
        ..Ruling::plain(Status::Approved, &grant.granted_by)
    };
    if let Err(e) = decide(state, row, ruling) {
        grant_skipped(&row.id, &e.message);
    }
}

fn grant_skipped(id: &str, error: &str) {
    crate::log::event(
        crate::log::Level::Warn,
        "a grant did not approve a request; it waits for a person",
        json!({ "request": id, "error": error }),
    );
}

/// What a decider rules on a request: the outcome, who, the edit and its diff, why, and the
/// grant it was made under (an approval in a grant's name) or gives (an approval that
/// grants).
pub(crate) struct Ruling<'a> {
    pub(crate) status: Status,
    pub(crate) actor: &'a str,
    pub(crate) patched: Option<Value>,
    pub(crate) diff: Option<request::Diff>,
    pub(crate) reason: Option<String>,
    pub(crate) grant: Option<String>,
    /// The actor's display name, where the channel names them (a Slack member's name).
    pub(crate) actor_name: Option<String>,
}

impl<'a> Ruling<'a> {
    /// `status` by `actor`, nothing else.
    pub(crate) fn plain(status: Status, actor: &'a str) -> Ruling<'a> {
        Ruling { status, actor, patched: None, diff: None, reason: None, grant: None, actor_name: None }
    }
}

/// A decision on `row`, signed: its proof binds the request as stored, the outcome, the
/// actor, the edit, the grant, the project and this server.
fn signed_decision(state: &AppState, row: &RequestRow, ruling: Ruling<'_>) -> ApiResult<Decision> {
    let decided_at = now();
    let Ruling { status, actor, patched, diff, reason, grant, actor_name } = ruling;
    let claims = Claims {
        rid: row.id.clone(),
        req: proof::request_digest(&row.service, &row.action, &row.payload)?,
        dec: status.as_str().to_string(),
        act: actor.to_string(),
        pat: patched.as_ref().map(proof::payload_digest).transpose()?,
        iat: decided_at,
        exp: decided_at + PROOF_LIFETIME_SECS,
        jti: proof::new_jti()?,
        prj: Some(row.project.clone()),
        iss: Some(state.issuer.to_string()),
        grt: grant.clone(),
    };
    Ok(Decision {
        request_id: row.id.clone(),
        status,
        payload: status.allows_action().then(|| patched.clone().unwrap_or_else(|| row.payload.clone())),
        patched_payload: patched,
        diff,
        actor: Some(actor.to_string()),
        actor_name,
        reason,
        grant,
        decided_at,
        proof: Some(state.signer.sign(&claims)?),
    })
}

/// The audit entry of a decision; it names the decider's display name (`actor_name`) when
/// the decision does.
fn decision_audit<'a>(decision: &Decision, actor: &'a str) -> AuditEvent<'a> {
    let mut data =
        json!({ "status": decision.status.as_str(), "diff": decision.diff.as_ref().map(|d| &d.summary) });
    if let Some(name) = &decision.actor_name {
        data["actor_name"] = json!(name);
    }
    AuditEvent { at: decision.decided_at, actor, event: decision_event(decision.status), data }
}

fn decision_event(status: Status) -> &'static str {
    if status == Status::Expired {
        "request.expired"
    } else {
        "request.resolved"
    }
}

/// After a decision is stored: wakes the waiters, tells the live views, counts it.
fn decided(state: &AppState, project: &str, id: &str, status: Status) {
    // (The Slack messages that asked are updated by notifications the store queued in the
    // decision's transaction.)
    state.notify(id);
    // Read back for the live views only when one is open.
    if state.watched() {
        if let Ok(Some(updated)) = state.store.request(project, id) {
            if let Ok(text) = serde_json::to_string(&updated) {
                state.announce(&updated, decision_event(status), &text);
            }
        }
    }
    let counter = if status == Status::Expired {
        &state.metrics.requests_expired
    } else {
        &state.metrics.requests_decided
    };
    Metrics::add(counter, 1);
}

/// What a person's `decision` (`approve` or `reject`) with an optional edited `payload`
/// means for `row`: the status, the patched payload and its diff. An edit goes through
/// `request::review_edit` (a plain payload is checked against the request's schema; a sealed
/// edit is opaque to the server). Every surface a person decides through calls this.
pub(crate) fn judge(
    row: &RequestRow,
    decision: &str,
    payload: Option<Value>,
) -> ApiResult<(Status, Option<Value>, Option<request::Diff>)> {
    Ok(match decision {
        "approve" => match payload {
            Some(edited) => judge_edit(row, edited)?,
            None => (Status::Approved, None, None),
        },
        "reject" => (Status::Rejected, None, None),
        _ => return Err(ApiError::new(Code::InvalidRequest, "decision is approve or reject")),
    })
}

/// An approval with `edited` as the payload: checked by the core against the request's
/// schema, then APPROVED when nothing changed, or APPROVED_WITH_MODIFICATIONS with the diff.
/// The core's error as it is, so a form can name the fields it blames (Slack's edit modal).
pub(crate) fn judge_edit(
    row: &RequestRow,
    edited: Value,
) -> Result<(Status, Option<Value>, Option<request::Diff>), handrail_core::Error> {
    let schema = row.schema.as_ref().filter(|_| !handrail_core::envelope::is_envelope(&edited));
    let diff = crate::blocking(|| request::review_edit(&row.payload, &edited, schema))?;
    Ok(if diff.is_empty() {
        (Status::Approved, None, None)
    } else {
        (Status::ApprovedWithModifications, Some(edited), Some(diff))
    })
}

/// Signs and stores a decision, then wakes the waiters.
pub(crate) fn decide(state: &AppState, row: &RequestRow, ruling: Ruling<'_>) -> ApiResult<Decision> {
    let (status, actor) = (ruling.status, ruling.actor);
    let decision = signed_decision(state, row, ruling)?;
    let audit = decision_audit(&decision, actor);
    let callback = state.delivery_hooks.iter().find_map(|hook| hook.callback(row));
    if !state.store.decide(&row.project, &row.id, status, &decision, callback.as_deref(), audit)? {
        return Err(ApiError::new(Code::AlreadyDecided, "the request was decided meanwhile"));
    }
    decided(state, &row.project, &row.id, status);
    Ok(decision)
}

/// Expires one overdue pending request now (a decision came after its deadline); nothing
/// when it was decided meanwhile.
pub(crate) fn expire(state: &AppState, row: &RequestRow) -> ApiResult<()> {
    let ruling = Ruling { reason: Some(EXPIRY_REASON.into()), ..Ruling::plain(Status::Expired, "system") };
    match decide(state, row, ruling) {
        Ok(_) => Ok(()),
        Err(e) if e.is(Code::AlreadyDecided) => Ok(()),
        Err(e) => Err(e),
    }
}

const EXPIRY_REASON: &str = "no decision before the deadline";

/// Overdue requests the sweep expires per batch: read one at a time, written together (one
/// transaction, one fsync per batch).
const EXPIRY_BATCH: usize = 64;

/// Expires every overdue pending request (up to 500 a sweep): EXPIRED, signed by `system`,
/// waiters woken. Rows are read one at a time, so memory holds one payload, not the
/// backlog; a row that fails is logged and skipped, never stopping the sweep.
pub fn expire_due(state: &AppState, now: i64) -> Result<usize, String> {
    let due = state.store.due(now, 500).map_err(|e| e.0)?;
    let mut n = 0;
    for batch in due.chunks(EXPIRY_BATCH) {
        let mut decisions = Vec::with_capacity(batch.len());
        for (project, id) in batch {
            let prepared = state.store.request(project, id).map_err(ApiError::from).and_then(|row| {
                let Some(row) = row.filter(|r| r.status == Status::Pending) else { return Ok(None) };
                let ruling =
                    Ruling { reason: Some(EXPIRY_REASON.into()), ..Ruling::plain(Status::Expired, "system") };
                let decision = signed_decision(state, &row, ruling)?;
                let callback = state.delivery_hooks.iter().find_map(|hook| hook.callback(&row));
                Ok(Some((project, id, decision, callback)))
            });
            match prepared {
                Ok(Some(d)) => decisions.push(d),
                Ok(None) => {}
                Err(e) => skipped(id, &e.message),
            }
        }
        let args = decisions
            .iter()
            .map(|(project, id, decision, callback)| DecideArgs {
                project,
                id,
                status: Status::Expired,
                decision,
                callback: callback.as_deref(),
                audit: decision_audit(decision, "system"),
            })
            .collect();
        for ((project, id, _, _), outcome) in decisions.iter().zip(state.store.decide_many(args)) {
            match outcome {
                Ok(true) => {
                    decided(state, project, id, Status::Expired);
                    n += 1;
                }
                Ok(false) => {} // decided meanwhile
                Err(e) => skipped(id, &e.0),
            }
        }
    }
    Ok(n)
}

/// A row the expiry sweep could not expire: logged, and tried again at the next sweep.
fn skipped(id: &str, error: &str) {
    crate::log::event(
        crate::log::Level::Error,
        "expiry sweep skipped a request",
        json!({ "request": id, "error": error }),
    );
}

/// How many times one request may move between roles: a cycle (A → B → A) stops there and
/// the request waits in its last role until someone decides or it expires.
pub const MAX_ESCALATIONS: usize = 8;

/// Moves every pending request whose role's escalation delay has passed to the next role:
/// its `role` and `escalations` change, and the audit entry and the `request.escalated`
/// webhooks are written in the same transaction; then the live views hear of it. Then the
/// requests' own escalations ([`escalate_own_due`]). Requests already due to expire are
/// left to the expiry sweep (which runs first).
pub fn escalate_due(state: &AppState, now: i64) -> Result<usize, String> {
    Ok(escalate_by_role(state, now)? + escalate_own_due(state, now)?)
}

/// A request's own escalation: `context.escalate_at` (Unix seconds) and, optionally,
/// `context.escalate_to` (whom to notify: an e-mail address, or one of the project's roles).
/// The LoopPause layer writes both from their `escalation {after_hours, escalate_to}`.
///
/// Once that time has passed, a pending request is escalated once: an `escalations` entry
/// with the `target`, the `request.escalated` audit entry, webhooks and live event — so the
/// operator's notification hook (a webhook receiver) can mail or page that person — and,
/// when the target names a role of the project, the request moves to that role.
fn escalate_own_due(state: &AppState, now: i64) -> Result<usize, String> {
    let due = state.store.due_own_escalations(now, 500).map_err(|e| e.0)?;
    let mut n = 0;
    for row in due {
        let target = row.target.as_deref();
        let role = match target {
            Some(t) if row.role.as_deref() != Some(t) => {
                let roles = state.store.roles(&row.project).map_err(|e| e.0)?;
                roles.iter().any(|r| r.name == t).then_some(t)
            }
            _ => None,
        };
        let audit = AuditEvent {
            at: now,
            actor: "system",
            event: "request.escalated",
            data: json!({ "from": row.role, "to": role, "target": target, "hop": row.hops + 1 }),
        };
        let step = EscalationStep {
            from: row.role.as_deref(),
            to: role,
            target,
            max_hops: MAX_ESCALATIONS,
            first_only: true,
        };
        if escalate(state, &row, &step, audit)? {
            n += 1;
        }
    }
    Ok(n)
}

/// Moves the requests whose role's rule is due (see [`escalate_due`]).
fn escalate_by_role(state: &AppState, now: i64) -> Result<usize, String> {
    let due = state.store.due_escalations(now, MAX_ESCALATIONS, 500).map_err(|e| e.0)?;
    let mut n = 0;
    for (row, to) in due {
        let Some(from) = row.role.as_deref() else { continue };
        let audit = AuditEvent {
            at: now,
            actor: "system",
            event: "request.escalated",
            data: json!({ "from": from, "to": to, "hop": row.hops + 1 }),
        };
        let step = EscalationStep {
            from: Some(from),
            to: Some(&to),
            target: None,
            max_hops: MAX_ESCALATIONS,
            first_only: false,
        };
        if escalate(state, &row, &step, audit)? {
            n += 1;
        }
    }
    Ok(n)
}

/// Escalates one request as `step` says (see [`crate::store::Store::escalate`]) and, when it
/// did, tells the live views; whether it did.
fn escalate(
    state: &AppState,
    row: &DueEscalation,
    step: &EscalationStep<'_>,
    audit: AuditEvent<'_>,
) -> Result<bool, String> {
    let Some(moved) = state.store.escalate(&row.project, &row.id, step, audit).map_err(|e| e.0)? else {
        return Ok(false);
    };
    if let Ok(text) = serde_json::to_string(&moved) {
        state.announce(&moved, "request.escalated", &text);
    }
    Ok(true)
}
