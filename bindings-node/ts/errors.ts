/**
 * Every failure reported by the Handrail core.
 *
 * `code` is stable and machine-readable (`"duplicate_key"`, `"decrypt_failed"`, …); the
 * same codes appear in the Python package and in the shared test vectors. `message` is
 * for people and may change. Messages never contain key material or plaintext.
 */
export class HandrailError extends Error {
  /** The stable error code from the core, e.g. `"decrypt_failed"`. */
  readonly code: string;
  /** Structured details of the failure, when the core provides them; otherwise `null`. */
  readonly data: Readonly<Record<string, unknown>> | null;

  constructor(
    code: string,
    message: string,
    data: Readonly<Record<string, unknown>> | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    // The subclass's own name: `AuthError`, `ExpiredError`, …
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }
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
/** The server or the schema refused the input (`invalid_request`, `edit_invalid`, `schema_invalid`, `too_large`). */
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
export class NetworkError extends HandrailError {}

// The addon names the subclass of each protocol error (`errorClass`, chosen in the Rust
// `error.rs`); this table only finds the class by that name.
const CLASSES: Readonly<Record<string, typeof HandrailError>> = {
  HandrailError,
  AuthError,
  NotFoundError,
  ConflictError,
  InvalidPayloadError,
  RateLimitedError,
  ServerError,
  ProtocolError,
  DecryptionFailedError,
  ExpiredError,
  WaitTimeoutError,
  ProofError,
  WebhookError,
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
  const name = (err as { errorClass?: unknown }).errorClass;
  const Class = (typeof name === "string" && Object.hasOwn(CLASSES, name) ? CLASSES[name] : undefined) ?? HandrailError;
  return new Class(code, err.message, typeof data === "object" && data !== null ? (data as Record<string, unknown>) : null, {
    cause: err,
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
