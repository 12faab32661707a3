/**
 * Handrail for Node.js: canonical JSON and AES-256-GCM envelopes bound to the request and
 * field they belong to, computed by the Rust core.
 *
 * ```js
 * const { generateKey, sealEnvelope, openEnvelope } = require("handrail");
 * const key = generateKey("client-1");
 * const sealed = sealEnvelope(key, "req_1", "payload", Buffer.from("secret"));
 * openEnvelope(sealed, [key], "req_1", "payload"); // <Buffer 73 65 63 72 65 74>
 * ```
 *
 * Every failure of the core is thrown as a `HandrailError` with a stable `code`.
 *
 * @packageDocumentation
 */
import * as native from "../native/index.js";
import { createApi } from "./api.js";
import type { Backend } from "./backend.js";

export { HandrailError } from "./errors.js";
export type { Api } from "./api.js";
export type { OpenOptions, SealOptions } from "./backend.js";

// The addon must satisfy the backend contract; this line is where TypeScript checks it
// against the generated `native/index.d.ts`.
const backend: Backend = native;
const api = createApi(backend);

export const canonicalize = api.canonicalize;
export const sealEnvelope = api.sealEnvelope;
export const openEnvelope = api.openEnvelope;
export const generateKey = api.generateKey;
