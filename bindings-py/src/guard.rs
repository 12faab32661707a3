//! The guard's rules (`handrail_core::guard`) for ``handrail.guard``: the call key, the plan
//! for a verdict, the review context, what to record, the observation event and the text a
//! model reads. Every decision is the core's; names are parsed by the core
//! (``unknown_variant``), JSON results cross as text.

use handrail_core::firewall::{Effect, Outcome};
use handrail_core::guard::{self, Observed, Plan};
use handrail_core::request::Status;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::error::CoreError;
use crate::firewall::PyVerdict;
use crate::input::{JsonText, Str};
use crate::pyjson::{to_value, write_canonical};

/// The guard's key of one call: ``scope`` (the run), ``service`` (the agent), ``tool`` and
/// the canonical form of ``args`` (JSON text, or a Python value walked natively). The
/// exactly-once key of the call and the review request's ``Idempotency-Key``.
#[pyfunction]
pub fn guard_call_key(
    scope: Str<'_>,
    service: Str<'_>,
    tool: Str<'_>,
    args: &Bound<'_, PyAny>,
) -> PyResult<String> {
    if args.is_instance_of::<PyString>() || args.is_instance_of::<PyBytes>() {
        let text: JsonText = args.extract()?;
        return Ok(guard::call_key(scope.0, service.0, tool.0, text.as_bytes()).map_err(CoreError)?);
    }
    let mut canonical = Vec::with_capacity(1024);
    write_canonical(args, &mut canonical)?;
    Ok(guard::call_key_canonical(scope.0, service.0, tool.0, &canonical))
}

/// What the guard does with a verdict's ``action`` (enforced or not): ``"run"``,
/// ``"shadow"`` (would be held, not enforced: run, ask nobody), ``"block"`` or ``"ask"``.
#[pyfunction]
pub fn guard_plan(action: &str, enforced: bool) -> Result<&'static str, CoreError> {
    Ok(Plan::for_action(action.parse()?, enforced).as_str())
}

/// What the firewall records for a call that ended under ``plan`` (with the decision's
/// status after ``"ask"``): ``"ran"``, ``"approved"``, ``"rejected"``, or ``None`` (an
/// enforced block records nothing).
#[pyfunction]
#[pyo3(signature = (plan, decision = None))]
pub fn guard_outcome(plan: &str, decision: Option<&str>) -> Result<Option<&'static str>, CoreError> {
    let plan: Plan = plan.parse()?;
    let decision: Option<Status> = decision.map(str::parse).transpose()?;
    Ok(guard::outcome(plan, decision)?.map(Outcome::as_str))
}

/// The review request's ``context`` (JSON text) for a held call: ``{"firewall": {"action",
/// "score", "reasons"}, "task"?}``.
#[pyfunction]
#[pyo3(signature = (verdict, task = None))]
pub fn guard_review_context(verdict: PyRef<'_, PyVerdict>, task: Option<&str>) -> PyResult<String> {
    let verdict = verdict.to_core(verdict.py())?;
    Ok(guard::review_context(&verdict, task).to_string())
}

/// The ``POST /v1/observations`` event (JSON text) for a recorded call, its fields clipped
/// to the server's limits.
#[pyfunction]
#[pyo3(signature = (key, session, tool, args, outcome, at, context = None, effect = None, output = None))]
#[allow(clippy::too_many_arguments)]
pub fn guard_observation(
    key: &str,
    session: &str,
    tool: &str,
    args: &Bound<'_, PyAny>,
    outcome: &str,
    at: i64,
    context: Option<&str>,
    effect: Option<&str>,
    output: Option<&str>,
) -> PyResult<String> {
    let args = to_value(args)?;
    let outcome: Outcome = outcome.parse().map_err(CoreError)?;
    let effect: Option<Effect> = effect.map(str::parse).transpose().map_err(CoreError)?;
    let event = guard::observation(&Observed {
        key,
        session,
        tool,
        args: &args,
        outcome,
        at,
        context,
        effect,
        output,
    });
    Ok(event.to_string())
}

/// The text a model acts on for a decision: ``"APPROVED"``, ``"APPROVED WITH EDITS:
/// <summary>; use these values: <canonical JSON of payload>"``, ``"REJECTED: <reason>"`` or
/// ``"<STATUS>: do not act"``.
#[pyfunction]
#[pyo3(signature = (status, reason = None, summary = None, payload = None))]
pub fn decision_text(
    status: &str,
    reason: Option<&str>,
    summary: Option<&str>,
    payload: Option<&Bound<'_, PyAny>>,
) -> PyResult<String> {
    let status: Status = status.parse().map_err(CoreError)?;
    let payload = payload.filter(|p| !p.is_none()).map(to_value).transpose()?;
    Ok(guard::decision_text(status, reason, summary, payload.as_ref()).map_err(CoreError)?)
}
