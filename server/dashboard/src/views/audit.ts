// The audit log, with its hash chain verified here, in the browser, by the core's own rule
// (the browser package): the page does not take the server's word for it.

import { api } from "../api";
import { h, mount, when } from "../dom";
import type { AuditEntry, AuditPage } from "../types";
import { auditName, decider } from "../decider";
import { codeOf, visible, wasm } from "../wasm";

const PAGE = 1000;
/** Entries drawn in the table (all of them are verified). */
const SHOWN = 500;

export async function auditView(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const verdict = h("p", { class: "note", "data-testid": "audit-verdict" }, "Verifying the chain in this browser…");
  const table = h("table", { class: "audit" });
  mount(root, h("header", { class: "page-head" }, h("h1", null, "Audit log")), verdict, table);
  const w = await wasm();
  const recent: AuditEntry[] = [];
  let after = 0;
  let last: { seq: number; hash: string } | undefined;
  let count = 0;
  try {
    for (;;) {
      const page = await api.get<AuditPage>(`/v1/audit?after=${after}&limit=${PAGE}`, signal);
      if (page.entries.length) {
        const checked = w.verifyAudit(JSON.stringify(page.entries), last);
        count += checked.count;
        last = checked.last ?? last;
        recent.push(...page.entries);
        if (recent.length > SHOWN) recent.splice(0, recent.length - SHOWN);
      }
      if (page.next === null || page.next === undefined) break;
      after = page.next;
    }
    verdict.textContent = count
      ? `Chain verified in this browser: ${count} entries, each linked to the one before; head ${last?.hash.slice(0, 16)}… at #${last?.seq}.`
      : "The log is empty.";
    verdict.className = "note ok";
  } catch (e) {
    verdict.textContent = `The chain does NOT verify (${codeOf(e)}): ${(e as Error).message}`;
    verdict.className = "note bad";
  }
  mount(
    table,
    h("tr", null, ["#", "when", "actor", "event", "subject", "hash"].map((t) => h("th", null, t))),
    recent
      .slice()
      .reverse()
      .map((e) =>
        h(
          "tr",
          null,
          h("td", null, e.seq),
          h("td", null, when(e.at)),
          h("td", null, decider(e.actor, auditName(e.data))),
          h("td", null, visible(e.event)),
          h("td", null, h("code", null, visible(e.subject))),
          h("td", null, h("code", { title: e.hash }, e.hash.slice(0, 12))),
        ),
      ),
  );
}
