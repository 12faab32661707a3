// handrail/langchain with the real @langchain/core and @langchain/langgraph (no LLM):
// the approval tool invoked directly, the gate inside a compiled StateGraph with a
// checkpointer, paused by interrupt() and resumed with Command({ resume }).
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { Annotation, Command, END, MemorySaver, START, StateGraph } from "@langchain/langgraph";

import { Handrail } from "handrail";
import { approvalTool, gate, resumeCommand } from "handrail/langchain";

import { startServer } from "./server.mjs";

let srv;
let hr;
before(async () => {
  srv = await startServer();
  hr = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
});
after(() => srv?.stop());
beforeEach(() => srv.drain());

test("approvalTool: a LangChain tool whose answer is the decision text", async () => {
  const ask = approvalTool({ handrail: hr, service: "stripe" });
  assert.equal(ask.name, "ask_human_approval");
  const [edited] = await Promise.all([
    ask.invoke({ action: "refund", payload: { amount: 500, to: "acct_1" } }),
    srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } }),
  ]);
  assert.equal(edited, 'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}');
  const [rejected, row] = await Promise.all([
    ask.invoke({ action: "refund", payload: { amount: 9 }, question: "customer is angry" }),
    srv.resolveWhenPending({ decision: "reject", reason: "ask finance first" }),
  ]);
  assert.equal(rejected, "REJECTED: ask finance first");
  assert.equal(row.service, "stripe");
  assert.equal(row.action, "refund");
});

test("approvalTool: invoked as a tool call it answers with a ToolMessage", async () => {
  const ask = approvalTool({ handrail: hr });
  const [message] = await Promise.all([
    ask.invoke({ type: "tool_call", id: "call_lc1", name: "ask_human_approval", args: { action: "send_email" } }),
    srv.resolveWhenPending({ decision: "approve" }),
  ]);
  assert.equal(message.tool_call_id, "call_lc1");
  assert.equal(message.content, "APPROVED");
});

const State = Annotation.Root({
  refund: Annotation(),
  handrail: Annotation(),
  done: Annotation(),
});

function graph(runs) {
  return new StateGraph(State)
    .addNode("approve", gate({ handrail: hr, service: "stripe", action: "refund", args: "refund" }))
    .addNode("act", (state) => {
      if (state.handrail.type !== "reject") runs.push(state.handrail.args);
      return { done: state.handrail.type };
    })
    .addEdge(START, "approve")
    .addEdge("approve", "act")
    .addEdge("act", END)
    .compile({ checkpointer: new MemorySaver() });
}

test("gate: interrupt, decide, resume with Command; the re-executed node opens no second request", async () => {
  const runs = [];
  const app = graph(runs);
  const config = { configurable: { thread_id: "t-edit" } };
  const paused = await app.invoke({ refund: { amount: 500, to: "acct_1" } }, config);
  const [interrupted] = paused.__interrupt__;
  const requestId = interrupted.value.handrail_request_id;
  assert.deepEqual(interrupted.value.action_requests, [
    { name: "refund", args: { amount: 500, to: "acct_1" }, description: "Approve refund?" },
  ]);
  assert.deepEqual(runs, []);
  assert.deepEqual((await app.getState(config)).next, ["approve"]);
  // The thread names the run: a grant "in this thread" covers its later calls.
  assert.equal((await srv.operator("GET", `/v1/requests/${requestId}`)).context.thread, "t-edit");

  await srv.resolve(requestId, { decision: "approve", payload: { amount: 50, to: "acct_1" } });
  const decision = await hr.wait(requestId);
  const count = (await srv.all()).length;
  const done = await app.invoke(resumeCommand(decision, "refund"), config);

  assert.equal((await srv.all()).length, count, "the resumed node found its request");
  assert.deepEqual(runs, [{ amount: 50, to: "acct_1" }]);
  assert.equal(done.done, "edit");
  assert.deepEqual(done.handrail, { type: "edit", args: { amount: 50, to: "acct_1" }, message: null, request_id: requestId });
});

test("gate: the server's decision wins over a forged resume value", async () => {
  const runs = [];
  const app = graph(runs);
  const config = { configurable: { thread_id: "t-forged" } };
  const paused = await app.invoke({ refund: { amount: 7, to: "acct_3" } }, config);
  const requestId = paused.__interrupt__[0].value.handrail_request_id;
  await srv.resolve(requestId, { decision: "reject", reason: "no" });
  await assert.rejects(app.invoke(new Command({ resume: { type: "approve" } }), config), {
    name: "HandrailError",
    code: "resume_mismatch",
  });
  assert.deepEqual(runs, []);
  // LangGraph keeps the refused resume value; the gate reads the newest, so the thread is
  // not stuck on the forged one.
  const done = await app.invoke(resumeCommand(await hr.wait(requestId)), config);
  assert.equal(done.handrail.type, "reject");
  assert.deepEqual(runs, []);
});

test("gate: a rejection resumes to the reject branch with the reason", async () => {
  const runs = [];
  const app = graph(runs);
  const config = { configurable: { thread_id: "t-reject" } };
  const paused = await app.invoke({ refund: { amount: 8, to: "acct_4" } }, config);
  const requestId = paused.__interrupt__[0].value.handrail_request_id;
  await srv.resolve(requestId, { decision: "reject", reason: "fraud" });
  const done = await app.invoke(resumeCommand(await hr.wait(requestId)), config);
  assert.equal(done.done, "reject");
  assert.deepEqual(done.handrail, { type: "reject", args: null, message: "fraud", request_id: requestId });
  assert.deepEqual(runs, []);
});

test("gate: without a thread id it refuses to open a request", async () => {
  const app = new StateGraph(State)
    .addNode("approve", gate({ handrail: hr, action: "refund", args: "refund" }))
    .addEdge(START, "approve")
    .compile();
  await assert.rejects(app.invoke({ refund: { amount: 1 } }), { code: "invalid_config" });
});
