//! Requests and decisions: the models every surface shares, the diff of an edited payload,
//! and validation of an edit against the request's JSON Schema.
//!
//! A person can approve a request, reject it with a reason, or edit its payload and approve
//! the edit. An edit must satisfy the JSON Schema the agent attached (draft 2020-12 and
//! older drafts, detected from `$schema`; remote `$ref`s are never fetched — the core does no
//! I/O). The agent receives the patched payload and a [`Diff`]: RFC 6902 operations plus a
//! short sentence a model or a person can read.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    /// Waiting for a person.
    Pending,
    /// Approved as asked.
    Approved,
    /// Approved after the person edited the payload.
    ApprovedWithModifications,
    /// Rejected, usually with a reason.
    Rejected,
    /// Nobody decided before the deadline; the agent must not act (fail closed).
    Expired,
}

impl Status {
    /// Every status, in lifecycle order.
    pub const ALL: [Status; 5] = [
        Status::Pending,
        Status::Approved,
        Status::ApprovedWithModifications,
        Status::Rejected,
        Status::Expired,
    ];

    /// The wire name (`APPROVED_WITH_MODIFICATIONS`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Approved => "APPROVED",
            Status::ApprovedWithModifications => "APPROVED_WITH_MODIFICATIONS",
            Status::Rejected => "REJECTED",
            Status::Expired => "EXPIRED",
        }
    }

    /// True once decided (anything but `PENDING`).
    pub fn is_final(self) -> bool {
        self != Status::Pending
    }

    /// True when the agent may act (`APPROVED` or `APPROVED_WITH_MODIFICATIONS`).
    pub fn allows_action(self) -> bool {
        matches!(self, Status::Approved | Status::ApprovedWithModifications)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = Error;
    fn from_str(s: &str) -> Result<Status> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownVariant { kind: "status", value: s.to_string() })
    }
}

/// How urgent a request is; the queue sorts by priority, then age.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Can wait.
    Low,
    /// The default.
    #[default]
    Medium,
    /// Soon.
    High,
    /// Now: money or data at stake.
    Critical,
}

impl Priority {
    /// Every priority, lowest first.
    pub const ALL: [Priority; 4] = [Priority::Low, Priority::Medium, Priority::High, Priority::Critical];

    /// The wire name (`low`…`critical`).
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Medium => "medium",
            Priority::High => "high",
            Priority::Critical => "critical",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Priority {
    type Err = Error;
    fn from_str(s: &str) -> Result<Priority> {
        Priority::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::UnknownVariant { kind: "priority", value: s.to_string() })
    }
}

/// What an agent asks a person to decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// The system acted on (`stripe`, `gmail`…).
    pub service: String,
    /// The action (`refund`, `send_email`…).
    pub action: String,
    /// The payload to approve: plain JSON, or an envelope (see [`crate::envelope`]).
    pub payload: Value,
    /// Urgency.
    #[serde(default)]
    pub priority: Priority,
    /// The role of the people who may decide, if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// JSON Schema an edited payload must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Seconds until the request expires (fail closed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    /// Free context: trace id, the task text, the firewall's reasons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// The id the client chose (`req_` + 16–32 base64url characters), so it can seal the
    /// payload for this id before the server has seen it; the server assigns one otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Longest `service`, `action` or `role`, in bytes.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a client-chosen request id: `req_` then 16–32 base64url characters.
pub fn check_id(id: &str) -> Result<()> {
    let rest = id.strip_prefix("req_").unwrap_or("");
    let b64url = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    if (16..=32).contains(&rest.len()) && rest.bytes().all(b64url) {
        Ok(())
    } else {
        Err(Error::UnknownVariant { kind: "request id", value: id.chars().take(40).collect() })
    }
}

/// True for a character that is not seen but changes how the text around it reads: the
/// Unicode bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) and every
/// other invisible format character of general category Cf (zero-width space and joiners,
/// word joiner and invisible operators, byte order mark, soft hyphen, Mongolian vowel
/// separator, Arabic and Syriac number marks, interlinear annotation, tags U+E0000–U+E007F…).
///
/// The table is written out here (Unicode 15.1's Cf, plus the unassigned U+2065 inside the
/// U+2060–U+206F block) so the core needs no Unicode database; every surface asks this
/// function, none keeps its own list.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE007F
    )
}

