/**
 * `handrail/langchain`: a person's approval as a LangChain.js tool, and a LangGraph.js gate
 * node on `interrupt()`, the same protocol as Python's `handrail.integrations.langgraph`.
 *
 * - `approvalTool({ service })` is a `DynamicStructuredTool` (`ask_human_approval`) a model
 *   calls before acting: `{ action, payload, question? }` in, `decisionText` out
 *   (`APPROVED`, `APPROVED WITH EDITS: …; use these values: …`, `REJECTED: <reason>`).
 * - `gate({ action, args })` is a graph node that holds the thread until a person decides:
 *   1. it opens a Handrail request with idempotency scope `langgraph:<thread id>:<node>`;
 *   2. calls `interrupt()` with a LangChain human-in-the-loop request (`action_requests`,
 *      `review_configs`, plus `handrail_request_id`);
 *   3. on resume (`new Command({ resume })`, e.g. `resumeCommand(decision)`), LangGraph runs
 *      the node again from its start: step 1 gives back the *same* request (same scope and
 *      payload), and the gate reads the decision from the server, which wins: a resume value
 *      that contradicts it throws, so nobody approves by forging a resume (and the thread is
 *      not stuck on it: LangGraph keeps a refused resume value; the gate reads the newest);
 *   4. returns `{ [resultKey]: { type: "approve" | "edit" | "reject", args, message,
 *      request_id } }`; route on `state.handrail.type`, act on `args`.
 *
 * Paused threads are checkpoints: use a durable LangGraph checkpointer in production
 * (`MemorySaver` loses them on restart).
 *
 * @packageDocumentation
 */
import { tool } from "@langchain/core/tools";
import { Command, interrupt, isGraphInterrupt, type LangGraphRunnableConfig } from "@langchain/langgraph";
import { z } from "zod";

import type { Decision, DeferOptions, Priority } from "./client.js";
import type { Judgement } from "./guard.js";
import type { Effect, Verdict } from "./backend.js";
import type { Firewall, FirewallSession } from "./firewall.js";
import { ExpiredError, Handrail, HandrailError, NotFoundError, canonicalize, guardKit, requestIdFor } from "./index.js";
import { blockedText, decisionText, statusText } from "./text.js";

export { decisionText } from "./text.js";

/** What `approvalTool` takes. */
export interface ApprovalToolOptions {
  /** Default: `new Handrail()` (reads `HANDRAIL_URL`, `HANDRAIL_API_KEY`…). */
  handrail?: Handrail;
  /** The service the requests are filed under. Default: `"langchain"`. */
  service?: string;
  /** Default: `ask_human_approval`. */
  name?: string;
  priority?: Priority;
  /** Seconds to wait for the decision before `WaitTimeoutError`. Default: until decided. */
  timeout?: number;
}

/**
 * A LangChain tool asking a person to approve an action before the model takes it. Every
 * call within one run (`config.configurable.thread_id`, else the tool call id) with the
 * same action and payload is one request.
 */
export function approvalTool(options: ApprovalToolOptions = {}) {
  const hr = options.handrail ?? new Handrail();
  const service = options.service ?? "langchain";
  return tool(
    async ({ action, payload, question }, config) => {
      const thread = config?.configurable?.thread_id as string | undefined;
      const call = (config as { toolCall?: { id?: string } } | undefined)?.toolCall?.id;
      const scope = thread ?? call;
      const decision = await hr.ask({
        service,
        action,
        payload: payload ?? {},
        ...((question !== undefined || thread !== undefined) && {
          context: { ...(question !== undefined && { question }), ...(thread !== undefined && { thread }) },
        }),
        ...(scope !== undefined && { idempotencyScope: `langchain:${scope}` }),
        ...(options.priority !== undefined && { priority: options.priority }),
        ...(options.timeout !== undefined && { timeout: options.timeout }),
        ...(config?.signal !== undefined && { signal: config.signal }),
      });
      return decisionText(decision);
    },
    {
      name: options.name ?? "ask_human_approval",
      description:
        "Ask a person to approve an action before you take it. Returns APPROVED, " +
        "APPROVED WITH EDITS (then use the values given), or REJECTED with the reason " +
        "(then do not take the action).",
      schema: z.object({
        action: z.string().describe("What you are about to do, e.g. 'refund' or 'send_email'."),
        payload: z.record(z.string(), z.unknown()).optional().describe("The exact values you will use."),
        question: z.string().optional().describe("Anything the person should know."),
      }),
    },
  );
}

