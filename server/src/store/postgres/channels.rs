//! Channels (e-mail) and their notification outbox.

use super::*;
use crate::store::*;

/// The columns a channel is read from ([`channel`]).
const CHANNEL_COLUMNS: &str = "SELECT id, kind, target, roles, created_at, remind_after_secs FROM channels";

fn channel(r: &tokio_postgres::Row) -> StoreResult<Channel> {
    let id: String = r.try_get(0)?;
    let kind: &str = r.try_get(1)?;
    let Some(kind) = ChannelKind::parse(kind) else {
        return Err(StoreError(format!("channel {id}: kind {kind:?}")));
    };
    let target: ChannelTarget = serde_json::from_str(r.try_get(2)?)?;
    let roles: Option<&str> = r.try_get(3)?;
    let roles = roles.map(serde_json::from_str).transpose()?.unwrap_or_default();
    Ok(Channel {
        id,
        kind,
        to: target.to,
        channel: target.channel,
        members: target.members,
        roles,
        remind_after_secs: r.try_get::<_, Option<i64>>(5)?.and_then(|r| u64::try_from(r).ok()),
        created_at: r.try_get(4)?,
    })
}

impl Channels for Postgres {
    fn add_channel(&self, project: &str, c: &Channel, audit: AuditEvent<'_>) -> StoreResult<()> {
        let target = serde_json::to_string(&ChannelTarget::of(c))?;
        let roles = (!c.roles.is_empty()).then(|| serde_json::to_string(&c.roles)).transpose()?;
        let remind = c.remind_after_secs.map(|r| r as i64);
        self.block(async {
            let mut conn = self.client().await?;
            let tx = conn.transaction().await?;
            tx.run(
                "INSERT INTO channels (id, project, kind, target, roles, created_at, remind_after_secs)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[&c.id, &project, &c.kind.as_str(), &target, &roles, &c.created_at, &remind],
            )
            .await?;
            append_audit(&tx, project, &c.id, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn channels(&self, project: &str) -> StoreResult<Vec<Channel>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!("{CHANNEL_COLUMNS} WHERE project = $1 ORDER BY created_at, rowid"),
                    &[&project],
                )
                .await?;
            rows.iter().map(channel).collect()
        })
    }

    fn delete_channel(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            if tx.run("DELETE FROM channels WHERE project = $1 AND id = $2", &[&project, &id]).await? != 1 {
                return Ok(false); // the transaction rolls back
            }
            append_audit(&tx, project, id, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn addressee(&self, project: &str, role: Option<&str>, address: &str) -> StoreResult<bool> {
        self.block(async {
            let c = self.client().await?;
            is_addressee(&c, project, role, address).await
        })
    }

    fn slack_member(&self, project: &str, role: Option<&str>, user: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let c = self.client().await?;
            slack_member(&c, project, role, user).await
        })
    }

    fn claim_notifications(
        &self,
        kind: ChannelKind,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<Notification>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Rows another replica is claiming are skipped; one it claimed and committed meanwhile
            // is checked again on its newest version and is no longer due: each is handed to one
            // replica per lease.
            let rows = tx
                .rows(
                    "SELECT id, project, request, address, event, attempts, created_ms, posted_channel, posted_ts, role
                     FROM notifications
                     WHERE state = 'pending' AND next_ms <= $1 AND kind = $3 ORDER BY next_ms, rowid LIMIT $2
                     FOR UPDATE SKIP LOCKED",
                    &[&now_ms, &limit, &kind.as_str()],
                )
                .await?;
            let due = rows
                .iter()
                .map(|r| {
                    Ok(Notification {
                        id: r.try_get(0)?,
                        project: r.try_get(1)?,
                        request: r.try_get(2)?,
                        kind,
                        address: r.try_get(3)?,
                        event: r.try_get(4)?,
                        attempts: u32::try_from(r.try_get::<_, i32>(5)?).unwrap_or_default(),
                        created_ms: r.try_get(6)?,
                        posted: match (r.try_get::<_, Option<String>>(7)?, r.try_get::<_, Option<String>>(8)?) {
                            (Some(c), Some(t)) => Some((c, t)),
                            _ => None,
                        },
                        role: r.try_get(9)?,
                    })
                })
                .collect::<StoreResult<Vec<_>>>()?;
            if !due.is_empty() {
                let ids: Vec<&str> = due.iter().map(|n| n.id.as_str()).collect();
                tx.run(
                    "UPDATE notifications SET next_ms = $2 WHERE id = ANY($1)",
                    &[&ids, &(now_ms + lease_ms)],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(due)
        })
    }

