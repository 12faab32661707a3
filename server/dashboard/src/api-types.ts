// GENERATED FILE, DO NOT EDIT. The server's wire types, from the OpenAPI document of v1
// (`handrail openapi`, the JSON `GET /v1/openapi.json` serves), whose schemas schemars
// derives from the Rust types. Regenerate with:
//   node server/dashboard/gen-types.mjs
// scripts/test-dashboard.sh fails when this file differs from what that command writes.

/** What a batch did. */
export interface Accepted {
  /** Events applied now. */
  accepted: number;
  /** Events whose id was applied before (or repeated in the batch). */
  duplicates: number;
}

/** One agent with its telemetry. */
export interface AgentDetail {
  /** Its name in the project. */
  name: string;
  /** `shadow` or `enforce`. */
  mode: Mode;
  /** The profile's readiness, as JSON. */
  readiness: Readiness;
  /** Nodes of the profile. */
  nodes: number;
  /** Node-level edges of the profile. */
  edges: number;
  /** Calls observed. */
  calls: number;
  /** Sessions observed. */
  sessions: number;
  /** Cost reported, in USD. */
  cost_usd: number;
  /** First batch received (server clock). */
  first_seen: number;
  /** Last batch received (server clock). */
  last_seen: number;
  /** Calls and cost per tool and outcome. */
  telemetry: Telemetry;
  /** Its daily budget and today's spend. */
  budget: BudgetView;
}

/** The project's agents. */
export interface AgentList {
  /** By name. */
  agents: AgentRow[];
}

/** An agent as the API lists it. */
export interface AgentRow {
  /** Its name in the project. */
  name: string;
  /** `shadow` or `enforce`. */
  mode: Mode;
  /** The profile's readiness, as JSON. */
  readiness: Readiness;
  /** Nodes of the profile. */
  nodes: number;
  /** Node-level edges of the profile. */
  edges: number;
  /** Calls observed. */
  calls: number;
  /** Sessions observed. */
  sessions: number;
  /** Cost reported, in USD. */
  cost_usd: number;
  /** First batch received (server clock). */
  first_seen: number;
  /** Last batch received (server clock). */
  last_seen: number;
}

/** The project's chain head, signed by the server. */
export interface AuditHead {
  /**
   * Compact JWS (`typ` `handrail-audit+jws`, Ed25519 under a key of `/v1/keys/proof`) of
   * `{prj, seq, hash, iat, iss}`; verify with the core's `audit::verify_signed_checkpoint`,
   * then check the chain holds it with `audit::check_holds`.
   */
  checkpoint: string;
  /** The entry it vouches for (0 before the first). */
  seq: number;
  /** That entry's hash. */
  hash: string;
}

/**
 * `{"entries": [...], "next": SEQ | null}`: entries after `after`, in order; `next` is the
 * `after` of the following page, null when this page was the last.
 * A page of the project's audit chain.
 */
export interface AuditPage {
  /** Entries after `after`, in order. */
  entries: Entry[];
  /** The `after` of the following page; null when this page was the last. */
  next?: number | null;
}

/** A batch of observed tool calls of one agent. */
export interface Batch {
  /** 1–128 characters of `A–Z a–z 0–9 . _ - : @`. */
  agent: string;
  /** At most 1000; checked one by one before any is applied. */
  events: EventIn[];
}

/** An expiring link to a snapshot. */
export interface BlobLink {
  /** `/v1/blobs/{token}`, absolute when `HANDRAIL_PUBLIC_URL` is set; carries no API key. */
  url: string;
  /** When it expires, Unix seconds. */
  expires_at: number;
}

/** An agent's daily budget and today's spend. */
export interface BudgetView {
  /** The agent. */
  agent: string;
  /** The daily limit in USD; null when none is set. */
  daily_usd?: number | null;
  /** Cost recorded today (UTC day of the server's clock), USD. */
  spent_today_usd: number;
  /** What is left today, never below 0; null without a limit. */
  remaining_usd?: number | null;
}

/** A channel: people a project's requests are announced to, where they already are. */
export interface Channel {
  /** `ch_…`. */
  id: string;
  /** How it is reached. */
  kind: ChannelKind;
  /** For `email`: the addressees (each one may decide the requests it hears of). */
  to?: string[];
  /** For `slack`: the Slack channel id (`C…` or `G…`) messages are posted to. */
  channel?: string | null;
  /** For `slack`: the Slack users who may decide through this channel. */
  members?: SlackMember[];
  /** The request roles it hears of (unrestricted requests always); absent: all. */
  roles?: string[];
  /**
   * A reminder goes out this many seconds after a request was announced here, if it is
   * still pending in a role this channel hears and its deadline is later; absent: none.
   */
  remind_after_secs?: number | null;
  /** Unix seconds. */
  created_at: number;
}

