//! The behavioral firewall: learn each agent's normal tool use, hold what steps off it.
//!
//! A plain Markov chain over tool names interrupts far too many honest sessions (measured
//! on a realistic benchmark: 73% of injected calls caught, 44% of honest sessions
//! interrupted). This verdict weighs what the call does and where its values come from:
//!
//! 1. **Policies** first: per-tool deny (block), always-review, allow lists, and the daily
//!    budget (the call's projected cost against the agent's limit, before it runs).
//! 2. **Reads are never held**; they are only recorded.
//! 3. **Provenance**: per session, where each value came from — the task's text, a short
//!    string field of a tool output (a record), free text of an output, a value learned or
//!    approved before — and whether that output also addressed the agent with instructions
//!    (`instructions`: signals of structure and word classes — the reader named as a machine,
//!    overrides of its instructions, ordering against its reply, role markup and authority,
//!    secrecy towards the user, tool-call syntax and this agent's own tool names — combined by
//!    a small score).
//!    A destination (a recipient, account, IBAN, URL host, e-mail, phone number, path, or a
//!    string under a key like `user_id`, `payment_method_id`, `channel`, `password`; every
//!    string of a destructive call) is held when it occurs in such a tainted output unless
//!    the task names it, and when it comes only from free text or from nowhere; a field of a
//!    clean output vouches for it. After a tainted output, a side effect is held unless the
//!    task gives all its destinations. A value a person rejected before is blocked.
//! 4. **Behavior**: the transition from the previous call, backing off from node (tool +
//!    argument skeleton) to tool to effect class when data is sparse, rather than to longer
//!    n-grams. Novelty is reported but matters less than values: a new tool or step is held
//!    only when its destinations are not vouched for, when it destroys or pays with nothing
//!    to vouch for, or when it destroys and the task asks for no destruction.
//!
//! The score is the strongest signal (0–1); `review` at [`Config::review_at`] and above,
//! `block` for policy, budget and rejected values. In [`Mode::Shadow`] verdicts are computed
//! and reported but not enforced, until [`Profile::readiness`] — the Good-Turing chance that
//! the next transition is new — falls below the target false-alarm rate.
//!
//! Learning: [`Firewall::record`] after each call. Calls that merely ran teach the path;
//! values are learned only from trusted (training) and approved calls, and approvals per tool
//! are capped per time window so repetition cannot train the profile. Sans-IO like the rest
//! of the core: `now` is an argument.

mod effect;
mod instructions;
mod layout;
mod profile;
mod values;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use effect::Effect;
pub use layout::{layout, Layout, LayoutNode, DEFAULT_MAX_NODES};
pub use profile::{Graph, GraphEdge, GraphNode, Profile, Readiness};
use profile::{Level, START};

use crate::error::{Error, Result};
pub use instructions::{output_signals, Class, Signal, Signals, AIMED_SCORE, TAINT_SCORE};
pub use values::{sensitive_values, skeleton_hash, Kind, Sensitive};

/// Tunable constants, with the defaults the benchmarks were run with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Half-life of what reads teach, in seconds (30 days).
    pub half_life_read_secs: i64,
    /// Half-life of what side-effecting calls teach, in seconds (180 days: forgotten least).
    pub half_life_effect_secs: i64,
    /// Shadow mode ends when the novelty estimate falls below this (5%).
    pub target_false_alarm: f64,
    /// Observations after a predecessor before its node-level statistics are trusted (3).
    pub min_context: f64,
    /// Approvals per tool and window that teach the profile (3).
    pub approval_cap: u32,
    /// The approval window, in seconds (1 day).
    pub approval_window_secs: i64,
    /// Score from which a side-effecting call is held for review (0.5).
    pub review_at: f64,
    /// Decayed count of distinct trusted values from which a *shape* is learned for a tool
    /// and argument: an organisation's own e-mail domain, a directory its files go to (2.5:
    /// about three recent ones).
    pub shape_min: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            half_life_read_secs: 30 * 86_400,
            half_life_effect_secs: 180 * 86_400,
            target_false_alarm: 0.05,
            min_context: 3.0,
            approval_cap: 3,
            approval_window_secs: 86_400,
            review_at: 0.5,
            shape_min: 2.5,
        }
    }
}

