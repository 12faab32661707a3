// The TypeScript client against a real `handrail serve`: the binary named by HANDRAIL_BIN
// (default <repo>/target/debug/handrail; scripts/test-node.sh builds it), on 127.0.0.1:0
// with a temporary data directory. Decisions are made through the operator API, as the
// dashboard makes them.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { after, before, beforeEach, test } from "node:test";
import { fileURLToPath } from "node:url";

import {
  AuthError,
  DecryptionFailedError,
  ExpiredError,
  generateKey,
  Handrail,
  HandrailError,
  WaitTimeoutError,
  once,
  tool,
} from "handrail";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.HANDRAIL_BIN ?? join(root, "target", "debug", "handrail");

let server;
let dir;
let url;
let agentKey;
let operatorToken;

before(async () => {
  assert.ok(existsSync(binary), `no server binary at ${binary}: run \`cargo build -p handrail-server\` or set HANDRAIL_BIN`);
  dir = mkdtempSync(join(tmpdir(), "handrail-node-"));
  server = spawn(binary, ["serve", "--addr", "127.0.0.1:0", "--data", dir], {
    env: { ...process.env, HANDRAIL_RATE_LIMIT: "100000", HANDRAIL_OUTBOUND_NETWORKS: "private" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: server.stdout });
  url = await new Promise((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`handrail serve exited with ${code}`)));
    lines.on("line", (line) => {
      if (line.startsWith("listening on ")) resolve(line.slice("listening on ".length).trim());
    });
  });
  const boot = JSON.parse(readFileSync(join(dir, "bootstrap.json"), "utf8"));
  agentKey = boot.agent_key;
  operatorToken = boot.operator_token;
});

