// The dashboard end to end: a real `handrail serve`, Debian's Chromium, and agents on the
// Node SDK (bindings-node) and the Python SDK (.venv). Every decision here is made by
// clicking in the page; every check of what the agent got goes through the SDK.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, test } from "node:test";
import { join } from "node:path";
import { createRequire } from "node:module";
import { DESKTOP, PHONE, launch, root, screenshot, signedIn, startServer } from "./harness.mjs";

const require = createRequire(import.meta.url);
const sdk = require(join(root, "bindings-node", "dist", "index.js"));
const { Handrail, generateKey, sealEnvelope } = sdk;
const python = process.env.HANDRAIL_PYTHON ?? join(root, ".venv", "bin", "python");

let server;
let browser;
before(async () => {
  server = await startServer();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.stop();
});

const agent = (encryptionKey) => new Handrail({ baseUrl: server.url, apiKey: server.agentKey, encryptionKey });

const SCHEMA = {
  type: "object",
  properties: {
    amount: { type: "integer", minimum: 1, maximum: 1000, title: "Amount" },
    currency: { type: "string", enum: ["EUR", "USD"] },
    to: { type: "string", title: "Account" },
    note: { type: "string" },
  },
  required: ["amount", "currency", "to"],
  additionalProperties: false,
};

/** Runs Python with the SDK installed (.venv); returns its stdout, trimmed. */
function py(code, env = {}) {
  return execFileSync(python, ["-c", code], { env: { ...process.env, ...env }, encoding: "utf8" }).trim();
}

async function importKey(page, key) {
  await page.goto(server.url + "/#/settings");
  await page.getByTestId("key-input").fill(key);
  await page.getByTestId("import-key").click();
  await page.locator("ul.keys code").first().waitFor();
}

test("the page is served with a strict CSP, and no key ever leaves the browser", async () => {
  const res = await fetch(server.url + "/", { headers: { "accept-encoding": "gzip" } });
  assert.equal(res.status, 200);
  const csp = res.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  // Unknown API paths keep their JSON 404 (no catch-all HTML).
  const api404 = await fetch(server.url + "/v1/no-such-thing");
  assert.equal(api404.status, 404);
  assert.equal((await api404.json()).error.code, "not_found");
  const wasm = await fetch(server.url + "/wasm/handrail_wasm_bg.wasm");
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
});

test("an encrypted request with a schema: key missing, import, DECRYPTED, edit in the form, approve; the agent gets the edit, the diff and a valid proof", async () => {
  const key = generateKey("ops-1");
  const secret = key.split(".").pop();
  const hr = agent(key);
  const id = await hr.defer({
    service: "stripe",
    action: "refund",
    payload: { amount: 500, currency: "EUR", to: "acct_42", note: "late delivery" },
    schema: SCHEMA,
    priority: "high",
    context: { task: "Refund order o_981 for a late delivery" },
  });
  const waiting = hr.wait(id, { timeout: 120 });

  const { page, errors } = await signedIn(browser, server);
  const sent = [];
  page.on("request", (r) => sent.push(`${r.url()} ${JSON.stringify(r.headers())} ${r.postData() ?? ""}`));

  const row = page.locator(`li[data-id="${id}"]`);
  await row.waitFor();
  assert.match(await row.innerText(), /end-to-end encrypted/);
  await screenshot(page, "desktop-queue");

  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("payload-state").waitFor();
  assert.equal(await page.getByTestId("payload-state").innerText(), "KEY MISSING");
  assert.match(await page.getByTestId("payload-explain").innerText(), /ops-1/);
  assert.equal(await page.getByTestId("payload").count(), 0, "no ciphertext shown as if it were the payload");
  await screenshot(page, "desktop-request-key-missing");

  await importKey(page, key);
  await screenshot(page, "desktop-settings");
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("payload-state").waitFor();
  assert.equal(await page.getByTestId("payload-state").innerText(), "DECRYPTED");
  assert.match(await page.getByTestId("payload").innerText(), /acct_42/);

  await page.getByTestId("edit").click();
  const amount = page.locator('[data-field="amount"]');
  assert.equal(await amount.inputValue(), "500");
  // Out of the schema's range: refused in the browser, nothing decided.
  await amount.fill("5000");
  await page.getByTestId("approve").click();
  await page.locator(".decide .error").filter({ hasText: /Amount/ }).waitFor();
  assert.equal((await server.operator("GET", `/v1/requests/${id}`)).status, "PENDING");

  await amount.fill("50");
  await page.getByTestId("diff").filter({ hasText: "500" }).waitFor();
  assert.match(await page.getByTestId("diff").innerText(), /amount/);
  assert.equal(await page.getByTestId("approve").innerText(), "Approve with edits");
  await screenshot(page, "desktop-request-edit");
  await page.getByTestId("approve").click();
  await page.getByTestId("pending-count").waitFor();

  const decision = await waiting;
  assert.equal(decision.status, "APPROVED_WITH_MODIFICATIONS");
  assert.deepEqual(decision.payload, { amount: 50, currency: "EUR", to: "acct_42", note: "late delivery" });
  assert.match(decision.diff.summary, /amount/);
  assert.deepEqual(decision.diff.ops, [{ op: "replace", path: "/amount", value: 50 }]);
  const claims = await hr.verifyProof(decision);
  assert.equal(claims.rid, id);
  assert.equal(claims.dec, "APPROVED_WITH_MODIFICATIONS");

  // The server only ever held ciphertext, of the request and of the edit.
  const stored = JSON.stringify(await server.operator("GET", `/v1/requests/${id}`));
  assert.doesNotMatch(stored, /acct_42/);
  assert.match(stored, /"ct"/);

  // The decided request shows its proof, verified in the page.
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("proof").filter({ hasText: "verified" }).waitFor();
  await screenshot(page, "desktop-request-decided");

  for (const line of sent) assert.ok(!line.includes(secret), `the key went out in ${line.slice(0, 120)}`);
  assert.deepEqual(errors.map(String), []);
  await page.context().close();
});

