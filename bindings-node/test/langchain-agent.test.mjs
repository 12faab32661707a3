// handrail/langchain's middleware inside a real `langchain` v1 agent (createAgent) with a
// checkpointer and a scripted chat model (a minimal BaseChatModel, no LLM): held calls become
// Handrail requests, the interrupt is LangChain's HITLRequest, decisions come from the
// operator API, and the server's decision wins over the resume value.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { BaseChatModel } from "@langchain/core/language_models/chat_models";
import { AIMessage, HumanMessage, ToolMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { Command, MemorySaver } from "@langchain/langgraph";
import { createAgent } from "langchain";
import { z } from "zod";

import { Firewall, Handrail } from "handrail";
import { handrailMiddleware, handrailDecisions } from "handrail/langchain";

import { startServer } from "./server.mjs";

let srv;
let hr;
before(async () => {
  srv = await startServer();
  hr = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
});
after(() => srv?.stop());
beforeEach(() => srv.drain());

/**
 * A chat model whose answer is a function of the conversation: the first turn asks for the
 * scripted tool calls, a turn after tool results answers with the results it read. Being a
 * function of the messages, it answers the same after a restart.
 */
class ScriptedModel extends BaseChatModel {
  constructor(calls) {
    super({});
    this.calls = calls;
  }
  _llmType() {
    return "scripted";
  }
  bindTools() {
    return this;
  }
  async _generate(messages) {
    const last = messages.at(-1);
    const message =
      last instanceof HumanMessage || last?._getType?.() === "human"
        ? new AIMessage({ content: "", tool_calls: this.calls.map((c) => ({ type: "tool_call", ...c })) })
        : new AIMessage({
            content: `done: ${messages
              .filter((m) => ToolMessage.isInstance(m))
              .map((m) => m.content)
              .join(" | ")}`,
          });
    return { generations: [{ text: String(message.content), message }] };
  }
}

/** refund and email tools that record what they ran with. */
function tools(runs) {
  const refund = tool(
    async (args) => {
      runs.push(["refund", args]);
      return `refunded ${args.amount}`;
    },
    { name: "refund", description: "Refund", schema: z.object({ amount: z.number(), to: z.string() }) },
  );
  const email = tool(
    async (args) => {
      runs.push(["email", args]);
      return `sent to ${args.to}`;
    },
    { name: "email", description: "Email", schema: z.object({ to: z.string(), body: z.string() }) },
  );
  const lookup = tool(
    async (args) => {
      runs.push(["lookup", args]);
      return `order ${args.order} is paid`;
    },
    { name: "lookup", description: "Look up", schema: z.object({ order: z.string() }) },
  );
  const askUser = tool(
    async (args) => {
      runs.push(["ask_user", args]);
      return "no answer";
    },
    { name: "ask_user", description: "Ask the user (a person answers in its place)", schema: z.object({ question: z.string() }) },
  );
  return [refund, email, lookup, askUser];
}

/** A chat model that asks for `steps[n]`'s tool calls on its n-th turn, then answers. */
class StepsModel extends ScriptedModel {
  constructor(steps) {
    super([]);
    this.steps = steps;
  }
  async _generate(messages) {
    const turn = messages.filter((m) => AIMessage.isInstance(m)).length;
    const calls = this.steps[turn];
    const message = calls
      ? new AIMessage({ content: "", tool_calls: calls.map((c) => ({ type: "tool_call", ...c })) })
      : new AIMessage({ content: "done" });
    return { generations: [{ text: String(message.content), message }] };
  }
}

function agent({ calls, runs, checkpointer = new MemorySaver(), client = hr, ...options }) {
  return createAgent({
    model: new ScriptedModel(calls),
    tools: tools(runs),
    checkpointer,
    middleware: [
      handrailMiddleware({ handrail: client, service: "shop", interruptOn: { refund: true, email: true }, ...options }),
    ],
  });
}

const refund = (id, amount = 500) => ({ id, name: "refund", args: { amount, to: "acct_1" } });
const email = (id, to = "a@example.com") => ({ id, name: "email", args: { to, body: "hi" } });
const ask = { messages: [{ role: "user", content: "refund acct_1" }] };
const toolText = (state) =>
  Object.fromEntries(state.messages.filter((m) => ToolMessage.isInstance(m)).map((m) => [m.tool_call_id, m.content]));

test("README: the middleware in createAgent", async () => {
  const runs = [];
  const [refundTool, emailTool] = tools(runs);
  const model = new ScriptedModel([refund("call_readme")]);
  const config = { configurable: { thread_id: "readme" } };
  const person = srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } });
  // START README langchain-middleware
  const agent = createAgent({
    model,
    tools: [refundTool, emailTool],
    checkpointer: new MemorySaver(),
    middleware: [handrailMiddleware({ handrail: hr, service: "shop", interruptOn: { refund: true } })],
  });
  const paused = await agent.invoke({ messages: [{ role: "user", content: "refund acct_1" }] }, config);
  const hitl = paused.__interrupt__[0].value; // LangChain's HITLRequest, plus handrailRequestIds
  // A person decides (dashboard, CLI, Slack); then any worker resumes with the server's decisions:
  const done = await agent.invoke(new Command({ resume: await handrailDecisions(hr, hitl) }), config);
  // END README langchain-middleware
  await person;
  assert.equal(hitl.actionRequests.length, 1);
  assert.deepEqual(runs, [["refund", { amount: 50, to: "acct_1" }]]);
  assert.match(done.messages.at(-1).content, /^done: APPROVED WITH EDITS: amount: 500 → 50/);
});

