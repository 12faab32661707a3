//! The SQLite implementation of [`Store`]: one file, WAL mode, `synchronous=FULL`, so a
//! request acknowledged to a client is on disk. Snapshot bytes live in files beside it
//! (`snapshots/`), their metadata in the database.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use handrail_core::audit::{self, Entry};
use handrail_core::idempotency::Execution;
use handrail_core::request::Status;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::{
    approving_actor, AgentRow, AgentSnapshot, AuditEvent, BlobSink, BudgetState, CheckpointPut, Checkpoints,
    Claim, Delivery, Escalation, EscalationStep, KeyInfo, NewKeyRow, ObservationUpdate, Principal, Project,
    RequestFilter, RequestRow, Role, RoleRule, SessionRow, Snapshot, SnapshotCommit, Store, StoreError,
    StoreResult, StoredCheckpoint, ToolCount, Webhook, ANY_ROLE,
};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// How many read connections serve lookups beside the one writer (WAL readers never block
/// the writer, nor it them).
const READERS: usize = 4;

/// A write that joins a group commit: it runs inside the batch's transaction, in a
/// savepoint of its own, and answers whether it applied (false: it wrote nothing).
type Job = Box<dyn FnOnce(&Connection) -> StoreResult<bool> + Send>;

/// SQLite storage in one file.
///
/// Writes go through one connection. The hot writes (creating and deciding requests) are
/// group-committed: each caller queues its job, and whoever holds the writer runs every
/// queued job in one transaction — one fsync for the batch — each job in its own
/// savepoint, so a job that fails or loses a race leaves nothing behind while the others
/// commit. Lookups use a small pool of read connections.
pub struct Sqlite {
    conn: Mutex<Connection>,
    queue: Mutex<Vec<(Job, std::sync::mpsc::SyncSender<StoreResult<bool>>)>>,
    readers: Vec<Mutex<Connection>>,
    /// Directory of snapshot blobs, one file each.
    blobs: PathBuf,
}

