//! LetsPing (PyPI `letsping` 0.3.x), under `/compat/letsping/api`: `POST /ingest` creates an
//! ordinary request (plain or `_lp_enc` payload), `GET /status/{id}` reports it in their
//! shape, and the state parking links are our snapshot links. Webhooks of requests made
//! here also carry `x-letsping-signature` (the core's `compat::letsping::sign`). Their LangGraph
//! checkpointer stores its checkpoints under `/langgraph/checkpoints`, per project and thread.

use axum::extract::State;

use crate::v1::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use handrail_core::crypto::hmac_sha256;
use handrail_core::encoding::b64url_encode;
use handrail_core::idempotency::Fingerprint;
use handrail_core::request::{NewRequest, Priority};
use serde::Deserialize;
use serde_json::{json, Value};

use super::letsping_agents::their_error;
use super::secrets::{self, Kind};
use crate::store::{CheckpointPut, Delivery, RequestRow, Store, StoreError};
use crate::v1::Code;
use crate::v1::{create_request, internal, not_found, parse, ApiError, ApiResult, Caller};
use crate::webhooks::{check_callback_url, DeliveryHook, Shaped};
use crate::{now, random, AppState};

/// The marker in a request's `context.compat` that it came through this layer.
pub(crate) const MARK: &str = "letsping";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/compat/letsping/api/ingest", post(ingest))
        .route("/compat/letsping/api/status/{id}", get(status))
        .route("/compat/letsping/api/callback-secret", get(own_callback_secret))
        .route(
            "/compat/letsping/api/langgraph/checkpoints",
            post(put_checkpoint).get(get_checkpoint).delete(delete_checkpoints),
        )
        // Their client resolves our relative links against its base URL; these are the same
        // link routes as `/v1/blobs/{token}` (the link is the credential, the client's API key
        // that comes with it is neither needed nor logged).
        .route(
            "/compat/letsping/api/v1/blobs/{token}",
            put(crate::v1::upload_by_link).get(crate::v1::download_by_link),
        )
}

