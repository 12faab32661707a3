// Replays tests/vectors/errors.json, like core/tests/vectors.rs and
// bindings-py/tests/test_errors.py: each trigger runs on the addon (the SDK's backend) and
// its error, converted as the SDK converts every backend error, must have the vector's
// code, kind, class (the class name the Python package raises too) and fields.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, test } from "node:test";

import * as handrail from "handrail";

const require = createRequire(import.meta.url);
const native = require("../native/index.js");
// The SDK's own conversion of backend errors (the CommonJS build "handrail" re-exports, so
// its classes are the ones `handrail` exports).
const { fromBackendError } = require("../dist/errors.js");

const VECTORS = JSON.parse(readFileSync(new URL("../../tests/vectors/errors.json", import.meta.url), "utf8"));
assert.equal(VECTORS.module, "errors");

const bytes = (text) => new TextEncoder().encode(text);
const answer = (a) => ({ status: a.status, headers: Object.fromEntries(a.headers), body: bytes(a.body) });

function trigger(t) {
  const client = new native.Protocol("http://127.0.0.1:7777/", "hr_agent_test", t.encryption_key ?? null);
  switch (t.op) {
    case "canonicalize":
      return native.canonicalize(t.input);
    case "response":
      return client.parseRecord(answer(t));
    case "payload":
      return client.payload(client.parseRecord({ status: 200, headers: {}, body: bytes(t.record) }));
    case "wait": {
      const w = client.wait(t.id, 0, t.timeout_ms ?? null);
      return t.response ? w.onResponse(client, answer(t.response), 0) : w.request(client, 0);
    }
    case "webhook":
      return native.verifyWebhook(t.secret, Object.fromEntries(t.headers), bytes(t.body), t.now);
    default:
      throw new Error(`unknown trigger ${t.op}`);
  }
}

/** The error the SDK throws for the trigger. */
function sdkError(t) {
  try {
    trigger(t);
  } catch (err) {
    return fromBackendError(err);
  }
  assert.fail("the trigger should fail");
}

describe("errors.json", () => {
  for (const c of VECTORS.cases) {
    test(c.name, () => {
      const want = c.expect;
      const err = sdkError(c.trigger);
      assert.ok(err instanceof handrail.HandrailError, `${err}`);
      assert.equal(err.constructor.name, want.class);
      assert.equal(err.name, want.class);
      assert.ok(err instanceof handrail[want.class]);
      assert.deepEqual([err.code, err.kind], [want.code, want.kind]);
      assert.deepEqual(
        [err.status, err.id, err.field, err.reason],
        [want.status ?? null, want.id ?? null, want.field ?? null, want.reason ?? null],
      );
      if (want.retry_after !== undefined) {
        assert.ok(err instanceof handrail.RateLimitedError);
        assert.equal(err.retryAfter, want.retry_after);
      }
    });
  }
});

test("the public client throws the same classes (404 through status())", async () => {
  const fetch = async () =>
    new Response(JSON.stringify({ error: { code: "not_found", message: "no such request" } }), { status: 404 });
  const client = new handrail.Handrail({ baseUrl: "http://127.0.0.1:7777", apiKey: "hr_agent_test", fetch });
  await assert.rejects(client.status("req_AAAAAAAAAAAAAAAAAAAA"), (err) => {
    assert.ok(err instanceof handrail.NotFoundError);
    assert.deepEqual([err.code, err.kind, err.status], ["not_found", "not_found", 404]);
    return true;
  });
});

test("the SDK's own network errors have the kind the core reserves for them", () => {
  const err = new handrail.NetworkError("network", "GET /: refused");
  assert.deepEqual([err.code, err.kind, err.status, err.id, err.field], ["network", "network", null, null, null]);
});
