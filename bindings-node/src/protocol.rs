//! The core's sans-IO client protocol ([`handrail_core::protocol`]) for JavaScript:
//! `Protocol`, `RequestRecord`, `Wait`, `WebhookDelivery` and three functions.
//!
//! Newtypes and conversions only: requests leave as plain objects for `fetch` to send,
//! answers arrive as `{ status, headers, body }`, JSON crosses as text (the TypeScript
//! client in `ts/client.ts` uses `JSON`). Every rule — ids, idempotency keys, sealing,
//! status codes, backoff, proofs — is the core's. Errors go through
//! [`crate::error::thrown`], so they carry `code`, `data` and the subclass to throw.

use std::collections::HashMap;

use handrail_core::envelope::Key;
use handrail_core::protocol::{self, Ask, Client, HttpRequest as CoreRequest, HttpResponse, WaitStep};
use handrail_core::request::Request;
use napi::bindgen_prelude::{Buffer, Either, Uint8Array};
use napi::Env;
use napi_derive::napi;
use serde::Serialize;
use serde_json::Value;

use crate::error::ThrownJs;

/// An HTTP request to send as is.
#[napi(object, object_from_js = false)]
pub struct HttpRequest {
    /// `GET`, `POST` or `PUT`.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// Header names (lowercase) and values, `authorization` among them.
    pub headers: HashMap<String, String>,
    /// The body; empty for `GET`.
    pub body: Buffer,
    /// How long to wait for the whole answer, in seconds (a long-poll needs more than the
    /// poll itself).
    pub timeout_secs: u32,
}

impl From<CoreRequest> for HttpRequest {
    fn from(r: CoreRequest) -> Self {
        HttpRequest {
            method: r.method.to_string(),
            url: r.url,
            headers: r.headers.into_iter().collect(),
            body: r.body.into(),
            timeout_secs: u32::try_from(r.timeout_secs).unwrap_or(u32::MAX),
        }
    }
}

/// An HTTP answer as received.
#[napi(object, object_to_js = false)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u32,
    /// Header names (any case) and values.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Uint8Array,
}

impl From<&HttpAnswer> for HttpResponse {
    fn from(a: &HttpAnswer) -> Self {
        HttpResponse {
            status: u16::try_from(a.status).unwrap_or(0),
            headers: a.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            body: a.body.to_vec(),
        }
    }
}

/// What an agent asks; JSON values as text.
#[napi(object, object_to_js = false)]
pub struct AskInit {
    /// The system acted on (`stripe`…).
    pub service: String,
    /// The action (`refund`…).
    pub action: String,
    /// The plain payload as JSON text; sealed when the protocol has a key.
    pub payload_json: String,
    /// `low`, `medium`, `high`, `critical`; the server's default when absent.
    pub priority: Option<String>,
    /// The role that may decide.
    pub role: Option<String>,
    /// JSON Schema (JSON text) an edit must satisfy.
    pub schema_json: Option<String>,
    /// Seconds until the request expires.
    pub timeout_secs: Option<u32>,
    /// Free context (JSON text) shown to the person deciding, never sealed.
    pub context_json: Option<String>,
    /// State (JSON text) to park with the request, sealed; needs a key.
    pub state_json: Option<String>,
    /// Names the step (thread id, run id): the same scope and request give the same request.
    pub idempotency_scope: Option<String>,
    /// An explicit idempotency key; wins over the scope.
    pub idempotency_key: Option<String>,
}

/// The requests that open one ask.
#[napi(object, object_from_js = false)]
pub struct CreateCalls {
    /// The request id the client chose.
    pub id: String,
    /// The `Idempotency-Key` sent.
    pub idempotency_key: String,
    /// `POST /v1/requests`.
    pub request: HttpRequest,
    /// `PUT /v1/requests/{id}/snapshot`, to send after the create succeeded.
    pub snapshot: Option<HttpRequest>,
}

/// A decision with its payloads opened; JSON values as text.
#[napi(object, object_from_js = false)]
pub struct DecisionOutcome {
    /// `APPROVED`, `APPROVED_WITH_MODIFICATIONS`, `REJECTED` or `EXPIRED`.
    pub status: String,
    /// What to act on (JSON text); absent unless the status allows action.
    pub payload_json: Option<String>,
    /// The edited payload (JSON text), after an edit.
    pub patched_payload_json: Option<String>,
    /// `{"ops": […], "summary": "…"}` (JSON text), after an edit.
    pub diff_json: Option<String>,
    /// Who decided.
    pub actor: Option<String>,
    /// Why.
    pub reason: Option<String>,
    /// The signed proof.
    pub proof: Option<String>,
    /// When, Unix seconds.
    pub decided_at: i64,
}

