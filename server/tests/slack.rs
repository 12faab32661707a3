//! Slack channels, end to end on the real binary: created only when the server holds a Slack
//! app's credentials, validated, audited, listed without any secret; a request is posted to
//! the Slack channels of its role through a stand-in of Slack's Web API (Slack itself cannot
//! be reached from a test); its buttons decide as the clicking member, Reject and Edit through
//! the modals the stand-in is asked to open (`views.open`), whose submissions come back signed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{fresh_dir, Server};
use handrail_core::protocol::{Client, HttpResponse};
use handrail_core::request::Request;
use handrail_core::webhook::slack::sign_slack;
use serde_json::{json, Value};

/// One Web API call the stand-in received.
#[derive(Debug, Clone)]
struct Call {
    path: String,
    authorization: String,
    content_type: String,
    body: Value,
    /// Refused: the first post (`ratelimited`), `auth.test` answered `ok: false`.
    refused: bool,
}

/// The workspace of the stand-in's bot token, as its `auth.test` answers it.
const TEAM: &str = "T0TEAM0001";

/// A stand-in of Slack's Web API on 127.0.0.1: `chat.postMessage` and `chat.update` answer
/// as Slack documents them (`{"ok": true, "channel": …, "ts": …}`; an update keeps the
/// message's `ts`), except the first post, which gets `{"ok": false, "error":
/// "ratelimited"}` so the retry is exercised. `views.open` answers `{"ok": true, "view":
/// {"id": …, …}}` for a `trigger_id` and a modal view, and `invalid_arguments` otherwise, as
/// Slack does. `auth.test` answers who the bot token is (`team_id` [`TEAM`]), `invalid_auth`
/// for another token, and `service_unavailable` while `auth_down` is set. Posts under
/// `/hooks/` are a click's `response_url` (Slack answers them `ok`). Each successful post
/// waits while `hold_posts` is set (a post in flight, answered once the test lets it). It
/// records every call (a held post as it arrives).
struct SlackApi {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    auth_down: Arc<AtomicBool>,
    hold_posts: Arc<AtomicBool>,
}

impl SlackApi {
    fn start() -> SlackApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/api", listener.local_addr().unwrap());
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let (auth_down, hold_posts): (Arc<AtomicBool>, Arc<AtomicBool>) = Default::default();
        let (recorded, down, hold) = (calls.clone(), auth_down.clone(), hold_posts.clone());
        std::thread::spawn(move || {
            let (mut served, mut posts) = (0u32, 0u32);
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(mut call) = read_call(&mut stream) else { continue };
                served += 1;
                let answer = if call.path.starts_with("/hooks/") {
                    recorded.lock().unwrap().push(call);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                    );
                    continue;
                } else if call.path == "/api/auth.test" {
                    if call.authorization != format!("Bearer {TOKEN}") {
                        json!({"ok": false, "error": "invalid_auth"})
                    } else if down.load(Ordering::SeqCst) {
                        json!({"ok": false, "error": "service_unavailable"})
                    } else {
                        json!({"ok": true, "url": "https://example.slack.com/", "team": "Example",
                               "user": "handrail", "team_id": TEAM, "user_id": "U0BOT00001",
                               "bot_id": "B0BOT00001"})
                    }
                } else if call.path == "/api/chat.postMessage" && {
                    posts += 1;
                    posts == 1
                } {
                    json!({"ok": false, "error": "ratelimited"})
                } else if call.path == "/api/views.open" {
                    let view = &call.body["view"];
                    if call.body["trigger_id"].as_str().is_some_and(|t| !t.is_empty())
                        && view["type"] == "modal"
                        && view["blocks"].as_array().is_some_and(|b| !b.is_empty() && b.len() <= 100)
                    {
                        let mut view = view.clone();
                        view["id"] = json!(format!("V{served:08}"));
                        json!({"ok": true, "view": view})
                    } else {
                        json!({"ok": false, "error": "invalid_arguments"})
                    }
                } else {
                    let ts = call
                        .body
                        .get("ts")
                        .cloned()
                        .unwrap_or_else(|| json!(format!("1700000000.{served:06}")));
                    json!({"ok": true, "channel": call.body["channel"], "ts": ts, "message": {"text": call.body["text"]}})
                };
                // Refused: the first post, `auth.test` failing (a refused `views.open` still counts).
                call.refused = answer["ok"] != true && call.path != "/api/views.open";
                let held = call.path == "/api/chat.postMessage" && !call.refused;
                recorded.lock().unwrap().push(call);
                while held && hold.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                let text = answer.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        SlackApi { url, calls, auth_down, hold_posts }
    }

    /// Where a click's `response_url` points: a path of the stand-in's origin.
    fn response_url(&self, n: u32) -> String {
        format!("{}/hooks/{TEAM}/{n}/secretpart", self.url.trim_end_matches("/api"))
    }

    /// The calls of `method` but the refused ones (see [`Call::refused`]), once there are `n`
    /// of them (20 s at most).
    fn wait_for(&self, method: &str, n: usize) -> Vec<Call> {
        self.wait_for_path(&format!("/api/{method}"), n)
    }

