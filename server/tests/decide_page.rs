//! The decision pages of e-mail links are open to anyone (the link is the credential), so
//! each source address has a budget of calls to them (`HANDRAIL_DECIDE_RATE_LIMIT` per
//! minute): past it, 429 with `retry-after`, before any link is checked.

mod common;

use common::Server;

#[test]
fn decision_pages_are_rate_limited_per_address() {
    let server = Server::fresh_with("limited", &[("HANDRAIL_DECIDE_RATE_LIMIT", "3")]);
    let get = |path: &str| match ureq::get(&format!("{}{path}", server.url)).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    for _ in 0..3 {
        let r = get("/decide/not-a-link");
        assert_ne!(r.status(), 429, "within the budget a bad link is refused for what it is");
        assert!(r.into_string().unwrap().contains("This link cannot be used"));
    }
    let limited = get("/decide/not-a-link");
    assert_eq!(limited.status(), 429);
    assert!(limited.header("retry-after").is_some_and(|s| s.parse::<u64>().unwrap() >= 1));
    assert!(limited.into_string().unwrap().contains("rate_limited"));
    // A POST draws on the same budget; the API's own routes do not.
    let posted = ureq::post(&format!("{}/decide/not-a-link", server.url)).send_string("decision=approve");
    assert!(matches!(posted, Err(ureq::Error::Status(429, _))));
    let (status, _) = server.call("GET", "/v1/requests", &server.operator, None);
    assert_eq!(status, 200);
}
