// The dashboard's shell: sign-in, navigation, and a hash router (#/, #/requests/ID,
// #/agents, #/agents/NAME, #/audit, #/settings). Each view gets an AbortSignal that fires
// when the person navigates away, which closes its fetches and its live stream.

import { ApiError, session, sessions, signIn, signOut, useProject } from "./api";
import { h, mount, toast } from "./dom";
import { agentsView, agentView } from "./views/agents";
import { auditView } from "./views/audit";
import { prefetchQueue, queueView } from "./views/queue";
import { requestView } from "./views/request";
import { settingsView } from "./views/settings";

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
let current: AbortController | null = null;

function navigation(): void {
  const s = session();
  if (!s) return mount(nav);
  const picker = h("select", { "aria-label": "project", "data-testid": "project" });
  for (const x of sessions()) picker.append(h("option", { value: x.project }, x.projectName));
  picker.value = s.project;
  picker.addEventListener("change", () => {
    useProject(picker.value);
    route();
  });
  const here = location.hash.split("/")[1] ?? "";
  const link = (href: string, label: string, key: string) =>
    h("a", { href, class: here === key || (key === "" && here === "requests") ? "here" : null }, label);
  mount(
    nav,
    link("#/", "Queue", ""),
    link("#/agents", "Agents", "agents"),
    link("#/audit", "Audit", "audit"),
    link("#/settings", "Settings", "settings"),
    // One project: its name; several (one token each): a picker.
    sessions().length > 1 ? picker : h("span", { class: "project", "data-testid": "project" }, s.projectName),
    h("button", { class: "link", onclick: () => (signOut(), route()) }, "Sign out"),
  );
}

function loginView(root: HTMLElement): void {
  const token = h("input", { type: "password", autocomplete: "current-password", placeholder: "hr_op_…", "aria-label": "operator token", "data-testid": "token", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    { class: "card login" },
    h("h1", null, "Sign in to Handrail"),
    h("p", { class: "note" }, "Paste an operator token (printed by the first `handrail serve`, in DIR/bootstrap.json, or created with `handrail keys`). It stays in this browser."),
    token,
    h("button", { type: "submit", "data-testid": "sign-in" }, "Sign in"),
    error,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await signIn(token.value);
      route();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? "The server does not know this token." : (err as Error).message;
    }
  });
  mount(root, form);
  token.focus();
}

function route(): void {
  current?.abort();
  current = new AbortController();
  const signal = current.signal;
  navigation();
  if (!session()) return loginView(main);
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query ?? "");
  window.scrollTo(0, 0);
  const run = (p: Promise<void> | void) =>
    Promise.resolve(p).catch((e) => {
      if (signal.aborted) return;
      mount(main, h("h1", null, "Something went wrong"), h("p", { class: "error" }, (e as Error).message), h("a", { href: "#/" }, "Back to the queue"));
    });
  switch (parts[0]) {
    case undefined:
    case "queue":
      return void run(queueView(main, signal));
    case "requests":
      return void run(requestView(main, parts[1] ?? "", signal));
    case "agents":
      return void run(parts[1] ? agentView(main, parts[1], params.get("tool"), signal) : agentsView(main, signal));
    case "audit":
      return void run(auditView(main, signal));
    case "settings":
      return void run(settingsView(main, signal));
    default:
      mount(main, h("h1", null, "Not found"), h("a", { href: "#/" }, "Back to the queue"));
  }
}

// A sign-in link (`/#token=hr_op_…`, printed by `make run`): used once, then removed from
// the address bar and the history.
async function start(): Promise<void> {
  // The queue is the first page most of the time: ask for it before anything else.
  if (session() && /^(#\/?(queue)?)?$/.test(location.hash)) prefetchQueue();
  const m = /^#token=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) {
    history.replaceState(null, "", "/#/");
    try {
      await signIn(m[1]!);
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }
  window.addEventListener("hashchange", route);
  window.addEventListener("handrail:unauthorized", () => {
    if (session()) toast("The server refused this token: sign in again.", "error");
    signOut();
    route();
  });
  route();
  // Installable and usable offline; registered once the page has settled, so installing
  // the shell never competes with the first paint.
  if ("serviceWorker" in navigator) {
    const register = () => navigator.serviceWorker.register("/sw.js").catch(() => {});
    if (document.readyState === "complete") setTimeout(register, 1000);
    else window.addEventListener("load", () => setTimeout(register, 1000), { once: true });
  }
}

void start();
