// The option and result shapes are generated from the Rust structs into native/index.d.ts;
// they are imported as types only, so this contract does not load the addon.
import type {
  Action,
  AskInit,
  CreateCalls,
  DecisionOutcome,
  DiffText,
  EditDiff,
  HttpAnswer,
  HttpRequest,
  ObservationsAccepted,
  ProofClaims,
  ProofExpect,
  Effect,
  FirewallCall,
  FirewallConfig,
  FirewallInit,
  FirewallPolicy,
  Graph,
  GraphEdge,
  GraphNode,
  GuardObserved,
  GuardPlan,
  Mode,
  OpenOptions,
  Outcome,
  Readiness,
  Reason,
  SealOptions,
  Verdict,
} from "../native/index.js";

export type {
  Action,
  AskInit,
  CreateCalls,
  DecisionOutcome,
  EditDiff,
  HttpAnswer,
  HttpRequest,
  ObservationsAccepted,
  ProofClaims,
  Effect,
  FirewallCall,
  FirewallConfig,
  FirewallInit,
  FirewallPolicy,
  Graph,
  GraphEdge,
  GraphNode,
  GuardObserved,
  GuardPlan,
  Mode,
  OpenOptions,
  Outcome,
  Readiness,
  Reason,
  SealOptions,
  Verdict,
};

/**
 * The internal contract between the public API and whatever computes it.
 *
 * The napi addon (`native/`) satisfies it today, through the adapter in `napi.ts`; a wasm
 * build of the same core can satisfy it later without the public API changing (automerge's
 * `UseApi` pattern). It names what the public API needs, in plain values: how one engine
 * moves them fast (the addon's verdict buffer) stays in that engine's adapter. A backend
 * throws errors whose `code` is the core's stable `snake_case` error code; the public
 * layer converts them into `HandrailError` (see `errors.ts`). Errors with any other code
 * (napi's `InvalidArg` for a malformed argument) pass through unchanged.
 *
 * @internal
 */
export interface Backend {
  canonicalize(input: string | Uint8Array): string;
  sealEnvelope(
    key: string,
    requestId: string,
    field: string,
    plaintext: Uint8Array,
    options?: SealOptions | undefined | null,
  ): string;
  openEnvelope(
    envelope: string | Uint8Array,
    keys: string[],
    requestId: string,
    field: string,
    options?: OpenOptions | undefined | null,
  ): Uint8Array;
  generateKey(kid: string): string;
  /** The core's `Firewall`; policy and config cross as JSON text in the core's serde form. */
  Firewall: new (init?: FirewallInit | undefined | null) => BackendFirewall;
  /** The core's sans-IO client protocol; JSON values cross as text. */
  Protocol: new (
    baseUrl: string,
    apiKey: string,
    encryptionKey?: string | undefined | null,
    expect?: { project?: string; issuer?: string } | undefined | null,
  ) => BackendProtocol;
  retryResponse(answer: HttpAnswer, attempt: number): number | null;
  retryNetwork(attempt: number): number | null;
  verifyWebhook(secret: string, headers: Record<string, string>, body: Uint8Array, now: number): BackendWebhookDelivery;
  /** Standard Webhooks secrets: sign and verify with an explicit `now`. */
  Webhook: new (secrets: string[]) => {
    export(): string[];
    sign(msgId: string, timestamp: number, body: Uint8Array): string;
    verify(msgId: string, timestamp: string, signature: string, body: Uint8Array, now: number, tolerance?: number | null): number;
  };
  verifyLetsping(secret: Uint8Array, header: string, body: Uint8Array, nowMs: number, toleranceMs: number): number;
  proofDigest(json: string | Uint8Array): string;
  ProofSigner: new (kid: string, seed: Uint8Array) => { publicJwk(): string; sign(claimsJson: string): string };
  ProofVerifier: new (jwksJson: string) => { verify(token: string, now: number, expect: ProofExpect): string };
  idempotencyKey(parts: Array<string | Uint8Array>): string;
  toolCallKey(scope: string, tool: string, argsJson: string | Uint8Array): string;
  fingerprint(method: string, path: string, body: Uint8Array): string;
  /** The core's guard (`handrail_core::guard`): every rule of `guard` and `tool`. */
  guardCallKey(scope: string, service: string, tool: string, argsJson: string | Uint8Array): string;
  guardPlan(action: Action, enforced: boolean): GuardPlan;
  guardOutcome(plan: GuardPlan, decision?: string | undefined | null): Outcome | null;
  guardReviewContext(verdictJson: string, task?: string | undefined | null): string;
  guardObservation(observed: GuardObserved): string;
  decisionText(
    status: string,
    reason?: string | undefined | null,
    summary?: string | undefined | null,
    payloadJson?: string | undefined | null,
  ): string;
  /** The core's idempotency state machine; executions cross as opaque objects. */
  Execution: { fromJson(text: string): BackendExecution };
  idempotencyBegin(
    existing: BackendExecution | undefined | null,
    key: string,
    method: string,
    path: string,
    body: Uint8Array,
    now: number,
    leaseSecs: number,
  ): { kind: string; execution?: BackendExecution; status?: number; body?: string; leaseUntil?: number };
  diff(before: string, after: string): DiffText;
  applyPatch(doc: string, opsJson: string): string;
  validateEdit(schema: string, edited: string): void;
  reviewEdit(original: string, edited: string, schema?: string | undefined | null): DiffText;
  requestStatus(name: string): string;
  requestPriority(name: string): string;
}

