//! The one error type of the server's API: a stable [`Code`] (and its HTTP status), a message for
//! people, never internals. Every answer that is not a success is `{"error": {"code",
//! "message"}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;

use crate::store::StoreError;

/// Every error code the server itself answers with (the core's codes — `json_syntax`,
/// `edit_invalid`, … — pass through [`ApiError::from`] as the core names them). Each has one
/// status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// A project-wide power asked by an operator that does not hold role `*`.
    AllRolesRequired,
    /// The request was decided (or expired) already.
    AlreadyDecided,
    /// The request body could not be read.
    BadBody,
    /// Other writes of the same agent keep winning; retry.
    Busy,
    /// The key may not do this (an agent key on an operator route, …).
    Forbidden,
    /// A request with this client-chosen id exists.
    IdTaken,
    /// The request's deadline passed before the decision: it expired (fail closed).
    Expired,
    /// A create with this `Idempotency-Key` is in flight.
    IdempotencyConflict,
    /// The `Idempotency-Key` header is not ASCII.
    IdempotencyKey,
    /// This `Idempotency-Key` was used with another body.
    IdempotencyMismatch,
    /// A failure of the server; details go to its log only.
    Internal,
    /// An agent name outside its rule.
    InvalidAgent,
    /// A budget that is not a finite number ≥ 0.
    InvalidBudget,
    /// A channel of a kind this server cannot deliver (e-mail without `HANDRAIL_SMTP_URL`, …).
    ChannelUnavailable,
    /// An observation event outside its rules.
    InvalidEvent,
    /// A query string outside its rules.
    InvalidQuery,
    /// A channel outside its rules (kind, addresses, roles).
    InvalidChannel,
    /// A body of the wrong shape.
    InvalidRequest,
    /// A role name outside its rule.
    InvalidRole,
    /// A session status other than `success` or `error`.
    InvalidStatus,
    /// A webhook URL that is not http(s) or is too long.
    InvalidUrl,
    /// An expiring link past its time.
    LinkExpired,
    /// A link whose signature does not hold.
    LinkInvalid,
    /// A required header is missing.
    MissingHeader,
    /// No such thing, or not the caller's to see.
    NotFound,
    /// A token cannot revoke itself.
    OwnKey,
    /// The agent's profile would exceed its bounds.
    ProfileFull,
    /// The project stores as many bytes as its quota allows (`HANDRAIL_PROJECT_QUOTA_BYTES`).
    QuotaExceeded,
    /// The key's rate limit; see `retry-after`.
    RateLimited,
    /// The role exists already.
    RoleExists,
    /// The request's role is not one the operator holds.
    RoleRequired,
    /// The session ended already.
    SessionEnded,
    /// A body or snapshot over its limit.
    TooLarge,
    /// A batch of observations over its limit.
    TooManyEvents,
    /// The key holds as many streams or long-polls as it may.
    TooManyOpen,
    /// No valid bearer token.
    Unauthorized,
    /// A URL whose host the outbound policy refuses (an address literal or `localhost`).
    UrlForbidden,
}

impl Code {
    /// Every code, for the checks that the OpenAPI document names them all.
    pub const ALL: [Code; 37] = [
        Code::AllRolesRequired,
        Code::AlreadyDecided,
        Code::BadBody,
        Code::Busy,
        Code::Forbidden,
        Code::IdTaken,
        Code::Expired,
        Code::IdempotencyConflict,
        Code::IdempotencyKey,
        Code::IdempotencyMismatch,
        Code::Internal,
        Code::InvalidAgent,
        Code::InvalidBudget,
        Code::ChannelUnavailable,
        Code::InvalidChannel,
        Code::InvalidEvent,
        Code::InvalidQuery,
        Code::InvalidRequest,
        Code::InvalidRole,
        Code::InvalidStatus,
        Code::InvalidUrl,
        Code::LinkExpired,
        Code::LinkInvalid,
        Code::MissingHeader,
        Code::NotFound,
        Code::OwnKey,
        Code::ProfileFull,
        Code::QuotaExceeded,
        Code::RateLimited,
        Code::RoleExists,
        Code::RoleRequired,
        Code::SessionEnded,
        Code::TooLarge,
        Code::TooManyEvents,
        Code::TooManyOpen,
        Code::Unauthorized,
        Code::UrlForbidden,
    ];

