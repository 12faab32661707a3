//! The guard: the rule that runs before each guarded tool call, written once for every SDK.
//!
//! An SDK's `guard` wraps a tool. Around each call it does I/O (asks the server, runs the
//! tool, posts observations); every decision it takes on the way comes from here:
//!
//! 1. [`call_key`]: the call's key — the exactly-once key in the process and the review
//!    request's `Idempotency-Key` on the server.
//! 2. [`Plan::of`]: what to do with the firewall's [`Verdict`]. `allow` runs; a verdict
//!    that would hold the call in shadow mode ([`Verdict::enforced`] false) runs too and is
//!    reported as [`Plan::Shadow`], never enforced; an enforced `block` does not run; an
//!    enforced `review` asks a person.
//! 3. [`review_context`]: the `context` of the review request, `{"firewall": {"action",
//!    "score", "reasons"}, "task"?}` — the server's `held` flag and the dashboard's "why the
//!    firewall held this call" read `context.firewall`.
//! 4. [`outcome`]: what the firewall learns from how the call ended ([`Outcome::Ran`],
//!    [`Outcome::Approved`], [`Outcome::Rejected`]; an enforced block records nothing:
//!    the firewall's own verdict must not teach it, only people's decisions do).
//! 5. [`observation`]: the event for `POST /v1/observations` (its fields clipped to the
//!    server's limits), so every SDK reports the same call the same way.
//! 6. [`decision_text`]: the text a model reads for a decision (`"APPROVED"`, `"APPROVED
//!    WITH EDITS: …"`, `"REJECTED: <reason>"`), for `guard` and for the "person as a tool".
//!
//! Sans-IO like the rest of the core: no network, no clock (`at` is an argument).

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::canonical::{canonicalize_into, to_canonical};
use crate::error::{Error, Result};
use crate::firewall::{Action, Effect, Outcome, Verdict};
use crate::idempotency::derive_key;
use crate::request::Status;

/// The first part of every guard key: keeps them apart from other keys derived from the
/// same scope and names (`handrail.ask.v1`, plain [`crate::idempotency::tool_call_key`]).
pub const KEY_DOMAIN: &[u8] = b"handrail.guard.v1";

/// The server's limit on an observation's `args`, `output` and `context`, in bytes (64 KiB).
pub const MAX_FIELD: usize = 64 << 10;

/// The key of one guarded call: `idk_` + base64url SHA-256 of the length-prefixed
/// [`KEY_DOMAIN`], scope (the run), service (the agent), tool and canonical JSON of the
/// arguments. The same call in the same run always gets the same key, however its
/// arguments are spelled; another run, agent or tool gets another.
pub fn call_key(scope: &str, service: &str, tool: &str, args_json: &[u8]) -> Result<String> {
    let mut canonical = Vec::with_capacity(args_json.len());
    canonicalize_into(args_json, &mut canonical)?;
    Ok(call_key_canonical(scope, service, tool, &canonical))
}

/// [`call_key`] over arguments already in canonical JSON (a binding that walks its
/// language's values natively); the caller guarantees `canonical` is RFC 8785 output.
pub fn call_key_canonical(scope: &str, service: &str, tool: &str, canonical: &[u8]) -> String {
    derive_key(&[KEY_DOMAIN, scope.as_bytes(), service.as_bytes(), tool.as_bytes(), canonical])
}

/// What the guard does with a call, given the firewall's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Run the tool: the firewall allows it.
    Run,
    /// Run the tool, but report that the verdict would have held it (`review` or `block`
    /// in shadow mode): the profile is still learning, nothing is enforced, nobody is asked.
    Shadow,
    /// Do not run it; nobody is asked (an enforced `block`).
    Block,
    /// Ask a person first (an enforced `review`); run it only on approval.
    Ask,
}

impl Plan {
    /// The plan for `verdict`, honoring [`Verdict::enforced`].
    pub fn of(verdict: &Verdict) -> Plan {
        Plan::for_action(verdict.action, verdict.enforced)
    }

    /// The plan for a verdict's action, enforced or not.
    pub fn for_action(action: Action, enforced: bool) -> Plan {
        match (action, enforced) {
            (Action::Allow, _) => Plan::Run,
            (_, false) => Plan::Shadow,
            (Action::Block, true) => Plan::Block,
            (Action::Review, true) => Plan::Ask,
        }
    }

