//! Structured logs of the real binary: one JSON object per line on standard error, a line
//! per request, and nothing that authenticates (tokens, blob links) ever in them.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Server;
use serde_json::Value;

#[test]
fn request_lines_are_json_and_carry_no_secrets() {
    let mut server =
        Server::spawn(common::fresh_dir("requests"), &[("HANDRAIL_LOG", "info")], Stdio::piped());
    let (url, agent, operator) = (server.url.clone(), server.agent.clone(), server.operator.clone());

    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
    let created: Value = serde_json::from_str(
        &http
            .post(&format!("{url}/v1/requests"))
            .set("Authorization", &format!("Bearer {agent}"))
            .send_string(r#"{"service":"stripe","action":"refund","payload":{"amount":5}}"#)
            .unwrap()
            .into_string()
            .unwrap(),
    )
    .unwrap();
    let id = created["id"].as_str().unwrap();
    let _ = http
        .get(&format!("{url}/v1/requests/{id}?secret=querytext"))
        .set("Authorization", "Bearer wrong")
        .call();
    let _ = http.get(&format!("{url}/v1/blobs/linktoken.mac")).call();
    let _ = http
        .get(&format!("{url}/v1/requests"))
        .set("Authorization", &format!("Bearer {operator}"))
        .call()
        .unwrap();

    // SIGTERM: the server drains and exits; then all of stderr can be read.
    terminate(server.child.id());
    let mut stderr = String::new();
    server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let _ = server.child.wait();
    drop(server);

    let entries: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let requests: Vec<&Value> = entries.iter().filter(|e| e["msg"] == "request").collect();
    let statuses: Vec<(String, u64)> = requests
        .iter()
        .map(|e| {
            (
                format!("{} {}", e["method"].as_str().unwrap(), e["path"].as_str().unwrap()),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(statuses.contains(&("POST /v1/requests".into(), 201)), "{statuses:?}");
    assert!(statuses.contains(&(format!("GET /v1/requests/{id}"), 401)), "{statuses:?}");
    assert!(statuses.contains(&("GET /v1/blobs/[redacted]".into(), 403)), "{statuses:?}");
    assert!(requests.iter().all(|e| e["ts"].is_i64() && e["level"].is_string() && e["ms"].is_number()));
    assert!(entries.iter().any(|e| e["msg"] == "listening"));
    assert!(entries.iter().any(|e| e["msg"] == "shutting down"));
    for secret in [agent.as_str(), operator.as_str(), "linktoken", "querytext", "wrong"] {
        assert!(!stderr.contains(secret), "{secret} reached the log");
    }
}

fn terminate(pid: u32) {
    Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
}