/// `(accepted, duplicates)` of an observation batch.
#[napi(object, object_from_js = false)]
pub struct ObservationsAccepted {
    /// Events stored.
    pub accepted: u32,
    /// Events already stored before (same id).
    pub duplicates: u32,
}

fn json_in(env: &Env, text: Option<&str>) -> napi::Result<Option<Value>> {
    text.map(|t| handrail_core::canonical::parse(t.as_bytes())).transpose().thrown(env)
}

fn json_out<T: Serialize>(value: &T) -> String {
    // Serializing a serde_json value or a core model to a string cannot fail.
    serde_json::to_string(value).unwrap_or_default()
}

fn count(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A request as the server returned it (payloads as stored).
#[napi]
pub struct RequestRecord {
    record: Request,
}

#[napi]
impl RequestRecord {
    /// The request id.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.record.id.clone()
    }

    /// `PENDING`, `APPROVED`, `APPROVED_WITH_MODIFICATIONS`, `REJECTED` or `EXPIRED`.
    #[napi(getter)]
    pub fn status(&self) -> String {
        self.record.status.as_str().to_string()
    }

    /// True when a state snapshot is parked with the request.
    #[napi(getter)]
    pub fn has_snapshot(&self) -> bool {
        self.record.snapshot.is_some()
    }
}

/// Whose proofs `Protocol.verifyProof` accepts, beyond its defaults (the project a request
/// names, the issuer `/v1/keys/proof` names).
#[napi(object)]
pub struct ProofOrigin {
    /// Only proofs for this project.
    pub project: Option<String>,
    /// Only proofs issued by this server (its public URL or `srv_…` id).
    pub issuer: Option<String>,
}

/// The protocol client: builds requests and reads answers; sends nothing itself.
#[napi]
pub struct Protocol {
    client: Client,
}

#[napi]
impl Protocol {
    /// `encryptionKey` is `hrk1.<kid>.<base64url>`; `expect` pins the project and issuer
    /// proofs must name. Throws `invalid_options` for a base URL that is not http(s),
    /// `invalid_key` for an empty API key or a bad encryption key.
    #[napi(constructor)]
    pub fn new(
        env: Env,
        base_url: String,
        api_key: String,
        encryption_key: Option<String>,
        expect: Option<ProofOrigin>,
    ) -> napi::Result<Self> {
        let mut client = Client::new(&base_url, &api_key).thrown(&env)?;
        if let Some(key) = encryption_key {
            client = client.with_encryption_key(Key::parse(&key).thrown(&env)?);
        }
        if let Some(expect) = expect {
            if let Some(project) = expect.project {
                client = client.with_expected_project(project);
            }
            if let Some(issuer) = expect.issuer {
                client = client.with_expected_issuer(issuer);
            }
        }
        Ok(Protocol { client })
    }

    /// True when payloads and state are sealed.
    #[napi(getter)]
    pub fn encrypts(&self) -> bool {
        self.client.encrypts()
    }

    /// True once the proof keys are loaded.
    #[napi(getter)]
    pub fn has_jwks(&self) -> bool {
        self.client.has_jwks()
    }

    /// The create (and the snapshot upload when there is state).
    #[napi]
    pub fn create(&self, env: Env, ask: AskInit) -> napi::Result<CreateCalls> {
        let ask = Ask {
            service: ask.service,
            action: ask.action,
            payload: handrail_core::canonical::parse(ask.payload_json.as_bytes()).thrown(&env)?,
            priority: ask.priority.as_deref().map(str::parse).transpose().thrown(&env)?,
            role: ask.role,
            schema: json_in(&env, ask.schema_json.as_deref())?,
            timeout_secs: ask.timeout_secs.map(u64::from),
            context: json_in(&env, ask.context_json.as_deref())?,
            state: json_in(&env, ask.state_json.as_deref())?,
            idempotency_scope: ask.idempotency_scope,
            idempotency_key: ask.idempotency_key,
        };
        let c = self.client.create(&ask).thrown(&env)?;
        Ok(CreateCalls {
            id: c.id,
            idempotency_key: c.idempotency_key,
            request: c.request.into(),
            snapshot: c.snapshot.map(Into::into),
        })
    }

    /// `GET /v1/requests/{id}`.
    #[napi]
    pub fn read(&self, env: Env, id: String) -> napi::Result<HttpRequest> {
        Ok(self.client.read(&id).thrown(&env)?.into())
    }

    /// Reads an answer carrying one request; throws the typed error of a non-2xx status.
    #[napi]
    pub fn parse_record(&self, env: Env, answer: HttpAnswer) -> napi::Result<RequestRecord> {
        Ok(RequestRecord { record: self.client.parse_record(&(&answer).into()).thrown(&env)? })
    }

