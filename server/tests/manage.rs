//! The management API as users drive it: projects, operator roles, escalation between roles
//! and the per-project audit log — the real binary on 127.0.0.1:0, a temporary data
//! directory, HTTP and the CLI from the outside.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{read_request, Server};
use handrail_core::audit::{self, Entry};
use handrail_server::store::{DeliveryTarget, Room};
use serde_json::{json, Value};

/// What these tests do to a server beyond calling it.
trait Manage {
    fn code(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, String);
    fn create(&self, agent: &str, role: Option<&str>, timeout: Option<u64>) -> String;
    fn operator_with(&self, roles: &[&str]) -> String;
    fn resolve(&self, id: &str, token: &str) -> (u16, String);
    fn wait_for(&self, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value;
    fn audit(&self, token: &str, query: &str) -> Vec<Entry>;
}

impl Manage for Server {
    fn code(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, String) {
        let (status, answer) = self.call(method, path, token, body);
        (status, answer["error"]["code"].as_str().unwrap_or("").to_string())
    }

    /// Creates a request and returns its id.
    fn create(&self, agent: &str, role: Option<&str>, timeout: Option<u64>) -> String {
        let mut body = json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}});
        if let Some(role) = role {
            body["role"] = json!(role);
        }
        if let Some(t) = timeout {
            body["timeout_secs"] = json!(t);
        }
        let (status, created) = self.call("POST", "/v1/requests", agent, Some(&body));
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_string()
    }

    /// A new operator token of the bootstrap project that decides `roles`.
    fn operator_with(&self, roles: &[&str]) -> String {
        let (status, key) =
            self.call("POST", "/v1/keys", &self.operator, Some(&json!({"role": "operator", "roles": roles})));
        assert_eq!(status, 201, "{key}");
        key["token"].as_str().unwrap().to_string()
    }

    fn resolve(&self, id: &str, token: &str) -> (u16, String) {
        self.code("POST", &format!("/v1/requests/{id}/resolve"), token, Some(&json!({"decision": "approve"})))
    }

    /// Reads request `id` until `done` holds, for at most `secs` seconds.
    fn wait_for(&self, id: &str, secs: u64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let (_, row) = self.call("GET", &format!("/v1/requests/{id}"), &self.operator, None);
            if done(&row) {
                return row;
            }
            assert!(Instant::now() < deadline, "still {row}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn audit(&self, token: &str, query: &str) -> Vec<Entry> {
        let (status, page) = self.call("GET", &format!("/v1/audit{query}"), token, None);
        assert_eq!(status, 200, "{page}");
        serde_json::from_value(page["entries"].clone()).unwrap()
    }
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

/// A webhook receiver on 127.0.0.1 answering 200; sends each body it gets.
fn receiver() -> (String, std::sync::mpsc::Receiver<Value>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            // Answered whatever came; a body that is not whole JSON is not passed on.
            let request = read_request(&mut stream);
            let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Some(body) = request.and_then(|(_, body)| serde_json::from_str(&body).ok()) {
                let _ = tx.send(body);
            }
        }
    });
    (url, rx)
}

#[test]
fn a_client_id_another_project_has_is_id_taken_and_theirs_is_untouched() {
    let server = Server::fresh("id-collision");
    let (_, created) = server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "other"})));
    let other_agent = created["agent_key"].as_str().unwrap().to_string();
    let other_op = created["operator_token"].as_str().unwrap().to_string();
    let id = "req_collision_0000000001";
    let body =
        |note: &str| json!({"id": id, "service": "bank", "action": "transfer", "payload": {"note": note}});
    let (status, theirs) = server.call("POST", "/v1/requests", &other_agent, Some(&body("theirs")));
    assert_eq!(status, 201, "{theirs}");
    let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body("ours")));
    assert_eq!((status, answer["error"]["code"].as_str()), (409, Some("id_taken")), "{answer}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &other_op, None);
    assert_eq!(row["payload"], json!({"note": "theirs"}));
    assert_eq!(server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None).0, 404);
}

