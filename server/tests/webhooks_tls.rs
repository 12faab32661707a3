//! Webhook and callback deliveries to https receivers: a throwaway CA (rcgen) signs a
//! certificate for `localhost` and `127.0.0.1`, a small rustls server on 127.0.0.1 receives,
//! and `handrail serve` trusts the CA only through `HANDRAIL_WEBHOOK_CA_FILE`.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{read_request, Server};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};

/// A CA and a server certificate it signed, for the names given.
struct Pki {
    /// The CA certificate, PEM.
    ca_pem: String,
    /// The server's chain (leaf, CA) and key.
    chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
}

fn pki(names: &[&str]) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "Handrail test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let leaf = CertificateParams::new(names).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf.der().clone(), ca_cert.der().clone()],
        key: leaf_key.serialize_der(),
    }
}

/// What one connection to the receiver came to.
#[derive(Debug)]
enum Seen {
    /// A request over TLS: its headers (lower-case names) and body, answered as told.
    Delivery(Vec<(String, String)>, String),
    /// The handshake failed; `tls_record` says whether the client's first byte opened a TLS
    /// handshake record (0x16), i.e. nothing was sent in clear text.
    HandshakeFailed { tls_record: bool },
}

/// An https receiver on 127.0.0.1 with `pki`'s certificate; `host` is the URL's host.
fn https_receiver(pki: &Pki, host: &str) -> (String, Receiver<Seen>) {
    https_receiver_answering(pki, host, "200 OK\r\ncontent-length: 0")
}

/// [`https_receiver`] answering every request with `answer` (status line rest and headers).
fn https_receiver_answering(pki: &Pki, host: &str, answer: &str) -> (String, Receiver<Seen>) {
    let answer = format!("HTTP/1.1 {answer}\r\nconnection: close\r\n\r\n");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key.clone()));
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(pki.chain.clone(), key)
            .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{host}:{}/hook", listener.local_addr().unwrap().port());
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
            let mut first = [0u8; 1];
            let tls_record = tcp.peek(&mut first).is_ok_and(|n| n == 1 && first[0] == 0x16);
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let seen = match read_request(&mut tls) {
                Some((headers, body)) => {
                    let _ = tls.write_all(answer.as_bytes());
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    Seen::Delivery(headers, body)
                }
                None => Seen::HandshakeFailed { tls_record },
            };
            let _ = tx.send(seen);
        }
    });
    (url, rx)
}

/// Writes `text` to a file beside the test's data directories.
fn write_temp(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("handrail-tls-{name}-{}.pem", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

fn request() -> Value {
    json!({ "service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": 9} })
}

/// Creates a request and rejects it: two events, `request.created` and `request.resolved`.
fn create_and_decide(server: &Server, body: &Value) -> String {
    let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(body));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, decided) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        &server.operator,
        Some(&json!({"decision": "reject", "reason": "no"})),
    );
    assert_eq!(status, 200, "{decided}");
    id
}

/// Reads a delivery log at `path` until `done` holds for it (at most 20 s), and returns it.
fn log_until(server: &Server, path: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, log) = server.call("GET", path, &server.operator, None);
        assert_eq!(status, 200, "{log}");
        let log = log["deliveries"].as_array().unwrap().clone();
        if done(&log) || Instant::now() > deadline {
            return log;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Registers a webhook to `url`, creates and decides a request, and waits until both of its
/// deliveries were attempted `attempts` times or more; none was delivered. The log, returned.
fn failed_deliveries(server: &Server, url: &str, attempts: i64) -> Vec<Value> {
    let (_, hook) = server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({ "url": url })));
    let hook_id = hook["id"].as_str().unwrap();
    create_and_decide(server, &request());
    let tried =
        |log: &[Value]| log.len() == 2 && log.iter().all(|d| d["attempts"].as_i64() >= Some(attempts));
    let log = log_until(server, &format!("/v1/webhooks/{hook_id}/deliveries"), tried);
    assert!(tried(&log), "each delivery was attempted {attempts} times or more: {log:?}");
    for d in &log {
        assert_ne!(d["state"], "delivered", "{d}");
    }
    log
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("{name}"))
}

