//! Channels and the outbox of their notifications.

use super::*;
use crate::store::{narrow, reminder_at, ChannelTarget, Target, REMINDER};

/// The columns a channel is read from ([`channel_row`]).
const CHANNEL_COLUMNS: &str = "SELECT id, kind, target, roles, created_at, remind_after_secs FROM channels";

type ChannelColumns = (String, String, String, Option<String>, i64, Option<i64>);

fn channel_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ChannelColumns> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn channel((id, kind, target, roles, created_at, remind): ChannelColumns) -> StoreResult<Channel> {
    let Some(kind) = ChannelKind::parse(&kind) else {
        return Err(StoreError(format!("channel {id}: kind {kind:?}")));
    };
    let target: ChannelTarget = serde_json::from_str(&target)?;
    let roles = roles.map(|r| serde_json::from_str(&r)).transpose()?.unwrap_or_default();
    Ok(Channel {
        id,
        kind,
        to: target.to,
        channel: target.channel,
        members: target.members,
        roles,
        remind_after_secs: remind.and_then(|r| u64::try_from(r).ok()),
        created_at,
    })
}

impl Channels for Sqlite {
    fn add_channel(&self, project: &str, c: &Channel, audit: AuditEvent<'_>) -> StoreResult<()> {
        let target = serde_json::to_string(&ChannelTarget::of(c))?;
        let roles = (!c.roles.is_empty()).then(|| serde_json::to_string(&c.roles)).transpose()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO channels (id, project, kind, target, roles, created_at, remind_after_secs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                c.id,
                project,
                c.kind.as_str(),
                target,
                roles,
                c.created_at,
                c.remind_after_secs.map(|r| r as i64)
            ],
        )?;
        append_audit(&tx, project, &c.id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn channels(&self, project: &str) -> StoreResult<Vec<Channel>> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare(&format!("{CHANNEL_COLUMNS} WHERE project = ?1 ORDER BY created_at, rowid"))?;
        let rows = stmt.query_map([project], channel_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(channel).collect()
    }

    fn delete_channel(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if tx.execute("DELETE FROM channels WHERE project = ?1 AND id = ?2", params![project, id])? != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, id, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn addressee(&self, project: &str, role: Option<&str>, address: &str) -> StoreResult<bool> {
        is_addressee(&self.reader(), project, role, address)
    }

    fn slack_member(&self, project: &str, role: Option<&str>, user: &str) -> StoreResult<Option<String>> {
        slack_member(&self.reader(), project, role, user)
    }

    fn claim_notifications(
        &self,
        kind: ChannelKind,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<Notification>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows = {
            let mut stmt = tx.prepare(
                "SELECT id, project, request, address, event, attempts, created_ms, posted_channel, posted_ts, role
                 FROM notifications
                 WHERE state = 'pending' AND next_ms <= ?1 AND kind = ?3 ORDER BY next_ms, rowid LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now_ms, limit as i64, kind.as_str()], |r| {
                Ok(Notification {
                    id: r.get(0)?,
                    project: r.get(1)?,
                    request: r.get(2)?,
                    kind,
                    address: r.get(3)?,
                    event: r.get(4)?,
                    attempts: r.get(5)?,
                    created_ms: r.get(6)?,
                    posted: match (r.get::<_, Option<String>>(7)?, r.get::<_, Option<String>>(8)?) {
                        (Some(c), Some(t)) => Some((c, t)),
                        _ => None,
                    },
                    role: r.get(9)?,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        {
            let mut lease = tx.prepare("UPDATE notifications SET next_ms = ?2 WHERE id = ?1")?;
            for n in &rows {
                lease.execute(params![n.id, now_ms + lease_ms])?;
            }
        }
        tx.commit()?;
        Ok(rows)
    }

    fn posted_message(&self, project: &str, request: &str, channel: &str) -> StoreResult<Option<String>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT posted_ts FROM notifications
                 WHERE project = ?1 AND request = ?2 AND kind = 'slack' AND address = ?3 AND posted_ts IS NOT NULL
                 AND event != 'request.decided' ORDER BY created_ms DESC, rowid DESC LIMIT 1",
                params![project, request, channel],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn record_posted(&self, id: &str, channel: &str, ts: &str, now_ms: i64) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let of: Option<(String, String)> = tx
            .query_row(
                "UPDATE notifications SET posted_channel = ?2, posted_ts = ?3 WHERE id = ?1
                 RETURNING project, request",
                params![id, channel, ts],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // Decided while the message was being posted: that decision's transaction found no
        // posted message to update, so this one queues the update (writes are serialized).
        if let Some((project, request)) = of {
            let status: Option<String> = tx
                .query_row(
                    "SELECT status FROM requests WHERE project = ?1 AND id = ?2",
                    params![project, request],
                    |r| r.get(0),
                )
                .optional()?;
            if status.is_some_and(|s| s != Status::Pending.as_str()) {
                queue_update(&tx, &project, &request, channel, ts, now_ms)?;
            }
        }
        tx.commit()?;
        Ok(())
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
        self.conn().execute(
            "UPDATE notifications SET state = ?2, attempts = attempts + 1, next_ms = ?3, last_outcome = ?4,
                updated_ms = ?5 WHERE id = ?1",
            params![id, state, next_ms, outcome, now_ms],
        )?;
        Ok(())
    }
}

/// Whether `address` is on an e-mail channel of `project` hearing `role` (see
/// [`Channels::addressee`]); inside a transaction or on a reader.
pub(super) fn is_addressee(
    conn: &Connection,
    project: &str,
    role: Option<&str>,
    address: &str,
) -> StoreResult<bool> {
    let mut stmt = conn.prepare_cached(
        "SELECT 1 FROM channels c WHERE c.project = ?1 AND c.kind = 'email'
         AND (c.roles IS NULL OR ?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.roles) WHERE value = ?2))
         AND EXISTS (SELECT 1 FROM json_each(c.target, '$.to') WHERE value = ?3)",
    )?;
    Ok(stmt.exists(params![project, role, address])?)
}

/// The name `user` has on a Slack channel of `project` hearing `role` (see
/// [`Channels::slack_member`]); inside a transaction or on a reader.
pub(super) fn slack_member(
    conn: &Connection,
    project: &str,
    role: Option<&str>,
    user: &str,
) -> StoreResult<Option<String>> {
    let mut stmt = conn.prepare_cached(
        "SELECT json_extract(m.value, '$.name') FROM channels c, json_each(c.target, '$.members') m
         WHERE c.project = ?1 AND c.kind = 'slack'
         AND (c.roles IS NULL OR ?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.roles) WHERE value = ?2))
         AND json_extract(m.value, '$.slack_user') = ?3
         ORDER BY c.created_at, c.rowid LIMIT 1",
    )?;
    Ok(stmt.query_row(params![project, role, user], |r| r.get(0)).optional()?)
}

/// Queues `event` on `request` for every addressee of the channels of `project` that hear
/// `role` (each e-mail address and each Slack channel once), as `recipients` narrow them
/// ([`narrow`]), and a reminder for each whose channels remind before `expires_at`
/// ([`reminder_at`]); inside the transaction that writes the request.
#[allow(clippy::too_many_arguments)]
pub(super) fn notify(
    tx: &Connection,
    project: &str,
    request: &str,
    role: Option<&str>,
    event: &str,
    at: i64,
    expires_at: i64,
    recipients: &[Recipient],
) -> StoreResult<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT 'email', t.value, MIN(c.remind_after_secs) FROM channels c, json_each(c.target, '$.to') t
         WHERE c.project = ?1 AND c.kind = 'email'
         AND (c.roles IS NULL OR ?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.roles) WHERE value = ?2))
         GROUP BY t.value
         UNION ALL
         SELECT 'slack', json_extract(c.target, '$.channel'), MIN(c.remind_after_secs) FROM channels c
         WHERE c.project = ?1 AND c.kind = 'slack'
         AND (c.roles IS NULL OR ?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(c.roles) WHERE value = ?2))
         GROUP BY json_extract(c.target, '$.channel')
         ORDER BY 1, 2",
    )?;
    let targets = stmt
        .query_map(params![project, role], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))?
        .map(|t| {
            let (kind, address, remind_after_secs) = t?;
            let kind = ChannelKind::parse(&kind).ok_or_else(|| StoreError(format!("kind {kind:?}")))?;
            Ok(Target { kind, address, remind_after_secs })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
            created_ms, updated_ms, role)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7, ?8)",
    )?;
    let now_ms = at * 1000;
    for target in narrow(targets, recipients) {
        let reminder = reminder_at(at, target.remind_after_secs, expires_at);
        for (event, due_ms) in
            std::iter::once((event, now_ms)).chain(reminder.map(|due| (REMINDER, due * 1000)))
        {
            let mut id = [0u8; 12];
            handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
            insert.execute(params![
                format!("ntf_{}", handrail_core::encoding::b64url_encode(id)),
                project,
                request,
                target.kind.as_str(),
                target.address,
                event,
                due_ms,
                role
            ])?;
        }
    }
    Ok(())
}