/// Refuses `text` when it holds an [invisible character](is_invisible), naming `what` (the
/// field) and the first such code point: [`Error::InvisibleCharacter`], `invisible_character`.
pub fn check_visible(what: &'static str, text: &str) -> Result<()> {
    match text.chars().find(|&c| is_invisible(c)) {
        Some(c) => Err(Error::InvisibleCharacter { what, codepoint: c as u32 }),
        None => Ok(()),
    }
}

/// Checks every member name of `value`, at any depth (iteratively: no recursion on hostile
/// depth, though the canonical parser already bounds it).
fn check_member_names(what: &'static str, value: &Value) -> Result<()> {
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(map) => {
                for (name, inner) in map {
                    check_visible(what, name)?;
                    todo.push(inner);
                }
            }
            Value::Array(items) => todo.extend(items),
            _ => {}
        }
    }
    Ok(())
}

/// `text` with each [invisible character](is_invisible) written as `<U+XXXX>` (uppercase
/// hex, at least four digits: `<U+202E>`, `<U+E0041>`), so a person sees that it is there
/// and where; borrowed unchanged when there is none. Payload string values may hold such
/// characters (names may not, see [`NewRequest::validate`]): whatever shows a payload, a
/// preview or a diff to a person renders it through this.
pub fn reveal_invisible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_invisible) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_invisible(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

impl NewRequest {
    /// Checks names (no control or [invisible](is_invisible) characters in `service`,
    /// `action`, `role`, nor in any member name of `payload`, `schema` or `context`),
    /// compiles the schema, and validates a plain payload against it.
    pub fn validate(&self) -> Result<()> {
        for (what, value) in
            [("service", Some(&self.service)), ("action", Some(&self.action)), ("role", self.role.as_ref())]
        {
            if let Some(v) = value {
                check_visible(what, v)?;
                if v.is_empty() || v.len() > MAX_NAME_LEN || v.chars().any(char::is_control) {
                    return Err(Error::UnknownVariant { kind: what, value: v.chars().take(40).collect() });
                }
            }
        }
        check_member_names("payload member name", &self.payload)?;
        for (what, value) in [("schema member name", &self.schema), ("context member name", &self.context)] {
            if let Some(v) = value {
                check_member_names(what, v)?;
            }
        }
        if let Some(id) = &self.id {
            check_id(id)?;
        }
        if let Some(schema) = &self.schema {
            if crate::envelope::is_envelope(&self.payload) {
                compile_schema(schema)?; // the client checks the opened payload
            } else {
                validate_edit(schema, &self.payload)?;
            }
        }
        Ok(())
    }
}

/// A request as the server stores and returns it: the one wire model the server's store and
/// routes, the protocol's reads and the dashboard's generated types share. The payload is as
/// stored (an envelope when the client encrypts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Request {
    /// `req_…`.
    pub id: String,
    /// The project it belongs to.
    pub project: String,
    /// The system acted on (`stripe`, `gmail`…).
    pub service: String,
    /// The action (`refund`, `send_email`…).
    pub action: String,
    /// The payload to approve: plain JSON, or an envelope.
    pub payload: Value,
    /// Urgency.
    pub priority: Priority,
    /// The role of the people who may decide, if restricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// JSON Schema an edited payload must satisfy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Free context the agent attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
    /// Where it stands.
    pub status: Status,
    /// When it was created, Unix seconds.
    pub created_at: i64,
    /// Its deadline (then EXPIRED, fail closed), Unix seconds.
    pub expires_at: i64,
    /// The decision, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    /// Moves to other roles while pending, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// The key that created it (an agent key reads only the requests it created).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// The parked state's metadata, where the answer carries it (a request's events do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotMeta>,
}

/// One move of a pending request to another role (or a notification to someone), as its
/// escalation policy or the request's own escalation made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Escalation {
    /// The role it had (absent: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The role it was given (absent: its role did not change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Whom the escalation is for, as the agent named it (an e-mail address, a role): for the
    /// operator's notification hook, which reads it from the `request.escalated` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Unix seconds.
    pub at: i64,
}

