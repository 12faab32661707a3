//! The behavioral firewall ([`handrail_core::firewall`]) for JavaScript.
//!
//! Two classes own the core's values ([`Firewall`] wraps [`fw::Firewall`], [`FirewallSession`]
//! wraps [`fw::Session`]); everything else is a plain object converted to or from a core
//! type. Nothing here decides anything: every verdict, every rule and every default is the
//! core's. Policy and configuration arrive as JSON text in the core's serde form (one wire
//! format with Python and the server) and are read by the core (`Policy::from_json`,
//! `Config::from_json`: unknown fields are `invalid_options`); tool arguments arrive as JSON
//! text too (a string or its bytes, read into a reused buffer), read by `canonical::parse`
//! (`json_syntax`, `integer_out_of_range`, …). Reading them natively from the JS object
//! (a walk of the JS value, since removed) was measured slower, even for `{"id":"INV-1"}`: napi costs more
//! per property than `JSON.stringify` plus the core's parser (BENCHMARKS.md, Node). Enum
//! strings are parsed by the core's `FromStr` (`unknown_variant`).
//!
//! Verdicts, the hot path, go through a hand-written napi function (`Firewall.checker`)
//! rather than napi-rs's generated glue, whose per-call borrow bookkeeping cost more than
//! the core's verdict; see `new_checker`.

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

use handrail_core::firewall::{self as fw, Call};
use napi::bindgen_prelude::{Buffer, ClassInstance, FromNapiValue, JavaScriptClassExt, Uint8Array, Unknown};
use napi::Env;
use napi::JsValue;
use napi_derive::napi;
use serde_json::Value;

use crate::error::{invalid_arg, Result, ThrownJs};

/// What to do with a call.
#[napi(string_enum = "lowercase")]
pub enum Action {
    /// Let it run.
    Allow,
    /// Ask a person first.
    Review,
    /// Do not run it.
    Block,
}

/// Whether verdicts are enforced: `shadow` reports them only (the default while the profile
/// learns), `enforce` applies them.
#[napi(string_enum = "lowercase")]
pub enum Mode {
    /// Computed and reported, never enforced.
    Shadow,
    /// Enforced.
    Enforce,
}

/// What a tool does to the world; declared, or inferred from the tool's name.
#[napi(string_enum = "lowercase")]
pub enum Effect {
    /// Reads only: recorded, never held.
    Read,
    /// Changes state inside the system.
    Write,
    /// Deletes or destroys.
    Destructive,
    /// Sends data out.
    Egress,
    /// Moves money.
    Payment,
}

/// What became of a call, for `record`.
#[napi(string_enum = "lowercase")]
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

/// How the native `Firewall` is built.
#[napi(object, object_to_js = false)]
pub struct FirewallInit {
    /// The policy as JSON text in the core's serde form (`FirewallPolicy`). Default: none.
    pub policy: Option<String>,
    /// The configuration as JSON text in the core's serde form (`FirewallConfig`).
    /// Default: the core's defaults.
    pub config: Option<String>,
    /// Default: `shadow`.
    #[napi(ts_type = "Mode")]
    pub mode: Option<String>,
}

/// One tool call: described to TypeScript only (the native methods take its fields as
/// arguments, which is cheaper than reading an object).
// Never built from or into JavaScript: it exists for its generated TypeScript type.
#[allow(dead_code)]
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct FirewallCall {
    /// Tool name.
    pub tool: String,
    /// The arguments as JSON text.
    pub args_json: String,
    /// The effect declared for this call, overriding the policy and the inference.
    #[napi(ts_type = "Effect")]
    pub effect: Option<String>,
    /// Projected cost in USD, for the budget guardrail.
    pub cost_usd: Option<f64>,
}

/// Rules a user sets beside learning: the core's `Policy`, with its serde field names.
///
/// The native firewall takes it as JSON text, read by the core's own parser (which refuses
/// unknown fields); this type only describes that JSON to TypeScript.
// Never built from or into JavaScript: it exists for its generated TypeScript type.
#[allow(dead_code)]
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct FirewallPolicy {
    /// Tools always allowed, whatever the profile says.
    pub allow: Option<Vec<String>>,
    /// Tools always blocked.
    pub deny: Option<Vec<String>>,
    /// Tools always held for a person.
    #[napi(js_name = "always_review")]
    pub always_review: Option<Vec<String>>,
    /// Declared effects per tool; others are inferred from the name.
    #[napi(ts_type = "Record<string, Effect>")]
    pub effects: Option<std::collections::HashMap<String, String>>,
    /// The agent's daily spending limit, in USD.
    #[napi(js_name = "daily_budget_usd", ts_type = "number | null")]
    pub daily_budget_usd: Option<f64>,
}

