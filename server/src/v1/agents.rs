//! Agents: the tool calls the SDKs observed (posted in batches, in the background), each
//! agent's learned firewall profile, its telemetry and its mode.
//!
//! The server keeps one profile per agent, learned from every worker's observations: each
//! batch is replayed through the core [`Firewall`] in session order, over the stored
//! profile, exactly as a worker's in-process firewall learns. A session whose calls arrive
//! in several batches keeps its last step ([`Step`]) between them, so it learns the same
//! transitions as if it had arrived at once. Event ids make a batch idempotent: a replayed
//! one changes nothing. The profile, the event ids, the session steps and the telemetry are
//! written in one transaction, guarded by the agent's version (a batch computed over a
//! profile that changed meanwhile is computed again).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use axum::extract::State;

use super::{Path, Query};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use handrail_core::firewall::{Call, Config, Effect, Firewall, Mode, Outcome, Policy, Profile, Step};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Code;
use super::{internal, parse, ApiError, ApiResult, Caller, ProjectOperator};
use crate::store::{AgentRow, AuditEvent, ObservationUpdate, Principal, ToolCount};
use crate::{now, AppState};

/// Events per batch.
pub const MAX_EVENTS: usize = 1000;
/// Longest agent, session, event id or tool name, in characters.
pub const MAX_NAME: usize = 128;
/// Largest `args` of one event (as compact JSON), `output` or `context`, in bytes.
pub const MAX_FIELD: usize = 64 << 10;
/// Largest stored profile; a batch that would grow it past this is refused.
pub const MAX_PROFILE_BYTES: usize = 16 << 20;
/// Default cap on a profile's nodes (tool + argument shape), and on the tools telemetry
/// counts; `HANDRAIL_PROFILE_MAX_NODES` overrides it.
pub const DEFAULT_MAX_NODES: usize = 10_000;
/// Attempts at applying a batch while other batches of the same agent keep winning.
const ROUNDS: usize = 16;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/observations", post(observe))
        .route("/v1/agents", get(list))
        .route("/v1/agents/{agent}", get(read))
        .route("/v1/agents/{agent}/profile", get(profile))
        .route("/v1/agents/{agent}/mode", put(set_mode))
}

fn max_nodes() -> usize {
    static CAP: OnceLock<usize> = OnceLock::new();
    *CAP.get_or_init(|| {
        std::env::var("HANDRAIL_PROFILE_MAX_NODES")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(DEFAULT_MAX_NODES)
    })
}

/// The configuration the server learns with: the core's defaults, as the SDKs use them.
fn config() -> Config {
    Config::default()
}

/// An agent name: 1–128 of `A–Z a–z 0–9 . _ - : @`.
pub(crate) fn agent_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:@".contains(&b))
}

/// 400 `invalid_agent`.
pub(crate) fn invalid_agent() -> ApiError {
    ApiError::new(Code::InvalidAgent, "agent must be 1–128 characters of A–Z a–z 0–9 . _ - : @")
}
/// An event or session id: 1–128 printable ASCII characters, no spaces.
fn id_ok(id: &str) -> bool {
    (1..=MAX_NAME).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// A batch of observed tool calls of one agent.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Batch {
    /// 1–128 characters of `A–Z a–z 0–9 . _ - : @`.
    agent: String,
    /// At most 1000; checked one by one before any is applied.
    #[schemars(with = "Vec<EventIn>")]
    events: Vec<Value>,
}

/// One observed tool call.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EventIn {
    /// Unique per agent (1–128 printable ASCII): a replayed id is a duplicate.
    id: String,
    /// The session the call belongs to (1–128 printable ASCII).
    session: String,
    /// The task's own text (at most 64 KiB).
    #[serde(default)]
    context: Option<String>,
    /// The tool called (1–128 characters).
    tool: String,
    /// Its arguments, a JSON object (at most 64 KiB).
    #[serde(default = "empty_object")]
    #[schemars(with = "serde_json::Map<String, Value>")]
    args: Value,
    /// The call's effect class, if the SDK declared one.
    #[serde(default)]
    #[schemars(with = "Option<Effect>")]
    effect: Option<String>,
    /// What became of it (`trusted` needs an operator token).
    #[schemars(with = "Outcome")]
    outcome: String,
    /// What the tool returned, as text (at most 64 KiB).
    #[serde(default)]
    output: Option<String>,
    /// When, Unix seconds (default and upper bound: the server's clock).
    #[serde(default)]
    at: Option<i64>,
    /// What the call cost, in USD.
    #[serde(default)]
    cost_usd: Option<f64>,
}

