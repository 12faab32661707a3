//! Requests: create exactly once, read, list, decide, and the sweeps' reads (due, escalations).
//!
//! What must happen once across replicas is decided by the rows themselves: the
//! `executions (project, key)` and `requests.id` keys decide a create, a conditional update of a
//! row that is still pending decides a decision or an escalation.
//!
//! Every write here takes its locks in one order — the request's row, then the decider's key or
//! the project's e-mail channels, then webhooks (the deliveries' references), then the project's
//! usage row, then its audit chain — so concurrent writes on any replica wait for each other
//! rather than deadlock.

use super::channels::{addressees, is_addressee, notify, notify_to, queue_slack_updates, slack_member};
use super::deliveries::{enqueue, enqueue_to, hearing};
use super::housekeeping::add_usage;
use super::*;
use crate::store::*;

/// The rows a listing returns (see [`RequestFilter`]): $1 project, $2 status, $3 role, $4 limit,
/// $5 readable roles, $6 creator; newest first.
const LISTED: &str = "FROM requests WHERE project = $1 AND ($2::text IS NULL OR status = $2)
    AND ($3::text IS NULL OR role = $3)
    AND ($5::text[] IS NULL OR role IS NULL OR role = ANY($5))
    AND ($6::text IS NULL OR created_by = $6)
    ORDER BY created_at DESC, rowid DESC LIMIT $4";

/// A create's writes in one statement, by how its Idempotency-Key is claimed: none, a new
/// key, or a lease taken over from `$16` (the execution it must still be). $1–$10 are the
/// request's columns, $11 its size (the usage change), $12 its unchained audit entry, $13 its
/// recipients, $14 the key, $15 the execution. The request, its usage change and its entry
/// are written only if the key was claimed; the row says (claimed, inserted). The request's
/// own escalation time (`escalate_at`) is the database's to fill in (`schema_v4.sql`).
static CREATE: std::sync::LazyLock<[String; 3]> = std::sync::LazyLock::new(|| {
    let claims = [
        "SELECT 1",
        "INSERT INTO executions (project, key, execution, created_at) VALUES ($2, $15, $16, $5)
         ON CONFLICT DO NOTHING RETURNING 1",
        "UPDATE executions SET execution = $16 WHERE project = $2 AND key = $15 AND execution = $17 RETURNING 1",
    ];
    claims.map(|claim| {
        // `room`: the project's stored bytes (the folded count and the changes not folded
        // yet, as `Housekeeping::usage` reads them), against the quota ($14).
        format!(
            "WITH claimed AS ({claim}),
             room AS (SELECT COALESCE((SELECT bytes FROM usage WHERE project = $2), 0)
                 + COALESCE((SELECT sum(bytes) FROM usage_deltas WHERE project = $2), 0)::bigint AS used),
             made AS (INSERT INTO requests (id, project, body, status, created_at, expires_at, role,
                 created_by, summary, escalations, recipients)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $13
                 WHERE EXISTS (SELECT 1 FROM claimed) AND (SELECT used FROM room)::numeric + $11::bigint <= $14::bigint
                 ON CONFLICT DO NOTHING RETURNING 1),
             used AS (INSERT INTO usage_deltas (project, bytes) SELECT $2, $11 WHERE EXISTS (SELECT 1 FROM made)),
             logged AS (INSERT INTO audit (entry, project, project_seq)
                 SELECT $12, $2, NULL WHERE EXISTS (SELECT 1 FROM made))
             SELECT (SELECT count(*) FROM claimed), (SELECT count(*) FROM made), (SELECT used FROM room)"
        )
    })
});

/// The columns a request is read from ([`Stored::row`]).
const STORED: &str = "body, decision, escalation_log, role";

impl Postgres {
    /// `columns` of the rows `filter` lists in `project` ([`LISTED`]).
    async fn listed(
        &self,
        columns: &str,
        project: &str,
        filter: &RequestFilter<'_>,
    ) -> StoreResult<Vec<tokio_postgres::Row>> {
        let c = self.client().await?;
        Ok(c.query(
            &format!("SELECT {columns} {LISTED}"),
            &[
                &project,
                &filter.status,
                &filter.role,
                &(filter.limit as i64),
                &filter.readable_roles,
                &filter.created_by,
            ],
        )
        .await?)
    }
}