/// Tunable constants: the core's `Config`, with its serde field names; each one left out
/// keeps the core's default, unknown ones are refused. Described to TypeScript only, like
/// `FirewallPolicy`.
// Never built from or into JavaScript: it exists for its generated TypeScript type.
#[allow(dead_code)]
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct FirewallConfig {
    /// Half-life of what reads teach, in seconds (30 days).
    #[napi(js_name = "half_life_read_secs")]
    pub half_life_read_secs: Option<i64>,
    /// Half-life of what side-effecting calls teach, in seconds (180 days).
    #[napi(js_name = "half_life_effect_secs")]
    pub half_life_effect_secs: Option<i64>,
    /// Shadow mode ends when the novelty estimate falls below this (0.05).
    #[napi(js_name = "target_false_alarm")]
    pub target_false_alarm: Option<f64>,
    /// Observations after a predecessor before its node-level statistics are trusted (3).
    #[napi(js_name = "min_context")]
    pub min_context: Option<f64>,
    /// Approvals per tool and window that teach the profile (3).
    #[napi(js_name = "approval_cap")]
    pub approval_cap: Option<u32>,
    /// The approval window, in seconds (1 day).
    #[napi(js_name = "approval_window_secs")]
    pub approval_window_secs: Option<i64>,
    /// Score from which a side-effecting call is held for review (0.5).
    #[napi(js_name = "review_at")]
    pub review_at: Option<f64>,
    /// Decayed count of distinct trusted values from which a shape (an organisation's own
    /// e-mail domain, a directory its files go to) is learned per tool and argument (2.5).
    #[napi(js_name = "shape_min")]
    pub shape_min: Option<f64>,
}

/// Why: a stable code and a sentence for people.
#[napi(object, object_from_js = false)]
pub struct Reason {
    /// Stable code (`value_unseen`, `transition_new`, …).
    pub code: String,
    /// A human sentence.
    pub text: String,
}

/// The firewall's answer for one call.
// Described to TypeScript only: a verdict function (`Firewall.checker`) writes it into a
// reused buffer (and returns the reasons), from which the TypeScript layer builds this shape.
#[allow(dead_code)]
#[napi(object, object_from_js = false, object_to_js = false)]
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

/// How much the profile has seen, and whether it may leave shadow mode.
#[napi(object, object_from_js = false)]
pub struct Readiness {
    /// Good-Turing estimate of the chance that the next transition is new (1 before any).
    pub novelty: f64,
    /// Transitions observed (undecayed).
    pub observations: f64,
    /// Distinct tool-level transitions.
    pub transitions: f64,
    /// `novelty` is below the configured target false-alarm rate.
    pub ready: bool,
}

/// The profile as a graph of tools.
#[napi(object, object_from_js = false)]
pub struct Graph {
    /// Tools, and `^` for the session start.
    pub nodes: Vec<GraphNode>,
    /// Learned transitions between them.
    pub edges: Vec<GraphEdge>,
}

/// A tool in the graph.
#[napi(object, object_from_js = false)]
pub struct GraphNode {
    /// Index used by edges.
    pub id: u32,
    /// Tool name (`^` is the session start).
    pub tool: String,
    /// Effect class; absent for the session start.
    pub effect: Option<Effect>,
}

/// A learned transition.
#[napi(object, object_from_js = false)]
pub struct GraphEdge {
    /// From node id.
    pub from: u32,
    /// To node id.
    pub to: u32,
    /// P(to | from), decayed to `now`.
    pub p: f64,
    /// Observations (undecayed).
    pub count: u32,
}

// Both classes keep their core value in a `RefCell` and every method takes `&self`, so no
// call holds a `&mut` to either. A verdict function (`Firewall.checker`) holds the
// firewall's value itself and finds the session without napi-rs's per-call bookkeeping (its
// global borrow map cost more than the core's verdict; see `session_of`), and only reads
// them through shared borrows, made after every step that may run JavaScript. Mutation goes
// through `try_borrow_mut`, held only around core calls that run no JavaScript (errors are
// built before or after), so a conflicting borrow cannot happen; if it ever did, it throws
// instead of aliasing.

/// The state of one agent session between calls (the core's `Session`); made by
/// `Firewall.begin`.
#[napi]
pub struct FirewallSession {
    inner: RefCell<fw::Session>,
    /// Where napi-rs keeps this value (the pointer its JS object wraps), set by `begin`:
    /// its entry in [`SESSIONS`], removed when the value drops.
    key: Cell<usize>,
}