/** A Handrail decision in the shape of LangChain's human-in-the-loop decisions. */
export type HitlDecision =
  | { type: "approve" }
  | { type: "edit"; edited_action: { name: string; args: unknown } }
  | { type: "reject"; message?: string };

/** `decision` as a LangChain HITL decision. */
export function hitlDecision(decision: Decision, action = ""): HitlDecision {
  if (decision.status === "APPROVED") return { type: "approve" };
  if (decision.status === "APPROVED_WITH_MODIFICATIONS") {
    return { type: "edit", edited_action: { name: action, args: decision.payload } };
  }
  return decision.reason ? { type: "reject", message: decision.reason } : { type: "reject" };
}

/** `new Command({ resume: { decisions: [...] } })` for a decision: pass it to `graph.invoke`. */
export function resumeCommand(decision: Decision, action?: string): Command {
  return new Command({ resume: { decisions: [hitlDecision(decision, action)] } });
}

/** The idempotency scope of the running node: `langgraph:<thread id>:<node>`. */
export function scopeOf(config: LangGraphRunnableConfig): string {
  const thread = config.configurable?.thread_id;
  const node = (config.metadata?.langgraph_node as string | undefined) ?? "";
  if (!thread) throw new HandrailError("invalid_config", "the gate needs a checkpointer and a thread_id in the config");
  return `langgraph:${thread}:${node}`;
}

function resumedType(value: unknown): string | undefined {
  let v = value as { decisions?: unknown[]; type?: unknown } | undefined;
  if (v && Array.isArray(v.decisions) && v.decisions.length > 0) v = v.decisions[0] as typeof v;
  return v && typeof v.type === "string" ? v.type : undefined;
}

/** What `gate` takes. */
export interface GateOptions<S> {
  /** Default: `new Handrail()`. */
  handrail?: Handrail;
  /** The action the person decides on (`refund`). */
  action: string;
  /** The state key holding the action's arguments, or a function of the state returning them. */
  args: string | ((state: S) => unknown);
  /** Default: `"langgraph"`. */
  service?: string;
  /** JSON Schema an edit must satisfy. */
  schema?: Record<string, unknown>;
  /** Shown to the person. Default: `Approve <action>?`. */
  description?: string;
  /** The state key the gate writes its result to. Default: `"handrail"`. */
  resultKey?: string;
  priority?: Priority;
}

/** What the gate writes under `resultKey`. */
export interface GateResult {
  type: "approve" | "edit" | "reject";
  /** The approved arguments (the edited ones after an edit); `null` on rejection. */
  args: unknown;
  message: string | null;
  request_id: string;
}

/** A node that holds the graph until a person decides on `action` (see the module docs). */
export function gate<S = Record<string, unknown>>(options: GateOptions<S>) {
  const hr = options.handrail ?? new Handrail();
  const resultKey = options.resultKey ?? "handrail";
  return async (state: S, config: LangGraphRunnableConfig): Promise<Record<string, GateResult>> => {
    const payload =
      typeof options.args === "string" ? (state as Record<string, unknown>)[options.args] : options.args(state);
    const scope = scopeOf(config);
    const thread = String(config.configurable?.thread_id);
    const requestId = await hr.defer({
      service: options.service ?? "langgraph",
      action: options.action,
      payload,
      idempotencyScope: scope,
      // `thread` names the run, so an operator may grant a tool "in this thread".
      context: { thread, langgraph: { thread_id: thread, scope } },
      ...(options.schema !== undefined && { schema: options.schema }),
      ...(options.priority !== undefined && { priority: options.priority }),
      ...(config.signal !== undefined && { signal: config.signal }),
    });
    const answer = latestAnswer({
      action_requests: [
        { name: options.action, args: payload, description: options.description ?? `Approve ${options.action}?` },
      ],
      review_configs: [{ action_name: options.action, allowed_decisions: ["approve", "edit", "reject"] }],
      handrail_request_id: requestId,
    });
    const decision = await hr.wait(requestId, config.signal !== undefined ? { signal: config.signal } : {});
    const truth = hitlDecision(decision, options.action);
    const claimed = resumedType(answer);
    if (claimed !== undefined && claimed !== truth.type) {
      throw new HandrailError(
        "resume_mismatch",
        `resume value says "${claimed}" but request ${requestId} was decided ${decision.status}`,
      );
    }
    return {
      [resultKey]: {
        type: truth.type,
        args: decision.approved ? decision.payload : null,
        message: decision.reason,
        request_id: requestId,
      },
    };
  };
}