/// Metadata of a parked state snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SnapshotMeta {
    /// Bytes stored.
    pub size: u64,
    /// SHA-256 of the stored bytes, hex.
    pub sha256: String,
    /// Upload time, Unix seconds.
    pub created_at: i64,
    /// A fresh download link (absent in webhook bodies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A person's (or the deadline's) decision on a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Decision {
    /// The request decided.
    pub request_id: String,
    /// The outcome.
    pub status: Status,
    /// The payload the agent should act on (the patched one after an edit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// The edited payload, when the person edited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched_payload: Option<Value>,
    /// What the edit changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<Diff>,
    /// Who decided: an operator key's id, `email:ADDRESS`, `slack:USER`, or `system`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The decider's display name where the channel they decided through names them (a Slack
    /// member's name on the channel), as it was when they decided. Shown next to `actor`,
    /// which stays the identity; the proof binds `actor`, not this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_name: Option<String>,
    /// Why (required in practice for rejections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The grant (`grt_…`) this approval was made under or gave (see `POST …/resolve`'s
    /// `grant`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// When, Unix seconds.
    pub decided_at: i64,
    /// The signed decision proof (see [`crate::proof`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

/// One RFC 6902 operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    /// Adds a member or array element.
    Add { path: String, value: Value },
    /// Removes a member or array element.
    Remove { path: String },
    /// Replaces a value.
    Replace { path: String, value: Value },
}

/// What an edit changed: RFC 6902 operations and a one-line summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Diff {
    /// Operations turning the original payload into the edited one, in order.
    pub ops: Vec<PatchOp>,
    /// A short human sentence ("amount: 500 → 50; removed cc").
    pub summary: String,
}

