//! The SQLite implementation of [`Store`]: one file, WAL mode, `synchronous=FULL`, so a
//! request acknowledged to a client is on disk. Snapshot bytes live in files beside it
//! (`snapshots/`), their metadata in the database.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use handrail_core::audit::{self, Entry};
use handrail_core::idempotency::Execution;
use handrail_core::request::{Decision, RequestSummary, Status};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

mod agents;
mod audit_log;
mod channels;
mod deliveries;
mod grants;
mod housekeeping;
mod migrate;
mod projects;
mod requests;
mod snapshots;

use super::{
    approving_actor, channel_actor, AgentRow, AgentSnapshot, Agents, AuditEvent, AuditLog, BlobSink,
    BudgetState, Channel, ChannelKind, Channels, CheckpointPut, Checkpoints, Claim, DecideArgs, Deliveries,
    Delivery, DeliveryEntry, DeliveryTarget, DueEscalation, Escalation, EscalationStep, Grant, Grants,
    Housekeeping, Inserted, KeyInfo, NewKeyRow, Notification, ObservationUpdate, Principal, Project,
    Projects, Pruned, Recipient, RequestDeliveryEntry, RequestFilter, RequestRow, Requests, Retention, Role,
    RoleRule, Room, SessionRow, Snapshot, SnapshotCommit, Snapshots, StoreError, StoreResult,
    StoredCheckpoint, ToolCount, Webhook, ANY_ROLE,
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
/// savepoint of its own, and answers what it did (anything but `Applied`: it wrote nothing).
type Job = Box<dyn FnOnce(&Connection) -> StoreResult<Written> + Send>;

/// A job's outcome and the channel its caller waits on.
type Done = std::sync::mpsc::SyncSender<StoreResult<Written>>;

/// What a group-committed job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Its writes are part of the batch.
    Applied,
    /// It found nothing to do (a lost race, a request no longer pending); nothing written.
    Skipped,
    /// The id it would create is another request's; nothing written.
    IdTaken,
    /// What it would store passes the project's quota (it stores this many bytes); nothing
    /// written.
    OverQuota(u64),
}