#[test]
fn an_admin_creates_projects_that_see_nothing_of_each_other() {
    let server = Server::fresh("projects");
    let (status, created) =
        server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "acme"})));
    assert_eq!(status, 201, "{created}");
    let other = created["id"].as_str().unwrap().to_string();
    let other_op = created["operator_token"].as_str().unwrap().to_string();
    let other_agent = created["agent_key"].as_str().unwrap().to_string();
    assert!(other.starts_with("prj_") && other != server.project);
    assert!(other_op.starts_with("hr_op_") && other_agent.starts_with("hr_agent_"));

    // Its tokens work at once, each within its project.
    let theirs = server.create(&other_agent, None, None);
    let ours = server.create(&server.agent, None, None);
    for (token, foreign) in [(&other_op, &ours), (&other_agent, &ours), (&server.operator, &theirs)] {
        assert_eq!(server.call("GET", &format!("/v1/requests/{foreign}"), token, None).0, 404);
        assert_eq!(server.call("GET", &format!("/v1/requests/{foreign}/wait?timeout=0"), token, None).0, 404);
    }
    for (token, foreign) in [(&other_op, &ours), (&server.operator, &theirs)] {
        assert_eq!(server.resolve(foreign, token), (404, "not_found".into()));
    }
    let (_, list) = server.call("GET", "/v1/requests", &other_op, None);
    let ids: Vec<&str> =
        list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [theirs.as_str()]);
    assert_eq!(server.resolve(&theirs, &other_op), (200, String::new()));

    // Keys, webhooks, roles are per project too.
    server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({"url": "http://127.0.0.1:9/x"})));
    server.call("POST", "/v1/roles", &server.operator, Some(&json!({"name": "finance"})));
    assert_eq!(server.call("GET", "/v1/webhooks", &other_op, None).1["webhooks"], json!([]));
    assert_eq!(server.call("GET", "/v1/roles", &other_op, None).1["roles"], json!([]));
    assert_eq!(
        server.call("GET", "/v1/roles", &server.operator, None).1["roles"].as_array().unwrap().len(),
        1
    );
    let (_, keys) = server.call("GET", "/v1/keys", &other_op, None);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 2, "{keys}");
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k["admin"] == false));

    // The admin lists every project; any other operator only its own.
    let names = |token: &str| -> Vec<String> {
        let (status, list) = server.call("GET", "/v1/projects", token, None);
        assert_eq!(status, 200, "{list}");
        list["projects"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&server.operator), ["default", "acme"]);
    assert_eq!(names(&other_op), ["acme"]);
    let plain = server.operator_with(&["*"]);
    assert_eq!(names(&plain), ["default"]);

    // Only an admin creates projects or grants admin; bad names are refused.
    for token in [&other_op, &plain] {
        assert_eq!(
            server.code("POST", "/v1/projects", token, Some(&json!({"name": "mine"}))),
            (403, "forbidden".into())
        );
        let grant = json!({"role": "operator", "admin": true});
        assert_eq!(server.code("POST", "/v1/keys", token, Some(&grant)), (403, "forbidden".into()));
    }
    for bad in [json!({"name": ""}), json!({"name": "a\nb"}), json!({"name": "x".repeat(200)}), json!({})] {
        let (status, code) = server.code("POST", "/v1/projects", &server.operator, Some(&bad));
        assert_eq!(status, 400, "{bad} {code}");
    }
    assert_eq!(names(&server.operator).len(), 2, "nothing was stored by the refused calls");

    // The CLI does the same.
    let env = [("HANDRAIL_URL", server.url.as_str()), ("HANDRAIL_OPERATOR_TOKEN", server.operator.as_str())];
    let (code, out, err) = cli(&["projects", "new", "globex"], &env);
    assert_eq!(code, 0, "{err}");
    let made: Value = serde_json::from_str(&out).unwrap();
    let globex_agent = made["agent_key"].as_str().unwrap();
    assert_eq!(server.call("GET", "/v1/requests", globex_agent, None).1["requests"], json!([]));
    let (code, out, _) = cli(&["projects", "ls"], &env);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.contains(made["project"].as_str().unwrap()) && out.contains("globex"));
    let env = [("HANDRAIL_URL", server.url.as_str()), ("HANDRAIL_OPERATOR_TOKEN", other_op.as_str())];
    let (code, _, err) = cli(&["projects", "new", "nope"], &env);
    assert_eq!(code, 2);
    assert!(err.starts_with("error[forbidden]"), "{err}");
}

#[test]
fn agent_keys_are_refused_every_management_route() {
    let server = Server::fresh("agents");
    let routes: [(&str, &str, Option<Value>); 12] = [
        ("POST", "/v1/projects", Some(json!({"name": "x"}))),
        ("GET", "/v1/projects", None),
        ("POST", "/v1/keys", Some(json!({"role": "agent"}))),
        ("GET", "/v1/keys", None),
        ("POST", "/v1/webhooks", Some(json!({"url": "http://127.0.0.1:9/"}))),
        ("GET", "/v1/webhooks", None),
        ("POST", "/v1/roles", Some(json!({"name": "r"}))),
        ("GET", "/v1/roles", None),
        ("DELETE", "/v1/roles/r", None),
        ("GET", "/v1/audit", None),
        ("GET", "/v1/audit?after=0&limit=5", None),
        ("GET", "/v1/events", None),
    ];
    for (method, path, body) in &routes {
        assert_eq!(
            server.code(method, path, &server.agent, body.as_ref()),
            (403, "forbidden".into()),
            "{method} {path}"
        );
    }
    let id = server.create(&server.agent, None, None);
    assert_eq!(server.resolve(&id, &server.agent), (403, "forbidden".into()));
    // Agent keys carry no roles.
    let body = json!({"role": "agent", "roles": ["finance"]});
    assert_eq!(
        server.code("POST", "/v1/keys", &server.operator, Some(&body)),
        (400, "invalid_request".into())
    );
    assert_eq!(
        server.call("GET", "/v1/projects", &server.operator, None).1["projects"].as_array().unwrap().len(),
        1
    );
}

