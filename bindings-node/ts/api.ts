import type { Backend, OpenOptions, SealOptions } from "./backend.js";
import { asBuffer } from "./bytes.js";
import { translate } from "./errors.js";
import { createFirewall, type FirewallConstructor } from "./firewall.js";

/** The public functions, bound to one backend. */
export interface Api {
  /**
   * RFC 8785 canonical JSON of `input`: JSON text, or its raw bytes (a `Buffer` or any
   * `Uint8Array`; bytes that are not UTF-8 are rejected).
   *
   * @throws HandrailError `json_syntax`, `duplicate_key`, `lone_surrogate`,
   *   `non_finite_number`, `integer_out_of_range`, `too_deep`, `too_large`.
   */
  canonicalize(input: string | Uint8Array): string;

  /**
   * Seals `plaintext` into an envelope (JSON text) that opens only for the same
   * `requestId` and `field`.
   *
   * @param key compact key text `hrk1.<kid>.<base64url key>`, e.g. from `generateKey`.
   * @throws HandrailError `invalid_key`.
   */
  sealEnvelope(key: string, requestId: string, field: string, plaintext: Uint8Array, options?: SealOptions): string;

  /**
   * Opens an envelope found in `field` of request `requestId`; returns the plaintext.
   *
   * @param keys compact key texts; the envelope's `kid` picks exactly one, keys are never
   *   tried in turn.
   * @throws HandrailError `decrypt_failed` (wrong key, request or field, or tampering),
   *   `unknown_kid`, `unwrap_failed`, `envelope_malformed`, `envelope_unsupported`,
   *   `encoding`, `invalid_key`.
   */
  openEnvelope(
    envelope: string | Uint8Array,
    keys: readonly string[],
    requestId: string,
    field: string,
    options?: OpenOptions,
  ): Buffer;

  /**
   * A fresh random 256-bit key named `kid` (1–64 characters of `[A-Za-z0-9._:-]`), as
   * compact key text. The text *is* the secret.
   *
   * @throws HandrailError `invalid_key`.
   */
  generateKey(kid: string): string;

  /**
   * The behavioral firewall: learns an agent's normal tool use and holds the calls that
   * step off it (see `Firewall`).
   */
  Firewall: FirewallConstructor;
}

/** Binds the public API to `backend`. @internal */
export function createApi(backend: Backend): Api {
  return {
    canonicalize: (input) => translate(() => backend.canonicalize(input)),
    sealEnvelope: (key, requestId, field, plaintext, options) =>
      translate(() => backend.sealEnvelope(key, requestId, field, plaintext, options)),
    openEnvelope: (envelope, keys, requestId, field, options) =>
      translate(() => asBuffer(backend.openEnvelope(envelope, [...keys], requestId, field, options))),
    generateKey: (kid) => translate(() => backend.generateKey(kid)),
    Firewall: createFirewall(backend),
  };
}
