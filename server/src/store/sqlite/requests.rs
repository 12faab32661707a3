//! Requests: create exactly once, read, list, decide, and the sweeps' reads (due, escalations).

use super::*;
use crate::store::{over_quota, Kept};

/// The rows a listing returns (see [`RequestFilter`]): ?1 project, ?2 status, ?3 role,
/// ?4 limit, ?5 readable roles (JSON array), ?6 creator; newest first.
const LISTED: &str =
    "FROM requests WHERE project = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR role = ?3)
    AND (?5 IS NULL OR role IS NULL OR role IN (SELECT value FROM json_each(?5)))
    AND (?6 IS NULL OR created_by = ?6)
    ORDER BY created_at DESC, rowid DESC LIMIT ?4";

/// `columns` of the rows `filter` lists in `project` ([`LISTED`]), each read by `row`.
fn listed<T>(
    conn: &Connection,
    columns: &str,
    project: &str,
    filter: &RequestFilter<'_>,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare(&format!("SELECT {columns} {LISTED}"))?;
    let readable = filter.readable_roles.map(serde_json::to_string).transpose()?;
    let rows = stmt
        .query_map(
            params![project, filter.status, filter.role, filter.limit as i64, readable, filter.created_by],
            row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

impl Requests for Sqlite {
    fn execution(&self, project: &str, key: &str) -> StoreResult<Option<Execution>> {
        let text: Option<String> = self
            .reader()
            .query_row(
                "SELECT execution FROM executions WHERE project = ?1 AND key = ?2",
                params![project, key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn insert_request_for(
        &self,
        row: &RequestRow,
        body: &str,
        claim: Option<Claim<'_>>,
        audit: AuditEvent<'_>,
        recipients: &[Recipient],
        quota: u64,
    ) -> StoreResult<Inserted> {
        let claim = claim
            .map(|c| -> StoreResult<_> {
                Ok((
                    c.committed.key.clone(),
                    serde_json::to_string(c.committed)?,
                    c.previous.map(serde_json::to_string).transpose()?,
                ))
            })
            .transpose()?;
        let summary = serde_json::to_string(&Kept::of(row))?;
        // What the job writes, without a copy of the payload as a value.
        let (id, project, status, role, created_by) =
            (row.id.clone(), row.project.clone(), row.status, row.role.clone(), row.created_by.clone());
        let (created_at, expires_at, escalations) =
            (row.created_at, row.expires_at, row.escalations.len() as i64);
        let body = body.to_string();
        let recipients = recipients.to_vec();
        let kept_recipients =
            (!recipients.is_empty()).then(|| serde_json::to_string(&recipients)).transpose()?;
        let (at, actor, event, data) =
            (audit.at, audit.actor.to_string(), audit.event.to_string(), audit.data);
        self.grouped(move |tx| {
            if let Some((key, text, previous)) = claim {
                let changed = match previous {
                    None => tx.execute(
                        "INSERT OR IGNORE INTO executions (project, key, execution, created_at) VALUES (?1, ?2, ?3, ?4)",
                        params![project, key, text, created_at],
                    )?,
                    Some(prev) => tx.execute(
                        "UPDATE executions SET execution = ?3 WHERE project = ?1 AND key = ?2 AND execution = ?4",
                        params![project, key, text, prev],
                    )?,
                };
                if changed != 1 {
                    return Ok(Written::Skipped); // another create won the key; this savepoint rolls back
                }
            }
            // Ids are unique across projects (a client may choose one): a taken id writes
            // nothing, whichever project has it.
            let inserted = tx.execute(
                "INSERT OR IGNORE INTO requests (id, project, body, status, created_at, expires_at, role, created_by,
                    summary, escalations, recipients)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    id,
                    project,
                    body,
                    status.as_str(),
                    created_at,
                    expires_at,
                    role,
                    created_by,
                    summary,
                    escalations,
                    kept_recipients
                ],
            )?;
            if inserted != 1 {
                return Ok(Written::IdTaken);
            }
            // In the create's transaction: of creates racing for the last bytes, the quota
            // admits what fits.
            let used = housekeeping::usage_in(tx, &project)?;
            if over_quota(used, body.len() as u64, quota) {
                return Ok(Written::OverQuota(used));
            }
            housekeeping::add_usage(tx, &project, body.len() as i64)?;
            let audit = AuditEvent { at, actor: &actor, event: &event, data };
            append_audit(tx, &project, &id, &audit)?;
            enqueue(tx, &project, &id, role.as_deref(), audit.event, audit.at, None, || row_from(body.clone()))?;
            channels::notify(tx, &project, &id, role.as_deref(), audit.event, audit.at, expires_at, &recipients)?;
            Ok(Written::Applied)
        })
        .map(|written| match written {
            Written::Applied => Inserted::Created,
            Written::Skipped => Inserted::KeyTaken,
            Written::IdTaken => Inserted::IdTaken,
            Written::OverQuota(used) => Inserted::OverQuota { used },
        })
    }

    fn request(&self, project: &str, id: &str) -> StoreResult<Option<RequestRow>> {
        let stored = self
            .reader()
            .query_row(
                &format!("SELECT {STORED} FROM requests WHERE project = ?1 AND id = ?2"),
                params![project, id],
                stored_columns,
            )
            .optional()?;
        stored.map(Stored::row).transpose()
    }

    fn list(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestRow>> {
        let conn = self.reader();
        let stored = listed(&conn, STORED, project, filter, stored_columns)?;
        stored.into_iter().map(Stored::row).collect()
    }

    fn list_summaries(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestSummary>> {
        let conn = self.reader();
        // The body is read only for a row stored before summaries were kept.
        type Columns = (String, String, Option<String>, i64, i64, i64, Option<String>, Option<String>);
        let columns = "id, status, role, created_at, expires_at, escalations, summary,
                       CASE WHEN summary IS NULL THEN body END";
        let rows = listed(&conn, columns, project, filter, |r| -> rusqlite::Result<Columns> {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
        })?;
        rows.into_iter()
            .map(|(id, status, role, created_at, expires_at, escalations, summary, body)| {
                let kept = match (summary, body) {
                    (Some(summary), _) => serde_json::from_str::<Kept>(&summary)?,
                    (None, Some(body)) => Kept::of(&row_from(body)?),
                    (None, None) => {
                        return Err(StoreError(format!("request {id} has neither summary nor body")))
                    }
                };
                let status =
                    status.parse().map_err(|_| StoreError(format!("request {id}: status {status:?}")))?;
                Ok(RequestSummary {
                    id,
                    service: kept.service,
                    action: kept.action,
                    priority: kept.priority,
                    role,
                    status,
                    created_at,
                    expires_at,
                    encrypted: kept.encrypted,
                    held: kept.held,
                    preview: kept.preview,
                    complete: kept.complete,
                    escalations: escalations.max(0) as usize,
                })
            })
            .collect()
    }

    fn decide(
        &self,
        project: &str,
        id: &str,
        status: Status,
        decision: &Decision,
        callback: Option<&str>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        let job = decide_job(project, id, status, decision, callback, audit)?;
        self.grouped(job).map(|written| written == Written::Applied)
    }

    fn decide_many(&self, decisions: Vec<DecideArgs<'_>>) -> Vec<StoreResult<bool>> {
        let mut answers: Vec<Option<StoreResult<bool>>> = Vec::with_capacity(decisions.len());
        let mut jobs = Vec::new();
        for d in decisions {
            match decide_job(d.project, d.id, d.status, d.decision, d.callback, d.audit) {
                Ok(job) => {
                    answers.push(None);
                    jobs.push(job);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let mut written = self.grouped_all(jobs).into_iter();
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    written
                        .next()
                        .unwrap_or_else(|| Err(StoreError("a decision had no outcome".into())))
                        .map(|w| w == Written::Applied)
                })
            })
            .collect()
    }

    fn due(&self, now: i64, limit: usize) -> StoreResult<Vec<(String, String)>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT project, id FROM requests WHERE status = 'PENDING' AND expires_at <= ?1
             ORDER BY expires_at LIMIT ?2",
        )?;
        let due = stmt
            .query_map(params![now, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(due)
    }

    fn due_escalations(
        &self,
        now: i64,
        max_hops: usize,
        limit: usize,
    ) -> StoreResult<Vec<(DueEscalation, String)>> {
        let conn = self.reader();
        // Driven from the (few) roles with a rule (CROSS JOIN keeps that order: the pending
        // requests of those roles come from `requests_by_role`, the rest are never read). The
        // request's time in its role starts at its last escalation, else at its creation.
        // Rows moved here no longer qualify, so more than `limit` due go at the next sweeps.
        // No payload is read into memory: SQLite reads the few fields it needs in place.
        let mut stmt = conn.prepare(
            "SELECT r.project, r.id, r.role, r.escalations, ro.escalate_to FROM roles ro
             CROSS JOIN requests r ON r.project = ro.project AND r.role = ro.name AND r.status = 'PENDING'
             WHERE ro.escalate_to IS NOT NULL AND ro.escalate_after_secs IS NOT NULL AND r.expires_at > ?1
               AND COALESCE(json_extract(r.escalation_log, '$[#-1].at'), json_extract(r.body, '$.escalations[#-1].at'),
                            r.created_at) + ro.escalate_after_secs <= ?1
               AND r.escalations < ?2
             LIMIT ?3",
        )?;
        let due = stmt
            .query_map(params![now, max_hops as i64, limit as i64], |r| {
                Ok((
                    DueEscalation {
                        project: r.get(0)?,
                        id: r.get(1)?,
                        role: r.get(2)?,
                        hops: r.get::<_, i64>(3)?.max(0) as usize,
                        target: None,
                    },
                    r.get::<_, String>(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(due)
    }

    fn escalate(
        &self,
        project: &str,
        id: &str,
        step: &EscalationStep<'_>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<RequestRow>> {
        {
            let mut conn = self.conn();
            let tx = conn.transaction()?;
            // The escalations so far: their column, or for a row escalated before it existed,
            // the body's list (read in place by SQLite). The payload is not read.
            // With its deadline and recipients, for the notifications of a move to another role.
            type Logs = (Option<String>, Option<String>, i64, Option<String>);
            let logs: Option<Logs> = tx
                .query_row(
                    "SELECT escalation_log, CASE WHEN escalation_log IS NULL THEN json_extract(body, '$.escalations') END,
                        expires_at, recipients
                     FROM requests
                     WHERE project = ?1 AND id = ?2 AND status = 'PENDING' AND role IS ?3 AND expires_at > ?4",
                    params![project, id, step.from, audit.at],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?;
            let Some((kept, in_body, expires_at, recipients)) = logs else { return Ok(None) };
            let before = kept.as_ref().map_or(0, String::len) as i64;
            let mut escalations: Vec<Escalation> =
                kept.or(in_body).map(|l| serde_json::from_str(&l)).transpose()?.unwrap_or_default();
            if escalations.len() >= step.max_hops || (step.first_only && !escalations.is_empty()) {
                return Ok(None);
            }
            let role = step.to.or(step.from);
            escalations.push(Escalation {
                from: step.from.map(str::to_string),
                to: step.to.map(str::to_string),
                target: step.target.map(str::to_string),
                at: audit.at,
            });
            let log = serde_json::to_string(&escalations)?;
            tx.execute(
                "UPDATE requests SET role = ?3, escalations = ?4, escalation_log = ?5 WHERE project = ?1 AND id = ?2",
                params![project, id, role, escalations.len() as i64, log],
            )?;
            housekeeping::add_usage(&tx, project, log.len() as i64 - before)?;
            append_audit(&tx, project, id, &audit)?;
            enqueue(&tx, project, id, role, audit.event, audit.at, None, || stored(&tx, project, id))?;
            // A request that moved to another role is announced to that role's channels.
            if step.to.is_some_and(|to| step.from != Some(to)) {
                let recipients: Vec<Recipient> =
                    recipients.map(|r| serde_json::from_str(&r)).transpose()?.unwrap_or_default();
                channels::notify(&tx, project, id, role, audit.event, audit.at, expires_at, &recipients)?;
            }
            tx.commit()?;
        }
        // Read back outside the writer's lock.
        self.request(project, id)
    }

    fn due_own_escalations(&self, now: i64, limit: usize) -> StoreResult<Vec<DueEscalation>> {
        let conn = self.reader();
        // `requests_escalate_at` is a partial index over pending requests by their own
        // escalation time, so only those due are read; the rest of the pending queue is never
        // scanned. Named, because without statistics SQLite prefers `requests_due`, which
        // would read every pending request not yet expired. No payload is read into memory.
        let mut stmt = conn.prepare(
            "SELECT project, id, role, json_extract(body, '$.context.escalate_to') FROM requests
               INDEXED BY requests_escalate_at
             WHERE status = 'PENDING' AND json_extract(body, '$.context.escalate_at') <= ?1 AND expires_at > ?1
               AND escalations = 0
             LIMIT ?2",
        )?;
        let due = stmt
            .query_map(params![now, limit as i64], |r| {
                // A target that is not a string names nobody.
                let target = match r.get_ref(3)? {
                    rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                    _ => None,
                };
                Ok(DueEscalation { project: r.get(0)?, id: r.get(1)?, role: r.get(2)?, hops: 0, target })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(due)
    }
}

/// The columns a request is read from ([`Stored::row`]).
const STORED: &str = "body, decision, escalation_log, role";

/// A request's columns as stored: the body as created, and what changed since in columns of
/// their own (so neither a decision nor an escalation rewrites the payload).
struct Stored {
    body: String,
    decision: Option<String>,
    escalation_log: Option<String>,
    role: Option<String>,
}

/// The request `id` of `project` as `conn` sees it (it exists).
fn stored(conn: &Connection, project: &str, id: &str) -> StoreResult<RequestRow> {
    let sql = format!("SELECT {STORED} FROM requests WHERE project = ?1 AND id = ?2");
    conn.query_row(&sql, params![project, id], stored_columns)?.row()
}

fn stored_columns(r: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored { body: r.get(0)?, decision: r.get(1)?, escalation_log: r.get(2)?, role: r.get(3)? })
}

impl Stored {
    /// The request as it stands. Rows decided or escalated before those columns existed carry
    /// their decision and escalations in the body.
    fn row(self) -> StoreResult<RequestRow> {
        let mut row = row_from(self.body)?;
        if let Some(decision) = self.decision {
            let decision: Decision = serde_json::from_str(&decision)?;
            row.status = decision.status;
            row.decision = Some(decision);
        }
        if let Some(log) = self.escalation_log {
            row.escalations = serde_json::from_str(&log)?;
        }
        row.role = self.role;
        Ok(row)
    }
}

/// The group-commit job that writes one decision (see [`Requests::decide`]).
fn decide_job(
    project: &str,
    id: &str,
    status: Status,
    decision: &Decision,
    callback: Option<&str>,
    audit: AuditEvent<'_>,
) -> StoreResult<Job> {
    let (project, id) = (project.to_string(), id.to_string());
    // Serialized here, outside the writer's lock.
    let text = serde_json::to_string(decision)?;
    let callback = callback.map(str::to_string);
    let (at, actor, event, data) = (audit.at, audit.actor.to_string(), audit.event.to_string(), audit.data);
    let approver = approving_actor(status, decision)?.map(str::to_string);
    Ok(Box::new(move |tx| {
        if let Some((kind, who)) = approver.as_deref().and_then(channel_actor) {
            // An e-mail addressee (a Slack member) approves only while an e-mail (Slack)
            // channel of the project that hears the request's role (as it is now) names them.
            let role: Option<Option<String>> = tx
                .query_row(
                    "SELECT role FROM requests WHERE project = ?1 AND id = ?2",
                    params![project, id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(role) = role else { return Ok(Written::Skipped) };
            let admitted = match kind {
                ChannelKind::Email => channels::is_addressee(tx, &project, role.as_deref(), who)?,
                ChannelKind::Slack => channels::slack_member(tx, &project, role.as_deref(), who)?.is_some(),
            };
            if !admitted {
                return Err(StoreError(
                    "approval refused: its decider is not an addressee of a channel of the request's role"
                        .into(),
                ));
            }
        } else if let Some(actor) = &approver {
            let role: Option<String> = tx
                .query_row(
                    "SELECT role FROM keys WHERE project = ?1 AND key_id = ?2",
                    params![project, actor],
                    |r| r.get(0),
                )
                .optional()?;
            if role.as_deref() != Some(Role::Operator.as_str()) {
                return Err(StoreError(
                    "approval refused: its decider is not an operator of the project".into(),
                ));
            }
        }
        // The deadline holds at decision time, whatever the expiry sweep's backlog: past it,
        // only the expiry itself may be written. The payload is neither read nor rewritten.
        let role: Option<Option<String>> = tx
            .query_row(
                "UPDATE requests SET status = ?3, decision = ?4
                 WHERE project = ?1 AND id = ?2 AND status = 'PENDING' AND (?5 OR expires_at > ?6)
                 RETURNING role",
                params![project, id, status.as_str(), text, status == Status::Expired, at],
                |r| r.get(0),
            )
            .optional()?;
        let Some(role) = role else { return Ok(Written::Skipped) };
        // The Slack messages that asked show the outcome: their updates commit with it.
        channels::queue_slack_updates(tx, &project, &id, at * 1000)?;
        housekeeping::add_usage(tx, &project, text.len() as i64)?;
        let audit = AuditEvent { at, actor: &actor, event: &event, data };
        append_audit(tx, &project, &id, &audit)?;
        enqueue(tx, &project, &id, role.as_deref(), audit.event, audit.at, callback.as_deref(), || {
            stored(tx, &project, &id)
        })?;
        Ok(Written::Applied)
    }))
}