/** What a channel is: how its notifications travel. */
export type ChannelKind = "email" | "slack";

/** The project's channels. */
export interface ChannelList {
  /** Oldest first. */
  channels: Channel[];
}

/** A person's (or the deadline's) decision on a request. */
export interface Decision {
  /** The request decided. */
  request_id: string;
  /** The outcome. */
  status: Status;
  /** The payload the agent should act on (the patched one after an edit). */
  payload?: unknown;
  /** The edited payload, when the person edited it. */
  patched_payload?: unknown;
  /** What the edit changed. */
  diff?: Diff | null;
  /** Who decided: an operator key's id, `email:ADDRESS`, `slack:USER`, or `system`. */
  actor?: string | null;
  /**
   * The decider's display name where the channel they decided through names them (a Slack
   * member's name on the channel), as it was when they decided. Shown next to `actor`,
   * which stays the identity; the proof binds `actor`, not this.
   */
  actor_name?: string | null;
  /** Why (required in practice for rejections). */
  reason?: string | null;
  /**
   * The grant (`grt_…`) this approval was made under or gave (see `POST …/resolve`'s
   * `grant`).
   */
  grant?: string | null;
  /** When, Unix seconds. */
  decided_at: number;
  /** The signed decision proof (see [`crate::proof`]). */
  proof?: string | null;
}

/** One delivery of an event to a webhook endpoint, as its delivery log lists it. */
export interface DeliveryEntry {
  /** The delivery's id (its `webhook-id` header). */
  id: string;
  /** The event it carries (`request.created`, …). */
  event: string;
  /** `pending`, `delivered` or `failed`. */
  state: string;
  /** Attempts so far. */
  attempts: number;
  /** The last attempt's outcome; none before the first attempt. */
  last_outcome?: string | null;
  /** When it was queued, Unix milliseconds. */
  created_ms: number;
  /** When it last changed, Unix milliseconds. */
  updated_ms: number;
}

/** An endpoint's delivery log. */
export interface DeliveryList {
  /** Newest first, at most 200. */
  deliveries: DeliveryEntry[];
}

/** Where a request's delivery goes. */
export type DeliveryTarget = "webhook" | "callback";

/** What an edit changed: RFC 6902 operations and a one-line summary. */
export interface Diff {
  /** Operations turning the original payload into the edited one, in order. */
  ops: PatchOp[];
  /** A short human sentence ("amount: 500 → 50; removed cc"). */
  summary: string;
}

/** The effect class of a tool call. */
export type Effect = "read" | "write" | "destructive" | "egress" | "payment";

/** How a session ended. */
export interface EndSession {
  /** `success` or `error`. */
  status: "success" | "error";
  /** What went wrong (with `error`), at most 4096 characters kept. */
  error?: string | null;
}

/** One audit entry. */
export interface Entry {
  /** Position in its project's log, from 1, without gaps. */
  seq: number;
  /** When, Unix seconds. */
  at: number;
  /** The project the change belongs to. */
  project: string;
  /** Who made it (key id, `system`). */
  actor: string;
  /** What happened (`request.created`, `request.resolved`, …). */
  event: string;
  /** What it happened to (a request id…). */
  subject: string;
  /** Details. */
  data: unknown;
  /** The hash of the project's previous entry ([`GENESIS`] for its first). */
  prev: string;
  /** This entry's hash. */
  hash: string;
}

/** The body of every error answer. */
export interface ErrorBody {
  /** What went wrong. */
  error: ErrorDetail;
}

/** An error's stable code and message. */
export interface ErrorDetail {
  /** Stable, `snake_case`; each operation lists the codes it can give. */
  code: string;
  /** For people; may change between versions. */
  message: string;
}

/**
 * One move of a pending request to another role (or a notification to someone), as its
 * escalation policy or the request's own escalation made it.
 */
export interface Escalation {
  /** The role it had (absent: none). */
  from?: string | null;
  /** The role it was given (absent: its role did not change). */
  to?: string | null;
  /**
   * Whom the escalation is for, as the agent named it (an e-mail address, a role): for the
   * operator's notification hook, which reads it from the `request.escalated` event.
   */
  target?: string | null;
  /** Unix seconds. */
  at: number;
}