/// SQLite storage in one file.
///
/// Writes go through one connection. The hot writes (creating and deciding requests) are
/// group-committed: each caller queues its job, and whoever holds the writer runs every
/// queued job in one transaction — one fsync for the batch — each job in its own
/// savepoint, so a job that fails or loses a race leaves nothing behind while the others
/// commit. Lookups use a small pool of read connections.
pub struct Sqlite {
    conn: Mutex<Connection>,
    queue: Mutex<Vec<(Job, Done)>>,
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
             PRAGMA busy_timeout=5000;",
        )?;
        conn.execute_batch(include_str!("schema.sql"))?;
        migrate::migrate(&conn)?;
        let blobs = path.parent().unwrap_or(Path::new(".")).join("snapshots");
        if !blobs.is_dir() {
            std::fs::create_dir_all(&blobs).map_err(io)?;
            sync_dir(blobs.parent().unwrap_or(Path::new(".")))?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&blobs, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
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
        job: impl FnOnce(&Connection) -> StoreResult<Written> + Send + 'static,
    ) -> StoreResult<Written> {
        self.grouped_all(vec![Box::new(job)])
            .pop()
            .unwrap_or_else(|| Err(StoreError("a write had no outcome".into())))
    }

    /// Runs `jobs` in a group commit, queued together (so usually in one batch: one
    /// transaction, one fsync); one outcome per job, in order, once each is on disk.
    fn grouped_all(&self, jobs: Vec<Job>) -> Vec<StoreResult<Written>> {
        use std::sync::mpsc::{Receiver, TryRecvError};
        let results: Vec<Receiver<StoreResult<Written>>> = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            jobs.into_iter()
                .map(|job| {
                    let (done, result) = std::sync::mpsc::sync_channel(1);
                    queue.push((job, done));
                    result
                })
                .collect()
        };
        let mut answers: Vec<Option<StoreResult<Written>>> = results.iter().map(|_| None).collect();
        let poll = |answers: &mut Vec<Option<StoreResult<Written>>>| {
            for (answer, result) in answers.iter_mut().zip(&results) {
                if answer.is_none() {
                    *answer = match result.try_recv() {
                        Ok(r) => Some(r),
                        // The batch that held the job went away without an answer.
                        Err(TryRecvError::Disconnected) => Some(Err(StoreError(
                            "the write's batch ended without an outcome; nothing was stored".into(),
                        ))),
                        Err(TryRecvError::Empty) => None,
                    };
                }
            }
            answers.iter().all(Option::is_some)
        };
        loop {
            if poll(&mut answers) {
                break;
            }
            let mut conn = self.conn();
            // The leader before us may have committed our jobs while we waited.
            if poll(&mut answers) {
                break;
            }
            let jobs = std::mem::take(&mut *self.queue.lock().unwrap_or_else(|p| p.into_inner()));
            run_batch(&mut conn, jobs);
        }
        answers.into_iter().map(|a| a.unwrap_or_else(|| Err(StoreError("no outcome".into())))).collect()
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (it rolls back): go on.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Commits a batch of jobs in one transaction and tells each caller its exact outcome.
///
/// - A job that fails or panics leaves nothing behind (its savepoint rolls back); the others
///   go on.
/// - When SQLite rolls the whole transaction back on its own (a full disk, an I/O error),
///   the jobs run so far are answered with an error, since nothing of them is stored, and
///   the jobs not yet run go into a batch of their own instead of running outside any
///   transaction.
/// - When the commit fails, every job of the batch gets the error: none was stored.
fn run_batch(conn: &mut Connection, jobs: Vec<(Job, Done)>) {
    let mut jobs = jobs.into_iter();
    let mut answered: Vec<(Done, StoreResult<Written>)> = Vec::new();
    let mut rolled_back = false;
    let committed = (|| -> StoreResult<()> {
        let mut tx = conn.transaction()?;
        for (job, done) in jobs.by_ref() {
            let outcome = (|| {
                let sp = tx.savepoint()?;
                let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&sp)))
                    .unwrap_or_else(|_| {
                        Err(StoreError("a storage job panicked; nothing of it was stored".into()))
                    })?;
                if written == Written::Applied {
                    sp.commit()?;
                }
                Ok(written)
            })();
            let failed = outcome.is_err();
            answered.push((done, outcome));
            if failed && tx.is_autocommit() {
                rolled_back = true;
                return Ok(());
            }
        }
        tx.commit().map_err(StoreError::from)
    })();
    match committed {
        Err(e) => {
            for (done, _) in answered {
                let _ = done.send(Err(StoreError(e.0.clone())));
            }
        }
        Ok(()) if rolled_back => {
            for (done, outcome) in answered {
                let _ = done.send(outcome.and(Err(StoreError(
                    "SQLite rolled the batch back; nothing of this write was stored".into(),
                ))));
            }
            let rest: Vec<_> = jobs.collect();
            if !rest.is_empty() {
                run_batch(conn, rest);
            }
        }
        Ok(()) => {
            for (done, outcome) in answered {
                let _ = done.send(outcome);
            }
        }
    }
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

