//! The one error type of the core.
//!
//! Every fallible function in `handrail-core` returns [`Error`]. Each variant has a stable
//! machine-readable [`Error::code`] that the bindings expose unchanged (Python exception
//! attribute `code`, JavaScript `error.code`) and that the shared vectors in
//! `tests/vectors/` name as the expected outcome. Codes never change once published; new
//! variants may be added, so the enum is `#[non_exhaustive]`.
//!
//! Messages never contain key material, secrets or plaintext.

/// Everything that can go wrong in the core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- canonical JSON -------------------------------------------------------------------
    /// The input is not well-formed JSON (RFC 8259).
    #[error("invalid JSON at byte {offset}: {reason}")]
    JsonSyntax { offset: usize, reason: &'static str },
    /// An object has the same member name twice; RFC 8785 requires unique names.
    #[error("duplicate key {key:?} at byte {offset}")]
    DuplicateKey { key: String, offset: usize },
    /// A string contains an unpaired UTF-16 surrogate escape (`\ud800` alone).
    #[error("lone surrogate in string at byte {offset}")]
    LoneSurrogate { offset: usize },
    /// A number overflows an IEEE 754 double (`1e400`); JSON has no NaN or Infinity.
    #[error("number is not finite at byte {offset}")]
    NonFiniteNumber { offset: usize },
    /// An integer literal lies outside ±(2^53−1) and cannot round-trip through a double.
    #[error("integer outside ±(2^53-1) at byte {offset}")]
    IntegerOutOfRange { offset: usize },
    /// Nesting deeper than the parser's limit.
    #[error("JSON nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    /// An input larger than the limit the caller or the format sets.
    #[error("input of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },

    // ---- encodings and keys ---------------------------------------------------------------
    /// A base64 / base64url / hex field did not decode.
    #[error("invalid {what} encoding")]
    Encoding { what: &'static str },
    /// A key or secret has the wrong prefix, length or form.
    #[error("invalid key: {reason}")]
    InvalidKey { reason: &'static str },
    /// The operating system's random number generator failed.
    #[error("random number generator unavailable")]
    Random,

    // ---- envelope -------------------------------------------------------------------------
    /// The envelope is not a JSON object of the v1 or legacy shape.
    #[error("malformed envelope: {reason}")]
    EnvelopeMalformed { reason: &'static str },
    /// The envelope names a version or algorithm this build does not support.
    #[error("unsupported envelope {field}: {value:?}")]
    EnvelopeUnsupported { field: &'static str, value: String },
    /// No key with the envelope's `kid` is available to the opener.
    #[error("no key for kid {kid:?}")]
    UnknownKid { kid: String },
    /// Authentication failed: wrong key, wrong context, or the ciphertext was altered.
    #[error("decryption failed (wrong key, wrong context or tampered ciphertext)")]
    DecryptFailed,
    /// The wrapped data key did not unwrap under the master key (RFC 3394 integrity check).
    #[error("data key unwrap failed")]
    UnwrapFailed,

    // ---- webhooks -------------------------------------------------------------------------
    /// A required webhook header is missing or unparseable.
    #[error("malformed webhook header {header}: {reason}")]
    WebhookHeader { header: &'static str, reason: &'static str },
    /// The webhook timestamp is further from `now` than the tolerance allows.
    #[error("webhook timestamp outside tolerance")]
    WebhookTimestamp,
    /// No signature in the header matches.
    #[error("no matching webhook signature")]
    WebhookSignature,

    // ---- proofs ---------------------------------------------------------------------------
    /// The proof is not a well-formed JWS compact token with the expected claims.
    #[error("malformed proof: {reason}")]
    ProofMalformed { reason: &'static str },
    /// The proof's `alg` is not the one pinned for its key.
    #[error("proof algorithm {alg:?} not allowed")]
    ProofAlgorithm { alg: String },
    /// The signature does not verify under the key named by `kid`.
    #[error("proof signature invalid")]
    ProofSignature,
    /// `now` is past the proof's `exp`, or before its `iat` beyond the allowed skew.
    #[error("proof expired or not yet valid")]
    ProofExpired,
    /// The proof is valid but for another request, request body or decision.
    #[error("proof does not match: {field}")]
    ProofMismatch { field: &'static str },
    /// The proof (or signed audit checkpoint) is for another project than the one expected,
    /// or names no project while one is expected.
    #[error("signed for another project (or for none) than the expected one")]
    ProofProject,
    /// The proof (or signed audit checkpoint) was issued by another server than the one
    /// expected, or names no issuer while one is expected.
    #[error("issued by another server (or by none) than the expected one")]
    ProofIssuer,

    // ---- idempotency ----------------------------------------------------------------------
    /// An idempotency key that is empty, too long or not printable ASCII.
    #[error("invalid idempotency key: {reason}")]
    IdempotencyKey { reason: &'static str },
    /// A state change that the execution state machine does not allow.
    #[error("invalid execution transition from {from} to {to}")]
    InvalidTransition { from: &'static str, to: &'static str },

    // ---- audit ----------------------------------------------------------------------------
    /// The audit chain of a project does not hold at this entry.
    #[error("audit chain broken at entry {seq} of project {project:?}: {reason}")]
    AuditBroken { project: String, seq: u64, reason: &'static str },
    /// A project's chain ends before the entry a signed checkpoint (or a remembered
    /// verification) vouches for: its newest entries were deleted.
    #[error("audit chain of project {project:?} ends at entry {have}, but entry {seq} was vouched for (newest entries deleted)")]
    AuditTruncated { project: String, seq: u64, have: u64 },

    // ---- firewall -------------------------------------------------------------------------
    /// Options (a firewall policy or configuration) that do not parse.
    #[error("invalid {what}: {reason}")]
    InvalidOptions { what: &'static str, reason: String },
    /// A serialized firewall profile that is truncated, corrupt or hostile.
    #[error("corrupt firewall profile: {reason}")]
    ProfileCorrupt { reason: &'static str },

    // ---- requests -------------------------------------------------------------------------
    /// A value that should name one of a fixed set (status, priority, effect) names none.
    #[error("unknown {kind} {value:?}")]
    UnknownVariant { kind: &'static str, value: String },
    /// The JSON Schema attached to a request is itself invalid.
    #[error("invalid JSON Schema: {reason}")]
    SchemaInvalid { reason: String },
    /// An edited payload does not satisfy the request's schema.
    #[error("edited payload violates the schema: {}", errors.join("; "))]
    EditInvalid { errors: Vec<String> },
    /// A name (service, action, role, or a member name of the payload, schema or context)
    /// holds a bidi control or another invisible format character
    /// ([`crate::request::is_invisible`]): what a person reads would not be what it says.
    #[error("{what} contains the invisible character U+{codepoint:04X}")]
    InvisibleCharacter { what: &'static str, codepoint: u32 },

    // ---- protocol (answers of the server, see `protocol`) ------------------------------
    /// 401: the API key is missing, unknown or revoked.
    #[error("unauthorized: {message}")]
    Unauthorized { message: String },
    /// 403: the key is valid but may not do this (an agent key resolving a request…).
    #[error("forbidden: {message}")]
    Forbidden { message: String },
    /// 404: no such request (or not in this key's project).
    #[error("not found: {message}")]
    NotFound { message: String },
    /// 409: the server's state forbids it; `reason` is the server's code (`id_taken`,
    /// `already_decided`, `idempotency_conflict`).
    #[error("conflict ({reason}): {message}")]
    Conflict { reason: String, message: String },
    /// 413: the server refused a body as too large.
    #[error("too large: {message}")]
    BodyTooLarge { message: String },
    /// 422 `idempotency_mismatch`: the same Idempotency-Key was used with another body.
    #[error("idempotency key reused with another request body")]
    IdempotencyMismatch,
    /// 400 or 422: the server refused the input; `reason` is the server's code.
    #[error("invalid request ({reason}): {message}")]
    InvalidRequest { reason: String, message: String },
    /// 429: slow down; retry after `retry_after` seconds.
    #[error("rate limited, retry after {retry_after} s")]
    RateLimited { retry_after: u64 },
    /// 5xx: the server failed; worth retrying.
    #[error("server error {status}")]
    Server { status: u16 },
    /// An answer that does not have the shape the protocol promises.
    #[error("invalid response: {reason}")]
    InvalidResponse { reason: String },
    /// A client with an encryption key received a plain value where an envelope belongs:
    /// never taken as the payload.
    #[error("{field} is not encrypted, but this client encrypts")]
    NotEncrypted { field: &'static str },
    /// An envelope arrived but this client has no key to open it.
    #[error("{field} is encrypted, but this client has no encryption key")]
    NoKey { field: &'static str },
    /// Nobody decided before the request's deadline; the agent must not act.
    #[error("request {id} expired without a decision")]
    Expired { id: String },
    /// The caller's own wait deadline passed while the request was still pending.
    #[error("still pending when the wait timed out: {id}")]
    WaitTimeout { id: String },
}

impl Error {
    /// The stable, machine-readable code of this error (`snake_case`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::JsonSyntax { .. } => "json_syntax",
            Error::DuplicateKey { .. } => "duplicate_key",
            Error::LoneSurrogate { .. } => "lone_surrogate",
            Error::NonFiniteNumber { .. } => "non_finite_number",
            Error::IntegerOutOfRange { .. } => "integer_out_of_range",
            Error::TooDeep { .. } => "too_deep",
            Error::TooLarge { .. } => "too_large",
            Error::Encoding { .. } => "encoding",
            Error::InvalidKey { .. } => "invalid_key",
            Error::Random => "random_unavailable",
            Error::EnvelopeMalformed { .. } => "envelope_malformed",
            Error::EnvelopeUnsupported { .. } => "envelope_unsupported",
            Error::UnknownKid { .. } => "unknown_kid",
            Error::DecryptFailed => "decrypt_failed",
            Error::UnwrapFailed => "unwrap_failed",
            Error::WebhookHeader { .. } => "webhook_header",
            Error::WebhookTimestamp => "webhook_timestamp",
            Error::WebhookSignature => "webhook_signature",
            Error::ProofMalformed { .. } => "proof_malformed",
            Error::ProofAlgorithm { .. } => "proof_algorithm",
            Error::ProofSignature => "proof_signature",
            Error::ProofExpired => "proof_expired",
            Error::ProofMismatch { .. } => "proof_mismatch",
            Error::ProofProject => "proof_project",
            Error::ProofIssuer => "proof_issuer",
            Error::IdempotencyKey { .. } => "idempotency_key",
            Error::InvalidTransition { .. } => "invalid_transition",
            Error::AuditBroken { .. } => "audit_broken",
            Error::AuditTruncated { .. } => "audit_truncated",
            Error::InvalidOptions { .. } => "invalid_options",
            Error::ProfileCorrupt { .. } => "profile_corrupt",
            Error::UnknownVariant { .. } => "unknown_variant",
            Error::SchemaInvalid { .. } => "schema_invalid",
            Error::EditInvalid { .. } => "edit_invalid",
            Error::InvisibleCharacter { .. } => "invisible_character",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::NotFound { .. } => "not_found",
            Error::Conflict { .. } => "conflict",
            Error::BodyTooLarge { .. } => "too_large",
            Error::IdempotencyMismatch => "idempotency_mismatch",
            Error::InvalidRequest { .. } => "invalid_request",
            Error::RateLimited { .. } => "rate_limited",
            Error::Server { .. } => "server_error",
            Error::InvalidResponse { .. } => "invalid_response",
            Error::NotEncrypted { .. } => "not_encrypted",
            Error::NoKey { .. } => "no_key",
            Error::Expired { .. } => "expired",
            Error::WaitTimeout { .. } => "wait_timeout",
        }
    }
}

/// Shorthand used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
