// Replays tests/vectors/firewall.json through the public API exactly as the core's
// `shared_vectors` test does: every train session is recorded as trusted into one profile
// (with the declared tool effects as policy), the firewall is switched to enforce, and each
// case's session is judged alone at `now`: check each call, compare the action and the set
// of reason codes, then observe the call (its output marks values as untrusted).
// Then the API around the verdicts: profile bytes, merging, modes, policy and error codes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { Firewall, HandrailError } from "handrail";

const vectors = JSON.parse(readFileSync(new URL("../../tests/vectors/firewall.json", import.meta.url), "utf8"));
const NOW = vectors.now;
const policy = { effects: Object.fromEntries(Object.entries(vectors.tools).map(([tool, spec]) => [tool, spec.effect])) };

/** A firewall trained on the vectors' honest sessions, in enforce mode. */
function trained() {
  const fw = new Firewall({ policy });
  train(fw, vectors.train);
  fw.mode = "enforce";
  return fw;
}

/** Records every call of `sessions` as trusted (known-honest history). */
function train(fw, sessions) {
  for (const s of sessions) {
    const session = fw.begin({ sessionId: s.session, context: s.context });
    for (const c of s.calls) {
      fw.record(session, { ...call(c), outcome: "trusted", ...output(c), now: NOW });
    }
  }
}

/** `[action, sorted reason codes]` per call of one session judged alone. */
function judge(fw, s) {
  const session = fw.begin({ sessionId: "test", context: s.context });
  return s.calls.map((c) => {
    const v = fw.check(session, { ...call(c), now: NOW });
    assert.equal(v.enforced, true);
    assert.ok(v.score >= 0 && v.score <= 1, `score ${v.score}`);
    assert.ok(v.reasons.every((r) => typeof r.text === "string" && r.text.length > 0));
    fw.observe(session, { ...call(c), ...output(c) });
    return [v.action, codes(v.reasons.map((r) => r.code))];
  });
}

const codes = (list) => [...new Set(list)].sort();
const call = (c) => (c.effect === undefined ? { tool: c.tool, args: c.args } : { tool: c.tool, args: c.args, effect: c.effect });
const output = (c) => (c.output === undefined ? {} : { output: c.output });
const verdicts = (fw) => vectors.cases.map((c) => judge(fw, c.session));

function handrailError(code) {
  return (err) => {
    assert.ok(err instanceof HandrailError, `expected HandrailError, got ${err}`);
    assert.equal(err.code, code);
    return true;
  };
}

describe(`vectors: ${vectors.module}`, () => {
  const fw = trained();
  for (const c of vectors.cases) {
    test(c.name, () => {
      assert.deepEqual(
        judge(fw, c.session),
        c.expect.map((e) => [e.action, codes(e.codes)]),
      );
    });
  }
});

