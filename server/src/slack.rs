//! Slack channels: the app's credentials (`HANDRAIL_SLACK_BOT_TOKEN`,
//! `HANDRAIL_SLACK_SIGNING_SECRET`), where its Web API calls go (`HANDRAIL_SLACK_API_URL`),
//! and the checks on what a Slack channel names.
//!
//! A request (and an escalation into a role) is announced with one `chat.postMessage` per
//! Slack channel of its role, queued by the store in the request's transaction like e-mail
//! (see [`crate::store::Channels`]) and sent by [`worker`] with e-mail's retries and backoff
//! (a failed call and an answer with `ok: false` alike). The message's channel and `ts` are
//! kept with the notification. A channel's reminder ([`crate::reminders`]) is a reply in that
//! message's thread, also shown in the channel.
//!
//! Its Approve, Edit and Reject buttons come back to `POST /integrations/slack/interactivity`
//! ([`router`]): the request's signature is checked first (Slack's `v0=` HMAC, five minutes,
//! [`handrail_core::webhook::slack::verify_slack`]), before anything else is read. Then the
//! payload's workspace (`team.id`) must be the bot's: Slack user ids are unique per workspace
//! only, so a member id clicked in another workspace (the same app installed there, one
//! signing secret) must not pass for the member. The bot's workspace is the `team_id` of
//! `auth.test`, asked once and cached (by the worker after its first post, else at the first
//! click, bounded by [`TEAM_TIMEOUT`]). It fails closed: while `auth.test` cannot be answered,
//! every click and submission is refused ("try again") and nothing is decided; it is asked
//! again at the next one. Then the clicking user must be a member of a Slack channel of the
//! request's current role — checked here for the answer, and again by the store inside the
//! transaction that writes the decision, as e-mail addressees are — and the request must be
//! pending. Approve decides through
//! [`crate::lifecycle::decide`] as `slack:USER`. Reject and Edit open a modal (`views.open`
//! with the click's `trigger_id`, called before the click is answered and bounded by
//! [`OPEN_TIMEOUT`], since the trigger lasts 3 s, through the same agent as the worker's calls):
//! Reject's asks for a reason; Edit's shows the payload as fields generated from the request's
//! JSON Schema ([`forms`]). Edit exists only for a payload in clear: Slack never sees an
//! end-to-end encrypted one (Approve and Edit are refused for it; Reject's modal shows no
//! payload).
//!
//! A modal's submission (`view_submission`, to the same route, signed the same way) names its
//! request in `private_metadata`, read as untrusted input. Everything the click checked is
//! checked again (member, pending). Reject's decides REJECTED with the reason as `slack:USER`.
//! Edit's builds the edited payload from the fields and has the core judge it
//! ([`crate::lifecycle::judge_edit`], the rule of the dashboard's and the API's edits): when
//! it is invalid the answer is `response_action: errors` naming the fields the core's findings
//! point at, and nothing is decided; else it approves with the edit (and its diff, which the
//! agent gets). A submission that cannot be decided (decided meanwhile, a replay, a user
//! outside the role) is answered with a notice in place of the form; an empty 200 closes the
//! modal after a decision. Anything else (unknown payload types or modals, missing fields,
//! oversized values) gets an error or an ephemeral answer and decides nothing.
//!
//! After any decision — a person's through the API, the dashboard, the CLI, e-mail or Slack, a
//! grant's approval, the expiry sweep's — the store queues a `request.decided` notification
//! per posted message in the transaction that writes the decision (so a crash cannot leave a
//! decided request's message with live buttons); a message whose post was in flight while
//! the decision committed gets its update queued when its `ts` is recorded
//! ([`crate::store::Channels::record_posted`]). The worker sends it as `chat.update`, showing
//! the outcome and the decider (a member by name), buttons gone.
//!
//! What a click did (decided, refused: not a member, not pending, another workspace…) is told
//! the clicking user in a message only they see, posted to the click's `response_url` in the
//! background ([`respond`]): Slack's guide to handling interactions
//! (<https://docs.slack.dev/interactivity/handling-user-interaction>) has an app acknowledge
//! a `block_actions` payload with an HTTP 200 within 3 s and publish message responses
//! through `response_url` (or the Web API); it shows nothing of the acknowledgment's body. The
//! same text stays in the 200's body (`response_type: ephemeral`), which costs nothing. Only
//! `https://hooks.slack.com/…` and the origin of `HANDRAIL_SLACK_API_URL` (a stand-in) are
//! posted to, through the outbound policy and the agent of the Web API calls, without the
//! bot token. A modal's submission is answered in its HTTP body (`response_action`), which
//! Slack does honour.
//!
//! A channel is refused unless the server holds both credentials, so no member is promised
//! messages (or buttons) the server cannot send or check. Agent-written text goes into
//! messages escaped (`&`, `<`, `>`), so it cannot mention people or make links.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use handrail_core::request::{RequestSummary, Status};
use serde_json::{json, Value};

use crate::error::{ApiError, Code};
use crate::mail::View;
use crate::store::{ChannelKind, Notification, RequestRow, SLACK_ACTOR};
use crate::{blocking, now, now_ms, outbound, AppState};

mod forms;

