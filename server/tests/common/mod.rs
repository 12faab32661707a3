//! The one harness of the integration tests: the real `handrail` binary serving on
//! 127.0.0.1:0 from a temporary data directory, and HTTP calls to it from the outside.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running `handrail serve` and the bootstrap credentials it wrote.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// The data directory; removed when the server is dropped (see [`Server::into_dir`]).
    pub dir: PathBuf,
    pub agent: String,
    pub operator: String,
    pub project: String,
    /// What the server printed on stdout up to and including `listening on …`.
    pub stdout: Vec<String>,
    /// With [`test_postgres`]: this server's database, dropped with the server unless a
    /// replica's (it belongs to the first server) or the directory lives on.
    database: Option<String>,
}

impl Server {
    pub fn start(dir: PathBuf) -> Server {
        Server::start_with(dir, &[])
    }

    pub fn start_with(dir: PathBuf, env: &[(&str, &str)]) -> Server {
        Server::spawn(dir, env, Stdio::inherit())
    }

    /// Starts the server on `dir` with `env` on top of the tests' defaults; `stderr` is where
    /// its log goes (`Stdio::piped()` to read it from `child.stderr`).
    pub fn spawn(dir: PathBuf, env: &[(&str, &str)], stderr: Stdio) -> Server {
        let database = test_database(&dir);
        let (child, url, stdout) = serve(&dir, database.as_deref(), env, stderr);
        let boot: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap()).unwrap();
        let s = |k: &str| boot[k].as_str().unwrap().to_string();
        Server {
            child,
            url,
            agent: s("agent_key"),
            operator: s("operator_token"),
            project: s("project"),
            dir,
            stdout,
            database,
        }
    }

    /// Another `handrail serve` on `first`'s PostgreSQL database, with its own (empty) data
    /// directory and `first`'s credentials: a replica. Only under [`test_postgres`].
    pub fn replica_of(first: &Server, name: &str) -> Server {
        Server::replica_with(first, name, &[])
    }

    pub fn replica_with(first: &Server, name: &str, env: &[(&str, &str)]) -> Server {
        let database = first.database.clone().expect("replicas share a PostgreSQL database");
        let dir = PathBuf::from(format!("{}-replica-{name}", first.dir.display()));
        let _ = std::fs::remove_dir_all(&dir);
        private_dir(&dir);
        // So that [`store_args`], [`sql`] and [`open_store`] find the shared database from here too.
        std::fs::write(dir.join("test-database-url"), &database).unwrap();
        let (child, url, stdout) = serve(&dir, Some(&database), env, Stdio::inherit());
        Server {
            child,
            url,
            agent: first.agent.clone(),
            operator: first.operator.clone(),
            project: first.project.clone(),
            dir,
            stdout,
            database: None,
        }
    }

    /// The arguments that name this server's store to the CLI (`audit verify`, `audit export`):
    /// `--database URL` on PostgreSQL, `--data DIR` on SQLite.
    pub fn store_args(&self) -> Vec<String> {
        store_args(&self.dir)
    }

    /// A server on a new, empty data directory named after the test binary and `name`.
    pub fn fresh(name: &str) -> Server {
        Server::fresh_with(name, &[])
    }

    pub fn fresh_with(name: &str, env: &[(&str, &str)]) -> Server {
        Server::start_with(fresh_dir(name), env)
    }

    /// Any call with a bearer token and an optional JSON body; the raw answer, whatever its status.
    pub fn raw(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> ureq::Response {
        self.raw_with_key(method, path, token, body, None)
    }

    pub fn raw_with_key(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> ureq::Response {
        let mut req = ureq::request(method, &format!("{}{path}", self.url))
            .set("Authorization", &format!("Bearer {token}"))
            .timeout(Duration::from_secs(90));
        if let Some(key) = key {
            req = req.set("Idempotency-Key", key);
        }
        let result = match body {
            Some(b) => req.set("content-type", "application/json").send_string(&b.to_string()),
            None => req.call(),
        };
        match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// The status and the JSON answer (a string when the answer is not JSON).
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_with_key(method, path, token, body, None)
    }

    /// [`Server::call`] with an `Idempotency-Key` header when `key` is given.
    pub fn call_with_key(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let response = self.raw_with_key(method, path, token, body, key);
        let status = response.status();
        let text = response.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// SIGKILL, and waits for the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server and hands back its data directory, kept for a next start.
    pub fn into_dir(mut self) -> PathBuf {
        self.kill();
        std::mem::take(&mut self.dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        // Empty after `into_dir`: the directory lives on, and so does its database.
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
            if let (Some(url), Some(admin)) = (&self.database, test_postgres()) {
                // A hundred tests' databases would otherwise fill the throwaway cluster's disk.
                if let Some((_, name)) = url.rsplit_once('/') {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = Command::new("psql").args([admin.as_str(), "-q", "-c", &drop]).output();
                }
            }
        }
    }
}

/// Starts `handrail serve` on `dir` (and `database`, when given) with the tests' defaults
/// and `env`; the process, its URL and its stdout up to `listening on …`.
fn serve(
    dir: &Path,
    database: Option<&str>,
    env: &[(&str, &str)],
    stderr: Stdio,
) -> (Child, String, Vec<String>) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_handrail"));
    command.args(["serve", "--addr", "127.0.0.1:0", "--data"]).arg(dir);
    if let Some(url) = database {
        command.arg("--database").arg(url);
    }
    let mut child = command
        .env("HANDRAIL_WEBHOOK_RETRY_MS", "50")
        // The tests' receivers listen on 127.0.0.1, which the default (`public`) refuses.
        .env("HANDRAIL_OUTBOUND_NETWORKS", "private")
        // Bursts of hundreds of calls are the point of some tests; the limit has its own.
        .env("HANDRAIL_RATE_LIMIT", "100000")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = Vec::new();
    let url = loop {
        let line = lines.next().expect("the server prints its address").unwrap();
        stdout.push(line.clone());
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_string();
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url, stdout)
}

/// The arguments that name the store of data directory `dir` to the CLI: `--database URL`
/// under [`test_postgres`], else `--data DIR`.
pub fn store_args(dir: &Path) -> Vec<String> {
    match test_database(dir) {
        Some(url) => vec!["--database".into(), url],
        None => vec!["--data".into(), dir.display().to_string()],
    }
}

/// The store of data directory `dir`, opened by the test itself (beside its running server)
/// to set up what the API cannot, or read what it does not show: PostgreSQL under
/// [`test_postgres`], else the SQLite file.
pub fn open_store(dir: &Path) -> Box<dyn handrail_server::store::Store> {
    match test_database(dir) {
        Some(url) => Box::new(handrail_server::store::Postgres::open(&url).unwrap()),
        None => Box::new(handrail_server::store::Sqlite::open(&dir.join("handrail.db")).unwrap()),
    }
}

/// Whether the tests run on PostgreSQL; prints why a test about SQLite itself is skipped.
pub fn skip_on_postgres(why: &str) -> bool {
    let skip = test_postgres().is_some();
    if skip {
        println!("skipped on PostgreSQL: {why}");
    }
    skip
}

/// Runs one SQL statement on the store of data directory `dir`, SQLite or PostgreSQL alike
/// (write portable SQL, literals inline with [`quote`]): the rows, each column as text
/// (NULL as ""), and for an UPDATE, DELETE or INSERT the number of rows it changed.
pub fn sql(dir: &Path, statement: &str) -> (Vec<Vec<String>>, usize) {
    match test_database(dir) {
        Some(url) => {
            let out = Command::new("psql")
                .args([url.as_str(), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
                .args(["-F", "\x1f", "-R", "\x1e", "-c", statement])
                .output()
                .expect("psql runs");
            assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
            let text = String::from_utf8(out.stdout).unwrap();
            let text = text.strip_suffix('\n').unwrap_or(&text);
            // psql answers a change with its command tag ("UPDATE 3", "INSERT 0 1").
            let tag = text.rsplit(' ').next().and_then(|n| n.parse().ok());
            let changes = ["UPDATE ", "DELETE ", "INSERT "];
            if changes.iter().any(|c| text.starts_with(c)) && !text.contains('\x1e') {
                return (Vec::new(), tag.unwrap_or(0));
            }
            let rows = text
                .split('\x1e')
                .filter(|r| !r.is_empty())
                .map(|r| r.split('\x1f').map(String::from).collect())
                .collect();
            (rows, 0)
        }
        None => {
            use rusqlite::types::ValueRef;
            let conn = rusqlite::Connection::open(dir.join("handrail.db")).unwrap();
            let mut stmt = conn.prepare(statement).unwrap();
            let columns = stmt.column_count();
            if columns == 0 {
                let n = stmt.execute([]).unwrap();
                return (Vec::new(), n);
            }
            let mut rows = Vec::new();
            let mut cursor = stmt.query([]).unwrap();
            while let Some(row) = cursor.next().unwrap() {
                let text = (0..columns)
                    .map(|i| match row.get_ref(i).unwrap() {
                        ValueRef::Null => String::new(),
                        ValueRef::Integer(n) => n.to_string(),
                        ValueRef::Real(x) => x.to_string(),
                        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).to_string(),
                    })
                    .collect();
                rows.push(text);
            }
            (rows, 0)
        }
    }
}

/// How many snapshot blobs the store of data directory `dir` holds: files under
/// `snapshots/` on SQLite, distinct blobs of `blob_chunks` on PostgreSQL.
pub fn snapshot_blobs(dir: &Path) -> usize {
    if test_postgres().is_some() {
        sql(dir, "SELECT COUNT(DISTINCT blob) FROM blob_chunks").0[0][0].parse().unwrap()
    } else {
        std::fs::read_dir(dir.join("snapshots")).unwrap().count()
    }
}

/// `text` as an SQL string literal (the same on SQLite and on PostgreSQL).
/// Takes a PostgreSQL test database back to schema `version` (2 or 3) from the newest, as a
/// database of an older release would be: each newer version undone, newest first.
pub fn postgres_back_to_version(dir: &Path, version: i32) {
    // Version 4: a request's own escalation time as a column (back to the expression index).
    sql(
        dir,
        "DROP INDEX requests_own_escalation; DROP TRIGGER requests_own_escalation ON requests;
         DROP FUNCTION requests_own_escalation(); ALTER TABLE requests DROP COLUMN escalate_at;
         CREATE INDEX requests_escalate_at ON requests((CASE WHEN jsonb_typeof(body::jsonb #> '{context,escalate_at}') = 'number'
             THEN (body::jsonb #>> '{context,escalate_at}')::double precision END)) WHERE status = 'PENDING';
         DELETE FROM schema_migrations WHERE version = 4;",
    );
    if version < 3 {
        // Version 3: channel reminders and a request's recipients.
        sql(
            dir,
            "ALTER TABLE channels DROP COLUMN remind_after_secs; ALTER TABLE notifications DROP COLUMN role;
             ALTER TABLE requests DROP COLUMN recipients; DELETE FROM schema_migrations WHERE version = 3;",
        );
    }
}

pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The PostgreSQL server the tests run on when `HANDRAIL_TEST_POSTGRES` names one (an
/// admin URL, `postgres://user@127.0.0.1:PORT/postgres`); else they run on SQLite.
pub fn test_postgres() -> Option<String> {
    std::env::var("HANDRAIL_TEST_POSTGRES").ok().filter(|u| !u.is_empty())
}

/// With [`test_postgres`], the database of data directory `dir`: made empty on its first
/// start, the same one when a test starts a server on `dir` again (its URL is kept in the
/// directory, like SQLite's file).
pub fn test_database(dir: &std::path::Path) -> Option<String> {
    let admin = test_postgres()?;
    let kept = dir.join("test-database-url");
    if let Ok(url) = std::fs::read_to_string(&kept) {
        return Some(url);
    }
    let name = new_database(&admin);
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("HANDRAIL_TEST_POSTGRES is not a postgres:// URL: {admin}"),
    };
    private_dir(dir);
    std::fs::write(&kept, &url).unwrap();
    Some(url)
}

/// Makes `dir` as the server would (0700), so it has nothing to tighten and log.
fn private_dir(dir: &Path) {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).unwrap();
}

/// Creates an empty database on the server at `admin`; its name.
pub fn new_database(admin: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let name = format!(
        "t_{}_{}_{}_{nanos}",
        env!("CARGO_CRATE_NAME"),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    let out = Command::new("psql")
        .args([admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql runs (PostgreSQL's client is installed with the server)");
    assert!(out.status.success(), "CREATE DATABASE {name}: {}", String::from_utf8_lossy(&out.stderr));
    name
}

/// A new, empty data directory path for this test binary's test `name`.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "handrail-{}-{name}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// One HTTP/1.1 request read from `stream` (head and `content-length` body), as a receiver in
/// a test sees it: the headers (names lower-cased) and the body. None when the connection
/// closed or failed before the whole request was there.
pub fn read_request(stream: &mut impl Read) -> Option<(Vec<(String, String)>, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        let read = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..read]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..at]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
                .unwrap_or(0);
            break (at + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let read = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..read]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string())))
        .collect();
    Some((headers, String::from_utf8_lossy(&buf[head_end..]).to_string()))
}

/// The state and outcome of each reminder (`request.reminder` notification) queued for
/// request `id` in the store of data directory `dir`, once none is pending any more (60 s at
/// most).
pub fn reminders_done(dir: &Path, id: &str) -> Vec<(String, String)> {
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (rows, _) = sql(
            dir,
            &format!(
                "SELECT state, last_outcome FROM notifications WHERE request = {} AND event = 'request.reminder'",
                quote(id)
            ),
        );
        if rows.iter().all(|r| r[0] != "pending") || std::time::Instant::now() > until {
            return rows.into_iter().map(|r| (r[0].clone(), r[1].clone())).collect();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