    /// The calls to `path` (or, ending in `/`, under it) but the refused ones, once there are
    /// `n` of them (20 s at most).
    fn wait_for_path(&self, path: &str, n: usize) -> Vec<Call> {
        let until = Instant::now() + Duration::from_secs(20);
        let matches = |c: &Call| if path.ends_with('/') { c.path.starts_with(path) } else { c.path == path };
        loop {
            let calls: Vec<Call> =
                self.calls.lock().unwrap().iter().filter(|c| !c.refused && matches(c)).cloned().collect();
            if calls.len() >= n || Instant::now() > until {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The request line's path, two headers and the JSON body of one HTTP/1.1 request.
fn read_call(stream: &mut std::net::TcpStream) -> Option<Call> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split(' ').nth(1)?.to_string();
    let (mut length, mut authorization, mut content_type) = (0, String::new(), String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "authorization" => authorization = value.trim().to_string(),
            "content-type" => content_type = value.trim().to_string(),
            _ => {}
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Call {
        path,
        authorization,
        content_type,
        body: serde_json::from_slice(&body).ok()?,
        refused: false,
    })
}

const TOKEN: &str = "xoxb-test-token-hunter2";
const SECRET: &str = "signing-secret-hunter2";

fn slack_env() -> Vec<(&'static str, &'static str)> {
    vec![("HANDRAIL_SLACK_BOT_TOKEN", TOKEN), ("HANDRAIL_SLACK_SIGNING_SECRET", SECRET)]
}

fn finance() -> serde_json::Value {
    json!({
        "kind": "slack",
        "channel": "C0FINANCE1",
        "roles": ["finance"],
        "members": [{"slack_user": "U0ALICE001", "name": "Alice"}, {"slack_user": "U0BOB00001", "name": "Bob"}],
    })
}

/// The agent's long-poll on request `id`, on a thread of its own: the answer's bytes.
fn wait_in_background(server: &Server, id: &str) -> std::thread::JoinHandle<Vec<u8>> {
    let (url, agent, id) = (server.url.clone(), server.agent.clone(), id.to_string());
    std::thread::spawn(move || {
        let answer = ureq::get(&format!("{url}/v1/requests/{id}/wait?timeout=30"))
            .set("Authorization", &format!("Bearer {agent}"))
            .timeout(Duration::from_secs(40))
            .call()
            .unwrap();
        let mut bytes = Vec::new();
        answer.into_reader().read_to_end(&mut bytes).unwrap();
        bytes
    })
}

#[test]
fn a_slack_channel_needs_the_app_and_is_validated_audited_and_listed() {
    let plain = Server::fresh("plain");
    let (status, answer) = plain.call("POST", "/v1/channels", &plain.operator, Some(&finance()));
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("channel_unavailable")), "{answer}");
    drop(plain);

    let server = Server::fresh_with("app", &slack_env());
    let member = |id: &str, name: &str| json!({"slack_user": id, "name": name});
    let slack = |channel: &str, members: serde_json::Value| json!({"kind": "slack", "channel": channel, "members": members});
    let alice = || json!([member("U0ALICE001", "Alice")]);
    for (bad, status, code) in [
        (json!({"kind": "slack", "members": alice()}), 400, "invalid_channel"),
        (json!({"kind": "slack", "channel": "C0FINANCE1"}), 400, "invalid_channel"),
        (slack("C0123", alice()), 400, "invalid_channel"),
        (slack("D0FINANCE1", alice()), 400, "invalid_channel"),
        (slack("c0finance1", alice()), 400, "invalid_channel"),
        (slack("C0FINANCE1", json!([])), 400, "invalid_channel"),
        (slack("C0FINANCE1", json!([member("alice", "Alice")])), 400, "invalid_channel"),
        (slack("C0FINANCE1", json!([member("U0ALICE001", "")])), 400, "invalid_channel"),
        (slack("C0FINANCE1", json!([member("U0ALICE001", "Al\u{202e}ice")])), 400, "invalid_channel"),
        (slack("C0FINANCE1", json!([member("U0ALICE001", &"a".repeat(81))])), 400, "invalid_channel"),
        (
            slack("C0FINANCE1", json!([member("U0ALICE001", "Alice"), member("U0ALICE001", "Al")])),
            400,
            "invalid_channel",
        ),
        (slack("C0FINANCE1", json!(vec![member("U0ALICE001", "Alice"); 33])), 400, "invalid_channel"),
        (
            json!({"kind": "slack", "channel": "C0FINANCE1", "members": alice(), "roles": ["*"]}),
            400,
            "invalid_channel",
        ),
        (
            json!({"kind": "slack", "channel": "C0FINANCE1", "members": alice(), "to": ["a@example.com"]}),
            400,
            "invalid_request",
        ),
        (
            json!({"kind": "slack", "channel": "C0FINANCE1", "members": [{"slack_user": "U0ALICE001", "name": "A", "admin": true}]}),
            400,
            "invalid_request",
        ),
        (json!({"kind": "email", "to": ["a@example.com"], "members": alice()}), 400, "invalid_request"),
    ] {
        let (got, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&bad));
        assert_eq!((got, answer["error"]["code"].as_str().unwrap()), (status, code), "{bad} → {answer}");
    }
    let (status, answer) = server.call("POST", "/v1/channels", &server.agent, Some(&finance()));
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")), "{answer}");

    let (status, created) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "slack");
    assert_eq!(created["channel"], "C0FINANCE1");
    assert_eq!(created["members"], finance()["members"]);
    assert_eq!(created["roles"], json!(["finance"]));
    assert!(created.get("to").is_none(), "{created}");
    let (_, listed) = server.call("GET", "/v1/channels", &server.operator, None);
    assert_eq!(listed["channels"], json!([created]), "{listed}");

    // Who may decide is authority: the audit entry names the members.
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    let entry = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "channel.created")
        .unwrap_or_else(|| panic!("no channel.created in {audit}"));
    assert_eq!(entry["data"]["members"], finance()["members"], "{entry}");
    assert_eq!(entry["data"]["channel"], "C0FINANCE1", "{entry}");
    for text in [created.to_string(), listed.to_string(), audit.to_string()] {
        assert!(!text.contains("hunter2"), "a secret in {text}");
    }

    let id = created["id"].as_str().unwrap();
    let (status, _) = server.call("DELETE", &format!("/v1/channels/{id}"), &server.operator, None);
    assert_eq!(status, 204);
    let (_, listed) = server.call("GET", "/v1/channels", &server.operator, None);
    assert_eq!(listed["channels"], json!([]), "{listed}");
}

