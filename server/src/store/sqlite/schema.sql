-- The SQLite schema: every table, created when missing. Columns added since a table first
-- shipped come from `migrate` (migrate.rs), which also makes the indexes that need them.
-- max_grant_secs: the project's own bound on grants (NULL: the server-wide one alone).
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL,
    max_grant_secs INTEGER CHECK (max_grant_secs > 0));

CREATE TABLE IF NOT EXISTS keys (
    token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL REFERENCES projects(id), role TEXT NOT NULL, created_at INTEGER NOT NULL,
    roles TEXT NOT NULL DEFAULT '["*"]', admin INTEGER NOT NULL DEFAULT 0);

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

-- The body of an event, once for all the deliveries that carry it (`deliveries.body_id`).
CREATE TABLE IF NOT EXISTS event_bodies (id INTEGER PRIMARY KEY, body TEXT NOT NULL);

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
    size INTEGER NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL);

CREATE TABLE IF NOT EXISTS agent_budgets (
    project TEXT NOT NULL, agent TEXT NOT NULL, daily_usd REAL NOT NULL, PRIMARY KEY (project, agent));

CREATE TABLE IF NOT EXISTS agent_spend (
    project TEXT NOT NULL, agent TEXT NOT NULL, day INTEGER NOT NULL, usd REAL NOT NULL,
    PRIMARY KEY (project, agent, day));

CREATE TABLE IF NOT EXISTS sessions (
    project TEXT NOT NULL, id TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    started_at INTEGER NOT NULL, ended_at INTEGER, events INTEGER NOT NULL, cost_usd REAL NOT NULL,
    PRIMARY KEY (project, id));

CREATE INDEX IF NOT EXISTS sessions_by_agent ON sessions(project, agent, started_at);

CREATE TABLE IF NOT EXISTS thread_checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, thread TEXT NOT NULL,
    id TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (project, thread, id));

CREATE INDEX IF NOT EXISTS thread_checkpoints_by_thread ON thread_checkpoints(project, thread, seq);

CREATE TABLE IF NOT EXISTS audit_checkpoints (
    project TEXT PRIMARY KEY, seq INTEGER NOT NULL, hash TEXT NOT NULL, token TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS usage (project TEXT PRIMARY KEY, bytes INTEGER NOT NULL);

-- A channel's kind-specific target is JSON (`{"to": [...]}` for e-mail); `roles` NULL: all.
CREATE TABLE IF NOT EXISTS channels (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, roles TEXT,
    created_at INTEGER NOT NULL);

CREATE INDEX IF NOT EXISTS channels_by_project ON channels(project, created_at);

-- The outbox of channel notifications, one row per (request, event, addressee).
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, request TEXT NOT NULL, kind TEXT NOT NULL,
    address TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_ms INTEGER, last_outcome TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL,
    -- For `slack`: where the message was posted (channel id, message ts), to update it later.
    posted_channel TEXT, posted_ts TEXT);

CREATE INDEX IF NOT EXISTS notifications_due ON notifications(state, next_ms);
CREATE INDEX IF NOT EXISTS notifications_by_request ON notifications(request);

-- Standing approvals given with a decision (see `store::Grant`).
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), agent TEXT NOT NULL,
    service TEXT NOT NULL, action TEXT NOT NULL, role TEXT, thread TEXT, granted_by TEXT NOT NULL,
    request_id TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER);

CREATE INDEX IF NOT EXISTS grants_by_tool ON grants(project, agent, service, action, expires_at);