/** One observed tool call. */
export interface EventIn {
  /** Unique per agent (1–128 printable ASCII): a replayed id is a duplicate. */
  id: string;
  /** The session the call belongs to (1–128 printable ASCII). */
  session: string;
  /** The task's own text (at most 64 KiB). */
  context?: string | null;
  /** The tool called (1–128 characters). */
  tool: string;
  /** Its arguments, a JSON object (at most 64 KiB). */
  args?: Record<string, unknown>;
  /** The call's effect class, if the SDK declared one. */
  effect?: Effect | null;
  /** What became of it (`trusted` needs an operator token). */
  outcome: Outcome;
  /** What the tool returned, as text (at most 64 KiB). */
  output?: string | null;
  /** When, Unix seconds (default and upper bound: the server's clock). */
  at?: number | null;
  /** What the call cost, in USD. */
  cost_usd?: number | null;
}

/**
 * A standing approval an operator gave with a decision: later requests of the same agent
 * key for the same tool (service and action), within `thread` when it is set, are approved
 * in its name until `expires_at` or until it is revoked.
 */
export interface Grant {
  /** `grt_…`. */
  id: string;
  /** The agent key whose requests it approves. */
  agent: string;
  service: string;
  action: string;
  /** The request role it covers (that of the request it was given on). */
  role?: string | null;
  /** The request's `context.thread` it is limited to; None: any of the agent's requests. */
  thread?: string | null;
  /**
   * The operator key that gave it (its approvals are made in that key's name, so a revoked
   * key's grants approve nothing more).
   */
  granted_by: string;
  /** The request whose approval gave it. */
  request_id: string;
  created_at: number;
  expires_at: number;
  /** When it was revoked, if it was. */
  revoked_at?: number | null;
}

/** What an operator asks for with an approval: a grant (see [`Grant`]). */
export interface GrantAsk {
  /**
   * How long it stands, seconds: 1 to the bound in force, the smaller of the server's
   * `HANDRAIL_MAX_GRANT_SECS` (default 3600) and the project's `max_grant_secs` (see
   * `GET /v1/projects/{id}`); a longer grant is refused, never shortened.
   */
  for_secs: number;
  /** Only for requests naming this request's `context.thread` (it must name one). */
  thread?: boolean;
}

/** The project's grants, newest first (revoked and expired ones too, so the record is whole). */
export interface GrantList {
  grants: Grant[];
}

/** The profile as a graph of tools, for the dashboard's live view. */
export interface Graph {
  /** Tools (and `^` for the session start). */
  nodes: GraphNode[];
  /** Learned transitions between them, weighted by probability. */
  edges: GraphEdge[];
}

/** A learned transition. */
export interface GraphEdge {
  /** From node id. */
  from: number;
  /** To node id. */
  to: number;
  /** P(to | from), decayed to `now`. */
  p: number;
  /** Observations (undecayed). */
  count: number;
}

/** A tool in the graph. */
export interface GraphNode {
  /** Index used by edges. */
  id: number;
  /** Tool name (`^` is the session start). */
  tool: string;
  /** Effect class. */
  effect?: Effect | null;
}

/** The server's public proof keys, as a JWK Set, and the issuer its proofs name. */
export interface Jwks {
  /** Ed25519 public keys: `{"kty": "OKP", "crv": "Ed25519", "alg", "use": "sig", "kid", "x"}`. */
  keys: unknown[];
  /**
   * The `iss` of this server's proofs and audit checkpoints: its public URL
   * (`HANDRAIL_PUBLIC_URL`) or a stable `srv_…` id.
   */
  issuer: string;
}

/** A key just created: its token is shown this once. */
export interface KeyCreated {
  /** The key's public name, as decisions and the audit log show it. */
  key_id: string;
  /** What it may do. */
  role: Role;
  /** The bearer token; only its hash is stored. */
  token: string;
  /** An operator's roles (`*`: any). */
  roles?: string[] | null;
  /** Whether an operator may administer projects. */
  admin?: boolean | null;
}

/** A key as listed: never its token. */
export interface KeyInfo {
  /** The key's public name, as decisions and the audit log show it. */
  key_id: string;
  /** What it may do. */
  role: Role;
  /** An operator's roles (`*`: any); absent for agent keys. */
  roles?: string[];
  /** Whether an operator may administer projects. */
  admin: boolean;
  /** When it was made, Unix seconds. */
  created_at: number;
}

