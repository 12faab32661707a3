// guard(): the firewall's verdict decides (allow runs, review asks a real `handrail serve`,
// block throws), each call runs once per key, and observations reach the server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { Firewall, guard, GuardError, Handrail } from "handrail";

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
