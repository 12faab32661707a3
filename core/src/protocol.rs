//! The client side of the server API, sans-IO: every rule of the wire protocol, no socket.
//!
//! A [`Client`] builds each [`HttpRequest`] (method, URL, headers, body) and interprets each
//! [`HttpResponse`] (status → typed [`Error`], JSON → [`Request`], envelopes opened with the
//! client's keys, edits diffed, proofs verified, next poll delay). The Python and TypeScript
//! SDKs only move the bytes with their own HTTP client, so a rule is written once, here.
//!
//! - **Create** ([`Client::create`]): the client chooses the request id (derived from the
//!   idempotency key and the API key), so it can seal the payload for that id — the
//!   envelope's AAD binds `(request id, "payload")` — before the server has seen it. The
//!   `Idempotency-Key` is derived from `(scope, service, action, canonical payload)` when the
//!   caller names a scope (a thread or run id), and the payload is sealed with a synthetic
//!   IV ([`envelope::seal_synthetic`]), so re-running the same step sends the same bytes and
//!   the server replays the first request instead of opening a second one. Without a scope
//!   each call gets a random key (retries of that one call are still safe).
//! - **Wait** ([`Wait`]): long-poll `GET /v1/requests/{id}/wait?timeout=S`; a PENDING answer
//!   means "ask again now"; network errors, 5xx and 429 wait [`next_delay`] (exponential
//!   backoff with jitter) first; the caller's deadline ends it with [`Error::WaitTimeout`],
//!   the request's own with [`Error::Expired`].
//! - **Decisions** ([`Client::outcome`]): payload and patched payload opened with the keyring;
//!   the diff computed from the opened values (the server cannot diff ciphertext). A client
//!   with a key never accepts a plain value where an envelope belongs
//!   ([`Error::NotEncrypted`]), and never hands out ciphertext as the payload.
//! - **Proofs** ([`Client::verify_proof`]) against the server's JWKS at `/v1/keys/proof`,
//!   bound to the request id, the digest of the request as stored, the decision and the
//!   patched payload.
//! - **State snapshots** sealed with `(request id, "state")`; **observation** batches;
//!   **webhooks** verified (Standard Webhooks) into a typed [`Event`].

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::canonical;
use crate::envelope::{self, Context, Key, Keyring};
use crate::error::{Error, Result};
use crate::idempotency;
use crate::proof::{self, Claims, Expect, Verifier};
use crate::request::{self, Diff, NewRequest, Priority, Request, SnapshotMeta, Status};
use crate::webhook;

/// Longest long-poll the server holds, in seconds (`MAX_WAIT_SECS` on the server).
pub const MAX_POLL_SECS: u64 = 60;
/// Retries of one call (create, read, upload…) after the first attempt.
pub const MAX_RETRIES: u32 = 4;
/// First backoff delay, in milliseconds.
pub const BACKOFF_BASE_MS: u64 = 250;
/// Longest backoff delay, in milliseconds.
pub const BACKOFF_MAX_MS: u64 = 30_000;
/// Timeout for a call that is not a long-poll, in seconds.
pub const CALL_TIMEOUT_SECS: u64 = 30;
/// Longest server message kept in an error.
const MAX_MESSAGE: usize = 300;

/// An HTTP request to send as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, `PUT`.
    pub method: &'static str,
    /// The absolute URL (base URL + path).
    pub url: String,
    /// The path and query alone.
    pub path: String,
    /// Header names (lowercase) and values, `authorization` among them.
    pub headers: Vec<(String, String)>,
    /// The body; empty for `GET`.
    pub body: Vec<u8>,
    /// How long the HTTP client should wait for the whole answer, in seconds (a long-poll
    /// needs more than the poll itself).
    pub timeout_secs: u64,
}

/// An HTTP answer as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A connection to one server with one API key, and optionally an encryption key.
///
/// Prints the API key as `[redacted]` in `Debug`.
#[derive(Clone)]
pub struct Client {
    base_url: String,
    api_key: String,
    key: Option<Key>,
    keyring: Keyring,
    verifier: Option<Verifier>,
    /// The issuer `/v1/keys/proof` named beside its keys, when it named one.
    jwks_issuer: Option<String>,
    /// What the caller configured: wins over the record's project and the JWKS's issuer.
    expected_project: Option<String>,
    expected_issuer: Option<String>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_key", &"[redacted]")
            .field("encryption_kid", &self.key.as_ref().map(Key::kid))
            .field("proof_keys", &self.verifier.is_some())
            .finish()
    }
}

/// What an agent asks (the input of [`Client::create`]).
#[derive(Debug, Clone, Default)]
pub struct Ask {
    /// The system acted on (`stripe`…).
    pub service: String,
    /// The action (`refund`…).
    pub action: String,
    /// The plain payload; sealed by [`Client::create`] when the client has a key.
    pub payload: Value,
    /// Urgency (the server's default when `None`).
    pub priority: Option<Priority>,
    /// The role that may decide.
    pub role: Option<String>,
    /// JSON Schema an edit must satisfy.
    pub schema: Option<Value>,
    /// Seconds until the request expires.
    pub timeout_secs: Option<u64>,
    /// Free context shown to the person deciding (sent as is, never sealed).
    pub context: Option<Value>,
    /// State to park with the request; sealed with `(id, "state")`. Needs a key.
    pub state: Option<Value>,
    /// Names the step (thread id, run id): the same scope and the same request give the
    /// same idempotency key, so a re-run gets the first request back.
    pub idempotency_scope: Option<String>,
    /// An explicit idempotency key; wins over the scope.
    pub idempotency_key: Option<String>,
}

/// The requests that open one ask: the create, and the snapshot upload when there is state.
#[derive(Debug, Clone)]
pub struct Create {
    /// The request id the client chose (the server's answer is authoritative on a replay).
    pub id: String,
    /// The `Idempotency-Key` sent.
    pub idempotency_key: String,
    /// `POST /v1/requests`.
    pub request: HttpRequest,
    /// `PUT /v1/requests/{id}/snapshot`, to send after the create succeeded.
    pub snapshot: Option<HttpRequest>,
}

/// How a request was resolved, its payloads opened: what the agent acts on
/// ([`Client::resolution`]). Not the firewall's `Outcome`, which is what became of a call.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The request id.
    pub id: String,
    /// Approved, approved with modifications, rejected or expired.
    pub status: Status,
    /// What to act on (the edited payload after an edit); `None` unless the status allows
    /// action.
    pub payload: Option<Value>,
    /// The edited payload, when the person edited it.
    pub patched_payload: Option<Value>,
    /// What the edit changed, computed from the opened payloads.
    pub diff: Option<Diff>,
    /// Who decided (operator key id, `system` for expiry).
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The signed proof, verifiable with [`Client::verify_proof`].
    pub proof: Option<String>,
    /// When, Unix seconds.
    pub decided_at: i64,
}

