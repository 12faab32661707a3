//! E-mail channels against a real SMTP server: aiosmtpd (PyPI, installed by this test into a
//! venv under the target directory) on 127.0.0.1, writing each message it accepts as JSON
//! with what Python's `email` package parses of it. The real binary on 127.0.0.1:0.
//!
//! A request of role `finance` reaches only the finance addressees, as a MIME
//! multipart/alternative message with the payload and a link per addressee; opening the link
//! decides nothing; posting its form approves with an edit (checked against the schema); the
//! agent's long-poll gets the decision with actor `email:…` and its proof verifies; the link
//! is refused afterwards, as are a tampered one, an expired one and one whose addressee was
//! removed. With the SMTP server down, notifications are retried and logged, and arrive
//! once it is up.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{fresh_dir, Server};
use handrail_core::protocol::{Client, HttpResponse};
use handrail_core::request::Request;
use serde_json::{json, Value};

/// The venv's Python with aiosmtpd, made once per test run (a few seconds the first time).
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("venv-aiosmtpd");
        let python = venv.join("bin/python");
        let ready =
            |p: &Path| Command::new(p).args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
        if !ready(&python) {
            let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().expect("python3");
            assert!(made.success(), "python3 -m venv");
            let pip = Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "aiosmtpd==1.4.6"])
                .status()
                .expect("pip");
            assert!(pip.success(), "pip install aiosmtpd");
        }
        python
    })
}

/// A free port on 127.0.0.1 (bound, then let go).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The SMTP server: each accepted message is a JSON file in `dir`.
struct Sink {
    child: Child,
    _stdin: ChildStdin,
    dir: PathBuf,
}

impl Sink {
    fn start(port: u16, dir: &Path) -> Sink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        let stdin = child.stdin.take().unwrap();
        Sink { child, _stdin: stdin, dir: dir.to_path_buf() }
    }

    /// Every message received so far, oldest first.
    fn messages(&self) -> Vec<Value> {
        messages(&self.dir)
    }
}

fn messages(dir: &Path) -> Vec<Value> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|f| f.extension().is_some_and(|e| e == "json"));
    files.sort();
    files.iter().map(|f| serde_json::from_str(&std::fs::read_to_string(f).unwrap()).unwrap()).collect()
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `dir` holds at least `n` messages; them.
fn wait_for(dir: &Path, n: usize, within: Duration) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let got = messages(dir);
        if got.len() >= n {
            return got;
        }
        assert!(start.elapsed() < within, "{} of {n} messages after {within:?}", got.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The server's environment for the relay on `port`.
fn mail_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("HANDRAIL_SMTP_URL", format!("smtp://127.0.0.1:{port}")),
        ("HANDRAIL_SMTP_FROM", "Handrail <handrail@example.com>".into()),
        ("HANDRAIL_PUBLIC_URL", PUBLIC.into()),
    ]
}

/// Where the links in messages point; the tests call the server where it really listens.
const PUBLIC: &str = "http://handrail.test";