    /// True when the tool runs without asking anyone ([`Plan::Run`], [`Plan::Shadow`]).
    pub fn runs_now(self) -> bool {
        matches!(self, Plan::Run | Plan::Shadow)
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Run => "run",
            Plan::Shadow => "shadow",
            Plan::Block => "block",
            Plan::Ask => "ask",
        }
    }
}

impl FromStr for Plan {
    type Err = Error;
    fn from_str(s: &str) -> Result<Plan> {
        serde_json::from_value(Value::String(s.to_ascii_lowercase()))
            .map_err(|_| Error::UnknownVariant { kind: "plan", value: s.chars().take(40).collect() })
    }
}

/// The `context` of the review request for a held call: `{"firewall": {"action", "score",
/// "reasons": [{"code", "text"}]}}`, plus `"task"` when the run has task text.
pub fn review_context(verdict: &Verdict, task: Option<&str>) -> Value {
    let mut context = Map::new();
    context.insert(
        "firewall".into(),
        json!({ "action": verdict.action, "score": verdict.score, "reasons": verdict.reasons }),
    );
    if let Some(task) = task.filter(|t| !t.is_empty()) {
        context.insert("task".into(), Value::String(task.to_string()));
    }
    Value::Object(context)
}

/// What the firewall records for a call that ended under `plan`, with the person's
/// `decision` when the plan was [`Plan::Ask`]: `ran` for a call that ran without asking
/// (shadow included), `approved` for an approval (with or without edits), `rejected` for a
/// rejection or an expiry (nobody consented), nothing for an enforced block.
///
/// A decision that is still `PENDING` (or missing) after [`Plan::Ask`] is an
/// `invalid_options` error: the guard records only what has ended.
pub fn outcome(plan: Plan, decision: Option<Status>) -> Result<Option<Outcome>> {
    match plan {
        Plan::Run | Plan::Shadow => Ok(Some(Outcome::Ran)),
        Plan::Block => Ok(None),
        Plan::Ask => match decision {
            Some(s) if s.allows_action() => Ok(Some(Outcome::Approved)),
            Some(Status::Rejected | Status::Expired) => Ok(Some(Outcome::Rejected)),
            _ => Err(Error::InvalidOptions {
                what: "guard outcome",
                reason: "a reviewed call ends with a final decision".into(),
            }),
        },
    }
}

/// One guarded call as it is reported to the server.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The call's [`call_key`]; the event id is `<key>:<outcome>`.
    pub key: &'a str,
    /// The session (the run's scope).
    pub session: &'a str,
    /// The tool.
    pub tool: &'a str,
    /// The arguments it ran with (the approved ones after an edit).
    pub args: &'a Value,
    /// What the firewall recorded ([`outcome`]).
    pub outcome: Outcome,
    /// When, Unix seconds.
    pub at: i64,
    /// The run's task text.
    pub context: Option<&'a str>,
    /// The effect declared for the tool.
    pub effect: Option<Effect>,
    /// What the tool returned, as text.
    pub output: Option<&'a str>,
}

/// The observation event for `POST /v1/observations`: `{"id", "session", "tool", "args",
/// "outcome", "at", "context"?, "effect"?, "output"?}`. `output` and `context` are cut to
/// [`MAX_FIELD`] bytes at a character boundary; `args` that are not a JSON object, or
/// whose canonical JSON is longer than [`MAX_FIELD`], are sent as `{}` — the server would
/// refuse the whole batch otherwise.
pub fn observation(o: &Observed<'_>) -> Value {
    let args_fit = o.args.is_object() && to_canonical(o.args).is_ok_and(|t| t.len() <= MAX_FIELD);
    let mut event = Map::new();
    event.insert("id".into(), Value::String(format!("{}:{}", o.key, o.outcome.as_str())));
    event.insert("session".into(), Value::String(o.session.to_string()));
    event.insert("tool".into(), Value::String(o.tool.to_string()));
    event.insert("args".into(), if args_fit { o.args.clone() } else { Value::Object(Map::new()) });
    event.insert("outcome".into(), Value::String(o.outcome.as_str().to_string()));
    event.insert("at".into(), Value::from(o.at));
    if let Some(context) = o.context.filter(|c| !c.is_empty()) {
        event.insert("context".into(), Value::String(clip(context).to_string()));
    }
    if let Some(effect) = o.effect {
        event.insert("effect".into(), Value::String(effect.as_str().to_string()));
    }
    if let Some(output) = o.output {
        event.insert("output".into(), Value::String(clip(output).to_string()));
    }
    Value::Object(event)
}

