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

use super::{body, internal, operator, parse, ApiResult};
use crate::store::Role;
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
}

/// Creates an agent key or operator token in the caller's project; the token is shown once.
async fn add_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let who = operator(&state, &headers)?;
    let new: NewKey = parse(&body(bytes)?)?;
    let (key_id, token) =
        crate::new_key(state.store.as_ref(), &who.project, new.role, now()).map_err(internal)?;
    Ok((StatusCode::CREATED, Json(json!({ "key_id": key_id, "role": new.role, "token": token }))))
}

async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = operator(&state, &headers)?;
    let keys: Vec<Value> = state
        .store
        .keys(&who.project)?
        .into_iter()
        .map(|(key_id, role, created_at)| json!({ "key_id": key_id, "role": role, "created_at": created_at }))
        .collect();
    Ok(Json(json!({ "keys": keys })))
}