impl Config {
    /// Reads a configuration from JSON text (missing fields take their defaults; unknown
    /// fields are refused).
    pub fn from_json(text: &str) -> Result<Config> {
        options_from_json("firewall configuration", text)
    }

    pub(crate) fn half_life(&self, effect: Effect) -> i64 {
        if effect.is_side_effecting() {
            self.half_life_effect_secs
        } else {
            self.half_life_read_secs
        }
    }
}

/// Rules a user sets beside learning.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Tools always allowed, whatever the profile says.
    pub allow: BTreeSet<String>,
    /// Tools always blocked.
    pub deny: BTreeSet<String>,
    /// Tools always held for a person.
    pub always_review: BTreeSet<String>,
    /// Declared effects (from wrapping the tool); others are inferred from the name.
    pub effects: BTreeMap<String, Effect>,
    /// The agent's daily spending limit, in USD.
    pub daily_budget_usd: Option<f64>,
}

impl Policy {
    /// Reads a policy from JSON text (`{"deny": [...], "effects": {"tool": "payment"}, …}`;
    /// unknown fields are refused).
    pub fn from_json(text: &str) -> Result<Policy> {
        options_from_json("firewall policy", text)
    }
}

fn options_from_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T> {
    const MAX_OPTIONS: usize = 1 << 20;
    if text.len() > MAX_OPTIONS {
        return Err(Error::TooLarge { size: text.len(), limit: MAX_OPTIONS });
    }
    serde_json::from_str(text).map_err(|e| Error::InvalidOptions { what, reason: e.to_string() })
}

/// Parses the wire names of the firewall's small enums (`"enforce"`, `"approved"`, …).
fn variant_from_str<T: serde::de::DeserializeOwned>(kind: &'static str, text: &str) -> Result<T> {
    serde_json::from_value(Value::String(text.to_ascii_lowercase()))
        .map_err(|_| Error::UnknownVariant { kind, value: text.chars().take(40).collect() })
}

/// Whether verdicts are enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Computed and reported, never enforced (the default while the profile learns).
    #[default]
    Shadow,
    /// Enforced.
    Enforce,
}

impl Mode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Shadow => "shadow",
            Mode::Enforce => "enforce",
        }
    }
}

impl FromStr for Mode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Mode> {
        variant_from_str("mode", s)
    }
}

/// What to do with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let it run.
    Allow,
    /// Ask a person first.
    Review,
    /// Do not run it.
    Block,
}

/// Why: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reason {
    /// Stable code (`value_unseen`, `transition_new`, …).
    pub code: String,
    /// A human sentence.
    pub text: String,
}

/// The firewall's answer for one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// What to do.
    pub action: Action,
    /// How far the call steps off the profile, 0–1.
    pub score: f64,
    /// Why, strongest first.
    pub reasons: Vec<Reason>,
    /// False in shadow mode: the caller reports the verdict but lets the call run.
    pub enforced: bool,
}

/// One tool call, as the agent is about to make it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// Tool name.
    pub tool: &'a str,
    /// Arguments (any JSON).
    pub args: &'a Value,
    /// The effect declared for this call, overriding the policy and the inference.
    pub effect: Option<Effect>,
    /// Projected cost in USD, for the budget guardrail.
    pub cost_usd: Option<f64>,
}

/// What became of a call, for [`Firewall::record`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It ran (allowed, or in shadow mode): teaches the path, not its values.
    Ran,
    /// Known-honest history (training): teaches path and values, uncapped.
    Trusted,
    /// A person approved it: teaches path and values, capped per tool and window.
    Approved,
    /// A person rejected it: its sensitive values are blocked from now on.
    Rejected,
}

impl Outcome {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ran => "ran",
            Outcome::Trusted => "trusted",
            Outcome::Approved => "approved",
            Outcome::Rejected => "rejected",
        }
    }
}

impl FromStr for Outcome {
    type Err = Error;
    fn from_str(s: &str) -> Result<Outcome> {
        variant_from_str("outcome", s)
    }
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Review => "review",
            Action::Block => "block",
        }
    }
}