/// A verified webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `webhook-id`: deduplicate deliveries by it.
    pub id: String,
    /// `request.created`, `request.resolved`, `request.expired`.
    pub kind: String,
    /// When the event happened, Unix seconds.
    pub timestamp: i64,
    /// The request it is about; open its decision with [`Client::outcome`].
    pub record: Request,
}

/// What a [`Wait`] does after one long-poll answer ([`Wait::on_response`]).
#[derive(Debug, Clone, PartialEq)]
pub enum WaitStep {
    /// Decided: here is the request.
    Done(Box<Request>),
    /// Still pending: send the next poll now.
    Again,
    /// A transient failure: send the next poll after this many milliseconds.
    Retry { delay_ms: u64 },
}

impl Client {
    /// A client of the server at `base_url` (`http://` or `https://`) with an API key.
    pub fn new(base_url: &str, api_key: &str) -> Result<Client> {
        let base_url = base_url.trim().trim_end_matches('/');
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::InvalidOptions {
                what: "base URL",
                reason: "must start with http:// or https://".into(),
            });
        }
        let api_key = api_key.trim();
        if api_key.is_empty() || !api_key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::InvalidKey { reason: "the API key must be non-empty printable ASCII" });
        }
        Ok(Client {
            base_url: base_url.to_string(),
            api_key: api_key.to_string(),
            key: None,
            keyring: Keyring::new(),
            verifier: None,
            jwks_issuer: None,
            expected_project: None,
            expected_issuer: None,
        })
    }

    /// Accepts only proofs for `project` from now on, whatever project a request record
    /// names (by default, a proof must be for the project its record names).
    pub fn with_expected_project(mut self, project: impl Into<String>) -> Client {
        self.expected_project = Some(project.into());
        self
    }

    /// Accepts only proofs issued by `issuer` (a server's public URL or `srv_…` id) from now
    /// on, whatever issuer `/v1/keys/proof` names (by default, the one it names).
    pub fn with_expected_issuer(mut self, issuer: impl Into<String>) -> Client {
        self.expected_issuer = Some(issuer.into());
        self
    }

    /// Seals payloads and state with `key` from now on (and opens what it sealed).
    pub fn with_encryption_key(mut self, key: Key) -> Client {
        self.keyring.insert(key.clone());
        self.key = Some(key);
        self
    }

    /// Adds a key that only opens (an older key after a rotation).
    pub fn add_decryption_key(&mut self, key: Key) {
        self.keyring.insert(key);
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// True when the client seals payloads.
    pub fn encrypts(&self) -> bool {
        self.key.is_some()
    }

    fn http(&self, method: &'static str, path: String, body: Option<(&str, Vec<u8>)>) -> HttpRequest {
        let mut headers = vec![
            ("authorization".to_string(), format!("Bearer {}", self.api_key)),
            ("accept".to_string(), "application/json".to_string()),
        ];
        let body = match body {
            Some((content_type, bytes)) => {
                headers.push(("content-type".to_string(), content_type.to_string()));
                bytes
            }
            None => Vec::new(),
        };
        HttpRequest {
            method,
            url: format!("{}{path}", self.base_url),
            path,
            headers,
            body,
            timeout_secs: CALL_TIMEOUT_SECS,
        }
    }

    /// Builds the create (and the snapshot upload when `ask.state` is set).
    pub fn create(&self, ask: &Ask) -> Result<Create> {
        let canonical_payload = canonical::to_canonical(&ask.payload)?;
        let idempotency_key = match (&ask.idempotency_key, &ask.idempotency_scope) {
            (Some(key), _) => {
                idempotency::check_key(key)?;
                key.clone()
            }
            (None, Some(scope)) => idempotency::derive_key(&[
                b"handrail.ask.v1",
                scope.as_bytes(),
                ask.service.as_bytes(),
                ask.action.as_bytes(),
                canonical_payload.as_bytes(),
            ]),
            (None, None) => {
                let mut nonce = [0u8; 16];
                crate::crypto::fill_random(&mut nonce)?;
                idempotency::derive_key(&[b"handrail.ask.random.v1", &nonce])
            }
        };
        let id = self.request_id_for(&idempotency_key);
        let payload = match &self.key {
            Some(key) => {
                let sealed = envelope::seal_synthetic(
                    key,
                    &Context::new(&id, "payload"),
                    canonical_payload.as_bytes(),
                )?;
                serde_json::from_str(&sealed).map_err(|_| Error::EnvelopeMalformed { reason: "sealed" })?
            }
            None => ask.payload.clone(),
        };
        let snapshot = match &ask.state {
            Some(state) => Some(self.snapshot_upload(&id, state)?),
            None => None,
        };
        let new = NewRequest {
            service: ask.service.clone(),
            action: ask.action.clone(),
            payload,
            priority: ask.priority.unwrap_or_default(),
            role: ask.role.clone(),
            schema: ask.schema.clone(),
            timeout_secs: ask.timeout_secs,
            context: ask.context.clone(),
            id: Some(id.clone()),
        };
        // Fail before the network: names, the schema, and a plain payload against it.
        new.validate()?;
        let body = canonical::to_canonical(&new)?.into_bytes();
        let mut request = self.http("POST", "/v1/requests".into(), Some(("application/json", body)));
        request.headers.push(("idempotency-key".to_string(), idempotency_key.clone()));
        Ok(Create { id, idempotency_key, request, snapshot })
    }

    /// The request id for an idempotency key: `req_` + 22 base64url characters of a hash
    /// over the API key and the idempotency key, so two projects (two API keys) using the
    /// same scope never collide on one id.
    fn request_id_for(&self, idempotency_key: &str) -> String {
        let derived = idempotency::derive_key(&[
            b"handrail.request-id.v1",
            self.api_key.as_bytes(),
            idempotency_key.as_bytes(),
        ]);
        // derive_key gives `idk_` + 43 base64url characters.
        format!("req_{}", &derived[4..26])
    }

    /// `GET /v1/requests/{id}`.
    pub fn read(&self, id: &str) -> Result<HttpRequest> {
        request::check_id(id)?;
        Ok(self.http("GET", format!("/v1/requests/{id}"), None))
    }

    /// Interprets an answer that carries one request (create, read, wait).
    pub fn parse_record(&self, response: &HttpResponse) -> Result<Request> {
        ok_json(response)
    }

    /// Opens the decision of a decided request into its [`Resolution`]; `None` while it is
    /// pending.
    pub fn resolution(&self, record: &Request) -> Result<Option<Resolution>> {
        if record.status == Status::Pending {
            return Ok(None);
        }
        let decision =
            record.decision.as_ref().ok_or_else(|| invalid("a decided request without decision"))?;
        if decision.request_id != record.id || decision.status != record.status {
            return Err(invalid("the decision does not match its request"));
        }
        let original = self.open_value(&record.payload, &record.id, "payload")?;
        let patched = decision
            .patched_payload
            .as_ref()
            .map(|p| self.open_value(p, &record.id, "patched_payload"))
            .transpose()?;
        if (decision.status == Status::ApprovedWithModifications) != patched.is_some() {
            return Err(invalid("an edited payload belongs to APPROVED_WITH_MODIFICATIONS only"));
        }
        // The server checks a plain edit against the schema; an encrypted one it cannot
        // read, so the agent checks it here, after opening it: an edit outside the
        // request's own schema is never acted on (`edit_invalid`).
        if let (Some(schema), Some(edited)) = (&record.schema, &patched) {
            request::validate_edit(schema, edited)?;
        }
        let diff = patched.as_ref().map(|p| request::diff(&original, p));
        let payload = decision.status.allows_action().then(|| patched.clone().unwrap_or(original));
        Ok(Some(Resolution {
            id: record.id.clone(),
            status: decision.status,
            payload,
            patched_payload: patched,
            diff,
            actor: decision.actor.clone(),
            reason: decision.reason.clone(),
            proof: decision.proof.clone(),
            decided_at: decision.decided_at,
        }))
    }

    /// Opens the stored payload of a request (pending or not).
    pub fn payload(&self, record: &Request) -> Result<Value> {
        self.open_value(&record.payload, &record.id, "payload")
    }

    /// A stored value as the agent reads it: opened if it is an envelope; refused if it is
    /// plain while this client encrypts.
    fn open_value(&self, value: &Value, id: &str, field: &'static str) -> Result<Value> {
        if !envelope::is_envelope(value) {
            return match self.key {
                Some(_) => Err(Error::NotEncrypted { field }),
                None => Ok(value.clone()),
            };
        }
        if self.keyring.is_empty() {
            return Err(Error::NoKey { field });
        }
        let bytes = serde_json::to_vec(value).map_err(|_| invalid("unserializable envelope"))?;
        let plain = envelope::open(&bytes, &self.keyring, &Context::new(id, field))?;
        canonical::parse(&plain)
    }

    /// `PUT /v1/requests/{id}/snapshot` with `state` sealed for `(id, "state")`.
    pub fn snapshot_upload(&self, id: &str, state: &Value) -> Result<HttpRequest> {
        request::check_id(id)?;
        let key = self.key.as_ref().ok_or(Error::InvalidKey {
            reason: "state snapshots are sealed on the client: set an encryption key",
        })?;
        let plain = canonical::to_canonical(state)?;
        let sealed = envelope::seal(key, &Context::new(id, "state"), plain.as_bytes())?;
        let mut request = self.http(
            "PUT",
            format!("/v1/requests/{id}/snapshot"),
            Some(("application/json", sealed.into())),
        );
        // Bodies of up to 64 MiB: allow for the upload.
        request.timeout_secs = 120;
        Ok(request)
    }

    /// Checks the answer to a snapshot upload.
    pub fn parse_snapshot_stored(&self, response: &HttpResponse) -> Result<SnapshotMeta> {
        #[derive(Deserialize)]
        struct Stored {
            snapshot: SnapshotMeta,
        }
        Ok(ok_json::<Stored>(response)?.snapshot)
    }

    /// `GET /v1/requests/{id}/snapshot`.
    pub fn snapshot_download(&self, id: &str) -> Result<HttpRequest> {
        request::check_id(id)?;
        let mut request = self.http("GET", format!("/v1/requests/{id}/snapshot"), None);
        request.timeout_secs = 120;
        Ok(request)
    }

    /// Opens a downloaded snapshot of request `id`.
    pub fn open_snapshot(&self, id: &str, response: &HttpResponse) -> Result<Value> {
        check_status(response)?;
        let value = canonical::parse(&response.body)?;
        if !envelope::is_envelope(&value) {
            return Err(Error::NotEncrypted { field: "state" });
        }
        if self.keyring.is_empty() {
            return Err(Error::NoKey { field: "state" });
        }
        canonical::parse(envelope::open(&response.body, &self.keyring, &Context::new(id, "state"))?)
    }

    /// `POST /v1/observations` with a batch of events (a JSON array, at most 1000).
    pub fn observations(&self, agent: &str, events: &Value) -> Result<HttpRequest> {
        let count = events.as_array().map(Vec::len).ok_or(Error::InvalidOptions {
            what: "observations",
            reason: "events must be an array".into(),
        })?;
        if count > 1000 {
            return Err(Error::TooLarge { size: count, limit: 1000 });
        }
        let body = canonical::to_canonical(&json!({ "agent": agent, "events": events }))?;
        Ok(self.http("POST", "/v1/observations".into(), Some(("application/json", body.into_bytes()))))
    }

    /// `(accepted, duplicates)` from the answer to an observation batch.
    pub fn parse_observations(&self, response: &HttpResponse) -> Result<(u64, u64)> {
        #[derive(Deserialize)]
        struct Accepted {
            accepted: u64,
            duplicates: u64,
        }
        let a: Accepted = ok_json(response)?;
        Ok((a.accepted, a.duplicates))
    }

    /// `GET /v1/keys/proof`: the server's public proof keys.
    pub fn jwks_request(&self) -> HttpRequest {
        self.http("GET", "/v1/keys/proof".into(), None)
    }

    /// Loads the proof keys from the answer to [`Client::jwks_request`], and the issuer the
    /// server names beside them (`{"keys": [...], "issuer": "..."}`; older servers name none).
    pub fn load_jwks(&mut self, response: &HttpResponse) -> Result<()> {
        let jwks: Value = ok_json(response)?;
        let issuer = match jwks.get("issuer") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err(invalid("the JWKS issuer must be a non-empty string")),
        };
        self.verifier = Some(Verifier::from_jwks(&jwks)?);
        self.jwks_issuer = issuer;
        Ok(())
    }

    /// True once proof keys are loaded.
    pub fn has_jwks(&self) -> bool {
        self.verifier.is_some()
    }

    /// Verifies `proof` for `record` at `now`: signed by the server's key, for this request
    /// as stored, for its decision and for the patched payload it carries, for the record's
    /// project and from the issuer the JWKS named (a configured expected project or issuer
    /// wins over both).
    pub fn verify_proof(&self, record: &Request, proof: &str, now: i64) -> Result<Claims> {
        let verifier =
            self.verifier.as_ref().ok_or(Error::InvalidKey { reason: "load the proof keys first" })?;
        let decision = record.decision.as_ref().ok_or_else(|| invalid("the request is not decided"))?;
        let request_digest = proof::request_digest(&record.service, &record.action, &record.payload)?;
        let patched_digest = decision.patched_payload.as_ref().map(proof::payload_digest).transpose()?;
        let expect = Expect {
            request_id: &record.id,
            request_digest: Some(&request_digest),
            decision: Some(decision.status.as_str()),
            patched_digest: patched_digest.as_deref(),
            project: self
                .expected_project
                .as_deref()
                .or(Some(record.project.as_str()).filter(|p| !p.is_empty())),
            issuer: self.expected_issuer.as_deref().or(self.jwks_issuer.as_deref()),
        };
        // A proof under a key the server does not publish is not the server's signature.
        verifier.verify(proof, now, &expect).map_err(|e| match e {
            Error::UnknownKid { .. } => Error::ProofSignature,
            e => e,
        })
    }
}

