//! What the server exposes without being asked: the modes of its data directory and files,
//! what it prints and logs at first start, `/metrics` (behind `HANDRAIL_METRICS_TOKEN`),
//! and the per-address rate limit of the routes that create something without a key.

mod common;

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::Server;
use serde_json::json;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn terminate(server: &mut Server) -> String {
    Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    let mut stderr = String::new();
    server.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let _ = server.child.wait();
    stderr
}

#[test]
fn the_data_directory_is_private_and_tokens_are_only_in_bootstrap_json() {
    let dir = common::fresh_dir("modes");
    let mut server = Server::spawn(dir.clone(), &[("HANDRAIL_LOG", "info")], Stdio::piped());
    // A snapshot, so its directory and a blob exist too.
    let (status, created) = server.call(
        "POST",
        "/v1/requests",
        &server.agent,
        Some(&json!({"service": "s", "action": "a", "payload": {"n": 1}})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let put = ureq::put(&format!("{}/v1/requests/{id}/snapshot", server.url))
        .set("Authorization", &format!("Bearer {}", server.agent))
        .timeout(Duration::from_secs(30))
        .send_bytes(b"parked state")
        .unwrap();
    assert_eq!(put.status(), 201);

    assert_eq!(mode(&dir), 0o700, "the data directory");
    assert_eq!(mode(&dir.join("bootstrap.json")), 0o600, "bootstrap.json");
    // On PostgreSQL the database and the snapshots are not files of the data directory.
    if !common::skip_on_postgres("the modes of handrail.db, its WAL files and the snapshot files") {
        for name in ["handrail.db", "handrail.db-wal", "handrail.db-shm"] {
            assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
        }
        let snapshots = dir.join("snapshots");
        assert_eq!(mode(&snapshots), 0o700, "the snapshots directory");
        let blobs: Vec<_> = std::fs::read_dir(&snapshots).unwrap().map(|e| e.unwrap().path()).collect();
        assert!(!blobs.is_empty(), "the snapshot is a file");
        for blob in &blobs {
            assert_eq!(mode(blob), 0o600, "{}", blob.display());
        }
    }

    // The tokens went to bootstrap.json; stdout says where they are, and the log has none.
    let stdout = server.stdout.join("\n");
    assert!(stdout.contains("bootstrap.json"), "{stdout}");
    let stderr = terminate(&mut server);
    for secret in [&server.operator, &server.agent] {
        assert!(!stdout.contains(secret.as_str()), "a token on stdout: {stdout}");
        assert!(!stderr.contains(secret.as_str()), "a token in the log");
    }
}

#[test]
fn a_directory_more_open_than_private_is_tightened_with_a_log_line() {
    let dir = common::fresh_dir("tighten");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut server = Server::spawn(dir.clone(), &[("HANDRAIL_LOG", "info")], Stdio::piped());
    assert_eq!(mode(&dir), 0o700);
    let boot = dir.join("bootstrap.json");
    std::fs::set_permissions(&boot, std::fs::Permissions::from_mode(0o644)).unwrap();
    let stderr = terminate(&mut server);
    assert!(stderr.contains("tightened permissions"), "{stderr}");
    // A second start tightens the file a person opened up.
    let mut again = Server::spawn(server.into_dir(), &[("HANDRAIL_LOG", "info")], Stdio::piped());
    assert_eq!(mode(&boot), 0o600);
    let stderr = terminate(&mut again);
    assert!(stderr.contains("bootstrap.json"), "{stderr}");
}

#[test]
fn metrics_need_the_token_when_one_is_set_and_name_no_project() {
    let open = Server::fresh("metrics-open");
    let (status, text) = open.call("GET", "/metrics", "", None);
    assert_eq!(status, 200);
    let text = text.as_str().unwrap().to_string();
    assert!(text.contains("handrail_requests_created_total"), "{text}");
    assert!(!text.contains(&open.project) && !text.contains("project"), "server-wide only: {text}");
    drop(open);

    let server = Server::fresh_with("metrics-token", &[("HANDRAIL_METRICS_TOKEN", "scrape-me-7")]);
    for token in ["", "scrape-me", "scrape-me-7x", server.operator.as_str()] {
        let (status, body) = server.call("GET", "/metrics", token, None);
        assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthorized")), "{token}");
    }
    let (status, text) = server.call("GET", "/metrics", "scrape-me-7", None);
    assert_eq!(status, 200);
    assert!(text.as_str().unwrap().contains("handrail_webhooks_delivered_total"), "{text}");
}

#[test]
fn sign_up_routes_are_limited_per_address() {
    let server = Server::fresh_with("signup", &[("HANDRAIL_SIGNUP_RATE_LIMIT", "3")]);
    // Closed sign-up answers 403; the limit counts every call, open or not, on both routes.
    for _ in 0..2 {
        let (status, body) = server.call("POST", "/compat/letsping/api/agent-signup/request-token", "", None);
        assert_eq!((status, body["code"].as_str()), (403, Some("LETSPING_SIGNUP_DISABLED")), "{body}");
    }
    let token = json!({"token": "nonce.1.00"});
    let (status, body) = server.call("POST", "/compat/letsping/api/agent-signup", "", Some(&token));
    assert_eq!(status, 401, "{body}");
    for path in ["/compat/letsping/api/agent-signup/request-token", "/compat/letsping/api/agent-signup"] {
        let response = server.raw("POST", path, "", Some(&token));
        assert_eq!(response.status(), 429, "{path}");
        let retry: u64 = response.header("retry-after").expect("retry-after").parse().unwrap();
        assert!(retry >= 1);
        let body: serde_json::Value = serde_json::from_str(&response.into_string().unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    }
    // Keys are not limited by it: the API still answers the same address.
    assert_eq!(server.call("GET", "/v1/keys/me", &server.agent, None).0, 200);
}
