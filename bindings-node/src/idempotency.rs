//! Idempotency (`handrail_core::idempotency`): keys, tool-call keys, request fingerprints
//! and the execution state machine (`Execution`, `idempotencyBegin`). What to do with a
//! retried request is decided by the core; JavaScript only stores the execution.

use handrail_core::idempotency::{self, Begin, Execution as CoreExecution, Fingerprint, State, Stored};
use napi::bindgen_prelude::{Either, Uint8Array, Unknown};
use napi::Env;
use napi_derive::napi;

use crate::error::ThrownJs;

/// An idempotency key derived from `parts`: `idk_` + base64url of the SHA-256 of the
/// length-prefixed parts, so `["ab", "c"]` and `["a", "bc"]` give different keys.
#[napi]
pub fn idempotency_key(parts: Vec<Either<String, Uint8Array>>) -> String {
    let parts: Vec<&[u8]> = parts
        .iter()
        .map(|p| match p {
            Either::A(s) => s.as_bytes(),
            Either::B(b) => &**b,
        })
        .collect();
    idempotency::derive_key(&parts)
}

/// The idempotency key of one tool call: `scope`, `tool` and the canonical form of the JSON
/// text `argsJson`, so equal arguments written differently give the same key.
#[napi(ts_args_type = "scope: string, tool: string, argsJson: string | Uint8Array")]
pub fn tool_call_key(env: Env, scope: String, tool: String, args_json: Unknown<'_>) -> napi::Result<String> {
    crate::text::with_text(&env, args_json, |args| idempotency::tool_call_key(&scope, &tool, args))?
        .thrown(&env)
}

/// The fingerprint (hex SHA-256) of a request: method, path and canonical JSON body.
#[napi]
pub fn fingerprint(env: Env, method: String, path: String, body: Uint8Array) -> napi::Result<String> {
    Ok(Fingerprint::new(&method, &path, &body).thrown(&env)?.to_hex())
}

/// One execution under one idempotency key, as the core's state machine left it.
#[napi]
pub struct Execution {
    exec: CoreExecution,
}

#[napi]
impl Execution {
    /// The idempotency key.
    #[napi(getter)]
    pub fn key(&self) -> String {
        self.exec.key.clone()
    }

    /// How many times it was started (1 for the first run).
    #[napi(getter)]
    pub fn attempts(&self) -> u32 {
        self.exec.attempts
    }

    /// `pending`, `committed` or `failed`.
    #[napi(getter, ts_return_type = "'pending' | 'committed' | 'failed'")]
    pub fn state(&self) -> &'static str {
        match self.exec.state {
            State::Pending { .. } => "pending",
            State::Committed { .. } => "committed",
            State::Failed { .. } => "failed",
        }
    }

    /// Pending → committed with `(status, body)`; returns the new execution.
    #[napi]
    pub fn commit(&self, env: Env, status: u16, body: String, now: i64) -> napi::Result<Execution> {
        let exec = self.exec.clone().commit(Stored { status, body }, now).thrown(&env)?;
        Ok(Execution { exec })
    }

    /// Pending → failed with `(status, body)`; a `retryable` failure may run again.
    #[napi]
    pub fn fail(
        &self,
        env: Env,
        status: u16,
        body: String,
        retryable: bool,
        now: i64,
    ) -> napi::Result<Execution> {
        let exec = self.exec.clone().fail(Stored { status, body }, retryable, now).thrown(&env)?;
        Ok(Execution { exec })
    }

    /// The execution as JSON text, to store between requests.
    #[napi]
    pub fn to_json(&self) -> String {
        // Serializing the core's execution struct cannot fail.
        serde_json::to_string(&self.exec).unwrap_or_default()
    }

    /// Reads an execution stored by `toJson`.
    #[napi(factory)]
    pub fn from_json(env: Env, text: String) -> napi::Result<Execution> {
        let exec: handrail_core::Result<CoreExecution> =
            serde_json::from_str(&text).map_err(|e| handrail_core::Error::InvalidRequest {
                reason: "invalid_execution".into(),
                message: e.to_string(),
            });
        Ok(Execution { exec: exec.thrown(&env)? })
    }
}

/// What `idempotencyBegin` decided. `kind` is `proceed` (run; `execution` set), `replay`
/// (answer `status` and `body` again), `conflict` (409: running until `leaseUntil`) or
/// `mismatch` (422: same key, other request).
#[napi(object, object_from_js = false)]
pub struct BeginOutcome {
    #[napi(ts_type = "'proceed' | 'replay' | 'conflict' | 'mismatch'")]
    pub kind: String,
    pub execution: Option<Execution>,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub lease_until: Option<i64>,
}

/// Decides what to do with a request carrying `key`, given the stored execution.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn idempotency_begin(
    env: Env,
    existing: Option<&Execution>,
    key: String,
    method: String,
    path: String,
    body: Uint8Array,
    now: i64,
    lease_secs: i64,
) -> napi::Result<BeginOutcome> {
    let fp = Fingerprint::new(&method, &path, &body).thrown(&env)?;
    let begin = idempotency::begin(existing.map(|e| &e.exec), &key, fp, now, lease_secs).thrown(&env)?;
    let mut out =
        BeginOutcome { kind: String::new(), execution: None, status: None, body: None, lease_until: None };
    match begin {
        Begin::Proceed(exec) => {
            out.kind = "proceed".into();
            out.execution = Some(Execution { exec });
        }
        Begin::Replay(stored) => {
            out.kind = "replay".into();
            out.status = Some(stored.status);
            out.body = Some(stored.body);
        }
        Begin::Conflict { lease_until } => {
            out.kind = "conflict".into();
            out.lease_until = Some(lease_until);
        }
        Begin::Mismatch => out.kind = "mismatch".into(),
    }
    Ok(out)
}
