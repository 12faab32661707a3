//! The behavioral firewall (`handrail_core::firewall`) as `handrail._core.Firewall` and
//! `handrail._core.FirewallSession`.
//!
//! Newtypes over the core's `Firewall` and `Session`; every method converts its arguments,
//! calls the core and converts the result. JSON crosses the boundary as text: the policy,
//! the configuration and a call's arguments arrive as JSON text (the pure-Python layer in
//! `handrail/_firewall.py` writes them with `json.dumps`); readiness and the graph leave as
//! JSON text. Policies, configurations, arguments and the mode, outcome and effect names are all
//! parsed by the core, so every binding accepts exactly the same input with the same codes.

use handrail_core::firewall::{Call, Config, Effect, Firewall, Mode, Outcome, Policy, Profile, Session};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use serde::Serialize;
use serde_json::Value;

use crate::error::CoreError;
use crate::input::JsonText;

/// One agent session between calls (``Firewall.begin`` makes one).
#[pyclass(name = "FirewallSession", module = "handrail")]
pub struct PySession {
    session: Session,
}

#[pymethods]
impl PySession {
    /// The session id given to ``Firewall.begin``.
    #[getter]
    fn id(&self) -> &str {
        &self.session.id
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!("FirewallSession(id={})", PyString::new(py, &self.session.id).repr()?))
    }
}

/// `(action, score, [(code, text)], enforced)`: a `Verdict` in Python's own types.
type VerdictTuple = (String, f64, Vec<(String, String)>, bool);

/// An agent's behavioral firewall; use ``handrail.Firewall``, which wraps this class.
#[pyclass(name = "Firewall", module = "handrail._core")]
pub struct PyFirewall {
    firewall: Firewall,
}

#[pymethods]
impl PyFirewall {
    /// ``policy`` and ``config`` are JSON text of the core's ``Policy`` and ``Config``.
    #[new]
    #[pyo3(signature = (policy = None, config = None, mode = "shadow"))]
    fn new(policy: Option<&str>, config: Option<&str>, mode: &str) -> PyResult<Self> {
        let policy = policy.map(Policy::from_json).transpose().map_err(CoreError)?.unwrap_or_default();
        let config = config.map(Config::from_json).transpose().map_err(CoreError)?.unwrap_or_default();
        let mut firewall = Firewall::new(policy, config);
        firewall.mode = mode.parse().map_err(CoreError)?;
        Ok(Self { firewall })
    }

    /// ``"shadow"`` or ``"enforce"``.
    #[getter]
    fn get_mode(&self) -> &'static str {
        self.firewall.mode.as_str()
    }

    #[setter]
    fn set_mode(&mut self, mode: &str) -> PyResult<()> {
        self.firewall.mode = mode.parse::<Mode>().map_err(CoreError)?;
        Ok(())
    }

    /// Starts a session; ``context`` is the task as the user gave it (trusted text).
    #[pyo3(signature = (session_id, context = ""))]
    fn begin(&self, session_id: &str, context: &str) -> PySession {
        PySession { session: self.firewall.begin(session_id, context) }
    }

    /// The verdict on a call before it runs; ``args`` is JSON text.
    #[pyo3(signature = (session, tool, args, now, effect = None, cost_usd = None))]
    fn check(
        &self,
        session: PyRef<'_, PySession>,
        tool: &str,
        args: JsonText,
        now: i64,
        effect: Option<&str>,
        cost_usd: Option<f64>,
    ) -> PyResult<VerdictTuple> {
        let args = parse_args(&args)?;
        let call = Call { tool, args: &args, effect: parse_effect(effect)?, cost_usd };
        let v = self.firewall.check(&session.session, &call, now);
        let reasons = v.reasons.into_iter().map(|r| (r.code, r.text)).collect();
        Ok((v.action.as_str().to_string(), v.score, reasons, v.enforced))
    }

    /// Records what became of a call and what it returned (untrusted ``output``).
    #[pyo3(signature = (session, tool, args, outcome, now, output = None, effect = None, cost_usd = None))]
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        mut session: PyRefMut<'_, PySession>,
        tool: &str,
        args: JsonText,
        outcome: &str,
        now: i64,
        output: Option<&str>,
        effect: Option<&str>,
        cost_usd: Option<f64>,
    ) -> PyResult<()> {
        let args = parse_args(&args)?;
        let outcome: Outcome = outcome.parse().map_err(CoreError)?;
        let call = Call { tool, args: &args, effect: parse_effect(effect)?, cost_usd };
        self.firewall.record(&mut session.session, &call, outcome, output, now);
        Ok(())
    }

    /// Updates the session alone (previous step, untrusted values); the profile stays as
    /// it is.
    #[pyo3(signature = (session, tool, args, output = None, effect = None))]
    fn observe(
        &self,
        mut session: PyRefMut<'_, PySession>,
        tool: &str,
        args: JsonText,
        output: Option<&str>,
        effect: Option<&str>,
    ) -> PyResult<()> {
        let args = parse_args(&args)?;
        let call = Call { tool, args: &args, effect: parse_effect(effect)?, cost_usd: None };
        self.firewall.observe_only(&mut session.session, &call, output);
        Ok(())
    }

    /// The core's ``Readiness`` as JSON text.
    fn readiness(&self) -> String {
        to_json(&self.firewall.readiness())
    }

    /// The core's ``Graph`` at ``now`` as JSON text.
    fn graph(&self, now: i64) -> String {
        to_json(&self.firewall.profile.graph(now, &self.firewall.config))
    }

    /// The profile's binary form.
    fn profile_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.firewall.profile.to_bytes())
    }

    /// Replaces the profile with one read from its binary form.
    fn load_profile(&mut self, data: &[u8]) -> Result<(), CoreError> {
        self.firewall.profile = Profile::from_bytes(data)?;
        Ok(())
    }

    /// Adds another worker's profile, in its binary form, into this one.
    fn merge_profile(&mut self, data: &[u8]) -> Result<(), CoreError> {
        let other = Profile::from_bytes(data)?;
        let Firewall { profile, config, .. } = &mut self.firewall;
        profile.merge(&other, config);
        Ok(())
    }
}

/// A call's arguments: any JSON value, as text, read by the core's strict parser.
fn parse_args(args: &JsonText) -> Result<Value, CoreError> {
    Ok(handrail_core::firewall::args_from_json(args.as_bytes())?)
}

fn parse_effect(effect: Option<&str>) -> Result<Option<Effect>, CoreError> {
    Ok(effect.map(str::parse).transpose()?)
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("the core's report types serialize to JSON")
}
