//! Slack channels, end to end on the real binary: created only when the server holds a Slack
//! app's credentials, validated, audited, listed without any secret. Posting to Slack and
//! deciding from its buttons come in a later slice.

mod common;

use std::process::Command;

use common::{fresh_dir, Server};
use serde_json::json;

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