/// What a batch did.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Accepted {
    /// Events applied now.
    pub(crate) accepted: usize,
    /// Events whose id was applied before (or repeated in the batch).
    pub(crate) duplicates: usize,
}

/// The project's agents.
#[derive(Serialize, JsonSchema)]
pub(super) struct AgentList {
    /// By name.
    agents: Vec<AgentRow>,
}

/// One agent with its telemetry.
#[derive(Serialize, JsonSchema)]
pub(super) struct AgentDetail {
    #[serde(flatten)]
    agent: AgentRow,
    /// Calls and cost per tool and outcome.
    telemetry: Telemetry,
    /// Its daily budget and today's spend.
    budget: BudgetView,
}

/// Calls and cost per tool and per outcome.
#[derive(Serialize, JsonSchema)]
struct Telemetry {
    /// By tool name.
    tools: BTreeMap<String, ToolTelemetry>,
    /// Calls by outcome.
    outcomes: BTreeMap<String, u64>,
}

/// One tool's telemetry.
#[derive(Default, Serialize, JsonSchema)]
struct ToolTelemetry {
    /// Calls observed.
    calls: u64,
    /// Cost reported, in USD.
    cost_usd: f64,
    /// Calls by outcome.
    outcomes: BTreeMap<String, u64>,
}

