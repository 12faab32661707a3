//! State snapshots against the real binary: opaque bytes parked on a pending request,
//! uploaded and downloaded with a key or through expiring links that carry no key.

mod common;

use std::io::Read;
use std::time::Duration;

use common::Server;
use handrail_server::store::Role;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// An answer: status, headers we look at, body bytes.
struct Answer {
    status: u16,
    sha_header: Option<String>,
    content_type: Option<String>,
    content_length: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_string)
    }
}

/// The snapshot routes of a server, and calls that send and read raw bytes.
trait Snapshots {
    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Answer;
    fn request(&self) -> String;
    fn link(&self, id: &str, kind: &str, query: &str) -> (String, i64);
}

impl Snapshots for Server {
    /// Any call; `token` None sends no Authorization header at all. `path` may be a full URL.
    fn send(&self, method: &str, path: &str, token: Option<&str>, body: Option<&[u8]>) -> Answer {
        let url = if path.starts_with("http") { path.to_string() } else { format!("{}{path}", self.url) };
        let mut req = ureq::request(method, &url).timeout(Duration::from_secs(90));
        if let Some(token) = token {
            req = req.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(b) => req.set("content-type", "application/octet-stream").send_bytes(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let header = |name: &str| response.header(name).map(str::to_string);
        let (sha_header, content_type, content_length) =
            (header("x-handrail-sha256"), header("content-type"), header("content-length"));
        let status = response.status();
        let mut body = Vec::new();
        response.into_reader().read_to_end(&mut body).unwrap();
        Answer { status, sha_header, content_type, content_length, body }
    }

    /// A new pending request of the bootstrap project.
    fn request(&self) -> String {
        let (status, created) = self.call(
            "POST",
            "/v1/requests",
            &self.agent,
            Some(&json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}})),
        );
        assert_eq!(status, 201, "{created}");
        created["id"].as_str().unwrap().to_string()
    }

    /// A link made with the agent key: (url to call, expires_at).
    fn link(&self, id: &str, kind: &str, query: &str) -> (String, i64) {
        let (status, link) =
            self.call("POST", &format!("/v1/requests/{id}/snapshot/{kind}{query}"), &self.agent, None);
        assert_eq!(status, 200, "{link}");
        let url = link["url"].as_str().unwrap();
        assert!(url.starts_with("/v1/blobs/"), "{url}");
        assert!(!url.contains(&self.agent) && !url.contains("hr_"), "a link carries no API key");
        (format!("{}{url}", self.url), link["expires_at"].as_i64().unwrap())
    }
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    handrail_core::crypto::fill_random(&mut bytes).unwrap();
    bytes
}

fn sha_hex(bytes: &[u8]) -> String {
    handrail_core::encoding::hex_encode(Sha256::digest(bytes))
}

/// Flips one character of the part of a link token after its `.` (the MAC) or before it.
fn tamper(url: &str, in_mac: bool) -> String {
    let (head, token) = url.rsplit_once('/').unwrap();
    let (claims, mac) = token.split_once('.').unwrap();
    let flip = |s: &str| {
        let mut chars: Vec<char> = s.chars().collect();
        chars[3] = if chars[3] == 'A' { 'B' } else { 'A' };
        chars.into_iter().collect::<String>()
    };
    if in_mac {
        format!("{head}/{claims}.{}", flip(mac))
    } else {
        format!("{head}/{}.{mac}", flip(claims))
    }
}

