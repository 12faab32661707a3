// The queue: every pending request, most urgent and oldest first, live over /v1/events.

import { api, follow } from "../api";
import { age, h, mount, nowSecs, toast } from "../dom";
import { requestContext, type Priority, type RequestRow, type RequestSummary, type RequestSummaryList } from "../types";
import { visible, wasm } from "../wasm";
import { decide } from "./request";

/** Rows drawn in the first frame, then per slice. */
const FIRST = 24;
const SLICE = 200;

const RANK: Record<Priority, number> = { critical: 0, high: 1, medium: 2, low: 3 };

/**
 * The summary of a full row (server-sent events carry full rows), by the core's rule
 * (`payloadPreview`), as on the server. Events only arrive after the first paint, so
 * loading the module here costs the queue nothing.
 */
async function summary(r: RequestRow): Promise<RequestSummary> {
  // The core's `request::preview`, as the server's `view=summary` computes it.
  const preview = (await wasm()).payloadPreview(JSON.stringify(r.payload));
  return {
    id: r.id,
    service: r.service,
    action: r.action,
    priority: r.priority,
    role: r.role,
    status: r.status,
    created_at: r.created_at,
    expires_at: r.expires_at,
    encrypted: preview.encrypted,
    held: requestContext(r).firewall !== undefined,
    preview: preview.text,
    complete: preview.complete,
    escalations: r.escalations?.length ?? 0,
  };
}

const LIST = "/v1/requests?status=PENDING&limit=1000&view=summary";

/** Starts loading the queue before the page is built (main.ts calls it first thing). */
export function prefetchQueue(): void {
  // Rows show names and previews through the core's `reveal_invisible`: fetch the module
  // alongside the list.
  void wasm().catch(() => {});
  try {
    first = api.get<RequestSummaryList>(LIST);
    first.catch(() => {});
  } catch {
    first = null;
  }
}
let first: Promise<RequestSummaryList> | null = null;

