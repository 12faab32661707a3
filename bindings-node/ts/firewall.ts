import type {
  Backend,
  BackendFirewall,
  BackendSession,
  Effect,
  FirewallConfig,
  FirewallInit,
  FirewallPolicy,
  Graph,
  Mode,
  Outcome,
  Readiness,
  Verdict,
} from "./backend.js";
import { asBuffer } from "./bytes.js";
import { InvalidPayloadError, translate } from "./errors.js";

/** How a `Firewall` starts. */
export interface FirewallOptions {
  /**
   * Rules beside learning, with the core's field names (`allow`, `deny`, `always_review`,
   * `effects`, `daily_budget_usd`): the same JSON as in Python and on the server. Unknown
   * fields are refused. Default: no rules.
   */
  policy?: FirewallPolicy;
  /** Shadow (report only, the default while the profile learns) or enforce. */
  mode?: Mode;
  /**
   * Tunable constants, with the core's field names (`review_at`, …); each one left out keeps
   * its default, unknown ones are refused.
   */
  config?: FirewallConfig;
}

/** Starts a session: `context` is the task as the user gave it (trusted text). */
export interface BeginOptions {
  sessionId: string;
  context: string;
}

/** One tool call, as the agent is about to make it. */
export interface ToolCall {
  /** Tool name. */
  tool: string;
  /**
   * The arguments: any value `JSON.stringify` accepts, as it writes them. Integers beyond
   * ±(2^53−1) and lone surrogates are refused (HandrailError `integer_out_of_range`,
   * `lone_surrogate`), as in every binding; a value `JSON.stringify` gives no text for
   * (`undefined`, a function, a BigInt, a cycle) is an `InvalidPayloadError`
   * (`invalid_request`).
   */
  args: unknown;
  /** The effect declared for this call, overriding the policy and the inference from the name. */
  effect?: Effect;
}

/** `Firewall.check`: a call before it runs, at `now` (Unix seconds). */
export interface CheckOptions extends ToolCall {
  /** Projected cost in USD, for the daily budget; a negative or non-finite cost blocks. */
  costUsd?: number;
  now: number;
}

/** `Firewall.record`: what became of a call and what it returned, at `now` (Unix seconds). */
export interface RecordOptions extends CheckOptions {
  outcome: Outcome;
  /** What the tool returned: untrusted content, whose values are not trusted later on. */
  output?: string;
}

/** `Firewall.observe`: a call followed without teaching the profile. */
export interface ObserveOptions extends ToolCall {
  /** What the tool returned: untrusted content. */
  output?: string;
}

/** One agent session between calls; made by `Firewall.begin`, opaque otherwise. */
export interface FirewallSession {
  /** The id given to `begin`. */
  readonly id: string;
}

/**
 * An agent's behavioral firewall: it learns the agent's normal tool use and holds the calls
 * that step off it. Every rule is the Rust core's; this class only converts.
 */
export interface Firewall {
  /**
   * Shadow (verdicts reported, `enforced: false`) or enforce.
   *
   * @throws HandrailError `unknown_variant` when set to anything else.
   */
  mode: Mode;
  /** Starts a session. */
  begin(options: BeginOptions): FirewallSession;
  /**
   * The verdict on a call before it runs.
   *
   * @throws HandrailError `unknown_variant` for an unknown `effect`.
   */
  check(session: FirewallSession, call: CheckOptions): Verdict;
  /**
   * Records what became of a call: `ran` teaches the path, `trusted` (known-honest history)
   * and `approved` (capped per tool and day) teach its values too, `rejected` blocks its
   * values from now on.
   *
   * @throws HandrailError `unknown_variant` for an unknown `outcome` or `effect`.
   */
  record(session: FirewallSession, call: RecordOptions): void;
  /**
   * Follows a call in the session (previous step, untrusted output) without teaching the
   * profile.
   *
   * @throws HandrailError `unknown_variant` for an unknown `effect`.
   */
  observe(session: FirewallSession, call: ObserveOptions): void;
  /** Whether the profile has seen enough to leave shadow mode. */
  readiness(): Readiness;
  /** The learned profile as a graph of tools, decayed to `now` (Unix seconds). */
  graph(now: number): Graph;
  /** The learned profile in its compact binary form. */
  profileBytes(): Buffer;
  /**
   * Replaces the learned profile with one from `profileBytes`.
   *
   * @throws HandrailError `profile_corrupt`.
   */
  loadProfile(bytes: Uint8Array): void;
  /**
   * Adds another worker's profile (from its `profileBytes`) into this one.
   *
   * @throws HandrailError `profile_corrupt`.
   */
  mergeProfile(bytes: Uint8Array): void;
}

