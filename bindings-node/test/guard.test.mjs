// guard(): the firewall's verdict decides (allow runs, review asks a real `handrail serve`,
// block throws), each call runs once per key, and observations reach the server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { createRequire } from "node:module";

import { Firewall, guard, GuardError, Handrail, once } from "handrail";

import { startServer } from "./server.mjs";

let server;
let hr;
before(async () => {
  server = await startServer();
  hr = new Handrail({ baseUrl: server.url, apiKey: server.agentKey });
});
after(() => server?.stop());

function setup(scope) {
  const firewall = new Firewall({
    policy: { allow: ["lookup"], deny: ["drop_database"], always_review: ["refund"] },
    mode: "enforce",
  });
  const session = firewall.begin({ sessionId: scope, context: "Refund order 1" });
  return { handrail: hr, firewall, session, scope, agent: "guard-test" };
}

test("allow runs the tool, exactly once per tool + args + scope", async () => {
  const calls = [];
  const lookup = guard(async (args) => {
    calls.push(args);
    return `found ${args.id}`;
  }, { ...setup("allow-1"), tool: "lookup" });
  assert.equal(await lookup({ id: "o1", n: 1.5 }), "found o1");
  // The same arguments written in another key order: the same canonical key, no second run.
  assert.equal(await lookup({ n: 1.5, id: "o1" }), "found o1");
  assert.deepEqual(calls, [{ id: "o1", n: 1.5 }]);
  assert.equal(await lookup({ id: "o2", n: 1.5 }), "found o2");
  assert.equal(calls.length, 2);
  assert.equal((await server.pending()).length, 0, "allowed calls ask nobody");
});

test("review asks through Handrail and runs with the edited arguments", async () => {
  const ran = [];
  const refund = guard((args) => {
    ran.push(args);
    return { refunded: args.amount };
  }, { ...setup("review-1"), tool: "refund", service: "stripe" });
  const [result, row] = await Promise.all([
    refund({ order: "o1", amount: 500 }),
    server.resolveWhenPending({ decision: "approve", payload: { order: "o1", amount: 50 } }),
  ]);
  assert.equal(row.service, "stripe");
  assert.equal(row.action, "refund");
  assert.deepEqual(result, { refunded: 50 });
  assert.deepEqual(ran, [{ order: "o1", amount: 50 }]);
});

test("a rejection throws guard_rejected and does not run the tool", async () => {
  let ran = false;
  const refund = guard(() => {
    ran = true;
  }, { ...setup("review-2"), tool: "refund" });
  const [outcome] = await Promise.allSettled([
    refund({ order: "o2", amount: 9 }),
    server.resolveWhenPending({ decision: "reject", reason: "already refunded" }),
  ]);
  assert.equal(outcome.status, "rejected");
  assert.ok(outcome.reason instanceof GuardError);
  assert.equal(outcome.reason.code, "guard_rejected");
  assert.equal(outcome.reason.message, "already refunded");
  assert.equal(ran, false);
});

test('onReject: "return" gives the model the rejection text instead of throwing', async () => {
  let ran = false;
  const refund = guard(() => {
    ran = true;
    return "refunded";
  }, { ...setup("review-3"), tool: "refund", onReject: "return" });
  const [result] = await Promise.all([
    refund({ order: "o3", amount: 9 }),
    server.resolveWhenPending({ decision: "reject", reason: "already refunded" }),
  ]);
  assert.equal(result, "REJECTED: already refunded");
  assert.equal(ran, false);
});

test("onReject as a function gets the decision and gives the result", async () => {
  const refund = guard(() => "refunded", {
    ...setup("review-4"),
    tool: "refund",
    onReject: (decision) => ({ skipped: decision.requestId, status: decision.status, reason: decision.reason }),
  });
  const [result, row] = await Promise.all([
    refund({ order: "o4", amount: 9 }),
    server.resolveWhenPending({ decision: "reject", reason: "no" }),
  ]);
  assert.deepEqual(result, { skipped: row.id, status: "REJECTED", reason: "no" });
  // An approval still runs the tool under the same options.
  const [approved] = await Promise.all([
    refund({ order: "o5", amount: 9 }),
    server.resolveWhenPending({ decision: "approve" }),
  ]);
  assert.equal(approved, "refunded");
});

