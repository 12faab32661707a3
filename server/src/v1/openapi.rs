//! The OpenAPI 3.1 document of v1, served at `GET /v1/openapi.json`.
//!
//! Every schema comes from the very type a handler parses or answers with, through
//! `schemars` (JSON Schema 2020-12, which is the schema dialect of OpenAPI 3.1), so a changed
//! field changes the document. What a type cannot say — method, path, who may call, which
//! status codes and error codes — is in [`operations`], one entry per method and path. The
//! test `server/tests/openapi.rs` reads every route of `server/src/v1/` and fails on a route
//! missing here, or an entry here that nothing routes; a new route is one more entry.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use handrail_core::firewall::Graph;
use handrail_core::request::{Decision, NewRequest};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

use super::agents::BudgetView;
use super::agents::{Accepted, AgentDetail, AgentList, Batch, ModeSet, NewMode, ProfileQuery};
use super::audit::{AuditHead, AuditPage, Page};
use super::budgets::NewBudget;
use super::channels::{ChannelList, NewChannel};
use super::grants::GrantList;
use super::keys::{Jwks, KeyCreated, KeyList, Me, NewKey};
use super::projects::{NewProject, ProjectCreated, ProjectList, ProjectPatch, ProjectView};
use super::requests::{ListQuery, RequestList, Resolve, WaitQuery};
use super::roles::{NewRole, RoleList};
use super::sessions::{EndSession, NewSession, SessionList, SessionQuery};
use super::snapshots::{BlobLink, LinkQuery, RequestView, SnapshotStored};
use super::webhooks::{
    DeliveryList, NewWebhook, RequestDeliveryList, WebhookCreated, WebhookList, WebhookUpdate,
};
use super::ErrorBody;
use crate::store::{Channel, RequestRow, RoleRule, SessionRow, Webhook};
use crate::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/openapi.json", get(serve))
}

/// Built once: the document only changes with the code.
async fn serve() -> impl IntoResponse {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    let text = DOCUMENT.get_or_init(|| document().to_string());
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Anyone: no `Authorization` header (public keys, expiring links, health).
    Public,
    /// An agent key or an operator token of the project.
    Key,
    /// An operator token; an agent key gets 403 `forbidden`.
    Operator,
    /// An operator token of role `*` (the project-wide powers, see `v1/authority.rs`): an
    /// agent key gets 403 `forbidden`, a role-limited operator 403 `all_roles_required`.
    Project,
}

/// Codes every JSON body can fail with: unreadable, not strict JSON, not the expected shape.
const BODY_400: &[&str] = &[
    "bad_body",
    "invalid_request",
    "json_syntax",
    "duplicate_key",
    "lone_surrogate",
    "non_finite_number",
    "integer_out_of_range",
    "too_deep",
];

/// One operation (a method on a path) as the document describes it.
struct Op {
    method: &'static str,
    path: &'static str,
    auth: Auth,
    summary: &'static str,
    parameters: Vec<Value>,
    body: Option<Value>,
    responses: Vec<(u16, Value)>,
    errors: Vec<(u16, Vec<&'static str>)>,
}

fn op(method: &'static str, path: &'static str, auth: Auth, summary: &'static str) -> Op {
    let parameters = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            json!({
                "name": name, "in": "path", "required": true,
                "description": path_doc(path, name), "schema": { "type": "string" },
            })
        })
        .collect();
    let mut op =
        Op { method, path, auth, summary, parameters, body: None, responses: Vec::new(), errors: Vec::new() };
    match auth {
        Auth::Public => {}
        Auth::Key => op = op.errors(401, &["unauthorized"]).errors(429, &["rate_limited"]),
        Auth::Operator => {
            op = op.errors(401, &["unauthorized"]).errors(403, &["forbidden"]).errors(429, &["rate_limited"])
        }
        Auth::Project => {
            op = op
                .errors(401, &["unauthorized"])
                .errors(403, &["forbidden", "all_roles_required"])
                .errors(429, &["rate_limited"])
        }
    }
    if auth != Auth::Public {
        op = op.errors(500, &["internal"]);
    }
    op
}