/// How long a claimed notification is kept from other passes: well past an attempt.
const LEASE_MS: i64 = 120_000;
/// Notifications are given up this long after they were queued (or at the request's deadline).
const GIVE_UP_MS: i64 = 24 * 3600 * 1000;
/// Most notifications claimed per pass.
const BATCH: usize = 16;
/// Most characters of a section's text (Slack's limit is 3000).
const MAX_SECTION: usize = 2900;
/// Most characters of a header (Slack's limit is 150).
const MAX_HEADER: usize = 150;
/// Most bytes of a Web API answer read.
const MAX_ANSWER: u64 = 64 * 1024;

/// Slack's Web API, unless `HANDRAIL_SLACK_API_URL` says otherwise.
const DEFAULT_API_URL: &str = "https://slack.com/api";

/// The Slack app this server acts as, read once at start. Prints `[redacted]` in `Debug`.
pub(crate) struct Slack {
    /// Sent as `Authorization: Bearer …` to the Web API, nowhere else.
    pub(crate) bot_token: String,
    /// Checks the requests of Slack's buttons.
    pub(crate) signing_secret: String,
    /// The Web API base, checked against the outbound policy like a webhook URL.
    pub(crate) api_url: url::Url,
    /// The webhook worker's outbound policy, timeouts and TLS trust, for every Web API call
    /// (the worker's and the interactivity route's `views.open`).
    pub(crate) agents: crate::webhooks::Agents,
    /// The workspace (`team_id`) the bot token belongs to, learned once from `auth.test`
    /// ([`Slack::team`]): buttons clicked in another workspace decide nothing.
    team: std::sync::OnceLock<String>,
    /// Room for answers to clicks posted to their `response_url` at once ([`respond`]).
    responses: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for Slack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Slack {{ api_url: {}, bot_token: [redacted], signing_secret: [redacted] }}", self.api_url)
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

impl Slack {
    /// The app of the environment: None when neither credential is set; an error when only
    /// one is, or when the API URL is not one the outbound policy lets the server call. The
    /// errors name variables, never their values.
    pub(crate) fn from_env() -> Result<Option<Slack>, String> {
        let token = var("HANDRAIL_SLACK_BOT_TOKEN");
        let secret = var("HANDRAIL_SLACK_SIGNING_SECRET");
        let (bot_token, signing_secret) = match (token, secret) {
            (None, None) => return Ok(None),
            (Some(t), Some(s)) => (t, s),
            _ => {
                return Err(
                    "HANDRAIL_SLACK_BOT_TOKEN and HANDRAIL_SLACK_SIGNING_SECRET are set together".into()
                )
            }
        };
        if !bot_token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("HANDRAIL_SLACK_BOT_TOKEN: printable ASCII without spaces".into());
        }
        let text = var("HANDRAIL_SLACK_API_URL").unwrap_or_else(|| DEFAULT_API_URL.into());
        let api_url = outbound::check_url(text.trim_end_matches('/'), outbound::Networks::from_env()?)
            .map_err(|e| match e {
                outbound::UrlError::Invalid(why) => format!("HANDRAIL_SLACK_API_URL: {why}"),
                outbound::UrlError::Forbidden => {
                    "HANDRAIL_SLACK_API_URL: an address HANDRAIL_OUTBOUND_NETWORKS does not allow".into()
                }
            })?;
        let agents = crate::webhooks::Agents::from_env()?;
        Ok(Some(Slack {
            bot_token,
            signing_secret,
            api_url,
            agents,
            team: std::sync::OnceLock::new(),
            responses: Arc::new(tokio::sync::Semaphore::new(MAX_RESPONSES)),
        }))
    }
}

impl Slack {
    /// The bot's workspace id: cached, else asked of `auth.test` (bounded by `timeout`) and
    /// cached once Slack answers one. An error (logged by the caller) when it cannot be
    /// learned now; it is asked again at the next need.
    fn team(&self, timeout: Option<Duration>) -> Result<&str, String> {
        if let Some(team) = self.team.get() {
            return Ok(team);
        }
        let answer = call(self, &self.agents, "auth.test", &json!({}), timeout)?;
        let team = answer
            .get("team_id")
            .and_then(Value::as_str)
            .filter(|t| is_team_id(t))
            .ok_or("slack: auth.test named no team_id")?;
        Ok(self.team.get_or_init(|| team.to_string()))
    }
}

/// Whether `text` is a Slack workspace id: `T…` (or `E…`, an Enterprise Grid organization),
/// 9 to 21 upper-case letters and digits in all.
fn is_team_id(text: &str) -> bool {
    let bytes = text.as_bytes();
    (9..=21).contains(&bytes.len())
        && matches!(bytes[0], b'T' | b'E')
        && bytes.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Sends due Slack notifications, forever (one at a time, on the blocking pool), through the
/// webhook worker's agent: its outbound policy, timeouts and TLS trust.
pub(crate) async fn worker(state: AppState, slack: Arc<Slack>) {
    let agents = slack.agents.clone();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tick.tick().await;
        let due = crate::blocking(|| {
            state.store.claim_notifications(ChannelKind::Slack, now_ms(), BATCH, LEASE_MS)
        });
        let due = match due {
            Ok(due) => due,
            Err(e) => {
                crate::log::event(crate::log::Level::Error, "slack worker", json!({ "error": e.0 }));
                continue;
            }
        };
        for n in due {
            let (state2, slack, agents) = (state.clone(), slack.clone(), agents.clone());
            let attempt = tokio::task::spawn_blocking(move || attempt(&state2, &slack, &agents, &n)).await;
            if let Err(e) = attempt {
                crate::log::event(
                    crate::log::Level::Error,
                    "slack worker",
                    json!({ "error": e.to_string() }),
                );
            }
        }
    }
}

