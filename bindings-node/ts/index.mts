// The ESM entry point re-exports the CommonJS build, so `import` and `require` share one
// module instance (and one `HandrailError` class: `instanceof` works across both).
export { canonicalize, Firewall, generateKey, HandrailError, openEnvelope, sealEnvelope } from "./index.js";
export type {
  Action,
  Api,
  BeginOptions,
  CheckOptions,
  Effect,
  FirewallConfig,
  FirewallConstructor,
  FirewallOptions,
  FirewallPolicy,
  FirewallSession,
  Graph,
  GraphEdge,
  GraphNode,
  Mode,
  ObserveOptions,
  OpenOptions,
  Outcome,
  Readiness,
  Reason,
  RecordOptions,
  SealOptions,
  ToolCall,
  Verdict,
} from "./index.js";
