//! Decision proofs name their project and their issuing server, against the real binary: a
//! proof issued in project A does not verify as project B's, and names the issuer that
//! `/v1/keys/proof` publishes (a stable `srv_…` id, or `HANDRAIL_PUBLIC_URL`).

mod common;

use std::process::Command;

use common::Server;
use handrail_core::proof::{Claims, Expect, Verifier};
use serde_json::{json, Value};

/// Creates a request with `agent`, approves it with `operator`; the decided request.
fn decided(server: &Server, agent: &str, operator: &str) -> Value {
    let body = json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}});
    let (status, created) = server.call("POST", "/v1/requests", agent, Some(&body));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let (status, decision) = server.call(
        "POST",
        &format!("/v1/requests/{id}/resolve"),
        operator,
        Some(&json!({"decision": "approve"})),
    );
    assert_eq!(status, 200, "{decision}");
    server.call("GET", &format!("/v1/requests/{id}"), operator, None).1
}

fn verify(jwks: &Value, row: &Value, project: Option<&str>, issuer: Option<&str>) -> Result<Claims, String> {
    let verifier = Verifier::from_jwks(jwks).unwrap();
    let d = &row["decision"];
    let expect = Expect { request_id: row["id"].as_str().unwrap(), project, issuer, ..Default::default() };
    verifier
        .verify(d["proof"].as_str().unwrap(), d["decided_at"].as_i64().unwrap(), &expect)
        .map_err(|e| e.code().into())
}

#[test]
fn a_proof_binds_its_project_and_its_issuer() {
    let server = Server::fresh("origin");
    let (status, b) = server.call("POST", "/v1/projects", &server.operator, Some(&json!({"name": "b"})));
    assert_eq!(status, 201, "{b}");
    let (project_b, op_b, agent_b) =
        (b["id"].as_str().unwrap(), b["operator_token"].as_str().unwrap(), b["agent_key"].as_str().unwrap());
    let (_, jwks) = server.call("GET", "/v1/keys/proof", &server.agent, None);
    let issuer = jwks["issuer"].as_str().unwrap().to_string();
    assert!(issuer.starts_with("srv_") && issuer.len() > 10, "{jwks}");
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1, "keys stays a JWKS");

    let in_a = decided(&server, &server.agent, &server.operator);
    let in_b = decided(&server, agent_b, op_b);
    let claims = verify(&jwks, &in_a, Some(&server.project), Some(&issuer)).unwrap();
    assert_eq!(
        (claims.prj.as_deref(), claims.iss.as_deref()),
        (Some(server.project.as_str()), Some(issuer.as_str()))
    );
    assert_eq!(verify(&jwks, &in_b, Some(project_b), Some(&issuer)).unwrap().prj.as_deref(), Some(project_b));
    // A's proof shown as B's decision, and B's as A's: refused.
    assert_eq!(verify(&jwks, &in_a, Some(project_b), None).unwrap_err(), "proof_project");
    assert_eq!(verify(&jwks, &in_b, Some(&server.project), None).unwrap_err(), "proof_project");
    assert_eq!(verify(&jwks, &in_a, None, Some("https://other.example")).unwrap_err(), "proof_issuer");

    // The offline CLI checks the same.
    let jwks_file = server.dir.join("jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let proof = in_a["decision"]["proof"].as_str().unwrap();
    let now = in_a["decision"]["decided_at"].to_string();
    let cli = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
            .args(["verify-proof", proof, "--jwks", jwks_file.to_str().unwrap()])
            .args(["--request-id", in_a["id"].as_str().unwrap(), "--now", &now])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8(out.stderr).unwrap())
    };
    assert_eq!(cli(&["--project", &server.project, "--issuer", &issuer]).0, Some(0));
    let (code, err) = cli(&["--project", project_b]);
    assert!(code == Some(1) && err.starts_with("error[proof_project]"), "{err}");
    let (code, err) = cli(&["--issuer", "srv_someone_else"]);
    assert!(code == Some(1) && err.starts_with("error[proof_issuer]"), "{err}");

    // The id is kept across restarts; a public URL, when configured, is the issuer instead.
    let project = server.project.clone();
    let dir = server.into_dir();
    let server = Server::start(dir.clone());
    assert_eq!(server.call("GET", "/v1/keys/proof", &server.agent, None).1["issuer"], issuer.as_str());
    let dir = server.into_dir();
    let server = Server::start_with(dir, &[("HANDRAIL_PUBLIC_URL", "https://hr.example/")]);
    let (_, jwks) = server.call("GET", "/v1/keys/proof", &server.agent, None);
    assert_eq!(jwks["issuer"], "https://hr.example");
    let later = decided(&server, &server.agent, &server.operator);
    assert_eq!(
        verify(&jwks, &later, Some(&project), Some("https://hr.example")).unwrap().iss.as_deref(),
        Some("https://hr.example")
    );
    // A proof from before the move names the old issuer: refused for the new one.
    assert_eq!(verify(&jwks, &in_a, Some(&project), Some("https://hr.example")).unwrap_err(), "proof_issuer");
}
