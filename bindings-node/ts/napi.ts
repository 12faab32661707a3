// The `Backend` over the napi addon: the addon's own exports, but for how a verdict crosses.
import * as native from "../native/index.js";
import type { Backend, BackendFirewall, BackendSession, Effect, Verdict } from "./backend.js";

/** The addon's action codes (0 allow, 1 review, 2 block), by index. */
const ACTIONS: readonly Verdict["action"][] = ["allow", "review", "block"];

/**
 * The addon's `Firewall`, with the backend's `check`: the addon's verdict function (from
 * `checker()`, fetched once, since a plain napi function costs less per call than a napi
 * method) writes each verdict's action, score and enforced flag into a buffer this firewall
 * keeps, because building the object through napi costs more than the core's verdict
 * itself; the object is built here, in JavaScript.
 */
class NapiFirewall extends native.Firewall implements BackendFirewall {
  readonly #check = this.checker();
  /** Where the addon writes each verdict's action, score and enforced flag. */
  readonly #out = new Float64Array(3);
  /** The same memory, as the addon takes it. */
  readonly #outBuffer = this.#out.buffer as ArrayBuffer;

  check(
    session: BackendSession,
    tool: string,
    argsJson: string,
    effect: Effect | undefined | null,
    costUsd: number | undefined | null,
    now: number,
  ): Verdict {
    const out = this.#out;
    const reasons = this.#check(session, tool, argsJson, effect, costUsd, now, this.#outBuffer);
    return { action: ACTIONS[out[0]!]!, score: out[1]!, reasons: reasons ?? [], enforced: out[2] === 1 };
  }
}

/**
 * The napi addon as a `Backend`. Declaring the type here is where TypeScript checks the
 * addon's exports against the contract (the generated `native/index.d.ts`).
 *
 * @internal
 */
export const napiBackend: Backend = { ...native, Firewall: NapiFirewall };
