//! The PostgreSQL implementation of [`Store`]: several `handrail serve` replicas on one
//! database act as one server.
//!
//! - Every write is one transaction; what must happen once cluster-wide is decided by the
//!   database (unique keys, conditional updates, `FOR UPDATE SKIP LOCKED` claims), never by
//!   a replica's memory.
//! - An audit entry is written in the transaction of the change it records, unchained, and
//!   chained later, under a transaction-scoped advisory lock on the project, many entries at
//!   a time: by every reader of the log first (so none misses a committed entry), and every
//!   second on each replica ([`housekeeper`]). Concurrent appends from all replicas make one
//!   unbroken chain, and a write neither waits for the chain's lock nor pays a transaction
//!   of its own to chain its entry.
//! - A change other replicas must hear of (a request created, decided or escalated) is sent
//!   with `pg_notify` once its write is over, batched (a transaction that notifies makes
//!   every other notifying commit wait); each replica listens on one connection of its own
//!   ([`Store::changes`]).
//! - Snapshot bytes live in the database, chunked, so any replica serves any link.
//!
//! The store runs its connections on a small runtime of its own, so its blocking methods can
//! be called from any thread, inside the server's runtime or not.

use std::future::Future;
use std::sync::{Arc, Mutex};

use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use handrail_core::audit::{self, Entry};
use serde::{Deserialize, Serialize};
use tokio_postgres::NoTls;

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

use super::{AuditEvent, Change, StoreError, StoreResult};

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        // The server's message (its code and text), not the driver's "db error" alone.
        match e.as_db_error() {
            Some(db) => StoreError(format!("postgres {}: {}", db.code().code(), db.message())),
            None => StoreError(format!("postgres: {e}")),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        StoreError(format!("postgres pool: {e}"))
    }
}

/// Connections in the pool of each replica.
const POOL_SIZE: usize = 16;

/// How long a connection attempt may take (unless the URL says `connect_timeout`).
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a caller waits for a free pooled connection before its call fails.
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The channel replicas hear each other's changes on.
const CHANNEL: &str = "handrail_changes";

/// PostgreSQL storage.
pub struct Postgres {
    /// Drives the connections (their I/O and the listener); callers block on their own
    /// threads while it does. Always Some until dropped.
    rt: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// This replica's id: the changes it sent itself are not handed back to it.
    replica: String,
    /// Where [`Postgres::announce`]d changes go to be sent to the other replicas.
    notes: tokio::sync::mpsc::UnboundedSender<Note>,
    /// The changes of the other replicas, taken once by [`Store::changes`].
    changes: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Change>>>,
}