test("a wrong key with the same name says WRONG KEY, never garbage", async () => {
  const right = generateKey("shared-kid");
  const wrong = generateKey("shared-kid");
  const id = await agent(right).defer({ service: "gmail", action: "send", payload: { to: "ceo@example.com", body: "hi" } });
  const { page } = await signedIn(browser, server);
  await importKey(page, wrong);
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("payload-state").waitFor();
  assert.equal(await page.getByTestId("payload-state").innerText(), "WRONG KEY");
  assert.equal(await page.getByTestId("payload").count(), 0);
  assert.match(await page.getByTestId("payload-explain").innerText(), /does not open/);
  // Editing what cannot be read is not offered.
  assert.equal(await page.getByTestId("edit").isDisabled(), true);
  await screenshot(page, "desktop-request-wrong-key");
  await server.operator("POST", `/v1/requests/${id}/resolve`, { decision: "reject", reason: "cleanup" });
  await page.context().close();
});

test("a rejection with a reason reaches the agent, and a second page's queue follows live", async () => {
  const watcher = await signedIn(browser, server);
  const hr = agent();
  const id = await hr.defer({ service: "github", action: "delete_repo", payload: { repo: "acme/website" }, priority: "critical" });
  const waiting = hr.wait(id, { timeout: 120 });
  // Appears without a reload (server-sent events).
  await watcher.page.locator(`li[data-id="${id}"]`).waitFor();

  const { page } = await signedIn(browser, server);
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("reason").fill("never delete the website");
  await page.getByTestId("reject").click();
  const decision = await waiting;
  assert.equal(decision.status, "REJECTED");
  assert.equal(decision.reason, "never delete the website");
  assert.equal(decision.payload, null);
  // …and leaves the other page's queue the same way.
  await watcher.page.locator(`li[data-id="${id}"]`).waitFor({ state: "detached" });
  await watcher.page.context().close();
  await page.context().close();
});

