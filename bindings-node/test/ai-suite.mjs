// handrail/ai with the real `ai` package, one suite for each major (`ai.test.mjs` runs it on
// `ai` 7, `ai6.test.mjs` on `ai` 6 installed as `ai6`): tools driven directly and through
// generateText with the SDK's own mock model from `ai/test` (no LLM), decisions made
// through the operator API.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { z } from "zod";

import { Handrail } from "handrail";
import { answerApproval, requireApproval, toolApproval, withApproval } from "handrail/ai";

import { startServer } from "./server.mjs";

/** Registers the suite for one major: `ai` is the package, `aiTest` its `ai/test`. */
export function aiSuite(major, ai, aiTest) {
const { generateText, stepCountIs, tool } = ai;
// The mock of the newest model spec the major ships (`ai` 7: V4; `ai` 6: V3).
const MockLanguageModel = aiTest.MockLanguageModelV4 ?? aiTest.MockLanguageModelV3;

let srv;
let hr;
before(async () => {
  srv = await startServer();
  hr = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
});
after(() => srv?.stop());
beforeEach(() => srv.drain());

/** A refund tool that records what it was run with. */
function refundTool(runs) {
  return tool({
    description: "Refund a customer",
    inputSchema: z.object({ amount: z.number(), to: z.string() }),
    execute: async (input) => {
      runs.push(input);
      return { refunded: input.amount };
    },
  });
}

const call = (id) => ({ toolCallId: id, messages: [] });

test(`ai ${major}: ` + "withApproval: approved, the tool runs with the input and its result is untouched", async () => {
  const runs = [];
  const refund = withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" });
  const [out, row] = await Promise.all([
    refund.execute({ amount: 500, to: "acct_1" }, call("call_a1")),
    srv.resolveWhenPending({ decision: "approve" }),
  ]);
  assert.deepEqual(out, { refunded: 500 });
  assert.deepEqual(runs, [{ amount: 500, to: "acct_1" }]);
  assert.equal(row.service, "stripe");
  assert.equal(row.action, "refund");
});

test(`ai ${major}: ` + "withApproval: an edit runs the tool with the edited input and tells the model", async () => {
  const runs = [];
  const refund = withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" });
  const [out] = await Promise.all([
    refund.execute({ amount: 500, to: "acct_1" }, call("call_a2")),
    srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } }),
  ]);
  assert.deepEqual(runs, [{ amount: 50, to: "acct_1" }]);
  assert.equal(
    out,
    'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}\nResult: {"refunded":50}',
  );
});

test(`ai ${major}: ` + "withApproval: a rejection never runs the tool; the model reads REJECTED: <reason>", async () => {
  const runs = [];
  const refund = withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" });
  const [out] = await Promise.all([
    refund.execute({ amount: 500, to: "acct_1" }, call("call_a3")),
    srv.resolveWhenPending({ decision: "reject", reason: "ask finance first" }),
  ]);
  assert.equal(out, "REJECTED: ask finance first");
  assert.deepEqual(runs, []);
});

test(`ai ${major}: ` + "withApproval refuses a tool without execute", () => {
  assert.throws(
    () => withApproval(tool({ inputSchema: z.object({}) }), { handrail: hr, service: "s", action: "a" }),
    TypeError,
  );
});

test(`ai ${major}: ` + "the SDK's approval flow: needsApproval, answered from Handrail, one request per tool call", async () => {
  const runs = [];
  const tools = {
    refund: requireApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" }),
  };
  assert.equal(tools.refund.needsApproval, true);
  const usage = {
    inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: 1, text: 1, reasoning: undefined },
  };
  const model = new MockLanguageModel({
    doGenerate: [
      {
        content: [
          { type: "tool-call", toolCallId: "call_sdk1", toolName: "refund", input: '{"amount":500,"to":"acct_1"}' },
        ],
        finishReason: { unified: "tool-calls", raw: undefined },
        usage,
        warnings: [],
      },
      {
        content: [{ type: "text", text: "Refunded." }],
        finishReason: { unified: "stop", raw: undefined },
        usage,
        warnings: [],
      },
    ],
  });
  const messages = [{ role: "user", content: "Refund acct_1" }];

  // First turn: the SDK stops with an approval request instead of running the tool.
  const first = await generateText({ model, tools, messages, stopWhen: stepCountIs(3) });
  const asked = first.content.filter((p) => p.type === "tool-approval-request");
  assert.equal(asked.length, 1);
  assert.deepEqual(runs, []);

  // The UI's answer comes from Handrail: a person edits the amount.
  const [response] = await Promise.all([
    answerApproval(asked[0], { handrail: hr, service: "stripe" }),
    srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } }),
  ]);
  assert.equal(response.type, "tool-approval-response");
  assert.equal(response.approvalId, asked[0].approvalId);
  assert.equal(response.approved, true);
  assert.match(response.reason, /^APPROVED WITH EDITS: amount: 500 → 50/);

  // Second turn: the SDK runs the tool; its execute finds the decided request.
  const before = (await srv.all()).length;
  const second = await generateText({
    model,
    tools,
    messages: [...messages, ...first.response.messages, { role: "tool", content: [response] }],
    stopWhen: stepCountIs(3),
  });
  assert.deepEqual(runs, [{ amount: 50, to: "acct_1" }]);
  assert.equal((await srv.all()).length, before, "no second request for the same tool call");
  assert.equal(second.text, "Refunded.");
});