/// A query member's schema without the `null` its `Option` adds: a query string cannot say
/// null, only leave the member out.
fn not_null(mut schema: Value) -> Value {
    if let Some(types) = schema.get_mut("type").and_then(Value::as_array_mut) {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            schema["type"] = types[0].clone();
        }
    }
    let single = schema.get("anyOf").and_then(Value::as_array).and_then(|alts| {
        let rest: Vec<&Value> = alts.iter().filter(|a| a.get("type") != Some(&json!("null"))).collect();
        (rest.len() == 1).then(|| rest[0].clone())
    });
    if let (Some(single), Some(obj)) = (single, schema.as_object_mut()) {
        obj.remove("anyOf");
        if let Some(fields) = single.as_object() {
            obj.extend(fields.clone());
        }
    }
    schema
}

fn path_doc(path: &str, name: &str) -> &'static str {
    match name {
        "id" if path.starts_with("/v1/requests") => "The request's id (`req_…`).",
        "id" if path.starts_with("/v1/webhooks") => "The endpoint's id (`wh_…`).",
        "id" if path.starts_with("/v1/channels") => "The channel's id (`ch_…`).",
        "id" if path.starts_with("/v1/deliveries") => "The delivery's id.",
        "id" if path.starts_with("/v1/sessions") => "The session's id (`ses_…`).",
        "id" if path.starts_with("/v1/projects") => "The project's id (`prj_…`).",
        "id" if path.starts_with("/v1/grants") => "The grant's id (`grt_…`).",
        "agent" => "The agent's name.",
        "token" => "The link's token (`claims.mac`), as the link routes give it.",
        _ => "",
    }
}

impl Op {
    /// Query parameters: the members of `T`, the type the handler's `Query` parses.
    fn query<T: JsonSchema>(mut self, g: &mut SchemaGenerator) -> Op {
        let schema = T::json_schema(g).to_value();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = schema["properties"].as_object() {
            for (name, prop) in props {
                let mut prop = not_null(prop.clone());
                let description = prop.as_object_mut().and_then(|p| p.remove("description"));
                self.parameters.push(json!({
                    "name": name, "in": "query", "required": required.contains(&name.as_str()),
                    "description": description.unwrap_or(Value::Null), "schema": prop,
                }));
            }
        }
        // A query string the handler's `Query` cannot read (`v1::Query`).
        self.errors(400, &["invalid_query"])
    }

    /// The `Idempotency-Key` header of a create.
    fn idempotency_key(mut self) -> Op {
        self.parameters.push(json!({
            "name": "Idempotency-Key", "in": "header", "required": false,
            "description": "Makes the create safe to retry: the same key with the same body replays \
                the first answer (with `Idempotent-Replayed: true`); with another body it is 422 \
                `idempotency_mismatch`; while the first is in flight, 409 `idempotency_conflict`.",
            "schema": { "type": "string" },
        }));
        self.errors(400, &["idempotency_key"])
            .errors(409, &["idempotency_conflict"])
            .errors(422, &["idempotency_mismatch"])
    }

    /// A JSON body parsed strictly into `T`.
    fn json_body<T: JsonSchema>(mut self, g: &mut SchemaGenerator) -> Op {
        self.body = Some(json!({
            "required": true,
            "content": { "application/json": { "schema": g.subschema_for::<T>() } },
        }));
        self.errors(400, BODY_400).errors(413, &["too_large", "too_many_values"])
    }

    /// A body of opaque bytes.
    fn bytes_body(mut self, description: &str) -> Op {
        self.body = Some(json!({
            "required": true, "description": description,
            "content": { "application/octet-stream": { "schema": {} } },
        }));
        self
    }

    /// A JSON answer of type `T`.
    fn json<T: JsonSchema>(self, g: &mut SchemaGenerator, status: u16, description: &str) -> Op {
        let schema = g.subschema_for::<T>().to_value();
        self.answer(status, description, Some(("application/json", schema)))
    }

    /// A non-JSON answer.
    fn raw(self, status: u16, media: &str, description: &str) -> Op {
        self.answer(status, description, Some((media, json!({ "type": "string" }))))
    }

    /// An answer without a body.
    fn empty(self, status: u16, description: &str) -> Op {
        self.answer(status, description, None)
    }

    /// Adds an answer; a second media type for the same status joins the first.
    fn answer(mut self, status: u16, description: &str, content: Option<(&str, Value)>) -> Op {
        let index = match self.responses.iter().position(|(s, _)| *s == status) {
            Some(i) => {
                let text = &mut self.responses[i].1["description"];
                *text = Value::String(format!("{} {description}", text.as_str().unwrap_or_default()));
                i
            }
            None => {
                self.responses.push((status, json!({ "description": description })));
                self.responses.len() - 1
            }
        };
        if let Some((media, schema)) = content {
            self.responses[index].1["content"][media] = json!({ "schema": schema });
        }
        self
    }

