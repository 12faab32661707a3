//! Keys: agent keys and operator tokens of a project (operators only), and the server's
//! public proof keys as JWKS (anyone: proofs are verified offline).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::roles::check_role_name;
use super::{body, internal, operator, parse, ApiError, ApiResult};
use crate::store::{Role, ANY_ROLE};
use crate::{now, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/keys/proof", get(proof_keys)).route("/v1/keys", post(add_key).get(list_keys))
}

async fn proof_keys(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "keys": [state.signer.public_jwk()] }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    role: Role,
    /// For an operator: the request roles it may decide (default `["*"]`, any).
    roles: Option<Vec<String>>,
    /// For an operator: whether it administers the server (only an admin may grant it).
    admin: Option<bool>,
}

/// Most roles on one key.
const MAX_KEY_ROLES: usize = 32;

/// Creates an agent key or operator token in the caller's project; the token is shown once.
/// An operator grants at most what it holds: roles it decides (all with `*`) and `admin`.
async fn add_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = operator(&state, &headers)?;
    let new: NewKey = parse(&body(bytes)?)?;
    let invalid = |m: &str| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", m);
    let forbidden = |m: String| ApiError::new(StatusCode::FORBIDDEN, "forbidden", m);
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
    let (key_id, token) =
        crate::new_key(state.store.as_ref(), &who.project, new.role, roles.clone(), admin, now())
            .map_err(internal)?;
    let mut answer = json!({ "key_id": key_id, "role": new.role, "token": token });
    if new.role == Role::Operator {
        answer["roles"] = json!(roles);
        answer["admin"] = json!(admin);
    }
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = operator(&state, &headers)?;
    Ok(Json(json!({ "keys": state.store.keys(&who.project)? })))
}
