// The browser package (bindings-wasm, served at /wasm/): loaded on first use, so the queue
// paints without waiting for it.

/** An error thrown by the module: `code` is stable (`decrypt_failed`, `unknown_kid`, …). */
export interface HandrailError extends Error {
  code: string;
}

export interface EnvelopeParts {
  kid: string | null;
  legacy: boolean;
  iv: Uint8Array;
  ct: Uint8Array;
  ek: Uint8Array | null;
  aad: Uint8Array;
}

export interface LayoutNode {
  id: number;
  tool: string;
  effect: string | null;
  layer: number;
  x: number;
  y: number;
  count: number;
}

export interface Layout {
  nodes: LayoutNode[];
  edges: { from: number; to: number; p: number; count: number }[];
  truncated: number;
}

export interface Wasm {
  generateKey(kid: string): string;
  keyKid(key: string): string;
  keyToJwk(key: string): string;
  keyFromJwk(jwkJson: string): string;
  isEnvelope(json: string): boolean;
  sealEnvelope(key: string, requestId: string, field: string, plaintext: Uint8Array, options?: { wrap?: boolean }): string;
  openEnvelope(envelope: string | Uint8Array, keys: string[], requestId: string, field: string): Uint8Array;
  envelopeParts(envelope: string | Uint8Array, requestId: string, field: string): EnvelopeParts;
  diff(before: string, after: string): import("./types").Diff;
  revealInvisible(text: string): string;
  requestDigest(service: string, action: string, payload: string): string;
  payloadPreview(payload: string): { encrypted: boolean; text?: string; complete: boolean };
  reviewEdit?(original: string, edited: string, schema?: string): import("./types").Diff;
  verifyAudit(entriesJson: string, after?: { seq: number; hash: string }): { count: number; last: { seq: number; hash: string } | null };
  layoutProfile(profile: Uint8Array, now: number, maxNodes?: number): Layout;
  ProofVerifier: new (jwksJson: string) => {
    verify(
      token: string,
      now: number,
      expect: { requestId?: string; project?: string; issuer?: string; requestDigest?: string; decision?: string },
    ): Record<string, unknown>;
  };
}

let loading: Promise<Wasm> | null = null;
let loaded: Wasm | null = null;

export function wasm(): Promise<Wasm> {
  loading ??= (async () => {
    const url = "/wasm/handrail_wasm.js";
    const mod = await import(/* @vite-ignore */ url);
    await mod.default({ module_or_path: "/wasm/handrail_wasm_bg.wasm" });
    loaded = mod as unknown as Wasm;
    return loaded;
  })();
  return loading;
}

/**
 * Text as a person should see it: every bidi control and invisible format character
 * written as `<U+202E>` (the core's `reveal_invisible`; the table is the core's, not ours).
 * Views that show payloads, previews, names or diffs await `wasm()` before they render, so
 * the module is here; if it is not, nothing is shown rather than unescaped text.
 */
export function visible(text: string): string {
  if (!loaded) throw new Error("The browser package is not loaded: nothing is shown unescaped.");
  return loaded.revealInvisible(text);
}

export function codeOf(e: unknown): string {
  return typeof (e as HandrailError)?.code === "string" ? (e as HandrailError).code : "error";
}
