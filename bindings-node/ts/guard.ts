import type { Decision, Handrail } from "./client.js";
import { once, requestIdFor } from "./client.js";
import { HandrailError, translate } from "./errors.js";
import type { Firewall, FirewallSession } from "./firewall.js";
import type { Backend, Effect, GuardObserved, GuardPlan, Outcome, Verdict } from "./backend.js";
import { decisionText } from "./text.js";

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
  /** What the tool does (`read`, `write`, `destructive`, `egress`, `payment`), for the firewall. */
  effect?: Effect;
  /**
   * The task as the user gave it (the text given to `firewall.begin`): shown to the person
   * reviewing (`context.task`) and sent with observations, as Python's `run(context=…)`.
   */
  context?: string;
  /**
   * What a call a person rejected gives: `"throw"` (the default) throws `GuardError`
   * (`guard_rejected`); `"return"` resolves to a text a model can act on,
   * `"REJECTED: <reason>"` (or `"EXPIRED: do not act"`, `decisionText`), as Python's `on_reject="return"`;
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

/** What a tool returned, as the text an observation carries. */
function outputText(result: unknown): string | undefined {
  if (result === undefined || result === null) return undefined;
  if (typeof result === "string") return result;
  try {
    return JSON.stringify(result) ?? String(result);
  } catch {
    return String(result);
  }
}

/** What the firewall and the core's guard plan say about one call. @internal */
export interface Judgement {
  verdict: Verdict;
  plan: GuardPlan;
}

/** How one call ended, for `GuardKit.record`. @internal */
export interface Ending {
  handrail: Handrail;
  firewall: Firewall;
  session: FirewallSession;
  tool: string;
  /** The call's key (`GuardKit.callKey`). */
  key: string;
  /** The arguments the call ran with (the approved ones after a review). */
  values: unknown;
  plan: GuardPlan;
  /** The decision's status after a review; `null` without one. */
  status: string | null;
  result: unknown;
  scope?: string;
  agent?: string;
  effect?: Effect;
  task?: string;
}

/**
 * The guard's steps, one implementation for `guard` and every framework adapter
 * (`handrail/langchain`, `handrail/openai-agents`, …): the core decides each of them. @internal
 */
export interface GuardKit {
  /** The exactly-once key of a call: the core's `guard::call_key`. */
  callKey(scope: string, service: string, tool: string, args: unknown): string;
  /** The firewall's verdict on a call now and the core's plan for it (run, shadow, block, ask). */
  judge(firewall: Firewall, session: FirewallSession, tool: string, args: unknown, effect?: Effect): Judgement;
  /** The review context (`{ firewall: {...}, task? }`) the core builds for a verdict. */
  reviewContext(verdict: Verdict, task?: string): Record<string, unknown>;
  /** Records how a call ended into the firewall and queues its observation; never throws. */
  record(ending: Ending): void;
}

/** @internal */
export function createGuardKit(backend: Backend): GuardKit {
  return {
    callKey(scope, service, tool, args) {
      return translate(() => backend.guardCallKey(scope, service, tool, JSON.stringify(args)));
    },
    judge(firewall, session, tool, args, effect) {
      const now = Math.floor(Date.now() / 1000);
      const verdict: Verdict = firewall.check(session, { tool, args, now, ...(effect !== undefined ? { effect } : {}) });
      const plan: GuardPlan = translate(() => backend.guardPlan(verdict.action, verdict.enforced));
      return { verdict, plan };
    },
    reviewContext(verdict, task) {
      return JSON.parse(translate(() => backend.guardReviewContext(JSON.stringify(verdict), task)));
    },
    record(e) {
      // When the call ended (after a review, not when it was asked), as Python records it.
      const now = Math.floor(Date.now() / 1000);
      let event: { outcome: Outcome; output?: string };
      try {
        const outcome = backend.guardOutcome(e.plan, e.status);
        if (outcome === null) return;
        const output = outputText(e.result);
        const observed: GuardObserved = {
          key: e.key,
          session: e.scope || e.session.id,
          tool: e.tool,
          argsJson: JSON.stringify(e.values),
          outcome,
          at: now,
          ...(e.task !== undefined ? { context: e.task } : {}),
          ...(e.effect !== undefined ? { effect: e.effect } : {}),
          ...(output !== undefined ? { output } : {}),
        };
        event = JSON.parse(backend.guardObservation(observed));
      } catch {
        // Recording is best effort; it never fails the tool.
        return;
      }
      try {
        e.firewall.record(e.session, {
          tool: e.tool,
          args: e.values,
          outcome: event.outcome,
          now,
          ...(e.effect !== undefined ? { effect: e.effect } : {}),
          ...(event.output !== undefined ? { output: event.output } : {}),
        });
      } catch {
        // Learning is best effort; it never fails the tool.
      }
      if (e.agent !== undefined) observeLater(e.handrail, e.agent, event);
    },
  };
}

