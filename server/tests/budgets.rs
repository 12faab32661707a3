//! Budgets and sessions through our own API: an operator sets an agent's daily budget,
//! observations' `cost_usd` count as today's spend, the agent's detail shows both; sessions
//! start, end once, and list by agent.

mod common;

use common::Server;
use serde_json::json;

#[test]
fn operators_set_budgets_and_observed_cost_counts_as_todays_spend() {
    let s = Server::fresh("budget");
    let path = "/v1/agents/bot/budget";
    let (status, body) = s.call("PUT", path, &s.agent, Some(&json!({ "daily_usd": 5.0 })));
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "{body}");
    let (status, body) = s.call("PUT", path, &s.operator, Some(&json!({ "daily_usd": -1.0 })));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_budget")), "{body}");
    let (status, body) =
        s.call("PUT", "/v1/agents/no%20spaces/budget", &s.operator, Some(&json!({ "daily_usd": 1.0 })));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_agent")), "{body}");

    // Before the agent was ever observed.
    let (status, body) = s.call("PUT", path, &s.operator, Some(&json!({ "daily_usd": 5.0 })));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({ "agent": "bot", "daily_usd": 5.0, "spent_today_usd": 0.0, "remaining_usd": 5.0 })
    );

    let events = json!({ "agent": "bot", "events": [
        { "id": "e1", "session": "s1", "tool": "search", "args": { "q": "x" }, "outcome": "ran", "cost_usd": 1.25 },
        { "id": "e2", "session": "s1", "tool": "search", "args": { "q": "y" }, "outcome": "ran", "cost_usd": 0.5 },
        { "id": "e3", "session": "s1", "tool": "read_file", "args": { "path": "a" }, "outcome": "ran" },
    ]});
    let (status, body) = s.call("POST", "/v1/observations", &s.agent, Some(&events));
    assert_eq!(status, 200, "{body}");
    // A repeated batch is a duplicate: it spends nothing more.
    let (status, body) = s.call("POST", "/v1/observations", &s.agent, Some(&events));
    assert_eq!((status, body["duplicates"].as_u64()), (200, Some(3)), "{body}");

    let (status, agent) = s.call("GET", "/v1/agents/bot", &s.agent, None);
    assert_eq!(status, 200, "{agent}");
    assert_eq!(
        agent["budget"],
        json!({ "agent": "bot", "daily_usd": 5.0, "spent_today_usd": 1.75, "remaining_usd": 3.25 })
    );
    let (_, read) = s.call("GET", path, &s.agent, None);
    assert_eq!(read, agent["budget"]);

    let (status, body) = s.call("PUT", path, &s.operator, Some(&json!({ "daily_usd": null })));
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["daily_usd"].is_null(), body["remaining_usd"].is_null()), (true, true), "{body}");
    assert_eq!(body["spent_today_usd"], json!(1.75));

    let (_, audit) = s.call("GET", "/v1/audit", &s.operator, None);
    let budget_events: Vec<_> =
        audit["entries"].as_array().unwrap().iter().filter(|e| e["event"] == "agent.budget").collect();
    assert_eq!(budget_events.len(), 2, "{audit}");
}

#[test]
fn sessions_start_end_once_and_list_by_agent() {
    let s = Server::fresh("sessions");
    let (status, started) = s.call("POST", "/v1/sessions", &s.agent, Some(&json!({ "agent": "bot" })));
    assert_eq!(status, 201, "{started}");
    assert_eq!((started["status"].as_str(), started["events"].as_u64()), (Some("running"), Some(0)));
    let id = started["id"].as_str().unwrap();
    assert!(id.starts_with("ses_"), "{id}");

    let end = format!("/v1/sessions/{id}/end");
    let (status, body) = s.call("POST", &end, &s.agent, Some(&json!({ "status": "done" })));
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("invalid_status")), "{body}");
    let (status, ended) =
        s.call("POST", &end, &s.agent, Some(&json!({ "status": "error", "error": "boom" })));
    assert_eq!(status, 200, "{ended}");
    assert_eq!((ended["status"].as_str(), ended["error"].as_str()), (Some("error"), Some("boom")));
    assert!(ended["ended_at"].as_i64().is_some(), "{ended}");
    let (status, body) = s.call("POST", &end, &s.agent, Some(&json!({ "status": "success" })));
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("session_ended")), "{body}");

    let (status, read) = s.call("GET", &format!("/v1/sessions/{id}"), &s.operator, None);
    assert_eq!((status, &read), (200, &ended));
    let (status, body) = s.call("GET", "/v1/sessions/ses_nothing", &s.agent, None);
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")), "{body}");
    let (status, list) = s.call("GET", "/v1/agents/bot/sessions", &s.agent, None);
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["sessions"], json!([ended]));
}