    /// The decision with its payloads opened and diffed; `null` while pending.
    #[napi]
    pub fn outcome(&self, env: Env, record: &RequestRecord) -> napi::Result<Option<DecisionOutcome>> {
        Ok(self.client.resolution(&record.record).thrown(&env)?.map(|o| DecisionOutcome {
            status: o.status.as_str().to_string(),
            payload_json: o.payload.as_ref().map(json_out),
            patched_payload_json: o.patched_payload.as_ref().map(json_out),
            diff_json: o.diff.as_ref().map(json_out),
            actor: o.actor,
            reason: o.reason,
            proof: o.proof,
            decided_at: o.decided_at,
        }))
    }

    /// The stored payload, opened (JSON text).
    #[napi]
    pub fn payload(&self, env: Env, record: &RequestRecord) -> napi::Result<String> {
        Ok(json_out(&self.client.payload(&record.record).thrown(&env)?))
    }

    /// Starts a wait at `nowMs`; without `timeoutMs` it lasts until the request is decided
    /// or expires.
    #[napi]
    pub fn wait(&self, env: Env, id: String, now_ms: i64, timeout_ms: Option<i64>) -> napi::Result<Wait> {
        let timeout_ms = timeout_ms.map(|t| t.max(0) as u64);
        Ok(Wait { wait: self.client.wait(&id, now_ms, timeout_ms).thrown(&env)? })
    }

    /// `GET /v1/requests/{id}/snapshot`.
    #[napi]
    pub fn snapshot_download(&self, env: Env, id: String) -> napi::Result<HttpRequest> {
        Ok(self.client.snapshot_download(&id).thrown(&env)?.into())
    }

    /// Opens a downloaded snapshot of request `id` (JSON text).
    #[napi]
    pub fn open_snapshot(&self, env: Env, id: String, answer: HttpAnswer) -> napi::Result<String> {
        Ok(json_out(&self.client.open_snapshot(&id, &(&answer).into()).thrown(&env)?))
    }

    /// Checks the answer to a snapshot upload.
    #[napi]
    pub fn parse_snapshot_stored(&self, env: Env, answer: HttpAnswer) -> napi::Result<()> {
        self.client.parse_snapshot_stored(&(&answer).into()).thrown(&env)?;
        Ok(())
    }

    /// `POST /v1/observations`; `eventsJson` is a JSON array (text) of at most 1000 events.
    #[napi]
    pub fn observations(&self, env: Env, agent: String, events_json: String) -> napi::Result<HttpRequest> {
        let events = handrail_core::canonical::parse(events_json.as_bytes()).thrown(&env)?;
        Ok(self.client.observations(&agent, &events).thrown(&env)?.into())
    }

    /// What the server did with an observation batch.
    #[napi]
    pub fn parse_observations(&self, env: Env, answer: HttpAnswer) -> napi::Result<ObservationsAccepted> {
        let (accepted, duplicates) = self.client.parse_observations(&(&answer).into()).thrown(&env)?;
        Ok(ObservationsAccepted { accepted: count(accepted), duplicates: count(duplicates) })
    }

    /// `GET /v1/keys/proof`.
    #[napi]
    pub fn jwks_request(&self) -> HttpRequest {
        self.client.jwks_request().into()
    }

    /// Loads the proof keys from the JWKS answer.
    #[napi]
    pub fn load_jwks(&mut self, env: Env, answer: HttpAnswer) -> napi::Result<()> {
        self.client.load_jwks(&(&answer).into()).thrown(&env)
    }

    /// Verifies `proof` for `record` at `now` (Unix seconds); returns its claims (JSON text).
    #[napi]
    pub fn verify_proof(
        &self,
        env: Env,
        record: &RequestRecord,
        proof: String,
        now: i64,
    ) -> napi::Result<String> {
        Ok(json_out(&self.client.verify_proof(&record.record, &proof, now).thrown(&env)?))
    }
}

/// One wait for a decision (`Protocol.wait` makes one).
#[napi]
pub struct Wait {
    wait: protocol::Wait,
}

