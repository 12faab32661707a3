//! `handrail firewall eval`: train the firewall on honest sessions, judge test sessions.
//!
//! Every TRAIN session is learned as honest (`Outcome::Trusted`), one profile per agent; the
//! profiles are then enforced. Each TEST session is judged alone against its agent's trained
//! profile: within the session, each call is checked before it "runs", then followed
//! (previous step, values seen in its output) without teaching the profile, so nothing
//! carries from one test session to the next. All sessions are evaluated at one fixed
//! instant, so decay plays no part.
//!
//! Input is read whole and validated before anything is printed: a malformed line is an
//! error naming the file and line, and stdout stays empty.

use std::collections::HashMap;

use handrail_core::firewall::{Action, Call, Effect, Firewall, Mode, Outcome, Policy, Verdict};
use serde_json::{json, Value};

/// The instant every session is evaluated at (2026-01-01T00:00:00Z).
const NOW: i64 = 1_767_225_600;
/// Largest input file accepted.
const MAX_INPUT: u64 = 1 << 30;

/// An input problem, reported with where it is.
#[derive(Debug)]
pub struct EvalError(pub String);

struct Session {
    id: String,
    agent: String,
    context: String,
    calls: Vec<CallIn>,
}

struct CallIn {
    tool: String,
    args: Value,
    effect: Option<Effect>,
    output: Option<String>,
}

fn read(path: &str) -> Result<String, EvalError> {
    let meta = std::fs::metadata(path).map_err(|e| EvalError(format!("{path}: {e}")))?;
    if meta.len() > MAX_INPUT {
        return Err(EvalError(format!("{path}: larger than {MAX_INPUT} bytes")));
    }
    std::fs::read_to_string(path).map_err(|e| EvalError(format!("{path}: {e}")))
}

fn parse_sessions(path: &str) -> Result<Vec<Session>, EvalError> {
    let text = read(path)?;
    let mut sessions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |msg: &str| EvalError(format!("{path} line {}: {msg}", i + 1));
        let value: Value = serde_json::from_str(line).map_err(|e| at(&format!("not JSON ({e})")))?;
        let obj = value.as_object().ok_or_else(|| at("expected a JSON object"))?;
        let id = match obj.get("session") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(at("\"session\" must be a string")),
        };
        let text_field = |name: &str| -> Result<String, EvalError> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(at(&format!("\"{name}\" must be a string"))),
            }
        };
        let agent = text_field("agent")?;
        let context = text_field("context")?;
        let calls_in =
            obj.get("calls").and_then(Value::as_array).ok_or_else(|| at("\"calls\" must be an array"))?;
        let mut calls = Vec::with_capacity(calls_in.len());
        for (j, call) in calls_in.iter().enumerate() {
            let bad = |msg: &str| at(&format!("call {j}: {msg}"));
            let call = call.as_object().ok_or_else(|| bad("expected an object"))?;
            let tool =
                call.get("tool").and_then(Value::as_str).ok_or_else(|| bad("\"tool\" must be a string"))?;
            if tool.is_empty() || tool.len() > 256 {
                return Err(bad("\"tool\" must be 1-256 bytes"));
            }
            let effect = match call.get("effect") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.parse::<Effect>().map_err(|e| bad(&e.to_string()))?),
                Some(_) => return Err(bad("\"effect\" must be a string")),
            };
            let output = match call.get("output") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            let args = call.get("args").cloned().unwrap_or_else(|| json!({}));
            calls.push(CallIn { tool: tool.to_string(), args, effect, output });
        }
        sessions.push(Session {
            id,
            agent: if agent.is_empty() { "default".into() } else { agent },
            context,
            calls,
        });
    }
    Ok(sessions)
}

fn parse_tools(path: &str) -> Result<Policy, EvalError> {
    let text = read(path)?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| EvalError(format!("{path}: not JSON ({e})")))?;
    let map = value.as_object().ok_or_else(|| EvalError(format!("{path}: expected an object of tools")))?;
    let mut policy = Policy::default();
    for (tool, spec) in map {
        let effect = spec
            .get("effect")
            .and_then(Value::as_str)
            .ok_or_else(|| EvalError(format!("{path}: tool {tool:?} needs an \"effect\" string")))?;
        let effect =
            effect.parse::<Effect>().map_err(|e| EvalError(format!("{path}: tool {tool:?}: {e}")))?;
        policy.effects.insert(tool.clone(), effect);
    }
    Ok(policy)
}

fn call<'a>(c: &'a CallIn) -> Call<'a> {
    Call { tool: &c.tool, args: &c.args, effect: c.effect, cost_usd: None }
}

/// Runs the evaluation and returns the output lines.
///
/// With `taint` false, outputs never taint a session ([`Firewall::without_taint`]): the
/// ablation that shows what the instruction-like rule adds.
pub fn run(train: &str, test: &str, tools: Option<&str>, taint: bool) -> Result<Vec<String>, EvalError> {
    let policy = tools.map(parse_tools).transpose()?.unwrap_or_default();
    let train = parse_sessions(train)?;
    let test = parse_sessions(test)?;
    let mut firewalls: HashMap<String, Firewall> = HashMap::new();
    let fresh = || {
        let mut fw = Firewall::new(policy.clone(), Default::default());
        fw.mode = Mode::Enforce;
        if taint {
            fw
        } else {
            fw.without_taint()
        }
    };
    for session in &train {
        let fw = firewalls.entry(session.agent.clone()).or_insert_with(fresh);
        let mut state = fw.begin(&session.id, &session.context);
        for c in &session.calls {
            fw.record(&mut state, &call(c), Outcome::Trusted, c.output.as_deref(), NOW);
        }
    }
    let untrained = fresh();
    let mut lines = Vec::with_capacity(test.len());
    for session in &test {
        let fw = firewalls.get(&session.agent).unwrap_or(&untrained);
        let mut state = fw.begin(&session.id, &session.context);
        let mut verdicts: Vec<Verdict> = Vec::with_capacity(session.calls.len());
        for c in &session.calls {
            verdicts.push(fw.check(&state, &call(c), NOW));
            fw.observe_only(&mut state, &call(c), c.output.as_deref());
        }
        let flagged_at = verdicts.iter().position(|v| v.action != Action::Allow);
        let verdicts: Vec<Value> = verdicts
            .iter()
            .map(|v| json!({ "action": v.action, "score": v.score, "reasons": v.reasons }))
            .collect();
        lines.push(
            json!({ "session": session.id, "flagged_at": flagged_at, "verdicts": verdicts }).to_string(),
        );
    }
    Ok(lines)
}