impl Diff {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Computes the structural diff from `before` to `after`.
///
/// Objects are compared member by member, arrays element by element (a longer array gets
/// `add`s at the end, a shorter one `remove`s from the end, highest index first), anything
/// else is replaced whole. [`apply`]ing the result to `before` yields `after`.
pub fn diff(before: &Value, after: &Value) -> Diff {
    let mut ops = Vec::new();
    diff_into(before, after, &mut String::new(), &mut ops);
    let summary = summarize(before, &ops);
    Diff { ops, summary }
}

fn diff_into(before: &Value, after: &Value, path: &mut String, ops: &mut Vec<PatchOp>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(a), Value::Object(b)) => {
            for (key, old) in a {
                let len = path.len();
                push_token(path, key);
                match b.get(key) {
                    Some(new) => diff_into(old, new, path, ops),
                    None => ops.push(PatchOp::Remove { path: path.clone() }),
                }
                path.truncate(len);
            }
            for (key, new) in b {
                if !a.contains_key(key) {
                    let len = path.len();
                    push_token(path, key);
                    ops.push(PatchOp::Add { path: path.clone(), value: new.clone() });
                    path.truncate(len);
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            let common = a.len().min(b.len());
            for i in 0..common {
                let len = path.len();
                push_token(path, &i.to_string());
                diff_into(&a[i], &b[i], path, ops);
                path.truncate(len);
            }
            for i in (common..a.len()).rev() {
                ops.push(PatchOp::Remove { path: format!("{path}/{i}") });
            }
            for (i, item) in b.iter().enumerate().skip(common) {
                ops.push(PatchOp::Add { path: format!("{path}/{i}"), value: item.clone() });
            }
        }
        _ => ops.push(PatchOp::Replace { path: path.clone(), value: after.clone() }),
    }
}

/// Appends one JSON Pointer reference token (`~` → `~0`, `/` → `~1`).
fn push_token(path: &mut String, token: &str) {
    path.push('/');
    for c in token.chars() {
        match c {
            '~' => path.push_str("~0"),
            '/' => path.push_str("~1"),
            _ => path.push(c),
        }
    }
}

fn unescape_token(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Applies `add`, `remove` and `replace` operations (what [`diff`] emits) to a document.
pub fn apply(doc: &Value, ops: &[PatchOp]) -> Result<Value> {
    let mut doc = doc.clone();
    for op in ops {
        match op {
            PatchOp::Replace { path, value } if path.is_empty() => doc = value.clone(),
            PatchOp::Add { path, value } | PatchOp::Replace { path, value } => {
                let (parent, last) = split_pointer(path)?;
                let target = doc.pointer_mut(&parent).ok_or_else(|| bad_path(path))?;
                match target {
                    Value::Object(map) => {
                        if matches!(op, PatchOp::Replace { .. }) && !map.contains_key(&last) {
                            return Err(bad_path(path));
                        }
                        map.insert(last, value.clone());
                    }
                    Value::Array(items) => {
                        let index = if last == "-" { items.len() } else { parse_index(&last, path)? };
                        match op {
                            PatchOp::Add { .. } if index <= items.len() => items.insert(index, value.clone()),
                            PatchOp::Replace { .. } if index < items.len() => items[index] = value.clone(),
                            _ => return Err(bad_path(path)),
                        }
                    }
                    _ => return Err(bad_path(path)),
                }
            }
            PatchOp::Remove { path } => {
                let (parent, last) = split_pointer(path)?;
                let target = doc.pointer_mut(&parent).ok_or_else(|| bad_path(path))?;
                let removed = match target {
                    Value::Object(map) => map.shift_remove(&last).is_some(),
                    Value::Array(items) => {
                        let index = parse_index(&last, path)?;
                        (index < items.len()).then(|| items.remove(index)).is_some()
                    }
                    _ => false,
                };
                if !removed {
                    return Err(bad_path(path));
                }
            }
        }
    }
    Ok(doc)
}

fn split_pointer(path: &str) -> Result<(String, String)> {
    let (parent, last) = path.rsplit_once('/').ok_or_else(|| bad_path(path))?;
    if !(parent.is_empty() || parent.starts_with('/')) {
        return Err(bad_path(path));
    }
    Ok((parent.to_string(), unescape_token(last)))
}

fn parse_index(token: &str, path: &str) -> Result<usize> {
    let canonical = token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
    if token.is_empty() || !canonical {
        return Err(bad_path(path));
    }
    token.parse().map_err(|_| bad_path(path))
}

fn bad_path(path: &str) -> Error {
    Error::EditInvalid { errors: vec![format!("patch path {path:?} does not apply")] }
}

/// One line a person or a model can read: "amount: 500 → 50; removed cc; added note".
fn summarize(before: &Value, ops: &[PatchOp]) -> String {
    const SHOWN: usize = 5;
    if ops.is_empty() {
        return "no changes".to_string();
    }
    let name = |path: &str| {
        if path.is_empty() {
            "payload".to_string()
        } else {
            path[1..].split('/').map(unescape_token).collect::<Vec<_>>().join(".")
        }
    };
    let mut parts: Vec<String> = ops
        .iter()
        .take(SHOWN)
        .map(|op| match op {
            PatchOp::Add { path, value } => format!("added {} = {}", name(path), short(value)),
            PatchOp::Remove { path } => format!("removed {}", name(path)),
            PatchOp::Replace { path, value } => match before.pointer(path) {
                Some(old) => format!("{}: {} → {}", name(path), short(old), short(value)),
                None => format!("{} → {}", name(path), short(value)),
            },
        })
        .collect();
    if ops.len() > SHOWN {
        parts.push(format!("and {} more", ops.len() - SHOWN));
    }
    parts.join("; ")
}

fn short(value: &Value) -> String {
    const MAX: usize = 40;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX - 1).collect();
        format!("{cut}…")
    }
}

/// Largest JSON Schema accepted, in bytes of its compact JSON.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;
/// Most subschemas a schema may have once every local `$ref` is followed (a `$ref` counts
/// its target again each time). Validation visits each at most once per value of the
/// instance, so this bounds its work; a chain of `$defs` each `allOf` of the previous one
/// twice doubles at every step and is refused here instead of running for minutes.
pub const MAX_SCHEMA_EXPANSION: usize = 10_000;
/// Most `$ref`s followed one inside another.
pub const MAX_SCHEMA_REF_DEPTH: usize = 32;
/// Most regular expressions (`pattern`, `patternProperties`) in one schema; each compiles to
/// at most 256 KiB.
pub const MAX_SCHEMA_PATTERNS: usize = 64;
/// Most (subschemas after expansion) × (values of the instance) one validation may cost.
pub const MAX_VALIDATION_WORK: usize = 5_000_000;

/// Compiles a JSON Schema, refusing invalid schemas with [`Error::SchemaInvalid`] and those
/// past the limits above with [`Error::SchemaTooComplex`]. Patterns use the `regex` crate's
/// linear-time engine (no backreferences or look-around: such a pattern is `schema_invalid`),
/// with bounded compiled sizes.
pub fn compile_schema(schema: &Value) -> Result<jsonschema::Validator> {
    schema_cost(schema)?;
    compile_within_bounds(schema)
}

