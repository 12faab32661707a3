// The ESM entry point re-exports the CommonJS build, so `import` and `require` share one
// module instance (and one `HandrailError` class: `instanceof` works across both).
export { canonicalize, generateKey, HandrailError, openEnvelope, sealEnvelope } from "./index.js";
export type { Api, OpenOptions, SealOptions } from "./index.js";