impl Client {
    /// Starts waiting for request `id`; `timeout_ms` is the caller's deadline (none: until
    /// the request is decided or expires).
    pub fn wait(&self, id: &str, now_ms: i64, timeout_ms: Option<u64>) -> Result<Wait> {
        request::check_id(id)?;
        Ok(Wait {
            id: id.to_string(),
            deadline_ms: timeout_ms.map(|t| now_ms.saturating_add(t.min(i64::MAX as u64) as i64)),
            attempt: 0,
        })
    }
}

/// One wait: long-polls until the request is decided, the caller's deadline passes or the
/// request expires. Call [`Wait::request`], send it, feed the answer to
/// [`Wait::on_response`] (or a transport failure to [`Wait::on_network_error`]).
#[derive(Debug, Clone)]
pub struct Wait {
    id: String,
    deadline_ms: Option<i64>,
    attempt: u32,
}

impl Wait {
    /// The request id waited for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The next poll, or [`Error::WaitTimeout`] once the deadline has passed.
    pub fn request(&self, client: &Client, now_ms: i64) -> Result<HttpRequest> {
        let poll = match self.deadline_ms {
            Some(deadline) if now_ms >= deadline => return Err(Error::WaitTimeout { id: self.id.clone() }),
            Some(deadline) => (((deadline - now_ms) as u64).div_ceil(1000)).clamp(1, MAX_POLL_SECS),
            None => MAX_POLL_SECS,
        };
        let mut request = client.http("GET", format!("/v1/requests/{}/wait?timeout={poll}", self.id), None);
        request.timeout_secs = poll + CALL_TIMEOUT_SECS;
        Ok(request)
    }