impl Sqlite {
    /// Opens (and creates) the database at `path`.
    pub fn open(path: &Path) -> StoreResult<Sqlite> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=FULL;
             PRAGMA foreign_keys=ON;
             PRAGMA busy_timeout=5000;
             CREATE TABLE IF NOT EXISTS projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS keys (
                token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,
                project TEXT NOT NULL REFERENCES projects(id), role TEXT NOT NULL, created_at INTEGER NOT NULL,
                roles TEXT NOT NULL DEFAULT '[\"*\"]', admin INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS executions (
                project TEXT NOT NULL, key TEXT NOT NULL, execution TEXT NOT NULL, PRIMARY KEY (project, key));
             CREATE TABLE IF NOT EXISTS requests (
                id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), body TEXT NOT NULL,
                status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, role TEXT);
             CREATE INDEX IF NOT EXISTS requests_by_project ON requests(project, status, created_at);
             CREATE INDEX IF NOT EXISTS requests_due ON requests(status, expires_at);
             CREATE TABLE IF NOT EXISTS audit (
                seq INTEGER PRIMARY KEY, entry TEXT NOT NULL, project TEXT, project_seq INTEGER);
             CREATE TABLE IF NOT EXISTS roles (
                project TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL, escalate_to TEXT,
                escalate_after_secs INTEGER, created_at INTEGER NOT NULL, PRIMARY KEY (project, name));
             CREATE TABLE IF NOT EXISTS webhooks (
                id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), url TEXT NOT NULL,
                secret TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS deliveries (
                id TEXT PRIMARY KEY, webhook TEXT REFERENCES webhooks(id), url TEXT, request TEXT,
                project TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL,
                attempts INTEGER NOT NULL, next_ms INTEGER, last_outcome TEXT, created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL, CHECK ((webhook IS NULL) <> (url IS NULL)));
             CREATE TABLE IF NOT EXISTS agents (
                project TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL, mode TEXT NOT NULL,
                profile BLOB NOT NULL, version INTEGER NOT NULL, readiness TEXT NOT NULL,
                nodes INTEGER NOT NULL, edges INTEGER NOT NULL, calls INTEGER NOT NULL, sessions INTEGER NOT NULL,
                cost_usd REAL NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
                PRIMARY KEY (project, name));
             CREATE TABLE IF NOT EXISTS agent_events (
                project TEXT NOT NULL, agent TEXT NOT NULL, id TEXT NOT NULL, session TEXT NOT NULL,
                at INTEGER NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (project, agent, id));
             CREATE TABLE IF NOT EXISTS agent_sessions (
                project TEXT NOT NULL, agent TEXT NOT NULL, session TEXT NOT NULL, state TEXT NOT NULL,
                last_seen INTEGER NOT NULL, PRIMARY KEY (project, agent, session));
             CREATE TABLE IF NOT EXISTS agent_telemetry (
                project TEXT NOT NULL, agent TEXT NOT NULL, tool TEXT NOT NULL, outcome TEXT NOT NULL,
                calls INTEGER NOT NULL, cost_usd REAL NOT NULL, PRIMARY KEY (project, agent, tool, outcome));
             CREATE TABLE IF NOT EXISTS snapshots (
                request TEXT PRIMARY KEY REFERENCES requests(id), project TEXT NOT NULL, blob TEXT NOT NULL,
                size INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL);",
        )?;
        migrate(&conn)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS agent_budgets (
                project TEXT NOT NULL, agent TEXT NOT NULL, daily_usd REAL NOT NULL, PRIMARY KEY (project, agent));
             CREATE TABLE IF NOT EXISTS agent_spend (
                project TEXT NOT NULL, agent TEXT NOT NULL, day INTEGER NOT NULL, usd REAL NOT NULL,
                PRIMARY KEY (project, agent, day));
             CREATE TABLE IF NOT EXISTS sessions (
                project TEXT NOT NULL, id TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
                started_at INTEGER NOT NULL, ended_at INTEGER, events INTEGER NOT NULL, cost_usd REAL NOT NULL,
                PRIMARY KEY (project, id));
             CREATE INDEX IF NOT EXISTS sessions_by_agent ON sessions(project, agent, started_at);
             CREATE TABLE IF NOT EXISTS compat_checkpoints (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, thread TEXT NOT NULL,
                id TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (project, thread, id));
             CREATE INDEX IF NOT EXISTS compat_checkpoints_by_thread ON compat_checkpoints(project, thread, seq);
             CREATE TABLE IF NOT EXISTS audit_checkpoints (
                project TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, token TEXT NOT NULL);",
        )?;
        let blobs = path.parent().unwrap_or(Path::new(".")).join("snapshots");
        if !blobs.is_dir() {
            std::fs::create_dir_all(&blobs).map_err(io)?;
            sync_dir(blobs.parent().unwrap_or(Path::new(".")))?;
        }
        let readers = (0..READERS)
            .map(|_| {
                let reader = Connection::open(path)?;
                reader.execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;")?;
                Ok(Mutex::new(reader))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Sqlite { conn: Mutex::new(conn), queue: Mutex::default(), readers, blobs })
    }

    /// A read connection: the first free one, else the caller waits on one.
    fn reader(&self) -> std::sync::MutexGuard<'_, Connection> {
        for reader in &self.readers {
            if let Ok(guard) = reader.try_lock() {
                return guard;
            }
        }
        let n = self.readers.len();
        let pick = std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            std::thread::current().id(),
        ) as usize
            % n;
        self.readers[pick].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `job` in a group commit (see [`Sqlite`]); returns once its batch is on disk.
    fn grouped(
        &self,
        job: impl FnOnce(&Connection) -> StoreResult<bool> + Send + 'static,
    ) -> StoreResult<bool> {
        let (done, result) = std::sync::mpsc::sync_channel(1);
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push((Box::new(job), done));
        loop {
            if let Ok(r) = result.try_recv() {
                return r;
            }
            let mut conn = self.conn();
            // The leader before us may have committed our job while we waited.
            if let Ok(r) = result.try_recv() {
                return r;
            }
            let jobs = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            run_batch(&mut conn, jobs);
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (it rolls back): go on.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Commits a batch of jobs in one transaction and tells each caller its outcome. When the
/// commit itself fails, every job of the batch gets the error: none was acknowledged.
fn run_batch(conn: &mut Connection, jobs: Vec<(Job, std::sync::mpsc::SyncSender<StoreResult<bool>>)>) {
    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut senders = Vec::with_capacity(jobs.len());
    let committed = (|| -> StoreResult<()> {
        let mut tx = conn.transaction()?;
        for (job, done) in jobs {
            let outcome = (|| {
                let sp = tx.savepoint()?;
                let applied = job(&sp)?;
                if applied {
                    sp.commit()?;
                }
                Ok(applied)
            })();
            outcomes.push(outcome);
            senders.push(done);
        }
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = committed {
        for done in senders {
            let _ = done.send(Err(StoreError(e.0.clone())));
        }
        return;
    }
    for (done, outcome) in senders.into_iter().zip(outcomes) {
        let _ = done.send(outcome);
    }
}

/// Brings a database made by an earlier version up to this schema: key roles and the admin
/// flag, the request's role as a column (the queue filter and the escalation sweep), and
/// each audit entry's project and position in it (one chain per project). Before projects
/// could be created over the API a database held one project, so its single global chain
/// is that project's chain as it stands.
fn migrate(conn: &Connection) -> StoreResult<()> {
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
    if !has("webhooks", "roles")? {
        // NULL: the endpoint receives every request's events.
        conn.execute_batch("ALTER TABLE webhooks ADD COLUMN roles TEXT;")?;
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
    conn.execute_batch(
        "CREATE INDEX IF NOT EXISTS requests_by_role ON requests(project, role, status);
         CREATE UNIQUE INDEX IF NOT EXISTS audit_by_project ON audit(project, project_seq);
         CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(state, next_ms);
         CREATE INDEX IF NOT EXISTS deliveries_by_request ON deliveries(project, request);
         CREATE INDEX IF NOT EXISTS requests_escalate_at
            ON requests(json_extract(body, '$.context.escalate_at')) WHERE status = 'PENDING';",
    )?;
    Ok(())
}

fn io(e: std::io::Error) -> StoreError {
    StoreError(format!("snapshot storage: {e}"))
}

/// Makes a directory's entries (a file created or renamed in it) durable.
fn sync_dir(dir: &Path) -> StoreResult<()> {
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A snapshot upload being written to its own file under `snapshots/`. The database refers
/// to it only once it is complete and fsync'd; until then (or if dropped) it is removed.
struct FileSink {
    dir: PathBuf,
    key: String,
    file: std::io::BufWriter<std::fs::File>,
    done: bool,
}

impl BlobSink for FileSink {
    fn write(&mut self, bytes: &[u8]) -> StoreResult<()> {
        self.file.write_all(bytes).map_err(io)
    }

    fn finish(mut self: Box<Self>) -> StoreResult<String> {
        self.file.flush().map_err(io)?;
        self.file.get_ref().sync_all().map_err(io)?;
        sync_dir(&self.dir)?;
        self.done = true;
        Ok(self.key.clone())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(self.dir.join(&self.key));
        }
    }
}

/// The snapshot of request `id` of `project` (its blob's key and metadata).
fn snapshot_in(conn: &Connection, project: &str, id: &str) -> StoreResult<Option<(String, Snapshot)>> {
    Ok(conn
        .query_row(
            "SELECT blob, size, sha256, created_at FROM snapshots WHERE request = ?1 AND project = ?2",
            [id, project],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Snapshot { size: r.get::<_, i64>(1)? as u64, sha256: r.get(2)?, created_at: r.get(3)? },
                ))
            },
        )
        .optional()?)
}

fn row_from(body: String) -> StoreResult<RequestRow> {
    Ok(serde_json::from_str(&body)?)
}

/// Queues the event for every webhook of the project and, when given, for the request's own
/// callback URL, inside `tx` (so a change and its notification are stored together or not at
/// all).
fn enqueue(
    tx: &Connection,
    row: &RequestRow,
    event: &str,
    at: i64,
    callback: Option<&str>,
) -> StoreResult<()> {
    // An endpoint scoped to roles hears of unrestricted requests and of its roles' ones:
    // what an operator holding those roles may read.
    let mut stmt = tx.prepare(
        "SELECT id FROM webhooks WHERE project = ?1
         AND (roles IS NULL OR ?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(roles) WHERE value = ?2))",
    )?;
    let hooks = stmt
        .query_map(params![&row.project, &row.role], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if hooks.is_empty() && callback.is_none() {
        return Ok(());
    }
    let mut data = serde_json::to_value(row)?;
    // Snapshot metadata travels with the event; its bytes are fetched with a key or a link.
    if let (Some((_, meta)), Some(obj)) = (snapshot_in(tx, &row.project, &row.id)?, data.as_object_mut()) {
        obj.insert("snapshot".into(), serde_json::to_value(meta)?);
    }
    let body = serde_json::to_string(&serde_json::json!({ "type": event, "timestamp": at, "data": data }))?;
    let now_ms = at * 1000;
    let targets =
        hooks.into_iter().map(|h| (Some(h), None)).chain(callback.map(|url| (None, Some(url.to_string()))));
    for (hook, url) in targets {
        let mut id = [0u8; 12];
        handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
        tx.execute(
            "INSERT INTO deliveries (id, webhook, url, request, project, event, body, state, attempts, next_ms,
                created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', 0, ?8, ?8, ?8)",
            params![
                format!("msg_{}", handrail_core::encoding::b64url_encode(id)),
                hook,
                url,
                row.id,
                row.project,
                event,
                body,
                now_ms
            ],
        )?;
    }
    Ok(())
}

/// Chains one audit entry to its project's last and appends it, inside `tx`.
fn append_audit(tx: &Connection, project: &str, subject: &str, e: &AuditEvent<'_>) -> StoreResult<()> {
    let last: Option<String> = tx
        .query_row(
            "SELECT entry FROM audit WHERE project = ?1 ORDER BY project_seq DESC LIMIT 1",
            [project],
            |r| r.get(0),
        )
        .optional()?;
    let last: Option<Entry> = last.map(|t| serde_json::from_str(&t)).transpose()?;
    let fields = audit::Fields { at: e.at, project, actor: e.actor, event: e.event, subject, data: &e.data };
    let entry = audit::chain(last.as_ref(), fields).map_err(|e| StoreError(e.to_string()))?;
    tx.execute(
        "INSERT INTO audit (entry, project, project_seq) VALUES (?1, ?2, ?3)",
        params![serde_json::to_string(&entry)?, project, entry.seq as i64],
    )?;
    Ok(())
}

/// Inserts a key inside `tx`.
fn insert_key(tx: &Connection, project: &str, key: &NewKeyRow, now: i64) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO keys (token_hash, key_id, project, role, created_at, roles, admin)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            key.token_hash,
            key.key_id,
            project,
            key.role.as_str(),
            now,
            serde_json::to_string(&key.roles)?,
            key.admin
        ],
    )?;
    Ok(())
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

