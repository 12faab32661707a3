// Agents: each one's firewall mode (shadow / enforce) and readiness, and the live execution
// graph of its learned profile — tools as nodes, learned transitions as edges weighted by
// probability, laid out by the core (via the browser package) and drawn as SVG here. The
// call a request was held for is highlighted with its most likely path from the start.

import { api } from "../api";
import { age, h, mount, nowSecs, s, toast } from "../dom";
import type { AgentDetail, AgentList, AgentRow, NewMode } from "../types";
import { visible, wasm, type Layout } from "../wasm";

/** How often an open agent page fetches the profile again. */
const LIVE_MS = 5000;

export async function agentsView(root: HTMLElement, signal: AbortSignal): Promise<void> {
  mount(root, h("header", { class: "page-head" }, h("h1", null, "Agents")), h("p", { class: "loading" }, "Loading…"));
  let list: AgentRow[];
  try {
    // Names are shown through the core's `reveal_invisible`: the module loads with the list.
    [list] = await Promise.all([api.get<AgentList>("/v1/agents", signal).then((x) => x.agents), wasm()]);
  } catch (e) {
    return mount(root, h("h1", null, "Agents"), h("p", { class: "error" }, (e as Error).message));
  }
  const now = nowSecs();
  mount(
    root,
    h("header", { class: "page-head" }, h("h1", null, "Agents")),
    list.length
      ? h(
          "ul",
          { class: "agents" },
          list.map((a) =>
            h(
              "li",
              { class: "card" },
              h("a", { href: `#/agents/${encodeURIComponent(a.name)}` }, h("b", null, visible(a.name))),
              " ",
              modeBadge(a),
              h("p", { class: "note" }, `${a.calls} calls · ${a.sessions} sessions · ${a.nodes} nodes · ${a.edges} edges · seen ${age(now - a.last_seen)} ago`),
            ),
          ),
        )
      : h("p", { class: "empty" }, "No agent has reported tool calls yet (guarded tools send them in the background)."),
  );
}

function modeBadge(a: AgentRow): HTMLElement {
  return h(
    "span",
    { class: `badge ${a.mode === "enforce" ? "ok" : "plain"}`, "data-testid": "mode" },
    a.mode,
    a.readiness.ready ? " · ready" : ` · learning (novelty ${(a.readiness.novelty * 100).toFixed(1)}%)`,
  );
}

export async function agentView(root: HTMLElement, name: string, highlight: string | null, signal: AbortSignal): Promise<void> {
  mount(root, h("p", { class: "loading" }, "Loading…"));
  const path = `/v1/agents/${encodeURIComponent(name)}`;
  let detail: AgentDetail;
  let layout: Layout;
  try {
    const [d, bytes, w] = await Promise.all([
      api.get<AgentDetail>(path, signal),
      api.bytes(`${path}/profile`),
      wasm(),
    ]);
    detail = d;
    layout = w.layoutProfile(bytes, nowSecs(), 60);
  } catch (e) {
    return mount(root, h("h1", null, name), h("p", { class: "error" }, (e as Error).message));
  }
  const a = detail;
  const toggle = h("button", { class: "secondary", "data-testid": "toggle-mode" }, a.mode === "enforce" ? "Switch to shadow" : "Enforce");
  toggle.addEventListener("click", async () => {
    const mode = a.mode === "enforce" ? "shadow" : "enforce";
    if (mode === "enforce" && !a.readiness.ready && !confirm("The profile has not seen enough yet: honest calls may be held. Enforce anyway?")) return;
    try {
      await api.put(`${path}/mode`, { mode } satisfies NewMode);
      toast(`${name}: ${mode}`);
      void agentView(root, name, highlight, signal);
    } catch (e) {
      toast((e as Error).message, "error");
    }
  });
  const r = a.readiness;
  // Live: the profile is fetched again every few seconds while the page is open, and the
  // graph redrawn when what it learned changed.
  const graphBox = h("div", { class: "graph-box" }, layout.nodes.length ? graph(layout, highlight) : h("p", { class: "empty" }, "No transitions learned yet."));
  // What was learned, not the decayed probabilities (those move every second).
  const learned = (l: Layout) => JSON.stringify([l.nodes.map((n) => [n.tool, n.count]), l.edges.map((e) => [e.from, e.to, e.count])]);
  let drawnAs = learned(layout);
  const refresh = setInterval(async () => {
    try {
      const [bytes, w] = await Promise.all([api.bytes(`${path}/profile`), wasm()]);
      const next = w.layoutProfile(bytes, nowSecs(), 60);
      const text = learned(next);
      if (text !== drawnAs && !signal.aborted) {
        drawnAs = text;
        mount(graphBox, next.nodes.length ? graph(next, highlight) : h("p", { class: "empty" }, "No transitions learned yet."));
      }
    } catch {
      /* keep the last graph; the next tick tries again */
    }
  }, LIVE_MS);
  signal.addEventListener("abort", () => clearInterval(refresh));
  mount(
    root,
    h("header", { class: "page-head" }, h("a", { href: "#/agents", class: "back" }, "←"), h("h1", null, visible(name)), modeBadge(a)),
    h(
      "section",
      { class: "card" },
      h("p", null, `Readiness: ${r.observations} observations, ${r.transitions} transitions, chance the next transition is new ≈ ${(r.novelty * 100).toFixed(2)}% — ${r.ready ? "ready to enforce" : "keep shadowing"}.`),
      h(
        "p",
        { class: "note" },
        `Spent today: $${detail.budget.spent_today_usd.toFixed(2)}`,
        detail.budget.daily_usd != null ? ` of a $${detail.budget.daily_usd.toFixed(2)} daily budget` : " (no daily budget: `handrail budget set`)",
      ),
      toggle,
    ),
    h(
      "section",
      { class: "card graph-card" },
      h("h2", null, "Execution graph ", h("span", { class: "live on" }, "live")),
      graphBox,
      layout.truncated ? h("p", { class: "note" }, `${layout.truncated} rarely used tools are not drawn.`) : null,
    ),
    h(
      "section",
      { class: "card" },
      h("h2", null, "Tools"),
      h(
        "table",
        null,
        h("tr", null, h("th", null, "tool"), h("th", null, "calls"), h("th", null, "cost (USD)")),
        Object.entries(detail.telemetry.tools).map(([tool, t]) => h("tr", null, h("td", null, visible(tool)), h("td", null, t.calls), h("td", null, t.cost_usd.toFixed(4)))),
      ),
    ),
  );
}

