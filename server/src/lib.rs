//! `handrail serve`: the control plane.
//!
//! [`app`] builds the router over an [`AppState`], so tests can drive it in process;
//! [`serve`] opens the data directory, bootstraps it on first start, binds, and runs until
//! Ctrl-C or SIGTERM. Every format (idempotency, proofs, diffs, schema checks) comes from
//! `handrail-core`; this crate does the I/O around it.

mod compat;
mod dashboard;
mod decide_page;
pub mod error;
pub mod lifecycle;
mod limits;
mod links;
pub mod log;
mod mail;
mod outbound;
mod pricing;
mod reminders;
mod retention;
mod slack;
pub mod store;
pub mod v1;
mod waiters;
mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use handrail_core::encoding::{b64url_decode, b64url_encode, hex_encode};
use handrail_core::proof::Signer;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use store::{NewKeyRow, Role, Sqlite, Store, ANY_ROLE};

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    /// The storage.
    pub store: Arc<dyn Store>,
    /// The server's decision-proof key.
    pub signer: Arc<Signer>,
    /// Who signs: `HANDRAIL_PUBLIC_URL` (without a trailing `/`), else a stable `srv_…` id
    /// kept in the settings table. Every proof and audit checkpoint names it (`iss`), and
    /// `/v1/keys/proof` publishes it beside the keys.
    pub issuer: Arc<str>,
    /// Who waits on which request's decision.
    pub(crate) waiters: waiters::Waiters,
    /// Queue changes for the live views (server-sent events).
    pub(crate) events: tokio::sync::broadcast::Sender<Arc<QueueEvent>>,
    pub(crate) limiter: Arc<limits::RateLimiter>,
    /// Per source address, on the routes that create something without a key.
    pub(crate) signup_limiter: Arc<limits::RateLimiter>,
    /// Whose `X-Forwarded-For` names the caller's address (`HANDRAIL_TRUSTED_PROXIES`).
    pub(crate) proxies: Arc<limits::Proxies>,
    /// Per source address, on the decision pages of e-mail links (`/decide/{token}`).
    pub(crate) decide_limiter: Arc<limits::RateLimiter>,
    pub(crate) metrics: Arc<limits::Metrics>,
    /// `HANDRAIL_METRICS_TOKEN`: when set, `/metrics` answers only a bearer of it.
    pub(crate) metrics_token: Option<Arc<str>>,
    /// Signs and checks the expiring snapshot links.
    pub(crate) blob_links: Arc<v1::LinkKey>,
    /// What each key holds open (streams, long-polls), against its caps.
    pub(crate) open: Arc<limits::OpenCaps>,
    /// Turns for each caller's requests with large bodies.
    pub(crate) lanes: Arc<limits::Lanes>,
    /// Bumped by every revocation: open streams and long-polls check their key again.
    revocations: Arc<watch::Sender<u64>>,
    /// Bumped when an operator re-enables an endpoint: the delivery worker forgets the
    /// failures it counted, so the endpoint gets its full room at once.
    pub(crate) endpoints_changed: Arc<std::sync::atomic::AtomicU64>,
    /// What the compatibility layers add to deliveries (callback URLs, their shapes).
    pub(crate) delivery_hooks: Arc<[Arc<dyn webhooks::DeliveryHook>]>,
    /// The per-project quota and the retention of what projects store.
    pub(crate) policy: retention::Policy,
    /// The SMTP relay of e-mail channels (`HANDRAIL_SMTP_URL`); None: e-mail channels are
    /// refused at creation.
    pub(crate) mailer: Option<Arc<mail::Mailer>>,
    /// The Slack app of Slack channels (`HANDRAIL_SLACK_BOT_TOKEN`,
    /// `HANDRAIL_SLACK_SIGNING_SECRET`); None: Slack channels are refused at creation.
    pub(crate) slack: Option<Arc<slack::Slack>>,
}