test("approving with a grant approves the same tool's next call at once, and the grant is revocable", async () => {
  const hr = agent();
  const ask = { service: "crm", action: "update_contact", payload: { contact: "c_1", phone: "+1 555 0100" } };
  const id = await hr.defer(ask);
  const waiting = hr.wait(id, { timeout: 120 });
  const { page } = await signedIn(browser, server);
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("grant").selectOption("900");
  await page.getByTestId("approve").click();
  const first = await waiting;
  assert.equal(first.status, "APPROVED");
  // The next call of the same tool by the same agent: approved without anyone asked.
  const next = await hr.defer({ ...ask, payload: { contact: "c_2", phone: "+1 555 0101" } });
  const second = await hr.wait(next, { timeout: 30 });
  assert.equal(second.status, "APPROVED");
  assert.match(second.reason ?? "", /^approved under grant grt_/);
  const op = { headers: { authorization: `Bearer ${server.operatorToken}` } };
  const { grants } = await (await fetch(`${server.url}/v1/grants`, op)).json();
  assert.equal(grants.length, 1);
  assert.deepEqual([grants[0].service, grants[0].action], ["crm", "update_contact"]);
  const revoked = await fetch(`${server.url}/v1/grants/${grants[0].id}`, { ...op, method: "DELETE" });
  assert.equal(revoked.status, 204);
  const third = await hr.defer({ ...ask, payload: { contact: "c_3", phone: "+1 555 0102" } });
  const view = await (await fetch(`${server.url}/v1/requests/${third}`, op)).json();
  assert.equal(view.status, "PENDING");
  await page.context().close();
});

test("on a phone, one tap approves from the queue", async () => {
  const hr = agent();
  const id = await hr.defer({ service: "calendar", action: "book", payload: { room: "A1", at: "10:00" } });
  const waiting = hr.wait(id, { timeout: 120 });
  const { page } = await signedIn(browser, server, PHONE);
  await page.locator(`li[data-id="${id}"]`).waitFor();
  await screenshot(page, "phone-queue");
  await page.locator(`li[data-id="${id}"] button.approve`).tap();
  const decision = await waiting;
  assert.equal(decision.status, "APPROVED");
  assert.deepEqual(decision.payload, { room: "A1", at: "10:00" });
  await page.context().close();
});

test("the execution graph renders a profile learned from recorded sessions, with the held call's path", async () => {
  const now = Math.floor(Date.now() / 1000);
  const events = [];
  for (let s = 0; s < 12; s++) {
    const tools = s % 3 === 0 ? ["search_orders", "read_order", "refund"] : ["search_orders", "read_order", "send_email"];
    tools.forEach((tool, i) =>
      events.push({ id: `e-${s}-${i}`, session: `s-${s}`, tool, args: { order: `o_${s}` }, outcome: "ran", at: now - 100 + i, effect: tool === "refund" ? "write" : tool === "send_email" ? "egress" : "read" }),
    );
  }
  await server.agent("POST", "/v1/observations", { agent: "billing", events });
  const hr = agent();
  const id = await hr.defer({
    service: "billing",
    action: "refund",
    payload: { order: "o_999", amount: 900 },
    context: { firewall: { action: "review", score: 0.93, reasons: [{ code: "value_unseen", text: "order o_999 appears nowhere in the task" }] } },
  });

  const { page } = await signedIn(browser, server);
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.locator(".firewall .reasons li").filter({ hasText: "value_unseen" }).waitFor();
  await page.locator(".firewall a").click();
  await page.getByTestId("graph").waitFor();
  const tools = await page.locator("svg g.node").evaluateAll((gs) => gs.map((g) => g.getAttribute("data-tool")).sort());
  assert.deepEqual(tools, ["^", "read_order", "refund", "search_orders", "send_email"]);
  assert.equal(await page.locator('svg g.node.hot[data-tool="refund"]').count(), 1);
  // start → search_orders → read_order → refund: three highlighted transitions.
  assert.equal(await page.locator("svg path.edge.hot").count(), 3);
  await screenshot(page, "desktop-agent-graph");
  // Live: a new session with a new tool shows up in the open page, without a reload.
  await server.agent("POST", "/v1/observations", {
    agent: "billing",
    events: ["search_orders", "export_csv"].map((tool, i) => ({ id: `live-${i}`, session: "s-live", tool, args: { order: "o_1" }, outcome: "ran", at: now - 10 + i, effect: "read" })),
  });
  await page.locator('svg g.node[data-tool="export_csv"]').waitFor({ timeout: 20_000 });

  page.once("dialog", (d) => d.accept());
  await page.getByTestId("toggle-mode").click();
  await page.getByTestId("mode").filter({ hasText: "enforce" }).waitFor();
  assert.equal((await server.operator("GET", "/v1/agents/billing")).mode, "enforce");

  await page.goto(`${server.url}/#/agents`);
  await page.locator("ul.agents li").filter({ hasText: "billing" }).waitFor();
  await screenshot(page, "desktop-agents");
  await server.operator("POST", `/v1/requests/${id}/resolve`, { decision: "reject", reason: "cleanup" });
  await page.context().close();
});

