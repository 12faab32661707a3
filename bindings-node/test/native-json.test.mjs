// The addon's native walk of JS values (`toolCallKeyOf`) gives exactly the key of the
// JSON-text path (`toolCallKey` over `JSON.stringify`), on the vectors and on seeded
// random values, and refuses what JSON cannot hold with the documented codes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, test } from "node:test";

import { Firewall, HandrailError, InvalidPayloadError, toolCallKey } from "handrail";

const native = createRequire(import.meta.url)("../native/index.js");
const vectors = (name) => JSON.parse(readFileSync(new URL(`../../tests/vectors/${name}.json`, import.meta.url), "utf8"));

const viaText = (value) => native.toolCallKey("scope", "tool", JSON.stringify(value));
const viaValue = (value) => native.toolCallKeyOf("scope", "tool", value);

/** Asserts that `fn` throws a HandrailError (as the SDK converts it) with `code`. */
function throwsCode(fn, code) {
  assert.throws(
    () => {
      try {
        fn();
      } catch (err) {
        // The addon's own error carries the code; the SDK turns it into its class.
        assert.equal(err.code, code, `code of ${err}`);
        throw err;
      }
    },
    (err) => err.code === code,
  );
}

describe("toolCallKeyOf equals the text path", () => {
  test("canonical.json: every case a JS value can hold", () => {
    let compared = 0;
    for (const c of vectors("canonical").cases) {
      if ("error" in c || "input_hex" in c) continue;
      const value = JSON.parse(c.input);
      let expected;
      try {
        expected = viaText(value);
      } catch {
        continue; // JSON.parse rounded it into something the core refuses (a big integer)
      }
      assert.equal(viaValue(value), expected, c.name);
      compared++;
    }
    assert.ok(compared >= 20, `compared ${compared} cases`);
  });

  test("idempotency.json tool calls", () => {
    for (const c of vectors("idempotency").tool_calls) {
      // A duplicate key is text only: JSON.parse keeps the last one.
      if ("error" in c) continue;
      assert.equal(native.toolCallKeyOf(c.scope, c.tool, JSON.parse(c.args)), c.key, c.name);
      assert.equal(toolCallKey(c.scope, c.tool, JSON.parse(c.args)), c.key, c.name);
    }
  });

  test("seeded random values", () => {
    let seed = 0x9e3779b9;
    const rand = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const pick = (xs) => xs[Math.floor(rand() * xs.length)];
    const chars = ["a", "b", "Z", "0", "é", "ﬁ", "😀", "\u0000", "\n", '"', "\\", "\u007f", "\u2028", "𐀀", "\uffff", " "];
    const str = () => Array.from({ length: Math.floor(rand() * 6) }, () => pick(chars)).join("");
    const num = () =>
      pick([
        () => Math.floor(rand() * 1000) - 500,
        () => rand() * 1e6 - 5e5,
        () => (rand() - 0.5) * 1e-9,
        () => (rand() - 0.5) * 1e300,
        () => Number.MAX_SAFE_INTEGER,
        () => -0,
        () => 1e21,
      ])();
    const gen = (depth) => {
      const r = rand();
      if (depth > 4 || r < 0.4) return pick([null, true, false, str(), num(), num()]);
      if (r < 0.65) return Array.from({ length: Math.floor(rand() * 5) }, () => gen(depth + 1));
      const o = {};
      for (let i = Math.floor(rand() * 6); i > 0; i--) o[pick([str(), String(Math.floor(rand() * 20)), "k"])] = gen(depth + 1);
      if (rand() < 0.2) o.skipped = undefined;
      return o;
    };
    for (let i = 0; i < 500; i++) {
      const value = gen(0);
      assert.equal(viaValue(value), viaText(value), JSON.stringify(value));
    }
  });

  test("objects that are not plain data go through JSON.stringify, toJSON included", () => {
    class Money {
      constructor(amount) {
        this.amount = amount;
        this.currency = "EUR";
      }
    }
    const cases = [
      { at: new Date(0), n: 1 },
      [new Date(86_400_000)],
      { own: { toJSON: () => ({ b: 2, a: 1 }) } },
      { money: new Money(5) },
      Object.assign(Object.create(null), { b: 1, a: 2 }),
      { boxed: [new Number(3), new String("s"), new Boolean(false)] },
      { gone: undefined, fn() {}, [Symbol("s")]: 1, kept: 1 },
    ];
    for (const value of cases) assert.equal(viaValue(value), viaText(value), JSON.stringify(value));
    assert.equal(viaValue({ d: new Date(0) }), viaText({ d: "1970-01-01T00:00:00.000Z" }));
  });

  test("nesting up to the core's limit (128) is accepted", () => {
    let deep = 1;
    for (let i = 0; i < 128; i++) deep = [deep];
    assert.equal(viaValue(deep), viaText(deep));
  });
});

describe("toolCallKeyOf refusals", () => {
  test("values JSON has no form for: invalid_request", () => {
    for (const value of [undefined, () => 1, Symbol("s"), [undefined], [() => 1], [1, , 3], { n: 10n }, 10n]) {
      throwsCode(() => viaValue(value), "invalid_request");
    }
  });

  test("numbers the core refuses", () => {
    throwsCode(() => viaValue({ n: NaN }), "non_finite_number");
    throwsCode(() => viaValue([Infinity]), "non_finite_number");
    throwsCode(() => viaValue(-Infinity), "non_finite_number");
    throwsCode(() => viaValue({ n: 2 ** 53 }), "integer_out_of_range");
    throwsCode(() => viaText({ n: 2 ** 53 }), "integer_out_of_range");
  });

  test("lone surrogates, in values and in names", () => {
    throwsCode(() => viaValue("\ud800"), "lone_surrogate");
    throwsCode(() => viaValue({ ["a\udc00"]: 1 }), "lone_surrogate");
    throwsCode(() => viaText({ ["a\udc00"]: 1 }), "lone_surrogate");
    // U+FFFD itself is an ordinary character.
    assert.equal(viaValue({ "\ufffd": "\ufffd" }), viaText({ "\ufffd": "\ufffd" }));
  });

  test("cycles and nesting beyond 128 levels: too_deep", () => {
    const cycle = { a: 1 };
    cycle.self = cycle;
    throwsCode(() => viaValue(cycle), "too_deep");
    let deep = 1;
    for (let i = 0; i < 129; i++) deep = [deep];
    throwsCode(() => viaValue(deep), "too_deep");
  });

  test("an exception thrown while reading propagates unchanged", () => {
    const boom = new Error("getter failed");
    const value = {
      get x() {
        throw boom;
      },
    };
    assert.throws(() => viaValue(value), (err) => err === boom);
  });

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
      (err) => err instanceof HandrailError && err.code === "integer_out_of_range",
    );
  });
});