/** @internal */
export function createGuard(backend: Backend): Guard {
  const kit = createGuardKit(backend);
  /**
   * Wraps `fn` so each call is judged by the firewall first, by the core's guard (the same
   * rules as Python's `handrail.guard`): `allow` runs it; in shadow mode (`enforced` false) a
   * verdict that would hold it runs it too and asks nobody; an enforced `review` asks a
   * person through Handrail (context `{ firewall: { action, score, reasons }, task }`) and
   * runs it with the approved (possibly edited) arguments; an enforced `block` throws
   * `GuardError` (`guard_blocked`); a rejection throws `guard_rejected`. Each call runs at
   * most once per key (scope, service, tool, canonical arguments): a retried call gets the
   * first result; the key is also the review request's `Idempotency-Key`. What ends a call
   * is recorded into the firewall (`ran`, `approved`, `rejected`; a block records nothing)
   * and posted as an observation in the background.
   */
  function guard<A, R>(fn: (args: A) => R | Promise<R>, options: GuardOptions): (args: A) => Promise<unknown> {
    const {
      handrail: hr,
      firewall,
      session,
      tool,
      service = "agent",
      scope = "",
      agent,
      effect,
      context: task,
      onReject = "throw",
    } = options;
    if (onReject !== "throw" && onReject !== "return" && typeof onReject !== "function") {
      throw new TypeError('guard: onReject is "throw", "return" or a function');
    }
    return async (args: A): Promise<unknown> => {
      const key = kit.callKey(scope, service, tool, args);
      return once(key, () => call(args, key));
    };

    async function call(args: A, key: string): Promise<unknown> {
      const { verdict, plan } = kit.judge(firewall, session, tool, args, effect);
      if (plan === "run" || plan === "shadow") {
        const result = await fn(args);
        record(key, args, plan, null, result);
        return result;
      }
      if (plan === "block") {
        record(key, args, plan, null, undefined);
        throw new GuardError("guard_blocked", `the firewall blocked ${tool}`, { reasons: verdict.reasons });
      }
      const context = kit.reviewContext(verdict, task);
      const ask = { service, action: tool, payload: args, context, idempotencyKey: key };
      let decision: Decision;
      try {
        decision = await hr.ask(ask);
      } catch (err) {
        // The same key with another body: the call ran before (another process, or this one
        // before a restart) and the firewall's context has moved since. The first request
        // and its decision stand; its id is the core's function of the key (Python's
        // `first_request`).
        if (!(err instanceof HandrailError && err.code === "idempotency_mismatch")) throw err;
        decision = await hr.wait(requestIdFor(hr, ask));
      }
      if (!decision.approved) {
        record(key, args, plan, decision.status, undefined);
        if (onReject === "return") return decisionText(decision);
        if (typeof onReject === "function") return await onReject(decision);
        throw new GuardError("guard_rejected", decision.reason ?? `${tool} was ${decision.status.toLowerCase()}`, {
          status: decision.status,
          reason: decision.reason,
        });
      }
      const runArgs = (decision.payload ?? args) as A;
      const result = await fn(runArgs);
      record(key, runArgs, plan, decision.status, result);
      return result;
    }

    /** Records how the call ended (the core's outcome and observation event); never throws. */
    function record(key: string, values: unknown, plan: GuardPlan, status: string | null, result: unknown): void {
      kit.record({
        handrail: hr,
        firewall,
        session,
        tool,
        key,
        values,
        plan,
        status,
        result,
        scope,
        ...(agent !== undefined ? { agent } : {}),
        ...(effect !== undefined ? { effect } : {}),
        ...(task !== undefined ? { task } : {}),
      });
    }
  }
  // The overloads only narrow what a rejection resolves to; the one body serves them all.
  return guard as Guard;
}
