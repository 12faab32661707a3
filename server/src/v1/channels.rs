//! Channels: where a project's requests are announced to people (e-mail today), audited
//! `channel.created` / `channel.deleted`. Project-wide power (operator of role `*`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Path;
use super::{internal, parse, ApiError, ApiResult, Code, ProjectOperator};
use crate::store::{AuditEvent, Channel, ChannelKind};
use crate::{now, random, AppState};

/// Most addressees of one channel.
pub(crate) const MAX_ADDRESSES: usize = 32;
/// Most channels of one project.
pub(crate) const MAX_CHANNELS: usize = 100;
/// Most roles one channel is scoped to.
const MAX_ROLES: usize = 32;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", post(add_channel).get(list_channels))
        .route("/v1/channels/{id}", delete(delete_channel))
}

/// A channel to add.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewChannel {
    /// `email` (the only kind this server delivers so far; another kind is 400
    /// `invalid_channel`).
    #[schemars(extend("enum" = ["email"]))]
    kind: String,
    /// For `email`: 1 to 32 distinct addresses (ASCII `local@domain`, at most 254 bytes each;
    /// stored lower-cased). Each addressee gets its own decision link and may decide the
    /// requests the channel hears of.
    to: Option<Vec<String>>,
    /// Only requests of these roles (and unrestricted ones); absent: every request.
    roles: Option<Vec<String>>,
}

/// The project's channels.
#[derive(Serialize, JsonSchema)]
pub(super) struct ChannelList {
    /// Oldest first.
    channels: Vec<Channel>,
}

fn invalid(message: &str) -> ApiError {
    ApiError::new(Code::InvalidChannel, message)
}

/// Adds a channel: 201 with it. E-mail needs the server's relay (`HANDRAIL_SMTP_URL`):
/// without one, 422 `channel_unavailable`, so no address is promised mail it will never get.
async fn add_channel(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    // The kind first: a channel of a kind this server does not deliver (`slack`, with its own
    // members) is `invalid_channel`, not a complaint about those members.
    let value: serde_json::Value = parse(&bytes)?;
    if value.get("kind").and_then(serde_json::Value::as_str) != Some("email") {
        return Err(invalid("kind is email (the only kind this server delivers)"));
    }
    let new: NewChannel =
        serde_json::from_value(value).map_err(|e| ApiError::new(Code::InvalidRequest, e.to_string()))?;
    let kind = match new.kind.as_str() {
        "email" => ChannelKind::Email,
        _ => return Err(invalid("kind is email")),
    };
    let to = new.to.ok_or_else(|| invalid("an email channel needs to: its addresses"))?;
    if to.is_empty() || to.len() > MAX_ADDRESSES {
        return Err(invalid("to lists 1 to 32 addresses"));
    }
    let mut addresses = Vec::with_capacity(to.len());
    for text in &to {
        let address = crate::mail::check_address(text).map_err(invalid)?;
        if addresses.contains(&address) {
            return Err(invalid("to lists each address once"));
        }
        addresses.push(address);
    }
    let roles = match new.roles {
        None => Vec::new(),
        Some(roles) if roles.is_empty() || roles.len() > MAX_ROLES => {
            return Err(invalid("roles lists 1 to 32 role names (leave it out for every role)"))
        }
        Some(roles) => roles,
    };
    for role in &roles {
        if role == crate::store::ANY_ROLE {
            return Err(invalid("leave roles out for every role"));
        }
        super::roles::check_role_name(role)?;
    }
    if state.mailer.is_none() {
        return Err(ApiError::new(
            Code::ChannelUnavailable,
            "this server sends no e-mail: start it with HANDRAIL_SMTP_URL, HANDRAIL_SMTP_FROM and HANDRAIL_PUBLIC_URL",
        ));
    }
    if state.store.channels(&who.project)?.len() >= MAX_CHANNELS {
        return Err(invalid("a project has at most 100 channels"));
    }
    let id = format!("ch_{}", handrail_core::encoding::b64url_encode(random::<9>().map_err(internal)?));
    let channel = Channel { id, kind, to: addresses, roles, created_at: now() };
    let audit = AuditEvent {
        at: channel.created_at,
        actor: &who.key_id,
        event: "channel.created",
        data: json!({ "kind": kind.as_str(), "to": channel.to, "roles": channel.roles }),
    };
    state.store.add_channel(&who.project, &channel, audit)?;
    Ok((StatusCode::CREATED, Json(channel)))
}

async fn list_channels(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
) -> ApiResult<Json<ChannelList>> {
    Ok(Json(ChannelList { channels: state.store.channels(&who.project)? }))
}

/// Removes a channel: its addressees hear of no more requests, and their links decide
/// nothing from now on (unless another channel of the request's role names them).
async fn delete_channel(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let audit = AuditEvent { at: now(), actor: &who.key_id, event: "channel.deleted", data: json!({}) };
    if state.store.delete_channel(&who.project, &id, audit)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::new(Code::NotFound, "no such channel"))
    }
}
