//! Brings a database made by an earlier version up to this schema.

use super::*;

/// Brings a database made by an earlier version up to this schema: key roles and the admin
/// flag, the request's role as a column (the queue filter and the escalation sweep), and
/// each audit entry's project and position in it (one chain per project), a project's own
/// bound on grants (`max_grant_secs`, none before), channel reminders and request
/// recipients. Before projects could be created over the API a database held one project,
/// so its single global chain is that project's chain as it stands.
pub(super) fn migrate(conn: &Connection) -> StoreResult<()> {
    let has = |table: &str, column: &str| -> StoreResult<bool> {
        let mut stmt =
            conn.prepare(&format!("SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"))?;
        Ok(stmt.exists([column])?)
    };
    if !has("keys", "roles")? {
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE keys ADD COLUMN roles TEXT NOT NULL DEFAULT '[\"*\"]';
             ALTER TABLE keys ADD COLUMN admin INTEGER NOT NULL DEFAULT 0;
             UPDATE keys SET admin = 1 WHERE rowid =
                (SELECT rowid FROM keys WHERE role = 'operator' ORDER BY rowid LIMIT 1);
             COMMIT;",
        )?;
    }
    if !has("requests", "created_by")? {
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE requests ADD COLUMN created_by TEXT;
             UPDATE requests SET created_by = json_extract(body, '$.created_by');
             COMMIT;",
        )?;
    }
    if !has("notifications", "posted_ts")? {
        // Where a Slack notification's message was posted (NULL for e-mail, and until posted).
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE notifications ADD COLUMN posted_channel TEXT;
             ALTER TABLE notifications ADD COLUMN posted_ts TEXT;
             COMMIT;",
        )?;
    }
    if !has("webhooks", "roles")? {
        // NULL: the endpoint receives every request's events.
        conn.execute_batch("ALTER TABLE webhooks ADD COLUMN roles TEXT;")?;
    }
    if !has("webhooks", "disabled_at")? {
        // When an endpoint's unbroken run of failed attempts began, and when that run
        // disabled it (NULL: it is enabled).
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE webhooks ADD COLUMN failing_since_ms INTEGER;
             ALTER TABLE webhooks ADD COLUMN disabled_at INTEGER;
             COMMIT;",
        )?;
    }
    if !has("projects", "max_grant_secs")? {
        // A project's own bound on grants; NULL: the server-wide bound alone, as before.
        conn.execute_batch(
            "ALTER TABLE projects ADD COLUMN max_grant_secs INTEGER CHECK (max_grant_secs > 0);",
        )?;
    }
    if !has("requests", "role")? {
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE requests ADD COLUMN role TEXT;
             UPDATE requests SET role = json_extract(body, '$.role');
             COMMIT;",
        )?;
    }
    if !has("audit", "project")? {
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE audit ADD COLUMN project TEXT;
             ALTER TABLE audit ADD COLUMN project_seq INTEGER;
             UPDATE audit SET project = json_extract(entry, '$.project'), project_seq = json_extract(entry, '$.seq');
             COMMIT;",
        )?;
    }
    if !has("deliveries", "url")? {
        // A delivery now goes to a registered endpoint (`webhook`) or to a request's own
        // callback URL (`url`), and names its request. SQLite cannot drop the old NOT NULL, so
        // the table is rebuilt, rowids kept (the log lists by them).
        conn.execute_batch(
            "BEGIN;
             CREATE TABLE deliveries_new (
                id TEXT PRIMARY KEY, webhook TEXT REFERENCES webhooks(id), url TEXT, request TEXT,
                project TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
                attempts INTEGER NOT NULL, next_ms INTEGER, last_outcome TEXT, created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL, CHECK ((webhook IS NULL) <> (url IS NULL)));
             INSERT INTO deliveries_new (rowid, id, webhook, url, request, project, event, body, state, attempts,
                next_ms, last_outcome, created_ms, updated_ms)
                SELECT rowid, id, webhook, NULL, json_extract(body, '$.data.id'), project, event, body, state,
                attempts, next_ms, last_outcome, created_ms, updated_ms FROM deliveries;
             DROP TABLE deliveries;
             ALTER TABLE deliveries_new RENAME TO deliveries;
             COMMIT;",
        )?;
    }
    if !has("executions", "created_at")? {
        // Idempotency records are kept 24 hours from their first use; older ones count from now.
        conn.execute_batch(&format!(
            "ALTER TABLE executions ADD COLUMN created_at INTEGER NOT NULL DEFAULT {};",
            crate::now()
        ))?;
        // Usage as the rows stand (kept up to date by every write from now on).
        conn.execute_batch(
            "INSERT OR REPLACE INTO usage (project, bytes)
               SELECT project, SUM(bytes) FROM (
                 SELECT project, length(CAST(body AS BLOB)) AS bytes FROM requests
                 UNION ALL SELECT project, size FROM snapshots)
               GROUP BY project;",
        )?;
    }
    if !has("requests", "summary")? {
        // What a queue shows, kept at creation (NULL for older rows: read from their body).
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE requests ADD COLUMN summary TEXT;
             ALTER TABLE requests ADD COLUMN escalations INTEGER NOT NULL DEFAULT 0;
             UPDATE requests SET escalations = COALESCE(json_array_length(body, '$.escalations'), 0);
             COMMIT;",
        )?;
    }
    if !has("requests", "decision")? {
        // A decision is written to a column of its own, not into the body: deciding never
        // rewrites the payload. Rows decided before keep theirs in the body (NULL here).
        conn.execute_batch("ALTER TABLE requests ADD COLUMN decision TEXT;")?;
    }
    if !has("requests", "escalation_log")? {
        // The same for escalations: a column of their own (the role column says where the
        // request is now). NULL: none since, the body's list stands.
        conn.execute_batch("ALTER TABLE requests ADD COLUMN escalation_log TEXT;")?;
    }
    let table_exists = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'compat_checkpoints'")?
        .exists([])?;
    if table_exists {
        // Thread checkpoints were named after the compatibility layer that first used them.
        conn.execute_batch(
            "BEGIN;
             INSERT OR IGNORE INTO thread_checkpoints (seq, project, thread, id, body, created_at)
                SELECT seq, project, thread, id, body, created_at FROM compat_checkpoints;
             DROP TABLE compat_checkpoints;
             COMMIT;",
        )?;
    }
    if !has("deliveries", "body_id")? {
        // An event's body is stored once in `event_bodies`, however many endpoints it goes
        // to; a delivery names it (older deliveries keep their own copy in `body`).
        conn.execute_batch("ALTER TABLE deliveries ADD COLUMN body_id INTEGER;")?;
    }
    if !has("channels", "remind_after_secs")? {
        // Reminders: a channel's delay (NULL: none), the role a queued reminder is for, and
        // a request's recipients (JSON `[{"kind", "address"}]`, NULL: none), which narrow
        // the channels it is announced to (`store::narrow`).
        conn.execute_batch(
            "BEGIN;
             ALTER TABLE channels ADD COLUMN remind_after_secs INTEGER;
             ALTER TABLE notifications ADD COLUMN role TEXT;
             ALTER TABLE requests ADD COLUMN recipients TEXT;
             COMMIT;",
        )?;
    }
    let counted =
        conn.prepare("SELECT 1 FROM settings WHERE name = 'usage_counts_checkpoints'")?.exists([])?;
    if !counted {
        // Thread checkpoints count against the quota too: add what is stored already, once.
        conn.execute_batch(
            "BEGIN;
             INSERT INTO usage (project, bytes)
               SELECT project, SUM(length(CAST(body AS BLOB))) FROM thread_checkpoints WHERE true GROUP BY project
               ON CONFLICT(project) DO UPDATE SET bytes = bytes + excluded.bytes;
             INSERT INTO settings (name, value) VALUES ('usage_counts_checkpoints', '1');
             COMMIT;",
        )?;
    }
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS requests_by_role ON requests(project, role, status);
         CREATE UNIQUE INDEX IF NOT EXISTS audit_by_project ON audit(project, project_seq);
         CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_ms);
         CREATE INDEX IF NOT EXISTS deliveries_by_request ON deliveries(project, request);
         CREATE INDEX IF NOT EXISTS deliveries_by_body ON deliveries(body_id) WHERE body_id IS NOT NULL;
         CREATE INDEX IF NOT EXISTS requests_escalate_at
            ON requests(json_extract(body, '$.context.escalate_at')) WHERE status = 'PENDING';",
    )?;
    Ok(())
}
