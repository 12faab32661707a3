// One request: what the agent wants to do, decrypted here when it is end-to-end encrypted,
// why the firewall held it, the parked state, and the decision — approve, approve with
// edits (a form from the request's schema, with a diff preview), or reject with a reason.

import { api, session } from "../api";
import { age, h, mount, nowSecs, toast, when } from "../dom";
import { editor, type Editor } from "../form";
import { openBytes, openValue, sealFor, type Opened } from "../keys";
import { requestContext, type Decision, type FirewallContext, type Jwks, type ProjectView, type RequestContext, type RequestView, type Resolve } from "../types";
import { decider } from "../decider";
import { codeOf, visible, wasm } from "../wasm";

/** Resolves a request (used by the queue's one-tap buttons too). */
export function decide(id: string, decision: "approve" | "reject", payload: unknown, reason: string | undefined, grant?: Resolve["grant"]): Promise<Decision> {
  const body: Resolve = { decision };
  if (payload !== undefined) body.payload = payload;
  if (reason) body.reason = reason;
  if (grant) body.grant = grant;
  return api.post<Decision>(`/v1/requests/${encodeURIComponent(id)}/resolve`, body);
}

/** "15 minutes", "1 hour", "90 seconds": a grant's length as the choice names it. */
function span(secs: number): string {
  if (secs % 3600 === 0) return secs === 3600 ? "1 hour" : `${secs / 3600} hours`;
  if (secs % 60 === 0) return secs === 60 ? "1 minute" : `${secs / 60} minutes`;
  return `${secs} seconds`;
}

/** What an approval may also grant: this call only, or this tool for the same agent for a
 * while (in this request's thread, when it names one), never longer than `bound`, the
 * project's bound in force (`grant_bound_secs`; the server refuses a longer grant). */
function grantChoice(r: RequestView, bound: number): { el: HTMLSelectElement; read: () => Resolve["grant"] } {
  const thread = (r.context as { thread?: unknown } | null | undefined)?.thread;
  const lengths = [900, 3600].filter((secs) => secs <= bound);
  if (lengths.length === 0 && bound >= 1) lengths.push(bound);
  const options: [string, string][] = [["", "Approve this call only"]];
  for (const secs of lengths) options.push([String(secs), `…and this tool for this agent for ${span(secs)}`]);
  const threadSecs = Math.min(3600, bound);
  if (typeof thread === "string" && thread && threadSecs >= 1) {
    options.push(["thread", `…and this tool in this thread for ${span(threadSecs)}`]);
  }
  const el = h(
    "select",
    { "aria-label": "grant", "data-testid": "grant", title: "A grant approves this agent's later calls of the same tool at once, until it ends or is revoked (DELETE /v1/grants/{id})" },
    options.map(([value, label]) => h("option", { value }, label)),
  ) as HTMLSelectElement;
  return {
    el,
    read: () => {
      if (!el.value) return undefined;
      return el.value === "thread" ? { for_secs: threadSecs, thread: true } : { for_secs: Number(el.value) };
    },
  };
}

/** The project's bound on grants in force; the server's default (an hour) when it cannot be read. */
async function grantBound(project: string, signal: AbortSignal): Promise<number> {
  try {
    return (await api.get<ProjectView>(`/v1/projects/${encodeURIComponent(project)}`, signal)).grant_bound_secs;
  } catch {
    return 3600;
  }
}

export async function requestView(root: HTMLElement, id: string, signal: AbortSignal): Promise<void> {
  mount(root, h("p", { class: "loading" }, "Loading…"));
  let r: RequestView;
  try {
    r = await api.get<RequestView>(`/v1/requests/${encodeURIComponent(id)}`, signal);
  } catch (e) {
    mount(root, h("h1", null, "Request"), h("p", { class: "error" }, (e as Error).message), h("a", { href: "#/" }, "Back to the queue"));
    return;
  }
  // Everything below shows text through the core's `reveal_invisible` (`visible`).
  const [opened, , bound] = await Promise.all([openValue(r.payload, r.id, "payload"), wasm(), grantBound(r.project, signal)]);
  const now = nowSecs();
  const context = requestContext(r);
  const head = h(
    "header",
    { class: "page-head" },
    h("a", { href: "#/", class: "back", "aria-label": "back to the queue" }, "←"),
    h("h1", null, h("span", { class: `prio p-${r.priority}` }, r.priority), " ", visible(r.service), " · ", visible(r.action)),
    h("span", { class: `status s-${r.status}`, "data-testid": "status" }, r.status),
  );
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", null, "id"),
    h("dd", null, h("code", null, r.id)),
    h("dt", null, "waiting"),
    h("dd", null, `${age(now - r.created_at)} (since ${when(r.created_at)})`),
    h("dt", null, "deadline"),
    h("dd", null, r.expires_at > now ? `in ${age(r.expires_at - now)}` : "passed"),
    r.role ? h("dt", null, "role") : null,
    r.role ? h("dd", null, visible(r.role), r.escalations?.length ? ` (escalated ${r.escalations.length}×)` : "") : null,
    context.task ? h("dt", null, "task") : null,
    context.task ? h("dd", null, visible(String(context.task))) : null,
  );
  const sections: HTMLElement[] = [head, facts];
  if (context.firewall) sections.push(firewallSection(r, context.firewall));
  sections.push(payloadSection(opened));
  if (r.snapshot) sections.push(snapshotSection(r));
  if (r.status === "PENDING") sections.push(decideSection(r, opened, bound));
  else if (r.decision) sections.push(await decisionSection(r, r.decision, opened));
  const extra = extraContext(context);
  if (extra) sections.push(extra);
  mount(root, ...sections);
}

