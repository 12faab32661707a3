// The dashboard's two speed targets, in Debian's Chromium (playwright-core) against a real
// `handrail serve` on loopback:
//
//  1. first meaningful paint of the queue with 1,000 pending requests (target < 300 ms):
//     from navigation start to the frame that shows the sorted list (the page's own
//     `handrail:queue-painted` mark: the first screenful, the rest follows in slices),
//     each run in a fresh browser context (empty cache), signed in beforehand; when the API
//     answer arrived, when all 1,000 rows were in the page, and Chromium's
//     first-contentful-paint are reported beside it;
//  2. opening a 1 MB enveloped snapshot in the page (target < 50 ms): decrypt + JSON.parse,
//     with the browser package (wasm, the core's own code) and with WebCrypto on the parts
//     the package extracts (the dashboard's path for large envelopes), alternating, medians.
//
//   scripts/build-dashboard.sh && cargo build --release -p handrail-server
//   node benches/dashboard/bench.mjs            # HANDRAIL_BIN, RUNS (default 21)
import { createRequire } from "node:module";
import { existsSync } from "node:fs";
import { join } from "node:path";

const harness = await import("../../server/dashboard/tests/harness.mjs");
const { root, launch, startServer } = harness;
if (!process.env.HANDRAIL_BIN) {
  const release = join(root, "target", "release", "handrail");
  if (existsSync(release)) process.env.HANDRAIL_BIN = release;
}
const require = createRequire(import.meta.url);
const { generateKey, sealEnvelope } = require(join(root, "bindings-node", "dist", "index.js"));
const RUNS = Number(process.env.RUNS ?? 21);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

const server = await startServer();
const browser = await launch();
try {
  // ---- 1. the queue with 1,000 pending -----------------------------------------------
  const priorities = ["low", "medium", "high", "critical"];
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) =>
        server.agent("POST", "/v1/requests", {
          service: `svc${(i + j) % 7}`,
          action: "refund",
          payload: { amount: i + j, to: `acct_${i + j}`, note: "x".repeat(200) },
          priority: priorities[(i + j) % 4],
        }),
      ),
    );
  }
  const me = await server.operator("GET", "/v1/keys/me");
  const session = JSON.stringify([{ token: server.operatorToken, project: me.project, projectName: "bench" }]);
  const paint = [];
  const fcp = [];
  const all = [];
  const data = [];
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await context.addInitScript(
      ([s, p]) => {
        localStorage.setItem("handrail.sessions", s);
        localStorage.setItem("handrail.active", p);
      },
      [session, me.project],
    );
    const page = await context.newPage();
    await page.goto(server.url + "/");
    const t = await page.evaluate(
      () =>
        new Promise((resolve) => {
          const read = () => {
            const m = performance.getEntriesByName("handrail:queue-painted")[0];
            const rows = document.querySelectorAll("li.item").length;
            if (!m || rows < 1000) return setTimeout(read, 5);
            const f = performance.getEntriesByType("paint").find((e) => e.name === "first-contentful-paint");
            const list = performance.getEntriesByType("resource").find((r) => r.name.includes("/v1/requests"));
            resolve({ painted: m.startTime, all: performance.now(), fcp: f ? f.startTime : NaN, data: list ? list.responseEnd : NaN, rows });
          };
          read();
        }),
    );
    if (t.rows !== 1000) throw new Error(`the queue showed ${t.rows} rows`);
    paint.push(t.painted);
    fcp.push(t.fcp);
    all.push(t.all);
    data.push(t.data);
    await context.close();
  }

  // ---- 2. a 1 MB snapshot -------------------------------------------------------------
  const key = generateKey("bench");
  const id = "req_benchAAAAAAAAAAAAAAA";
  const state = { rows: Array.from({ length: 9400 }, (_, i) => ({ i, text: `row ${i} `.padEnd(96, "x") })) };
  const plain = JSON.stringify(state);
  const envelope = sealEnvelope(key, id, "state", Buffer.from(plain));
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.url + "/");
  const snap = await page.evaluate(
    async ({ envelope, key, id, runs }) => {
      const m = await import("/wasm/handrail_wasm.js");
      await m.default({ module_or_path: "/wasm/handrail_wasm_bg.wasm" });
      const jwk = JSON.parse(m.keyToJwk(key));
      const wasm = [];
      const subtle = [];
      for (let r = 0; r < runs; r++) {
        let t = performance.now();
        const a = JSON.parse(new TextDecoder().decode(m.openEnvelope(envelope, [key], id, "state")));
        wasm.push(performance.now() - t);
        t = performance.now();
        const p = m.envelopeParts(envelope, id, "state");
        const k = await crypto.subtle.importKey("jwk", { kty: "oct", k: jwk.k }, "AES-GCM", false, ["decrypt"]);
        const b = JSON.parse(new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv: p.iv, additionalData: p.aad }, k, p.ct)));
        subtle.push(performance.now() - t);
        if (a.rows.length !== b.rows.length) throw new Error("the two paths disagree");
      }
      return { wasm, subtle };
    },
    { envelope, key, id, runs: RUNS },
  );
  await context.close();

  const f = (x) => `${x.toFixed(1)} ms`;
  console.log(`Chromium ${browser.version()}, ${RUNS} runs, server ${process.env.HANDRAIL_BIN ?? "target/debug/handrail"}`);
  console.log(
    `queue, 1,000 pending: sorted queue on screen median ${f(median(paint))} (p90 ${f(pct(paint, 0.9))}); ` +
      `its data (the API answer) received at ${f(median(data))}; all 1,000 rows in the page at ${f(median(all))}; ` +
      `first-contentful-paint ${f(median(fcp))}; target < 300 ms`,
  );
  console.log(
    `1 MB snapshot (${(envelope.length / 1048576).toFixed(2)} MiB envelope, ${(plain.length / 1048576).toFixed(2)} MiB JSON) decrypt+parse: ` +
      `wasm median ${f(median(snap.wasm))}, WebCrypto median ${f(median(snap.subtle))}, ratio wasm/WebCrypto ${(median(snap.wasm) / median(snap.subtle)).toFixed(2)}; target < 50 ms`,
  );
} finally {
  await browser.close();
  server.stop();
}
