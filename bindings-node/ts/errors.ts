/**
 * Every failure reported by the Handrail core.
 *
 * `code` is stable and machine-readable (`"duplicate_key"`, `"decrypt_failed"`, …); the
 * same codes appear in the Python package and in the shared test vectors. `kind` is the
 * category the core gives the error; it decides the subclass, with the same class names
 * (and the same `code`, `kind`, `status`, `id`, `field`) as the Python package. `message` is
 * for people and may change. Messages never contain key material or plaintext.
 */
export class HandrailError extends Error {
  /** The stable error code from the core, e.g. `"decrypt_failed"`. */
  readonly code: string;
  /**
   * The stable category the core gives the error (`"invalid_input"`, `"auth"`, `"proof"`, …),
   * which decides its class; `null` for an error the SDK made without one.
   */
  readonly kind: string | null;
  /** Structured details of the failure, when the core provides them; otherwise `null`. */
  readonly data: Readonly<Record<string, unknown>> | null;

  constructor(
    code: string,
    message: string,
    data: Readonly<Record<string, unknown>> | null = null,
    options?: { cause?: unknown; kind?: string },
  ) {
    super(message, options);
    // The subclass's own name: `AuthError`, `ExpiredError`, …
    this.name = new.target.name;
    this.code = code;
    this.kind = options?.kind ?? null;
    this.data = data;
  }

  /** The HTTP status of the server's answer the error stands for (`data.status`), or `null`. */
  get status(): number | null {
    return field(this.data, "status", "number");
  }

  /** The request the error is about (`data.id`: an expiry, a wait timeout), or `null`. */
  get id(): string | null {
    return field(this.data, "id", "string");
  }

  /** The field the error is about (`data.field`: `"payload"`, `"state"`, …), or `null`. */
  get field(): string | null {
    return field(this.data, "field", "string");
  }

  /** The server's own code of a refusal (`data.reason`: `"already_decided"`, …), or `null`. */
  get reason(): string | null {
    return field(this.data, "reason", "string");
  }
}

function field<T extends "number" | "string">(
  data: Readonly<Record<string, unknown>> | null,
  name: string,
  type: T,
): (T extends "number" ? number : string) | null {
  const value = data?.[name];
  return typeof value === type ? (value as T extends "number" ? number : string) : null;
}

/** The API key is missing, unknown or not allowed to do this (`unauthorized`, `forbidden`). */
export class AuthError extends HandrailError {}
/** No such request in this key's project (`not_found`). */
export class NotFoundError extends HandrailError {}
/**
 * The server's state forbids it (`conflict`: id taken, already decided, with
 * `data.reason`; `idempotency_mismatch`: the same key with another body).
 */
export class ConflictError extends HandrailError {}
/** The server or the schema refused the input (`invalid_request`, `edit_invalid`, `schema_invalid`, `schema_too_complex`, `too_large`, `too_many_values`). */
export class InvalidPayloadError extends HandrailError {}
/** Too many requests (`rate_limited`), after the retries. */
export class RateLimitedError extends HandrailError {
  /** Seconds the server asked to wait (`Retry-After`). */
  get retryAfter(): number {
    const value = this.data?.["retryAfter"];
    return typeof value === "number" ? value : 0;
  }
}
/** The server failed (`server_error`, `data.status`) after the retries. */
export class ServerError extends HandrailError {}
/** The server's answer does not have the promised shape (`invalid_response`). */
export class ProtocolError extends HandrailError {}
/**
 * An envelope did not open, or a plain value came where an envelope belongs
 * (`decrypt_failed`, `not_encrypted`, `no_key`, `unknown_kid`, …): never taken as the payload.
 */
export class DecryptionFailedError extends HandrailError {}
/** Nobody decided before the request's deadline (`expired`, `data.id`): do not act. */
export class ExpiredError extends HandrailError {}
/**
 * The caller's wait timeout passed while the request was pending (`wait_timeout`,
 * `data.id`); the request stays open: `wait` on it later.
 */
export class WaitTimeoutError extends HandrailError {}
/** A decision proof did not verify (`proof_*`). */
export class ProofError extends HandrailError {}
/** A webhook did not verify (`webhook_*`). */
export class WebhookError extends HandrailError {}
/** The server could not be reached after the retries (`network`); `cause` is fetch's error. */
export class NetworkError extends HandrailError {
  constructor(
    code: string,
    message: string,
    data: Readonly<Record<string, unknown>> | null = null,
    options?: { cause?: unknown; kind?: string },
  ) {
    // The kind the core reserves for the SDKs' network failures.
    super(code, message, data, { kind: "network", ...options });
  }
}

// The class of each kind the core gives an error (`kind`, decided by the Rust core's
// `Error::kind`, the same for the napi addon and the wasm backend); the Python package maps
// the kinds to classes of the same names. Kinds without a class of their own are plain
// `HandrailError`.
const CLASSES: Readonly<Record<string, typeof HandrailError>> = {
  auth: AuthError,
  forbidden: AuthError,
  not_found: NotFoundError,
  conflict: ConflictError,
  invalid_payload: InvalidPayloadError,
  rate_limited: RateLimitedError,
  server: ServerError,
  protocol: ProtocolError,
  decryption: DecryptionFailedError,
  expired: ExpiredError,
  timeout: WaitTimeoutError,
  proof: ProofError,
  webhook: WebhookError,
  network: NetworkError,
};

// Core codes are snake_case; napi's own argument errors (`InvalidArg`, `StringExpected`, …)
// are PascalCase and stay what they are: programming errors, not Handrail failures.
const CORE_CODE = /^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$/;

/** Converts an error thrown by a backend into a `HandrailError`; anything else is returned as is. */
export function fromBackendError(err: unknown): unknown {
  if (err instanceof HandrailError || !(err instanceof Error)) {
    return err;
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code !== "string" || !CORE_CODE.test(code)) {
    return err;
  }
  const data = (err as { data?: unknown }).data;
  const kind = (err as { kind?: unknown }).kind;
  const known = typeof kind === "string" ? kind : undefined;
  const Class = (known !== undefined && Object.hasOwn(CLASSES, known) ? CLASSES[known] : undefined) ?? HandrailError;
  return new Class(code, err.message, typeof data === "object" && data !== null ? (data as Record<string, unknown>) : null, {
    cause: err,
    ...(known !== undefined ? { kind: known } : {}),
  });
}

/** Runs `fn`, rethrowing backend errors as `HandrailError`. */
export function translate<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const converted = fromBackendError(err);
    if (converted !== err && typeof Error.captureStackTrace === "function") {
      // Start the stack at the caller of the public function, not in this module.
      Error.captureStackTrace(converted as Error, translate);
    }
    throw converted;
  }
}
