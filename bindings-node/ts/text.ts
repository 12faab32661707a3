import type { Decision } from "./client.js";

/**
 * A short text a model can act on, the same as Python's `decision_text`: `"APPROVED"`,
 * `"APPROVED WITH EDITS: <diff summary>; use these values: <json>"` or
 * `"REJECTED: <reason>"`.
 */
export function decisionText(decision: Decision): string {
  switch (decision.status) {
    case "APPROVED":
      return "APPROVED";
    case "APPROVED_WITH_MODIFICATIONS":
      return `APPROVED WITH EDITS: ${decision.diff?.summary || "edited"}; use these values: ${JSON.stringify(decision.payload)}`;
    case "REJECTED":
      return `REJECTED: ${decision.reason || "no reason given"}`;
    default:
      return `${decision.status}: do not act`;
  }
}