test("the audit page verifies the hash chain in the browser", async () => {
  const { page } = await signedIn(browser, server);
  await page.goto(`${server.url}/#/audit`);
  const verdict = page.getByTestId("audit-verdict");
  await verdict.filter({ hasText: /verified|NOT/ }).waitFor();
  const text = await verdict.innerText();
  assert.match(text, /Chain verified in this browser: \d+ entries/);
  const count = Number(/(\d+) entries/.exec(text)[1]);
  assert.ok(count >= 5, `the tests above made audited decisions (${count})`);
  assert.ok((await page.locator("table.audit tr").count()) > count - 1);
  await screenshot(page, "desktop-audit");
  await page.context().close();
});

test("payloads sealed by Python and by Node open in the page with the wasm module and with crypto.subtle", async () => {
  const key = generateKey("interop");
  const id = "req_interopAAAAAAAAAAAA";
  const plain = JSON.stringify({ to: "acct_ü", amount: 12.5, emoji: "🔐" });
  const envelopes = {
    node: sealEnvelope(key, id, "payload", Buffer.from(plain)),
    nodeWrapped: sealEnvelope(key, id, "payload", Buffer.from(plain), { wrap: true }),
  };
  const fromPython = JSON.parse(
    py(
      `
import json, os, sys
from handrail import _core
kid, secret = os.environ["KEY"].split(".")[1:]
ring = _core.Keyring([(kid, secret)])
plain = os.environ["PLAIN"].encode()
print(json.dumps({
  "python": ring.seal(kid, os.environ["RID"], "payload", plain).decode("ascii"),
  "pythonWrapped": ring.seal(kid, os.environ["RID"], "payload", plain, iv=os.urandom(12), data_key=os.urandom(32)).decode("ascii"),
}))`,
      { KEY: key, PLAIN: plain, RID: id },
    ),
  );
  Object.assign(envelopes, fromPython);
  assert.ok(JSON.parse(envelopes.pythonWrapped).ek, "the Python wrapped envelope carries a wrapped data key");

  const { page } = await signedIn(browser, server);
  const results = await page.evaluate(
    async ({ envelopes, key, id }) => {
      const m = await import("/wasm/handrail_wasm.js");
      await m.default({ module_or_path: "/wasm/handrail_wasm_bg.wasm" });
      const jwk = JSON.parse(m.keyToJwk(key));
      const out = {};
      for (const [name, env] of Object.entries(envelopes)) {
        const viaWasm = new TextDecoder().decode(m.openEnvelope(env, [key], id, "payload"));
        const p = m.envelopeParts(env, id, "payload");
        let aes;
        if (p.ek) {
          const kek = await crypto.subtle.importKey("jwk", { kty: "oct", k: jwk.k }, "AES-KW", false, ["unwrapKey"]);
          aes = await crypto.subtle.unwrapKey("raw", p.ek, kek, "AES-KW", "AES-GCM", false, ["decrypt"]);
        } else {
          aes = await crypto.subtle.importKey("jwk", { kty: "oct", k: jwk.k }, "AES-GCM", false, ["decrypt"]);
        }
        const viaSubtle = new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: p.iv, additionalData: p.aad }, aes, p.ct));
        // Bound to the request: another id fails in both.
        let wasmOther = "opened";
        try {
          m.openEnvelope(env, [key], "req_otherAAAAAAAAAAAAAA", "payload");
        } catch (e) {
          wasmOther = e.code;
        }
        const q = m.envelopeParts(env, "req_otherAAAAAAAAAAAAAA", "payload");
        const subtleOther = await crypto.subtle.decrypt({ name: "AES-GCM", iv: q.iv, additionalData: q.aad }, aes, q.ct).then(
          () => "opened",
          (e) => e.name,
        );
        out[name] = { viaWasm, viaSubtle, wrapped: !!p.ek, wasmOther, subtleOther };
      }
      return out;
    },
    { envelopes, key, id },
  );
  for (const name of ["node", "nodeWrapped", "python", "pythonWrapped"]) {
    const r = results[name];
    assert.equal(r.viaWasm, plain, `${name} via wasm`);
    assert.equal(r.viaSubtle, plain, `${name} via crypto.subtle`);
    assert.equal(r.wrapped, name.endsWith("Wrapped"), `${name} wrapped`);
    assert.equal(r.wasmOther, "decrypt_failed", `${name} under another request id (wasm)`);
    assert.equal(r.subtleOther, "OperationError", `${name} under another request id (subtle)`);
  }
  await page.context().close();
});