impl Postgres {
    /// Connects to `url` (`postgres://user:password@host:port/db`), applies the migrations
    /// (under a lock, so replicas starting together do not race) and starts listening for
    /// the other replicas' changes.
    pub fn open(url: &str) -> StoreResult<Postgres> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError(format!("database URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("handrail-postgres")
            .enable_all()
            .build()
            .map_err(|e| StoreError(format!("postgres runtime: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        // A database that is down or saturated answers an error after a while, never a hang.
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError(format!("postgres pool: {e}")))?;
        let mut id = [0u8; 9];
        handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
        let replica = handrail_core::encoding::b64url_encode(id);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (notes, outbox) = tokio::sync::mpsc::unbounded_channel();
        let store =
            Postgres { rt: Some(rt), pool, replica: replica.clone(), notes, changes: Mutex::new(Some(rx)) };
        store.block(async {
            let mut c = store.client().await?;
            migrate::migrate(&mut c).await
        })?;
        store.runtime().spawn(listen(config, replica, tx));
        store.runtime().spawn(notifier(store.pool.clone(), outbox));
        store.runtime().spawn(housekeeper(store.pool.clone()));
        Ok(store)
    }

    /// Runs `f` to completion on the calling thread (its I/O is driven by the store's
    /// runtime): the store's methods are blocking, like SQLite's.
    ///
    /// The future runs outside tokio's cooperative budget: called on a worker thread of the
    /// server's runtime whose task spent its budget, a pooled-connection wait or a timer would
    /// otherwise hand its wake-up to that worker's scheduler, which never runs again while this
    /// call blocks it — the call would hang for good (seen as the webhook worker stalling).
    fn block<F: Future>(&self, f: F) -> F::Output {
        let _entered = self.runtime().enter();
        let out = block_on(tokio::task::unconstrained(f));
        for note in TO_ANNOUNCE.with(|n| std::mem::take(&mut *n.borrow_mut())) {
            let _ = self.notes.send(note);
        }
        out
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.rt.as_ref().expect("the runtime lives as long as the store")
    }

    /// A pooled connection.
    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// Runs `work` in a transaction on a pooled connection, committed when `work` says so
    /// (its `bool`), rolled back when it says not or fails. Its `BEGIN` travels with `work`'s
    /// first statements (sent right behind it; the database runs them in order), which saves
    /// the round trip `tokio_postgres`'s own `transaction()` waits for, paid by every write.
    /// A connection whose transaction cannot be ended is closed, never pooled.
    async fn transaction<T>(
        &self,
        work: impl AsyncFnOnce(&deadpool_postgres::Object) -> StoreResult<(T, bool)>,
    ) -> StoreResult<T> {
        let c = Held(Some(self.client().await?));
        let begin = async { Ok::<_, StoreError>(c.client().batch_execute("BEGIN").await?) };
        match futures_util::future::try_join(begin, work(c.client())).await {
            Ok((_, (out, commit))) => {
                c.client().batch_execute(if commit { "COMMIT" } else { "ROLLBACK" }).await?;
                c.release();
                Ok(out)
            }
            Err(e) => {
                // The statements still in flight are answered first, then this.
                if c.client().batch_execute("ROLLBACK").await.is_ok() {
                    c.release();
                }
                Err(e)
            }
        }
    }

    /// Tells the other replicas, once the call writing in `tx` is over, that request `id` of
    /// `project` changed (`event`: `request.created`, `request.resolved`, `request.escalated`,
    /// …). Not inside `tx`: PostgreSQL makes every transaction that notifies commit one at a
    /// time, which would serialize all writes; [`notifier`] sends the notes of many calls in
    /// one notification instead. Call it only for a write that is applied.
    async fn announce(
        &self,
        _tx: &impl GenericClient,
        project: &str,
        id: &str,
        event: &str,
    ) -> StoreResult<()> {
        let note = Note {
            origin: self.replica.clone(),
            project: project.into(),
            id: id.into(),
            event: event.into(),
        };
        TO_ANNOUNCE.with(|n| n.borrow_mut().push(note));
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The store may be dropped inside the server's runtime, where waiting for this one's
        // threads is not allowed: they stop on their own.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl super::Shared for Postgres {
    fn changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        self.changes.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn tell(&self, change: &Change) {
        let event = match change {
            Change::Revoked => REVOKED,
            Change::EndpointsChanged => ENDPOINTS_CHANGED,
            Change::Request { .. } | Change::Missed => return,
        };
        let sent = self.block(async {
            let c = self.client().await?;
            self.announce(&c, "", "", event).await
        });
        if let Err(e) = sent {
            crate::log::event(
                crate::log::Level::Warn,
                "could not tell the other replicas",
                serde_json::json!({ "change": event, "error": e.0 }),
            );
        }
    }
}

/// The names of the changes that are not a request's, in a [`Note`].
const REVOKED: &str = "key.revoked";
const ENDPOINTS_CHANGED: &str = "webhook.enabled";

/// A change as sent between replicas (`pg_notify` payloads stay far below their 8,000 bytes:
/// ids and names only).
#[derive(Serialize, Deserialize)]
struct Note {
    origin: String,
    project: String,
    id: String,
    event: String,
}

/// Listens on its own connection for the other replicas' changes and hands them on. After a
/// lost connection it connects again and sends [`Change::Missed`]: what was sent meanwhile
/// is lost, so everyone waiting looks again.
async fn listen(
    config: tokio_postgres::Config,
    replica: String,
    tx: tokio::sync::mpsc::UnboundedSender<Change>,
) {
    use futures_util::StreamExt;
    let mut first = true;
    loop {
        if tx.is_closed() {
            return;
        }
        if let Ok((client, mut connection)) = config.connect(NoTls).await {
            let (notes, mut heard) = tokio::sync::mpsc::unbounded_channel();
            // The connection yields the notifications; it must be polled for the LISTEN to run.
            let messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            let pump = tokio::spawn(messages.for_each(move |m| {
                if let Ok(tokio_postgres::AsyncMessage::Notification(n)) = m {
                    let _ = notes.send(n.payload().to_string());
                }
                futures_util::future::ready(())
            }));
            if client.batch_execute(&format!("LISTEN {CHANNEL}")).await.is_ok() {
                if !first {
                    let _ = tx.send(Change::Missed);
                }
                first = false;
                while let Some(payload) = heard.recv().await {
                    let Ok(notes) = serde_json::from_str::<Vec<Note>>(&payload) else { continue };
                    for note in notes.into_iter().filter(|n| n.origin != replica) {
                        let change = match note.event.as_str() {
                            REVOKED => Change::Revoked,
                            ENDPOINTS_CHANGED => Change::EndpointsChanged,
                            _ => Change::Request { project: note.project, id: note.id, event: note.event },
                        };
                        if tx.send(change).is_err() {
                            return;
                        }
                    }
                }
            }
            pump.abort();
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Sends the announced changes to the other replicas, as many as fit in one notification
/// (its payload is at most 8,000 bytes) at a time. A note that cannot be sent is dropped with
/// a log line: the replicas that miss it answer their waiters at the long-poll's end instead.
async fn notifier(pool: Pool, mut outbox: tokio::sync::mpsc::UnboundedReceiver<Note>) {
    const MAX_PAYLOAD: usize = 7_000;
    let mut held: Option<String> = None;
    let mut own: Option<Held> = None;
    loop {
        let mut batch = Vec::new();
        let mut size = 2;
        if let Some(first) = held.take() {
            size += first.len();
            batch.push(first);
        }
        if batch.is_empty() {
            let Some(note) = outbox.recv().await else { return };
            let Ok(text) = serde_json::to_string(&note) else { continue };
            size += text.len();
            batch.push(text);
        }
        while let Ok(note) = outbox.try_recv() {
            let Ok(text) = serde_json::to_string(&note) else { continue };
            if size + text.len() + 1 > MAX_PAYLOAD {
                held = Some(text);
                break;
            }
            size += text.len() + 1;
            batch.push(text);
        }
        let payload = format!("[{}]", batch.join(","));
        // The notifier keeps its connection: a waiter on another replica is not kept waiting
        // for a free one while the pool is busy with writes.
        let sent = async {
            if own.is_none() {
                let c = pool.get().await?;
                // A notification is news, not a record: if the database crashes before its
                // commit reaches the disk, it is lost, which every listener already survives
                // (a long-poll ends with the stored state, a reconnect sends `Missed`). So its
                // commit does not wait for the WAL flush: the decision it tells of was flushed
                // by its own commit, and a cross-replica wake-up pays one flush, not two.
                // The setting is this session's: the connection is never released to the pool
                // (dropped on an error, it is closed).
                let c = Held(Some(c));
                c.client().batch_execute("SET synchronous_commit = off").await?;
                own = Some(c);
            }
            let c = own.as_ref().expect("connected above").client();
            c.run("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload]).await?;
            Ok::<_, StoreError>(())
        };
        if let Err(e) = sent.await {
            own = None;
            crate::log::event(
                crate::log::Level::Warn,
                "could not tell the other replicas",
                serde_json::json!({ "changes": batch.len(), "error": e.0 }),
            );
        }
    }
}

/// A pooled connection that goes back to the pool only when [`Held::release`]d, and is
/// closed when dropped otherwise: for a connection whose session changed (the notifier's
/// asynchronous commits), or that may be inside a transaction begun by hand
/// ([`Postgres::transaction`]),
/// which the database then rolls back, so no other caller ever inherits it.
struct Held(Option<deadpool_postgres::Object>);

impl Held {
    fn client(&self) -> &deadpool_postgres::Object {
        self.0.as_ref().expect("Some until released or dropped")
    }

    /// Back to the pool: its session is as the pool gave it and no transaction is open.
    fn release(mut self) {
        self.0.take();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(deadpool_postgres::Object::take(object));
        }
    }
}

/// A future of a query, boxed (as [`GenericClient`]'s own are).
type Query<'a, T> = std::pin::Pin<Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send + 'a>>;

/// The parameters of a statement.
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// Queries by a statement prepared once per connection (deadpool's statement cache). A
/// plain `execute("…")` parses the text again on every call, one more round trip to the
/// database each time. Only fixed text (`'static`) is cached, so the cache cannot grow with
/// what callers send.
trait Cached: GenericClient {
    /// Like `execute`: the rows changed.
    fn run<'a>(&'a self, sql: &'static str, params: Params<'a>) -> Query<'a, u64> {
        Box::pin(async move { self.execute(&self.prepare_cached(sql).await?, params).await })
    }

    /// Like `query`: every row.
    fn rows<'a>(&'a self, sql: &'static str, params: Params<'a>) -> Query<'a, Vec<tokio_postgres::Row>> {
        Box::pin(async move { self.query(&self.prepare_cached(sql).await?, params).await })
    }

    /// Like `query_one`: exactly one row.
    fn row<'a>(&'a self, sql: &'static str, params: Params<'a>) -> Query<'a, tokio_postgres::Row> {
        Box::pin(async move { self.query_one(&self.prepare_cached(sql).await?, params).await })
    }

    /// Like `query_opt`: at most one row.
    fn row_opt<'a>(
        &'a self,
        sql: &'static str,
        params: Params<'a>,
    ) -> Query<'a, Option<tokio_postgres::Row>> {
        Box::pin(async move { self.query_opt(&self.prepare_cached(sql).await?, params).await })
    }
}