function badge(o: Opened): HTMLElement {
  switch (o.state) {
    case "plain":
      return h("span", { class: "badge plain", "data-testid": "payload-state" }, "NOT ENCRYPTED");
    case "decrypted":
      return h("span", { class: "badge ok", "data-testid": "payload-state", title: `key ${o.kid ?? ""}` }, "DECRYPTED");
    case "missing":
      return h("span", { class: "badge warn", "data-testid": "payload-state" }, "KEY MISSING");
    case "wrong":
      return h("span", { class: "badge bad", "data-testid": "payload-state" }, "WRONG KEY");
    case "invalid":
      return h("span", { class: "badge bad", "data-testid": "payload-state" }, "UNREADABLE");
  }
}

function explain(o: Opened): HTMLElement | null {
  switch (o.state) {
    case "decrypted":
      return h("p", { class: "note" }, `Decrypted in this browser with key “${o.kid ?? "?"}”. The server holds only ciphertext.`);
    case "missing":
      return h(
        "p",
        { class: "note warn", "data-testid": "payload-explain" },
        `This payload is end-to-end encrypted${o.kid ? ` with key “${o.kid}”` : ""}, and that key is not in this browser. `,
        h("a", { href: "#/settings" }, "Import it in Settings"),
        " to read and edit it.",
      );
    case "wrong":
      return h(
        "p",
        { class: "note bad", "data-testid": "payload-explain" },
        `A key named “${o.kid ?? "?"}” is in this browser, but it does not open this payload: it is another key with the same name, or the payload was altered. Nothing is shown rather than garbage.`,
      );
    case "invalid":
      return h("p", { class: "note bad", "data-testid": "payload-explain" }, `The payload cannot be read (${o.code}): ${o.message}`);
    default:
      return null;
  }
}

function pretty(v: unknown): HTMLElement {
  return h("pre", { class: "json", "data-testid": "payload" }, visible(JSON.stringify(v, null, 2)));
}

function payloadSection(o: Opened): HTMLElement {
  return h(
    "section",
    { class: "card" },
    h("h2", null, "Payload ", badge(o)),
    explain(o),
    o.state === "plain" || o.state === "decrypted" ? pretty(o.value) : null,
  );
}

function firewallSection(r: RequestView, fw: FirewallContext): HTMLElement {
  return h(
    "section",
    { class: "card firewall" },
    h("h2", null, "Why the firewall held this call"),
    h(
      "ul",
      { class: "reasons" },
      (fw.reasons ?? []).map((x) => h("li", null, h("code", null, visible(String(x.code))), " ", visible(String(x.text)))),
    ),
    typeof fw.score === "number" ? h("p", { class: "note" }, `score ${fw.score.toFixed(3)} · verdict ${fw.action ?? "review"}`) : null,
    h("a", { href: `#/agents/${encodeURIComponent(r.service)}?tool=${encodeURIComponent(r.action)}` }, "See this call on the agent's graph →"),
  );
}

