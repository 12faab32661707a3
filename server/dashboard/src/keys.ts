// End-to-end encryption keys, kept in this browser only (localStorage of this origin), and
// the two ways to open an envelope: the WebAssembly module (the core itself) and, for bulk
// data, WebCrypto over the parts the module extracts (same format, same checks).
//
// Nothing here is ever sent: API calls carry the operator token, never a key.

import { codeOf, wasm, type EnvelopeParts } from "./wasm";

const KEYS = "handrail.keys";

export function storedKeys(): string[] {
  try {
    const list = JSON.parse(localStorage.getItem(KEYS) ?? "[]");
    return Array.isArray(list) ? list.filter((k) => typeof k === "string") : [];
  } catch {
    return [];
  }
}

function save(keys: string[]): void {
  localStorage.setItem(KEYS, JSON.stringify(keys));
}

/** Adds a key given as compact text (`hrk1.<kid>.<key>`) or as a JWK; returns its kid. */
export async function importKey(text: string): Promise<string> {
  const w = await wasm();
  text = text.trim();
  const compact = text.startsWith("{") ? w.keyFromJwk(text) : text;
  const kid = w.keyKid(compact);
  const rest = [];
  for (const k of storedKeys()) if (w.keyKid(k) !== kid) rest.push(k);
  save([...rest, compact]);
  return kid;
}

export async function generateKey(kid: string): Promise<string> {
  const w = await wasm();
  const key = w.generateKey(kid);
  await importKey(key);
  return key;
}

export async function keyList(): Promise<{ kid: string; key: string }[]> {
  const w = await wasm();
  return storedKeys().map((key) => ({ kid: w.keyKid(key), key }));
}

export async function removeKey(kid: string): Promise<void> {
  const w = await wasm();
  save(storedKeys().filter((k) => w.keyKid(k) !== kid));
}

/** What opening a value gave. */
export type Opened =
  | { state: "plain"; value: unknown }
  | { state: "decrypted"; value: unknown; kid: string | null; engine: "wasm" | "webcrypto"; ms: number; bytes: number }
  | { state: "missing"; kid: string | null }
  | { state: "wrong"; kid: string | null; code: string }
  | { state: "invalid"; code: string; message: string };

/** Bigger envelopes are opened with WebCrypto (native AES-GCM, off the module's memory). */
export const WEBCRYPTO_FROM = 64 * 1024;

/** Opens `value` (any JSON; envelopes are decrypted) bound to request `id` and `field`. */
export async function openValue(value: unknown, id: string, field: string): Promise<Opened> {
  const w = await wasm();
  const text = JSON.stringify(value);
  if (!w.isEnvelope(text)) return { state: "plain", value };
  return openText(text, id, field);
}

/** Opens envelope bytes (a snapshot as downloaded), without decoding them to a string. */
export async function openBytes(bytes: Uint8Array, id: string, field: string): Promise<Opened> {
  return openText(bytes, id, field);
}

async function openText(text: string | Uint8Array, id: string, field: string, engine?: "wasm" | "webcrypto"): Promise<Opened> {
  const w = await wasm();
  const t0 = performance.now();
  let parts: EnvelopeParts;
  try {
    parts = w.envelopeParts(text, id, field);
  } catch (e) {
    return { state: "invalid", code: codeOf(e), message: (e as Error).message };
  }
  const kid = parts.kid;
  // The legacy `_lp_enc` form names no key, and the dashboard keeps none for it.
  if (parts.legacy) return { state: "missing", kid: null };
  const keys = storedKeys();
  if (!keys.length || (kid !== null && !keys.some((k) => w.keyKid(k) === kid))) return { state: "missing", kid };
  const use = engine ?? (text.length >= WEBCRYPTO_FROM ? "webcrypto" : "wasm");
  let plain: Uint8Array;
  try {
    plain = use === "webcrypto" ? await openWebCrypto(parts, keys) : w.openEnvelope(text, keys, id, field);
  } catch (e) {
    const code = codeOf(e);
    if (code === "unknown_kid") return { state: "missing", kid };
    if (code === "decrypt_failed" || code === "unwrap_failed") return { state: "wrong", kid, code };
    return { state: "invalid", code, message: (e as Error).message };
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    return { state: "invalid", code: "not_json", message: "The decrypted bytes are not JSON text." };
  }
  return { state: "decrypted", value, kid, engine: use, ms: performance.now() - t0, bytes: plain.length };
}

/** Exposed for the tests: open with a chosen engine. */
export function openWith(engine: "wasm" | "webcrypto", envelope: string, id: string, field: string): Promise<Opened> {
  return openText(envelope, id, field, engine);
}

class DecryptError extends Error {
  constructor(readonly code: string) {
    super(code === "unwrap_failed" ? "the data key does not unwrap with this key" : "wrong key, request, field, or tampered data");
  }
}

/** AES-GCM (and AES-KW for a wrapped data key) by `crypto.subtle`, on the module's parts. */
async function openWebCrypto(parts: EnvelopeParts, keys: string[]): Promise<Uint8Array> {
  const w = await wasm();
  const key = keys.find((k) => w.keyKid(k) === parts.kid);
  if (!key) throw Object.assign(new Error("no key with this kid"), { code: "unknown_kid" });
  const jwk = JSON.parse(w.keyToJwk(key));
  let aes: CryptoKey;
  if (parts.ek) {
    const kek = await crypto.subtle.importKey("jwk", { kty: "oct", k: jwk.k, ext: false }, "AES-KW", false, ["unwrapKey"]);
    try {
      aes = await crypto.subtle.unwrapKey("raw", parts.ek as BufferSource, kek, "AES-KW", "AES-GCM", false, ["decrypt"]);
    } catch {
      throw new DecryptError("unwrap_failed");
    }
  } else {
    aes = await crypto.subtle.importKey("jwk", { kty: "oct", k: jwk.k, ext: false }, "AES-GCM", false, ["decrypt"]);
  }
  try {
    const plain = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: parts.iv as BufferSource, additionalData: parts.aad as BufferSource, tagLength: 128 },
      aes,
      parts.ct as BufferSource,
    );
    return new Uint8Array(plain);
  } catch {
    throw new DecryptError("decrypt_failed");
  }
}

Object.defineProperty(DecryptError.prototype, "name", { value: "HandrailError" });

/** Seals an edited payload for the agent with the key of the original envelope. */
export async function sealFor(kid: string | null, id: string, field: string, value: unknown): Promise<unknown> {
  const w = await wasm();
  const key = storedKeys().find((k) => kid === null || w.keyKid(k) === kid);
  if (!key) throw new Error("the key of this request is not in this browser");
  return JSON.parse(w.sealEnvelope(key, id, field, new TextEncoder().encode(JSON.stringify(value))));
}
