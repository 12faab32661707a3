//! The one error type of the core.
//!
//! Every fallible function in `handrail-core` returns [`Error`]. Each variant has a stable
//! machine-readable [`Error::code`] that the bindings expose unchanged (Python exception
//! attribute `code`, JavaScript `error.code`) and that the shared vectors in
//! `tests/vectors/` name as the expected outcome. Codes never change once published; new
//! variants may be added, so the enum is `#[non_exhaustive]`.
//!
//! Each error also has a [`Error::kind`], a small category ([`ErrorKind`]) that decides
//! which exception class a binding raises: the bindings map kinds to classes and never
//! look at codes themselves, so the category of an error is decided here, once.
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
    /// A JSON text with more values (scalars, arrays and objects, counted alike) than the
    /// caller's limit: dense input that would cost far more to hold than its size says.
    #[error("JSON text holds more than {limit} values")]
    TooManyValues { limit: usize },

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
    /// A JSON Schema whose validation would cost more than the limits allow: too large,
    /// `$ref` chains too long, or too many subschemas once every `$ref` is followed (alone,
    /// or times the size of the payload it must check). See `request::compile_schema`.
    #[error("JSON Schema too complex: {reason}")]
    SchemaTooComplex { reason: String },
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
            Error::TooManyValues { .. } => "too_many_values",
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
            Error::SchemaTooComplex { .. } => "schema_too_complex",
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

    /// The category of this error; the bindings choose the exception class from it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unauthorized { .. } => ErrorKind::Auth,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } | Error::IdempotencyMismatch => ErrorKind::Conflict,
            Error::InvalidRequest { .. }
            | Error::EditInvalid { .. }
            | Error::SchemaInvalid { .. }
            | Error::SchemaTooComplex { .. }
            | Error::BodyTooLarge { .. } => ErrorKind::InvalidPayload,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::Server { .. } => ErrorKind::Server,
            Error::InvalidResponse { .. } => ErrorKind::Protocol,
            Error::DecryptFailed
            | Error::UnwrapFailed
            | Error::EnvelopeMalformed { .. }
            | Error::EnvelopeUnsupported { .. }
            | Error::NotEncrypted { .. }
            | Error::NoKey { .. }
            | Error::UnknownKid { .. } => ErrorKind::Decryption,
            Error::Expired { .. } => ErrorKind::Expired,
            Error::WaitTimeout { .. } => ErrorKind::Timeout,
            Error::ProofMalformed { .. }
            | Error::ProofAlgorithm { .. }
            | Error::ProofSignature
            | Error::ProofExpired
            | Error::ProofMismatch { .. }
            | Error::ProofProject
            | Error::ProofIssuer => ErrorKind::Proof,
            Error::WebhookHeader { .. } | Error::WebhookTimestamp | Error::WebhookSignature => {
                ErrorKind::Webhook
            }
            Error::AuditBroken { .. } | Error::AuditTruncated { .. } => ErrorKind::Audit,
            Error::Random => ErrorKind::Unavailable,
            Error::JsonSyntax { .. }
            | Error::DuplicateKey { .. }
            | Error::LoneSurrogate { .. }
            | Error::NonFiniteNumber { .. }
            | Error::IntegerOutOfRange { .. }
            | Error::TooDeep { .. }
            | Error::TooLarge { .. }
            | Error::TooManyValues { .. }
            | Error::Encoding { .. }
            | Error::InvalidKey { .. }
            | Error::IdempotencyKey { .. }
            | Error::InvalidTransition { .. }
            | Error::InvalidOptions { .. }
            | Error::ProfileCorrupt { .. }
            | Error::UnknownVariant { .. }
            | Error::InvisibleCharacter { .. } => ErrorKind::InvalidInput,
        }
    }

    /// The HTTP status of the server's answer this error stands for, when it stands for one
    /// (401, 403, 404, 409, 413, 422, 429, 5xx); `None` for errors the core found itself.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Unauthorized { .. } => Some(401),
            Error::Forbidden { .. } => Some(403),
            Error::NotFound { .. } => Some(404),
            Error::Conflict { .. } => Some(409),
            Error::BodyTooLarge { .. } => Some(413),
            Error::IdempotencyMismatch => Some(422),
            Error::RateLimited { .. } => Some(429),
            Error::Server { status } => Some(*status),
            _ => None,
        }
    }

    /// The request id the error is about (an expiry, a wait timeout), when there is one.
    pub fn id(&self) -> Option<&str> {
        match self {
            Error::Expired { id } | Error::WaitTimeout { id } => Some(id),
            _ => None,
        }
    }

    /// The server's own code of a refusal (`"already_decided"` of a 409, `"invalid_payload"`
    /// of a 400 or 422), when it sent one.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Error::Conflict { reason, .. } | Error::InvalidRequest { reason, .. } if !reason.is_empty() => {
                Some(reason)
            }
            _ => None,
        }
    }

    /// Seconds the server asked to wait before the next call (a 429's `Retry-After`).
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The field the error is about (`"payload"`, `"state"`, …: a value that should have
    /// been encrypted, or an envelope without a key), when there is one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::NotEncrypted { field } | Error::NoKey { field } => Some(field),
            _ => None,
        }
    }
}

