//! `handrail serve` as users run it: the real binary on 127.0.0.1:0, a temporary data
//! directory, HTTP from the outside.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{read_request, Server};
use handrail_core::proof::{self, Expect, Verifier};
use handrail_server::store::Role;
use serde_json::{json, Value};

fn refund(amount: u64) -> Value {
    json!({
        "service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": amount},
        "priority": "high",
        "schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number", "maximum": 1000}}}
    })
}

#[test]
fn the_whole_loop_with_an_edit_and_a_verifiable_proof() {
    let server = Arc::new(Server::fresh("loop"));
    let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&refund(500)));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["status"], "PENDING");

    let waiter = {
        let server = server.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            let (status, row) =
                server.call("GET", &format!("/v1/requests/{id}/wait?timeout=30"), &server.agent, None);
            (status, row, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // An edit that breaks the agent's schema is refused; the request stays pending.
    let (status, err) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "approve", "payload": {"charge": "ch_1", "amount": 5000}})),
    );
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("edit_invalid")), "{err}");
    let (status, decision) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "approve", "payload": {"charge": "ch_1", "amount": 50}})),
    );
    assert_eq!(status, 200, "{decision}");
    let (status, row, waited) = waiter.join().unwrap();
    assert_eq!(status, 200);
    assert!(waited < Duration::from_secs(10), "the waiter was released by the decision, not the timeout");
    let d = &row["decision"];
    assert_eq!(d["status"], "APPROVED_WITH_MODIFICATIONS");
    assert_eq!(d["payload"], json!({"charge": "ch_1", "amount": 50}));
    assert_eq!(d["diff"]["ops"], json!([{"op": "replace", "path": "/amount", "value": 50}]));

    // The proof verifies offline with the published keys, for this request and this edit.
    let (_, jwks) = server.call("GET", "/v1/keys/proof", &server.agent, None);
    let verifier = Verifier::from_jwks(&jwks).unwrap();
    let requested =
        json!({"service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": 500}});
    let req_digest = proof::digest(requested.to_string()).unwrap();
    let pat_digest = proof::digest(d["payload"].to_string()).unwrap();
    let expect = Expect {
        request_id: &id,
        request_digest: Some(&req_digest),
        decision: Some("APPROVED_WITH_MODIFICATIONS"),
        patched_digest: Some(&pat_digest),
        project: Some(&server.project),
        issuer: jwks["issuer"].as_str(),
    };
    assert!(jwks["issuer"].as_str().is_some_and(|i| i.starts_with("srv_")), "{jwks}");
    let now = d["decided_at"].as_i64().unwrap();
    verifier.verify(d["proof"].as_str().unwrap(), now, &expect).unwrap();

    // Decided once: a second decision is refused.
    let (status, _) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "reject"})),
    );
    assert_eq!(status, 409);
}

#[test]
fn one_idempotency_key_one_request() {
    let server = Arc::new(Server::fresh("idem"));
    let threads: Vec<_> = (0..500)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || {
                server.call_with_key(
                    "POST",
                    "/v1/requests",
                    &server.agent,
                    Some(&refund(7)),
                    Some("order-42"),
                )
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        answers.iter().all(|(status, _)| *status == 201),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(answers.iter().all(|(_, body)| *body == answers[0].1), "every answer is the same request");
    let (_, list) = server.call("GET", "/v1/requests", &server.agent, None);
    assert_eq!(list["requests"].as_array().unwrap().len(), 1);
    let (status, err) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&refund(8)), Some("order-42"));
    assert_eq!((status, err["error"]["code"].as_str()), (422, Some("idempotency_mismatch")));
}

