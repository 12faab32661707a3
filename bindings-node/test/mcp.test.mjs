// handrail-mcp through a real MCP client (@modelcontextprotocol/sdk) over stdio: the
// package's bin spawned as Claude Desktop or Cursor would, configured only by HANDRAIL_URL
// and HANDRAIL_API_KEY; decisions made through the operator API. Three clients: one that
// declares no capabilities (every tool answers at once, check_approval reads the decision),
// one that declares form elicitation (ask_human asks its user through elicitInput;
// request_approval shows it nothing) and one that declares URL elicitation (the decision page
// is sent to its user). No tool call waits for a person: each returns while its request is
// still PENDING on the server, and what a client answers to an elicitation approves nothing.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";

import { startServer } from "./server.mjs";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(pkg, createRequire(import.meta.url)("../package.json").bin["handrail-mcp"]);

let srv;
let mcp;
let eliciting;
let linking;
const elicited = [];
const linked = [];
/** What the URL-eliciting client's user does with a decision page link; default: opens it and returns. */
let visit = async () => ({ action: "accept" });
const transport = () =>
  new StdioClientTransport({
    command: process.execPath,
    args: [bin],
    env: { PATH: process.env.PATH ?? "", HANDRAIL_URL: srv.url, HANDRAIL_API_KEY: srv.agentKey },
    stderr: "inherit",
  });
before(async () => {
  srv = await startServer();
  mcp = new Client({ name: "handrail-test", version: "0.0.0" });
  await mcp.connect(transport());
  eliciting = new Client({ name: "handrail-test-elicit", version: "0.0.0" }, { capabilities: { elicitation: {} } });
  // The client's user: answers the first question, declines the second.
  eliciting.setRequestHandler(ElicitRequestSchema, async (request) => {
    elicited.push(request.params);
    return elicited.length === 1 ? { action: "accept", content: { answer: "Friday" } } : { action: "decline" };
  });
  await eliciting.connect(transport());
  linking = new Client({ name: "handrail-test-url", version: "0.0.0" }, { capabilities: { elicitation: { url: {} } } });
  linking.setRequestHandler(ElicitRequestSchema, async (request) => {
    linked.push(request.params);
    return visit(request.params);
  });
  await linking.connect(transport());
});
after(async () => {
  await mcp?.close();
  await eliciting?.close();
  await linking?.close();
  srv?.stop();
});
beforeEach(async () => {
  visit = async () => ({ action: "accept" });
  await srv.drain();
});

const textOf = (result) => {
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0].type, "text");
  return result.content[0].text;
};

test("lists ask_human, check_approval and request_approval with their input schemas", async () => {
  const { tools } = await mcp.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(byName).sort(), ["ask_human", "check_approval", "request_approval"]);
  assert.deepEqual(byName.check_approval.inputSchema.required, ["request_id"]);
  assert.deepEqual(byName.ask_human.inputSchema.required, ["question"]);
  assert.deepEqual(byName.request_approval.inputSchema.required.sort(), ["action", "payload", "service"]);
});

/** The request id a PENDING answer names. */
const pendingId = (t) => {
  const m = /^PENDING: do not act; request (req_[A-Za-z0-9_-]+) is waiting for a person, decision page (\S+); call check_approval/.exec(t);
  assert.ok(m, t);
  assert.equal(m[2], `${srv.url}/#/requests/${m[1]}`);
  return m[1];
};

test("ask_human without elicitation: answers at once; check_approval gives PENDING, then the answer", async () => {
  const asked = await mcp.callTool({ name: "ask_human", arguments: { question: "Which day works?", priority: "high" } });
  const id = pendingId(textOf(asked));
  const [row] = await srv.pending();
  assert.equal(row.id, id);
  assert.equal(row.service, "mcp");
  assert.equal(row.action, "ask_human");
  assert.equal(row.priority, "high");
  assert.equal(pendingId(textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: id } }))), id);
  await srv.resolve(id, { decision: "approve", payload: { question: "Which day works?", answer: "Friday" } });
  assert.equal(textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: id } })), "Friday");
  assert.equal((await srv.all()).filter((r) => r.id === id).length, 1);
});

test("ask_human without elicitation: a rejection reads REJECTED: <reason> through check_approval", async () => {
  const id = pendingId(textOf(await mcp.callTool({ name: "ask_human", arguments: { question: "May I delete the backups?" } })));
  await srv.resolve(id, { decision: "reject", reason: "never" });
  assert.equal(textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: id } })), "REJECTED: never");
});

