//! Housekeeping: each project's stored bytes, kept as the writes happen, and the retention
//! sweep (parked states of decided requests, finished deliveries, idempotency records,
//! observation ids).

use super::*;

/// Adds `delta` bytes to `project`'s usage, inside the caller's transaction.
pub(super) fn add_usage(tx: &Connection, project: &str, delta: i64) -> StoreResult<()> {
    if delta != 0 {
        tx.execute(
            "INSERT INTO usage (project, bytes) VALUES (?1, MAX(?2, 0))
             ON CONFLICT(project) DO UPDATE SET bytes = MAX(bytes + ?2, 0)",
            params![project, delta],
        )?;
    }
    Ok(())
}

/// The bytes `project` stores, as `conn` sees them.
pub(super) fn usage_in(conn: &Connection, project: &str) -> StoreResult<u64> {
    let bytes: Option<i64> =
        conn.query_row("SELECT bytes FROM usage WHERE project = ?1", [project], |r| r.get(0)).optional()?;
    Ok(bytes.unwrap_or(0).max(0) as u64)
}

impl Housekeeping for Sqlite {
    fn usage(&self, project: &str) -> StoreResult<u64> {
        usage_in(&self.reader(), project)
    }

    fn prune(&self, now: i64, policy: &Retention, limit: usize) -> StoreResult<Pruned> {
        let limit = limit as i64;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Parked states of requests decided long enough ago: rows first, files once the
        // transaction is on disk (a file left by a crash in between is swept at the next start).
        let stale: Vec<(String, String, String, i64)> = {
            let mut stmt = tx.prepare(
                "SELECT s.request, s.project, s.blob, s.size FROM snapshots s JOIN requests r ON r.id = s.request
                 WHERE r.status <> 'PENDING'
                   AND COALESCE(json_extract(r.decision, '$.decided_at'), json_extract(r.body, '$.decision.decided_at'),
                     r.expires_at) <= ?1
                 LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now - policy.snapshots_after_decision, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        for (request, project, _, size) in &stale {
            tx.execute("DELETE FROM snapshots WHERE request = ?1", [request])?;
            add_usage(&tx, project, -size)?;
        }
        let deliveries = tx.execute(
            "DELETE FROM deliveries WHERE rowid IN (SELECT rowid FROM deliveries
               WHERE state IN ('delivered', 'failed') AND updated_ms <= ?1 LIMIT ?2)",
            params![(now - policy.deliveries).saturating_mul(1000), limit],
        )?;
        // Channel notifications that are done keep as long as deliveries do (counted with them).
        let deliveries = deliveries
            + tx.execute(
                "DELETE FROM notifications WHERE rowid IN (SELECT rowid FROM notifications
                   WHERE state IN ('sent', 'failed') AND updated_ms <= ?1 LIMIT ?2)",
                params![(now - policy.deliveries).saturating_mul(1000), limit],
            )?;
        // An event's body goes with the last delivery that names it.
        tx.execute(
            "DELETE FROM event_bodies WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = event_bodies.id)",
            [],
        )?;
        let idempotency = tx.execute(
            "DELETE FROM executions WHERE rowid IN (SELECT rowid FROM executions
               WHERE created_at <= ?1 LIMIT ?2)",
            params![now - policy.idempotency, limit],
        )?;
        let observations = tx.execute(
            "DELETE FROM agent_events WHERE rowid IN (SELECT rowid FROM agent_events
               WHERE received_at <= ?1 LIMIT ?2)",
            params![now - policy.observations, limit],
        )?;
        tx.commit()?;
        for (_, _, blob, _) in &stale {
            let _ = std::fs::remove_file(self.blobs.join(blob));
        }
        Ok(Pruned { snapshots: stale.len(), deliveries, idempotency, observations })
    }
}
