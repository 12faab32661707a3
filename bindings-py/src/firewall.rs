//! The behavioral firewall (`handrail_core::firewall`) as `handrail._core.Firewall` and
//! `handrail._core.FirewallSession`.
//!
//! Newtypes over the core's `Firewall` and `Session`; every method converts its arguments,
//! calls the core and converts the result. JSON crosses the boundary as text: the policy,
//! the configuration and a call's arguments arrive as JSON text (the pure-Python layer in
//! `handrail/_firewall.py` writes them with `json.dumps`); readiness and the graph leave as
//! JSON text. Policies, configurations, arguments and the mode, outcome and effect names are all
//! parsed by the core, so every binding accepts exactly the same input with the same codes.

use handrail_core::firewall::{
    Action, Call, Config, Effect, Firewall, Mode, Outcome, Policy, Profile, Session, Verdict,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyString, PyTuple};
use serde::Serialize;
use serde_json::Value;

use crate::error::CoreError;
use crate::input::{JsonText, Str};
use crate::pyjson;

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

/// Why a call stepped off the profile: a stable ``code`` and a sentence for people.
#[pyclass(name = "Reason", module = "handrail", frozen, eq, hash)]
#[derive(PartialEq, Eq, Hash)]
pub struct PyReason {
    code: String,
    text: String,
}

#[pymethods]
impl PyReason {
    #[new]
    fn new(code: String, text: String) -> Self {
        Self { code, text }
    }

    /// Stable code: ``"value_unseen"``, ``"transition_new"``, ``"policy_deny"``, …
    #[getter]
    fn code(&self) -> &str {
        &self.code
    }

    /// A human sentence; may change between versions.
    #[getter]
    fn text(&self) -> &str {
        &self.text
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Reason(code={}, text={})",
            PyString::new(py, &self.code).repr()?,
            PyString::new(py, &self.text).repr()?
        ))
    }
}

/// The firewall's answer for one call.
///
/// Built by the core's verdict directly (no JSON, no dataclass on the hot path); compares
/// and hashes by value.
#[pyclass(name = "Verdict", module = "handrail", frozen)]
pub struct PyVerdict {
    action: Py<PyString>,
    score: f64,
    reasons: Py<PyTuple>,
    enforced: bool,
}

#[pymethods]
impl PyVerdict {
    #[new]
    fn new(
        action: Bound<'_, PyString>,
        score: f64,
        reasons: Bound<'_, PyAny>,
        enforced: bool,
    ) -> PyResult<Self> {
        let reasons = PyTuple::new(reasons.py(), reasons.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        Ok(Self { action: action.unbind(), score, reasons: reasons.unbind(), enforced })
    }

    /// ``"allow"``, ``"review"`` (ask a person first) or ``"block"``.
    #[getter]
    fn action(&self, py: Python<'_>) -> Py<PyString> {
        self.action.clone_ref(py)
    }

    /// How far the call steps off the profile, 0–1.
    #[getter]
    fn score(&self) -> f64 {
        self.score
    }

    /// Why, strongest first: a tuple of ``Reason``.
    #[getter]
    fn reasons(&self, py: Python<'_>) -> Py<PyTuple> {
        self.reasons.clone_ref(py)
    }

    /// False in shadow mode: report the verdict but let the call run.
    #[getter]
    fn enforced(&self) -> bool {
        self.enforced
    }

    fn __eq__(&self, py: Python<'_>, other: PyRef<'_, Self>) -> PyResult<bool> {
        Ok(self.score == other.score
            && self.enforced == other.enforced
            && self.action.bind(py).as_any().eq(other.action.bind(py))?
            && self.reasons.bind(py).as_any().eq(other.reasons.bind(py))?)
    }

    fn __hash__(&self, py: Python<'_>) -> PyResult<isize> {
        (self.action.bind(py), self.score, self.reasons.bind(py), self.enforced).into_pyobject(py)?.hash()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Verdict(action={}, score={}, reasons={}, enforced={})",
            self.action.bind(py).repr()?,
            PyFloat::new(py, self.score).repr()?,
            self.reasons.bind(py).repr()?,
            if self.enforced { "True" } else { "False" }
        ))
    }
}