fn ids_as(server: &Server, token: &str, query: &str) -> Vec<String> {
    let (status, list) = server.call("GET", &format!("/v1/requests{query}"), token, None);
    assert_eq!(status, 200, "{list}");
    list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn operators_decide_only_requests_of_their_roles() {
    let server = Server::fresh("roles");
    let env = [("HANDRAIL_URL", server.url.as_str()), ("HANDRAIL_OPERATOR_TOKEN", server.operator.as_str())];
    let (code, token, err) = cli(&["keys", "new", "--role", "operator", "--roles", "finance,legal"], &env);
    assert_eq!(code, 0, "{err}");
    let finance = token.trim().to_string();
    let ops = server.operator_with(&["ops"]);
    let (_, keys, _) = cli(&["keys", "ls"], &env);
    assert!(keys.contains("roles=finance,legal") && keys.contains("roles=* admin"), "{keys}");

    let for_finance = server.create(&server.agent, Some("finance"), None);
    let for_ops = server.create(&server.agent, Some("ops"), None);
    let for_anyone = server.create(&server.agent, None, None);
    assert_eq!(server.resolve(&for_finance, &ops), (403, "role_required".into()));
    assert_eq!(server.resolve(&for_ops, &finance), (403, "role_required".into()));
    // Refused, it is still pending (and not the ops operator's to read); the right role (or *)
    // decides it.
    assert_eq!(server.code("GET", &format!("/v1/requests/{for_finance}"), &ops, None).0, 404);
    let (_, row) = server.call("GET", &format!("/v1/requests/{for_finance}"), &finance, None);
    assert_eq!(row["status"], "PENDING");
    assert_eq!(server.resolve(&for_finance, &finance), (200, String::new()));
    assert_eq!(server.resolve(&for_ops, &server.operator), (200, String::new()));
    assert_eq!(server.resolve(&for_anyone, &ops), (200, String::new()));

    // The queue by role (an operator of `*` reads every role's).
    let second = server.create(&server.agent, Some("finance"), None);
    let ids = |query: &str| -> Vec<String> {
        let (status, list) = server.call("GET", &format!("/v1/requests{query}"), &server.operator, None);
        assert_eq!(status, 200, "{list}");
        list["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    };
    // Newest first; two made in the same second are in no particular order.
    let mut both = ids("?role=finance");
    both.sort();
    let mut expected = [second.clone(), for_finance.clone()];
    expected.sort();
    assert_eq!(both, expected);
    assert_eq!(ids("?role=finance&status=PENDING"), std::slice::from_ref(&second));
    assert_eq!(ids("?role=ops"), [for_ops]);
    assert_eq!(ids("?role=nobody"), Vec::<String>::new());

    // A role-limited operator reads only its roles' queue, and makes no keys and changes no
    // roles: those are project-wide powers.
    let mut own = ids_as(&server, &finance, "");
    own.sort();
    let mut expected = [second.clone(), for_finance.clone(), for_anyone.clone()];
    expected.sort();
    assert_eq!(own, expected, "finance's queue: its own role's requests and the unrestricted one");
    for roles in [json!(["*"]), json!(["ops"]), json!(["legal"])] {
        let body = json!({"role": "operator", "roles": roles});
        assert_eq!(
            server.code("POST", "/v1/keys", &finance, Some(&body)),
            (403, "all_roles_required".into())
        );
    }
    let rule = json!({"name": "legal", "escalate_to": "finance", "escalate_after_secs": 1});
    assert_eq!(server.code("POST", "/v1/roles", &finance, Some(&rule)), (403, "all_roles_required".into()));
    for bad in [json!({"role": "operator", "roles": []}), json!({"role": "operator", "roles": ["a b"]})] {
        assert_eq!(server.call("POST", "/v1/keys", &server.operator, Some(&bad)).0, 400, "{bad}");
    }

    // Roles: created, listed, refused twice, checked, deleted.
    assert_eq!(server.call("POST", "/v1/roles", &server.operator, Some(&rule)).0, 201);
    assert_eq!(server.code("POST", "/v1/roles", &server.operator, Some(&rule)), (409, "role_exists".into()));
    for bad in [
        json!({"name": "x", "escalate_to": "x", "escalate_after_secs": 5}),
        json!({"name": "x", "escalate_to": "y"}),
        json!({"name": "x", "escalate_to": "y", "escalate_after_secs": 0}),
        json!({"name": "no spaces"}),
    ] {
        assert_eq!(server.call("POST", "/v1/roles", &server.operator, Some(&bad)).0, 400, "{bad}");
    }
    let (_, roles) = server.call("GET", "/v1/roles", &ops, None);
    assert_eq!(roles["roles"].as_array().unwrap().len(), 1, "{roles}");
    assert_eq!(roles["roles"][0]["escalate_to"], "finance");
    assert_eq!(server.call("DELETE", "/v1/roles/legal", &server.operator, None).0, 204);
    assert_eq!(server.code("DELETE", "/v1/roles/legal", &server.operator, None), (404, "not_found".into()));
}

#[test]
fn a_request_escalates_to_the_next_role_and_expiry_wins() {
    let server = Server::fresh("escalate");
    let (url, hooks) = receiver();
    assert_eq!(server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({"url": url}))).0, 201);
    let rule = json!({"name": "l1", "escalate_to": "l2", "escalate_after_secs": 1});
    assert_eq!(server.call("POST", "/v1/roles", &server.operator, Some(&rule)).0, 201);
    let l1 = server.operator_with(&["l1"]);
    let l2 = server.operator_with(&["l2"]);
    // Live views hear of it: an event stream opened before.
    let events = {
        let url = format!("{}/v1/events", server.url);
        let token = server.operator.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let response = ureq::get(&url).set("Authorization", &format!("Bearer {token}")).call().unwrap();
            for line in BufReader::new(response.into_reader()).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    };
    std::thread::sleep(Duration::from_millis(200));

    let id = server.create(&server.agent, Some("l1"), None);
    // Due at the same moment as its deadline: it expires, it does not escalate.
    let doomed = server.create(&server.agent, Some("l1"), Some(1));

    let row = server.wait_for(&id, 15, |r| r["role"] == "l2");
    assert_eq!(row["status"], "PENDING");
    let moves = row["escalations"].as_array().unwrap();
    assert_eq!(moves.len(), 1, "{row}");
    assert_eq!((moves[0]["from"].as_str(), moves[0]["to"].as_str()), (Some("l1"), Some("l2")));
    assert!(moves[0]["at"].as_i64().unwrap() > row["created_at"].as_i64().unwrap(), "not before its delay");

    let expired = server.wait_for(&doomed, 15, |r| r["status"] != "PENDING");
    assert_eq!(expired["status"], "EXPIRED");
    assert_eq!(expired["role"], "l1");
    assert!(expired.get("escalations").is_none(), "{expired}");

    // The audit log, a webhook and the live stream say so.
    let entries = server.audit(&server.operator, "");
    let escalated: Vec<&Entry> = entries.iter().filter(|e| e.event == "request.escalated").collect();
    assert_eq!(escalated.len(), 1);
    assert_eq!((escalated[0].subject.as_str(), &escalated[0].data["to"]), (id.as_str(), &json!("l2")));
    let deadline = Instant::now() + Duration::from_secs(20);
    let hook = loop {
        let body =
            hooks.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a delivery");
        if body["type"] == "request.escalated" {
            break body;
        }
    };
    assert_eq!((hook["data"]["id"].as_str(), hook["data"]["role"].as_str()), (Some(id.as_str()), Some("l2")));
    let streamed = loop {
        let line = events.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("an event");
        if line == "event: request.escalated" {
            break events.recv_timeout(Duration::from_secs(5)).unwrap();
        }
    };
    assert!(streamed.starts_with("data: ") && streamed.contains(&id), "{streamed}");

    // Now it is l2's to decide, not l1's.
    assert_eq!(server.resolve(&id, &l1), (403, "role_required".into()));
    assert_eq!(server.resolve(&id, &l2), (200, String::new()));
}

#[test]
fn an_escalation_cycle_stops_after_a_bounded_number_of_hops() {
    let server = Server::fresh("cycle");
    for (from, to) in [("a", "b"), ("b", "a")] {
        let rule = json!({"name": from, "escalate_to": to, "escalate_after_secs": 1});
        assert_eq!(server.call("POST", "/v1/roles", &server.operator, Some(&rule)).0, 201);
    }
    let id = server.create(&server.agent, Some("a"), None);
    let hops = |r: &Value| r["escalations"].as_array().map_or(0, Vec::len);
    let row = server.wait_for(&id, 60, |r| hops(r) >= 8);
    assert_eq!(hops(&row), 8, "{row}");
    let moves = row["escalations"].as_array().unwrap();
    for (i, m) in moves.iter().enumerate() {
        let (from, to) = if i % 2 == 0 { ("a", "b") } else { ("b", "a") };
        assert_eq!((m["from"].as_str(), m["to"].as_str()), (Some(from), Some(to)));
    }
    assert_eq!(row["role"], "a");
    // Several sweeps later it has not moved again, and it still waits for a decision.
    std::thread::sleep(Duration::from_secs(3));
    let (_, later) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!((hops(&later), later["status"].as_str()), (8, Some("PENDING")));
    let escalated =
        server.audit(&server.operator, "").into_iter().filter(|e| e.event == "request.escalated").count();
    assert_eq!(escalated, 8);
}

#[test]
fn each_project_reads_and_verifies_its_own_audit_chain() {
    let server = Server::fresh("audit");
    let (_, created) = server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "acme"})));
    let other = created["id"].as_str().unwrap().to_string();
    let other_op = created["operator_token"].as_str().unwrap().to_string();
    let other_agent = created["agent_key"].as_str().unwrap().to_string();
    // Interleaved activity in both projects.
    for i in 0..3 {
        let ours = server.create(&server.agent, None, None);
        let theirs = server.create(&other_agent, None, None);
        if i % 2 == 0 {
            server.resolve(&ours, &server.operator);
            server.resolve(&theirs, &other_op);
        }
    }
    let ours = server.audit(&server.operator, "");
    let theirs = server.audit(&other_op, "?limit=1000");
    assert_eq!(ours.len(), 6, "project.created (the bootstrap), 3 creates and 2 decisions");
    assert_eq!(theirs.len(), 6, "project.created, 3 creates and 2 decisions");
    assert!(ours.iter().all(|e| e.project == server.project));
    assert!(theirs.iter().all(|e| e.project == other));
    assert_eq!(theirs[0].event, "project.created");
    assert_eq!(theirs.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5, 6]);
    assert_eq!(audit::verify(&ours).unwrap(), 6);
    assert_eq!(audit::verify(&theirs).unwrap(), 6);

    // Pages continue the chain.
    let (_, page) = server.call("GET", "/v1/audit?limit=4", &other_op, None);
    assert_eq!(page["next"], 4);
    let first: Vec<Entry> = serde_json::from_value(page["entries"].clone()).unwrap();
    let rest = server.audit(&other_op, "?after=4&limit=4");
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 6]);
    assert_eq!(audit::verify(&first).unwrap(), 4);
    assert_eq!(audit::verify_after(first.last(), &rest).unwrap(), 2);
    assert_eq!(
        server.call("GET", "/v1/audit?after=6", &other_op, None).1,
        json!({"entries": [], "next": null})
    );
    assert_eq!(server.code("GET", "/v1/audit?after=x", &other_op, None), (400, "invalid_request".into()));

    // The CLI checks every chain, in the database and in an export.
    let store = server.store_args();
    let store: Vec<&str> = store.iter().map(String::as_str).collect();
    let (code, out, err) = cli(&[&["audit", "verify"], &store[..]].concat(), &[]);
    // (A second line counts the signed checkpoints, which the server signs every second.)
    assert_eq!(
        (code, out.lines().next()),
        (0, Some("audit chain intact: 12 entries in 2 project chains")),
        "{err}"
    );
    let (_, export, _) = cli(&[&["audit", "export"], &store[..]].concat(), &[]);
    let file = server.dir.join("audit.jsonl");
    std::fs::write(&file, &export).unwrap();
    assert_eq!(cli(&["audit", "verify", "--file", file.to_str().unwrap()], &[]).0, 0);
    // One project's entries alone (what its operator can fetch) verify as a file too.
    let mine: String = theirs.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    let file = server.dir.join("acme.jsonl");
    std::fs::write(&file, mine).unwrap();
    let (code, out, _) = cli(&["audit", "verify", "--file", file.to_str().unwrap()], &[]);
    assert_eq!((code, out.trim()), (0, "audit chain intact: 6 entries"));

    // Someone edits acme's entry 3 in the database: verification fails there, naming it.
    let query =
        format!("SELECT seq, entry FROM audit WHERE project = {} AND project_seq = 3", common::quote(&other));
    let rows = common::sql(&server.dir, &query).0;
    let (rowid, entry) = (&rows[0][0], &rows[0][1]);
    let forged = entry.replace("\"actor\":\"", "\"actor\":\"x");
    assert_ne!(&forged, entry);
    let update = format!("UPDATE audit SET entry = {} WHERE seq = {rowid}", common::quote(&forged));
    assert_eq!(common::sql(&server.dir, &update).1, 1);
    let (code, _, err) = cli(&[&["audit", "verify"], &store[..]].concat(), &[]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!(
            "error[audit_broken]: audit chain broken at entry 3 of project \"{other}\""
        )),
        "{err}"
    );
    // The project's operator sees it too, with the core; the other project's chain still holds.
    assert!(audit::verify(&server.audit(&other_op, "")).is_err());
    assert_eq!(audit::verify(&server.audit(&server.operator, "")).unwrap(), 6);
}