#[test]
fn a_finance_request_is_posted_to_the_finance_channel_only_with_its_buttons() {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("post", &env);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{answer}");
    let ops = json!({"kind": "slack", "channel": "C0OPS00001", "roles": ["ops"],
                     "members": [{"slack_user": "U0CAROL001", "name": "Carol"}]});
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&ops));
    assert_eq!(status, 201, "{answer}");

    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "priority": "high",
                     "payload": {"amount": 42, "to": "acct_9", "memo": "<!channel> ```x``` <https://evil.example|click>"},
                     "context": {"firewall": {"action": "ask", "score": 0.93,
                                              "reasons": ["destination never seen"]}}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // An ops request beside it: its message goes to the ops channel, the finance one's not.
    let (status, second) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "k8s", "action": "scale", "role": "ops", "payload": {"replicas": 3}})),
    );
    assert_eq!(status, 201, "{second}");

    let mut calls = api.wait_for("chat.postMessage", 2);
    calls.sort_by_key(|c| c.body["channel"].to_string());
    // Whichever was refused first (`ok: false`) was tried again: each channel got one post.
    let channels: Vec<&str> = calls.iter().map(|c| c.body["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["C0FINANCE1", "C0OPS00001"], "{calls:?}");
    // (Beside them, the worker learns the bot's workspace: `auth.test`.)
    let all: Vec<Call> =
        api.calls.lock().unwrap().iter().filter(|c| c.path != "/api/auth.test").cloned().collect();
    assert_eq!(all.len(), 3, "{all:?}");
    for c in &all {
        let mentions = c.body.to_string().contains(&id);
        assert_eq!(mentions, c.body["channel"] == "C0FINANCE1", "the finance request only in finance: {c:?}");
    }
    let call = &calls[0];
    assert_eq!(call.path, "/api/chat.postMessage");
    assert_eq!(call.authorization, format!("Bearer {TOKEN}"));
    assert!(call.content_type.starts_with("application/json"), "{}", call.content_type);
    let blocks = call.body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["text"], "bank wire");
    let fields = blocks[1]["fields"].to_string();
    for needle in ["*Priority*", "high", "*Role*", "finance", "*Deadline*"] {
        assert!(fields.contains(needle), "{needle} in {fields}");
    }
    let text = call.body.to_string();
    for needle in ["destination never seen", "score: 0.93", "acct_9", "\\\"amount\\\": 42"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    // Agent-written text mentions no one, links nowhere and stays inside its code block.
    assert!(text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"), "{text}");
    assert!(!text.contains("<https://evil.example"), "{text}");
    let payload =
        blocks.iter().find_map(|b| b["text"]["text"].as_str().filter(|t| t.starts_with("```"))).unwrap();
    assert_eq!(payload.matches("```").count(), 2, "{payload}");
    let actions = blocks.iter().find(|b| b["type"] == "actions").expect("buttons");
    let buttons: Vec<(&str, &str)> = actions["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["action_id"].as_str().unwrap(), b["value"].as_str().unwrap()))
        .collect();
    assert_eq!(buttons, [("approve", id.as_str()), ("edit", id.as_str()), ("reject", id.as_str())]);
    assert!(!text.contains(SECRET), "{text}");
    let ops_call = &calls[1];
    assert_eq!(ops_call.body["blocks"][0]["text"]["text"], "k8s scale");
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn status_of(server: &Server, id: &str) -> String {
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    row["status"].as_str().unwrap().to_string()
}

/// What Slack sends when `user` clicks `button` (an element of a posted message's actions
/// block): the form body `payload=<JSON>`.
fn click_body(user: &str, actions: &Value, button: &str) -> String {
    form(&click_payload(user, actions, button))
}

/// The form body Slack sends with `payload`.
fn form(payload: &Value) -> String {
    url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

/// The `block_actions` payload of `user`'s click on `button` (see [`click_body`]).
fn click_payload(user: &str, actions: &Value, button: &str) -> Value {
    let element = actions["elements"].as_array().unwrap().iter().find(|e| e["action_id"] == button).unwrap();
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM0001"},
        "team": {"id": "T0TEAM0001", "domain": "example"},
        "container": {"type": "message", "channel_id": "C0FINANCE1", "message_ts": "1700000000.000002"},
        "channel": {"id": "C0FINANCE1", "name": "finance"},
        "actions": [{"type": "button", "action_id": button, "block_id": actions["block_id"],
                     "value": element["value"], "action_ts": "1700000001.000001"}],
        "trigger_id": "1700000001.0001.abcdef0123456789",
    })
}

/// Posts an interactivity request signed with `secret` at `timestamp`: the status and answer.
fn interact(server: &Server, secret: &str, timestamp: i64, body: &str) -> (u16, Value) {
    let signature = sign_slack(secret.as_bytes(), timestamp, body.as_bytes());
    let answer = ureq::post(&format!("{}/integrations/slack/interactivity", server.url))
        .set("content-type", "application/x-www-form-urlencoded")
        .set("x-slack-request-timestamp", &timestamp.to_string())
        .set("x-slack-signature", &signature)
        .send_string(body);
    let response = match answer {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Clicks `button` (Edit or Reject) as `user`: the click is acknowledged with an empty 200
/// after the server asked the stand-in to open a modal for the click's trigger; that view.
fn open_modal(server: &Server, api: &SlackApi, user: &str, actions: &Value, button: &str) -> Value {
    let before = api.wait_for("views.open", 0).len();
    let (status, answer) = interact(server, SECRET, now(), &click_body(user, actions, button));
    assert_eq!((status, &answer), (200, &Value::Null), "{answer}");
    // views.open is called before the click is answered: it is recorded already.
    let opened = api.wait_for("views.open", 0);
    assert_eq!(opened.len(), before + 1, "{opened:?}");
    let call = opened.last().unwrap();
    assert_eq!(call.authorization, format!("Bearer {TOKEN}"));
    assert_eq!(call.body["trigger_id"], "1700000001.0001.abcdef0123456789");
    assert_eq!(call.body["view"]["type"], "modal");
    call.body["view"].clone()
}

/// What Slack sends when `user` submits the modal `view` with `values` as its
/// `view.state.values` (the view comes back with its blocks, as Slack sends it).
fn submission_body(user: &str, view: &Value, values: Value) -> String {
    let payload = json!({
        "type": "view_submission",
        "team": {"id": "T0TEAM0001", "domain": "example"},
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM0001"},
        "view": {"id": "V00000001", "type": "modal", "team_id": "T0TEAM0001",
                 "callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
                 "blocks": view["blocks"], "title": view["title"], "hash": "1700000002.abc",
                 "state": {"values": values}},
    });
    url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

fn reason_values(text: &str) -> Value {
    json!({"reason": {"value": {"type": "plain_text_input", "value": text}}})
}

/// A finance channel, one posted request: the server, the stand-in, the request's id and the
/// actions block of its message.
fn posted_request(name: &str, request: Value) -> (Server, SlackApi, String, Value) {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with(name, &env);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{answer}");
    let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&request));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let posted = api.wait_for("chat.postMessage", 1);
    assert_eq!(posted.len(), 1, "{posted:?}");
    let actions =
        posted[0].body["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap().clone();
    (server, api, id, actions)
}

#[test]
fn reject_asks_for_a_reason_in_a_modal_and_the_submission_is_checked_again() {
    let (server, api, id, actions) = posted_request(
        "reject",
        json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 42}}),
    );
    // Someone outside the role gets no modal.
    let (status, answer) = interact(&server, SECRET, now(), &click_body("U0MALLORY1", &actions, "reject"));
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("not a member"), "{answer}");
    assert!(api.wait_for("views.open", 0).is_empty());

    let view = open_modal(&server, &api, "U0ALICE001", &actions, "reject");
    assert_eq!(view["callback_id"], "handrail_reject");
    let metadata: Value = serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(metadata["request"], id.as_str());
    let input = view["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "input").unwrap();
    assert_eq!(input["block_id"], "reason");
    assert_eq!(input["label"]["text"], "Reason");
    assert_eq!(input["element"]["type"], "plain_text_input");
    assert_eq!(input["element"]["multiline"], true);
    assert_eq!(input["element"]["max_length"], 1000);
    assert!(input.get("optional").is_none_or(|o| o == false), "{input}");
    assert_eq!(status_of(&server, &id), "PENDING", "opening the modal decides nothing");

    // Refused, nothing decided: a bad signature; a tampered or foreign target; no reason or
    // too long a one (field errors); a user outside the role; an unknown modal.
    let good = submission_body("U0ALICE001", &view, reason_values("not today"));
    let (status, answer) = interact(&server, "another-secret", now(), &good);
    assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")), "{answer}");
    let (status, answer) = interact(&server, SECRET, now() - 301, &good);
    assert_eq!(status, 401, "{answer}");
    for metadata in [json!("not json"), json!(r#"{"project": "x y", "request": "r"}"#), Value::Null] {
        let mut forged = view.clone();
        forged["private_metadata"] = metadata;
        let (status, answer) =
            interact(&server, SECRET, now(), &submission_body("U0ALICE001", &forged, reason_values("x")));
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{answer}");
    }
    let mut other = view.clone();
    other["private_metadata"] =
        json!(json!({"project": metadata["project"], "request": "req_nosuchrequest"}).to_string());
    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0ALICE001", &other, reason_values("x")));
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
    let mut unknown = view.clone();
    unknown["callback_id"] = json!("someone_else");
    let (status, _) =
        interact(&server, SECRET, now(), &submission_body("U0ALICE001", &unknown, reason_values("x")));
    assert_eq!(status, 400);
    for (values, says) in [
        (reason_values("   "), "required"),
        (json!({}), "required"),
        (reason_values(&"x".repeat(1001)), "1000"),
    ] {
        let (status, answer) =
            interact(&server, SECRET, now(), &submission_body("U0ALICE001", &view, values));
        assert_eq!((status, answer["response_action"].as_str()), (200, Some("errors")), "{answer}");
        assert!(answer["errors"]["reason"].as_str().unwrap().contains(says), "{answer}");
    }
    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0MALLORY1", &view, reason_values("mine now")));
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
    assert!(answer["view"].to_string().contains("not a member"), "{answer}");
    assert_eq!(status_of(&server, &id), "PENDING");

    let (status, answer) = interact(&server, SECRET, now(), &good);
    assert_eq!((status, &answer), (200, &Value::Null), "an empty 200 closes the modal: {answer}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["status"], "REJECTED", "{row}");
    assert_eq!(row["decision"]["actor"], "slack:U0ALICE001", "{row}");
    assert_eq!(row["decision"]["reason"], "not today", "{row}");
    let update = api.wait_for("chat.update", 1);
    assert!(update[0].body.to_string().contains("Reason: not today"), "{update:?}");

    // A replay, or Bob's submission of the same modal, decides nothing twice.
    for user in ["U0ALICE001", "U0BOB00001"] {
        let (status, answer) =
            interact(&server, SECRET, now(), &submission_body(user, &view, reason_values("again")));
        assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
        assert!(answer["view"].to_string().contains("no longer pending"), "{answer}");
    }
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    let resolved =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["event"] == "request.resolved").count();
    assert_eq!(resolved, 1, "{audit}");
}

#[test]
fn edit_opens_a_form_of_the_schema_whose_valid_submission_approves_the_edit() {
    let schema = json!({"type": "object", "required": ["amount", "to"], "additionalProperties": false,
    "properties": {
        "amount": {"type": "integer", "minimum": 1, "maximum": 1000},
        "to": {"type": "string", "description": "Destination account"},
        "currency": {"enum": ["EUR", "USD"]},
        "urgent": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    }});
    let (server, api, id, actions) = posted_request(
        "edit",
        json!({"service": "bank", "action": "wire", "role": "finance", "schema": schema,
               "payload": {"amount": 42, "to": "acct_9", "currency": "EUR", "urgent": false, "tags": ["q3"]}}),
    );
    let waiter = wait_in_background(&server, &id);
    let (status, answer) = interact(&server, SECRET, now(), &click_body("U0CAROL001", &actions, "edit"));
    assert!(status == 200 && answer["text"].as_str().unwrap().contains("not a member"), "{answer}");

    let view = open_modal(&server, &api, "U0ALICE001", &actions, "edit");
    assert_eq!(view["callback_id"], "handrail_edit");
    let inputs: Vec<&Value> =
        view["blocks"].as_array().unwrap().iter().filter(|b| b["type"] == "input").collect();
    let ids: Vec<&str> = inputs.iter().map(|b| b["block_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["p:amount", "p:to", "p:currency", "p:urgent", "p:tags"]);
    let element = |i: usize| &inputs[i]["element"];
    assert_eq!(
        (element(0)["type"].as_str(), element(0)["initial_value"].as_str()),
        (Some("number_input"), Some("42"))
    );
    assert_eq!(element(0)["is_decimal_allowed"], false);
    assert_eq!(inputs[0]["optional"], false);
    assert_eq!(
        (element(1)["type"].as_str(), element(1)["initial_value"].as_str()),
        (Some("plain_text_input"), Some("acct_9"))
    );
    assert_eq!(inputs[1]["hint"]["text"], "Destination account");
    assert_eq!(element(2)["type"], "static_select");
    let options: Vec<&str> = element(2)["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["text"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(options, ["EUR", "USD"]);
    assert_eq!(element(2)["initial_option"]["text"]["text"], "EUR");
    assert_eq!(inputs[2]["optional"], true);
    assert_eq!(element(3)["type"], "static_select");
    assert_eq!(element(3)["initial_option"]["value"], "false");
    assert_eq!(element(4)["type"], "plain_text_input");
    assert_eq!(
        serde_json::from_str::<Value>(element(4)["initial_value"].as_str().unwrap()).unwrap(),
        json!(["q3"])
    );

    // What Slack's inputs hold, by action id, for each block (all inputs come back).
    let values = |amount: &str, tags: &str| {
        let option = |v: &str| json!({"text": {"type": "plain_text", "text": v}, "value": v});
        json!({
            "p:amount": {"value": {"type": "number_input", "value": amount}},
            "p:to": {"value": {"type": "plain_text_input", "value": "acct_1"}},
            "p:currency": {"value": {"type": "static_select", "selected_option": option("\"USD\"")}},
            "p:urgent": {"value": {"type": "static_select", "selected_option": option("true")}},
            "p:tags": {"value": {"type": "plain_text_input", "value": tags}},
        })
    };
    // Invalid: the core's schema check names the field (minimum, a wrong item type); a value
    // that does not parse is named before. Still pending each time.
    for (amount, tags, field, says) in [
        ("-5", "[]", "p:amount", "minimum"),
        ("2.5", "[]", "p:amount", "integer"),
        ("7", "[1]", "p:tags", "string"),
        ("7", "not json", "p:tags", "JSON"),
        ("lots", "[]", "p:amount", "number"),
    ] {
        let (status, answer) =
            interact(&server, SECRET, now(), &submission_body("U0ALICE001", &view, values(amount, tags)));
        assert_eq!(
            (status, answer["response_action"].as_str()),
            (200, Some("errors")),
            "{amount} {tags}: {answer}"
        );
        let error = answer["errors"][field].as_str().unwrap_or_else(|| panic!("{field} in {answer}"));
        assert!(error.contains(says), "{says} in {error}");
        assert_eq!(status_of(&server, &id), "PENDING");
    }
    // A user outside the role cannot submit it either.
    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0CAROL001", &view, values("7", "[]")));
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
    assert_eq!(status_of(&server, &id), "PENDING");

    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0ALICE001", &view, values("7", "[\"q4\"]")));
    assert_eq!((status, &answer), (200, &Value::Null), "{answer}");
    let edited = json!({"amount": 7, "to": "acct_1", "currency": "USD", "urgent": true, "tags": ["q4"]});
    let waited: Value = serde_json::from_slice(&waiter.join().unwrap()).unwrap();
    assert_eq!(waited["decision"]["status"], "APPROVED_WITH_MODIFICATIONS", "{waited}");
    assert_eq!(waited["decision"]["actor"], "slack:U0ALICE001", "{waited}");
    assert_eq!(waited["decision"]["patched_payload"], edited, "{waited}");
    assert!(waited["decision"]["diff"].to_string().contains("amount"), "{waited}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["decision"]["patched_payload"], edited, "{row}");

    // Decided: a replayed submission changes nothing.
    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0ALICE001", &view, values("9", "[]")));
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["decision"]["patched_payload"], edited, "{row}");
}

#[test]
fn an_encrypted_payload_gets_no_edit_button_and_no_edit_form() {
    let sealed = json!({"v": 1, "alg": "A256GCM", "kid": "k", "iv": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA"});
    let (server, api, id, actions) = posted_request(
        "sealed",
        json!({"service": "bank", "action": "wire", "role": "finance", "payload": sealed}),
    );
    let buttons: Vec<&str> =
        actions["elements"].as_array().unwrap().iter().map(|b| b["action_id"].as_str().unwrap()).collect();
    assert_eq!(buttons, ["approve", "reject"]);
    // A forged Edit click (the block with an edit action added) opens nothing.
    let mut forged = actions.clone();
    forged["elements"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "button", "action_id": "edit", "value": id}));
    let (status, answer) = interact(&server, SECRET, now(), &click_body("U0ALICE001", &forged, "edit"));
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("encrypted"), "{answer}");
    assert!(api.wait_for("views.open", 0).is_empty());
    // Rejecting needs no payload: its modal opens, and shows none.
    let view = open_modal(&server, &api, "U0ALICE001", &actions, "reject");
    assert!(!view.to_string().contains("AAAAAAAAAAAAAAAA"), "{view}");
    // An edit submission for it (forged from the reject modal) is refused.
    let mut edit = view.clone();
    edit["callback_id"] = json!("handrail_edit");
    let values = json!({"payload": {"value": {"type": "plain_text_input", "value": "{\"amount\": 1}"}}});
    let (status, answer) = interact(&server, SECRET, now(), &submission_body("U0ALICE001", &edit, values));
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
    assert!(answer["view"].to_string().contains("encrypted"), "{answer}");
    assert_eq!(status_of(&server, &id), "PENDING");
}

#[test]
fn odd_clicks_and_payloads_too_large_for_slack_open_nothing_and_decide_nothing() {
    let memo = "x".repeat(3001);
    let (server, api, id, actions) = posted_request(
        "odd",
        json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"memo": memo},
               "schema": {"type": "object", "properties": {"memo": {"type": "string"}}}}),
    );
    // More than a Slack input holds: the dashboard is the place to edit it.
    let (status, answer) = interact(&server, SECRET, now(), &click_body("U0ALICE001", &actions, "edit"));
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("dashboard"), "{answer}");
    // A click without its trigger, and payload types this app has no use for, are refused.
    let click = click_payload("U0ALICE001", &actions, "reject");
    let mut untriggered = click.clone();
    untriggered.as_object_mut().unwrap().remove("trigger_id");
    let mut shortcut = click.clone();
    shortcut["type"] = json!("shortcut");
    let mut closed = click.clone();
    closed["type"] = json!("view_closed");
    let mut hostile_trigger = click.clone();
    hostile_trigger["trigger_id"] = json!("x".repeat(300));
    for payload in [untriggered, shortcut, closed, hostile_trigger] {
        let (status, answer) = interact(&server, SECRET, now(), &form(&payload));
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{payload}: {answer}"
        );
    }
    let (status, answer) = interact(&server, SECRET, now(), &"payload=x".repeat(30_000));
    assert_eq!(status, 413, "{answer}");
    assert!(api.wait_for("views.open", 0).is_empty());
    assert_eq!(status_of(&server, &id), "PENDING");
}