    /// The stable `snake_case` name clients match on.
    pub const fn as_str(self) -> &'static str {
        match self {
            Code::AllRolesRequired => "all_roles_required",
            Code::AlreadyDecided => "already_decided",
            Code::BadBody => "bad_body",
            Code::Busy => "busy",
            Code::Forbidden => "forbidden",
            Code::IdTaken => "id_taken",
            Code::Expired => "expired",
            Code::IdempotencyConflict => "idempotency_conflict",
            Code::IdempotencyKey => "idempotency_key",
            Code::IdempotencyMismatch => "idempotency_mismatch",
            Code::Internal => "internal",
            Code::InvalidAgent => "invalid_agent",
            Code::InvalidBudget => "invalid_budget",
            Code::ChannelUnavailable => "channel_unavailable",
            Code::InvalidChannel => "invalid_channel",
            Code::InvalidEvent => "invalid_event",
            Code::InvalidQuery => "invalid_query",
            Code::InvalidRequest => "invalid_request",
            Code::InvalidRole => "invalid_role",
            Code::InvalidStatus => "invalid_status",
            Code::InvalidUrl => "invalid_url",
            Code::LinkExpired => "link_expired",
            Code::LinkInvalid => "link_invalid",
            Code::MissingHeader => "missing_header",
            Code::NotFound => "not_found",
            Code::OwnKey => "own_key",
            Code::ProfileFull => "profile_full",
            Code::QuotaExceeded => "quota_exceeded",
            Code::RateLimited => "rate_limited",
            Code::RoleExists => "role_exists",
            Code::RoleRequired => "role_required",
            Code::SessionEnded => "session_ended",
            Code::TooLarge => "too_large",
            Code::TooManyEvents => "too_many_events",
            Code::TooManyOpen => "too_many_open",
            Code::Unauthorized => "unauthorized",
            Code::UrlForbidden => "url_forbidden",
        }
    }

    /// The HTTP status it is answered with.
    pub const fn status(self) -> StatusCode {
        match self {
            Code::AllRolesRequired => StatusCode::FORBIDDEN,
            Code::AlreadyDecided => StatusCode::CONFLICT,
            Code::BadBody => StatusCode::BAD_REQUEST,
            Code::Busy => StatusCode::CONFLICT,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::IdTaken => StatusCode::CONFLICT,
            Code::Expired => StatusCode::CONFLICT,
            Code::IdempotencyConflict => StatusCode::CONFLICT,
            Code::IdempotencyKey => StatusCode::BAD_REQUEST,
            Code::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::InvalidAgent => StatusCode::BAD_REQUEST,
            Code::InvalidBudget => StatusCode::BAD_REQUEST,
            Code::ChannelUnavailable => StatusCode::UNPROCESSABLE_ENTITY,
            Code::InvalidChannel => StatusCode::BAD_REQUEST,
            Code::InvalidEvent => StatusCode::BAD_REQUEST,
            Code::InvalidQuery => StatusCode::BAD_REQUEST,
            Code::InvalidRequest => StatusCode::BAD_REQUEST,
            Code::InvalidRole => StatusCode::BAD_REQUEST,
            Code::InvalidStatus => StatusCode::BAD_REQUEST,
            Code::InvalidUrl => StatusCode::BAD_REQUEST,
            Code::LinkExpired => StatusCode::GONE,
            Code::LinkInvalid => StatusCode::FORBIDDEN,
            Code::MissingHeader => StatusCode::BAD_REQUEST,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::OwnKey => StatusCode::CONFLICT,
            Code::ProfileFull => StatusCode::UNPROCESSABLE_ENTITY,
            Code::QuotaExceeded => StatusCode::INSUFFICIENT_STORAGE,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::RoleExists => StatusCode::CONFLICT,
            Code::RoleRequired => StatusCode::FORBIDDEN,
            Code::SessionEnded => StatusCode::CONFLICT,
            Code::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::TooManyEvents => StatusCode::BAD_REQUEST,
            Code::TooManyOpen => StatusCode::TOO_MANY_REQUESTS,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::UrlForbidden => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }
}

/// An API error: status, stable code, message for people.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError { status: code.status(), code: code.as_str(), message: message.into(), retry_after: None }
    }

    /// Whether this is the error of `code`.
    pub(crate) fn is(&self, code: Code) -> bool {
        self.code == code.as_str()
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: ErrorDetail,
}

/// An error's stable code and message.
#[derive(Debug, Serialize, JsonSchema)]
struct ErrorDetail {
    /// Stable, `snake_case`; each operation lists the codes it can give.
    code: String,
    /// For people; may change between versions.
    message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Json(ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } });
        match self.retry_after {
            Some(secs) => (self.status, [("retry-after", secs.to_string())], body).into_response(),
            None => (self.status, body).into_response(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        crate::log::event(crate::log::Level::Error, "storage error", serde_json::json!({ "error": e.0 }));
        ApiError::new(Code::Internal, "internal error")
    }
}

impl From<handrail_core::Error> for ApiError {
    fn from(e: handrail_core::Error) -> Self {
        let status = match e.code() {
            "edit_invalid" | "schema_invalid" | "schema_too_complex" => StatusCode::UNPROCESSABLE_ENTITY,
            "too_large" | "too_many_values" => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError { status, code: e.code(), message: e.to_string(), retry_after: None }
    }
}

/// What a route answers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// 401 `unauthorized`.
pub(crate) fn unauthorized() -> ApiError {
    ApiError::new(Code::Unauthorized, "a valid bearer token is required")
}

/// 404 `not_found` for a request.
pub(crate) fn not_found() -> ApiError {
    ApiError::new(Code::NotFound, "no such request")
}

/// 500 `internal`; the detail goes to the log only.
pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    crate::log::event(
        crate::log::Level::Error,
        "internal error",
        serde_json::json!({ "error": e.to_string() }),
    );
    ApiError::new(Code::Internal, "internal error")
}