fn serve(name: &str, env: &[(&'static str, String)], stderr: Stdio) -> Server {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::spawn(fresh_dir(name), &env, stderr)
}

/// The text part of a message, and its decision link's token.
fn text_and_token(message: &Value) -> (String, String) {
    let text = message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "text/plain")
        .and_then(|p| p["text"].as_str())
        .expect("a text/plain part")
        .to_string();
    let prefix = format!("{PUBLIC}/decide/");
    let at = text.find(&prefix).expect("a decision link");
    let token: String = text[at + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    (text, token)
}

/// A call of the decision page: status, headers, body.
fn page(server: &Server, method: &str, token: &str, form: Option<&[(&str, &str)]>) -> (u16, ureq::Response) {
    let call =
        ureq::request(method, &format!("{}/decide/{token}", server.url)).timeout(Duration::from_secs(30));
    let result = match form {
        Some(fields) => call.send_form(fields),
        None => call.call(),
    };
    match result {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(s, r)) => (s, r),
        Err(e) => panic!("{method} /decide: {e}"),
    }
}

fn body(response: ureq::Response) -> String {
    response.into_string().unwrap()
}

fn status_of(server: &Server, id: &str) -> String {
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    row["status"].as_str().unwrap().to_string()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn setup_channels(server: &Server) {
    for role in ["finance", "ops"] {
        let (status, answer) =
            server.call("POST", "/v1/roles", &server.operator, Some(&json!({"name": role})));
        assert_eq!(status, 201, "{answer}");
    }
    let (status, finance) = server.call(
        "POST",
        "/v1/channels",
        &server.operator,
        Some(&json!({"kind": "email", "to": ["alice@example.com", "Bob@Example.com"], "roles": ["finance"]})),
    );
    assert_eq!(status, 201, "{finance}");
    assert_eq!(finance["to"], json!(["alice@example.com", "bob@example.com"]));
    let (status, ops) = server.call(
        "POST",
        "/v1/channels",
        &server.operator,
        Some(&json!({"kind": "email", "to": ["carol@example.com"], "roles": ["ops"]})),
    );
    assert_eq!(status, 201, "{ops}");
}

#[test]
fn a_finance_request_is_mailed_to_finance_and_decided_once_from_its_link() {
    let port = free_port();
    let sink = Sink::start(port, &fresh_dir("sink-main"));
    let server = serve("main", &mail_env(port), Stdio::inherit());

    // Channels: validated, audited, listed; an operator's power only.
    for (bad, code) in [
        (json!({"kind": "slack", "channel": "C0123"}), "invalid_channel"),
        (json!({"kind": "email", "to": ["a@example.com"], "channel": "C0123"}), "invalid_request"),
        (json!(["email"]), "invalid_request"),
        (json!({"kind": "sms", "to": ["alice@example.com"]}), "invalid_channel"),
        (json!({"kind": "email"}), "invalid_channel"),
        (json!({"kind": "email", "to": []}), "invalid_channel"),
        (json!({"kind": "email", "to": ["not-an-address"]}), "invalid_channel"),
        (json!({"kind": "email", "to": ["a@example.com\r\nBcc: eve@example.com"]}), "invalid_channel"),
        (json!({"kind": "email", "to": ["a@example.com", "A@example.com"]}), "invalid_channel"),
        (json!({"kind": "email", "to": vec!["a@example.com"; 33]}), "invalid_channel"),
        (json!({"kind": "email", "to": ["a@example.com"], "roles": []}), "invalid_channel"),
        (json!({"kind": "email", "to": ["a@example.com"], "roles": ["*"]}), "invalid_channel"),
    ] {
        let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&bad));
        assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (400, code), "{bad} → {answer}");
    }
    let (status, answer) = server.call(
        "POST",
        "/v1/channels",
        &server.agent,
        Some(&json!({"kind": "email", "to": ["eve@example.com"]})),
    );
    assert_eq!((status, answer["error"]["code"].as_str()), (403, Some("forbidden")));
    setup_channels(&server);
    let (_, listed) = server.call("GET", "/v1/channels", &server.operator, None);
    assert_eq!(listed["channels"].as_array().unwrap().len(), 2, "{listed}");
    let (_, me) = server.call("GET", "/v1/keys/me", &server.operator, None);
    let operator_key = me["key_id"].as_str().unwrap().to_string();

    // A finance request, held by the firewall.
    let schema = json!({"type": "object", "properties": {"amount": {"type": "integer", "maximum": 100},
                        "to": {"type": "string"}}, "required": ["amount", "to"]});
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "priority": "high",
                     "payload": {"amount": 42, "to": "acct_9"}, "schema": schema,
                     "context": {"firewall": {"action": "ask", "score": 0.93,
                                              "reasons": ["destination never seen"]}}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let mail = wait_for(&sink.dir, 2, Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(500));
    let mail = if sink.messages().len() > mail.len() { sink.messages() } else { mail };
    let mut to: Vec<&str> = mail.iter().map(|m| m["rcpt_tos"][0].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["alice@example.com", "bob@example.com"], "only finance's addressees");
    let alice_mail = mail.iter().find(|m| m["rcpt_tos"][0] == "alice@example.com").unwrap();
    let bob_mail = mail.iter().find(|m| m["rcpt_tos"][0] == "bob@example.com").unwrap();
    assert_eq!(alice_mail["content_type"], "multipart/alternative", "{alice_mail}");
    assert_eq!(alice_mail["defects"], json!([]));
    assert_eq!(alice_mail["to"], "alice@example.com");
    assert!(alice_mail["from"].as_str().unwrap().contains("handrail@example.com"));
    assert!(alice_mail["subject"].as_str().unwrap().contains("bank wire"), "{}", alice_mail["subject"]);
    let types: Vec<&str> =
        alice_mail["parts"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["multipart/alternative", "text/plain", "text/html"]);
    let (text, alice) = text_and_token(alice_mail);
    let (_, bob) = text_and_token(bob_mail);
    assert_ne!(alice, bob, "a link per addressee");
    for needle in ["acct_9", "\"amount\": 42", "high", "finance", "destination never seen", "score: 0.93"] {
        assert!(text.contains(needle), "{needle} in {text}");
    }
    let html = alice_mail["parts"][2]["text"].as_str().unwrap();
    assert!(html.contains("acct_9") && html.contains(&format!("{PUBLIC}/decide/{alice}")), "{html}");

    // Opening the link (as a mail scanner would, many times) decides nothing.
    for _ in 0..3 {
        let (status, response) = page(&server, "GET", &alice, None);
        assert_eq!(status, 200);
        assert_eq!(response.header("cache-control"), Some("no-store"));
        assert_eq!(response.header("referrer-policy"), Some("no-referrer"));
        let csp = response.header("content-security-policy").unwrap().to_string();
        assert!(csp.contains("default-src 'none'") && csp.contains("form-action 'self'"), "{csp}");
        let page = body(response);
        assert!(
            page.contains("acct_9") && page.contains("<form method=\"post\"") && !page.contains("<script")
        );
    }
    assert_eq!(status_of(&server, &id), "PENDING");

    // The agent waits.
    let waiter = {
        let (url, agent, id) = (server.url.clone(), server.agent.clone(), id.clone());
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
    };

    // An edit outside the schema is refused by the core; a bad form too.
    let (status, response) = page(
        &server,
        "POST",
        &alice,
        Some(&[("decision", "approve"), ("payload", r#"{"amount": 500, "to": "acct_9"}"#)]),
    );
    assert_eq!(status, 422);
    assert!(body(response).contains("edit_invalid"));
    let (status, _) = page(&server, "POST", &alice, Some(&[("decision", "approve"), ("admin", "1")]));
    assert_eq!(status, 400);
    let (status, _) =
        page(&server, "POST", &alice, Some(&[("decision", "approve"), ("payload", "{not json")]));
    assert_eq!(status, 400);
    assert_eq!(status_of(&server, &id), "PENDING");

    // Approve with an edit.
    let (status, response) = page(
        &server,
        "POST",
        &alice,
        Some(&[("decision", "approve"), ("payload", r#"{"amount": 40, "to": "acct_9"}"#)]),
    );
    let done = body(response);
    assert_eq!(status, 200, "{done}");
    assert!(
        done.contains("APPROVED_WITH_MODIFICATIONS") && done.contains("email:alice@example.com"),
        "{done}"
    );

    // The waiter has it, by alice, and the proof verifies against the server's keys.
    let record: Request = serde_json::from_slice(&waiter.join().unwrap()).unwrap();
    let decision = record.decision.clone().expect("decided");
    assert_eq!(decision.status.as_str(), "APPROVED_WITH_MODIFICATIONS");
    assert_eq!(decision.actor.as_deref(), Some("email:alice@example.com"));
    assert_eq!(decision.payload, Some(json!({"amount": 40, "to": "acct_9"})));
    let mut client = Client::new(&server.url, &server.agent).unwrap();
    let jwks = ureq::get(&format!("{}/v1/keys/proof", server.url)).call().unwrap();
    let mut jwks_body = Vec::new();
    jwks.into_reader().read_to_end(&mut jwks_body).unwrap();
    client.load_jwks(&HttpResponse { status: 200, headers: vec![], body: jwks_body }).unwrap();
    let claims = client.verify_proof(&record, decision.proof.as_deref().unwrap(), now()).unwrap();
    assert_eq!(claims.act, "email:alice@example.com");
    assert_eq!(claims.rid, id);

    // The audit log names her, and the operator for the channels.
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    let entries = audit["entries"].as_array().expect("entries");
    let by = |event: &str| -> Vec<String> {
        entries
            .iter()
            .filter(|e| e["event"] == event)
            .map(|e| e["actor"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(by("channel.created"), [operator_key.clone(), operator_key.clone()]);
    assert_eq!(by("request.resolved"), ["email:alice@example.com"]);

    // Single use: neither her link nor bob's decides again, and GET says so.
    for token in [&alice, &bob] {
        let (status, response) = page(&server, "POST", token, Some(&[("decision", "reject")]));
        assert_eq!(status, 409);
        assert!(body(response).contains("already_decided"));
        assert_eq!(page(&server, "GET", token, None).0, 409);
    }

    // Tampered: another byte of the MAC, or claims naming another request under the old MAC.
    let (claims, mac) = alice.split_once('.').unwrap();
    let flipped = format!("{claims}.{}{}", if mac.starts_with('A') { 'B' } else { 'A' }, &mac[1..]);
    let (status, response) = page(&server, "GET", &flipped, None);
    assert_eq!(status, 403);
    assert!(body(response).contains("link_invalid"));
    let decoded = handrail_core::encoding::b64url_decode(claims).unwrap();
    let other = String::from_utf8(decoded).unwrap().replace(&id, "req_AAAAAAAAAAAAAAAAAAAAAA");
    let forged = format!("{}.{mac}", handrail_core::encoding::b64url_encode(other.as_bytes()));
    assert_eq!(page(&server, "POST", &forged, Some(&[("decision", "approve")])).0, 403);
    assert_eq!(page(&server, "GET", "nonsense", None).0, 403);

    // A second request's link is for that request only, and a removed addressee decides nothing.
    let (_, second) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 1, "to": "x"}})),
    );
    let second_id = second["id"].as_str().unwrap().to_string();
    let mail = wait_for(&sink.dir, 4, Duration::from_secs(20));
    let alice_second =
        mail.iter().rev().find(|m| m["rcpt_tos"][0] == "alice@example.com").map(text_and_token).unwrap().1;
    assert_ne!(alice_second, alice);
    let finance_channel =
        listed["channels"].as_array().unwrap().iter().find(|c| c["roles"] == json!(["finance"])).unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    let (status, _) =
        server.call("DELETE", &format!("/v1/channels/{finance_channel}"), &server.operator, None);
    assert_eq!(status, 204);
    let (status, response) = page(&server, "POST", &alice_second, Some(&[("decision", "approve")]));
    assert_eq!(status, 403);
    assert!(body(response).contains("forbidden"));
    assert_eq!(status_of(&server, &second_id), "PENDING");
    let (_, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    assert!(audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"] == "channel.deleted" && e["actor"] == operator_key.as_str()));
    // No mail ever went to ops.
    assert!(sink.messages().iter().all(|m| m["rcpt_tos"][0] != "carol@example.com"));
}

#[test]
fn a_link_expires_with_its_request() {
    let port = free_port();
    let sink = Sink::start(port, &fresh_dir("sink-expiry"));
    let server = serve("expiry", &mail_env(port), Stdio::inherit());
    setup_channels(&server);
    // Unrestricted: every channel hears of it.
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "db", "action": "drop", "payload": {"table": "users"}, "timeout_secs": 3})),
    );
    assert_eq!(status, 201, "{created}");
    let mail = wait_for(&sink.dir, 3, Duration::from_secs(20));
    let mut to: Vec<&str> = mail.iter().map(|m| m["rcpt_tos"][0].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["alice@example.com", "bob@example.com", "carol@example.com"]);
    let (_, token) = text_and_token(&mail[0]);
    let deadline = created["expires_at"].as_i64().unwrap();
    while now() <= deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, response) = page(&server, "POST", &token, Some(&[("decision", "approve")]));
    assert_eq!(status, 410);
    assert!(body(response).contains("link_expired"));
    // The sweep expires it within a second or so; the link decided nothing meanwhile.
    let id = created["id"].as_str().unwrap();
    let start = Instant::now();
    while status_of(&server, id) == "PENDING" && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status_of(&server, id), "EXPIRED");
}

