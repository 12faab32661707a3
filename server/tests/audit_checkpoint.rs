//! Signed checkpoints of the audit chain, against the real binary: deleting the newest
//! entries of the `audit` table, or rewriting one, is detected by `handrail audit verify`
//! on the data directory, on a server, and — when the stored checkpoints are deleted too —
//! by a run that remembers what it verified before (`--state`).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Server;
use handrail_core::audit::{self, Entry};
use handrail_core::proof::Verifier;
use serde_json::{json, Value};

/// `handrail ARGS` with `env`: (exit code, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_handrail"))
        .args(args)
        .env_remove("HANDRAIL_URL")
        .env_remove("HANDRAIL_OPERATOR_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// `handrail audit verify` against `server` (remote mode: no --data, no --file).
fn remote(server: &Server, extra: &[&str]) -> (i32, String, String) {
    let env = [("HANDRAIL_URL", server.url.as_str()), ("HANDRAIL_OPERATOR_TOKEN", server.operator.as_str())];
    cli(&[&["audit", "verify"], extra].concat(), &env)
}

/// Creates and approves `n` requests: 2 audit entries each (after the bootstrap's
/// `project.created`, entry 1).
fn activity(server: &Server, n: usize) {
    for _ in 0..n {
        let body = json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}});
        let (status, created) = server.call("POST", "/v1/requests", &server.agent, Some(&body));
        assert_eq!(status, 201, "{created}");
        let id = created["id"].as_str().unwrap();
        let (status, _) = server.call(
            "POST",
            &format!("/v1/requests/{id}/resolve"),
            &server.operator,
            Some(&json!({"decision": "approve"})),
        );
        assert_eq!(status, 200);
    }
}

/// `handrail audit verify` on the store of data directory `dir` (SQLite or PostgreSQL).
fn local(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    let store = common::store_args(dir);
    let store: Vec<&str> = store.iter().map(String::as_str).collect();
    cli(&[&["audit", "verify"], &store[..], extra].concat(), &[])
}

fn stored_seq(dir: &Path, project: &str) -> Option<i64> {
    let query = format!("SELECT seq FROM audit_checkpoints WHERE project = {}", common::quote(project));
    common::sql(dir, &query).0.first().map(|row| row[0].parse().unwrap())
}