    fn posted_message(&self, project: &str, request: &str, channel: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .row_opt(
                    "SELECT posted_ts FROM notifications
                     WHERE project = $1 AND request = $2 AND kind = 'slack' AND address = $3
                     AND posted_ts IS NOT NULL AND event != 'request.decided'
                     ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                    &[&project, &request, &channel],
                )
                .await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn record_posted(&self, id: &str, channel: &str, ts: &str, now_ms: i64) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let of = tx
                .row_opt(
                    "UPDATE notifications SET posted_channel = $2, posted_ts = $3 WHERE id = $1
                     RETURNING project, request",
                    &[&id, &channel, &ts],
                )
                .await?;
            if let Some(of) = of {
                let (project, request): (String, String) = (of.try_get(0)?, of.try_get(1)?);
                // The request's row, shared: a decision writing it meanwhile is waited for
                // (and then seen decided: its transaction found no posted message, so the
                // update is queued here); one that writes it after this commit finds this
                // message posted and queues the update itself.
                let status = tx
                    .row_opt(
                        "SELECT status FROM requests WHERE project = $1 AND id = $2 FOR SHARE",
                        &[&project, &request],
                    )
                    .await?;
                let status: Option<String> = status.map(|r| r.try_get(0)).transpose()?;
                if status.is_some_and(|s| s != Status::Pending.as_str()) {
                    queue_update(&tx, &project, &request, channel, ts, now_ms).await?;
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    fn record_notification(
        &self,
        id: &str,
        sent: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        let state = if sent {
            "sent"
        } else if next_ms.is_some() {
            "pending"
        } else {
            "failed"
        };
        self.block(async {
            let c = self.client().await?;
            c.run(
                "UPDATE notifications SET state = $2, attempts = attempts + 1, next_ms = $3, last_outcome = $4,
                    updated_ms = $5 WHERE id = $1",
                &[&id, &state, &next_ms, &outcome, &now_ms],
            )
            .await?;
            Ok(())
        })
    }
}

/// Whether `address` is on an e-mail channel of `project` hearing `role` (see
/// [`Channels::addressee`]), inside `tx` or on a pooled connection.
pub(super) async fn is_addressee(
    c: &impl GenericClient,
    project: &str,
    role: Option<&str>,
    address: &str,
) -> StoreResult<bool> {
    Ok(c.row_opt(
        "SELECT 1 FROM channels c WHERE c.project = $1 AND c.kind = 'email'
         AND (c.roles IS NULL OR $2::text IS NULL
              OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.roles::jsonb) r WHERE r = $2::text))
         AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.target::jsonb -> 'to') t WHERE t = $3)",
        &[&project, &role, &address],
    )
    .await?
    .is_some())
}

/// The name `user` has on a Slack channel of `project` hearing `role` (see
/// [`Channels::slack_member`]), inside `tx` or on a pooled connection.
pub(super) async fn slack_member(
    c: &impl GenericClient,
    project: &str,
    role: Option<&str>,
    user: &str,
) -> StoreResult<Option<String>> {
    let row = c
        .row_opt(
            "SELECT m ->> 'name' FROM channels c, jsonb_array_elements(c.target::jsonb -> 'members') m
             WHERE c.project = $1 AND c.kind = 'slack'
             AND (c.roles IS NULL OR $2::text IS NULL
                  OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.roles::jsonb) r WHERE r = $2::text))
             AND m ->> 'slack_user' = $3
             ORDER BY c.created_at, c.rowid LIMIT 1",
            &[&project, &role, &user],
        )
        .await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Queues `event` on `request` for every addressee of the channels of `project` that hear
/// `role` (each e-mail address and each Slack channel once), as `recipients` narrow them
/// ([`narrow`]), and a reminder for each whose channels remind before `expires_at`
/// ([`reminder_at`]); inside the transaction that writes the request.
#[allow(clippy::too_many_arguments)]
pub(super) async fn notify(
    tx: &impl GenericClient,
    project: &str,
    request: &str,
    role: Option<&str>,
    event: &str,
    at: i64,
    expires_at: i64,
    recipients: &[Recipient],
) -> StoreResult<()> {
    let targets = addressees(tx, project, role).await?;
    notify_to(tx, targets, project, request, role, event, at, expires_at, recipients).await
}