export function queueView(root: HTMLElement, signal: AbortSignal): void {
  const pending = new Map<string, RequestSummary>();
  /** Ids seen decided on the stream (a decision is final). */
  const decided = new Set<string>();
  const filters = { service: "", role: "", text: "" };
  const counts = h("div", { class: "counts", "aria-live": "polite" });
  const serviceSel = h("select", { "aria-label": "service", "data-filter": "service" });
  const roleSel = h("select", { "aria-label": "role", "data-filter": "role" });
  const search = h("input", { type: "search", placeholder: "Filter…", "aria-label": "filter", "data-filter": "text" });
  const list = h("ol", { class: "queue", "data-testid": "queue" });
  const live = h("span", { class: "live off", title: "live updates" }, "offline");
  mount(
    root,
    h("header", { class: "page-head" }, h("h1", null, "Queue"), live),
    counts,
    h("div", { class: "filters" }, serviceSel, roleSel, search),
    list,
  );
  for (const [sel, key] of [
    [serviceSel, "service"],
    [roleSel, "role"],
  ] as const) {
    sel.addEventListener("change", () => {
      filters[key] = sel.value;
      render();
    });
  }
  search.addEventListener("input", () => {
    filters.text = search.value.toLowerCase();
    render();
  });

  let scheduled = false;
  let drawn = 0;
  let loaded = false;
  let painted = false;
  function render(): void {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      draw();
    });
  }

  function options(sel: HTMLSelectElement, all: string, values: Set<string>, current: string): void {
    const want = [all, ...[...values].sort()];
    const have = [...sel.options].map((o) => o.value);
    if (["", ...want.slice(1)].join("\n") === have.join("\n")) return;
    sel.replaceChildren(...want.map((v, i) => h("option", { value: i ? v : "" }, i ? visible(v) : v)));
    sel.value = current;
  }

  function draw(): void {
    const rows = [...pending.values()];
    const services = new Set(rows.map((r) => r.service));
    const roles = new Set(rows.flatMap((r) => (r.role ? [r.role] : [])));
    options(serviceSel, "all services", services, filters.service);
    options(roleSel, "all roles", roles, filters.role);
    const shown = rows
      .filter((r) => !filters.service || r.service === filters.service)
      .filter((r) => !filters.role || r.role === filters.role)
      .filter((r) => !filters.text || `${r.service} ${r.action} ${r.id}`.toLowerCase().includes(filters.text))
      .sort((a, b) => RANK[a.priority] - RANK[b.priority] || a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
    const now = nowSecs();
    const oldest = rows.reduce((m, r) => Math.min(m, r.created_at), now);
    const by = (p: Priority) => rows.filter((r) => r.priority === p).length;
    mount(
      counts,
      h("span", { class: "count", "data-testid": "pending-count" }, h("b", null, rows.length), " pending"),
      ...(["critical", "high", "medium", "low"] as Priority[]).map((p) => h("span", { class: `count p-${p}` }, h("b", null, by(p)), ` ${p}`)),
      rows.length ? h("span", { class: "count" }, "oldest ", h("b", null, age(now - oldest))) : null,
    );
    if (!shown.length) {
      mount(list, h("li", { class: "empty" }, rows.length ? "Nothing matches the filters." : "Nothing waits for a decision."));
      return;
    }
    // What fits on a screen first, the rest in slices after that frame: the queue is on
    // screen as soon as its data is, however long it is.
    const generation = ++drawn;
    list.replaceChildren(...shown.slice(0, FIRST).map((r) => item(r, now)));
    const more = (from: number) => {
      if (generation !== drawn || from >= shown.length) return;
      list.append(...shown.slice(from, from + SLICE).map((r) => item(r, now)));
      setTimeout(() => more(from + SLICE));
    };
    if (!painted && loaded) {
      painted = true;
      // After this frame is on screen (before the next slice): what
      // benches/dashboard/bench.mjs reads.
      requestAnimationFrame(() => setTimeout(() => performance.mark("handrail:queue-painted")));
    }
    requestAnimationFrame(() => setTimeout(() => more(FIRST)));
  }

  function item(r: RequestSummary, now: number): HTMLLIElement {
    // One tap approves only what is all on screen: a plain payload whose preview is the
    // whole of it (`complete`), drawn wrapped, never cut by an ellipsis.
    const whole = !r.encrypted && r.complete === true && r.preview !== undefined;
    const shown = r.encrypted ? "🔒 end-to-end encrypted" : visible(r.preview ?? "") + (whole ? "" : " …");
    const peek = h("span", { class: whole ? "peek whole" : "peek", "data-testid": "peek" }, shown);
    return h(
      "li",
      { class: `item p-${r.priority}`, "data-id": r.id },
      h(
        "a",
        { href: `#/requests/${encodeURIComponent(r.id)}`, class: "item-main" },
        h("span", { class: `prio p-${r.priority}` }, r.priority),
        h("span", { class: "what" }, h("b", null, visible(r.service)), " · ", visible(r.action)),
        h("span", { class: "meta" }, age(now - r.created_at), r.role ? ` · ${visible(r.role)}` : "", r.held ? " · held by the firewall" : ""),
        peek,
      ),
      h(
        "span",
        { class: "quick" },
        h(
          "button",
          {
            class: "approve",
            "aria-label": `approve ${r.id}`,
            "data-one-tap": String(whole),
            title: whole ? "Approve (the whole payload is shown)" : "The whole payload is not shown here: opens the request to approve",
            onclick: () => (whole && shownWhole(peek) ? quick(r, "approve") : open(r)),
          },
          whole ? "Approve" : "Approve…",
        ),
        h("button", { class: "reject", "aria-label": `reject ${r.id}`, onclick: () => quick(r, "reject") }, "Reject"),
      ),
    );
  }

  /** Approving from the row needs the whole request on screen: opens its page instead. */
  function open(r: RequestSummary): void {
    location.hash = `#/requests/${encodeURIComponent(r.id)}`;
  }

  async function quick(r: RequestSummary, decision: "approve" | "reject"): Promise<void> {
    try {
      await decide(r.id, decision, undefined, undefined);
      pending.delete(r.id);
      render();
      toast(`${decision === "approve" ? "Approved" : "Rejected"} ${r.service} · ${r.action}`);
    } catch (e) {
      toast((e as Error).message, "error");
    }
  }

  async function reload(): Promise<void> {
    try {
      const [page] = await Promise.all([first ?? api.get<RequestSummaryList>(LIST, signal), wasm()]);
      first = null;
      pending.clear();
      for (const r of page.requests) pending.set(r.id, r);
      // The first answer is drawn at once (not in the next frame): it is what the person
      // waits for.
      if (!loaded) {
        loaded = true;
        draw();
      } else {
        render();
      }
    } catch (e) {
      if (!signal.aborted) toast((e as Error).message, "error");
    }
  }

  void reload();
  let connections = 0;
  void follow(
    (e) => {
      if (e.event === "resync") return void reload();
      let r: RequestRow;
      try {
        r = JSON.parse(e.data);
      } catch {
        return;
      }
      if (r.status !== "PENDING") {
        decided.add(r.id);
        pending.delete(r.id);
        return render();
      }
      void summary(r).then((row) => {
        // Decided while its summary was made: it stays out.
        if (decided.has(row.id)) return;
        pending.set(row.id, row);
        render();
      });
    },
    () => {
      live.textContent = "live";
      live.className = "live on";
      // Reconnected: catch up on what happened while the stream was down.
      if (connections++ > 0) void reload();
    },
    signal,
  ).finally(() => {
    live.textContent = "offline";
    live.className = "live off";
  });
  const tick = setInterval(render, 15_000);
  signal.addEventListener("abort", () => clearInterval(tick));
}

/**
 * The row's text is the preview, entirely: nothing clipped (the row is on screen when it is
 * tapped, so its layout is current).
 */
function shownWhole(peek: HTMLElement): boolean {
  return peek.scrollWidth <= peek.clientWidth && peek.scrollHeight <= peek.clientHeight;
}