#[test]
fn the_head_is_signed_and_kept_by_the_server() {
    let server = Server::fresh("head");
    activity(&server, 2);
    // The background loop signs the moved head within about a second.
    let deadline = Instant::now() + Duration::from_secs(10);
    while stored_seq(&server.dir, &server.project) != Some(5) {
        assert!(
            Instant::now() < deadline,
            "no checkpoint of entry 5: {:?}",
            stored_seq(&server.dir, &server.project)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, head) = server.call("GET", "/v1/audit/head", &server.operator, None);
    assert_eq!(status, 200, "{head}");
    let (_, jwks) = server.call("GET", "/v1/keys/proof", &server.agent, None);
    let verifier = Verifier::from_jwks(&jwks).unwrap();
    let claims = audit::verify_signed_checkpoint(
        &verifier,
        head["checkpoint"].as_str().unwrap(),
        Some(&server.project),
        jwks["issuer"].as_str(),
    )
    .unwrap();
    let (_, page) = server.call("GET", "/v1/audit", &server.operator, None);
    let entries: Vec<Entry> = serde_json::from_value(page["entries"].clone()).unwrap();
    let last = entries.last().unwrap();
    assert_eq!((claims.seq, claims.hash.as_str()), (last.seq, last.hash.as_str()));
    assert_eq!((head["seq"].as_u64(), head["hash"].as_str()), (Some(last.seq), Some(last.hash.as_str())));
    // Agents may not read it.
    assert_eq!(server.call("GET", "/v1/audit/head", &server.agent, None).0, 403);
}

#[test]
fn deleting_the_newest_entries_is_detected() {
    let server = Server::fresh("truncate");
    activity(&server, 3);
    let state = server.dir.with_extension("state.json");
    let _ = std::fs::remove_file(&state);
    let state_arg = state.to_str().unwrap().to_string();
    // Verified remotely, and remembered: the chain ends at entry 7.
    let (code, out, err) = remote(&server, &["--state", &state_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("audit chain intact: 7 entries\nsigned checkpoints hold: 1 of 1"), "{out}");
    let remembered: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(remembered["chains"][&server.project]["seq"], 7, "{remembered}");
    assert_eq!(remembered["issuer"], server.call("GET", "/v1/keys/proof", &server.agent, None).1["issuer"]);
    let project = server.project.clone();
    let dir = server.into_dir();
    assert_eq!(stored_seq(&dir, &project), Some(7), "the head read stored its checkpoint");
    assert_eq!(local(&dir, &[]).0, 0);

    // Someone deletes the two newest entries. What remains is a valid chain…
    let delete = format!("DELETE FROM audit WHERE project = {} AND project_seq > 5", common::quote(&project));
    assert_eq!(common::sql(&dir, &delete).1, 2);
    // …but not the one the stored checkpoint vouches for.
    let (code, _, err) = local(&dir, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error[audit_truncated]") && err.contains("ends at entry 5"), "{err}");

    // A restarted server neither re-signs the shorter chain nor hides it from a remote reader.
    let server = Server::start(dir.clone());
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stored_seq(&dir, &project), Some(7));
    let (code, _, err) = remote(&server, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error[audit_truncated]"), "{err}");
    drop(server.into_dir());

    // The stored checkpoints deleted too: the database alone cannot tell (the documented
    // window)…
    common::sql(&dir, "DELETE FROM audit_checkpoints");
    let (code, out, err) = local(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    // …but a reader that remembers entry 7 can.
    let server = Server::start(dir.clone());
    let (code, _, err) = remote(&server, &["--state", &state_arg]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error[audit_truncated]") && err.contains("entry 7"), "{err}");
    // The state is left as it was, so the next run fails too.
    assert_eq!(remote(&server, &["--state", &state_arg]).0, 1);
    // So can the local verification with the same memory.
    let local_state = dir.with_extension("local-state.json");
    std::fs::write(&local_state, std::fs::read(&state).unwrap()).unwrap();
    let (code, _, err) = local(&dir, &["--state", local_state.to_str().unwrap()]);
    assert!(code == 1 && err.starts_with("error[audit_truncated]"), "{err}");
    let _ = std::fs::remove_file(&state);
    let _ = std::fs::remove_file(&local_state);
}

#[test]
fn rewriting_an_entry_is_detected() {
    let server = Server::fresh("rewrite");
    activity(&server, 2);
    let (status, _) = server.call("GET", "/v1/audit/head", &server.operator, None);
    assert_eq!(status, 200);
    let project = server.project.clone();
    let dir = server.into_dir();
    let query = format!(
        "SELECT seq, entry FROM audit WHERE project = {} ORDER BY project_seq",
        common::quote(&project)
    );
    let rows = common::sql(&dir, &query).0;
    let entries: Vec<Entry> = rows.iter().map(|row| serde_json::from_str(&row[1]).unwrap()).collect();
    let (rowid, newest) = (&rows.last().unwrap()[0], entries.last().unwrap());
    // The newest decision's data rewritten *and re-hashed*, so the chain alone still verifies.
    let data_value = json!({"status": "REJECTED", "diff": null});
    let fields = audit::Fields {
        at: newest.at,
        project: &project,
        actor: &newest.actor,
        event: &newest.event,
        subject: &newest.subject,
        data: &data_value,
    };
    let forged = audit::chain(entries.get(entries.len() - 2), fields).unwrap();
    assert_ne!(forged.hash, newest.hash);
    let update = |entry: &str| {
        let statement = format!("UPDATE audit SET entry = {} WHERE seq = {rowid}", common::quote(entry));
        assert_eq!(common::sql(&dir, &statement).1, 1);
    };
    update(&serde_json::to_string(&forged).unwrap());
    let mut rewritten = entries.clone();
    *rewritten.last_mut().unwrap() = forged;
    assert_eq!(audit::verify(&rewritten).unwrap(), 5, "a consistent rewrite");
    let (code, _, err) = local(&dir, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.starts_with("error[audit_broken]") && err.contains("checkpoint vouched for"), "{err}");
    // A rewrite that is not re-hashed breaks the chain itself.
    let changed = serde_json::to_string(newest).unwrap().replace("APPROVED", "REJECTED");
    update(&changed);
    let (code, _, err) = local(&dir, &[]);
    assert!(code == 1 && err.contains("content does not match its hash"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