    /// Interprets one poll's answer.
    pub fn on_response(&mut self, client: &Client, response: &HttpResponse, now_ms: i64) -> Result<WaitStep> {
        match client.parse_record(response) {
            Ok(record) => {
                self.attempt = 0;
                if record.id != self.id {
                    return Err(invalid("the answer is about another request"));
                }
                match record.status {
                    Status::Pending => Ok(WaitStep::Again),
                    Status::Expired => Err(Error::Expired { id: self.id.clone() }),
                    _ => Ok(WaitStep::Done(Box::new(record))),
                }
            }
            Err(e) => match retry_delay(&e, 0) {
                Some(delay) => Ok(WaitStep::Retry { delay_ms: self.backoff(delay, now_ms) }),
                None => Err(e),
            },
        }
    }

    /// The delay before the next poll after a transport failure (refused, reset, timed out).
    pub fn on_network_error(&mut self, now_ms: i64) -> u64 {
        self.backoff(0, now_ms)
    }

    fn backoff(&mut self, at_least_ms: u64, now_ms: i64) -> u64 {
        let delay = next_delay(self.attempt).max(at_least_ms);
        self.attempt = self.attempt.saturating_add(1);
        match self.deadline_ms {
            // Never sleep past the deadline: the next `request` then reports the timeout.
            Some(deadline) => delay.min(deadline.saturating_sub(now_ms).max(0) as u64),
            None => delay,
        }
    }
}

/// Backoff before retry number `attempt + 1`, in milliseconds: 250 ms doubling to at most
/// 30 s, with jitter (a uniform draw from the upper half), so many clients do not retry in
/// step.
pub fn next_delay(attempt: u32) -> u64 {
    let mut random = [0u8; 4];
    // Without randomness the delay is still correct, only not spread.
    let _ = crate::crypto::fill_random(&mut random);
    next_delay_with(attempt, u32::from_le_bytes(random))
}

/// [`next_delay`] with the random draw supplied.
pub fn next_delay_with(attempt: u32, random: u32) -> u64 {
    let full = BACKOFF_BASE_MS.saturating_mul(1u64 << attempt.min(16)).min(BACKOFF_MAX_MS);
    let half = full / 2;
    half + (random as u64) % (full - half + 1)
}

/// Whether a failed call is worth retrying, and after how long (milliseconds): `None` for
/// a final error or once `attempt` reaches [`MAX_RETRIES`]. Transient are 5xx, 429 (after
/// its `Retry-After` at least), and an idempotent create still in flight. Every call the
/// protocol builds is safe to repeat: reads, and creates carry an Idempotency-Key.
pub fn retry_delay(error: &Error, attempt: u32) -> Option<u64> {
    if attempt >= MAX_RETRIES {
        return None;
    }
    match error {
        Error::RateLimited { retry_after } => Some(next_delay(attempt).max(retry_after.saturating_mul(1000))),
        Error::Server { status } if *status != 501 => Some(next_delay(attempt)),
        Error::Conflict { reason, .. } if reason == "idempotency_conflict" => Some(next_delay(attempt)),
        _ => None,
    }
}

/// [`retry_delay`] for an answer: `None` for a 2xx or a final error.
pub fn retry_response(response: &HttpResponse, attempt: u32) -> Option<u64> {
    check_status(response).err().and_then(|e| retry_delay(&e, attempt))
}

/// The delay before retrying a call whose transport failed (refused, reset, timed out),
/// `None` once `attempt` reaches [`MAX_RETRIES`].
pub fn retry_network(attempt: u32) -> Option<u64> {
    (attempt < MAX_RETRIES).then(|| next_delay(attempt))
}