describe("firewall", () => {
  test("profile bytes round-trip to identical verdicts", () => {
    const fw = trained();
    const bytes = fw.profileBytes();
    assert.ok(Buffer.isBuffer(bytes));
    const copy = new Firewall({ policy, mode: "enforce" });
    copy.loadProfile(new Uint8Array(bytes));
    assert.deepEqual(copy.profileBytes(), bytes);
    assert.deepEqual(verdicts(copy), verdicts(fw));
    assert.deepEqual(copy.readiness(), fw.readiness());
    assert.deepEqual(copy.graph(NOW), fw.graph(NOW));
  });

  test("two workers' merged profiles judge like one", () => {
    const half = Math.floor(vectors.train.length / 2);
    const a = new Firewall({ policy });
    const b = new Firewall({ policy });
    train(a, vectors.train.slice(0, half));
    train(b, vectors.train.slice(half));
    a.mergeProfile(b.profileBytes());
    a.mode = "enforce";
    assert.deepEqual(verdicts(a), verdicts(trained()));
  });

  test("corrupt profile bytes are HandrailError profile_corrupt", () => {
    const fw = trained();
    const bytes = fw.profileBytes();
    for (const bad of [Buffer.alloc(0), Buffer.from("HRFW"), bytes.subarray(0, bytes.length - 3), Buffer.from("not a profile")]) {
      assert.throws(() => fw.loadProfile(bad), handrailError("profile_corrupt"));
      assert.throws(() => fw.mergeProfile(bad), handrailError("profile_corrupt"));
    }
    // A failed load or merge leaves the profile as it was.
    assert.deepEqual(fw.profileBytes(), bytes);
  });

  test("unknown mode, outcome and effect strings are HandrailError unknown_variant", () => {
    assert.throws(() => new Firewall({ mode: "paranoid" }), handrailError("unknown_variant"));
    const fw = new Firewall();
    assert.throws(() => {
      fw.mode = "strict";
    }, handrailError("unknown_variant"));
    assert.equal(fw.mode, "shadow");
    const session = fw.begin({ sessionId: "s", context: "" });
    const c = { tool: "send_email", args: { to: "a@example.com" }, now: NOW };
    assert.throws(() => fw.record(session, { ...c, outcome: "ok" }), handrailError("unknown_variant"));
    assert.throws(() => fw.record(session, { ...c, outcome: "ran", effect: "teleport" }), handrailError("unknown_variant"));
    assert.throws(() => fw.check(session, { ...c, effect: "teleport" }), handrailError("unknown_variant"));
    assert.throws(() => fw.observe(session, { ...c, effect: "teleport" }), handrailError("unknown_variant"));
  });

  test("a policy or config the core refuses is HandrailError invalid_options", () => {
    // Unknown fields are refused: a camelCase name is not silently ignored.
    assert.throws(() => new Firewall({ policy: { alwaysReview: ["x"] } }), handrailError("invalid_options"));
    assert.throws(() => new Firewall({ policy: { effects: { t: "teleport" } } }), handrailError("invalid_options"));
    assert.throws(() => new Firewall({ config: { reviewAt: 0.9 } }), handrailError("invalid_options"));
    assert.throws(() => new Firewall({ config: { review_at: "high" } }), handrailError("invalid_options"));
  });

  test("arguments the core's JSON parser refuses are HandrailError", () => {
    const fw = new Firewall();
    const session = fw.begin({ sessionId: "s", context: "" });
    const check = (args) => () => fw.check(session, { tool: "send_email", args, now: NOW });
    assert.throws(check({ amount: 2 ** 60 }), handrailError("integer_out_of_range"));
    assert.throws(check({ to: "\ud800" }), handrailError("lone_surrogate"));
    assert.throws(
      () => fw.record(session, { tool: "t", args: [2 ** 60], outcome: "ran", now: NOW }),
      handrailError("integer_out_of_range"),
    );
  });

  test("args without a JSON form are refused as a payload; time or session are argument errors", () => {
    const notHandrail = (err) => err instanceof Error && !(err instanceof HandrailError);
    const fw = new Firewall();
    const session = fw.begin({ sessionId: "s", context: "" });
    assert.throws(() => fw.check(session, { tool: "t", args: undefined, now: NOW }), {
      name: "InvalidPayloadError",
      code: "invalid_request",
    });
    assert.throws(() => fw.check({ id: "forged" }, { tool: "t", args: {}, now: NOW }), notHandrail);
    for (const now of [NOW + 0.5, NaN, Infinity]) {
      assert.throws(() => fw.check(session, { tool: "t", args: {}, now }), { code: "InvalidArg" });
      assert.throws(() => fw.graph(now), { code: "InvalidArg" });
    }
  });

  test("tool names and arguments of any length are read whole", () => {
    // The addon reads short text into fixed buffers first; a character that does not fit
    // must send it to the slow path, not cut the text.
    const fw = new Firewall();
    const session = fw.begin({ sessionId: "s", context: "" });
    for (let n = 100; n < 140; n++) {
      for (const ch of ["é", "€", "😀"]) {
        const tool = `${"a".repeat(n)}${ch}b`;
        const v = fw.check(session, { tool, args: {}, now: NOW });
        assert.ok(v.reasons.some((r) => r.text.includes(`${tool} `)), `${n} ${ch}`);
      }
    }
    for (let n = 990; n < 1040; n++) {
      for (const ch of ["é", "€", "😀"]) {
        // Cut anywhere, the text would not be JSON (json_syntax).
        fw.check(session, { tool: "t", args: { k: `${"a".repeat(n)}${ch}` }, now: NOW });
      }
    }
  });

  test("shadow mode reports verdicts without enforcing them", () => {
    assert.equal(new Firewall().mode, "shadow");
    const fw = trained();
    fw.mode = "shadow";
    assert.equal(fw.mode, "shadow");
    const held = vectors.cases.find((c) => c.expect.some((e) => e.action !== "allow"));
    const session = fw.begin({ sessionId: "s", context: held.session.context });
    const actions = held.session.calls.map((c) => {
      const v = fw.check(session, { ...call(c), now: NOW });
      assert.equal(v.enforced, false);
      fw.observe(session, { ...call(c), ...output(c) });
      return v.action;
    });
    assert.deepEqual(actions, held.expect.map((e) => e.action));
  });

  test("policy: deny blocks, the daily budget blocks, always_review holds", () => {
    const fw = new Firewall({
      mode: "enforce",
      policy: { deny: ["drop_database"], always_review: ["read_secrets"], daily_budget_usd: 10 },
    });
    const session = fw.begin({ sessionId: "s", context: "" });
    const deny = fw.check(session, { tool: "drop_database", args: {}, now: NOW });
    assert.equal(deny.action, "block");
    assert.deepEqual(deny.reasons.map((r) => r.code), ["policy_deny"]);
    const review = fw.check(session, { tool: "read_secrets", args: {}, now: NOW });
    assert.equal(review.action, "review");
    assert.equal(review.reasons[0].code, "policy_review");
    fw.record(session, { tool: "search_web", args: { q: "x" }, outcome: "ran", costUsd: 8, now: NOW });
    const budget = fw.check(session, { tool: "search_web", args: { q: "y" }, costUsd: 3, now: NOW + 60 });
    assert.equal(budget.action, "block");
    assert.deepEqual(budget.reasons.map((r) => r.code), ["budget_exceeded"]);
    // The core fails closed on a cost that would slip past any budget.
    for (const costUsd of [NaN, -1]) {
      const v = fw.check(session, { tool: "search_web", args: { q: "z" }, costUsd, now: NOW + 60 });
      assert.equal(v.action, "block");
      assert.deepEqual(v.reasons.map((r) => r.code), ["cost_invalid"]);
    }
  });

  test("readiness, graph and session id", () => {
    assert.deepEqual(new Firewall().readiness(), { novelty: 1, observations: 0, transitions: 0, ready: false });
    const fw = trained();
    const r = fw.readiness();
    assert.ok(r.observations > 0 && r.transitions > 0 && r.novelty >= 0 && r.novelty <= 1);
    const g = fw.graph(NOW);
    const start = g.nodes.find((n) => n.tool === "^");
    assert.ok(start && !("effect" in start));
    assert.equal(g.nodes.find((n) => n.tool === "read_invoice").effect, "read");
    assert.ok(g.edges.some((e) => e.from === start.id && e.p > 0 && e.count > 0));
    assert.equal(fw.begin({ sessionId: "abc", context: "" }).id, "abc");
  });
});