#[test]
fn a_database_of_the_previous_schema_is_migrated() {
    if common::skip_on_postgres("the SQLite store's migration from its previous schema") {
        return;
    }
    use handrail_server::store::{AuditLog, Projects, Requests, Role, Sqlite};
    let dir = std::env::temp_dir().join(format!("handrail-manage-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handrail.db");
    // The tables as the previous version made them, with a bootstrap's keys, a request for a
    // role and its audit entry.
    let entry = audit::chain(
        None,
        audit::Fields {
            at: 1,
            project: "prj_a",
            actor: "key_ag",
            event: "request.created",
            subject: "req_1",
            data: &json!({}),
        },
    )
    .unwrap();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE keys (token_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL UNIQUE,
                project TEXT NOT NULL REFERENCES projects(id), role TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE requests (id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id), body TEXT NOT NULL,
                status TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
             CREATE TABLE audit (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
             INSERT INTO projects VALUES ('prj_a', 'default', 1);
             INSERT INTO keys VALUES ('h_agent', 'key_ag', 'prj_a', 'agent', 1);
             INSERT INTO keys VALUES ('h_boot', 'key_boot', 'prj_a', 'operator', 1);
             INSERT INTO keys VALUES ('h_later', 'key_later', 'prj_a', 'operator', 2);",
        )
        .unwrap();
        let body = json!({"id": "req_1", "project": "prj_a", "service": "s", "action": "a", "payload": {},
            "priority": "medium", "role": "finance", "status": "PENDING", "created_at": 1, "expires_at": 9});
        conn.execute(
            "INSERT INTO requests VALUES ('req_1', 'prj_a', ?1, 'PENDING', 1, 9)",
            [body.to_string()],
        )
        .unwrap();
        // A request decided before decisions had a column: its decision is in its body.
        let decided = json!({"id": "req_0", "project": "prj_a", "service": "s", "action": "a", "payload": {},
            "priority": "medium", "status": "REJECTED", "created_at": 1, "expires_at": 9,
            "decision": {"request_id": "req_0", "status": "REJECTED", "actor": "key_boot", "reason": "no",
                "decided_at": 2}});
        conn.execute(
            "INSERT INTO requests VALUES ('req_0', 'prj_a', ?1, 'REJECTED', 1, 9)",
            [decided.to_string()],
        )
        .unwrap();
        conn.execute("INSERT INTO audit VALUES (1, ?1)", [serde_json::to_string(&entry).unwrap()]).unwrap();
    }
    let store = Sqlite::open(&db).unwrap();
    let old = store.request("prj_a", "req_0").unwrap().unwrap();
    assert_eq!(old.status, handrail_core::request::Status::Rejected);
    assert_eq!(old.decision.as_ref().and_then(|d| d.reason.as_deref()), Some("no"));
    let boot = store.principal("h_boot").unwrap().unwrap();
    assert_eq!(
        (boot.admin, boot.roles.as_slice()),
        (true, ["*".to_string()].as_slice()),
        "the bootstrap operator"
    );
    let later = store.principal("h_later").unwrap().unwrap();
    assert!(!later.admin && later.may_decide(Some("finance")));
    let agent = store.principal("h_agent").unwrap().unwrap();
    assert_eq!((agent.role, agent.admin, agent.may_decide(None)), (Role::Agent, false, false));
    let filter =
        handrail_server::store::RequestFilter { role: Some("finance"), limit: 10, ..Default::default() };
    let listed = store.list("prj_a", &filter).unwrap();
    assert_eq!(listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["req_1"]);
    let every =
        store.list("prj_a", &handrail_server::store::RequestFilter { limit: 10, ..Default::default() });
    assert_eq!(every.unwrap().iter().map(|r| r.status.as_str()).collect::<Vec<_>>(), ["REJECTED", "PENDING"]);
    // A row stored before summaries were kept is summarized from its body.
    let summaries = store.list_summaries("prj_a", &filter).unwrap();
    assert_eq!(summaries, [handrail_core::request::RequestSummary::of(&listed[0])]);
    assert_eq!((summaries[0].preview.as_deref(), summaries[0].complete), (Some("{}"), true));
    // The old chain is the project's chain, and new entries continue it.
    assert_eq!(store.audit_page("prj_a", 0, 10).unwrap(), [entry]);
    let rule = handrail_server::store::RoleRule {
        name: "finance".into(),
        escalate_to: None,
        escalate_after_secs: None,
        created_at: 3,
    };
    let event = handrail_server::store::AuditEvent {
        at: 3,
        actor: "key_boot",
        event: "role.created",
        data: json!({}),
    };
    assert!(store.add_role("prj_a", &rule, event).unwrap());
    drop(store);
    let store = Sqlite::open(&db).unwrap(); // a second open migrates nothing twice
    let chains = audit::verify_log(&store.audit_log().unwrap()).unwrap();
    assert_eq!(chains.into_iter().collect::<Vec<_>>(), [("prj_a".to_string(), 2)]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_delivery_log_of_the_previous_schema_is_migrated() {
    if common::skip_on_postgres("the SQLite store's migration of its previous delivery log") {
        return;
    }
    use handrail_server::store::{Deliveries, Sqlite};
    let dir = std::env::temp_dir().join(format!("handrail-manage-deliveries-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handrail.db");
    // Deliveries as the previous version made them: always to a registered endpoint.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE projects (id TEXT PRIMARY KEY, name TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE webhooks (id TEXT PRIMARY KEY, project TEXT NOT NULL REFERENCES projects(id),
                url TEXT NOT NULL, secret TEXT NOT NULL, created_at INTEGER NOT NULL);
             CREATE TABLE deliveries (
                id TEXT PRIMARY KEY, webhook TEXT NOT NULL REFERENCES webhooks(id), project TEXT NOT NULL,
                event TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                next_ms INTEGER, last_outcome TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
             CREATE INDEX deliveries_due ON deliveries(state, next_ms);
             INSERT INTO projects VALUES ('prj_a', 'default', 1);
             INSERT INTO webhooks VALUES ('wh_1', 'prj_a', 'http://127.0.0.1:9/hook', 'whsec_x', 1);
             INSERT INTO deliveries VALUES ('msg_1', 'wh_1', 'prj_a', 'request.created',
                '{\"type\":\"request.created\",\"data\":{\"id\":\"req_1\"}}', 'pending', 0, 5, NULL, 5, 5);",
        )
        .unwrap();
    }
    let store = Sqlite::open(&db).unwrap();
    let room = Room { per_endpoint: 4, webhooks: true, callbacks: true, ..Room::default() };
    let due = store.claim_deliveries(10, 10, 1000, &room).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].id.as_str(), due[0].url.as_str(), due[0].secret.as_deref(), due[0].callback),
        ("msg_1", "http://127.0.0.1:9/hook", Some("whsec_x"), false)
    );
    let log = store.request_deliveries("prj_a", "req_1", 10).unwrap();
    assert_eq!(log.len(), 1, "the request is read from the old body");
    assert_eq!((log[0].target, log[0].webhook.as_deref()), (DeliveryTarget::Webhook, Some("wh_1")));
    assert_eq!(store.deliveries("prj_a", "wh_1", 10).unwrap().len(), 1);
    drop(store);
    let store = Sqlite::open(&db).unwrap(); // a second open migrates nothing twice
                                            // Claimed above until 1010: due again after that.
    assert_eq!(store.claim_deliveries(1010, 10, 1000, &room).unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_notification_outbox_of_the_previous_schema_is_migrated() {
    use handrail_server::store::{ChannelKind, Channels, Sqlite};
    let dir = std::env::temp_dir().join(format!("handrail-manage-notifications-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handrail.db");
    // The outbox as the previous version made it: no place for a posted message's ts.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE notifications (
                id TEXT PRIMARY KEY, project TEXT NOT NULL, request TEXT NOT NULL, kind TEXT NOT NULL,
                address TEXT NOT NULL, event TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                next_ms INTEGER, last_outcome TEXT, created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
             INSERT INTO notifications VALUES ('ntf_1', 'prj_a', 'req_1', 'email', 'a@example.com',
                'request.created', 'pending', 0, 5, NULL, 5, 5);",
        )
        .unwrap();
    }
    let store = Sqlite::open(&db).unwrap();
    assert!(store.claim_notifications(ChannelKind::Slack, 10, 10, 1000).unwrap().is_empty());
    let due = store.claim_notifications(ChannelKind::Email, 10, 10, 1000).unwrap();
    assert_eq!(due.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["ntf_1"]);
    store.record_posted("ntf_1", "C0FINANCE1", "1700000000.000100", 10).unwrap();
    drop(store);
    let store = Sqlite::open(&db).unwrap(); // a second open migrates nothing twice
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let posted: (String, String) = conn
        .query_row("SELECT posted_channel, posted_ts FROM notifications WHERE id = 'ntf_1'", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(posted, ("C0FINANCE1".to_string(), "1700000000.000100".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn thread_checkpoints_of_the_previous_schema_are_migrated() {
    if common::skip_on_postgres("the SQLite store's migration of its previous checkpoint table") {
        return;
    }
    use handrail_server::store::{Checkpoints, Sqlite};
    let dir = std::env::temp_dir().join(format!("handrail-manage-checkpoints-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("handrail.db");
    // The table as the previous version named it, after the compatibility layer.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "CREATE TABLE compat_checkpoints (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, thread TEXT NOT NULL,
                id TEXT NOT NULL, body TEXT NOT NULL, created_at INTEGER NOT NULL, UNIQUE (project, thread, id));
             INSERT INTO compat_checkpoints (project, thread, id, body, created_at)
                VALUES ('prj_a', 't1', 'c1', '{\"n\":1}', 5), ('prj_a', 't1', 'c2', '{\"n\":2}', 6);",
        )
        .unwrap();
    }
    let store = Sqlite::open(&db).unwrap();
    assert_eq!(store.checkpoint("prj_a", "t1", None).unwrap().as_deref(), Some("{\"n\":2}"));
    assert_eq!(store.checkpoint("prj_a", "t1", Some("c1")).unwrap().as_deref(), Some("{\"n\":1}"));
    drop(store);
    let store = Sqlite::open(&db).unwrap(); // a second open migrates nothing twice
    assert_eq!(store.delete_checkpoints("prj_a", "t1").unwrap(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn revoked_keys_stop_working_and_removed_webhooks_get_nothing() {
    let server = Server::fresh("revoke");
    let (status, created) =
        server.call("POST", "/v1/keys", &server.operator, Some(&json!({"role": "agent"})));
    assert_eq!(status, 201);
    let (key_id, token) = (created["key_id"].as_str().unwrap(), created["token"].as_str().unwrap());
    server.create(token, None, None);
    // Agents revoke nothing; another project's operator cannot see the key.
    assert_eq!(server.code("DELETE", &format!("/v1/keys/{key_id}"), &server.agent, None).0, 403);
    let (_, other) = server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "other"})));
    let other_op = other["operator_token"].as_str().unwrap();
    assert_eq!(
        server.code("DELETE", &format!("/v1/keys/{key_id}"), other_op, None),
        (404, "not_found".into())
    );
    // Revoked: the next call with that token is refused, and the revocation is audited.
    assert_eq!(server.call("DELETE", &format!("/v1/keys/{key_id}"), &server.operator, None).0, 204);
    assert_eq!(server.code("GET", "/v1/requests", token, None), (401, "unauthorized".into()));
    assert_eq!(
        server.code("DELETE", &format!("/v1/keys/{key_id}"), &server.operator, None),
        (404, "not_found".into())
    );
    let (_, keys) = server.call("GET", "/v1/keys", &server.operator, None);
    assert!(keys["keys"].as_array().unwrap().iter().all(|k| k["key_id"] != key_id));
    let entries = server.audit(&server.operator, "");
    assert!(entries.iter().any(|e| e.event == "key.revoked" && e.subject == key_id));
    // A token cannot revoke itself; a non-admin cannot revoke the admin.
    let (_, me) = server.call("GET", "/v1/keys", &server.operator, None);
    let admin_id = me["keys"].as_array().unwrap().iter().find(|k| k["admin"] == true).unwrap()["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        server.code("DELETE", &format!("/v1/keys/{admin_id}"), &server.operator, None),
        (409, "own_key".into())
    );
    let plain = server.operator_with(&["*"]);
    assert_eq!(
        server.code("DELETE", &format!("/v1/keys/{admin_id}"), &plain, None),
        (403, "forbidden".into())
    );

    // A removed endpoint gets no delivery for later changes, and its log is gone.
    let (rx_url, rx) = receiver();
    let (_, hook) = server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({"url": rx_url})));
    let hook_id = hook["id"].as_str().unwrap();
    server.create(&server.agent, None, None);
    rx.recv_timeout(std::time::Duration::from_secs(20)).expect("delivered while registered");
    assert_eq!(server.code("DELETE", &format!("/v1/webhooks/{hook_id}"), &server.agent, None).0, 403);
    assert_eq!(server.call("DELETE", &format!("/v1/webhooks/{hook_id}"), &server.operator, None).0, 204);
    assert_eq!(
        server.code("DELETE", &format!("/v1/webhooks/{hook_id}"), &server.operator, None),
        (404, "not_found".into())
    );
    server.create(&server.agent, None, None);
    assert!(rx.recv_timeout(std::time::Duration::from_secs(2)).is_err(), "nothing after removal");
    let (_, hooks) = server.call("GET", "/v1/webhooks", &server.operator, None);
    assert!(hooks["webhooks"].as_array().unwrap().is_empty());
}