/** The most probable path from the start node to `tool` (edges cost −log p). */
function likelyPath(layout: Layout, tool: string): Set<string> {
  const start = layout.nodes.find((n) => n.tool === "^");
  const goal = layout.nodes.find((n) => n.tool === tool);
  const on = new Set<string>();
  if (!start || !goal) return on;
  const dist = new Map<number, number>([[start.id, 0]]);
  const prev = new Map<number, number>();
  const todo = new Set(layout.nodes.map((n) => n.id));
  while (todo.size) {
    let u = -1;
    let best = Infinity;
    for (const id of todo) {
      const d = dist.get(id) ?? Infinity;
      if (d < best) [best, u] = [d, id];
    }
    if (u < 0 || u === goal.id) break;
    todo.delete(u);
    for (const e of layout.edges) {
      if (e.from !== u || e.p <= 0) continue;
      const d = best - Math.log(e.p);
      if (d < (dist.get(e.to) ?? Infinity)) {
        dist.set(e.to, d);
        prev.set(e.to, u);
      }
    }
  }
  for (let v = goal.id; prev.has(v); v = prev.get(v)!) on.add(`${prev.get(v)}>${v}`);
  return on;
}

function graph(layout: Layout, highlight: string | null): SVGElement {
  const layers = Math.max(1, ...layout.nodes.map((n) => n.layer + 1));
  const W = Math.max(640, layers * 170);
  const H = Math.max(320, Math.min(1400, layout.nodes.length * 42));
  const pad = 70;
  const pos = new Map(layout.nodes.map((n) => [n.id, { x: pad + n.x * (W - 2 * pad), y: 30 + n.y * (H - 60) }]));
  const hot = highlight ? likelyPath(layout, highlight) : new Set<string>();
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "graph", role: "img", "aria-label": "execution graph", "data-testid": "graph" });
  svg.append(
    s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 9, markerHeight: 9, markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" }))),
  );
  for (const e of layout.edges) {
    const a = pos.get(e.from);
    const b = pos.get(e.to);
    if (!a || !b) continue;
    const on = hot.has(`${e.from}>${e.to}`);
    const bend = e.from === e.to ? `M ${a.x} ${a.y - 14} c 30 -40 60 -10 14 12` : `M ${a.x} ${a.y} C ${(a.x + b.x) / 2} ${a.y}, ${(a.x + b.x) / 2} ${b.y}, ${b.x - 12} ${b.y}`;
    const path = s("path", {
      d: bend,
      class: on ? "edge hot" : "edge",
      "stroke-width": (1 + 5 * e.p).toFixed(2),
      "stroke-opacity": (0.25 + 0.75 * e.p).toFixed(2),
      "marker-end": "url(#arrow)",
      "data-edge": `${e.from}>${e.to}`,
    });
    path.append(s("title", {}, `p = ${e.p.toFixed(3)} (${e.count} seen)`));
    svg.append(path);
  }
  for (const n of layout.nodes) {
    const p = pos.get(n.id)!;
    const on = n.tool === highlight;
    const g = s("g", { class: `node e-${n.effect ?? "start"}${on ? " hot" : ""}`, transform: `translate(${p.x},${p.y})`, "data-tool": n.tool });
    g.append(s("circle", { r: n.tool === "^" ? 8 : 12 }), s("text", { y: -18, "text-anchor": "middle" }, n.tool === "^" ? "start" : visible(n.tool)));
    g.append(s("title", {}, `${visible(n.tool)} · ${n.effect ?? "start"} · ${n.count} calls`));
    svg.append(g);
  }
  return svg;
}
