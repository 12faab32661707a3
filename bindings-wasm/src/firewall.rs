//! The behavioral firewall ([`handrail_core::firewall`]) in the browser.
//!
//! The dashboard loads an agent's profile (the bytes the server stores), draws its live
//! graph and shows verdicts. Everything here converts: JavaScript arguments into the core's
//! types ([`crate::input`]), the core's serde types back into plain JavaScript objects (via
//! JSON, which the core's types already speak), errors through [`crate::error`].
//!
//! wasm32 has no clock: every `now` is an argument, in whole Unix seconds.

use handrail_core::firewall::{self, Call, Config, Effect, Mode, Outcome, Policy, Profile};
use serde_json::Value;
use wasm_bindgen::prelude::*;

use crate::error::Result;
use crate::input;
use crate::output::to_js;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** What a tool does to the world. */
export type Effect = "read" | "write" | "destructive" | "egress" | "payment";
/** `shadow`: verdicts are reported, not enforced; `enforce`: they are. */
export type Mode = "shadow" | "enforce";
/** What became of a call, for `Firewall.record`. */
export type Outcome = "ran" | "trusted" | "approved" | "rejected";
/** Rules beside learning (the core's `Policy`; every field optional). */
export interface Policy {
  allow?: string[];
  deny?: string[];
  always_review?: string[];
  effects?: Record<string, Effect>;
  daily_budget_usd?: number | null;
}
/** Tunable constants (the core's `Config`; every field optional). */
export interface Config {
  half_life_read_secs?: number;
  half_life_effect_secs?: number;
  target_false_alarm?: number;
  min_context?: number;
  approval_cap?: number;
  approval_window_secs?: number;
  review_at?: number;
  shape_min?: number;
}
/** Why: a stable code (`value_unseen`, `transition_new`, …) and a sentence for people. */
export interface Reason { code: string; text: string }
/** The firewall's answer for one call. */
export interface Verdict {
  action: "allow" | "review" | "block";
  score: number;
  reasons: Reason[];
  enforced: boolean;
}
/** How much the profile has seen, and whether it may leave shadow mode. */
export interface Readiness { novelty: number; observations: number; transitions: number; ready: boolean }
/** A tool in the graph; `^` (effect `null`) is the session start. */
export interface GraphNode { id: number; tool: string; effect: Effect | null }
/** A learned transition: P(to | from) decayed to `now`, and the undecayed count. */
export interface GraphEdge { from: number; to: number; p: number; count: number }
/** The profile as a graph of tools. */
export interface Graph { nodes: GraphNode[]; edges: GraphEdge[] }
/**
 * A node with its place: `layer` 0 is `^`, columns go left to right; `x` and `y` are in
 * [0, 1]; `count` is how often the tool was reached (for `^`: sessions started).
 */
export interface LayoutNode extends GraphNode { layer: number; x: number; y: number; count: number }
/** The graph laid out in layers, cut to the most observed nodes (`truncated`: how many were left out). */
export interface Layout { nodes: LayoutNode[]; edges: GraphEdge[]; truncated: number }
"#;

/// An agent's firewall: its learned profile, policy, configuration and mode.
#[wasm_bindgen]
pub struct Firewall {
    inner: firewall::Firewall,
}

/// The state of one agent session between calls (from `Firewall.begin`).
#[wasm_bindgen]
pub struct FirewallSession {
    inner: firewall::Session,
}

#[wasm_bindgen]
impl FirewallSession {
    /// The session id given to `begin`.
    #[wasm_bindgen(getter)]
    pub fn id(&self) -> String {
        self.inner.id.clone()
    }
}