test(`ai ${major}: ` + "the SDK's approval flow: a rejection is a denied approval with the reason", async () => {
  const part = {
    type: "tool-approval-request",
    approvalId: "appr_2",
    toolCall: { toolCallId: "call_sdk2", toolName: "refund", input: { amount: 9, to: "acct_2" } },
  };
  const [response] = await Promise.all([
    answerApproval(part, { handrail: hr, service: "stripe" }),
    srv.resolveWhenPending({ decision: "reject", reason: "no" }),
  ]);
  assert.deepEqual(response, {
    type: "tool-approval-response",
    approvalId: "appr_2",
    approved: false,
    reason: "REJECTED: no",
  });
});

const usage = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
};

/** A mock model: the first step calls `calls`, the next answers with the tool results it read. */
function scripted(calls) {
  return new MockLanguageModel({
    doGenerate: async ({ prompt }) => {
      const results = prompt.filter((m) => m.role === "tool").flatMap((m) => m.content).filter((p) => p.type === "tool-result");
      if (results.length === 0) {
        return {
          content: calls.map((c) => ({ type: "tool-call", toolCallId: c.id, toolName: "refund", input: JSON.stringify(c.input) })),
          finishReason: { unified: "tool-calls", raw: undefined },
          usage,
          warnings: [],
        };
      }
      const seen = results.map((r) => `${r.toolCallId}=${JSON.stringify(r.output)}`).join(" ");
      return { content: [{ type: "text", text: `read ${seen}` }], finishReason: { unified: "stop", raw: undefined }, usage, warnings: [] };
    },
  });
}

const messages = [{ role: "user", content: "Refund" }];

test(`ai ${major}: expired: execute fails closed, answerApproval denies`, async () => {
  const runs = [];
  const refund = withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund", expiresIn: 1 });
  assert.equal(await refund.execute({ amount: 5, to: "acct_x" }, call(`call_exp_${major}`)), "EXPIRED: do not act");
  assert.deepEqual(runs, []);
  const part = {
    type: "tool-approval-request",
    approvalId: "appr_exp",
    toolCall: { toolCallId: `call_exp2_${major}`, toolName: "refund", input: { amount: 6, to: "acct_x" } },
  };
  const reply = await answerApproval(part, { handrail: hr, service: "stripe", expiresIn: 1 });
  assert.deepEqual(reply, { type: "tool-approval-response", approvalId: "appr_exp", approved: false, reason: "EXPIRED: do not act" });
});

