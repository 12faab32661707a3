// A real `handrail serve` for the adapter tests: the binary named by HANDRAIL_BIN (default
// <repo>/target/debug/handrail), on 127.0.0.1:0 with a temporary data directory, and the
// operator API a person's dashboard uses to decide.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const binary = process.env.HANDRAIL_BIN ?? join(root, "target", "debug", "handrail");

/** Starts a server; `stop()` ends it and removes its data. */
export async function startServer() {
  assert.ok(existsSync(binary), `no server binary at ${binary}: run \`cargo build -p handrail-server\` or set HANDRAIL_BIN`);
  const dir = mkdtempSync(join(tmpdir(), "handrail-node-"));
  const server = spawn(binary, ["serve", "--addr", "127.0.0.1:0", "--data", dir], {
    // Receivers listen on 127.0.0.1, which the default outbound policy (`public`) refuses.
    env: { ...process.env, HANDRAIL_RATE_LIMIT: "100000", HANDRAIL_OUTBOUND_NETWORKS: "private" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: server.stdout });
  const url = await new Promise((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`handrail serve exited with ${code}`)));
    lines.on("line", (line) => {
      if (line.startsWith("listening on ")) resolve(line.slice("listening on ".length).trim());
    });
  });
  const boot = JSON.parse(readFileSync(join(dir, "bootstrap.json"), "utf8"));

  async function operator(method, path, body) {
    const r = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${boot.operator_token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text);
  }
  const pending = async () => (await operator("GET", "/v1/requests?status=PENDING")).requests;
  const resolve = (id, body) => operator("POST", `/v1/requests/${id}/resolve`, body);

  return {
    url,
    agentKey: boot.agent_key,
    operator,
    pending,
    resolve,
    /** All requests the server holds, any status. */
    all: async () => (await operator("GET", "/v1/requests")).requests,
    /** Decides the next pending request as soon as it appears; returns that request row. */
    async resolveWhenPending(body) {
      for (;;) {
        const rows = await pending();
        if (rows.length > 0) {
          await resolve(rows[0].id, body);
          return rows[0];
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    /** Rejects whatever an earlier test left pending (the next resolver would decide it). */
    async drain() {
      for (const row of await pending()) await resolve(row.id, { decision: "reject", reason: "cleanup" });
    },
    stop() {
      server.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
