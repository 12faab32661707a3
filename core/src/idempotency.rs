//! Idempotency: keys, request fingerprints, and the state machine of one execution.
//!
//! The rules follow the IETF `Idempotency-Key` HTTP header draft:
//!
//! - the first request with a key runs and its result is stored;
//! - a retry with the same key and the same request gets the stored result (**replay**);
//! - a retry while the first is still running gets **409 Conflict** ([`Begin::Conflict`]);
//! - the same key with a *different* request gets **422** ([`Begin::Mismatch`]).
//!
//! "The same request" means the same [`Fingerprint`]: SHA-256 over the method, the path and
//! the canonical JSON (RFC 8785) of the body, so whitespace and member order do not matter.
//!
//! An execution is `Pending` under a lease, then `Committed` or `Failed`. A pending execution
//! whose lease has passed (`now` ≥ `lease_until`; the worker died) may be taken over. A
//! retryable failure may run again; a final one is replayed like a success. The caller
//! stores [`Execution`] values (they serialize with serde) and passes `now`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::canonical::canonicalize_into;
use crate::encoding::{b64url_encode, hex_decode, hex_encode};
use crate::error::{Error, Result};

/// Longest idempotency key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// Checks a caller-supplied idempotency key: 1–255 printable ASCII characters.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::IdempotencyKey { reason: "empty" });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::IdempotencyKey { reason: "longer than 255 bytes" });
    }
    if !key.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(Error::IdempotencyKey { reason: "not printable ASCII" });
    }
    Ok(())
}

/// Derives a key from parts: `idk_` + base64url(SHA-256 of the length-prefixed parts).
///
/// Each part is prefixed by its length (8 bytes, big-endian), so `["ab","c"]` and
/// `["a","bc"]` give different keys.
pub fn derive_key(parts: &[&[u8]]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    format!("idk_{}", b64url_encode(hash.finalize()))
}

/// The key of one tool call: derived from a scope (agent, session…), the tool name and the
/// canonical JSON of its arguments, so the same call always gets the same key.
pub fn tool_call_key(scope: &str, tool: &str, args_json: &[u8]) -> Result<String> {
    let mut canonical = Vec::with_capacity(args_json.len());
    canonicalize_into(args_json, &mut canonical)?;
    Ok(derive_key(&[scope.as_bytes(), tool.as_bytes(), &canonical]))
}

/// SHA-256 of method, path and canonical body: what makes two requests "the same".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Computes the fingerprint. An empty body is allowed (GET, DELETE); any other body must
    /// be JSON, canonicalized first.
    pub fn new(method: &str, path: &str, body: &[u8]) -> Result<Fingerprint> {
        let mut canonical = Vec::with_capacity(body.len());
        if !body.iter().all(|b| b.is_ascii_whitespace()) {
            canonicalize_into(body, &mut canonical)?;
        }
        let method = method.to_ascii_uppercase();
        let mut hash = Sha256::new();
        for part in [method.as_bytes(), path.as_bytes(), &canonical] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Ok(Fingerprint(hash.finalize().into()))
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex_encode(self.0)
    }

    /// Parses lowercase or uppercase hex.
    pub fn from_hex(text: &str) -> Result<Fingerprint> {
        let bytes = hex_decode(text)?;
        Ok(Fingerprint(bytes.try_into().map_err(|_| Error::Encoding { what: "hex" })?))
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Fingerprint::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A stored result: what a replay returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// HTTP status (or 200 for a successful local call).
    pub status: u16,
    /// The response body or the call's result, as JSON text.
    pub body: String,
}

/// Where one execution stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum State {
    /// Running; another worker may take over once `lease_until` has passed.
    Pending { lease_until: i64 },
    /// Done; replay `result`.
    Committed { result: Stored, at: i64 },
    /// Failed; a `retryable` failure may run again, a final one is replayed.
    Failed { result: Stored, retryable: bool, at: i64 },
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Pending { .. } => "pending",
            State::Committed { .. } => "committed",
            State::Failed { .. } => "failed",
        }
    }
}

/// One execution under one idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    /// The idempotency key.
    pub key: String,
    /// The fingerprint of the request that first used the key.
    pub fingerprint: Fingerprint,
    /// Where it stands.
    pub state: State,
    /// How many times it was started (1 for the first run).
    pub attempts: u32,
}

/// What to do with an incoming request, decided by [`begin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// Run it. Persist this pending execution first (insert, or replace on takeover).
    Proceed(Execution),
    /// Do not run it; return the stored result.
    Replay(Stored),
    /// The first request is still running: answer 409 and let the client retry later.
    Conflict { lease_until: i64 },
    /// The key was used for another request: answer 422.
    Mismatch,
}

