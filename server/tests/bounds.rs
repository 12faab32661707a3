//! A hostile agent key against a real `handrail serve`: dense bodies and schemas whose
//! validation would explode are refused with stable codes, and the server keeps answering.

mod common;

use common::Server;
use serde_json::{json, Value};

/// `$defs` where each step is `allOf` of the previous step twice: 2^depth subschemas.
fn doubling(depth: usize) -> Value {
    let mut defs = serde_json::Map::new();
    defs.insert("d0".into(), json!({"type": "integer"}));
    for i in 1..=depth {
        let prev = format!("#/$defs/d{}", i - 1);
        defs.insert(format!("d{i}"), json!({"allOf": [{"$ref": prev}, {"$ref": prev}]}));
    }
    json!({"$defs": defs, "$ref": format!("#/$defs/d{depth}")})
}

/// Creates a plain request; its id.
fn plain_create_works(server: &Server) -> String {
    let (status, row) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "bank", "action": "transfer", "payload": {"amount": 5}})),
    );
    assert_eq!(status, 201, "{row}");
    row["id"].as_str().unwrap().to_string()
}

#[test]
fn a_body_that_is_not_an_object_is_refused_and_decides_nothing() {
    let server = Server::fresh("bounds-shape");
    let id = plain_create_works(&server);
    let id = id.as_str();
    // Positional forms serde would read into a struct's fields, and other non-objects.
    for body in [json!(["approve"]), json!(["approve", null, "ok"]), json!("approve"), json!(1), json!(null)]
    {
        let (status, answer) =
            server.call("POST", &format!("/v1/requests/{id}/resolve"), &server.operator, Some(&body));
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (400, Some("invalid_request")),
            "{body}: {answer}"
        );
    }
    let create = json!(["bank", "transfer", {"amount": 5}]);
    let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&create));
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("invalid_request")), "{answer}");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None);
    assert_eq!(row["status"], "PENDING", "nothing was decided: {row}");
}

#[test]
fn a_dense_payload_is_refused_before_it_is_built() {
    let server = Server::fresh("bounds-dense");
    // Under a megabyte, half a million values.
    let dense = Value::Array(vec![json!(0); 400_000]);
    let body = json!({"service": "bank", "action": "transfer", "payload": dense, "timeout_secs": 1});
    for _ in 0..3 {
        let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        assert_eq!((status, answer["error"]["code"].as_str()), (413, Some("too_many_values")), "{answer}");
    }
    // Within the limit is fine.
    let fine =
        json!({"service": "bank", "action": "transfer", "payload": Value::Array(vec![json!(0); 40_000])});
    assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&fine)).0, 201);
    plain_create_works(&server);
}

#[test]
fn a_schema_bomb_is_refused_and_the_server_keeps_answering() {
    let server = Server::fresh("bounds-schema");
    for depth in [25, 32] {
        let body = json!({"service": "bank", "action": "transfer", "payload": 1, "schema": doubling(depth)});
        let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("schema_too_complex")), "{answer}");
        plain_create_works(&server);
    }
    // Sealed payloads are not checked by the server, but their schema is still bounded.
    let sealed = json!({"v": 1, "alg": "A256GCM", "kid": "k", "iv": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA"});
    let body = json!({"service": "bank", "action": "transfer", "payload": sealed, "schema": doubling(32)});
    let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("schema_too_complex")), "{answer}");
    // A catastrophic-backtracking pattern over a long string runs in linear time.
    let body = json!({"service": "s", "action": "a", "payload": format!("{}!", "a".repeat(20_000)),
        "schema": {"type": "string", "pattern": "^(a+)+$"}});
    let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("edit_invalid")), "{answer}");
    // And an ordinary schema still checks the payload.
    let body = json!({"service": "s", "action": "a", "payload": {"amount": 5},
        "schema": doubling(3)});
    let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
    assert_eq!((status, answer["error"]["code"].as_str()), (422, Some("edit_invalid")), "{answer}");
}