after(() => {
  server?.kill("SIGTERM");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function operator(method, path, body) {
  const r = await fetch(url + path, {
    method,
    headers: { authorization: `Bearer ${operatorToken}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text);
}

const resolve = (id, body) => operator("POST", `/v1/requests/${id}/resolve`, body);

/** Decides the next pending request as soon as it appears (a person at the dashboard). */
async function resolveWhenPending(body) {
  for (;;) {
    const { requests } = await operator("GET", "/v1/requests?status=PENDING");
    if (requests.length > 0) return resolve(requests[0].id, body);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// No request left pending by an earlier test (the next resolver would decide it).
beforeEach(async () => {
  const { requests } = await operator("GET", "/v1/requests?status=PENDING");
  for (const row of requests) await resolve(row.id, { decision: "reject", reason: "cleanup" });
});

const client = (options = {}) => new Handrail({ baseUrl: url, apiKey: agentKey, ...options });

test("ask → approve: the decision, its proof, its status", async () => {
  const hr = client();
  const [decision] = await Promise.all([
    hr.ask({ service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" }, priority: "high" }),
    resolveWhenPending({ decision: "approve" }),
  ]);
  assert.equal(decision.status, "APPROVED");
  assert.equal(decision.approved, true);
  assert.deepEqual(decision.payload, { amount: 500, to: "acct_1" });
  assert.equal(decision.patchedPayload, null);
  assert.equal(decision.diff, null);
  assert.equal(typeof decision.actor, "string");
  const claims = await hr.verifyProof(decision);
  assert.equal(claims.rid, decision.requestId);
  assert.equal(claims.dec, "APPROVED");
  assert.equal(await hr.status(decision.requestId), "APPROVED");
});

test("the proof binds the project and the issuer", async () => {
  const { project } = await operator("GET", "/v1/keys/me");
  const { issuer } = await operator("GET", "/v1/keys/proof");
  const hr = client();
  const [decision] = await Promise.all([
    hr.ask({ service: "stripe", action: "refund", payload: { amount: 8 } }),
    resolveWhenPending({ decision: "approve" }),
  ]);
  const claims = await hr.verifyProof(decision);
  assert.deepEqual([claims.prj, claims.iss], [project, issuer]);
  assert.equal((await client({ expectProject: project, expectIssuer: issuer }).verifyProof(decision)).jti, claims.jti);
  for (const [options, code] of [[{ expectProject: "prj_other" }, "proof_project"], [{ expectIssuer: "srv_x" }, "proof_issuer"]]) {
    await assert.rejects(client(options).verifyProof(decision), (e) => e instanceof HandrailError && e.code === code);
  }
});

test("the README example", async () => {
  const saved = { url: process.env.HANDRAIL_URL, key: process.env.HANDRAIL_API_KEY };
  process.env.HANDRAIL_URL = url;
  process.env.HANDRAIL_API_KEY = agentKey;
  const resolver = resolveWhenPending({ decision: "approve" });
  const refunds = [];
  try {
    // START README
    const hr = new Handrail(); // reads HANDRAIL_URL, HANDRAIL_API_KEY, HANDRAIL_ENCRYPTION_KEY
    const decision = await hr.ask({ service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" } });
    if (decision.approved) {
      refunds.push(decision.payload); // the edited payload, if a person edited it
    }
    // END README
  } finally {
    process.env.HANDRAIL_URL = saved.url ?? "";
    process.env.HANDRAIL_API_KEY = saved.key ?? "";
  }
  await resolver;
  assert.deepEqual(refunds, [{ amount: 500, to: "acct_1" }]);
});

test("approve with an edit gives the edited payload and the diff", async () => {
  const hr = client();
  const [decision] = await Promise.all([
    hr.ask({ service: "stripe", action: "refund", payload: { amount: 500, to: "acct_1" } }),
    resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } }),
  ]);
  assert.equal(decision.status, "APPROVED_WITH_MODIFICATIONS");
  assert.deepEqual(decision.payload, { amount: 50, to: "acct_1" });
  assert.deepEqual(decision.patchedPayload, { amount: 50, to: "acct_1" });
  assert.equal(decision.diff.summary, "amount: 500 → 50");
  assert.deepEqual(decision.diff.ops, [{ op: "replace", path: "/amount", value: 50 }]);
  const claims = await hr.verifyProof(decision);
  assert.equal(claims.dec, "APPROVED_WITH_MODIFICATIONS");
  assert.equal(typeof claims.pat, "string");
});

test("a rejection is a decision with its reason, not an error", async () => {
  const hr = client();
  const [decision] = await Promise.all([
    hr.ask({ service: "stripe", action: "refund", payload: { amount: 500 } }),
    resolveWhenPending({ decision: "reject", reason: "customer already refunded" }),
  ]);
  assert.equal(decision.status, "REJECTED");
  assert.equal(decision.approved, false);
  assert.equal(decision.payload, null);
  assert.equal(decision.reason, "customer already refunded");
});

test("expiry throws ExpiredError", async () => {
  await assert.rejects(client().ask({ service: "stripe", action: "refund", payload: { amount: 1 }, expiresIn: 1 }), (err) => {
    assert.ok(err instanceof ExpiredError && err instanceof HandrailError && err instanceof Error);
    assert.equal(err.name, "ExpiredError");
    assert.equal(err.code, "expired");
    assert.match(err.data.id, /^req_/);
    return true;
  });
});

test("a wait timeout throws WaitTimeoutError and the request stays open", async () => {
  const hr = client();
  const id = await hr.defer({ service: "stripe", action: "refund", payload: { amount: 2 } });
  await assert.rejects(hr.wait(id, { timeout: 1 }), (err) => {
    assert.ok(err instanceof WaitTimeoutError);
    assert.deepEqual([err.code, err.data.id], ["wait_timeout", id]);
    return true;
  });
  assert.equal(await hr.status(id), "PENDING");
  await resolve(id, { decision: "approve" });
  assert.equal((await hr.wait(id)).status, "APPROVED");
});

test("an encrypted payload is stored only as an envelope and round-trips", async () => {
  const hr = client({ encryptionKey: generateKey("node-test") });
  assert.equal(hr.encrypts, true);
  const id = await hr.defer({ service: "gmail", action: "send_email", payload: { to: "ceo@example.com", body: "secret plan" } });
  const stored = await operator("GET", `/v1/requests/${id}`);
  for (const field of ["v", "alg", "kid", "iv", "ct"]) assert.ok(field in stored.payload, field);
  const listing = JSON.stringify(await operator("GET", "/v1/requests"));
  assert.ok(!listing.includes("secret plan") && !listing.includes("ceo@example.com"));
  await resolve(id, { decision: "approve" });
  const decision = await hr.wait(id);
  assert.deepEqual(decision.payload, { to: "ceo@example.com", body: "secret plan" });
  await hr.verifyProof(decision);
  // Another key cannot read it, and says so instead of returning ciphertext.
  const other = client({ encryptionKey: generateKey("node-test") });
  await assert.rejects(other.wait(id), (err) => err instanceof DecryptionFailedError && err.code === "decrypt_failed");
  await assert.rejects(client().wait(id), (err) => err instanceof DecryptionFailedError && err.code === "no_key");
  // A client that encrypts refuses a plain payload where its envelope belongs.
  const plainId = await client().defer({ service: "s", action: "a", payload: { x: 1 } });
  await resolve(plainId, { decision: "approve" });
  await assert.rejects(hr.wait(plainId), (err) => {
    assert.ok(err instanceof DecryptionFailedError);
    assert.deepEqual([err.code, err.data.field], ["not_encrypted", "payload"]);
    return true;
  });
});

test("a state snapshot is parked sealed and comes back with the decision", async () => {
  const hr = client({ encryptionKey: generateKey("node-test") });
  const state = { step: 3, messages: ["hi", "refund?"] };
  const id = await hr.defer({ service: "stripe", action: "refund", payload: { amount: 3 }, stateSnapshot: state });
  const stored = await operator("GET", `/v1/requests/${id}`);
  assert.ok(stored.snapshot.size > 0);
  await resolve(id, { decision: "approve" });
  const decision = await hr.wait(id);
  assert.deepEqual(decision.state, state);
  // Without a key there is no state to park: never uploaded in the clear.
  await assert.rejects(
    client().defer({ service: "s", action: "a", payload: {}, stateSnapshot: state }),
    (err) => err instanceof HandrailError && err.code === "invalid_key",
  );
});

test("the same scope gives the same request: a re-run does not ask twice", async () => {
  const hr = client({ encryptionKey: generateKey("node-test") });
  const ask = { service: "stripe", action: "refund", payload: { amount: 7, to: "acct_9" }, idempotencyScope: "thread-42" };
  const first = await hr.defer(ask);
  assert.equal(await hr.defer(ask), first);
  assert.notEqual(await hr.defer({ ...ask, idempotencyScope: "thread-43" }), first);
  await resolve(first, { decision: "approve" });
  const decision = await hr.ask(ask);
  assert.equal(decision.requestId, first);
  assert.equal(decision.status, "APPROVED");
  // Exactly once in this process: the effect keyed by the request runs once.
  let runs = 0;
  const effect = () => once(`refund:${decision.requestId}`, async () => ++runs);
  assert.deepEqual(await Promise.all([effect(), effect()]), [1, 1]);
  assert.equal(await effect(), 1);
  assert.equal(runs, 1);
});

test("tool: a person as a tool answers approve, edit and reject with texts a model acts on; a scope asks once", async () => {
  const askHuman = tool({ handrail: client(), service: "billing", priority: "high", scope: "thread-tool" });
  let id;
  const [approved] = await Promise.all([
    askHuman("refund", { amount: 5, to: "acct_1" }, "Refund this customer?"),
    (async () => {
      for (;;) {
        const { requests } = await operator("GET", "/v1/requests?status=PENDING");
        if (requests.length > 0) return resolve((id = requests[0].id), { decision: "approve" });
        await new Promise((r) => setTimeout(r, 20));
      }
    })(),
  ]);
  assert.equal(approved, "APPROVED");
  const stored = await operator("GET", `/v1/requests/${id}`);
  assert.equal(stored.service, "billing");
  assert.equal(stored.priority, "high");
  assert.deepEqual(stored.context, { question: "Refund this customer?" });
  // The same question in the same run: the first answer, no second request.
  assert.equal(await askHuman("refund", { amount: 5, to: "acct_1" }, "Refund this customer?"), "APPROVED");

  const [edited] = await Promise.all([
    askHuman("refund", { amount: 500, to: "acct_1" }),
    resolveWhenPending({ decision: "approve", payload: { amount: 50, to: "acct_1" } }),
  ]);
  assert.equal(edited, 'APPROVED WITH EDITS: amount: 500 → 50; use these values: {"amount":50,"to":"acct_1"}');
  const [rejected] = await Promise.all([
    tool({ handrail: client() })("delete_account", { id: "u_1" }),
    resolveWhenPending({ decision: "reject", reason: "not this one" }),
  ]);
  assert.equal(rejected, "REJECTED: not this one");
  await assert.rejects(tool({ handrail: client(), timeout: 0.2 })("wait_forever"), WaitTimeoutError);
});

test("once: a run that throws records nothing", async () => {
  let calls = 0;
  const failing = () =>
    once("once-test-failing", () => {
      calls += 1;
      if (calls === 1) throw new Error("boom");
      return "ok";
    });
  await assert.rejects(failing(), /boom/);
  assert.equal(await failing(), "ok");
  assert.equal(await failing(), "ok");
  assert.equal(calls, 2);
  await assert.rejects(once("", () => 1), { code: "idempotency_key" });
});

test("a bad key throws AuthError with its code", async () => {
  const hr = client({ apiKey: "hr_agent_not-a-key" });
  await assert.rejects(hr.defer({ service: "stripe", action: "refund", payload: { amount: 1 } }), (err) => {
    assert.ok(err instanceof AuthError && err instanceof HandrailError);
    assert.equal(err.code, "unauthorized");
    assert.equal(err.name, "AuthError");
    return true;
  });
});

test("missing settings and bad options throw before the network", () => {
  assert.throws(() => new Handrail({ baseUrl: "http://127.0.0.1:9", apiKey: "" }), (err) => err instanceof HandrailError && err.code === "invalid_key");
  assert.throws(() => new Handrail({ baseUrl: "ftp://x", apiKey: "k" }), { code: "invalid_options" });
  assert.throws(() => new Handrail({ baseUrl: url, apiKey: "k", encryptionKey: "not-a-key" }), { code: "invalid_key" });
  const hr = client();
  return Promise.all([
    assert.rejects(hr.defer({ service: "s", action: "a", payload: {}, priority: "urgent" }), { code: "unknown_variant" }),
    assert.rejects(
      hr.defer({ service: "s", action: "a", payload: { amount: 500 }, schema: { properties: { amount: { maximum: 100 } } } }),
      { name: "InvalidPayloadError", code: "edit_invalid" },
    ),
  ]);
});

test("an AbortSignal aborts a wait; the request stays open", async () => {
  const hr = client();
  const id = await hr.defer({ service: "stripe", action: "refund", payload: { amount: 4 } });
  const controller = new AbortController();
  const waiting = hr.wait(id, { signal: controller.signal });
  controller.abort(new Error("user left"));
  await assert.rejects(waiting, /user left/);
  await assert.rejects(hr.wait(id, { signal: AbortSignal.abort() }), { name: "AbortError" });
  assert.equal(await hr.status(id), "PENDING");
});
