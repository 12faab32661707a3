//! `/v1/openapi.json` is true: every route of `server/src/v1/` is in it and nothing else is,
//! and real answers of the real binary validate against the schemas it gives for their route
//! and status.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::Server;
use serde_json::{json, Value};

const METHODS: [&str; 8] = ["get", "post", "put", "delete", "patch", "head", "options", "trace"];

/// Calls beyond JSON with a token, and the document itself.
trait OpenApi {
    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        json: bool,
    ) -> (u16, Value);
    fn document(&self) -> Doc;
}

impl OpenApi for Server {
    /// Calls the API; `token` None sends no Authorization header. The body is sent as
    /// `application/json` when `json`, else as `application/octet-stream`.
    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        json: bool,
    ) -> (u16, Value) {
        let mut req = ureq::request(method, &format!("{}{path}", self.url)).timeout(Duration::from_secs(90));
        if let Some(token) = token {
            req = req.set("Authorization", &format!("Bearer {token}"));
        }
        let result = match body {
            Some(b) if json => req.set("content-type", "application/json").send_bytes(b),
            Some(b) => req.set("content-type", "application/octet-stream").send_bytes(b),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        };
        let status = response.status();
        let text = response.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    fn document(&self) -> Doc {
        let (status, doc) = self.send("GET", "/v1/openapi.json", None, None, true);
        assert_eq!(status, 200, "the document needs no credentials: {doc}");
        assert_eq!(doc["openapi"], "3.1.0");
        Doc(doc)
    }
}

struct Doc(Value);

impl Doc {
    /// Every (METHOD, path) the document describes.
    fn operations(&self) -> BTreeSet<(String, String)> {
        let paths = self.0["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// A validator for `schema`, with the document's components beside it so that
    /// `#/components/schemas/…` references resolve.
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let root = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.0["components"],
            "allOf": [schema],
        });
        jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("the schema compiles: {e}\n{schema}"))
    }

    /// Asserts that `body` is what the document says `method path` answers with `status`;
    /// for an error, also that its code is one the document lists for that status.
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) {
        let op = &self.0["paths"][path][method.to_lowercase()];
        assert!(op.is_object(), "{method} {path} is not documented");
        let response = &op["responses"][status.to_string()];
        let schema = &response["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{method} {path} documents no JSON answer with status {status}: {body}");
        let validator = self.validator(schema);
        let errors: Vec<String> = validator
            .iter_errors(body)
            .map(|e| format!("{} (at {}, schema {})", e, e.instance_path(), e.schema_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status} does not match the document: {errors:#?}\n{body:#}"
        );
        if status >= 400 {
            let code = body["error"]["code"].as_str().expect("an error code");
            let listed = response["x-error-codes"].as_array().expect("x-error-codes");
            assert!(
                listed.iter().any(|c| c == code),
                "{method} {path} {status}: `{code}` is not among the documented codes {listed:?}"
            );
            let description = response["description"].as_str().unwrap_or_default();
            assert!(description.contains(&format!("`{code}`")), "{method} {path} {status}: {description}");
        }
    }
}

/// Every `.route("PATH", method(…).method(…))` in the sources of `server/src/v1/`, as
/// (METHOD, PATH).
fn routes_in_code() -> BTreeSet<(String, String)> {
    let mut files = Vec::new();
    let mut dirs = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/v1")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 7, "found the route files: {files:?}");
    let mut routes = BTreeSet::new();
    for file in files {
        let text: String = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let name = file.display().to_string();
        for (at, _) in text.match_indices(".route(") {
            let rest = &text[at + ".route(".len()..];
            for method in parse_route(rest, &name, &mut routes) {
                assert!(METHODS.contains(&method.as_str()), "{name}: `{method}` is no method router");
            }
        }
    }
    routes
}

