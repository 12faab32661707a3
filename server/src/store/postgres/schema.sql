-- The PostgreSQL schema, version 1: the tables of the SQLite store (sqlite/schema.sql with its
-- migrations applied), in PostgreSQL's types. JSON is kept as the text it was written as
-- (answered byte for byte) and read with `::jsonb` where a query looks inside. A `rowid`
-- column keeps insertion order where the SQLite store orders by its rowid.
CREATE TABLE projects (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at BIGINT NOT NULL, rowid BIGSERIAL);

CREATE TABLE keys (
    token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,
    project TEXT NOT NULL REFERENCES projects(id), role TEXT NOT NULL, created_at BIGINT NOT NULL,
    roles TEXT NOT NULL DEFAULT '["*"]', admin BOOLEAN NOT NULL DEFAULT false, rowid BIGSERIAL);

CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE executions (
    project TEXT NOT NULL, key TEXT NOT NULL, execution TEXT NOT NULL, created_at BIGINT NOT NULL,
    rowid BIGSERIAL, PRIMARY KEY (project, key));

CREATE TABLE requests (
    id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), body TEXT NOT NULL,
    status TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, role TEXT,
    created_by TEXT, summary TEXT, escalations INTEGER NOT NULL DEFAULT 0, decision TEXT,
    escalation_log TEXT, rowid BIGSERIAL);