#[test]
fn five_mib_round_trip_by_key_and_by_link_with_no_key() {
    let server = Server::fresh("roundtrip");
    let id = server.request();
    let path = format!("/v1/requests/{id}/snapshot");
    assert_eq!(server.send("GET", &path, Some(&server.agent), None).code().as_deref(), Some("not_found"));

    let bytes = random_bytes(5 << 20);
    let put = server.send("PUT", &path, Some(&server.agent), Some(&bytes));
    assert_eq!(put.status, 201, "{}", put.json());
    let meta = &put.json()["snapshot"];
    assert_eq!(meta["size"], json!(bytes.len()));
    assert_eq!(meta["sha256"], json!(sha_hex(&bytes)));
    assert!(meta["created_at"].as_i64().unwrap() > 0);

    // With the agent key and with the project's operator token (the dashboard decrypts).
    for token in [&server.agent, &server.operator] {
        let got = server.send("GET", &path, Some(token), None);
        assert_eq!(got.status, 200);
        assert!(got.body == bytes, "the same bytes come back");
        assert_eq!(got.sha_header.as_deref(), Some(sha_hex(&bytes).as_str()));
        assert_eq!(got.content_type.as_deref(), Some("application/octet-stream"));
        assert_eq!(got.content_length.as_deref(), Some(bytes.len().to_string().as_str()));
    }

    // A download link works without any Authorization header.
    let (url, expires_at) = server.link(&id, "link", "");
    assert!(expires_at > meta["created_at"].as_i64().unwrap());
    let got = server.send("GET", &url, None, None);
    assert_eq!(got.status, 200);
    assert!(got.body == bytes);
    assert_eq!(sha_hex(&got.body), sha_hex(&bytes));
    assert_eq!(got.sha_header.as_deref(), Some(sha_hex(&bytes).as_str()));

    // The request JSON carries the metadata and a fresh link that works.
    let (status, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.agent, None);
    assert_eq!(status, 200);
    let snap = &row["snapshot"];
    assert_eq!((&snap["size"], &snap["sha256"]), (&meta["size"], &meta["sha256"]), "{row}");
    let fresh = format!("{}{}", server.url, snap["url"].as_str().unwrap());
    assert!(server.send("GET", &fresh, None, None).body == bytes);

    // Tampered tokens, either half, and a download link used to upload: 403.
    for bad in
        [tamper(&url, true), tamper(&url, false), format!("{url}x"), format!("{}/v1/blobs/nodot", server.url)]
    {
        let got = server.send("GET", &bad, None, None);
        assert_eq!((got.status, got.code().as_deref()), (403, Some("link_invalid")), "{bad}");
    }
    let got = server.send("PUT", &url, None, Some(b"not through a download link"));
    assert_eq!((got.status, got.code().as_deref()), (403, Some("link_invalid")));

    // An upload link: PUT without a key replaces the snapshot; it cannot download.
    let (upload, _) = server.link(&id, "upload-link", "?ttl=600");
    let got = server.send("GET", &upload, None, None);
    assert_eq!((got.status, got.code().as_deref()), (403, Some("link_invalid")));
    let second = random_bytes(70_000);
    let put = server.send("PUT", &upload, None, Some(&second));
    assert_eq!(put.status, 201, "{}", put.json());
    assert_eq!(put.json()["snapshot"]["sha256"], json!(sha_hex(&second)));
    let got = server.send("GET", &url, None, None);
    assert!(got.body == second, "a second upload replaces the first");
    assert_eq!(common::snapshot_blobs(&server.dir), 1, "the replaced blob is removed");

    // The audit log records both uploads by size and digest, never content.
    let store = common::open_store(&server.dir);
    let stored: Vec<_> =
        store.audit_log().unwrap().into_iter().filter(|e| e.event == "snapshot.stored").collect();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].data, json!({"size": bytes.len(), "sha256": sha_hex(&bytes)}));
    assert_eq!(stored[1].data, json!({"size": second.len(), "sha256": sha_hex(&second)}));
    assert!(stored[0].actor.starts_with("key_"), "by the agent's key id");
    assert_eq!(stored[1].actor, "upload-link");
    assert!(stored.iter().all(|e| e.subject == id));

    // Another project's keys see nothing: 404 everywhere.
    store.add_project("prj_other", "other", 0).unwrap();
    let other = "hr_agent_other";
    store.add_key("key_other", &handrail_server::token_hash(other), "prj_other", Role::Agent, 0).unwrap();
    store
        .add_key("key_other_op", &handrail_server::token_hash("hr_op_other"), "prj_other", Role::Operator, 0)
        .unwrap();
    for token in [other, "hr_op_other"] {
        assert_eq!(server.send("GET", &path, Some(token), None).status, 404);
        assert_eq!(server.send("PUT", &path, Some(token), Some(b"overwrite")).status, 404);
        assert_eq!(server.send("POST", &format!("{path}/link"), Some(token), None).status, 404);
        assert_eq!(server.send("POST", &format!("{path}/upload-link"), Some(token), None).status, 404);
    }
    assert!(server.send("GET", &url, None, None).body == second, "still intact");
    // No key at all on the keyed routes: 401.
    assert_eq!(server.send("GET", &path, None, None).status, 401);
}

