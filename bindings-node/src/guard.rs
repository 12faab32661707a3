//! The guard's rules (`handrail_core::guard`) for the TypeScript `guard` and `tool`: the
//! call key, the plan for a verdict, the review context, what to record, the observation
//! event and the text a model reads. Every decision is the core's; enum names are parsed by
//! the core (`unknown_variant`), JSON crosses as text.

use handrail_core::canonical;
use handrail_core::firewall::{Effect, Outcome, Verdict};
use handrail_core::guard::{self, Observed, Plan};
use handrail_core::request::Status;
use napi::bindgen_prelude::Unknown;
use napi::Env;
use napi_derive::napi;

use crate::error::ThrownJs;

/// The guard's key of one call: scope (the run), service (the agent), tool and the
/// canonical form of the JSON text `argsJson`. The exactly-once key of the call and the
/// review request's `Idempotency-Key`.
#[napi(ts_args_type = "scope: string, service: string, tool: string, argsJson: string | Uint8Array")]
pub fn guard_call_key(
    env: Env,
    scope: String,
    service: String,
    tool: String,
    args_json: Unknown<'_>,
) -> napi::Result<String> {
    crate::text::with_text(&env, args_json, |args| guard::call_key(&scope, &service, &tool, args))?
        .thrown(&env)
}

/// What the guard does with a verdict: `run` (allowed), `shadow` (would be held, but the
/// verdict is not enforced: run, ask nobody), `block` (do not run) or `ask` (a person first).
#[napi(ts_args_type = "action: Action, enforced: boolean", ts_return_type = "GuardPlan")]
pub fn guard_plan(env: Env, action: String, enforced: bool) -> napi::Result<&'static str> {
    Ok(Plan::for_action(action.parse().thrown(&env)?, enforced).as_str())
}

/// What the firewall records for a call that ended under `plan` (with the decision's status
/// after `ask`): `ran`, `approved`, `rejected`, or `null` (an enforced block records nothing).
#[napi(
    ts_args_type = "plan: GuardPlan, decision?: string | undefined | null",
    ts_return_type = "Outcome | null"
)]
pub fn guard_outcome(env: Env, plan: String, decision: Option<String>) -> napi::Result<Option<&'static str>> {
    let plan: Plan = plan.parse().thrown(&env)?;
    let decision: Option<Status> = decision.map(|d| d.parse()).transpose().thrown(&env)?;
    Ok(guard::outcome(plan, decision).thrown(&env)?.map(Outcome::as_str))
}

/// The review request's `context` (JSON text) for a held call: `{"firewall": {"action",
/// "score", "reasons"}, "task"?}`. `verdictJson` is the verdict's JSON.
#[napi]
pub fn guard_review_context(env: Env, verdict_json: String, task: Option<String>) -> napi::Result<String> {
    let value = canonical::parse(verdict_json.as_bytes()).thrown(&env)?;
    let verdict: handrail_core::Result<Verdict> = serde_json::from_value(value)
        .map_err(|e| handrail_core::Error::InvalidOptions { what: "verdict", reason: e.to_string() });
    let verdict = verdict.thrown(&env)?;
    Ok(guard::review_context(&verdict, task.as_deref()).to_string())
}

/// One recorded call, for `guardObservation`.
#[napi(object, object_to_js = false)]
pub struct GuardObserved {
    /// The call's `guardCallKey`.
    pub key: String,
    /// The session (the run's scope).
    pub session: String,
    /// The tool.
    pub tool: String,
    /// The arguments it ran with, JSON text.
    pub args_json: String,
    /// What the firewall recorded (`guardOutcome`).
    #[napi(ts_type = "Outcome")]
    pub outcome: String,
    /// When, Unix seconds.
    pub at: i64,
    /// The run's task text.
    pub context: Option<String>,
    /// The tool's declared effect.
    #[napi(ts_type = "Effect")]
    pub effect: Option<String>,
    /// What the tool returned, as text.
    pub output: Option<String>,
}

/// The `POST /v1/observations` event (JSON text) for a recorded call, its fields clipped to
/// the server's limits.
#[napi]
pub fn guard_observation(env: Env, observed: GuardObserved) -> napi::Result<String> {
    let args = canonical::parse(observed.args_json.as_bytes()).thrown(&env)?;
    let outcome: Outcome = observed.outcome.parse().thrown(&env)?;
    let effect: Option<Effect> = observed.effect.as_deref().map(str::parse).transpose().thrown(&env)?;
    let event = guard::observation(&Observed {
        key: &observed.key,
        session: &observed.session,
        tool: &observed.tool,
        args: &args,
        outcome,
        at: observed.at,
        context: observed.context.as_deref(),
        effect,
        output: observed.output.as_deref(),
    });
    Ok(event.to_string())
}

/// The text a model acts on for a decision: `APPROVED`, `APPROVED WITH EDITS: <summary>;
/// use these values: <canonical JSON of payloadJson>`, `REJECTED: <reason>` or
/// `<STATUS>: do not act`.
#[napi]
pub fn decision_text(
    env: Env,
    status: String,
    reason: Option<String>,
    summary: Option<String>,
    payload_json: Option<String>,
) -> napi::Result<String> {
    let status: Status = status.parse().thrown(&env)?;
    let payload = payload_json.map(|p| canonical::parse(p.as_bytes())).transpose().thrown(&env)?;
    guard::decision_text(status, reason.as_deref(), summary.as_deref(), payload.as_ref()).thrown(&env)
}

/// Names the plan type for TypeScript (`GuardPlan`); the functions above return its names.
#[napi(string_enum = "lowercase")]
pub enum GuardPlan {
    /// Run: the firewall allows the call.
    Run,
    /// Run, and report that the verdict would have held it (shadow mode).
    Shadow,
    /// Do not run (an enforced block).
    Block,
    /// Ask a person first (an enforced review).
    Ask,
}
