//! Webhook endpoints and the durable outbox of deliveries.

use super::*;

impl Deliveries for Sqlite {
    fn add_webhook(
        &self,
        id: &str,
        project: &str,
        url: &str,
        secret: &str,
        roles: &[String],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let roles = (!roles.is_empty()).then(|| serde_json::to_string(roles)).transpose()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO webhooks (id, project, url, secret, created_at, roles) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, project, url, secret, audit.at, roles],
        )?;
        append_audit(&tx, project, id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn webhooks(&self, project: &str) -> StoreResult<Vec<Webhook>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!("{WEBHOOK_COLUMNS} WHERE project = ?1 ORDER BY created_at"))?;
        let rows = stmt.query_map([project], webhook_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(webhook).collect()
    }

    fn claim_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        room: &Room,
    ) -> StoreResult<Vec<Delivery>> {
        let endpoints = serde_json::to_string(&room.endpoints)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // A callback delivery has its own URL and no endpoint (nor an endpoint secret). Each
        // endpoint gets at most its room, numbered oldest first, so one endpoint's backlog
        // never fills the batch.
        let rows = {
            let mut stmt = tx.prepare(
                "WITH due AS (
                    SELECT d.id, COALESCE(d.url, w.url) AS target, w.secret, COALESCE(b.body, d.body) AS body,
                           d.attempts,
                           d.created_ms, d.url IS NOT NULL AS callback, d.webhook, d.next_ms,
                           ROW_NUMBER() OVER (PARTITION BY COALESCE(d.webhook, 'url:' || d.url)
                                              ORDER BY d.next_ms, d.rowid) AS n,
                           COALESCE(d.webhook, 'url:' || d.url) AS endpoint
                    FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook
                      LEFT JOIN event_bodies b ON b.id = d.body_id
                    WHERE d.state = 'pending' AND d.next_ms <= ?1 AND COALESCE(d.url, w.url) IS NOT NULL
                      AND w.disabled_at IS NULL
                      AND ((?5 AND d.url IS NOT NULL) OR (?6 AND d.url IS NULL)))
                 SELECT id, target, secret, body, attempts, created_ms, callback, webhook FROM due
                 WHERE n <= COALESCE((SELECT value FROM json_each(?3) WHERE key = due.endpoint), ?4)
                 ORDER BY next_ms LIMIT ?2",
            )?;
            let rows = stmt.query_map(
                params![
                    now_ms,
                    limit as i64,
                    endpoints,
                    room.per_endpoint as i64,
                    room.callbacks,
                    room.webhooks
                ],
                |r| {
                    Ok(Delivery {
                        id: r.get(0)?,
                        url: r.get(1)?,
                        secret: r.get(2)?,
                        body: r.get(3)?,
                        attempts: r.get(4)?,
                        created_ms: r.get(5)?,
                        callback: r.get(6)?,
                        webhook: r.get(7)?,
                    })
                },
            )?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        {
            let mut lease = tx.prepare("UPDATE deliveries SET next_ms = ?2 WHERE id = ?1")?;
            for d in &rows {
                lease.execute(params![d.id, now_ms + lease_ms])?;
            }
        }
        tx.commit()?;
        Ok(rows)
    }

    fn record_attempt(
        &self,
        id: &str,
        delivered: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
        disable_after_ms: i64,
    ) -> StoreResult<Option<String>> {
        let state = if delivered {
            "delivered"
        } else if next_ms.is_some() {
            "pending"
        } else {
            "failed"
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE deliveries SET state = ?2, attempts = attempts + 1, next_ms = ?3, last_outcome = ?4, updated_ms = ?5
             WHERE id = ?1",
            params![id, state, next_ms, outcome, now_ms],
        )?;
        let endpoint: Option<(String, String)> = tx
            .query_row(
                "SELECT w.id, w.project FROM deliveries d JOIN webhooks w ON w.id = d.webhook WHERE d.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((webhook, project)) = endpoint else {
            tx.commit()?;
            return Ok(None);
        };
        if delivered {
            tx.execute(
                "UPDATE webhooks SET failing_since_ms = NULL WHERE id = ?1 AND failing_since_ms IS NOT NULL",
                [&webhook],
            )?;
            tx.commit()?;
            return Ok(None);
        }
        tx.execute(
            "UPDATE webhooks SET failing_since_ms = COALESCE(failing_since_ms, ?2) WHERE id = ?1",
            params![webhook, now_ms],
        )?;
        let disabled = tx.execute(
            "UPDATE webhooks SET disabled_at = ?2
             WHERE id = ?1 AND disabled_at IS NULL AND failing_since_ms <= ?2 - ?3",
            params![webhook, now_ms, disable_after_ms],
        )? == 1;
        if disabled {
            let since: i64 =
                tx.query_row("SELECT failing_since_ms FROM webhooks WHERE id = ?1", [&webhook], |r| {
                    r.get(0)
                })?;
            let data = serde_json::json!({ "reason": "failing", "failing_since_ms": since, "delivery": id });
            let audit = AuditEvent { at: now_ms / 1000, actor: "system", event: "webhook.disabled", data };
            append_audit(&tx, &project, &webhook, &audit)?;
        }
        tx.commit()?;
        Ok(disabled.then_some(webhook))
    }

    fn set_webhook_disabled(
        &self,
        project: &str,
        id: &str,
        disabled: bool,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<Webhook>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = if disabled {
            tx.execute(
                "UPDATE webhooks SET disabled_at = COALESCE(disabled_at, ?3) WHERE project = ?1 AND id = ?2",
                params![project, id, audit.at * 1000],
            )?
        } else {
            let n = tx.execute(
                "UPDATE webhooks SET disabled_at = NULL, failing_since_ms = NULL WHERE project = ?1 AND id = ?2",
                params![project, id],
            )?;
            // What waited is sent now, not at the end of its last backoff.
            tx.execute(
                "UPDATE deliveries SET next_ms = ?3 WHERE project = ?1 AND webhook = ?2 AND state = 'pending'",
                params![project, id, audit.at * 1000],
            )?;
            n
        };
        if n != 1 {
            return Ok(None); // the transaction rolls back
        }
        append_audit(&tx, project, id, &audit)?;
        let row = tx.query_row(&format!("{WEBHOOK_COLUMNS} WHERE id = ?1"), [id], webhook_row)?;
        tx.commit()?;
        webhook(row).map(Some)
    }

    fn deliveries(&self, project: &str, webhook: &str, limit: usize) -> StoreResult<Vec<DeliveryEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            &format!("{ENTRY_COLUMNS} WHERE project = ?1 AND webhook = ?2 ORDER BY created_ms DESC, rowid DESC LIMIT ?3"),
        )?;
        let rows =
            stmt.query_map(params![project, webhook, limit as i64], entry)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn redeliver(&self, project: &str, id: &str, now_ms: i64) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE deliveries SET state = 'pending', next_ms = ?3, updated_ms = ?3 WHERE project = ?1 AND id = ?2",
            params![project, id, now_ms],
        )?;
        Ok(n == 1)
    }

    fn request_deliveries(
        &self,
        project: &str,
        request: &str,
        limit: usize,
    ) -> StoreResult<Vec<RequestDeliveryEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            &format!("{ENTRY_COLUMNS} WHERE project = ?1 AND request = ?2 ORDER BY created_ms DESC, rowid DESC LIMIT ?3"),
        )?;
        let rows = stmt
            .query_map(params![project, request, limit as i64], |r| {
                let webhook: Option<String> = r.get(7)?;
                Ok(RequestDeliveryEntry {
                    delivery: entry(r)?,
                    target: if webhook.is_some() {
                        DeliveryTarget::Webhook
                    } else {
                        DeliveryTarget::Callback
                    },
                    webhook,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn delete_webhook(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM deliveries WHERE project = ?1 AND webhook = ?2", params![project, id])?;
        let n = tx.execute("DELETE FROM webhooks WHERE project = ?1 AND id = ?2", params![project, id])?;
        if n != 1 {
            return Ok(false); // the transaction rolls back
        }
        append_audit(&tx, project, id, &audit)?;
        tx.commit()?;
        Ok(true)
    }
}

/// The columns of a webhook endpoint ([`webhook_row`]).
const WEBHOOK_COLUMNS: &str = "SELECT id, url, created_at, roles, disabled_at IS NOT NULL FROM webhooks";

type WebhookRow = (String, String, i64, Option<String>, bool);

fn webhook_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WebhookRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn webhook((id, url, created_at, roles, disabled): WebhookRow) -> StoreResult<Webhook> {
    let roles = roles.map(|t| serde_json::from_str(&t)).transpose()?.unwrap_or_default();
    Ok(Webhook { id, url, roles, created_at, disabled })
}

/// The columns of a delivery log entry ([`entry`]), then the endpoint.
const ENTRY_COLUMNS: &str =
    "SELECT id, event, state, attempts, last_outcome, created_ms, updated_ms, webhook FROM deliveries";

fn entry(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeliveryEntry> {
    Ok(DeliveryEntry {
        id: r.get(0)?,
        event: r.get(1)?,
        state: r.get(2)?,
        attempts: r.get(3)?,
        last_outcome: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}