impl PyVerdict {
    /// The core's verdict; every reason must be a ``Reason``.
    pub(crate) fn to_core(&self, py: Python<'_>) -> PyResult<Verdict> {
        let action: Action = self.action.bind(py).extract::<String>()?.parse().map_err(CoreError)?;
        let reasons = self
            .reasons
            .bind(py)
            .iter()
            .map(|r| {
                let r = r.cast::<PyReason>()?.borrow();
                Ok(handrail_core::firewall::Reason { code: r.code.clone(), text: r.text.clone() })
            })
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Verdict { action, score: self.score, reasons, enforced: self.enforced })
    }

    fn from_core(py: Python<'_>, v: Verdict) -> PyResult<Self> {
        let reasons = v
            .reasons
            .into_iter()
            .map(|r| Py::new(py, PyReason { code: r.code, text: r.text }))
            .collect::<PyResult<Vec<_>>>()?;
        // Interned: one string object per action name, not one per verdict.
        let action = match v.action {
            Action::Allow => pyo3::intern!(py, "allow"),
            Action::Review => pyo3::intern!(py, "review"),
            Action::Block => pyo3::intern!(py, "block"),
        };
        Ok(Self {
            action: action.clone().unbind(),
            score: v.score,
            reasons: PyTuple::new(py, reasons)?.unbind(),
            enforced: v.enforced,
        })
    }
}

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

    /// The verdict on a call before it runs; ``args`` is JSON text or a Python value.
    #[pyo3(signature = (session, tool, args, now, effect = None, cost_usd = None))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments, not a Rust call site.
    fn check(
        &self,
        py: Python<'_>,
        session: PyRef<'_, PySession>,
        tool: Str<'_>,
        args: &Bound<'_, PyAny>,
        now: i64,
        effect: Option<Str<'_>>,
        cost_usd: Option<f64>,
    ) -> PyResult<PyVerdict> {
        let args = parse_args(args)?;
        let call = Call { tool: tool.0, args: &args, effect: parse_effect(effect.map(|e| e.0))?, cost_usd };
        PyVerdict::from_core(py, self.firewall.check(&session.session, &call, now))
    }

    /// Records what became of a call and what it returned (untrusted ``output``).
    #[pyo3(signature = (session, tool, args, outcome, now, output = None, effect = None, cost_usd = None))]
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        mut session: PyRefMut<'_, PySession>,
        tool: &str,
        args: &Bound<'_, PyAny>,
        outcome: &str,
        now: i64,
        output: Option<&str>,
        effect: Option<&str>,
        cost_usd: Option<f64>,
    ) -> PyResult<()> {
        let args = parse_args(args)?;
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
        args: &Bound<'_, PyAny>,
        output: Option<&str>,
        effect: Option<&str>,
    ) -> PyResult<()> {
        let args = parse_args(args)?;
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

/// A call's arguments: JSON text (``str`` or ``bytes``), read by the core's strict parser,
/// or a Python value walked natively into the same `Value` (`pyjson::to_value`).
fn parse_args(args: &Bound<'_, PyAny>) -> PyResult<Value> {
    if args.is_instance_of::<PyString>() || args.is_instance_of::<PyBytes>() {
        let text: JsonText = args.extract()?;
        return Ok(handrail_core::canonical::parse(text.as_bytes()).map_err(CoreError)?);
    }
    pyjson::to_value(args)
}

fn parse_effect(effect: Option<&str>) -> Result<Option<Effect>, CoreError> {
    Ok(effect.map(str::parse).transpose()?)
}

fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("the core's report types serialize to JSON")
}