#[test]
fn a_member_approves_from_slack_and_no_one_else_decides() {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("interact", &env);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{answer}");
    let ops = json!({"kind": "slack", "channel": "C0OPS00001", "roles": ["ops"],
                     "members": [{"slack_user": "U0CAROL001", "name": "Carol"}]});
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&ops));
    assert_eq!(status, 201, "{answer}");
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 42}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let posted = api.wait_for("chat.postMessage", 1);
    assert_eq!(posted.len(), 1, "{posted:?}");
    let actions =
        posted[0].body["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap().clone();

    let waiter = wait_in_background(&server, &id);

    let alice = click_body("U0ALICE001", &actions, "approve");
    // Refused before anything is read: a wrong secret, a stale or future timestamp, a body
    // changed after signing, no signature at all.
    for (secret, at, body) in [
        ("another-secret", now(), alice.clone()),
        (SECRET, now() - 301, alice.clone()),
        (SECRET, now() + 301, alice.clone()),
    ] {
        let (status, answer) = interact(&server, secret, at, &body);
        assert_eq!((status, answer["error"]["code"].as_str()), (401, Some("unauthorized")), "{answer}");
    }
    let tampered = ureq::post(&format!("{}/integrations/slack/interactivity", server.url))
        .set("x-slack-request-timestamp", &now().to_string())
        .set("x-slack-signature", &sign_slack(SECRET.as_bytes(), now(), alice.as_bytes()))
        .send_string(&click_body("U0MALLORY1", &actions, "approve"));
    assert!(matches!(tampered, Err(ureq::Error::Status(401, _))), "{tampered:?}");
    let unsigned =
        ureq::post(&format!("{}/integrations/slack/interactivity", server.url)).send_string(&alice);
    assert!(matches!(unsigned, Err(ureq::Error::Status(401, _))), "{unsigned:?}");
    // Correctly signed, but not a member of a channel of the request's role: Carol is on ops.
    for user in ["U0MALLORY1", "U0CAROL001"] {
        for button in ["approve", "reject"] {
            let (status, answer) = interact(&server, SECRET, now(), &click_body(user, &actions, button));
            assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
            assert!(answer["text"].as_str().unwrap().contains("not a member"), "{answer}");
        }
    }
    assert_eq!(status_of(&server, &id), "PENDING");

    // Alice approves.
    let (status, answer) = interact(&server, SECRET, now(), &alice);
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
    let text = answer["text"].as_str().unwrap();
    assert!(
        text.contains("APPROVED") && text.contains("Alice") && text.contains("slack:U0ALICE001"),
        "{text}"
    );
    let record: Request = serde_json::from_slice(&waiter.join().unwrap()).unwrap();
    let decision = record.decision.clone().expect("decided");
    assert_eq!(decision.status.as_str(), "APPROVED");
    assert_eq!(decision.actor.as_deref(), Some("slack:U0ALICE001"));
    let mut client = Client::new(&server.url, &server.agent).unwrap();
    let jwks = ureq::get(&format!("{}/v1/keys/proof", server.url)).call().unwrap();
    let mut jwks_body = Vec::new();
    jwks.into_reader().read_to_end(&mut jwks_body).unwrap();
    client.load_jwks(&HttpResponse { status: 200, headers: vec![], body: jwks_body }).unwrap();
    let claims = client.verify_proof(&record, decision.proof.as_deref().unwrap(), now()).unwrap();
    assert_eq!(claims.act, "slack:U0ALICE001");
    assert_eq!(claims.rid, id);
    // The message that asked now shows the outcome and her name, without buttons.
    // At least one: a decision that races the post may update the message twice, harmlessly.
    let updates = api.wait_for("chat.update", 1);
    assert!(!updates.is_empty(), "no chat.update");
    let update = updates[0].body.to_string();
    assert!(update.contains("*APPROVED* by Alice") && update.contains("slack:U0ALICE001"), "{update}");
    assert!(!update.contains("\"actions\""), "{update}");

    // A replay (or Bob's click after hers) decides nothing twice.
    for body in [alice.clone(), click_body("U0BOB00001", &actions, "reject")] {
        let (status, answer) = interact(&server, SECRET, now(), &body);
        assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
        assert!(answer["text"].as_str().unwrap().contains("no longer pending"), "{answer}");
    }
    assert_eq!(status_of(&server, &id), "APPROVED");
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    let resolved: Vec<&Value> =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["event"] == "request.resolved").collect();
    assert_eq!(resolved.len(), 1, "{audit}");
    assert_eq!(resolved[0]["actor"], "slack:U0ALICE001");

    // Bob rejects another one, with a reason.
    let (_, second) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 7}})),
    );
    let second_id = second["id"].as_str().unwrap().to_string();
    let posted = api.wait_for("chat.postMessage", 2);
    let actions =
        posted[1].body["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap().clone();
    let view = open_modal(&server, &api, "U0BOB00001", &actions, "reject");
    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0BOB00001", &view, reason_values("not today")));
    assert_eq!((status, answer.clone()), (200, Value::Null), "{answer}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{second_id}"), &server.operator, None);
    assert_eq!(row["status"], "REJECTED", "{row}");
    assert_eq!(row["decision"]["actor"], "slack:U0BOB00001", "{row}");
    assert_eq!(row["decision"]["reason"], "not today", "{row}");
}

