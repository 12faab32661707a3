//! Several `handrail serve` processes on one PostgreSQL database acting as one server: a
//! decision on one replica releases a waiter on another, live views see every replica's
//! changes, idempotency keys, webhooks and deadlines hold across them, a replica killed with
//! SIGKILL loses nothing it acknowledged, the audit chain stays one chain, and a snapshot
//! uploaded to one downloads from another. Only with `HANDRAIL_TEST_POSTGRES` set (the
//! replicas need a database they share); `scripts/test-rust.sh` starts one.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{read_request, test_postgres, Server};
use serde_json::{json, Value};

/// The tests' overall bound on waiting for something to happen (not a measured time).
const PATIENCE: Duration = Duration::from_secs(120);

/// A first server and its replicas on one database.
struct Replicas(Vec<Server>);

impl std::ops::Deref for Replicas {
    type Target = [Server];
    fn deref(&self) -> &[Server] {
        &self.0
    }
}

impl std::ops::DerefMut for Replicas {
    fn deref_mut(&mut self) -> &mut [Server] {
        &mut self.0
    }
}

impl Drop for Replicas {
    /// The replicas stop before the first server drops the database they are on.
    fn drop(&mut self) {
        while let Some(server) = self.0.pop() {
            drop(server);
        }
    }
}

/// The first server and `n - 1` replicas of it, or None (and a note) without PostgreSQL.
fn replicas(name: &str, n: usize) -> Option<Replicas> {
    if test_postgres().is_none() {
        println!("skipped: replicas share a PostgreSQL database; set HANDRAIL_TEST_POSTGRES (scripts/test-rust.sh does)");
        return None;
    }
    let mut all = Replicas(vec![Server::fresh(name)]);
    for i in 1..n {
        let replica = Server::replica_of(&all[0], &i.to_string());
        all.0.push(replica);
    }
    Some(all)
}

fn refund(i: u64) -> Value {
    json!({ "service": "stripe", "action": "refund", "payload": {"charge": format!("ch_{i}"), "amount": i} })
}

fn create(server: &Server, body: &Value) -> String {
    let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(body));
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn resolve(server: &Server, id: &str, decision: &str) -> (u16, Value) {
    server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({ "decision": decision })),
    )
}

