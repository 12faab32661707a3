//! Approve only what you saw, on the server's side: names that hold bidi controls or other
//! invisible characters are refused at create (`invisible_character`, the core's rule) and
//! nothing is stored; string values may hold them; the queue's summary says whether its
//! preview is the whole payload.

mod common;

use common::Server;
use serde_json::{json, Value};

fn pending(server: &Server) -> Vec<Value> {
    let (status, list) =
        server.call("GET", "/v1/requests?status=PENDING&view=summary", &server.operator, None);
    assert_eq!(status, 200, "{list}");
    list["requests"].as_array().unwrap().clone()
}

#[test]
fn a_bidi_or_invisible_character_in_a_name_is_refused_and_nothing_is_stored() {
    let server = Server::fresh("invisible");
    let cases = [
        ("service", json!({"service": "pay\u{202E}lapyap", "action": "send", "payload": {}})),
        ("action", json!({"service": "pay", "action": "se\u{200B}nd", "payload": {}})),
        ("role", json!({"service": "pay", "action": "send", "role": "fin\u{2066}ance", "payload": {}})),
        (
            "payload member name",
            json!({"service": "pay", "action": "send", "payload": {"to\u{202E}": "acct_1"}}),
        ),
        (
            "payload member name",
            json!({"service": "pay", "action": "send", "payload": {"items": [{"a\u{FEFF}": 1}]}}),
        ),
        (
            "schema member name",
            json!({"service": "pay", "action": "send", "payload": {},
                   "schema": {"type": "object", "properties": {"x\u{00AD}": {"type": "string"}}}}),
        ),
        (
            "context member name",
            json!({"service": "pay", "action": "send", "payload": {}, "context": {"t\u{E0041}": 1}}),
        ),
    ];
    for (what, body) in &cases {
        let (status, err) = server.call("POST", "/v1/requests", &server.agent, Some(body));
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (400, Some("invisible_character")),
            "{what}: {err}"
        );
        assert!(err["error"]["message"].as_str().unwrap().contains(what), "{err}");
    }
    assert_eq!(pending(&server), Vec::<Value>::new(), "nothing was stored");
    let (_, all) = server.call("GET", "/v1/requests", &server.operator, None);
    assert_eq!(all["requests"], json!([]));

    // In a value it is allowed (and shown escaped by the dashboard and the CLI).
    let body = json!({"service": "pay", "action": "send", "payload": {"to": "acct_\u{202E}1"}});
    let (status, row) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
    assert_eq!(status, 201, "{row}");
    assert_eq!(row["payload"]["to"], "acct_\u{202E}1");
}

#[test]
fn roles_and_key_role_lists_refuse_the_same_characters() {
    let server = Server::fresh("invisible-roles");
    let (status, err) =
        server.call("POST", "/v1/roles", &server.operator, Some(&json!({"name": "fin\u{202E}ance"})));
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invisible_character")), "{err}");
    let (status, err) = server.call(
        "POST",
        "/v1/keys",
        &server.operator,
        Some(&json!({"role": "operator", "roles": ["legal\u{200F}"]})),
    );
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invisible_character")), "{err}");
    // Other characters outside the role alphabet keep their own code.
    let (status, err) = server.call("POST", "/v1/roles", &server.operator, Some(&json!({"name": "a b"})));
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_role")), "{err}");
    let (_, roles) = server.call("GET", "/v1/roles", &server.operator, None);
    assert_eq!(roles["roles"], json!([]));
}

#[test]
fn the_summary_says_whether_the_preview_is_the_whole_payload() {
    let server = Server::fresh("complete");
    let create = |payload: Value| {
        let body = json!({"service": "bank", "action": "transfer", "payload": payload});
        let (status, row) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        assert_eq!(status, 201, "{row}");
        row["id"].as_str().unwrap().to_string()
    };
    let short = create(json!({"to": "acct_1", "amount": 10}));
    let padded = create(json!({"note": "x".repeat(200), "to": "acct_attacker", "amount": 10}));
    let exact = create(json!({"n": "y".repeat(160 - 8)})); // {"n":"…"} is exactly 160 bytes
    let sealed =
        create(json!({"v": 1, "alg": "A256GCM", "kid": "k1", "iv": "AAAAAAAAAAAAAAAA", "ct": "AAAA"}));
    let rows = pending(&server);
    let by = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(by(&short)["complete"], true);
    let whole: Value = serde_json::from_str(by(&short)["preview"].as_str().unwrap()).unwrap();
    assert_eq!(whole, json!({"to": "acct_1", "amount": 10}));
    let p = by(&padded);
    assert_eq!(p["complete"], false);
    assert_eq!(p["preview"].as_str().unwrap().len(), 160);
    assert!(!p["preview"].as_str().unwrap().contains("acct_attacker"), "the cut hides it: {p}");
    assert_eq!(by(&exact)["complete"], true);
    assert_eq!(by(&exact)["preview"].as_str().unwrap().len(), 160);
    assert_eq!(
        (by(&sealed)["complete"].clone(), by(&sealed)["encrypted"].clone()),
        (json!(false), json!(true))
    );
}

/// Rows stored before the rule (or by another writer) may still hold such names: `handrail
/// requests ls` writes them revealed, so a U+202E cannot reorder the terminal line. The
/// answer comes from a stand-in server, since the real one no longer stores such a name.
#[test]
fn requests_ls_reveals_invisible_characters_in_names() {
    use std::io::Write;
    use std::net::TcpListener;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = json!({"requests": [{
        "id": "req_AAAAAAAAAAAAAAAA", "status": "PENDING", "priority": "high",
        "service": "pay\u{202E}tuo", "action": "send\u{200B}", "payload": {},
    }]})
    .to_string();
    let stand_in = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        common::read_request(&mut stream).unwrap();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            answer.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(answer.as_bytes()).unwrap();
    });
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_handrail"))
        .args(["requests", "ls"])
        .env("HANDRAIL_URL", &url)
        .env("HANDRAIL_OPERATOR_TOKEN", "hr_op_test")
        .output()
        .unwrap();
    stand_in.join().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("pay<U+202E>tuo/send<U+200B>"), "{text}");
    assert!(!text.contains('\u{202E}') && !text.contains('\u{200B}'), "{text}");
}