/** The project's keys. */
export interface KeyList {
  /** Every key of the project (never its token). */
  keys: KeyInfo[];
}

/** Who the calling key is (the dashboard's sign-in: which project a token opens). */
export interface Me {
  /** The key's id. */
  key_id: string;
  /** Its project. */
  project: string;
  /** Agent or operator. */
  role: Role;
  /** For an operator, the request roles it may decide (`*`: any). */
  roles: string[];
  /** Whether it administers the server. */
  admin: boolean;
}

/** Whether verdicts are enforced. */
export type Mode = "shadow" | "enforce";

/** An agent's mode, as set. */
export interface ModeSet {
  /** The agent. */
  name: string;
  /** Its mode now. */
  mode: Mode;
}

/** The budget to set. */
export interface NewBudget {
  /** The daily limit in USD (finite, ≥ 0); null removes the limit. */
  daily_usd?: number | null;
}

/** A channel to add. */
export interface NewChannel {
  /** `email` or `slack` (another kind is 400 `invalid_channel`). */
  kind: "email" | "slack";
  /**
   * For `email`: 1 to 32 distinct addresses (ASCII `local@domain`, at most 254 bytes each;
   * stored lower-cased). Each addressee gets its own decision link and may decide the
   * requests the channel hears of.
   */
  to?: string[] | null;
  /**
   * For `slack`: the Slack channel id messages go to (`C…` or `G…`, 9 to 21 upper-case
   * letters and digits).
   */
  channel?: string | null;
  /**
   * For `slack`: 1 to 32 distinct Slack users (`slack_user` `U…` or `W…`; `name` 1 to 80
   * characters, shown as the decider) who may decide the requests the channel hears of.
   */
  members?: SlackMember[] | null;
  /** Only requests of these roles (and unrestricted ones); absent: every request. */
  roles?: string[] | null;
  /**
   * Remind this many seconds (10 to 2,592,000, 30 days) after a request was announced
   * here, if it is still pending in a role this channel hears and its deadline is later:
   * e-mail sends the message again (`Reminder:` subject, the addressee's link), Slack
   * replies in the message's thread (shown in the channel too). Absent: no reminders.
   */
  remind_after_secs?: number | null;
}

/** A key to create. */
export interface NewKey {
  /** `agent` (`hr_agent_…`) or `operator` (`hr_op_…`). */
  role: Role;
  /** For an operator: the request roles it may decide (default `["*"]`, any). */
  roles?: string[] | null;
  /** For an operator: whether it administers the server (only an admin may grant it). */
  admin?: boolean | null;
}

/** The mode to set. */
export interface NewMode {
  /** `shadow` (verdicts reported, never enforced) or `enforce`. */
  mode: Mode;
}

/** A project to create. */
export interface NewProject {
  /** 1 to 128 bytes, no control characters. */
  name: string;
}

/** What an agent asks a person to decide. */
export interface NewRequest {
  /** The system acted on (`stripe`, `gmail`…). */
  service: string;
  /** The action (`refund`, `send_email`…). */
  action: string;
  /** The payload to approve: plain JSON, or an envelope (see [`crate::envelope`]). */
  payload: unknown;
  /** Urgency. */
  priority?: Priority;
  /** The role of the people who may decide, if restricted. */
  role?: string | null;
  /** JSON Schema an edited payload must satisfy. */
  schema?: unknown;
  /** Seconds until the request expires (fail closed). */
  timeout_secs?: number | null;
  /** Free context: trace id, the task text, the firewall's reasons. */
  context?: unknown;
  /**
   * The id the client chose (`req_` + 16–32 base64url characters), so it can seal the
   * payload for this id before the server has seen it; the server assigns one otherwise.
   */
  id?: string | null;
}

/** A role to add, with its escalation rule if any. */
export interface NewRole {
  /** The role's name. */
  name: string;
  /** Where a pending request of this role moves after `escalate_after_secs`. */
  escalate_to?: string | null;
  /** Seconds in this role before the move (1 to 31536000); only with `escalate_to`. */
  escalate_after_secs?: number | null;
}

/** A session to start. */
export interface NewSession {
  /** The agent it runs (1–128 characters of `A–Z a–z 0–9 . _ - : @`). */
  agent: string;
}

