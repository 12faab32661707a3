// The SDK's firewall takes tool arguments as JS values and hands the core their JSON text
// (`JSON.stringify`); values that have no JSON text are refused before the core sees them.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Firewall, HandrailError, InvalidPayloadError } from "handrail";

test("the SDK's firewall refuses args JSON.stringify has no text for as InvalidPayloadError", () => {
  const fw = new Firewall();
  const session = fw.begin({ sessionId: "s", context: "" });
  const cycle = {};
  cycle.self = cycle;
  for (const args of [{ n: 10n }, cycle, undefined, () => 1]) {
    assert.throws(
      () => fw.check(session, { tool: "t", args, now: 1 }),
      (err) => err instanceof InvalidPayloadError && err.code === "invalid_request",
    );
  }
  assert.throws(
    () => fw.check(session, { tool: "t", args: { n: 2 ** 53 }, now: 1 }),
    (err) => err instanceof HandrailError && err.code === "integer_out_of_range" && err.kind === "invalid_input",
  );
});
