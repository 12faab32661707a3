import type { Backend } from "./backend.js";
import type { Decision } from "./client.js";
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