/** An endpoint to add. */
export interface NewWebhook {
  /**
   * An http(s) URL of at most 2048 bytes, without credentials. An address literal or
   * `localhost` the outbound policy (`HANDRAIL_OUTBOUND_NETWORKS`) refuses is 422
   * `url_forbidden`; a host name is checked at every delivery, as it resolves.
   */
  url: string;
  /**
   * Only the events of requests of these roles (and of unrestricted requests): what an
   * operator holding them may read. Absent: every request's.
   */
  roles?: string[] | null;
}

/** What became of a call, for [`Firewall::record`]. */
export type Outcome = "ran" | "trusted" | "approved" | "rejected";

/** One RFC 6902 operation. */
export type PatchOp = {
  op: "add";
  path: string;
  value: unknown;
} | {
  op: "remove";
  path: string;
} | {
  op: "replace";
  path: string;
  value: unknown;
};

/** How urgent a request is; the queue sorts by priority, then age. */
export type Priority = "low" | "medium" | "high" | "critical";

/** A project. */
export interface Project {
  id: string;
  name: string;
  created_at: number;
  /**
   * Most seconds a grant given in this project may stand, set by an operator of `*` or an
   * admin; `null`: only the server-wide bound (`HANDRAIL_MAX_GRANT_SECS`) applies. The bound
   * in force is the smaller of the two.
   */
  max_grant_secs: number | null;
}

/** A project just created, with its first keys: the tokens are shown this once. */
export interface ProjectCreated {
  /** `prj_…`. */
  id: string;
  /** Its name. */
  name: string;
  /** Unix seconds. */
  created_at: number;
  /** An operator token of the new project (every role, not an admin). */
  operator_token: string;
  /** An agent key of the new project. */
  agent_key: string;
}

/** Projects the caller may see. */
export interface ProjectList {
  /** Every project for an admin; the caller's own for any other operator. */
  projects: Project[];
}

/** A change to a project's settings. */
export interface ProjectPatch {
  /**
   * The project's own bound on grants: 1 to 31536000 seconds (a year), or `null` to leave
   * only the server-wide one. Setting a bound shortens the project's live grants that
   * would outlast it. Required: a patch that changes nothing is refused.
   */
  max_grant_secs: number | null;
}

/** A project with the bound on grants in force in it. */
export interface ProjectView {
  id: string;
  name: string;
  created_at: number;
  /**
   * Most seconds a grant given in this project may stand, set by an operator of `*` or an
   * admin; `null`: only the server-wide bound (`HANDRAIL_MAX_GRANT_SECS`) applies. The bound
   * in force is the smaller of the two.
   */
  max_grant_secs: number | null;
  /**
   * Most seconds a grant given now may stand in this project: the smaller of the server's
   * `HANDRAIL_MAX_GRANT_SECS` (default 3600) and the project's `max_grant_secs`. A grant
   * asked for longer is refused (400 `invalid_request`).
   */
  grant_bound_secs: number;
}

/** How much the profile has seen, and whether it may leave shadow mode. */
export interface Readiness {
  /**
   * Good-Turing estimate of the chance that the next transition is new: transitions seen
   * once / all transitions (1.0 before any).
   */
  novelty: number;
  /** Transitions observed (undecayed). */
  observations: number;
  /** Distinct tool-level transitions. */
  transitions: number;
  /** `novelty` is below the configured target false-alarm rate. */
  ready: boolean;
}

/**
 * A request as the server stores and returns it: the one wire model the server's store and
 * routes, the protocol's reads and the dashboard's generated types share. The payload is as
 * stored (an envelope when the client encrypts).
 */
export interface Request {
  /** `req_…`. */
  id: string;
  /** The project it belongs to. */
  project: string;
  /** The system acted on (`stripe`, `gmail`…). */
  service: string;
  /** The action (`refund`, `send_email`…). */
  action: string;
  /** The payload to approve: plain JSON, or an envelope. */
  payload: unknown;
  /** Urgency. */
  priority: Priority;
  /** The role of the people who may decide, if restricted. */
  role?: string | null;
  /** JSON Schema an edited payload must satisfy. */
  schema?: unknown;
  /** Free context the agent attached. */
  context?: unknown;
  /** Where it stands. */
  status: Status;
  /** When it was created, Unix seconds. */
  created_at: number;
  /** Its deadline (then EXPIRED, fail closed), Unix seconds. */
  expires_at: number;
  /** The decision, once decided. */
  decision?: Decision | null;
  /** Moves to other roles while pending, oldest first. */
  escalations?: Escalation[];
  /** The key that created it (an agent key reads only the requests it created). */
  created_by?: string | null;
  /** The parked state's metadata, where the answer carries it (a request's events do). */
  snapshot?: SnapshotMeta | null;
}

