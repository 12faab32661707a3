// Replays the shared vectors in tests/vectors/ against both wasm-bindgen builds:
// pkg/node (--target nodejs, what Node users load) and pkg/web (--target web, the
// wasm-opt'ed module browsers load; initialised here from bytes instead of fetch()).
// Build both first: scripts/test-wasm.sh.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, test } from 'node:test';

const require = createRequire(import.meta.url);
const vectorsDir = new URL('../../tests/vectors/', import.meta.url);
const pkgDir = new URL('../pkg/', import.meta.url);

function loadVectors(module) {
  const file = JSON.parse(readFileSync(new URL(`${module}.json`, vectorsDir), 'utf8'));
  assert.equal(file.module, module);
  assert.ok(file.cases.length > 0, `${module}.json has no cases`);
  return file.cases;
}

async function loadBuilds() {
  const node = require(new URL('node/handrail_wasm.js', pkgDir).pathname);
  const web = await import(new URL('web/handrail_wasm.js', pkgDir).href);
  await web.default({ module_or_path: readFileSync(new URL('web/handrail_wasm_bg.wasm', pkgDir)) });
  return { node, web };
}

const builds = await loadBuilds();

/** `input` is JSON text; `input_hex` holds bytes that are not UTF-8 and goes in as a Uint8Array. */
function caseInput(c) {
  return 'input_hex' in c ? Uint8Array.from(Buffer.from(c.input_hex, 'hex')) : c.input;
}

function expectHandrailError(fn, code) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof Error, `threw a non-Error: ${typeof err} ${String(err)}`);
    assert.equal(err.name, 'HandrailError');
    assert.equal(err.code, code);
    assert.equal(typeof err.message, 'string');
    assert.ok(err.message.length > 0);
    return true;
  });
}

// errors.json's triggers that need no protocol client (this package has none): the thrown
// error carries the core's code and kind, from which the TypeScript SDK picks its class.
const errorCases = JSON.parse(readFileSync(new URL('errors.json', vectorsDir), 'utf8')).cases.filter(
  (c) => c.trigger.op === 'canonicalize',
);

for (const [build, api] of Object.entries(builds)) {
  describe(`errors.json, canonicalize cases (${build} build)`, () => {
    assert.ok(errorCases.length > 0);
    for (const c of errorCases) {
      test(c.name, () => {
        expectHandrailError(() => api.canonicalize(c.trigger.input), c.expect.code);
        assert.throws(() => api.canonicalize(c.trigger.input), (err) => err.kind === c.expect.kind);
      });
    }
  });

  describe(`canonical vectors (${build} build)`, () => {
    for (const c of loadVectors('canonical')) {
      test(c.name, () => {
        const input = caseInput(c);
        if ('error' in c) {
          expectHandrailError(() => api.canonicalize(input), c.error);
        } else {
          assert.equal(api.canonicalize(input), c.output);
        }
      });
    }
  });

  describe(`canonicalize arguments (${build} build)`, () => {
    test('UTF-8 bytes give the same result as the string', () => {
      const text = ' {"é":"😀", "a":[1.0, 2e0]} ';
      assert.equal(api.canonicalize(new TextEncoder().encode(text)), api.canonicalize(text));
    });

    test('a value that is neither a string nor a Uint8Array is a TypeError', () => {
      for (const bad of [42, null, undefined, {}, [1], new ArrayBuffer(2)]) {
        assert.throws(() => api.canonicalize(bad), (err) => {
          assert.ok(err instanceof TypeError);
          assert.equal(err.code, undefined);
          return true;
        });
      }
    });
  });
}