test("held call approved: the interrupt is LangChain's HITLRequest; the resumed step opens no second request", async () => {
  const runs = [];
  const app = agent({ calls: [refund("call_ok"), { id: "call_look", name: "lookup", args: { order: "o_1" } }], runs });
  const config = { configurable: { thread_id: "t-approve" } };
  const paused = await app.invoke(ask, config);
  const [intr] = paused.__interrupt__;
  const value = intr.value;
  assert.equal(value.actionRequests.length, 1, "lookup is not in interruptOn and there is no firewall: not held");
  assert.equal(value.actionRequests[0].name, "refund");
  assert.deepEqual(value.actionRequests[0].args, { amount: 500, to: "acct_1" });
  assert.equal(value.actionRequests[0].toolCallId, "call_ok");
  assert.deepEqual(value.reviewConfigs, [{ actionName: "refund", allowedDecisions: ["approve", "edit", "reject"] }]);
  assert.deepEqual(value.handrailRequestIds, [value.actionRequests[0].handrailRequestId]);
  assert.deepEqual(runs, [], "nothing runs while a call of the step is held");

  const [row] = await srv.pending();
  assert.equal(row.id, value.handrailRequestIds[0]);
  assert.equal(row.service, "shop");
  assert.equal(row.action, "refund");
  await srv.resolve(row.id, { decision: "approve" });
  const count = (await srv.all()).length;
  const done = await app.invoke(new Command({ resume: { decisions: [{ type: "approve" }] } }), config);
  assert.equal((await srv.all()).length, count, "the resumed step found its request");
  assert.deepEqual(runs.sort(), [
    ["lookup", { order: "o_1" }],
    ["refund", { amount: 500, to: "acct_1" }],
  ]);
  assert.deepEqual(toolText(done), { call_ok: "refunded 500", call_look: "order o_1 is paid" });

  // Invoking the finished thread again runs nothing twice and asks nobody.
  await app.invoke(new Command({ resume: { decisions: [{ type: "approve" }] } }), config);
  assert.equal(runs.length, 2);
  assert.equal((await srv.all()).length, count);
});