#[test]
fn https_webhooks_are_delivered_signed_when_the_ca_is_trusted() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let ca = write_temp("trusted", &pki.ca_pem);
    let server = Server::fresh_with("trusted", &[("HANDRAIL_WEBHOOK_CA_FILE", ca.to_str().unwrap())]);
    let (url, rx) = https_receiver(&pki, "127.0.0.1");
    let (status, hook) = server.call("POST", "/v1/webhooks", &server.operator, Some(&json!({ "url": url })));
    assert_eq!(status, 201, "{hook}");
    let secret = handrail_core::webhook::Secret::parse(hook["secret"].as_str().unwrap()).unwrap();
    let id = create_and_decide(&server, &request());

    let mut events = Vec::new();
    while events.len() < 2 {
        match rx.recv_timeout(Duration::from_secs(20)).expect("a delivery") {
            Seen::Delivery(headers, body) => {
                let signed = handrail_core::webhook::Headers {
                    id: header(&headers, "webhook-id"),
                    timestamp: header(&headers, "webhook-timestamp"),
                    signature: header(&headers, "webhook-signature"),
                };
                let now = signed.timestamp.parse().unwrap();
                handrail_core::webhook::verify(
                    std::slice::from_ref(&secret),
                    &signed,
                    body.as_bytes(),
                    now,
                    300,
                )
                .unwrap();
                let event: Value = serde_json::from_str(&body).unwrap();
                assert_eq!(event["data"]["id"], id);
                events.push(event["type"].as_str().unwrap().to_string());
            }
            other => panic!("the trusted handshake failed: {other:?}"),
        }
    }
    events.sort();
    assert_eq!(events, ["request.created", "request.resolved"]);

    let hook_id = hook["id"].as_str().unwrap();
    let log = log_until(&server, &format!("/v1/webhooks/{hook_id}/deliveries"), |log| {
        log.len() == 2 && log.iter().all(|d| d["state"] == "delivered")
    });
    assert!(log.iter().all(|d| d["state"] == "delivered" && d["last_outcome"] == "HTTP 200"), "{log:?}");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn untrusted_or_misnamed_certificates_fail_the_attempt_and_send_nothing() {
    // No CA file: the test CA is no Mozilla root.
    let pki_ok = pki(&["localhost", "127.0.0.1"]);
    let server = Server::fresh("untrusted");
    let (url, rx) = https_receiver(&pki_ok, "127.0.0.1");
    for d in &failed_deliveries(&server, &url, 2) {
        assert_eq!(d["last_outcome"], "tls: untrusted certificate", "{d}");
    }
    let seen: Vec<Seen> = rx.try_iter().collect();
    assert!(!seen.is_empty(), "the server did try to connect");
    for s in &seen {
        assert!(matches!(s, Seen::HandshakeFailed { tls_record: true }), "{s:?}");
    }
    drop(server);

    // The CA trusted, but the certificate names another host than the URL's.
    let pki_other = pki(&["other.example"]);
    let ca = write_temp("misnamed", &pki_other.ca_pem);
    let server = Server::fresh_with("misnamed", &[("HANDRAIL_WEBHOOK_CA_FILE", ca.to_str().unwrap())]);
    let (url, rx) = https_receiver(&pki_other, "127.0.0.1");
    for d in &failed_deliveries(&server, &url, 1) {
        assert_eq!(d["last_outcome"], "tls: certificate for another name", "{d}");
    }
    assert!(rx.try_iter().all(|s| matches!(s, Seen::HandshakeFailed { tls_record: true })));
    let _ = std::fs::remove_file(ca);
}

