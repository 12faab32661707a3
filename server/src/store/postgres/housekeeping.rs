//! Usage counts and retention (pruned by one replica at a time).

use super::*;
use crate::store::*;

/// The lock one replica's retention sweep holds while it prunes: another replica's sweep at
/// the same time finds it taken and prunes nothing (any constant no other lock uses).
const PRUNE_LOCK: i64 = 0x4852_5052_554E_4531; // "HRPRUNE1"

impl Housekeeping for Postgres {
    fn usage(&self, project: &str) -> StoreResult<u64> {
        self.block(async {
            let c = self.client().await?;
            // The compacted count plus the changes not folded into it yet (see `add_usage`).
            let row = c
                .row(
                    "SELECT COALESCE((SELECT bytes FROM usage WHERE project = $1), 0)
                          + COALESCE((SELECT sum(bytes) FROM usage_deltas WHERE project = $1), 0)::bigint",
                    &[&project],
                )
                .await?;
            let bytes: i64 = row.try_get(0)?;
            Ok(bytes.max(0) as u64)
        })
    }

    fn prune(&self, now: i64, policy: &Retention, limit: usize) -> StoreResult<Pruned> {
        let limit = limit as i64;
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let held: bool =
                tx.row("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK]).await?.try_get(0)?;
            if !held {
                return Ok(Pruned::default());
            }
            // Parked states of requests decided long enough ago, with their bytes. A decided
            // request gets no new snapshot, so what is selected here stays stale.
            let stale = tx
                .rows(
                    "DELETE FROM snapshots WHERE request IN (
                       SELECT s.request FROM snapshots s JOIN requests r ON r.id = s.request
                       WHERE r.status <> 'PENDING'
                         AND COALESCE((r.decision::jsonb ->> 'decided_at')::bigint, r.expires_at) <= $1
                       LIMIT $2)
                     RETURNING project, blob, size",
                    &[&(now - policy.snapshots_after_decision), &limit],
                )
                .await?;
            let mut freed = std::collections::BTreeMap::<String, i64>::new();
            let mut blobs = Vec::with_capacity(stale.len());
            for r in &stale {
                *freed.entry(r.try_get(0)?).or_default() += r.try_get::<_, i64>(2)?;
                blobs.push(r.try_get::<_, String>(1)?);
            }
            tx.run("DELETE FROM blob_chunks WHERE blob = ANY($1)", &[&blobs]).await?;
            // Each delete repeats its subquery's conditions: a row another replica changed
            // meanwhile (a delivery sent again) is checked again as it now is, and kept.
            let done_ms = (now - policy.deliveries).saturating_mul(1000);
            let deliveries = tx
                .run(
                    "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries
                       WHERE state IN ('delivered', 'failed') AND updated_ms <= $1 LIMIT $2)
                     AND state IN ('delivered', 'failed') AND updated_ms <= $1",
                    &[&done_ms, &limit],
                )
                .await?;
            // Channel notifications that are done keep as long as deliveries do (counted with them).
            let notifications = tx
                .run(
                    "DELETE FROM notifications WHERE id IN (SELECT id FROM notifications
                       WHERE state IN ('sent', 'failed') AND updated_ms <= $1 LIMIT $2)
                     AND state IN ('sent', 'failed') AND updated_ms <= $1",
                    &[&done_ms, &limit],
                )
                .await?;
            // An event's body goes with the last delivery that names it (a body and its
            // deliveries are committed together, so none is seen before its deliveries).
            tx.run(
                "DELETE FROM event_bodies e WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.body_id = e.id)",
                &[],
            )
            .await?;
            let idempotency = tx
                .run(
                    "DELETE FROM executions WHERE (project, key) IN (SELECT project, key FROM executions
                       WHERE created_at <= $1 LIMIT $2)
                     AND created_at <= $1",
                    &[&(now - policy.idempotency), &limit],
                )
                .await?;
            let observations = tx
                .run(
                    "DELETE FROM agent_events WHERE (project, agent, id) IN (SELECT project, agent, id
                       FROM agent_events WHERE received_at <= $1 LIMIT $2)
                     AND received_at <= $1",
                    &[&(now - policy.observations), &limit],
                )
                .await?;
            // Last, and by project: the usage rows are what other writes lock last but one.
            for (project, bytes) in &freed {
                add_usage(&tx, project, -bytes).await?;
            }
            tx.commit().await?;
            Ok(Pruned {
                snapshots: stale.len(),
                deliveries: (deliveries + notifications) as usize,
                idempotency: idempotency as usize,
                observations: observations as usize,
            })
        })
    }
}

/// Adds `delta` bytes to `project`'s usage (never below 0), inside the transaction that
/// Adds `delta` bytes to `project`'s usage, inside the transaction that stores or drops them.
/// A row of its own, not an update of the project's count: concurrent writes to one project
/// never wait on each other's commit for it. [`compact_usage`] folds the rows into the count.
pub(super) async fn add_usage(tx: &impl GenericClient, project: &str, delta: i64) -> StoreResult<()> {
    if delta != 0 {
        tx.run("INSERT INTO usage_deltas (project, bytes) VALUES ($1, $2)", &[&project, &delta]).await?;
    }
    Ok(())
}

/// Folds the committed usage changes into each project's count (never below 0), on any
/// replica: a change two replicas both see is deleted by one of them only.
pub(super) async fn compact_usage(c: &mut deadpool_postgres::Object) -> StoreResult<()> {
    let projects = c.rows("SELECT DISTINCT project FROM usage_deltas", &[]).await?;
    for row in projects {
        let project: String = row.try_get(0)?;
        let tx = c.transaction().await?;
        let folded: i64 = tx
            .row(
                "WITH gone AS (DELETE FROM usage_deltas WHERE project = $1 RETURNING bytes)
                 SELECT COALESCE(sum(bytes), 0)::bigint FROM gone",
                &[&project],
            )
            .await?
            .try_get(0)?;
        if folded != 0 {
            tx.run(
                "INSERT INTO usage (project, bytes) VALUES ($1, GREATEST($2::bigint, 0))
                 ON CONFLICT (project) DO UPDATE SET bytes = GREATEST(usage.bytes + $2, 0)",
                &[&project, &folded],
            )
            .await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