// ---------------------------------------------------------------------------------------
// LangChain v1 agents: `createAgent({ model, tools, middleware: [handrailMiddleware(...)] })`
// ---------------------------------------------------------------------------------------

/**
 * A decision type of LangChain's human-in-the-loop middleware: JS `langchain` 1.x defines
 * `approve`, `edit` and `reject`; `respond` is Python `langchain`'s fourth (a person answers
 * in place of the tool), accepted here too so both languages take the same decisions.
 */
export type HitlDecisionType = "approve" | "edit" | "reject" | "respond";

/** One tool call of a `HITLRequest`, with the Handrail request that holds it. */
export interface HandrailActionRequest {
  name: string;
  args: Record<string, unknown>;
  description?: string;
  /** The Handrail request deciding this call (one per held call). */
  handrailRequestId: string;
  /** The tool call's id, as the model gave it. */
  toolCallId: string;
}

/** The interrupt's value: LangChain's `HITLRequest`, one action per held call of the step. */
export interface HandrailHitlRequest {
  actionRequests: HandrailActionRequest[];
  reviewConfigs: { actionName: string; allowedDecisions: HitlDecisionType[]; argsSchema?: Record<string, unknown> }[];
  /** The Handrail request ids, in the order of `actionRequests`. */
  handrailRequestIds: string[];
}

/**
 * A decision of LangChain's `HITLResponse`. `respond`: the tool does not run and the model
 * reads `message` as the tool's result (on the server: a rejection whose reason is the reply).
 */
export type AgentDecision =
  | { type: "approve" }
  | { type: "edit"; editedAction: { name: string; args: Record<string, unknown> } }
  | { type: "reject"; message?: string }
  | { type: "respond"; message: string };

/** Per-tool configuration, as `humanInTheLoopMiddleware`'s `interruptOn` entries. */
export interface HandrailInterruptOnConfig {
  /**
   * What the person may do. Default: approve, edit and reject. A server decision the list
   * does not offer fails closed (the tool does not run; the model reads
   * `REJECTED: edit is not allowed for <tool>`); a rejection always applies. With `respond`
   * and not `reject`, a rejection with a reason is the person's reply (the model reads it as
   * the tool's result); with both, the resume value picks (`handrailDecisions` says `reject`).
   */
  allowedDecisions?: HitlDecisionType[];
  /** Shown to the person (and in the interrupt's action request). */
  description?: string | ((toolCall: AgentToolCall) => string | Promise<string>);
  /** JSON Schema an edit must satisfy: it becomes the Handrail request's schema. */
  argsSchema?: Record<string, unknown>;
  /**
   * Whether to hold this call. Default: the firewall's verdict (held when the core's plan
   * is `ask`) when a `firewall` is given, else always.
   */
  when?: (request: { toolCall: AgentToolCall; state: unknown; runtime: unknown }) => boolean | Promise<boolean>;
  /** What the tool does, for the firewall (`read`, `write`, `destructive`, `egress`, `payment`). */
  effect?: Effect;
}

/** A tool call as LangChain's messages carry it. */
export interface AgentToolCall {
  name: string;
  args: Record<string, unknown>;
  id?: string;
  type?: "tool_call";
}

