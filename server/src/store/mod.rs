//! Storage: the [`Store`] trait the handlers use. [`Sqlite`] (one file, one process) and
//! [`Postgres`] (one database, several replicas) implement it; no handler knows which.

mod postgres;
mod sqlite;

use handrail_core::audit::Entry;
use handrail_core::idempotency::Execution;
use handrail_core::request::{Decision, RequestSummary, Status};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Creates requests and waits on them; never decides.
    Agent,
    /// Decides requests.
    Operator,
}

impl Role {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Operator => "operator",
        }
    }
}

/// Who a bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id (its public name; the token itself is never stored).
    pub key_id: String,
    /// The project it belongs to.
    pub project: String,
    /// Agent or operator.
    pub role: Role,
    /// For an operator, the request roles it may decide (`*`: any). Empty for agents.
    pub roles: Vec<String>,
    /// Whether the key administers the server (creates and lists projects).
    pub admin: bool,
}

impl Principal {
    /// Whether this key may decide a request restricted to `role` (None: unrestricted).
    pub fn may_decide(&self, role: Option<&str>) -> bool {
        self.role == Role::Operator
            && role.is_none_or(|r| self.roles.iter().any(|mine| mine == ANY_ROLE || mine == r))
    }
}

/// The operator role that decides requests of every role.
pub const ANY_ROLE: &str = "*";

/// A key to store: its hash and what it may do (the token itself is never stored).
#[derive(Debug, Clone)]
pub struct NewKeyRow {
    pub key_id: String,
    pub token_hash: String,
    pub role: Role,
    /// Request roles an operator may decide (see [`Principal::roles`]).
    pub roles: Vec<String>,
    pub admin: bool,
}

/// A key as listed: never its token.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct KeyInfo {
    /// The key's public name, as decisions and the audit log show it.
    pub key_id: String,
    /// What it may do.
    pub role: Role,
    /// An operator's roles (`*`: any); absent for agent keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Whether an operator may administer projects.
    pub admin: bool,
    /// When it was made, Unix seconds.
    pub created_at: i64,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub created_at: i64,
    /// Most seconds a grant given in this project may stand, set by an operator of `*` or an
    /// admin; `null`: only the server-wide bound (`HANDRAIL_MAX_GRANT_SECS`) applies. The bound
    /// in force is the smaller of the two.
    #[schemars(schema_with = "secs_or_null")]
    pub max_grant_secs: Option<u64>,
}

/// The schema of a project's `max_grant_secs`: always present, seconds or `null`.
fn secs_or_null(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": ["integer", "null"], "minimum": 1 })
}

/// A role of a project, with its escalation rule if it has one: a request of this role
/// still pending `escalate_after_secs` after it entered the role moves to `escalate_to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct RoleRule {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalate_after_secs: Option<u64>,
    pub created_at: i64,
}

pub use handrail_core::request::Escalation;

/// What [`Store::escalate`] should do to a pending request.
#[derive(Debug, Clone, Copy)]
pub struct EscalationStep<'a> {
    /// The role it must still have (None: none).
    pub from: Option<&'a str>,
    /// The role to give it (None: keep its role).
    pub to: Option<&'a str>,
    /// Whom the escalation is for (see [`Escalation::target`]).
    pub target: Option<&'a str>,
    /// It escalates only if it moved fewer times than this.
    pub max_hops: usize,
    /// It escalates only if it never escalated before (a request's own escalation is once).
    pub first_only: bool,
}

/// A delivery due to be sent.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub url: String,
    /// The endpoint's Standard Webhooks secret; None for a request's callback URL.
    pub secret: Option<String>,
    pub body: String,
    pub attempts: u32,
    /// When it was queued (a reminder: when it is due), Unix milliseconds.
    pub created_ms: i64,
    /// Whether `url` is a request's own callback URL (an agent named it) rather than an
    /// endpoint an operator registered.
    pub callback: bool,
    /// The endpoint it goes to; None for a callback URL.
    pub webhook: Option<String>,
}

impl Delivery {
    /// What the worker isolates deliveries by: the endpoint, or the callback URL.
    pub fn endpoint_key(&self) -> String {
        match &self.webhook {
            Some(id) => id.clone(),
            None => format!("url:{}", self.url),
        }
    }
}

/// How many deliveries [`Deliveries::claim_deliveries`] may hand out, per endpoint.
#[derive(Debug, Clone, Default)]
pub struct Room {
    /// At most this many per endpoint not listed in `endpoints`.
    pub per_endpoint: usize,
    /// The endpoints (by [`Delivery::endpoint_key`]) that have less room, 0 for none.
    pub endpoints: std::collections::HashMap<String, usize>,
    /// Whether deliveries to registered endpoints may be handed out.
    pub webhooks: bool,
    /// Whether deliveries to callback URLs may be handed out.
    pub callbacks: bool,
}

/// A project's newest signed audit checkpoint (core `audit::sign_checkpoint`), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The project.
    pub project: String,
    /// The entry it vouches for.
    pub seq: u64,
    /// That entry's hash.
    pub hash: String,
    /// The compact JWS.
    pub token: String,
}

/// A stored request, as the API returns it: the core's one wire model.
pub use handrail_core::request::Request as RequestRow;

/// Which requests a listing returns (see [`Store::list`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFilter<'a> {
    /// Only this status.
    pub status: Option<&'a str>,
    /// Only requests restricted to this role.
    pub role: Option<&'a str>,
    /// Only requests that are unrestricted or restricted to one of these roles (None: any):
    /// what a role-limited operator may read.
    pub readable_roles: Option<&'a [String]>,
    /// Only requests this key created (what an agent key may read).
    pub created_by: Option<&'a str>,
    /// At most this many, newest first.
    pub limit: usize,
}

/// Whether a decision's actor names a person: an operator key, an addressee of an e-mail
/// channel (`email:ADDRESS`) or a member of a Slack channel (`slack:USER`); not `system`
/// (expiry), not a self-declaration an earlier version stored (`self-declared:KEY`).
pub fn is_person(actor: &str) -> bool {
    actor != "system" && (!actor.contains(':') || channel_actor(actor).is_some())
}

/// The prefix of a decision's actor that names a Slack channel's member.
pub const SLACK_ACTOR: &str = "slack:";

