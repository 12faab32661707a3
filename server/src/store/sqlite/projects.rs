//! Projects, their keys, roles and settings: who may do what.

use super::*;

impl Projects for Sqlite {
    fn principal(&self, token_hash: &str) -> StoreResult<Option<Principal>> {
        let conn = self.reader();
        let row = conn
            .query_row(
                "SELECT key_id, project, role, roles, admin FROM keys WHERE token_hash = ?1",
                [token_hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((key_id, project, role, roles, admin)) = row else { return Ok(None) };
        let role = role_from(&role);
        Ok(Some(Principal { key_id, project, role, roles: roles_from(role, &roles)?, admin }))
    }

    fn add_key(
        &self,
        key_id: &str,
        token_hash: &str,
        project: &str,
        role: Role,
        now: i64,
    ) -> StoreResult<()> {
        let key = NewKeyRow {
            key_id: key_id.to_string(),
            token_hash: token_hash.to_string(),
            role,
            roles: vec![ANY_ROLE.to_string()],
            admin: false,
        };
        let data = serde_json::json!({ "role": role.as_str(), "roles": key.roles, "admin": false });
        self.add_key_row(project, &key, AuditEvent { at: now, actor: "system", event: "key.created", data })
    }

    fn add_key_row(&self, project: &str, key: &NewKeyRow, audit: AuditEvent<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_key(&tx, project, key, audit.at)?;
        append_audit(&tx, project, &key.key_id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn keys(&self, project: &str) -> StoreResult<Vec<KeyInfo>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT key_id, role, created_at, roles, admin FROM keys WHERE project = ?1
             ORDER BY created_at, rowid",
        )?;
        let rows = stmt
            .query_map([project], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get(2)?,
                    r.get::<_, String>(3)?,
                    r.get(4)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter()
            .map(|(key_id, role, created_at, roles, admin)| {
                let role = role_from(&role);
                Ok(KeyInfo { key_id, role, roles: roles_from(role, &roles)?, admin, created_at })
            })
            .collect()
    }

    fn add_project(&self, id: &str, name: &str, now: i64) -> StoreResult<()> {
        self.conn().execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![id, name, now],
        )?;
        Ok(())
    }

    fn create_first_project(
        &self,
        project: &Project,
        keys: &[NewKeyRow],
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n: i64 = tx.query_row("SELECT COUNT(*) FROM projects", [], |r| r.get(0))?;
        if n > 0 {
            return Ok(false);
        }
        insert_project(&tx, project, keys, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        Ok(self
            .conn()
            .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0))
            .optional()?)
    }

    fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        let conn = self.conn();
        conn.execute("INSERT OR IGNORE INTO settings (name, value) VALUES (?1, ?2)", params![name, value])?;
        Ok(conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0))?)
    }

    fn key(&self, project: &str, key_id: &str) -> StoreResult<Option<(Role, bool)>> {
        let row = self
            .reader()
            .query_row(
                "SELECT role, admin FROM keys WHERE project = ?1 AND key_id = ?2",
                params![project, key_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)),
            )
            .optional()?;
        Ok(row.map(|(role, admin)| (if role == "operator" { Role::Operator } else { Role::Agent }, admin)))
    }

    fn revoke_key(&self, project: &str, key_id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n =
            tx.execute("DELETE FROM keys WHERE project = ?1 AND key_id = ?2", params![project, key_id])?;
        if n != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, key_id, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn create_project(
        &self,
        project: &Project,
        keys: &[NewKeyRow],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        insert_project(&tx, project, keys, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn projects(&self) -> StoreResult<Vec<Project>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT id, name, created_at, max_grant_secs FROM projects ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map([], project_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn project(&self, id: &str) -> StoreResult<Option<Project>> {
        Ok(self
            .reader()
            .query_row(
                "SELECT id, name, created_at, max_grant_secs FROM projects WHERE id = ?1",
                [id],
                project_row,
            )
            .optional()?)
    }

    fn add_role(&self, project: &str, rule: &RoleRule, audit: AuditEvent<'_>) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "INSERT OR IGNORE INTO roles (project, name, escalate_to, escalate_after_secs, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                project,
                rule.name,
                rule.escalate_to,
                rule.escalate_after_secs.map(|s| s.min(i64::MAX as u64) as i64),
                rule.created_at
            ],
        )?;
        if n != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, &rule.name, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn roles(&self, project: &str) -> StoreResult<Vec<RoleRule>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT name, escalate_to, escalate_after_secs, created_at FROM roles WHERE project = ?1 ORDER BY name",
        )?;
        let rows = stmt
            .query_map([project], |r| {
                Ok(RoleRule {
                    name: r.get(0)?,
                    escalate_to: r.get(1)?,
                    escalate_after_secs: r.get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
                    created_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn delete_role(&self, project: &str, name: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if tx.execute("DELETE FROM roles WHERE project = ?1 AND name = ?2", params![project, name])? != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, name, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn set_max_grant_secs(
        &self,
        project: &str,
        secs: Option<u64>,
        now: i64,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<u64>> {
        let secs = secs.map(|s| s.min(i64::MAX as u64) as i64);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if tx.execute("UPDATE projects SET max_grant_secs = ?2 WHERE id = ?1", params![project, secs])? != 1 {
            return Ok(None);
        }
        let shortened = match secs {
            Some(secs) => tx.execute(
                "UPDATE grants SET expires_at = MAX(created_at + ?2, ?3)
                 WHERE project = ?1 AND revoked_at IS NULL AND expires_at > ?3 AND expires_at > created_at + ?2",
                params![project, secs, now],
            )?,
            None => 0,
        };
        let mut audit = audit;
        if let Some(data) = audit.data.as_object_mut() {
            data.insert("grants_shortened".into(), shortened.into());
        }
        append_audit(&tx, project, project, &audit)?;
        tx.commit()?;
        Ok(Some(shortened as u64))
    }

    fn set_project_setting(
        &self,
        project: &str,
        name: &str,
        value: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = ?2",
            params![name, value],
        )?;
        append_audit(&tx, project, name, &audit)?;
        tx.commit()?;
        Ok(())
    }
}

fn project_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        created_at: r.get(2)?,
        max_grant_secs: r.get::<_, Option<i64>>(3)?.map(|s| s.max(1) as u64),
    })
}

/// Inserts a project with its keys and its chain's first entry, inside `tx`.
fn insert_project(
    tx: &Connection,
    project: &Project,
    keys: &[NewKeyRow],
    audit: &AuditEvent<'_>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO projects (id, name, created_at, max_grant_secs) VALUES (?1, ?2, ?3, ?4)",
        params![
            project.id,
            project.name,
            project.created_at,
            project.max_grant_secs.map(|s| s.min(i64::MAX as u64) as i64)
        ],
    )?;
    for key in keys {
        insert_key(tx, &project.id, key, project.created_at)?;
    }
    append_audit(tx, &project.id, &project.id, audit)
}

/// One process writes the file: nobody else changes it.
impl super::super::Shared for Sqlite {}