    /// Error answers with these stable codes.
    fn errors(mut self, status: u16, codes: &[&'static str]) -> Op {
        match self.errors.iter_mut().find(|(s, _)| *s == status) {
            Some((_, known)) => known.extend(codes.iter().filter(|c| !known.contains(c)).collect::<Vec<_>>()),
            None => self.errors.push((status, codes.to_vec())),
        }
        self
    }

    fn to_json(&self) -> Value {
        let mut responses = Map::new();
        for (status, response) in &self.responses {
            responses.insert(status.to_string(), response.clone());
        }
        let mut errors = self.errors.clone();
        errors.sort_by_key(|(status, _)| *status);
        for (status, codes) in errors {
            let list: Vec<String> = codes.iter().map(|c| format!("`{c}`")).collect();
            let mut response = json!({
                "description": format!("Error: {}.", list.join(", ")),
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } },
                "x-error-codes": codes,
            });
            if status == 429 {
                response["headers"] = json!({
                    "Retry-After": { "description": "Seconds until the key may call again.",
                                     "schema": { "type": "integer" } },
                });
            }
            responses.insert(status.to_string(), response);
        }
        let security = match self.auth {
            Auth::Public => json!([]),
            Auth::Key => json!([{ "agentKey": [] }, { "operatorToken": [] }]),
            Auth::Operator | Auth::Project => json!([{ "operatorToken": [] }]),
        };
        let id: Vec<&str> =
            self.path.split(['/', '{', '}', '.', '-']).filter(|s| !s.is_empty() && *s != "v1").collect();
        let mut out = json!({
            "operationId": format!("{}_{}", self.method, id.join("_")),
            "summary": self.summary,
            "security": security,
            "responses": responses,
        });
        if !self.parameters.is_empty() {
            out["parameters"] = Value::Array(self.parameters.clone());
        }
        if let Some(body) = &self.body {
            out["requestBody"] = body.clone();
        }
        out
    }
}