/// Compiles a schema whose cost [`schema_cost`] already checked.
fn compile_within_bounds(schema: &Value) -> Result<jsonschema::Validator> {
    let patterns = jsonschema::PatternOptions::regex().size_limit(256 << 10).dfa_size_limit(256 << 10);
    jsonschema::options()
        .with_pattern_options(patterns)
        .build(schema)
        .map_err(|e| Error::SchemaInvalid { reason: e.to_string() })
}

/// Validates an edited payload against the request's schema, within
/// [`MAX_VALIDATION_WORK`].
pub fn validate_edit(schema: &Value, edited: &Value) -> Result<()> {
    let expansion = schema_cost(schema)?;
    let values = count_values(edited);
    if expansion.saturating_mul(values) > MAX_VALIDATION_WORK {
        return Err(Error::SchemaTooComplex {
            reason: format!(
                "{expansion} subschemas over {values} values is more than {MAX_VALIDATION_WORK} steps"
            ),
        });
    }
    check(&compile_within_bounds(schema)?, edited)
}

/// How many values `v` holds (itself included).
fn count_values(v: &Value) -> usize {
    let mut n = 0usize;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        n += 1;
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(members) => stack.extend(members.values()),
            _ => {}
        }
    }
    n
}

/// The schema's size after expansion (see [`MAX_SCHEMA_EXPANSION`]), or why it is refused.
fn schema_cost(schema: &Value) -> Result<usize> {
    let too = |reason: String| Error::SchemaTooComplex { reason };
    let bytes = serde_json::to_vec(schema).map_err(|_| too("unserializable".into()))?.len();
    if bytes > MAX_SCHEMA_BYTES {
        return Err(too(format!("{bytes} bytes is more than {MAX_SCHEMA_BYTES}")));
    }
    let mut walk =
        Expansion { root: schema, memo: std::collections::HashMap::new(), open: Vec::new(), patterns: 0 };
    let (n, depth) = walk.cost(schema)?;
    if depth > MAX_SCHEMA_REF_DEPTH {
        return Err(too(format!("$refs nested more than {MAX_SCHEMA_REF_DEPTH} deep")));
    }
    if n > MAX_SCHEMA_EXPANSION {
        return Err(too(format!("more than {MAX_SCHEMA_EXPANSION} subschemas once its $refs are followed")));
    }
    if walk.patterns > MAX_SCHEMA_PATTERNS {
        return Err(too(format!("more than {MAX_SCHEMA_PATTERNS} patterns")));
    }
    Ok(n)
}

/// Counts a schema's values with every local `$ref` replaced by its target, memoized per
/// target, and the longest chain of `$ref`s one inside another; a `$ref` back into a target
/// being counted (a recursive schema) counts 1, since its recursion is bounded by the
/// instance, not the schema.
struct Expansion<'a> {
    root: &'a Value,
    /// Per target: (subschemas after expansion, longest `$ref` chain from it).
    memo: std::collections::HashMap<&'a str, (usize, usize)>,
    /// Targets being counted, outermost first.
    open: Vec<&'a str>,
    /// Regular expressions met (each place once).
    patterns: usize,
}

