/**
 * Handrail for Node.js: canonical JSON, AES-256-GCM envelopes bound to the request and
 * field they belong to, and a behavioral firewall for agents' tool calls, computed by the
 * Rust core.
 *
 * ```js
 * const { generateKey, sealEnvelope, openEnvelope } = require("handrail");
 * const key = generateKey("client-1");
 * const sealed = sealEnvelope(key, "req_1", "payload", Buffer.from("secret"));
 * openEnvelope(sealed, [key], "req_1", "payload"); // <Buffer 73 65 63 72 65 74>
 * ```
 *
 * ```js
 * const { Firewall } = require("handrail");
 * const fw = new Firewall({ policy: { deny: ["drop_database"] } });
 * const session = fw.begin({ sessionId: "s1", context: "Pay invoice INV-1" });
 * const now = Math.floor(Date.now() / 1000);
 * const verdict = fw.check(session, { tool: "send_money", args: { iban: "…" }, now });
 * // { action: "review", score: 0.9, reasons: [{ code: "value_unseen", text: "…" }, …], enforced: false }
 * fw.record(session, { tool: "send_money", args: { iban: "…" }, outcome: "approved", now });
 * ```
 *
 * Every failure of the core is thrown as a `HandrailError` with a stable `code`.
 *
 * @packageDocumentation
 */
import { createApi } from "./api.js";
import { createGuard, createGuardKit, type GuardKit } from "./guard.js";
import { bindText } from "./text.js";
import { createCore, type Execution as ExecutionInstance } from "./core.js";
import { napiBackend } from "./napi.js";
import type { Firewall as FirewallInstance, FirewallConstructor } from "./firewall.js";

import { createHandrail, type Handrail as HandrailInstance, type HandrailConstructor } from "./client.js";

export {
  AuthError,
  ConflictError,
  DecryptionFailedError,
  ExpiredError,
  HandrailError,
  InvalidPayloadError,
  NetworkError,
  NotFoundError,
  ProofError,
  ProtocolError,
  RateLimitedError,
  ServerError,
  WaitTimeoutError,
  WebhookError,
} from "./errors.js";
export { Decision, once } from "./client.js";
export { decisionText } from "./text.js";
export { tool } from "./tool.js";
export type { AskHuman, ToolOptions } from "./tool.js";
export type {
  AskOptions,
  DeferOptions,
  HandrailConstructor,
  HandrailOptions,
  HeadersLike,
  Priority,
  RequestStatus,
  WaitOptions,
  WebhookEvent,
} from "./client.js";
export type { Api } from "./api.js";
export type { Begin, Core, Diff, PatchOp, ProofExpectation } from "./core.js";
export type {
  Action,
  EditDiff,
  Effect,
  FirewallConfig,
  FirewallPolicy,
  Graph,
  GraphEdge,
  GraphNode,
  Mode,
  OpenOptions,
  Outcome,
  ProofClaims,
  Readiness,
  Reason,
  SealOptions,
  Verdict,
} from "./backend.js";
export type {
  BeginOptions,
  CheckOptions,
  FirewallConstructor,
  FirewallOptions,
  FirewallSession,
  ObserveOptions,
  RecordOptions,
  ToolCall,
} from "./firewall.js";

// The addon, through its adapter (`napi.ts`), is this package's backend.
const backend = napiBackend;
bindText(backend);
const api = createApi(backend);

export const canonicalize = api.canonicalize;
export const sealEnvelope = api.sealEnvelope;
export const openEnvelope = api.openEnvelope;
export const generateKey = api.generateKey;

/** An agent's behavioral firewall (see `FirewallConstructor` for `new Firewall(options)`). */
export interface Firewall extends FirewallInstance {}
export const Firewall: FirewallConstructor = api.Firewall;

/** A client of the Handrail server (see `HandrailConstructor` for `new Handrail(options)`). */
export interface Handrail extends HandrailInstance {}
export const Handrail: HandrailConstructor = createHandrail(backend);

const core = createCore(backend);
export const Webhook = core.Webhook;
/**
 * Verifies a LetsPing `x-letsping-signature` header; for receivers migrating from LetsPing.
 * Its MAC covers the body only, so a captured delivery replays with a fresh `t`: new
 * receivers use `Webhook`.
 */
export const verifyLetsping = core.verifyLetsping;
export const proofDigest = core.proofDigest;
export const ProofSigner = core.ProofSigner;
export const ProofVerifier = core.ProofVerifier;
export const idempotencyKey = core.idempotencyKey;
export const toolCallKey = core.toolCallKey;
export const fingerprint = core.fingerprint;
/** One execution under one idempotency key (see `idempotencyBegin`). */
export interface Execution extends ExecutionInstance {}
export const Execution = core.Execution;
export const idempotencyBegin = core.idempotencyBegin;
export const diff = core.diff;
export const applyPatch = core.applyPatch;
export const validateEdit = core.validateEdit;
export const reviewEdit = core.reviewEdit;
export const requestStatus = core.requestStatus;
export const requestPriority = core.requestPriority;

export { GuardError } from "./guard.js";
export type { Guard, GuardOptions } from "./guard.js";
/** Wraps a tool function in the firewall, Handrail review and exactly-once (see `GuardOptions`). */
export const guard = createGuard(backend);

/** The guard's steps for the framework adapters (`handrail/langchain`, …). @internal */
export const guardKit: GuardKit = createGuardKit(backend);
export { requestIdFor } from "./client.js";