test("approved with an edit: the tool runs with the edit and the model reads what changed", async () => {
  const runs = [];
  const app = agent({ calls: [refund("call_edit")], runs });
  const config = { configurable: { thread_id: "t-edit" } };
  const paused = await app.invoke(ask, config);
  const id = paused.__interrupt__[0].value.handrailRequestIds[0];
  await srv.resolve(id, { decision: "approve", payload: { amount: 50, to: "acct_1" } });
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, paused.__interrupt__[0].value) }), config);
  assert.deepEqual(runs, [["refund", { amount: 50, to: "acct_1" }]]);
  assert.equal(
    toolText(done).call_edit,
    'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}\nResult: refunded 50',
  );
  const ai = done.messages.find((m) => AIMessage.isInstance(m) && m.tool_calls?.length);
  assert.deepEqual(ai.tool_calls[0].args, { amount: 50, to: "acct_1" }, "the history shows the approved call");
});

test("rejected: the tool does not run and the model reads the reason", async () => {
  const runs = [];
  const app = agent({ calls: [refund("call_no")], runs });
  const config = { configurable: { thread_id: "t-reject" } };
  const paused = await app.invoke(ask, config);
  await srv.resolve(paused.__interrupt__[0].value.handrailRequestIds[0], { decision: "reject", reason: "fraud" });
  const done = await app.invoke(new Command({ resume: { decisions: [{ type: "reject" }] } }), config);
  assert.deepEqual(runs, []);
  assert.equal(toolText(done).call_no, "REJECTED: fraud");
  assert.equal(done.messages.at(-1).content, "done: REJECTED: fraud");
});

test("the server's decision wins: a forged approve throws and nothing runs", async () => {
  const runs = [];
  const app = agent({ calls: [refund("call_forged")], runs });
  const config = { configurable: { thread_id: "t-forged" } };
  const paused = await app.invoke(ask, config);
  await srv.resolve(paused.__interrupt__[0].value.handrailRequestIds[0], { decision: "reject", reason: "no" });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "approve" }] } }), config), {
    name: "HandrailError",
    code: "resume_mismatch",
  });
  await assert.rejects(
    app.invoke(
      new Command({ resume: { decisions: [{ type: "edit", editedAction: { name: "refund", args: { amount: 1 } } }] } }),
      config,
    ),
    { code: "resume_mismatch" },
  );
  assert.deepEqual(runs, []);
});

test("an edit in the resume value that differs from the server's edit throws", async () => {
  const runs = [];
  const app = agent({ calls: [refund("call_edit2")], runs });
  const config = { configurable: { thread_id: "t-edit-forged" } };
  const paused = await app.invoke(ask, config);
  await srv.resolve(paused.__interrupt__[0].value.handrailRequestIds[0], {
    decision: "approve",
    payload: { amount: 50, to: "acct_1" },
  });
  const forged = { type: "edit", editedAction: { name: "refund", args: { amount: 5000, to: "acct_1" } } };
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [forged] } }), config), { code: "resume_mismatch" });
  assert.deepEqual(runs, []);
});

test("expired: the call fails closed", async () => {
  const runs = [];
  const app = agent({ calls: [refund("call_late")], runs, expiresIn: 1 });
  const config = { configurable: { thread_id: "t-expired" } };
  const paused = await app.invoke(ask, config);
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, paused.__interrupt__[0].value) }), config);
  assert.deepEqual(runs, []);
  assert.equal(toolText(done).call_late, "EXPIRED: do not act");
});