test("ask_human with elicitation: the client's user answers through elicitInput, no request is opened", async () => {
  const before = (await srv.all()).length;
  const answered = await eliciting.callTool({ name: "ask_human", arguments: { question: "Which day works?" } });
  assert.equal(textOf(answered), "Friday");
  assert.equal(elicited[0].message, "Which day works?");
  assert.deepEqual(elicited[0].requestedSchema.required, ["answer"]);
  const declined = await eliciting.callTool({ name: "ask_human", arguments: { question: "And the time?" } });
  assert.equal(textOf(declined), "DECLINED: the person did not answer");
  assert.equal((await srv.all()).length, before);
});

test("check_approval: an approval's decision text, and an unknown id is an error", async () => {
  const hr = new (await import("handrail")).Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
  const id = await hr.defer({ service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" } });
  await srv.resolve(id, { decision: "approve", payload: { amount: 50, to: "acct_1" } });
  assert.equal(
    textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: id } })),
    'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}',
  );
  const unknown = await mcp.callTool({ name: "check_approval", arguments: { request_id: "req_AAAAAAAAAAAAAAAAAAAAAA" } });
  assert.equal(unknown.isError, true);
});

const refund = { service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" }, priority: "critical" };
const edited = 'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}';
/** The server's row of request `id`. */
const rowOf = async (id) => (await srv.all()).find((r) => r.id === id);
const check = async (client, id) => textOf(await client.callTool({ name: "check_approval", arguments: { request_id: id } }));

test("request_approval without elicitation: PENDING at once; approved, edited and rejected read through check_approval", async () => {
  const ids = [];
  for (let i = 0; i < 3; i += 1) {
    const id = pendingId(textOf(await mcp.callTool({ name: "request_approval", arguments: refund })));
    // The call came back before anybody decided: the request is still open on the server.
    const row = await rowOf(id);
    assert.equal(row.status, "PENDING");
    assert.equal(row.service, "stripe");
    assert.equal(row.action, "refund");
    assert.equal(row.priority, "critical");
    assert.deepEqual(row.payload, refund.payload);
    assert.equal(pendingId(await check(mcp, id)), id);
    ids.push(id);
  }
  assert.equal(new Set(ids).size, 3, "each call without an idempotency key is a request of its own");
  await srv.resolve(ids[0], { decision: "approve" });
  await srv.resolve(ids[1], { decision: "approve", payload: { amount: 50, to: "acct_1" } });
  await srv.resolve(ids[2], { decision: "reject", reason: "over the limit" });
  assert.equal(await check(mcp, ids[0]), "APPROVED");
  assert.equal(await check(mcp, ids[1]), edited);
  assert.equal(await check(mcp, ids[2]), "REJECTED: over the limit");
});

test("request_approval with form elicitation: no form is shown, the auto-accepting client approves nothing", async () => {
  const shown = elicited.length;
  const id = pendingId(textOf(await eliciting.callTool({ name: "request_approval", arguments: refund })));
  assert.equal(elicited.length, shown, "request_approval sent a form");
  assert.equal((await rowOf(id)).status, "PENDING");
  assert.equal(pendingId(await check(eliciting, id)), id);
  await srv.resolve(id, { decision: "approve", payload: { amount: 50, to: "acct_1" } });
  assert.equal(await check(eliciting, id), edited);
});

test("request_approval with URL elicitation: the user is sent the decision page; a decision made there is the answer", async () => {
  const seen = linked.length;
  visit = async (params) => {
    // The person opens the page and decides there (as the operator API), then comes back.
    const id = /#\/requests\/(req_[A-Za-z0-9_-]+)$/.exec(params.url)[1];
    await srv.resolve(id, { decision: "approve", payload: { amount: 50, to: "acct_1" } });
    return { action: "accept" };
  };
  assert.equal(textOf(await linking.callTool({ name: "request_approval", arguments: refund })), edited);
  assert.equal(linked.length, seen + 1);
  const sent = linked[seen];
  assert.equal(sent.mode, "url");
  const id = /#\/requests\/(req_[A-Za-z0-9_-]+)$/.exec(sent.url)[1];
  assert.equal(sent.url, `${srv.url}/#/requests/${id}`);
  assert.ok(sent.elicitationId.startsWith(`${id}.`), sent.elicitationId);
  assert.match(sent.message, /refund on stripe/);
  assert.equal((await rowOf(id)).status, "APPROVED_WITH_MODIFICATIONS");

  visit = async (params) => {
    const rid = /#\/requests\/(req_[A-Za-z0-9_-]+)$/.exec(params.url)[1];
    await srv.resolve(rid, { decision: "reject", reason: "over the limit" });
    return { action: "accept" };
  };
  assert.equal(textOf(await linking.callTool({ name: "request_approval", arguments: refund })), "REJECTED: over the limit");
});

test("request_approval with URL elicitation: accepting, declining or cancelling the link decides nothing", async () => {
  const seen = linked.length;
  for (const action of ["accept", "decline", "cancel"]) {
    visit = async () => ({ action });
    const id = pendingId(textOf(await linking.callTool({ name: "request_approval", arguments: refund })));
    assert.equal((await rowOf(id)).status, "PENDING", `${action} changed the request`);
    assert.equal(pendingId(await check(linking, id)), id);
    await srv.resolve(id, { decision: "approve" });
    assert.equal(await check(linking, id), "APPROVED");
  }
  // A client that fails the elicitation still gets its request to poll.
  visit = async () => {
    throw new Error("this client cannot open links");
  };
  const id = pendingId(textOf(await linking.callTool({ name: "request_approval", arguments: refund })));
  assert.equal((await rowOf(id)).status, "PENDING");
  assert.equal(linked.length, seen + 4, "each call sent its decision page");
});

test("ask_human with URL elicitation only: the decision page by URL, no form; the person's answer comes back", async () => {
  const seen = linked.length;
  visit = async (params) => {
    const id = /#\/requests\/(req_[A-Za-z0-9_-]+)$/.exec(params.url)[1];
    await srv.resolve(id, { decision: "approve", payload: { question: "Which day works?", answer: "Friday" } });
    return { action: "accept" };
  };
  const asked = await linking.callTool({ name: "ask_human", arguments: { question: "Which day works?" } });
  assert.equal(textOf(asked), "Friday");
  assert.equal(linked[seen].mode, "url");
  assert.match(linked[seen].message, /Which day works\?/);
});

test("request_approval with an idempotency key: a retry gets the same request, after a decision its decision", async () => {
  const args = { ...refund, idempotency_key: "toolu_01" };
  const id = pendingId(textOf(await mcp.callTool({ name: "request_approval", arguments: args })));
  assert.equal(pendingId(textOf(await mcp.callTool({ name: "request_approval", arguments: args }))), id);
  assert.equal((await srv.all()).filter((r) => r.id === id).length, 1);
  await srv.resolve(id, { decision: "reject", reason: "not this one" });
  assert.equal(textOf(await mcp.callTool({ name: "request_approval", arguments: args })), "REJECTED: not this one");
  // With URL elicitation too, a decided request is answered without sending the page again.
  const seen = linked.length;
  const urlArgs = { ...refund, idempotency_key: "toolu_02" };
  const urlId = pendingId(textOf(await linking.callTool({ name: "request_approval", arguments: urlArgs })));
  await srv.resolve(urlId, { decision: "approve" });
  assert.equal(textOf(await linking.callTool({ name: "request_approval", arguments: urlArgs })), "APPROVED");
  assert.equal(linked.length, seen + 1);
  // Other values under the same key are another request.
  const other = { ...args, payload: { amount: 20, to: "acct_1" } };
  assert.notEqual(pendingId(textOf(await mcp.callTool({ name: "request_approval", arguments: other }))), id);
});

test("check_approval: an expired request reads EXPIRED: do not act", async () => {
  const { Handrail, ExpiredError } = await import("handrail");
  const hr = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
  const id = await hr.defer({ service: "mcp", action: "ask_human", payload: { question: "q", answer: "" }, expiresIn: 1 });
  await assert.rejects(hr.wait(id), ExpiredError);
  assert.equal(textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: id } })), "EXPIRED: do not act");
  const action = await hr.defer({ service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" }, expiresIn: 1 });
  await assert.rejects(hr.wait(action), ExpiredError);
  assert.equal(textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: action } })), "EXPIRED: do not act");
});

test("README: an MCP client without elicitation polls check_approval", async () => {
  const env = { PATH: process.env.PATH ?? "", HANDRAIL_URL: srv.url, HANDRAIL_API_KEY: srv.agentKey };
  const person = srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } });
  // START README mcp
  const client = new Client({ name: "my-agent", version: "1.0.0" }); // declares no elicitation
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [bin], env })); // bin: handrail-mcp
  const payload = { amount: 500, to: "acct_1" };
  const asked = await client.callTool({ name: "request_approval", arguments: { service: "stripe", action: "refund", payload } });
  const id = /request (req_\S+) is waiting/.exec(asked.content[0].text)[1]; // "PENDING: do not act; …, decision page <link>; …"
  await person; // a person decides on the decision page
  const later = await client.callTool({ name: "check_approval", arguments: { request_id: id } }); // APPROVED WITH EDITS: …
  // END README mcp
  assert.equal(later.content[0].text, 'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}');
  await client.close();
});