thread_local! {
    /// The wrapped pointers of this thread's live `FirewallSession`s: what lets a verdict
    /// function take a session from any JS value soundly (see `session_of`) without
    /// napi-rs's class check (a lock and two map look-ups) or its momentary `&mut`.
    static SESSIONS: RefCell<HashSet<usize, PointerHash>> = RefCell::new(HashSet::default());
}

impl Drop for FirewallSession {
    fn drop(&mut self) {
        let key = self.key.get();
        // Gone already when the thread exits; borrowed never (no JS or finalizer runs while
        // the set is borrowed).
        let _ = SESSIONS.try_with(|sessions| {
            if let Ok(mut sessions) = sessions.try_borrow_mut() {
                sessions.remove(&key);
            }
        });
    }
}

/// A hasher for heap addresses (Fibonacci hashing): cheaper than SipHash, and nothing here
/// is chosen by an attacker.
#[derive(Default, Clone, Copy)]
struct PointerHash;

impl std::hash::BuildHasher for PointerHash {
    type Hasher = PointerHasher;
    fn build_hasher(&self) -> PointerHasher {
        PointerHasher(0)
    }
}

struct PointerHasher(u64);

impl std::hash::Hasher for PointerHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[napi]
impl FirewallSession {
    /// The session id given to `begin`.
    #[napi(getter)]
    pub fn id(&self) -> napi::Result<String> {
        Ok(shared(&self.inner)?.id.clone())
    }
}

/// An agent's firewall: its learned profile, policy, configuration and mode.
#[napi]
pub struct Firewall {
    /// Shared with this firewall's verdict functions (`checker`).
    inner: Rc<RefCell<fw::Firewall>>,
}

/// A shared borrow of a class's core value; fails (never panics) on a conflicting borrow.
fn shared<T>(cell: &RefCell<T>) -> std::result::Result<std::cell::Ref<'_, T>, InUse> {
    cell.try_borrow().map_err(|_| InUse)
}

/// An exclusive borrow of a class's core value; fails (never panics) on a conflicting borrow.
fn exclusive<T>(cell: &RefCell<T>) -> std::result::Result<std::cell::RefMut<'_, T>, InUse> {
    cell.try_borrow_mut().map_err(|_| InUse)
}

/// A conflicting borrow of a firewall or session: unreachable while no borrow is held across
/// JavaScript, thrown rather than trusted.
struct InUse;

const IN_USE: &str = "the firewall or session is in use by another call";

impl From<InUse> for napi::Error {
    fn from(_: InUse) -> Self {
        napi::Error::new(napi::Status::GenericFailure, IN_USE.to_owned())
    }
}

#[napi]
impl Firewall {
    /// A firewall with an empty profile. Throws `invalid_options` for a policy or config the
    /// core does not accept, `unknown_variant` for an unknown mode.
    #[napi(constructor)]
    pub fn new(env: &Env, init: Option<FirewallInit>) -> Result<Self> {
        let FirewallInit { policy, config, mode } =
            init.unwrap_or(FirewallInit { policy: None, config: None, mode: None });
        let policy =
            policy.as_deref().map(fw::Policy::from_json).transpose().thrown(env)?.unwrap_or_default();
        let config =
            config.as_deref().map(fw::Config::from_json).transpose().thrown(env)?.unwrap_or_default();
        let mut inner = fw::Firewall::new(policy, config);
        if let Some(mode) = mode {
            inner.mode = mode.parse().thrown(env)?;
        }
        Ok(Firewall { inner: Rc::new(RefCell::new(inner)) })
    }

    /// Shadow or enforce. Setting an unknown mode throws `unknown_variant`.
    #[napi(getter)]
    pub fn mode(&self) -> Result<Mode> {
        Ok(shared(&self.inner)?.mode.into())
    }

    #[napi(setter, ts_args_type = "mode: Mode")]
    pub fn set_mode(&self, env: &Env, mode: String) -> Result<()> {
        let mode = mode.parse().thrown(env)?;
        exclusive(&self.inner)?.mode = mode;
        Ok(())
    }

