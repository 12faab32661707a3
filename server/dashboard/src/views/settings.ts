// Settings: this browser's encryption keys (generate, import, export — they never leave
// the browser unless you export them), the project's agent keys, and webhooks with their
// delivery log and redelivery.

import { api } from "../api";
import { h, mount, toast, when } from "../dom";
import { generateKey, importKey, keyList, removeKey } from "../keys";
import type { DeliveryList, KeyCreated, KeyInfo, KeyList, NewKey, NewWebhook, Webhook, WebhookCreated, WebhookList, WebhookUpdate } from "../types";
import { wasm } from "../wasm";

export async function settingsView(root: HTMLElement, signal: AbortSignal): Promise<void> {
  const keysBox = h("section", { class: "card", "data-testid": "enc-keys" });
  const agentBox = h("section", { class: "card" });
  const hookBox = h("section", { class: "card" });
  mount(root, h("header", { class: "page-head" }, h("h1", null, "Settings")), keysBox, agentBox, hookBox);
  await Promise.all([encryptionKeys(keysBox), agentKeys(agentBox, signal), webhooks(hookBox, signal)]);
}

async function encryptionKeys(box: HTMLElement): Promise<void> {
  const draw = async () => {
    const keys = await keyList();
    const input = h("textarea", { rows: 2, placeholder: "hrk1.<kid>.<key> or a JWK", "aria-label": "key to import", "data-testid": "key-input", spellcheck: "false" });
    const kid = h("input", { type: "text", value: "browser-1", "aria-label": "new key name", pattern: "[A-Za-z0-9._:\\-]{1,64}" });
    const out = h("pre", { class: "secret", "data-testid": "key-export" });
    mount(
      box,
      h("h2", null, "Encryption keys"),
      h("p", { class: "note" }, "End-to-end encrypted payloads are opened with these keys, here only. They are stored in this browser and are never sent to the server."),
      keys.length
        ? h(
            "ul",
            { class: "keys" },
            keys.map((k) =>
              h(
                "li",
                null,
                h("code", null, k.kid),
                " ",
                h("button", { class: "secondary", onclick: async () => (out.textContent = k.key) }, "Export"),
                " ",
                h("button", { class: "secondary", onclick: async () => (out.textContent = (await wasm()).keyToJwk(k.key)) }, "Export as JWK"),
                " ",
                h("button", { class: "danger", onclick: async () => confirm(`Forget key ${k.kid}? Payloads sealed with it become unreadable here.`) && (await removeKey(k.kid), draw()) }, "Forget"),
              ),
            ),
          )
        : h("p", { class: "empty", "data-testid": "no-keys" }, "No key in this browser."),
      out,
      h("h3", null, "Import"),
      input,
      h(
        "button",
        {
          "data-testid": "import-key",
          onclick: async () => {
            try {
              const id = await importKey(input.value);
              toast(`Key ${id} imported`);
              await draw();
            } catch (e) {
              toast(`Not a key: ${(e as Error).message}`, "error");
            }
          },
        },
        "Import key",
      ),
      h("h3", null, "Generate"),
      h("div", { class: "row" }, kid, h("button", { onclick: async () => {
        try {
          out.textContent = await generateKey(kid.value);
          toast("Key generated: give it to your agents as HANDRAIL_ENCRYPTION_KEY");
          await draw();
        } catch (e) {
          toast((e as Error).message, "error");
        }
      } }, "Generate key")),
    );
  };
  await draw();
}

async function agentKeys(box: HTMLElement, signal: AbortSignal): Promise<void> {
  const draw = async () => {
    let keys: KeyInfo[] = [];
    try {
      keys = (await api.get<KeyList>("/v1/keys", signal)).keys;
    } catch (e) {
      return mount(box, h("h2", null, "API keys"), h("p", { class: "error" }, (e as Error).message));
    }
    const secret = h("pre", { class: "secret" });
    mount(
      box,
      h("h2", null, "API keys"),
      h(
        "table",
        null,
        h("tr", null, h("th", null, "key"), h("th", null, "role"), h("th", null, "created"), h("th", null, "")),
        keys.map((k) =>
          h(
            "tr",
            null,
            h("td", null, h("code", null, k.key_id)),
            h("td", null, k.role, k.admin ? " (admin)" : "", k.roles?.length ? ` · ${k.roles.join(", ")}` : ""),
            h("td", null, when(k.created_at)),
            h("td", null, h("button", { class: "danger", onclick: async () => {
              if (!confirm(`Revoke ${k.key_id}? Whatever uses it stops working at once.`)) return;
              try {
                await api.del(`/v1/keys/${encodeURIComponent(k.key_id)}`);
                await draw();
              } catch (e) {
                toast((e as Error).message, "error");
              }
            } }, "Revoke")),
          ),
        ),
      ),
      h("button", { "data-testid": "new-agent-key", onclick: async () => {
        try {
          const k = await api.post<KeyCreated>("/v1/keys", { role: "agent" } satisfies NewKey);
          await draw();
          box.append(h("p", { class: "note warn" }, `New agent key ${k.key_id} — shown once:`), h("pre", { class: "secret" }, k.token));
        } catch (e) {
          toast((e as Error).message, "error");
        }
      } }, "New agent key"),
      secret,
    );
  };
  await draw();
}