test("onReject does not soften a block, and an unknown onReject is refused", async () => {
  const drop = guard(() => "dropped", { ...setup("block-2"), tool: "drop_database", onReject: "return" });
  await assert.rejects(drop({ name: "prod" }), (err) => err instanceof GuardError && err.code === "guard_blocked");
  assert.throws(() => guard(() => 1, { ...setup("bad-1"), tool: "lookup", onReject: "ignore" }), TypeError);
});

test("block throws guard_blocked without asking or running", async () => {
  let ran = false;
  const drop = guard(() => {
    ran = true;
  }, { ...setup("block-1"), tool: "drop_database" });
  await assert.rejects(drop({ name: "prod" }), (err) => {
    assert.ok(err instanceof GuardError);
    assert.equal(err.code, "guard_blocked");
    assert.ok(Array.isArray(err.data.reasons));
    return true;
  });
  assert.equal(ran, false);
  assert.equal((await server.pending()).length, 0);
});

test("observations are posted in the background, and a failing server never reaches the tool", async () => {
  const lookup = guard((args) => args.id, { ...setup("observe-1"), tool: "lookup" });
  assert.equal(await lookup({ id: "o9" }), "o9");
  const dead = new Handrail({ baseUrl: "http://127.0.0.1:9", apiKey: server.agentKey });
  const offline = guard((args) => args.id, { ...setup("observe-2"), handrail: dead, tool: "lookup" });
  assert.equal(await offline({ id: "o10" }), "o10");
  // The batch for the live server lands; poll for it (no timing assumption).
  for (;;) {
    const graph = await server.operator("GET", "/v1/agents/guard-test").catch(() => null);
    if (graph && JSON.stringify(graph).length > 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
});

test("default shadow mode runs a call the firewall would hold, and asks no one", async () => {
  // No mode: the firewall starts in shadow mode; `refund` always needs a person in enforce.
  const firewall = new Firewall({ policy: { always_review: ["refund"], deny: ["drop_database"] } });
  assert.equal(firewall.mode, "shadow");
  const session = firewall.begin({ sessionId: "shadow-1", context: "Refund order 1" });
  const verdict = firewall.check(session, { tool: "refund", args: { order: "o7", amount: 7 }, now: 1 });
  assert.equal(verdict.action, "review");
  assert.equal(verdict.enforced, false);
  const ran = [];
  const options = { handrail: hr, firewall, session, scope: "shadow-1", service: "shadow-test" };
  const refund = guard((args) => {
    ran.push(args);
    return "refunded";
  }, { ...options, tool: "refund" });
  const drop = guard(() => "dropped", { ...options, tool: "drop_database" });
  assert.equal(await refund({ order: "o7", amount: 7 }), "refunded");
  assert.equal(await drop({ name: "prod" }), "dropped", "a shadow block is reported, not enforced");
  assert.deepEqual(ran, [{ order: "o7", amount: 7 }]);
  assert.equal((await server.all()).filter((r) => r.service === "shadow-test").length, 0, "nobody was asked");
});

test("the review request carries context.firewall, so the server lists it as held", async () => {
  const refund = guard(() => "refunded", { ...setup("held-1"), tool: "refund", service: "held-test", context: "Refund order 1" });
  const [result, row] = await Promise.all([
    refund({ order: "o8", amount: 8 }),
    server.resolveWhenPending({ decision: "approve" }),
  ]);
  assert.equal(result, "refunded");
  const full = (await server.all()).find((r) => r.id === row.id);
  assert.equal(full.context.firewall.action, "review");
  assert.ok(full.context.firewall.reasons.some((r) => r.code === "policy_review"));
  assert.equal(typeof full.context.firewall.score, "number");
  assert.equal(full.context.task, "Refund order 1");
  assert.equal(full.context.reasons, undefined, "the old Node-only shape is gone");
  const summaries = (await server.operator("GET", "/v1/requests?view=summary&limit=200")).requests;
  assert.deepEqual(summaries.filter((r) => r.id === row.id).map((r) => r.held), [true]);
});

// The same sequence as bindings-py/tests/test_guard.py ("the same sequence records the same
// outcomes as node"): ran, approved, rejected, an enforced block (nothing), a shadow hold (ran).
const SAME_SEQUENCE_OUTCOMES = {
  lookup: { ran: 1 },
  refund: { approved: 1, rejected: 1 },
  pay: { ran: 1 },
};

test("the same sequence records the same outcomes as Python", async () => {
  const agent = `same-${Date.now().toString(36)}`;
  const policy = { allow: ["lookup"], deny: ["drop_database"], always_review: ["refund", "pay"] };
  const enforce = new Firewall({ policy, mode: "enforce" });
  const shadow = new Firewall({ policy, mode: "shadow" });
  const base = { handrail: hr, scope: `same-${agent}`, agent, service: agent, context: "Refund order 1" };
  const on = (firewall) => ({ ...base, firewall, session: firewall.begin({ sessionId: base.scope, context: base.context }) });
  const e = on(enforce);
  assert.equal(await guard((a) => `found ${a.id}`, { ...e, tool: "lookup" })({ id: "o1" }), "found o1");
  const [approved] = await Promise.all([
    guard((a) => `refunded ${a.amount}`, { ...e, tool: "refund" })({ order: "o1", amount: 5 }),
    server.resolveWhenPending({ decision: "approve" }),
  ]);
  assert.equal(approved, "refunded 5");
  const [rejected] = await Promise.all([
    guard(() => "refunded", { ...e, tool: "refund", onReject: "return" })({ order: "o2", amount: 6 }),
    server.resolveWhenPending({ decision: "reject", reason: "no" }),
  ]);
  assert.equal(rejected, "REJECTED: no");
  await assert.rejects(guard(() => "dropped", { ...e, tool: "drop_database" })({ name: "prod" }), (err) => err.code === "guard_blocked");
  assert.equal(await guard((a) => `paid ${a.amount}`, { ...on(shadow), tool: "pay" })({ amount: 7 }), "paid 7");
  assert.equal((await server.all()).filter((r) => r.service === agent && r.action === "pay").length, 0);
  let outcomes;
  for (let i = 0; i < 500; i++) {
    const detail = await server.operator("GET", `/v1/agents/${agent}`).catch(() => null);
    const tools = detail?.telemetry?.tools ?? {};
    outcomes = Object.fromEntries(Object.entries(tools).map(([t, v]) => [t, v.outcomes]));
    if (JSON.stringify(outcomes) === JSON.stringify(SAME_SEQUENCE_OUTCOMES)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(outcomes, SAME_SEQUENCE_OUTCOMES);
});

test("a re-executed call whose review context moved gets the first request and its decision", async () => {
  const native = createRequire(import.meta.url)("../native/index.js");
  const ran = [];
  const make = (context) =>
    guard((a) => {
      ran.push(a);
      return "refunded";
    }, { ...setup("reexec-1"), tool: "refund", service: "reexec", context });
  const args = { order: "o9", amount: 9 };
  const [first] = await Promise.all([make("refund order o9")(args), server.resolveWhenPending({ decision: "approve" })]);
  assert.equal(first, "refunded");
  // A fresh process: the in-memory record is gone, and the task text (so the request body)
  // differs under the same key.
  once.forget(native.guardCallKey("reexec-1", "reexec", "refund", JSON.stringify(args)));
  assert.equal(await make("refund order o9, retried")(args), "refunded");
  assert.equal((await server.all()).filter((r) => r.service === "reexec").length, 1);
  assert.deepEqual(ran, [args, args]);
});