    /// Starts a session; `context` is the task as the user gave it (trusted text).
    #[napi(ts_return_type = "FirewallSession")]
    pub fn begin<'env>(
        &self,
        env: &'env Env,
        session_id: String,
        context: String,
    ) -> napi::Result<ClassInstance<'env, FirewallSession>> {
        let inner = shared(&self.inner)?.begin(session_id, &context);
        let session = FirewallSession { inner: RefCell::new(inner), key: Cell::new(0) }.into_instance(env)?;
        // The address napi-rs wrapped (what `napi_unwrap` gives back), recorded for
        // `session_of`; the value's `Drop` removes it before the memory is freed.
        let key = std::ptr::from_ref::<FirewallSession>(&session) as usize;
        session.key.set(key);
        SESSIONS.with(|sessions| sessions.borrow_mut().insert(key));
        Ok(session)
    }

    /// A verdict function of this firewall, for the TypeScript layer to fetch once:
    /// `check(session, tool, argsJson, effect, costUsd, now, out)` writes `action` (0 allow,
    /// 1 review, 2 block), `score` and `enforced` (0 or 1) as three doubles into `out`, an
    /// `ArrayBuffer` of at least 24 bytes the caller keeps and reuses (and reads through a
    /// `Float64Array`), and returns the reasons, or `null` when there are none. Building no
    /// object per call is what keeps a verdict within a few µs: creating a JS array or
    /// object through napi cost more than the core's verdict itself. `argsJson` is JSON text
    /// (a string or its UTF-8 bytes), read by the core's strict parser (`json_syntax`,
    /// `integer_out_of_range`, …).
    ///
    /// A hand-written napi function holding its firewall, not a `#[napi]` method: napi-rs's
    /// generated glue registers each `&self` or `&T` argument in a global borrow map (a
    /// lock, a hash-map insert and remove) and allocates a borrow scope per call, which
    /// together cost about a third of a verdict. The function's arguments go through
    /// napi-rs's own `FromNapiValue` (the same checks and errors as a `#[napi]` method's),
    /// the session through a per-thread set of live sessions (`session_of`, the same
    /// errors); both values are read only through their `RefCell`s, never as `&mut`. `tool`
    /// and `effect` are read into stack buffers, not `String`s.
    #[napi(
        ts_return_type = "(session: FirewallSession, tool: string, argsJson: string | Uint8Array, effect: Effect | undefined | null, costUsd: number | undefined | null, now: number, out: ArrayBuffer) => Array<Reason> | null"
    )]
    pub fn checker<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        new_checker(env, &self.inner)
    }

    /// Records what became of a call and what it returned (untrusted `output`).
    #[napi(
        ts_args_type = "session: FirewallSession, tool: string, argsJson: string | Uint8Array, effect: Effect | undefined | null, costUsd: number | undefined | null, outcome: Outcome, output: string | undefined | null, now: number"
    )]
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &self,
        env: Env,
        session: &FirewallSession,
        tool: String,
        args_json: Unknown<'_>,
        effect: Option<String>,
        cost_usd: Option<f64>,
        outcome: String,
        output: Option<String>,
        now: f64,
    ) -> napi::Result<()> {
        let args = crate::text::with_text(&env, args_json, args_from_json)?.thrown(&env)?;
        let call = core_call(&tool, &args, effect.as_deref(), cost_usd).thrown(&env)?;
        let outcome = outcome.parse().thrown(&env)?;
        let now = unix_seconds(now)?;
        let (mut firewall, mut session) = (exclusive(&self.inner)?, exclusive(&session.inner)?);
        firewall.record(&mut session, &call, outcome, output.as_deref(), now);
        Ok(())
    }

    /// Updates the session alone (previous step, untrusted values) without teaching the
    /// profile.
    #[napi(
        ts_args_type = "session: FirewallSession, tool: string, argsJson: string | Uint8Array, effect?: Effect | undefined | null, output?: string | undefined | null"
    )]
    pub fn observe(
        &self,
        env: Env,
        session: &FirewallSession,
        tool: String,
        args_json: Unknown<'_>,
        effect: Option<String>,
        output: Option<String>,
    ) -> napi::Result<()> {
        let args = crate::text::with_text(&env, args_json, args_from_json)?.thrown(&env)?;
        let call = core_call(&tool, &args, effect.as_deref(), None).thrown(&env)?;
        let (firewall, mut session) = (shared(&self.inner)?, exclusive(&session.inner)?);
        firewall.observe_only(&mut session, &call, output.as_deref());
        Ok(())
    }

    /// Whether the profile may leave shadow mode.
    #[napi]
    pub fn readiness(&self) -> napi::Result<Readiness> {
        Ok(shared(&self.inner)?.readiness().into())
    }

    /// The tool-level graph of the profile at `now`.
    #[napi]
    pub fn graph(&self, now: f64) -> Result<Graph> {
        let now = unix_seconds(now)?;
        let firewall = shared(&self.inner)?;
        Ok(firewall.profile.graph(now, &firewall.config).into())
    }

    /// The profile's compact binary form.
    #[napi]
    pub fn profile_bytes(&self) -> napi::Result<Buffer> {
        Ok(shared(&self.inner)?.profile.to_bytes().into())
    }

    /// Replaces the profile with one read from `bytes`. Throws `profile_corrupt`.
    #[napi]
    pub fn load_profile(&self, env: &Env, bytes: Uint8Array) -> Result<()> {
        let profile = fw::Profile::from_bytes(&bytes).thrown(env)?;
        exclusive(&self.inner)?.profile = profile;
        Ok(())
    }

    /// Adds another worker's profile, read from `bytes`, into this one. Throws
    /// `profile_corrupt`.
    #[napi]
    pub fn merge_profile(&self, env: &Env, bytes: Uint8Array) -> Result<()> {
        let other = fw::Profile::from_bytes(&bytes).thrown(env)?;
        let mut firewall = exclusive(&self.inner)?;
        let fw::Firewall { profile, config, .. } = &mut *firewall;
        profile.merge(&other, config);
        Ok(())
    }
}