test("a restart between interrupt and decision: a new worker with the stored checkpoint resumes", async () => {
  const runs = [];
  const first = new MemorySaver();
  const app = agent({ calls: [refund("call_restart")], runs, checkpointer: first });
  const config = { configurable: { thread_id: "t-restart" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;

  // The worker goes away; its storage survives. A new worker: new client, new agent, the
  // checkpointer rebuilt from what was stored.
  const stored = new MemorySaver();
  stored.storage = structuredClone(first.storage);
  stored.writes = structuredClone(first.writes);
  const worker = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
  const again = agent({ calls: [refund("call_restart")], runs, checkpointer: stored, client: worker });
  await srv.resolve(value.handrailRequestIds[0], { decision: "approve" });
  const count = (await srv.all()).length;
  const done = await again.invoke(new Command({ resume: await handrailDecisions(worker, value) }), config);
  assert.equal((await srv.all()).length, count);
  assert.deepEqual(runs, [["refund", { amount: 500, to: "acct_1" }]]);
  assert.equal(toolText(done).call_restart, "refunded 500");
});

/** Decides the step's requests in `order` (indexes), with `decide(i)` for each. */
async function decideInOrder(value, order, decide) {
  for (const i of order) await srv.resolve(value.handrailRequestIds[i], decide(i));
}

for (const [n, order] of [
  [2, [1, 0]],
  [3, [2, 0, 1]],
  [3, [1, 2, 0]],
]) {
  test(`parallel: ${n} held calls in one step, decided in order ${order}, one rejected`, async () => {
    const runs = [];
    const calls = [refund("p_0", 100), email("p_1", "b@example.com"), refund("p_2", 300)].slice(0, n);
    const app = agent({ calls, runs });
    const config = { configurable: { thread_id: `t-par-${n}-${order.join("")}` } };
    const paused = await app.invoke(ask, config);
    const value = paused.__interrupt__[0].value;
    assert.equal(paused.__interrupt__.length, 1, "one interrupt for the step");
    assert.deepEqual(
      value.actionRequests.map((a) => a.toolCallId),
      calls.map((c) => c.id),
    );
    assert.equal(new Set(value.handrailRequestIds).size, n, "each call its own request");
    const rejected = order[0];
    await decideInOrder(value, order, (i) =>
      i === rejected ? { decision: "reject", reason: `not ${i}` } : { decision: "approve" },
    );
    const count = (await srv.all()).length;
    const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
    assert.equal((await srv.all()).length, count);
    const text = toolText(done);
    for (const [i, c] of calls.entries()) {
      if (i === rejected) {
        assert.equal(text[c.id], `REJECTED: not ${i}`);
        assert.ok(!runs.some(([, args]) => JSON.stringify(args) === JSON.stringify(c.args)), `call ${i} did not run`);
      } else {
        assert.equal(runs.filter(([, args]) => JSON.stringify(args) === JSON.stringify(c.args)).length, 1, `call ${i} ran once`);
      }
    }
    assert.equal(runs.length, n - 1);
  });
}

test("the firewall's verdict is the default predicate, and an enforced block never runs", async () => {
  const runs = [];
  const firewall = new Firewall({ policy: { always_review: ["refund"], deny: ["email"] }, mode: "enforce" });
  const session = firewall.begin({ sessionId: "t-fw", context: "refund acct_1" });
  const app = agent({
    calls: [refund("fw_refund"), email("fw_email"), { id: "fw_look", name: "lookup", args: { order: "o_9" } }],
    runs,
    interruptOn: {},
    firewall,
    session,
  });
  const config = { configurable: { thread_id: "t-fw" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;
  assert.deepEqual(
    value.actionRequests.map((a) => a.name),
    ["refund"],
  );
  const [row] = await srv.pending();
  assert.equal(row.context.firewall.action, "review");
  // The request names its thread, so an operator may grant the tool "in this thread".
  assert.equal(row.context.thread, "t-fw");
  await srv.resolve(value.handrailRequestIds[0], { decision: "approve" });
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
  const text = toolText(done);
  assert.match(text.fw_email, /^REJECTED: the firewall blocked this call/);
  assert.equal(text.fw_refund, "refunded 500");
  assert.deepEqual(runs.map(([name]) => name).sort(), ["lookup", "refund"]);
});

test("argsSchema is the request's schema: an edit outside it is refused, the call stays held", async () => {
  const runs = [];
  const schema = { type: "object", properties: { amount: { type: "number", maximum: 100 }, to: { type: "string" } } };
  const app = agent({ calls: [refund("call_schema", 90)], runs, interruptOn: { refund: { argsSchema: schema } } });
  const config = { configurable: { thread_id: "t-schema" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;
  assert.deepEqual(value.reviewConfigs[0].argsSchema, schema);
  const id = value.handrailRequestIds[0];
  await assert.rejects(srv.resolve(id, { decision: "approve", payload: { amount: 5000, to: "acct_1" } }), /422/);
  await srv.resolve(id, { decision: "approve", payload: { amount: 80, to: "acct_1" } });
  await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
  assert.deepEqual(runs, [["refund", { amount: 80, to: "acct_1" }]]);
});

test("when: the tool's own predicate holds only the calls it selects", async () => {
  const runs = [];
  const big = (request) => request.toolCall.args.amount > 100;
  const app = agent({ calls: [refund("w_small", 20), refund("w_big", 900)], runs, interruptOn: { refund: { when: big } } });
  const config = { configurable: { thread_id: "t-when" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;
  assert.deepEqual(
    value.actionRequests.map((a) => a.toolCallId),
    ["w_big"],
  );
  await srv.resolve(value.handrailRequestIds[0], { decision: "reject", reason: "too much" });
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
  assert.deepEqual(runs, [["refund", { amount: 20, to: "acct_1" }]]);
  assert.deepEqual(toolText(done), { w_small: "refunded 20", w_big: "REJECTED: too much" });
});

test("allowedDecisions without edit: a person's edit is not run", async () => {
  const runs = [];
  const app = agent({ calls: [refund("ne_1")], runs, interruptOn: { refund: { allowedDecisions: ["approve", "reject"] } } });
  const config = { configurable: { thread_id: "t-noedit" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;
  assert.deepEqual(value.reviewConfigs[0].allowedDecisions, ["approve", "reject"]);
  await srv.resolve(value.handrailRequestIds[0], { decision: "approve", payload: { amount: 1, to: "acct_1" } });
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
  assert.deepEqual(runs, []);
  assert.equal(toolText(done).ne_1, "REJECTED: edit is not allowed for refund");
});

test("a resume value with the wrong number of decisions throws", async () => {
  const runs = [];
  const app = agent({ calls: [refund("n_1"), email("n_2")], runs });
  const config = { configurable: { thread_id: "t-count" } };
  const paused = await app.invoke(ask, config);
  for (const id of paused.__interrupt__[0].value.handrailRequestIds) await srv.resolve(id, { decision: "approve" });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "approve" }] } }), config), {
    code: "resume_mismatch",
  });
  assert.deepEqual(runs, []);
});

const askUser = (id, question = "Which day?") => ({ id, name: "ask_user", args: { question } });

test("respond: a person's reply is the tool's result, the tool does not run, the server wins", async () => {
  const runs = [];
  const app = agent({ calls: [askUser("call_ask")], runs, interruptOn: { ask_user: { allowedDecisions: ["approve", "respond"] } } });
  const config = { configurable: { thread_id: "t-respond" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;
  assert.deepEqual(value.reviewConfigs, [{ actionName: "ask_user", allowedDecisions: ["approve", "respond"] }]);
  // On the server a reply is a rejection whose reason is the reply.
  await srv.resolve(value.handrailRequestIds[0], { decision: "reject", reason: "Tuesday at 10" });
  assert.deepEqual(await handrailDecisions(hr, value), { decisions: [{ type: "respond", message: "Tuesday at 10" }] });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "respond", message: "Friday" }] } }), config), {
    code: "resume_mismatch",
  });
  await assert.rejects(
    app.invoke(new Command({ resume: { decisions: [{ type: "edit", editedAction: { name: "ask_user", args: {} } }] } }), config),
    { code: "resume_mismatch", message: /"edit" is not allowed for ask_user/ },
  );
  // After refused resumes the newest resume value is the one read: the thread is not stuck.
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
  const [msg] = done.messages.filter((m) => ToolMessage.isInstance(m));
  assert.equal(msg.content, "Tuesday at 10");
  assert.equal(msg.status, "success");
  assert.deepEqual(runs, []);
  assert.equal(done.messages.at(-1).content, "done: Tuesday at 10");
});

