import type { Decision, Handrail } from "./client.js";
import { once } from "./client.js";
import type { Core } from "./core.js";
import { HandrailError } from "./errors.js";
import type { Firewall, FirewallSession } from "./firewall.js";
import type { Outcome, Verdict } from "./backend.js";

/** How `guard` wraps one tool. */
export interface GuardOptions {
  /** The client that asks a person when the firewall says `review`, and receives observations. */
  handrail: Handrail;
  /** The in-process firewall that judges each call. */
  firewall: Firewall;
  /** The firewall session the calls belong to. */
  session: FirewallSession;
  /** The tool's name: the firewall's tool, the request's `action`. */
  tool: string;
  /** The request's `service`. Default: `"agent"`. */
  service?: string;
  /** Names the run (thread id): part of the exactly-once key and the request's idempotency scope. */
  scope?: string;
  /** Posts observations under this agent name; none are posted without it. */
  agent?: string;
  /**
   * What a call a person rejected gives: `"throw"` (the default) throws `GuardError`
   * (`guard_rejected`); `"return"` resolves to a text a model can act on,
   * `"REJECTED: <reason>"` (or `"EXPIRED: do not act"`), as Python's `on_reject="return"`;
   * a function resolves to what it returns for the `Decision`. The tool does not run in any
   * case. A block by the firewall always throws `guard_blocked`.
   */
  onReject?: "throw" | "return" | ((decision: Decision) => unknown);
}

/** `guard`'s signatures: what a rejection gives depends on `onReject`. */
export interface Guard {
  <A, R>(fn: (args: A) => R | Promise<R>, options: GuardOptions & { onReject?: "throw" }): (args: A) => Promise<R>;
  <A, R>(fn: (args: A) => R | Promise<R>, options: GuardOptions & { onReject: "return" }): (args: A) => Promise<R | string>;
  <A, R, X>(
    fn: (args: A) => R | Promise<R>,
    options: GuardOptions & { onReject: (decision: Decision) => X | Promise<X> },
  ): (args: A) => Promise<R | X>;
}

/** The text a model gets for a decision that is not an approval (Python's `decision_text`). */
function rejectionText(decision: Decision): string {
  return decision.status === "REJECTED" ? `REJECTED: ${decision.reason ?? "no reason given"}` : `${decision.status}: do not act`;
}

/** Thrown by a guarded tool the firewall blocks (`guard_blocked`) or a person rejects (`guard_rejected`). */
export class GuardError extends HandrailError {}

type Observer = { queue: unknown[]; timer: boolean };
const OBSERVERS = new WeakMap<Handrail, Map<string, Observer>>();
const BATCH = 1000;

/** Queues one observation; a background flush posts the batch. Never throws, never blocks the tool. */
function observeLater(hr: Handrail, agent: string, event: unknown): void {
  let byAgent = OBSERVERS.get(hr);
  if (!byAgent) OBSERVERS.set(hr, (byAgent = new Map()));
  let o = byAgent.get(agent);
  if (!o) byAgent.set(agent, (o = { queue: [], timer: false }));
  o.queue.push(event);
  if (o.timer) return;
  o.timer = true;
  const obs = o;
  setImmediate(async () => {
    obs.timer = false;
    while (obs.queue.length > 0) {
      const batch = obs.queue.splice(0, BATCH);
      try {
        await hr.observe(agent, batch);
      } catch {
        // Observations are best effort: a failed batch is dropped, the tool is unaffected.
      }
    }
  });
}

/** @internal */
export function createGuard(core: Core): Guard {
  /**
   * Wraps `fn` so each call is judged by the firewall first: `allow` runs it, `review` asks a
   * person through Handrail and runs it with the approved (possibly edited) arguments,
   * `block` throws `GuardError` (`guard_blocked`), a rejection throws `guard_rejected`.
   * Each call runs at most once per key (tool, canonical arguments, scope): a retried call
   * gets the first result. Observations are posted in the background.
   */
  function guard<A, R>(fn: (args: A) => R | Promise<R>, options: GuardOptions): (args: A) => Promise<unknown> {
    const { handrail: hr, firewall, session, tool, service = "agent", scope = "", agent, onReject = "throw" } = options;
    if (onReject !== "throw" && onReject !== "return" && typeof onReject !== "function") {
      throw new TypeError('guard: onReject is "throw", "return" or a function');
    }
    return async (args: A): Promise<unknown> => {
      const key = core.toolCallKey(scope, tool, args);
      const now = Math.floor(Date.now() / 1000);
      const verdict: Verdict = firewall.check(session, { tool, args, now });
      let runArgs = args;
      let outcome: Outcome = "ran";
      if (verdict.action === "block") {
        record(args, "rejected");
        throw new GuardError("guard_blocked", `the firewall blocked ${tool}`, { reasons: verdict.reasons });
      }
      if (verdict.action === "review") {
        const decision = await hr.ask({
          service,
          action: tool,
          payload: args,
          context: { reasons: verdict.reasons },
          ...(scope ? { idempotencyScope: scope } : {}),
        });
        if (!decision.approved) {
          record(args, "rejected");
          if (onReject === "return") return rejectionText(decision);
          if (typeof onReject === "function") return await onReject(decision);
          throw new GuardError("guard_rejected", decision.reason ?? `${tool} was ${decision.status.toLowerCase()}`, {
            status: decision.status,
            reason: decision.reason,
          });
        }
        runArgs = decision.payload as A;
        outcome = "approved";
      }
      const result = await once(key, () => fn(runArgs));
      record(runArgs, outcome);
      return result;

      function record(values: unknown, o: Outcome): void {
        try {
          firewall.record(session, { tool, args: values, outcome: o, now });
        } catch {
          // Learning is best effort; it never fails the tool.
        }
        if (agent !== undefined) {
          observeLater(hr, agent, { id: `${key}:${o}`, session: scope || session.id, tool, args: values, outcome: o, at: now });
        }
      }
    };
  }
  // The overloads only narrow what a rejection resolves to; the one body serves them all.
  return guard as Guard;
}