impl Store for Sqlite {
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

    fn append_audit(&self, project: &str, subject: &str, audit: AuditEvent<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        append_audit(&tx, project, subject, &audit)?;
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

    fn is_empty(&self) -> StoreResult<bool> {
        let n: i64 = self.conn().query_row("SELECT COUNT(*) FROM projects", [], |r| r.get(0))?;
        Ok(n == 0)
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

    fn execution(&self, project: &str, key: &str) -> StoreResult<Option<Execution>> {
        let text: Option<String> = self
            .reader()
            .query_row(
                "SELECT execution FROM executions WHERE project = ?1 AND key = ?2",
                params![project, key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(text.map(|t| serde_json::from_str(&t)).transpose()?)
    }

    fn insert_request(
        &self,
        row: &RequestRow,
        claim: Option<Claim<'_>>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        let claim = claim
            .map(|c| -> StoreResult<_> {
                Ok((
                    c.committed.key.clone(),
                    serde_json::to_string(c.committed)?,
                    c.previous.map(serde_json::to_string).transpose()?,
                ))
            })
            .transpose()?;
        let row = row.clone();
        let body = serde_json::to_string(&row)?;
        let (at, actor, event, data) =
            (audit.at, audit.actor.to_string(), audit.event.to_string(), audit.data);
        self.grouped(move |tx| {
            if let Some((key, text, previous)) = claim {
                let changed = match previous {
                    None => tx.execute(
                        "INSERT OR IGNORE INTO executions (project, key, execution) VALUES (?1, ?2, ?3)",
                        params![row.project, key, text],
                    )?,
                    Some(prev) => tx.execute(
                        "UPDATE executions SET execution = ?3 WHERE project = ?1 AND key = ?2 AND execution = ?4",
                        params![row.project, key, text, prev],
                    )?,
                };
                if changed != 1 {
                    return Ok(false); // another create won the key; this savepoint rolls back
                }
            }
            tx.execute(
                "INSERT INTO requests (id, project, body, status, created_at, expires_at, role, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    row.id,
                    row.project,
                    body,
                    row.status.as_str(),
                    row.created_at,
                    row.expires_at,
                    row.role,
                    row.created_by
                ],
            )?;
            let audit = AuditEvent { at, actor: &actor, event: &event, data };
            append_audit(tx, &row.project, &row.id, &audit)?;
            enqueue(tx, &row, audit.event, audit.at, None)?;
            Ok(true)
        })
    }

    fn request(&self, project: &str, id: &str) -> StoreResult<Option<RequestRow>> {
        let body: Option<String> = self
            .reader()
            .query_row(
                "SELECT body FROM requests WHERE project = ?1 AND id = ?2",
                params![project, id],
                |r| r.get(0),
            )
            .optional()?;
        body.map(row_from).transpose()
    }

    fn list(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestRow>> {
        let conn = self.reader();
        let mut stmt = conn.prepare(
            "SELECT body FROM requests WHERE project = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR role = ?3)
               AND (?5 IS NULL OR role IS NULL OR role IN (SELECT value FROM json_each(?5)))
               AND (?6 IS NULL OR created_by = ?6)
             ORDER BY created_at DESC, rowid DESC LIMIT ?4",
        )?;
        let readable = filter.readable_roles.map(serde_json::to_string).transpose()?;
        let bodies = stmt
            .query_map(
                params![
                    project,
                    filter.status,
                    filter.role,
                    filter.limit as i64,
                    readable,
                    filter.created_by
                ],
                |r| r.get::<_, String>(0),
            )?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.into_iter().map(row_from).collect()
    }

    fn decide(
        &self,
        project: &str,
        id: &str,
        status: Status,
        decision: &Value,
        callback: Option<&str>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        let (project, id, decision) = (project.to_string(), id.to_string(), decision.clone());
        let callback = callback.map(str::to_string);
        let (at, actor, event, data) =
            (audit.at, audit.actor.to_string(), audit.event.to_string(), audit.data);
        let approver = approving_actor(status, &decision)?.map(str::to_string);
        self.grouped(move |tx| {
            if let Some(actor) = &approver {
                let role: Option<String> = tx
                    .query_row(
                        "SELECT role FROM keys WHERE project = ?1 AND key_id = ?2",
                        params![project, actor],
                        |r| r.get(0),
                    )
                    .optional()?;
                if role.as_deref() != Some(Role::Operator.as_str()) {
                    return Err(StoreError(
                        "approval refused: its decider is not an operator of the project".into(),
                    ));
                }
            }
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM requests WHERE project = ?1 AND id = ?2 AND status = 'PENDING'",
                    params![project, id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(body) = body else { return Ok(false) };
            let mut row = row_from(body)?;
            row.status = status;
            row.decision = Some(decision);
            tx.execute(
                "UPDATE requests SET body = ?3, status = ?4 WHERE project = ?1 AND id = ?2",
                params![project, id, serde_json::to_string(&row)?, status.as_str()],
            )?;
            let audit = AuditEvent { at, actor: &actor, event: &event, data };
            append_audit(tx, &project, &id, &audit)?;
            enqueue(tx, &row, audit.event, audit.at, callback.as_deref())?;
            Ok(true)
        })
    }

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

    fn deliveries(&self, project: &str, webhook: &str, limit: usize) -> StoreResult<Vec<Value>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, event, state, attempts, last_outcome, created_ms, updated_ms FROM deliveries
             WHERE project = ?1 AND webhook = ?2 ORDER BY created_ms DESC, rowid DESC LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![project, webhook, limit as i64], |r| {
                Ok(serde_json::json!({
                    "id": r.get::<_, String>(0)?, "event": r.get::<_, String>(1)?, "state": r.get::<_, String>(2)?,
                    "attempts": r.get::<_, i64>(3)?, "last_outcome": r.get::<_, Option<String>>(4)?,
                    "created_ms": r.get::<_, i64>(5)?, "updated_ms": r.get::<_, i64>(6)?,
                }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn redeliver(&self, project: &str, id: &str, now_ms: i64) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE deliveries SET state = 'pending', next_ms = ?3, updated_ms = ?3 WHERE project = ?1 AND id = ?2",
            params![project, id, now_ms],
        )?;
        Ok(n == 1)
    }

    fn request_deliveries(&self, project: &str, request: &str, limit: usize) -> StoreResult<Vec<Value>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, webhook, event, state, attempts, last_outcome, created_ms, updated_ms FROM deliveries
             WHERE project = ?1 AND request = ?2 ORDER BY created_ms DESC, rowid DESC LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![project, request, limit as i64], |r| {
                let webhook = r.get::<_, Option<String>>(1)?;
                Ok(serde_json::json!({
                    "id": r.get::<_, String>(0)?,
                    "target": if webhook.is_some() { "webhook" } else { "callback" },
                    "webhook": webhook,
                    "event": r.get::<_, String>(2)?, "state": r.get::<_, String>(3)?,
                    "attempts": r.get::<_, i64>(4)?, "last_outcome": r.get::<_, Option<String>>(5)?,
                    "created_ms": r.get::<_, i64>(6)?, "updated_ms": r.get::<_, i64>(7)?,
                }))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn audit_log(&self) -> StoreResult<Vec<Entry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT entry FROM audit ORDER BY seq")?;
        let texts = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        texts.iter().map(|t| Ok(serde_json::from_str(t)?)).collect()
    }

    fn audit_heads(&self) -> StoreResult<Vec<Entry>> {
        let conn = self.reader();
        // One indexed probe per project (audit_by_project), not a scan of the whole log.
        let mut stmt = conn.prepare(
            "SELECT a.entry FROM audit a
             JOIN (SELECT project, MAX(project_seq) AS head FROM audit GROUP BY project) h
               ON a.project = h.project AND a.project_seq = h.head",
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

    fn due(&self, now: i64, limit: usize) -> StoreResult<Vec<RequestRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT body FROM requests WHERE status = 'PENDING' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
        )?;
        let bodies = stmt
            .query_map(params![now, limit as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.into_iter().map(row_from).collect()
    }

    fn agent_snapshot(
        &self,
        project: &str,
        agent: &str,
        event_ids: &[&str],
        sessions: &[&str],
    ) -> StoreResult<AgentSnapshot> {
        let mut conn = self.conn();
        // One read transaction: the version, ids and sessions are of the same moment.
        let tx = conn.transaction()?;
        let mut snap = AgentSnapshot::default();
        if let Some((version, profile)) = tx
            .query_row(
                "SELECT version, profile FROM agents WHERE project = ?1 AND name = ?2",
                params![project, agent],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?
        {
            snap.version = version;
            snap.profile = Some(profile);
        }
        {
            let mut stmt =
                tx.prepare("SELECT 1 FROM agent_events WHERE project = ?1 AND agent = ?2 AND id = ?3")?;
            for id in event_ids {
                if stmt.exists(params![project, agent, id])? {
                    snap.seen.insert((*id).to_string());
                }
            }
            let mut stmt = tx.prepare(
                "SELECT state FROM agent_sessions WHERE project = ?1 AND agent = ?2 AND session = ?3",
            )?;
            for session in sessions {
                if let Some(state) =
                    stmt.query_row(params![project, agent, session], |r| r.get::<_, String>(0)).optional()?
                {
                    snap.sessions.insert((*session).to_string(), state);
                }
            }
            let mut stmt =
                tx.prepare("SELECT DISTINCT tool FROM agent_telemetry WHERE project = ?1 AND agent = ?2")?;
            snap.tools = stmt
                .query_map(params![project, agent], |r| r.get::<_, String>(0))?
                .collect::<Result<_, _>>()?;
        }
        tx.commit()?;
        Ok(snap)
    }

    fn commit_observations(
        &self,
        project: &str,
        agent: &str,
        u: &ObservationUpdate<'_>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let readiness = serde_json::to_string(&u.readiness)?;
        let calls: u64 = u.counts.iter().map(|c| c.calls).sum();
        let cost: f64 = u.counts.iter().map(|c| c.cost_usd).sum();
        let new_sessions = u.sessions.iter().filter(|s| s.2).count() as i64;
        let changed = if u.expected_version == 0 {
            tx.execute(
                "INSERT OR IGNORE INTO agents (project, name, mode, profile, version, readiness, nodes, edges,
                 calls, sessions, cost_usd, first_seen, last_seen)
                 VALUES (?1, ?2, 'shadow', ?3, 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
                params![project, agent, u.profile, readiness, u.nodes as i64, u.edges as i64, calls as i64,
                    new_sessions, cost, u.now],
            )?
        } else {
            tx.execute(
                "UPDATE agents SET profile = ?3, version = version + 1, readiness = ?4, nodes = ?5, edges = ?6,
                 calls = calls + ?7, sessions = sessions + ?8, cost_usd = cost_usd + ?9, last_seen = MAX(last_seen, ?10)
                 WHERE project = ?1 AND name = ?2 AND version = ?11",
                params![project, agent, u.profile, readiness, u.nodes as i64, u.edges as i64, calls as i64,
                    new_sessions, cost, u.now, u.expected_version],
            )?
        };
        if changed != 1 {
            return Ok(false); // another batch came first; the transaction rolls back
        }
        {
            let mut stmt = tx.prepare(
                "INSERT OR IGNORE INTO agent_events (project, agent, id, session, at, received_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (id, session, at) in &u.events {
                if stmt.execute(params![project, agent, id, session, at, u.now])? != 1 {
                    return Ok(false);
                }
            }
            let mut stmt = tx.prepare(
                "INSERT INTO agent_sessions (project, agent, session, state, last_seen) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (project, agent, session) DO UPDATE SET state = ?4, last_seen = ?5",
            )?;
            for (session, state, _) in &u.sessions {
                stmt.execute(params![project, agent, session, state, u.now])?;
            }
            let mut stmt = tx.prepare(
                "INSERT INTO agent_telemetry (project, agent, tool, outcome, calls, cost_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (project, agent, tool, outcome) DO UPDATE SET calls = calls + ?5, cost_usd = cost_usd + ?6",
            )?;
            for c in &u.counts {
                stmt.execute(params![project, agent, c.tool, c.outcome, c.calls as i64, c.cost_usd])?;
            }
            if cost > 0.0 {
                // Spend by the server's UTC day, what the budget guardrail compares.
                tx.execute(
                    "INSERT INTO agent_spend (project, agent, day, usd) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project, agent, day) DO UPDATE SET usd = usd + ?4",
                    params![project, agent, u.now.div_euclid(86_400), cost],
                )?;
            }
        }
        tx.commit()?;
        Ok(true)
    }

    fn agents(&self, project: &str) -> StoreResult<Vec<AgentRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("{AGENT_COLUMNS} WHERE project = ?1 ORDER BY name"))?;
        let rows = stmt.query_map([project], agent_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(row, readiness)| finish_agent(row, &readiness)).collect()
    }

    fn agent(&self, project: &str, agent: &str) -> StoreResult<Option<(AgentRow, Vec<ToolCount>)>> {
        let conn = self.conn();
        let Some((row, readiness)) = conn
            .query_row(
                &format!("{AGENT_COLUMNS} WHERE project = ?1 AND name = ?2"),
                params![project, agent],
                agent_row,
            )
            .optional()?
        else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT tool, outcome, calls, cost_usd FROM agent_telemetry WHERE project = ?1 AND agent = ?2
             ORDER BY tool, outcome",
        )?;
        let counts = stmt
            .query_map(params![project, agent], |r| {
                Ok(ToolCount {
                    tool: r.get(0)?,
                    outcome: r.get(1)?,
                    calls: r.get::<_, i64>(2)? as u64,
                    cost_usd: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some((finish_agent(row, &readiness)?, counts)))
    }

    fn agent_profile(&self, project: &str, agent: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT profile FROM agents WHERE project = ?1 AND name = ?2",
                params![project, agent],
                |r| r.get(0),
            )
            .optional()?)
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

    fn set_agent_mode(
        &self,
        project: &str,
        agent: &str,
        mode: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE agents SET mode = ?3 WHERE project = ?1 AND name = ?2",
            params![project, agent, mode],
        )?;
        if n != 1 {
            return Ok(false);
        }
        append_audit(&tx, project, agent, &audit)?;
        tx.commit()?;
        Ok(true)
    }

    fn stage_snapshot(&self) -> StoreResult<Box<dyn BlobSink>> {
        let mut id = [0u8; 18];
        handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
        let key = handrail_core::encoding::b64url_encode(id);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.blobs.join(&key))
            .map_err(io)?;
        Ok(Box::new(FileSink {
            dir: self.blobs.clone(),
            key,
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            done: false,
        }))
    }

    fn commit_snapshot(
        &self,
        project: &str,
        id: &str,
        blob: &str,
        meta: &Snapshot,
        audit: AuditEvent<'_>,
    ) -> StoreResult<SnapshotCommit> {
        let discard = || {
            let _ = std::fs::remove_file(self.blobs.join(blob));
        };
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let status: Option<String> = tx
            .query_row(
                "SELECT status FROM requests WHERE project = ?1 AND id = ?2",
                params![project, id],
                |r| r.get(0),
            )
            .optional()?;
        match status.as_deref() {
            None => {
                discard();
                return Ok(SnapshotCommit::NotFound);
            }
            Some("PENDING") => {}
            Some(_) => {
                discard();
                return Ok(SnapshotCommit::NotPending);
            }
        }
        let previous = snapshot_in(&tx, project, id)?.map(|(blob, _)| blob);
        tx.execute(
            "INSERT INTO snapshots (request, project, blob, size, sha256, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(request) DO UPDATE SET blob = excluded.blob, size = excluded.size,
                sha256 = excluded.sha256, created_at = excluded.created_at",
            params![id, project, blob, meta.size as i64, meta.sha256, meta.created_at],
        )?;
        append_audit(&tx, project, id, &audit)?;
        // On an error here the staged file stays: it may be referenced if the commit did land;
        // `sweep_snapshots` removes it at the next start if not.
        tx.commit()?;
        drop(conn);
        if let Some(previous) = previous.filter(|p| p != blob) {
            let _ = std::fs::remove_file(self.blobs.join(previous));
        }
        Ok(SnapshotCommit::Stored)
    }

    fn snapshot(&self, project: &str, id: &str) -> StoreResult<Option<Snapshot>> {
        Ok(snapshot_in(&self.conn(), project, id)?.map(|(_, meta)| meta))
    }

    fn open_snapshot(
        &self,
        project: &str,
        id: &str,
    ) -> StoreResult<Option<(Snapshot, Box<dyn std::io::Read + Send>)>> {
        // A concurrent upload may replace (and remove) the file between the read of its name
        // and its opening: read again then. Once open, the bytes stay readable.
        for _ in 0..3 {
            let Some((blob, meta)) = snapshot_in(&self.conn(), project, id)? else { return Ok(None) };
            match std::fs::File::open(self.blobs.join(&blob)) {
                Ok(file) => return Ok(Some((meta, Box::new(file)))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(e)),
            }
        }
        Err(StoreError(format!("the blob of the snapshot of {id} is missing")))
    }

    fn sweep_snapshots(&self) -> StoreResult<usize> {
        let referenced: HashSet<String> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT blob FROM snapshots")?;
            let blobs = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<_, _>>()?;
            blobs
        };
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.blobs).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn create_project(
        &self,
        project: &Project,
        keys: &[NewKeyRow],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO projects (id, name, created_at) VALUES (?1, ?2, ?3)",
            params![project.id, project.name, project.created_at],
        )?;
        for key in keys {
            insert_key(&tx, &project.id, key, project.created_at)?;
        }
        append_audit(&tx, &project.id, &project.id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn projects(&self) -> StoreResult<Vec<Project>> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare("SELECT id, name, created_at FROM projects ORDER BY created_at, rowid")?;
        let rows = stmt
            .query_map([], |r| Ok(Project { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? }))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn project(&self, id: &str) -> StoreResult<Option<Project>> {
        Ok(self
            .reader()
            .query_row("SELECT id, name, created_at FROM projects WHERE id = ?1", [id], |r| {
                Ok(Project { id: r.get(0)?, name: r.get(1)?, created_at: r.get(2)? })
            })
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

    fn due_escalations(
        &self,
        now: i64,
        max_hops: usize,
        limit: usize,
    ) -> StoreResult<Vec<(RequestRow, String)>> {
        let conn = self.reader();
        // Driven from the (few) roles with a rule (CROSS JOIN keeps that order: the pending
        // requests of those roles come from `requests_by_role`, the rest are never read). The
        // request's time in its role starts at its last escalation, else at its creation.
        // Rows moved here no longer qualify, so more than `limit` due go at the next sweeps.
        let mut stmt = conn.prepare(
            "SELECT r.body, ro.escalate_to FROM roles ro
             CROSS JOIN requests r ON r.project = ro.project AND r.role = ro.name AND r.status = 'PENDING'
             WHERE ro.escalate_to IS NOT NULL AND ro.escalate_after_secs IS NOT NULL AND r.expires_at > ?1
               AND COALESCE(json_extract(r.body, '$.escalations[#-1].at'), r.created_at) + ro.escalate_after_secs <= ?1
               AND COALESCE(json_array_length(r.body, '$.escalations'), 0) < ?2
             LIMIT ?3",
        )?;
        let rows = stmt
            .query_map(params![now, max_hops as i64, limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|(body, to)| Ok((row_from(body)?, to))).collect()
    }

    fn escalate(
        &self,
        project: &str,
        id: &str,
        step: &EscalationStep<'_>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<RequestRow>> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let body: Option<String> = tx
            .query_row(
                "SELECT body FROM requests
                 WHERE project = ?1 AND id = ?2 AND status = 'PENDING' AND role IS ?3 AND expires_at > ?4",
                params![project, id, step.from, audit.at],
                |r| r.get(0),
            )
            .optional()?;
        let Some(body) = body else { return Ok(None) };
        let mut row = row_from(body)?;
        if row.escalations.len() >= step.max_hops || (step.first_only && !row.escalations.is_empty()) {
            return Ok(None);
        }
        if let Some(to) = step.to {
            row.role = Some(to.to_string());
        }
        row.escalations.push(Escalation {
            from: step.from.map(str::to_string),
            to: step.to.map(str::to_string),
            target: step.target.map(str::to_string),
            at: audit.at,
        });
        tx.execute(
            "UPDATE requests SET body = ?3, role = ?4 WHERE project = ?1 AND id = ?2",
            params![project, id, serde_json::to_string(&row)?, row.role],
        )?;
        append_audit(&tx, project, id, &audit)?;
        enqueue(&tx, &row, audit.event, audit.at, None)?;
        tx.commit()?;
        Ok(Some(row))
    }

    fn due_own_escalations(&self, now: i64, limit: usize) -> StoreResult<Vec<RequestRow>> {
        let conn = self.reader();
        // `requests_escalate_at` is a partial index over pending requests by their own
        // escalation time, so only those due are read; the rest of the pending queue is never
        // scanned. Named, because without statistics SQLite prefers `requests_due`, which
        // would read every pending request not yet expired.
        let mut stmt = conn.prepare(
            "SELECT body FROM requests INDEXED BY requests_escalate_at
             WHERE status = 'PENDING' AND json_extract(body, '$.context.escalate_at') <= ?1 AND expires_at > ?1
               AND COALESCE(json_array_length(body, '$.escalations'), 0) = 0
             LIMIT ?2",
        )?;
        let bodies = stmt
            .query_map(params![now, limit as i64], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.into_iter().map(row_from).collect()
    }

    /// An `agents` row; its readiness JSON is parsed outside rusqlite's error type.
    fn set_budget(
        &self,
        project: &str,
        agent: &str,
        daily_usd: Option<f64>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        match daily_usd {
            Some(usd) => tx.execute(
                "INSERT INTO agent_budgets (project, agent, daily_usd) VALUES (?1, ?2, ?3)
                 ON CONFLICT (project, agent) DO UPDATE SET daily_usd = ?3",
                params![project, agent, usd],
            )?,
            None => tx.execute(
                "DELETE FROM agent_budgets WHERE project = ?1 AND agent = ?2",
                params![project, agent],
            )?,
        };
        append_audit(&tx, project, agent, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn budget(&self, project: &str, agent: &str, day: i64) -> StoreResult<BudgetState> {
        let conn = self.conn();
        let daily_usd = conn
            .query_row(
                "SELECT daily_usd FROM agent_budgets WHERE project = ?1 AND agent = ?2",
                params![project, agent],
                |r| r.get(0),
            )
            .optional()?;
        let spent_usd = conn
            .query_row(
                "SELECT usd FROM agent_spend WHERE project = ?1 AND agent = ?2 AND day = ?3",
                params![project, agent, day],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0.0);
        Ok(BudgetState { daily_usd, spent_usd })
    }

    fn start_session(&self, project: &str, row: &SessionRow, audit: AuditEvent<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO sessions (project, id, agent, status, error, started_at, ended_at, events, cost_usd)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                project,
                row.id,
                row.agent,
                row.status,
                row.error,
                row.started_at,
                row.ended_at,
                row.events as i64,
                row.cost_usd
            ],
        )?;
        append_audit(&tx, project, &row.id, &audit)?;
        tx.commit()?;
        Ok(())
    }

    fn end_session(
        &self,
        project: &str,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let n = self.conn().execute(
            "UPDATE sessions SET status = ?3, error = ?4, ended_at = ?5
             WHERE project = ?1 AND id = ?2 AND status = 'running'",
            params![project, id, status, error, now],
        )?;
        Ok(n == 1)
    }

    fn session(&self, project: &str, id: &str) -> StoreResult<Option<SessionRow>> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                &format!("{SESSION_COLUMNS} WHERE project = ?1 AND id = ?2"),
                params![project, id],
                session_row,
            )
            .optional()?)
    }

    fn sessions(&self, project: &str, agent: &str, limit: usize) -> StoreResult<Vec<SessionRow>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "{SESSION_COLUMNS} WHERE project = ?1 AND agent = ?2 ORDER BY started_at DESC, rowid DESC LIMIT ?3"
        ))?;
        let rows =
            stmt.query_map(params![project, agent, limit as i64], session_row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    fn count_session_events(&self, project: &str, id: &str, events: u64, cost_usd: f64) -> StoreResult<()> {
        self.conn().execute(
            "UPDATE sessions SET events = events + ?3, cost_usd = cost_usd + ?4 WHERE project = ?1 AND id = ?2",
            params![project, id, events as i64, cost_usd],
        )?;
        Ok(())
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

impl Checkpoints for Sqlite {
    fn put_checkpoint(&self, project: &str, put: &CheckpointPut<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // REPLACE gives a re-sent checkpoint a new `seq`: the last one written is the newest.
        tx.execute(
            "INSERT OR REPLACE INTO compat_checkpoints (project, thread, id, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![project, put.thread, put.id, put.body, put.now],
        )?;
        tx.execute(
            "DELETE FROM compat_checkpoints WHERE project = ?1 AND thread = ?2 AND seq NOT IN (
                SELECT seq FROM compat_checkpoints WHERE project = ?1 AND thread = ?2 ORDER BY seq DESC LIMIT ?3)",
            params![project, put.thread, put.per_thread as i64],
        )?;
        tx.execute(
            "DELETE FROM compat_checkpoints WHERE project = ?1 AND seq NOT IN (
                SELECT seq FROM compat_checkpoints WHERE project = ?1 ORDER BY seq DESC LIMIT ?2)",
            params![project, put.per_project as i64],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn checkpoint(&self, project: &str, thread: &str, id: Option<&str>) -> StoreResult<Option<String>> {
        let conn = self.reader();
        let body = match id {
            Some(id) => conn
                .query_row(
                    "SELECT body FROM compat_checkpoints WHERE project = ?1 AND thread = ?2 AND id = ?3",
                    params![project, thread, id],
                    |r| r.get(0),
                )
                .optional()?,
            None => conn
                .query_row(
                    "SELECT body FROM compat_checkpoints WHERE project = ?1 AND thread = ?2
                     ORDER BY seq DESC LIMIT 1",
                    params![project, thread],
                    |r| r.get(0),
                )
                .optional()?,
        };
        Ok(body)
    }

    fn delete_checkpoints(&self, project: &str, thread: &str) -> StoreResult<usize> {
        Ok(self.conn().execute(
            "DELETE FROM compat_checkpoints WHERE project = ?1 AND thread = ?2",
            params![project, thread],
        )?)
    }
}

const AGENT_COLUMNS: &str =
    "SELECT name, mode, readiness, nodes, edges, calls, sessions, cost_usd, first_seen, last_seen
     FROM agents";

const SESSION_COLUMNS: &str =
    "SELECT id, agent, status, error, started_at, ended_at, events, cost_usd FROM sessions";

fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: r.get(0)?,
        agent: r.get(1)?,
        status: r.get(2)?,
        error: r.get(3)?,
        started_at: r.get(4)?,
        ended_at: r.get(5)?,
        events: r.get::<_, i64>(6)? as u64,
        cost_usd: r.get(7)?,
    })
}

fn agent_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(AgentRow, String)> {
    let row = AgentRow {
        name: r.get(0)?,
        mode: r.get(1)?,
        readiness: Value::Null,
        nodes: r.get::<_, i64>(3)? as u64,
        edges: r.get::<_, i64>(4)? as u64,
        calls: r.get::<_, i64>(5)? as u64,
        sessions: r.get::<_, i64>(6)? as u64,
        cost_usd: r.get(7)?,
        first_seen: r.get(8)?,
        last_seen: r.get(9)?,
    };
    Ok((row, r.get(2)?))
}

fn finish_agent(mut row: AgentRow, readiness: &str) -> StoreResult<AgentRow> {
    row.readiness = serde_json::from_str(readiness)?;
    Ok(row)
}
