import type {
  AskInit,
  Backend,
  BackendProtocol,
  BackendRecord,
  EditDiff,
  HttpAnswer,
  HttpRequest,
  ProofClaims,
} from "./backend.js";
import { ConflictError, HandrailError, NetworkError, translate } from "./errors.js";

/** Urgency of a request. */
export type Priority = "low" | "medium" | "high" | "critical";

/** Where a request stands. */
export type RequestStatus = "PENDING" | "APPROVED" | "APPROVED_WITH_MODIFICATIONS" | "REJECTED" | "EXPIRED";

/** How a `Handrail` client connects. */
export interface HandrailOptions {
  /** The server, e.g. `http://127.0.0.1:8080`. Default: `HANDRAIL_URL`. */
  baseUrl?: string;
  /** The agent's API key. Default: `HANDRAIL_API_KEY`. */
  apiKey?: string;
  /**
   * `hrk1.<kid>.<base64url>`: payloads and state are sealed before they leave the process
   * and opened on the way back; the server only ever stores envelopes. Default:
   * `HANDRAIL_ENCRYPTION_KEY`, else no encryption.
   */
  encryptionKey?: string;
  /**
   * The project proofs must be for. Default: the project each request names (what
   * `verifyProof` checks; a proof from elsewhere throws `ProofError` `proof_project`).
   */
  expectProject?: string;
  /**
   * The server that must have issued proofs (its public URL or `srv_…` id). Default: the
   * `issuer` that `/v1/keys/proof` names (otherwise `ProofError` `proof_issuer`).
   */
  expectIssuer?: string;
  /** The `fetch` to use. Default: the global one. */
  fetch?: typeof fetch;
}

/** What `defer` (and `ask`) opens. */
export interface DeferOptions {
  /** The system acted on (`stripe`, `gmail`…). */
  service: string;
  /** The action (`refund`…). */
  action: string;
  /** What the person approves, edits or rejects: any value `JSON.stringify` accepts. */
  payload: unknown;
  /** Default: the server's (`medium`). */
  priority?: Priority;
  /** The role that may decide. */
  role?: string;
  /** JSON Schema an edit must satisfy (the payload is checked against it before sending). */
  schema?: Record<string, unknown>;
  /** Seconds until the request expires unanswered (the server's default is a day). */
  expiresIn?: number;
  /** State to park with the request, sealed (needs an encryption key); back as `Decision.state`. */
  stateSnapshot?: unknown;
  /** Free context shown to the person deciding; sent as is, never sealed. */
  context?: unknown;
  /**
   * Names the step (a thread or run id): the same scope and payload give the same request,
   * so a re-executed step gets the first request (and its decision) back instead of asking
   * twice. Without it every call is a new request.
   */
  idempotencyScope?: string;
  /** An explicit `Idempotency-Key`; wins over the scope. */
  idempotencyKey?: string;
  /** Aborts the call; it then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** What `ask` takes: `defer`'s options and `wait`'s timeout. */
export interface AskOptions extends DeferOptions {
  /**
   * Seconds the caller waits before `WaitTimeoutError` (the request stays open). Default:
   * until decided or expired.
   */
  timeout?: number;
}

/** How `wait` waits. */
export interface WaitOptions {
  /** Seconds before `WaitTimeoutError`. Default: until decided or expired. */
  timeout?: number;
  /** Aborts the wait; it then rejects with `signal.reason`. The request stays open. */
  signal?: AbortSignal;
}

const RECORDS = new WeakMap<Decision, BackendRecord>();

/**
 * A person's decision on a request. Payloads are already decrypted; a payload that does
 * not open throws `DecryptionFailedError` instead of ever reaching you.
 */
export class Decision {
  /** The request id. */
  readonly requestId: string;
  /** `APPROVED`, `APPROVED_WITH_MODIFICATIONS` or `REJECTED`. */
  readonly status: RequestStatus;
  /** What to act on: the edited payload after an edit; `null` unless `approved`. */
  readonly payload: unknown;
  /** The edited payload, after an edit; else `null`. */
  readonly patchedPayload: unknown;
  /** What the edit changed (`{ ops, summary: "amount: 500 → 50" }`); else `null`. */
  readonly diff: EditDiff | null;
  /** Who decided (operator key id). */
  readonly actor: string | null;
  /** Why. */
  readonly reason: string | null;
  /** The signed proof (JWS); check it with `Handrail.verifyProof`. */
  readonly proof: string | null;
  /** When, Unix seconds. */
  readonly decidedAt: number;
  /** The state parked with `stateSnapshot`, decrypted; else `null`. */
  readonly state: unknown;

