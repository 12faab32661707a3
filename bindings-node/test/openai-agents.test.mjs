// handrail/openai-agents with the real @openai/agents (0.20): a fake `Model` (no network, no
// LLM) that calls the scripted tools and then reports the tool outputs it read; runs stopped
// on interruptions, parked as sealed state snapshots, resumed from Handrail decisions.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

process.env.OPENAI_AGENTS_DISABLE_TRACING = "1";
const { Agent, run, tool, Usage } = await import("@openai/agents");
import { z } from "zod";

import { ExpiredError, Firewall, Handrail, generateKey, sealEnvelope } from "handrail";
import { approvalPolicy, park, resume } from "handrail/openai-agents";

import { startServer } from "./server.mjs";

let srv;
let hr;
const encryptionKey = generateKey("agents-test");
before(async () => {
  srv = await startServer();
  hr = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey, encryptionKey });
});
after(() => srv?.stop());
beforeEach(() => srv.drain());

/** A model whose answer is a function of its input: the scripted calls first, then what it read. */
class ScriptedModel {
  constructor(calls) {
    this.calls = calls;
  }
  async getResponse(request) {
    const input = Array.isArray(request.input) ? request.input : [];
    const outputs = input.filter((i) => i.type === "function_call_result");
    if (outputs.length === 0) {
      return {
        usage: new Usage(),
        output: this.calls.map((c) => ({
          type: "function_call",
          id: `fc_${c.id}`,
          callId: c.id,
          name: c.name ?? "refund",
          arguments: JSON.stringify(c.input),
          status: "completed",
        })),
      };
    }
    const read = outputs.map((o) => `${o.callId}=${o.output?.text ?? JSON.stringify(o.output)}`).join(" | ");
    return {
      usage: new Usage(),
      output: [{ type: "message", id: "msg_1", role: "assistant", status: "completed", content: [{ type: "output_text", text: `read ${read}` }] }],
    };
  }
  async *getStreamedResponse() {
    throw new Error("not streamed in these tests");
  }
}

function refundTool(runs, needsApproval = approvalPolicy("refund", { handrail: hr, always: true })) {
  return tool({
    name: "refund",
    description: "Refund a customer",
    parameters: z.object({ amount: z.number(), to: z.string() }),
    needsApproval,
    execute: async (args) => {
      runs.push(args);
      return `refunded ${args.amount} to ${args.to}`;
    },
  });
}

function agentWith(calls, runs, tools = [refundTool(runs)]) {
  return new Agent({ name: "billing", instructions: "Refund when asked.", model: new ScriptedModel(calls), tools });
}

const call = (id, amount = 500, to = "acct_1") => ({ id, input: { amount, to } });