/// What a verdict function made by `Firewall.checker` holds: its firewall. Boxed as the
/// function's napi data, dropped by the function's finalizer.
type CheckerData = Rc<RefCell<fw::Firewall>>;

/// A verdict function of `firewall` (see `Firewall.checker`).
fn new_checker<'env>(env: &'env Env, firewall: &CheckerData) -> napi::Result<Unknown<'env>> {
    const NAME: &str = "check";
    let data = Box::into_raw(Box::new(Rc::clone(firewall)));
    let fail = |status: napi::sys::napi_status, what: &str| {
        // SAFETY: `data` came from `Box::into_raw` above and no finalizer owns it yet.
        drop(unsafe { Box::from_raw(data) });
        napi::Error::new(napi::Status::from(status), format!("{what} the check function failed"))
    };
    let mut function = std::ptr::null_mut();
    // SAFETY: valid env; the name is `NAME.len()` bytes of UTF-8; `data` is passed back to
    // `check_callback`, which reads it as the `CheckerData` it is.
    let status = unsafe {
        napi::sys::napi_create_function(
            env.raw(),
            NAME.as_ptr().cast(),
            NAME.len() as isize,
            Some(check_callback),
            data.cast(),
            &mut function,
        )
    };
    if status != napi::sys::Status::napi_ok {
        return Err(fail(status, "creating"));
    }
    // SAFETY: `function` is live; from here the finalizer owns `data` and frees it once the
    // function is collected, which cannot happen while a call of it runs.
    let status = unsafe {
        napi::sys::napi_add_finalizer(
            env.raw(),
            function,
            data.cast(),
            Some(drop_checker_data),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if status != napi::sys::Status::napi_ok {
        // The function exists but holds no finalizer: it must not outlive its data, so it is
        // not returned (and never called).
        return Err(fail(status, "finalizing"));
    }
    // SAFETY: a live handle just created in this env.
    unsafe { Unknown::from_napi_value(env.raw(), function) }
}

/// The finalizer of a verdict function: frees its [`CheckerData`].
unsafe extern "C" fn drop_checker_data(
    _env: napi::sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    // SAFETY: `data` is the `Box<CheckerData>` `new_checker` made for this function; napi
    // calls the finalizer once, after the function can no longer be called.
    drop(unsafe { Box::from_raw(data.cast::<CheckerData>()) });
}

/// The napi callback of a verdict function. A panic cannot unwind out of an `extern "C"`
/// function (it aborts), as with napi-rs's own callbacks.
unsafe extern "C" fn check_callback(
    env: napi::sys::napi_env,
    info: napi::sys::napi_callback_info,
) -> napi::sys::napi_value {
    const ARGS: usize = 7;
    let mut argv = [std::ptr::null_mut(); ARGS];
    let mut argc = ARGS;
    let mut data = std::ptr::null_mut();
    // SAFETY: `env` and `info` are this callback's; napi writes at most `argc` handles into
    // `argv`, fills the ones not passed with `undefined`, and gives back the function's data.
    let status = unsafe {
        napi::sys::napi_get_cb_info(env, info, &mut argc, argv.as_mut_ptr(), std::ptr::null_mut(), &mut data)
    };
    let result = if status == napi::sys::Status::napi_ok {
        // SAFETY: `data` is this function's `CheckerData` (`new_checker`), alive while the
        // function runs (its finalizer frees it only after the function is collected).
        let firewall = unsafe { &*data.cast::<CheckerData>() };
        // SAFETY: valid env, and `argv` holds live handles of this call.
        unsafe { check(env, firewall, &argv) }
    } else {
        Err(napi::Error::new(napi::Status::from(status), "reading the arguments failed".to_owned()))
    };
    match result {
        Ok(value) => value,
        Err(err) => {
            // SAFETY: valid env of this call; at most one exception is pending after this.
            unsafe { napi::JsError::from(err).throw_into(env) };
            std::ptr::null_mut()
        }
    }
}

/// [`check_callback`]'s work, with napi-rs's conversions for every argument.
///
/// # Safety
///
/// `env` is the env of the running callback and `argv` holds live handles of this call.
unsafe fn check(
    env: napi::sys::napi_env,
    firewall: &RefCell<fw::Firewall>,
    argv: &[napi::sys::napi_value; 7],
) -> napi::Result<napi::sys::napi_value> {
    use napi::bindgen_prelude::ToNapiValue;
    let [session, tool, args_json, effect, cost_usd, now, out] = *argv;
    // SAFETY: `env` is the running callback's and `session` a live handle of this call, as
    // the caller guarantees; `session_of` checks that it wraps a `FirewallSession`.
    let session = unsafe { session_of(env, session) }?;
    // SAFETY: live handles of this call (the caller's guarantee); `Unknown` takes any value.
    let (tool, args_json, effect) = unsafe {
        (
            Unknown::from_napi_value(env, tool)?,
            Unknown::from_napi_value(env, args_json)?,
            Unknown::from_napi_value(env, effect)?,
        )
    };
    // SAFETY: a live handle of this call; the conversion checks the value's type.
    let cost_usd = unsafe { Option::<f64>::from_napi_value(env, cost_usd) }?;
    // SAFETY: as above.
    let now = unsafe { f64::from_napi_value(env, now) }?;
    let env = Env::from_raw(env);

    let tool = SmallStr::read(&env, tool)?;
    let effect = SmallStr::read_optional(&env, effect)?;
    let args = crate::text::with_text(&env, args_json, args_from_json)?.thrown(&env)?;
    let call =
        core_call(tool.as_str(), &args, effect.as_ref().map(SmallStr::as_str), cost_usd).thrown(&env)?;
    let now = unix_seconds(now)?;
    let fw::Verdict { action, score, reasons, enforced } = {
        // SAFETY: `session` is a live `FirewallSession` (`session_of`): its JS object is an
        // argument of this call, so not collected, and no JS has run since (only the error
        // paths above run any, and they return). Only a shared reference is made, and it
        // ends here, before any JS can run again.
        let session = unsafe { &*session };
        let (firewall, session) = (shared(firewall)?, shared(&session.inner)?);
        firewall.check(&session, &call, now)
    };
    let action = match action {
        fw::Action::Allow => 0.0,
        fw::Action::Review => 1.0,
        fw::Action::Block => 2.0,
    };
    write_f64s(&env, out, [action, score, if enforced { 1.0 } else { 0.0 }])?;
    let reasons = (!reasons.is_empty()).then(|| {
        reasons.into_iter().map(|fw::Reason { code, text }| Reason { code, text }).collect::<Vec<_>>()
    });
    // SAFETY: valid env of this call.
    unsafe { Option::<Vec<Reason>>::to_napi_value(env.raw(), reasons) }
}

/// The `FirewallSession` `value` wraps, failing as a `#[napi]` method's `&FirewallSession`
/// argument does: `Failed to recover …` for an object nothing wraps, napi-rs's wrong-class
/// error for another class's instance.
///
/// The pointer `napi_unwrap` gives is only trusted once found in [`SESSIONS`], which holds
/// exactly the addresses of this thread's live sessions (recorded by `begin`, the only way
/// to make one, removed by `Drop` before the memory is freed): anything else, another
/// class's value included, is refused before any byte is read through it.
///
/// # Safety
///
/// `env` is the env of the running callback and `value` a live handle of this call.
unsafe fn session_of(
    env: napi::sys::napi_env,
    value: napi::sys::napi_value,
) -> napi::Result<*const FirewallSession> {
    let mut wrapped = std::ptr::null_mut();
    // SAFETY: as the caller guarantees; napi only writes the pointer.
    let status = unsafe { napi::sys::napi_unwrap(env, value, &mut wrapped) };
    if status != napi::sys::Status::napi_ok {
        return Err(napi::Error::new(
            napi::Status::from(status),
            "Failed to recover `FirewallSession` type from napi value".to_owned(),
        ));
    }
    if SESSIONS.with(|sessions| sessions.borrow().contains(&(wrapped as usize))) {
        Ok(wrapped.cast_const().cast())
    } else {
        Err(napi::Error::new(
            napi::Status::InvalidArg,
            format!("Value is not an instance of class `{}`", std::any::type_name::<FirewallSession>()),
        ))
    }
}

/// A JS string's UTF-8 text, on the stack when short (tool and effect names are).
struct SmallStr {
    buf: [u8; SmallStr::CAP],
    len: usize,
    heap: Option<String>,
}

impl SmallStr {
    /// Bytes on the stack, napi's NUL included. napi stops before a character that does
    /// not fit, so only text that leaves room for a whole one (4 bytes) surely is complete:
    /// anything longer is read again onto the heap.
    const CAP: usize = 128;

    /// `value` as text; anything but a string fails exactly as napi-rs's `String` does.
    fn read(env: &Env, value: Unknown<'_>) -> napi::Result<SmallStr> {
        let mut s = SmallStr { buf: [0; SmallStr::CAP], len: 0, heap: None };
        let mut copied = 0;
        // SAFETY: valid env and a live handle of this call; napi writes at most `CAP` bytes
        // (its NUL included) into the buffer, and fails for a non-string.
        let status = unsafe {
            napi::sys::napi_get_value_string_utf8(
                env.raw(),
                value.raw(),
                s.buf.as_mut_ptr().cast(),
                SmallStr::CAP,
                &mut copied,
            )
        };
        if status == napi::sys::Status::napi_ok && copied + crate::text::MAX_CHAR_UTF8 < SmallStr::CAP {
            s.len = copied;
            return Ok(s);
        }
        // Long, or not a string: napi-rs's own conversion, with its error.
        // SAFETY: valid env and a live handle of this call.
        s.heap = Some(unsafe { String::from_napi_value(env.raw(), value.raw()) }?);
        Ok(s)
    }

    /// As [`SmallStr::read`], with `undefined` and `null` as `None` (as napi-rs's `Option`).
    fn read_optional(env: &Env, value: Unknown<'_>) -> napi::Result<Option<SmallStr>> {
        match value.get_type()? {
            napi::ValueType::Undefined | napi::ValueType::Null => Ok(None),
            _ => SmallStr::read(env, value).map(Some),
        }
    }

    fn as_str(&self) -> &str {
        match &self.heap {
            Some(text) => text,
            // napi writes UTF-8 (a lone surrogate becomes U+FFFD, and a cut never happens
            // here), so this never fails; checking costs little at these lengths.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default(),
        }
    }
}

/// Writes `values` (native byte order, as a `Float64Array` over the buffer reads them) into
/// the `ArrayBuffer` `out`; throws `InvalidArg` for anything else (a `SharedArrayBuffer`
/// too), a detached or a shorter buffer. An `ArrayBuffer` costs napi less to reach than a
/// typed array (measured: ~0.1 µs a call).
fn write_f64s<const N: usize>(env: &Env, out: napi::sys::napi_value, values: [f64; N]) -> napi::Result<()> {
    let (mut data, mut len) = (std::ptr::null_mut(), 0);
    // SAFETY: valid env and handle; the call fails (status not ok) for anything but an
    // `ArrayBuffer`, and gives a length of 0 for a detached one.
    let status = unsafe { napi::sys::napi_get_arraybuffer_info(env.raw(), out, &mut data, &mut len) };
    let size = std::mem::size_of::<[f64; N]>();
    if status != napi::sys::Status::napi_ok || len < size || data.is_null() {
        return Err(napi::Error::new(
            napi::Status::InvalidArg,
            format!("out must be an ArrayBuffer of at least {size} bytes"),
        ));
    }
    // SAFETY: `data` points to `len` ≥ `size` writable bytes of a live, unshared buffer, and
    // no JS runs while this native call does; bytes are copied, so alignment does not matter.
    unsafe { std::ptr::copy_nonoverlapping(values.as_ptr().cast::<u8>(), data.cast::<u8>(), size) };
    Ok(())
}

thread_local! {
    /// The room `canonical::parse_with` needs, kept between calls (as `json::with_text` keeps its text).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// The core's strict parser (`canonical::parse_with`), with a scratch buffer kept between calls.
fn args_from_json(text: &[u8]) -> handrail_core::Result<Value> {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => handrail_core::canonical::parse_with(text, &mut scratch),
        // Reentrancy is impossible (the core calls no JS); a fresh buffer rather than a panic.
        Err(_) => handrail_core::canonical::parse(text),
    })
}