/// The Slack user id of a `slack:USER` actor (None for any other actor).
pub fn slack_actor(actor: &str) -> Option<&str> {
    actor.strip_prefix(SLACK_ACTOR).filter(|u| is_slack_user_id(u))
}

/// Longest member display name, in characters.
const MAX_NAME_CHARS: usize = 80;

/// Checks a Slack conversation id: a public (`C…`) or private (`G…`) channel, 9 to 21
/// upper-case letters and digits.
pub(crate) fn check_slack_channel(text: &str) -> Result<(), &'static str> {
    if slack_id(text, b"CG") {
        Ok(())
    } else {
        Err("channel is a Slack channel id: C or G, then upper-case letters and digits (9 to 21 in all)")
    }
}

/// Checks a Slack user id (`U…`, or `W…` on Enterprise Grid).
pub(crate) fn check_slack_user(text: &str) -> Result<(), &'static str> {
    if is_slack_user_id(text) {
        Ok(())
    } else {
        Err("slack_user is a Slack user id: U or W, then upper-case letters and digits (9 to 21 in all)")
    }
}

fn slack_id(text: &str, first: &[u8]) -> bool {
    let bytes = text.as_bytes();
    (9..=21).contains(&bytes.len())
        && first.contains(&bytes[0])
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Checks a member's display name: 1 to 80 characters, no control or invisible characters
/// (it is shown to people as the decider's name).
pub(crate) fn check_member_name(text: &str) -> Result<(), &'static str> {
    let count = text.chars().count();
    if count == 0 || count > MAX_NAME_CHARS || text.trim() != text {
        return Err("name is 1 to 80 characters, without leading or trailing spaces");
    }
    if text.chars().any(|c| c.is_control()) || handrail_core::request::reveal_invisible(text) != text {
        return Err("name holds control or invisible characters");
    }
    Ok(())
}

/// Whether `text` is a Slack user id: `U…` (or `W…` on Enterprise Grid), 9 to 21 upper-case
/// letters and digits in all.
pub fn is_slack_user_id(text: &str) -> bool {
    slack_id(text, b"UW")
}

/// The channel kind and the addressee (address or Slack user id) of an actor that decides
/// through a channel; None for a key or `system`.
pub fn channel_actor(actor: &str) -> Option<(ChannelKind, &str)> {
    email_actor(actor)
        .map(|a| (ChannelKind::Email, a))
        .or_else(|| slack_actor(actor).map(|u| (ChannelKind::Slack, u)))
}

/// The prefix of a decision's actor that names an e-mail channel's addressee.
pub const EMAIL_ACTOR: &str = "email:";

/// The address of an `email:ADDRESS` actor (None for any other actor).
pub fn email_actor(actor: &str) -> Option<&str> {
    actor.strip_prefix(EMAIL_ACTOR).filter(|a| !a.is_empty() && a.contains('@'))
}

/// The one rule every store applies before it writes a decision: a request reaches
/// `APPROVED` or `APPROVED_WITH_MODIFICATIONS` only by a decision that carries a proof and
/// names its decider, never `system` nor a self-declaration. For such a decision the answer
/// is the decider: a key id, which the store must find as an operator key of the request's
/// project, or `email:ADDRESS` / `slack:USER`, whose address (user) the store must find on an
/// e-mail (Slack) channel of the project that hears the request's role
/// ([`Channels::addressee`], [`Channels::slack_member`]) — all inside the transaction that
/// writes it; for any other decision, None.
pub fn approving_actor(status: Status, decision: &Decision) -> StoreResult<Option<&str>> {
    if decision.status != status {
        return Err(StoreError("decision refused: its status differs from the stored one".into()));
    }
    if !status.allows_action() {
        return Ok(None);
    }
    let proof = decision.proof.as_deref().filter(|p| !p.is_empty());
    let actor = decision.actor.as_deref();
    match (proof, actor) {
        (Some(_), Some(actor)) if is_person(actor) => Ok(Some(actor)),
        _ => Err(StoreError("approval refused: only an operator's signed decision approves".into())),
    }
}

/// A storage failure; its detail goes to the log, never to a client.
#[derive(Debug)]
pub struct StoreError(pub String);

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Result of storage calls.
pub type StoreResult<T> = Result<T, StoreError>;

/// An audit event, appended in the same transaction as the change it records.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// When.
    pub at: i64,
    /// Who (key id or `system`).
    pub actor: &'a str,
    /// What happened.
    pub event: &'a str,
    /// Details.
    pub data: Value,
}

/// A webhook endpoint (its secret is shown once, at creation).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    /// The request roles whose events it receives (unrestricted requests always); absent: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    pub created_at: i64,
    /// Nothing is sent to it: it failed every attempt for `HANDRAIL_WEBHOOK_DISABLE_AFTER_SECS`
    /// (or an operator disabled it). Its deliveries wait; updating it with
    /// `{"disabled": false}` sends them again.
    pub disabled: bool,
}

/// An idempotency key claimed by a create (see [`Store::insert_request`]).
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The execution as it will be stored: committed, with the create's response.
    pub committed: &'a Execution,
    /// What the caller read under the key (None: nothing).
    pub previous: Option<&'a Execution>,
}

/// What the store holds of an agent before a batch of observations is applied (see
/// [`Store::agent_snapshot`]).
#[derive(Debug, Clone, Default)]
pub struct AgentSnapshot {
    /// Bumped by every applied batch; 0 when the agent has none yet.
    pub version: i64,
    /// The profile's `HRFW` bytes, if any.
    pub profile: Option<Vec<u8>>,
    /// Of the event ids asked about, those already applied.
    pub seen: std::collections::HashSet<String>,
    /// Of the sessions asked about, the state kept for each known one (opaque JSON text).
    pub sessions: std::collections::HashMap<String, String>,
    /// Tools the agent's telemetry already counts.
    pub tools: std::collections::BTreeSet<String>,
}

/// Calls of one tool with one outcome, as telemetry counts them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolCount {
    /// Tool name.
    pub tool: String,
    /// Outcome wire name (`ran`, `approved`, …).
    pub outcome: String,
    /// Calls.
    pub calls: u64,
    /// Cost reported by those calls, in USD.
    pub cost_usd: f64,
}