#[wasm_bindgen]
impl Firewall {
    /// A firewall with an empty profile.
    ///
    /// `policy` and `config` are JSON text or objects with the core's field names
    /// (`deny`, `effects`, `daily_budget_usd`, `review_at`, …); omitted, they are the
    /// defaults. `mode` is `"shadow"` (the default) or `"enforce"`. A policy or config that
    /// does not parse throws a `HandrailError` with code `invalid_options`; an unknown mode
    /// one with code `unknown_variant`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        #[wasm_bindgen(unchecked_optional_param_type = "Policy | string | null")] policy: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Config | string | null")] config: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "Mode")] mode: Option<String>,
    ) -> Result<Firewall> {
        let policy = settings(&policy, "policy", Policy::from_json)?;
        let config = settings(&config, "config", Config::from_json)?;
        let mut inner = firewall::Firewall::new(policy, config);
        if let Some(mode) = mode {
            inner.mode = mode.parse::<Mode>()?;
        }
        Ok(Firewall { inner })
    }

    /// `"shadow"` or `"enforce"`.
    #[wasm_bindgen(getter, unchecked_return_type = "Mode")]
    pub fn mode(&self) -> String {
        self.inner.mode.as_str().to_string()
    }

    /// Sets the mode; anything but `"shadow"` or `"enforce"` throws `unknown_variant`.
    #[wasm_bindgen(setter)]
    pub fn set_mode(&mut self, #[wasm_bindgen(unchecked_param_type = "Mode")] mode: String) -> Result<()> {
        self.inner.mode = mode.parse::<Mode>()?;
        Ok(())
    }

    /// Starts a session; `context` is the task as the user gave it (trusted text).
    pub fn begin(
        &self,
        #[wasm_bindgen(js_name = sessionId)] session_id: String,
        context: &str,
    ) -> FirewallSession {
        FirewallSession { inner: self.inner.begin(session_id, context) }
    }

    /// The verdict on a call before it runs: `{action, score, reasons: [{code, text}],
    /// enforced}`.
    ///
    /// `args` is JSON text or a JSON-compatible value; `effect` overrides the policy and the
    /// inference from the tool name; `costUsd` is the call's projected cost for the budget.
    #[wasm_bindgen(unchecked_return_type = "Verdict")]
    pub fn check(
        &self,
        session: &FirewallSession,
        tool: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] args: JsValue,
        now: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "Effect | null")] effect: Option<String>,
        #[wasm_bindgen(js_name = costUsd, unchecked_optional_param_type = "number")] cost_usd: Option<f64>,
    ) -> Result<JsValue> {
        let args = input::json_value(&args, "args")?;
        let call = call(tool, &args, effect, cost_usd)?;
        let now = input::unix_seconds(now, "now")?;
        Ok(to_js(&self.inner.check(&session.inner, &call, now)))
    }

    /// Records what became of a call (`outcome`: `"ran"`, `"trusted"`, `"approved"` or
    /// `"rejected"`) and what it returned (`output`, untrusted text, or `null`): teaches the
    /// profile and moves the session on.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        session: &mut FirewallSession,
        tool: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] args: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Outcome")] outcome: String,
        output: Option<String>,
        now: f64,
        #[wasm_bindgen(unchecked_optional_param_type = "Effect | null")] effect: Option<String>,
        #[wasm_bindgen(js_name = costUsd, unchecked_optional_param_type = "number")] cost_usd: Option<f64>,
    ) -> Result<()> {
        let args = input::json_value(&args, "args")?;
        let call = call(tool, &args, effect, cost_usd)?;
        let outcome: Outcome = outcome.parse()?;
        let now = input::unix_seconds(now, "now")?;
        self.inner.record(&mut session.inner, &call, outcome, output.as_deref(), now);
        Ok(())
    }

    /// Moves the session on past a call (its output marks values as untrusted) without
    /// teaching the profile.
    pub fn observe(
        &self,
        session: &mut FirewallSession,
        tool: &str,
        #[wasm_bindgen(unchecked_param_type = "unknown")] args: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "string | null")] output: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "Effect | null")] effect: Option<String>,
    ) -> Result<()> {
        let args = input::json_value(&args, "args")?;
        let call = call(tool, &args, effect, None)?;
        self.inner.observe_only(&mut session.inner, &call, output.as_deref());
        Ok(())
    }

    /// `{novelty, observations, transitions, ready}`: whether the profile may leave shadow
    /// mode.
    #[wasm_bindgen(unchecked_return_type = "Readiness")]
    pub fn readiness(&self) -> JsValue {
        to_js(&self.inner.readiness())
    }

    /// The learned profile as a graph of tools at `now`: `{nodes: [{id, tool, effect}],
    /// edges: [{from, to, p, count}]}`.
    #[wasm_bindgen(unchecked_return_type = "Graph")]
    pub fn graph(&self, now: f64) -> Result<JsValue> {
        let now = input::unix_seconds(now, "now")?;
        Ok(to_js(&self.inner.profile.graph(now, &self.inner.config)))
    }

    /// The graph of `graph(now)` laid out for drawing: `{nodes: [{id, tool, effect, layer, x,
    /// y, count}], edges, truncated}`.
    ///
    /// Keeps `^` and the `maxNodes − 1` most observed tools (`maxNodes` defaults to 60;
    /// `truncated` says how many were left out) and only the edges between them. `layer` is
    /// the longest path from `^` once the edges that close a cycle are set aside; `x` places
    /// layers left to right and `y` the nodes of a layer top to bottom (ordered to reduce
    /// crossings), both in [0, 1]. The same profile and `now` give the same layout.
    #[wasm_bindgen(unchecked_return_type = "Layout")]
    pub fn layout(
        &self,
        now: f64,
        #[wasm_bindgen(js_name = maxNodes)] max_nodes: Option<f64>,
    ) -> Result<JsValue> {
        let now = input::unix_seconds(now, "now")?;
        let max = input::opt_count(max_nodes, "maxNodes")?.unwrap_or(firewall::DEFAULT_MAX_NODES);
        Ok(to_js(&firewall::layout(&self.inner.profile.graph(now, &self.inner.config), max)))
    }

    /// The profile in its binary form (what the server stores).
    #[wasm_bindgen(js_name = profileBytes)]
    pub fn profile_bytes(&self) -> Vec<u8> {
        self.inner.profile.to_bytes()
    }

    /// Replaces the profile with one in binary form; bytes that are not one throw a
    /// `HandrailError` with code `profile_corrupt` and leave the profile as it was.
    #[wasm_bindgen(js_name = loadProfile)]
    pub fn load_profile(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] bytes: JsValue,
    ) -> Result<()> {
        self.inner.profile = Profile::from_bytes(&input::bytes(&bytes, "bytes")?)?;
        Ok(())
    }

    /// Adds another worker's profile, in binary form, into this one (`profile_corrupt` on
    /// bad bytes, leaving the profile as it was).
    #[wasm_bindgen(js_name = mergeProfile)]
    pub fn merge_profile(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array")] bytes: JsValue,
    ) -> Result<()> {
        let other = Profile::from_bytes(&input::bytes(&bytes, "bytes")?)?;
        self.inner.profile.merge(&other, &self.inner.config);
        Ok(())
    }
}