/// The core's view of one call; the effect name is parsed by the core (`unknown_variant`).
fn core_call<'a>(
    tool: &'a str,
    args: &'a Value,
    effect: Option<&str>,
    cost_usd: Option<f64>,
) -> handrail_core::Result<Call<'a>> {
    let effect = effect.map(str::parse).transpose()?;
    Ok(Call { tool, args, effect, cost_usd })
}

/// A time in whole Unix seconds (the core has no clock: every `now` is an argument).
fn unix_seconds(now: f64) -> Result<i64> {
    // 2^53: beyond it a double no longer holds every integer.
    const SAFE: f64 = 9_007_199_254_740_992.0;
    if now.fract() == 0.0 && now.abs() < SAFE {
        // Whole and within ±2^53, so the cast is exact.
        Ok(now as i64)
    } else {
        Err(invalid_arg(format!("now must be whole Unix seconds, not {now}")))
    }
}

// Conversions out of the core. Each destructures or matches exhaustively, so a field or
// variant added to the core fails to compile here instead of going missing in JavaScript.

impl From<fw::Action> for Action {
    fn from(action: fw::Action) -> Self {
        match action {
            fw::Action::Allow => Action::Allow,
            fw::Action::Review => Action::Review,
            fw::Action::Block => Action::Block,
        }
    }
}

