/**
 * `handrail/ai`: make any Vercel AI SDK tool require a person's approval through Handrail.
 *
 * Two ways, both on the same request (its idempotency key is `ai:<toolCallId>`, so asking
 * twice for one tool call gives one request):
 *
 * - **Plain `execute`** — `withApproval(tool, { service })`: the tool's `execute` asks Handrail
 *   first and runs with the approved input (the edited one after an edit). The model sees
 *   `REJECTED: <reason>` instead of a result on rejection, and after an edit the result
 *   preceded by `APPROVED WITH EDITS: <what changed>`.
 * - **The SDK's approval flow** — `requireApproval(tool, { service })` also sets
 *   `needsApproval: true`, so `generateText`/`streamText` stop with a `tool-approval-request`
 *   part. `answerApproval(part, { service })` opens the Handrail request for it, waits for
 *   the decision and gives back the `tool-approval-response` part to send in a `tool`
 *   message; when the SDK then runs the tool, its `execute` finds the same, decided request
 *   and runs with the approved (possibly edited) input.
 *
 * - **`ai` 7's call-level `toolApproval`** — `generateText({ tools, toolApproval:
 *   toolApproval({ service }) })`: every tool call (or those `when` selects) is decided by
 *   Handrail before it runs: the SDK gets `approved`, or `denied` with `REJECTED: <reason>`
 *   (`EXPIRED: do not act` when nobody decided in time: fail closed). `toolApproval` cannot
 *   carry edited input: wrap the tool with `withApproval` too, and its `execute` runs with the
 *   approved values of the same request.
 *
 * ```ts
 * import { tool } from "ai";
 * import { withApproval } from "handrail/ai";
 * const refund = withApproval(tool({ description: "Refund", inputSchema, execute }), { service: "stripe" });
 * ```
 *
 * @packageDocumentation
 */
import type { Tool, ToolApprovalResponse } from "ai";

import type { Decision, Priority } from "./client.js";
import { ExpiredError, Handrail, once } from "./index.js";
import { decisionText, statusText } from "./text.js";

export { decisionText } from "./text.js";

/** How a tool asks for approval. */
export interface ApprovalOptions {
  /** The client. Default: `new Handrail()` (reads `HANDRAIL_URL`, `HANDRAIL_API_KEY`…). */
  handrail?: Handrail;
  /** The system the tool acts on (`stripe`…). */
  service: string;
  /**
   * The action shown to the person: the tool's name (its key in `tools`). `answerApproval`
   * defaults it to the tool call's name; with `requireApproval` use that same name, since
   * one tool call is one request.
   */
  action: string;
  priority?: Priority;
  /** The role that may decide. */
  role?: string;
  /** JSON Schema an edit must satisfy. */
  schema?: Record<string, unknown>;
  /** Seconds until the request expires unanswered. */
  expiresIn?: number;
  /** Seconds to wait for the decision before `WaitTimeoutError`. Default: until decided. */
  timeout?: number;
  /** Called with every decision, before the tool runs (or does not). */
  onDecision?: (decision: Decision) => void | Promise<void>;
}

/** The `tool-approval-request` content part `generateText` / `streamText` stop with. */
export interface ToolApprovalRequestPart {
  type: "tool-approval-request";
  approvalId: string;
  toolCall: { toolCallId: string; toolName: string; input: unknown };
}

type AnyTool = Tool<any, any>;
/** What `execute` gets beside the input (generic in `ai` 7, plain in `ai` 6). */
type ToolExecutionOptions = Parameters<NonNullable<AnyTool["execute"]>>[1];

const clients = new WeakMap<ApprovalOptions, Handrail>();

function clientOf(options: ApprovalOptions): Handrail {
  if (options.handrail) return options.handrail;
  let hr = clients.get(options);
  if (!hr) {
    hr = new Handrail();
    clients.set(options, hr);
  }
  return hr;
}

/** Opens (or finds) the Handrail request of one tool call: one per `toolCallId`. */
async function open(
  options: ApprovalOptions,
  toolCallId: string,
  action: string,
  input: unknown,
  signal: AbortSignal | undefined,
): Promise<string> {
  return clientOf(options).defer({
    service: options.service,
    action,
    payload: input,
    idempotencyKey: `ai:${toolCallId}`,
    context: { ai: { toolCallId } },
    ...(options.priority !== undefined && { priority: options.priority }),
    ...(options.role !== undefined && { role: options.role }),
    ...(options.schema !== undefined && { schema: options.schema }),
    ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
    ...(signal !== undefined && { signal }),
  });
}

/** The Handrail decision on one tool call: opened once per `toolCallId`. */
async function decide(
  options: ApprovalOptions,
  toolCallId: string,
  action: string,
  input: unknown,
  signal: AbortSignal | undefined,
): Promise<Decision> {
  const id = await open(options, toolCallId, action, input, signal);
  const decision = await clientOf(options).wait(id, {
    ...(options.timeout !== undefined && { timeout: options.timeout }),
    ...(signal !== undefined && { signal }),
  });
  await options.onDecision?.(decision);
  return decision;
}

/**
 * `tool` with its `execute` behind a person's approval: it asks Handrail, then runs
 * `execute` with the approved input. On rejection (or expiry) it returns
 * `REJECTED: <reason>` without running; after an edit it runs with the edited input and
 * returns `APPROVED WITH EDITS: <changes>; use these values: <json>` followed by the
 * result (as JSON unless a string). The tool's own `needsApproval` is kept.
 */