test("a Python agent's encrypted request and parked states open in the page: small with WebAssembly, 1 MB with WebCrypto", async () => {
  const key = generateKey("py-agent");
  const big = { rows: Array.from({ length: 9000 }, (_, i) => ({ i, text: `row ${i} `.padEnd(100, "x") })) };
  const id = py(
    `
import json, os
import handrail
client = handrail.Client(base_url=os.environ["URL"], api_key=os.environ["AGENT"], encryption_key=os.environ["KEY"])
print(client.defer("crm", "update_contact", {"email": "ana@example.com", "plan": "pro"}, state_snapshot={"step": 3, "draft": "hello"}))`,
    { URL: server.url, AGENT: server.agentKey, KEY: key },
  );
  const bigId = await agent(key).defer({ service: "warehouse", action: "export", payload: { table: "orders" }, stateSnapshot: big });
  assert.ok(JSON.stringify(big).length > 900_000);

  const { page } = await signedIn(browser, server);
  await importKey(page, key);
  await page.goto(`${server.url}/#/requests/${id}`);
  await page.getByTestId("payload-state").waitFor();
  assert.equal(await page.getByTestId("payload-state").innerText(), "DECRYPTED");
  assert.match(await page.getByTestId("payload").innerText(), /ana@example.com/);
  await page.getByTestId("open-snapshot").click();
  await page.getByTestId("snapshot-timing").waitFor();
  assert.match(await page.getByTestId("snapshot-timing").innerText(), /WebAssembly/);
  assert.match(await page.getByTestId("snapshot").innerText(), /"draft": "hello"/);

  await page.goto(`${server.url}/#/requests/${bigId}`);
  await page.getByTestId("open-snapshot").click();
  await page.getByTestId("snapshot-timing").waitFor();
  const timing = await page.getByTestId("snapshot-timing").innerText();
  assert.match(timing, /WebCrypto/);
  // All of it was opened (and parsed); the page prints the first 200 KB.
  assert.ok(Number(/([\d.]+) KiB/.exec(timing)[1]) > 900, timing);
  assert.match(await page.getByTestId("snapshot").innerText(), /"i": 1000,[\s\S]*more characters\)$/);
  await screenshot(page, "desktop-request-snapshot");
  for (const r of [id, bigId]) await server.operator("POST", `/v1/requests/${r}/resolve`, { decision: "reject", reason: "cleanup" });
  await page.context().close();
});

test("screenshots of every page at phone size", async () => {
  const id = await agent().defer({ service: "stripe", action: "payout", payload: { amount: 120, to: "acct_7" }, priority: "medium", schema: { type: "object", properties: { amount: { type: "number" }, to: { type: "string" } } } });
  const { page, errors } = await signedIn(browser, server, PHONE);
  for (const [name, hash, ready] of [
    ["phone-request", `#/requests/${id}`, '[data-testid="approve"]'],
    ["phone-agents", "#/agents", "ul.agents"],
    ["phone-agent-graph", "#/agents/billing", '[data-testid="graph"]'],
    ["phone-audit", "#/audit", '[data-testid="audit-verdict"].ok'],
    ["phone-settings", "#/settings", '[data-testid="enc-keys"] h2'],
  ]) {
    await page.goto(`${server.url}/${hash}`);
    await page.locator(ready).first().waitFor();
    await screenshot(page, name);
  }
  // The decision buttons are big enough to tap (at least 44 px high).
  await page.goto(`${server.url}/#/requests/${id}`);
  const box = await page.getByTestId("approve").boundingBox();
  assert.ok(box.height >= 44, `approve is ${box.height} px high`);
  // Installable: a manifest with PNG icons, and a service worker that controls the page.
  const manifest = await (await fetch(server.url + "/manifest.webmanifest")).json();
  assert.ok(manifest.icons.some((i) => i.sizes === "512x512" && i.type === "image/png"));
  const png = await fetch(server.url + "/icon-512.png");
  assert.equal(png.headers.get("content-type"), "image/png");
  assert.ok(await page.evaluate(async () => !!(await navigator.serviceWorker.ready).active));
  assert.deepEqual(errors.map(String), []);
  await server.operator("POST", `/v1/requests/${id}/resolve`, { decision: "reject", reason: "cleanup" });
  await page.context().close();
});

