//! The audit log: one hash chain per project, and its signed checkpoints.

use super::*;
use crate::store::*;

impl AuditLog for Postgres {
    fn append_audit(&self, project: &str, subject: &str, audit: AuditEvent<'_>) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            append_audit(&tx, project, subject, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn audit_log(&self) -> StoreResult<Vec<Entry>> {
        self.block(async {
            let mut c = self.client().await?;
            chain_all(&mut c, None).await?;
            entries(
                c.rows(
                    "SELECT entry FROM audit WHERE project_seq IS NOT NULL ORDER BY chain_order, project_seq",
                    &[],
                )
                .await?,
            )
        })
    }

    fn audit_heads(&self) -> StoreResult<Vec<Entry>> {
        self.block(async {
            let mut c = self.client().await?;
            chain_all(&mut c, None).await?;
            // A few indexed probes per project (audit_by_project): the projects one after
            // the other (the next one above the last), then each one's last chained entry.
            // Not a scan of the whole log, which a `GROUP BY project` is: this runs every
            // second on every replica, and the log only grows.
            entries(
                c.rows(
                    "WITH RECURSIVE projects(project) AS (
                         SELECT min(project) FROM audit
                         UNION ALL
                         SELECT (SELECT min(project) FROM audit WHERE project > p.project)
                         FROM projects p WHERE p.project IS NOT NULL)
                     SELECT a.entry FROM projects p CROSS JOIN LATERAL (
                         SELECT entry FROM audit
                         WHERE project = p.project AND project_seq IS NOT NULL
                         ORDER BY project_seq DESC LIMIT 1) a
                     WHERE p.project IS NOT NULL",
                    &[],
                )
                .await?,
            )
        })
    }

    fn audit_entry(&self, project: &str, seq: u64) -> StoreResult<Option<Entry>> {
        self.block(async {
            let mut c = self.client().await?;
            chain_all(&mut c, Some(project)).await?;
            let seq = seq.min(i64::MAX as u64) as i64;
            let row = c
                .row_opt("SELECT entry FROM audit WHERE project = $1 AND project_seq = $2", &[&project, &seq])
                .await?;
            Ok(entries(row.into_iter().collect())?.pop())
        })
    }

    fn audit_checkpoints(&self) -> StoreResult<Vec<StoredCheckpoint>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .rows(
                    "SELECT project, seq, hash, token FROM audit_checkpoints ORDER BY project COLLATE \"C\"",
                    &[],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(StoredCheckpoint {
                        project: r.try_get(0)?,
                        seq: r.try_get::<_, i64>(1)?.max(0) as u64,
                        hash: r.try_get(2)?,
                        token: r.try_get(3)?,
                    })
                })
                .collect()
        })
    }

    fn put_audit_checkpoint(&self, checkpoint: &StoredCheckpoint) -> StoreResult<bool> {
        // Only forward: a checkpoint never moves back to an earlier entry, so a truncated
        // table can never get a checkpoint that hides the truncation. Every replica signs
        // checkpoints; the conditional upsert keeps the furthest.
        self.block(async {
            let c = self.client().await?;
            let seq = checkpoint.seq.min(i64::MAX as u64) as i64;
            let changed = c
                .run(
                    "INSERT INTO audit_checkpoints (project, seq, hash, token) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (project) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, token = excluded.token
                     WHERE excluded.seq > audit_checkpoints.seq",
                    &[&checkpoint.project, &seq, &checkpoint.hash, &checkpoint.token],
                )
                .await?;
            Ok(changed > 0)
        })
    }

    fn audit_page(&self, project: &str, after: u64, limit: usize) -> StoreResult<Vec<Entry>> {
        self.block(async {
            let mut c = self.client().await?;
            chain_all(&mut c, Some(project)).await?;
            let (after, limit) = (after.min(i64::MAX as u64) as i64, limit.min(i64::MAX as usize) as i64);
            entries(
                c.rows(
                    "SELECT entry FROM audit WHERE project = $1 AND project_seq > $2 ORDER BY project_seq LIMIT $3",
                    &[&project, &after, &limit],
                )
                .await?,
            )
        })
    }
}

/// The entries of rows whose first column is an entry's JSON text.
fn entries(rows: Vec<tokio_postgres::Row>) -> StoreResult<Vec<Entry>> {
    rows.iter().map(|r| Ok(serde_json::from_str(r.try_get::<_, &str>(0)?)?)).collect()
}