/// Every e-mail address and Slack channel of `project` that hears requests of `role`, each
/// once with the shortest reminder delay of its channels, in one read: the first half of
/// [`notify`], for a write that sends it together with its own statements.
pub(super) async fn addressees(
    tx: &impl GenericClient,
    project: &str,
    role: Option<&str>,
) -> StoreResult<Vec<Target>> {
    tx.rows(
        "SELECT c.kind, t, MIN(c.remind_after_secs) FROM channels c
         CROSS JOIN LATERAL (
             SELECT jsonb_array_elements_text(c.target::jsonb -> 'to') WHERE c.kind = 'email'
             UNION ALL SELECT c.target::jsonb ->> 'channel' WHERE c.kind = 'slack') AS x(t)
         WHERE c.project = $1 AND c.kind IN ('email', 'slack') AND t IS NOT NULL
         AND (c.roles IS NULL OR $2::text IS NULL
              OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.roles::jsonb) r WHERE r = $2::text))
         GROUP BY 1, 2 ORDER BY 1, 2",
        &[&project, &role],
    )
    .await?
    .iter()
    .map(|r| {
        let kind: &str = r.try_get(0)?;
        let kind = ChannelKind::parse(kind).ok_or_else(|| StoreError(format!("kind {kind:?}")))?;
        Ok(Target { kind, address: r.try_get(1)?, remind_after_secs: r.try_get(2)? })
    })
    .collect::<StoreResult<_>>()
}

/// The second half of [`notify`]: queues one notification per target of [`addressees`] as
/// `recipients` narrow them, and their reminders, all sent together (one round trip however
/// many there are).
#[allow(clippy::too_many_arguments)]
pub(super) async fn notify_to(
    tx: &impl GenericClient,
    targets: Vec<Target>,
    project: &str,
    request: &str,
    role: Option<&str>,
    event: &str,
    at: i64,
    expires_at: i64,
    recipients: &[Recipient],
) -> StoreResult<()> {
    let now_ms = at * 1000;
    let mut rows = Vec::new();
    for target in narrow(targets, recipients) {
        rows.push((target.kind.as_str(), target.address.clone(), event, now_ms));
        if let Some(due) = reminder_at(at, target.remind_after_secs, expires_at) {
            rows.push((target.kind.as_str(), target.address, REMINDER, due * 1000));
        }
    }
    let ids = rows.iter().map(|_| random_id("ntf_")).collect::<StoreResult<Vec<_>>>()?;
    futures_util::future::try_join_all(rows.iter().zip(&ids).map(
        |((kind, address, event, due_ms), id)| async move {
            tx.run(
            "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
                created_ms, updated_ms, role)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7, $8)",
            &[id, &project, &request, kind, address, event, due_ms, &role],
        )
        .await
        },
    ))
    .await?;
    Ok(())
}

/// Queues a `request.decided` update of every Slack message posted about `request` (each
/// message once), inside the transaction that writes its decision, after the request's row
/// is written (so a [`Channels::record_posted`] that committed meanwhile is seen).
pub(super) async fn queue_slack_updates(
    tx: &impl GenericClient,
    project: &str,
    request: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let posted: Vec<(String, String)> = tx
        .rows(
            "SELECT DISTINCT posted_channel, posted_ts FROM notifications
             WHERE request = $2 AND project = $1 AND kind = 'slack' AND event != 'request.decided'
             AND posted_ts IS NOT NULL",
            &[&project, &request],
        )
        .await?
        .iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect::<StoreResult<_>>()?;
    for (channel, ts) in posted {
        queue_update(tx, project, request, &channel, &ts, now_ms).await?;
    }
    Ok(())
}

/// Queues the `request.decided` update of one posted Slack message.
async fn queue_update(
    tx: &impl GenericClient,
    project: &str,
    request: &str,
    channel: &str,
    ts: &str,
    now_ms: i64,
) -> StoreResult<()> {
    tx.run(
        "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
            created_ms, updated_ms, posted_channel, posted_ts)
         VALUES ($1, $2, $3, 'slack', $4, 'request.decided', 'pending', 0, $5, $5, $5, $4, $6)",
        &[&random_id("ntf_")?, &project, &request, &channel, &now_ms, &ts],
    )
    .await?;
    Ok(())
}