#[test]
fn links_expire_and_ttls_are_bounded() {
    let server = Server::fresh("expiry");
    let id = server.request();
    let path = format!("/v1/requests/{id}/snapshot");
    assert_eq!(
        server.send("POST", &format!("{path}/link"), Some(&server.agent), None).status,
        404,
        "no snapshot yet"
    );
    assert_eq!(server.send("PUT", &path, Some(&server.agent), Some(b"state")).status, 201);
    let (download, _) = server.link(&id, "link", "?ttl=1");
    let (upload, _) = server.link(&id, "upload-link", "?ttl=1");
    std::thread::sleep(Duration::from_millis(2100));
    let got = server.send("GET", &download, None, None);
    assert_eq!((got.status, got.code().as_deref()), (410, Some("link_expired")));
    let got = server.send("PUT", &upload, None, Some(b"late"));
    assert_eq!((got.status, got.code().as_deref()), (410, Some("link_expired")));
    assert!(server.send("GET", &path, Some(&server.agent), None).body == b"state");
    for ttl in ["0", "86401", "-5", "soon"] {
        let got = server.send("POST", &format!("{path}/link?ttl={ttl}"), Some(&server.agent), None);
        assert_eq!((got.status, got.code().as_deref()), (400, Some("invalid_request")), "ttl={ttl}");
    }
    let (status, link) = server.call("POST", &format!("{path}/link?ttl=86400"), &server.agent, None);
    assert_eq!(status, 200, "a day is allowed");
    assert!(link["expires_at"].as_i64().unwrap() > 86_000);
}

#[test]
fn oversized_uploads_get_413_and_store_nothing() {
    let server = Server::fresh_with("large", &[("HANDRAIL_MAX_SNAPSHOT_BYTES", "100000")]);
    let id = server.request();
    let path = format!("/v1/requests/{id}/snapshot");
    let got = server.send("PUT", &path, Some(&server.agent), Some(&random_bytes(100_001)));
    assert_eq!((got.status, got.code().as_deref()), (413, Some("too_large")));
    assert_eq!(server.send("GET", &path, Some(&server.agent), None).status, 404, "none stored");
    let (_, row) = server.call("GET", &format!("/v1/requests/{id}"), &server.agent, None);
    assert!(row.get("snapshot").is_none(), "{row}");

    let fits = random_bytes(100_000);
    assert_eq!(
        server.send("PUT", &path, Some(&server.agent), Some(&fits)).status,
        201,
        "exactly the limit fits"
    );
    let (upload, _) = server.link(&id, "upload-link", "");
    for too_big in [random_bytes(100_001), random_bytes(3 << 20)] {
        let got = server.send("PUT", &path, Some(&server.agent), Some(&too_big));
        assert_eq!((got.status, got.code().as_deref()), (413, Some("too_large")));
        let got = server.send("PUT", &upload, None, Some(&too_big));
        assert_eq!((got.status, got.code().as_deref()), (413, Some("too_large")));
    }
    let got = server.send("GET", &path, Some(&server.agent), None);
    assert!(got.body == fits, "the previous snapshot is intact");
    assert_eq!(got.sha_header.as_deref(), Some(sha_hex(&fits).as_str()));
    assert_eq!(common::snapshot_blobs(&server.dir), 1, "no staged leftovers");
}