/// An agent's mode, as set.
#[derive(Serialize, JsonSchema)]
pub(super) struct ModeSet {
    /// The agent.
    name: String,
    /// Its mode now.
    mode: Mode,
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// One checked event.
struct Event {
    id: String,
    session: String,
    context: Option<String>,
    tool: String,
    args: Value,
    effect: Option<Effect>,
    outcome: Outcome,
    outcome_name: String,
    output: Option<String>,
    at: i64,
    cost_usd: Option<f64>,
}

fn bad_event(index: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(Code::InvalidEvent, format!("events[{index}]: {message}"))
}

/// Checks one event; `now` is the server's clock (events cannot be dated after it).
/// `vouches`: the caller holds the project-wide powers, the only ones that may post `trusted`.
fn check_event(index: usize, raw: Value, vouches: bool, now: i64) -> ApiResult<Event> {
    let e: EventIn = serde_json::from_value(raw).map_err(|err| bad_event(index, err))?;
    if !id_ok(&e.id) {
        return Err(bad_event(index, "id must be 1–128 printable ASCII characters"));
    }
    if !id_ok(&e.session) {
        return Err(bad_event(index, "session must be 1–128 printable ASCII characters"));
    }
    if e.tool.is_empty() || e.tool.chars().count() > MAX_NAME || e.tool.chars().any(char::is_control) {
        return Err(bad_event(index, "tool must be 1–128 characters, none of them control characters"));
    }
    if !e.args.is_object() {
        return Err(bad_event(index, "args must be a JSON object"));
    }
    // The whole body went through the core's strict parser already (duplicate keys, lone
    // surrogates, unsafe integers); what is left to bound is the size.
    let args_len = serde_json::to_vec(&e.args).map_err(internal)?.len();
    if args_len > MAX_FIELD {
        return Err(bad_event(index, format!("args take {args_len} bytes; the limit is {MAX_FIELD}")));
    }
    for (name, text) in [("output", &e.output), ("context", &e.context)] {
        if let Some(len) = text.as_ref().map(String::len).filter(|&l| l > MAX_FIELD) {
            return Err(bad_event(index, format!("{name} takes {len} bytes; the limit is {MAX_FIELD}")));
        }
    }
    let outcome: Outcome = e.outcome.parse().map_err(|err| bad_event(index, err))?;
    if outcome == Outcome::Trusted && !vouches {
        // Trusted history teaches values without a cap: an agent must not vouch for itself,
        // nor a role-limited operator for the whole project's agents.
        return Err(ApiError::new(
            Code::Forbidden,
            format!("events[{index}]: only an operator token of role \"*\" may post trusted history"),
        ));
    }
    let outcome_name = match serde_json::to_value(outcome) {
        Ok(Value::String(name)) => name,
        _ => return Err(internal("outcome without a wire name")),
    };
    let effect =
        e.effect.as_deref().map(str::parse::<Effect>).transpose().map_err(|err| bad_event(index, err))?;
    if let Some(cost) = e.cost_usd.filter(|c| !c.is_finite() || *c < 0.0) {
        return Err(bad_event(index, format!("cost_usd must be a finite number ≥ 0, not {cost}")));
    }
    Ok(Event {
        id: e.id,
        session: e.session,
        context: e.context,
        tool: e.tool,
        args: e.args,
        effect,
        outcome,
        outcome_name,
        output: e.output,
        // The server's clock where the client gave none, and never later than it.
        at: e.at.unwrap_or(now).min(now),
        cost_usd: e.cost_usd,
    })
}

/// `POST /v1/observations`: applies a batch; `{"accepted", "duplicates"}`.
async fn observe(
    State(state): State<AppState>,
    Caller(who): Caller,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<Accepted>> {
    let batch: Batch = parse(&bytes)?;
    Ok(Json(ingest(&state, &who, &batch.agent, batch.events).await?))
}

/// Checks and applies a batch of events in the `POST /v1/observations` format for `agent`:
/// what that route does, and what the compatibility layers feed their telemetry through.
pub(crate) async fn ingest(
    state: &AppState,
    who: &Principal,
    agent: &str,
    events: Vec<Value>,
) -> ApiResult<Accepted> {
    let batch = Batch { agent: agent.to_string(), events };
    if !agent_name(&batch.agent) {
        return Err(ApiError::new(
            Code::InvalidAgent,
            "agent must be 1–128 characters of A–Z a–z 0–9 . _ - : @",
        ));
    }
    if batch.events.len() > MAX_EVENTS {
        return Err(ApiError::new(
            Code::TooManyEvents,
            format!("a batch holds at most {MAX_EVENTS} events, not {}", batch.events.len()),
        ));
    }
    let now = now();
    let events = batch
        .events
        .into_iter()
        .enumerate()
        .map(|(i, raw)| check_event(i, raw, super::authority::is_project_operator(who), now))
        .collect::<ApiResult<Vec<Event>>>()?;
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let mut sessions: Vec<&str> = Vec::new();
    for e in &events {
        if !sessions.contains(&e.session.as_str()) {
            sessions.push(&e.session);
        }
    }
    for _ in 0..ROUNDS {
        let snap = state.store.agent_snapshot(&who.project, &batch.agent, &ids, &sessions)?;
        // The first occurrence of an id not applied before is new; everything else repeats.
        let mut taken: HashSet<&str> = HashSet::new();
        let fresh: Vec<&Event> =
            events.iter().filter(|e| !snap.seen.contains(&e.id) && taken.insert(&e.id)).collect();
        let duplicates = events.len() - fresh.len();
        if fresh.is_empty() {
            return Ok(Accepted { accepted: 0, duplicates });
        }
        let profile = match &snap.profile {
            Some(bytes) => Profile::from_bytes(bytes).map_err(internal)?,
            None => Profile::new(),
        };
        let learned = learn(profile, &fresh, &snap.sessions)?;
        let mut tools: HashSet<&str> = snap.tools.iter().map(String::as_str).collect();
        tools.extend(fresh.iter().map(|e| e.tool.as_str()));
        let cap = max_nodes();
        if learned.firewall.profile.node_count() > cap || tools.len() > cap {
            return Err(profile_full(format!(
                "this batch would take the profile of {} past {cap} nodes or tools",
                batch.agent
            )));
        }
        let bytes = learned.firewall.profile.to_bytes();
        if bytes.len() > MAX_PROFILE_BYTES {
            return Err(profile_full(format!(
                "this batch would take the profile of {} past {MAX_PROFILE_BYTES} bytes",
                batch.agent
            )));
        }
        let update = ObservationUpdate {
            expected_version: snap.version,
            profile: &bytes,
            readiness: serde_json::to_value(learned.firewall.readiness()).map_err(internal)?,
            nodes: learned.firewall.profile.node_count() as u64,
            edges: learned.firewall.profile.edge_count() as u64,
            events: fresh.iter().map(|e| (e.id.as_str(), e.session.as_str(), e.at)).collect(),
            sessions: learned.sessions,
            counts: telemetry(&fresh),
            now,
        };
        if state.store.commit_observations(&who.project, &batch.agent, &update)? {
            // Trusted history teaches values without a cap: who vouched is on the record.
            let trusted = fresh.iter().filter(|e| e.outcome == Outcome::Trusted).count();
            if trusted > 0 {
                let audit = AuditEvent {
                    at: now,
                    actor: &who.key_id,
                    event: "agent.trusted_history",
                    data: json!({ "agent": batch.agent, "events": trusted }),
                };
                state.store.append_audit(&who.project, &batch.agent, audit)?;
            }
            return Ok(Accepted { accepted: fresh.len(), duplicates });
        }
        tokio::task::yield_now().await; // another batch of this agent won: compute again
    }
    Err(ApiError::new(Code::Busy, "other batches of this agent keep arriving at the same moment; retry"))
}

fn profile_full(message: String) -> ApiError {
    ApiError::new(Code::ProfileFull, message)
}

struct Learned<'a> {
    firewall: Firewall,
    /// (session, its last step as JSON, whether it is new).
    sessions: Vec<(&'a str, String, bool)>,
}

/// Replays `events` through the core firewall over `profile`, session by session (in the
/// order each first appears in the batch), each continuing from its stored last step.
fn learn<'a>(
    profile: Profile,
    events: &[&'a Event],
    stored: &HashMap<String, String>,
) -> ApiResult<Learned<'a>> {
    let mut firewall = Firewall::new(Policy::default(), config());
    firewall.profile = profile;
    let mut order: Vec<&'a str> = Vec::new();
    let mut by_session: HashMap<&'a str, Vec<&'a Event>> = HashMap::new();
    for e in events {
        let list = by_session.entry(&e.session).or_default();
        if list.is_empty() {
            order.push(&e.session);
        }
        list.push(e);
    }
    let mut sessions = Vec::with_capacity(order.len());
    for id in order {
        let list = &by_session[id];
        let context = list.iter().find_map(|e| e.context.as_deref()).unwrap_or("");
        let mut session = firewall.begin(id, context);
        let known = stored.get(id);
        if let Some(state) = known {
            let step: Step = serde_json::from_str(state).map_err(internal)?;
            session.resume_after(step);
        }
        for e in list {
            let call = Call { tool: &e.tool, args: &e.args, effect: e.effect, cost_usd: e.cost_usd };
            firewall.record(&mut session, &call, e.outcome, e.output.as_deref(), e.at);
        }
        let step = session.last_step().ok_or_else(|| internal("a session without a step"))?;
        sessions.push((id, serde_json::to_string(&step).map_err(internal)?, known.is_none()));
    }
    Ok(Learned { firewall, sessions })
}

/// Telemetry increments of a batch: calls and cost per tool and outcome.
fn telemetry(events: &[&Event]) -> Vec<ToolCount> {
    let mut counts: BTreeMap<(&str, &str), (u64, f64)> = BTreeMap::new();
    for e in events {
        let slot = counts.entry((&e.tool, &e.outcome_name)).or_default();
        slot.0 += 1;
        slot.1 += e.cost_usd.unwrap_or(0.0);
    }
    counts
        .into_iter()
        .map(|((tool, outcome), (calls, cost_usd))| ToolCount {
            tool: tool.to_string(),
            outcome: outcome.to_string(),
            calls,
            cost_usd,
        })
        .collect()
}

fn no_agent() -> ApiError {
    ApiError::new(Code::NotFound, "no such agent")
}

/// `GET /v1/agents`: the project's agents.
async fn list(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<AgentList>> {
    Ok(Json(AgentList { agents: state.store.agents(&who.project)? }))
}

/// `GET /v1/agents/{agent}`: one agent with its telemetry.
async fn read(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
) -> ApiResult<Json<AgentDetail>> {
    if !agent_name(&agent) {
        return Err(no_agent());
    }
    let (row, counts) = state.store.agent(&who.project, &agent)?.ok_or_else(no_agent)?;
    let mut tools: BTreeMap<String, ToolTelemetry> = BTreeMap::new();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for c in counts {
        let tool = tools.entry(c.tool).or_default();
        tool.calls += c.calls;
        tool.cost_usd += c.cost_usd;
        tool.outcomes.insert(c.outcome.clone(), c.calls);
        *outcomes.entry(c.outcome).or_default() += c.calls;
    }
    let budget = budget_view(&state, &who.project, &agent)?;
    Ok(Json(AgentDetail { agent: row, telemetry: Telemetry { tools, outcomes }, budget }))
}

/// `GET /v1/agents/{agent}/profile` query.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileQuery {
    /// `bytes` (default: the `HRFW` profile) or `graph` (the dashboard's JSON).
    #[serde(default)]
    #[schemars(extend("enum" = ["bytes", "graph"]))]
    format: Option<String>,
}

/// `GET /v1/agents/{agent}/profile`: the `HRFW` bytes, or `?format=graph` for the dashboard.
async fn profile(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(agent): Path<String>,
    Query(query): Query<ProfileQuery>,
) -> ApiResult<Response> {
    if !agent_name(&agent) {
        return Err(no_agent());
    }
    let bytes = state.store.agent_profile(&who.project, &agent)?.ok_or_else(no_agent)?;
    match query.format.as_deref() {
        None | Some("bytes") => Ok(([("content-type", "application/octet-stream")], bytes).into_response()),
        Some("graph") => {
            let profile = Profile::from_bytes(&bytes).map_err(internal)?;
            Ok(Json(profile.graph(now(), &config())).into_response())
        }
        Some(_) => Err(ApiError::new(Code::InvalidQuery, "format is bytes or graph")),
    }
}

/// The mode to set.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewMode {
    /// `shadow` (verdicts reported, never enforced) or `enforce`.
    #[schemars(with = "Mode")]
    mode: String,
}