impl From<fw::Mode> for Mode {
    fn from(mode: fw::Mode) -> Self {
        match mode {
            fw::Mode::Shadow => Mode::Shadow,
            fw::Mode::Enforce => Mode::Enforce,
        }
    }
}

impl From<fw::Effect> for Effect {
    fn from(effect: fw::Effect) -> Self {
        match effect {
            fw::Effect::Read => Effect::Read,
            fw::Effect::Write => Effect::Write,
            fw::Effect::Destructive => Effect::Destructive,
            fw::Effect::Egress => Effect::Egress,
            fw::Effect::Payment => Effect::Payment,
        }
    }
}

impl From<fw::Readiness> for Readiness {
    fn from(readiness: fw::Readiness) -> Self {
        let fw::Readiness { novelty, observations, transitions, ready } = readiness;
        // Counts stay exact as JavaScript numbers up to 2^53.
        Readiness { novelty, observations: observations as f64, transitions: transitions as f64, ready }
    }
}

impl From<fw::Graph> for Graph {
    fn from(graph: fw::Graph) -> Self {
        let fw::Graph { nodes, edges } = graph;
        Graph {
            nodes: nodes
                .into_iter()
                .map(|fw::GraphNode { id, tool, effect }| GraphNode {
                    id,
                    tool,
                    effect: effect.map(Into::into),
                })
                .collect(),
            edges: edges
                .into_iter()
                .map(|fw::GraphEdge { from, to, p, count }| GraphEdge { from, to, p, count })
                .collect(),
        }
    }
}

