//! A project's own bound on grants (`max_grant_secs`), against the real binary, on SQLite or
//! PostgreSQL alike: shown and set at `/v1/projects/{id}` by an operator of `*` of the project
//! or an admin (never an agent key, a role-limited operator or another project's operator),
//! audited; the bound in force is the smaller of it and the server's `HANDRAIL_MAX_GRANT_SECS`,
//! a longer grant is refused; a lowered bound shortens the live grants; a bad value is a
//! typed 400; a database made before the column existed gains it; the CLI sets and shows it.

mod common;

use std::process::Command;

use common::{sql, Server};
use serde_json::{json, Value};

fn create(server: &Server) -> String {
    let body = json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}});
    let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Approves `id` with a grant of `secs`: the status and the error code, if any.
fn grant(server: &Server, id: &str, secs: u64) -> (u16, String) {
    let body = json!({"decision": "approve", "grant": {"for_secs": secs}});
    let (status, answer) =
        server.call("POST", &format!("/v1/requests/{id}/resolve"), &server.operator, Some(&body));
    (status, answer["error"]["code"].as_str().unwrap_or("").to_string())
}

fn status_of(server: &Server, id: &str) -> Value {
    server.call("GET", &format!("/v1/requests/{id}"), &server.operator, None).1["status"].clone()
}

fn project_path(id: &str) -> String {
    format!("/v1/projects/{id}")
}

fn patch(server: &Server, project: &str, token: &str, body: Value) -> (u16, Value) {
    server.call("PATCH", &project_path(project), token, Some(&body))
}

fn code(answer: &Value) -> &str {
    answer["error"]["code"].as_str().unwrap_or("")
}

/// The audit entries of the project with event `event`.
fn audited(server: &Server, event: &str) -> Vec<Value> {
    let (status, audit) = server.call("GET", "/v1/audit", &server.operator, None);
    assert_eq!(status, 200, "{audit}");
    audit["entries"].as_array().unwrap().iter().filter(|e| e["event"] == event).cloned().collect()
}

#[test]
fn a_project_bound_below_the_servers_refuses_longer_grants_and_is_audited() {
    let server = Server::fresh_with("grant-bounds", &[("HANDRAIL_MAX_GRANT_SECS", "3600")]);
    let (status, shown) = server.call("GET", &project_path(&server.project), &server.operator, None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["id"], json!(server.project));
    assert_eq!(shown["max_grant_secs"], Value::Null);
    assert_eq!(shown["grant_bound_secs"], 3600);

    let (status, set) = patch(&server, &server.project, &server.operator, json!({"max_grant_secs": 300}));
    assert_eq!(status, 200, "{set}");
    assert_eq!((set["max_grant_secs"].as_u64(), set["grant_bound_secs"].as_u64()), (Some(300), Some(300)));
    let (_, listed) = server.call("GET", "/v1/projects", &server.operator, None);
    let mine = listed["projects"].as_array().unwrap().iter().find(|p| p["id"] == json!(server.project));
    assert_eq!(mine.unwrap()["max_grant_secs"], 300, "{listed}");

    // Longer than the project allows: refused, nothing decided; within it: given.
    let id = create(&server);
    assert_eq!(grant(&server, &id, 600), (400, "invalid_request".to_string()));
    assert_eq!(grant(&server, &id, 301), (400, "invalid_request".to_string()));
    assert_eq!(status_of(&server, &id), "PENDING");
    assert_eq!(grant(&server, &id, 300).0, 200);

    // Cleared: the server's bound alone again.
    let (status, cleared) =
        patch(&server, &server.project, &server.operator, json!({"max_grant_secs": null}));
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(
        (cleared["max_grant_secs"].clone(), cleared["grant_bound_secs"].as_u64()),
        (Value::Null, Some(3600))
    );
    // The grant given above covers the same tool: revoke it so that a person decides again.
    let (_, grants) = server.call("GET", "/v1/grants", &server.operator, None);
    let given = grants["grants"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(server.call("DELETE", &format!("/v1/grants/{given}"), &server.operator, None).0, 204);
    let later = create(&server);
    assert_eq!(grant(&server, &later, 600).0, 200);

    // Each change is in the chain, with who made it, the value and the one before.
    let entries = audited(&server, "project.max_grant_secs");
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["data"]["max_grant_secs"], 300);
    assert_eq!(entries[0]["data"]["previous"], Value::Null);
    assert_eq!(entries[1]["data"]["max_grant_secs"], Value::Null);
    assert_eq!(entries[1]["data"]["previous"], 300);
    assert!(entries[0]["actor"].as_str().is_some_and(|a| a.starts_with("key_")), "{entries:?}");
}