/// The layout of a profile in binary form, as `Firewall.layout` gives it (with the default
/// configuration, as the server's own graph): `profileBytes` is the body of `GET
/// /v1/agents/{agent}/profile` (`application/octet-stream`; `new Uint8Array(await
/// response.arrayBuffer())`), or an `ArrayBuffer` of it. Throws `profile_corrupt` for bytes
/// that are not a profile.
#[wasm_bindgen(js_name = layoutProfile, unchecked_return_type = "Layout")]
pub fn layout_profile(
    #[wasm_bindgen(js_name = profileBytes, unchecked_param_type = "Uint8Array | ArrayBuffer")] profile_bytes: JsValue,
    now: f64,
    #[wasm_bindgen(js_name = maxNodes)] max_nodes: Option<f64>,
) -> Result<JsValue> {
    let bytes = match profile_bytes.dyn_ref::<js_sys::ArrayBuffer>() {
        Some(buffer) => js_sys::Uint8Array::new(buffer).to_vec(),
        None => input::bytes(&profile_bytes, "profileBytes")?,
    };
    let profile = Profile::from_bytes(&bytes)?;
    let now = input::unix_seconds(now, "now")?;
    let max = input::opt_count(max_nodes, "maxNodes")?.unwrap_or(firewall::DEFAULT_MAX_NODES);
    Ok(to_js(&firewall::layout(&profile.graph(now, &Config::default()), max)))
}

/// A tool call, as the core takes it.
fn call<'a>(
    tool: &'a str,
    args: &'a Value,
    effect: Option<String>,
    cost_usd: Option<f64>,
) -> Result<Call<'a>> {
    Ok(Call {
        tool,
        args,
        effect: effect.map(|e| e.parse::<Effect>()).transpose()?,
        cost_usd: input::finite(cost_usd, "costUsd")?,
    })
}

/// A policy or a configuration, parsed by the core: absent means the default.
fn settings<T: Default>(
    value: &JsValue,
    arg: &str,
    parse: fn(&str) -> handrail_core::Result<T>,
) -> Result<T> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    let text = input::json_text(value, arg)?;
    // Bytes that are not UTF-8: the core's parser names the problem.
    let text = String::from_utf8(text)
        .map_err(|e| handrail_core::canonical::canonicalize(e.as_bytes()).unwrap_err())?;
    Ok(parse(&text)?)
}