impl AppState {
    /// State over a store, with the proof key it holds (created on first use).
    pub fn new(store: Arc<dyn Store>) -> Result<AppState, String> {
        let seed = store.setting_or_insert("proof_seed", &b64url_encode(random::<32>()?)).map_err(|e| e.0)?;
        let seed: [u8; 32] = b64url_decode(&seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or("stored proof seed is corrupt")?;
        let signer = Signer::from_seed("proof-1", seed).map_err(|e| e.to_string())?;
        let issuer = issuer(store.as_ref())?;
        let blob_links = Arc::new(v1::LinkKey::load(store.as_ref())?);
        Ok(AppState {
            store,
            signer: Arc::new(signer),
            issuer: issuer.into(),
            waiters: waiters::Waiters::default(),
            events: tokio::sync::broadcast::channel(1024).0,
            limiter: Arc::new(limits::RateLimiter::from_env()),
            signup_limiter: Arc::new(limits::RateLimiter::signups_from_env()),
            proxies: Arc::new(limits::Proxies::from_env()?),
            decide_limiter: Arc::new(limits::RateLimiter::decide_pages_from_env()),
            metrics: Arc::default(),
            metrics_token: std::env::var("HANDRAIL_METRICS_TOKEN")
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(|t| t.trim().into()),
            blob_links,
            open: Arc::new(limits::OpenCaps::from_env()),
            lanes: Arc::new(limits::Lanes::from_env()),
            revocations: Arc::new(watch::channel(0).0),
            endpoints_changed: Arc::default(),
            delivery_hooks: compat::delivery_hooks().into(),
            policy: retention::Policy::from_env(),
            mailer: mail::Mailer::from_env()?.map(Arc::new),
            slack: slack::Slack::from_env()?.map(Arc::new),
        })
    }

    /// A receiver that changes whenever a key is revoked.
    pub(crate) fn revocations(&self) -> watch::Receiver<u64> {
        self.revocations.subscribe()
    }

    /// Tells open streams and long-polls that a key was revoked, here and on the other
    /// replicas.
    pub(crate) fn revoked(&self) {
        self.revocations.send_modify(|n| *n = n.wrapping_add(1));
        self.store.tell(&store::Change::Revoked);
    }

    /// Whether the key `who` authenticated with still exists (it was not revoked since).
    pub(crate) fn still_valid(&self, who: &store::Principal) -> bool {
        matches!(self.store.key(&who.project, &who.key_id), Ok(Some(_)))
    }

    /// Starts waiting on request `id` (see [`waiters`]).
    pub(crate) fn subscribe(&self, id: &str) -> waiters::Waiter {
        self.waiters.subscribe(id)
    }

    /// Wakes everyone waiting on request `id`.
    pub(crate) fn notify(&self, id: &str) {
        self.waiters.notify(id);
    }
}

/// A change of a project's queue, for the live views.
#[derive(Debug)]
pub(crate) struct QueueEvent {
    pub(crate) project: String,
    /// `request.created`, `request.resolved`, …
    pub(crate) event: &'static str,
    /// The request's role now (who may read it).
    pub(crate) role: Option<String>,
    /// The request's id.
    pub(crate) id: String,
    /// The request as JSON when it is small ([`INLINE_EVENT_BYTES`]); else None and each
    /// stream reads it from the store when it sends the event, so the channel's 1,024 slots
    /// never hold a gigabyte of payloads.
    pub(crate) data: Option<String>,
}

impl QueueEvent {
    /// The events the live views know, by name (what another replica names in its note).
    pub(crate) fn name(event: &str) -> Option<&'static str> {
        ["request.created", "request.resolved", "request.expired", "request.escalated"]
            .into_iter()
            .find(|known| *known == event)
    }
}

/// The largest request an event carries in the channel itself.
pub(crate) const INLINE_EVENT_BYTES: usize = 64 << 10;

impl AppState {
    /// Tells the live views of `row`'s project that it changed (`text`: the row as JSON).
    pub(crate) fn announce(&self, row: &store::RequestRow, event: &'static str, text: &str) {
        if !self.watched() {
            return;
        }
        let change = QueueEvent {
            project: row.project.clone(),
            event,
            role: row.role.clone(),
            id: row.id.clone(),
            data: (text.len() <= INLINE_EVENT_BYTES).then(|| text.to_string()),
        };
        let _ = self.events.send(Arc::new(change));
    }

    /// Whether any live view is open (else there is nobody to announce a change to).
    pub(crate) fn watched(&self) -> bool {
        self.events.receiver_count() > 0
    }
}

/// The issuer this server names in what it signs: its configured public URL, else an id
/// made once and kept, so proofs stay attributable across restarts.
fn issuer(store: &dyn Store) -> Result<String, String> {
    match std::env::var("HANDRAIL_PUBLIC_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(url.trim().trim_end_matches('/').to_string()),
        _ => store
            .setting_or_insert("issuer", &format!("srv_{}", b64url_encode(random::<12>()?)))
            .map_err(|e| e.0),
    }
}

