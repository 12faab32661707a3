// The e-mail decision page in Debian's Chromium: a real `handrail serve` sending through a
// minimal SMTP server of this test (node:net), a request of role `finance`, and the link of
// Alice's message opened and used in the browser — the page has no script, its form approves
// an edited payload, and the agent's wait gets the decision as `email:alice@example.com`.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { launch, screenshot, signedIn, startServer } from "./harness.mjs";

/** An SMTP server that accepts everything and keeps each message's recipients and data. */
function smtpSink() {
  const messages = [];
  const server = createServer((socket) => {
    let buffer = "";
    let data = false;
    let current = { to: [], data: "" };
    socket.write("220 sink ESMTP\r\n");
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      for (;;) {
        if (data) {
          const end = buffer.indexOf("\r\n.\r\n");
          if (end < 0) return;
          current.data = buffer.slice(0, end);
          buffer = buffer.slice(end + 5);
          messages.push(current);
          current = { to: [], data: "" };
          data = false;
          socket.write("250 OK\r\n");
          continue;
        }
        const nl = buffer.indexOf("\r\n");
        if (nl < 0) return;
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === "EHLO" || verb === "HELO") socket.write("250 sink\r\n");
        else if (verb === "RCPT") {
          current.to.push(/<([^>]*)>/.exec(line)?.[1]);
          socket.write("250 OK\r\n");
        } else if (verb === "DATA") {
          data = true;
          socket.write("354 go on\r\n");
        } else if (verb === "QUIT") {
          socket.end("221 bye\r\n");
          return;
        } else socket.write("250 OK\r\n");
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, messages, port: server.address().port })));
}

/** The decoded text/plain part of a raw MIME message (7bit, quoted-printable or base64). */
function plainText(raw) {
  const parts = raw.split(/\r\n--[^\r\n]+\r\n/);
  const part = parts.find((p) => /^content-type:\s*text\/plain/im.test(p));
  assert.ok(part, raw);
  const [head, ...rest] = part.split("\r\n\r\n");
  const body = rest.join("\r\n\r\n").split(/\r\n--/)[0];
  const encoding = /^content-transfer-encoding:\s*(\S+)/im.exec(head)?.[1]?.toLowerCase() ?? "7bit";
  if (encoding === "base64") return Buffer.from(body.replace(/\s+/g, ""), "base64").toString("utf8");
  if (encoding === "quoted-printable") {
    const bytes = body.replace(/=\r\n/g, "").replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, "latin1").toString("utf8");
  }
  return body;
}

const PUBLIC = "http://handrail.test";
let sink;
let server;
let browser;
before(async () => {
  sink = await smtpSink();
  server = await startServer({
    HANDRAIL_SMTP_URL: `smtp://127.0.0.1:${sink.port}`,
    HANDRAIL_SMTP_FROM: "Handrail <handrail@example.com>",
    HANDRAIL_PUBLIC_URL: PUBLIC,
  });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.stop();
  sink?.server.close();
});

test("an e-mail link opened in Chromium approves an edit as its addressee", async () => {
  await server.operator("POST", "/v1/roles", { name: "finance" });
  await server.operator("POST", "/v1/channels", { kind: "email", to: ["alice@example.com"], roles: ["finance"] });
  const schema = { type: "object", properties: { amount: { type: "integer", maximum: 100 }, to: { type: "string" } }, required: ["amount", "to"] };
  const created = await server.agent("POST", "/v1/requests", {
    service: "bank", action: "wire", role: "finance", payload: { amount: 42, to: "acct_9" }, schema,
  });
  const start = Date.now();
  while (sink.messages.length < 1) {
    assert.ok(Date.now() - start < 20_000, "no message within 20 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(sink.messages[0].to, ["alice@example.com"]);
  const text = plainText(sink.messages[0].data);
  const link = new RegExp(`${PUBLIC}/decide/([A-Za-z0-9_.-]+)`).exec(text);
  assert.ok(link, text);
  const url = `${server.url}/decide/${link[1]}`;

  const waited = fetch(`${server.url}/v1/requests/${created.id}/wait?timeout=30`, {
    headers: { authorization: `Bearer ${server.agentKey}` },
  }).then((r) => r.json());

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const violations = [];
  page.on("console", (m) => m.type() === "error" && violations.push(m.text()));
  const opened = await page.goto(url);
  assert.equal(opened.status(), 200);
  assert.equal(opened.headers()["cache-control"], "no-store");
  assert.match(await page.locator("#payload").innerText(), /acct_9/);
  await screenshot(page, "decide-page");
  // Opening it decided nothing.
  const pending = await server.operator("GET", `/v1/requests/${created.id}`);
  assert.equal(pending.status, "PENDING");

  await page.locator("#edit").fill(JSON.stringify({ amount: 40, to: "acct_9" }));
  await Promise.all([page.waitForNavigation(), page.locator("#approve-edit").click()]);
  assert.equal(await page.locator("#done").innerText(), "APPROVED_WITH_MODIFICATIONS");
  await screenshot(page, "decide-done");
  assert.deepEqual(violations, [], "no CSP violation or other console error");

  const record = await waited;
  assert.equal(record.status, "APPROVED_WITH_MODIFICATIONS");
  assert.equal(record.decision.actor, "email:alice@example.com");
  assert.deepEqual(record.decision.payload, { amount: 40, to: "acct_9" });

  // The same link again, in the browser: refused.
  const again = await page.goto(url);
  assert.equal(again.status(), 409);
  await context.close();

  // The dashboard names the decider by her address, on the request and in the audit log.
  const signed = await signedIn(browser, server);
  await signed.page.goto(`${server.url}/#/requests/${created.id}`);
  assert.equal(await signed.page.getByTestId("decider").innerText(), "alice@example.com (e-mail)");
  await signed.page.goto(`${server.url}/#/audit`);
  await signed.page.getByTestId("audit-verdict").filter({ hasText: "verified" }).waitFor();
  assert.match(await signed.page.locator("table.audit").innerText(), /alice@example\.com \(e-mail\)/);
  assert.deepEqual(signed.errors.map(String), []);
  await signed.context.close();
});