#[test]
fn https_callbacks_are_delivered_and_still_refused_addresses_are_never_connected_to() {
    let pki = pki(&["localhost", "127.0.0.1"]);
    let ca = write_temp("callback", &pki.ca_pem);
    let ca_env = ("HANDRAIL_WEBHOOK_CA_FILE", ca.to_str().unwrap());
    let with_callback = |url: &str| {
        let mut body = request();
        body["context"] = json!({"compat": "letsping", "metadata": {"callback_url": url}});
        body
    };

    // Allowed (`private` networks, as the tests run): delivered over TLS with LetsPing's signature.
    let server = Server::fresh_with("callback", &[ca_env]);
    let (url, rx) = https_receiver(&pki, "localhost");
    let id = create_and_decide(&server, &with_callback(&url));
    match rx.recv_timeout(Duration::from_secs(20)).expect("the callback") {
        Seen::Delivery(headers, body) => {
            assert!(header(&headers, "x-letsping-signature").starts_with("t="), "{headers:?}");
            let event: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(event["data"]["id"], id, "{event}");
        }
        other => panic!("the callback's handshake failed: {other:?}"),
    }
    let path = format!("/v1/requests/{id}/deliveries");
    let log = log_until(&server, &path, |log| log.iter().any(|d| d["state"] == "delivered"));
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((&log[0]["target"], &log[0]["state"]), (&json!("callback"), &json!("delivered")), "{log:?}");
    drop(server);

    // `public` (the default outside the tests): a callback to localhost is never queued, so
    // nothing is connected to (host names that resolve to loopback are refused at each
    // attempt by the resolver; see tests/outbound.rs).
    let server = Server::fresh_with("callback-public", &[ca_env, ("HANDRAIL_OUTBOUND_NETWORKS", "public")]);
    let (url, rx) = https_receiver(&pki, "localhost");
    let id = create_and_decide(&server, &with_callback(&url));
    let (status, log) = server.call("GET", &format!("/v1/requests/{id}/deliveries"), &server.operator, None);
    assert_eq!(status, 200, "{log}");
    assert_eq!(log["deliveries"], json!([]), "queued with the decision, or not at all");
    assert!(rx.try_iter().next().is_none(), "a refused address was connected to");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn a_redirect_is_a_failed_attempt_and_never_followed_to_http() {
    let pki = pki(&["127.0.0.1"]);
    let ca = write_temp("redirect", &pki.ca_pem);
    let server = Server::fresh_with("redirect", &[("HANDRAIL_WEBHOOK_CA_FILE", ca.to_str().unwrap())]);
    // Where the redirect points: plain http, which must never be connected to.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let plain_url = format!("http://{}/clear", plain.local_addr().unwrap());
    plain.set_nonblocking(true).unwrap();
    let answer = format!("302 Found\r\nlocation: {plain_url}\r\ncontent-length: 0");
    let (url, rx) = https_receiver_answering(&pki, "127.0.0.1", &answer);
    for d in &failed_deliveries(&server, &url, 2) {
        assert_eq!(d["last_outcome"], "HTTP 3xx", "only the status class is kept: {d}");
    }
    assert!(rx.try_iter().any(|s| matches!(s, Seen::Delivery(..))), "the https receiver was reached");
    assert!(plain.accept().is_err(), "the redirect to http was followed");
    let _ = std::fs::remove_file(ca);
}

#[test]
fn an_unusable_ca_file_stops_the_server_at_start() {
    let garbage = write_temp("garbage", "not a certificate\n");
    let truncated = write_temp("truncated", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    let missing = std::env::temp_dir().join(format!("handrail-tls-missing-{}.pem", std::process::id()));
    for file in [&garbage, &truncated, &missing] {
        let dir = common::fresh_dir("bad-ca");
        let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(&dir)
            .env("HANDRAIL_WEBHOOK_CA_FILE", file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: {stderr}", file.display());
        assert!(stderr.contains("HANDRAIL_WEBHOOK_CA_FILE="), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
        assert!(!dir.exists(), "nothing was written before the check");
    }
    let _ = std::fs::remove_file(garbage);
    let _ = std::fs::remove_file(truncated);
}