/// A batch of observations, applied in one transaction by [`Store::commit_observations`].
#[derive(Debug, Clone)]
pub struct ObservationUpdate<'a> {
    /// The [`AgentSnapshot::version`] the update was computed from.
    pub expected_version: i64,
    /// The new profile bytes.
    pub profile: &'a [u8],
    /// The profile's readiness, as JSON.
    pub readiness: Value,
    /// Nodes of the new profile.
    pub nodes: u64,
    /// Node-level edges of the new profile.
    pub edges: u64,
    /// Applied event ids with their session and time.
    pub events: Vec<(&'a str, &'a str, i64)>,
    /// Each session's state after the batch: (session, state, new).
    pub sessions: Vec<(&'a str, String, bool)>,
    /// Telemetry increments.
    pub counts: Vec<ToolCount>,
    /// The server's clock.
    pub now: i64,
}

/// An agent as the API lists it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct AgentRow {
    /// Its name in the project.
    pub name: String,
    /// `shadow` or `enforce`.
    #[schemars(with = "handrail_core::firewall::Mode")]
    pub mode: String,
    /// The profile's readiness, as JSON.
    #[schemars(with = "handrail_core::firewall::Readiness")]
    pub readiness: Value,
    /// Nodes of the profile.
    pub nodes: u64,
    /// Node-level edges of the profile.
    pub edges: u64,
    /// Calls observed.
    pub calls: u64,
    /// Sessions observed.
    pub sessions: u64,
    /// Cost reported, in USD.
    pub cost_usd: f64,
    /// First batch received (server clock).
    pub first_seen: i64,
    /// Last batch received (server clock).
    pub last_seen: i64,
}

/// A stored state snapshot: opaque bytes (the SDK's envelope) attached to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Snapshot {
    /// Length in bytes.
    pub size: u64,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// When it was stored (Unix seconds).
    pub created_at: i64,
}

/// Where an upload is written before it becomes a request's snapshot: nothing written here
/// is visible until [`Store::commit_snapshot`]. Dropping an unfinished sink discards it.
pub trait BlobSink: Send {
    /// Appends bytes.
    fn write(&mut self, bytes: &[u8]) -> StoreResult<()>;
    /// Makes what was written durable and returns its storage key for
    /// [`Store::commit_snapshot`].
    fn finish(self: Box<Self>) -> StoreResult<String>;
}

/// What [`Store::commit_snapshot`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotCommit {
    /// Stored (replacing any previous snapshot of the request).
    Stored,
    /// No such request in this project; the staged blob was discarded.
    NotFound,
    /// The request is no longer pending; the staged blob was discarded.
    NotPending,
}

/// An agent's daily budget (set by an operator) and what it spent on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct BudgetState {
    /// The daily limit in USD, if one is set.
    pub daily_usd: Option<f64>,
    /// Cost recorded that day (observations' `cost_usd`, priced events a compatibility layer reports), USD.
    pub spent_usd: f64,
}

/// One delivery of an event to a webhook endpoint, as its delivery log lists it.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DeliveryEntry {
    /// The delivery's id (its `webhook-id` header).
    pub id: String,
    /// The event it carries (`request.created`, …).
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// The last attempt's outcome; none before the first attempt.
    pub last_outcome: Option<String>,
    /// When it was queued, Unix milliseconds.
    pub created_ms: i64,
    /// When it last changed, Unix milliseconds.
    pub updated_ms: i64,
}

/// Where a request's delivery goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryTarget {
    /// A webhook endpoint of the project.
    Webhook,
    /// The request's own callback URL.
    Callback,
}

/// One delivery of a request's events: to an endpoint or to its callback URL.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RequestDeliveryEntry {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: DeliveryEntry,
    /// Where it goes.
    pub target: DeliveryTarget,
    /// The endpoint (`wh_…`); null for the callback URL.
    pub webhook: Option<String>,
}

/// A run of an agent, from start to end.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct SessionRow {
    /// `ses_…`.
    pub id: String,
    /// The agent it belongs to.
    pub agent: String,
    /// `running`, `success` or `error`.
    #[schemars(extend("enum" = ["running", "success", "error"]))]
    pub status: String,
    /// What went wrong, when it ended with `error`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, once ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Events recorded in it.
    pub events: u64,
    /// Their cost, USD.
    pub cost_usd: f64,
}

/// Everything the handlers need from storage, one trait per aggregate (each store
/// implements them all).
pub trait Store:
    Projects
    + Requests
    + Grants
    + AuditLog
    + Deliveries
    + Channels
    + Agents
    + Snapshots
    + Checkpoints
    + Housekeeping
    + Shared
{
}

impl<
        T: Projects
            + Requests
            + Grants
            + AuditLog
            + Deliveries
            + Channels
            + Agents
            + Snapshots
            + Checkpoints
            + Housekeeping
            + Shared,
    > Store for T
{
}

/// Whether a store is shared with other replicas, and what they change.
pub trait Shared {
    /// The changes other replicas made, for a store that several replicas share (None:
    /// this process is the only writer). Taken once: a second call answers None.
    fn changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<Change>> {
        None
    }
    /// Tells the other replicas of a change that is not a request's (a revoked key, an
    /// endpoint enabled again); nothing when there are none. Best effort: the change itself
    /// is in the store already, this only hurries what each replica holds open.
    fn tell(&self, change: &Change) {
        let _ = change;
    }
}

/// A change another replica made (see [`Shared::changes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Request `id` of `project` changed: `event` is `request.created`, `request.resolved`,
    /// `request.expired`, … as the live views name it.
    Request { project: String, id: String, event: String },
    /// A key was revoked: open streams and long-polls check their key again.
    Revoked,
    /// A webhook endpoint was enabled again: the delivery worker forgets its failures.
    EndpointsChanged,
    /// The replica lost its connection for a while: changes may have been missed.
    Missed,
}

/// What a channel is: how its notifications travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// E-mail over the server's SMTP relay (`HANDRAIL_SMTP_URL`).
    Email,
    /// A Slack channel, through the server's Slack app (`HANDRAIL_SLACK_BOT_TOKEN`).
    Slack,
}

impl ChannelKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Slack => "slack",
        }
    }

    /// The kind of a stored `kind` column.
    pub(crate) fn parse(text: &str) -> Option<ChannelKind> {
        match text {
            "email" => Some(ChannelKind::Email),
            "slack" => Some(ChannelKind::Slack),
            _ => None,
        }
    }
}

