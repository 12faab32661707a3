//! Keys: agent keys and operator tokens of a project (operators only), and the server's
//! public proof keys as JWKS (anyone: proofs are verified offline).

use axum::extract::State;

use super::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::roles::check_role_name;
use super::Code;
use super::{internal, parse, ApiError, ApiResult, ProjectOperator};
use crate::store::{AuditEvent, Role, ANY_ROLE};
use crate::{now, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/keys/proof", get(proof_keys))
        .route("/v1/keys/me", get(me))
        .route("/v1/keys", post(add_key).get(list_keys))
        .route("/v1/keys/{key_id}", delete(revoke_key))
}

/// The server's public proof keys, as a JWK Set, and the issuer its proofs name.
#[derive(Serialize, JsonSchema)]
pub(super) struct Jwks {
    /// Ed25519 public keys: `{"kty": "OKP", "crv": "Ed25519", "alg", "use": "sig", "kid", "x"}`.
    keys: Vec<Value>,
    /// The `iss` of this server's proofs and audit checkpoints: its public URL
    /// (`HANDRAIL_PUBLIC_URL`) or a stable `srv_…` id.
    issuer: String,
}

async fn proof_keys(State(state): State<AppState>) -> Json<Jwks> {
    Json(Jwks { keys: vec![state.signer.public_jwk()], issuer: state.issuer.to_string() })
}

/// A key to create.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    /// `agent` (`hr_agent_…`) or `operator` (`hr_op_…`).
    role: Role,
    /// For an operator: the request roles it may decide (default `["*"]`, any).
    roles: Option<Vec<String>>,
    /// For an operator: whether it administers the server (only an admin may grant it).
    admin: Option<bool>,
}

/// Most roles on one key.
const MAX_KEY_ROLES: usize = 32;

/// A key just created: its token is shown this once.
#[derive(Serialize, JsonSchema)]
pub(super) struct KeyCreated {
    /// The key's public name, as decisions and the audit log show it.
    key_id: String,
    /// What it may do.
    role: Role,
    /// The bearer token; only its hash is stored.
    token: String,
    /// An operator's roles (`*`: any).
    #[serde(skip_serializing_if = "Option::is_none")]
    roles: Option<Vec<String>>,
    /// Whether an operator may administer projects.
    #[serde(skip_serializing_if = "Option::is_none")]
    admin: Option<bool>,
}

/// The project's keys.
#[derive(Serialize, JsonSchema)]
pub(super) struct KeyList {
    /// Every key of the project (never its token).
    keys: Vec<crate::store::KeyInfo>,
}

/// Who the calling key is (the dashboard's sign-in: which project a token opens).
#[derive(Serialize, JsonSchema)]
pub(super) struct Me {
    /// The key's id.
    key_id: String,
    /// Its project.
    project: String,
    /// Agent or operator.
    role: Role,
    /// For an operator, the request roles it may decide (`*`: any).
    roles: Vec<String>,
    /// Whether it administers the server.
    admin: bool,
}

async fn me(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Me>> {
    let who = super::principal(&state, &headers)?;
    Ok(Json(Me {
        key_id: who.key_id,
        project: who.project,
        role: who.role,
        roles: who.roles,
        admin: who.admin,
    }))
}

/// Creates an agent key or operator token in the caller's project; the token is shown once.
/// An operator grants at most what it holds: roles it decides (all with `*`) and `admin`.
async fn add_key(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<(StatusCode, Json<KeyCreated>)> {
    let new: NewKey = parse(&bytes)?;
    let invalid = |m: &str| ApiError::new(Code::InvalidRequest, m);
    let forbidden = |m: String| ApiError::new(Code::Forbidden, m);
    if new.role == Role::Agent && (new.roles.is_some() || new.admin.is_some()) {
        return Err(invalid("roles and admin are for operator keys; agent keys decide nothing"));
    }
    let roles = new.roles.unwrap_or_else(|| vec![ANY_ROLE.to_string()]);
    if roles.is_empty() || roles.len() > MAX_KEY_ROLES {
        return Err(invalid("roles lists 1 to 32 roles (\"*\": any)"));
    }
    for role in &roles {
        if role != ANY_ROLE {
            check_role_name(role)?;
        }
        let held = who.roles.iter().any(|r| r == ANY_ROLE || r == role);
        if !held {
            return Err(forbidden(format!("an operator grants only roles it holds, not {role:?}")));
        }
    }
    let admin = new.admin.unwrap_or(false);
    if admin && !who.admin {
        return Err(forbidden("only an admin token grants admin".into()));
    }
    let (key_id, token) = crate::new_key(
        state.store.as_ref(),
        &who.project,
        new.role,
        roles.clone(),
        admin,
        &who.key_id,
        now(),
    )
    .map_err(internal)?;
    let operator = new.role == Role::Operator;
    Ok((
        StatusCode::CREATED,
        Json(KeyCreated {
            key_id,
            role: new.role,
            token,
            roles: operator.then_some(roles),
            admin: operator.then_some(admin),
        }),
    ))
}

async fn list_keys(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
) -> ApiResult<Json<KeyList>> {
    Ok(Json(KeyList { keys: state.store.keys(&who.project)? }))
}

/// Revokes a key of the caller's project: its token is refused (401) from the next call on.
/// Only an admin revokes an admin token; a token cannot revoke itself (409 `own_key`), so a
/// project is never locked out by accident.
async fn revoke_key(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::new(Code::NotFound, "no such key");
    let (_, admin) = state.store.key(&who.project, &key_id)?.ok_or_else(not_found)?;
    if key_id == who.key_id {
        return Err(ApiError::new(Code::OwnKey, "a token cannot revoke itself"));
    }
    if admin && !who.admin {
        return Err(ApiError::new(Code::Forbidden, "only an admin token revokes an admin"));
    }
    let audit =
        AuditEvent { at: now(), actor: &who.key_id, event: "key.revoked", data: json!({ "admin": admin }) };
    if state.store.revoke_key(&who.project, &key_id, audit)? {
        // Its open streams and long-polls end now, not when they next time out.
        state.revoked();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
