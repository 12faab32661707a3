//! Authority, tried as an attacker would: with an agent key, every route of the server is
//! walked and none yields an approval; a role-limited operator is refused every project-wide
//! power; every change of authority is audited; a revoked token's streams and long-polls end;
//! one agent key never sees another's requests; the store itself refuses an approval without
//! an operator's proof. The real binary on 127.0.0.1:0, a temporary data directory.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{read_request, Server};
use serde_json::{json, Value};

fn code(server: &Server, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, String) {
    let (status, answer) = server.call(method, path, token, body);
    (status, answer["error"]["code"].as_str().unwrap_or("").to_string())
}

fn create(server: &Server, token: &str, body: Value) -> String {
    let (status, created) = server.call("POST", "/v1/requests", token, Some(&body));
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

fn new_key(server: &Server, body: Value) -> (String, String) {
    let (status, key) = server.call("POST", "/v1/keys", &server.operator, Some(&body));
    assert_eq!(status, 201, "{key}");
    (key["key_id"].as_str().unwrap().to_string(), key["token"].as_str().unwrap().to_string())
}

/// Every `(path, methods)` the server's sources register with `.route("…", …)`: the walk is
/// over what the router really holds, so a route added later is walked too.
fn routes() -> Vec<(String, BTreeSet<&'static str>)> {
    fn visit(dir: &Path, out: &mut Vec<(String, BTreeSet<&'static str>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                visit(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let mut rest = text.as_str();
                while let Some(at) = rest.find(".route(") {
                    rest = &rest[at + ".route(".len()..];
                    let trimmed = rest.trim_start();
                    let Some(literal) = trimmed.strip_prefix('"') else { continue };
                    let Some(end) = literal.find('"') else { continue };
                    let route = literal[..end].to_string();
                    // The handlers: up to the parenthesis that closes `.route(`.
                    let mut depth = 1usize;
                    let mut close = 0;
                    for (i, c) in literal[end + 1..].char_indices() {
                        match c {
                            '(' => depth += 1,
                            ')' => {
                                depth -= 1;
                                if depth == 0 {
                                    close = i;
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                    let handlers = &literal[end + 1..end + 1 + close];
                    let mut methods = BTreeSet::new();
                    for (word, method) in
                        [("get(", "GET"), ("post(", "POST"), ("put(", "PUT"), ("delete(", "DELETE")]
                    {
                        let found = handlers
                            .match_indices(word)
                            .any(|(i, _)| i == 0 || !handlers.as_bytes()[i - 1].is_ascii_alphanumeric());
                        if found {
                            methods.insert(method);
                        }
                    }
                    out.push((route, methods));
                }
            }
        }
    }
    let mut out = Vec::new();
    visit(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

#[test]
fn no_route_walked_with_an_agent_key_yields_an_approval() {
    let server = Server::fresh("walk");
    let agent = server.agent.clone();
    let routes = routes();
    let paths: BTreeSet<&str> = routes.iter().map(|(p, _)| p.as_str()).collect();
    for known in [
        "/v1/requests/{id}/resolve",
        "/compat/aegis/api/v1/hitl/approve",
        "/compat/looppause/v1/pauses/{id}",
        "/compat/letsping/api/ingest",
        "/v1/blobs/{token}",
        "/v1/keys/{key_id}",
    ] {
        assert!(paths.contains(known), "the route scan missed {known}: {paths:?}");
    }
    assert!(routes.len() >= 45, "{} routes found", routes.len());

    // Pending requests of every kind the agent can make.
    let mut ids = vec![
        create(&server, &agent, json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}})),
        create(
            &server,
            &agent,
            json!({"service": "bank", "action": "wire", "payload": {"to": "acct_1"}, "role": "finance",
                   "schema": {"type": "object"}}),
        ),
    ];
    let (_, ingested) = server.call(
        "POST",
        "/compat/letsping/api/ingest",
        &agent,
        Some(&json!({"service": "mail", "action": "send", "payload": {"to": "x@example.com"}})),
    );
    ids.push(ingested["id"].as_str().unwrap().to_string());
    let (_, paused) = server.call(
        "POST",
        "/compat/looppause/v1/pauses",
        &agent,
        Some(&json!({"agent_id": "billing", "action": {"type": "refund", "amount": 9}})),
    );
    ids.push(paused["pause_id"].as_str().unwrap().to_string());
    let aegis = ureq::post(&format!("{}/compat/aegis/api/v1/hitl/approve", server.url))
        .set("Authorization", &format!("Bearer {agent}"))
        .set("Idempotency-Key", "walk-1")
        .set("Thread-Id", "t1")
        .send_string(r#"{"action":"delete_repo"}"#)
        .unwrap();
    assert_eq!(aegis.status(), 202);
    let aegis: Value = serde_json::from_str(&aegis.into_string().unwrap()).unwrap();
    ids.push(aegis["request_id"].as_str().unwrap().to_string());
    let (_, link) =
        server.call("POST", &format!("/v1/requests/{}/snapshot/upload-link", ids[0]), &agent, None);
    let token = link["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let (_, me) = server.call("GET", "/v1/keys/me", &server.operator, None);
    let operator_key = me["key_id"].as_str().unwrap().to_string();

    // Every route, every method it takes, for every request, with every body that could
    // mean "approve".
    let bodies = [
        None,
        Some(json!({})),
        Some(json!({"decision": "approve"})),
        Some(json!({"decision": "approve", "payload": {"amount": 1}})),
        Some(json!({"status": "APPROVED", "decision": "approved", "approved": true})),
        Some(json!({"action": "refund"})),
    ];
    let mut calls = 0;
    for (route, methods) in &routes {
        for id in &ids {
            let path = route
                .replace("{id}", id)
                .replace("{token}", &token)
                .replace("{agent}", "walker")
                .replace("{key_id}", &operator_key)
                .replace("{name}", "finance");
            // A long-poll answers within a second here: waiting decides nothing.
            let path = if path.ends_with("/wait") { format!("{path}?timeout=1") } else { path };
            for method in methods {
                // A GET carries no body.
                let bodies = if *method == "GET" { &bodies[..1] } else { &bodies[..] };
                for body in bodies {
                    let response = ureq::request(method, &format!("{}{path}", server.url))
                        .set("Authorization", &format!("Bearer {agent}"))
                        .set("Idempotency-Key", &format!("walk-{calls}"))
                        .set("Thread-Id", "walk")
                        .timeout(Duration::from_secs(5));
                    let result = match body {
                        Some(b) => {
                            response.set("content-type", "application/json").send_string(&b.to_string())
                        }
                        None => response.call(),
                    };
                    match result {
                        Ok(_) | Err(ureq::Error::Status(..)) => {}
                        // A long-poll past the client's patience is no approval either.
                        Err(e) => assert!(path.ends_with("/wait"), "{method} {path}: {e}"),
                    }
                    calls += 1;
                }
            }
            if !route.contains("{id}") {
                break; // one round is enough for a route that names no request
            }
        }
    }
    assert!(calls > 300, "{calls} calls");

    // Nothing the agent did approved anything, in any view.
    let (_, all) = server.call("GET", "/v1/requests?limit=1000", &server.operator, None);
    let all = all["requests"].as_array().unwrap();
    assert!(all.len() >= ids.len());
    for row in all {
        let id = row["id"].as_str().unwrap();
        let status = row["status"].as_str().unwrap();
        assert!(!status.starts_with("APPROVED"), "{id} is {status} after the walk: {row}");
        let (_, lp) =
            server.call("GET", &format!("/compat/letsping/api/status/{id}"), &server.operator, None);
        assert_ne!(lp["status"], "APPROVED", "{lp}");
        let (_, pause) =
            server.call("GET", &format!("/compat/looppause/v1/pauses/{id}"), &server.operator, None);
        assert_ne!(pause["decision"], "approved", "{pause}");
        let (_, aegis) =
            server.call("GET", &format!("/compat/aegis/api/v1/hitl/status/{id}"), &server.operator, None);
        assert_ne!(aegis["status"], "APPROVED", "{aegis}");
    }
    let (_, audit) = server.call("GET", "/v1/audit?limit=1000", &server.operator, None);
    for entry in audit["entries"].as_array().unwrap() {
        let event = entry["event"].as_str().unwrap();
        assert!(event != "request.resolved" && event != "request.self_declared", "{entry}");
    }
    // The operator's token still works: the agent could not revoke it.
    assert_eq!(server.call("GET", "/v1/keys", &server.operator, None).0, 200);
}

#[test]
fn a_role_limited_operator_decides_its_roles_and_holds_no_project_wide_power() {
    let server = Server::fresh("matrix");
    let (_, finance) = new_key(&server, json!({"role": "operator", "roles": ["finance"]}));
    let (_, me) = server.call("GET", "/v1/keys/me", &server.operator, None);
    let admin_key = me["key_id"].as_str().unwrap().to_string();
    let theirs = create(
        &server,
        &server.agent,
        json!({"service": "s", "action": "a", "payload": {}, "role": "legal"}),
    );
    let trusted = json!({"agent": "a1", "events": [{"id": "e1", "session": "s1", "tool": "pay",
        "args": {"to": "acct_9"}, "outcome": "trusted"}]});
    let powers: Vec<(&str, String, Option<Value>)> = vec![
        ("POST", "/v1/webhooks".into(), Some(json!({"url": "http://127.0.0.1:9/hook"}))),
        ("GET", "/v1/webhooks".into(), None),
        ("DELETE", "/v1/webhooks/wh_x".into(), None),
        ("GET", "/v1/webhooks/wh_x/deliveries".into(), None),
        ("POST", "/v1/deliveries/msg_x/redeliver".into(), None),
        ("GET", format!("/v1/requests/{theirs}/deliveries"), None),
        ("POST", "/v1/keys".into(), Some(json!({"role": "agent"}))),
        ("POST", "/v1/keys".into(), Some(json!({"role": "operator", "roles": ["finance"]}))),
        ("GET", "/v1/keys".into(), None),
        ("DELETE", format!("/v1/keys/{admin_key}"), None),
        ("PUT", "/v1/agents/a1/mode".into(), Some(json!({"mode": "enforce"}))),
        ("PUT", "/v1/agents/a1/mode".into(), Some(json!({"mode": "shadow"}))),
        ("PUT", "/v1/agents/a1/budget".into(), Some(json!({"daily_usd": 1000}))),
        ("GET", "/compat/secrets".into(), None),
        ("POST", "/compat/secrets/rotate".into(), Some(json!({}))),
        (
            "POST",
            "/v1/roles".into(),
            Some(json!({"name": "legal", "escalate_to": "finance", "escalate_after_secs": 1})),
        ),
        ("DELETE", "/v1/roles/legal".into(), None),
        ("GET", "/v1/audit".into(), None),
    ];
    for (method, path, body) in &powers {
        assert_eq!(
            code(&server, method, path, &finance, body.as_ref()),
            (403, "all_roles_required".into()),
            "{method} {path}"
        );
    }
    let (status, answer) = server.call("POST", "/v1/observations", &finance, Some(&trusted));
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")), "{answer}");
    assert_eq!(code(&server, "POST", "/v1/projects", &finance, Some(&json!({"name": "x"}))).0, 403);
    // The admin token still exists, and nothing was changed.
    assert_eq!(server.call("GET", "/v1/keys", &server.operator, None).0, 200);
    let (_, hooks) = server.call("GET", "/v1/webhooks", &server.operator, None);
    assert_eq!(hooks["webhooks"], json!([]));

    // What it may do: decide and read its own role's requests (and unrestricted ones).
    let own = create(
        &server,
        &server.agent,
        json!({"service": "s", "action": "a", "payload": {}, "role": "finance"}),
    );
    let open = create(&server, &server.agent, json!({"service": "s", "action": "a", "payload": {}}));
    assert_eq!(server.call("GET", &format!("/v1/requests/{own}"), &finance, None).0, 200);
    assert_eq!(server.call("GET", &format!("/v1/requests/{theirs}"), &finance, None).0, 404);
    assert_eq!(server.call("GET", &format!("/v1/requests/{theirs}/wait?timeout=1"), &finance, None).0, 404);
    let (_, listed) = server.call("GET", "/v1/requests", &finance, None);
    let listed: BTreeSet<&str> =
        listed["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed, BTreeSet::from([own.as_str(), open.as_str()]));
    let approve = json!({"decision": "approve"});
    let resolve = |id: &str| format!("/v1/requests/{id}/resolve");
    assert_eq!(
        code(&server, "POST", &resolve(&theirs), &finance, Some(&approve)),
        (403, "role_required".into())
    );
    assert_eq!(server.call("POST", &resolve(&own), &finance, Some(&approve)).0, 200);
    assert_eq!(server.call("GET", "/v1/keys/me", &finance, None).0, 200);

    // The `*` operator holds every power; a webhook scoped to a role hears only of it.
    let (hook_url, seen) = receiver();
    let (status, hook) = server.call(
        "POST",
        "/v1/webhooks",
        &server.operator,
        Some(&json!({"url": hook_url, "roles": ["finance"]})),
    );
    assert_eq!(status, 201, "{hook}");
    assert_eq!(hook["roles"], json!(["finance"]));
    let finance_again = create(
        &server,
        &server.agent,
        json!({"service": "s", "action": "f", "payload": {}, "role": "finance"}),
    );
    let legal_again = create(
        &server,
        &server.agent,
        json!({"service": "s", "action": "l", "payload": {}, "role": "legal"}),
    );
    let open_again = create(&server, &server.agent, json!({"service": "s", "action": "o", "payload": {}}));
    let deadline = Instant::now() + Duration::from_secs(20);
    let got = loop {
        let got: BTreeSet<String> = seen.lock().unwrap().iter().cloned().collect();
        if got.len() >= 2 || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // The legal request was created between the other two, so the two arriving means it was
    // not queued for this endpoint (deliveries are queued in the creating transaction).
    assert_eq!(got, BTreeSet::from([finance_again, open_again]));
    let (_, deliveries) =
        server.call("GET", &format!("/v1/requests/{legal_again}/deliveries"), &server.operator, None);
    assert_eq!(deliveries["deliveries"], json!([]));
    for (method, path, body) in &powers[..3] {
        assert_ne!(server.call(method, path, &server.operator, body.as_ref()).0, 403, "{method} {path}");
    }
}

/// A webhook receiver on 127.0.0.1 answering 204: its URL and the request ids it was told of.
fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            if let Some((_, body)) = read_request(&mut stream) {
                if let Ok(event) = serde_json::from_str::<Value>(&body) {
                    if let Some(id) = event["data"]["id"].as_str() {
                        out.lock().unwrap().push(id.to_string());
                    }
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

#[test]
fn every_change_of_authority_is_audited_with_its_actor() {
    let server = Server::fresh("audited");
    let (_, me) = server.call("GET", "/v1/keys/me", &server.operator, None);
    let actor = me["key_id"].as_str().unwrap().to_string();
    let op = &server.operator;
    let (key_id, _) = new_key(&server, json!({"role": "agent"}));
    assert_eq!(server.call("DELETE", &format!("/v1/keys/{key_id}"), op, None).0, 204);
    let (_, hook) = server.call("POST", "/v1/webhooks", op, Some(&json!({"url": "http://127.0.0.1:9/h"})));
    let hook = hook["id"].as_str().unwrap().to_string();
    assert_eq!(server.call("DELETE", &format!("/v1/webhooks/{hook}"), op, None).0, 204);
    assert_eq!(server.call("POST", "/v1/roles", op, Some(&json!({"name": "finance"}))).0, 201);
    assert_eq!(server.call("DELETE", "/v1/roles/finance", op, None).0, 204);
    let events = json!({"agent": "a1", "events": [{"id": "e1", "session": "s1", "tool": "pay",
        "args": {"to": "acct_9"}, "outcome": "trusted"}]});
    assert_eq!(server.call("POST", "/v1/observations", op, Some(&events)).0, 200);
    assert_eq!(server.call("PUT", "/v1/agents/a1/mode", op, Some(&json!({"mode": "enforce"}))).0, 200);
    assert_eq!(server.call("PUT", "/v1/agents/a1/budget", op, Some(&json!({"daily_usd": 5}))).0, 200);
    assert_eq!(server.call("POST", "/compat/secrets/rotate", op, Some(&json!({}))).0, 200);
    assert_eq!(server.call("POST", "/v1/projects", op, Some(&json!({"name": "second"}))).0, 201);

    let (_, audit) = server.call("GET", "/v1/audit?limit=1000", op, None);
    let entries = audit["entries"].as_array().unwrap();
    let by = |event: &str| entries.iter().filter(|e| e["event"] == event).collect::<Vec<_>>();
    for event in [
        "key.created",
        "key.revoked",
        "webhook.added",
        "webhook.deleted",
        "role.created",
        "role.deleted",
        "agent.trusted_history",
        "agent.mode",
        "agent.budget",
        "compat.secret_rotated",
    ] {
        let found = by(event);
        assert!(!found.is_empty(), "no {event} entry in {entries:#?}");
        assert!(found.iter().all(|e| e["actor"] == actor.as_str()), "{event}: {found:?}");
    }
    assert_eq!(by("key.created")[0]["subject"], key_id.as_str());
    assert_eq!(by("webhook.added")[0]["data"]["url"], "http://127.0.0.1:9/h");
    // The bootstrap is the chain's first entry; the second project's creation is in its chain.
    assert_eq!(entries[0]["event"], "project.created");
    assert_eq!(entries[0]["actor"], "system");
}

/// Opens `GET /v1/events` with `token` on a raw connection; the stream, its head read.
fn open_events(server: &Server, token: &str) -> (u16, BufReader<TcpStream>) {
    let addr = server.url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n")
        .unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).unwrap();
    let code = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    (code, reader)
}

#[test]
fn a_revoked_tokens_streams_and_long_polls_end_and_open_ones_are_capped() {
    let server = Server::fresh_with(
        "revoked",
        &[("HANDRAIL_MAX_STREAMS_PER_KEY", "2"), ("HANDRAIL_MAX_WAITS_PER_KEY", "2")],
    );
    let (op_id, op) = new_key(&server, json!({"role": "operator"}));
    let (agent_id, agent) = new_key(&server, json!({"role": "agent"}));
    let pending = create(&server, &agent, json!({"service": "s", "action": "a", "payload": {"n": 1}}));

    // The stream sees the queue while the token is valid.
    let (status, mut stream) = open_events(&server, &op);
    assert_eq!(status, 200);
    let seen = create(&server, &server.agent, json!({"service": "s", "action": "seen", "payload": {}}));
    let mut text = String::new();
    while !text.contains(&seen) {
        let mut line = String::new();
        assert!(stream.read_line(&mut line).unwrap() > 0, "the stream ended early");
        text.push_str(&line);
    }

    // Caps: a third stream and a third long-poll of one key are refused, others' are not.
    let (_, second) = open_events(&server, &op);
    assert_eq!(open_events(&server, &op).0, 429);
    assert_eq!(open_events(&server, &server.operator).0, 200);
    let waits: Vec<_> = (0..2)
        .map(|_| {
            let (url, agent, id) = (server.url.clone(), agent.clone(), pending.clone());
            std::thread::spawn(move || {
                let started = Instant::now();
                let answer = ureq::get(&format!("{url}/v1/requests/{id}/wait?timeout=60"))
                    .set("Authorization", &format!("Bearer {agent}"))
                    .call();
                let status = match answer {
                    Ok(r) => r.status(),
                    Err(ureq::Error::Status(s, _)) => s,
                    Err(e) => panic!("{e}"),
                };
                (status, started.elapsed())
            })
        })
        .collect();
    // Both long-polls are parked once the gauge says so.
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&server, "handrail_waiters").is_none_or(|n| n < 2) {
        assert!(Instant::now() < deadline, "the long-polls never parked");
        std::thread::sleep(Duration::from_millis(20));
    }
    let third = server.call("GET", &format!("/v1/requests/{pending}/wait?timeout=60"), &agent, None);
    assert_eq!((third.0, third.1["error"]["code"].as_str()), (429, Some("too_many_open")));

    // Revoked: the long-polls answer 401 and the streams end, long before their 60 s.
    assert_eq!(server.call("DELETE", &format!("/v1/keys/{agent_id}"), &server.operator, None).0, 204);
    assert_eq!(server.call("DELETE", &format!("/v1/keys/{op_id}"), &server.operator, None).0, 204);
    for wait in waits {
        let (status, took) = wait.join().unwrap();
        assert_eq!(status, 401);
        assert!(took < Duration::from_secs(30), "the long-poll ran {took:?}");
    }
    for mut stream in [stream, second] {
        // The stream ends: its chunked body's last chunk arrives (or the connection closes)
        // instead of the read timing out.
        stream.get_ref().set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut rest = String::new();
        loop {
            let mut line = String::new();
            match stream.read_line(&mut line) {
                Ok(0) => break,
                Ok(_) if line == "0\r\n" => break,
                Ok(_) => rest.push_str(&line),
                Err(e) => panic!("the revoked token's stream is still open: {e}"),
            }
        }
        assert!(!rest.contains("request.created"), "{rest}");
    }
    assert_eq!(code(&server, "GET", "/v1/events", &op, None), (401, "unauthorized".into()));
}

fn metric(server: &Server, name: &str) -> Option<u64> {
    let text = ureq::get(&format!("{}/metrics", server.url)).call().ok()?.into_string().ok()?;
    text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
}

#[test]
fn an_agent_key_sees_only_the_requests_it_created() {
    let server = Server::fresh("isolation");
    let (_, other) = new_key(&server, json!({"role": "agent"}));
    let mine =
        create(&server, &server.agent, json!({"service": "s", "action": "a", "payload": {"secret": 1}}));
    let theirs = create(&server, &other, json!({"service": "s", "action": "b", "payload": {"secret": 2}}));
    let (_, listed) = server.call("GET", "/v1/requests", &server.agent, None);
    let listed: Vec<&str> =
        listed["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [mine.as_str()]);
    let (_, summary) = server.call("GET", "/v1/requests?view=summary", &server.agent, None);
    assert_eq!(summary["requests"].as_array().unwrap().len(), 1);
    for (method, path) in [
        ("GET", format!("/v1/requests/{theirs}")),
        ("GET", format!("/v1/requests/{theirs}/wait?timeout=1")),
        ("GET", format!("/v1/requests/{theirs}/snapshot")),
        ("POST", format!("/v1/requests/{theirs}/snapshot/link")),
        ("POST", format!("/v1/requests/{theirs}/snapshot/upload-link")),
        ("GET", format!("/compat/letsping/api/status/{theirs}")),
        ("GET", format!("/compat/looppause/v1/pauses/{theirs}")),
        ("GET", format!("/compat/aegis/api/v1/hitl/status/{theirs}")),
    ] {
        assert_eq!(server.call(method, &path, &server.agent, None).0, 404, "{method} {path}");
    }
    assert_eq!(server.call("GET", &format!("/v1/requests/{mine}"), &server.agent, None).0, 200);
    assert_eq!(server.call("GET", &format!("/v1/requests/{theirs}"), &other, None).0, 200);
    // The queue is the operators': they see both.
    let (_, all) = server.call("GET", "/v1/requests", &server.operator, None);
    assert_eq!(all["requests"].as_array().unwrap().len(), 2);
    // An agent key opens no live queue.
    assert_eq!(code(&server, "GET", "/v1/events", &server.agent, None), (403, "forbidden".into()));
}

#[test]
fn a_decision_after_the_deadline_is_refused_and_the_request_expires() {
    let server = Server::fresh("deadline");
    for _ in 0..5 {
        let id = create(
            &server,
            &server.agent,
            json!({"service": "s", "action": "a", "payload": {}, "timeout_secs": 0}),
        );
        let (status, answer) = server.call(
            "POST",
            &format!("/v1/requests/{id}/resolve"),
            &server.operator,
            Some(&json!({"decision": "approve"})),
        );
        // Either this call found it overdue (409 expired, and expired it) or the sweep did first.
        let code = answer["error"]["code"].as_str().unwrap_or_default().to_string();
        assert!(status == 409 && (code == "expired" || code == "already_decided"), "{status} {answer}");
        let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
        assert_eq!(row["status"], "EXPIRED", "{row}");
        assert_eq!(row["decision"]["actor"], "system");
    }
}

#[test]
fn a_letsping_ingest_cannot_claim_a_verified_signature() {
    let server = Server::fresh("lp-claim");
    let body = json!({"service": "s", "action": "a", "payload": {},
        "metadata": {"agent_signature_verified": true, "agent_id": "agt_forged", "note": "kept"}});
    let (status, answer) = server.call("POST", "/compat/letsping/api/ingest", &server.agent, Some(&body));
    assert_eq!(status, 200, "{answer}");
    let id = answer["id"].as_str().unwrap();
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    let metadata = &row["context"]["metadata"];
    assert_eq!(metadata, &json!({"note": "kept"}), "{row}");
}

#[test]
fn the_store_refuses_an_approval_without_an_operators_proof() {
    use handrail_core::request::Decision;
    use handrail_server::store::{AuditEvent, Inserted, RequestRow, Role};
    let dir = common::fresh_dir("store");
    std::fs::create_dir_all(&dir).unwrap();
    let store = common::open_store(&dir);
    store.add_project("prj_a", "a", 0).unwrap();
    store.add_key("key_agent", "h1", "prj_a", Role::Agent, 0).unwrap();
    store.add_key("key_op", "h2", "prj_a", Role::Operator, 0).unwrap();
    let row: RequestRow = serde_json::from_value(json!({
        "id": "req_aaaaaaaaaaaaaaaa", "project": "prj_a", "service": "s", "action": "a", "payload": {},
        "priority": "medium", "status": "PENDING", "created_at": 0, "expires_at": 4_000_000_000i64,
        "created_by": "key_agent",
    }))
    .unwrap();
    let audit = |event: &'static str| AuditEvent { at: 1, actor: "key_agent", event, data: json!({}) };
    assert_eq!(
        store
            .insert_request(&row, &serde_json::to_string(&row).unwrap(), None, audit("request.created"))
            .unwrap(),
        Inserted::Created
    );
    let decide = |status: &str, decision: Value| {
        let decision: Decision = serde_json::from_value(decision).unwrap();
        store.decide("prj_a", &row.id, status.parse().unwrap(), &decision, None, audit("x"))
    };
    let approval = |actor: &str, proof: Option<&str>| {
        let mut d = json!({"request_id": row.id, "status": "APPROVED", "actor": actor, "decided_at": 1});
        if let Some(p) = proof {
            d["proof"] = json!(p);
        }
        d
    };
    for (actor, proof) in [
        ("key_op", None),
        ("key_agent", Some("a.b.c")),
        ("system", Some("a.b.c")),
        ("self-declared:key_agent", Some("a.b.c")),
        ("key_unknown", Some("a.b.c")),
    ] {
        assert!(decide("APPROVED", approval(actor, proof)).is_err(), "{actor} {proof:?}");
    }
    // A status that says otherwise than the decision is refused too.
    assert!(decide("APPROVED", json!({"request_id": row.id, "status": "REJECTED", "actor": "key_op", "proof": "a.b.c", "decided_at": 1})).is_err());
    assert_eq!(store.request("prj_a", &row.id).unwrap().unwrap().status.as_str(), "PENDING");
    // What may pass: an operator's decision with its proof.
    assert!(decide("APPROVED", approval("key_op", Some("a.b.c"))).unwrap());
    assert_eq!(store.request("prj_a", &row.id).unwrap().unwrap().status.as_str(), "APPROVED");

    // Past its deadline a request takes only its expiry, whatever the sweep's backlog.
    let mut overdue = row.clone();
    overdue.id = "req_bbbbbbbbbbbbbbbb".into();
    overdue.expires_at = 0;
    assert_eq!(
        store
            .insert_request(
                &overdue,
                &serde_json::to_string(&overdue).unwrap(),
                None,
                audit("request.created")
            )
            .unwrap(),
        Inserted::Created
    );
    let mut late = approval("key_op", Some("a.b.c"));
    late["request_id"] = json!(overdue.id);
    let late: Decision = serde_json::from_value(late).unwrap();
    assert!(!store
        .decide("prj_a", &overdue.id, "APPROVED".parse().unwrap(), &late, None, audit("x"))
        .unwrap());
    let expiry: Decision = serde_json::from_value(
        json!({"request_id": overdue.id, "status": "EXPIRED", "actor": "system", "decided_at": 1}),
    )
    .unwrap();
    assert!(store
        .decide("prj_a", &overdue.id, "EXPIRED".parse().unwrap(), &expiry, None, audit("x"))
        .unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn junk_waits_are_refused_before_anything_is_registered() {
    let server = Server::fresh("junk-waits");
    let long = format!("req_{}", "A".repeat(4000));
    for id in
        ["req_AAAAAAAAAAAAAAAAAAAAAA", long.as_str(), "..%2F..%2Fetc", "req_%00%00%00%00%00%00%00%00%00"]
    {
        for token in [&server.agent, &server.operator] {
            let (status, answer) =
                server.call("GET", &format!("/v1/requests/{id}/wait?timeout=30"), token, None);
            assert_eq!(
                (status, answer["error"]["code"].as_str()),
                (404, Some("not_found")),
                "{id}: {answer}"
            );
        }
    }
}
