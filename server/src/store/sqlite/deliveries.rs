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
        let mut stmt = conn.prepare(
            "SELECT id, url, created_at, roles FROM webhooks WHERE project = ?1 ORDER BY created_at",
        )?;
        let rows = stmt
            .query_map([project], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, Option<String>>(3)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(id, url, created_at, roles)| {
                let roles = roles.map(|t| serde_json::from_str(&t)).transpose()?.unwrap_or_default();
                Ok(Webhook { id, url, roles, created_at })
            })
            .collect()
    }

    fn due_deliveries(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Delivery>> {
        let conn = self.conn();
        // A callback delivery has its own URL and no endpoint (nor an endpoint secret).
        let mut stmt = conn.prepare(
            "SELECT d.id, COALESCE(d.url, w.url), w.secret, d.body, d.attempts, d.created_ms, d.url IS NOT NULL
             FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook
             WHERE d.state = 'pending' AND d.next_ms <= ?1 AND COALESCE(d.url, w.url) IS NOT NULL
             ORDER BY d.next_ms LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![now_ms, limit as i64], |r| {
                Ok(Delivery {
                    id: r.get(0)?,
                    url: r.get(1)?,
                    secret: r.get(2)?,
                    body: r.get(3)?,
                    attempts: r.get(4)?,
                    created_ms: r.get(5)?,
                    callback: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn record_attempt(
        &self,
        id: &str,
        delivered: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        let state = if delivered {
            "delivered"
        } else if next_ms.is_some() {
            "pending"
        } else {
            "failed"
        };
        self.conn().execute(
            "UPDATE deliveries SET state = ?2, attempts = attempts + 1, next_ms = ?3, last_outcome = ?4, updated_ms = ?5
             WHERE id = ?1",
            params![id, state, next_ms, outcome, now_ms],
        )?;
        Ok(())
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