/// `text` cut to at most [`MAX_FIELD`] bytes, at a character boundary.
pub fn clip(text: &str) -> &str {
    if text.len() <= MAX_FIELD {
        return text;
    }
    let mut end = MAX_FIELD;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The short text a model acts on for a decision:
///
/// - `APPROVED`;
/// - `APPROVED WITH EDITS: <summary>; use these values: <payload>` — the payload to act on
///   in canonical JSON, the edit's summary (`"edited"` when there is none);
/// - `REJECTED: <reason>` (`"no reason given"` when there is none);
/// - `<STATUS>: do not act` for anything else (`EXPIRED`, `PENDING`): no answer is consent.
///
/// An empty `reason` or `summary` counts as none. Fails only when `payload` cannot be
/// written as canonical JSON (an integer beyond ±2^53).
pub fn decision_text(
    status: Status,
    reason: Option<&str>,
    summary: Option<&str>,
    payload: Option<&Value>,
) -> Result<String> {
    Ok(match status {
        Status::Approved => "APPROVED".to_string(),
        Status::ApprovedWithModifications => {
            let summary = summary.filter(|s| !s.is_empty()).unwrap_or("edited");
            let values = to_canonical(payload.unwrap_or(&Value::Null))?;
            format!("APPROVED WITH EDITS: {summary}; use these values: {values}")
        }
        Status::Rejected => {
            format!("REJECTED: {}", reason.filter(|r| !r.is_empty()).unwrap_or("no reason given"))
        }
        Status::Pending | Status::Expired => format!("{}: do not act", status.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::Reason;

    fn verdict(action: Action, enforced: bool) -> Verdict {
        Verdict {
            action,
            score: 0.5,
            reasons: vec![Reason { code: "policy_review".into(), text: "pay always needs a person".into() }],
            enforced,
        }
    }

    #[test]
    fn shadow_never_holds() {
        for action in [Action::Allow, Action::Review, Action::Block] {
            assert!(Plan::of(&verdict(action, false)).runs_now(), "{action:?}");
        }
        assert_eq!(Plan::of(&verdict(Action::Review, false)), Plan::Shadow);
        assert_eq!(Plan::of(&verdict(Action::Allow, false)), Plan::Run);
        assert_eq!(Plan::of(&verdict(Action::Review, true)), Plan::Ask);
        assert_eq!(Plan::of(&verdict(Action::Block, true)), Plan::Block);
    }

    #[test]
    fn a_block_records_nothing_and_a_pending_review_is_refused() {
        assert_eq!(outcome(Plan::Block, None).unwrap(), None);
        assert_eq!(outcome(Plan::Shadow, None).unwrap(), Some(Outcome::Ran));
        assert_eq!(outcome(Plan::Ask, Some(Status::Expired)).unwrap(), Some(Outcome::Rejected));
        assert_eq!(outcome(Plan::Ask, Some(Status::Pending)).unwrap_err().code(), "invalid_options");
        assert_eq!(outcome(Plan::Ask, None).unwrap_err().code(), "invalid_options");
    }

    #[test]
    fn keys_are_canonical_and_scoped() {
        let a = call_key("run-1", "billing", "refund", br#"{"amount": 1.0, "order":"o"}"#).unwrap();
        assert_eq!(a, call_key("run-1", "billing", "refund", br#"{"order":"o","amount":1}"#).unwrap());
        assert_ne!(a, call_key("run-2", "billing", "refund", br#"{"order":"o","amount":1}"#).unwrap());
        assert_ne!(a, call_key("run-1", "support", "refund", br#"{"order":"o","amount":1}"#).unwrap());
    }

    #[test]
    fn clip_keeps_characters_whole() {
        let text = format!("{}é", "a".repeat(MAX_FIELD - 1));
        assert_eq!(clip(&text).len(), MAX_FIELD - 1);
        assert_eq!(clip("short"), "short");
    }
}