/// One attempt at one notification, recorded.
fn attempt(state: &AppState, slack: &Slack, agents: &crate::webhooks::Agents, n: &Notification) {
    let row = match state.store.request(&n.project, &n.request) {
        Ok(row) => row,
        Err(e) => {
            crate::log::event(crate::log::Level::Error, "slack worker", json!({ "error": e.0 }));
            return; // the lease runs out and it is tried again
        }
    };
    let now = now_ms();
    let (sent, outcome, deadline_ms) = match row {
        None => (true, "not sent: the request is gone".to_string(), 0),
        // A decided request's message shows the outcome, its buttons gone.
        Some(row) if n.event == "request.decided" => match update(state, slack, agents, n, &row) {
            Ok(()) => (true, "updated".to_string(), 0),
            Err(class) => (false, class, n.created_ms + GIVE_UP_MS),
        },
        // Decided before it was posted: nobody needs to be asked any more.
        Some(row) if n.event == crate::reminders::REMINDER => remind(state, slack, agents, n, &row, now),
        Some(row) if row.status != Status::Pending || row.expires_at * 1000 <= now => {
            (true, format!("not sent: the request is {}", row.status), 0)
        }
        Some(row) => announce(state, slack, agents, n, &row),
    };
    let retry = !sent && now - n.created_ms < GIVE_UP_MS;
    let next = retry.then(|| now + crate::webhooks::backoff(n.attempts)).filter(|&t| t < deadline_ms);
    let level = if sent { crate::log::Level::Info } else { crate::log::Level::Warn };
    crate::log::event(
        level,
        if sent { "slack notification done" } else { "slack notification failed" },
        json!({
            "notification": n.id, "request": n.request, "event": n.event, "attempt": n.attempts + 1,
            "outcome": outcome, "retry": next.is_some(),
        }),
    );
    if let Err(e) = state.store.record_notification(&n.id, sent, &outcome, next, now) {
        crate::log::event(crate::log::Level::Error, "slack worker", json!({ "error": e.0 }));
    }
}

/// Posts the message announcing `row` and keeps where it went. (sent, outcome, deadline of
/// retries) as [`attempt`] records them.
fn announce(
    state: &AppState,
    slack: &Slack,
    agents: &crate::webhooks::Agents,
    n: &Notification,
    row: &RequestRow,
) -> (bool, String, i64) {
    match post(state, slack, agents, n, row) {
        // Decided while this was being posted: the store queues the update here.
        Ok((channel, ts)) => match state.store.record_posted(&n.id, &channel, &ts, now_ms()) {
            Ok(()) => {
                // Its buttons will be clicked: learn the workspace now, not at the click.
                if let Err(class) = slack.team(None) {
                    crate::log::event(
                        crate::log::Level::Warn,
                        "slack auth.test failed",
                        json!({ "outcome": class }),
                    );
                }
                (true, "sent".to_string(), 0)
            }
            Err(e) => {
                crate::log::event(crate::log::Level::Error, "slack worker", json!({ "error": e.0 }));
                (true, "sent, not recorded".to_string(), 0)
            }
        },
        Err(class) => (false, class, row.expires_at * 1000),
    }
}

/// A reminder ([`crate::reminders`]), unless it no longer makes sense: a reply in the thread
/// of the newest message posted about the request to this channel, shown in the channel too
/// (`reply_broadcast`), so the buttons stay in one place and the message's update after the
/// decision covers them; when no message was posted yet (Slack refused it so far), a message
/// with the buttons, as the first would have been.
fn remind(
    state: &AppState,
    slack: &Slack,
    agents: &crate::webhooks::Agents,
    n: &Notification,
    row: &RequestRow,
    now: i64,
) -> (bool, String, i64) {
    let posted = crate::reminders::why_not(state, n, row, now)
        .and_then(|why| Ok((why, state.store.posted_message(&n.project, &n.request, &n.address)?)));
    match posted {
        Ok((Some(why), _)) => (true, why, 0),
        Ok((None, None)) => announce(state, slack, agents, n, row),
        Ok((None, Some(ts))) => {
            let view = View::of(row);
            let text = format!(
                "Reminder: this request still waits for a decision (deadline {}): {} {}",
                view.deadline,
                escape(&view.service),
                escape(&view.action)
            );
            let body = json!({
                "channel": n.address,
                "thread_ts": ts,
                "reply_broadcast": true,
                "text": cut(&text, MAX_SECTION),
                "unfurl_links": false,
                "unfurl_media": false,
            });
            match call(slack, agents, "chat.postMessage", &body, None) {
                Ok(_) => (true, "sent".to_string(), 0),
                Err(class) => (false, class, row.expires_at * 1000),
            }
        }
        // Unknown: tried again after the backoff.
        Err(e) => {
            crate::log::event(crate::log::Level::Error, "slack worker", json!({ "error": e.0 }));
            (false, "internal: the store could not be read".into(), row.expires_at * 1000)
        }
    }
}

