/**
 * `handrail/openai-agents`: approvals of the OpenAI Agents SDK (`@openai/agents`) decided
 * through Handrail, with the run parked on the server.
 *
 * 1. A tool declares `needsApproval: approvalPolicy({ handrail, firewall, session })` (held
 *    when the firewall's verdict, by the core's guard plan, says review or block; or
 *    `always: true`), or plain `needsApproval: true`.
 * 2. When `run()` stops with `result.interruptions`, `park(result, { handrail })` opens one
 *    Handrail request per interrupted call, keyed by the core's guard key over (run id + call
 *    id, service, tool, arguments), and parks `result.state.toString()` as each request's
 *    encrypted state snapshot (the client needs an encryption key). Any worker can resume.
 *    Given the same `firewall` and `session`, it shows the verdict to the person and rejects
 *    the calls the firewall blocks without asking anyone.
 * 3. `resume(agent, requestId, { handrail })` (from a webhook, a queue, another process):
 *    fetches the parked `RunState`, rebuilds it with `RunState.fromString(agent, …)`, waits
 *    for the decision of every call it holds and answers each: `state.approve(item)` for an
 *    approval, `state.reject(item, { message })` for a rejection (`REJECTED: <reason>`) or an
 *    expiry (`EXPIRED: do not act`). Then `run(agent, state)` goes on.
 *
 * **Edits.** The SDK cannot approve a call with other arguments. An approval with edits is
 * answered as a rejection whose message carries the approved values (`APPROVED WITH EDITS:
 * <what changed>; use these values: {...}`): the model makes the call again with those
 * values, and that new call is held and decided like any other.
 *
 * The run id is `runContext.context.runId` (pass `run(agent, input, { context: { runId } })`),
 * else `""`.
 *
 * @packageDocumentation
 */
import type { Agent, RunResult, RunState as RunStateType, RunToolApprovalItem } from "@openai/agents";

import type { Effect, Verdict } from "./backend.js";
import type { Decision, Priority } from "./client.js";
import type { Firewall, FirewallSession } from "./firewall.js";
import { ExpiredError, Handrail, HandrailError, NotFoundError, decisionText, guardKit, requestIdFor } from "./index.js";
import { blockedText, statusText } from "./text.js";

/** What the adapter's functions share. */
export interface AgentsOptions {
  /** Default: `new Handrail()` (reads `HANDRAIL_URL`, `HANDRAIL_API_KEY`, `HANDRAIL_ENCRYPTION_KEY`). */
  handrail?: Handrail;
  /** The requests' `service`. Default: `"openai-agents"`. */
  service?: string;
}

/** What `approvalPolicy` takes. */
export interface PolicyOptions extends AgentsOptions {
  /** Hold every call of the tool. */
  always?: boolean;
  /** The in-process firewall whose verdict decides which calls are held. */
  firewall?: Firewall;
  /** The firewall session (required with `firewall`). */
  session?: FirewallSession;
  /** What the tool does, for the firewall. */
  effect?: Effect;
}

/** What `park` takes. */
export interface ParkOptions extends AgentsOptions {
  priority?: Priority;
  /** The role that may decide. */
  role?: string;
  /** Seconds until the requests expire unanswered (then the calls are rejected: fail closed). */
  expiresIn?: number;
  /** Shown to the person deciding (`context.task`). */
  task?: string;
  /** The firewall, to show its verdict to the person (`context.firewall`). */
  firewall?: Firewall;
  session?: FirewallSession;
}

/**
 * What `park` gives back: one Handrail request per interrupted call it asks about, in the
 * interruptions' order (`callIds[i]` is held by `requestIds[i]`), and the calls the firewall
 * blocked, already rejected in the parked state (nobody is asked about them).
 */
export interface Parked {
  runId: string;
  requestIds: string[];
  callIds: string[];
  blocked: string[];
}

/** The parked snapshot: the SDK's serialized `RunState` and the run it belongs to. */
interface Snapshot {
  handrail: "openai-agents/v1";
  runId: string;
  runState: string;
  /** Calls the firewall blocked: rejected in `runState` before it was parked. */
  blocked?: string[];
}

const DEFAULT_SERVICE = "openai-agents";

function clientOf(options: AgentsOptions): Handrail {
  return options.handrail ?? new Handrail();
}

function runIdOf(runContext: unknown): string {
  const id = (runContext as { context?: { runId?: unknown } } | undefined)?.context?.runId;
  return typeof id === "string" ? id : "";
}