test("one tap approves only a payload that is all on screen: a padded one opens the request instead", async () => {
  const hr = agent();
  // The agent chooses the key order: 200 characters of padding push the recipient past the
  // queue's 160-byte preview.
  const padded = await hr.defer({ service: "bank", action: "transfer", payload: { note: "x".repeat(200), to: "acct_attacker", amount: 10 } });
  const short = await hr.defer({ service: "bank", action: "transfer", payload: { to: "acct_1", amount: 10 } });
  const waiting = hr.wait(short, { timeout: 120 });
  const { page, errors } = await signedIn(browser, server);

  const row = page.locator(`li[data-id="${padded}"]`);
  await row.waitFor();
  assert.doesNotMatch(await row.innerText(), /acct_attacker/, "the cut hides the recipient");
  assert.equal(await row.locator("button.approve").getAttribute("data-one-tap"), "false");
  await screenshot(page, "desktop-queue-padded");
  await row.locator("button.approve").click();
  await page.getByTestId("payload").waitFor();
  assert.equal(new URL(page.url()).hash, `#/requests/${padded}`);
  assert.match(await page.getByTestId("payload").innerText(), /acct_attacker/, "the request page shows all of it");
  assert.equal((await server.operator("GET", `/v1/requests/${padded}`)).status, "PENDING");
  assert.equal(await page.getByTestId("status").innerText(), "PENDING");

  // A payload the row shows whole (wrapped, not cut) is approved in one tap.
  await page.goto(`${server.url}/#/`);
  const whole = page.locator(`li[data-id="${short}"]`);
  await whole.waitFor();
  assert.equal(await whole.locator("button.approve").getAttribute("data-one-tap"), "true");
  const peek = whole.getByTestId("peek");
  assert.equal(JSON.parse(await peek.innerText()).to, "acct_1");
  assert.ok(await peek.evaluate((e) => e.scrollWidth <= e.clientWidth && getComputedStyle(e).whiteSpace === "pre-wrap"));
  await whole.locator("button.approve").click();
  assert.equal((await waiting).status, "APPROVED");
  assert.equal((await server.operator("GET", `/v1/requests/${padded}`)).status, "PENDING");

  await server.operator("POST", `/v1/requests/${padded}/resolve`, { decision: "reject", reason: "cleanup" });
  assert.deepEqual(errors.map(String), []);
  await page.context().close();
});

test("an encrypted payload this browser cannot open cannot be approved, by button or by key; it can be rejected", async () => {
  const key = generateKey("not-here");
  const id = await agent(key).defer({ service: "stripe", action: "payout", payload: { to: "acct_9", amount: 5 } });
  const { page, errors } = await signedIn(browser, server);
  const row = page.locator(`li[data-id="${id}"]`);
  await row.waitFor();
  assert.equal(await row.locator("button.approve").getAttribute("data-one-tap"), "false");
  await row.locator("button.approve").click();
  await page.getByTestId("payload-state").waitFor();
  assert.equal(await page.getByTestId("payload-state").innerText(), "KEY MISSING");
  const approve = page.getByTestId("approve");
  assert.equal(await approve.isDisabled(), true);
  assert.match(await page.getByTestId("approve-blocked").innerText(), /cannot open the payload/);
  await screenshot(page, "desktop-request-approve-blocked");
  // The shortcuts do nothing, and neither does a click on a button re-enabled behind the page's back.
  await page.keyboard.press("a");
  await page.keyboard.press("e");
  await approve.evaluate((b) => {
    b.disabled = false;
    b.click();
  });
  await page.waitForTimeout(500);
  assert.equal((await server.operator("GET", `/v1/requests/${id}`)).status, "PENDING");
  assert.equal(new URL(page.url()).hash, `#/requests/${id}`);
  assert.equal(await page.locator(".edit-area *").count(), 0, "no editor for what cannot be read");

  await page.getByTestId("reason").fill("cannot read it");
  await page.getByTestId("reject").click();
  await page.getByTestId("pending-count").waitFor();
  assert.equal((await server.operator("GET", `/v1/requests/${id}`)).status, "REJECTED");
  assert.deepEqual(errors.map(String), []);
  await page.context().close();
});