/// Queues the event for every webhook of the project that may hear of a request of `role`
/// and, when given, for the request's own callback URL, inside `tx` (so a change and its
/// notification are stored together or not at all). `row` is called only when some endpoint
/// is to hear of it: a project without webhooks never builds an event body.
#[allow(clippy::too_many_arguments)]
fn enqueue(
    tx: &Connection,
    project: &str,
    request: &str,
    role: Option<&str>,
    event: &str,
    at: i64,
    callback: Option<&str>,
    row: impl FnOnce() -> StoreResult<RequestRow>,
) -> StoreResult<()> {
    // An endpoint scoped to roles hears of unrestricted requests and of its roles' ones:
    // what an operator holding those roles may read.
    let mut stmt = tx.prepare(
        "SELECT id FROM webhooks WHERE project = ?1
         AND (roles IS NULL OR ?2 IS NULL OR EXISTS (SELECT 1 FROM json_each(roles) WHERE value = ?2))",
    )?;
    let hooks =
        stmt.query_map(params![project, role], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
    if hooks.is_empty() && callback.is_none() {
        return Ok(());
    }
    let mut data = serde_json::to_value(row()?)?;
    // Snapshot metadata travels with the event; its bytes are fetched with a key or a link.
    if let (Some((_, meta)), Some(obj)) = (snapshot_in(tx, project, request)?, data.as_object_mut()) {
        obj.insert("snapshot".into(), serde_json::to_value(meta)?);
    }
    let body = serde_json::to_string(&serde_json::json!({ "type": event, "timestamp": at, "data": data }))?;
    // Stored once, however many endpoints hear of it.
    tx.execute("INSERT INTO event_bodies (body) VALUES (?1)", [&body])?;
    let body_id = tx.last_insert_rowid();
    let now_ms = at * 1000;
    let targets =
        hooks.into_iter().map(|h| (Some(h), None)).chain(callback.map(|url| (None, Some(url.to_string()))));
    for (hook, url) in targets {
        let mut id = [0u8; 12];
        handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
        tx.execute(
            "INSERT INTO deliveries (id, webhook, url, request, project, event, body, body_id, state, attempts,
                next_ms, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, '', ?7, 'pending', 0, ?8, ?8, ?8)",
            params![
                format!("msg_{}", handrail_core::encoding::b64url_encode(id)),
                hook,
                url,
                request,
                project,
                event,
                body_id,
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

impl Checkpoints for Sqlite {
    fn put_checkpoint(&self, project: &str, put: &CheckpointPut<'_>) -> StoreResult<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        // Stored bytes count against the project's quota: what this adds less what it drops.
        let mut freed: i64 = 0;
        // REPLACE gives a re-sent checkpoint a new `seq`: the last one written is the newest.
        freed += dropped(
            &tx,
            "DELETE FROM thread_checkpoints WHERE project = ?1 AND thread = ?2 AND id = ?3
             RETURNING length(CAST(body AS BLOB))",
            params![project, put.thread, put.id],
        )?;
        tx.execute(
            "INSERT INTO thread_checkpoints (project, thread, id, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![project, put.thread, put.id, put.body, put.now],
        )?;
        freed += dropped(
            &tx,
            "DELETE FROM thread_checkpoints WHERE project = ?1 AND thread = ?2 AND seq NOT IN (
                SELECT seq FROM thread_checkpoints WHERE project = ?1 AND thread = ?2 ORDER BY seq DESC LIMIT ?3)
             RETURNING length(CAST(body AS BLOB))",
            params![project, put.thread, put.per_thread as i64],
        )?;
        freed += dropped(
            &tx,
            "DELETE FROM thread_checkpoints WHERE project = ?1 AND seq NOT IN (
                SELECT seq FROM thread_checkpoints WHERE project = ?1 ORDER BY seq DESC LIMIT ?2)
             RETURNING length(CAST(body AS BLOB))",
            params![project, put.per_project as i64],
        )?;
        housekeeping::add_usage(&tx, project, put.body.len() as i64 - freed)?;
        tx.commit()?;
        Ok(())
    }

    fn checkpoint(&self, project: &str, thread: &str, id: Option<&str>) -> StoreResult<Option<String>> {
        let conn = self.reader();
        let body = match id {
            Some(id) => conn
                .query_row(
                    "SELECT body FROM thread_checkpoints WHERE project = ?1 AND thread = ?2 AND id = ?3",
                    params![project, thread, id],
                    |r| r.get(0),
                )
                .optional()?,
            None => conn
                .query_row(
                    "SELECT body FROM thread_checkpoints WHERE project = ?1 AND thread = ?2
                     ORDER BY seq DESC LIMIT 1",
                    params![project, thread],
                    |r| r.get(0),
                )
                .optional()?,
        };
        Ok(body)
    }

    fn delete_checkpoints(&self, project: &str, thread: &str) -> StoreResult<usize> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let sizes = tx
            .prepare(
                "DELETE FROM thread_checkpoints WHERE project = ?1 AND thread = ?2
                 RETURNING length(CAST(body AS BLOB))",
            )?
            .query_map(params![project, thread], |r| r.get::<_, i64>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        housekeeping::add_usage(&tx, project, -sizes.iter().sum::<i64>())?;
        tx.commit()?;
        Ok(sizes.len())
    }
}

/// The bytes of the rows a `DELETE … RETURNING length(…)` removed.
fn dropped(tx: &Connection, sql: &str, params: impl rusqlite::Params) -> StoreResult<i64> {
    let sizes = tx.prepare(sql)?.query_map(params, |r| r.get::<_, i64>(0))?.collect::<Result<Vec<_>, _>>()?;
    Ok(sizes.iter().sum())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v TEXT PRIMARY KEY);").unwrap();
        conn
    }

    fn insert(v: &'static str) -> Job {
        Box::new(move |c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(Written::Applied)
        })
    }

    /// Runs `jobs` as one batch; each caller's answer, in order.
    fn run(conn: &mut Connection, jobs: Vec<Job>) -> Vec<StoreResult<Written>> {
        let (jobs, answers): (Vec<_>, Vec<_>) = jobs
            .into_iter()
            .map(|job| {
                let (done, answer) = std::sync::mpsc::sync_channel(1);
                ((job, done), answer)
            })
            .unzip();
        run_batch(conn, jobs);
        answers.into_iter().map(|a| a.recv().unwrap()).collect()
    }

    fn stored(conn: &Connection) -> Vec<String> {
        let mut stmt = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn a_failing_or_panicking_job_leaves_nothing_and_the_others_commit() {
        let mut conn = conn();
        let failing: Job = Box::new(|c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES ('half')", [])?;
            Err(StoreError("refused".into()))
        });
        let panicking: Job = Box::new(|c: &Connection| {
            c.execute("INSERT INTO t (v) VALUES ('panicked')", []).unwrap();
            panic!("a bug in a job");
        });
        let answers = run(&mut conn, vec![insert("a"), failing, panicking, insert("b")]);
        assert!(matches!(answers[0], Ok(Written::Applied)));
        assert!(answers[1].is_err() && answers[2].is_err());
        assert!(matches!(answers[3], Ok(Written::Applied)));
        assert_eq!(stored(&conn), ["a", "b"]);
    }

    #[test]
    fn after_sqlite_rolls_the_batch_back_each_caller_hears_exactly_what_was_stored() {
        let mut conn = conn();
        // What SQLite does on a full disk or an I/O error mid-batch: the whole transaction
        // is gone and the connection is back in autocommit mode.
        let rolls_back: Job = Box::new(|c: &Connection| {
            c.execute_batch("ROLLBACK")?;
            Err(StoreError("database or disk is full".into()))
        });
        let answers = run(&mut conn, vec![insert("a"), rolls_back, insert("c"), insert("d")]);
        assert!(answers[0].is_err(), "a was rolled back with the batch: its caller must not hear success");
        assert!(answers[1].is_err());
        assert!(matches!(answers[2], Ok(Written::Applied)) && matches!(answers[3], Ok(Written::Applied)));
        assert_eq!(
            stored(&conn),
            ["c", "d"],
            "the jobs after the rollback ran in a transaction of their own"
        );
        assert!(conn.is_autocommit());
    }
}