/// Queues a `request.decided` update of every Slack message posted about `request` (each
/// message once), inside the transaction that writes its decision.
pub(super) fn queue_slack_updates(
    tx: &Connection,
    project: &str,
    request: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let posted = {
        let mut stmt = tx.prepare_cached(
            "SELECT DISTINCT posted_channel, posted_ts FROM notifications
             WHERE request = ?2 AND project = ?1 AND kind = 'slack' AND event != 'request.decided'
             AND posted_ts IS NOT NULL",
        )?;
        let rows = stmt
            .query_map(params![project, request], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        rows.collect::<Result<Vec<_>, _>>()?
    };
    for (channel, ts) in posted {
        queue_update(tx, project, request, &channel, &ts, now_ms)?;
    }
    Ok(())
}

/// Queues the `request.decided` update of one posted Slack message.
fn queue_update(
    tx: &Connection,
    project: &str,
    request: &str,
    channel: &str,
    ts: &str,
    now_ms: i64,
) -> StoreResult<()> {
    let mut id = [0u8; 12];
    handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
    tx.prepare_cached(
        "INSERT INTO notifications (id, project, request, kind, address, event, state, attempts, next_ms,
            created_ms, updated_ms, posted_channel, posted_ts)
         VALUES (?1, ?2, ?3, 'slack', ?4, 'request.decided', 'pending', 0, ?5, ?5, ?5, ?4, ?6)",
    )?
    .execute(params![
        format!("ntf_{}", handrail_core::encoding::b64url_encode(id)),
        project,
        request,
        channel,
        now_ms,
        ts
    ])?;
    Ok(())
}