/// `PUT /v1/agents/{agent}/mode` (operators): shadow or enforce, audited.
async fn set_mode(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(agent): Path<String>,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<ModeSet>> {
    let new: NewMode = parse(&bytes)?;
    let mode: Mode = new.mode.parse()?;
    if !agent_name(&agent) {
        return Err(no_agent());
    }
    let audit = AuditEvent {
        at: now(),
        actor: &who.key_id,
        event: "agent.mode",
        data: json!({ "agent": agent, "mode": mode.as_str() }),
    };
    if !state.store.set_agent_mode(&who.project, &agent, mode.as_str(), audit)? {
        return Err(no_agent());
    }
    Ok(Json(ModeSet { name: agent, mode }))
}

/// An agent's daily budget and today's spend.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct BudgetView {
    /// The agent.
    pub(crate) agent: String,
    /// The daily limit in USD; null when none is set.
    pub(crate) daily_usd: Option<f64>,
    /// Cost recorded today (UTC day of the server's clock), USD.
    pub(crate) spent_today_usd: f64,
    /// What is left today, never below 0; null without a limit.
    pub(crate) remaining_usd: Option<f64>,
}

/// The budget and today's spend of `agent` in `project`.
pub(crate) fn budget_view(state: &AppState, project: &str, agent: &str) -> ApiResult<BudgetView> {
    let b = state.store.budget(project, agent, now().div_euclid(86_400))?;
    Ok(BudgetView {
        agent: agent.to_string(),
        daily_usd: b.daily_usd,
        spent_today_usd: b.spent_usd,
        remaining_usd: b.daily_usd.map(|limit| (limit - b.spent_usd).max(0.0)),
    })
}