/** One delivery of a request's events: to an endpoint or to its callback URL. */
export interface RequestDeliveryEntry {
  /** The delivery's id (its `webhook-id` header). */
  id: string;
  /** The event it carries (`request.created`, …). */
  event: string;
  /** `pending`, `delivered` or `failed`. */
  state: string;
  /** Attempts so far. */
  attempts: number;
  /** The last attempt's outcome; none before the first attempt. */
  last_outcome?: string | null;
  /** When it was queued, Unix milliseconds. */
  created_ms: number;
  /** When it last changed, Unix milliseconds. */
  updated_ms: number;
  /** Where it goes. */
  target: DeliveryTarget;
  /** The endpoint (`wh_…`); null for the callback URL. */
  webhook?: string | null;
}

/**
 * A request's deliveries, newest first, at most 200: to every endpoint and to the callback
 * URL the request named, if any.
 */
export interface RequestDeliveryList {
  /** Newest first, at most 200. */
  deliveries: RequestDeliveryEntry[];
}

/** A page of requests: full rows, or with `view=summary`, summaries. */
export type RequestList = {
  /** Newest first. */
  requests: Request[];
} | {
  /** Newest first. */
  requests: RequestSummary[];
};

/**
 * One request as a queue lists it: everything but the payload, schema, context and
 * decision, with a [`Preview`] of the payload. What `GET /v1/requests?view=summary` answers;
 * a store keeps the parts that never change from the request's creation, so a listing
 * never parses a payload.
 */
export interface RequestSummary {
  id: string;
  service: string;
  action: string;
  priority: Priority;
  role?: string | null;
  status: Status;
  created_at: number;
  expires_at: number;
  /** The payload is an end-to-end encrypted envelope (no preview then). */
  encrypted: boolean;
  /** The firewall held the call (`context.firewall` is set). */
  held: boolean;
  /** The start of the payload's compact JSON, at most 160 bytes (cut on a character). */
  preview?: string | null;
  /**
   * `preview` is the whole payload (nothing was cut). Only then may a queue approve in
   * one tap: past the cut, a padded payload hides what it does (`"to": "acct_attacker"`).
   * False for an encrypted payload.
   */
  complete: boolean;
  /** How many times it moved to another role. */
  escalations: number;
}

/** A request as `GET /v1/requests/{id}` and `/wait` answer it. */
export interface RequestView {
  /** `req_…`. */
  id: string;
  /** The project it belongs to. */
  project: string;
  /** The system acted on (`stripe`, `gmail`…). */
  service: string;
  /** The action (`refund`, `send_email`…). */
  action: string;
  /** The payload to approve: plain JSON, or an envelope. */
  payload: unknown;
  /** Urgency. */
  priority: Priority;
  /** The role of the people who may decide, if restricted. */
  role?: string | null;
  /** JSON Schema an edited payload must satisfy. */
  schema?: unknown;
  /** Free context the agent attached. */
  context?: unknown;
  /** Where it stands. */
  status: Status;
  /** When it was created, Unix seconds. */
  created_at: number;
  /** Its deadline (then EXPIRED, fail closed), Unix seconds. */
  expires_at: number;
  /** The decision, once decided. */
  decision?: Decision | null;
  /** Moves to other roles while pending, oldest first. */
  escalations?: Escalation[];
  /** The key that created it (an agent key reads only the requests it created). */
  created_by?: string | null;
  /** The parked state, when one is stored. */
  snapshot?: SnapshotLink | null;
}

/** A person's decision on a pending request. */
export interface Resolve {
  /** `approve` or `reject`. */
  decision: "approve" | "reject";
  /** With `approve`: the edited payload, checked against the request's schema. */
  payload?: unknown;
  /** Why (shown to the agent). */
  reason?: string | null;
  /**
   * With a plain `approve`: approve this agent's later requests for the same tool (service
   * and action, same role) too, for `for_secs`, and only in this request's
   * `context.thread` with `thread`. Revocable (`DELETE /v1/grants/{id}`).
   */
  grant?: GrantAsk | null;
}