impl FromStr for Action {
    type Err = Error;
    fn from_str(s: &str) -> Result<Action> {
        variant_from_str("action", s)
    }
}

/// The state of one agent session between calls.
#[derive(Debug, Clone)]
pub struct Session {
    /// The session id.
    pub id: String,
    context: (String, String),
    prev: Option<Prev>,
    /// Sensitive values first seen in tool output during this session.
    untrusted: HashSet<String>,
    /// Structured fields (short string fields of JSON) of outputs that carried no
    /// instructions: where an agent legitimately finds a recipient, a card, an order.
    from_records: HashSet<String>,
    /// The text of outputs that carried instructions addressed to the agent (searchable).
    tainted: (String, String),
    /// The first tool whose output carried instructions, once one did.
    tainted_by: Option<String>,
    /// Values of records the task names (see [`values::named_records`]).
    records: Vec<values::RecordValue>,
    /// Kinds of value the task gives itself (an IBAN, an e-mail address, …).
    context_kinds: Vec<Kind>,
    /// The task's identifying words (`2024-02`, `INV-2024-0299`).
    identifiers: Vec<String>,
    /// Whether the task asks to delete, remove, cancel… something.
    asks_destruction: bool,
    spent_usd: f64,
}

/// What a side-effecting call's destinations say about it, for the path checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Destinations {
    /// It has none.
    None,
    /// Every one is vouched for (the task, the profile, a rule, a clean record).
    Trusted,
    /// At least one is not.
    Untrusted,
}

#[derive(Debug, Clone)]
struct Prev {
    tool: String,
    skeleton: u64,
    effect: Effect,
}

/// An agent's firewall: its profile, policy, configuration and mode.
#[derive(Debug, Clone, Default)]
pub struct Firewall {
    /// What it learned.
    pub profile: Profile,
    /// Rules beside learning.
    pub policy: Policy,
    /// Constants.
    pub config: Config,
    /// Shadow or enforce.
    pub mode: Mode,
    /// Spending per UTC day: (day number, USD).
    spent: (i64, f64),
    /// Outputs never taint a session (an ablation: [`Firewall::without_taint`]).
    taint_off: bool,
}

impl Firewall {
    /// A firewall with an empty profile, in shadow mode.
    pub fn new(policy: Policy, config: Config) -> Firewall {
        Firewall { policy, config, ..Firewall::default() }
    }

    /// The same firewall with the taint rule disabled: no output is judged instruction-like,
    /// so `value_from_tainted_output` and `after_instructions` never fire and every clean
    /// output's fields vouch for values. For measuring what the taint buys
    /// (`handrail firewall eval --no-taint`), not for deployment.
    pub fn without_taint(mut self) -> Firewall {
        self.taint_off = true;
        self
    }

    /// Starts a session; `context` is the task as the user gave it (trusted text).
    pub fn begin(&self, id: impl Into<String>, context: &str) -> Session {
        Session {
            id: id.into(),
            context: values::searchable(context),
            prev: None,
            untrusted: HashSet::new(),
            from_records: HashSet::new(),
            tainted: (String::new(), String::new()),
            tainted_by: None,
            records: Vec::new(),
            context_kinds: values::sensitive_in_text(context).into_iter().map(|v| v.kind).collect(),
            identifiers: values::task_identifiers(context),
            asks_destruction: effect::asks_destruction(context),
            spent_usd: 0.0,
        }
    }

    /// The effect of a call: declared on the call, else in the policy, else inferred.
    pub fn effect_of(&self, call: &Call<'_>) -> Effect {
        call.effect
            .or_else(|| self.policy.effects.get(call.tool).copied())
            .unwrap_or_else(|| Effect::infer(call.tool))
    }

    /// Whether the profile may leave shadow mode.
    pub fn readiness(&self) -> Readiness {
        self.profile.readiness(&self.config)
    }