/** What `handrailMiddleware` takes. */
export interface HandrailMiddlewareOptions {
  /** Default: `new Handrail()` (reads `HANDRAIL_URL`, `HANDRAIL_API_KEY`…). */
  handrail?: Handrail;
  /** The requests' `service`. Default: `"langchain"`. */
  service?: string;
  /**
   * Which tools a person may be asked about, as `humanInTheLoopMiddleware`'s `interruptOn`:
   * `true` (all decisions), `false` (never held) or a config. A tool left out is judged by
   * the firewall when one is given (held when it says review), else never held.
   */
  interruptOn?: Record<string, boolean | HandrailInterruptOnConfig>;
  /**
   * The in-process firewall: its verdict is the default predicate, an enforced `block`
   * never runs (the model reads the reason), and an edit is judged again before it runs.
   */
  firewall?: Firewall;
  /** The firewall session of a thread (required with `firewall`). */
  session?: FirewallSession | ((threadId: string) => FirewallSession);
  /** The task as the user gave it: shown to the person (`context.task`). */
  context?: string;
  /** Posts observations under this agent name. */
  agent?: string;
  /** Prefix of the default description. Default: `"Tool execution requires approval"`. */
  descriptionPrefix?: string;
  priority?: Priority;
  /** The role that may decide. */
  role?: string;
  /** Seconds until a request expires unanswered: then the call fails closed. */
  expiresIn?: number;
  /** Seconds a resumed step waits for undecided requests before `WaitTimeoutError`. */
  timeout?: number;
}

const DECISIONS: HitlDecisionType[] = ["approve", "edit", "reject"];
const DECISION_TYPES: readonly string[] = ["approve", "edit", "reject", "respond"];

/** The review a held call got, kept in the agent's state for the tool node. */
interface Review {
  requestId: string;
  status: string;
  text: string;
  /** The call's guard key, for recording its outcome. */
  key: string;
  thread: string;
}

/**
 * The HITL decision that says what a Handrail decision says (the server's truth), for a call
 * that allows `allowed`: an approval or an edit it does not allow is a rejection, and a
 * rejection of a call that allows `respond` but not `reject` is the person's reply.
 */
export function agentDecision(
  decision: Decision,
  action: string,
  allowed: readonly HitlDecisionType[] = DECISIONS,
): AgentDecision {
  if (decision.status === "APPROVED") {
    if (!allowed.includes("approve")) return { type: "reject", message: notAllowed("approve", action) };
    return { type: "approve" };
  }
  if (decision.status === "APPROVED_WITH_MODIFICATIONS") {
    if (!allowed.includes("edit")) return { type: "reject", message: notAllowed("edit", action) };
    return { type: "edit", editedAction: { name: action, args: decision.payload as Record<string, unknown> } };
  }
  if (decision.reason && allowed.includes("respond") && !allowed.includes("reject")) {
    return { type: "respond", message: decision.reason };
  }
  return { type: "reject", message: decisionText(decision) };
}

/** The text a refused decision type gives the model. */
function notAllowed(type: string, action: string): string {
  return statusText("REJECTED", `${type} is not allowed for ${action}`);
}

/**
 * Waits for every Handrail request of a `HITLRequest` and gives the `HITLResponse` that says
 * what the server decided, to resume with: `agent.invoke(new Command({ resume }), config)`.
 * (A plain value, not a `Command`: `createAgent` tells a `Command` by its class, and an app's
 * ESM `@langchain/langgraph` is another copy of the class than this package's CommonJS one.)
 */
export async function handrailDecisions(
  handrail: Handrail,
  request: HandrailHitlRequest,
  options: { timeout?: number; signal?: AbortSignal } = {},
): Promise<{ decisions: AgentDecision[] }> {
  const decisions = await Promise.all(
    request.actionRequests.map(async (action, i): Promise<AgentDecision> => {
      try {
        const allowed = request.reviewConfigs?.[i]?.allowedDecisions ?? DECISIONS;
        return agentDecision(await handrail.wait(action.handrailRequestId, options), action.name, allowed);
      } catch (err) {
        if (err instanceof ExpiredError) return { type: "reject", message: statusText("EXPIRED") };
        throw err;
      }
    }),
  );
  return { decisions };
}