impl<C: GenericClient> Cached for C {}

/// Polls `f` on this thread until it is ready, parking between wake-ups.
fn block_on<F: Future>(f: F) -> F::Output {
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Serializes appends to `project`'s audit chain across every replica until `tx` ends.
async fn lock_chain(tx: &impl GenericClient, project: &str) -> StoreResult<()> {
    tx.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))", &[&project]).await?;
    Ok(())
}

/// An audit entry's fields before it is chained (`audit.entry` while `project_seq` is NULL).
#[derive(Serialize, Deserialize)]
struct Unchained {
    at: i64,
    project: String,
    actor: String,
    event: String,
    subject: String,
    data: serde_json::Value,
}

std::thread_local! {
    /// The changes the call [`Postgres::block`] runs now announced (see [`Postgres::announce`]).
    static TO_ANNOUNCE: std::cell::RefCell<Vec<Note>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends one audit entry about `subject` to `project`'s log inside `tx`, unchained: it is
/// stored (or not) with the change it records, and chained later ([`chain`]), so appends to
/// one project never hold a lock through each other's commit.
async fn append_audit(
    tx: &impl GenericClient,
    project: &str,
    subject: &str,
    e: &AuditEvent<'_>,
) -> StoreResult<()> {
    tx.run(
        "INSERT INTO audit (entry, project, project_seq) VALUES ($1, $2, NULL)",
        &[&unchained(project, subject, e)?, &project],
    )
    .await?;
    Ok(())
}

/// The text of an unchained audit entry (`audit.entry` while `project_seq` is NULL), for a
/// write that inserts it itself.
fn unchained(project: &str, subject: &str, e: &AuditEvent<'_>) -> StoreResult<String> {
    let fields = Unchained {
        at: e.at,
        project: project.into(),
        actor: e.actor.into(),
        event: e.event.into(),
        subject: subject.into(),
        data: e.data.clone(),
    };
    Ok(serde_json::to_string(&fields)?)
}

/// Chains `project`'s committed unchained entries to its chain's head, oldest first, in one
/// transaction under the project's chain lock (every replica chains; the lock makes one chain).
/// How many it chained.
async fn chain(c: &mut deadpool_postgres::Object, project: &str) -> StoreResult<usize> {
    let tx = c.transaction().await?;
    // Sent together: the database runs them in order, so both reads start once the lock is
    // held and see every batch chained before.
    let (_, pending, head) = futures_util::future::try_join3(
        lock_chain(&tx, project),
        async {
            Ok(tx
                .rows(
                    "SELECT seq, entry FROM audit WHERE project = $1 AND project_seq IS NULL ORDER BY seq",
                    &[&project],
                )
                .await?)
        },
        async {
            Ok(tx
                .row_opt(
                    "SELECT entry FROM audit WHERE project = $1 AND project_seq IS NOT NULL
                     ORDER BY project_seq DESC LIMIT 1",
                    &[&project],
                )
                .await?)
        },
    )
    .await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let mut last: Option<Entry> = match head {
        Some(r) => Some(serde_json::from_str(r.try_get::<_, &str>(0)?)?),
        None => None,
    };
    let (mut seqs, mut texts, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for row in &pending {
        let seq: i64 = row.try_get(0)?;
        let f: Unchained = serde_json::from_str(row.try_get::<_, &str>(1)?)?;
        let fields = audit::Fields {
            at: f.at,
            project: &f.project,
            actor: &f.actor,
            event: &f.event,
            subject: &f.subject,
            data: &f.data,
        };
        let entry = audit::chain(last.as_ref(), fields).map_err(|e| StoreError(e.to_string()))?;
        seqs.push(seq);
        texts.push(serde_json::to_string(&entry)?);
        positions.push(entry.seq as i64);
        last = Some(entry);
    }
    // One statement for the batch; the batch's place among all projects' batches is one
    // number (`audit_log` reads by it, then by `project_seq`).
    // (The uncorrelated subquery is evaluated once: one number for the whole batch.)
    tx.run(
        "UPDATE audit SET entry = c.entry, project_seq = c.position,
            chain_order = (SELECT nextval('audit_chain_order'))
         FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS c(seq, entry, position)
         WHERE audit.seq = c.seq",
        &[&seqs, &texts, &positions],
    )
    .await?;
    tx.commit().await?;
    Ok(pending.len())
}

/// Chains what is committed of `project`'s log (every project's when None), waiting for the
/// chain lock: the audit readers call it first, so they read every committed entry chained.
async fn chain_all(c: &mut deadpool_postgres::Object, project: Option<&str>) -> StoreResult<()> {
    let projects: Vec<String> = match project {
        Some(p) => vec![p.to_string()],
        None => c
            .rows("SELECT DISTINCT project FROM audit WHERE project_seq IS NULL", &[])
            .await?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?,
    };
    for project in projects {
        chain(c, &project).await?;
    }
    Ok(())
}

/// On every replica: five times a second, folds the usage changes into the projects' counts
/// (few rows stay unfolded, so the quota check that sums them stays cheap), and every second
/// chains the audit entries written meanwhile, many in one transaction (a write does not pay
/// a chaining transaction of its own: at hundreds of writes a second, that was one more
/// commit and one more wait for the chain's lock per write).
async fn housekeeper(pool: Pool) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    for round in 0u64.. {
        tick.tick().await;
        let Ok(mut c) = pool.get().await else { continue };
        if let Err(e) = housekeeping::compact_usage(&mut c).await {
            crate::log::event(
                crate::log::Level::Error,
                "usage compaction failed",
                serde_json::json!({ "error": e.0 }),
            );
        }
        if round % 5 != 0 {
            continue;
        }
        // The folded changes are dead rows until vacuumed, and every create's quota check
        // walks their index entries (autovacuum comes once a minute at best: at 1,000 creates
        // a second, 16,000 dead entries cost a create 0.35 ms of its 0.8 ms). A small table:
        // vacuumed in a few milliseconds; skipped while another replica vacuums it. Never
        // truncated: that takes the table's exclusive lock, and every write waits for it.
        if let Err(e) = c.batch_execute("VACUUM (SKIP_LOCKED, TRUNCATE false) usage_deltas").await {
            crate::log::event(
                crate::log::Level::Warn,
                "usage vacuum failed",
                serde_json::json!({ "error": e.to_string() }),
            );
        }
        let projects = match c.rows("SELECT DISTINCT project FROM audit WHERE project_seq IS NULL", &[]).await
        {
            Ok(rows) => rows.iter().filter_map(|r| r.try_get::<_, String>(0).ok()).collect::<Vec<_>>(),
            Err(_) => continue,
        };
        for project in projects {
            if let Err(e) = chain(&mut c, &project).await {
                crate::log::event(
                    crate::log::Level::Error,
                    "audit chaining failed",
                    serde_json::json!({ "project": project, "error": e.0 }),
                );
            }
        }
    }
}

/// A random id with a prefix (`msg_…`), as the SQLite store makes them.
fn random_id(prefix: &str) -> StoreResult<String> {
    let mut id = [0u8; 12];
    handrail_core::crypto::fill_random(&mut id).map_err(|e| StoreError(e.to_string()))?;
    Ok(format!("{prefix}{}", handrail_core::encoding::b64url_encode(id)))
}