    /// The verdict on `call` before it runs.
    pub fn check(&self, session: &Session, call: &Call<'_>, now: i64) -> Verdict {
        let enforced = self.mode == Mode::Enforce;
        let verdict = |action, score, reasons| Verdict { action, score, reasons, enforced };
        let tool = call.tool;
        if self.policy.deny.contains(tool) {
            return verdict(
                Action::Block,
                1.0,
                vec![reason("policy_deny", format!("{tool} is on the deny list"))],
            );
        }
        if let Some(cost) = call.cost_usd.filter(|c| !c.is_finite() || *c < 0.0) {
            // Fail closed: a NaN or negative projection would slip past any budget.
            return verdict(
                Action::Block,
                1.0,
                vec![reason("cost_invalid", format!("{tool} reports a cost of {cost}"))],
            );
        }
        if let (Some(limit), Some(cost)) = (self.policy.daily_budget_usd, call.cost_usd) {
            let spent = if self.spent.0 == now.div_euclid(86_400) { self.spent.1 } else { 0.0 };
            if spent + cost > limit {
                let text = format!(
                    "{tool} would spend ${cost:.2}; ${spent:.2} of the ${limit:.2} daily budget is used"
                );
                return verdict(Action::Block, 1.0, vec![reason("budget_exceeded", text)]);
            }
        }
        if self.policy.allow.contains(tool) {
            return verdict(Action::Allow, 0.0, Vec::new());
        }
        let mut effect = self.effect_of(call);
        let mut sensitive = values::sensitive_values(call.args);
        // A request to another host that carries data in its URL is egress, whatever the
        // tool is called; a plain page fetch from a known host is a read.
        if sensitive.iter().any(|v| v.kind == Kind::Url && v.carries_data) && effect == Effect::Read {
            effect = Effect::Egress;
        }
        let mut found: Vec<(f64, Reason, Action)> = Vec::new();
        if self.policy.always_review.contains(tool) {
            found.push((
                1.0,
                reason("policy_review", format!("{tool} always needs a person")),
                Action::Review,
            ));
        }
        if effect == Effect::Destructive {
            // What a destruction acts on is a target whatever its key (`{"name": "payments"}`).
            let targets = values::targets(call.args, &sensitive);
            sensitive.extend(targets);
        }
        if effect.is_side_effecting() {
            let before = found.len();
            self.check_values(session, call, effect, &sensitive, now, &mut found);
            // Every destination is one the user named, one learned before or one a rule
            // trusts (reasons scored 0), or the call has none: the order of steps alone
            // does not hold it (honest agents vary their order), nor does a new tool.
            let destinations_trusted = found[before..].iter().all(|f| f.0 <= 0.0);
            if let Some(source) = session.tainted_by.as_deref() {
                // After the agent read instructions addressed to it, a side effect is held
                // unless the task itself gives every destination it uses.
                let from_task = !sensitive.is_empty()
                    && sensitive.iter().all(|v| values::occurs_in(v, &session.context))
                    && (effect != Effect::Destructive || session.asks_destruction);
                if !from_task {
                    let text = format!(
                        "the output of {source} addressed the agent with instructions earlier in this session, and this {effect} call uses destinations the task does not give"
                    );
                    found.push((0.7, reason("after_instructions", text), Action::Allow));
                }
            }
            let destinations = match (sensitive.is_empty(), destinations_trusted) {
                (true, _) => Destinations::None,
                (false, true) => Destinations::Trusted,
                (false, false) => Destinations::Untrusted,
            };
            self.check_path(session, call, effect, destinations, now, &mut found);
        }
        found.sort_by(|a, b| b.0.total_cmp(&a.0));
        let score = found.first().map_or(0.0, |f| f.0);
        let mut action = found.iter().map(|f| f.2).max().unwrap_or(Action::Allow);
        if action == Action::Allow && effect.is_side_effecting() && score >= self.config.review_at {
            action = Action::Review;
        }
        verdict(action, score, found.into_iter().map(|f| f.1).collect())
    }