/// Posts the message: Ok with the channel and `ts` Slack answered, or a class of the failure
/// (never the bot token; of Slack's answer only its error code).
fn post(
    state: &AppState,
    slack: &Slack,
    agents: &crate::webhooks::Agents,
    n: &Notification,
    row: &RequestRow,
) -> Result<(String, String), String> {
    let dashboard = format!("{}/#/requests/{}", state.blob_links.base(), row.id);
    let body = message(&n.address, row, &View::of(row), &dashboard, n.event == "request.escalated");
    let answer = call(slack, agents, "chat.postMessage", &body, None)?;
    let channel = answer.get("channel").and_then(Value::as_str).unwrap_or(&n.address);
    let ts = answer.get("ts").and_then(Value::as_str).ok_or("slack: no ts in the answer")?;
    Ok((channel.to_string(), ts.to_string()))
}

/// Updates a posted message to show how its request was decided, and by whom (a Slack
/// member by their name).
fn update(
    state: &AppState,
    slack: &Slack,
    agents: &crate::webhooks::Agents,
    n: &Notification,
    row: &RequestRow,
) -> Result<(), String> {
    let (channel, ts) = n.posted.as_ref().ok_or("refused: no posted message")?;
    let decision = row.decision.as_ref().ok_or("refused: not decided")?;
    let actor = decision.actor.as_deref().unwrap_or("system");
    // The name the decision stored; a decision of an earlier version has none: the channel's.
    let name = || match &decision.actor_name {
        Some(name) => Some(name.clone()),
        None => state
            .store
            .slack_member(&row.project, row.role.as_deref(), crate::store::slack_actor(actor)?)
            .ok()?,
    };
    let who = match crate::store::slack_actor(actor).and_then(|_| name()) {
        Some(name) => format!("{} (`{}`)", escape(&name), escape(actor)),
        None if actor == "system" => "no one before the deadline".to_string(),
        None => format!("`{}`", escape(actor)),
    };
    let view = View::of(row);
    let title = format!("{} {}", view.service, view.action);
    let mut outcome = format!("*{}* by {who}", row.status);
    if let Some(reason) = decision.reason.as_deref() {
        outcome.push_str(&format!("\nReason: {}", escape(&crate::mail::line(reason))));
    }
    let blocks = json!([
        {"type": "header", "text": {"type": "plain_text", "text": cut(&title, MAX_HEADER), "emoji": false}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(&outcome, MAX_SECTION)}},
    ]);
    let body = json!({
        "channel": channel,
        "ts": ts,
        "text": cut(&format!("{}: {}", row.status, escape(&title)), MAX_SECTION),
        "blocks": blocks,
    });
    call(slack, agents, "chat.update", &body, None).map(|_| ())
}

/// One Web API call (JSON, bearer token): the answer when it says `ok: true`. `timeout`
/// bounds the whole call below the agent's own bound (a click's `views.open`).
fn call(
    slack: &Slack,
    agents: &crate::webhooks::Agents,
    method: &str,
    body: &Value,
    timeout: Option<Duration>,
) -> Result<Value, String> {
    let url = format!("{}/{method}", slack.api_url.as_str().trim_end_matches('/'));
    // The policy may have changed since the start (a restart with `public`): literals are
    // checked again before any connection, host names as they resolve.
    if let Err(outbound::UrlError::Forbidden) = outbound::check_url(&url, crate::webhooks::networks()) {
        return Err(outbound::REFUSED.into());
    }
    let mut request = agents.agent().post(&url);
    if let Some(timeout) = timeout {
        request = request.timeout(timeout);
    }
    let response = request
        .set("content-type", "application/json; charset=utf-8")
        .set("authorization", &format!("Bearer {}", slack.bot_token))
        .send_string(&body.to_string());
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(status, _)) => return Err(format!("HTTP {}xx", status / 100)),
        Err(e) => return Err(crate::webhooks::failure(&e)),
    };
    let mut text = String::new();
    response
        .into_reader()
        .take(MAX_ANSWER)
        .read_to_string(&mut text)
        .map_err(|_| "slack: unreadable answer".to_string())?;
    let answer: Value = serde_json::from_str(&text).map_err(|_| "slack: not JSON".to_string())?;
    if answer.get("ok") == Some(&Value::Bool(true)) {
        return Ok(answer);
    }
    // Slack's error is a short code (`channel_not_found`); anything else is not repeated.
    let code = answer
        .get("error")
        .and_then(Value::as_str)
        .filter(|c| c.len() <= 64 && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        .unwrap_or("unknown");
    Err(format!("slack: {code}"))
}