/// Creates a LoopPause pause whose own escalation (`escalation.after_hours`, kept as the
/// request's `context.escalate_at`) falls due in about a second; its id.
fn pause_escalating_soon(server: &Server, key: &str) -> String {
    let body = json!({
        "agent_id": "billing-agent",
        "action": {"type": "refund", "amount": 40},
        "escalation": {"after_hours": 0.0003, "escalate_to": "manager@acme.eu"},
    });
    let (status, made) =
        server.call_with_key("POST", "/compat/looppause/v1/pauses", &server.agent, Some(&body), Some(key));
    assert_eq!(status, 201, "{made}");
    made["pause_id"].as_str().unwrap().to_string()
}

#[test]
fn a_request_with_its_own_escalation_time_escalates_once_when_due() {
    let server = Server::fresh("own-escalation");
    let id = pause_escalating_soon(&server, "own-1");
    let row = server.wait_for(&id, 20, |r| r.get("escalations").is_some_and(|e| e.is_array()));
    assert_eq!(row["status"], "PENDING");
    assert_eq!(row["escalations"].as_array().unwrap().len(), 1, "{row}");
    assert_eq!(row["escalations"][0]["target"], "manager@acme.eu");
    // Once: a few more sweeps later, still one.
    std::thread::sleep(Duration::from_millis(2500));
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["escalations"].as_array().unwrap().len(), 1, "{row}");
    // A decided request is not escalated: decided before its time, it never is.
    let (status, made) = server.call_with_key(
        "POST",
        "/compat/looppause/v1/pauses",
        &server.agent,
        Some(&json!({"agent_id": "billing-agent", "action": {"type": "refund"},
                     "escalation": {"after_hours": 0.0003, "escalate_to": "manager@acme.eu"}})),
        Some("own-2"),
    );
    assert_eq!(status, 201);
    let decided = made["pause_id"].as_str().unwrap().to_string();
    assert_eq!(server.resolve(&decided, &server.operator), (200, String::new()));
    std::thread::sleep(Duration::from_millis(2500));
    let (_, row) = server.call("GET", &format!("/v1/requests/{decided}"), &server.operator, None);
    assert_eq!(row["status"], "APPROVED");
    assert!(row.get("escalations").is_none(), "{row}");
}