/// Parses `"PATH", get(…).post(…))` into `routes`; returns the method names it saw.
fn parse_route(rest: &str, file: &str, routes: &mut BTreeSet<(String, String)>) -> Vec<String> {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('"').unwrap_or_else(|| panic!("{file}: a .route( whose path is no literal"));
    let end = rest.find('"').unwrap();
    let path = &rest[..end];
    let mut rest = rest[end + 1..].trim_start().strip_prefix(',').expect("a comma after the path");
    let mut methods = Vec::new();
    loop {
        rest = rest.trim_start();
        let ident_end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap();
        let method = rest[..ident_end].rsplit("::").next().unwrap().to_string();
        rest = rest[ident_end..].trim_start();
        assert!(rest.starts_with('('), "{file}: cannot read the method router of {path} at `{method}`");
        rest = &rest[balanced(rest)..];
        routes.insert((method.to_uppercase(), path.to_string()));
        methods.push(method);
        rest = rest.trim_start();
        match rest.strip_prefix('.') {
            Some(next) => rest = next,
            None => {
                assert!(rest.starts_with(')'), "{file}: cannot read the method router of {path}");
                return methods;
            }
        }
    }
}

/// The length of the parenthesised group `text` starts with (string literals skipped).
fn balanced(text: &str) -> usize {
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {text:.80}")
}

#[test]
fn every_route_is_documented_and_only_routes_are() {
    let server = Server::fresh("routes");
    let doc = server.document();
    let routed = routes_in_code();
    let documented = doc.operations();
    // The scanner itself is checked on routes it must find.
    for known in [("GET", "/healthz"), ("POST", "/v1/requests"), ("PUT", "/v1/blobs/{token}")] {
        assert!(routed.contains(&(known.0.to_string(), known.1.to_string())), "scanner missed {known:?}");
    }
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /v1/openapi.json (add them to v1/openapi.rs): {undocumented:?}"
    );
    assert!(unrouted.is_empty(), "documented in /v1/openapi.json but routed nowhere: {unrouted:?}");

    // Each operation says who may call it and what it answers.
    let paths = doc.0["paths"].as_object().unwrap();
    for (method, path) in &documented {
        let op = &paths[path][method.to_lowercase()];
        assert!(op["security"].is_array(), "{method} {path} has no security");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{method} {path}: no responses");
        for name in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
            let declared = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path" && p["name"] == name));
            assert!(declared, "{method} {path}: path parameter {name} is not declared");
        }
    }
    // Security as the handlers enforce it.
    let security = |method: &str, path: &str| paths[path][method].get("security").cloned().unwrap();
    assert_eq!(security("get", "/v1/openapi.json"), json!([]));
    assert_eq!(security("get", "/v1/keys/proof"), json!([]));
    assert_eq!(security("post", "/v1/requests"), json!([{"agentKey": []}, {"operatorToken": []}]));
    assert_eq!(security("post", "/v1/requests/{id}/resolve"), json!([{"operatorToken": []}]));
    let create = &paths["/v1/requests"]["post"];
    assert!(create["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key"));
}

