// Shared by the *.test.mjs files: both wasm-bindgen builds, pkg/node (--target nodejs) and
// pkg/web (--target web, the wasm-opt'ed module browsers load; initialised from bytes
// instead of fetch()), and the shared vectors. Build both first: scripts/test-wasm.sh.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pkgDir = new URL('../pkg/', import.meta.url);

export async function loadBuilds() {
  const node = require(new URL('node/handrail_wasm.js', pkgDir).pathname);
  const web = await import(new URL('web/handrail_wasm.js', pkgDir).href);
  await web.default({ module_or_path: readFileSync(new URL('web/handrail_wasm_bg.wasm', pkgDir)) });
  return { node, web };
}

export function readVectors(module) {
  const file = JSON.parse(readFileSync(new URL(`../../tests/vectors/${module}.json`, import.meta.url), 'utf8'));
  assert.equal(file.module, module);
  return file;
}

export function expectHandrailError(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, `threw a non-Error: ${typeof err} ${String(err)}`);
    assert.equal(err.name, 'HandrailError', err.message);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.length > 0);
    return true;
  });
}

export function expectPlainError(fn, type) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${err?.name}: ${err?.message}`);
    assert.equal(err.code, undefined);
    return true;
  });
}

export const b64url = {
  decode: (text) => new Uint8Array(Buffer.from(text, 'base64url')),
  encode: (bytes) => Buffer.from(bytes).toString('base64url'),
};