test("respond or reject where both are allowed: the resume value picks", async () => {
  const runs = [];
  const app = agent({
    calls: [askUser("b_1"), askUser("b_2", "Which room?")],
    runs,
    interruptOn: { ask_user: { allowedDecisions: ["approve", "reject", "respond"] } },
  });
  const config = { configurable: { thread_id: "t-respond-both" } };
  const paused = await app.invoke(ask, config);
  const [first, second] = paused.__interrupt__[0].value.handrailRequestIds;
  await srv.resolve(first, { decision: "reject", reason: "Monday" });
  await srv.resolve(second, { decision: "reject", reason: "not that" });
  const done = await app.invoke(
    new Command({ resume: { decisions: [{ type: "respond", message: "Monday" }, { type: "reject" }] } }),
    config,
  );
  const byId = Object.fromEntries(done.messages.filter((m) => ToolMessage.isInstance(m)).map((m) => [m.tool_call_id, m]));
  assert.deepEqual([byId.b_1.content, byId.b_1.status], ["Monday", "success"]);
  assert.deepEqual([byId.b_2.content, byId.b_2.status], ["REJECTED: not that", "error"]);
  assert.deepEqual(runs, []);
});

test("a decision type the call does not allow fails closed; unknown types are refused up front", async () => {
  const runs = [];
  const app = agent({ calls: [refund("na_1")], runs, interruptOn: { refund: { allowedDecisions: ["edit", "reject"] } } });
  const config = { configurable: { thread_id: "t-not-allowed" } };
  const paused = await app.invoke(ask, config);
  const value = paused.__interrupt__[0].value;
  await srv.resolve(value.handrailRequestIds[0], { decision: "approve" });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "approve" }] } }), config), {
    code: "resume_mismatch",
    message: /"approve" is not allowed for refund/,
  });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "respond", message: "ok" }] } }), config), {
    code: "resume_mismatch",
  });
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, value) }), config);
  assert.deepEqual(runs, []);
  assert.equal(toolText(done).na_1, "REJECTED: approve is not allowed for refund");
  assert.throws(() => handrailMiddleware({ handrail: hr, interruptOn: { refund: { allowedDecisions: ["approve", "maybe"] } } }), {
    code: "invalid_options",
  });
});