/// A webhook receiver on 127.0.0.1 answering 204; sends each delivery's body.
fn receiver() -> (String, Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                while let Some((_, body)) = read_request(&mut stream) {
                    let _ = write!(stream, "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
                    if tx.send(serde_json::from_str(&body).unwrap_or(Value::Null)).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

/// Polls `read` until `done` holds for what it returns, within [`PATIENCE`].
fn until<T: std::fmt::Debug>(what: &str, mut read: impl FnMut() -> T, done: impl Fn(&T) -> bool) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let value = read();
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: still {value:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_decision_on_b_releases_a_waiter_on_a_and_b_wrote_no_bootstrap() {
    let Some(servers) = replicas("wait", 2) else { return };
    let (a, b) = (&servers[0], &servers[1]);
    assert!(a.dir.join("bootstrap.json").exists());
    assert!(
        !b.dir.join("bootstrap.json").exists(),
        "a replica joining an existing database writes no credentials"
    );

    let id = create(a, &refund(1));
    let (status, row) = std::thread::scope(|scope| {
        let waiter =
            scope.spawn(|| a.call("GET", &format!("/v1/requests/{id}/wait?timeout=30"), &a.agent, None));
        // Gives the wait a moment to park first; if the decision comes before, the wait
        // answers the decision at once, which holds the assertion below too.
        std::thread::sleep(Duration::from_millis(300));
        let (status, decided) = resolve(b, &id, "approve");
        assert_eq!(status, 200, "{decided}");
        waiter.join().unwrap()
    });
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["status"], "APPROVED", "the waiter on A was released by B's decision: {row}");
    // Both replicas read the same request, and A refuses a second decision.
    assert_eq!(a.call("GET", &format!("/v1/requests/{id}"), &a.agent, None).1["status"], "APPROVED");
    assert_eq!(resolve(a, &id, "reject").0, 409);
}

#[test]
fn the_live_view_on_a_sees_what_b_and_c_change() {
    let Some(servers) = replicas("sse", 3) else { return };
    let (a, b, c) = (&servers[0], &servers[1], &servers[2]);
    // The stream subscribes before it answers: once its headers are here, nothing is missed.
    let response = ureq::get(&format!("{}/v1/events", a.url))
        .set("Authorization", &format!("Bearer {}", a.operator))
        .call()
        .unwrap();
    assert!(response.content_type().starts_with("text/event-stream"));
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(response.into_reader()).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let id = create(b, &refund(2));
    assert_eq!(resolve(c, &id, "reject").0, 200);
    let mut seen = Vec::new();
    let mut pending_event = None;
    while seen.len() < 2 {
        let line = rx.recv_timeout(PATIENCE).expect("an event on A");
        if let Some(event) = line.strip_prefix("event: ") {
            pending_event = Some(event.to_string());
        } else if let Some(data) = line.strip_prefix("data: ") {
            let data: Value = serde_json::from_str(data).unwrap();
            if let Some(event) = pending_event.take() {
                seen.push((event, data["id"].as_str().unwrap_or("").to_string(), data["status"].clone()));
            }
        }
    }
    // Both changes, each once. Their order is not promised across replicas (B's and C's notes
    // race; docs/DEPLOYMENT.md): each event carries the request as A reads it when its note
    // arrives, so the decision's shows it decided, and the create's shows it pending or decided.
    seen.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[0].0.as_str(), seen[0].1.as_str()), ("request.created", id.as_str()), "{seen:?}");
    assert!(seen[0].2 == json!("PENDING") || seen[0].2 == json!("REJECTED"), "{seen:?}");
    assert_eq!(seen[1], ("request.resolved".to_string(), id.clone(), json!("REJECTED")));
}

#[test]
fn one_idempotency_key_over_three_replicas_is_one_request() {
    let Some(servers) = replicas("idem", 3) else { return };
    let servers = Arc::new(servers);
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let servers = servers.clone();
            std::thread::spawn(move || {
                let server = &servers[i % servers.len()];
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
    let ids: HashSet<&str> = answers.iter().map(|(_, body)| body["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "every answer is the same request: {ids:?}");
    for server in servers.iter() {
        let (_, list) = server.call("GET", "/v1/requests", &server.agent, None);
        assert_eq!(list["requests"].as_array().unwrap().len(), 1, "{list}");
    }
}

#[test]
fn forty_creates_over_three_replicas_are_delivered_once_each() {
    let Some(servers) = replicas("hooks", 3) else { return };
    let (url, rx) = receiver();
    let (status, hook) =
        servers[0].call("POST", "/v1/webhooks", &servers[0].operator, Some(&json!({ "url": url })));
    assert_eq!(status, 201, "{hook}");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let servers = Arc::new(servers);
    let threads: Vec<_> = (0..40u64)
        .map(|i| {
            let servers = servers.clone();
            std::thread::spawn(move || create(&servers[i as usize % servers.len()], &refund(i)))
        })
        .collect();
    let ids: HashSet<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(ids.len(), 40);

    // Every replica runs a delivery worker on the shared table: each event still goes once.
    let mut received: HashMap<String, usize> = HashMap::new();
    while received.len() < ids.len() {
        let event = rx.recv_timeout(PATIENCE).expect("a delivery");
        assert_eq!(event["type"], "request.created", "{event}");
        *received.entry(event["data"]["id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(received.keys().cloned().collect::<HashSet<_>>(), ids);
    // The receiver answers a moment before the worker records it: read the log until every
    // delivery is recorded (bounded), then nothing was sent twice, to the receiver or in it.
    let path = format!("/v1/webhooks/{hook_id}/deliveries");
    let log = until(
        "every delivery recorded",
        || {
            servers[1].call("GET", &path, &servers[1].operator, None).1["deliveries"]
                .as_array()
                .unwrap()
                .clone()
        },
        |log| log.len() >= 40 && log.iter().all(|d| d["state"] == "delivered"),
    );
    assert_eq!(log.len(), 40, "one delivery per event: {log:?}");
    assert!(log.iter().all(|d| d["attempts"] == 1), "{log:?}");
    while let Ok(event) = rx.try_recv() {
        *received.entry(event["data"]["id"].as_str().unwrap_or("").to_string()).or_default() += 1;
    }
    assert!(received.values().all(|&n| n == 1), "delivered twice: {received:?}");
}

#[test]
fn a_deadline_expires_once_with_one_webhook_over_three_replicas() {
    let Some(servers) = replicas("expiry", 3) else { return };
    let (url, rx) = receiver();
    let (status, hook) =
        servers[0].call("POST", "/v1/webhooks", &servers[0].operator, Some(&json!({ "url": url })));
    assert_eq!(status, 201, "{hook}");
    let mut body = refund(3);
    body["timeout_secs"] = json!(1);
    let id = create(&servers[1], &body);
    // Every replica sweeps for due deadlines; the wait on C answers the one expiry.
    let (status, row) =
        servers[2].call("GET", &format!("/v1/requests/{id}/wait?timeout=30"), &servers[2].agent, None);
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["status"], "EXPIRED", "{row}");
    assert_eq!(row["decision"]["actor"], "system");

    let mut types = Vec::new();
    while types.len() < 2 {
        let event = rx.recv_timeout(PATIENCE).expect("a delivery");
        assert_eq!(event["data"]["id"], id.as_str(), "{event}");
        types.push(event["type"].as_str().unwrap().to_string());
    }
    types.sort();
    assert_eq!(types, ["request.created", "request.expired"]);
    let path = format!("/v1/requests/{id}/deliveries");
    let log = until(
        "both deliveries recorded",
        || {
            servers[0].call("GET", &path, &servers[0].operator, None).1["deliveries"]
                .as_array()
                .unwrap()
                .clone()
        },
        |log| log.len() >= 2 && log.iter().all(|d| d["state"] == "delivered"),
    );
    let expired: Vec<_> = log.iter().filter(|d| d["event"] == "request.expired").collect();
    assert_eq!(expired.len(), 1, "{log:?}");
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(rx.try_recv().is_err(), "nothing more was sent");
    let (_, audit) = servers[1].call("GET", "/v1/audit?limit=1000", &servers[1].operator, None);
    let expiries =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["event"] == "request.expired").count();
    assert_eq!(expiries, 1, "{audit}");
}

#[test]
fn kill_9_of_a_replica_during_creates_loses_nothing_it_acknowledged() {
    let Some(mut servers) = replicas("inflight", 2) else { return };
    let (a_url, b_url, agent) = (servers[0].url.clone(), servers[1].url.clone(), servers[0].agent.clone());
    let threads: Vec<_> = (0..200u64)
        .map(|i| {
            let url = if i % 2 == 0 { a_url.clone() } else { b_url.clone() };
            let agent = agent.clone();
            std::thread::spawn(move || {
                let r = ureq::post(&format!("{url}/v1/requests"))
                    .set("Authorization", &format!("Bearer {agent}"))
                    .set("Idempotency-Key", &format!("inflight-{i}"))
                    .timeout(Duration::from_secs(30))
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
    servers[0].kill(); // SIGKILL of A while creates are in flight on both
    let acknowledged: Vec<(u64, String)> = threads.into_iter().filter_map(|t| t.join().unwrap()).collect();
    let b = &servers[1];
    for (_, id) in &acknowledged {
        assert_eq!(
            b.call("GET", &format!("/v1/requests/{id}"), &agent, None).0,
            200,
            "{id} was acknowledged"
        );
    }
    // Retrying every create on the survivor with its key never makes a second request.
    for i in 0..200u64 {
        let (status, body) =
            b.call_with_key("POST", "/v1/requests", &agent, Some(&refund(i)), Some(&format!("inflight-{i}")));
        assert_eq!(status, 201, "{body}");
        if let Some((_, id)) = acknowledged.iter().find(|(n, _)| *n == i) {
            assert_eq!(body["id"].as_str(), Some(id.as_str()), "an acknowledged create replays");
        }
    }
    let (_, list) = b.call("GET", "/v1/requests?limit=1000", &agent, None);
    assert_eq!(list["requests"].as_array().unwrap().len(), 200, "none twice");
}

#[test]
fn the_audit_chain_verifies_after_concurrent_appends_from_every_replica() {
    let Some(servers) = replicas("audit", 3) else { return };
    let servers = Arc::new(servers);
    let threads: Vec<_> = (0..60u64)
        .map(|i| {
            let servers = servers.clone();
            std::thread::spawn(move || {
                let id = create(&servers[i as usize % 3], &refund(i));
                // Every other request is decided on the next replica, while others append.
                if i % 2 == 0 {
                    let (status, body) = resolve(&servers[(i as usize + 1) % 3], &id, "approve");
                    assert_eq!(status, 200, "{body}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
        .args(["audit", "verify"])
        .args(servers[0].store_args())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    // The project's creation, 60 creates and 30 decisions: one chain, nothing lost.
    assert_eq!(stdout.lines().next(), Some("audit chain intact: 91 entries"), "{stdout}{stderr}");
    // Each replica's signed head is the same newest entry.
    let heads: Vec<Value> =
        servers.iter().map(|s| s.call("GET", "/v1/audit/head", &s.operator, None).1).collect();
    assert!(heads.iter().all(|h| h["seq"] == heads[0]["seq"] && h["hash"] == heads[0]["hash"]), "{heads:?}");
}

#[test]
fn a_snapshot_uploaded_through_a_downloads_through_bs_link() {
    let Some(servers) = replicas("snapshot", 2) else { return };
    let (a, b) = (&servers[0], &servers[1]);
    let id = create(a, &refund(5));
    let mut state = vec![0u8; 300_000];
    handrail_core::crypto::fill_random(&mut state).unwrap();
    let put = ureq::put(&format!("{}/v1/requests/{id}/snapshot", a.url))
        .set("Authorization", &format!("Bearer {}", a.agent))
        .set("content-type", "application/octet-stream")
        .send_bytes(&state)
        .unwrap();
    assert_eq!(put.status(), 201);
    let (status, link) = b.call("POST", &format!("/v1/requests/{id}/snapshot/link"), &b.agent, None);
    assert_eq!(status, 200, "{link}");
    let url = format!("{}{}", b.url, link["url"].as_str().unwrap());
    let response = ureq::get(&url).call().unwrap();
    let mut got = Vec::new();
    response.into_reader().read_to_end(&mut got).unwrap();
    assert!(got == state, "B's link serves the bytes uploaded through A");
}