/// A channel: people a project's requests are announced to, where they already are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Channel {
    /// `ch_…`.
    pub id: String,
    /// How it is reached.
    pub kind: ChannelKind,
    /// For `email`: the addressees (each one may decide the requests it hears of).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// For `slack`: the Slack channel id (`C…` or `G…`) messages are posted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// For `slack`: the Slack users who may decide through this channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<SlackMember>,
    /// The request roles it hears of (unrestricted requests always); absent: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// A reminder goes out this many seconds after a request was announced here, if it is
    /// still pending in a role this channel hears and its deadline is later; absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_after_secs: Option<u64>,
    /// Unix seconds.
    pub created_at: i64,
}

impl Channel {
    /// Whether it hears requests of `role` (None: unrestricted requests, which every channel
    /// hears), as the stores' queries select channels.
    pub fn hears(&self, role: Option<&str>) -> bool {
        self.roles.is_empty() || role.is_none_or(|r| self.roles.iter().any(|mine| mine == r))
    }

    /// Whether it reaches `address` (an e-mail addressee, or the Slack channel id).
    pub fn reaches(&self, kind: ChannelKind, address: &str) -> bool {
        self.kind == kind
            && match kind {
                ChannelKind::Email => self.to.iter().any(|a| a == address),
                ChannelKind::Slack => self.channel.as_deref() == Some(address),
            }
    }
}

/// The event of a reminder notification (see [`Channel::remind_after_secs`]).
pub const REMINDER: &str = "request.reminder";

/// A per-request choice among the channels the operator configured (LoopPause's
/// `recipients`): an e-mail addressee or a Slack channel id. It never adds an addressee
/// and never names who may decide; see [`narrow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipient {
    pub kind: ChannelKind,
    /// An address (lower-cased) or a Slack channel id.
    pub address: String,
}

/// One addressee a notification of a request goes to, as the channels of its role give it:
/// an e-mail address or a Slack channel id, with the shortest reminder delay of the
/// channels that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) kind: ChannelKind,
    pub(crate) address: String,
    pub(crate) remind_after_secs: Option<i64>,
}

/// The rule of a request's recipients, applied each time it is announced (created, or
/// escalated into another role): of the `targets` the channels of its role give, only
/// those a recipient names when at least one does; otherwise all of them, as without
/// recipients. A recipient that names no target adds nothing.
pub(crate) fn narrow(targets: Vec<Target>, recipients: &[Recipient]) -> Vec<Target> {
    let named = |t: &Target| recipients.iter().any(|r| r.kind == t.kind && r.address == t.address);
    if targets.iter().any(named) {
        targets.into_iter().filter(named).collect()
    } else {
        targets
    }
}

/// When a reminder of a request announced at `at` (Unix seconds) is due for a target
/// reminding after `remind_after_secs`: None when the request's deadline comes first (no
/// reminder is queued at all).
pub(crate) fn reminder_at(at: i64, remind_after_secs: Option<i64>, expires_at: i64) -> Option<i64> {
    remind_after_secs.map(|r| at.saturating_add(r)).filter(|&due| due < expires_at)
}

/// A Slack user who may decide the requests a Slack channel hears of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlackMember {
    /// The Slack user id (`U…` or `W…`).
    pub slack_user: String,
    /// The name shown as the decider.
    pub name: String,
}

/// What a channel reaches, as both stores keep it (a JSON column): e-mail's `{"to": […]}`,
/// Slack's `{"channel": "C…", "members": […]}`.
#[derive(Serialize, Deserialize)]
pub(crate) struct ChannelTarget {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) channel: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) members: Vec<SlackMember>,
}

impl ChannelTarget {
    pub(crate) fn of(c: &Channel) -> ChannelTarget {
        ChannelTarget { to: c.to.clone(), channel: c.channel.clone(), members: c.members.clone() }
    }
}

/// One notification due to be sent: a request announced to one addressee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub project: String,
    pub request: String,
    pub kind: ChannelKind,
    /// Whom to (for `email`, an address; for `slack`, the Slack channel id).
    pub address: String,
    /// What happened (`request.created`, `request.escalated`, [`REMINDER`]; for `slack` also
    /// `request.decided`, which updates a posted message).
    pub event: String,
    /// For a `slack` `request.decided`: the message to update (channel id, `ts`).
    pub posted: Option<(String, String)>,
    /// For a [`REMINDER`]: the role the request had when it was queued (it is sent only if
    /// the request still has it).
    pub role: Option<String>,
    pub attempts: u32,
    /// When it was queued (a reminder: when it is due), Unix milliseconds.
    pub created_ms: i64,
}