  /** @internal */
  constructor(fields: Omit<Decision, "approved">, record: BackendRecord) {
    this.requestId = fields.requestId;
    this.status = fields.status;
    this.payload = fields.payload;
    this.patchedPayload = fields.patchedPayload;
    this.diff = fields.diff;
    this.actor = fields.actor;
    this.reason = fields.reason;
    this.proof = fields.proof;
    this.decidedAt = fields.decidedAt;
    this.state = fields.state;
    RECORDS.set(this, record);
  }

  /** True when the agent may act (approved, with or without edits). */
  get approved(): boolean {
    return this.status === "APPROVED" || this.status === "APPROVED_WITH_MODIFICATIONS";
  }
}

/** A verified webhook delivery. */
export interface WebhookEvent {
  /** `webhook-id`: deliveries may repeat; deduplicate by it. */
  id: string;
  /** `request.created`, `request.resolved` or `request.expired`. */
  type: string;
  /** When the event happened, Unix seconds. */
  timestamp: number;
  requestId: string;
  status: RequestStatus;
  /** The decision, decrypted, once the request is decided; else `null`. */
  decision: Decision | null;
}

/** Headers as `verifyWebhook` takes them. */
export type HeadersLike = Headers | Record<string, string | string[] | undefined> | Iterable<[string, string]>;

/** The `Handrail` client class. */
export interface HandrailConstructor {
  /**
   * A client of one server with one agent key.
   *
   * @throws HandrailError `invalid_options` without a server URL, `invalid_key` without an
   *   API key or for a malformed encryption key.
   */
  new (options?: HandrailOptions): Handrail;
  readonly prototype: Handrail;
}

/** A client of the Handrail server: ask a person, wait for the decision, act on it. */
export interface Handrail {
  /** True when payloads and state are sealed. */
  readonly encrypts: boolean;
  /**
   * Asks a person and waits until they decide (long-poll, no sleep loop).
   *
   * Resolves to a `Decision` for every human outcome: approved, approved with edits
   * (`patchedPayload`, `diff`), rejected (`reason`).
   *
   * @throws ExpiredError nobody decided within `expiresIn` seconds.
   * @throws WaitTimeoutError `timeout` seconds passed first; the request stays open.
   * @throws AuthError, RateLimitedError, DecryptionFailedError, … (all `HandrailError`).
   */
  ask(options: AskOptions): Promise<Decision>;
  /** Opens a request without waiting; resolves to its id. */
  defer(options: DeferOptions): Promise<string>;
  /** Waits until request `requestId` is decided; see `ask` for what rejects. */
  wait(requestId: string, options?: WaitOptions): Promise<Decision>;
  /** The request's status now. */
  status(requestId: string, options?: { signal?: AbortSignal }): Promise<RequestStatus>;
  /**
   * Verifies the decision's proof against the server's published keys (fetched once, then
   * cached); resolves to its claims.
   *
   * @throws ProofError.
   */
  verifyProof(decision: Decision): Promise<ProofClaims>;
  /**
   * Verifies a Standard Webhooks delivery (`secret` defaults to `HANDRAIL_WEBHOOK_SECRET`)
   * and returns the typed event, its decision decrypted and its parked state fetched.
   *
   * @throws WebhookError.
   */
  verifyWebhook(body: string | Uint8Array, headers: HeadersLike, secret?: string): Promise<WebhookEvent>;
  /** Posts a batch of tool-call observations. */
  observe(agent: string, events: readonly unknown[]): Promise<{ accepted: number; duplicates: number }>;
}

function env(name: string): string | undefined {
  const value = typeof process === "undefined" ? undefined : process.env[name];
  return value === undefined || value === "" ? undefined : value;
}

function json(value: unknown, what: string): string {
  const text = JSON.stringify(value);
  if (text === undefined) {
    throw new TypeError(`${what} must be a JSON value`);
  }
  return text;
}

function parse(text: string | null | undefined): unknown {
  return text === null || text === undefined ? null : JSON.parse(text);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function headerList(headers: HeadersLike): Record<string, string> {
  const out: Record<string, string> = {};
  const entries: Iterable<[string, unknown]> =
    typeof (headers as Headers).forEach === "function" && typeof (headers as Headers).get === "function"
      ? (headers as Headers).entries()
      : Symbol.iterator in headers
        ? (headers as Iterable<[string, string]>)
        : Object.entries(headers);
  for (const [name, value] of entries) {
    if (typeof value === "string") out[name.toLowerCase()] = value;
    else if (Array.isArray(value) && typeof value[0] === "string") out[name.toLowerCase()] = value.join(", ");
  }
  return out;
}

/** The `Handrail` class over `backend`. @internal */
/** The core's create options for `defer(options)`; the state only when it will be sent. */
function askInit(options: DeferOptions, withState: boolean): AskInit {
  const { service, action, payload, priority, role, schema, expiresIn, stateSnapshot, context } = options;
  const ask: AskInit = { service, action, payloadJson: json(payload, "payload") };
  if (priority !== undefined) ask.priority = priority;
  if (role !== undefined) ask.role = role;
  if (schema !== undefined) ask.schemaJson = json(schema, "schema");
  if (expiresIn !== undefined) ask.timeoutSecs = expiresIn;
  if (context !== undefined) ask.contextJson = json(context, "context");
  if (withState && stateSnapshot !== undefined) ask.stateJson = json(stateSnapshot, "stateSnapshot");
  if (options.idempotencyScope !== undefined) ask.idempotencyScope = options.idempotencyScope;
  if (options.idempotencyKey !== undefined) ask.idempotencyKey = options.idempotencyKey;
  return ask;
}

let REQUEST_ID_FOR: ((hr: Handrail, options: DeferOptions) => string) | undefined;

/**
 * The id of the request `hr.defer(options)` opens — a function of its idempotency key —
 * computed without any I/O: how the guard finds the request a re-executed call opened
 * before, when the same key now comes with another body (`idempotency_mismatch`). @internal
 */
export function requestIdFor(hr: Handrail, options: DeferOptions): string {
  if (REQUEST_ID_FOR === undefined) throw new Error("handrail: no Handrail class was created");
  return REQUEST_ID_FOR(hr, options);
}

export function createHandrail(backend: Backend): HandrailConstructor {
  return class Handrail {
    readonly #protocol: BackendProtocol;
    readonly #fetch: typeof fetch;
    #jwks: Promise<void> | undefined;

    constructor(options: HandrailOptions = {}) {
      const baseUrl = options.baseUrl ?? env("HANDRAIL_URL");
      const apiKey = options.apiKey ?? env("HANDRAIL_API_KEY");
      const encryptionKey = options.encryptionKey ?? env("HANDRAIL_ENCRYPTION_KEY");
      if (!baseUrl) {
        throw new HandrailError("invalid_options", "no server URL: pass baseUrl or set HANDRAIL_URL");
      }
      if (!apiKey) {
        throw new HandrailError("invalid_key", "no API key: pass apiKey or set HANDRAIL_API_KEY");
      }
      // Only members that are set (the type has no room for `undefined`).
      const expect: { project?: string; issuer?: string } = {};
      if (options.expectProject !== undefined) expect.project = options.expectProject;
      if (options.expectIssuer !== undefined) expect.issuer = options.expectIssuer;
      this.#protocol = translate(() => new backend.Protocol(baseUrl, apiKey, encryptionKey, expect));
      this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    }

    get encrypts(): boolean {
      return this.#protocol.encrypts;
    }

    /** Sends one request as the core built it; transport failures reject. */
    async #send(req: HttpRequest, signal: AbortSignal | undefined): Promise<HttpAnswer> {
      const timeout = AbortSignal.timeout(req.timeoutSecs * 1000);
      const init: RequestInit = {
        method: req.method,
        headers: req.headers,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      };
      if (req.body.length > 0) init.body = req.body;
      const response = await this.#fetch(req.url, init);
      const body = new Uint8Array(await response.arrayBuffer());
      const headers: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        headers[name] = value;
      });
      return { status: response.status, headers, body };
    }