#[test]
fn a_flood_of_overdue_requests_all_expire_and_none_can_be_approved() {
    let server = Server::fresh("bounds-flood");
    let mut ids = Vec::new();
    for i in 0..300 {
        let body = json!({"service": "bank", "action": "transfer", "payload": {"n": i}, "timeout_secs": 0});
        let (status, row) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        assert_eq!(status, 201, "{row}");
        ids.push(row["id"].as_str().unwrap().to_string());
    }
    // Whatever the sweep's backlog, no decision lands past the deadline.
    for id in ids.iter().step_by(37) {
        let (status, answer) = server.call(
            "POST",
            &format!("/v1/requests/{id}/resolve"),
            &server.operator,
            Some(&json!({"decision": "approve"})),
        );
        let code = answer["error"]["code"].as_str().unwrap_or_default();
        assert!(status == 409 && (code == "expired" || code == "already_decided"), "{status} {answer}");
    }
    // The sweep expires them all, in batches.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, pending) =
            server.call("GET", "/v1/requests?status=PENDING&view=summary&limit=1000", &server.operator, None);
        if pending["requests"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still pending after a minute: {pending}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (_, expired) =
        server.call("GET", "/v1/requests?status=EXPIRED&view=summary&limit=1000", &server.operator, None);
    assert_eq!(expired["requests"].as_array().unwrap().len(), 300);
    for id in &ids {
        let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.agent, None);
        assert_eq!(
            (row["status"].as_str(), row["decision"]["actor"].as_str()),
            (Some("EXPIRED"), Some("system"))
        );
    }
}

/// An operator approves request `id`; the answer's status.
fn approve(server: &Server, id: &str) -> u16 {
    let path = format!("/v1/requests/{id}/resolve");
    server.call("POST", &path, &server.operator, Some(&json!({"decision": "approve"}))).0
}

/// PUT of raw bytes; (status, JSON answer).
fn put_bytes(server: &Server, path: &str, token: &str, bytes: &[u8]) -> (u16, Value) {
    let req = ureq::put(&format!("{}{path}", server.url))
        .set("Authorization", &format!("Bearer {token}"))
        .set("content-type", "application/octet-stream");
    match req.send_bytes(bytes) {
        Ok(r) => (r.status(), serde_json::from_str(&r.into_string().unwrap()).unwrap_or(Value::Null)),
        Err(ureq::Error::Status(s, r)) => {
            (s, serde_json::from_str(&r.into_string().unwrap()).unwrap_or(Value::Null))
        }
        Err(e) => panic!("PUT {path}: {e}"),
    }
}

#[test]
fn a_project_past_its_quota_gets_507_and_another_project_is_unaffected() {
    let server = Server::fresh_with("bounds-quota", &[("HANDRAIL_PROJECT_QUOTA_BYTES", "200000")]);
    let payload = json!({"blob": "x".repeat(30_000)});
    let body = json!({"service": "bank", "action": "transfer", "payload": payload});
    // A create with an Idempotency-Key, to retry once the quota is full.
    let (status, first) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("k-1"));
    assert_eq!(status, 201, "{first}");
    let mut created = vec![first["id"].as_str().unwrap().to_string()];
    let refused = loop {
        let (status, answer) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        if status != 201 {
            break (status, answer);
        }
        created.push(answer["id"].as_str().unwrap().to_string());
        assert!(created.len() < 20, "the quota never applied");
    };
    assert_eq!(
        (refused.0, refused.1["error"]["code"].as_str()),
        (507, Some("quota_exceeded")),
        "{}",
        refused.1
    );
    assert!((5..=7).contains(&created.len()), "{} creates of ~30 KB fit 200 KB", created.len());
    // Its retry is answered with what was created, not refused: the key is known before the
    // quota is looked at. A new key is refused.
    let (status, again) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("k-1"));
    assert_eq!((status, again["id"].as_str()), (201, Some(created[0].as_str())), "{again}");
    let (status, answer) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("k-2"));
    assert_eq!((status, answer["error"]["code"].as_str()), (507, Some("quota_exceeded")), "{answer}");
    // What was stored is intact and still decidable.
    assert_eq!(approve(&server, &created[0]), 200);
    // A snapshot counts too.
    let (status, answer) =
        put_bytes(&server, &format!("/v1/requests/{}/snapshot", created[1]), &server.agent, &[7u8; 100_000]);
    assert_eq!((status, answer["error"]["code"].as_str()), (507, Some("quota_exceeded")), "{answer}");
    // Another project has its own quota.
    let (_, other) = server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "other"})));
    let other_agent = other["agent_key"].as_str().unwrap();
    assert_eq!(server.call("POST", "/v1/requests", other_agent, Some(&body)).0, 201);
    // Thread checkpoints (the LetsPing layer's LangGraph store) count too, and deleting them
    // gives their bytes back.
    let checkpoint = |id: &str| json!({"thread_id": "t1", "checkpoint_id": id, "checkpoint": {"v": "y".repeat(100_000)}, "metadata": {}});
    let path = "/compat/letsping/api/langgraph/checkpoints";
    assert_eq!(server.call("POST", path, other_agent, Some(&checkpoint("c1"))).0, 200);
    let (status, answer) = server.call("POST", path, other_agent, Some(&checkpoint("c2")));
    assert_eq!((status, answer["error"]["code"].as_str()), (507, Some("quota_exceeded")), "{answer}");
    let (status, deleted) = server.call("DELETE", &format!("{path}?thread_id=t1"), other_agent, None);
    assert_eq!((status, deleted["deleted"].as_u64()), (200, Some(1)), "{deleted}");
    assert_eq!(server.call("POST", path, other_agent, Some(&checkpoint("c2"))).0, 200);
}

