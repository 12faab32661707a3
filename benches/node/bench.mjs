// Handrail's Node package against what a Node user would otherwise pick, side by side.
//
// Not part of `make test`. Run with the release addon (scripts/test-node.sh builds it):
//
//   scripts/test-node.sh                      # or: (cd bindings-node && npm ci && npm run build)
//   node benches/node/bench.mjs               # BENCH_BATCHES=31 for a quicker run
//   BENCH_ONLY=firewall node benches/node/bench.mjs   # one group: key, webhook, envelope, firewall
//
// The alternatives (npm `canonicalize`, `standardwebhooks`) are devDependencies of
// bindings-node. Each figure is the median, over many batches, of one batch's
// `process.hrtime.bigint()` time divided by its size; Handrail's and the alternative's
// batches alternate in one process, so both see the same machine state. A ratio above 1
// means Handrail is faster.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";

const require = createRequire(new URL("../../bindings-node/package.json", import.meta.url));
const handrail = require("./dist/index.js");
const canonicalizeModule = require("canonicalize");
const canonicalize = canonicalizeModule.default ?? canonicalizeModule;
const { Webhook: TheirWebhook } = require("standardwebhooks");

const BATCHES = Number(process.env.BENCH_BATCHES ?? 101);
const ROOT = new URL("../../", import.meta.url);

function perCallNs(fn, batch) {
  return () => {
    const t = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) fn();
    return Number(process.hrtime.bigint() - t) / batch;
  };
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};
function sideBySide(ours, theirs, batch) {
  const a = perCallNs(ours, batch);
  const b = perCallNs(theirs, batch);
  for (let i = 0; i < 5; i++) a(), b(); // warm-up (JIT)
  const xs = [];
  const ys = [];
  for (let i = 0; i < BATCHES; i++) {
    xs.push(a());
    ys.push(b());
  }
  return [median(xs), median(ys)];
}
function alone(fn, batch) {
  const run = perCallNs(fn, batch);
  for (let i = 0; i < 5; i++) run();
  return median(Array.from({ length: BATCHES }, run));
}
const fmt = (ns) => (ns < 1e6 ? `${(ns / 1000).toFixed(2)} µs` : `${(ns / 1e6).toFixed(2)} ms`);
const ROWS = [];
function row(name, ours, theirs, target, met) {
  const ratio = theirs == null ? "—" : `${(theirs / ours).toFixed(theirs < ours ? 2 : 1)}×`;
  ROWS.push([name, fmt(ours), theirs == null ? "—" : fmt(theirs), ratio, target, met ? "yes" : "**no**"]);
}

function object1kb() {
  const d = { tool: "send_email", to: "bob@example.com", amount: 1.5, tags: [] };
  for (let i = 0; JSON.stringify(d).length < 1024; i++) {
    d[`field_${String(i).padStart(2, "0")}`] = { text: "lorem ipsum dolor", n: i * 37, ok: i % 2 === 0 };
  }
  return d;
}

function benchIdempotency() {
  const d = object1kb();
  // Same work on both sides: an object in, a key out. Handrail's key also covers scope and
  // tool (length-prefixed); the alternative hashes the canonical arguments alone.
  const ours = () => handrail.toolCallKey("agent_1", "send_email", d);
  const theirs = () => createHash("sha256").update(canonicalize(d)).digest("base64url");
  const [a, b] = sideBySide(ours, theirs, 500);
  const size = JSON.stringify(d).length;
  row(`idempotency key, ${size} B object (\`toolCallKey\` vs \`canonicalize\` + node:crypto sha256)`, a, b, "≥ 5×", b / a >= 5);
}