#[napi]
impl Wait {
    /// The request id waited for.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.wait.id().to_string()
    }

    /// The next long-poll; throws `wait_timeout` once the deadline has passed.
    #[napi]
    pub fn request(&self, env: Env, protocol: &Protocol, now_ms: i64) -> napi::Result<HttpRequest> {
        Ok(self.wait.request(&protocol.client, now_ms).thrown(&env)?.into())
    }

    /// The decided request, or the delay in milliseconds before the next poll (`0`: poll
    /// again now). Throws `expired` for an expired request and the typed error of a final
    /// failure.
    #[napi]
    pub fn on_response(
        &mut self,
        env: Env,
        protocol: &Protocol,
        answer: HttpAnswer,
        now_ms: i64,
    ) -> napi::Result<Either<RequestRecord, u32>> {
        Ok(match self.wait.on_response(&protocol.client, &(&answer).into(), now_ms).thrown(&env)? {
            WaitStep::Done(record) => Either::A(RequestRecord { record: *record }),
            WaitStep::Again => Either::B(0),
            WaitStep::Retry { delay_ms } => Either::B(u32::try_from(delay_ms).unwrap_or(u32::MAX)),
        })
    }

    /// The delay (ms) before the next poll after a transport failure.
    #[napi]
    pub fn on_network_error(&mut self, now_ms: i64) -> u32 {
        u32::try_from(self.wait.on_network_error(now_ms)).unwrap_or(u32::MAX)
    }
}

/// Delay (ms) before retrying a call that got this answer; `null`: do not retry.
#[napi]
pub fn retry_response(answer: HttpAnswer, attempt: u32) -> Option<u32> {
    protocol::retry_response(&(&answer).into(), attempt).map(|d| u32::try_from(d).unwrap_or(u32::MAX))
}

/// Delay (ms) before retrying a call whose transport failed; `null`: give up.
#[napi]
pub fn retry_network(attempt: u32) -> Option<u32> {
    protocol::retry_network(attempt).map(|d| u32::try_from(d).unwrap_or(u32::MAX))
}

/// A verified webhook delivery.
#[napi]
pub struct WebhookDelivery {
    event: protocol::Event,
}

#[napi]
impl WebhookDelivery {
    /// `webhook-id`: deliveries may repeat; deduplicate by it.
    #[napi(getter)]
    pub fn id(&self) -> String {
        self.event.id.clone()
    }

    /// `request.created`, `request.resolved` or `request.expired`.
    #[napi(getter)]
    pub fn kind(&self) -> String {
        self.event.kind.clone()
    }

    /// When the event happened, Unix seconds.
    #[napi(getter)]
    pub fn timestamp(&self) -> i64 {
        self.event.timestamp
    }

    /// The request it is about.
    #[napi]
    pub fn record(&self) -> RequestRecord {
        RequestRecord { record: self.event.record.clone() }
    }
}

/// Verifies a Standard Webhooks delivery with the endpoint's secret at `now` (Unix
/// seconds). Throws `webhook_header`, `webhook_timestamp`, `webhook_signature`.
#[napi]
pub fn verify_webhook(
    env: Env,
    secret: String,
    headers: HashMap<String, String>,
    body: Uint8Array,
    now: i64,
) -> napi::Result<WebhookDelivery> {
    let headers: Vec<(String, String)> = headers.into_iter().collect();
    let event = protocol::verify_webhook(&secret, &headers, &body, now).thrown(&env)?;
    Ok(WebhookDelivery { event })
}

/// What a verified decision proof asserts: the core's `Claims`, with its serde field names.
/// `verifyProof` returns it parsed from the core's JSON; this type only describes it.
// Never built from or into JavaScript: it exists for its generated TypeScript type.
#[allow(dead_code)]
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct ProofClaims {
    /// The request id.
    pub rid: String,
    /// base64url SHA-256 of the canonical request as stored.
    pub req: String,
    /// The decision status.
    pub dec: String,
    /// Who decided (operator id; `system` for expiry).
    pub act: String,
    /// base64url SHA-256 of the canonical patched payload, when the approver edited it.
    pub pat: Option<String>,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// Unique proof id.
    pub jti: String,
    /// The project of the request (absent only from proofs issued before it existed).
    pub prj: Option<String>,
    /// The issuing server: its public URL or `srv_…` id (absent only from older proofs).
    pub iss: Option<String>,
    /// The grant (`grt_…`) an approval was made under or gave.
    pub grt: Option<String>,
}

/// What an edit changed: the core's `Diff`, RFC 6902 operations and a one-line summary.
/// Described to TypeScript only, like `ProofClaims`.
// Never built from or into JavaScript: it exists for its generated TypeScript type.
#[allow(dead_code)]
#[napi(object, object_from_js = false, object_to_js = false)]
pub struct EditDiff {
    /// Operations (`{ op: "add" | "remove" | "replace", path, value? }`) turning the
    /// original payload into the edited one, in order.
    #[napi(ts_type = "Array<{ op: 'add' | 'remove' | 'replace'; path: string; value?: unknown }>")]
    pub ops: Vec<String>,
    /// A short human sentence (`amount: 500 → 50; removed cc`).
    pub summary: String,
}
