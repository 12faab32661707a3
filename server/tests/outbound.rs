//! The outbound policy and delivery isolation, against the real server: which webhook URLs
//! are refused at registration, that a policy refusal is logged as such and connects to
//! nothing, that a hanging endpoint delays only itself, and that an endpoint failing for
//! long enough is disabled and re-enabled by an update.

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::net::TcpListener;
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use common::{read_request, Server};
use serde_json::{json, Value};

/// The tests' overall bound on waiting for something to happen (not a measured time).
const PATIENCE: Duration = Duration::from_secs(120);

/// A receiver on 127.0.0.1 answering 204; sends each delivery's `webhook-id`.
fn receiver() -> (String, Receiver<String>) {
    receiver_on(TcpListener::bind("127.0.0.1:0").unwrap())
}

fn receiver_on(listener: TcpListener) -> (String, Receiver<String>) {
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                while let Some((headers, _)) = read_request(&mut stream) {
                    let _ = write!(stream, "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
                    let id = headers.iter().find(|(k, _)| k == "webhook-id").map(|(_, v)| v.clone());
                    if tx.send(id.unwrap_or_default()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (url, rx)
}

/// An endpoint that accepts connections and never answers; counts the connections.
fn hanging() -> (String, Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // kept open, never read from or answered
            let _ = tx.send(());
        }
    });
    (url, rx)
}

fn refund(i: u64) -> Value {
    json!({ "service": "stripe", "action": "refund", "payload": {"charge": format!("ch_{i}"), "amount": i} })
}

fn add_webhook(server: &Server, url: &str) -> (u16, Value) {
    server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({ "url": url })))
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
fn webhook_urls_the_policy_refuses_are_422_url_forbidden() {
    let public = Server::fresh_with("public", &[("HANDRAIL_OUTBOUND_NETWORKS", "public")]);
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost:8080/hook",
        "http://Api.LOCALHOST./hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://100.64.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://0.0.0.0:8787/",
        "http://2130706433/",
        "http://[64:ff9b::7f00:1]/",
    ] {
        let (status, body) = add_webhook(&public, url);
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("url_forbidden")), "{url}: {body}");
    }
    for url in ["ftp://example.com/", "http://user:pw@example.com/", "not a url"] {
        let (status, body) = add_webhook(&public, url);
        assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_url")), "{url}: {body}");
    }
    // A host name is checked when it resolves, at each delivery.
    let (status, body) = add_webhook(&public, "https://hooks.example.com/handrail");
    assert_eq!(status, 201, "{body}");
    let (_, list) = public.call("GET", "/v1/webhooks", &public.operator, None);
    assert_eq!(list["webhooks"][0]["disabled"], false, "{list}");
    // LetsPing callback URLs follow the same policy.
    let ingest = json!({
        "service": "billing", "action": "refund", "payload": {"amount": 1},
        "metadata": {"callback_url": "http://127.0.0.1:9/lp"},
    });
    let (status, body) = public.call("POST", "/compat/letsping/api/ingest", &public.agent, Some(&ingest));
    assert_eq!((status, body["code"].as_str()), (400, Some("LETSPING_CALLBACK_URL_INVALID")), "{body}");
    drop(public);

    // `private`: loopback and private ranges are allowed, metadata and link-local never.
    let private = Server::fresh_with("private", &[("HANDRAIL_OUTBOUND_NETWORKS", "private")]);
    for url in ["http://127.0.0.1:8080/hook", "http://localhost:8080/hook", "http://10.0.0.7/hook"] {
        assert_eq!(add_webhook(&private, url).0, 201, "{url}");
    }
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.170.2/v2/credentials",
        "http://100.100.100.200/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
    ] {
        let (status, body) = add_webhook(&private, url);
        assert_eq!((status, body["error"]["code"].as_str()), (422, Some("url_forbidden")), "{url}: {body}");
    }
}

