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
 *      that contradicts it throws, so nobody approves by forging a resume;
 *   4. returns `{ [resultKey]: { type: "approve" | "edit" | "reject", args, message,
 *      request_id } }`; route on `state.handrail.type`, act on `args`.
 *
 * Paused threads are checkpoints: use a durable LangGraph checkpointer in production
 * (`MemorySaver` loses them on restart).
 *
 * @packageDocumentation
 */
import { tool } from "@langchain/core/tools";
import { Command, interrupt, type LangGraphRunnableConfig } from "@langchain/langgraph";
import { z } from "zod";

import type { Decision, Priority } from "./client.js";
import { Handrail, HandrailError } from "./index.js";
import { decisionText } from "./text.js";

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
        ...(question !== undefined && { context: { question } }),
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
      context: { langgraph: { thread_id: thread, scope } },
      ...(options.schema !== undefined && { schema: options.schema }),
      ...(options.priority !== undefined && { priority: options.priority }),
      ...(config.signal !== undefined && { signal: config.signal }),
    });
    const answer = interrupt({
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