    fn check_values(
        &self,
        session: &Session,
        call: &Call<'_>,
        effect: Effect,
        sensitive: &[Sensitive],
        now: i64,
        found: &mut Vec<(f64, Reason, Action)>,
    ) {
        let half_life = self.config.half_life_effect_secs;
        let tool_id = self.profile.tool_id(call.tool);
        for value in sensitive {
            let value_hash = values::hash64(value.normalized.as_bytes());
            let shown = shorten(&value.normalized);
            let noun = value.kind.noun();
            if self.profile.is_rejected(value_hash, now, half_life) {
                let text = format!("{noun} {shown} was rejected by a person before");
                found.push((1.0, reason("value_rejected", text), Action::Block));
                continue;
            }
            // Data carried out in a URL the task never gave, even to a host it names.
            if let Some(url) = value.url.as_deref().filter(|_| value.carries_data) {
                if !session.context.0.contains(url) {
                    let text = format!("the request to {shown} carries data the task did not give");
                    found.push((0.9, reason("data_in_url", text), Action::Allow));
                }
            }
            // Provenance, strongest first: the task's own words; an output that carried
            // instructions to the agent (whatever else vouches for the value); a value
            // learned or approved before; the rules below; a structured field of a clean
            // output; free text of an output; nowhere.
            if values::occurs_in(value, &session.context) {
                continue;
            }
            if let Some(source) =
                session.tainted_by.as_deref().filter(|_| values::occurs_in(value, &session.tainted))
            {
                let text = format!(
                    "{noun} {shown} comes from tool output that also addresses the agent with instructions (first seen from {source}), not from the task"
                );
                found.push((0.95, reason("value_from_tainted_output", text), Action::Allow));
                continue;
            }
            let path_hash = values::hash64(value.path.as_bytes());
            let known =
                tool_id.is_some_and(|t| self.profile.knows_value(t, path_hash, value_hash, now, half_life));
            if known {
                continue;
            }
            if let Some(why) = self.trusted_by_rule(session, call, effect, value, now) {
                // Trusted, but said: every value let through by a rule is explained.
                found.push((0.0, why, Action::Allow));
                continue;
            }
            if session.from_records.contains(&value.normalized) {
                let text = format!(
                    "{noun} {shown} is a field of a record a tool returned, in output that gave the agent no instructions"
                );
                found.push((0.0, reason("value_from_record", text), Action::Allow));
                continue;
            }
            if session.untrusted.contains(&value.normalized) {
                let text = format!("{noun} {shown} appears only in untrusted tool output, not in the task");
                found.push((0.95, reason("value_from_output", text), Action::Allow));
            } else {
                let text =
                    format!("{noun} {shown} never seen in the task or in approved {} calls", call.tool);
                found.push((0.9, reason("value_unseen", text), Action::Allow));
            }
        }
    }