/// The category of an [`Error`]: what a caller may want to branch on, and the exception
/// class each binding raises (`ProofError`, `ExpiredError`, …, see `tests/vectors/errors.json`).
///
/// [`ErrorKind::as_str`] is stable like [`Error::code`]; kinds may be added, so the enum is
/// `#[non_exhaustive]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input the core refuses on its own: JSON, encodings, keys, options, names.
    InvalidInput,
    /// The server (400, 413, 422) or the request's schema refused the payload.
    InvalidPayload,
    /// 401: the API key is missing, unknown or revoked.
    Auth,
    /// 403: the key is valid but may not do this.
    Forbidden,
    /// 404: no such request in this key's project.
    NotFound,
    /// 409, or an Idempotency-Key reused with another body.
    Conflict,
    /// Nobody decided before the request's deadline.
    Expired,
    /// The caller's own wait deadline passed while the request was pending.
    Timeout,
    /// 429: too many requests.
    RateLimited,
    /// 5xx: the server failed.
    Server,
    /// The server's answer does not have the shape the protocol promises.
    Protocol,
    /// An envelope did not open, or a plain value came where an envelope belongs.
    Decryption,
    /// A decision proof did not verify.
    Proof,
    /// A webhook did not verify.
    Webhook,
    /// The audit chain does not hold.
    Audit,
    /// The platform could not provide what the core needs (the random number generator).
    Unavailable,
    /// The server could not be reached. The core never returns it (it does no I/O); the
    /// SDKs' HTTP layers report their network failures with this kind.
    Network,
}

impl ErrorKind {
    /// The stable `snake_case` name of the kind (`"invalid_input"`, `"proof"`, …), exposed by
    /// the bindings as the `kind` of their errors.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::InvalidPayload => "invalid_payload",
            ErrorKind::Auth => "auth",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Expired => "expired",
            ErrorKind::Timeout => "timeout",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Server => "server",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Decryption => "decryption",
            ErrorKind::Proof => "proof",
            ErrorKind::Webhook => "webhook",
            ErrorKind::Audit => "audit",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Network => "network",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Shorthand used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_distinct_snake_case_names() {
        use ErrorKind as K;
        let all = [
            K::InvalidInput,
            K::InvalidPayload,
            K::Auth,
            K::Forbidden,
            K::NotFound,
            K::Conflict,
            K::Expired,
            K::Timeout,
            K::RateLimited,
            K::Server,
            K::Protocol,
            K::Decryption,
            K::Proof,
            K::Webhook,
            K::Audit,
            K::Unavailable,
            K::Network,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), all.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')));
        assert_eq!(K::Timeout.to_string(), "timeout");
    }

    #[test]
    fn one_code_two_kinds_where_the_cause_differs() {
        // Both are `too_large`, but only the server's refusal is about the payload sent.
        let local = Error::TooLarge { size: 2, limit: 1 };
        let refused = Error::BodyTooLarge { message: "m".into() };
        assert_eq!((local.code(), refused.code()), ("too_large", "too_large"));
        assert_eq!((local.kind(), refused.kind()), (ErrorKind::InvalidInput, ErrorKind::InvalidPayload));
        assert_eq!((local.status(), refused.status()), (None, Some(413)));
    }

    #[test]
    fn fields_are_given_only_by_the_errors_that_have_them() {
        let conflict = Error::Conflict { reason: String::new(), message: "m".into() };
        assert_eq!(
            (conflict.kind(), conflict.status(), conflict.reason()),
            (ErrorKind::Conflict, Some(409), None)
        );
        assert_eq!(Error::Server { status: 503 }.status(), Some(503));
        assert_eq!(Error::NoKey { field: "state" }.field(), Some("state"));
        assert_eq!(Error::Expired { id: "req_1".into() }.id(), Some("req_1"));
        assert_eq!(Error::ProofSignature.kind(), ErrorKind::Proof);
        assert_eq!(Error::Random.kind(), ErrorKind::Unavailable);
        assert_eq!(Error::DecryptFailed.id(), None);
    }
}