/// Channels, and the durable outbox of their notifications. Notifications are queued by
/// [`Requests::insert_request`] and [`Requests::escalate`] in the transaction that writes the
/// request (one per addressee of each channel that hears the request's role, as its
/// recipients [`narrow`] them), each with its reminder when the channel has one and the
/// request's deadline is later ([`reminder_at`]).
pub trait Channels: Send + Sync {
    /// Adds a channel and appends the audit entry, in one transaction.
    fn add_channel(&self, project: &str, channel: &Channel, audit: AuditEvent<'_>) -> StoreResult<()>;
    /// A project's channels, oldest first.
    fn channels(&self, project: &str) -> StoreResult<Vec<Channel>>;
    /// Removes a channel and appends the audit entry; false when the project has none of that id.
    fn delete_channel(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool>;
    /// Whether `address` is on an e-mail channel of `project` that hears requests of `role`
    /// (None: unrestricted requests, which every channel hears).
    fn addressee(&self, project: &str, role: Option<&str>, address: &str) -> StoreResult<bool>;
    /// The display name `user` has on a Slack channel of `project` that hears requests of
    /// `role` (None: not a member of any).
    fn slack_member(&self, project: &str, role: Option<&str>, user: &str) -> StoreResult<Option<String>>;
    /// Claims up to `limit` notifications of `kind` due at `now_ms`, oldest first: their next
    /// attempt moves to `now_ms + lease_ms`, so no other pass sends them meanwhile.
    fn claim_notifications(
        &self,
        kind: ChannelKind,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
    ) -> StoreResult<Vec<Notification>>;
    /// Keeps where a Slack notification's message was posted (its channel and `ts`), so the
    /// message can be updated once the request is decided. [`Requests::decide`] queues that
    /// update (`request.decided`) for every message posted by then, in the decision's
    /// transaction; for a message posted while the decision committed, this queues it: it
    /// reads the request's status in its own transaction, ordered against the decision's
    /// (so exactly one of the two finds the other).
    fn record_posted(&self, id: &str, channel: &str, ts: &str, now_ms: i64) -> StoreResult<()>;
    /// The `ts` of the newest message posted about `request` to Slack channel `channel` (a
    /// reminder is a reply in its thread); None before one was posted.
    fn posted_message(&self, project: &str, request: &str, channel: &str) -> StoreResult<Option<String>>;
    /// Records an attempt: sent, retried at `next_ms`, or given up (`next_ms` None).
    fn record_notification(
        &self,
        id: &str,
        sent: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()>;
}

/// A standing approval an operator gave with a decision: later requests of the same agent
/// key for the same tool (service and action), within `thread` when it is set, are approved
/// in its name until `expires_at` or until it is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Grant {
    /// `grt_…`.
    pub id: String,
    /// The agent key whose requests it approves.
    pub agent: String,
    pub service: String,
    pub action: String,
    /// The request role it covers (that of the request it was given on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The request's `context.thread` it is limited to; None: any of the agent's requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
    /// The operator key that gave it (its approvals are made in that key's name, so a revoked
    /// key's grants approve nothing more).
    pub granted_by: String,
    /// The request whose approval gave it.
    pub request_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// When it was revoked, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
}

/// The thread a request names (`context.thread`, a string of at most 256 bytes), which a
/// grant may be limited to.
pub fn thread_of(request: &RequestRow) -> Option<&str> {
    request.context.as_ref()?.get("thread")?.as_str().filter(|t| !t.is_empty() && t.len() <= 256)
}

/// Standing approvals ([`Grant`]).
pub trait Grants: Send + Sync {
    /// Stores a grant with its audit entry (`grant.created`).
    fn add_grant(&self, project: &str, grant: &Grant, audit: AuditEvent<'_>) -> StoreResult<()>;
    /// The project's grants, newest first, at most `limit`.
    fn grants(&self, project: &str, limit: usize) -> StoreResult<Vec<Grant>>;
    /// Revokes a grant that is not revoked yet, with its audit entry (`grant.revoked`);
    /// whether it did.
    fn revoke_grant(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool>;
    /// The newest live grant (not revoked, not expired at `now`) that covers `request`: same
    /// agent, service, action and role, and its thread when the grant has one.
    fn live_grant(&self, project: &str, request: &RequestRow, now: i64) -> StoreResult<Option<Grant>>;
}

/// How long what a project stores is kept (see [`Housekeeping::prune`]), in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A decided request's parked state, from its decision.
    pub snapshots_after_decision: i64,
    /// A delivery that was delivered or gave up (its body too), from its last attempt.
    pub deliveries: i64,
    /// An idempotency record, from its first use (Stripe keeps theirs 24 hours).
    pub idempotency: i64,
    /// An observation's id (kept to drop a resent batch), from its arrival.
    pub observations: i64,
}

/// What one [`Housekeeping::prune`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub snapshots: usize,
    pub deliveries: usize,
    pub idempotency: usize,
    pub observations: usize,
}

/// What a project keeps: its stored bytes (for quotas) and what retention drops.
pub trait Housekeeping: Send + Sync {
    /// Bytes a project stores: its requests as stored (decisions included) and its parked
    /// snapshots. Kept as the writes happen, so reading it costs one row.
    fn usage(&self, project: &str) -> StoreResult<u64>;
    /// Drops what `policy` no longer keeps as of `now` (Unix seconds), at most `limit` of each
    /// kind; what it dropped. Requests, decisions and the audit log are never dropped.
    fn prune(&self, now: i64, policy: &Retention, limit: usize) -> StoreResult<Pruned>;
}

/// Projects, their keys, roles and settings: who may do what.
pub trait Projects: Send + Sync {
    /// The principal of a token hash, if any.
    fn principal(&self, token_hash: &str) -> StoreResult<Option<Principal>>;
    /// Adds a key (its token hash) to a project; an operator may decide every role and
    /// administers nothing (see [`Store::add_key_row`]). Audited as made by `system`.
    fn add_key(&self, key_id: &str, token_hash: &str, project: &str, role: Role, now: i64)
        -> StoreResult<()>;
    /// Adds a key with its roles and admin flag to a project and appends the audit entry, in
    /// one transaction.
    fn add_key_row(&self, project: &str, key: &NewKeyRow, audit: AuditEvent<'_>) -> StoreResult<()>;
    /// A project's keys — never the tokens.
    fn keys(&self, project: &str) -> StoreResult<Vec<KeyInfo>>;
    /// Creates a project.
    fn add_project(&self, id: &str, name: &str, now: i64) -> StoreResult<()>;
    /// Creates `project` as [`Projects::create_project`] does, but only on a store that has
    /// no project yet (first start); false when one exists. Atomic: of replicas starting
    /// together on one database, one creates it.
    fn create_first_project(
        &self,
        project: &Project,
        keys: &[NewKeyRow],
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool>;
    /// A setting (the proof key seed, …).
    fn setting(&self, name: &str) -> StoreResult<Option<String>>;
    /// Stores a setting if it is not set yet; returns the value in force.
    fn setting_or_insert(&self, name: &str, value: &str) -> StoreResult<String>;
    /// A key of the project by its public id: (role, admin), if there is one.
    fn key(&self, project: &str, key_id: &str) -> StoreResult<Option<(Role, bool)>>;
    /// Revokes a key of the project (its token stops working at once) and appends the audit
    /// entry; false when the project has no such key.
    fn revoke_key(&self, project: &str, key_id: &str, audit: AuditEvent<'_>) -> StoreResult<bool>;
    /// Creates a project with its first keys and appends the audit entry (the first of the
    /// project's chain), in one transaction.
    fn create_project(&self, project: &Project, keys: &[NewKeyRow], audit: AuditEvent<'_>)
        -> StoreResult<()>;
    /// Every project, oldest first.
    fn projects(&self) -> StoreResult<Vec<Project>>;
    /// One project.
    fn project(&self, id: &str) -> StoreResult<Option<Project>>;
    /// Adds a role to a project and appends the audit entry; false when it exists.
    fn add_role(&self, project: &str, rule: &RoleRule, audit: AuditEvent<'_>) -> StoreResult<bool>;
    /// A project's roles, by name.
    fn roles(&self, project: &str) -> StoreResult<Vec<RoleRule>>;
    /// Removes a role and appends the audit entry; false when there is none.
    fn delete_role(&self, project: &str, name: &str, audit: AuditEvent<'_>) -> StoreResult<bool>;
    /// Sets (`Some`) or clears (`None`) a project's own bound on grants and appends the audit
    /// entry, in one transaction. A bound set shortens the project's live grants that would
    /// outlast it: each then ends `secs` after it was given, or at `now` if that has passed.
    /// Returns the grants shortened, or `None` when there is no such project.
    fn set_max_grant_secs(
        &self,
        project: &str,
        secs: Option<u64>,
        now: i64,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<u64>>;
    /// Sets a project's setting (a compatibility layer's secret, when rotated) and appends
    /// the audit entry, in one transaction.
    fn set_project_setting(
        &self,
        project: &str,
        name: &str,
        value: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()>;
}

/// One decision of [`Requests::decide_many`]: the arguments of [`Requests::decide`].
pub struct DecideArgs<'a> {
    pub project: &'a str,
    pub id: &'a str,
    pub status: Status,
    pub decision: &'a Decision,
    pub callback: Option<&'a str>,
    pub audit: AuditEvent<'a>,
}

/// Whether a project that stores `used` bytes passes its `quota` by storing `more`: the one
/// quota rule, for the stores' creates and the server's checks before other writes.
pub fn over_quota(used: u64, more: u64, quota: u64) -> bool {
    used.saturating_add(more) > quota
}

/// What [`Requests::insert_request`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored, with its audit entry and deliveries.
    Created,
    /// Another create claimed the idempotency key first: nothing written (replay that one).
    KeyTaken,
    /// The id is another request's, in this project or another: nothing written.
    IdTaken,
    /// The project's stored bytes (`used`) and this request's would pass its quota: nothing
    /// written.
    OverQuota { used: u64 },
}

/// Requests: create exactly once, read, list, decide, and the sweeps' reads (due, escalations).
pub trait Requests: Send + Sync {
    /// The execution stored under an idempotency key.
    fn execution(&self, project: &str, key: &str) -> StoreResult<Option<Execution>>;
    /// Inserts a request (`body`: `row` as JSON, as the caller serialized it for its answer)
    /// and, in the same transaction, stores the execution's outcome and appends the audit entry.
    ///
    /// With a [`Claim`], the idempotency key is claimed in that same transaction: the whole
    /// create happens only if the key is still as the caller read it (absent, or exactly
    /// `previous`); otherwise nothing is written and the answer is [`Inserted::KeyTaken`].
    /// Request ids are unique across projects: an id another request has, in this project
    /// or another, writes nothing and answers [`Inserted::IdTaken`]. No quota.
    fn insert_request(
        &self,
        row: &RequestRow,
        body: &str,
        claim: Option<Claim<'_>>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Inserted> {
        self.insert_request_for(row, body, claim, audit, &[], u64::MAX)
    }
    /// [`Requests::insert_request`] for a request with recipients: its notifications go to
    /// the targets they [`narrow`] the channels of its role to, now and when it is escalated
    /// (the recipients are stored with it). Within `quota`: when the project's stored bytes
    /// and `body`'s would pass it, nothing is written ([`Inserted::OverQuota`]); the check
    /// is part of the create (no read of its own before it).
    fn insert_request_for(
        &self,
        row: &RequestRow,
        body: &str,
        claim: Option<Claim<'_>>,
        audit: AuditEvent<'_>,
        recipients: &[Recipient],
        quota: u64,
    ) -> StoreResult<Inserted>;
    /// A request of a project.
    fn request(&self, project: &str, id: &str) -> StoreResult<Option<RequestRow>>;
    /// Requests of a project, newest first, as `filter` says.
    fn list(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestRow>>;
    /// Decides a pending request, appends the audit entry and queues the event for the
    /// project's endpoints and, when given, for the request's own `callback` URL, and the
    /// update (`request.decided`) of every Slack message posted about it; false when
    /// it was no longer pending. An approval must pass [`approving_actor`], its actor an
    /// operator key of the project at that moment; otherwise nothing is written and the answer
    /// is an error.
    fn decide(
        &self,
        project: &str,
        id: &str,
        status: Status,
        decision: &Decision,
        callback: Option<&str>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool>;
    /// What a queue shows of [`Requests::list`]'s requests, without reading their payloads
    /// where the store kept their summaries at creation.
    fn list_summaries(&self, project: &str, filter: &RequestFilter<'_>) -> StoreResult<Vec<RequestSummary>> {
        Ok(self.list(project, filter)?.iter().map(RequestSummary::of).collect())
    }
    /// Several decisions, each as [`Requests::decide`] writes it, written together where the
    /// store can (one transaction and one flush for all); one outcome per decision, in
    /// order. The expiry sweep writes its batches so.
    fn decide_many(&self, decisions: Vec<DecideArgs<'_>>) -> Vec<StoreResult<bool>> {
        decisions
            .into_iter()
            .map(|d| self.decide(d.project, d.id, d.status, d.decision, d.callback, d.audit))
            .collect()
    }
    /// Pending requests whose deadline is at or before `now`, the oldest deadline first, as
    /// (project, id): the sweep reads each row only when it expires it.
    fn due(&self, now: i64, limit: usize) -> StoreResult<Vec<(String, String)>>;
    /// Pending requests, not yet expired at `now`, whose role's escalation delay has passed
    /// since they entered it and that moved fewer than `max_hops` times: (request, target).
    fn due_escalations(
        &self,
        now: i64,
        max_hops: usize,
        limit: usize,
    ) -> StoreResult<Vec<(DueEscalation, String)>>;
    /// Escalates a request as `step` says if it is still pending in `step.from`, not expired
    /// at `audit.at` and within `step`'s hop limits; in the same transaction records the
    /// escalation on it (and its new role), appends the audit entry and queues the
    /// `request.escalated` webhooks. The updated request, or None when it no longer qualified.
    fn escalate(
        &self,
        project: &str,
        id: &str,
        step: &EscalationStep<'_>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<RequestRow>>;
    /// Pending requests, not yet expired at `now` and never escalated, whose own escalation
    /// time (`context.escalate_at`, Unix seconds, set by a compatibility layer) is at or before
    /// `now`.
    fn due_own_escalations(&self, now: i64, limit: usize) -> StoreResult<Vec<DueEscalation>>;
}

/// A request a sweep is to escalate: what the escalation needs, never its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEscalation {
    pub project: String,
    pub id: String,
    /// Its role now.
    pub role: Option<String>,
    /// How many times it moved so far.
    pub hops: usize,
    /// Its own escalation target (`context.escalate_to`), for [`Requests::due_own_escalations`].
    pub target: Option<String>,
}

/// The audit log: one hash chain per project, and its signed checkpoints.
pub trait AuditLog: Send + Sync {
    /// Appends an audit entry about `subject` on its own (for changes whose other writes
    /// are not the store's to make in one transaction).
    fn append_audit(&self, project: &str, subject: &str, audit: AuditEvent<'_>) -> StoreResult<()>;
    /// The whole audit log, every project's chain interleaved, in the order appended.
    fn audit_log(&self) -> StoreResult<Vec<Entry>>;
    /// Each project's newest audit entry.
    fn audit_heads(&self) -> StoreResult<Vec<Entry>>;
    /// A project's audit entry `seq`.
    fn audit_entry(&self, project: &str, seq: u64) -> StoreResult<Option<Entry>>;
    /// The newest signed checkpoint of each project's chain, by project.
    fn audit_checkpoints(&self) -> StoreResult<Vec<StoredCheckpoint>>;
    /// Stores a project's signed checkpoint if it is further along than the stored one;
    /// true when it was stored.
    fn put_audit_checkpoint(&self, checkpoint: &StoredCheckpoint) -> StoreResult<bool>;
    /// A project's audit entries after its entry `after` (0: from the first), in order.
    fn audit_page(&self, project: &str, after: u64, limit: usize) -> StoreResult<Vec<Entry>>;
}

/// Webhook endpoints and the durable outbox of deliveries.
pub trait Deliveries: Send + Sync {
    /// Adds a webhook endpoint (receiving the events of `roles`' requests; empty: all) and
    /// appends the audit entry, in one transaction.
    fn add_webhook(
        &self,
        id: &str,
        project: &str,
        url: &str,
        secret: &str,
        roles: &[String],
        audit: AuditEvent<'_>,
    ) -> StoreResult<()>;
    /// A project's webhook endpoints.
    fn webhooks(&self, project: &str) -> StoreResult<Vec<Webhook>>;
    /// Claims up to `limit` deliveries due at `now_ms`, oldest first, within `room` per
    /// endpoint and never for a disabled endpoint: their next attempt moves to `now_ms +
    /// lease_ms`, so no other pass sends them meanwhile (a crash sends them again then).
    fn claim_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
        lease_ms: i64,
        room: &Room,
    ) -> StoreResult<Vec<Delivery>>;
    /// Records an attempt: delivered, retried at `next_ms`, or given up (`next_ms` None).
    /// For an endpoint it also keeps when its failures began: a success clears that, and an
    /// endpoint that failed every attempt for `disable_after_ms` is disabled (audited
    /// `webhook.disabled` by `system`). Some(endpoint id) when this attempt disabled it.
    fn record_attempt(
        &self,
        id: &str,
        delivered: bool,
        outcome: &str,
        next_ms: Option<i64>,
        now_ms: i64,
        disable_after_ms: i64,
    ) -> StoreResult<Option<String>>;
    /// Disables or re-enables an endpoint (re-enabling forgets its failures) and appends the
    /// audit entry; None when the project has no such endpoint.
    fn set_webhook_disabled(
        &self,
        project: &str,
        id: &str,
        disabled: bool,
        audit: AuditEvent<'_>,
    ) -> StoreResult<Option<Webhook>>;
    /// A webhook's delivery log, newest first.
    fn deliveries(&self, project: &str, webhook: &str, limit: usize) -> StoreResult<Vec<DeliveryEntry>>;
    /// A request's deliveries, to endpoints and to its callback URL, newest first.
    fn request_deliveries(
        &self,
        project: &str,
        request: &str,
        limit: usize,
    ) -> StoreResult<Vec<RequestDeliveryEntry>>;
    /// Sends a delivery again now; false when it is not this project's.
    fn redeliver(&self, project: &str, id: &str, now_ms: i64) -> StoreResult<bool>;
    /// Removes a webhook endpoint with its delivery log and appends the audit entry; false
    /// when the project has no such endpoint.
    fn delete_webhook(&self, project: &str, id: &str, audit: AuditEvent<'_>) -> StoreResult<bool>;
}

/// Agents: firewall profiles from observations, modes, budgets and sessions.
pub trait Agents: Send + Sync {
    /// What is stored of an agent before observations: its version and profile, which of
    /// `event_ids` were applied already, the state of those of `sessions` it knows.
    fn agent_snapshot(
        &self,
        project: &str,
        agent: &str,
        event_ids: &[&str],
        sessions: &[&str],
    ) -> StoreResult<AgentSnapshot>;
    /// Applies a batch in one transaction: profile, event ids, session states, telemetry.
    /// False (nothing written) when the agent changed since the snapshot, or an event id
    /// was applied in between: the caller computes again from a new snapshot.
    fn commit_observations(
        &self,
        project: &str,
        agent: &str,
        update: &ObservationUpdate<'_>,
    ) -> StoreResult<bool>;
    /// A project's agents, by name.
    fn agents(&self, project: &str) -> StoreResult<Vec<AgentRow>>;
    /// One agent with its telemetry.
    fn agent(&self, project: &str, agent: &str) -> StoreResult<Option<(AgentRow, Vec<ToolCount>)>>;
    /// An agent's profile bytes.
    fn agent_profile(&self, project: &str, agent: &str) -> StoreResult<Option<Vec<u8>>>;
    /// Sets an agent's mode and appends the audit entry; false when there is no such agent.
    fn set_agent_mode(
        &self,
        project: &str,
        agent: &str,
        mode: &str,
        audit: AuditEvent<'_>,
    ) -> StoreResult<bool>;
    /// Sets (Some) or clears (None) an agent's daily budget and appends the audit entry. The
    /// agent need not have been observed yet.
    fn set_budget(
        &self,
        project: &str,
        agent: &str,
        daily_usd: Option<f64>,
        audit: AuditEvent<'_>,
    ) -> StoreResult<()>;
    /// An agent's budget and its spend on `day` (Unix seconds / 86 400).
    fn budget(&self, project: &str, agent: &str, day: i64) -> StoreResult<BudgetState>;
    /// Stores a new session and appends the audit entry.
    fn start_session(&self, project: &str, row: &SessionRow, audit: AuditEvent<'_>) -> StoreResult<()>;
    /// Ends a running session; false when there is none or it ended already.
    fn end_session(
        &self,
        project: &str,
        id: &str,
        status: &str,
        error: Option<&str>,
        now: i64,
    ) -> StoreResult<bool>;
    /// A session of the project.
    fn session(&self, project: &str, id: &str) -> StoreResult<Option<SessionRow>>;
    /// An agent's sessions, newest first.
    fn sessions(&self, project: &str, agent: &str, limit: usize) -> StoreResult<Vec<SessionRow>>;
    /// Adds `events` events costing `cost_usd` to a session's counts.
    fn count_session_events(&self, project: &str, id: &str, events: u64, cost_usd: f64) -> StoreResult<()>;
}

/// Parked state: snapshot blobs staged, committed, read and swept.
pub trait Snapshots: Send + Sync {
    /// Starts staging a snapshot upload.
    fn stage_snapshot(&self) -> StoreResult<Box<dyn BlobSink>>;
    /// Makes a finished staged blob the snapshot of a pending request of `project`, replacing
    /// any previous one, and appends the audit entry in the same transaction. Anything but
    /// [`SnapshotCommit::Stored`] discards the staged blob.
    fn commit_snapshot(
        &self,
        project: &str,
        id: &str,
        blob: &str,
        meta: &Snapshot,
        audit: AuditEvent<'_>,
    ) -> StoreResult<SnapshotCommit>;
    /// The snapshot metadata of a request of `project`, if one is stored.
    fn snapshot(&self, project: &str, id: &str) -> StoreResult<Option<Snapshot>>;
    /// The snapshot of a request of `project` with a reader over its bytes (blocking I/O).
    fn open_snapshot(
        &self,
        project: &str,
        id: &str,
    ) -> StoreResult<Option<(Snapshot, Box<dyn std::io::Read + Send>)>>;
    /// Removes staged or replaced blobs that no snapshot refers to (after a crash). Call
    /// before serving: an upload in flight would look unreferenced.
    fn sweep_snapshots(&self) -> StoreResult<usize>;
}

/// Checkpoints of agents' threads (LangGraph's checkpointer model: a thread's newest state
/// and its history), for the layers whose clients park graph state on the server. A store
/// of its own trait, so the request store holds no layer's model.
pub trait Checkpoints: Send + Sync {
    /// Stores a checkpoint of a project's thread as its newest,
    /// then drops the oldest beyond `per_thread` in that thread and beyond `per_project` in
    /// the project, in one transaction.
    fn put_checkpoint(&self, project: &str, put: &CheckpointPut<'_>) -> StoreResult<()>;
    /// A thread's checkpoint body by id, or its newest when `id` is None.
    fn checkpoint(&self, project: &str, thread: &str, id: Option<&str>) -> StoreResult<Option<String>>;
    /// Deletes a thread's checkpoints; how many there were.
    fn delete_checkpoints(&self, project: &str, thread: &str) -> StoreResult<usize>;
}

/// One checkpoint to store, with the bounds that keep a project's share of the table small.
pub struct CheckpointPut<'a> {
    pub thread: &'a str,
    pub id: &'a str,
    /// The JSON text kept and answered as is.
    pub body: &'a str,
    pub now: i64,
    pub per_thread: usize,
    pub per_project: usize,
}

/// The parts of a request's summary that never change after its creation, kept in its row
/// (the `summary` column of both stores) so that a queue listing reads no payload.
#[derive(Serialize, Deserialize)]
pub(crate) struct Kept {
    pub(crate) service: String,
    pub(crate) action: String,
    pub(crate) priority: handrail_core::request::Priority,
    pub(crate) encrypted: bool,
    pub(crate) held: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) preview: Option<String>,
    pub(crate) complete: bool,
}

impl Kept {
    pub(crate) fn of(row: &RequestRow) -> Kept {
        let s = RequestSummary::of(row);
        Kept {
            service: s.service,
            action: s.action,
            priority: s.priority,
            encrypted: s.encrypted,
            held: s.held,
            preview: s.preview,
            complete: s.complete,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: ChannelKind, address: &str) -> Target {
        Target { kind, address: address.into(), remind_after_secs: None }
    }

    #[test]
    fn recipients_narrow_to_what_they_name_or_leave_all() {
        let all = vec![
            target(ChannelKind::Email, "alice@example.com"),
            target(ChannelKind::Email, "bob@example.com"),
            target(ChannelKind::Slack, "C0FINANCE1"),
        ];
        let named = |kind, address: &str| Recipient { kind, address: address.into() };
        assert_eq!(narrow(all.clone(), &[]), all);
        // An address no channel has adds nothing; a kind must match too.
        let chosen = [
            named(ChannelKind::Email, "alice@example.com"),
            named(ChannelKind::Email, "eve@evil.example"),
            named(ChannelKind::Email, "C0FINANCE1"),
        ];
        assert_eq!(narrow(all.clone(), &chosen), [all[0].clone()]);
        assert_eq!(narrow(all.clone(), &[named(ChannelKind::Email, "eve@evil.example")]), all);
    }

    #[test]
    fn a_reminder_is_due_only_before_the_deadline() {
        assert_eq!(reminder_at(100, Some(60), 1000), Some(160));
        assert_eq!(reminder_at(100, Some(60), 160), None);
        assert_eq!(reminder_at(100, None, 1000), None);
        assert_eq!(reminder_at(i64::MAX - 1, Some(60), i64::MAX), None);
    }
}