    /// The rules that trust a value neither the task nor the profile gives, each one
    /// sentence in its reason; `None` when none applies.
    fn trusted_by_rule(
        &self,
        session: &Session,
        call: &Call<'_>,
        effect: Effect,
        value: &Sensitive,
        now: i64,
    ) -> Option<Reason> {
        let shown = shorten(&value.normalized);
        let noun = value.kind.noun();
        let tool = call.tool;
        // Read from output, only a true destination is trusted: a bare word under a
        // destination key (`prod`, `admin`) says nothing about whom the task meant.
        let from_output = value.kind != Kind::Name;
        // 1. A whole field of a record the task names: the vendor's IBAN on file, the
        //    contact's address. Injected text lives inside free-text fields, not here.
        let on_file = session.records.iter().find(|r| r.whole && r.value.normalized == value.normalized);
        if let Some(r) = on_file.filter(|_| from_output) {
            let text =
                format!("{noun} {shown} is on file in the record of {}, which the task names", r.label);
            return Some(reason("value_on_file", text));
        }
        // 2. A link fetched exactly as a named record gives it sends nothing of ours.
        if let Some(url) = value.url.as_deref().filter(|_| value.kind == Kind::Url && !value.carries_data) {
            let verbatim = session.records.iter().find(|r| r.value.url.as_deref() == Some(url));
            if let Some(r) = verbatim.filter(|_| values::only_string(call.args, url)) {
                let text = format!(
                    "the link to {shown} is exactly as the record of {} (named by the task) gives it, and the call sends nothing else",
                    r.label
                );
                return Some(reason("link_from_record", text));
            }
        }
        // 3. The task says where the value is ("the bank account the customer wrote in the
        //    ticket") without giving one, and the records it names hold exactly one.
        if from_output
            && !session.context_kinds.contains(&value.kind)
            && value.kind.asked_for(&session.context.0)
        {
            let mut of_kind = session.records.iter().filter(|r| r.value.kind == value.kind);
            let first = of_kind.next();
            let only = first.filter(|f| of_kind.all(|r| r.value.normalized == f.value.normalized));
            if let Some(r) = only.filter(|r| r.value.normalized == value.normalized) {
                let text = format!(
                    "the task asks for the {noun} in the record of {}, and {shown} is the only one there",
                    r.label
                );
                return Some(reason("value_delegated", text));
            }
        }
        let tool_id = self.profile.tool_id(tool)?;
        let path = values::hash64(value.path.as_bytes());
        let half_life = self.config.half_life_effect_secs;
        // 4. Mail to the organisation's own domain does not leave it.
        if value.kind == Kind::Email && effect == Effect::Egress {
            if let Some(domain) = values::email_domain(&value.normalized).filter(|d| !values::is_free_mail(d))
            {
                let n =
                    self.profile.value_weight(tool_id, path, shape_hash("domain", domain), now, half_life);
                if n >= self.config.shape_min {
                    let text = format!(
                        "e-mail domain {domain} is the organisation's own: {n:.0} different addresses there were approved for {tool}"
                    );
                    return Some(reason("domain_internal", text));
                }
            }
        }
        // 5. A path the agent built: in a directory this tool's files go to, named after
        //    an identifier from the task (`/finance/reports/paid-2024-02.csv`).
        if value.kind == Kind::Path {
            if let Some(dir) = values::parent_dir(&value.normalized) {
                let n = self.profile.value_weight(tool_id, path, shape_hash("dir", dir), now, half_life);
                let file = &value.normalized[dir.len()..];
                let from_task = session.identifiers.iter().find(|id| file.contains(id.as_str()));
                if let Some(id) = from_task.filter(|_| n >= self.config.shape_min) {
                    let text = format!(
                        "path {shown} is in {dir}, where {n:.0} approved {tool} files went, and is named after {id} from the task"
                    );
                    return Some(reason("path_derived", text));
                }
            }
        }
        None
    }

    fn check_path(
        &self,
        session: &Session,
        call: &Call<'_>,
        effect: Effect,
        destinations: Destinations,
        now: i64,
        found: &mut Vec<(f64, Reason, Action)>,
    ) {
        let p = &self.profile;
        let destinations_trusted = destinations != Destinations::Untrusted;
        let half_life = self.config.half_life(effect);
        // Borrowed: most verdicts give no reason, and then never print it.
        let after = session.prev.as_ref().map_or("the session start", |prev| prev.tool.as_str());
        let Some(tool) = p.tool_id(call.tool) else {
            // A new tool is judged by what it does with which values: reported, and held
            // only when its destinations are not all vouched for, or when it destroys or
            // pays and nothing in it comes from the task.
            let score = if !destinations_trusted {
                0.7
            } else if effect == Effect::Destructive && !session.asks_destruction {
                // Destroying what the task names is expected only when the task asks for a
                // destruction: "pay INV-7" does not ask to delete INV-7.
                0.85
            } else if destinations == Destinations::None
                && matches!(effect, Effect::Destructive | Effect::Payment)
            {
                0.7
            } else {
                0.3
            };
            let text = format!("first {} ({effect}) this agent ever makes, after {after}", call.tool);
            found.push((score, reason("tool_new", text), Action::Allow));
            return;
        };
        let prev_tool = session.prev.as_ref().map_or(Some(START), |prev| p.tool_id(&prev.tool));
        let prev_effect = session.prev.as_ref().map_or(START, |prev| prev.effect.id());
        let (tool_edge, tool_out) =
            prev_tool.map_or((0.0, 0.0), |pt| p.transition(Level::Tool, pt, tool, now, half_life));
        if tool_edge <= 0.0 {
            let (effect_edge, _) = p.transition(Level::Effect, prev_effect, effect.id(), now, half_life);
            // Destruction does not back off to its effect class: deleting something after a
            // step it never followed is new however often other deletions happened.
            if effect_edge <= 0.0 || effect == Effect::Destructive {
                let text = format!(
                    "first {} after {after}: no {effect} call ever followed this kind of step",
                    call.tool
                );
                // Trusted targets soften a new step, but not a new destruction: deleting the
                // very service the task names, right after a step deletion never followed,
                // is what an injected "delete it" looks like.
                let score = if destinations_trusted && effect != Effect::Destructive { 0.3 } else { 0.65 };
                found.push((score, reason("transition_new", text), Action::Allow));
            } else {
                let text = format!("{} has not followed {after} before", call.tool);
                found.push((0.35, reason("transition_rare", text), Action::Allow));
            }
            return;
        }
        // Enough data after the previous tool: how likely is this exact step?
        if tool_out >= self.config.min_context && tool_edge / tool_out < 0.02 {
            let text = format!("{} rarely follows {after} ({:.1}%)", call.tool, 100.0 * tool_edge / tool_out);
            found.push((0.3, reason("transition_rare", text), Action::Allow));
        }
        let skeleton = values::skeleton_hash(call.args);
        if p.node_id(tool, skeleton).is_none() {
            let text = format!("{} called with arguments of a shape not seen before", call.tool);
            found.push((0.3, reason("arguments_new", text), Action::Allow));
        }
    }

