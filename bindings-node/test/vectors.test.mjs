// Replays tests/vectors/{webhook,proof,idempotency,request,guard}.json against the Node package,
// case by case, like core/tests/vectors.rs and bindings-py/tests/test_vectors.py. The
// canonical, envelope and firewall files have their own test files; the last test fails
// when a vector file exists that no Node test replays.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { createRequire } from "node:module";

import {
  applyPatch,
  decisionText,
  diff,
  Execution,
  fingerprint,
  HandrailError,
  idempotencyBegin,
  idempotencyKey,
  proofDigest,
  ProofSigner,
  ProofVerifier,
  requestPriority,
  requestStatus,
  reviewEdit,
  toolCallKey,
  validateEdit,
  verifyLetsping,
  Webhook,
} from "handrail";

const DIR = new URL("../../tests/vectors/", import.meta.url);
function load(module) {
  const doc = JSON.parse(readFileSync(new URL(`${module}.json`, DIR), "utf8"));
  assert.equal(doc.module, module);
  return doc;
}
function section(doc, name) {
  const cases = doc[name];
  assert.ok(Array.isArray(cases) && cases.length > 0, `${doc.module}.json: empty section ${name}`);
  return cases.map((c, i) => [`${name}[${i}]: ${c.name ?? c.input ?? ""}`, c]);
}
/** Runs `call`; when the case names an error, checks that it throws a HandrailError with that code. */
function outcome(c, call) {
  if ("error" in c) {
    assert.throws(call, (err) => {
      assert.ok(err instanceof HandrailError, `expected HandrailError, got ${err}`);
      assert.equal(err.code, c.error, `${c.name}: ${err.message}`);
      return true;
    });
    return undefined;
  }
  return call();
}
const b64url = (text) => Buffer.from(text, "base64url");

describe("vectors: webhook", () => {
  const doc = load("webhook");
  for (const [name, c] of section(doc, "sign")) {
    test(name, () => assert.equal(new Webhook([c.secret]).sign(c.id, c.timestamp, c.body), c.signature));
  }
  for (const [name, c] of section(doc, "verify")) {
    test(name, () => {
      const ts = outcome(c, () => new Webhook(c.secrets).verify(c.headers, c.body, { now: c.now, tolerance: c.tolerance }));
      if (!("error" in c)) assert.equal(ts, Number(c.headers.timestamp));
    });
  }
  for (const [name, c] of section(doc, "letsping")) {
    test(name, () => {
      const ts = outcome(c, () =>
        verifyLetsping(c.secret, c.header, c.body, { nowMs: c.now_ms, toleranceMs: c.tolerance_ms }),
      );
      if (!("error" in c)) assert.equal(typeof ts, "number");
    });
  }
  for (const [name, c] of section(doc, "secrets")) {
    test(name, () => {
      const hook = outcome(c, () => new Webhook([c.secret]));
      if (hook !== undefined) assert.deepEqual(hook.export(), [c.secret], "export round-trips");
    });
  }
});

describe("vectors: proof", () => {
  const doc = load("proof");
  const signer = new ProofSigner(doc.kid, b64url(doc.seed));
  const verifier = new ProofVerifier(doc.jwks);
  test("the signer publishes the JWKS", () => assert.deepEqual({ keys: [signer.publicJwk] }, doc.jwks));
  for (const [name, c] of section(doc, "digests")) {
    test(name, () => {
      assert.equal(proofDigest(c.json), c.digest);
      assert.equal(proofDigest(Buffer.from(c.json)), c.digest);
    });
  }
  for (const [name, c] of section(doc, "sign")) {
    test(name, () => assert.equal(signer.sign(c.claims), c.token));
  }
  for (const [name, c] of section(doc, "verify")) {
    test(name, () => {
      const e = c.expect;
      const expect = {
        requestId: e.request_id,
        requestDigest: e.request_digest,
        decision: e.decision,
        patchedDigest: e.patched_digest,
        project: e.project,
        issuer: e.issuer,
      };
      const claims = outcome(c, () => verifier.verify(c.token, c.now, expect));
      if (claims !== undefined) {
        assert.equal(claims.rid, e.request_id);
        if (e.project) assert.equal(claims.prj, e.project);
        if (e.issuer) assert.equal(claims.iss, e.issuer);
      }
    });
  }
});