/// The body their `defer` / `ask` sends.
#[derive(Deserialize)]
struct Ingest {
    service: String,
    action: String,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// The data key their client encrypts a state snapshot with when it has no key of its own:
/// derived from a server secret and the request, so it is never stored beside the blob.
pub(crate) fn dek(store: &dyn Store, project: &str, id: &str) -> Result<String, StoreError> {
    let fresh = b64url_encode(random::<32>().map_err(StoreError)?);
    let seed = store.setting_or_insert("compat.letsping.dek_seed", &fresh)?;
    let key = hmac_sha256(seed.as_bytes(), &[b"letsping-dek-v1.", project.as_bytes(), b".", id.as_bytes()]);
    Ok(std_b64(&key))
}

/// Standard base64 with padding (what Python's `b64decode` reads).
fn std_b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `POST /ingest`: an ordinary request (service, action, payload as sent: plain or their
/// `_lp_enc` envelope), with an upload link and a data key for the state snapshot.
async fn ingest(
    State(state): State<AppState>,
    Caller(who): Caller,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Response> {
    let raw: Value = parse(&bytes)?;
    let agent = match super::letsping_agents::verify(&state, &who, &raw)? {
        Ok(agent) => agent,
        Err(refused) => return Ok(refused.response()),
    };
    let ask: Ingest = serde_json::from_value(raw)
        .map_err(|e| ApiError::new(Code::InvalidRequest, format!("invalid body: {e}")))?;
    let priority = ask.priority.as_deref().map(str::parse::<Priority>).transpose()?.unwrap_or_default();
    let mut metadata = ask.metadata.unwrap_or_else(|| json!({}));
    if let Some(obj) = metadata.as_object_mut() {
        // These two are ours to say: a caller's own claim of them is dropped.
        obj.remove("agent_id");
        obj.remove("agent_signature_verified");
        if let Some(agent) = agent {
            // Kept beside their metadata so the dashboard shows which signing agent asked.
            obj.insert("agent_id".into(), json!(agent));
            obj.insert("agent_signature_verified".into(), json!(true));
        }
    }
    if let Some(url) = metadata.get("callback_url") {
        let checked = url.as_str().ok_or("callback_url must be a string").and_then(check_callback_url);
        if let Err(message) = checked {
            return Ok(their_error(StatusCode::BAD_REQUEST, "LETSPING_CALLBACK_URL_INVALID", message));
        }
    }
    let role = metadata.get("role").and_then(Value::as_str).map(str::to_string);
    let new = NewRequest {
        service: ask.service,
        action: ask.action,
        payload: ask.payload,
        priority,
        role,
        schema: None,
        timeout_secs: None,
        context: Some(json!({ "compat": MARK, "metadata": metadata })),
        id: None,
    };
    let fingerprint = Fingerprint::new("POST", "/compat/letsping/api/ingest", &bytes)?;
    let (_, text, _) = create_request(&state, &who, &new, None, fingerprint).await?;
    let row: RequestRow = serde_json::from_str(&text).map_err(internal)?;
    let answer = json!({
        "id": row.id,
        "status": "PENDING",
        "uploadUrl": crate::v1::upload_url(&state, &who.project, &row.id)?,
        "dek": dek(state.store.as_ref(), &who.project, &row.id)?,
    });
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// `GET /status/{id}`: PENDING, APPROVED (with `patched_payload` when edited) or REJECTED
/// (an expired request too, with its reason), actor and time both at the top and in
/// `metadata`.
async fn status(
    State(state): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = crate::v1::authority::readable(&state, &who, &id)?;
    Ok(Json(view(&row)))
}

/// A request in LetsPing's status shape.
pub(crate) fn view(row: &RequestRow) -> Value {
    let decision = row.decision.as_ref();
    // APPROVED only for an operator's signed decision (an unsigned one stored by an earlier
    // version reads as REJECTED: fail closed).
    let status = match row.status.as_str() {
        "PENDING" => "PENDING",
        "APPROVED" | "APPROVED_WITH_MODIFICATIONS" if crate::v1::authority::decided_by_person(row) => {
            "APPROVED"
        }
        _ => "REJECTED",
    };
    let resolved_at = decision.map(|d| crate::rfc3339(d.decided_at));
    let actor = json!(decision.and_then(|d| d.actor.as_deref()));
    let mut metadata = row
        .context
        .as_ref()
        .and_then(|c| c.get("metadata"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    metadata.insert("actor_id".into(), actor.clone());
    metadata.insert("resolved_at".into(), json!(resolved_at));
    metadata.insert("reason".into(), json!(decision.and_then(|d| d.reason.as_deref())));
    metadata.insert("handrail_status".into(), json!(row.status));
    metadata.insert("proof".into(), json!(decision.and_then(|d| d.proof.as_deref())));
    json!({
        "id": row.id,
        "status": status,
        "service": row.service,
        "action": row.action,
        "priority": row.priority,
        "payload": row.payload,
        "patched_payload": decision.and_then(|d| d.patched_payload.as_ref()),
        "resolved_at": resolved_at,
        "actor_id": actor,
        "metadata": metadata,
    })
}

/// Checkpoints kept per thread: LangGraph resumes from the newest, older ones are history.
const CHECKPOINTS_PER_THREAD: usize = 64;
/// Checkpoints kept per project, across its threads (the oldest go first).
const CHECKPOINTS_PER_PROJECT: usize = 10_000;
/// Longest thread or checkpoint id, in bytes.
const MAX_CHECKPOINT_ID: usize = 256;

/// The body their `LetsPingCheckpointer` posts.
#[derive(Deserialize)]
struct NewCheckpoint {
    thread_id: String,
    checkpoint_id: String,
    checkpoint: Value,
    metadata: Value,
}

/// The query of a checkpoint read or delete (`latest=1` when no id is given; the newest
/// is answered either way).
#[derive(Deserialize)]
struct CheckpointQuery {
    thread_id: String,
    #[serde(default)]
    checkpoint_id: Option<String>,
}

/// A thread or checkpoint id: 1..=256 bytes.
fn checkpoint_id(name: &str, value: &str) -> ApiResult<()> {
    if value.is_empty() || value.len() > MAX_CHECKPOINT_ID {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("`{name}` must be 1 to {MAX_CHECKPOINT_ID} bytes"),
        ));
    }
    Ok(())
}

/// `POST /langgraph/checkpoints`: stores the checkpoint (and its metadata) as the thread's
/// newest, within the per-thread and per-project bounds.
async fn put_checkpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<Json<Value>> {
    let cp: NewCheckpoint = parse(&bytes)?;
    checkpoint_id("thread_id", &cp.thread_id)?;
    checkpoint_id("checkpoint_id", &cp.checkpoint_id)?;
    let stored = json!({
        "thread_id": cp.thread_id,
        "checkpoint_id": cp.checkpoint_id,
        "checkpoint": cp.checkpoint,
        "metadata": cp.metadata,
    });
    let text = serde_json::to_string(&stored).map_err(internal)?;
    state.policy.check(state.store.as_ref(), &who.project, text.len() as u64)?;
    let put = CheckpointPut {
        thread: &cp.thread_id,
        id: &cp.checkpoint_id,
        body: &text,
        now: now(),
        per_thread: CHECKPOINTS_PER_THREAD,
        per_project: CHECKPOINTS_PER_PROJECT,
    };
    state.store.put_checkpoint(&who.project, &put)?;
    Ok(Json(json!({ "ok": true, "thread_id": cp.thread_id, "checkpoint_id": cp.checkpoint_id })))
}

/// `GET /langgraph/checkpoints?thread_id=…&checkpoint_id=…` (or `&latest=1`): `{thread_id,
/// checkpoint_id, checkpoint, metadata}`, or 404 (their checkpointer then has none).
async fn get_checkpoint(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<CheckpointQuery>,
) -> ApiResult<Response> {
    let text = state
        .store
        .checkpoint(&who.project, &q.thread_id, q.checkpoint_id.as_deref())?
        .ok_or_else(not_found)?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// `DELETE /langgraph/checkpoints?thread_id=…`: forgets the thread's checkpoints.
async fn delete_checkpoints(
    State(state): State<AppState>,
    Caller(who): Caller,
    Query(q): Query<CheckpointQuery>,
) -> ApiResult<Json<Value>> {
    let deleted = state.store.delete_checkpoints(&who.project, &q.thread_id)?;
    Ok(Json(json!({ "deleted": deleted })))
}

/// The callback URL a request made through this layer named (`metadata.callback_url`), if it
/// passes [`check_callback_url`]: its decision is delivered there too, in the same shape and
/// with the same `x-letsping-signature` as to registered endpoints. Checked again here
/// because `/v1/requests` could store a look-alike context unchecked.
fn callback(row: &RequestRow) -> Option<String> {
    let context = row.context.as_ref()?;
    if context.get("compat").and_then(Value::as_str) != Some(MARK) {
        return None;
    }
    let url = context.pointer("/metadata/callback_url")?.as_str()?;
    check_callback_url(url).ok()?;
    Some(url.to_string())
}

/// This layer's part in deliveries: a request's `metadata.callback_url`, and every delivery
/// about one of its requests in their shape, signed `x-letsping-signature`.
pub(crate) struct Deliveries;

impl DeliveryHook for Deliveries {
    fn callback(&self, row: &RequestRow) -> Option<String> {
        callback(row)
    }

    fn shape(&self, state: &AppState, delivery: &Delivery) -> Option<Shaped> {
        let (body, secret) = self::delivery(state, &delivery.body, delivery.callback)?;
        let signature =
            handrail_core::compat::letsping::sign(secret.as_bytes(), body.as_bytes(), crate::now_ms());
        Some(Shaped { body, headers: vec![("x-letsping-signature", signature)] })
    }
}

/// The secret that signs the deliveries to the callback URLs of the requests agent key
/// `key_id` makes: `lp_cbk_` + base64url HMAC-SHA256 of the key under a server seed. Each
/// agent key has its own, so what an agent's callback receiver holds never signs what an
/// operator endpoint (signed with the project's `letsping_webhook_secret`) or another
/// agent's receiver trusts.
pub(crate) fn callback_secret(store: &dyn Store, project: &str, key_id: &str) -> Result<String, StoreError> {
    let fresh = b64url_encode(random::<32>().map_err(StoreError)?);
    let seed = store.setting_or_insert("compat.letsping.callback_seed", &fresh)?;
    let mac = hmac_sha256(
        seed.as_bytes(),
        &[b"letsping-callback-v1.", project.as_bytes(), b".", key_id.as_bytes()],
    );
    Ok(format!("lp_cbk_{}", b64url_encode(mac)))
}

/// `GET /callback-secret`: the calling key's callback secret (see [`callback_secret`]), for
/// the agent's own receiver of `callback_url` deliveries.
async fn own_callback_secret(State(state): State<AppState>, Caller(who): Caller) -> ApiResult<Json<Value>> {
    let secret = callback_secret(state.store.as_ref(), &who.project, &who.key_id)?;
    Ok(Json(json!({ "key_id": who.key_id, "callback_secret": secret })))
}

/// For a delivery about a request made through this layer: the body with LetsPing's
/// fields added (`id`, `event`, `data.state_download_url`, `data.dek`) and the secret of its
/// `x-letsping-signature`: to a registered endpoint, the project's webhook secret; to the
/// request's own callback URL, its creator's callback secret. None for every other delivery.
fn delivery(state: &AppState, body: &str, callback: bool) -> Option<(String, String)> {
    let mut value: Value = serde_json::from_str(body).ok()?;
    let data = value.get("data")?;
    if data.get("context").and_then(|c| c.get("compat")).and_then(Value::as_str) != Some(MARK) {
        return None;
    }
    let row: RequestRow = serde_json::from_value(data.clone()).ok()?;
    let secret = if callback {
        callback_secret(state.store.as_ref(), &row.project, row.created_by.as_deref()?).ok()?
    } else {
        secrets::secret(state.store.as_ref(), &row.project, Kind::LetsPingWebhook).ok()?
    };
    let mut data = view(&row);
    if let Some(obj) = data.as_object_mut() {
        if let Ok(Some(url)) = crate::v1::download_url(state, &row.project, &row.id) {
            obj.insert("state_download_url".into(), json!(url));
            if let Ok(dek) = dek(state.store.as_ref(), &row.project, &row.id) {
                obj.insert("dek".into(), json!(dek));
            }
        }
    }
    let event = value.get("type").cloned().unwrap_or(Value::Null);
    let obj = value.as_object_mut()?;
    obj.insert("id".into(), json!(row.id));
    obj.insert("event".into(), event);
    obj.insert("data".into(), data);
    Some((serde_json::to_string(&value).ok()?, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_base64() {
        assert_eq!(std_b64(b""), "");
        assert_eq!(std_b64(b"f"), "Zg==");
        assert_eq!(std_b64(b"fo"), "Zm8=");
        assert_eq!(std_b64(b"foo"), "Zm9v");
        assert_eq!(std_b64(&[0xfb, 0xff]), "+/8=");
    }
}