/// Every route of v1. Keep the order of the routers in `v1/mod.rs`.
fn operations(g: &mut SchemaGenerator) -> Vec<Op> {
    use Auth::{Key, Operator, Project, Public};
    const LINK: &[&str] = &["invalid_request"];
    vec![
        op("get", "/healthz", Public, "Liveness").raw(200, "text/plain", "`ok`"),
        op("get", "/metrics", Public, "Prometheus metrics")
            .raw(
                200,
                "text/plain",
                "The text exposition format: server-wide counters, no per-project series. With \
                 `HANDRAIL_METRICS_TOKEN` set, only for `Authorization: Bearer <that token>`.",
            )
            .errors(401, &["unauthorized"]),
        op("get", "/v1/openapi.json", Public, "This document").raw(200, "application/json", "OpenAPI 3.1.0."),
        // requests.rs
        op("post", "/v1/requests", Key, "Ask a person to decide")
            .idempotency_key()
            .json_body::<NewRequest>(g)
            .json::<RequestRow>(
                g,
                201,
                "Created (or, with `Idempotent-Replayed: true`, the first answer again).",
            )
            .errors(400, &["unknown_variant", "invisible_character"])
            .errors(409, &["id_taken"])
            .errors(422, &["schema_invalid", "schema_too_complex", "edit_invalid"])
            .errors(507, &["quota_exceeded"]),
        op("get", "/v1/requests", Key, "List the project's requests")
            .query::<ListQuery>(g)
            .json::<RequestList>(g, 200, "Newest first.")
            .errors(400, &["unknown_variant", "invalid_query"]),
        op("get", "/v1/requests/{id}", Key, "Read a request")
            .json::<RequestView<'static>>(
                g,
                200,
                "The request, its decision once decided, its snapshot if parked.",
            )
            .errors(404, &["not_found"]),
        op("get", "/v1/requests/{id}/wait", Key, "Wait for the decision (long-poll)")
            .query::<WaitQuery>(g)
            .json::<RequestView<'static>>(
                g,
                200,
                "As soon as it is decided, or still PENDING after `timeout`.",
            )
            .errors(404, &["not_found"])
            .errors(429, &["too_many_open"]),
        op("post", "/v1/requests/{id}/resolve", Operator, "Approve (possibly edited) or reject")
            .json_body::<Resolve>(g)
            .json::<Decision>(g, 200, "The signed decision.")
            .errors(400, &["invalid_request"])
            .errors(403, &["role_required"])
            .errors(404, &["not_found"])
            .errors(409, &["already_decided", "expired"])
            .errors(422, &["edit_invalid", "schema_invalid", "schema_too_complex"]),
        // events.rs
        op("get", "/v1/events", Operator, "The queue's changes as server-sent events")
            .errors(429, &["too_many_open"])
            .raw(
                200,
                "text/event-stream",
                "Events `request.created`, `request.resolved`, `request.expired` (data: the request), \
             and `resync` when the reader fell behind.",
            ),
        // keys.rs
        op("get", "/v1/keys/proof", Public, "Public keys of decision proofs (JWKS)").json::<Jwks>(
            g,
            200,
            "The keys proofs and audit checkpoints are signed with, and their issuer (`iss`).",
        ),
        op("get", "/v1/keys/me", Key, "The calling key: its id, project, role").json::<Me>(
            g,
            200,
            "Never the token.",
        ),
        op("post", "/v1/keys", Project, "Create an agent key or operator token")
            .json_body::<NewKey>(g)
            .json::<KeyCreated>(g, 201, "Created; the token is shown this once.")
            .errors(400, &["invalid_request", "invalid_role", "invisible_character"]),
        op("get", "/v1/keys", Project, "List the project's keys").json::<KeyList>(
            g,
            200,
            "Never the tokens.",
        ),
        // projects.rs
        op("post", "/v1/projects", Operator, "Create a project (admin tokens only)")
            .json_body::<NewProject>(g)
            .json::<ProjectCreated>(
                g,
                201,
                "Created, with its first operator token and agent key (shown once).",
            )
            .errors(400, &["invalid_request"]),
        op("get", "/v1/projects", Operator, "List projects").json::<ProjectList>(
            g,
            200,
            "Every project for an admin; the caller's own otherwise.",
        ),
        op("get", "/v1/projects/{id}", Operator, "A project, with the bound on grants in force")
            .json::<ProjectView>(g, 200, "Any project for an admin; only the caller's own otherwise.")
            .errors(404, &["not_found"]),
        op("patch", "/v1/projects/{id}", Operator, "Set or clear a project's bound on grants")
            .json_body::<ProjectPatch>(g)
            .json::<ProjectView>(
                g,
                200,
                "Changed, audited as `project.max_grant_secs`; live grants that would outlast a \
                 new bound now end by it. An admin for any project, an operator of `*` for its own.",
            )
            .errors(403, &["all_roles_required"])
            .errors(404, &["not_found"]),
        // roles.rs
        op("post", "/v1/roles", Project, "Add a role, optionally with an escalation rule")
            .json_body::<NewRole>(g)
            .json::<RoleRule>(g, 201, "Added.")
            .errors(400, &["invalid_request", "invalid_role", "invisible_character"])
            .errors(409, &["role_exists"]),
        op("get", "/v1/roles", Operator, "List the project's roles").json::<RoleList>(g, 200, "By name."),
        op("delete", "/v1/roles/{name}", Project, "Remove a role and its rule")
            .empty(204, "Removed.")
            .errors(404, &["not_found"]),
        // audit.rs
        op("get", "/v1/audit", Project, "Read the project's audit chain")
            .query::<Page>(g)
            .json::<AuditPage>(g, 200, "In order; verify with the core's `audit::verify`.")
            .errors(400, &["invalid_request"]),
        op("get", "/v1/audit/head", Project, "The project's audit chain head, signed").json::<AuditHead>(
            g,
            200,
            "A checkpoint signed now (or the stored one, when the chain no longer holds it): \
                 the chain read after it must hold entry `seq` with `hash`, else it was truncated \
                 or rewritten.",
        ),
        // grants.rs
        op("get", "/v1/grants", Project, "List the project's grants").json::<GrantList>(
            g,
            200,
            "Newest first, revoked and expired ones included. A grant is given with an approval \
                 (`grant` on `POST /v1/requests/{id}/resolve`).",
        ),
        op("delete", "/v1/grants/{id}", Project, "Revoke a grant")
            .empty(204, "Revoked: it approves nothing from now on.")
            .errors(404, &["not_found"]),
        op("delete", "/v1/keys/{key_id}", Project, "Revoke a key")
            .empty(204, "Revoked: its token is refused from now on.")
            .errors(404, &["not_found"])
            .errors(409, &["own_key"]),
        // webhooks.rs
        op("post", "/v1/webhooks", Project, "Add a webhook endpoint")
            .json_body::<NewWebhook>(g)
            .json::<WebhookCreated>(g, 201, "Added; the secret is shown this once.")
            .errors(400, &["invalid_url"])
            .errors(422, &["url_forbidden"]),
        op("get", "/v1/webhooks", Project, "List webhook endpoints").json::<WebhookList>(
            g,
            200,
            "Without secrets.",
        ),
        op("patch", "/v1/webhooks/{id}", Project, "Disable or re-enable a webhook endpoint")
            .json_body::<WebhookUpdate>(g)
            .json::<Webhook>(g, 200, "The endpoint as it is now.")
            .errors(404, &["not_found"]),
        op("delete", "/v1/webhooks/{id}", Project, "Remove a webhook endpoint")
            .empty(204, "Removed, with its delivery log.")
            .errors(404, &["not_found"]),
        op("get", "/v1/webhooks/{id}/deliveries", Project, "An endpoint's delivery log")
            .json::<DeliveryList>(g, 200, "Newest first."),
        op("get", "/v1/requests/{id}/deliveries", Project, "A request's deliveries")
            .json::<RequestDeliveryList>(g, 200, "Newest first: to endpoints and to its callback URL.")
            .errors(404, &["not_found"]),
        op("post", "/v1/deliveries/{id}/redeliver", Project, "Send a delivery again")
            .empty(202, "Queued for now.")
            .errors(404, &["not_found"]),
        // channels.rs
        op(
            "post",
            "/v1/channels",
            Project,
            "Add a channel (e-mail addressees or a Slack channel of a project's requests)",
        )
        .json_body::<NewChannel>(g)
        .json::<Channel>(g, 201, "Added: its addressees hear of new requests of its roles.")
        .errors(400, &["invalid_channel", "invalid_role"])
        .errors(422, &["channel_unavailable"]),
        op("get", "/v1/channels", Project, "List channels").json::<ChannelList>(g, 200, "Oldest first."),
        op("delete", "/v1/channels/{id}", Project, "Remove a channel")
            .empty(204, "Removed: its addressees hear of no more requests and decide none.")
            .errors(404, &["not_found"]),
        // agents.rs
        op("post", "/v1/observations", Key, "Post observed tool calls of an agent")
            .json_body::<Batch>(g)
            .json::<Accepted>(g, 200, "Applied; duplicates (by event id) changed nothing.")
            .errors(400, &["invalid_agent", "too_many_events", "invalid_event"])
            .errors(403, &["forbidden"])
            .errors(409, &["busy"])
            .errors(422, &["profile_full"]),
        op("get", "/v1/agents", Key, "List the project's agents").json::<AgentList>(g, 200, "By name."),
        op("get", "/v1/agents/{agent}", Key, "Read an agent with its telemetry")
            .json::<AgentDetail>(g, 200, "The agent.")
            .errors(404, &["not_found"]),
        op("get", "/v1/agents/{agent}/profile", Key, "An agent's learned profile")
            .query::<ProfileQuery>(g)
            .raw(200, "application/octet-stream", "The `HRFW` bytes `Profile::from_bytes` loads.")
            .json::<Graph>(g, 200, "With `?format=graph`: the graph for the dashboard.")
            .errors(400, &["invalid_query"])
            .errors(404, &["not_found"]),
        op("put", "/v1/agents/{agent}/mode", Project, "Set an agent's mode")
            .json_body::<NewMode>(g)
            .json::<ModeSet>(g, 200, "Set (and audited).")
            .errors(400, &["unknown_variant"])
            .errors(404, &["not_found"]),
        // sessions.rs
        op("put", "/v1/agents/{agent}/budget", Project, "Set or clear an agent's daily budget")
            .json_body::<NewBudget>(g)
            .json::<BudgetView>(g, 200, "Set (and audited), with today's spend.")
            .errors(400, &["invalid_agent", "invalid_budget"]),
        op("get", "/v1/agents/{agent}/budget", Key, "An agent's daily budget and today's spend")
            .json::<BudgetView>(g, 200, "The budget (`daily_usd` null: none).")
            .errors(400, &["invalid_agent"]),
        op("get", "/v1/agents/{agent}/sessions", Key, "List an agent's sessions")
            .query::<SessionQuery>(g)
            .json::<SessionList>(g, 200, "Newest first.")
            .errors(400, &["invalid_agent"]),
        op("post", "/v1/sessions", Key, "Start a session of an agent")
            .json_body::<NewSession>(g)
            .json::<SessionRow>(g, 201, "Started (`running`).")
            .errors(400, &["invalid_agent"]),
        op("get", "/v1/sessions/{id}", Key, "Read a session")
            .json::<SessionRow>(g, 200, "The session.")
            .errors(404, &["not_found"]),
        op("post", "/v1/sessions/{id}/end", Key, "End a running session")
            .json_body::<EndSession>(g)
            .json::<SessionRow>(g, 200, "Ended.")
            .errors(400, &["invalid_status"])
            .errors(404, &["not_found"])
            .errors(409, &["session_ended"]),
        // snapshots.rs
        op("put", "/v1/requests/{id}/snapshot", Key, "Park a state snapshot on a pending request")
            .bytes_body("Opaque bytes (the SDK's sealed envelope), at most `HANDRAIL_MAX_SNAPSHOT_BYTES`.")
            .json::<SnapshotStored>(g, 201, "Stored, replacing any previous snapshot.")
            .errors(400, &["bad_body"])
            .errors(404, &["not_found"])
            .errors(409, &["already_decided"])
            .errors(413, &["too_large"])
            .errors(507, &["quota_exceeded"]),
        op("get", "/v1/requests/{id}/snapshot", Key, "Download a request's snapshot")
            .raw(200, "application/octet-stream", "The bytes, with `x-handrail-sha256`.")
            .errors(404, &["not_found"]),
        op("post", "/v1/requests/{id}/snapshot/upload-link", Key, "An expiring upload link")
            .query::<LinkQuery>(g)
            .json::<BlobLink>(g, 200, "`PUT` the bytes there, without credentials.")
            .errors(400, LINK)
            .errors(404, &["not_found"])
            .errors(409, &["already_decided"]),
        op("post", "/v1/requests/{id}/snapshot/link", Key, "An expiring download link")
            .query::<LinkQuery>(g)
            .json::<BlobLink>(g, 200, "`GET` the bytes there, without credentials.")
            .errors(400, LINK)
            .errors(404, &["not_found"]),
        op("put", "/v1/blobs/{token}", Public, "Upload a snapshot with an upload link")
            .bytes_body("Opaque bytes, as for `PUT /v1/requests/{id}/snapshot`.")
            .json::<SnapshotStored>(g, 201, "Stored.")
            .errors(400, &["bad_body"])
            .errors(403, &["link_invalid"])
            .errors(404, &["not_found"])
            .errors(409, &["already_decided"])
            .errors(410, &["link_expired"])
            .errors(413, &["too_large"])
            .errors(507, &["quota_exceeded"])
            .errors(500, &["internal"]),
        op("get", "/v1/blobs/{token}", Public, "Download a snapshot with a download link")
            .raw(200, "application/octet-stream", "The bytes, with `x-handrail-sha256`.")
            .errors(403, &["link_invalid"])
            .errors(404, &["not_found"])
            .errors(410, &["link_expired"])
            .errors(500, &["internal"]),
    ]
}