#[test]
fn parked_only_while_pending_and_wait_hands_back_a_working_link() {
    let server = Server::fresh("decided");
    let id = server.request();
    let path = format!("/v1/requests/{id}/snapshot");
    let state = random_bytes(300_000);
    assert_eq!(server.send("PUT", &path, Some(&server.agent), Some(&state)).status, 201);
    let (upload, _) = server.link(&id, "upload-link", "");
    // A webhook endpoint (nobody listens), to see what its deliveries carry.
    let (status, _) =
        server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({"url": "http://127.0.0.1:9/"})));
    assert_eq!(status, 201);

    let (status, _) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "approve"})),
    );
    assert_eq!(status, 200);
    let got = server.send("PUT", &path, Some(&server.agent), Some(b"after the fact"));
    assert_eq!((got.status, got.code().as_deref()), (409, Some("already_decided")));
    let got = server.send("PUT", &upload, None, Some(b"after the fact"));
    assert_eq!((got.status, got.code().as_deref()), (409, Some("already_decided")));
    let got = server.send("POST", &format!("{path}/upload-link"), Some(&server.agent), None);
    assert_eq!((got.status, got.code().as_deref()), (409, Some("already_decided")));

    // The agent resumes: wait answers with the decision and a link to its parked state.
    let (status, row) = server.call("GET", &format!("/v1/requests/{id}/wait?timeout=5"), &server.agent, None);
    assert_eq!(status, 200);
    assert_eq!(row["status"], "APPROVED");
    assert_eq!(row["snapshot"]["sha256"], json!(sha_hex(&state)), "{row}");
    let url = format!("{}{}", server.url, row["snapshot"]["url"].as_str().unwrap());
    let got = server.send("GET", &url, None, None);
    assert_eq!(got.status, 200);
    assert!(got.body == state);

    // The resolved event's webhook body carries the metadata, without a link.
    let query = "SELECT b.body FROM deliveries d JOIN event_bodies b ON b.id = d.body_id WHERE d.event = 'request.resolved'";
    let body = common::sql(&server.dir, query).0.remove(0).remove(0);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["data"]["snapshot"],
        json!({"size": state.len(), "sha256": sha_hex(&state), "created_at": row["snapshot"]["created_at"]})
    );
}

#[test]
fn an_acknowledged_snapshot_survives_kill_9() {
    let mut server = Server::fresh("crash");
    let id = server.request();
    let path = format!("/v1/requests/{id}/snapshot");
    let bytes = random_bytes(5 << 20);
    assert_eq!(server.send("PUT", &path, Some(&server.agent), Some(&bytes)).status, 201);
    server.kill(); // SIGKILL right after the 201
    let agent = server.agent.clone();
    let dir = server.into_dir();
    // What a crash mid-upload leaves: a staged blob nothing refers to. The next start removes it.
    let stray = dir.join("snapshots").join("staged-by-a-crash");
    if common::test_postgres().is_some() {
        // Staged long ago, so no replica can still be writing it.
        let stage = "INSERT INTO blob_chunks (blob, n, bytes, staged_at) VALUES ('staged-by-a-crash', 0, 'half an upload', 0)";
        assert_eq!(common::sql(&dir, stage).1, 1);
    } else {
        std::fs::write(&stray, b"half an upload").unwrap();
    }
    let again = Server::start(dir);
    assert!(!stray.exists(), "unreferenced blobs are swept at start");
    assert_eq!(common::snapshot_blobs(&again.dir), 1);
    let got = again.send("GET", &path, Some(&agent), None);
    assert_eq!(got.status, 200);
    assert!(got.body == bytes, "the acknowledged bytes are all there");
    assert_eq!(got.sha_header.as_deref(), Some(sha_hex(&bytes).as_str()));
}
