//! Grants: standing approvals an operator gave with a decision (see [`Grant`]).

use super::*;
use crate::store::*;

const COLUMNS: &str =
    "SELECT id, agent, service, action, role, thread, granted_by, request_id, created_at, expires_at, revoked_at
     FROM grants";

fn grant_row(r: &tokio_postgres::Row) -> StoreResult<Grant> {
    Ok(Grant {
        id: r.try_get(0)?,
        agent: r.try_get(1)?,
        service: r.try_get(2)?,
        action: r.try_get(3)?,
        role: r.try_get(4)?,
        thread: r.try_get(5)?,
        granted_by: r.try_get(6)?,
        request_id: r.try_get(7)?,
        created_at: r.try_get(8)?,
        expires_at: r.try_get(9)?,
        revoked_at: r.try_get(10)?,
    })
}

impl Grants for Postgres {
    fn add_grant(&self, project: &str, grant: &Grant, audit: AuditEvent<'_>) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.run(
                "INSERT INTO grants (id, project, agent, service, action, role, thread, granted_by, request_id,
                    created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                &[
                    &grant.id,
                    &project,
                    &grant.agent,
                    &grant.service,
                    &grant.action,
                    &grant.role,
                    &grant.thread,
                    &grant.granted_by,
                    &grant.request_id,
                    &grant.created_at,
                    &grant.expires_at,
                ],
            )
            .await?;
            append_audit(&tx, project, &grant.id, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn grants(&self, project: &str, limit: usize) -> StoreResult<Vec<Grant>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .query(
                    &format!("{COLUMNS} WHERE project = $1 ORDER BY created_at DESC, rowid DESC LIMIT $2"),
                    &[&project, &(limit as i64)],
                )
                .await?;
            rows.iter().map(grant_row).collect()
        })
    }

    fn revoke_grant(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            // Conditional: of replicas revoking it at once, one does (and audits it).
            let n = tx
                .run(
                    "UPDATE grants SET revoked_at = $3 WHERE project = $1 AND id = $2 AND revoked_at IS NULL",
                    &[&project, &id, &audit.at],
                )
                .await?;
            if n != 1 {
                return Ok(false);
            }
            append_audit(&tx, project, id, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn live_grant(&self, project: &str, request: &RequestRow, now: i64) -> StoreResult<Option<Grant>> {
        let Some(agent) = request.created_by.as_deref() else { return Ok(None) };
        let thread = thread_of(request);
        self.block(async {
            let c = self.client().await?;
            // Read on every create: fixed text, so each connection prepares it once.
            static LIVE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
                format!(
                    "{COLUMNS} WHERE project = $1 AND agent = $2 AND service = $3 AND action = $4
                       AND role IS NOT DISTINCT FROM $5::text AND (thread IS NULL OR thread = $6::text)
                       AND revoked_at IS NULL AND expires_at > $7
                     ORDER BY created_at DESC, rowid DESC LIMIT 1"
                )
            });
            let row = c
                .row_opt(
                    &LIVE,
                    &[&project, &agent, &request.service, &request.action, &request.role, &thread, &now],
                )
                .await?;
            row.as_ref().map(grant_row).transpose()
        })
    }
}