#[test]
fn an_escalation_posts_to_the_next_role_whose_members_then_decide() {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("escalation", &env);
    for role in
        [json!({"name": "ops"}), json!({"name": "finance", "escalate_to": "ops", "escalate_after_secs": 1})]
    {
        let (status, answer) = server.call("POST", "/v1/roles", &server.operator, Some(&role));
        assert_eq!(status, 201, "{answer}");
    }
    let ops = json!({"kind": "slack", "channel": "C0OPS00001", "roles": ["ops"],
                     "members": [{"slack_user": "U0CAROL001", "name": "Carol"}]});
    for channel in [finance(), ops] {
        assert_eq!(server.call("POST", "/v1/channels", &server.operator, Some(&channel)).0, 201);
    }
    let (_, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 3}})),
    );
    let id = created["id"].as_str().unwrap().to_string();
    let mut posted = api.wait_for("chat.postMessage", 2);
    posted.sort_by_key(|c| c.body["channel"].to_string());
    let channels: Vec<&str> = posted.iter().map(|c| c.body["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, ["C0FINANCE1", "C0OPS00001"], "{posted:?}");
    assert!(!posted[0].body.to_string().contains("Escalated"), "{:?}", posted[0]);
    assert!(posted[1].body.to_string().contains("Escalated"), "{:?}", posted[1]);
    let actions = |call: &Call| {
        call.body["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap().clone()
    };
    // The request is ops' now: finance's member may no longer decide it, ops' may.
    let (_, answer) =
        interact(&server, SECRET, now(), &click_body("U0ALICE001", &actions(&posted[0]), "approve"));
    assert!(answer["text"].as_str().unwrap().contains("not a member"), "{answer}");
    assert_eq!(status_of(&server, &id), "PENDING");
    let view = open_modal(&server, &api, "U0CAROL001", &actions(&posted[1]), "reject");
    let (status, answer) =
        interact(&server, SECRET, now(), &submission_body("U0CAROL001", &view, reason_values("ops says no")));
    assert_eq!(status, 200, "{answer}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["status"], "REJECTED", "{row}");
    assert_eq!(row["decision"]["reason"], "ops says no", "{row}");
    assert_eq!(row["decision"]["actor"], "slack:U0CAROL001", "{row}");
}

#[test]
fn a_decision_made_through_the_api_updates_the_slack_message() {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("update", &env);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{answer}");
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 42}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let posted = api.wait_for("chat.postMessage", 1);
    assert_eq!(posted.len(), 1, "{posted:?}");
    let (_, me) = server.call("GET", "/v1/keys/me", &server.operator, None);
    let operator_key = me["key_id"].as_str().unwrap().to_string();
    let (status, answer) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "reject", "reason": "not <today>"})),
    );
    assert_eq!(status, 200, "{answer}");

    // At least one: a decision that races the post may update the message twice, harmlessly.
    let updates = api.wait_for("chat.update", 1);
    assert!(!updates.is_empty(), "no chat.update");
    let update = &updates[0];
    assert_eq!(update.authorization, format!("Bearer {TOKEN}"));
    assert_eq!(update.body["channel"], "C0FINANCE1");
    // The ts the post was answered with (the stand-in numbers them by call).
    let calls = api.calls.lock().unwrap().clone();
    let post_index = calls.iter().rposition(|c| c.path == "/api/chat.postMessage").unwrap();
    assert_eq!(update.body["ts"], json!(format!("1700000000.{:06}", post_index + 1)), "{calls:?}");
    let text = update.body.to_string();
    assert!(text.contains("*REJECTED* by") && text.contains(&operator_key), "{text}");
    assert!(text.contains("Reason: not &lt;today&gt;"), "{text}");
    assert!(!text.contains("\"actions\""), "{text}");
}