/**
 * The newest resume value of this step's interrupt (LangGraph's public `interrupt()` only).
 *
 * LangGraph keeps a task's resume values even when the node then throws (a contradicting
 * claim, a wait that timed out): a later `Command({ resume })` is the *next* answer, while the
 * first `interrupt()` keeps returning the old one, and the thread would stay stuck on it. Each
 * earlier answer was judged (and refused) when it came, so only the newest is read:
 * `interrupt()` is asked again until it has no stored answer left, which it says by throwing
 * a `GraphInterrupt` (caught here: it has written nothing by then). Without any answer the
 * first call's `GraphInterrupt` pauses the graph as usual. Each call consumes one stored
 * answer, so the loop ends.
 */
function latestAnswer(value: unknown): unknown {
  let answer = interrupt(value);
  for (;;) {
    try {
      answer = interrupt(value);
    } catch (err) {
      if (isGraphInterrupt(err)) return answer;
      throw err;
    }
  }
}

function canonicalEqual(a: unknown, b: unknown): boolean {
  return canonicalize(JSON.stringify(a ?? null)) === canonicalize(JSON.stringify(b ?? null));
}

/** The type a resume value claims for one held call (`undefined` when it claims none). */
function claimedType(decision: unknown): string | undefined {
  const t = (decision as { type?: unknown } | null)?.type;
  return typeof t === "string" ? t : undefined;
}

/**
 * A LangChain v1 agent middleware that holds tool calls for a person through Handrail, in
 * the shape of `humanInTheLoopMiddleware` (same `interruptOn`, same `HITLRequest` interrupt,
 * same `HITLResponse` resume):
 *
 * 1. After each model step, every tool call is judged: `interruptOn[tool].when`, else the
 *    firewall's verdict (the core's guard plan), else "held" for a tool in `interruptOn`.
 *    A call the firewall blocks never runs; the model reads why.
 * 2. Each held call becomes its own Handrail request, keyed by the core's guard key over
 *    (thread id + tool call id, service, tool, args): a resumed or re-executed step finds
 *    the same request, never a second one.
 * 3. The step pauses on one `interrupt()` whose value is the standard `HITLRequest` for all
 *    held calls of the step, plus each call's `handrailRequestId`.
 * 4. On resume (`new Command({ resume: { decisions } })`, e.g. from `handrailDecisions`) the step
 *    reads each decision from the server, which wins: a resume decision that contradicts it
 *    (another type, other edited arguments, another reply) or names a type the call's
 *    `allowedDecisions` does not offer throws `HandrailError` `resume_mismatch`, and nothing
 *    of the step applies. Approved calls run (an edit with the edited
 *    arguments, judged again by the firewall and checked against `argsSchema`, and the model
 *    reads `APPROVED WITH EDITS: <what changed>…` before the result); a rejected call does not
 *    run and the model reads `REJECTED: <reason>`; a `respond` (a rejection whose reason is the
 *    person's reply) does not run either and the model reads the reply as the tool's result;
 *    an expired one fails closed (`EXPIRED: do not act`). A server decision the call's
 *    `allowedDecisions` does not offer fails closed like a rejection.
 *
 * Needs a checkpointer and a `thread_id` (`configurable.thread_id`), as LangChain's own HITL.
 */
