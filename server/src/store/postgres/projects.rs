//! Projects, their keys, roles and settings: who may do what.

use super::*;
use crate::store::*;

/// The advisory lock a first start takes while it looks for a project and creates one, so of
/// replicas starting together on an empty database one creates it.
const FIRST_PROJECT_LOCK: i64 = 0x4852_4649_5253_5450; // "HRFIRSTP"

impl Projects for Postgres {
    fn principal(&self, token_hash: &str) -> StoreResult<Option<Principal>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .row_opt(
                    "SELECT key_id, project, role, roles, admin FROM keys WHERE token_hash = $1",
                    &[&token_hash],
                )
                .await?;
            let Some(r) = row else { return Ok(None) };
            let role = role_from(r.try_get(2)?);
            let roles = roles_from(role, r.try_get(3)?)?;
            Ok(Some(Principal {
                key_id: r.try_get(0)?,
                project: r.try_get(1)?,
                role,
                roles,
                admin: r.try_get(4)?,
            }))
        })
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
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            insert_key(&tx, project, key, audit.at).await?;
            append_audit(&tx, project, &key.key_id, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn keys(&self, project: &str) -> StoreResult<Vec<KeyInfo>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .rows(
                    "SELECT key_id, role, created_at, roles, admin FROM keys WHERE project = $1
                     ORDER BY created_at, rowid",
                    &[&project],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    let role = role_from(r.try_get(1)?);
                    Ok(KeyInfo {
                        key_id: r.try_get(0)?,
                        role,
                        roles: roles_from(role, r.try_get(3)?)?,
                        admin: r.try_get(4)?,
                        created_at: r.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn add_project(&self, id: &str, name: &str, now: i64) -> StoreResult<()> {
        self.block(async {
            let c = self.client().await?;
            c.run("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)", &[&id, &name, &now])
                .await?;
            Ok(())
        })
    }

    fn create_first_project(
        &self,
        project: &Project,
        keys: &[NewKeyRow],
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.run("SELECT pg_advisory_xact_lock($1)", &[&FIRST_PROJECT_LOCK]).await?;
            if tx.row_opt("SELECT 1 FROM projects LIMIT 1", &[]).await?.is_some() {
                return Ok(false);
            }
            insert_project(&tx, project, keys, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn setting(&self, name: &str) -> StoreResult<Option<String>> {
        self.block(async {
            let c = self.client().await?;
            let row = c.row_opt("SELECT value FROM settings WHERE name = $1", &[&name]).await?;
            Ok(row.map(|r| r.try_get(0)).transpose()?)
        })
    }

    fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String> {
        // The first replica's value wins (the proof key, the link secret): every replica reads it.
        self.block(async {
            let c = self.client().await?;
            c.run(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &value],
            )
            .await?;
            Ok(c.row("SELECT value FROM settings WHERE name = $1", &[&name]).await?.try_get(0)?)
        })
    }

    fn key(&self, project: &str, key_id: &str) -> StoreResult<Option<(Role, bool)>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .row_opt(
                    "SELECT role, admin FROM keys WHERE project = $1 AND key_id = $2",
                    &[&project, &key_id],
                )
                .await?;
            row.map(|r| Ok((role_from(r.try_get(0)?), r.try_get(1)?))).transpose()
        })
    }

    fn revoke_key(&self, project: &str, key_id: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let n =
                tx.run("DELETE FROM keys WHERE project = $1 AND key_id = $2", &[&project, &key_id]).await?;
            if n != 1 {
                return Ok(false);
            }
            append_audit(&tx, project, key_id, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn create_project(
        &self,
        project: &Project,
        keys: &[NewKeyRow],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            insert_project(&tx, project, keys, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn projects(&self) -> StoreResult<Vec<Project>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .rows(
                    "SELECT id, name, created_at, max_grant_secs FROM projects ORDER BY created_at, rowid",
                    &[],
                )
                .await?;
            rows.iter().map(project_row).collect()
        })
    }

    fn project(&self, id: &str) -> StoreResult<Option<Project>> {
        self.block(async {
            let c = self.client().await?;
            let row = c
                .row_opt("SELECT id, name, created_at, max_grant_secs FROM projects WHERE id = $1", &[&id])
                .await?;
            row.as_ref().map(project_row).transpose()
        })
    }

    fn add_role(&self, project: &str, rule: &RoleRule, audit: AuditEvent<'_>) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let after = rule.escalate_after_secs.map(|s| s.min(i64::MAX as u64) as i64);
            let n = tx
                .run(
                    "INSERT INTO roles (project, name, escalate_to, escalate_after_secs, created_at)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    &[&project, &rule.name, &rule.escalate_to, &after, &rule.created_at],
                )
                .await?;
            if n != 1 {
                return Ok(false);
            }
            append_audit(&tx, project, &rule.name, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn roles(&self, project: &str) -> StoreResult<Vec<RoleRule>> {
        self.block(async {
            let c = self.client().await?;
            let rows = c
                .rows(
                    "SELECT name, escalate_to, escalate_after_secs, created_at FROM roles WHERE project = $1
                     ORDER BY name COLLATE \"C\"",
                    &[&project],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(RoleRule {
                        name: r.try_get(0)?,
                        escalate_to: r.try_get(1)?,
                        escalate_after_secs: r.try_get::<_, Option<i64>>(2)?.map(|s| s.max(0) as u64),
                        created_at: r.try_get(3)?,
                    })
                })
                .collect()
        })
    }

    fn delete_role(&self, project: &str, name: &str, audit: AuditEvent<'_>) -> StoreResult<bool> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            if tx.run("DELETE FROM roles WHERE project = $1 AND name = $2", &[&project, &name]).await? != 1 {
                return Ok(false);
            }
            append_audit(&tx, project, name, &audit).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    fn set_max_grant_secs(
        &self,
        project: &str,
        secs: Option<u64>,
        now: i64,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<u64>> {
        let secs = secs.map(|s| s.min(i64::MAX as u64) as i64);
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            let found =
                tx.run("UPDATE projects SET max_grant_secs = $2 WHERE id = $1", &[&project, &secs]).await?;
            if found != 1 {
                return Ok(None);
            }
            let shortened = match secs {
                Some(secs) => {
                    tx.run(
                        "UPDATE grants SET expires_at = GREATEST(created_at + $2, $3)
                         WHERE project = $1 AND revoked_at IS NULL AND expires_at > $3
                           AND expires_at > created_at + $2",
                        &[&project, &secs, &now],
                    )
                    .await?
                }
                None => 0,
            };
            let mut audit = audit;
            if let Some(data) = audit.data.as_object_mut() {
                data.insert("grants_shortened".into(), shortened.into());
            }
            append_audit(&tx, project, project, &audit).await?;
            tx.commit().await?;
            Ok(Some(shortened))
        })
    }

    fn set_project_setting(
        &self,
        project: &str,
        name: &str,
        value: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        self.block(async {
            let mut c = self.client().await?;
            let tx = c.transaction().await?;
            tx.run(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = $2",
                &[&name, &value],
            )
            .await?;
            append_audit(&tx, project, name, &audit).await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// Inserts a project with its keys and its chain's first entry, inside `tx`.
async fn insert_project(
    tx: &impl GenericClient,
    project: &Project,
    keys: &[NewKeyRow],
    audit: &AuditEvent<'_>,
) -> StoreResult<()> {
    tx.run(
        "INSERT INTO projects (id, name, created_at, max_grant_secs) VALUES ($1, $2, $3, $4)",
        &[
            &project.id,
            &project.name,
            &project.created_at,
            &project.max_grant_secs.map(|s| s.min(i64::MAX as u64) as i64),
        ],
    )
    .await?;
    for key in keys {
        insert_key(tx, &project.id, key, project.created_at).await?;
    }
    append_audit(tx, &project.id, &project.id, audit).await
}

/// Inserts a key inside `tx`.
async fn insert_key(tx: &impl GenericClient, project: &str, key: &NewKeyRow, now: i64) -> StoreResult<()> {
    tx.run(
        "INSERT INTO keys (token_hash, key_id, project, role, created_at, roles, admin)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &key.token_hash,
            &key.key_id,
            &project,
            &key.role.as_str(),
            &now,
            &serde_json::to_string(&key.roles)?,
            &key.admin,
        ],
    )
    .await?;
    Ok(())
}

fn project_row(r: &tokio_postgres::Row) -> StoreResult<Project> {
    Ok(Project {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        created_at: r.try_get(2)?,
        max_grant_secs: r.try_get::<_, Option<i64>>(3)?.map(|s| s.max(1) as u64),
    })
}

fn role_from(text: &str) -> Role {
    if text == "operator" {
        Role::Operator
    } else {
        Role::Agent
    }
}

/// A key's roles column; agents decide nothing, so they hold none.
fn roles_from(role: Role, text: &str) -> StoreResult<Vec<String>> {
    Ok(if role == Role::Operator { serde_json::from_str(text)? } else { Vec::new() })
}