/// The answers to `response_url` under the stand-in's `n`th hook, once there are `count`.
fn responses(api: &SlackApi, n: u32, count: usize) -> Vec<String> {
    let path = api.response_url(n);
    let path = &path[path.find("/hooks/").unwrap()..];
    let calls = api.wait_for_path(path, count);
    for c in &calls {
        assert_eq!(c.body["response_type"], "ephemeral", "{c:?}");
        assert_eq!(c.body["replace_original"], false, "{c:?}");
        assert_eq!(c.authorization, "", "no bot token to a response_url: {c:?}");
    }
    calls.iter().map(|c| c.body["text"].as_str().unwrap().to_string()).collect()
}

#[test]
fn clicks_from_another_workspace_decide_nothing_and_every_click_is_answered_at_its_response_url() {
    let (server, api, id, actions) = posted_request(
        "team",
        json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 42}}),
    );
    // The worker learned the bot's workspace after its post.
    assert_eq!(api.wait_for("auth.test", 1).len(), 1);
    // Alice's id, clicked in another workspace (the app installed there too, one secret):
    // refused, at the response_url as in the answer, on a button and on a modal alike.
    let mut other = click_payload("U0ALICE001", &actions, "approve");
    other["team"]["id"] = json!("T0OTHER001");
    other["user"]["team_id"] = json!("T0OTHER001");
    other["response_url"] = json!(api.response_url(1));
    let (status, answer) = interact(&server, SECRET, now(), &form(&other));
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("not the one"), "{answer}");
    let project = actions["block_id"].as_str().unwrap().strip_prefix("handrail_decide:").unwrap();
    let mut submission = json!({
        "type": "view_submission",
        "team": {"id": "T0TEAM0001", "domain": "example"},
        "user": {"id": "U0ALICE001", "username": "someone", "team_id": "T0TEAM0001"},
        "view": {"id": "V00000001", "type": "modal", "callback_id": "handrail_reject",
                 "private_metadata": json!({"project": project, "request": id}).to_string(),
                 "state": {"values": reason_values("no")}},
    });
    submission["team"]["id"] = json!("T0OTHER001");
    let (status, answer) = interact(&server, SECRET, now(), &form(&submission));
    assert_eq!((status, answer["response_action"].as_str()), (200, Some("update")), "{answer}");
    assert!(answer.to_string().contains("not the one"), "{answer}");
    // No workspace at all: a typed refusal.
    let mut none = click_payload("U0ALICE001", &actions, "approve");
    none["team"] = Value::Null;
    none["user"]["team_id"] = Value::Null;
    let (status, answer) = interact(&server, SECRET, now(), &form(&none));
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{answer}");
    assert_eq!(status_of(&server, &id), "PENDING");
    assert_eq!(
        responses(&api, 1, 1),
        ["This Slack workspace is not the one Handrail's Slack app belongs to: nothing was decided."]
    );

    // A response_url elsewhere than Slack's hooks or the API's origin is not posted to.
    let mut elsewhere = click_payload("U0MALLORY1", &actions, "approve");
    elsewhere["response_url"] = json!("http://127.0.0.1:9/hooks/T0TEAM0001/2/x");
    let (_, answer) = interact(&server, SECRET, now(), &form(&elsewhere));
    assert!(answer["text"].as_str().unwrap().contains("not a member"), "{answer}");
    // Someone who is no member, then Alice, in her workspace: each told at the response_url.
    let mut mallory = click_payload("U0MALLORY1", &actions, "approve");
    mallory["response_url"] = json!(api.response_url(3));
    let (_, answer) = interact(&server, SECRET, now(), &form(&mallory));
    assert!(answer["text"].as_str().unwrap().contains("not a member"), "{answer}");
    assert!(responses(&api, 3, 1)[0].contains("not a member"));
    let mut alice = click_payload("U0ALICE001", &actions, "approve");
    alice["response_url"] = json!(api.response_url(4));
    let (_, answer) = interact(&server, SECRET, now(), &form(&alice));
    assert!(answer["text"].as_str().unwrap().starts_with("APPROVED by Alice"), "{answer}");
    let told = responses(&api, 4, 1);
    assert!(told[0].starts_with("APPROVED by Alice (slack:U0ALICE001)"), "{told:?}");
    let (status, _) = interact(&server, SECRET, now(), &form(&alice));
    assert_eq!(status, 200);
    assert!(responses(&api, 4, 2)[1].contains("no longer pending"));
    // The hook of the refused URL never got anything; the workspace was asked once, with the
    // bot token.
    let calls = api.calls.lock().unwrap().clone();
    assert!(!calls.iter().any(|c| c.path.starts_with("/hooks/T0TEAM0001/2/")), "{calls:?}");
    let asked: Vec<&Call> = calls.iter().filter(|c| c.path == "/api/auth.test").collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].authorization, format!("Bearer {TOKEN}"));

    // The decision names her, by id and by her name on the channel, in the request and the
    // audit log alike.
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["decision"]["actor"], "slack:U0ALICE001", "{row}");
    assert_eq!(row["decision"]["actor_name"], "Alice", "{row}");
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    let resolved =
        audit["entries"].as_array().unwrap().iter().find(|e| e["event"] == "request.resolved").unwrap();
    assert_eq!(
        (&resolved["actor"], &resolved["data"]["actor_name"]),
        (&json!("slack:U0ALICE001"), &json!("Alice"))
    );
}