#[test]
fn roles_projects_limits_and_errors() {
    let server = Server::fresh("guards");
    let (_, created) = server.call("POST", "/v1/requests", &server.agent, Some(&refund(1)));
    let id = created["id"].as_str().unwrap();
    // Agents never approve themselves.
    let (status, err) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.agent,
        Some(&json!({"decision": "approve"})),
    );
    assert_eq!((status, err["error"]["code"].as_str()), (403, Some("forbidden")));
    // Another project sees nothing of this one.
    let store = common::open_store(&server.dir);
    store.add_project("prj_other", "other", 0).unwrap();
    store
        .add_key("key_other", &handrail_server::token_hash("hr_agent_other"), "prj_other", Role::Agent, 0)
        .unwrap();
    let (status, _) = server.call("GET", &format!("/v1/requests/{id}"), "hr_agent_other", None);
    assert_eq!(status, 404);
    let (_, list) = server.call("GET", "/v1/requests", "hr_agent_other", None);
    assert_eq!(list["requests"], json!([]));
    assert_ne!(server.project, "prj_other");
    // No token, a wrong one, an oversized body, malformed JSON.
    assert_eq!(server.call("GET", "/v1/requests", "nope", None).0, 401);
    let big = json!({"service": "s", "action": "a", "payload": "x".repeat(2 << 20)});
    let (status, err) = server.call("POST", "/v1/requests", &server.agent, Some(&big));
    assert_eq!((status, err["error"]["code"].as_str()), (413, Some("too_large")));
    let dup = ureq::post(&format!("{}/v1/requests", server.url))
        .set("Authorization", &format!("Bearer {}", server.agent))
        .send_string(r#"{"service":"s","service":"t","action":"a","payload":{}}"#);
    match dup {
        Err(ureq::Error::Status(400, r)) => {
            let body: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
            assert_eq!(body["error"]["code"], "duplicate_key");
        }
        other => panic!("expected 400, got {other:?}"),
    }
}

