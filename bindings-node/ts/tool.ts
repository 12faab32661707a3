import type { AskOptions, Handrail, Priority } from "./client.js";
import { decisionText } from "./text.js";

/** How `tool` asks. */
export interface ToolOptions {
  /** The client that asks. */
  handrail: Handrail;
  /** The request's `service`. Default: `"agent"`. */
  service?: string;
  /** JSON Schema an edit must satisfy. */
  schema?: Record<string, unknown>;
  /** Default: the server's (`medium`). */
  priority?: Priority;
  /** Seconds to wait for the person before `WaitTimeoutError`. Default: until decided or expired. */
  timeout?: number;
  /**
   * Names the run (thread id): the same question in the same run is asked once, so a
   * re-executed step gets the first answer back.
   */
  scope?: string;
}

/**
 * `askHuman(action, payload?, question?)`: asks a person to approve `action` with `payload`
 * and resolves to a text a model can act on (`decisionText`).
 */
export type AskHuman = (action: string, payload?: unknown, question?: string) => Promise<string>;

/**
 * A person as a tool for LLM frameworks, as Python's `handrail.tool`: the function asks
 * (service `service`, action `action`, the payload, `question` in the request's context)
 * and resolves to `"APPROVED"`, `"APPROVED WITH EDITS: <diff summary>; use these values:
 * {...}"` or `"REJECTED: <reason>"`. Expiry and timeouts reject (`ExpiredError`,
 * `WaitTimeoutError`): a model never reads a missing answer as consent.
 *
 * ```ts
 * const askHuman = tool({ handrail: new Handrail(), service: "billing", scope: threadId });
 * const answer = await askHuman("refund", { amount: 500 }, "Refund this customer?");
 * ```
 */
export function tool(options: ToolOptions): AskHuman {
  const { handrail, service = "agent", schema, priority, timeout, scope } = options;
  return async function askHuman(action: string, payload?: unknown, question?: string): Promise<string> {
    const ask: AskOptions = { service, action, payload: payload ?? {} };
    if (schema !== undefined) ask.schema = schema;
    if (priority !== undefined) ask.priority = priority;
    if (timeout !== undefined) ask.timeout = timeout;
    if (question) ask.context = { question };
    if (scope !== undefined) ask.idempotencyScope = scope;
    return decisionText(await handrail.ask(ask));
  };
}
