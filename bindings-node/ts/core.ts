import type { Backend, BackendExecution, ProofClaims } from "./backend.js";
import { translate } from "./errors.js";

type Json = string | Uint8Array;
const enc = new TextEncoder();
const bytes = (b: Json): Uint8Array => (typeof b === "string" ? enc.encode(b) : b);

/** What a proof must assert besides a valid signature and time (see `ProofVerifier.verify`). */
export interface ProofExpectation {
  requestId: string;
  requestDigest?: string;
  decision?: string;
  patchedDigest?: string;
  /** The project the proof must name (`prj`); `ProofError` `proof_project` otherwise. */
  project?: string;
  /** The issuer it must name (`iss`, the `issuer` of `/v1/keys/proof`); `proof_issuer` otherwise. */
  issuer?: string;
}

/** An RFC 6902 operation. */
export interface PatchOp {
  op: "add" | "remove" | "replace";
  path: string;
  value?: unknown;
}

/** What an edit changed. */
export interface Diff {
  ops: PatchOp[];
  summary: string;
}

/** One execution under one idempotency key (immutable: `commit` and `fail` return a new one). */
export interface Execution {
  readonly key: string;
  readonly attempts: number;
  readonly state: "pending" | "committed" | "failed";
  commit(status: number, body: string, now: number): Execution;
  fail(status: number, body: string, retryable: boolean, now: number): Execution;
  toJSON(): unknown;
  /** JSON text to store between requests; `Execution.fromJson` reads it back. */
  toJson(): string;
}

/** What `idempotencyBegin` decided. */
export type Begin =
  | { kind: "proceed"; execution: Execution }
  | { kind: "replay"; status: number; body: string }
  | { kind: "conflict"; leaseUntil: number }
  | { kind: "mismatch" };

/** The core's primitives beyond canonical JSON and envelopes: webhooks, proofs, idempotency, edits. */
export interface Core {
  /** Standard Webhooks secrets (`whsec_`, `whsk_`, `whpk_`): signs with the first, verifies against any. */
  Webhook: new (secrets: readonly string[]) => {
    export(): string[];
    sign(msgId: string, timestamp: number, body: Json): string;
    /** Verifies at `now` (Unix seconds), tolerance 300 s by default; returns the timestamp. */
    verify(
      headers: { id: string; timestamp: string; signature: string },
      body: Json,
      options: { now: number; tolerance?: number },
    ): number;
  };
  /** Verifies a LetsPing `x-letsping-signature` header at `nowMs`; returns its timestamp (ms). */
  verifyLetsping(secret: Json, header: string, body: Json, options: { nowMs: number; toleranceMs: number }): number;
  /** base64url SHA-256 of the canonical form of JSON text (a proof's `req` and `pat`). */
  proofDigest(json: Json): string;
  ProofSigner: new (kid: string, seed: Uint8Array) => { readonly publicJwk: Record<string, unknown>; sign(claims: ProofClaims): string };
  ProofVerifier: new (jwks: object | string) => { verify(token: string, now: number, expect: ProofExpectation): ProofClaims };
  idempotencyKey(parts: ReadonlyArray<Json>): string;
  /** The key of one tool call: scope, tool and canonical args (JSON text, or a value to stringify). */
  toolCallKey(scope: string, tool: string, args: unknown): string;
  fingerprint(method: string, path: string, body: Json): string;
  Execution: { fromJson(text: string): Execution };
  idempotencyBegin(
    existing: Execution | null | undefined,
    key: string,
    request: { method: string; path: string; body: Json },
    now: number,
    leaseSecs: number,
  ): Begin;
  diff(before: unknown, after: unknown): Diff;
  applyPatch(doc: unknown, ops: readonly PatchOp[]): unknown;
  validateEdit(schema: unknown, edited: unknown): void;
  reviewEdit(original: unknown, edited: unknown, schema?: unknown): Diff;
  requestStatus(name: string): string;
  requestPriority(name: string): string;
}

const json = (v: unknown): string => JSON.stringify(v);
const diffOut = (d: { opsJson: string; summary: string }): Diff => ({ ops: JSON.parse(d.opsJson), summary: d.summary });