/** What a key may do. */
export type Role = "agent" | "operator";

/** The project's roles. */
export interface RoleList {
  /** By name. */
  roles: RoleRule[];
}

/**
 * A role of a project, with its escalation rule if it has one: a request of this role
 * still pending `escalate_after_secs` after it entered the role moves to `escalate_to`.
 */
export interface RoleRule {
  name: string;
  escalate_to?: string | null;
  escalate_after_secs?: number | null;
  created_at: number;
}

/** An agent's sessions. */
export interface SessionList {
  /** Newest first. */
  sessions: SessionRow[];
}

/** A run of an agent, from start to end. */
export interface SessionRow {
  /** `ses_…`. */
  id: string;
  /** The agent it belongs to. */
  agent: string;
  /** `running`, `success` or `error`. */
  status: "running" | "success" | "error";
  /** What went wrong, when it ended with `error`. */
  error?: string | null;
  /** Unix seconds. */
  started_at: number;
  /** Unix seconds, once ended. */
  ended_at?: number | null;
  /** Events recorded in it. */
  events: number;
  /** Their cost, USD. */
  cost_usd: number;
}

/** A Slack user who may decide the requests a Slack channel hears of. */
export interface SlackMember {
  /** The Slack user id (`U…` or `W…`). */
  slack_user: string;
  /** The name shown as the decider. */
  name: string;
}

/** A stored state snapshot: opaque bytes (the SDK's envelope) attached to a request. */
export interface Snapshot {
  /** Length in bytes. */
  size: number;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  /** When it was stored (Unix seconds). */
  created_at: number;
}

/** A snapshot's metadata with a fresh download link (made at each read, never stored). */
export interface SnapshotLink {
  /** Length in bytes. */
  size: number;
  /** SHA-256 of the bytes, hex. */
  sha256: string;
  /** When it was stored (Unix seconds). */
  created_at: number;
  /** Download link, valid for 15 minutes. */
  url: string;
  /** When the link expires, Unix seconds. */
  expires_at: number;
}

/** Metadata of a parked state snapshot. */
export interface SnapshotMeta {
  /** Bytes stored. */
  size: number;
  /** SHA-256 of the stored bytes, hex. */
  sha256: string;
  /** Upload time, Unix seconds. */
  created_at: number;
  /** A fresh download link (absent in webhook bodies). */
  url?: string | null;
}

/** A snapshot just stored. */
export interface SnapshotStored {
  /** Its metadata. */
  snapshot: Snapshot;
}

/** Where a request stands. */
export type Status = "PENDING" | "APPROVED" | "APPROVED_WITH_MODIFICATIONS" | "REJECTED" | "EXPIRED";

/** Calls and cost per tool and per outcome. */
export interface Telemetry {
  /** By tool name. */
  tools: {
    [key: string]: ToolTelemetry;
  };
  /** Calls by outcome. */
  outcomes: {
    [key: string]: number;
  };
}

/** One tool's telemetry. */
export interface ToolTelemetry {
  /** Calls observed. */
  calls: number;
  /** Cost reported, in USD. */
  cost_usd: number;
  /** Calls by outcome. */
  outcomes: {
    [key: string]: number;
  };
}

/** A webhook endpoint (its secret is shown once, at creation). */
export interface Webhook {
  id: string;
  url: string;
  /** The request roles whose events it receives (unrestricted requests always); absent: all. */
  roles?: string[];
  created_at: number;
  /**
   * Nothing is sent to it: it failed every attempt for `HANDRAIL_WEBHOOK_DISABLE_AFTER_SECS`
   * (or an operator disabled it). Its deliveries wait; updating it with
   * `{"disabled": false}` sends them again.
   */
  disabled: boolean;
}

/** An endpoint just added: its secret is shown this once. */
export interface WebhookCreated {
  /** `wh_…`. */
  id: string;
  /** Where deliveries go. */
  url: string;
  /** The roles it is scoped to (absent: all). */
  roles?: string[];
  /** The Standard Webhooks signing secret (`whsec_…`). */
  secret: string;
}

/** The project's endpoints. */
export interface WebhookList {
  /** Every endpoint (without secrets). */
  webhooks: Webhook[];
}

/** A change of an endpoint. */
export interface WebhookUpdate {
  /**
   * `false` re-enables an endpoint disabled after failing (its waiting deliveries are sent
   * again, its failures forgotten); `true` stops deliveries to it until then.
   */
  disabled: boolean;
}