impl Requests for Postgres {
    fn execution(&self, project: &str, key: &str) -> StoreResult<Option<Execution>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .row_opt(
                    "SELECT execution FROM executions WHERE project = $1 AND key = $2",
                    &[&project, &key],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(serde_json::from_str(row.try_get(0)?)?))
        })
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
                    c.committed.key.as_str(),
                    serde_json::to_string(c.committed)?,
                    c.previous.map(serde_json::to_string).transpose()?,
                ))
            })
            .transpose()?;
        let summary = serde_json::to_string(&Kept::of(row))?;
        let kept_recipients =
            (!recipients.is_empty()).then(|| serde_json::to_string(recipients)).transpose()?;
        let (project, id, role) = (row.project.as_str(), row.id.as_str(), row.role.as_deref());
        let entry = unchained(project, id, &audit)?;
        let bytes = body.len() as i64;
        let quota = quota.min(i64::MAX as u64) as i64;
        self.block(self.transaction(async |c| {
            // One statement claims the key, checks the quota, inserts the request and, when
            // all went through, its usage change and its audit entry ([`CREATE`]); it travels
            // with the transaction's `BEGIN` and the reads of who hears of the request: every
            // round trip is a turn of the database's work and of this server's, paid by every
            // create.
            //
            // The key's row decides between creates racing on any replica: the loser's insert
            // waits for the winner's commit, then inserts (or matches) nothing. Ids are unique
            // across projects (a client may choose one): a taken id writes nothing, whichever
            // project has it. Either way nothing of this create is committed.
            let (escalations, status) = (row.escalations.len() as i32, row.status.as_str());
            let mut values: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![
                &id,
                &project,
                &body,
                &status,
                &row.created_at,
                &row.expires_at,
                &role,
                &row.created_by,
                &summary,
                &escalations,
                &bytes,
                &entry,
                &kept_recipients,
                &quota,
            ];
            let sql = match &claim {
                None => &CREATE[0],
                Some((key, text, None)) => {
                    values.extend([key as &(dyn tokio_postgres::types::ToSql + Sync), text]);
                    &CREATE[1]
                }
                Some((key, text, Some(previous))) => {
                    values.extend([key as &(dyn tokio_postgres::types::ToSql + Sync), text, previous]);
                    &CREATE[2]
                }
            };
            let (done, hooks, addressees) = futures_util::future::try_join3(
                async { Ok(c.row(sql, &values).await?) },
                hearing(c, project, role),
                addressees(c, project, role),
            )
            .await?;
            let (changed, inserted): (i64, i64) = (done.try_get(0)?, done.try_get(1)?);
            if changed != 1 {
                return Ok((Inserted::KeyTaken, false));
            }
            if inserted != 1 {
                let used: i64 = done.try_get(2)?;
                let used = used.max(0) as u64;
                if over_quota(used, bytes as u64, quota as u64) {
                    return Ok((Inserted::OverQuota { used }, false));
                }
                return Ok((Inserted::IdTaken, false));
            }
            futures_util::future::try_join(
                enqueue_to(c, hooks, project, id, audit.event, audit.at, None, async || row_from(body)),
                notify_to(
                    c,
                    addressees,
                    project,
                    id,
                    role,
                    audit.event,
                    audit.at,
                    row.expires_at,
                    recipients,
                ),
            )
            .await?;
            self.announce(c, project, id, "request.created").await?;
            Ok((Inserted::Created, true))
        }))
    }

    fn request(&self, project: &str, id: &str) -> StoreResult<Option<RequestRow>> {
        self.block(async {
            let c = self.client().await?;
            stored_opt(&c, project, id).await
        })
    }

    fn list(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestRow>> {
        self.block(async {
            let rows = self.listed(STORED, project, filter).await?;
            rows.iter().map(|r| Stored::of(r)?.row()).collect()
        })
    }

    fn list_summaries(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestSummary>> {
        self.block(async {
            let columns = "id, status, role, created_at, expires_at, escalations, summary";
            let rows = self.listed(columns, project, filter).await?;
            rows.iter()
                .map(|r| {
                    let id: String = r.try_get(0)?;
                    let status: &str = r.try_get(1)?;
                    let status =
                        status.parse().map_err(|_| StoreError(format!("request {id}: status {status:?}")))?;
                    // Every row this store writes keeps its summary from its creation.
                    let summary: Option<&str> = r.try_get(6)?;
                    let Some(summary) = summary else {
                        return Err(StoreError(format!("request {id} has no summary")));
                    };
                    let kept: Kept = serde_json::from_str(summary)?;
                    Ok(RequestSummary {
                        id,
                        service: kept.service,
                        action: kept.action,
                        priority: kept.priority,
                        role: r.try_get(2)?,
                        status,
                        created_at: r.try_get(3)?,
                        expires_at: r.try_get(4)?,
                        encrypted: kept.encrypted,
                        held: kept.held,
                        preview: kept.preview,
                        complete: kept.complete,
                        escalations: r.try_get::<_, i32>(5)?.max(0) as usize,
                    })
                })
                .collect()
        })
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
        let d = Ruling::of(DecideArgs { project, id, status, decision, callback, audit })?;
        self.block(self.transaction(async |c| {
            let applied = self.decide_in(c, &d).await?;
            Ok((applied, applied))
        }))
    }

    fn decide_many(&self, decisions: Vec<DecideArgs<'_>>) -> Vec<StoreResult<bool>> {
        // A decision refused before any write keeps its error; the others are written.
        let mut answers: Vec<Option<StoreResult<bool>>> = Vec::with_capacity(decisions.len());
        let mut rulings = Vec::new();
        for d in decisions {
            match Ruling::of(d) {
                Ok(r) => {
                    answers.push(None);
                    rulings.push(r);
                }
                Err(e) => answers.push(Some(Err(e))),
            }
        }
        let written: StoreResult<Vec<StoreResult<bool>>> = self.block(async {
            let mut c = self.client().await?;
            let mut tx = c.transaction().await?;
            hold(&tx, &rulings).await?;
            let mut outcomes = Vec::with_capacity(rulings.len());
            for d in &rulings {
                // Each in a savepoint of its own: one that fails leaves nothing behind while
                // the others commit.
                let sp = tx.transaction().await?;
                let outcome = self.decide_in(&sp, d).await;
                if matches!(outcome, Ok(true)) {
                    sp.commit().await?;
                } else {
                    sp.rollback().await?;
                }
                outcomes.push(outcome);
            }
            tx.commit().await?;
            Ok(outcomes)
        });
        let mut written = match written {
            Ok(outcomes) => outcomes.into_iter(),
            // Nothing of the batch was stored.
            Err(e) => {
                (0..rulings.len()).map(|_| Err(StoreError(e.0.clone()))).collect::<Vec<_>>().into_iter()
            }
        };
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    written.next().unwrap_or_else(|| Err(StoreError("a decision had no outcome".into())))
                })
            })
            .collect()
    }

    fn due(&self, now: i64, limit: usize) -> StoreResult<Vec<(String, String)>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .rows(
                    "SELECT project, id FROM requests WHERE status = 'PENDING' AND expires_at <= $1
                     ORDER BY expires_at, rowid LIMIT $2",
                    &[&now, &(limit as i64)],
                )
                .await?;
            rows.iter().map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).collect()
        })
    }

    fn due_escalations(
        &self,
        now: i64,
        max_hops: usize,
        limit: usize,
    ) -> StoreResult<Vec<(DueEscalation, String)>> {
        self.block(async {
            let c = self.client().await?;
            // Driven from the (few) roles with a rule: the pending requests of those roles come
            // from `requests_by_role`. The request's time in its role starts at its last
            // escalation, else at its creation. Rows moved here no longer qualify, so more than
            // `limit` due go at the next sweeps. No payload is read.
            let rows = c
                .rows(
                    "SELECT r.project, r.id, r.role, r.escalations, ro.escalate_to FROM roles ro
                     JOIN requests r ON r.project = ro.project AND r.role = ro.name AND r.status = 'PENDING'
                     WHERE ro.escalate_to IS NOT NULL AND ro.escalate_after_secs IS NOT NULL AND r.expires_at > $1
                       AND COALESCE((r.escalation_log::jsonb -> -1 ->> 'at')::bigint, r.created_at)
                           + ro.escalate_after_secs <= $1
                       AND r.escalations < $2::bigint
                     LIMIT $3",
                    &[&now, &(max_hops as i64), &(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok((
                        DueEscalation {
                            project: r.try_get(0)?,
                            id: r.try_get(1)?,
                            role: r.try_get(2)?,
                            hops: r.try_get::<_, i32>(3)?.max(0) as usize,
                            target: None,
                        },
                        r.try_get(4)?,
                    ))
                })
                .collect()
        })
    }

    fn escalate(
        &self,
        project: &str,
        id: &str,
        step: &EscalationStep<'_>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<RequestRow>> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Locked until the commit: of sweeps on several replicas, one escalates it; the
            // others find it no longer qualifying (its role or its log changed) once it is
            // committed. The payload is not read. Found by project and id alone, then checked
            // (see `decide_in`: the status among the conditions invites a walk of an index
            // through every pending request).
            let logs = tx
                .row_opt(
                    "WITH target AS MATERIALIZED (SELECT id FROM requests WHERE project = $1 AND id = $2)
                     SELECT r.escalation_log, r.recipients FROM requests r JOIN target ON r.id = target.id
                     WHERE r.status = 'PENDING' AND r.role IS NOT DISTINCT FROM $3 AND r.expires_at > $4
                     FOR UPDATE OF r",
                    &[&project, &id, &step.from, &audit.at],
                )
                .await?;
            let Some(logs) = logs else { return Ok(None) };
            let kept: Option<String> = logs.try_get(0)?;
            let recipients: Option<&str> = logs.try_get(1)?;
            let recipients: Vec<Recipient> =
                recipients.map(serde_json::from_str).transpose()?.unwrap_or_default();
            let before = kept.as_ref().map_or(0, String::len) as i64;
            let mut escalations: Vec<Escalation> =
                kept.map(|l| serde_json::from_str(&l)).transpose()?.unwrap_or_default();
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
            let updated = tx
                .query_one(
                    &format!(
                        "UPDATE requests SET role = $3, escalations = $4, escalation_log = $5
                         WHERE project = $1 AND id = $2 RETURNING {STORED}"
                    ),
                    &[&project, &id, &role, &(escalations.len() as i32), &log],
                )
                .await?;
            let moved = Stored::of(&updated)?.row()?;
            enqueue(&tx, project, id, role, audit.event, audit.at, None, async || Ok(moved.clone())).await?;
            // A request that moved to another role is announced to that role's channels.
            if step.to.is_some_and(|to| step.from != Some(to)) {
                notify(&tx, project, id, role, audit.event, audit.at, moved.expires_at, &recipients).await?;
            }
            add_usage(&tx, project, log.len() as i64 - before).await?;
            append_audit(&tx, project, id, &audit).await?;
            self.announce(&tx, project, id, "request.escalated").await?;
            tx.commit().await?;
            Ok(Some(moved))
        })
    }

    fn due_own_escalations(&self, now: i64, limit: usize) -> StoreResult<Vec<DueEscalation>> {
        self.block(async {
            let c = self.client().await?;
            // `escalate_at` is indexed over pending requests (`requests_own_escalation`), so
            // only those due are read, never the rest of the pending queue; only their bodies
            // are parsed, for the target. A target that is not a string names nobody.
            let rows = c
                .rows(
                    "SELECT project, id, role,
                        CASE WHEN jsonb_typeof(body::jsonb #> '{context,escalate_to}') = 'string'
                             THEN body::jsonb #>> '{context,escalate_to}' END
                     FROM requests
                     WHERE status = 'PENDING' AND escalate_at <= $1::bigint
                       AND expires_at > $1 AND escalations = 0
                     LIMIT $2",
                    &[&now, &(limit as i64)],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(DueEscalation {
                        project: r.try_get(0)?,
                        id: r.try_get(1)?,
                        role: r.try_get(2)?,
                        hops: 0,
                        target: r.try_get(3)?,
                    })
                })
                .collect()
        })
    }
}