    /** Sends, retrying transport failures, 5xx and 429 when the core says so. */
    async #call(req: HttpRequest, signal: AbortSignal | undefined): Promise<HttpAnswer> {
      for (let attempt = 0; ; attempt++) {
        let delay: number | null;
        try {
          const answer = await this.#send(req, signal);
          delay = backend.retryResponse(answer, attempt);
          if (delay === null) return answer;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          delay = backend.retryNetwork(attempt);
          if (delay === null) {
            throw new NetworkError("network", `${req.method} ${req.url}: ${(err as Error).message}`, null, { cause: err });
          }
        }
        await sleep(delay, signal);
      }
    }

    static {
      // The guard's way to the request a key opened before (see `requestIdFor`).
      REQUEST_ID_FOR = (hr, options) => translate(() => (hr as Handrail).#protocol.create(askInit(options, false)).id);
    }

    async defer(options: DeferOptions): Promise<string> {
      const calls = translate(() => this.#protocol.create(askInit(options, true)));
      const created = await this.#call(calls.request, options.signal);
      const record = translate(() => this.#protocol.parseRecord(created));
      if (calls.snapshot) {
        const stored = await this.#call(calls.snapshot, options.signal);
        try {
          translate(() => this.#protocol.parseSnapshotStored(stored));
        } catch (err) {
          // A request decided between its create and the upload (a person faster than the
          // network) refuses the snapshot: not an error of the ask, whose caller still
          // holds the state (`ask` returns it as `Decision.state`).
          if (!(err instanceof ConflictError && err.data?.["reason"] === "already_decided")) throw err;
        }
      }
      return record.id;
    }

    async ask(options: AskOptions): Promise<Decision> {
      const id = await this.defer(options);
      const waitOptions: WaitOptions = {};
      if (options.timeout !== undefined) waitOptions.timeout = options.timeout;
      if (options.signal !== undefined) waitOptions.signal = options.signal;
      const decision = await this.wait(id, waitOptions);
      if (decision.state === null && options.stateSnapshot !== undefined) {
        const record = RECORDS.get(decision) as BackendRecord;
        return new Decision({ ...decision, state: options.stateSnapshot }, record);
      }
      return decision;
    }

    async wait(requestId: string, options: WaitOptions = {}): Promise<Decision> {
      const { timeout, signal } = options;
      const timeoutMs = timeout === undefined ? undefined : Math.max(0, Math.round(timeout * 1000));
      const w = translate(() => this.#protocol.wait(requestId, Date.now(), timeoutMs));
      for (;;) {
        signal?.throwIfAborted();
        const req = translate(() => w.request(this.#protocol, Date.now()));
        let answer: HttpAnswer;
        try {
          answer = await this.#send(req, signal);
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          await sleep(w.onNetworkError(Date.now()), signal);
          continue;
        }
        const step = translate(() => w.onResponse(this.#protocol, answer, Date.now()));
        if (typeof step === "number") {
          if (step > 0) await sleep(step, signal);
          continue;
        }
        return this.#decision(step, await this.#state(step, signal));
      }
    }

    async status(requestId: string, options: { signal?: AbortSignal } = {}): Promise<RequestStatus> {
      const answer = await this.#call(translate(() => this.#protocol.read(requestId)), options.signal);
      return translate(() => this.#protocol.parseRecord(answer)).status as RequestStatus;
    }

    async #state(record: BackendRecord, signal: AbortSignal | undefined): Promise<unknown> {
      if (!record.hasSnapshot) return null;
      const answer = await this.#call(translate(() => this.#protocol.snapshotDownload(record.id)), signal);
      return parse(translate(() => this.#protocol.openSnapshot(record.id, answer)));
    }

    #decision(record: BackendRecord, state: unknown): Decision {
      const o = translate(() => this.#protocol.outcome(record));
      if (o === null) {
        throw new HandrailError("invalid_response", "the request is still pending");
      }
      return new Decision(
        {
          requestId: record.id,
          status: o.status as RequestStatus,
          payload: parse(o.payloadJson),
          patchedPayload: parse(o.patchedPayloadJson),
          diff: parse(o.diffJson) as EditDiff | null,
          actor: o.actor ?? null,
          reason: o.reason ?? null,
          proof: o.proof ?? null,
          decidedAt: o.decidedAt,
          state,
        },
        record,
      );
    }

    async verifyProof(decision: Decision): Promise<ProofClaims> {
      const record = RECORDS.get(decision);
      if (decision.proof === null || record === undefined) {
        throw new HandrailError("proof_malformed", "this decision carries no proof");
      }
      if (!this.#protocol.hasJwks) {
        // One fetch of the keys for concurrent callers; a failed fetch is tried again later.
        this.#jwks ??= this.#call(this.#protocol.jwksRequest(), undefined)
          .then((answer) => translate(() => this.#protocol.loadJwks(answer)))
          .finally(() => {
            this.#jwks = undefined;
          });
        await this.#jwks;
      }
      const proof = decision.proof;
      const now = Math.floor(Date.now() / 1000);
      return JSON.parse(translate(() => this.#protocol.verifyProof(record, proof, now))) as ProofClaims;
    }

    async verifyWebhook(body: string | Uint8Array, headers: HeadersLike, secret?: string): Promise<WebhookEvent> {
      const key = secret ?? env("HANDRAIL_WEBHOOK_SECRET") ?? "";
      const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
      const now = Math.floor(Date.now() / 1000);
      const delivery = translate(() => backend.verifyWebhook(key, headerList(headers), bytes, now));
      const record = delivery.record();
      const status = record.status as RequestStatus;
      const decision = status === "PENDING" ? null : this.#decision(record, await this.#state(record, undefined));
      return { id: delivery.id, type: delivery.kind, timestamp: delivery.timestamp, requestId: record.id, status, decision };
    }

    async observe(agent: string, events: readonly unknown[]): Promise<{ accepted: number; duplicates: number }> {
      const req = translate(() => this.#protocol.observations(agent, json(events, "events")));
      const answer = await this.#call(req, undefined);
      return translate(() => this.#protocol.parseObservations(answer));
    }
  };
}

const ONCE = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` at most once per `key` in this process; a retried call with the same key gets
 * the first result instead of running again. Concurrent calls with one key share one run.
 * A run that throws records nothing, so a retry runs again.
 *
 * **Where the record lives**: in this process's memory. Across processes and restarts,
 * exactly-once comes from the server: `ask({ …, idempotencyScope })` returns the first
 * request and its decision to a re-executed step, so key `once` by that request
 * (`once(decision.requestId, …)`) and make the effect itself idempotent (pass the request
 * id as the downstream API's idempotency key).
 */
export function once<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
  if (typeof key !== "string" || key === "") {
    return Promise.reject(new HandrailError("idempotency_key", "once() needs a non-empty string key"));
  }
  const seen = ONCE.get(key);
  if (seen !== undefined) return seen as Promise<T>;
  const run = (async () => fn())();
  ONCE.set(key, run);
  run.catch(() => {
    if (ONCE.get(key) === run) ONCE.delete(key);
  });
  return run;
}

/** Drops the record of `key` (tests, or after the effect was undone). */
once.forget = (key: string): void => {
  ONCE.delete(key);
};

/** True once a run for `key` completed or is under way. */
once.has = (key: string): boolean => ONCE.has(key);