export function withApproval<T extends AnyTool>(tool: T, options: ApprovalOptions): T {
  const execute = tool.execute;
  if (typeof execute !== "function") {
    throw new TypeError("withApproval: the tool has no execute function to guard");
  }
  const gated = async (input: unknown, call: ToolExecutionOptions): Promise<unknown> => {
    let decision: Decision;
    try {
      decision = await decide(options, call.toolCallId, options.action, input, call.abortSignal);
    } catch (err) {
      // Nobody decided in time: fail closed, and say so to the model.
      if (err instanceof ExpiredError) return statusText("EXPIRED");
      throw err;
    }
    if (!decision.approved) return decisionText(decision);
    const approved = decision;
    // Once per request in this process: a retried step (the same conversation continued
    // again) gets the first result instead of running the decided call twice.
    return once(`ai:${approved.requestId}`, async () => {
      // An AsyncIterable result (preliminary outputs) is passed through as is.
      const result = await execute(approved.payload, call);
      if (approved.status !== "APPROVED_WITH_MODIFICATIONS") return result;
      const shown = typeof result === "string" ? result : JSON.stringify(result);
      return `${decisionText(approved)}\nResult: ${shown}`;
    });
  };
  return { ...tool, execute: gated } as T;
}

/**
 * `withApproval` plus `needsApproval: true`: the SDK pauses the call for the UI, and
 * `answerApproval` answers that pause from Handrail. The guarded `execute` still checks
 * the decision (the same request, not a second one) and runs with the approved input.
 */
export function requireApproval<T extends AnyTool>(tool: T, options: ApprovalOptions): T {
  return { ...withApproval(tool, options), needsApproval: true } as T;
}

/**
 * The `tool-approval-response` part for a decision on `approvalId`: `approved` unless the
 * person rejected it (or it expired), `reason` the decision text the model may read.
 */
export function approvalResponse(approvalId: string, decision: Decision): ToolApprovalResponse {
  return {
    type: "tool-approval-response",
    approvalId,
    approved: decision.approved,
    reason: decisionText(decision),
  };
}

/**
 * Answers a `tool-approval-request` part from Handrail: opens (or finds) the request for
 * its tool call, waits for the decision and returns the `tool-approval-response` part,
 * to send back as `{ role: "tool", content: [part] }`.
 */
export async function answerApproval(
  part: ToolApprovalRequestPart,
  options: Omit<ApprovalOptions, "action"> & { action?: string; signal?: AbortSignal },
): Promise<ToolApprovalResponse> {
  const { toolCallId, toolName, input } = part.toolCall;
  try {
    const decision = await decide(options as ApprovalOptions, toolCallId, options.action ?? toolName, input, options.signal);
    return approvalResponse(part.approvalId, decision);
  } catch (err) {
    // Nobody decided in time: denied (fail closed).
    if (err instanceof ExpiredError) return { type: "tool-approval-response", approvalId: part.approvalId, approved: false, reason: statusText("EXPIRED") };
    throw err;
  }
}

/** The status `ai` 7's `toolApproval` functions return (`ToolApprovalStatus`). */
export type ApprovalStatus =
  | "not-applicable"
  | "user-approval"
  | { type: "approved"; reason?: string }
  | { type: "denied"; reason?: string };

/** A tool call as `ai` 7 hands it to a `toolApproval` function. */
export interface ApprovalToolCall {
  toolCallId: string;
  toolName: string;
  input: unknown;
}

/**
 * A call-level `toolApproval` function for `ai` 7 (`generateText` / `streamText` /
 * `ToolLoopAgent`): each tool call `when` selects (default: every one) opens its Handrail
 * request (the same one `withApproval`'s `execute` finds, key `ai:<toolCallId>`), waits for
 * the decision, and answers `{ type: "approved", reason }` or `{ type: "denied", reason }`
 * with the decision text; an expired request is denied (`EXPIRED: do not act`). Other calls
 * are `not-applicable` (the tool's own `needsApproval` applies).
 *
 * `action` defaults to the tool call's name.
 */
export function toolApproval(
  options: Omit<ApprovalOptions, "action"> & {
    action?: string;
    when?: (call: ApprovalToolCall) => boolean | Promise<boolean>;
    /**
     * `true` (the default): wait for the decision here. The SDK asks about the calls of a
     * step one after another, so a step's second request opens only once the first is
     * decided. `false`: open the request and answer `user-approval`, so every request of
     * the step is open at once and the SDK stops with `tool-approval-request` parts, to be
     * answered with `answerApproval`.
     */
    wait?: boolean;
  },
): (request: { toolCall: ApprovalToolCall }) => Promise<ApprovalStatus> {
  return async ({ toolCall }) => {
    if (options.when !== undefined && !(await options.when(toolCall))) return "not-applicable";
    if (options.wait === false) {
      await open(options as ApprovalOptions, toolCall.toolCallId, options.action ?? toolCall.toolName, toolCall.input, undefined);
      return "user-approval";
    }
    let decision: Decision;
    try {
      decision = await decide(
        options as ApprovalOptions,
        toolCall.toolCallId,
        options.action ?? toolCall.toolName,
        toolCall.input,
        undefined,
      );
    } catch (err) {
      if (err instanceof ExpiredError) {
        return { type: "denied", reason: statusText("EXPIRED") };
      }
      throw err;
    }
    return { type: decision.approved ? "approved" : "denied", reason: decisionText(decision) };
  };
}