impl Postgres {
    /// Writes one decision inside `tx` (see [`Requests::decide`]); false when it was no longer
    /// pending (nothing written then).
    async fn decide_in(&self, tx: &impl GenericClient, d: &Ruling<'_>) -> StoreResult<bool> {
        let (project, id) = (d.project, d.id);
        // The deadline holds at decision time, whatever the expiry sweep's backlog: past it,
        // only the expiry itself may be written. Conditional, so of replicas deciding or
        // expiring it at once, one writes it. The payload is neither read nor rewritten.
        let expiry = d.status == Status::Expired;
        // The row is found by its project and id alone, then checked: with `status` among the
        // conditions the planner may walk `requests_by_project` (project, status) through
        // every pending request instead of the key's one row, as it did on a young table
        // (4.6 ms a decision at 10,000 pending, measured), and a prepared plan keeps that.
        let update = async {
            tx.row_opt(
                "WITH target AS MATERIALIZED (SELECT id FROM requests WHERE project = $1 AND id = $2)
                 UPDATE requests r SET status = $3, decision = $4 FROM target
                 WHERE r.id = target.id AND r.status = 'PENDING' AND ($5 OR r.expires_at > $6)
                 RETURNING r.role",
                &[&project, &id, &d.status.as_str(), &d.text, &expiry, &d.audit.at],
            )
            .await
        };
        // Whatever refuses the decision below returns an error or `false`, and the caller
        // rolls the transaction back: the update sent ahead of the checks is undone with it.
        let role = if let Some(approver) = d.approver {
            // The row first (see the lock order above): its role cannot move until the commit.
            let row = async {
                tx.row_opt(
                    "SELECT role FROM requests WHERE project = $1 AND id = $2 FOR UPDATE",
                    &[&project, &id],
                )
                .await
            };
            if let Some((kind, who)) = channel_actor(approver) {
                let row = row.await?;
                // An e-mail addressee (a Slack member) approves only while an e-mail (Slack)
                // channel of the project that hears the request's role (as it is now) names
                // them: the project's channels are held until the commit, so none is deleted in
                // between.
                let Some(row) = row else { return Ok(false) };
                let role: Option<String> = row.try_get(0)?;
                tx.run("SELECT 1 FROM channels WHERE project = $1 ORDER BY id FOR SHARE", &[&project])
                    .await?;
                let admitted = match kind {
                    ChannelKind::Email => is_addressee(tx, project, role.as_deref(), who).await?,
                    ChannelKind::Slack => slack_member(tx, project, role.as_deref(), who).await?.is_some(),
                };
                if !admitted {
                    return Err(StoreError(
                        "approval refused: its decider is not an addressee of a channel of the request's role"
                            .into(),
                    ));
                }
                update.await?
            } else {
                // Held until the commit: a revocation waits for this decision, or this decision
                // sees the key gone. Sent behind the row's lock, with the update, in one round
                // trip: the database runs them in this order.
                let key = async {
                    tx.row_opt(
                        "SELECT role FROM keys WHERE project = $1 AND key_id = $2 FOR SHARE",
                        &[&project, &approver],
                    )
                    .await
                };
                let (_, key, role) = futures_util::future::try_join3(row, key, update).await?;
                let key_role: Option<&str> = key.as_ref().map(|k| k.try_get(0)).transpose()?;
                if key_role != Some(Role::Operator.as_str()) {
                    return Err(StoreError(
                        "approval refused: its decider is not an operator of the project".into(),
                    ));
                }
                role
            }
        } else {
            update.await?
        };
        let Some(role) = role else { return Ok(false) };
        let role: Option<String> = role.try_get(0)?;
        let audit = &d.audit;
        // Sent together (the database runs them in this order): the Slack messages' updates
        // (the messages that asked show the outcome: their updates commit with it), the
        // webhooks' read (and then their deliveries), the usage change, the audit entry.
        futures_util::future::try_join4(
            queue_slack_updates(tx, project, id, audit.at * 1000),
            enqueue(tx, project, id, role.as_deref(), audit.event, audit.at, d.callback, async || {
                stored(tx, project, id).await
            }),
            add_usage(tx, project, d.text.len() as i64),
            append_audit(tx, project, id, audit),
        )
        .await?;
        let event = if expiry { "request.expired" } else { "request.resolved" };
        self.announce(tx, project, id, event).await?;
        Ok(true)
    }
}

