//! Keys: agent keys and operator tokens of a project (operators only), and the server's
//! public proof keys as JWKS (anyone: proofs are verified offline).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{body, internal, operator, parse, ApiResult};
use crate::store::Role;
use crate::{now, AppState};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/v1/keys/proof", get(proof_keys)).route("/v1/keys", post(add_key).get(list_keys))
}

/// The server's public proof keys, as a JWK Set.
#[derive(Serialize, JsonSchema)]
pub(super) struct Jwks {
    /// Ed25519 public keys: `{"kty": "OKP", "crv": "Ed25519", "alg", "use": "sig", "kid", "x"}`.
    keys: Vec<Value>,
}

async fn proof_keys(State(state): State<AppState>) -> Json<Jwks> {
    Json(Jwks { keys: vec![state.signer.public_jwk()] })
}

/// A key to create.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewKey {
    /// `agent` (`hr_agent_…`) or `operator` (`hr_op_…`).
    role: Role,
}

/// A key just created: its token is shown this once.
#[derive(Serialize, JsonSchema)]
pub(super) struct KeyCreated {
    /// The key's public name, as decisions and the audit log show it.
    key_id: String,
    /// What it may do.
    role: Role,
    /// The bearer token; only its hash is stored.
    token: String,
}

/// A key of the project (never its token).
#[derive(Serialize, JsonSchema)]
pub(super) struct KeyInfo {
    /// The key's public name.
    key_id: String,
    /// What it may do.
    role: Role,
    /// When it was made, Unix seconds.
    created_at: i64,
}

/// The project's keys.
#[derive(Serialize, JsonSchema)]
pub(super) struct KeyList {
    /// Every key of the project.
    keys: Vec<KeyInfo>,
}

/// Creates an agent key or operator token in the caller's project; the token is shown once.
async fn add_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<KeyCreated>)> {
    let who = operator(&state, &headers)?;
    let new: NewKey = parse(&body(bytes)?)?;
    let (key_id, token) =
        crate::new_key(state.store.as_ref(), &who.project, new.role, now()).map_err(internal)?;
    Ok((StatusCode::CREATED, Json(KeyCreated { key_id, role: new.role, token })))
}

async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<KeyList>> {
    let who = operator(&state, &headers)?;
    let keys = state
        .store
        .keys(&who.project)?
        .into_iter()
        .map(|(key_id, role, created_at)| KeyInfo { key_id, role, created_at })
        .collect();
    Ok(Json(KeyList { keys }))
}