#[test]
fn while_slack_cannot_say_which_workspace_the_bot_is_in_clicks_decide_nothing() {
    let api = SlackApi::start();
    api.auth_down.store(true, Ordering::SeqCst);
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("team-down", &env);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{answer}");
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 42}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let posted = api.wait_for("chat.postMessage", 1);
    let actions =
        posted[0].body["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "actions").unwrap().clone();
    let alice = click_body("U0ALICE001", &actions, "approve");
    let (status, answer) = interact(&server, SECRET, now(), &alice);
    assert_eq!((status, answer["response_type"].as_str()), (200, Some("ephemeral")), "{answer}");
    assert!(answer["text"].as_str().unwrap().contains("cannot confirm this Slack workspace"), "{answer}");
    assert_eq!(status_of(&server, &id), "PENDING");
    // Slack answers again: the next click asks again and decides.
    api.auth_down.store(false, Ordering::SeqCst);
    let (_, answer) = interact(&server, SECRET, now(), &alice);
    assert!(answer["text"].as_str().unwrap().starts_with("APPROVED by Alice"), "{answer}");
    assert_eq!(status_of(&server, &id), "APPROVED");
}

#[test]
fn a_message_posted_while_its_request_was_decided_is_updated_and_an_expired_one_says_so() {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("in-flight", &env);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&finance()));
    assert_eq!(status, 201, "{answer}");
    // The post reaches Slack and waits there for its answer, while the request is decided:
    // the decision's transaction finds no posted message; recording the post queues the update.
    api.hold_posts.store(true, Ordering::SeqCst);
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 42}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let posted = api.wait_for("chat.postMessage", 1);
    assert_eq!(posted.len(), 1, "{posted:?}");
    let (status, answer) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "approve"})),
    );
    assert_eq!(status, 200, "{answer}");
    assert!(api.wait_for("chat.update", 0).is_empty());
    api.hold_posts.store(false, Ordering::SeqCst);
    let updates = api.wait_for("chat.update", 1);
    assert_eq!(updates.len(), 1, "{updates:?}");
    let calls = api.calls.lock().unwrap().clone();
    let post_index = calls.iter().rposition(|c| c.path == "/api/chat.postMessage").unwrap();
    assert_eq!(updates[0].body["ts"], json!(format!("1700000000.{:06}", post_index + 1)), "{calls:?}");
    assert!(updates[0].body.to_string().contains("*APPROVED* by"), "{updates:?}");

    // A request nobody decides: at its deadline the sweep expires it, and its message says so.
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 7},
                     "timeout_secs": 3})),
    );
    assert_eq!(status, 201, "{created}");
    let late = created["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_for("chat.postMessage", 2).len(), 2);
    let updates = api.wait_for("chat.update", 2);
    assert_eq!(updates.len(), 2, "{updates:?}");
    let text = updates[1].body.to_string();
    assert!(text.contains("*EXPIRED* by no one before the deadline"), "{text}");
    assert_eq!(status_of(&server, &late), "EXPIRED");
}

