//! LetsPing's agent sign-up (`create_agent_workspace`), closed unless an admin opens it.
//!
//! Their hosted service lets anyone create a workspace; a self-hosted server must not. An
//! admin opens a *sign-up window* (`POST /compat/letsping/signup {"signups", "expires_in"}`)
//! for at most `signups` sign-ups before a deadline; outside a window both of their routes
//! answer 403 `LETSPING_SIGNUP_DISABLED`. Each sign-up creates an ordinary project (the same
//! code as `POST /v1/projects`, audited `project.created` with `via: letsping.agent_signup`)
//! and hands the agent only its agent key. The project's operator token is kept for the
//! admin to claim once (`POST /compat/letsping/signup/claim {"project"}`): an agent that
//! signed itself up must never decide its own requests.
//!
//! Both routes anyone may call are limited per source address (`HANDRAIL_SIGNUP_RATE_LIMIT`,
//! 10 a minute): past it, 429 `rate_limited`, window open or not.
//!
//! Their client sends nothing to `request-token`, so the token is the only gate between the
//! two calls: `NONCE.UNTIL.MAC`, an HMAC under a server secret binding it to the window's
//! deadline, redeemed once (the nonce is recorded at redemption; issuing stores nothing).

use std::sync::Mutex;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use handrail_core::crypto::{hmac_sha256, mac_eq};
use handrail_core::encoding::{b64url_encode, hex_decode, hex_encode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::letsping_agents::their_error;
use crate::store::AuditEvent;
use crate::v1::Code;
use crate::v1::{internal, limit_source, operator, parse, ApiError, ApiResult, Body, Source};
use crate::{now, random, AppState};

/// Most sign-ups one window allows.
const MAX_SIGNUPS: u32 = 100;
/// Longest window, in seconds (a week).
const MAX_WINDOW_SECS: i64 = 7 * 86_400;
/// The settings name of the window.
const WINDOW: &str = "compat.letsping.signup";
/// The settings name of the token MAC key.
const TOKEN_KEY: &str = "compat.letsping.signup_key";

/// Serializes redemption (read window, check, consume) within this server process.
static REDEEM: Mutex<()> = Mutex::new(());

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/compat/letsping/signup", post(open).get(show).delete(close))
        .route("/compat/letsping/signup/claim", post(claim))
        .route("/compat/letsping/api/agent-signup/request-token", post(request_token))
        .route("/compat/letsping/api/agent-signup", post(redeem))
}

/// The open (or last) sign-up window, as stored.
#[derive(Serialize, Deserialize, Clone)]
struct Window {
    /// Sign-ups still allowed.
    remaining: u32,
    /// Unix seconds after which nothing is allowed.
    until: i64,
    /// The admin's project (where the window's audit entries go).
    project: String,
    /// The admin key that opened it.
    opened_by: String,
    /// Projects created through it: `{project_id, created_at, claimed}`.
    #[serde(default)]
    signups: Vec<Value>,
}

impl Window {
    /// Whether a sign-up is allowed now.
    fn is_open(&self, at: i64) -> bool {
        self.remaining > 0 && at < self.until
    }
}

/// What an admin asks for.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenWindow {
    /// 1 to 100.
    signups: u32,
    /// Seconds from now, 1 to a week.
    expires_in: i64,
}

fn admin(state: &AppState, headers: &HeaderMap) -> ApiResult<crate::store::Principal> {
    let who = operator(state, headers)?;
    if !who.admin {
        return Err(ApiError::new(Code::Forbidden, "agent sign-up is an admin setting"));
    }
    Ok(who)
}

fn window(state: &AppState) -> ApiResult<Option<Window>> {
    match state.store.setting(WINDOW)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => serde_json::from_str(&s).map(Some).map_err(internal),
    }
}

fn save(state: &AppState, w: &Window, actor: &str, event: &'static str, data: Value) -> ApiResult<()> {
    let text = serde_json::to_string(w).map_err(internal)?;
    let audit = AuditEvent { at: now(), actor, event, data };
    Ok(state.store.set_project_setting(&w.project, WINDOW, &text, audit)?)
}