/// The `chat.postMessage` body announcing `row` in `channel` (Block Kit, with a plain-text
/// fallback for notifications).
fn message(channel: &str, row: &RequestRow, view: &View, dashboard: &str, escalated: bool) -> Value {
    let title = format!("{} {}", view.service, view.action);
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&title, MAX_HEADER), "emoji": false}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Priority*\n{}", cut(&escape(&view.priority), 1900))},
            {"type": "mrkdwn", "text": format!("*Role*\n{}", cut(&escape(&view.role), 1900))},
            {"type": "mrkdwn", "text": format!("*Deadline*\n{}", view.deadline)},
        ]}),
    ];
    if escalated {
        blocks.push(
            json!({"type": "context", "elements": [{"type": "mrkdwn", "text": "Escalated to this role."}]}),
        );
    }
    if !view.firewall.is_empty() {
        let mut text = "*Why the firewall held it*".to_string();
        for l in &view.firewall {
            text.push_str("\n• ");
            text.push_str(&escape(l));
        }
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, MAX_SECTION)}}));
    }
    let payload = match &view.payload {
        Some(p) => format!("```{}```", escaped_within(p, MAX_SECTION - 6)),
        // The dashboard URL is the server's own, never agent text.
        None => format!("End-to-end encrypted: <{dashboard}|open the dashboard> to read it."),
    };
    blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": payload}}));
    // The block names the project: the buttons' requests carry it back with the request id.
    // Edit only for a payload in clear: Slack never sees an encrypted one.
    let button = |id: &str, text: &str, style: Option<&str>| {
        let mut b = json!({"type": "button", "action_id": id, "text": {"type": "plain_text", "text": text},
                           "value": row.id});
        if let Some(style) = style {
            b["style"] = json!(style);
        }
        b
    };
    let mut buttons = vec![button("approve", "Approve", Some("primary"))];
    if view.payload.is_some() {
        buttons.push(button("edit", "Edit", None));
    }
    buttons.push(button("reject", "Reject", Some("danger")));
    blocks.push(
        json!({"type": "actions", "block_id": format!("{DECIDE_BLOCK}{}", row.project), "elements": buttons}),
    );
    json!({
        "channel": channel,
        "text": cut(&format!("Approval asked: {}", escape(&title)), MAX_SECTION),
        "blocks": blocks,
        "unfurl_links": false,
        "unfurl_media": false,
    })
}

/// The prefix of the buttons' `block_id`; the project's id follows.
const DECIDE_BLOCK: &str = "handrail_decide:";
/// Most bytes of an interactivity request (a click is a few KiB; a modal's submission carries
/// its view back, whose prefilled values [`forms`] bounds).
const MAX_INTERACTIVITY: usize = 256 * 1024;
/// How long a click waits for `auth.test` when the workspace is not known yet (the worker
/// learns it after its first post, so this is rare), leaving `views.open` its time.
const TEAM_TIMEOUT: Duration = Duration::from_millis(400);
/// How long an answer to a click's `response_url` may take, all told.
const RESPOND_TIMEOUT: Duration = Duration::from_secs(5);
/// Most answers to `response_url`s in flight; beyond, an answer is dropped (logged): the click
/// has its HTTP answer anyway.
const MAX_RESPONSES: usize = 32;
/// Slack's host of `response_url`s.
const RESPONSE_HOST: &str = "hooks.slack.com";
/// How long a click waits for `views.open`: Slack's `trigger_id` lasts 3 s, and the click
/// must be answered within them too.
const OPEN_TIMEOUT: Duration = Duration::from_millis(2500);

/// The route Slack's buttons call.
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/integrations/slack/interactivity", axum::routing::post(interactivity))
}

/// The click's acknowledgment: 200, with the message [`respond`] also posts to its
/// `response_url` (Slack shows that one; this body is kept for clients that read it).
fn ephemeral(text: &str) -> Response {
    (StatusCode::OK, Json(json!({"response_type": "ephemeral", "text": text}))).into_response()
}

/// A button's click: verified, then decided or answered (see the module's comment).
async fn interactivity(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::v1::Body(bytes): crate::v1::Body,
) -> Response {
    let Some(slack) = state.slack.clone() else {
        return ApiError::new(Code::NotFound, "this server has no Slack app").into_response();
    };
    if bytes.len() > MAX_INTERACTIVITY {
        return ApiError::new(Code::TooLarge, "an interactivity request is at most 256 KiB").into_response();
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    // The signature first: nothing of an unsigned body is read.
    if let Err(e) = handrail_core::webhook::slack::verify_slack(
        slack.signing_secret.as_bytes(),
        header("x-slack-request-timestamp"),
        &bytes,
        header("x-slack-signature"),
        now(),
    ) {
        return ApiError::new(Code::Unauthorized, format!("not a request from Slack ({})", e.code()))
            .into_response();
    }
    let (team, payload) = match Payload::parse(&bytes) {
        Ok(parsed) => parsed,
        Err(why) => return ApiError::new(Code::InvalidRequest, why).into_response(),
    };
    // A user id means a person only within its workspace: one from another workspace (an app
    // installed twice with one secret) decides nothing.
    if let Err(text) = same_team(&slack, &team) {
        return match payload {
            Payload::Click(click) => {
                respond(&slack, &click, text);
                ephemeral(text)
            }
            Payload::Submission(_) => (StatusCode::OK, Json(forms::notice(text))).into_response(),
        };
    }
    match payload {
        Payload::Click(click) => {
            let text = match clicked(&state, &slack, &click) {
                // The modal is open: Slack only needs the click acknowledged.
                Ok(Clicked::Opened) => return StatusCode::OK.into_response(),
                Ok(Clicked::Decided(text)) | Err(text) => text,
            };
            respond(&slack, &click, &text);
            ephemeral(&text)
        }
        Payload::Submission(submission) => match submitted(&state, &submission) {
            // An empty 200 closes the modal.
            Ok(()) => StatusCode::OK.into_response(),
            Err(answer) => (StatusCode::OK, Json(answer)).into_response(),
        },
    }
}

const OTHER_TEAM: &str =
    "This Slack workspace is not the one Handrail's Slack app belongs to: nothing was decided.";
const TEAM_UNKNOWN: &str =
    "Handrail cannot confirm this Slack workspace just now (Slack did not answer): try again. Nothing was decided.";

/// Whether `team` is the bot's workspace. Fails closed: when the workspace cannot be learned
/// (`auth.test` fails or is slow), nothing is decided; it is asked again at the next click.
fn same_team(slack: &Slack, team: &str) -> Result<(), &'static str> {
    match blocking(|| slack.team(Some(TEAM_TIMEOUT))) {
        Ok(ours) if ours == team => Ok(()),
        Ok(_) => Err(OTHER_TEAM),
        Err(class) => {
            crate::log::event(crate::log::Level::Warn, "slack auth.test failed", json!({ "outcome": class }));
            Err(TEAM_UNKNOWN)
        }
    }
}