/// The rule every store applies inside the deciding transaction: `slack:USER` approves only
/// while a Slack channel of the request's project and current role lists the user. On SQLite,
/// and on PostgreSQL too when `HANDRAIL_TEST_POSTGRES` is set.
#[test]
fn the_stores_admit_a_slack_approver_only_while_a_channel_of_the_role_lists_them() {
    use handrail_server::store::{Postgres, Sqlite, Store};
    let dir = fresh_dir("store");
    std::fs::create_dir_all(&dir).unwrap();
    let mut stores: Vec<(&str, Box<dyn Store>)> =
        vec![("sqlite", Box::new(Sqlite::open(&dir.join("handrail.db")).unwrap()))];
    if let Some(admin) = common::test_postgres() {
        let name = common::new_database(&admin);
        let (server, _) = admin.rsplit_once('/').unwrap();
        stores.push(("postgres", Box::new(Postgres::open(&format!("{server}/{name}")).unwrap())));
    }
    for (name, store) in &stores {
        slack_approver_rule(name, store.as_ref());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn slack_approver_rule(name: &str, store: &dyn handrail_server::store::Store) {
    use handrail_core::request::Decision;
    use handrail_server::store::{AuditEvent, Channel, ChannelKind, Inserted, RequestRow, Role, SlackMember};
    for project in ["prj_a", "prj_b"] {
        store.add_project(project, project, 0).unwrap();
    }
    store.add_key("key_agent", "h1", "prj_a", Role::Agent, 0).unwrap();
    let audit = |event: &'static str| AuditEvent { at: 1, actor: "key_op", event, data: json!({}) };
    let channel = |id: &str, user: &str, roles: &[&str]| Channel {
        id: id.into(),
        kind: ChannelKind::Slack,
        to: Vec::new(),
        channel: Some("C0FINANCE1".into()),
        members: vec![SlackMember { slack_user: user.into(), name: "Someone".into() }],
        roles: roles.iter().map(|r| r.to_string()).collect(),
        remind_after_secs: None,
        created_at: 0,
    };
    // Alice is on prj_a's finance channel; Mallory on a channel of another project.
    store
        .add_channel("prj_a", &channel("ch_1", "U0ALICE001", &["finance"]), audit("channel.created"))
        .unwrap();
    store.add_channel("prj_b", &channel("ch_2", "U0MALLORY1", &[]), audit("channel.created")).unwrap();
    let request = |id: &str, role: &str| -> RequestRow {
        let row: RequestRow = serde_json::from_value(json!({
            "id": id, "project": "prj_a", "service": "s", "action": "a", "payload": {}, "role": role,
            "priority": "medium", "status": "PENDING", "created_at": 0, "expires_at": 4_000_000_000i64,
            "created_by": "key_agent",
        }))
        .unwrap();
        let inserted = store
            .insert_request(&row, &serde_json::to_string(&row).unwrap(), None, audit("request.created"))
            .unwrap();
        assert_eq!(inserted, Inserted::Created, "{name}");
        row
    };
    let ops = request("req_oooooooooooooooo", "ops");
    let finance = request("req_ffffffffffffffff", "finance");
    let approve = |row: &RequestRow, actor: &str| {
        let decision: Decision = serde_json::from_value(json!({"request_id": row.id, "status": "APPROVED",
            "actor": actor, "proof": "a.b.c", "decided_at": 1}))
        .unwrap();
        store.decide("prj_a", &row.id, "APPROVED".parse().unwrap(), &decision, None, audit("x"))
    };
    for actor in ["slack:U0ALICE001", "slack:U0MALLORY1", "slack:", "slack:alice", "slack:u0alice001"] {
        assert!(approve(&ops, actor).is_err(), "{name}: {actor} on ops");
    }
    assert!(approve(&finance, "slack:U0MALLORY1").is_err(), "{name}: another project's member");
    assert!(approve(&finance, "slack:U0BOB00001").is_err(), "{name}: nobody's member");
    assert_eq!(
        store.slack_member("prj_a", Some("finance"), "U0ALICE001").unwrap().as_deref(),
        Some("Someone")
    );
    assert_eq!(store.slack_member("prj_a", Some("ops"), "U0ALICE001").unwrap(), None, "{name}");
    assert_eq!(store.request("prj_a", &ops.id).unwrap().unwrap().status.as_str(), "PENDING");
    assert!(approve(&finance, "slack:U0ALICE001").unwrap(), "{name}");
    // Once a channel of every role lists her, ops' request is hers to decide too.
    store.add_channel("prj_a", &channel("ch_3", "U0ALICE001", &[]), audit("channel.created")).unwrap();
    assert!(approve(&ops, "slack:U0ALICE001").unwrap(), "{name}");
}

#[test]
fn the_server_refuses_to_start_with_half_an_app_or_a_refused_api_url() {
    for (env, says) in [
        (vec![("HANDRAIL_SLACK_BOT_TOKEN", TOKEN)], "HANDRAIL_SLACK_SIGNING_SECRET"),
        (vec![("HANDRAIL_SLACK_SIGNING_SECRET", SECRET)], "HANDRAIL_SLACK_BOT_TOKEN"),
        (
            vec![
                ("HANDRAIL_SLACK_BOT_TOKEN", TOKEN),
                ("HANDRAIL_SLACK_SIGNING_SECRET", SECRET),
                ("HANDRAIL_SLACK_API_URL", "ftp://slack.example/api"),
            ],
            "HANDRAIL_SLACK_API_URL",
        ),
        (
            // The default outbound policy (`public`) refuses loopback.
            vec![
                ("HANDRAIL_SLACK_BOT_TOKEN", TOKEN),
                ("HANDRAIL_SLACK_SIGNING_SECRET", SECRET),
                ("HANDRAIL_SLACK_API_URL", "http://127.0.0.1:1/api"),
                ("HANDRAIL_OUTBOUND_NETWORKS", "public"),
            ],
            "HANDRAIL_OUTBOUND_NETWORKS",
        ),
    ] {
        let dir = fresh_dir("badslack");
        let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(&dir)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{env:?} started: {all}");
        assert!(all.contains(says), "{env:?}: {all}");
        assert!(!all.contains("hunter2"), "{env:?}: {all}");
    }
}

#[test]
fn a_reminder_replies_in_the_thread_of_a_pending_requests_message_only() {
    let api = SlackApi::start();
    let mut env = slack_env();
    env.push(("HANDRAIL_SLACK_API_URL", &api.url));
    let server = Server::fresh_with("remind", &env);
    let mut channel = finance();
    channel["remind_after_secs"] = json!(10);
    let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&channel));
    assert_eq!((status, &answer["remind_after_secs"]), (201, &json!(10)), "{answer}");
    let create = |service: &str| {
        let (status, created) = server.call(
            "POST",
            "/v1/requests",
            &server.agent,
            Some(&json!({"service": service, "action": "wire", "role": "finance", "payload": {"amount": 1}})),
        );
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_string()
    };
    let (pending, decided) = (create("pending"), create("decided"));
    let posted = api.wait_for("chat.postMessage", 2);
    assert_eq!(posted.len(), 2, "{posted:?}");
    let (status, answer) = server.call(
        "POST",
        &format!("/v1/requests/{decided}/resolve"),
        &server.operator,
        Some(&json!({"decision": "reject", "reason": "no"})),
    );
    assert_eq!(status, 200, "{answer}");

    let sent = [("sent".to_string(), "sent".to_string())];
    assert_eq!(common::reminders_done(&server.dir, &pending), sent);
    let skipped = [("sent".to_string(), "not sent: the request is REJECTED".to_string())];
    assert_eq!(common::reminders_done(&server.dir, &decided), skipped);
    // The pending request's message got one reply in its thread, shown in the channel too.
    let calls = api.calls.lock().unwrap().clone();
    let ts_of = |id: &str| {
        let index = calls
            .iter()
            .rposition(|c| {
                c.path == "/api/chat.postMessage"
                    && c.body.to_string().contains(id)
                    && c.body.get("thread_ts").is_none()
            })
            .unwrap();
        json!(format!("1700000000.{:06}", index + 1))
    };
    let replies: Vec<&Call> = calls.iter().filter(|c| c.body.get("thread_ts").is_some()).collect();
    assert_eq!(replies.len(), 1, "{calls:?}");
    let reply = &replies[0].body;
    assert_eq!(replies[0].path, "/api/chat.postMessage");
    assert_eq!(
        (&reply["channel"], &reply["thread_ts"], &reply["reply_broadcast"]),
        (&json!("C0FINANCE1"), &ts_of(&pending), &json!(true))
    );
    let text = reply["text"].as_str().unwrap();
    assert!(
        text.starts_with("Reminder: this request still waits for a decision")
            && text.contains("pending wire"),
        "{text}"
    );
}