async function webhooks(box: HTMLElement, signal: AbortSignal): Promise<void> {
  const draw = async () => {
    let hooks: Webhook[] = [];
    try {
      hooks = (await api.get<WebhookList>("/v1/webhooks", signal)).webhooks;
    } catch (e) {
      return mount(box, h("h2", null, "Webhooks"), h("p", { class: "error" }, (e as Error).message));
    }
    const url = h("input", { type: "url", placeholder: "https://example.com/handrail", "aria-label": "webhook URL", required: true });
    mount(
      box,
      h("h2", null, "Webhooks"),
      hooks.length ? h("ul", { class: "hooks" }, hooks.map((w) => hookItem(w, draw))) : h("p", { class: "empty" }, "No webhook endpoint."),
      h("div", { class: "row" }, url, h("button", { onclick: async () => {
        try {
          const w = await api.post<WebhookCreated>("/v1/webhooks", { url: url.value } satisfies NewWebhook);
          await draw();
          box.append(h("p", { class: "note warn" }, `Signing secret of ${w.id} — shown once:`), h("pre", { class: "secret" }, w.secret));
        } catch (e) {
          toast((e as Error).message, "error");
        }
      } }, "Add endpoint")),
    );
  };
  await draw();
}

function hookItem(w: Webhook, redraw: () => Promise<void>): HTMLElement {
  const log = h("div", { class: "deliveries" });
  const show = async () => {
    try {
      const list = (await api.get<DeliveryList>(`/v1/webhooks/${encodeURIComponent(w.id)}/deliveries`)).deliveries;
      mount(
        log,
        list.length
          ? h(
              "table",
              null,
              h("tr", null, ["event", "state", "attempts", "last outcome", "when", ""].map((t) => h("th", null, t))),
              list.map((d) =>
                h(
                  "tr",
                  null,
                  h("td", null, d.event),
                  h("td", null, d.state),
                  h("td", null, d.attempts),
                  h("td", null, d.last_outcome ?? ""),
                  h("td", null, new Date(d.updated_ms).toLocaleString()),
                  h("td", null, h("button", { class: "secondary", onclick: async () => {
                    try {
                      await api.post(`/v1/deliveries/${encodeURIComponent(d.id)}/redeliver`);
                      toast("Queued for redelivery");
                      await show();
                    } catch (e) {
                      toast((e as Error).message, "error");
                    }
                  } }, "Redeliver")),
                ),
              ),
            )
          : h("p", { class: "empty" }, "No delivery yet."),
      );
    } catch (e) {
      mount(log, h("p", { class: "error" }, (e as Error).message));
    }
  };
  return h(
    "li",
    null,
    h("code", null, w.url),
    " ",
    // Disabled after failing for days: nothing is sent until it is enabled again.
    w.disabled
      ? h("span", null, h("strong", null, "disabled"), " ", h("button", { class: "secondary", onclick: async () => {
          try {
            await api.patch(`/v1/webhooks/${encodeURIComponent(w.id)}`, { disabled: false } satisfies WebhookUpdate);
            toast("Enabled: waiting deliveries are sent now");
            await redraw();
          } catch (e) {
            toast((e as Error).message, "error");
          }
        } }, "Enable"), " ")
      : null,
    h("button", { class: "secondary", onclick: show }, "Deliveries"),
    " ",
    h("button", { class: "danger", onclick: async () => {
      if (!confirm(`Remove ${w.url}?`)) return;
      try {
        await api.del(`/v1/webhooks/${encodeURIComponent(w.id)}`);
        await redraw();
      } catch (e) {
        toast((e as Error).message, "error");
      }
    } }, "Remove"),
    log,
  );
}