    /// Records what became of `call` (after it ran, or after a person decided) and what it
    /// returned. `output` is untrusted content: values in its free text are not trusted for
    /// later side-effecting calls of this session, its short fields (JSON, `key: value`
    /// lines) vouch for a destination, and if it addresses the agent with instructions
    /// nothing in it does, and the session is tainted from then on.
    pub fn record(
        &mut self,
        session: &mut Session,
        call: &Call<'_>,
        outcome: Outcome,
        output: Option<&str>,
        now: i64,
    ) {
        let effect = self.effect_of(call);
        let skeleton = values::skeleton_hash(call.args);
        match outcome {
            Outcome::Rejected => {
                for value in values::sensitive_values(call.args) {
                    let hash = values::hash64(value.normalized.as_bytes());
                    self.profile.reject_value(hash, now, self.config.half_life_effect_secs);
                }
            }
            Outcome::Ran | Outcome::Trusted | Outcome::Approved => {
                self.learn_path(session, call.tool, skeleton, effect, now);
                let tool = self.profile.tool_id(call.tool).expect("interned by learn_path");
                let teach_values = match outcome {
                    Outcome::Trusted => true,
                    Outcome::Approved => self.profile.approval_allowed(tool, now, &self.config),
                    _ => false,
                };
                if teach_values && effect.is_side_effecting() {
                    let half_life = self.config.half_life_effect_secs;
                    for value in values::sensitive_values(call.args) {
                        let path = values::hash64(value.path.as_bytes());
                        let hash = values::hash64(value.normalized.as_bytes());
                        // A value new to this argument also counts towards its shape (the
                        // domain of an address, the directory of a path).
                        if !self.profile.knows_value(tool, path, hash, now, half_life) {
                            let shape = match value.kind {
                                Kind::Email => {
                                    values::email_domain(&value.normalized).map(|d| shape_hash("domain", d))
                                }
                                Kind::Path => {
                                    values::parent_dir(&value.normalized).map(|d| shape_hash("dir", d))
                                }
                                _ => None,
                            };
                            if let Some(shape) = shape {
                                self.profile.learn_value(tool, path, shape, now, half_life);
                            }
                        }
                        self.profile.learn_value(tool, path, hash, now, half_life);
                    }
                }
                if let Some(cost) = call.cost_usd.filter(|c| c.is_finite() && *c >= 0.0) {
                    let day = now.div_euclid(86_400);
                    self.spent = if self.spent.0 == day { (day, self.spent.1 + cost) } else { (day, cost) };
                    session.spent_usd += cost;
                }
            }
        }
        self.observe(session, call, effect, skeleton, output);
    }