/// The proof key a data directory's database holds (what `handrail audit verify` checks the
/// stored checkpoints with), or `None` when the server never started on it.
pub fn stored_signer(store: &dyn Store) -> Result<Option<Signer>, String> {
    let Some(seed) = store.setting("proof_seed").map_err(|e| e.0)? else {
        return Ok(None);
    };
    let seed: [u8; 32] =
        b64url_decode(&seed).ok().and_then(|s| s.try_into().ok()).ok_or("stored proof seed is corrupt")?;
    Signer::from_seed("proof-1", seed).map(Some).map_err(|e| e.to_string())
}

/// The router.
pub fn app(state: AppState) -> axum::Router {
    // The API, the compatibility layers at the edge (which map onto the API's rules), and the
    // dashboard's assets.
    let routes = v1::router()
        .merge(compat::router())
        .merge(dashboard::router())
        .merge(decide_page::router())
        .merge(slack::router());
    v1::finish(routes, state)
}

/// Runs storage work that may wait on a group commit without stalling the runtime's other
/// tasks (on the multi-threaded runtime the worker hands its queue to another thread).
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Unix seconds now: the server owns the clock the core never reads.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Unix seconds as RFC 3339 UTC (`2026-12-01T07:28:49Z`): the compatibility layers' times and
/// the deadlines e-mails show. Howard Hinnant's civil-from-days.
pub(crate) fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], String> {
    let mut bytes = [0u8; N];
    handrail_core::crypto::fill_random(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// SHA-256 of a bearer token, hex: what the database stores instead of the token.
pub fn token_hash(token: &str) -> String {
    hex_encode(Sha256::digest(token.as_bytes()))
}

/// What the first start writes to `DIR/bootstrap.json` (mode 0600), and only there.
#[derive(Debug, serde::Serialize)]
pub struct Bootstrap {
    pub url: String,
    pub project: String,
    pub agent_key: String,
    pub operator_token: String,
}

/// A new key of `role` — an operator deciding `roles`, administering the server if `admin` —
/// as stored (its id and the token's hash) and its token, to show this once.
pub(crate) fn mint_key(role: Role, roles: Vec<String>, admin: bool) -> Result<(NewKeyRow, String), String> {
    let prefix = match role {
        Role::Agent => "hr_agent_",
        Role::Operator => "hr_op_",
    };
    let token = format!("{prefix}{}", b64url_encode(random::<24>()?));
    let key_id = format!("key_{}", b64url_encode(random::<9>()?));
    let roles = if role == Role::Operator { roles } else { Vec::new() };
    let admin = admin && role == Role::Operator;
    Ok((NewKeyRow { key_id, token_hash: token_hash(&token), role, roles, admin }, token))
}

/// Creates a key in `project` (see [`mint_key`]) made by `actor`, audited as `key.created`:
/// (key id, token). Only the token's hash is stored; the token is returned this once.
pub(crate) fn new_key(
    store: &dyn Store,
    project: &str,
    role: Role,
    roles: Vec<String>,
    admin: bool,
    actor: &str,
    now: i64,
) -> Result<(String, String), String> {
    let (key, token) = mint_key(role, roles, admin)?;
    let data = serde_json::json!({ "role": role.as_str(), "roles": key.roles, "admin": key.admin });
    let audit = store::AuditEvent { at: now, actor, event: "key.created", data };
    store.add_key_row(project, &key, audit).map_err(|e| e.0)?;
    Ok((key.key_id, token))
}

/// Creates the default project with one agent key and one operator token, which decides
/// every role and administers the server (creates projects), audited as the first entry of
/// the project's chain, when the store has no project yet (None: it has one; of replicas
/// starting together on one database, one creates it).
fn bootstrap(store: &dyn Store, url: &str) -> Result<Option<Bootstrap>, String> {
    let now = now();
    let project = format!("prj_{}", b64url_encode(random::<9>()?));
    let (agent, agent_key) = mint_key(Role::Agent, Vec::new(), false)?;
    let (operator, operator_token) = mint_key(Role::Operator, vec![ANY_ROLE.to_string()], true)?;
    let data = serde_json::json!({
        "name": "default", "bootstrap": true, "keys": [&agent.key_id, &operator.key_id],
    });
    let audit = store::AuditEvent { at: now, actor: "system", event: "project.created", data };
    let row =
        store::Project { id: project.clone(), name: "default".into(), created_at: now, max_grant_secs: None };
    if !store.create_first_project(&row, &[agent, operator], audit).map_err(|e| e.0)? {
        return Ok(None);
    }
    Ok(Some(Bootstrap { url: url.to_string(), project, agent_key, operator_token }))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(text.as_bytes())
}

/// Makes every file and directory the server creates private to its user (umask 077), so
/// the database, its WAL and shared-memory files, the snapshots and bootstrap.json are
/// never readable by others, whatever the caller's umask.
fn private_files() {
    #[cfg(unix)]
    // SAFETY: umask(2) only sets the process's file mode creation mask; it cannot fail and
    // touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}

/// Sets `path`'s mode to `mode` when it grants more (to the group or others), with a log
/// line, so a data directory made by an older version or by hand is tightened.
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let now = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if now & !mode != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            log::event(
                log::Level::Warn,
                "tightened permissions",
                serde_json::json!({
                    "path": path.display().to_string(),
                    "was": format!("{now:o}"),
                    "now": format!("{mode:o}"),
                }),
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// The store: PostgreSQL at `database` when given, else SQLite under `data`.
pub fn open_store(data: &Path, database: Option<&str>) -> Result<Arc<dyn Store>, String> {
    Ok(match database {
        Some(url) => Arc::new(store::Postgres::open(url).map_err(|e| format!("database: {}", e.0))?),
        None => Arc::new(Sqlite::open(&data.join("handrail.db")).map_err(|e| format!("database: {}", e.0))?),
    })
}

/// Options of `handrail serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind (`127.0.0.1:8787`; port 0 picks a free one).
    pub addr: SocketAddr,
    /// Data directory (SQLite file, bootstrap.json).
    pub data: PathBuf,
    /// A PostgreSQL URL (`postgres://user@host:port/db`): the store several replicas share,
    /// instead of SQLite under `data` (which then holds only bootstrap.json).
    pub database: Option<String>,
}

/// Runs the server until Ctrl-C or SIGTERM. Prints `listening on http://ADDR` once bound.
pub async fn serve(options: ServeOptions) -> Result<(), String> {
    // First: a CA file that cannot be used stops the start before anything is written.
    let agents = webhooks::Agents::from_env()?;
    // So is an SMTP relay setting that cannot work (`AppState::new` reads it again).
    mail::Mailer::from_env()?;
    slack::Slack::from_env()?;
    private_files();
    std::fs::create_dir_all(&options.data).map_err(|e| format!("{}: {e}", options.data.display()))?;
    tighten(&options.data, 0o700).map_err(|e| format!("{}: {e}", options.data.display()))?;
    let store = open_store(&options.data, options.database.as_deref())?;
    for name in ["handrail.db", "handrail.db-wal", "handrail.db-shm", "bootstrap.json"] {
        let file = options.data.join(name);
        if file.exists() {
            tighten(&file, 0o600).map_err(|e| format!("{}: {e}", file.display()))?;
        }
    }
    // Before serving, so no upload is in flight: blobs a crash left unreferenced go.
    match store.sweep_snapshots() {
        Ok(0) => {}
        Ok(n) => log::event(log::Level::Info, "snapshot sweep", serde_json::json!({ "removed": n })),
        Err(e) => log::event(log::Level::Error, "snapshot sweep failed", serde_json::json!({ "error": e.0 })),
    }
    let listener = listen(options.addr).map_err(|e| format!("{}: {e}", options.addr))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let url = format!("http://{addr}");
    if let Some(boot) = bootstrap(store.as_ref(), &url)? {
        let text = serde_json::to_string_pretty(&boot).map_err(|e| e.to_string())?;
        write_private(&options.data.join("bootstrap.json"), &(text + "\n")).map_err(|e| e.to_string())?;
        // The tokens go to the file only (mode 0600), never to stdout or the log, which
        // are often collected by others.
        println!(
            "first start: created project {}; its agent key and admin operator token are in {}",
            boot.project,
            options.data.join("bootstrap.json").display()
        );
    }
    let changes = store.changes();
    let state = AppState::new(store)?;
    // The server's own work, stopped before `serve` returns: a task still running when the
    // runtime shuts down would find its timers gone (a panic on its thread), and one in the
    // middle of a store call would finish it against a store being closed.
    let mut background = tokio::task::JoinSet::new();
    if let Some(changes) = changes {
        background.spawn(replica_changes(state.clone(), changes));
    }
    background.spawn(expire_loop(state.clone()));
    background.spawn(checkpoint_loop(state.clone()));
    background.spawn(retention::prune_loop(state.clone()));
    if let Some(slack) = state.slack.clone() {
        background.spawn(slack::worker(state.clone(), slack));
    }
    background.spawn(webhooks::worker(state.clone(), agents));
    if let Some(mailer) = state.mailer.clone() {
        background.spawn(mail::worker(state.clone(), mailer));
    }
    println!("listening on {url}");
    log::event(log::Level::Info, "listening", serde_json::json!({ "url": url }));
    // A made service, not the router itself: axum rebuilds a router's route table for every
    // connection it is handed (9 KB each, measured with massif at 1,000 waiters).
    // With each connection's peer address, which the per-address limits read.
    let served = axum::serve(listener, app(state).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| e.to_string());
    // Each stops at its next wait (a claimed delivery or notification it did not finish is
    // sent again once its lease ends, as after a crash).
    background.shutdown().await;
    served
}

/// What the other replicas on the same database changed: wakes this replica's waiters on
/// a decided request and tells its live views, as its own changes do. When changes were
/// missed (the listening connection was lost), every waiter looks again.
async fn replica_changes(state: AppState, mut changes: tokio::sync::mpsc::UnboundedReceiver<store::Change>) {
    while let Some(change) = changes.recv().await {
        let (project, id, event) = match change {
            store::Change::Request { project, id, event } => (project, id, event),
            store::Change::Revoked => {
                state.revocations.send_modify(|n| *n = n.wrapping_add(1));
                continue;
            }
            store::Change::EndpointsChanged => {
                state.endpoints_changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            store::Change::Missed => {
                state.waiters.notify_all();
                continue;
            }
        };
        let Some(event) = QueueEvent::name(&event) else { continue };
        if event != "request.created" {
            state.notify(&id);
        }
        if state.watched() {
            let state = state.clone();
            // Read on a blocking thread: the listener never waits on the store.
            tokio::task::spawn_blocking(move || {
                if let Ok(Some(row)) = state.store.request(&project, &id) {
                    if let Ok(text) = serde_json::to_string(&row) {
                        state.announce(&row, event, &text);
                    }
                }
            });
        }
    }
}

/// Binds with a deep accept queue: a burst of hundreds of agents connecting at once must
/// queue, not be reset (std's default backlog is 128).
fn listen(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket =
        if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Every second: marks overdue requests EXPIRED (fail closed) and wakes their waiters, then
/// moves pending requests whose role's escalation delay has passed. Expiry goes first, so
/// a request due for both expires.
async fn expire_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = now();
        if let Err(e) = v1::blocking(|| v1::expire_due(&state, now)) {
            log::event(log::Level::Error, "expiry sweep failed", serde_json::json!({ "error": e }));
        }
        if let Err(e) = v1::blocking(|| v1::escalate_due(&state, now)) {
            log::event(log::Level::Error, "escalation sweep failed", serde_json::json!({ "error": e }));
        }
    }
}

/// Every second: signs a fresh checkpoint of each project's audit chain head that moved
/// since its stored checkpoint (see `v1::refresh_checkpoints`). So a truncation of
/// the `audit` table is detectable up to the entries of the last second, unless the stored
/// checkpoint is deleted too — which `handrail audit verify --state` catches remotely.
async fn checkpoint_loop(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // Each broken chain is reported once per start, not every second.
    let mut reported = std::collections::HashSet::new();
    loop {
        tick.tick().await;
        match v1::blocking(|| v1::refresh_checkpoints(&state, now())) {
            Ok(broken) => {
                for project in broken {
                    if reported.insert(project.clone()) {
                        log::event(
                            log::Level::Error,
                            "audit chain no longer holds its signed checkpoint",
                            serde_json::json!({ "project": project }),
                        );
                    }
                }
            }
            Err(e) => {
                log::event(log::Level::Error, "audit checkpoint failed", serde_json::json!({ "error": e }))
            }
        }
    }
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    log::event(log::Level::Info, "shutting down", serde_json::json!({ "in_flight": "draining" }));
}