test("a forged resume does not leave the thread stuck; two held steps each resume once approved", async () => {
  const runs = [];
  const app = createAgent({
    model: new StepsModel([[refund("s_1", 1)], [refund("s_2", 2)]]),
    tools: tools(runs),
    checkpointer: new MemorySaver(),
    middleware: [handrailMiddleware({ handrail: hr, service: "shop", interruptOn: { refund: true } })],
  });
  const config = { configurable: { thread_id: "t-steps" } };
  let paused = await app.invoke(ask, config);
  const first = paused.__interrupt__[0].value;
  await srv.resolve(first.handrailRequestIds[0], { decision: "approve" });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "reject" }] } }), config), {
    code: "resume_mismatch",
  });
  await assert.rejects(app.invoke(new Command({ resume: { decisions: [{ type: "reject" }] } }), config), {
    code: "resume_mismatch",
  });
  paused = await app.invoke(new Command({ resume: await handrailDecisions(hr, first) }), config);
  assert.deepEqual(runs, [["refund", { amount: 1, to: "acct_1" }]]);
  const second = paused.__interrupt__[0].value;
  assert.notEqual(second.handrailRequestIds[0], first.handrailRequestIds[0]);
  await srv.resolve(second.handrailRequestIds[0], { decision: "approve" });
  const count = (await srv.all()).length;
  const done = await app.invoke(new Command({ resume: await handrailDecisions(hr, second) }), config);
  assert.equal(done.messages.at(-1).content, "done");
  assert.deepEqual(runs, [
    ["refund", { amount: 1, to: "acct_1" }],
    ["refund", { amount: 2, to: "acct_1" }],
  ]);
  // Resuming the finished thread again runs nothing and opens nothing.
  await app.invoke(new Command({ resume: { decisions: [{ type: "approve" }] } }), config);
  assert.equal(runs.length, 2);
  assert.equal((await srv.all()).length, count);
});