function snapshotSection(r: RequestView): HTMLElement {
  const snap = r.snapshot!;
  const out = h("div", { "data-testid": "snapshot" });
  const button = h("button", { "data-testid": "open-snapshot" }, "Open the parked state");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const bytes = await api.bytes(`/v1/requests/${encodeURIComponent(r.id)}/snapshot`);
      const o = await openBytes(bytes, r.id, "state");
      mount(
        out,
        h("h3", null, "State ", badge(o)),
        explain(o),
        o.state === "decrypted"
          ? h("p", { class: "note", "data-testid": "snapshot-timing" }, `${(o.bytes / 1024).toFixed(1)} KiB opened with ${o.engine === "webcrypto" ? "WebCrypto" : "WebAssembly"} in ${o.ms.toFixed(1)} ms`)
          : null,
        o.state === "decrypted" || o.state === "plain" ? h("pre", { class: "json snapshot" }, visible(clip(JSON.stringify(o.value, null, 2)))) : null,
      );
    } catch (e) {
      mount(out, h("p", { class: "error" }, (e as Error).message));
    } finally {
      button.disabled = false;
    }
  });
  return h(
    "section",
    { class: "card" },
    h("h2", null, "Parked state"),
    h("p", { class: "note" }, `${(snap.size / 1024).toFixed(1)} KiB, parked ${when(snap.created_at)}. It is decrypted here, on demand.`),
    button,
    out,
  );
}

/** Shows at most 200 KB of a large state (the rest is still decrypted, only not printed). */
function clip(text: string): string {
  return text.length > 200_000 ? `${text.slice(0, 200_000)}\n… (${text.length - 200_000} more characters)` : text;
}

function decideSection(r: RequestView, o: Opened, bound: number): HTMLElement {
  const readable = o.state === "plain" || o.state === "decrypted";
  const original = readable ? (o as { value: unknown }).value : undefined;
  const diffBox = h("div", { class: "diff", "data-testid": "diff", "aria-live": "polite" });
  const reason = h("input", { type: "text", placeholder: "Reason (shown to the agent)", "aria-label": "reason", "data-testid": "reason", maxlength: 2000 });
  const error = h("p", { class: "error", role: "alert" });
  let ed: Editor | null = null;
  // Only what this browser can show may be approved: an envelope it cannot open (KEY
  // MISSING, WRONG KEY, UNREADABLE) can be rejected, not approved unseen.
  const approve = h("button", { class: "approve big", "data-testid": "approve", title: "Approve (a)", disabled: !readable }, "Approve");
  const unseen = readable
    ? null
    : h(
        "p",
        { class: "note warn", "data-testid": "approve-blocked" },
        "Approving is not offered: this browser cannot open the payload, and a person approves only what they have seen. Import its key in Settings to read it, or reject it.",
      );
  const reject = h("button", { class: "reject big", "data-testid": "reject", title: "Reject (r)" }, "Reject");
  const edit = h("button", { class: "secondary", "data-testid": "edit", title: "Edit (e)", disabled: !readable }, "Edit");
  const editArea = h("div", { class: "edit-area" });
  const grant = grantChoice(r, bound);

  const preview = async (): Promise<void> => {
    if (!ed) return;
    try {
      const value = ed.read();
      const w = await wasm();
      const d = w.diff(JSON.stringify(original), JSON.stringify(value));
      mount(
        diffBox,
        d.ops.length
          ? [h("p", { class: "summary" }, visible(d.summary)), h("ul", { class: "ops" }, d.ops.map((op) => h("li", { class: `op-${op.op}` }, h("code", null, op.op), " ", visible(op.path), "value" in op ? ` → ${visible(JSON.stringify(op.value))}` : "")))]
          : h("p", { class: "note" }, "No change yet."),
      );
      approve.textContent = d.ops.length ? "Approve with edits" : "Approve";
      error.textContent = "";
    } catch (e) {
      error.textContent = (e as Error).message;
    }
  };
  edit.addEventListener("click", () => {
    if (ed || !readable) return;
    ed = editor(original, r.schema, () => void preview());
    mount(editArea, h("h3", null, ed.kind === "form" ? "Edit (form from the request's schema)" : "Edit (JSON)"), ed.el, diffBox);
    edit.disabled = true;
    void preview();
  });

  const busy = (on: boolean) => {
    for (const b of [approve, reject, edit]) b.disabled = on || (b === approve && !readable) || (b === edit && (!readable || ed !== null));
  };
  approve.addEventListener("click", async () => {
    if (!readable) return;
    error.textContent = "";
    let payload: unknown;
    try {
      if (ed) {
        const value = ed.read();
        const w = await wasm();
        const before = JSON.stringify(original);
        const after = JSON.stringify(value);
        if (w.diff(before, after).ops.length) {
          if (o.state === "decrypted") {
            // The server cannot check ciphertext against the schema: the browser does.
            if (r.schema !== undefined && w.reviewEdit) w.reviewEdit(before, after, JSON.stringify(r.schema));
            payload = await sealFor(o.kid, r.id, "patched_payload", value);
          } else {
            payload = value;
          }
        }
      }
    } catch (e) {
      error.textContent = `${codeOf(e) === "edit_invalid" ? "The edit does not fit the schema: " : ""}${(e as Error).message}`;
      return;
    }
    busy(true);
    try {
      // A grant approves the tool as asked: an edited approval grants nothing.
      const granted = payload === undefined ? grant.read() : undefined;
      await decide(r.id, "approve", payload, reason.value || undefined, granted);
      toast(payload === undefined ? (granted ? "Approved, and granted" : "Approved") : "Approved with edits");
      location.hash = "#/";
    } catch (e) {
      error.textContent = (e as Error).message;
      busy(false);
    }
  });
  reject.addEventListener("click", async () => {
    busy(true);
    try {
      await decide(r.id, "reject", undefined, reason.value || undefined);
      toast("Rejected");
      location.hash = "#/";
    } catch (e) {
      error.textContent = (e as Error).message;
      busy(false);
    }
  });
  const keys = (e: KeyboardEvent) => {
    if (!document.contains(approve)) return document.removeEventListener("keydown", keys);
    const t = e.target as HTMLElement;
    if (t.closest("input, textarea, select") || e.metaKey || e.ctrlKey || e.altKey) return;
    if (e.key === "a") {
      if (readable) approve.click();
    }
    else if (e.key === "r") reason.focus();
    else if (e.key === "e") edit.click();
    else if (e.key === "Escape") location.hash = "#/";
    else return;
    e.preventDefault();
  };
  document.addEventListener("keydown", keys);
  return h(
    "section",
    { class: "card decide" },
    h("h2", null, "Decide"),
    editArea,
    unseen,
    reason,
    readable ? grant.el : null,
    error,
    h("div", { class: "actions" }, approve, edit, reject),
    h("p", { class: "note keys" }, "Keys: a approve · e edit · r reason, then Reject · Esc back"),
  );
}

