// The server's JSON, as /v1/openapi.json describes it (only what the dashboard reads).

export type Status = "PENDING" | "APPROVED" | "APPROVED_WITH_MODIFICATIONS" | "REJECTED" | "EXPIRED";
export type Priority = "low" | "medium" | "high" | "critical";

export interface PatchOp {
  op: "add" | "remove" | "replace" | "move" | "copy" | "test";
  path: string;
  from?: string;
  value?: unknown;
}

export interface Diff {
  ops: PatchOp[];
  summary: string;
}

export interface Decision {
  request_id: string;
  status: Status;
  payload?: unknown;
  patched_payload?: unknown;
  diff?: Diff | null;
  actor?: string | null;
  reason?: string | null;
  decided_at: number;
  proof?: string | null;
}

export interface FirewallContext {
  action?: string;
  score?: number;
  reasons?: { code: string; text: string }[];
}

export interface RequestRow {
  id: string;
  project: string;
  service: string;
  action: string;
  payload: unknown;
  priority: Priority;
  role?: string;
  schema?: unknown;
  context?: { firewall?: FirewallContext; task?: string; [k: string]: unknown } | null;
  status: Status;
  created_at: number;
  expires_at: number;
  decision?: Decision | null;
  escalations?: { from: string; to: string; at: number }[];
}

/** A row of `GET /v1/requests?view=summary`: what the queue shows. */
export interface RequestSummary {
  id: string;
  service: string;
  action: string;
  priority: Priority;
  role?: string;
  status: Status;
  created_at: number;
  expires_at: number;
  encrypted: boolean;
  held: boolean;
  preview?: string;
  /** `preview` is the whole payload (false when cut, and for an encrypted payload). */
  complete: boolean;
  escalations: number;
}

export interface RequestView extends RequestRow {
  snapshot?: { size: number; sha256: string; created_at: number; url: string; expires_at: number } | null;
}

export interface Readiness {
  novelty: number;
  observations: number;
  transitions: number;
  ready: boolean;
}

export interface AgentRow {
  name: string;
  mode: "shadow" | "enforce";
  readiness: Readiness;
  nodes: number;
  edges: number;
  calls: number;
  sessions: number;
  cost_usd: number;
  first_seen: number;
  last_seen: number;
}

export interface AuditEntry {
  seq: number;
  at: number;
  project: string;
  actor: string;
  event: string;
  subject: string;
  data: unknown;
  prev: string;
  hash: string;
}

export interface KeyInfo {
  key_id: string;
  role: "agent" | "operator";
  roles?: string[];
  admin?: boolean;
  created_at: number;
}

export interface Webhook {
  id: string;
  url: string;
  created_at: number;
}

export interface Delivery {
  id: string;
  event: string;
  state: string;
  attempts: number;
  last_outcome?: string | null;
  created_ms: number;
  updated_ms: number;
}