for (const [n, order] of [
  [2, [1, 0]],
  [3, [2, 0, 1]],
  [3, [0, 2, 1]],
]) {
  test(`ai ${major}: parallel: ${n} calls in one step, decided in order ${order}, one rejected; a restart between the steps`, async () => {
    const runs = [];
    const calls = [0, 1, 2].slice(0, n).map((i) => ({ id: `par_${major}_${n}_${order.join("")}_${i}`, input: { amount: 10 + i, to: `acct_${i}` } }));
    const tools = { refund: requireApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" }) };
    const first = await generateText({ model: scripted(calls), tools, messages, stopWhen: stepCountIs(3) });
    const asked = first.content.filter((p) => p.type === "tool-approval-request");
    assert.equal(asked.length, n);
    assert.deepEqual(runs, []);

    // Each approval request answered on its own; the person decides them in `order`.
    const replies = Promise.all(asked.map((part) => answerApproval(part, { handrail: hr, service: "stripe" })));
    const rows = [];
    while (rows.length < n) {
      rows.splice(0, rows.length, ...(await srv.pending()));
      if (rows.length < n) await new Promise((r) => setTimeout(r, 20));
    }
    const byCall = Object.fromEntries(rows.map((r) => [r.context.ai.toolCallId, r.id]));
    const rejected = order[0];
    for (const i of order) {
      await srv.resolve(byCall[calls[i].id], i === rejected ? { decision: "reject", reason: `not ${i}` } : { decision: "approve" });
    }
    const answers = await replies;
    assert.deepEqual(
      answers.map((a) => a.approved),
      calls.map((_, i) => i !== rejected),
    );

    // A restart: the conversation is stored as JSON, a new worker with a new client and new
    // tools continues it.
    const stored = JSON.stringify([...messages, ...first.response.messages, { role: "tool", content: answers }]);
    const worker = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
    const tools2 = { refund: requireApproval(refundTool(runs), { handrail: worker, service: "stripe", action: "refund" }) };
    const count = (await srv.all()).length;
    const second = await generateText({ model: scripted(calls), tools: tools2, messages: JSON.parse(stored), stopWhen: stepCountIs(3) });
    assert.equal((await srv.all()).length, count, "no second request");
    assert.deepEqual(
      runs.map((r) => r.to).sort(),
      calls.filter((_, i) => i !== rejected).map((c) => c.input.to),
      "each approved call ran once, the rejected one never",
    );
    assert.doesNotMatch(second.text, new RegExp(`${calls[rejected].id}=\\{"refunded"`));

    // The same stored conversation continued once more (a retried job) asks nobody and runs
    // no decided call twice in this process (once per request id).
    await generateText({ model: scripted(calls), tools: tools2, messages: JSON.parse(stored), stopWhen: stepCountIs(3) });
    assert.equal(runs.length, n - 1);
    assert.equal((await srv.all()).length, count);
  });
}
if (major >= 7) {
  test(`ai ${major}: call-level toolApproval answered from Handrail; edits through withApproval's execute`, async () => {
    const runs = [];
    const calls = [
      { id: `ta_${major}_0`, input: { amount: 500, to: "acct_a" } },
      { id: `ta_${major}_1`, input: { amount: 900, to: "acct_b" } },
    ];
    const tools = { refund: withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" }) };
    // START README ai-tool-approval
    const run = generateText({
      model: scripted(calls),
      tools, // { refund: withApproval(tool({ inputSchema, execute }), { service: "stripe", action: "refund" }) }
      toolApproval: toolApproval({ handrail: hr, service: "stripe" }), // every call decided by a person
      messages,
      stopWhen: stepCountIs(3),
    });
    // END README ai-tool-approval
    // The SDK asks toolApproval for one call after the other: each is decided as it appears.
    const first = await srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_a" } });
    const second = await srv.resolveWhenPending({ decision: "reject", reason: "too much" });
    assert.deepEqual([first.context.ai.toolCallId, second.context.ai.toolCallId], [calls[0].id, calls[1].id]);
    const result = await run;
    assert.deepEqual(runs, [{ amount: 50, to: "acct_a" }], "the edit ran, the rejection did not");
    assert.match(result.text, /REJECTED: too much/);
    assert.match(result.text, /APPROVED WITH EDITS: amount: 500 → 50/);
    assert.equal((await srv.all()).filter((r) => calls.some((c) => c.id === r.context?.ai?.toolCallId)).length, 2, "one request per call");
  });

  test(`ai ${major}: toolApproval with wait: false opens every request of the step at once and defers to the approval flow`, async () => {
    const runs = [];
    const calls = [0, 1, 2].map((i) => ({ id: `tw_${major}_${i}`, input: { amount: 20 + i, to: `acct_w${i}` } }));
    const tools = { refund: withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" }) };
    const approval = toolApproval({ handrail: hr, service: "stripe", wait: false });
    const first = await generateText({ model: scripted(calls), tools, toolApproval: approval, messages, stopWhen: stepCountIs(3) });
    const asked = first.content.filter((p) => p.type === "tool-approval-request");
    assert.equal(asked.length, 3);
    const rows = await srv.pending();
    assert.equal(rows.length, 3, "all three requests are open before anyone decides");
    const byCall = Object.fromEntries(rows.map((r) => [r.context.ai.toolCallId, r.id]));
    for (const i of [2, 0, 1]) {
      await srv.resolve(byCall[calls[i].id], i === 0 ? { decision: "reject", reason: "no" } : { decision: "approve" });
    }
    const answers = await Promise.all(asked.map((part) => answerApproval(part, { handrail: hr, service: "stripe" })));
    const count = (await srv.all()).length;
    await generateText({
      model: scripted(calls),
      tools,
      toolApproval: approval,
      messages: [...messages, ...first.response.messages, { role: "tool", content: answers }],
      stopWhen: stepCountIs(3),
    });
    assert.equal((await srv.all()).length, count);
    assert.deepEqual(runs.map((r) => r.to).sort(), ["acct_w1", "acct_w2"]);
  });
}
}