// The TypeScript-only descriptions must name every field and variant of the core's types:
// these conversions stop compiling when the core gains one they do not list.
#[allow(dead_code)]
fn _assert_described(
    policy: fw::Policy,
    config: fw::Config,
    outcome: fw::Outcome,
) -> (FirewallPolicy, FirewallConfig, Outcome) {
    let fw::Policy { allow, deny, always_review, effects, daily_budget_usd } = policy;
    let fw::Config {
        half_life_read_secs,
        half_life_effect_secs,
        target_false_alarm,
        min_context,
        approval_cap,
        approval_window_secs,
        review_at,
        shape_min,
    } = config;
    let policy = FirewallPolicy {
        allow: Some(allow.into_iter().collect()),
        deny: Some(deny.into_iter().collect()),
        always_review: Some(always_review.into_iter().collect()),
        effects: Some(effects.into_iter().map(|(tool, effect)| (tool, effect.to_string())).collect()),
        daily_budget_usd,
    };
    let config = FirewallConfig {
        half_life_read_secs: Some(half_life_read_secs),
        half_life_effect_secs: Some(half_life_effect_secs),
        target_false_alarm: Some(target_false_alarm),
        min_context: Some(min_context),
        approval_cap: Some(approval_cap),
        approval_window_secs: Some(approval_window_secs),
        review_at: Some(review_at),
        shape_min: Some(shape_min),
    };
    let outcome = match outcome {
        fw::Outcome::Ran => Outcome::Ran,
        fw::Outcome::Trusted => Outcome::Trusted,
        fw::Outcome::Approved => Outcome::Approved,
        fw::Outcome::Rejected => Outcome::Rejected,
    };
    (policy, config, outcome)
}
