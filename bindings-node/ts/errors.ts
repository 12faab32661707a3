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
    this.name = "HandrailError";
    this.code = code;
    this.data = data;
  }
}

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
  return new HandrailError(
    code,
    err.message,
    typeof data === "object" && data !== null ? (data as Record<string, unknown>) : null,
    { cause: err },
  );
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
