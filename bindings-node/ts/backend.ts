// The option shapes are generated from the Rust structs into native/index.d.ts; they are
// imported as types only, so this contract does not load the addon.
import type { OpenOptions, SealOptions } from "../native/index.js";

export type { OpenOptions, SealOptions };

/**
 * The internal contract between the public API and whatever computes it.
 *
 * The napi addon (`native/`) satisfies it today; a wasm build of the same core can satisfy
 * it later without the public API changing (automerge's `UseApi` pattern). A backend
 * throws errors whose `code` is the core's stable `snake_case` error code; the public
 * layer converts them into `HandrailError` (see `errors.ts`). Errors with any other code
 * (napi's `InvalidArg` for a malformed argument) pass through unchanged.
 *
 * @internal
 */
export interface Backend {
  canonicalize(input: string | Uint8Array): string;
  sealEnvelope(
    key: string,
    requestId: string,
    field: string,
    plaintext: Uint8Array,
    options?: SealOptions | undefined | null,
  ): string;
  openEnvelope(
    envelope: string | Uint8Array,
    keys: string[],
    requestId: string,
    field: string,
    options?: OpenOptions | undefined | null,
  ): Uint8Array;
  generateKey(kid: string): string;
}