#[test]
fn deadlines_expire_fail_closed_and_wake_waiters() {
    let server = Server::fresh("expiry");
    let mut req = refund(3);
    req["timeout_secs"] = json!(1);
    let (_, created) = server.call("POST", "/v1/requests", &server.agent, Some(&req));
    let id = created["id"].as_str().unwrap();
    let started = Instant::now();
    let (status, row) =
        server.call("GET", &format!("/v1/requests/{id}/wait?timeout=20"), &server.agent, None);
    assert_eq!(status, 200);
    assert_eq!(row["status"], "EXPIRED", "{row}");
    assert_eq!(row["decision"]["actor"], "system");
    assert!(row["decision"].get("payload").is_none(), "an expired request carries nothing to act on");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn kill_9_during_200_in_flight_creates_loses_nothing_acknowledged() {
    let mut server = Server::fresh("inflight");
    let url = server.url.clone();
    let agent = server.agent.clone();
    let threads: Vec<_> = (0..200)
        .map(|i| {
            let (url, agent) = (url.clone(), agent.clone());
            std::thread::spawn(move || {
                let r = ureq::post(&format!("{url}/v1/requests"))
                    .set("Authorization", &format!("Bearer {agent}"))
                    .set("Idempotency-Key", &format!("inflight-{i}"))
                    .timeout(Duration::from_secs(10))
                    .send_string(&refund(i).to_string());
                match r {
                    Ok(r) if r.status() == 201 => {
                        let v: Value = serde_json::from_str(&r.into_string().ok()?).ok()?;
                        Some((i, v["id"].as_str()?.to_string()))
                    }
                    _ => None,
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(60));
    server.kill(); // SIGKILL while creates are in flight
    let acknowledged: Vec<(u64, String)> = threads.into_iter().filter_map(|t| t.join().unwrap()).collect();
    let dir = server.into_dir();
    let again = Server::start(dir);
    for (_, id) in &acknowledged {
        assert_eq!(
            again.call("GET", &format!("/v1/requests/{id}"), &agent, None).0,
            200,
            "{id} was acknowledged"
        );
    }
    // Retrying every create with its key never makes a second request.
    for i in 0..200u64 {
        let (status, body) = again.call_with_key(
            "POST",
            "/v1/requests",
            &agent,
            Some(&refund(i)),
            Some(&format!("inflight-{i}")),
        );
        assert_eq!(status, 201, "{body}");
        if let Some((_, id)) = acknowledged.iter().find(|(n, _)| *n == i) {
            assert_eq!(body["id"].as_str(), Some(id.as_str()), "an acknowledged create replays");
        }
    }
    let (_, list) = again.call("GET", "/v1/requests?limit=1000", &agent, None);
    assert_eq!(list["requests"].as_array().unwrap().len(), 200, "none twice");
}

#[test]
fn acknowledged_requests_survive_kill_9() {
    let mut server = Server::fresh("crash");
    let ids: Vec<String> = (0..20)
        .map(|i| {
            let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&refund(i)));
            assert_eq!(status, 201);
            created["id"].as_str().unwrap().to_string()
        })
        .collect();
    server.kill(); // SIGKILL: no graceful shutdown
    let (agent, project) = (server.agent.clone(), server.project.clone());
    let dir = server.into_dir();
    let again = Server::start(dir);
    assert_eq!(
        (again.agent.as_str(), again.project.as_str()),
        (agent.as_str(), project.as_str()),
        "no second bootstrap"
    );
    for id in &ids {
        assert_eq!(again.call("GET", &format!("/v1/requests/{id}"), &agent, None).0, 200);
    }
    let (_, list) = again.call("GET", "/v1/requests?limit=1000", &agent, None);
    assert_eq!(list["requests"].as_array().unwrap().len(), ids.len(), "none lost, none twice");
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_handrail")).args(args).envs(env.iter().copied()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn operator_cli_and_the_audit_chain() {
    let server = Server::fresh("audit");
    let env = [("HANDRAIL_URL", server.url.as_str()), ("HANDRAIL_OPERATOR_TOKEN", server.operator.as_str())];
    let ids: Vec<String> = (0..3)
        .map(|i| {
            server.call("POST", "/v1/requests", &server.agent, Some(&refund(10 + i))).1["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let (code, out, err) = cli(&["approve", &ids[0], "--edit", r#"{"charge":"ch_1","amount":5}"#], &env);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("APPROVED_WITH_MODIFICATIONS") && out.contains("amount: 10 → 5"), "{out}");
    let (code, out, _) = cli(&["reject", &ids[1], "--reason", "duplicate refund"], &env);
    assert_eq!((code, out.trim()), (0, format!("{}: REJECTED", ids[1]).as_str()));
    let (code, out, _) = cli(&["requests", "ls", "--status", "pending", "--json"], &env);
    assert_eq!(code, 0);
    let pending: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    let (code, _, err) = cli(&["approve", &ids[1]], &env);
    assert_eq!(code, 2);
    assert!(err.starts_with("error[already_decided]"), "{err}");

    // A new agent key works at once; keys are listed without their tokens.
    let (code, token, err) = cli(&["keys", "new", "--role", "agent"], &env);
    assert_eq!(code, 0, "{err}");
    let token = token.trim();
    assert!(token.starts_with("hr_agent_"));
    assert_eq!(server.call("GET", "/v1/requests", token, None).0, 200);
    assert_eq!(server.call("POST", "/v1/keys", token, Some(&json!({"role": "operator"}))).0, 403);
    let (_, keys, _) = cli(&["keys", "ls"], &env);
    assert_eq!(keys.lines().count(), 3, "{keys}");
    assert!(!keys.contains("hr_"), "tokens are never listed");

    // The project's creation, 3 creates + 2 decisions and the new key, chained.
    let store = server.store_args();
    let verify: Vec<&str> = ["audit", "verify"].into_iter().chain(store.iter().map(String::as_str)).collect();
    let (code, out, err) = cli(&verify, &[]);
    assert_eq!((code, out.lines().next()), (0, Some("audit chain intact: 7 entries")), "{err}");
    let export: Vec<&str> = ["audit", "export"].into_iter().chain(store.iter().map(String::as_str)).collect();
    let (_, export, _) = cli(&export, &[]);
    let file = server.dir.join("audit.jsonl");
    std::fs::write(&file, &export).unwrap();
    assert_eq!(cli(&["audit", "verify", "--file", file.to_str().unwrap()], &[]).0, 0);

    // Someone edits the edited approval's entry in the database: verification fails there.
    let (rows, _) = common::sql(
        &server.dir,
        "SELECT seq, entry FROM audit WHERE entry LIKE '%APPROVED_WITH_MODIFICATIONS%'",
    );
    let (seq, entry) = (&rows[0][0], &rows[0][1]);
    let forged = entry.replace("APPROVED_WITH_MODIFICATIONS", "APPROVED");
    assert_ne!(&forged, entry);
    let update = format!("UPDATE audit SET entry = {} WHERE seq = {seq}", common::quote(&forged));
    assert_eq!(common::sql(&server.dir, &update).1, 1);
    let (code, _, err) = cli(&verify, &[]);
    assert_eq!(code, 1);
    assert!(err.starts_with(&format!("error[audit_broken]: audit chain broken at entry {seq}")), "{err}");
}

/// A webhook receiver on 127.0.0.1 that fails its first `failures` deliveries with 500.
/// What the receiver saw of one delivery: headers, body, the status it answered.
type Received = (Vec<(String, String)>, String, u16);

fn receiver(failures: usize) -> (String, std::sync::mpsc::Receiver<Received>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            // A connection closed before the whole request came is seen as an empty one.
            let (headers, body) = read_request(&mut stream).unwrap_or_default();
            let status = if n < failures { 500 } else { 200 };
            let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send((headers, body, status));
        }
    });
    (url, rx)
}

#[test]
fn webhooks_are_signed_retried_and_logged() {
    let server = Server::fresh("hooks");
    let (url, rx) = receiver(2);
    let (status, hook) = server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({ "url": url })));
    assert_eq!(status, 201, "{hook}");
    let secret = handrail_core::webhook::Secret::parse(hook["secret"].as_str().unwrap()).unwrap();
    assert_eq!(server.call("POST", "/v1/webhooks", &server.agent, Some(&json!({ "url": url }))).0, 403);

    let (_, created) = server.call("POST", "/v1/requests", &server.agent, Some(&refund(9)));
    let id = created["id"].as_str().unwrap();
    server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "reject", "reason": "no"})),
    );

    // created: 500, 500, then 200 (retried); resolved: 200. Every delivery verifies.
    let mut got = Vec::new();
    while got.iter().filter(|(_, _, s)| *s == 200).count() < 2 {
        got.push(rx.recv_timeout(Duration::from_secs(20)).expect("a delivery"));
    }
    let mut events = Vec::new();
    for (headers, body, status) in &got {
        let h = |k: &str| headers.iter().find(|(name, _)| name == k).map(|(_, v)| v.as_str()).unwrap();
        let hdrs = handrail_core::webhook::Headers {
            id: h("webhook-id"),
            timestamp: h("webhook-timestamp"),
            signature: h("webhook-signature"),
        };
        let now = h("webhook-timestamp").parse().unwrap();
        handrail_core::webhook::verify(std::slice::from_ref(&secret), &hdrs, body.as_bytes(), now, 300)
            .unwrap();
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["data"]["id"], id);
        if *status == 200 {
            events.push(event["type"].as_str().unwrap().to_string());
        }
    }
    events.sort();
    assert_eq!(events, ["request.created", "request.resolved"]);
    assert!(got.len() >= 4, "the failed deliveries were retried");

    let hook_id = hook["id"].as_str().unwrap();
    // The receiver has the last delivery a moment before the worker records its answer:
    // read the log until both are recorded (bounded), then check it.
    let read_log = || {
        let (_, log) =
            server.call("GET", &format!("/v1/webhooks/{hook_id}/deliveries"), &server.operator, None);
        log["deliveries"].as_array().unwrap().clone()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = read_log();
    while !log.iter().all(|d| d["state"] == "delivered") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = read_log();
    }
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:?}");
    let attempts: i64 = log.iter().map(|d| d["attempts"].as_i64().unwrap()).sum();
    assert_eq!(attempts as usize, got.len(), "every attempt is in the log");
    // Manual redelivery sends it once more.
    let first = log[0]["id"].as_str().unwrap();
    assert_eq!(
        server.call("POST", &format!("/v1/deliveries/{first}/redeliver"), &server.operator, None).0,
        202
    );
    let (headers, _, _) = rx.recv_timeout(Duration::from_secs(20)).expect("the redelivery");
    assert!(headers.iter().any(|(k, v)| k == "webhook-id" && v == first));
    // Unknown routes answer in the error format too.
    let (status, err) = server.call("GET", "/v1/nothing", &server.operator, None);
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_found")));
}