/// Verifies a webhook delivery with the endpoint's secret (`whsec_…` or `whpk_…`) at `now`
/// (Unix seconds, tolerance 5 minutes) and parses it.
pub fn verify_webhook(secret: &str, headers: &[(String, String)], body: &[u8], now: i64) -> Result<Event> {
    let secret = webhook::Secret::parse(secret)?;
    let get = |name: &'static str| {
        header(headers, name).ok_or(Error::WebhookHeader { header: name, reason: "missing" })
    };
    let h = webhook::Headers {
        id: get("webhook-id")?,
        timestamp: get("webhook-timestamp")?,
        signature: get("webhook-signature")?,
    };
    webhook::verify(&[secret], &h, body, now, webhook::DEFAULT_TOLERANCE_SECS)?;
    #[derive(Deserialize)]
    struct Body {
        #[serde(rename = "type")]
        kind: String,
        timestamp: i64,
        data: Request,
    }
    let parsed: Body =
        serde_json::from_value(canonical::parse(body)?).map_err(|e| invalid(format!("webhook body: {e}")))?;
    Ok(Event { id: h.id.to_string(), kind: parsed.kind, timestamp: parsed.timestamp, record: parsed.data })
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidResponse { reason: reason.into() }
}

/// A 2xx answer's body as `T`: a server answer that is not strict JSON, or not of the
/// shape, is [`Error::InvalidResponse`] whatever the parser's own code.
fn ok_json<T: for<'de> Deserialize<'de>>(response: &HttpResponse) -> Result<T> {
    check_status(response)?;
    let value =
        canonical::parse(&response.body).map_err(|e| invalid(format!("body is not strict JSON: {e}")))?;
    serde_json::from_value(value).map_err(|e| invalid(e.to_string()))
}

/// A 2xx passes; anything else becomes the typed error of its status.
pub fn check_status(response: &HttpResponse) -> Result<()> {
    if (200..300).contains(&response.status) {
        return Ok(());
    }
    Err(error_of(response))
}