/// PostgreSQL schema version 4 keeps a request's own escalation time in a column: pending
/// requests of a database at version 3 (the time only in the body, behind an expression index)
/// get theirs at the upgrade, and still escalate.
#[test]
fn a_pending_request_of_a_version_3_database_escalates_after_the_upgrade() {
    if common::test_postgres().is_none() {
        return; // the layout of version 2 is PostgreSQL's
    }
    let server = Server::fresh("own-escalation-upgrade");
    // Created a minute ahead of its escalation, then moved back to version 3 at once.
    let body = json!({
        "agent_id": "billing-agent",
        "action": {"type": "refund"},
        "escalation": {"after_hours": 0.02, "escalate_to": "manager@acme.eu"},
    });
    let (status, made) =
        server.call_with_key("POST", "/compat/looppause/v1/pauses", &server.agent, Some(&body), Some("up-1"));
    assert_eq!(status, 201, "{made}");
    let id = made["pause_id"].as_str().unwrap().to_string();
    let (operator, dir) = (server.operator.clone(), server.into_dir());
    common::postgres_back_to_version(&dir, 3);
    // Its time is now: as if the minute had passed.
    common::sql(
        &dir,
        &format!(
            "UPDATE requests SET body = jsonb_set(body::jsonb, '{{context,escalate_at}}', to_jsonb(extract(epoch from now())::bigint))::text
             WHERE id = {}",
            common::quote(&id)
        ),
    );
    let server = Server::start(dir);
    let (rows, _) = common::sql(&server.dir, "SELECT max(version) FROM schema_migrations");
    assert_eq!(rows, vec![vec!["4".to_string()]]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &operator, None);
        if row.get("escalations").is_some_and(|e| e.is_array()) {
            assert_eq!(row["escalations"][0]["target"], "manager@acme.eu", "{row}");
            break;
        }
        assert!(Instant::now() < deadline, "not escalated after the upgrade: {row}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