#[test]
fn without_a_relay_email_channels_are_refused() {
    let server = Server::fresh("norelay");
    let (status, answer) = server.call(
        "POST",
        "/v1/channels",
        &server.operator,
        Some(&json!({"kind": "email", "to": ["alice@example.com"]})),
    );
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("channel_unavailable")), "{answer}");
}

#[test]
fn with_the_relay_down_mail_is_retried_logged_and_sent_once_it_is_up() {
    let port = free_port();
    let dir = fresh_dir("sink-late");
    let mut env = mail_env(port);
    env.push(("HANDRAIL_LOG", "warn".into()));
    let mut server = serve("late", &env, Stdio::piped());
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let log = log.clone();
        let stderr = server.child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                log.lock().unwrap().push(line);
            }
        });
    }
    setup_channels(&server);
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 7, "to": "y"}})),
    );
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    // Failures are logged (a class, no address of the relay's words, no secrets), retried.
    let start = Instant::now();
    loop {
        let failed: Vec<Value> = log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e.to_string().contains("e-mail notification failed"))
            .collect();
        if failed.len() >= 4 {
            assert!(failed
                .iter()
                .all(|e| e.to_string().contains(&id) && e.to_string().contains("connection failed")));
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "{:?}", log.lock().unwrap());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(messages(&dir).is_empty());
    let _sink = Sink::start(port, &dir);
    let mail = wait_for(&dir, 2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(messages(&dir).len(), 2, "each addressee once: {mail:?}");
    server.kill();
}

