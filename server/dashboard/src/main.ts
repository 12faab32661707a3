// The dashboard's shell: sign-in, navigation, and a hash router (#/, #/requests/ID,
// #/agents, #/agents/NAME, #/audit, #/settings). Each view gets an AbortSignal that fires
// when the person navigates away, which closes its fetches and its live stream.

import { ApiError, inspect, keep, session, sessions, signIn, signOut, useProject } from "./api";
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
    h("p", { class: "note" }, "Paste an operator token (the first `handrail serve` writes one to DIR/bootstrap.json; `handrail keys` creates more). It stays in this browser."),
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
  // A sign-in link, on load or followed while the page is open.
  const link = /^#token=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (link) {
    history.replaceState(null, "", "/#/");
    navigation();
    void confirmLink(link[1]!).then(() => {
      if (!signal.aborted) route();
    });
    return;
  }
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

/**
 * A sign-in link (`/#token=hr_op_…`, printed by `make run`) is removed from the address bar
 * and the history at once, and used only if the person confirms: a link from anyone else
 * would otherwise sign this browser into their project (login CSRF), and decisions made
 * there would go to them. The page says which project and key it would sign into, and
 * whether another session is active. Resolves when the person has answered.
 */
async function confirmLink(token: string): Promise<void> {
  mount(main, h("p", { class: "loading" }, "Checking the sign-in link…"));
  let checked: Awaited<ReturnType<typeof inspect>>;
  try {
    checked = await inspect(token);
  } catch (e) {
    toast(e instanceof ApiError && e.status === 401 ? "The sign-in link's token is not known to this server." : (e as Error).message, "error");
    return;
  }
  const now = session();
  const known = sessions().find((x) => x.project === checked.project);
  await new Promise<void>((done) => {
    const yes = h("button", { class: "approve", "data-testid": "link-confirm" }, "Sign in");
    const no = h("button", { class: "secondary", "data-testid": "link-cancel" }, "Cancel");
    yes.addEventListener("click", () => {
      keep(checked);
      toast(`Signed in to ${checked.projectName}`);
      done();
    });
    no.addEventListener("click", () => done());
    mount(
      main,
      h(
        "section",
        { class: "card login", "data-testid": "link-signin" },
        h("h1", null, "Sign in with this link?"),
        h(
          "p",
          null,
          "The link signs this browser into project ",
          h("b", { "data-testid": "link-project" }, checked.projectName),
          checked.projectName !== checked.project ? ` (${checked.project})` : "",
          " as operator key ",
          h("code", { "data-testid": "link-key" }, checked.keyId),
          ".",
        ),
        now
          ? h(
              "p",
              { class: "note warn", "data-testid": "link-current" },
              now.project === checked.project
                ? `You are already signed in to ${now.projectName} with another token; this one would replace it.`
                : `You are signed in to ${now.projectName}; this would add ${checked.projectName} and switch to it.`,
            )
          : null,
        known && known.token === checked.token ? h("p", { class: "note" }, "This browser already holds this token.") : null,
        h("p", { class: "note" }, "Only continue if you asked for this link: whoever made it chooses the project your decisions go to."),
        h("div", { class: "actions" }, yes, no),
      ),
    );
    yes.focus();
  });
}

async function start(): Promise<void> {
  // The queue is the first page most of the time: ask for it before anything else.
  if (session() && /^(#\/?(queue)?)?$/.test(location.hash)) prefetchQueue();
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