/** The call's exactly-once key: the core's guard key over (run + call id, service, tool, args). */
function keyOf(service: string, runId: string, callId: string, tool: string, args: unknown): string {
  return guardKit.callKey(`openai-agents:${runId}:${callId}`, service, tool, args);
}

function requestOf(hr: Handrail, service: string, tool: string, args: unknown, key: string): string {
  return requestIdFor(hr, { service, action: tool, payload: args, idempotencyKey: key });
}

function argsOf(item: RunToolApprovalItem): unknown {
  const text = item.arguments;
  if (text === undefined || text === "") return {};
  try {
    return JSON.parse(text);
  } catch {
    return { arguments: text };
  }
}

function callIdOf(item: RunToolApprovalItem): string {
  const raw = item.rawItem as { callId?: string; id?: string };
  return raw.callId ?? raw.id ?? "";
}

async function exists(hr: Handrail, id: string): Promise<boolean> {
  try {
    await hr.status(id);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw err;
  }
}

/**
 * A `needsApproval` function: holds a call when `always`, when the firewall's verdict plans
 * `ask` or `block` (the core's guard plan; shadow mode holds nothing), or when a Handrail
 * request for this call already exists (after a restart the SDK asks the policy again before
 * applying a decision: a call that was held stays held, so its decision applies).
 */
export function approvalPolicy(
  tool: string,
  options: PolicyOptions = {},
): (runContext: unknown, input: unknown, callId?: string) => Promise<boolean> {
  const service = options.service ?? DEFAULT_SERVICE;
  if (options.firewall !== undefined && options.session === undefined) {
    throw new HandrailError("invalid_options", "approvalPolicy: a firewall needs a session");
  }
  return async (runContext, input, callId) => {
    if (options.always) return true;
    if (options.firewall !== undefined && options.session !== undefined) {
      const { plan } = guardKit.judge(options.firewall, options.session, tool, input, options.effect);
      if (plan === "ask" || plan === "block") return true;
    }
    const hr = clientOf(options);
    return exists(hr, requestOf(hr, service, tool, input, keyOf(service, runIdOf(runContext), callId ?? "", tool, input)));
  };
}

/**
 * Opens one Handrail request per interruption of `result` (none twice: a parked call keeps its
 * request) and parks the run's state, sealed, on each of them.
 *
 * @throws HandrailError `invalid_key` when the client has no encryption key: a run's state is
 *   never parked in the clear.
 */
export async function park(result: RunResult<any, any>, options: ParkOptions = {}): Promise<Parked> {
  const hr = clientOf(options);
  if (!hr.encrypts) {
    throw new HandrailError("invalid_key", "park: the client needs an encryption key (HANDRAIL_ENCRYPTION_KEY) to park a run's state");
  }
  const service = options.service ?? DEFAULT_SERVICE;
  const state = result.state;
  const runId = runIdOf((state as unknown as { _context?: unknown })._context);
  const all = result.interruptions as RunToolApprovalItem[];
  // An enforced block is never put to a person: the call is rejected in the state itself,
  // with the firewall's reasons for the model.
  const blocked: string[] = [];
  const items: RunToolApprovalItem[] = [];
  const verdicts = new Map<RunToolApprovalItem, Verdict>();
  for (const item of all) {
    if (options.firewall !== undefined && options.session !== undefined) {
      const judged = guardKit.judge(options.firewall, options.session, item.name ?? "", argsOf(item));
      if (judged.plan === "block") {
        state.reject(item, { message: blockedText(judged.verdict) });
        blocked.push(callIdOf(item));
        continue;
      }
      verdicts.set(item, judged.verdict);
    }
    items.push(item);
  }
  const snapshot: Snapshot = { handrail: "openai-agents/v1", runId, runState: state.toString(), blocked };
  const requestIds = await Promise.all(
    items.map((item) => {
      const tool = item.name ?? "";
      const args = argsOf(item);
      const callId = callIdOf(item);
      const verdict = verdicts.get(item);
      const context: Record<string, unknown> =
        verdict !== undefined
          ? guardKit.reviewContext(verdict, options.task)
          : options.task !== undefined
            ? { task: options.task }
            : {};
      return hr
        .defer({
          service,
          action: tool,
          payload: args,
          idempotencyKey: keyOf(service, runId, callId, tool, args),
          // The run names the thread, so an operator may grant a tool "in this thread".
          context: { ...context, thread: runId, openai_agents: { run_id: runId, call_id: callId } },
          stateSnapshot: snapshot,
          ...(options.priority !== undefined && { priority: options.priority }),
          ...(options.role !== undefined && { role: options.role }),
          ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
        })
        .catch((err: unknown) => {
          // The same key with another body (the snapshot or context moved): the first
          // request and its decision stand.
          if (err instanceof HandrailError && err.code === "idempotency_mismatch") {
            return requestOf(hr, service, tool, args, keyOf(service, runId, callId, tool, args));
          }
          throw err;
        });
    }),
  );
  return { runId, requestIds, callIds: items.map(callIdOf), blocked };
}