/// The typed error for a non-2xx answer: status first, then the server's code
/// (`{"error": {"code", "message"}}`) where one status has several meanings.
pub fn error_of(response: &HttpResponse) -> Error {
    let body: Value = serde_json::from_slice(&response.body).unwrap_or(Value::Null);
    let field =
        |name: &str| body["error"][name].as_str().map(|s| s.chars().take(MAX_MESSAGE).collect::<String>());
    let code = field("code").unwrap_or_default();
    let message = field("message").unwrap_or_else(|| format!("HTTP {}", response.status));
    match response.status {
        401 => Error::Unauthorized { message },
        403 => Error::Forbidden { message },
        404 => Error::NotFound { message },
        409 => Error::Conflict { reason: code, message },
        413 => Error::BodyTooLarge { message },
        422 if code == "idempotency_mismatch" => Error::IdempotencyMismatch,
        400 | 422 => Error::InvalidRequest { reason: code, message },
        429 => {
            let retry_after =
                response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(1);
            Error::RateLimited { retry_after }
        }
        status @ 500..=599 => Error::Server { status },
        status => invalid(format!("unexpected status {status}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::proof::Signer;

    const KEY: &str = "hrk1.team.AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn client() -> Client {
        Client::new("http://127.0.0.1:7777/", "hr_agent_test").unwrap()
    }

    fn sealed_client() -> Client {
        client().with_encryption_key(Key::parse(KEY).unwrap())
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: vec![], body: body.as_bytes().to_vec() }
    }

    fn ask(payload: Value) -> Ask {
        Ask { service: "stripe".into(), action: "refund".into(), payload, ..Ask::default() }
    }

    #[test]
    fn debug_redacts_the_api_key() {
        let text = format!("{:?}", sealed_client());
        assert!(!text.contains("hr_agent_test"), "{text}");
        assert!(text.contains("[redacted]") && text.contains("team"), "{text}");
        assert_eq!(Client::new("ftp://x", "k").unwrap_err().code(), "invalid_options");
        assert_eq!(Client::new("http://x", "a b").unwrap_err().code(), "invalid_key");
    }

    #[test]
    fn create_builds_the_request() {
        let c = client();
        let mut a = ask(json!({"amount": 500, "to": "acct_1"}));
        a.priority = Some(Priority::High);
        a.timeout_secs = Some(60);
        let create = c.create(&a).unwrap();
        let r = &create.request;
        assert_eq!(
            (r.method, r.url.as_str(), r.path.as_str()),
            ("POST", "http://127.0.0.1:7777/v1/requests", "/v1/requests")
        );
        assert_eq!(header(&r.headers, "authorization"), Some("Bearer hr_agent_test"));
        assert_eq!(header(&r.headers, "idempotency-key"), Some(create.idempotency_key.as_str()));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["payload"], json!({"amount": 500, "to": "acct_1"}));
        assert_eq!(body["id"], json!(create.id));
        assert_eq!(body["priority"], json!("high"));
        assert_eq!(body["timeout_secs"], json!(60));
        request::check_id(&create.id).unwrap();
        assert!(create.snapshot.is_none());
        // Without a scope every call is its own request.
        assert_ne!(c.create(&a).unwrap().idempotency_key, create.idempotency_key);
    }

    #[test]
    fn a_scope_makes_the_create_repeatable_byte_for_byte() {
        let c = sealed_client();
        let mut a = ask(json!({"b": 1, "a": [true, null]}));
        a.idempotency_scope = Some("thread-7".into());
        let first = c.create(&a).unwrap();
        let mut reordered = ask(json!({"a": [true, null], "b": 1}));
        reordered.idempotency_scope = Some("thread-7".into());
        let second = c.create(&reordered).unwrap();
        assert_eq!(first.request, second.request);
        assert_eq!(first.id, second.id);
        a.idempotency_scope = Some("thread-8".into());
        let other = c.create(&a).unwrap();
        assert_ne!(other.id, first.id);
        assert_ne!(other.idempotency_key, first.idempotency_key);
        // Another API key, same scope: another id (ids are unique across projects).
        let elsewhere =
            Client::new("http://x", "hr_agent_other").unwrap().with_encryption_key(Key::parse(KEY).unwrap());
        a.idempotency_scope = Some("thread-7".into());
        let theirs = elsewhere.create(&a).unwrap();
        assert_eq!(theirs.idempotency_key, first.idempotency_key);
        assert_ne!(theirs.id, first.id);
    }

    #[test]
    fn payload_and_state_are_sealed_for_their_id() {
        let c = sealed_client();
        let mut a = ask(json!({"amount": 500}));
        a.state = Some(json!({"step": 3, "messages": ["hi"]}));
        let create = c.create(&a).unwrap();
        let body: Value = serde_json::from_slice(&create.request.body).unwrap();
        assert!(envelope::is_envelope(&body["payload"]));
        assert!(!String::from_utf8_lossy(&create.request.body).contains("500"));
        let keyring = Keyring::new().with(Key::parse(KEY).unwrap());
        let sealed = serde_json::to_vec(&body["payload"]).unwrap();
        assert_eq!(
            envelope::open(&sealed, &keyring, &Context::new(&create.id, "payload")).unwrap(),
            br#"{"amount":500}"#
        );
        assert_eq!(
            envelope::open(&sealed, &keyring, &Context::new("req_AAAAAAAAAAAAAAAAAAAA", "payload"))
                .unwrap_err()
                .code(),
            "decrypt_failed"
        );
        let snap = create.snapshot.unwrap();
        assert_eq!(
            (snap.method, snap.path.as_str()),
            ("PUT", format!("/v1/requests/{}/snapshot", create.id).as_str())
        );
        let state = c
            .open_snapshot(
                &create.id,
                &HttpResponse { status: 200, headers: vec![], body: snap.body.clone() },
            )
            .unwrap();
        assert_eq!(state, json!({"step": 3, "messages": ["hi"]}));
        // The state is bound to its request.
        let other = c.open_snapshot(
            "req_AAAAAAAAAAAAAAAAAAAA",
            &HttpResponse { status: 200, headers: vec![], body: snap.body },
        );
        assert_eq!(other.unwrap_err().code(), "decrypt_failed");
        // No key, no state: never uploaded in the clear.
        let mut plain = ask(json!({}));
        plain.state = Some(json!(1));
        assert_eq!(client().create(&plain).unwrap_err().code(), "invalid_key");
    }

    #[test]
    fn create_checks_its_input_before_the_network() {
        let mut a = ask(json!({"amount": 500}));
        a.schema = Some(json!({"type": "object", "properties": {"amount": {"maximum": 100}}}));
        assert_eq!(client().create(&a).unwrap_err().code(), "edit_invalid");
        let mut a = ask(json!({}));
        a.service = String::new();
        assert_eq!(client().create(&a).unwrap_err().code(), "unknown_variant");
        let mut a = ask(json!({}));
        a.idempotency_key = Some("bad key\n".into());
        assert_eq!(client().create(&a).unwrap_err().code(), "idempotency_key");
        assert_eq!(client().read("../keys").unwrap_err().code(), "unknown_variant");
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let e = |status: u16, code: &str| {
            let body = json!({"error": {"code": code, "message": "m"}}).to_string();
            client().parse_record(&answer(status, &body)).unwrap_err()
        };
        assert_eq!(e(401, "unauthorized").code(), "unauthorized");
        assert_eq!(e(403, "forbidden").code(), "forbidden");
        assert_eq!(e(404, "not_found").code(), "not_found");
        assert_eq!(e(409, "id_taken"), Error::Conflict { reason: "id_taken".into(), message: "m".into() });
        assert_eq!(e(413, "too_large").code(), "too_large");
        assert_eq!(e(422, "idempotency_mismatch"), Error::IdempotencyMismatch);
        assert_eq!(e(422, "edit_invalid").code(), "invalid_request");
        assert_eq!(e(400, "invalid_request").code(), "invalid_request");
        assert_eq!(e(503, "internal"), Error::Server { status: 503 });
        assert_eq!(e(302, "").code(), "invalid_response");
        let limited =
            HttpResponse { status: 429, headers: vec![("Retry-After".into(), "7".into())], body: vec![] };
        assert_eq!(client().parse_record(&limited).unwrap_err(), Error::RateLimited { retry_after: 7 });
        assert_eq!(client().parse_record(&answer(200, "<html>")).unwrap_err().code(), "invalid_response");
        assert_eq!(
            client().parse_record(&answer(200, r#"{"id":"x"}"#)).unwrap_err().code(),
            "invalid_response"
        );
    }

    #[test]
    fn backoff_grows_with_jitter_and_stops() {
        assert_eq!(next_delay_with(0, 0), 125);
        assert_eq!(next_delay_with(0, 125), 250);
        assert_eq!(next_delay_with(3, 0), 1000);
        assert!(next_delay_with(30, u32::MAX) <= BACKOFF_MAX_MS);
        assert_eq!(next_delay_with(30, 0), BACKOFF_MAX_MS / 2);
        let limited = Error::RateLimited { retry_after: 5 };
        assert!(retry_delay(&limited, 0).unwrap() >= 5000);
        assert!(retry_delay(&Error::Server { status: 502 }, 1).is_some());
        assert_eq!(retry_delay(&Error::Server { status: 502 }, MAX_RETRIES), None);
        assert_eq!(retry_delay(&Error::Unauthorized { message: String::new() }, 0), None);
        assert!(retry_response(&answer(502, ""), 0).is_some());
        assert_eq!(retry_response(&answer(200, "{}"), 0), None);
        assert_eq!(retry_response(&answer(404, "{}"), 0), None);
        assert!(retry_network(0).is_some() && retry_network(MAX_RETRIES).is_none());
    }

    /// A decided request as the server stores it, signed by `signer`.
    fn decided(c: &Client, signer: &Signer, status: Status, edit: Option<Value>) -> (Request, String) {
        let create = c.create(&ask(json!({"amount": 500, "to": "acct_1"}))).unwrap();
        let body: Value = serde_json::from_slice(&create.request.body).unwrap();
        let id = create.id.clone();
        let patched = edit.map(|e| match c.key.as_ref() {
            Some(key) => serde_json::from_str::<Value>(
                &envelope::seal(key, &Context::new(&id, "patched_payload"), e.to_string().as_bytes())
                    .unwrap(),
            )
            .unwrap(),
            None => e,
        });
        let requested =
            json!({"service": "stripe", "action": "refund", "payload": body["payload"]}).to_string();
        let claims = Claims {
            rid: id.clone(),
            req: proof::digest(&requested).unwrap(),
            dec: status.as_str().into(),
            act: "key_op".into(),
            pat: patched.as_ref().map(|p| proof::digest(p.to_string()).unwrap()),
            iat: 1_700_000_000,
            exp: 1_800_000_000,
            jti: "j1".into(),
            prj: Some("prj".into()),
            iss: Some("https://hr.example".into()),
            grt: None,
        };
        let token = signer.sign(&claims).unwrap();
        let row = json!({
            "id": id, "project": "prj", "service": "stripe", "action": "refund", "payload": body["payload"],
            "priority": "medium", "status": status.as_str(), "created_at": 1_700_000_000, "expires_at": 1_700_086_400,
            "decision": {
                "request_id": id, "status": status.as_str(), "payload": patched.clone().unwrap_or(body["payload"].clone()),
                "patched_payload": patched, "actor": "key_op", "reason": "ok", "decided_at": 1_700_000_001, "proof": token,
            }
        });
        let mut row = row;
        if row["decision"]["patched_payload"].is_null() {
            row["decision"].as_object_mut().unwrap().remove("patched_payload");
        }
        (c.parse_record(&answer(200, &row.to_string())).unwrap(), token)
    }

    fn jwks(signer: &Signer) -> HttpResponse {
        answer(200, &json!({"keys": [signer.public_jwk()], "issuer": "https://hr.example"}).to_string())
    }

    #[test]
    fn proofs_are_checked_for_the_records_project_and_the_jwks_issuer() {
        let signer = Signer::from_seed("p1", [7; 32]).unwrap();
        let mut c = sealed_client();
        let (record, token) = decided(&c, &signer, Status::Approved, None);
        assert_eq!(record.project, "prj");
        c.load_jwks(&jwks(&signer)).unwrap();
        assert!(c.verify_proof(&record, &token, 1_700_000_100).is_ok());
        // The same proof shown as another project's record.
        let moved = Request { project: "prj_other".into(), ..record.clone() };
        assert_eq!(c.verify_proof(&moved, &token, 1_700_000_100).unwrap_err().code(), "proof_project");
        // Keys served under another issuer's name.
        let other = answer(200, &json!({"keys": [signer.public_jwk()], "issuer": "srv_x"}).to_string());
        c.load_jwks(&other).unwrap();
        assert_eq!(c.verify_proof(&record, &token, 1_700_000_100).unwrap_err().code(), "proof_issuer");
        // An older server names no issuer: only the project binds.
        c.load_jwks(&answer(200, &json!({"keys": [signer.public_jwk()]}).to_string())).unwrap();
        assert!(c.verify_proof(&record, &token, 1_700_000_100).is_ok());
        // What the caller configured wins over the record and the JWKS.
        let mut pinned =
            sealed_client().with_expected_project("prj_b").with_expected_issuer("https://hr.example");
        pinned.load_jwks(&jwks(&signer)).unwrap();
        assert_eq!(pinned.verify_proof(&record, &token, 1_700_000_100).unwrap_err().code(), "proof_project");
        let mut pinned = sealed_client().with_expected_issuer("srv_y");
        pinned.load_jwks(&jwks(&signer)).unwrap();
        assert_eq!(pinned.verify_proof(&record, &token, 1_700_000_100).unwrap_err().code(), "proof_issuer");
        let bad = answer(200, &json!({"keys": [signer.public_jwk()], "issuer": 5}).to_string());
        assert_eq!(c.load_jwks(&bad).unwrap_err().code(), "invalid_response");
    }

    #[test]
    fn an_edit_is_opened_diffed_and_its_proof_verifies() {
        let signer = Signer::from_seed("p1", [7; 32]).unwrap();
        let mut c = sealed_client();
        let (record, token) = decided(
            &c,
            &signer,
            Status::ApprovedWithModifications,
            Some(json!({"amount": 50, "to": "acct_1"})),
        );
        let out = c.resolution(&record).unwrap().unwrap();
        assert_eq!(out.status, Status::ApprovedWithModifications);
        assert_eq!(out.payload, Some(json!({"amount": 50, "to": "acct_1"})));
        assert_eq!(out.patched_payload, out.payload);
        assert_eq!(out.diff.unwrap().summary, "amount: 500 → 50");
        assert_eq!(c.payload(&record).unwrap(), json!({"amount": 500, "to": "acct_1"}));

        assert_eq!(c.verify_proof(&record, &token, 1_700_000_100).unwrap_err().code(), "invalid_key");
        let jwks_request = c.jwks_request();
        assert_eq!(jwks_request.path, "/v1/keys/proof");
        c.load_jwks(&jwks(&signer)).unwrap();
        let claims = c.verify_proof(&record, &token, 1_700_000_100).unwrap();
        assert_eq!(claims.rid, record.id);
        // A tampered proof, a proof of another request, another signer: all refused.
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 2;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(c.verify_proof(&record, &tampered, 1_700_000_100).is_err());
        let (other, _) = decided(&c, &signer, Status::Approved, None);
        assert_eq!(c.verify_proof(&other, &token, 1_700_000_100).unwrap_err().code(), "proof_mismatch");
        let forger = Signer::from_seed("p1", [8; 32]).unwrap();
        let (_, forged) =
            decided(&c, &forger, Status::ApprovedWithModifications, Some(json!({"amount": 50})));
        assert!(c.verify_proof(&record, &forged, 1_700_000_100).is_err());
    }

    #[test]
    fn an_encrypted_edit_outside_the_requests_schema_is_never_acted_on() {
        let signer = Signer::from_seed("p1", [7; 32]).unwrap();
        let c = sealed_client();
        let schema = json!({"type": "object", "properties": {"amount": {"type": "integer", "maximum": 100}}});
        for (edit, ok) in
            [(json!({"amount": 50, "to": "acct_1"}), true), (json!({"amount": 5000, "to": "acct_1"}), false)]
        {
            let (mut record, _) = decided(&c, &signer, Status::ApprovedWithModifications, Some(edit.clone()));
            assert!(envelope::is_envelope(
                record.decision.as_ref().unwrap().patched_payload.as_ref().unwrap()
            ));
            record.schema = Some(schema.clone());
            match c.resolution(&record) {
                Ok(out) => {
                    assert!(ok, "an edit beyond the schema's maximum was accepted");
                    assert_eq!(out.unwrap().payload, Some(edit));
                }
                Err(e) => {
                    assert!(!ok, "a valid edit was refused: {e}");
                    assert_eq!(e.code(), "edit_invalid");
                }
            }
        }
    }

    #[test]
    fn plain_decisions_and_rejections() {
        let signer = Signer::from_seed("p1", [7; 32]).unwrap();
        let c = client();
        let (record, _) = decided(&c, &signer, Status::Approved, None);
        let out = c.resolution(&record).unwrap().unwrap();
        assert_eq!(
            (out.status, out.payload.clone(), out.diff.clone()),
            (Status::Approved, Some(json!({"amount": 500, "to": "acct_1"})), None)
        );
        let (record, _) = decided(&c, &signer, Status::Rejected, None);
        let out = c.resolution(&record).unwrap().unwrap();
        assert_eq!((out.status, out.payload, out.reason.as_deref()), (Status::Rejected, None, Some("ok")));
    }

    #[test]
    fn ciphertext_is_never_the_payload_and_plaintext_never_replaces_it() {
        let signer = Signer::from_seed("p1", [7; 32]).unwrap();
        let (record, _) = decided(&sealed_client(), &signer, Status::Approved, None);
        // A client without the key cannot open it, and says so.
        assert_eq!(client().resolution(&record).unwrap_err().code(), "no_key");
        // A client with another key under the same kid: decryption fails.
        let wrong = client().with_encryption_key(Key::new("team", [9; 32]).unwrap());
        assert_eq!(wrong.resolution(&record).unwrap_err().code(), "decrypt_failed");
        // A server that swaps in a plain payload is caught.
        let (plain, _) = decided(&client(), &signer, Status::Approved, None);
        assert_eq!(sealed_client().resolution(&plain).unwrap_err(), Error::NotEncrypted { field: "payload" });
        // An envelope moved to another request does not open.
        let mut moved = record.clone();
        moved.id = "req_BBBBBBBBBBBBBBBBBBBBBB".into();
        moved.decision.as_mut().unwrap().request_id = moved.id.clone();
        assert_eq!(sealed_client().resolution(&moved).unwrap_err().code(), "decrypt_failed");
    }

    #[test]
    fn waiting_polls_again_retries_and_times_out() {
        let c = client();
        let id = "req_AAAAAAAAAAAAAAAAAAAA";
        let mut w = c.wait(id, 1_000_000, Some(90_000)).unwrap();
        let first = w.request(&c, 1_000_000).unwrap();
        assert_eq!(first.path, format!("/v1/requests/{id}/wait?timeout=60"));
        assert_eq!(first.timeout_secs, 90);
        let second = w.request(&c, 1_080_500).unwrap();
        assert_eq!(second.path, format!("/v1/requests/{id}/wait?timeout=10"));
        assert_eq!(w.request(&c, 1_090_000).unwrap_err(), Error::WaitTimeout { id: id.into() });

        let pending = json!({"id": id, "project": "prj", "service": "s", "action": "a", "payload": {}, "priority": "medium", "status": "PENDING", "created_at": 1, "expires_at": 2}).to_string();
        assert_eq!(w.on_response(&c, &answer(200, &pending), 1_000_000).unwrap(), WaitStep::Again);
        let expired = pending.replace("PENDING", "EXPIRED");
        assert_eq!(w.on_response(&c, &answer(200, &expired), 1_000_000).unwrap_err().code(), "expired");
        match w.on_response(&c, &answer(503, ""), 1_000_000).unwrap() {
            WaitStep::Retry { delay_ms } => assert!((125..=250).contains(&delay_ms), "{delay_ms}"),
            other => panic!("{other:?}"),
        }
        // The backoff grows, and never sleeps past the deadline.
        assert!(w.on_network_error(1_000_000) >= 250);
        assert_eq!(w.on_network_error(1_089_990), 10);
        assert_eq!(w.on_response(&c, &answer(401, "{}"), 1_000_000).unwrap_err().code(), "unauthorized");
        let other = pending.replace(id, "req_BBBBBBBBBBBBBBBBBBBB");
        assert_eq!(
            w.on_response(&c, &answer(200, &other), 1_000_000).unwrap_err().code(),
            "invalid_response"
        );
        let forever = c.wait(id, 0, None).unwrap();
        assert_eq!(forever.request(&c, i64::MAX).unwrap().path, format!("/v1/requests/{id}/wait?timeout=60"));
    }

    #[test]
    fn webhooks_verify_into_events() {
        let secret = webhook::Secret::generate_hmac().unwrap();
        let body = json!({"type": "request.resolved", "timestamp": 1_700_000_000, "data": {
            "id": "req_AAAAAAAAAAAAAAAA", "project": "prj", "service": "s", "action": "a", "payload": {"x": 1},
            "priority": "low", "status": "REJECTED", "created_at": 1, "expires_at": 2,
            "decision": {"request_id": "req_AAAAAAAAAAAAAAAA", "status": "REJECTED", "reason": "no", "decided_at": 3},
            "snapshot": {"size": 10, "sha256": "ab", "created_at": 1}
        }})
        .to_string();
        let sig = webhook::sign(&secret, "msg_1", 1_700_000_000, body.as_bytes()).unwrap();
        let headers = vec![
            ("Webhook-Id".to_string(), "msg_1".to_string()),
            ("webhook-timestamp".to_string(), "1700000000".to_string()),
            ("webhook-signature".to_string(), sig),
        ];
        let event = verify_webhook(&secret.export(), &headers, body.as_bytes(), 1_700_000_010).unwrap();
        assert_eq!((event.id.as_str(), event.kind.as_str()), ("msg_1", "request.resolved"));
        assert_eq!(event.record.snapshot.as_ref().unwrap().size, 10);
        let out = client().resolution(&event.record).unwrap().unwrap();
        assert_eq!((out.status, out.reason.as_deref()), (Status::Rejected, Some("no")));
        let mut altered = body.clone().into_bytes();
        altered[10] ^= 1;
        assert_eq!(
            verify_webhook(&secret.export(), &headers, &altered, 1_700_000_010).unwrap_err().code(),
            "webhook_signature"
        );
        assert_eq!(
            verify_webhook(&secret.export(), &headers, body.as_bytes(), 1_700_009_999).unwrap_err().code(),
            "webhook_timestamp"
        );
        assert_eq!(
            verify_webhook(&secret.export(), &headers[1..], body.as_bytes(), 1_700_000_010)
                .unwrap_err()
                .code(),
            "webhook_header"
        );
    }

    #[test]
    fn observation_batches() {
        let c = client();
        let r = c
            .observations(
                "billing-bot",
                &json!([{"id": "e1", "session": "s", "tool": "t", "args": {}, "outcome": "ran"}]),
            )
            .unwrap();
        assert_eq!((r.method, r.path.as_str()), ("POST", "/v1/observations"));
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["agent"], json!("billing-bot"));
        assert_eq!(c.observations("a", &json!({})).unwrap_err().code(), "invalid_options");
        assert_eq!(c.parse_observations(&answer(200, r#"{"accepted":1,"duplicates":0}"#)).unwrap(), (1, 0));
        let stored = c
            .parse_snapshot_stored(&answer(201, r#"{"snapshot":{"size":3,"sha256":"ab","created_at":5}}"#))
            .unwrap();
        assert_eq!(stored.size, 3);
    }
}