/// Sends `text` to the click's `response_url` as a message only the clicking user sees, in
/// the background (never delaying the click's answer), bounded in time ([`RESPOND_TIMEOUT`])
/// and in number ([`MAX_RESPONSES`]); through the agent and the outbound policy of every Web
/// API call, without the bot token. Slack shows nothing of the HTTP answer to a
/// `block_actions` click (it only acknowledges it), so this is how the user learns what their
/// click did. Only a URL of Slack's `hooks.slack.com` (https) or of the Web API's origin
/// (`HANDRAIL_SLACK_API_URL`, a stand-in) is posted to.
fn respond(slack: &Arc<Slack>, click: &Click, text: &str) {
    let Some(to) = click.respond.as_deref().and_then(|u| response_url(slack, u)) else { return };
    let Ok(permit) = slack.responses.clone().try_acquire_owned() else {
        crate::log::event(
            crate::log::Level::Warn,
            "slack response dropped",
            json!({ "why": "too many in flight" }),
        );
        return;
    };
    let slack = slack.clone();
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        if let Err(class) = post_response(&slack, &to, &body) {
            crate::log::event(crate::log::Level::Warn, "slack response failed", json!({ "outcome": class }));
        }
    });
}

/// `text` as a `response_url` this server posts to (see [`respond`]), or None.
fn response_url(slack: &Slack, text: &str) -> Option<url::Url> {
    let url = url::Url::parse(text).ok()?;
    let slacks = url.scheme() == "https"
        && url.host_str() == Some(RESPONSE_HOST)
        && url.port().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    (slacks || url.origin() == slack.api_url.origin()).then_some(url)
}

/// One post to a `response_url`: Ok, or a class of the failure.
fn post_response(slack: &Slack, to: &url::Url, body: &Value) -> Result<(), String> {
    if let Err(outbound::UrlError::Forbidden) = outbound::check_url(to.as_str(), crate::webhooks::networks())
    {
        return Err(outbound::REFUSED.into());
    }
    let response = slack
        .agents
        .agent()
        .post(to.as_str())
        .timeout(RESPOND_TIMEOUT)
        .set("content-type", "application/json; charset=utf-8")
        .send_string(&body.to_string());
    match response {
        Ok(_) => Ok(()),
        Err(ureq::Error::Status(status, _)) => Err(format!("HTTP {}xx", status / 100)),
        Err(e) => Err(crate::webhooks::failure(&e)),
    }
}

/// What a verified interactivity request carries.
enum Payload {
    Click(Click),
    Submission(Submission),
}

/// One click on a message's button.
struct Click {
    user: String,
    button: Button,
    project: String,
    request: String,
    /// Slack's handle to open a modal for this click (3 s); required for Edit and Reject.
    trigger: Option<String>,
    /// Where to answer the click (see [`respond`]), as the payload says.
    respond: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Button {
    Approve,
    Edit,
    Reject,
}

/// A modal's submission: which one, by whom, for what, and its inputs' `state.values`.
struct Submission {
    user: String,
    edit: bool,
    target: forms::Target,
    values: Value,
}

impl Payload {
    /// The form's one field `payload`: a `block_actions` payload with one of our buttons, or a
    /// `view_submission` of one of our modals; with the workspace it comes from (`team.id`,
    /// else `user.team_id`).
    fn parse(bytes: &[u8]) -> Result<(String, Payload), &'static str> {
        let mut payload = None;
        for (name, value) in url::form_urlencoded::parse(bytes) {
            if name != "payload" || payload.replace(value.into_owned()).is_some() {
                return Err("the form has one field, payload");
            }
        }
        let payload = payload.ok_or("the form has one field, payload")?;
        let value: Value = crate::v1::parse(payload.as_bytes()).map_err(|_| "payload is not JSON")?;
        let user = value["user"]["id"].as_str().ok_or("payload.user.id is missing")?;
        crate::store::check_slack_user(user).map_err(|_| "payload.user.id is not a Slack user id")?;
        let team = value["team"]["id"]
            .as_str()
            .or(value["user"]["team_id"].as_str())
            .filter(|t| is_team_id(t))
            .ok_or("payload.team.id is not a Slack workspace id")?
            .to_string();
        let payload = match value["type"].as_str() {
            Some("block_actions") => Click::parse(user, &value).map(Payload::Click),
            Some("view_submission") => {
                let view = &value["view"];
                let edit = match view["callback_id"].as_str() {
                    Some(forms::EDIT_CALLBACK) => true,
                    Some(forms::REJECT_CALLBACK) => false,
                    _ => return Err("not a Handrail modal"),
                };
                let metadata = view["private_metadata"].as_str().ok_or("view.private_metadata is missing")?;
                let target = forms::Target::parse(metadata)?;
                let values = view["state"]["values"].clone();
                if !values.is_object() {
                    return Err("view.state.values is missing");
                }
                Ok(Payload::Submission(Submission { user: user.into(), edit, target, values }))
            }
            _ => Err("only block_actions and view_submission payloads are handled"),
        }?;
        Ok((team, payload))
    }
}

