//! What the dashboard needs from the server: its assets at `/` (with a strict CSP), the
//! queue's summary listing, and `GET /v1/keys/me` for sign-in — the real binary on
//! 127.0.0.1:0. The dashboard itself is tested in Chromium (server/dashboard/tests/).

mod common;

use common::Server;
use serde_json::{json, Value};

#[test]
fn the_summary_listing_carries_no_payloads() {
    let s = Server::fresh("summary");
    let big = "x".repeat(5000);
    let plain = json!({"service": "stripe", "action": "refund", "payload": {"amount": 420, "note": big}, "priority": "high"});
    let (st, created) = s.call("POST", "/v1/requests", &s.agent, Some(&plain));
    assert_eq!(st, 201, "{created}");
    let sealed = json!({
        "service": "gmail", "action": "send", "role": "support",
        "payload": {"v": 1, "alg": "A256GCM", "kid": "k1", "iv": "AAAAAAAAAAAAAAAA", "ct": "AAAAAAAAAAAAAAAAAAAAAA"},
        "context": {"firewall": {"action": "review", "score": 0.9, "reasons": []}},
    });
    assert_eq!(s.call("POST", "/v1/requests", &s.agent, Some(&sealed)).0, 201);

    let (st, page) = s.call("GET", "/v1/requests?status=PENDING&view=summary", &s.operator, None);
    assert_eq!(st, 200, "{page}");
    let rows = page["requests"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        for absent in ["payload", "schema", "context", "decision", "project"] {
            assert!(row.get(absent).is_none(), "{absent} in {row}");
        }
    }
    let by = |service: &str| rows.iter().find(|r| r["service"] == service).unwrap().clone();
    let stripe = by("stripe");
    assert_eq!(stripe["id"], created["id"]);
    assert_eq!((stripe["encrypted"].clone(), stripe["held"].clone()), (json!(false), json!(false)));
    let preview = stripe["preview"].as_str().unwrap();
    assert!(preview.starts_with(r#"{"amount":420,"note":"xxx"#), "{preview}");
    assert_eq!(preview.len(), 160);
    let gmail = by("gmail");
    assert_eq!((gmail["encrypted"].clone(), gmail["held"].clone()), (json!(true), json!(true)));
    assert!(gmail.get("preview").is_none(), "no preview of ciphertext");
    assert_eq!(gmail["role"], "support");

    // The full listing is unchanged, and an unknown view is refused.
    let (_, full) = s.call("GET", "/v1/requests?status=PENDING", &s.operator, None);
    assert!(full["requests"][0]["payload"].is_object());
    let (st, err) = s.call("GET", "/v1/requests?view=everything", &s.operator, None);
    assert_eq!((st, err["error"]["code"].as_str()), (400, Some("invalid_query")));
}

#[test]
fn keys_me_names_the_caller() {
    let s = Server::fresh("me");
    let (st, me) = s.call("GET", "/v1/keys/me", &s.operator, None);
    assert_eq!(st, 200);
    assert_eq!((me["project"].as_str(), me["role"].as_str()), (Some(s.project.as_str()), Some("operator")));
    let (_, agent) = s.call("GET", "/v1/keys/me", &s.agent, None);
    assert_eq!(agent["role"], "agent");
    assert!(!agent.to_string().contains(&s.agent), "never the token");
    assert_eq!(s.call("GET", "/v1/keys/me", "hr_op_nope", None).0, 401);
}

#[test]
fn the_dashboard_is_served_with_a_strict_policy_and_api_paths_keep_json_errors() {
    let s = Server::fresh("assets");
    let index = s.raw("GET", "/", "", None);
    assert_eq!(index.status(), 200);
    assert!(index.content_type().starts_with("text/html"));
    let csp = index.header("content-security-policy").unwrap().to_string();
    for part in ["default-src 'none'", "script-src 'self' 'wasm-unsafe-eval'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(index.header("x-content-type-options"), Some("nosniff"));
    let etag = index.header("etag").map(str::to_string);
    // Revalidation answers 304 when the bytes are the same.
    if let Some(etag) = etag {
        let again = ureq::get(&format!("{}/", s.url)).set("if-none-match", &etag).call().unwrap();
        assert_eq!(again.status(), 304);
    }
    let missing: Value =
        serde_json::from_str(&s.raw("GET", "/v1/not-a-route", &s.operator, None).into_string().unwrap())
            .unwrap();
    assert_eq!(missing["error"]["code"], "not_found");
}
