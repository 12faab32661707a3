// handrail/ai with the real `ai` package: tools driven directly and through generateText
// with the SDK's mock model (no LLM), decisions made through the operator API.
import assert from "node:assert/strict";
import { after, before, beforeEach, test } from "node:test";

import { generateText, stepCountIs, tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";

import { Handrail } from "handrail";
import { answerApproval, requireApproval, withApproval } from "handrail/ai";

import { startServer } from "./server.mjs";

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

test("withApproval: approved, the tool runs with the input and its result is untouched", async () => {
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

test("withApproval: an edit runs the tool with the edited input and tells the model", async () => {
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

test("withApproval: a rejection never runs the tool; the model reads REJECTED: <reason>", async () => {
  const runs = [];
  const refund = withApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" });
  const [out] = await Promise.all([
    refund.execute({ amount: 500, to: "acct_1" }, call("call_a3")),
    srv.resolveWhenPending({ decision: "reject", reason: "ask finance first" }),
  ]);
  assert.equal(out, "REJECTED: ask finance first");
  assert.deepEqual(runs, []);
});

test("withApproval refuses a tool without execute", () => {
  assert.throws(
    () => withApproval(tool({ inputSchema: z.object({}) }), { handrail: hr, service: "s", action: "a" }),
    TypeError,
  );
});

test("the SDK's approval flow: needsApproval, answered from Handrail, one request per tool call", async () => {
  const runs = [];
  const tools = {
    refund: requireApproval(refundTool(runs), { handrail: hr, service: "stripe", action: "refund" }),
  };
  assert.equal(tools.refund.needsApproval, true);
  const usage = {
    inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
    outputTokens: { total: 1, text: 1, reasoning: undefined },
  };
  const model = new MockLanguageModelV3({
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

test("the SDK's approval flow: a rejection is a denied approval with the reason", async () => {
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