/** The `Firewall` class. */
export interface FirewallConstructor {
  /**
   * A firewall with an empty profile, in shadow mode unless `mode` says otherwise.
   *
   * @throws HandrailError `invalid_options` for a policy or config the core does not accept,
   *   `unknown_variant` for an unknown `mode`.
   */
  new (options?: FirewallOptions): Firewall;
  readonly prototype: Firewall;
}

function json(value: unknown, what: string): string {
  const text = JSON.stringify(value);
  if (text === undefined) {
    throw new TypeError(`${what} must be a JSON value`);
  }
  return text;
}

/** A call's arguments as JSON text; a value JSON has no form for is an `InvalidPayloadError`. */
function argsJson(args: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(args);
  } catch (err) {
    // A BigInt, a cycle, a throwing toJSON.
    throw new InvalidPayloadError("invalid_request", `args have no JSON form: ${(err as Error).message}`, null, { cause: err });
  }
  if (text === undefined) {
    throw new InvalidPayloadError("invalid_request", "args have no JSON form (undefined, a function or a symbol)");
  }
  return text;
}

/** The `Firewall` class over `backend`. @internal */
export function createFirewall(backend: Backend): FirewallConstructor {
  return class Firewall {
    readonly #inner: BackendFirewall;

    constructor(options: FirewallOptions = {}) {
      const { policy, mode, config } = options;
      const init: FirewallInit = {};
      if (policy !== undefined) init.policy = json(policy, "policy");
      if (config !== undefined) init.config = json(config, "config");
      if (mode !== undefined) init.mode = mode;
      this.#inner = translate(() => new backend.Firewall(init));
    }

    get mode(): Mode {
      return this.#inner.mode;
    }

    set mode(mode: Mode) {
      translate(() => {
        this.#inner.mode = mode;
      });
    }

    begin({ sessionId, context }: BeginOptions): FirewallSession {
      return translate(() => this.#inner.begin(sessionId, context));
    }

    check(session: FirewallSession, call: CheckOptions): Verdict {
      const text = argsJson(call.args);
      return translate(() => this.#inner.check(session, call.tool, text, call.effect, call.costUsd, call.now));
    }

    record(session: FirewallSession, call: RecordOptions): void {
      const text = argsJson(call.args);
      translate(() => this.#inner.record(session, call.tool, text, call.effect, call.costUsd, call.outcome, call.output, call.now));
    }

    observe(session: FirewallSession, call: ObserveOptions): void {
      const text = argsJson(call.args);
      translate(() => this.#inner.observe(session, call.tool, text, call.effect, call.output));
    }

    readiness(): Readiness {
      return translate(() => this.#inner.readiness());
    }

    graph(now: number): Graph {
      return translate(() => this.#inner.graph(now));
    }

    profileBytes(): Buffer {
      return translate(() => asBuffer(this.#inner.profileBytes()));
    }

    loadProfile(bytes: Uint8Array): void {
      translate(() => this.#inner.loadProfile(bytes));
    }

    mergeProfile(bytes: Uint8Array): void {
      translate(() => this.#inner.mergeProfile(bytes));
    }
  };
}
