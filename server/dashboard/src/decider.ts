// Who decided, as a person reads it. A decision's `actor` is an identity: an operator key's
// id, `email:ADDRESS` (an e-mail channel's addressee, through the decision page),
// `slack:USER` (a Slack channel's member; the decision keeps their name on the channel as
// `actor_name`, and its audit entry as `data.actor_name`) or `system` (the deadline).

import { visible } from "./wasm";

const SLACK = "slack:";
const EMAIL = "email:";

/** `actor` (with `name`, a Slack member's display name) as the dashboard shows a decider. */
export function decider(actor: string, name?: string | null): string {
  if (actor.startsWith(SLACK)) {
    const user = visible(actor.slice(SLACK.length));
    return name ? `${visible(name)} (Slack ${user})` : `Slack user ${user}`;
  }
  if (actor.startsWith(EMAIL)) return `${visible(actor.slice(EMAIL.length))} (e-mail)`;
  if (actor === "system") return "system";
  return `key ${visible(actor)}`;
}

/** The `actor_name` an audit entry's `data` carries, if any. */
export function auditName(data: unknown): string | undefined {
  const name = (data as { actor_name?: unknown } | null)?.actor_name;
  return typeof name === "string" ? name : undefined;
}