test("a bidi override in a payload value is shown escaped, in the queue and on the request page", async () => {
  const hr = agent();
  const id = await hr.defer({ service: "bank", action: "transfer", payload: { to: "acct_\u202E1337", amount: 5 } });
  const { page, errors } = await signedIn(browser, server);
  const peek = page.locator(`li[data-id="${id}"]`).getByTestId("peek");
  await peek.waitFor();
  const row = await peek.innerText();
  assert.match(row, /acct_<U\+202E>1337/);
  assert.ok(!row.includes("\u202E"), "the override itself is not in the page");
  await page.locator(`li[data-id="${id}"] a.item-main`).click();
  await page.getByTestId("payload").waitFor();
  const shown = await page.getByTestId("payload").innerText();
  assert.match(shown, /"to": "acct_<U\+202E>1337"/);
  assert.ok(!shown.includes("\u202E"));
  // The edit's diff shows it escaped too.
  await page.getByTestId("edit").click();
  // The editor holds the raw text (editing must not change it), with the revealed form under it.
  assert.match(await page.locator(".edit-area").getByTestId("reveal").innerText(), /acct_<U\+202E>1337/);
  await page.locator(".edit-area textarea").fill(JSON.stringify({ to: "acct_\u2066x", amount: 5 }));
  await page.getByTestId("diff").filter({ hasText: "U+2066" }).waitFor();
  assert.ok(!(await page.getByTestId("diff").innerText()).includes("\u2066"));
  await screenshot(page, "desktop-request-bidi");
  // And the create of a name that holds one is refused by the server (the core's rule).
  const res = await fetch(server.url + "/v1/requests", {
    method: "POST",
    headers: { authorization: `Bearer ${server.agentKey}`, "content-type": "application/json" },
    body: JSON.stringify({ service: "ba\u202Enk", action: "transfer", payload: {} }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.code, "invisible_character");
  await server.operator("POST", `/v1/requests/${id}/resolve`, { decision: "reject", reason: "cleanup" });
  assert.deepEqual(errors.map(String), []);
  await page.context().close();
});

test("a #token= link signs in only after the person confirms, and says when another session is active", async () => {
  const context = await browser.newContext(DESKTOP);
  const page = await context.newPage();
  const stored = () => page.evaluate(() => localStorage.getItem("handrail.sessions"));
  const me = await server.operator("GET", "/v1/keys/me");

  await page.goto(`${server.url}/#token=${server.operatorToken}`);
  await page.getByTestId("link-signin").waitFor();
  assert.equal(new URL(page.url()).hash, "#/", "the token left the address bar at once");
  assert.equal(await stored(), null, "nothing is kept before the person confirms");
  assert.equal(await page.getByTestId("link-key").innerText(), me.key_id);
  assert.ok((await page.getByTestId("link-project").innerText()).length > 0);
  assert.equal(await page.getByTestId("link-current").count(), 0);
  await screenshot(page, "desktop-link-confirm");
  await page.getByTestId("link-cancel").click();
  await page.getByTestId("token").waitFor();
  assert.equal(await stored(), null, "cancelled: still signed out");

  await page.goto("about:blank");
  await page.goto(`${server.url}/#token=${server.operatorToken}`);
  await page.getByTestId("link-confirm").click();
  await page.getByTestId("pending-count").waitFor();
  assert.match(await stored(), new RegExp(server.operatorToken));

  // Signed in, a link with another token (followed inside the open page) says so first.
  const other = await server.operator("POST", "/v1/keys", { role: "operator" });
  await page.evaluate((t) => (location.hash = `#token=${t}`), other.token);
  await page.getByTestId("link-current").waitFor();
  assert.match(await page.getByTestId("link-current").innerText(), /already signed in/);
  assert.equal(new URL(page.url()).hash, "#/");
  assert.doesNotMatch(await stored(), new RegExp(other.token));
  await page.getByTestId("link-cancel").click();
  await page.getByTestId("pending-count").waitFor();
  assert.doesNotMatch(await stored(), new RegExp(other.token));
  assert.match(await stored(), new RegExp(server.operatorToken), "the session in use is kept");
  await context.close();
});