CREATE INDEX requests_by_project ON requests(project, status, created_at);
CREATE INDEX requests_due ON requests(status, expires_at);
CREATE INDEX requests_by_role ON requests(project, role, status);
-- A request's own escalation time, where `context.escalate_at` is a number (the context is the
-- agent's: any other value names no time, and must not fail the insert).
CREATE INDEX requests_escalate_at ON requests((CASE WHEN jsonb_typeof(body::jsonb #> '{context,escalate_at}') = 'number'
    THEN (body::jsonb #>> '{context,escalate_at}')::double precision END))
    WHERE status = 'PENDING';

-- An entry is written in the transaction of the change it records, unchained (`project_seq`
-- NULL, `entry` its fields), and chained right after that transaction commits, under the
-- project's chain lock, many at a time (`postgres::chain`): so concurrent writes to one project
-- never wait on each other's commit. `chain_order` is the order entries were chained in.
CREATE TABLE audit (
    seq BIGSERIAL PRIMARY KEY, entry TEXT NOT NULL, project TEXT NOT NULL, project_seq BIGINT,
    chain_order BIGINT);

CREATE UNIQUE INDEX audit_by_project ON audit(project, project_seq);
CREATE INDEX audit_unchained ON audit(project, seq) WHERE project_seq IS NULL;
CREATE SEQUENCE audit_chain_order;

CREATE TABLE roles (
    project TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL, escalate_to TEXT,
    escalate_after_secs BIGINT, created_at BIGINT NOT NULL, rowid BIGSERIAL, PRIMARY KEY (project, name));

CREATE TABLE webhooks (
    id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), url TEXT NOT NULL,
    secret TEXT NOT NULL, created_at BIGINT NOT NULL, roles TEXT, failing_since_ms BIGINT,
    disabled_at BIGINT, rowid BIGSERIAL);

-- The body of an event, once for all the deliveries that carry it (`deliveries.body_id`).
CREATE TABLE event_bodies (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL);

CREATE TABLE deliveries (
    id TEXT PRIMARY KEY, webhook TEXT REFERENCES webhooks(id), url TEXT, request TEXT,
    project TEXT NOT NULL, event TEXT NOT NULL, body TEXT NOT NULL, body_id BIGINT, state TEXT NOT NULL,
    attempts INTEGER NOT NULL, next_ms BIGINT, last_outcome TEXT, created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL, rowid BIGSERIAL, CHECK ((webhook IS NULL) <> (url IS NULL)));

CREATE INDEX deliveries_due ON deliveries(state, next_ms);
CREATE INDEX deliveries_by_request ON deliveries(project, request);
CREATE INDEX deliveries_by_body ON deliveries(body_id) WHERE body_id IS NOT NULL;

CREATE TABLE agents (
    project TEXT NOT NULL REFERENCES projects(id), name TEXT NOT NULL, mode TEXT NOT NULL,
    profile BYTEA NOT NULL, version BIGINT NOT NULL, readiness TEXT NOT NULL,
    nodes BIGINT NOT NULL, edges BIGINT NOT NULL, calls BIGINT NOT NULL, sessions BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL, first_seen BIGINT NOT NULL, last_seen BIGINT NOT NULL,
    PRIMARY KEY (project, name));

CREATE TABLE agent_events (
    project TEXT NOT NULL, agent TEXT NOT NULL, id TEXT NOT NULL, session TEXT NOT NULL,
    at BIGINT NOT NULL, received_at BIGINT NOT NULL, rowid BIGSERIAL, PRIMARY KEY (project, agent, id));

CREATE TABLE agent_sessions (
    project TEXT NOT NULL, agent TEXT NOT NULL, session TEXT NOT NULL, state TEXT NOT NULL,
    last_seen BIGINT NOT NULL, PRIMARY KEY (project, agent, session));

CREATE TABLE agent_telemetry (
    project TEXT NOT NULL, agent TEXT NOT NULL, tool TEXT NOT NULL, outcome TEXT NOT NULL,
    calls BIGINT NOT NULL, cost_usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (project, agent, tool, outcome));

-- Snapshot metadata; the bytes are in `blob_chunks` under `blob` (a staged blob no row names
-- is swept).
CREATE TABLE snapshots (
    request TEXT PRIMARY KEY REFERENCES requests(id), project TEXT NOT NULL, blob TEXT NOT NULL,
    size BIGINT NOT NULL, sha256 TEXT NOT NULL, created_at BIGINT NOT NULL);

CREATE TABLE blob_chunks (
    blob TEXT NOT NULL, n INTEGER NOT NULL, bytes BYTEA NOT NULL, staged_at BIGINT NOT NULL,
    PRIMARY KEY (blob, n));

CREATE TABLE agent_budgets (
    project TEXT NOT NULL, agent TEXT NOT NULL, daily_usd DOUBLE PRECISION NOT NULL, PRIMARY KEY (project, agent));

CREATE TABLE agent_spend (
    project TEXT NOT NULL, agent TEXT NOT NULL, day BIGINT NOT NULL, usd DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, agent, day));

CREATE TABLE sessions (
    project TEXT NOT NULL, id TEXT NOT NULL, agent TEXT NOT NULL, status TEXT NOT NULL, error TEXT,
    started_at BIGINT NOT NULL, ended_at BIGINT, events BIGINT NOT NULL, cost_usd DOUBLE PRECISION NOT NULL,
    rowid BIGSERIAL, PRIMARY KEY (project, id));

CREATE INDEX sessions_by_agent ON sessions(project, agent, started_at);

CREATE TABLE thread_checkpoints (
    seq BIGSERIAL PRIMARY KEY, project TEXT NOT NULL, thread TEXT NOT NULL,
    id TEXT NOT NULL, body TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (project, thread, id));

CREATE INDEX thread_checkpoints_by_thread ON thread_checkpoints(project, thread, seq);

CREATE TABLE audit_checkpoints (
    project TEXT PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, token TEXT NOT NULL);

CREATE TABLE usage (project TEXT PRIMARY KEY, bytes BIGINT NOT NULL);

-- Changes of a project's usage not yet folded into `usage` (`housekeeping::add_usage`): each
-- write adds a row instead of updating the project's count, which would hold that row locked
-- until it commits and so make one project's writes wait on each other.
CREATE TABLE usage_deltas (id BIGSERIAL PRIMARY KEY, project TEXT NOT NULL, bytes BIGINT NOT NULL);
CREATE INDEX usage_deltas_by_project ON usage_deltas(project);

-- A channel's kind-specific target is JSON (`{"to": [...]}` for e-mail); `roles` NULL: all.
CREATE TABLE channels (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, roles TEXT,
    created_at BIGINT NOT NULL, rowid BIGSERIAL);

CREATE INDEX channels_by_project ON channels(project, created_at);

-- The outbox of channel notifications, one row per (request, event, addressee).
CREATE TABLE notifications (
    id TEXT PRIMARY KEY, project TEXT NOT NULL, request TEXT NOT NULL, kind TEXT NOT NULL,
    address TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
    next_ms BIGINT, last_outcome TEXT, created_ms BIGINT NOT NULL, updated_ms BIGINT NOT NULL,
    -- For `slack`: where the message was posted (channel id, message ts), to update it later.
    posted_channel TEXT, posted_ts TEXT,
    rowid BIGSERIAL);

CREATE INDEX notifications_due ON notifications(state, next_ms);
CREATE INDEX notifications_by_request ON notifications(request);

-- Standing approvals given with a decision (see `store::Grant`).
CREATE TABLE grants (
    id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), agent TEXT NOT NULL,
    service TEXT NOT NULL, action TEXT NOT NULL, role TEXT, thread TEXT, granted_by TEXT NOT NULL,
    request_id TEXT NOT NULL, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT,
    rowid BIGSERIAL);

CREATE INDEX grants_by_tool ON grants(project, agent, service, action, expires_at);