#[test]
fn retention_drops_old_snapshots_deliveries_and_idempotency_records_but_never_requests() {
    let server = Server::fresh_with(
        "bounds-retention",
        &[
            ("HANDRAIL_RETAIN_SNAPSHOTS_SECS", "0"),
            ("HANDRAIL_RETAIN_IDEMPOTENCY_SECS", "0"),
            ("HANDRAIL_PRUNE_EVERY_SECS", "1"),
        ],
    );
    let body = json!({"service": "bank", "action": "transfer", "payload": {"n": 1}});
    let (_, first) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("idem-retention-1"));
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(
        put_bytes(&server, &format!("/v1/requests/{id}/snapshot"), &server.agent, b"parked state").0,
        201
    );
    assert_eq!(approve(&server, &id), 200);
    let files = || common::snapshot_blobs(&server.dir);
    assert_eq!(files(), 1);
    // The sweep runs every second here: the decided request's snapshot goes, the request stays.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while files() > 0 {
        assert!(std::time::Instant::now() < deadline, "the snapshot was never dropped");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let (status, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.agent, None);
    assert_eq!((status, row["status"].as_str()), (200, Some("APPROVED")), "{row}");
    assert!(row.get("snapshot").is_none(), "{row}");
    // The idempotency record went too: the same key now finds the id taken, not a replay.
    let (status, again) =
        server.call_with_key("POST", "/v1/requests", &server.agent, Some(&body), Some("idem-retention-1"));
    assert!(status == 201 || status == 409, "{status} {again}");
    assert_ne!(again.get("id"), Some(&json!(id)), "not replayed from a dropped record: {again}");
}

#[test]
fn an_event_body_is_stored_once_however_many_endpoints_hear_of_it() {
    let server = Server::fresh("bounds-event-bodies");
    for n in 0..3 {
        let hook = json!({ "url": format!("https://hooks-{n}.example.com/handrail") });
        assert_eq!(server.call("POST", "/v1/webhooks", &server.operator, Some(&hook)).0, 201);
    }
    let body = json!({"service": "bank", "action": "transfer", "payload": {"memo": "m".repeat(200_000)}});
    assert_eq!(server.call("POST", "/v1/requests", &server.agent, Some(&body)).0, 201);
    let count = |sql: &str| common::sql(&server.dir, sql).0[0][0].parse::<i64>().unwrap();
    assert_eq!(count("SELECT COUNT(*) FROM deliveries"), 3);
    assert_eq!(count("SELECT COUNT(*) FROM event_bodies"), 1);
    assert!(count("SELECT SUM(length(body)) FROM event_bodies") > 200_000);
    assert_eq!(count("SELECT SUM(length(body)) FROM deliveries"), 0, "no endpoint keeps a copy");
}