impl Click {
    fn parse(user: &str, value: &Value) -> Result<Click, &'static str> {
        let actions = value["actions"].as_array().filter(|a| a.len() == 1).ok_or("one action per payload")?;
        let action = &actions[0];
        let button = match action["action_id"].as_str() {
            Some("approve") => Button::Approve,
            Some("edit") => Button::Edit,
            Some("reject") => Button::Reject,
            _ => return Err("the action is approve, edit or reject"),
        };
        let project = action["block_id"]
            .as_str()
            .and_then(|b| b.strip_prefix(DECIDE_BLOCK))
            .filter(|p| !p.is_empty() && p.len() <= 64)
            .ok_or("not a Handrail button")?;
        let request =
            action["value"].as_str().filter(|v| !v.is_empty() && v.len() <= 128).ok_or("no request")?;
        let trigger = match value.get("trigger_id") {
            None | Some(Value::Null) => None,
            Some(t) => Some(
                t.as_str()
                    .filter(|t| !t.is_empty() && t.len() <= 256 && t.bytes().all(|b| b.is_ascii_graphic()))
                    .ok_or("trigger_id is not a Slack trigger")?
                    .to_string(),
            ),
        };
        if button != Button::Approve && trigger.is_none() {
            return Err("trigger_id is missing");
        }
        let respond = match value.get("response_url") {
            None | Some(Value::Null) => None,
            Some(u) => {
                Some(u.as_str().filter(|u| u.len() <= 512).ok_or("response_url is not a URL")?.to_string())
            }
        };
        Ok(Click {
            user: user.into(),
            button,
            project: project.into(),
            request: request.into(),
            trigger,
            respond,
        })
    }
}

/// What a click did.
enum Clicked {
    /// Decided: the text to show the user.
    Decided(String),
    /// Opened a modal.
    Opened,
}

const READ_FAILED: &str = "Handrail could not read this request just now: try again.";
const NOT_MEMBER: &str =
    "You are not a member of a Slack channel of this request's role in Handrail: nothing was decided.";
const NOT_PENDING: &str = "This request is no longer pending: nothing was decided.";
const ENCRYPTED: &str =
    "The payload is end-to-end encrypted: decide it in the dashboard, where it can be read.";

/// The request `user` may decide now, with their member name; or why not. Checked at the
/// click and again at a modal's submission (the store checks membership once more when it
/// writes the decision).
fn decidable(
    state: &AppState,
    project: &str,
    request: &str,
    user: &str,
) -> Result<(RequestRow, String), &'static str> {
    let fail = |e: crate::store::StoreError| {
        crate::log::event(crate::log::Level::Error, "slack interactivity", json!({ "error": e.0 }));
        READ_FAILED
    };
    let row = blocking(|| state.store.request(project, request))
        .map_err(fail)?
        .ok_or("This request is not in Handrail (any more).")?;
    let name = blocking(|| state.store.slack_member(&row.project, row.role.as_deref(), user))
        .map_err(fail)?
        .ok_or(NOT_MEMBER)?;
    if row.status != Status::Pending || row.expires_at <= now() {
        return Err(NOT_PENDING);
    }
    Ok((row, name))
}

/// A click: Approve decides as its user; Edit and Reject open their modal (before the click
/// is answered: the trigger expires in 3 s).
fn clicked(state: &AppState, slack: &Slack, click: &Click) -> Result<Clicked, String> {
    let (row, name) = decidable(state, &click.project, &click.request, &click.user)?;
    if RequestSummary::of(&row).encrypted && click.button != Button::Reject {
        return Err(ENCRYPTED.into());
    }
    let target = forms::Target { project: row.project.clone(), request: row.id.clone() };
    let view = match click.button {
        Button::Approve => {
            let ruling = crate::lifecycle::Ruling::plain(Status::Approved, "");
            return ruled(state, &row, &click.user, &name, ruling)
                .map(|status| Clicked::Decided(format!("{status} by {name} ({SLACK_ACTOR}{}).", click.user)))
                .map_err(str::to_string);
        }
        Button::Reject => forms::reject_modal(&row, &target),
        Button::Edit => forms::edit_modal(&row, &target)?,
    };
    let trigger = click.trigger.as_deref().unwrap_or_default();
    let body = json!({"trigger_id": trigger, "view": view});
    match blocking(|| call(slack, &slack.agents, "views.open", &body, Some(OPEN_TIMEOUT))) {
        Ok(_) => Ok(Clicked::Opened),
        Err(class) => {
            crate::log::event(
                crate::log::Level::Warn,
                "slack views.open failed",
                json!({ "request": row.id, "outcome": class }),
            );
            Err("Slack did not open the form (try again): nothing was decided.".into())
        }
    }
}