/// A decision ready to write: [`DecideArgs`] with its JSON and its checked approver.
struct Ruling<'a> {
    project: &'a str,
    id: &'a str,
    status: Status,
    text: String,
    callback: Option<&'a str>,
    audit: AuditEvent<'a>,
    /// The decider an approval must be found as (see [`approving_actor`]).
    approver: Option<&'a str>,
}

impl<'a> Ruling<'a> {
    fn of(d: DecideArgs<'a>) -> StoreResult<Ruling<'a>> {
        Ok(Ruling {
            project: d.project,
            id: d.id,
            status: d.status,
            text: serde_json::to_string(d.decision)?,
            callback: d.callback,
            approver: approving_actor(d.status, d.decision)?,
            audit: d.audit,
        })
    }
}

/// Takes, up front and sorted, every lock a batch of decisions will need, in the order every
/// single write takes them: a batch that took them one decision at a time would hold one
/// request's locks while waiting for another's, and deadlock with a write (or another
/// replica's batch) holding them the other way round.
async fn hold(tx: &impl GenericClient, rulings: &[Ruling<'_>]) -> StoreResult<()> {
    let ids = sorted(rulings.iter().map(|d| d.id).collect());
    tx.run("SELECT 1 FROM requests WHERE id = ANY($1) ORDER BY id FOR UPDATE", &[&ids]).await?;
    let (keys, agents): (Vec<_>, Vec<_>) = rulings
        .iter()
        .filter_map(|d| Some((d.project, d.approver?)))
        .filter(|(_, a)| channel_actor(a).is_none())
        .unzip();
    if !keys.is_empty() {
        tx.run(
            "SELECT 1 FROM keys WHERE (project, key_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
             ORDER BY token_hash FOR SHARE",
            &[&keys, &agents],
        )
        .await?;
    }
    let mailed = sorted(
        rulings.iter().filter(|d| d.approver.and_then(channel_actor).is_some()).map(|d| d.project).collect(),
    );
    if !mailed.is_empty() {
        tx.run("SELECT 1 FROM channels WHERE project = ANY($1) ORDER BY id FOR SHARE", &[&mailed]).await?;
    }
    let projects = sorted(rulings.iter().map(|d| d.project).collect());
    tx.run("SELECT 1 FROM webhooks WHERE project = ANY($1) ORDER BY rowid FOR KEY SHARE", &[&projects])
        .await?;
    Ok(())
}

/// `v` sorted, each once.
fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

/// A request's columns as stored: the body as created, and what changed since in columns of
/// their own (so neither a decision nor an escalation rewrites the payload).
struct Stored {
    body: String,
    decision: Option<String>,
    escalation_log: Option<String>,
    role: Option<String>,
}

impl Stored {
    /// The [`STORED`] columns of `r`.
    fn of(r: &tokio_postgres::Row) -> StoreResult<Stored> {
        Ok(Stored {
            body: r.try_get(0)?,
            decision: r.try_get(1)?,
            escalation_log: r.try_get(2)?,
            role: r.try_get(3)?,
        })
    }

    /// The request as it stands.
    fn row(self) -> StoreResult<RequestRow> {
        let mut row = row_from(&self.body)?;
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

/// The request `id` of `project` as `c` sees it, if it exists.
async fn stored_opt(c: &impl GenericClient, project: &str, id: &str) -> StoreResult<Option<RequestRow>> {
    static BY_ID: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| format!("SELECT {STORED} FROM requests WHERE project = $1 AND id = $2"));
    let row = c.row_opt(&BY_ID, &[&project, &id]).await?;
    row.map(|r| Stored::of(&r)?.row()).transpose()
}

/// The request `id` of `project` as `c` sees it (it exists).
async fn stored(c: &impl GenericClient, project: &str, id: &str) -> StoreResult<RequestRow> {
    stored_opt(c, project, id).await?.ok_or_else(|| StoreError(format!("request {id} vanished")))
}

fn row_from(body: &str) -> StoreResult<RequestRow> {
    Ok(serde_json::from_str(body)?)
}

/// Against the PostgreSQL server `HANDRAIL_TEST_POSTGRES` names (skipped without one): two
/// stores on one fresh database, as two replicas.
#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};

    use handrail_core::idempotency::{Fingerprint, State, Stored as Replay};
    use serde_json::json;

    use super::*;

    const PROJECT: &str = "prj_t";

    /// Two replicas on a new database holding one project with an operator key `op`.
    fn replicas() -> Option<(Arc<Postgres>, Arc<Postgres>)> {
        let admin = std::env::var("HANDRAIL_TEST_POSTGRES").ok().filter(|u| !u.is_empty())?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!("hreq_unit_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed));
        let out = std::process::Command::new("psql")
            .args([&admin, "-q", "-v", "ON_ERROR_STOP=1", "-c"])
            .arg(format!("DROP DATABASE IF EXISTS {name}"))
            .arg("-c")
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let (a, b) = (Postgres::open(&url).unwrap(), Postgres::open(&url).unwrap());
        a.add_project(PROJECT, "t", 1).unwrap();
        a.add_key("op", "hash-op", PROJECT, Role::Operator, 1).unwrap();
        a.add_key("agent", "hash-agent", PROJECT, Role::Agent, 1).unwrap();
        Some((Arc::new(a), Arc::new(b)))
    }

    fn row(id: &str) -> RequestRow {
        serde_json::from_value(json!({
            "id": id, "project": PROJECT, "service": "bank", "action": "refund", "payload": {"n": 1},
            "priority": "medium", "status": "PENDING", "created_at": 10, "expires_at": 4_000_000_000i64,
            "created_by": "agent",
        }))
        .unwrap()
    }

    fn created(id: &str) -> AuditEvent<'static> {
        AuditEvent { at: 10, actor: "agent", event: "request.created", data: json!({ "id": id }) }
    }

    fn insert(store: &Postgres, id: &str, claim: Option<Claim<'_>>) -> Inserted {
        let row = row(id);
        store.insert_request(&row, &serde_json::to_string(&row).unwrap(), claim, created(id)).unwrap()
    }

    fn execution(key: &str) -> Execution {
        Execution {
            key: key.into(),
            fingerprint: Fingerprint([7; 32]),
            state: State::Committed { result: Replay { status: 201, body: "{}".into() }, at: 10 },
            attempts: 1,
        }
    }

    fn decision(id: &str, status: Status, actor: &str) -> Decision {
        serde_json::from_value(json!({
            "request_id": id, "status": status, "actor": actor, "decided_at": 20, "proof": "signed",
        }))
        .unwrap()
    }

    fn audited(store: &Postgres, event: &str) -> i64 {
        store
            .block(async {
                let c = store.client().await?;
                let sql = "SELECT count(*) FROM audit WHERE entry::jsonb ->> 'event' = $1";
                Ok::<i64, StoreError>(c.query_one(sql, &[&event]).await?.try_get(0)?)
            })
            .unwrap()
    }

    #[test]
    fn replicas_racing_on_one_key_make_one_request_and_a_taken_id_claims_nothing() {
        let Some((a, b)) = replicas() else { return };
        for n in 0..20 {
            let key = format!("key-{n}");
            let barrier = Arc::new(Barrier::new(2));
            let racers: Vec<_> = [a.clone(), b.clone()]
                .into_iter()
                .enumerate()
                .map(|(i, store)| {
                    let (key, barrier) = (key.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let committed = execution(&key);
                        barrier.wait();
                        insert(
                            &store,
                            &format!("req_{n}_{i}"),
                            Some(Claim { committed: &committed, previous: None }),
                        )
                    })
                })
                .collect();
            let mut answers: Vec<Inserted> = racers.into_iter().map(|r| r.join().unwrap()).collect();
            answers.sort_by_key(|a| *a != Inserted::Created);
            assert_eq!(answers, [Inserted::Created, Inserted::KeyTaken], "race {n}");
        }
        assert_eq!(audited(&a, "request.created"), 20);
        // A taken id writes nothing, not even the key it would have claimed.
        let committed = execution("fresh");
        assert_eq!(insert(&a, "taken", None), Inserted::Created);
        assert_eq!(insert(&b, "taken", None), Inserted::IdTaken);
        assert_eq!(
            insert(&b, "taken", Some(Claim { committed: &committed, previous: None })),
            Inserted::IdTaken
        );
        assert!(b.execution(PROJECT, "fresh").unwrap().is_none());
        // Taking a key over holds only while it is as it was read.
        let (next, stale) = (execution("key-0"), execution("other"));
        let claim = |previous| Some(Claim { committed: &next, previous: Some(previous) });
        assert_eq!(insert(&b, "req_x", claim(&stale)), Inserted::KeyTaken);
        let first = a.execution(PROJECT, "key-0").unwrap().unwrap();
        assert_eq!(insert(&b, "req_y", claim(&first)), Inserted::Created);
    }

    #[test]
    fn a_batch_writes_each_decision_once_and_a_refused_one_leaves_the_others() {
        let Some((a, b)) = replicas() else { return };
        for id in ["r1", "r2", "r3"] {
            assert_eq!(insert(&a, id, None), Inserted::Created);
        }
        let rejected = decision("r1", Status::Rejected, "op");
        let forged = decision("r2", Status::Approved, "agent");
        let approved = decision("r3", Status::Approved, "op");
        fn args<'a>(id: &'a str, status: Status, decision: &'a Decision) -> DecideArgs<'a> {
            let audit = AuditEvent { at: 20, actor: "op", event: "request.decided", data: json!({}) };
            DecideArgs { project: PROJECT, id, status, decision, callback: None, audit }
        }
        let (rejected, forged, approved) = (&rejected, &forged, &approved);
        let outcomes = a.decide_many(vec![
            args("r1", Status::Rejected, rejected),
            args("r2", Status::Approved, forged),
            args("r3", Status::Approved, approved),
            args("r1", Status::Rejected, rejected),
            args("nope", Status::Rejected, rejected),
        ]);
        let outcomes: Vec<_> = outcomes.into_iter().map(|o| o.map_err(|e| e.0)).collect();
        assert_eq!(outcomes[0], Ok(true));
        assert!(outcomes[1].as_ref().is_err_and(|e| e.contains("not an operator")), "{outcomes:?}");
        assert_eq!(outcomes[2..], [Ok(true), Ok(false), Ok(false)]);
        assert_eq!(b.request(PROJECT, "r1").unwrap().unwrap().status, Status::Rejected);
        assert_eq!(b.request(PROJECT, "r2").unwrap().unwrap().status, Status::Pending);
        assert_eq!(b.request(PROJECT, "r3").unwrap().unwrap().status, Status::Approved);
        assert_eq!(audited(&b, "request.decided"), 2);
    }

    #[test]
    fn two_replicas_expiring_the_same_requests_expire_each_once() {
        let Some((a, b)) = replicas() else { return };
        let ids: Vec<String> = (0..40).map(|n| format!("e{n}")).collect();
        for id in &ids {
            assert_eq!(insert(&a, id, None), Inserted::Created);
        }
        let barrier = Arc::new(Barrier::new(2));
        let sweeps: Vec<_> = [a.clone(), b.clone()]
            .into_iter()
            .enumerate()
            .map(|(i, store)| {
                let (barrier, mut ids) = (barrier.clone(), ids.clone());
                if i == 1 {
                    ids.reverse(); // the other order: locks taken up front, so no deadlock
                }
                std::thread::spawn(move || {
                    let decisions: Vec<Decision> =
                        ids.iter().map(|id| decision(id, Status::Expired, "system")).collect();
                    let args = ids
                        .iter()
                        .zip(&decisions)
                        .map(|(id, d)| DecideArgs {
                            project: PROJECT,
                            id,
                            status: Status::Expired,
                            decision: d,
                            callback: None,
                            audit: AuditEvent {
                                at: 20,
                                actor: "system",
                                event: "request.expired",
                                data: json!({}),
                            },
                        })
                        .collect();
                    barrier.wait();
                    store.decide_many(args).into_iter().map(|o| o.unwrap()).filter(|&w| w).count()
                })
            })
            .collect();
        let written: usize = sweeps.into_iter().map(|s| s.join().unwrap()).sum();
        assert_eq!(written, 40);
        assert_eq!(audited(&a, "request.expired"), 40);
        let expired =
            a.list(PROJECT, &RequestFilter { status: Some("EXPIRED"), limit: 100, ..Default::default() });
        assert_eq!(expired.unwrap().len(), 40);
    }
}
