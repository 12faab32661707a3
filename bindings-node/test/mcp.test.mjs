// handrail-mcp through a real MCP client (@modelcontextprotocol/sdk) over stdio: the
// package's bin spawned as Claude Desktop or Cursor would, configured only by HANDRAIL_URL
// and HANDRAIL_API_KEY; decisions made through the operator API.
import assert from "node:assert/strict";
import { dirname, join } from "node:path";
import { after, before, beforeEach, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

import { startServer } from "./server.mjs";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const bin = join(pkg, createRequire(import.meta.url)("../package.json").bin["handrail-mcp"]);

let srv;
let mcp;
before(async () => {
  srv = await startServer();
  mcp = new Client({ name: "handrail-test", version: "0.0.0" });
  await mcp.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [bin],
      env: { PATH: process.env.PATH ?? "", HANDRAIL_URL: srv.url, HANDRAIL_API_KEY: srv.agentKey },
      stderr: "inherit",
    }),
  );
});
after(async () => {
  await mcp?.close();
  srv?.stop();
});
beforeEach(() => srv.drain());

const textOf = (result) => {
  assert.equal(result.content.length, 1);
  assert.equal(result.content[0].type, "text");
  return result.content[0].text;
};

test("lists ask_human and request_approval with their input schemas", async () => {
  const { tools } = await mcp.listTools();
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(byName).sort(), ["ask_human", "request_approval"]);
  assert.deepEqual(byName.ask_human.inputSchema.required, ["question"]);
  assert.deepEqual(byName.request_approval.inputSchema.required.sort(), ["action", "payload", "service"]);
});

test("ask_human: the person's answer comes back as the tool's text", async () => {
  const [result, row] = await Promise.all([
    mcp.callTool({ name: "ask_human", arguments: { question: "Which day works?", priority: "high" } }),
    srv.resolveWhenPending({ decision: "approve", payload: { question: "Which day works?", answer: "Friday" } }),
  ]);
  assert.equal(textOf(result), "Friday");
  assert.equal(row.service, "mcp");
  assert.equal(row.action, "ask_human");
  assert.equal(row.priority, "high");
});

test("ask_human: a rejection answers REJECTED: <reason>", async () => {
  const [result] = await Promise.all([
    mcp.callTool({ name: "ask_human", arguments: { question: "May I delete the backups?" } }),
    srv.resolveWhenPending({ decision: "reject", reason: "never" }),
  ]);
  assert.equal(textOf(result), "REJECTED: never");
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