/// The window as shown to an admin (no secrets).
fn shown(w: Option<&Window>) -> Value {
    match w {
        None => json!({ "open": false }),
        Some(w) => json!({
            "open": w.is_open(now()), "remaining": w.remaining, "until": w.until,
            "opened_by": w.opened_by, "signups": w.signups,
        }),
    }
}

/// `POST /compat/letsping/signup` (admin): opens a window, replacing any earlier one (its
/// unredeemed tokens stop working; its unclaimed operator tokens stay claimable).
async fn open(State(state): State<AppState>, headers: HeaderMap, bytes: Body) -> ApiResult<Json<Value>> {
    let who = admin(&state, &headers)?;
    let ask: OpenWindow = parse(&bytes.0)?;
    if ask.signups == 0 || ask.signups > MAX_SIGNUPS || ask.expires_in < 1 || ask.expires_in > MAX_WINDOW_SECS
    {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("signups is 1 to {MAX_SIGNUPS}, expires_in 1 to {MAX_WINDOW_SECS} seconds"),
        ));
    }
    let _guard = REDEEM.lock().unwrap_or_else(|e| e.into_inner());
    let signups = window(&state)?.map(|w| w.signups).unwrap_or_default();
    let w = Window {
        remaining: ask.signups,
        until: now() + ask.expires_in,
        project: who.project.clone(),
        opened_by: who.key_id.clone(),
        signups,
    };
    let data = json!({ "signups": w.remaining, "until": w.until });
    save(&state, &w, &who.key_id, "compat.letsping_signup_opened", data)?;
    Ok(Json(shown(Some(&w))))
}

/// `GET /compat/letsping/signup` (admin): the window and the projects created through it.
async fn show(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    admin(&state, &headers)?;
    Ok(Json(shown(window(&state)?.as_ref())))
}

/// `DELETE /compat/letsping/signup` (admin): closes the window at once.
async fn close(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let who = admin(&state, &headers)?;
    let _guard = REDEEM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut w) = window(&state)? else {
        return Ok(Json(shown(None)));
    };
    w.remaining = 0;
    save(&state, &w, &who.key_id, "compat.letsping_signup_closed", json!({}))?;
    Ok(Json(shown(Some(&w))))
}

/// The settings name of a sign-up project's unclaimed operator token.
fn claim_name(project: &str) -> String {
    format!("compat.letsping.signup_operator.{project}")
}

/// `POST /compat/letsping/signup/claim {"project"}` (admin): the operator token of a project
/// created by sign-up, answered once (`{"project", "operator_token"}`), then forgotten.
async fn claim(State(state): State<AppState>, headers: HeaderMap, bytes: Body) -> ApiResult<Json<Value>> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Claim {
        project: String,
    }
    let who = admin(&state, &headers)?;
    let ask: Claim = parse(&bytes.0)?;
    let _guard = REDEEM.lock().unwrap_or_else(|e| e.into_inner());
    let name = claim_name(&ask.project);
    let token = state.store.setting(&name)?.filter(|t| !t.is_empty()).ok_or_else(crate::v1::not_found)?;
    let audit = AuditEvent {
        at: now(),
        actor: &who.key_id,
        event: "compat.letsping_signup_claimed",
        data: json!({}),
    };
    state.store.set_project_setting(&ask.project, &name, "", audit)?;
    if let Some(mut w) = window(&state)? {
        for s in w.signups.iter_mut().filter(|s| s["project_id"] == ask.project.as_str()) {
            s["claimed"] = json!(true);
        }
        let text = serde_json::to_string(&w).map_err(internal)?;
        let audit = AuditEvent {
            at: now(),
            actor: &who.key_id,
            event: "compat.letsping_signup_claimed",
            data: json!({ "project": ask.project }),
        };
        state.store.set_project_setting(&w.project, WINDOW, &text, audit)?;
    }
    Ok(Json(json!({ "project": ask.project, "operator_token": token })))
}

fn disabled() -> Response {
    their_error(
        StatusCode::FORBIDDEN,
        "LETSPING_SIGNUP_DISABLED",
        "self-serve sign-up is disabled on this server: an admin opens it (POST /compat/letsping/signup), \
         or creates the project and an agent key, then the agent registers with POST /api/agents/register",
    )
}