    /// Updates the session alone (previous step, untrusted values) without teaching the
    /// profile: how a call is followed when the profile must stay as it is.
    pub fn observe_only(&self, session: &mut Session, call: &Call<'_>, output: Option<&str>) {
        let effect = self.effect_of(call);
        self.observe(session, call, effect, values::skeleton_hash(call.args), output);
    }

    fn observe(
        &self,
        session: &mut Session,
        call: &Call<'_>,
        effect: Effect,
        skeleton: u64,
        output: Option<&str>,
    ) {
        if let Some(output) = output {
            let (lower, compact) = values::searchable(output);
            let decoded = values::percent_decoded(&lower);
            // A tool of this agent named in another tool's output is a tool-knowledge signal.
            let known_tool = |name: &str| {
                name != call.tool
                    && (self.policy.effects.contains_key(name) || self.profile.tool_id(name).is_some())
            };
            let tainted =
                !self.taint_off && instructions::tool_output_signals(output, &known_tool).instruction_like();
            if tainted {
                // Everything in this output is the attacker's to choose, structured or not.
                session.tainted.0.push_str(&lower);
                session.tainted.0.push('\n');
                if let Some(decoded) = decoded {
                    session.tainted.0.push_str(&decoded);
                    session.tainted.0.push('\n');
                }
                session.tainted.1.push_str(&compact);
                session.tainted.1.push('\n');
                session.tainted_by.get_or_insert_with(|| call.tool.to_string());
            } else {
                session.from_records.extend(values::record_fields(output));
            }
            for value in values::values_in_text(output) {
                let probe = Sensitive {
                    path: String::new(),
                    kind: Kind::Name,
                    normalized: value.clone(),
                    carries_data: false,
                    url: None,
                };
                if !values::occurs_in(&probe, &session.context) {
                    session.untrusted.insert(value);
                }
            }
            session.records.extend(values::named_records(output, &session.context.0));
        }
        session.prev = Some(Prev { tool: call.tool.to_string(), skeleton, effect });
    }

    fn learn_path(&mut self, session: &Session, tool: &str, skeleton: u64, effect: Effect, now: i64) {
        let half_life = self.config.half_life(effect);
        let p = &mut self.profile;
        let tool_id = p.intern_tool(tool, effect);
        let node = p.intern_node(tool_id, skeleton);
        let (prev_node, prev_tool, prev_effect) = match &session.prev {
            None => (START, START, START),
            Some(prev) => {
                let t = p.intern_tool(&prev.tool, prev.effect);
                (p.intern_node(t, prev.skeleton), t, prev.effect.id())
            }
        };
        p.observe(Level::Node, prev_node, node, now, half_life);
        p.observe(Level::Tool, prev_tool, tool_id, now, half_life);
        p.observe(Level::Effect, prev_effect, effect.id(), now, half_life);
    }
}

/// The key under which a shape (`domain`, `dir`) is counted beside a tool argument's values;
/// the NUL keeps it apart from every value's own hash.
fn shape_hash(what: &str, shape: &str) -> u64 {
    values::hash64(format!("{what}\0{shape}").as_bytes())
}

fn reason(code: &str, text: String) -> Reason {
    Reason { code: code.to_string(), text }
}

fn shorten(value: &str) -> String {
    if value.chars().count() <= 32 {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(31).collect::<String>())
    }
}

/// The call a session last made, as a server keeps it between batches of observations: a
/// session whose calls arrive in several batches then learns the same transitions as one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Tool name.
    pub tool: String,
    /// [`skeleton_hash`] of its arguments.
    pub skeleton: u64,
    /// Its effect class, as the firewall resolved it.
    pub effect: Effect,
}

impl Session {
    /// The call this session last made (recorded or observed), if any.
    pub fn last_step(&self) -> Option<Step> {
        self.prev.as_ref().map(|p| Step { tool: p.tool.clone(), skeleton: p.skeleton, effect: p.effect })
    }

    /// Continues this session after `step`, as if it had been its last call.
    pub fn resume_after(&mut self, step: Step) {
        self.prev = Some(Prev { tool: step.tool, skeleton: step.skeleton, effect: step.effect });
    }
}