describe("vectors: idempotency", () => {
  const doc = load("idempotency");
  for (const [name, c] of section(doc, "keys")) {
    test(name, () => {
      assert.equal(idempotencyKey(c.parts), c.key);
      assert.equal(idempotencyKey(c.parts.map((p) => Buffer.from(p))), c.key);
    });
  }
  for (const [name, c] of section(doc, "tool_calls")) {
    test(name, () => {
      const key = outcome(c, () => toolCallKey(c.scope, c.tool, c.args));
      if (key !== undefined) assert.equal(key, c.key);
    });
  }
  for (const [name, c] of section(doc, "fingerprints")) {
    test(name, () => {
      const fp = outcome(c, () => fingerprint(c.method, c.path, c.body));
      if (fp !== undefined) assert.equal(fp, c.fingerprint);
    });
  }
  // The HTTP status the core prescribes for each refusal (Begin::refusal_status).
  const REFUSAL_STATUS = { conflict: 409, mismatch: 422 };
  for (const [name, scenario] of section(doc, "scenarios")) {
    test(name, () => {
      let current = null;
      for (const step of scenario.steps) {
        const { now } = step;
        if (step.op === "begin") {
          const call = () =>
            idempotencyBegin(current, scenario.key, { method: step.method, path: step.path, body: step.body }, now, scenario.lease);
          if (step.expect === "error") {
            outcome({ name: step.op, error: step.error }, call);
            continue;
          }
          const b = call();
          assert.equal(b.kind, step.expect, JSON.stringify(step));
          if (b.kind === "proceed") {
            assert.equal(b.execution.attempts, step.attempts);
            current = b.execution;
          } else if (b.kind === "replay") {
            assert.deepEqual([b.status, b.body], [step.result.status, step.result.body]);
          } else if (b.kind === "conflict") {
            assert.equal(b.leaseUntil, step.lease_until);
          }
          if ("status" in step) assert.equal(REFUSAL_STATUS[b.kind], step.status);
        } else {
          assert.ok(current, "a stored execution");
          const { result } = step;
          const exec = current;
          const next =
            step.op === "commit"
              ? () => exec.commit(result.status, result.body, now)
              : () => exec.fail(result.status, result.body, step.retryable, now);
          if ("error" in step) {
            outcome({ name: step.op, error: step.error }, next);
          } else {
            current = next();
            assert.equal(current.state, step.op === "commit" ? "committed" : "failed");
            // What a store keeps between requests reads back the same.
            assert.equal(Execution.fromJson(current.toJson()).toJson(), current.toJson());
          }
        }
      }
    });
  }
});

describe("vectors: request", () => {
  const doc = load("request");
  for (const [name, c] of section(doc, "diffs")) {
    test(name, () => {
      const d = diff(c.before, c.after);
      assert.deepEqual(d.ops, c.ops);
      assert.equal(d.summary, c.summary);
      assert.deepEqual(applyPatch(c.before, c.ops), c.after);
      assert.deepEqual(reviewEdit(c.before, c.after), d);
    });
  }
  for (const [name, c] of section(doc, "validation")) {
    test(name, () => {
      outcome(c, () => validateEdit(c.schema, c.payload));
      const d = outcome(c, () => reviewEdit(c.payload, c.payload, c.schema));
      if (d !== undefined) assert.deepEqual(d.ops, []);
    });
  }
  for (const [name, c] of section(doc, "statuses")) {
    test(name, () => {
      const v = outcome(c, () => requestStatus(c.input));
      if (v !== undefined) assert.equal(v, c.value);
    });
  }
  for (const [name, c] of section(doc, "priorities")) {
    test(name, () => {
      const v = outcome(c, () => requestPriority(c.input));
      if (v !== undefined) assert.equal(v, c.value);
    });
  }
});

// The guard's rules are internal to `guard` and `tool`: replayed on the addon itself, and
// the decision texts through the public `decisionText`.
const native = createRequire(import.meta.url)("../native/index.js");
describe("vectors: guard", () => {
  const doc = load("guard");
  const nativeOutcome = (c, call) => {
    if (!("error" in c)) return call();
    assert.throws(call, (err) => err.code === c.error);
    return undefined;
  };
  for (const [name, c] of section(doc, "keys")) {
    test(name, () => {
      const key = nativeOutcome(c, () => native.guardCallKey(c.scope, c.service, c.tool, c.args));
      if (key !== undefined) assert.equal(key, c.key);
    });
  }
  for (const [name, c] of section(doc, "calls")) {
    test(name, () => {
      const plan = native.guardPlan(c.action, c.enforced);
      assert.equal(plan, c.plan);
      const runs = plan === "run" || plan === "shadow" || c.decision === "APPROVED" || c.decision === "APPROVED_WITH_MODIFICATIONS";
      assert.equal(runs, c.runs);
      const outcome = nativeOutcome(c, () => native.guardOutcome(plan, c.decision));
      if (!("error" in c)) assert.equal(outcome, c.outcome);
    });
  }
  for (const [name, c] of section(doc, "contexts")) {
    test(name, () => assert.deepEqual(JSON.parse(native.guardReviewContext(JSON.stringify(c.verdict), c.task)), c.context));
  }
  for (const [name, c] of section(doc, "observations")) {
    test(name, () => {
      const { args, ...rest } = c.input;
      assert.deepEqual(JSON.parse(native.guardObservation({ ...rest, argsJson: JSON.stringify(args) })), c.event);
    });
  }
  for (const [name, c] of section(doc, "texts")) {
    test(name, () => {
      const decision = { status: c.status, reason: c.reason, diff: c.summary === null ? null : { ops: [], summary: c.summary }, payload: c.payload };
      assert.equal(decisionText(decision), c.text);
    });
  }
});

test("every vector file is replayed by a Node test", () => {
  // rfc8785-numbers.json feeds canonical.json through generate.mjs. A new vector file must
  // be replayed, and listed here with the test file that replays it.
  const replayedBy = {
    canonical: "canonical-vectors.test.mjs",
    envelope: "envelope-vectors.test.mjs",
    firewall: "firewall-vectors.test.mjs",
    webhook: "vectors.test.mjs",
    proof: "vectors.test.mjs",
    idempotency: "vectors.test.mjs",
    request: "vectors.test.mjs",
    guard: "vectors.test.mjs",
    errors: "errors.test.mjs",
  };
  const files = readdirSync(DIR)
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .filter((f) => f !== "rfc8785-numbers")
    .sort();
  assert.deepEqual(files, Object.keys(replayedBy).sort());
  for (const [module, file] of Object.entries(replayedBy)) {
    const source = readFileSync(new URL(file, import.meta.url), "utf8");
    assert.ok(
      source.includes(`${module}.json`) || source.includes(`load("${module}")`),
      `${file} does not load ${module}.json`,
    );
  }
});