#[test]
fn the_deprecated_callback_networks_name_still_sets_the_policy() {
    let dir = common::fresh_dir("alias");
    // The harness sets HANDRAIL_OUTBOUND_NETWORKS=private; an empty value leaves it unset.
    let server = Server::start_with(
        dir,
        &[("HANDRAIL_OUTBOUND_NETWORKS", ""), ("HANDRAIL_CALLBACK_NETWORKS", "local")],
    );
    assert_eq!(add_webhook(&server, "http://127.0.0.1:8080/hook").0, 201);
    drop(server);
    let server = Server::fresh_with(
        "alias-public",
        &[("HANDRAIL_OUTBOUND_NETWORKS", ""), ("HANDRAIL_CALLBACK_NETWORKS", "public")],
    );
    assert_eq!(add_webhook(&server, "http://127.0.0.1:8080/hook").0, 422);
}

#[test]
fn an_unknown_networks_value_stops_the_server_at_start() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handrail"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(common::fresh_dir("bad-networks"))
        .env("HANDRAIL_OUTBOUND_NETWORKS", "everything")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HANDRAIL_OUTBOUND_NETWORKS=everything"), "{stderr}");
}

#[test]
fn a_delivery_the_policy_refuses_is_logged_as_such_and_connects_to_nothing() {
    // Registered while loopback was allowed, then the server restarts with `public`.
    let server = Server::fresh("refused");
    let (url, rx) = receiver();
    let (status, hook) = add_webhook(&server, &url);
    assert_eq!(status, 201, "{hook}");
    let hook = hook["id"].as_str().unwrap().to_string();
    assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&refund(1))).0, 201);
    rx.recv_timeout(PATIENCE).expect("delivered while allowed");
    let path = format!("/v1/webhooks/{hook}/deliveries");
    until(
        "the delivery was recorded",
        || server.call("GET", &path, &server.operator, None).1["deliveries"].clone(),
        |log| log[0]["state"] == "delivered",
    );
    let server = Server::start_with(server.into_dir(), &[("HANDRAIL_OUTBOUND_NETWORKS", "public")]);
    assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&refund(2))).0, 201);
    let log = until(
        "the refused delivery was attempted twice",
        || server.call("GET", &path, &server.operator, None).1["deliveries"].clone(),
        |log| log[0]["attempts"].as_i64() >= Some(2),
    );
    assert_eq!(log[0]["last_outcome"], "refused by policy", "{log}");
    assert_eq!(log[0]["state"], "pending", "retried like any failure: {log}");
    assert_eq!(log[1]["state"], "delivered", "{log}");
    assert!(rx.try_recv().is_err(), "a refused address was connected to");
}

#[test]
fn failures_are_logged_by_class_without_the_remote_words() {
    let server = Server::fresh("classes");
    // Nothing listens on this port any more: the connection is refused.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    // This one answers 503 with a body that must not reach the log.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_url = format!("http://{}/hook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = read_request(&mut stream);
            let body = "internal-host-7.corp: upstream db-3 down";
            let _ = write!(stream, "HTTP/1.1 503 Busy\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        }
    });
    let ids: Vec<String> = [&closed_url, &busy_url]
        .iter()
        .map(|url| add_webhook(&server, url).1["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&refund(3))).0, 201);
    for (id, want) in ids.iter().zip(["connection failed", "HTTP 5xx"]) {
        let path = format!("/v1/webhooks/{id}/deliveries");
        let log = until(
            "an attempt was logged",
            || server.call("GET", &path, &server.operator, None).1["deliveries"].clone(),
            |log| log[0]["attempts"].as_i64() >= Some(1),
        );
        assert_eq!(log[0]["last_outcome"], want, "{log}");
    }
}

#[test]
fn a_hanging_endpoint_does_not_delay_a_healthy_one() {
    let server = Server::fresh("isolation");
    let (stuck_url, stuck) = hanging();
    let (ok_url, ok) = receiver();
    assert_eq!(add_webhook(&server, &stuck_url).0, 201);
    assert_eq!(add_webhook(&server, &ok_url).0, 201);
    // Each request queues one delivery to each endpoint: 300 to the one that never answers.
    let n = 300;
    for i in 0..n {
        assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&refund(i))).0, 201);
    }
    let mut seen = HashSet::new();
    while seen.len() < n as usize {
        let id = ok.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("{} of {n} delivered", seen.len()));
        seen.insert(id);
    }
    // The hanging endpoint was tried, but it held no more than its own few slots.
    assert!(stuck.try_iter().count() >= 1, "the hanging endpoint was tried");
}

