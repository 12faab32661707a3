import type { Backend, Verdict } from "./backend.js";
import type { Decision, RequestStatus } from "./client.js";
import { translate } from "./errors.js";

let core: Pick<Backend, "decisionText"> | undefined;

/** Binds `decisionText` to the core (index.ts does, before anything can hold a Decision). @internal */
export function bindText(backend: Pick<Backend, "decisionText">): void {
  core = backend;
}

/**
 * A short text a model can act on, the same as Python's `decision_text` (both are the
 * core's `guard::decision_text`): `"APPROVED"`, `"APPROVED WITH EDITS: <diff summary>; use
 * these values: <canonical JSON>"`, `"REJECTED: <reason>"` or `"<STATUS>: do not act"`.
 */
export function decisionText(decision: Decision): string {
  if (core === undefined) throw new Error("handrail: decisionText used before the package loaded its core");
  const backend = core;
  const payload = decision.payload === undefined || decision.payload === null ? null : JSON.stringify(decision.payload);
  return translate(() => backend.decisionText(decision.status, decision.reason, decision.diff?.summary, payload));
}

/**
 * The core's text for an outcome that is not a person's decision on the payload: `"EXPIRED:
 * do not act"`, `"PENDING: do not act"`, or `"REJECTED: <reason>"` for a refusal the adapter
 * itself makes (a blocked call, a disallowed edit). @internal
 */
export function statusText(status: RequestStatus, reason: string | null = null): string {
  if (core === undefined) throw new Error("handrail: statusText used before the package loaded its core");
  const backend = core;
  return translate(() => backend.decisionText(status, reason, undefined, null));
}

/** What a model reads for a call the firewall blocked: a rejection with its reasons. @internal */
export function blockedText(verdict: Verdict): string {
  const why = verdict.reasons.map((r) => r.text).join("; ") || "blocked by the firewall";
  return statusText("REJECTED", `the firewall blocked this call: ${why}`);
}