#[test]
fn an_escalation_mails_the_next_role_whose_addressees_then_decide() {
    let port = free_port();
    let sink = Sink::start(port, &fresh_dir("sink-escalation"));
    let server = serve("escalation", &mail_env(port), Stdio::inherit());
    for role in
        [json!({"name": "ops"}), json!({"name": "finance", "escalate_to": "ops", "escalate_after_secs": 1})]
    {
        let (status, answer) = server.call("POST", "/v1/roles", &server.operator, Some(&role));
        assert_eq!(status, 201, "{answer}");
    }
    for (to, role) in [("alice@example.com", "finance"), ("carol@example.com", "ops")] {
        let channel = json!({"kind": "email", "to": [to], "roles": [role]});
        assert_eq!(server.call("POST", "/v1/channels", &server.operator, Some(&channel)).0, 201);
    }
    let (_, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 3, "to": "z"}})),
    );
    let id = created["id"].as_str().unwrap().to_string();
    let mail = wait_for(&sink.dir, 2, Duration::from_secs(20));
    assert_eq!(mail[0]["rcpt_tos"][0], "alice@example.com");
    assert_eq!(mail[1]["rcpt_tos"][0], "carol@example.com");
    assert!(mail[1]["subject"].as_str().unwrap().contains("escalated"), "{}", mail[1]["subject"]);
    let (_, alice) = text_and_token(&mail[0]);
    let (_, carol) = text_and_token(&mail[1]);
    // The request is ops' now: finance's addressee may no longer decide it, ops' may.
    assert_eq!(page(&server, "POST", &alice, Some(&[("decision", "approve")])).0, 403);
    let (status, response) =
        page(&server, "POST", &carol, Some(&[("decision", "reject"), ("reason", "not today")]));
    assert_eq!(status, 200, "{}", body(response));
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["status"], "REJECTED");
    assert_eq!(row["decision"]["actor"], "email:carol@example.com");
    assert_eq!(row["decision"]["reason"], "not today");
}