/// An endpoint that accepts connections and never answers, and tracks how many it holds
/// open at once (a connection ends when the server gives up on it): (url, the most at once).
fn hanging_counted() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::Read;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (open, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let seen = most.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            let open = open.clone();
            std::thread::spawn(move || {
                let mut sink = [0u8; 4096];
                while stream.read(&mut sink).is_ok_and(|n| n > 0) {}
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (url, seen)
}

#[test]
fn callback_urls_agents_name_never_take_more_than_half_of_the_slots() {
    let server = Server::fresh("callbacks");
    let (stuck, most) = hanging_counted();
    let (ok_url, ok) = receiver();
    assert_eq!(add_webhook(&server, &ok_url).0, 201);
    // 60 requests naming 60 different callback URLs that never answer (each its own
    // "endpoint"), each decided: 60 callbacks hang beside 120 endpoint deliveries.
    let n = 60;
    for i in 0..n {
        let mut body = refund(i);
        body["context"] =
            json!({"compat": "letsping", "metadata": {"callback_url": format!("{stuck}/cb/{i}")}});
        let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap();
        let decision = json!({"decision": "reject", "reason": "no"});
        let (status, _) =
            server.call("POST", &format!("/v1/requests/{id}/resolve"), &server.operator, Some(&decision));
        assert_eq!(status, 200);
    }
    let mut seen = HashSet::new();
    while seen.len() < 2 * n as usize {
        let id =
            ok.recv_timeout(PATIENCE).unwrap_or_else(|_| panic!("{} of {} delivered", seen.len(), 2 * n));
        seen.insert(id);
    }
    let most = most.load(std::sync::atomic::Ordering::SeqCst);
    assert!(most >= 1, "the callbacks were tried");
    assert!(most <= 16, "{most} callbacks in flight at once, beyond half of the 32 slots");
}

#[test]
fn an_endpoint_failing_for_long_enough_is_disabled_until_updated() {
    let server = Server::fresh_with("disable", &[("HANDRAIL_WEBHOOK_DISABLE_AFTER_SECS", "1")]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener); // refused until a receiver binds the port again
    let (status, hook) = add_webhook(&server, &format!("http://{addr}/hook"));
    assert_eq!(status, 201, "{hook}");
    let id = hook["id"].as_str().unwrap().to_string();
    assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&refund(4))).0, 201);
    let list = until(
        "the endpoint was disabled",
        || server.call("GET", "/v1/webhooks", &server.operator, None).1,
        |list| list["webhooks"][0]["disabled"] == true,
    );
    assert_eq!(list["webhooks"][0]["id"], id.as_str());
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    let entries = audit["entries"].as_array().unwrap();
    let disabled: Vec<&Value> = entries.iter().filter(|e| e["event"] == "webhook.disabled").collect();
    assert_eq!(disabled.len(), 1, "{audit}");
    assert_eq!((&disabled[0]["actor"], &disabled[0]["subject"]), (&json!("system"), &json!(id)));

    // Disabled: its delivery waits. An operator's update re-enables it and it is delivered.
    let (url, rx) = receiver_on(TcpListener::bind(addr).unwrap());
    assert!(url.ends_with("/hook"));
    let (status, updated) = server.call(
        "PATCH",
        &format!("/v1/webhooks/{id}"),
        &server.operator,
        Some(&json!({"disabled": false})),
    );
    assert_eq!((status, &updated["disabled"]), (200, &json!(false)), "{updated}");
    rx.recv_timeout(PATIENCE).expect("delivered once re-enabled");
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    assert!(audit.to_string().contains("webhook.enabled"), "{audit}");
    let (status, body) =
        server.call("PATCH", "/v1/webhooks/wh_nope", &server.operator, Some(&json!({"disabled": false})));
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}