/// The token MAC of `nonce` for a window ending at `until`.
fn token_mac(state: &AppState, nonce: &str, until: i64) -> ApiResult<[u8; 32]> {
    let key = state.store.setting_or_insert(TOKEN_KEY, &b64url_encode(random::<32>().map_err(internal)?))?;
    Ok(hmac_sha256(key.as_bytes(), &[nonce.as_bytes(), b".", until.to_string().as_bytes()]))
}

/// `POST /api/agent-signup/request-token`: a single-use token while a window is open.
async fn request_token(State(state): State<AppState>, source: Source) -> ApiResult<Response> {
    limit_source(&state, &source)?;
    let Some(w) = window(&state)?.filter(|w| w.is_open(now())) else {
        return Ok(disabled());
    };
    let nonce = b64url_encode(random::<18>().map_err(internal)?);
    let mac = hex_encode(token_mac(&state, &nonce, w.until)?);
    Ok(Json(json!({ "token": format!("{nonce}.{}.{mac}", w.until), "expires_at": w.until })).into_response())
}

/// The public base URL of this server: `HANDRAIL_PUBLIC_URL`, else `http://` + `Host`.
fn public_base(headers: &HeaderMap) -> String {
    match std::env::var("HANDRAIL_PUBLIC_URL") {
        Ok(u) if !u.is_empty() => u.trim_end_matches('/').to_string(),
        _ => {
            let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// `POST /api/agent-signup {"token"}`: redeems a token for a new project and its agent key.
async fn redeem(
    State(state): State<AppState>,
    source: Source,
    headers: HeaderMap,
    bytes: Body,
) -> ApiResult<Response> {
    limit_source(&state, &source)?;
    let ask: Value = parse(&bytes.0)?;
    let token = ask.get("token").and_then(Value::as_str).unwrap_or("");
    let bad = || {
        their_error(
            StatusCode::UNAUTHORIZED,
            "LETSPING_SIGNUP_TOKEN_INVALID",
            "invalid or used sign-up token",
        )
    };
    let mut parts = token.splitn(3, '.');
    let (Some(nonce), Some(until), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
        return Ok(bad());
    };
    let (Ok(until_n), Ok(received)) = (until.parse::<i64>(), hex_decode(mac)) else {
        return Ok(bad());
    };
    if !mac_eq(&token_mac(&state, nonce, until_n)?, &received) {
        return Ok(bad());
    }
    let _guard = REDEEM.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mut w) = window(&state)?.filter(|w| w.is_open(now()) && w.until == until_n) else {
        return Ok(disabled());
    };
    // `setting_or_insert` answers the stored value either way: a marker only this call
    // writes tells the first use of a nonce from any later one.
    let marker = format!("used:{}", b64url_encode(random::<9>().map_err(internal)?));
    if state.store.setting_or_insert(&format!("compat.letsping.signup_used.{nonce}"), &marker)? != marker {
        return Ok(bad());
    }
    let name = format!("letsping-agent-{}", &nonce[..8.min(nonce.len())]);
    let created = crate::v1::projects::create(
        &state,
        &name,
        "letsping-signup",
        json!({ "via": "letsping.agent_signup", "window_opened_by": w.opened_by }),
    )?;
    let audit = AuditEvent {
        at: now(),
        actor: "letsping-signup",
        event: "compat.letsping_signup_pending_claim",
        data: json!({}),
    };
    state.store.set_project_setting(&created.id, &claim_name(&created.id), &created.operator_token, audit)?;
    w.remaining = w.remaining.saturating_sub(1);
    w.signups.push(json!({ "project_id": created.id, "created_at": created.created_at, "claimed": false }));
    let data = json!({ "project": created.id, "remaining": w.remaining });
    let opened_by = w.opened_by.clone();
    save(&state, &w, &opened_by, "compat.letsping_signup", data)?;
    let base = format!("{}/compat/letsping", public_base(&headers));
    Ok(Json(json!({
        "project_id": created.id,
        "api_key": created.agent_key,
        "agents_register_url": format!("{base}/api/agents/register"),
        "ingest_url": format!("{base}/api/ingest"),
    }))
    .into_response())
}
