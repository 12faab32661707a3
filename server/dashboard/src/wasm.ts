// The browser package (bindings-wasm, served at /wasm/): loaded on first use, so the queue
// paints without waiting for it.

// Its types are the ones wasm-bindgen generates from bindings-wasm (scripts/build-dashboard.sh
// builds the package before it typechecks the dashboard), so they cannot drift from the core.
import type * as Module from "../../../bindings-wasm/pkg/web/handrail_wasm";

export type { EnvelopeParts, Layout } from "../../../bindings-wasm/pkg/web/handrail_wasm";

/** An error thrown by the module: `code` is stable (`decrypt_failed`, `unknown_kid`, …). */
export interface HandrailError extends Error {
  code: string;
}

/**
 * The browser package. `reviewEdit` exists only in builds with the core's JSON Schema
 * validation (the `schema` feature), which the dashboard's build leaves out.
 */
export type Wasm = typeof Module & {
  reviewEdit?(original: string, edited: string, schema?: string): Module.EditDiff;
};

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
