// The server's JSON: generated from /v1/openapi.json into api-types.ts (run
// `node server/dashboard/gen-types.mjs`; scripts/test-dashboard.sh fails when it is stale).
// This file only re-exports those types under the names the dashboard uses, and reads the
// one part of a request the wire leaves open: its free `context`.

import type { RequestList, Request as RequestRow, RequestSummary } from "./api-types";

export type {
  AgentDetail,
  AgentList,
  AgentRow,
  AuditPage,
  Decision,
  DeliveryEntry as Delivery,
  DeliveryList,
  Diff,
  Entry as AuditEntry,
  Jwks,
  KeyCreated,
  KeyInfo,
  KeyList,
  Mode,
  NewKey,
  NewMode,
  NewWebhook,
  PatchOp,
  Priority,
  ProjectView,
  Readiness,
  RequestList,
  // The core's `Request`, named apart from the DOM's `Request`.
  Request as RequestRow,
  RequestSummary,
  RequestView,
  Resolve,
  Status,
  Webhook,
  WebhookCreated,
  WebhookList,
  WebhookUpdate,
} from "./api-types";

/** `GET /v1/requests?view=summary`: the variant of `RequestList` the queue reads. */
export type RequestSummaryList = Extract<RequestList, { requests: RequestSummary[] }>;

/**
 * `context.firewall` of a request the behavioral firewall held (the core's
 * `guard::review_context`). `context` is the agent's free JSON, so every member may be
 * missing or of another type: read it through {@link requestContext}.
 */
export interface FirewallContext {
  action?: string;
  score?: number;
  reasons?: { code: unknown; text: unknown }[];
}

/** The members of a request's `context` the dashboard shows, and the rest as given. */
export interface RequestContext {
  firewall?: FirewallContext;
  task?: unknown;
  [member: string]: unknown;
}

/** A request's `context` when it is a JSON object, else an empty one. */
export function requestContext(r: Pick<RequestRow, "context">): RequestContext {
  const c = r.context;
  if (typeof c !== "object" || c === null || Array.isArray(c)) return {};
  const out: RequestContext = { ...(c as Record<string, unknown>) };
  const fw = out.firewall;
  if (typeof fw === "object" && fw !== null && !Array.isArray(fw)) {
    const f = fw as Record<string, unknown>;
    out.firewall = {
      action: typeof f.action === "string" ? f.action : undefined,
      score: typeof f.score === "number" ? f.score : undefined,
      reasons: Array.isArray(f.reasons) ? f.reasons.filter((x): x is { code: unknown; text: unknown } => typeof x === "object" && x !== null) : undefined,
    };
  } else if ("firewall" in out) {
    // Held all the same, as the server's `held` counts it: only the details are unreadable.
    out.firewall = {};
  }
  return out;
}
