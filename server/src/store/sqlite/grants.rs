//! Grants: standing approvals an operator gave with a decision (see [`Grant`]).

use super::*;

const COLUMNS: &str =
    "SELECT id, agent, service, action, role, thread, granted_by, request_id, created_at, expires_at, revoked_at
     FROM grants";

fn grant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Grant> {
    Ok(Grant {
        id: r.get(0)?,
        agent: r.get(1)?,
        service: r.get(2)?,
        action: r.get(3)?,
        role: r.get(4)?,
        thread: r.get(5)?,
        granted_by: r.get(6)?,
        request_id: r.get(7)?,
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
        revoked_at: r.get(10)?,
    })
}

impl Grants for Sqlite {
    fn add_grant(&self, project: &str, grant: &Grant, audit: AuditEvent<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO grants (id, project, agent, service, action, role, thread, granted_by, request_id,
                created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                grant.id,
                project,
                grant.agent,
                grant.service,
                grant.action,
                grant.role,
                grant.thread,
                grant.granted_by,
                grant.request_id,
                grant.created_at,
                grant.expires_at
            ],
        )?;
        append_audit(&tx, project, &grant.id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn grants(&self, project: &str, limit: usize) -> StoreResult<Vec<Grant>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "{COLUMNS} WHERE project = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2"
        ))?;
        let rows =
            stmt.query_map(params![project, limit as i64], grant_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn revoke_grant(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE grants SET revoked_at = ?3 WHERE project = ?1 AND id = ?2 AND revoked_at IS NULL",
            params![project, id, audit.at],
        )?;
        if n != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, id, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn live_grant(&self, project: &str, request: &RequestRow, now: i64) -> StoreResult<Option<Grant>> {
        let Some(agent) = request.created_by.as_deref() else { return Ok(None) };
        let thread = super::super::thread_of(request);
        let conn = self.reader();
        let grant = conn
            .query_row(
                &format!(
                    "{COLUMNS} WHERE project = ?1 AND agent = ?2 AND service = ?3 AND action = ?4 AND role IS ?5
                       AND (thread IS NULL OR thread = ?6) AND revoked_at IS NULL AND expires_at > ?7
                     ORDER BY created_at DESC, rowid DESC LIMIT 1"
                ),
                params![project, agent, request.service, request.action, request.role, thread, now],
                grant_row,
            )
            .optional()?;
        Ok(grant)
    }
}