#[test]
fn the_server_bound_caps_a_larger_project_bound() {
    let server = Server::fresh_with("grant-bounds-server", &[("HANDRAIL_MAX_GRANT_SECS", "120")]);
    let (status, set) = patch(&server, &server.project, &server.operator, json!({"max_grant_secs": 3600}));
    assert_eq!(status, 200, "{set}");
    assert_eq!((set["max_grant_secs"].as_u64(), set["grant_bound_secs"].as_u64()), (Some(3600), Some(120)));
    let id = create(&server);
    assert_eq!(grant(&server, &id, 121), (400, "invalid_request".to_string()));
    assert_eq!(grant(&server, &id, 120).0, 200);
}

#[test]
fn only_an_operator_of_every_role_of_the_project_or_an_admin_sets_it() {
    let server = Server::fresh("grant-bounds-authority");
    let mine = server.project.clone();
    let body = json!({"max_grant_secs": 60});

    // An agent key: neither reads nor sets it.
    let (status, answer) = patch(&server, &mine, &server.agent, body.clone());
    assert_eq!((status, code(&answer)), (403, "forbidden"), "{answer}");
    let (status, answer) = server.call("GET", &project_path(&mine), &server.agent, None);
    assert_eq!((status, code(&answer)), (403, "forbidden"), "{answer}");

    // A role-limited operator of the project reads it, and cannot set it.
    let (status, role) =
        server.call("POST", "/v1/roles", &server.operator, Some(&json!({"name": "finance"})));
    assert_eq!(status, 201, "{role}");
    let (status, key) = server.call(
        "POST",
        "/v1/keys",
        &server.operator,
        Some(&json!({"role": "operator", "roles": ["finance"]})),
    );
    assert_eq!(status, 201, "{key}");
    let limited = key["token"].as_str().unwrap();
    assert_eq!(server.call("GET", &project_path(&mine), limited, None).0, 200);
    let (status, answer) = patch(&server, &mine, limited, body.clone());
    assert_eq!((status, code(&answer)), (403, "all_roles_required"), "{answer}");

    // Another project's operator (of `*`, not an admin): this project is not found for it;
    // its own it sets. The bootstrap operator is an admin: it sets any project's.
    let (status, other) =
        server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "other"})));
    assert_eq!(status, 201, "{other}");
    let (theirs, their_op) = (other["id"].as_str().unwrap(), other["operator_token"].as_str().unwrap());
    let (status, answer) = patch(&server, &mine, their_op, body.clone());
    assert_eq!((status, code(&answer)), (404, "not_found"), "{answer}");
    assert_eq!(server.call("GET", &project_path(&mine), their_op, None).0, 404);
    assert_eq!(patch(&server, theirs, their_op, json!({"max_grant_secs": 90})).0, 200);
    let (status, by_admin) = patch(&server, theirs, &server.operator, json!({"max_grant_secs": 45}));
    assert_eq!((status, by_admin["max_grant_secs"].as_u64()), (200, Some(45)), "{by_admin}");
    let (status, answer) = patch(&server, "prj_nonexistent", &server.operator, body.clone());
    assert_eq!((status, code(&answer)), (404, "not_found"), "{answer}");

    // None of the refused calls changed anything.
    let (_, shown) = server.call("GET", &project_path(&mine), &server.operator, None);
    assert_eq!(shown["max_grant_secs"], Value::Null, "{shown}");
    assert!(audited(&server, "project.max_grant_secs").is_empty());
}

#[test]
fn a_bad_value_is_a_typed_400_and_changes_nothing() {
    let server = Server::fresh("grant-bounds-values");
    let mine = server.project.clone();
    assert_eq!(patch(&server, &mine, &server.operator, json!({"max_grant_secs": 600})).0, 200);
    let bad = [
        json!({"max_grant_secs": 0}),
        json!({"max_grant_secs": -5}),
        json!({"max_grant_secs": 365 * 86_400 + 1}),
        json!({"max_grant_secs": 1_000_000_000_000_u64}),
        json!({"max_grant_secs": "600"}),
        json!({"max_grant_secs": 60.5}),
        json!({"max_grant_secs": [60]}),
        json!({}),
        json!({"max_grant_secs": 60, "name": "renamed"}),
        json!([60]),
    ];
    for body in bad {
        let (status, answer) = patch(&server, &mine, &server.operator, body.clone());
        assert_eq!((status, code(&answer)), (400, "invalid_request"), "{body}: {answer}");
    }
    // Not JSON, or JSON the strict parser refuses: its own code.
    let raw = |text: &str| {
        let r = ureq::request("PATCH", &format!("{}{}", server.url, project_path(&mine)))
            .set("Authorization", &format!("Bearer {}", server.operator))
            .set("content-type", "application/json")
            .send_string(text);
        match r {
            Err(ureq::Error::Status(status, r)) => {
                (status, serde_json::from_str::<Value>(&r.into_string().unwrap()).unwrap())
            }
            other => panic!("{text}: {other:?}"),
        }
    };
    let (status, answer) = raw("{\"max_grant_secs\": 60, \"max_grant_secs\": 90}");
    assert_eq!((status, code(&answer)), (400, "duplicate_key"), "{answer}");
    let (status, answer) = raw("{\"max_grant_secs\": ");
    assert_eq!((status, code(&answer)), (400, "json_syntax"), "{answer}");
    let (status, answer) = raw("{\"max_grant_secs\": 1e400}");
    assert_eq!(status, 400, "{answer}");

    let (_, shown) = server.call("GET", &project_path(&mine), &server.operator, None);
    assert_eq!(shown["max_grant_secs"], 600, "{shown}");
    assert_eq!(audited(&server, "project.max_grant_secs").len(), 1);
}