/// The whole document (also printed by the hidden `handrail openapi`, which
/// `server/dashboard/gen-types.mjs` reads to generate the dashboard's wire types).
pub fn document() -> Value {
    let mut g = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    g.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    for op in operations(&mut g) {
        let item = paths.entry(op.path).or_insert_with(|| json!({}));
        item[op.method] = op.to_json();
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Handrail",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The control plane of `handrail serve`. Every error is \
                `{\"error\": {\"code\", \"message\"}}`; each operation lists the stable codes it \
                can answer with (also as `x-error-codes`). Unknown routes are 404 `not_found`.",
        },
        "paths": paths,
        "components": {
            "schemas": g.take_definitions(true),
            "securitySchemes": {
                "agentKey": { "type": "http", "scheme": "bearer",
                    "description": "An agent key (`hr_agent_…`): creates requests and waits on them, never decides." },
                "operatorToken": { "type": "http", "scheme": "bearer",
                    "description": "An operator token (`hr_op_…`): decides requests and manages the project." },
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::document;
    use crate::v1::Code;

    /// Codes only the compatibility layers answer with (their routes are not in this
    /// document).
    const COMPAT_ONLY: &[Code] = &[Code::MissingHeader];

    #[test]
    fn every_error_code_of_the_server_is_documented() {
        let text = document().to_string();
        let missing: Vec<&str> = Code::ALL
            .iter()
            .filter(|c| !COMPAT_ONLY.contains(c))
            .map(|c| c.as_str())
            .filter(|c| !text.contains(&format!("\"{c}\"")))
            .collect();
        assert!(missing.is_empty(), "codes the OpenAPI document does not name: {missing:?}");
    }
}
