// defer + webhook, end to end: an agent defers, an operator decides through the operator
// API, the real `handrail serve` delivers a signed webhook to a receiver on 127.0.0.1, and
// the receiver verifies it with `verifyWebhook` and gets the decision.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { Handrail, WebhookError } from "handrail";

import { startServer } from "./server.mjs";

let server;
let receiver;
let hr;
let secret;
/** Deliveries as received, and whoever waits for the next one. */
const deliveries = [];
const waiting = [];

before(async () => {
  // Retries of a failed delivery come fast (the receiver always answers 204 anyway).
  process.env.HANDRAIL_WEBHOOK_RETRY_MS ??= "50";
  server = await startServer();
  hr = new Handrail({ baseUrl: server.url, apiKey: server.agentKey });
  receiver = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      res.writeHead(204).end();
      deliveries.push({ body: Buffer.concat(chunks), headers: req.headers });
      for (const wake of waiting.splice(0)) wake();
    });
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const { port } = receiver.address();
  const created = await server.operator("POST", "/v1/webhooks", { url: `http://127.0.0.1:${port}/hook` });
  assert.match(created.secret, /^whsec_/);
  secret = created.secret;
});

after(() => {
  receiver?.close();
  server?.stop();
});

/** The first verified delivery of `type` for request `id` (earlier ones are skipped). */
async function eventFor(id, type) {
  for (let seen = 0; ; ) {
    while (seen < deliveries.length) {
      const { body, headers } = deliveries[seen++];
      const event = await hr.verifyWebhook(body, headers, secret);
      if (event.requestId === id && event.type === type) return { event, body, headers };
    }
    await new Promise((resolve) => waiting.push(resolve));
  }
}

test("a deferred request's decision arrives as a signed webhook the receiver verifies", async () => {
  const id = await hr.defer({ service: "stripe", action: "refund", payload: { order: "o1", amount: 500 } });
  assert.match(id, /^req_/);
  await server.resolve(id, { decision: "approve", payload: { order: "o1", amount: 50 } });

  const { event, body, headers } = await eventFor(id, "request.resolved");
  assert.equal(event.status, "APPROVED_WITH_MODIFICATIONS");
  assert.ok(event.decision, "a decided request carries its decision");
  assert.equal(event.decision.approved, true);
  assert.equal(event.decision.requestId, id);
  assert.deepEqual(event.decision.payload, { order: "o1", amount: 50 });
  assert.match(headers["webhook-id"], /.+/);
  assert.equal(event.id, headers["webhook-id"]);

  // The same delivery with another body, or under another secret, does not verify.
  const forged = Buffer.from(body.toString("utf8").replace("APPROVED", "REJECTED"));
  await assert.rejects(hr.verifyWebhook(forged, headers, secret), (err) => err instanceof WebhookError);
  await assert.rejects(
    hr.verifyWebhook(body, headers, `whsec_${Buffer.alloc(24, 7).toString("base64")}`),
    (err) => err instanceof WebhookError && err.code === "webhook_signature",
  );
});

test("a rejection arrives with its reason", async () => {
  const id = await hr.defer({ service: "gmail", action: "send", payload: { to: "x@example.com" } });
  await server.resolve(id, { decision: "reject", reason: "not this one" });
  const { event } = await eventFor(id, "request.resolved");
  assert.equal(event.status, "REJECTED");
  assert.equal(event.decision.approved, false);
  assert.equal(event.decision.reason, "not this one");
});