function benchWebhook() {
  const secret = `whsec_${randomBytes(24).toString("base64")}`;
  const body = JSON.stringify(object1kb());
  const bodyBytes = Buffer.from(body);
  const now = Math.floor(Date.now() / 1000);
  const hook = new handrail.Webhook([secret]);
  const id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
  const signature = hook.sign(id, now, bodyBytes);
  const theirs = new TheirWebhook(secret);
  const headers = { "webhook-id": id, "webhook-timestamp": String(now), "webhook-signature": signature };
  theirs.verify(body, headers); // the two agree on the signature
  const h = { id, timestamp: String(now), signature };
  const [a, b] = sideBySide(() => hook.verify(h, bodyBytes, { now }), () => theirs.verify(body, headers), 1000);
  row(`webhook verify, ${body.length} B body (\`Webhook.verify\` vs \`standardwebhooks\`)`, a, b, "≥ 5×", b / a >= 5);
  // standardwebhooks also JSON.parses the body; the same work on Handrail's side:
  const [c, d] = sideBySide(
    () => (hook.verify(h, bodyBytes, { now }), JSON.parse(body)),
    () => theirs.verify(body, headers),
    1000,
  );
  row("webhook verify + `JSON.parse` of the body (same output as `standardwebhooks`)", c, d, "≥ 5×", d / c >= 5);
}

function benchEnvelope(size, batch, target) {
  const raw = randomBytes(32);
  const key = `hrk1.k1.${raw.toString("base64url")}`;
  const data = randomBytes(size);
  const aad = Buffer.from("k1\0req_1\0payload");
  const ours = () => handrail.openEnvelope(handrail.sealEnvelope(key, "req_1", "payload", data), [key], "req_1", "payload");
  const theirs = () => {
    const iv = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", raw, iv).setAAD(aad);
    const ct = Buffer.concat([c.update(data), c.final()]);
    const tag = c.getAuthTag();
    const dcp = createDecipheriv("aes-256-gcm", raw, iv).setAAD(aad);
    dcp.setAuthTag(tag);
    return Buffer.concat([dcp.update(ct), dcp.final()]);
  };
  const [a, b] = sideBySide(ours, theirs, batch);
  const label = size < 1 << 20 ? `${size >> 10} KB` : `${size >> 20} MB`;
  row(`envelope seal + open, ${label} (\`sealEnvelope\`/\`openEnvelope\` vs node:crypto AES-256-GCM, raw bytes)`, a, b, `≥ ${target}×`, b / a >= target);
}

function benchFirewall() {
  const doc = JSON.parse(readFileSync(new URL("tests/vectors/firewall.json", ROOT), "utf8"));
  const policy = { effects: Object.fromEntries(Object.entries(doc.tools).map(([t, s]) => [t, s.effect])) };
  const fw = new handrail.Firewall({ policy, mode: "enforce" });
  const now = doc.now;
  // Train on the vectors' sessions, many times over under fresh ids: a profile with history.
  for (let rep = 0; rep < 50; rep++) {
    for (const s of doc.train) {
      const session = fw.begin({ sessionId: `${s.session}-${rep}`, context: s.context });
      for (const c of s.calls) {
        const call = { tool: c.tool, args: c.args, outcome: "trusted", now };
        if (c.output !== undefined) call.output = c.output;
        if (c.effect !== undefined) call.effect = c.effect;
        fw.record(session, call);
      }
    }
  }
  const c = doc.train[0].calls[0];
  const session = fw.begin({ sessionId: "bench", context: doc.train[0].context });
  const a = alone(() => fw.check(session, { tool: c.tool, args: c.args, now }), 5000);
  row(`firewall verdict per call (\`Firewall.check\`, ${c.tool}, trained on \`firewall.json\` ×50)`, a, null, "≤ 3 µs", a <= 3000);
}

// BENCH_ONLY=firewall (or key, webhook, envelope) runs one group: several short processes
// show how much a figure moves with the machine, which one long run hides.
const only = process.env.BENCH_ONLY;
const run = (name, fn) => (only === undefined || only === name) && fn();
run("key", benchIdempotency);
run("webhook", benchWebhook);
run("envelope", () => {
  benchEnvelope(1024, 2000, 1);
  benchEnvelope(1 << 20, 5, 0.5);
});
run("firewall", benchFirewall);
const cpus = os.cpus();
console.log(`Node ${process.version}, ${cpus.length}× ${cpus[0]?.model ?? "?"}, loadavg ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}, ${BATCHES} batches, medians`);
console.log();
console.log("| Benchmark | Handrail | Alternative | Ratio | Target | Met |");
console.log("|---|---|---|---|---|---|");
for (const r of ROWS) console.log(`| ${r.join(" | ")} |`);
