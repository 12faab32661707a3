// handrail-mcp through a real MCP client (@modelcontextprotocol/sdk) over stdio: the
// package's bin spawned as Claude Desktop or Cursor would, configured only by HANDRAIL_URL
// and HANDRAIL_API_KEY; decisions made through the operator API. Two clients: one that
// declares no capabilities (ask_human answers at once, check_approval reads the decision)
// and one that declares elicitation (ask_human asks its user through elicitInput).
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
const elicited = [];
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
});
after(async () => {
  await mcp?.close();
  await eliciting?.close();
  srv?.stop();
});
beforeEach(() => srv.drain());

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

test("request_approval: approved, edited and rejected decisions as text", async () => {
  const args = { service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" }, priority: "critical" };
  const [approved, row] = await Promise.all([
    mcp.callTool({ name: "request_approval", arguments: args }),
    srv.resolveWhenPending({ decision: "approve" }),
  ]);
  assert.equal(textOf(approved), "APPROVED");
  assert.equal(row.service, "stripe");
  assert.equal(row.priority, "critical");

  const [edited] = await Promise.all([
    mcp.callTool({ name: "request_approval", arguments: args }),
    srv.resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } }),
  ]);
  assert.equal(textOf(edited), 'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}');

  const [rejected] = await Promise.all([
    mcp.callTool({ name: "request_approval", arguments: args }),
    srv.resolveWhenPending({ decision: "reject", reason: "over the limit" }),
  ]);
  assert.equal(textOf(rejected), "REJECTED: over the limit");
});

test("check_approval: an expired request reads EXPIRED: do not act", async () => {
  const { Handrail, ExpiredError } = await import("handrail");
  const hr = new Handrail({ baseUrl: srv.url, apiKey: srv.agentKey });
  const id = await hr.defer({ service: "mcp", action: "ask_human", payload: { question: "q", answer: "" }, expiresIn: 1 });
  await assert.rejects(hr.wait(id), ExpiredError);
  assert.equal(textOf(await mcp.callTool({ name: "check_approval", arguments: { request_id: id } })), "EXPIRED: do not act");
});

test("README: an MCP client without elicitation polls check_approval", async () => {
  const env = { PATH: process.env.PATH ?? "", HANDRAIL_URL: srv.url, HANDRAIL_API_KEY: srv.agentKey };
  const person = srv.resolveWhenPending({ decision: "approve", payload: { question: "Which day works?", answer: "Friday" } });
  // START README mcp
  const client = new Client({ name: "my-agent", version: "1.0.0" }); // declares no elicitation
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [bin], env })); // bin: handrail-mcp
  const asked = await client.callTool({ name: "ask_human", arguments: { question: "Which day works?" } });
  const id = /request (req_\S+) is waiting/.exec(asked.content[0].text)[1]; // "PENDING: …, decision page <link>; …"
  await person; // a person answers on the decision page
  const later = await client.callTool({ name: "check_approval", arguments: { request_id: id } });
  // END README mcp
  assert.equal(later.content[0].text, "Friday");
  await client.close();
});
