//! Channels: where a project's requests are announced to people (e-mail, Slack), audited
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
use crate::store::{AuditEvent, Channel, ChannelKind, SlackMember};
use crate::{now, random, AppState};

/// Most addressees of one channel (and most members of a Slack channel).
pub(crate) const MAX_ADDRESSES: usize = 32;
/// Most channels of one project.
pub(crate) const MAX_CHANNELS: usize = 100;
/// Most roles one channel is scoped to.
const MAX_ROLES: usize = 32;
/// Shortest reminder delay: short enough to see one work without waiting long.
pub(crate) const MIN_REMIND_SECS: u64 = 10;
/// Longest reminder delay: 30 days.
pub(crate) const MAX_REMIND_SECS: u64 = 30 * 86_400;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/channels", post(add_channel).get(list_channels))
        .route("/v1/channels/{id}", delete(delete_channel))
}

/// A channel to add.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewChannel {
    /// `email` or `slack` (another kind is 400 `invalid_channel`).
    #[schemars(extend("enum" = ["email", "slack"]))]
    #[allow(dead_code)] // read from the raw value before the rest is parsed
    kind: String,
    /// For `email`: 1 to 32 distinct addresses (ASCII `local@domain`, at most 254 bytes each;
    /// stored lower-cased). Each addressee gets its own decision link and may decide the
    /// requests the channel hears of.
    to: Option<Vec<String>>,
    /// For `slack`: the Slack channel id messages go to (`C…` or `G…`, 9 to 21 upper-case
    /// letters and digits).
    channel: Option<String>,
    /// For `slack`: 1 to 32 distinct Slack users (`slack_user` `U…` or `W…`; `name` 1 to 80
    /// characters, shown as the decider) who may decide the requests the channel hears of.
    members: Option<Vec<SlackMember>>,
    /// Only requests of these roles (and unrestricted ones); absent: every request.
    roles: Option<Vec<String>>,
    /// Remind this many seconds (10 to 2,592,000, 30 days) after a request was announced
    /// here, if it is still pending in a role this channel hears and its deadline is later:
    /// e-mail sends the message again (`Reminder:` subject, the addressee's link), Slack
    /// replies in the message's thread (shown in the channel too). Absent: no reminders.
    #[schemars(range(min = 10, max = 2_592_000))]
    remind_after_secs: Option<u64>,
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

/// Adds a channel: 201 with it. E-mail needs the server's relay (`HANDRAIL_SMTP_URL`), Slack
/// the server's Slack app (`HANDRAIL_SLACK_BOT_TOKEN`, `HANDRAIL_SLACK_SIGNING_SECRET`):
/// without them, 422 `channel_unavailable`, so no one is promised messages they will never get.
async fn add_channel(
    State(state): State<AppState>,
    ProjectOperator(who): ProjectOperator,
    crate::v1::Body(bytes): crate::v1::Body,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    // The kind first: a channel of a kind this server does not know is `invalid_channel`,
    // not a complaint about fields of that kind.
    let value: serde_json::Value = parse(&bytes)?;
    let kind = match value.get("kind").and_then(serde_json::Value::as_str) {
        Some("email") => ChannelKind::Email,
        Some("slack") => ChannelKind::Slack,
        _ => return Err(invalid("kind is email or slack")),
    };
    let new: NewChannel =
        serde_json::from_value(value).map_err(|e| ApiError::new(Code::InvalidRequest, e.to_string()))?;
    let (to, channel, members) = match kind {
        ChannelKind::Email => {
            if new.channel.is_some() || new.members.is_some() {
                return Err(ApiError::new(
                    Code::InvalidRequest,
                    "channel and members are for slack channels",
                ));
            }
            (email_addresses(new.to)?, None, Vec::new())
        }
        ChannelKind::Slack => {
            if new.to.is_some() {
                return Err(ApiError::new(Code::InvalidRequest, "to is for email channels"));
            }
            let channel =
                new.channel.ok_or_else(|| invalid("a slack channel needs channel: its Slack id"))?;
            crate::store::check_slack_channel(&channel).map_err(invalid)?;
            (Vec::new(), Some(channel), slack_members(new.members)?)
        }
    };
    if new.remind_after_secs.is_some_and(|r| !(MIN_REMIND_SECS..=MAX_REMIND_SECS).contains(&r)) {
        return Err(invalid("remind_after_secs is 10 to 2592000 (30 days)"));
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
    if kind == ChannelKind::Email && state.mailer.is_none() {
        return Err(ApiError::new(
            Code::ChannelUnavailable,
            "this server sends no e-mail: start it with HANDRAIL_SMTP_URL, HANDRAIL_SMTP_FROM and HANDRAIL_PUBLIC_URL",
        ));
    }
    if kind == ChannelKind::Slack && state.slack.is_none() {
        return Err(ApiError::new(
            Code::ChannelUnavailable,
            "this server has no Slack app: start it with HANDRAIL_SLACK_BOT_TOKEN and HANDRAIL_SLACK_SIGNING_SECRET",
        ));
    }
    if state.store.channels(&who.project)?.len() >= MAX_CHANNELS {
        return Err(invalid("a project has at most 100 channels"));
    }
    let id = format!("ch_{}", handrail_core::encoding::b64url_encode(random::<9>().map_err(internal)?));
    let remind_after_secs = new.remind_after_secs;
    let channel = Channel { id, kind, to, channel, members, roles, remind_after_secs, created_at: now() };
    // Who may decide is authority: the audit entry names every addressee or member.
    let data = match kind {
        ChannelKind::Email => json!({
            "kind": kind.as_str(),
            "to": channel.to,
            "roles": channel.roles,
            "remind_after_secs": channel.remind_after_secs,
        }),
        ChannelKind::Slack => json!({
            "kind": kind.as_str(),
            "channel": channel.channel,
            "members": channel.members,
            "roles": channel.roles,
            "remind_after_secs": channel.remind_after_secs,
        }),
    };
    let audit = AuditEvent { at: channel.created_at, actor: &who.key_id, event: "channel.created", data };
    state.store.add_channel(&who.project, &channel, audit)?;
    Ok((StatusCode::CREATED, Json(channel)))
}

/// The addresses of an e-mail channel: 1 to 32, each valid and listed once.
fn email_addresses(to: Option<Vec<String>>) -> ApiResult<Vec<String>> {
    let to = to.ok_or_else(|| invalid("an email channel needs to: its addresses"))?;
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
    Ok(addresses)
}

/// The members of a Slack channel: 1 to 32, each a valid user id listed once, with a name.
fn slack_members(members: Option<Vec<SlackMember>>) -> ApiResult<Vec<SlackMember>> {
    let members = members.ok_or_else(|| invalid("a slack channel needs members: who may decide"))?;
    if members.is_empty() || members.len() > MAX_ADDRESSES {
        return Err(invalid("members lists 1 to 32 Slack users"));
    }
    for (i, member) in members.iter().enumerate() {
        crate::store::check_slack_user(&member.slack_user).map_err(invalid)?;
        crate::store::check_member_name(&member.name).map_err(invalid)?;
        if members[..i].iter().any(|m| m.slack_user == member.slack_user) {
            return Err(invalid("members lists each Slack user once"));
        }
    }
    Ok(members)
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