impl<'a> Expansion<'a> {
    /// (subschemas after expansion, longest `$ref` chain) of `v`.
    fn cost(&mut self, v: &'a Value) -> Result<(usize, usize)> {
        let (mut n, mut depth) = (1usize, 0usize);
        let children: Box<dyn Iterator<Item = (Option<&'a str>, &'a Value)> + 'a> = match v {
            Value::Object(members) => Box::new(members.iter().map(|(k, v)| (Some(k.as_str()), v))),
            Value::Array(items) => Box::new(items.iter().map(|v| (None, v))),
            _ => return Ok((n, depth)),
        };
        for (name, member) in children {
            match (name, member) {
                (Some("pattern"), Value::String(_)) => self.patterns += 1,
                (Some("patternProperties"), Value::Object(p)) => self.patterns += p.len(),
                _ => {}
            }
            let (m, d) = match (name, member) {
                (Some("$ref" | "$dynamicRef" | "$recursiveRef"), Value::String(r)) => self.reference(r)?,
                _ => self.cost(member)?,
            };
            n = n.saturating_add(m);
            depth = depth.max(d);
            if n > MAX_SCHEMA_EXPANSION || depth > MAX_SCHEMA_REF_DEPTH {
                break;
            }
        }
        Ok((n, depth))
    }

    fn reference(&mut self, r: &'a str) -> Result<(usize, usize)> {
        // Only local pointers are followed (remote ones are never fetched; anchors are rare
        // and count as one).
        let Some(pointer) = r.strip_prefix('#') else { return Ok((1, 1)) };
        if let Some(&known) = self.memo.get(r) {
            return Ok((known.0, known.1 + 1));
        }
        if self.open.contains(&r) {
            return Ok((1, 1));
        }
        let Some(target) = self.root.pointer(pointer) else { return Ok((1, 1)) };
        if self.open.len() >= MAX_SCHEMA_REF_DEPTH {
            return Ok((1, MAX_SCHEMA_REF_DEPTH + 1)); // refused by the caller; recurse no deeper
        }
        self.open.push(r);
        let counted = self.cost(target);
        self.open.pop();
        let (n, depth) = counted?;
        self.memo.insert(r, (n, depth));
        Ok((n, depth + 1))
    }
}

fn check(validator: &jsonschema::Validator, instance: &Value) -> Result<()> {
    const MAX_ERRORS: usize = 10;
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .take(MAX_ERRORS)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::EditInvalid { errors })
    }
}

/// Validates `edited` against `schema` (when there is one) and diffs it from `original`.
pub fn review_edit(original: &Value, edited: &Value, schema: Option<&Value>) -> Result<Diff> {
    if let Some(schema) = schema {
        validate_edit(schema, edited)?;
    }
    Ok(diff(original, edited))
}

/// One request as a queue lists it: everything but the payload, schema, context and
/// decision, with a [`Preview`] of the payload. What `GET /v1/requests?view=summary` answers;
/// a store keeps the parts that never change from the request's creation, so a listing
/// never parses a payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct RequestSummary {
    pub id: String,
    pub service: String,
    pub action: String,
    pub priority: Priority,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub status: Status,
    pub created_at: i64,
    pub expires_at: i64,
    /// The payload is an end-to-end encrypted envelope (no preview then).
    pub encrypted: bool,
    /// The firewall held the call (`context.firewall` is set).
    pub held: bool,
    /// The start of the payload's compact JSON, at most 160 bytes (cut on a character).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<String>,
    /// `preview` is the whole payload (nothing was cut). Only then may a queue approve in
    /// one tap: past the cut, a padded payload hides what it does (`"to": "acct_attacker"`).
    /// False for an encrypted payload.
    pub complete: bool,
    /// How many times it moved to another role.
    pub escalations: usize,
}

impl RequestSummary {
    /// The summary of `request`.
    pub fn of(request: &Request) -> RequestSummary {
        let preview = preview(&request.payload);
        RequestSummary {
            id: request.id.clone(),
            service: request.service.clone(),
            action: request.action.clone(),
            priority: request.priority,
            role: request.role.clone(),
            status: request.status,
            created_at: request.created_at,
            expires_at: request.expires_at,
            encrypted: preview.encrypted,
            held: request.context.as_ref().is_some_and(|c| c.get("firewall").is_some()),
            preview: preview.text,
            complete: preview.complete,
            escalations: request.escalations.len(),
        }
    }
}

/// Longest [`Preview::text`], in bytes.
pub const PREVIEW_BYTES: usize = 160;

/// What a queue shows of a payload without the payload: whether it is an end-to-end
/// encrypted envelope, the start of its compact JSON, and whether that start is all of it.
/// The server's `view=summary` and the dashboard's live rows both come from [`preview`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The payload is an envelope (no text then).
    pub encrypted: bool,
    /// The start of the payload's compact JSON, at most [`PREVIEW_BYTES`] bytes, cut on a
    /// character boundary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `text` is the whole payload: only then may a queue approve in one tap (past the cut,
    /// a padded payload hides what it does).
    pub complete: bool,
}