impl Begin {
    /// The HTTP status the draft prescribes for refusals (409, 422), else `None`.
    pub fn refusal_status(&self) -> Option<u16> {
        match self {
            Begin::Conflict { .. } => Some(409),
            Begin::Mismatch => Some(422),
            Begin::Proceed(_) | Begin::Replay(_) => None,
        }
    }
}

/// Decides what to do with a request carrying `key`, given what is stored under it.
pub fn begin(
    existing: Option<&Execution>,
    key: &str,
    fingerprint: Fingerprint,
    now: i64,
    lease_secs: i64,
) -> Result<Begin> {
    check_key(key)?;
    let pending = |attempts| Execution {
        key: key.to_string(),
        fingerprint,
        state: State::Pending { lease_until: now.saturating_add(lease_secs) },
        attempts,
    };
    let Some(existing) = existing else {
        return Ok(Begin::Proceed(pending(1)));
    };
    if existing.key != key {
        return Err(Error::IdempotencyKey { reason: "stored execution belongs to another key" });
    }
    if existing.fingerprint != fingerprint {
        return Ok(Begin::Mismatch);
    }
    let next = existing.attempts.saturating_add(1);
    Ok(match &existing.state {
        State::Pending { lease_until } if now < *lease_until => Begin::Conflict { lease_until: *lease_until },
        State::Pending { .. } => Begin::Proceed(pending(next)),
        State::Committed { result, .. } => Begin::Replay(result.clone()),
        State::Failed { retryable: true, .. } => Begin::Proceed(pending(next)),
        State::Failed { result, retryable: false, .. } => Begin::Replay(result.clone()),
    })
}

impl Execution {
    /// Pending → Committed.
    pub fn commit(self, result: Stored, now: i64) -> Result<Execution> {
        self.finish(State::Committed { result, at: now }, "committed")
    }

    /// Pending → Failed.
    pub fn fail(self, result: Stored, retryable: bool, now: i64) -> Result<Execution> {
        self.finish(State::Failed { result, retryable, at: now }, "failed")
    }

    /// Extends the lease of a pending execution (a long call still alive).
    pub fn renew(mut self, now: i64, lease_secs: i64) -> Result<Execution> {
        match self.state {
            State::Pending { .. } => {
                self.state = State::Pending { lease_until: now.saturating_add(lease_secs) };
                Ok(self)
            }
            _ => Err(Error::InvalidTransition { from: self.state.name(), to: "pending" }),
        }
    }

    fn finish(mut self, state: State, to: &'static str) -> Result<Execution> {
        match self.state {
            State::Pending { .. } => {
                self.state = state;
                Ok(self)
            }
            _ => Err(Error::InvalidTransition { from: self.state.name(), to }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_lifecycle() {
        let fp = Fingerprint::new("post", "/v1/requests", br#"{"b":1, "a":2}"#).unwrap();
        let same = Fingerprint::new("POST", "/v1/requests", br#"{"a":2,"b":1}"#).unwrap();
        assert_eq!(fp, same);
        let Begin::Proceed(exec) = begin(None, "k", fp, 100, 30).unwrap() else { panic!() };
        assert_eq!(begin(Some(&exec), "k", fp, 110, 30).unwrap(), Begin::Conflict { lease_until: 130 });
        let other = Fingerprint::new("POST", "/v1/requests", b"{}").unwrap();
        assert_eq!(begin(Some(&exec), "k", other, 110, 30).unwrap(), Begin::Mismatch);
        let stored = Stored { status: 201, body: "{\"id\":\"r1\"}".into() };
        let done = exec.clone().commit(stored.clone(), 120).unwrap();
        assert_eq!(begin(Some(&done), "k", fp, 500, 30).unwrap(), Begin::Replay(stored.clone()));
        assert_eq!(done.clone().commit(stored, 121).unwrap_err().code(), "invalid_transition");
        // Lease passed: another worker takes over.
        let Begin::Proceed(again) = begin(Some(&exec), "k", fp, 130, 30).unwrap() else { panic!() };
        assert_eq!(again.attempts, 2);
    }

    #[test]
    fn derived_keys_separate_parts() {
        assert_ne!(derive_key(&[b"ab", b"c"]), derive_key(&[b"a", b"bc"]));
        assert_eq!(
            tool_call_key("agent", "pay", br#"{"to":"x", "amount": 1.0}"#).unwrap(),
            tool_call_key("agent", "pay", br#"{"amount":1,"to":"x"}"#).unwrap()
        );
    }
}