test("README: park the interrupted run, resume it from the decision", async () => {
  const runs = [];
  const agent = agentWith([call("call_readme")], runs);
  // The person decides once the run is parked (its snapshot stored).
  const person = (async () => {
    for (;;) {
      const [row] = await srv.pending();
      if (row && (await srv.operator("GET", `/v1/requests/${row.id}`)).snapshot?.size > 0) {
        return srv.resolve(row.id, { decision: "approve" });
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  // START README openai-agents
  // tool({ name: "refund", parameters, execute, needsApproval: approvalPolicy("refund", { always: true }) })
  const result = await run(agent, "Refund acct_1", { context: { runId: "run-42" } });
  const { requestIds } = await park(result, { handrail: hr, service: "billing" }); // sealed RunState on each
  // … a person decides; any worker, even after a restart:
  const state = await resume(agent, requestIds[0], { handrail: hr, service: "billing" });
  const done = await run(agent, state);
  // END README openai-agents
  await person;
  assert.deepEqual(runs, [{ amount: 500, to: "acct_1" }]);
  assert.equal(done.finalOutput, "read call_readme=refunded 500 to acct_1");
});

test("approved: one request per call, the state parked sealed, re-parking opens no second request", async () => {
  const runs = [];
  const agent = agentWith([call("call_ok")], runs);
  const result = await run(agent, "Refund", { context: { runId: "run-ok" } });
  assert.equal(result.interruptions.length, 1);
  assert.deepEqual(runs, []);
  const parked = await park(result, { handrail: hr });
  assert.deepEqual(parked.callIds, ["call_ok"]);
  const [row] = await srv.pending();
  assert.equal(row.id, parked.requestIds[0]);
  assert.equal(row.action, "refund");
  assert.equal(row.payload.alg, "A256GCM", "the payload is sealed");
  assert.deepEqual(row.context.openai_agents, { run_id: "run-ok", call_id: "call_ok" });
  assert.equal(row.context.thread, "run-ok");
  const again = await park(result, { handrail: hr });
  assert.deepEqual(again.requestIds, parked.requestIds);

  await srv.resolve(row.id, { decision: "approve" });
  const count = (await srv.all()).length;
  const done = await run(agent, await resume(agent, row.id, { handrail: hr }));
  assert.deepEqual(runs, [{ amount: 500, to: "acct_1" }]);
  assert.equal(done.interruptions.length, 0);
  assert.equal((await srv.all()).length, count, "resuming opens no request");
});

test("rejected: the tool does not run and the model reads the reason", async () => {
  const runs = [];
  const agent = agentWith([call("call_no")], runs);
  const result = await run(agent, "Refund", { context: { runId: "run-no" } });
  const { requestIds } = await park(result, { handrail: hr });
  await srv.resolve(requestIds[0], { decision: "reject", reason: "fraud" });
  const done = await run(agent, await resume(agent, requestIds[0], { handrail: hr }));
  assert.deepEqual(runs, []);
  assert.equal(done.finalOutput, "read call_no=REJECTED: fraud");
});

test("approved with an edit: answered as a rejection carrying the approved values", async () => {
  const runs = [];
  const agent = agentWith([call("call_edit")], runs);
  const result = await run(agent, "Refund", { context: { runId: "run-edit" } });
  const { requestIds } = await park(result, { handrail: hr });
  // The payload is sealed: the person's browser seals the edit too (the dashboard does).
  const edit = JSON.parse(
    sealEnvelope(encryptionKey, requestIds[0], "patched_payload", Buffer.from(JSON.stringify({ amount: 50, to: "acct_1" }))),
  );
  await srv.resolve(requestIds[0], { decision: "approve", payload: edit });
  const done = await run(agent, await resume(agent, requestIds[0], { handrail: hr }));
  assert.deepEqual(runs, [], "the call with the old values never runs");
  assert.equal(
    done.finalOutput,
    'read call_edit=APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}',
  );
});

test("expired: the run is not resumed from it and nothing runs", async () => {
  const runs = [];
  const agent = agentWith([call("call_late")], runs);
  const result = await run(agent, "Refund", { context: { runId: "run-late" } });
  const { requestIds } = await park(result, { handrail: hr, expiresIn: 1 });
  await assert.rejects(resume(agent, requestIds[0], { handrail: hr }), ExpiredError);
  assert.deepEqual(runs, []);
});

test("a restart between interrupt and decision: a new worker resumes from the request alone", async () => {
  const runs = [];
  const first = agentWith([call("call_restart")], runs);
  const result = await run(first, "Refund", { context: { runId: "run-restart" } });
  const { requestIds } = await park(result, { handrail: hr });
  // Nothing of the first worker is kept but the request id (a webhook carries it).
  const worker = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey, encryptionKey });
  const agent = agentWith([call("call_restart")], runs, [refundTool(runs, approvalPolicy("refund", { handrail: worker, always: true }))]);
  await srv.resolve(requestIds[0], { decision: "approve" });
  const count = (await srv.all()).length;
  const done = await run(agent, await resume(agent, requestIds[0], { handrail: worker }));
  assert.equal((await srv.all()).length, count);
  assert.deepEqual(runs, [{ amount: 500, to: "acct_1" }]);
  assert.equal(done.finalOutput, "read call_restart=refunded 500 to acct_1");
});

for (const [n, order] of [
  [2, [1, 0]],
  [3, [2, 0, 1]],
  [3, [0, 2, 1]],
]) {
  test(`parallel: ${n} calls in one step, decided in order ${order}, one rejected, resumed from the last decided`, async () => {
    const runs = [];
    const calls = [0, 1, 2].slice(0, n).map((i) => call(`par_${n}_${order.join("")}_${i}`, 10 + i, `acct_${i}`));
    const agent = agentWith(calls, runs);
    const result = await run(agent, "Refund", { context: { runId: `run-par-${n}-${order.join("")}` } });
    assert.equal(result.interruptions.length, n);
    const { requestIds } = await park(result, { handrail: hr });
    assert.equal(new Set(requestIds).size, n, "each call its own request");
    const rejected = order[0];
    for (const i of order) {
      await srv.resolve(requestIds[i], i === rejected ? { decision: "reject", reason: `not ${i}` } : { decision: "approve" });
    }
    const count = (await srv.all()).length;
    const done = await run(agent, await resume(agent, requestIds[order.at(-1)], { handrail: hr }));
    assert.equal((await srv.all()).length, count);
    assert.deepEqual(
      runs.map((r) => r.to).sort(),
      calls.filter((_, i) => i !== rejected).map((c) => c.input.to),
    );
    assert.match(done.finalOutput, new RegExp(`${calls[rejected].id}=REJECTED: not ${rejected}`));
  });
}

test("approvalPolicy: the firewall's verdict decides which calls are held", async () => {
  const runs = [];
  const firewall = new Firewall({ policy: { always_review: ["refund"] }, mode: "enforce" });
  const session = firewall.begin({ sessionId: "run-fw", context: "refund acct_1" });
  const lookups = [];
  const lookup = tool({
    name: "lookup",
    description: "Look up an order",
    parameters: z.object({ order: z.string() }),
    needsApproval: approvalPolicy("lookup", { handrail: hr, firewall, session }),
    execute: async (args) => {
      lookups.push(args);
      return `order ${args.order} is paid`;
    },
  });
  const policy = approvalPolicy("refund", { handrail: hr, firewall, session });
  const agent = agentWith([call("fw_refund"), { id: "fw_look", name: "lookup", input: { order: "o_1" } }], runs, [
    refundTool(runs, policy),
    lookup,
  ]);
  const result = await run(agent, "Refund", { context: { runId: "run-fw" } });
  assert.deepEqual(
    result.interruptions.map((i) => i.name),
    ["refund"],
  );
  const { requestIds } = await park(result, { handrail: hr, firewall, session, task: "refund acct_1" });
  const [row] = await srv.pending();
  assert.equal(row.context.firewall.action, "review");
  await srv.resolve(requestIds[0], { decision: "approve" });
  await run(agent, await resume(agent, requestIds[0], { handrail: hr }));
  assert.deepEqual(runs, [{ amount: 500, to: "acct_1" }]);
  assert.deepEqual(lookups, [{ order: "o_1" }]);
});

test("park refuses a client without an encryption key", async () => {
  const runs = [];
  const agent = agentWith([call("call_plain")], runs);
  const result = await run(agent, "Refund", { context: { runId: "run-plain" } });
  const plain = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
  await assert.rejects(park(result, { handrail: plain }), { code: "invalid_key" });
});

test("an enforced firewall block is never put to a person: rejected in the parked state", async () => {
  const runs = [];
  const wipes = [];
  const firewall = new Firewall({ policy: { always_review: ["refund"], deny: ["wipe"] }, mode: "enforce" });
  const session = firewall.begin({ sessionId: "run-block", context: "refund acct_1" });
  const wipe = tool({
    name: "wipe",
    description: "Wipe the database",
    parameters: z.object({ table: z.string() }),
    needsApproval: approvalPolicy("wipe", { handrail: hr, firewall, session }),
    execute: async (args) => {
      wipes.push(args);
      return "wiped";
    },
  });
  const agent = agentWith([call("blk_refund"), { id: "blk_wipe", name: "wipe", input: { table: "users" } }], runs, [
    refundTool(runs, approvalPolicy("refund", { handrail: hr, firewall, session })),
    wipe,
  ]);
  const result = await run(agent, "Refund", { context: { runId: "run-block" } });
  assert.equal(result.interruptions.length, 2, "both held by the policy");
  const parked = await park(result, { handrail: hr, firewall, session });
  assert.deepEqual(parked.blocked, ["blk_wipe"]);
  assert.deepEqual(parked.callIds, ["blk_refund"]);
  assert.equal((await srv.pending()).length, 1, "nobody is asked about the blocked call");
  await srv.resolve(parked.requestIds[0], { decision: "approve" });
  const done = await run(agent, await resume(agent, parked.requestIds[0], { handrail: hr }));
  assert.deepEqual(wipes, []);
  assert.deepEqual(runs, [{ amount: 500, to: "acct_1" }]);
  assert.match(done.finalOutput, /blk_wipe=REJECTED: the firewall blocked this call/);
});