/** How a Handrail decision answers an interruption. */
function answer(state: RunStateType<any, any>, item: RunToolApprovalItem, decision: Decision | null): void {
  if (decision === null) {
    state.reject(item, { message: statusText("EXPIRED") });
  } else if (decision.status === "APPROVED") {
    state.approve(item);
  } else {
    // A rejection gives its reason; an edit, which the SDK cannot approve, gives the
    // approved values for the model to call again with.
    state.reject(item, { message: decisionText(decision) });
  }
}

/**
 * Rebuilds the run parked on request `requestId` and answers every call it holds from
 * Handrail (waiting for the undecided ones), ready for `run(agent, state)`.
 *
 * Another call of the run whose request expired is rejected (`EXPIRED: do not act`).
 *
 * @throws ExpiredError when request `requestId` itself expired: its run is not resumed from
 *   it (fail closed); resume it from another of its requests, or start a new run.
 * @throws HandrailError `invalid_state` when the request holds no run of this adapter.
 */
export async function resume(
  agent: Agent<any, any>,
  requestId: string,
  options: AgentsOptions & {
    timeout?: number;
    signal?: AbortSignal;
    /**
     * The `RunState` class of the app's `@openai/agents`: `run()` tells a state by its class,
     * and the package ships an ESM and a CommonJS copy. Default: the ESM one (`import`); a
     * CommonJS app passes `require("@openai/agents").RunState`.
     */
    RunState?: { fromString(agent: Agent<any, any>, text: string): Promise<RunStateType<any, any>> };
  } = {},
): Promise<RunStateType<any, any>> {
  const RunState = options.RunState ?? (await importEsm("@openai/agents")).RunState;
  const hr = clientOf(options);
  const service = options.service ?? DEFAULT_SERVICE;
  const waitOptions = {
    ...(options.timeout !== undefined && { timeout: options.timeout }),
    ...(options.signal !== undefined && { signal: options.signal }),
  };
  // An expired request gives no state back: `ExpiredError` (fail closed; nothing runs).
  const decided = await hr.wait(requestId, waitOptions);
  const snapshot = decided.state as Snapshot | null;
  if (snapshot === null || snapshot.handrail !== "openai-agents/v1" || typeof snapshot.runState !== "string") {
    throw new HandrailError("invalid_state", `request ${requestId} holds no parked run`);
  }
  const state = await RunState.fromString(agent, snapshot.runState);
  // Blocked calls were rejected before the state was parked.
  const blocked = new Set(snapshot.blocked ?? []);
  const items = state.getInterruptions().filter((item) => !blocked.has(callIdOf(item)));
  const decisions = await Promise.all(
    items.map((item) => {
      const tool = item.name ?? "";
      const args = argsOf(item);
      const id = requestOf(hr, service, tool, args, keyOf(service, snapshot.runId, callIdOf(item), tool, args));
      return id === requestId ? decided : waitOrExpired(hr, id, waitOptions);
    }),
  );
  for (const [i, item] of items.entries()) answer(state, item, decisions[i] ?? null);
  return state;
}

/** The decision, or `null` for an expired request (it fails closed). */
async function waitOrExpired(hr: Handrail, id: string, options: { timeout?: number; signal?: AbortSignal }): Promise<Decision | null> {
  try {
    return await hr.wait(id, options);
  } catch (err) {
    if (err instanceof ExpiredError) return null;
    throw err;
  }
}

/** `import()` that TypeScript's CommonJS output keeps as a real dynamic import (the ESM copy). */
const importEsm = new Function("specifier", "return import(specifier)") as (
  specifier: "@openai/agents",
) => Promise<typeof import("@openai/agents")>;