/** Binds the primitives to `backend`. @internal */
export function createCore(backend: Backend): Core {
  const inner = new WeakMap<Execution, BackendExecution>();
  const wrapExec = (e: BackendExecution): Execution => {
    const out: Execution = {
      key: e.key,
      attempts: e.attempts,
      state: e.state as Execution["state"],
      commit: (status, body, now) => translate(() => wrapExec(e.commit(status, body, now))),
      fail: (status, body, retryable, now) => translate(() => wrapExec(e.fail(status, body, retryable, now))),
      toJson: () => e.toJson(),
      toJSON: () => JSON.parse(e.toJson()),
    };
    inner.set(out, e);
    return Object.freeze(out);
  };

  class Webhook {
    readonly #w: InstanceType<Backend["Webhook"]>;
    constructor(secrets: readonly string[]) {
      this.#w = translate(() => new backend.Webhook([...secrets]));
    }
    export(): string[] {
      return this.#w.export();
    }
    sign(msgId: string, timestamp: number, body: Json): string {
      return translate(() => this.#w.sign(msgId, timestamp, bytes(body)));
    }
    verify(h: { id: string; timestamp: string; signature: string }, body: Json, o: { now: number; tolerance?: number }): number {
      return translate(() => this.#w.verify(h.id, h.timestamp, h.signature, bytes(body), o.now, o.tolerance));
    }
    get [Symbol.toStringTag](): string {
      return "Webhook";
    }
  }

  class ProofSigner {
    readonly #s: InstanceType<Backend["ProofSigner"]>;
    constructor(kid: string, seed: Uint8Array) {
      this.#s = translate(() => new backend.ProofSigner(kid, seed));
    }
    get publicJwk(): Record<string, unknown> {
      return JSON.parse(this.#s.publicJwk());
    }
    sign(claims: ProofClaims): string {
      return translate(() => this.#s.sign(json(claims)));
    }
  }

  class ProofVerifier {
    readonly #v: InstanceType<Backend["ProofVerifier"]>;
    constructor(jwks: object | string) {
      this.#v = translate(() => new backend.ProofVerifier(typeof jwks === "string" ? jwks : json(jwks)));
    }
    verify(token: string, now: number, expect: ProofExpectation): ProofClaims {
      return JSON.parse(translate(() => this.#v.verify(token, now, expect)));
    }
  }

  return {
    Webhook,
    verifyLetsping: (secret, header, body, o) =>
      translate(() => backend.verifyLetsping(bytes(secret), header, bytes(body), o.nowMs, o.toleranceMs)),
    proofDigest: (j) => translate(() => backend.proofDigest(j)),
    ProofSigner,
    ProofVerifier,
    idempotencyKey: (parts) => backend.idempotencyKey([...parts]),
    toolCallKey: (scope, tool, args) =>
      translate(() => backend.toolCallKey(scope, tool, typeof args === "string" || args instanceof Uint8Array ? args : json(args))),
    fingerprint: (method, path, body) => translate(() => backend.fingerprint(method, path, bytes(body))),
    Execution: { fromJson: (text) => translate(() => wrapExec(backend.Execution.fromJson(text))) },
    idempotencyBegin: (existing, key, r, now, leaseSecs) =>
      translate(() => {
        const prior = existing ? inner.get(existing) : null;
        if (existing && !prior) throw new TypeError("existing is not an Execution from idempotencyBegin");
        const b = backend.idempotencyBegin(prior, key, r.method, r.path, bytes(r.body), now, leaseSecs);
        switch (b.kind) {
          case "proceed":
            return { kind: "proceed", execution: wrapExec(b.execution!) };
          case "replay":
            return { kind: "replay", status: b.status!, body: b.body! };
          case "conflict":
            return { kind: "conflict", leaseUntil: b.leaseUntil! };
          default:
            return { kind: "mismatch" };
        }
      }),
    diff: (before, after) => translate(() => diffOut(backend.diff(json(before), json(after)))),
    applyPatch: (doc, ops) => JSON.parse(translate(() => backend.applyPatch(json(doc), json(ops)))),
    validateEdit: (schema, edited) => translate(() => backend.validateEdit(json(schema), json(edited))),
    reviewEdit: (original, edited, schema) =>
      translate(() => diffOut(backend.reviewEdit(json(original), json(edited), schema === undefined ? null : json(schema)))),
    requestStatus: (name) => translate(() => backend.requestStatus(name)),
    requestPriority: (name) => translate(() => backend.requestPriority(name)),
  };
}