#[test]
fn the_store_admits_an_email_approver_only_while_a_channel_of_the_role_names_it() {
    use handrail_core::request::Decision;
    use handrail_server::store::{AuditEvent, Channel, ChannelKind, Inserted, RequestRow, Role};
    let dir = fresh_dir("store");
    std::fs::create_dir_all(&dir).unwrap();
    let store = common::open_store(&dir);
    for project in ["prj_a", "prj_b"] {
        store.add_project(project, project, 0).unwrap();
    }
    store.add_key("key_agent", "h1", "prj_a", Role::Agent, 0).unwrap();
    let audit = |event: &'static str| AuditEvent { at: 1, actor: "key_op", event, data: json!({}) };
    let channel = |id: &str, to: &str, roles: &[&str]| Channel {
        id: id.into(),
        kind: ChannelKind::Email,
        to: vec![to.into()],
        channel: None,
        members: Vec::new(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        remind_after_secs: None,
        created_at: 0,
    };
    // Alice is on prj_a's finance channel and on a channel of another project.
    store
        .add_channel("prj_a", &channel("ch_1", "alice@example.com", &["finance"]), audit("channel.created"))
        .unwrap();
    store
        .add_channel("prj_b", &channel("ch_2", "mallory@example.com", &[]), audit("channel.created"))
        .unwrap();
    let request = |id: &str, role: &str| -> RequestRow {
        let row: RequestRow = serde_json::from_value(json!({
            "id": id, "project": "prj_a", "service": "s", "action": "a", "payload": {}, "role": role,
            "priority": "medium", "status": "PENDING", "created_at": 0, "expires_at": 4_000_000_000i64,
            "created_by": "key_agent",
        }))
        .unwrap();
        assert_eq!(
            store
                .insert_request(&row, &serde_json::to_string(&row).unwrap(), None, audit("request.created"))
                .unwrap(),
            Inserted::Created
        );
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
    for actor in [
        "email:alice@example.com",
        "email:mallory@example.com",
        "email:",
        "email:alice",
        "mail:alice@example.com",
    ] {
        assert!(approve(&ops, actor).is_err(), "{actor} on ops");
    }
    assert!(approve(&finance, "email:mallory@example.com").is_err(), "another project's addressee");
    assert!(approve(&finance, "email:bob@example.com").is_err(), "nobody's addressee");
    assert_eq!(store.request("prj_a", &ops.id).unwrap().unwrap().status.as_str(), "PENDING");
    assert!(approve(&finance, "email:alice@example.com").unwrap());
    // Once a channel of every role names her, ops' request is hers to decide too.
    store.add_channel("prj_a", &channel("ch_3", "alice@example.com", &[]), audit("channel.created")).unwrap();
    assert!(approve(&ops, "email:alice@example.com").unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sends a request the protocol built.
fn send(req: &handrail_core::protocol::HttpRequest) -> HttpResponse {
    let mut call = ureq::request(req.method, &req.url).timeout(Duration::from_secs(req.timeout_secs));
    for (name, value) in &req.headers {
        call = call.set(name, value);
    }
    let result = if req.body.is_empty() { call.call() } else { call.send_bytes(&req.body) };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{} {}: {e}", req.method, req.url),
    };
    let status = response.status();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).unwrap();
    HttpResponse { status, headers: vec![], body }
}

#[test]
fn an_encrypted_payload_is_never_mailed_and_its_link_only_rejects() {
    use handrail_core::envelope::Key;
    use handrail_core::protocol::Ask;
    let port = free_port();
    let sink = Sink::start(port, &fresh_dir("sink-sealed"));
    let server = serve("sealed", &mail_env(port), Stdio::inherit());
    setup_channels(&server);
    let client =
        Client::new(&server.url, &server.agent).unwrap().with_encryption_key(Key::generate("team").unwrap());
    let ask = Ask {
        service: "bank".into(),
        action: "wire".into(),
        payload: json!({"amount": 77, "to": "acct_secret_777"}),
        role: Some("finance".into()),
        ..Ask::default()
    };
    let create = client.create(&ask).unwrap();
    let answer = send(&create.request);
    assert_eq!(answer.status, 201, "{}", String::from_utf8_lossy(&answer.body));
    let stored: Value = serde_json::from_slice(&answer.body).unwrap();
    let ciphertext = stored["payload"]["ct"].as_str().expect("an envelope").to_string();

    let mail = wait_for(&sink.dir, 2, Duration::from_secs(20));
    for message in &mail {
        let raw = message["raw"].as_str().unwrap();
        let (text, _) = text_and_token(message);
        assert!(text.contains("end-to-end encrypted"), "{text}");
        assert!(text.contains(&format!("{PUBLIC}/#/requests/{}", create.id)), "{text}");
        for secret in ["acct_secret_777", ciphertext.as_str(), &ciphertext[..16]] {
            assert!(!raw.contains(secret) && !text.contains(secret), "{secret} in a message");
        }
    }
    let (_, token) = text_and_token(&mail[0]);
    let (status, response) = page(&server, "GET", &token, None);
    assert_eq!(status, 200);
    let shown = body(response);
    assert!(shown.contains("id=\"encrypted\"") && !shown.contains("id=\"approve\""), "{shown}");
    assert!(!shown.contains(&ciphertext[..16]));
    let (status, response) = page(&server, "POST", &token, Some(&[("decision", "approve")]));
    assert_eq!(status, 403, "{}", body(response));
    assert_eq!(status_of(&server, &create.id), "PENDING");
    let (status, _) =
        page(&server, "POST", &token, Some(&[("decision", "reject"), ("reason", "cannot read it")]));
    assert_eq!(status, 200);
    assert_eq!(status_of(&server, &create.id), "REJECTED");
}

#[test]
fn a_relay_setting_that_cannot_work_stops_the_start_without_repeating_its_password() {
    for (env, says) in [
        (vec![("HANDRAIL_SMTP_URL", "smtp://u:hunter2@127.0.0.1:1")], "HANDRAIL_SMTP_FROM"),
        (
            vec![
                ("HANDRAIL_SMTP_URL", "smtp://u:hunter2@127.0.0.1:1"),
                ("HANDRAIL_SMTP_FROM", "a@example.com"),
            ],
            "HANDRAIL_PUBLIC_URL",
        ),
        (vec![("HANDRAIL_SMTP_URL", "http://u:hunter2@127.0.0.1:1")], "smtp://"),
        (vec![("HANDRAIL_SMTP_URL", "smtp://u:hunter2@127.0.0.1:1?tls=opportunistic")], "tls=starttls"),
        (
            vec![
                ("HANDRAIL_SMTP_URL", "smtp://u:hunter2@127.0.0.1:1"),
                ("HANDRAIL_SMTP_FROM", "not an address"),
                ("HANDRAIL_PUBLIC_URL", PUBLIC),
            ],
            "HANDRAIL_SMTP_FROM",
        ),
    ] {
        let dir = fresh_dir("badrelay");
        let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(&dir)
            .env_remove("HANDRAIL_PUBLIC_URL")
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
fn a_reminder_is_mailed_once_after_its_time_only_while_the_request_is_pending() {
    let port = free_port();
    let sink = Sink::start(port, &fresh_dir("sink-remind"));
    let server = serve("remind", &mail_env(port), Stdio::inherit());
    // On PostgreSQL a second replica drains the same outbox: still one reminder each.
    let _replica = common::test_postgres().map(|_| {
        let env = mail_env(port);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Server::replica_with(&server, "remind-b", &env)
    });
    for (bad, code) in [
        (json!({"kind": "email", "to": ["alice@example.com"], "remind_after_secs": 9}), "invalid_channel"),
        (
            json!({"kind": "email", "to": ["alice@example.com"], "remind_after_secs": 2_592_001}),
            "invalid_channel",
        ),
        (json!({"kind": "email", "to": ["alice@example.com"], "remind_after_secs": -1}), "invalid_request"),
        (json!({"kind": "email", "to": ["alice@example.com"], "remind_after_secs": "10"}), "invalid_request"),
    ] {
        let (status, answer) = server.call("POST", "/v1/channels", &server.operator, Some(&bad));
        assert_eq!((status, answer["error"]["code"].as_str().unwrap()), (400, code), "{bad} → {answer}");
    }
    let channel = json!({"kind": "email", "to": ["alice@example.com"], "remind_after_secs": 10});
    let (status, added) = server.call("POST", "/v1/channels", &server.operator, Some(&channel));
    assert_eq!((status, &added["remind_after_secs"]), (201, &json!(10)), "{added}");
    let (_, listed) = server.call("GET", "/v1/channels", &server.operator, None);
    assert_eq!(listed["channels"][0]["remind_after_secs"], 10, "{listed}");

    let create = |service: &str, timeout: u64| {
        let (status, created) = server.call(
            "POST",
            "/v1/requests",
            &server.agent,
            Some(&json!({"service": service, "action": "wire", "timeout_secs": timeout,
                         "payload": {"amount": 7}})),
        );
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_string()
    };
    // Decided before its reminder is due; expiring before it would be (no reminder queued);
    // still pending when it is due.
    let decided = create("decided", 600);
    wait_for(&sink.dir, 1, Duration::from_secs(20));
    let expiring = create("expiring", 5);
    let pending = create("pending", 600);
    let (status, answer) = server.call(
        "POST",
        &format!("/v1/requests/{decided}/resolve"),
        &server.operator,
        Some(&json!({"decision": "reject", "reason": "no"})),
    );
    assert_eq!(status, 200, "{answer}");
    let first = wait_for(&sink.dir, 3, Duration::from_secs(20));
    assert!(first.iter().all(|m| !m["subject"].as_str().unwrap().starts_with("Reminder:")), "{first:?}");
    let (rows, _) = common::sql(
        &server.dir,
        &format!(
            "SELECT count(*) FROM notifications WHERE request = {} AND event = 'request.reminder'",
            common::quote(&expiring)
        ),
    );
    assert_eq!(rows[0][0], "0", "a request whose deadline comes first gets no reminder");

    assert_eq!(common::reminders_done(&server.dir, &pending), [("sent".to_string(), "sent".to_string())]);
    assert_eq!(
        common::reminders_done(&server.dir, &decided),
        [("sent".to_string(), "not sent: the request is REJECTED".to_string())]
    );
    let mail = sink.messages();
    let reminders: Vec<&Value> =
        mail.iter().filter(|m| m["subject"].as_str().unwrap().starts_with("Reminder: [Handrail]")).collect();
    assert_eq!(reminders.len(), 1, "one reminder, for the pending request: {mail:?}");
    let (text, token) = text_and_token(reminders[0]);
    assert!(text.starts_with("Reminder: an agent still waits for your approval."), "{text}");
    assert!(text.contains("pending") && text.contains("\"amount\": 7"), "{text}");
    let first_token = first
        .iter()
        .find(|m| m["subject"].as_str().unwrap().contains("pending"))
        .map(|m| text_and_token(m).1)
        .unwrap();
    // The addressee's link, signed again with the same claims (per addressee and request,
    // until the deadline): the same token. It decides as its addressee, once.
    assert_eq!(token, first_token);
    let (status, response) =
        page(&server, "POST", &token, Some(&[("decision", "reject"), ("reason", "late")]));
    assert_eq!(status, 200, "{}", body(response));
    let (_, row) = server.call("GET", &format!("/v1/requests/{pending}"), &server.operator, None);
    assert_eq!(
        (row["status"].as_str(), row["decision"]["actor"].as_str()),
        (Some("REJECTED"), Some("email:alice@example.com"))
    );
    assert_ne!(page(&server, "POST", &token, Some(&[("decision", "approve")])).0, 200);
    assert_eq!(sink.messages().len(), 4, "three announcements and one reminder: {:?}", sink.messages());
}

#[test]
fn after_an_escalation_the_next_role_is_reminded_and_the_old_one_is_not() {
    let port = free_port();
    let sink = Sink::start(port, &fresh_dir("sink-remind-escalation"));
    let server = serve("remind-escalation", &mail_env(port), Stdio::inherit());
    for role in
        [json!({"name": "ops"}), json!({"name": "finance", "escalate_to": "ops", "escalate_after_secs": 1})]
    {
        let (status, answer) = server.call("POST", "/v1/roles", &server.operator, Some(&role));
        assert_eq!(status, 201, "{answer}");
    }
    for (to, role) in [("alice@example.com", "finance"), ("carol@example.com", "ops")] {
        let channel = json!({"kind": "email", "to": [to], "roles": [role], "remind_after_secs": 10});
        assert_eq!(server.call("POST", "/v1/channels", &server.operator, Some(&channel)).0, 201);
    }
    let (_, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "wire", "role": "finance", "payload": {"amount": 3}})),
    );
    let id = created["id"].as_str().unwrap().to_string();
    let mut outcomes = common::reminders_done(&server.dir, &id);
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            ("sent".to_string(), "not sent: the request moved to another role".to_string()),
            ("sent".to_string(), "sent".to_string()),
        ]
    );
    let mail = sink.messages();
    let to_subject: Vec<(&str, &str)> =
        mail.iter().map(|m| (m["rcpt_tos"][0].as_str().unwrap(), m["subject"].as_str().unwrap())).collect();
    assert_eq!(to_subject.len(), 3, "{to_subject:?}");
    assert_eq!(to_subject[0].0, "alice@example.com");
    assert_eq!(to_subject[1].0, "carol@example.com");
    assert!(to_subject[1].1.contains("(escalated)"), "{to_subject:?}");
    assert_eq!(to_subject[2].0, "carol@example.com");
    assert!(to_subject[2].1.starts_with("Reminder: "), "{to_subject:?}");
}
