//! The audit log: one hash chain per project, and its signed checkpoints.

use super::*;

impl AuditLog for Sqlite {
    fn append_audit(&self, project: &str, subject: &str, audit: AuditEvent<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        append_audit(&tx, project, subject, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn audit_log(&self) -> StoreResult<Vec<Entry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT entry FROM audit ORDER BY seq")?;
        let texts = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        texts.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    fn audit_heads(&self) -> StoreResult<Vec<Entry>> {
        let conn = self.reader();
        // A few indexed probes per project (audit_by_project): the projects one after the
        // other (the next one above the last), then each one's last entry. Not a scan of the
        // whole log, which a `GROUP BY project` is: this runs every second, and the log only
        // grows.
        let mut stmt = conn.prepare(
            "WITH RECURSIVE projects(project) AS (
                 SELECT min(project) FROM audit
                 UNION ALL
                 SELECT (SELECT min(project) FROM audit WHERE project > p.project)
                 FROM projects p WHERE p.project IS NOT NULL)
             SELECT (SELECT entry FROM audit WHERE project = p.project ORDER BY project_seq DESC LIMIT 1)
             FROM projects p WHERE p.project IS NOT NULL",
        )?;
        let texts = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        texts.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    fn audit_entry(&self, project: &str, seq: u64) -> StoreResult<Option<Entry>> {
        let text: Option<String> = self
            .reader()
            .query_row(
                "SELECT entry FROM audit WHERE project = ?1 AND project_seq = ?2",
                params![project, seq.min(i64::MAX as u64) as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn audit_checkpoints(&self) -> StoreResult<Vec<StoredCheckpoint>> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare("SELECT project, seq, hash, token FROM audit_checkpoints ORDER BY project")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(StoredCheckpoint {
                    project: r.get(0)?,
                    seq: r.get::<_, i64>(1)?.max(0) as u64,
                    hash: r.get(2)?,
                    token: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn put_audit_checkpoint(&self, checkpoint: &StoredCheckpoint) -> StoreResult<bool> {
        // Only forward: a checkpoint never moves back to an earlier entry, so a truncated
        // table can never get a checkpoint that hides the truncation.
        let changed = self.conn().execute(
            "INSERT INTO audit_checkpoints (project, seq, hash, token) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (project) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, token = excluded.token
             WHERE excluded.seq > audit_checkpoints.seq",
            params![checkpoint.project, checkpoint.seq.min(i64::MAX as u64) as i64, checkpoint.hash, checkpoint.token],
        )?;
        Ok(changed > 0)
    }

    fn audit_page(&self, project: &str, after: u64, limit: usize) -> StoreResult<Vec<Entry>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT entry FROM audit WHERE project = ?1 AND project_seq > ?2 ORDER BY project_seq LIMIT ?3",
        )?;
        let texts = stmt
            .query_map(params![project, after.min(i64::MAX as u64) as i64, limit as i64], |r| {
                r.get::<_, String>(0)
            })?
            .collect::<Result<Vec<_>, _>>()?;
        texts.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }
}