#[test]
fn rate_limits_answer_429_with_retry_after_and_metrics_count() {
    let dir = std::env::temp_dir().join(format!("handrail-serve-rate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = Server::start_with(dir, &[("HANDRAIL_RATE_LIMIT", "5")]);
    let mut limited = None;
    for _ in 0..40 {
        let response = ureq::get(&format!("{}/v1/requests", server.url))
            .set("Authorization", &format!("Bearer {}", server.agent))
            .call();
        if let Err(ureq::Error::Status(429, r)) = response {
            limited = Some((r.header("retry-after").map(String::from), r.into_string().unwrap()));
            break;
        }
    }
    let (retry_after, body) = limited.expect("a burst beyond the limit is refused");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    assert!(body.contains("rate_limited"));
    // The operator's token has its own bucket.
    assert_eq!(server.call("GET", "/v1/requests", &server.operator, None).0, 200);
    let metrics = ureq::get(&format!("{}/metrics", server.url)).call().unwrap().into_string().unwrap();
    assert!(metrics.contains("# TYPE handrail_rate_limited_total counter"), "{metrics}");
    let limited_count = metrics
        .lines()
        .find_map(|l| l.strip_prefix("handrail_rate_limited_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap();
    assert!(limited_count >= 1);
}

#[test]
fn the_queue_streams_live_as_server_sent_events() {
    let server = Server::fresh("sse");
    assert_eq!(
        ureq::get(&format!("{}/v1/events", server.url))
            .set("Authorization", &format!("Bearer {}", server.agent))
            .call()
            .err()
            .map(|e| match e {
                ureq::Error::Status(s, _) => s,
                _ => 0,
            }),
        Some(403),
        "agents do not watch the queue"
    );
    let response = ureq::get(&format!("{}/v1/events", server.url))
        .set("Authorization", &format!("Bearer {}", server.operator))
        .call()
        .unwrap();
    assert!(response.content_type().starts_with("text/event-stream"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(response.into_reader()).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(200));
    let (_, created) = server.call("POST", "/v1/requests", &server.agent, Some(&refund(4)));
    let id = created["id"].as_str().unwrap();
    server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "approve"})),
    );
    // A request too large to travel in the event channel is read from the store when sent:
    // the stream still carries all of it.
    let large = json!({"service": "s3", "action": "put", "payload": {"blob": "x".repeat(100_000)}});
    let (status, _) = server.call("POST", "/v1/requests", &server.agent, Some(&large));
    assert_eq!(status, 201);
    let mut seen = Vec::new();
    let mut data = Vec::new();
    while seen.len() < 3 {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("an event");
        if let Some(event) = line.strip_prefix("event: ") {
            seen.push(event.to_string());
        } else if let Some(d) = line.strip_prefix("data: ") {
            data.push(serde_json::from_str::<Value>(d).unwrap());
        }
    }
    assert_eq!(seen, ["request.created", "request.resolved", "request.created"]);
    while data.len() < 3 {
        let line = rx.recv_timeout(Duration::from_secs(10)).expect("its data");
        if let Some(d) = line.strip_prefix("data: ") {
            data.push(serde_json::from_str::<Value>(d).unwrap());
        }
    }
    assert_eq!(data[1]["status"], "APPROVED");
    assert_eq!(data[2]["payload"], large["payload"]);
}

#[test]
fn the_queue_lists_newest_first_even_within_one_second() {
    let server = Server::fresh("order");
    let ids: Vec<String> = (0..6)
        .map(|i| {
            let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&refund(i)));
            assert_eq!(status, 201);
            created["id"].as_str().unwrap().to_string()
        })
        .collect();
    let (_, list) = server.call("GET", "/v1/requests", &server.operator, None);
    let listed: Vec<String> =
        list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let newest_first: Vec<String> = ids.into_iter().rev().collect();
    assert_eq!(listed, newest_first);
}