/**
 * One execution under one idempotency key.
 *
 * @internal
 */
export interface BackendExecution {
  readonly key: string;
  readonly attempts: number;
  readonly state: string;
  commit(status: number, body: string, now: number): BackendExecution;
  fail(status: number, body: string, retryable: boolean, now: number): BackendExecution;
  toJson(): string;
}

/**
 * A request as the server returned it, opaque to the public API but for these fields.
 *
 * @internal
 */
export interface BackendRecord {
  readonly id: string;
  readonly status: string;
  readonly hasSnapshot: boolean;
}

/**
 * The core's `protocol::Client`: builds each HTTP request and reads each answer.
 *
 * @internal
 */
export interface BackendProtocol {
  readonly encrypts: boolean;
  readonly hasJwks: boolean;
  create(ask: AskInit): CreateCalls;
  read(id: string): HttpRequest;
  parseRecord(answer: HttpAnswer): BackendRecord;
  outcome(record: BackendRecord): DecisionOutcome | null;
  payload(record: BackendRecord): string;
  wait(id: string, nowMs: number, timeoutMs?: number | undefined | null): BackendWait;
  snapshotDownload(id: string): HttpRequest;
  openSnapshot(id: string, answer: HttpAnswer): string;
  parseSnapshotStored(answer: HttpAnswer): void;
  observations(agent: string, eventsJson: string): HttpRequest;
  parseObservations(answer: HttpAnswer): ObservationsAccepted;
  jwksRequest(): HttpRequest;
  loadJwks(answer: HttpAnswer): void;
  verifyProof(record: BackendRecord, proof: string, now: number): string;
}

/**
 * One wait: the next long-poll, and what an answer means (a record, or a delay in ms).
 *
 * @internal
 */
export interface BackendWait {
  readonly id: string;
  request(protocol: BackendProtocol, nowMs: number): HttpRequest;
  onResponse(protocol: BackendProtocol, answer: HttpAnswer, nowMs: number): BackendRecord | number;
  onNetworkError(nowMs: number): number;
}

/**
 * A verified webhook delivery.
 *
 * @internal
 */
export interface BackendWebhookDelivery {
  readonly id: string;
  readonly kind: string;
  readonly timestamp: number;
  record(): BackendRecord;
}

/**
 * A session the backend's firewall began: the core's `Session`, opaque to the public API.
 *
 * @internal
 */
export interface BackendSession {
  readonly id: string;
}

/**
 * The core's `Firewall` as a backend exposes it; call arguments cross as JSON text and
 * verdicts as plain `Verdict` objects. How a backend makes verdicts fast is its own affair
 * (the napi adapter's is in `napi.ts`).
 *
 * @internal
 */
export interface BackendFirewall {
  mode: Mode;
  begin(sessionId: string, context: string): BackendSession;
  /** The verdict on a call before it runs. */
  check(
    session: BackendSession,
    tool: string,
    argsJson: string,
    effect: Effect | undefined | null,
    costUsd: number | undefined | null,
    now: number,
  ): Verdict;
  record(
    session: BackendSession,
    tool: string,
    argsJson: string,
    effect: Effect | undefined | null,
    costUsd: number | undefined | null,
    outcome: Outcome,
    output: string | undefined | null,
    now: number,
  ): void;
  observe(
    session: BackendSession,
    tool: string,
    argsJson: string,
    effect?: Effect | undefined | null,
    output?: string | undefined | null,
  ): void;
  readiness(): Readiness;
  graph(now: number): Graph;
  profileBytes(): Uint8Array;
  loadProfile(bytes: Uint8Array): void;
  mergeProfile(bytes: Uint8Array): void;
}
