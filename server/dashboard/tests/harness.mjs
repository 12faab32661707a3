// The dashboard tests' real components: `handrail serve` (the binary named by HANDRAIL_BIN,
// default <repo>/target/debug/handrail) on 127.0.0.1:0 with a temporary data directory, and
// Debian's Chromium driven by playwright-core (CHROMIUM, default /usr/bin/chromium).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
/** Where screenshots go (kept after the run). */
export const shots = process.env.HANDRAIL_SCREENSHOTS ?? join(root, "target", "dashboard-screenshots");

export const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function startServer(env = {}) {
  const binary = process.env.HANDRAIL_BIN ?? join(root, "target", "debug", "handrail");
  assert.ok(existsSync(binary), `no server binary at ${binary}: run scripts/test-dashboard.sh`);
  const dir = mkdtempSync(join(tmpdir(), "handrail-dash-"));
  const child = spawn(binary, ["serve", "--addr", "127.0.0.1:0", "--data", dir], {
    // HANDRAIL_OUTBOUND_NETWORKS: receivers listen on 127.0.0.1, which `public` (the default) refuses.
    env: {
      ...process.env,
      HANDRAIL_RATE_LIMIT: "100000",
      HANDRAIL_WEBHOOK_RETRY_MS: "50",
      HANDRAIL_OUTBOUND_NETWORKS: "private",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`handrail serve exited with ${code}`)));
    lines.on("line", (line) => line.startsWith("listening on ") && resolve(line.slice(13).trim()));
  });
  const boot = JSON.parse(readFileSync(join(dir, "bootstrap.json"), "utf8"));
  const call = async (token, method, path, body) => {
    const r = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
  return {
    url,
    agentKey: boot.agent_key,
    operatorToken: boot.operator_token,
    operator: (method, path, body) => call(boot.operator_token, method, path, body),
    agent: (method, path, body) => call(boot.agent_key, method, path, body),
    stop() {
      child.kill("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function launch() {
  const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
  assert.ok(existsSync(executablePath), `no Chromium at ${executablePath}: scripts/test-dashboard.sh installs Debian's`);
  return chromium.launch({ executablePath, args: FLAGS, headless: true });
}

export const DESKTOP = { viewport: { width: 1280, height: 860 } };
export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** A page signed in as the server's operator (through the sign-in form). */
export async function signedIn(browser, server, options = DESKTOP) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e));
  page.on("console", (m) => m.type() === "error" && errors.push(new Error(m.text())));
  await page.goto(server.url + "/");
  await page.getByTestId("token").fill(server.operatorToken);
  await page.getByTestId("sign-in").click();
  await page.getByTestId("pending-count").waitFor();
  return { context, page, errors };
}

export async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}