/// The [`Preview`] of a payload.
pub fn preview(payload: &Value) -> Preview {
    if crate::envelope::is_envelope(payload) {
        return Preview { encrypted: true, text: None, complete: false };
    }
    let mut text = payload.to_string();
    let complete = text.len() <= PREVIEW_BYTES;
    if !complete {
        let mut end = PREVIEW_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Preview { encrypted: false, text: Some(text), complete }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn diff_apply_round_trip_and_summary() {
        let before = json!({"amount": 500, "to": "acct_1", "cc": ["a", "b"], "note": "x"});
        let after = json!({"amount": 50, "to": "acct_1", "cc": ["a"], "memo": "y/z"});
        let d = diff(&before, &after);
        assert_eq!(apply(&before, &d.ops).unwrap(), after);
        assert_eq!(d.summary, "amount: 500 → 50; removed cc.1; removed note; added memo = \"y/z\"");
        let wire = serde_json::to_value(&d.ops).unwrap();
        assert_eq!(wire[0], json!({"op": "replace", "path": "/amount", "value": 50}));
    }

    #[test]
    fn schema_rejects_bad_edit() {
        let schema = json!({"type": "object", "properties": {"amount": {"type": "number", "maximum": 100}}, "required": ["amount"]});
        assert!(validate_edit(&schema, &json!({"amount": 50})).is_ok());
        let err = validate_edit(&schema, &json!({"amount": 500})).unwrap_err();
        assert_eq!(err.code(), "edit_invalid");
        assert_eq!(compile_schema(&json!({"type": 12})).unwrap_err().code(), "schema_invalid");
    }

    /// `$defs` where each step is `allOf` of the previous step twice: 2^depth subschemas.
    fn doubling(depth: usize) -> Value {
        let mut defs = serde_json::Map::new();
        defs.insert("d0".into(), json!({"type": "integer"}));
        for i in 1..=depth {
            let prev = format!("#/$defs/d{}", i - 1);
            defs.insert(format!("d{i}"), json!({"allOf": [{"$ref": prev}, {"$ref": prev}]}));
        }
        json!({"$defs": defs, "$ref": format!("#/$defs/d{depth}")})
    }

    #[test]
    fn schemas_whose_validation_would_explode_are_refused_before_compiling() {
        // A few doublings are an ordinary schema; 32 would be four billion checks.
        assert!(validate_edit(&doubling(4), &json!(1)).is_ok());
        assert_eq!(validate_edit(&doubling(4), &json!("x")).unwrap_err().code(), "edit_invalid");
        for depth in [14, 25, 32] {
            assert_eq!(compile_schema(&doubling(depth)).unwrap_err().code(), "schema_too_complex", "{depth}");
        }
        // A $ref chain longer than the limit, each step used once.
        let mut defs = serde_json::Map::new();
        defs.insert("c0".into(), json!({"type": "string"}));
        for i in 1..=40 {
            defs.insert(format!("c{i}"), json!({"$ref": format!("#/$defs/c{}", i - 1)}));
        }
        let chain = json!({"$defs": defs, "$ref": "#/$defs/c40"});
        assert_eq!(compile_schema(&chain).unwrap_err().code(), "schema_too_complex");
        // Too large, too many patterns.
        let big = json!({"enum": vec!["x".repeat(100); 1000]});
        assert_eq!(compile_schema(&big).unwrap_err().code(), "schema_too_complex");
        let props: serde_json::Map<String, Value> =
            (0..100).map(|i| (format!("p{i}"), json!({"type": "string", "pattern": "^a+$"}))).collect();
        assert_eq!(compile_schema(&json!({"properties": props})).unwrap_err().code(), "schema_too_complex");
    }

    #[test]
    fn recursive_schemas_are_fine_and_work_is_bounded_by_the_instance_too() {
        let tree = json!({"$defs": {"node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}}, "$ref": "#/$defs/node"});
        assert!(validate_edit(&tree, &json!({"children": [{"children": []}]})).is_ok());
        assert_eq!(
            validate_edit(&tree, &json!({"children": [{"children": 1}]})).unwrap_err().code(),
            "edit_invalid"
        );
        // 2^9 subschemas is a fine schema, but not over 50,000 values.
        let dense = Value::Array(vec![json!(1); 50_000]);
        assert!(compile_schema(&doubling(9)).is_ok());
        assert_eq!(validate_edit(&doubling(9), &dense).unwrap_err().code(), "schema_too_complex");
        assert!(validate_edit(&json!({"type": "array"}), &dense).is_ok());
    }

    #[test]
    fn patterns_run_in_linear_time_and_backreferences_are_refused() {
        // Catastrophic for a backtracking engine; linear for the regex crate.
        let schema = json!({"type": "string", "pattern": "^(a+)+$"});
        let evil = format!("{}!", "a".repeat(5_000));
        assert_eq!(validate_edit(&schema, &json!(evil)).unwrap_err().code(), "edit_invalid");
        assert_eq!(compile_schema(&json!({"pattern": "(a)\\1"})).unwrap_err().code(), "schema_invalid");
    }

    #[test]
    fn enums_parse() {
        assert_eq!(
            "approved_with_modifications".parse::<Status>().unwrap(),
            Status::ApprovedWithModifications
        );
        assert_eq!("CRITICAL".parse::<Priority>().unwrap(), Priority::Critical);
        assert_eq!("urgent".parse::<Priority>().unwrap_err().code(), "unknown_variant");
    }

    fn new_request(v: Value) -> NewRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn invisible_characters_are_refused_in_names() {
        let ok = json!({"service": "stripe", "action": "refund", "payload": {"to": "acct_\u{202E}1"}});
        assert!(new_request(ok).validate().is_ok(), "values may hold them");
        for (c, field) in [
            ('\u{202E}', "service"),
            ('\u{2066}', "action"),
            ('\u{200B}', "role"),
            ('\u{FEFF}', "payload"),
            ('\u{00AD}', "schema"),
            ('\u{E0041}', "context"),
            ('\u{061C}', "deep"),
        ] {
            let name = format!("a{c}b");
            let mut v = json!({"service": "s", "action": "a", "payload": {}});
            match field {
                "service" | "action" | "role" => v[field] = json!(name),
                "payload" => v["payload"] = json!({ name: 1 }),
                "schema" => {
                    v["schema"] = json!({"type": "object", "properties": { name: {"type": "integer"} }})
                }
                "context" => v["context"] = json!({"trace": { name: true }}),
                _ => v["payload"] = json!({"list": [{"x": [{ name: 1 }]}]}),
            }
            let err = new_request(v).validate().unwrap_err();
            assert_eq!(err.code(), "invisible_character", "{field}");
            assert!(
                matches!(err, Error::InvisibleCharacter { codepoint, .. } if codepoint == c as u32),
                "{err}"
            );
        }
        assert!(check_visible("service", "plain-ASCII_name.v2:ok").is_ok());
        assert!(check_visible("service", "Zürich 東京 🚀").is_ok());
    }

    #[test]
    fn the_table_holds_the_bidi_controls_and_format_characters() {
        let listed = [
            0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0x200E, 0x200F, 0x061C,
            0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x00AD, 0x180E, 0xE0000,
            0xE0001, 0xE0020, 0xE007F,
        ];
        for cp in listed {
            assert!(is_invisible(char::from_u32(cp).unwrap()), "U+{cp:04X}");
        }
        for c in ['a', ' ', '\n', 'é', '\u{2028}', '\u{00A0}', '\u{E0080}', '\u{FFFC}', '😀'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn reveal_writes_each_invisible_character_as_its_code_point() {
        assert!(matches!(reveal_invisible("acct_42"), Cow::Borrowed("acct_42")));
        assert_eq!(reveal_invisible("acct_\u{202E}24"), "acct_<U+202E>24");
        assert_eq!(reveal_invisible("\u{200B}\u{E0041}x\u{00AD}"), "<U+200B><U+E0041>x<U+00AD>");
        assert_eq!(reveal_invisible("Zürich"), "Zürich");
    }

    #[test]
    fn client_ids_are_checked() {
        assert!(check_id("req_AAAAAAAAAAAAAAAA").is_ok());
        assert!(check_id("req_abcdefghijklmnopqrstuvwxyz-_0123").is_ok()); // 32 characters
        assert!(check_id("req_abcdefghijklmnopqrstuvwxyz-_01234").is_err()); // 33
        for bad in ["req_short", "abc_AAAAAAAAAAAAAAAA", "req_AAAAAAAAAAAAAAA=", "req_AAAAAAAA/AAAAAAA"] {
            assert_eq!(check_id(bad).unwrap_err().code(), "unknown_variant", "{bad}");
        }
    }
}