export function handrailMiddleware(options: HandrailMiddlewareOptions = {}) {
  // `langchain` is loaded only by the apps that use the middleware (an optional peer).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { createMiddleware, ToolMessage, AIMessage } = require("langchain") as typeof import("langchain");
  const { getConfig } = require("@langchain/langgraph") as typeof import("@langchain/langgraph");
  const { z: zod } = require("zod") as typeof import("zod");
  const hr = options.handrail ?? new Handrail();
  const service = options.service ?? "langchain";
  const interruptOn = options.interruptOn ?? {};
  const { firewall, context: task, agent } = options;
  if (firewall !== undefined && options.session === undefined) {
    throw new HandrailError("invalid_options", "handrailMiddleware: a firewall needs a session");
  }
  const sessionOf = (thread: string): FirewallSession | undefined => {
    const s = options.session;
    return typeof s === "function" ? s(thread) : s;
  };

  for (const [name, c] of Object.entries(interruptOn)) {
    const unknown = typeof c === "object" ? (c.allowedDecisions ?? []).filter((d) => !DECISION_TYPES.includes(d)) : [];
    if (typeof c === "object" && (unknown.length > 0 || (c.allowedDecisions !== undefined && c.allowedDecisions.length === 0))) {
      throw new HandrailError(
        "invalid_options",
        `handrailMiddleware: ${name}: allowedDecisions must be a non-empty list of ${DECISION_TYPES.join(", ")}; got ${JSON.stringify(c.allowedDecisions)}`,
      );
    }
  }

  const configOf = (name: string): HandrailInterruptOnConfig | false | undefined => {
    const c = interruptOn[name];
    if (c === false) return false;
    if (c === true) return {};
    return c;
  };

  return createMiddleware({
    name: "HandrailMiddleware",
    stateSchema: zod.object({ handrailReviews: zod.record(zod.string(), zod.any()).optional() }),
    afterModel: {
      canJumpTo: ["model"],
      hook: async (state: any, runtime: any) => {
        const messages: any[] = state.messages ?? [];
        const last = [...messages].reverse().find((m) => AIMessage.isInstance(m));
        if (!last || !last.tool_calls?.length) return undefined;
        const answered = new Set(
          messages.filter((m) => ToolMessage.isInstance(m)).map((m: { tool_call_id: string }) => m.tool_call_id),
        );
        const calls: AgentToolCall[] = last.tool_calls.filter((c: AgentToolCall) => !answered.has(c.id ?? ""));
        if (calls.length === 0) return undefined;
        const thread = (runtime?.configurable?.thread_id ?? getConfig()?.configurable?.thread_id) as string | undefined;
        if (!thread) {
          throw new HandrailError("invalid_config", "handrailMiddleware needs a checkpointer and a thread_id in the config");
        }
        const session = firewall !== undefined ? sessionOf(thread) : undefined;

        type Held = { call: AgentToolCall; config: HandrailInterruptOnConfig; key: string; verdict?: Verdict };
        const held: Held[] = [];
        const blocked: { call: AgentToolCall; text: string }[] = [];
        for (const call of calls) {
          const config = configOf(call.name);
          const key = guardKit.callKey(`langchain:${thread}:${call.id ?? ""}`, service, call.name, call.args);
          let judged: Judgement | undefined;
          if (firewall !== undefined && session !== undefined) {
            judged = guardKit.judge(firewall, session, call.name, call.args, config ? config.effect : undefined);
            if (judged.plan === "block") {
              guardKit.record({ handrail: hr, firewall, session, tool: call.name, key, values: call.args, plan: "block", status: null, result: undefined });
              blocked.push({ call, text: blockedText(judged.verdict) });
              continue;
            }
          }
          let hold: boolean;
          if (config === false) hold = false;
          else if (config?.when !== undefined) hold = await config.when({ toolCall: call, state, runtime });
          else if (judged !== undefined) hold = judged.plan === "ask";
          else hold = config !== undefined;
          // A call held before (this step ran before a restart, or the firewall has learned
          // since) stays held: its request and decision stand.
          if (!hold) hold = await exists(requestIdFor(hr, { service, action: call.name, payload: call.args, idempotencyKey: key }));
          if (hold) held.push({ call, config: config || {}, key, ...(judged !== undefined && { verdict: judged.verdict }) });
        }

        const reviews: Record<string, Review> = { ...(state.handrailReviews ?? {}) };
        const toolMessages: unknown[] = blocked.map(
          ({ call, text }) => new ToolMessage({ content: text, name: call.name, tool_call_id: call.id ?? "", status: "error" }),
        );
        const revised = new Map<string, AgentToolCall>();

        if (held.length > 0) {
          const ids = await Promise.all(held.map((h) => open(h, thread)));
          const actionRequests: HandrailActionRequest[] = [];
          for (const [i, h] of held.entries()) {
            const d = h.config.description;
            const description =
              typeof d === "function"
                ? await d(h.call)
                : (d ??
                  `${options.descriptionPrefix ?? "Tool execution requires approval"}\n\nTool: ${h.call.name}\nArgs: ${JSON.stringify(h.call.args, null, 2)}`);
            actionRequests.push({
              name: h.call.name,
              args: h.call.args,
              description,
              handrailRequestId: ids[i] as string,
              toolCallId: h.call.id ?? "",
            });
          }
          const request: HandrailHitlRequest = {
            actionRequests,
            reviewConfigs: held.map((h) => ({
              actionName: h.call.name,
              allowedDecisions: h.config.allowedDecisions ?? [...DECISIONS],
              ...(h.config.argsSchema !== undefined && { argsSchema: h.config.argsSchema }),
            })),
            handrailRequestIds: ids,
          };
          const answer = latestAnswer(request) as { decisions?: unknown } | undefined;
          const claimed = answer?.decisions;
          if (claimed !== undefined && (!Array.isArray(claimed) || claimed.length !== held.length)) {
            throw new HandrailError(
              "resume_mismatch",
              `the resume value must hold ${held.length} decision(s), one per held call, in the interrupt's order`,
            );
          }
          const waitOptions = {
            ...(options.timeout !== undefined && { timeout: options.timeout }),
            ...(runtime?.signal !== undefined && { signal: runtime.signal as AbortSignal }),
          };
          const outcomes = await Promise.all(
            held.map(async (h, i) => {
              try {
                return await hr.wait(ids[i] as string, waitOptions);
              } catch (err) {
                if (err instanceof ExpiredError) return null;
                throw err;
              }
            }),
          );
          // Every claim is checked before anything of the step applies.
          const truths = held.map((h, i): AgentDecision => {
            const decision = outcomes[i] ?? null;
            const allowed = h.config.allowedDecisions ?? DECISIONS;
            const truth: AgentDecision =
              decision === null ? { type: "reject", message: statusText("EXPIRED") } : agentDecision(decision, h.call.name, allowed);
            const said = Array.isArray(claimed) ? claimed[i] : undefined;
            if (said === undefined) return truth;
            const type = claimedType(said);
            const id = ids[i] as string;
            const status = decision?.status ?? "EXPIRED";
            if (type === undefined || !DECISION_TYPES.includes(type) || (type !== "reject" && !allowed.includes(type as HitlDecisionType))) {
              throw new HandrailError(
                "resume_mismatch",
                `resume decision ${i}: decision type "${type ?? "?"}" is not allowed for ${h.call.name}; expected one of ${JSON.stringify(allowed)}`,
              );
            }
            if (type === "respond") {
              // A reply is a rejection whose reason is the reply, word for word.
              const reason = decision?.status === "REJECTED" ? decision.reason : null;
              if (!reason || (said as { message?: unknown }).message !== reason) {
                throw new HandrailError("resume_mismatch", `resume decision ${i} responds otherwise than request ${id} was decided (${status})`);
              }
              return { type: "respond", message: reason };
            }
            const editAgrees =
              truth.type !== "edit" ||
              (said as { editedAction?: { args?: unknown } }).editedAction?.args === undefined ||
              canonicalEqual((said as { editedAction: { args: unknown } }).editedAction.args, truth.editedAction.args);
            const agrees = type === truth.type || (type === "reject" && truth.type === "respond");
            if (!agrees || !editAgrees) {
              throw new HandrailError("resume_mismatch", `resume decision ${i} says "${type}" but request ${id} was decided ${status}`);
            }
            return type === "reject" && truth.type === "respond" ? { type: "reject", message: decisionText(decision as Decision) } : truth;
          });
          for (const [i, h] of held.entries()) {
            const decision = outcomes[i] ?? null;
            const id = ids[i] as string;
            const truth = truths[i] as AgentDecision;
            let reject: string | undefined;
            let respond: string | undefined;
            let args = h.call.args;
            if (truth.type === "respond") {
              respond = truth.message;
            } else if (truth.type === "reject") {
              reject = truth.message ?? statusText("REJECTED");
            } else {
              args = (decision as Decision).payload as Record<string, unknown>;
              if (decision?.status === "APPROVED_WITH_MODIFICATIONS" && firewall !== undefined && session !== undefined) {
                const again = guardKit.judge(firewall, session, h.call.name, args, h.config.effect);
                if (again.plan === "block") reject = blockedText(again.verdict);
              }
            }
            if (reject !== undefined || respond !== undefined) {
              if (firewall !== undefined && session !== undefined && decision !== null) {
                guardKit.record({ handrail: hr, firewall, session, tool: h.call.name, key: h.key, values: h.call.args, plan: "ask", status: decision.status, result: undefined, scope: thread, ...(agent !== undefined && { agent }), ...(task !== undefined && { task }) });
              }
              toolMessages.push(
                respond !== undefined
                  ? new ToolMessage({ content: respond, name: h.call.name, tool_call_id: h.call.id ?? "", status: "success" })
                  : new ToolMessage({ content: reject as string, name: h.call.name, tool_call_id: h.call.id ?? "", status: "error" }),
              );
              continue;
            }
            reviews[h.call.id ?? ""] = {
              requestId: id,
              status: (decision as Decision).status,
              text: decisionText(decision as Decision),
              key: h.key,
              thread,
            };
            if (args !== h.call.args) revised.set(h.call.id ?? "", { ...h.call, args });
          }
        }
        if (toolMessages.length === 0 && revised.size === 0 && held.length === 0) return undefined;
        last.tool_calls = last.tool_calls.map((c: AgentToolCall) => revised.get(c.id ?? "") ?? c);
        // Every call answered here (rejected, blocked, expired): back to the model, which
        // reads why; otherwise the tools node runs the calls left.
        const settled = new Set([...answered, ...toolMessages.map((m) => (m as { tool_call_id: string }).tool_call_id)]);
        const left = last.tool_calls.some((c: AgentToolCall) => !settled.has(c.id ?? ""));
        return { messages: [last, ...toolMessages], handrailReviews: reviews, ...(!left && { jumpTo: "model" }) };
      },
    },
    wrapToolCall: async (request: any, handler: any) => {
      const review: Review | undefined = request.state?.handrailReviews?.[request.toolCall?.id ?? ""];
      const result = await handler(request);
      if (review && firewall !== undefined) {
        // The approved call ran: the firewall learns the path and its values (the guard's rule).
        const session = sessionOf(review.thread);
        if (session !== undefined) {
          guardKit.record({
            handrail: hr,
            firewall,
            session,
            tool: request.toolCall.name,
            key: review.key,
            values: request.toolCall.args,
            plan: "ask",
            status: review.status,
            result: ToolMessage.isInstance(result) ? result.content : undefined,
            scope: review.thread,
            ...(agent !== undefined && { agent }),
            ...(task !== undefined && { task }),
          });
        }
      }
      if (!review || review.status !== "APPROVED_WITH_MODIFICATIONS" || !ToolMessage.isInstance(result)) return result;
      const shown = typeof result.content === "string" ? result.content : JSON.stringify(result.content);
      return new ToolMessage({
        content: `${review.text}\nResult: ${shown}`,
        name: result.name ?? request.toolCall.name,
        tool_call_id: result.tool_call_id,
        ...(result.status !== undefined && { status: result.status }),
      });
    },
  } as any);

  /** Opens (or finds) the request of one held call. */
  async function open(h: { call: AgentToolCall; config: HandrailInterruptOnConfig; key: string; verdict?: Verdict }, thread: string): Promise<string> {
    const ask: DeferOptions = {
      service,
      action: h.call.name,
      payload: h.call.args,
      idempotencyKey: h.key,
      context: {
        ...(h.verdict !== undefined ? guardKit.reviewContext(h.verdict, task) : task !== undefined ? { task } : {}),
        langchain: { thread_id: thread, tool_call_id: h.call.id ?? null },
        // The thread names the run, so an operator may grant a tool "in this thread".
        thread,
      },
      ...(h.config.argsSchema !== undefined && { schema: h.config.argsSchema }),
      ...(options.priority !== undefined && { priority: options.priority }),
      ...(options.role !== undefined && { role: options.role }),
      ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
    };
    try {
      return await hr.defer(ask);
    } catch (err) {
      // The same key with another body (the firewall's context moved since the first
      // ask): the first request and its decision stand.
      if (err instanceof HandrailError && err.code === "idempotency_mismatch") return requestIdFor(hr, ask);
      throw err;
    }
  }

  async function exists(id: string): Promise<boolean> {
    try {
      await hr.status(id);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }
}