#[test]
fn a_lowered_bound_shortens_the_live_grants_that_would_outlast_it() {
    let server = Server::fresh("grant-bounds-shorten");
    let first = create(&server);
    assert_eq!(grant(&server, &first, 3000).0, 200);
    let (_, grants) = server.call("GET", "/v1/grants", &server.operator, None);
    let long = grants["grants"][0].clone();
    let (created, expires) = (long["created_at"].as_i64().unwrap(), long["expires_at"].as_i64().unwrap());
    assert_eq!(expires - created, 3000);

    // Bound to 600: the grant now ends 600 seconds after it was given, and still approves.
    let (status, set) = patch(&server, &server.project, &server.operator, json!({"max_grant_secs": 600}));
    assert_eq!(status, 200, "{set}");
    let (_, grants) = server.call("GET", "/v1/grants", &server.operator, None);
    assert_eq!(grants["grants"][0]["expires_at"].as_i64(), Some(created + 600), "{grants}");
    assert_eq!(audited(&server, "project.max_grant_secs")[0]["data"]["grants_shortened"], 1);
    let covered = create(&server);
    let (_, row) = server.call("GET", &format!("/v1/requests/{covered}/wait?timeout=1"), &server.agent, None);
    assert_eq!(row["status"], "APPROVED", "{row}");

    // A grant given long ago (moved back in the store) and then bounded below its age ends
    // at the change: it approves nothing after.
    let id = long["id"].as_str().unwrap();
    let moved = sql(
        &server.dir,
        &format!("UPDATE grants SET created_at = created_at - 5000 WHERE id = {}", common::quote(id)),
    );
    assert_eq!(moved.1, 1);
    let (status, _) = patch(&server, &server.project, &server.operator, json!({"max_grant_secs": 60}));
    assert_eq!(status, 200);
    let (_, grants) = server.call("GET", "/v1/grants", &server.operator, None);
    let ended = grants["grants"].as_array().unwrap().iter().find(|g| g["id"] == json!(id)).unwrap().clone();
    assert!(ended["expires_at"].as_i64().unwrap() <= common_now(), "{ended}");
    assert!(ended["revoked_at"].is_null(), "shortened, not revoked: {ended}");
    let after = create(&server);
    let (_, row) = server.call("GET", &format!("/v1/requests/{after}/wait?timeout=1"), &server.agent, None);
    assert_eq!(row["status"], "PENDING", "{row}");
    assert_eq!(audited(&server, "project.max_grant_secs")[1]["data"]["grants_shortened"], 1);
}

fn common_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[test]
fn a_database_made_before_the_bound_existed_gains_it() {
    let server = Server::fresh("grant-bounds-migrate");
    let project = server.project.clone();
    assert_eq!(patch(&server, &project, &server.operator, json!({"max_grant_secs": 600})).0, 200);
    let (operator, dir) = (server.operator.clone(), server.into_dir());
    // Back to the schema of the release before: no column (and, on PostgreSQL, version 1).
    sql(&dir, "ALTER TABLE projects DROP COLUMN max_grant_secs");
    if common::test_postgres().is_some() {
        common::postgres_back_to_version(&dir, 2);
        sql(&dir, "DELETE FROM schema_migrations WHERE version = 2");
    }
    let server = Server::start(dir);
    let (status, shown) = server.call("GET", &project_path(&project), &operator, None);
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown["max_grant_secs"], Value::Null, "{shown}");
    let (status, set) = patch(&server, &project, &operator, json!({"max_grant_secs": 90}));
    assert_eq!((status, set["max_grant_secs"].as_u64()), (200, Some(90)), "{set}");
}

#[test]
fn the_cli_shows_sets_and_clears_it() {
    let server = Server::fresh("grant-bounds-cli");
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
            .args(args)
            .env("HANDRAIL_URL", &server.url)
            .env("HANDRAIL_OPERATOR_TOKEN", &server.operator)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
    };
    let project = server.project.as_str();
    let (code, out, err) = cli(&["projects", "set-max-grant", project, "--secs", "900"]);
    assert_eq!(code, Some(0), "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["max_grant_secs"], 900);
    let (code, out, _) = cli(&["projects", "show", project]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["grant_bound_secs"], 900);
    let (code, out, _) = cli(&["projects", "clear-max-grant", project]);
    assert_eq!(code, Some(0));
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["max_grant_secs"], Value::Null);
    let (code, _, err) = cli(&["projects", "set-max-grant", project, "--secs", "0"]);
    assert_ne!(code, Some(0));
    assert!(err.contains("invalid_request"), "{err}");
}