async function decisionSection(r: RequestView, d: Decision, o: Opened): Promise<HTMLElement> {
  let patched: HTMLElement | null = null;
  if (d.patched_payload !== undefined && d.patched_payload !== null) {
    const p = await openValue(d.patched_payload, r.id, "patched_payload");
    patched = h("div", null, h("h3", null, "Edited payload ", badge(p)), p.state === "plain" || p.state === "decrypted" ? pretty(p.value) : explain(p));
    if ((p.state === "decrypted" || p.state === "plain") && (o.state === "decrypted" || o.state === "plain")) {
      const w = await wasm();
      const diff = w.diff(JSON.stringify(o.value), JSON.stringify(p.value));
      patched.append(h("p", { class: "summary" }, visible(diff.summary)));
    }
  }
  let proof: HTMLElement | null = null;
  if (d.proof) {
    proof = h("p", { class: "note", "data-testid": "proof" }, "Checking the decision proof…");
    void (async () => {
      try {
        const [w, jwks] = await Promise.all([wasm(), api.get<Jwks>("/v1/keys/proof")]);
        // Bound to the signed-in project (from /v1/keys/me) and the server that published
        // the keys: a proof from another project or server does not verify here.
        // And to this request as stored and the decision shown: the digest comes from the
        // core function the server signs with.
        const expect = {
          requestId: r.id,
          project: session()?.project,
          issuer: jwks.issuer,
          requestDigest: w.requestDigest(r.service, r.action, JSON.stringify(r.payload)),
          decision: d.status,
        };
        const claims = new w.ProofVerifier(JSON.stringify(jwks)).verify(d.proof!, nowSecs(), expect);
        proof!.textContent = `Proof verified in this browser: ${String(claims.dec)} by ${String(claims.act)}.`;
        proof!.className = "note ok";
      } catch (e) {
        proof!.textContent = `The decision proof does not verify (${codeOf(e)}).`;
        proof!.className = "note bad";
      }
    })();
  }
  return h(
    "section",
    { class: "card" },
    h("h2", null, "Decision"),
    h(
      "p",
      null,
      h("b", null, d.status),
      d.actor ? [" by ", h("span", { "data-testid": "decider" }, decider(d.actor, d.actor_name))] : "",
      ` · ${when(d.decided_at)}`,
    ),
    d.reason ? h("p", null, "Reason: ", visible(d.reason)) : null,
    patched,
    proof,
  );
}

function extraContext(context: RequestContext): HTMLElement | null {
  const rest = { ...context };
  delete rest.firewall;
  delete rest.task;
  if (!Object.keys(rest).length) return null;
  return h("details", { class: "card" }, h("summary", null, "Context"), h("pre", { class: "json" }, visible(JSON.stringify(rest, null, 2))));
}