/// Decides `row` with `ruling` as `slack:USER` named `name` (their name on the channel;
/// whatever actor `ruling` names) through [`crate::lifecycle::decide`]: the status, or why
/// not.
fn ruled(
    state: &AppState,
    row: &RequestRow,
    user: &str,
    name: &str,
    ruling: crate::lifecycle::Ruling<'_>,
) -> Result<Status, &'static str> {
    let actor = format!("{SLACK_ACTOR}{user}");
    let ruling = crate::lifecycle::Ruling { actor: &actor, actor_name: Some(name.to_string()), ..ruling };
    let status = ruling.status;
    match blocking(|| crate::lifecycle::decide(state, row, ruling)) {
        Ok(_) => Ok(status),
        Err(e) if e.code == Code::AlreadyDecided.as_str() => {
            Err("This request was decided meanwhile: nothing was decided.")
        }
        Err(e) => {
            crate::log::event(crate::log::Level::Warn, "slack interactivity", json!({ "error": e.message }));
            Err("Handrail refused this decision: nothing was decided.")
        }
    }
}

/// A modal's submission: decided (the modal closes), or the answer that says why not — the
/// fields' errors, or a notice in place of the form. Everything the click checked is
/// checked again: the request may have been decided, escalated or expired meanwhile.
fn submitted(state: &AppState, submission: &Submission) -> Result<(), Value> {
    let (project, request) = (&submission.target.project, &submission.target.request);
    let (row, name) = decidable(state, project, request, &submission.user).map_err(forms::notice)?;
    if !submission.edit {
        let reason = forms::reason(&submission.values).map_err(forms::errors_answer)?;
        let ruling = crate::lifecycle::Ruling {
            reason: Some(reason),
            ..crate::lifecycle::Ruling::plain(Status::Rejected, "")
        };
        return ruled(state, &row, &submission.user, &name, ruling).map(|_| ()).map_err(forms::notice);
    }
    if RequestSummary::of(&row).encrypted {
        return Err(forms::notice(ENCRYPTED));
    }
    let edited = forms::edited(&row, &submission.values).map_err(forms::errors_answer)?;
    let on_first = |text: String| {
        forms::errors_answer(serde_json::Map::from_iter([(forms::first_block(&row), json!(text))]))
    };
    // An envelope would be exempt from the schema: a form in clear never submits one.
    if handrail_core::envelope::is_envelope(&edited) {
        return Err(on_first("An encrypted envelope cannot be submitted from Slack.".into()));
    }
    let (status, patched, diff) = match crate::lifecycle::judge_edit(&row, edited) {
        Ok(judged) => judged,
        Err(handrail_core::Error::EditInvalid { errors }) => {
            return Err(forms::errors_answer(forms::field_errors(&row, &errors)))
        }
        Err(e) => return Err(on_first(cut(&e.to_string(), 300))),
    };
    let ruling = crate::lifecycle::Ruling { patched, diff, ..crate::lifecycle::Ruling::plain(status, "") };
    ruled(state, &row, &submission.user, &name, ruling).map(|_| ()).map_err(forms::notice)
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` are the only control characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// At most `max` characters of `text`, with an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `text` escaped for a code block, at most `max` characters, never cut inside an escape; a
/// cut payload says so. A backtick is followed by a zero-width space, so the payload cannot
/// close its code block.
fn escaped_within(text: &str, max: usize) -> String {
    const MORE: &str = "\n… (cut: open the dashboard for all of it)";
    let room = max - MORE.chars().count();
    let mut out = String::new();
    let mut count = 0;
    for c in text.chars() {
        let piece = match c {
            '`' => "`\u{200b}".to_string(),
            c => escape(c.encode_utf8(&mut [0; 4])),
        };
        let len = piece.chars().count();
        if count + len > room {
            out.push_str(MORE);
            return out;
        }
        out.push_str(&piece);
        count += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        assert!(crate::store::check_slack_channel("C0123456789").is_ok());
        assert!(crate::store::check_slack_channel("G01234567").is_ok());
        for bad in ["C0123", "D0123456789", "c0123456789", "C0123456789\n", "C01234567890123456789X"] {
            assert!(crate::store::check_slack_channel(bad).is_err(), "{bad:?}");
        }
        assert!(crate::store::check_slack_user("U0123ABCD").is_ok());
        assert!(crate::store::check_slack_user("W0123ABCD").is_ok());
        assert!(crate::store::check_slack_user("B0123ABCD").is_err());
        assert_eq!(escaped_within("a<b>&```", 100), "a&lt;b&gt;&amp;`\u{200b}`\u{200b}`\u{200b}");
        let long = escaped_within(&"<".repeat(5000), 2894);
        assert!(long.chars().count() <= 2894 && long.ends_with("all of it)"), "{long}");
        assert!(!long.contains("&l…") && long.matches("&lt;").count() > 600);
        assert!(crate::store::check_member_name("Alice Müller").is_ok());
        for bad in ["", " Alice", "Al\u{202e}ice", "Al\u{200b}ice", "A\u{7}", &"a".repeat(81)] {
            assert!(crate::store::check_member_name(bad).is_err(), "{bad:?}");
        }
    }
}
