//! Client-chosen request ids against the real binary, driven by the core's protocol module
//! (the same bytes the Python and TypeScript SDKs send): the server keeps the id the client
//! sealed the payload for, replays a repeated create, and refuses a taken id.

mod common;

use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Server;
use handrail_core::envelope::{is_envelope, Key};
use handrail_core::protocol::{Ask, Client, HttpRequest, HttpResponse, WaitStep};
use handrail_core::request::Status;
use serde_json::{json, Value};

/// Sends a request the protocol built, returns the answer as the protocol reads it.
fn send(req: &HttpRequest) -> HttpResponse {
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
    let headers = response
        .headers_names()
        .iter()
        .map(|n| (n.clone(), response.header(n).unwrap_or("").to_string()))
        .collect();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).unwrap();
    HttpResponse { status, headers, body }
}

fn operator(server: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let call = ureq::request(method, &format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {}", server.operator));
    let result = match body {
        Some(b) => call.set("content-type", "application/json").send_bytes(b.to_string().as_bytes()),
        None => call.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = response.status();
    (status, serde_json::from_str(&response.into_string().unwrap()).unwrap_or(Value::Null))
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn the_server_keeps_the_client_id_and_replays_a_repeated_create() {
    let server = Server::fresh("replay");
    let key = Key::generate("team").unwrap();
    let mut client = Client::new(&server.url, &server.agent).unwrap().with_encryption_key(key);
    let ask = Ask {
        service: "stripe".into(),
        action: "refund".into(),
        payload: json!({"amount": 500, "to": "acct_1"}),
        idempotency_scope: Some("thread-1".into()),
        ..Ask::default()
    };
    let create = client.create(&ask).unwrap();
    let first = send(&create.request);
    assert_eq!(first.status, 201, "{}", String::from_utf8_lossy(&first.body));
    let record = client.parse_record(&first).unwrap();
    assert_eq!(record.id, create.id);
    assert!(is_envelope(&record.payload));

    // The same step again: the same bytes, the same request back, no second one.
    let again = client.create(&ask).unwrap();
    let replay = send(&again.request);
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(client.parse_record(&replay).unwrap().id, create.id);
    let (_, list) = operator(&server, "GET", "/v1/requests", None);
    assert_eq!(list["requests"].as_array().unwrap().len(), 1, "{list}");
    assert!(!list.to_string().contains("acct_1"), "the server stores only the envelope");

    // The id with another Idempotency-Key: taken.
    let mut stolen = client.create(&ask).unwrap().request;
    for (name, value) in &mut stolen.headers {
        if name == "idempotency-key" {
            *value = "another-key".into();
        }
    }
    let taken = send(&stolen);
    assert_eq!(taken.status, 409);
    let error = client.parse_record(&taken).unwrap_err();
    assert_eq!(error.code(), "conflict");
    assert!(error.to_string().contains("id_taken"), "{error}");

    // An id of the wrong form is refused.
    let mut bad = create.request.clone();
    let body = String::from_utf8(bad.body).unwrap().replace(&create.id, "req_x");
    bad.body = body.into_bytes();
    bad.headers.retain(|(n, _)| n != "idempotency-key");
    assert_eq!(send(&bad).status, 400);

    // Decided through the operator API, waited for and opened by the protocol; the proof
    // verifies against the server's JWKS. The client never shows its API key.
    assert!(!format!("{client:?}").contains(&server.agent));
    let (status, _) = operator(
        &server,
        "POST",
        &format!("/v1/requests/{}/resolve", create.id),
        Some(json!({"decision": "reject", "reason": "not this one"})),
    );
    assert_eq!(status, 200);
    let mut wait = client.wait(&create.id, now() * 1000, Some(30_000)).unwrap();
    let record = loop {
        let answer = send(&wait.request(&client, now() * 1000).unwrap());
        match wait.on_response(&client, &answer, now() * 1000).unwrap() {
            WaitStep::Done(record) => break record,
            WaitStep::Again => continue,
            WaitStep::Retry { delay_ms } => std::thread::sleep(Duration::from_millis(delay_ms)),
        }
    };
    let outcome = client.resolution(&record).unwrap().unwrap();
    assert_eq!(
        (outcome.status, outcome.payload, outcome.reason.as_deref()),
        (Status::Rejected, None, Some("not this one"))
    );
    let jwks = send(&client.jwks_request());
    client.load_jwks(&jwks).unwrap();
    let proof = outcome.proof.unwrap();
    client.verify_proof(&record, &proof, now()).unwrap();
}

#[test]
fn a_plain_create_without_id_still_gets_one_from_the_server() {
    let server = Server::fresh("plain");
    let client = Client::new(&server.url, &server.agent).unwrap();
    let call = ureq::post(&format!("{}/v1/requests", server.url))
        .set("Authorization", &format!("Bearer {}", server.agent))
        .set("content-type", "application/json")
        .send_bytes(json!({"service": "s", "action": "a", "payload": {"x": 1}}).to_string().as_bytes())
        .unwrap();
    let record: Value = serde_json::from_str(&call.into_string().unwrap()).unwrap();
    let id = record["id"].as_str().unwrap();
    assert!(id.starts_with("req_") && id.len() == 20, "{id}");
    let read = send(&client.read(id).unwrap());
    assert_eq!(client.payload(&client.parse_record(&read).unwrap()).unwrap(), json!({"x": 1}));
}

#[test]
fn concurrent_creates_of_one_client_id_and_key_all_get_the_same_request() {
    let server = std::sync::Arc::new(Server::fresh("ids-race"));
    let body = json!({"id": "req_RaceRaceRaceRaceRace01", "service": "stripe", "action": "refund",
                      "payload": {"amount": 5}});
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (server, body) = (server.clone(), body.clone());
            std::thread::spawn(move || {
                server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("step-7"))
            })
        })
        .collect();
    let answers: Vec<(u16, Value)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // The race with the winning create is read as a replay, never as "id taken".
    assert!(answers.iter().all(|(status, _)| *status == 201), "{answers:?}");
    assert!(answers.iter().all(|(_, b)| b["id"] == "req_RaceRaceRaceRaceRace01"));
    // The same id under another key is taken.
    let (status, err) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("other"));
    assert_eq!((status, err["error"]["code"].as_str()), (409, Some("id_taken")));
}