#[test]
fn real_answers_match_the_documented_schemas() {
    let server = Server::fresh("answers");
    let doc = server.document();
    let (agent, operator) = (server.agent.as_str(), server.operator.as_str());

    // The validator is live: a wrong body fails the schema a right one passes.
    let row_schema = json!({ "$ref": "#/components/schemas/Request" });
    assert!(!doc.validator(&row_schema).is_valid(&json!({ "id": 1 })));

    let new = json!({
        "service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": 500},
        "priority": "high", "context": {"trace": "t-1"},
        "schema": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "number", "maximum": 1000}}}
    });
    let bytes = new.to_string().into_bytes();
    let mut idempotent = ureq::post(&format!("{}/v1/requests", server.url))
        .set("Authorization", &format!("Bearer {agent}"))
        .set("Idempotency-Key", "order-1")
        .set("content-type", "application/json");
    idempotent = idempotent.timeout(Duration::from_secs(30));
    let created: Value =
        serde_json::from_str(&idempotent.clone().send_bytes(&bytes).unwrap().into_string().unwrap()).unwrap();
    doc.check("POST", "/v1/requests", 201, &created);
    let replayed = idempotent.send_bytes(&bytes).unwrap();
    assert_eq!((replayed.status(), replayed.header("idempotent-replayed")), (201, Some("true")));
    let replayed: Value = serde_json::from_str(&replayed.into_string().unwrap()).unwrap();
    doc.check("POST", "/v1/requests", 201, &replayed);
    let id = created["id"].as_str().unwrap().to_string();

    // A parked snapshot shows in the read.
    let (status, stored) =
        server.send("PUT", &format!("/v1/requests/{id}/snapshot"), Some(agent), Some(b"sealed state"), false);
    assert_eq!(status, 201, "{stored}");
    doc.check("PUT", "/v1/requests/{id}/snapshot", 201, &stored);
    let (status, link) = server.call("POST", &format!("/v1/requests/{id}/snapshot/link?ttl=60"), agent, None);
    assert_eq!(status, 200, "{link}");
    doc.check("POST", "/v1/requests/{id}/snapshot/link", 200, &link);

    let (status, read) = server.call("GET", &format!("/v1/requests/{id}"), agent, None);
    assert_eq!(status, 200, "{read}");
    assert!(read["snapshot"]["url"].is_string(), "{read}");
    doc.check("GET", "/v1/requests/{id}", 200, &read);

    let (status, list) = server.call("GET", "/v1/requests?status=pending&limit=10", operator, None);
    assert_eq!((status, list["requests"].as_array().map(Vec::len)), (200, Some(1)), "{list}");
    doc.check("GET", "/v1/requests", 200, &list);
    let (status, summary) = server.call("GET", "/v1/requests?view=summary", operator, None);
    assert_eq!((status, summary["requests"][0]["complete"].is_boolean()), (200, true), "{summary}");
    doc.check("GET", "/v1/requests", 200, &summary);

    // Errors: the shape, and a code the document lists for that route and status.
    let (status, err) = server.call("GET", "/v1/requests/req_nope", agent, None);
    assert_eq!(status, 404);
    doc.check("GET", "/v1/requests/{id}", 404, &err);
    let (status, err) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        agent,
        Some(&json!({"decision": "approve"})),
    );
    assert_eq!(status, 403);
    doc.check("POST", "/v1/requests/{id}/resolve", 403, &err);
    let (status, err) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        operator,
        Some(&json!({"decision": "approve", "payload": {"charge": "ch_1", "amount": 5000}})),
    );
    assert_eq!(status, 422);
    doc.check("POST", "/v1/requests/{id}/resolve", 422, &err);
    let (status, err) = server.send("GET", "/v1/keys", None, None, true);
    assert_eq!(status, 401);
    doc.check("GET", "/v1/keys", 401, &err);
    let (status, err) = server.send("POST", "/v1/requests", Some(agent), Some(b"{\"a\":1,\"a\":2}"), true);
    assert_eq!(status, 400);
    doc.check("POST", "/v1/requests", 400, &err);
    let bidi = json!({"service": "s\u{202E}", "action": "a", "payload": {}});
    let (status, err) = server.call("POST", "/v1/requests", agent, Some(&bidi));
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invisible_character")));
    doc.check("POST", "/v1/requests", 400, &err);
    let (status, err) = server.call("POST", "/v1/roles", operator, Some(&json!({"name": "r\u{200B}"})));
    assert_eq!(status, 400);
    doc.check("POST", "/v1/roles", 400, &err);

    // Approve with an edit; the waiter gets the decided request.
    let (status, decision) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        operator,
        Some(&json!({"decision": "approve", "payload": {"charge": "ch_1", "amount": 50}, "reason": "half"})),
    );
    assert_eq!(
        (status, decision["status"].as_str()),
        (200, Some("APPROVED_WITH_MODIFICATIONS")),
        "{decision}"
    );
    assert!(decision["diff"]["ops"].is_array());
    doc.check("POST", "/v1/requests/{id}/resolve", 200, &decision);
    let (status, waited) = server.call("GET", &format!("/v1/requests/{id}/wait?timeout=5"), agent, None);
    assert_eq!((status, waited["decision"]["status"].as_str()), (200, Some("APPROVED_WITH_MODIFICATIONS")));
    doc.check("GET", "/v1/requests/{id}/wait", 200, &waited);
    let (status, err) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        operator,
        Some(&json!({"decision": "reject"})),
    );
    assert_eq!(status, 409);
    doc.check("POST", "/v1/requests/{id}/resolve", 409, &err);

    // Keys.
    let (status, key) = server.call("POST", "/v1/keys", operator, Some(&json!({"role": "agent"})));
    assert_eq!(status, 201, "{key}");
    doc.check("POST", "/v1/keys", 201, &key);
    let (status, keys) = server.call("GET", "/v1/keys", operator, None);
    assert_eq!((status, keys["keys"].as_array().map(Vec::len)), (200, Some(3)), "{keys}");
    doc.check("GET", "/v1/keys", 200, &keys);
    let (status, jwks) = server.send("GET", "/v1/keys/proof", None, None, true);
    assert_eq!(status, 200);
    doc.check("GET", "/v1/keys/proof", 200, &jwks);
    assert!(jwks["issuer"].as_str().is_some_and(|i| !i.is_empty()), "{jwks}");
    let (status, head) = server.call("GET", "/v1/audit/head", operator, None);
    assert_eq!(status, 200, "{head}");
    doc.check("GET", "/v1/audit/head", 200, &head);

    // A project's settings.
    let project_path = format!("/v1/projects/{}", server.project);
    let (status, shown) = server.call("GET", &project_path, operator, None);
    assert_eq!(status, 200, "{shown}");
    doc.check("GET", "/v1/projects/{id}", 200, &shown);
    let (status, set) = server.call("PATCH", &project_path, operator, Some(&json!({"max_grant_secs": 600})));
    assert_eq!(status, 200, "{set}");
    doc.check("PATCH", "/v1/projects/{id}", 200, &set);
    let (status, err) = server.call("PATCH", &project_path, agent, Some(&json!({"max_grant_secs": 600})));
    assert_eq!(status, 403, "{err}");
    doc.check("PATCH", "/v1/projects/{id}", 403, &err);
    let (status, err) = server.call("PATCH", &project_path, operator, Some(&json!({"max_grant_secs": 0})));
    assert_eq!(status, 400, "{err}");
    doc.check("PATCH", "/v1/projects/{id}", 400, &err);
    let (status, err) = server.call("GET", "/v1/projects/prj_nope", operator, None);
    assert_eq!(status, 404, "{err}");
    doc.check("GET", "/v1/projects/{id}", 404, &err);

    // Webhooks.
    let (status, hook) =
        server.call("POST", "/v1/webhooks", operator, Some(&json!({"url": "http://127.0.0.1:9/hook"})));
    assert_eq!(status, 201, "{hook}");
    doc.check("POST", "/v1/webhooks", 201, &hook);
    let (status, hooks) = server.call("GET", "/v1/webhooks", operator, None);
    assert_eq!(status, 200);
    doc.check("GET", "/v1/webhooks", 200, &hooks);

    // Agents, after observations.
    let events = json!([
        {"id": "e1", "session": "s1", "context": "refund ch_1", "tool": "lookup_charge", "args": {"charge": "ch_1"}, "outcome": "ran", "cost_usd": 0.01},
        {"id": "e2", "session": "s1", "tool": "refund", "args": {"charge": "ch_1", "amount": 50}, "effect": "payment", "outcome": "approved"},
    ]);
    let (status, accepted) = server.call(
        "POST",
        "/v1/observations",
        agent,
        Some(&json!({"agent": "billing-bot", "events": events})),
    );
    assert_eq!((status, accepted["accepted"].as_u64()), (200, Some(2)), "{accepted}");
    doc.check("POST", "/v1/observations", 200, &accepted);
    let (status, err) =
        server.call("POST", "/v1/observations", agent, Some(&json!({"agent": "bad name!", "events": []})));
    assert_eq!(status, 400);
    doc.check("POST", "/v1/observations", 400, &err);
    let (status, agents) = server.call("GET", "/v1/agents", agent, None);
    assert_eq!((status, agents["agents"].as_array().map(Vec::len)), (200, Some(1)), "{agents}");
    doc.check("GET", "/v1/agents", 200, &agents);
    let (status, one) = server.call("GET", "/v1/agents/billing-bot", operator, None);
    assert_eq!((status, one["telemetry"]["tools"]["refund"]["calls"].as_u64()), (200, Some(1)), "{one}");
    doc.check("GET", "/v1/agents/{agent}", 200, &one);
    let (status, graph) = server.call("GET", "/v1/agents/billing-bot/profile?format=graph", agent, None);
    assert_eq!(status, 200, "{graph}");
    doc.check("GET", "/v1/agents/{agent}/profile", 200, &graph);
    let (status, mode) =
        server.call("PUT", "/v1/agents/billing-bot/mode", operator, Some(&json!({"mode": "enforce"})));
    assert_eq!(status, 200, "{mode}");
    doc.check("PUT", "/v1/agents/{agent}/mode", 200, &mode);
}
