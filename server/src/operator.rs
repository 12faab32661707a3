//! The operator's commands: audit verification and export from the data directory, and
//! listing and deciding requests over HTTP (`HANDRAIL_URL`, `HANDRAIL_OPERATOR_TOKEN`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use handrail_core::audit::{self, Checkpoint, CheckpointClaims, Entry};
use handrail_core::proof::Verifier;
use handrail_server::store::{Postgres, Sqlite, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::CliError;

/// Where a stored audit log is: a data directory's SQLite file, or a PostgreSQL database.
pub(crate) enum Stored {
    Data(PathBuf),
    Database(String),
}

fn open_store(at: &Stored) -> Result<Box<dyn Store>, CliError> {
    match at {
        Stored::Data(data) => {
            let db = data.join("handrail.db");
            if !db.exists() {
                return Err(CliError::other("no_database", format!("{} does not exist", db.display())));
            }
            Ok(Box::new(Sqlite::open(&db).map_err(|e| CliError::other("database", e.0))?))
        }
        Stored::Database(url) => {
            Ok(Box::new(Postgres::open(url).map_err(|e| CliError::other("database", e.0))?))
        }
    }
}

/// The audit log stored in a data directory or a database.
pub(crate) fn read_log(at: &Stored) -> Result<Vec<Entry>, CliError> {
    open_store(at)?.audit_log().map_err(|e| CliError::other("database", e.0))
}

/// Where `handrail audit verify` reads the chains from.
pub(crate) enum AuditSource {
    /// The database of a data directory or a PostgreSQL database, with its stored signed
    /// checkpoints.
    Stored(Stored),
    /// An export (JSONL).
    File(String),
    /// A server (`HANDRAIL_URL`, `HANDRAIL_OPERATOR_TOKEN`): the operator's project's chain,
    /// page by page, and its signed head.
    Remote,
}

/// What `--state FILE` remembers between runs: the issuer seen, and where each project's
/// verified chain ended. A later run fails unless every chain still holds that entry.
#[derive(Debug, Default, Serialize, Deserialize)]
struct VerifiedState {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    chains: BTreeMap<String, Checkpoint>,
}

fn read_state(path: &Path) -> Result<VerifiedState, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| CliError::other("state_format", format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(VerifiedState::default()),
        Err(e) => Err(CliError::other("io", format!("{}: {e}", path.display()))),
    }
}

fn write_state(path: &Path, state: &VerifiedState) -> Result<(), CliError> {
    let io = |e: std::io::Error| CliError::other("io", format!("{}: {e}", path.display()));
    // Written aside and renamed, so a crash never leaves half a state (which would fail open).
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state).expect("state serializes") + "\n")
        .map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The stored checkpoints of a data directory, each verified under the key the database
/// holds (the server's proof key) and for the project it is stored under.
fn stored_checkpoints(store: &dyn Store) -> Result<Vec<CheckpointClaims>, CliError> {
    let stored = store.audit_checkpoints().map_err(|e| CliError::other("database", e.0))?;
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let signer = handrail_server::stored_signer(store)
        .map_err(|e| CliError::other("database", e))?
        .ok_or_else(|| CliError::other("no_proof_key", "checkpoints are stored but the proof key is not"))?;
    let verifier = Verifier::from_jwks(&signer.public_jwk())?;
    let mut out = Vec::new();
    for c in stored {
        let claims = audit::verify_signed_checkpoint(&verifier, &c.token, Some(&c.project), None)?;
        out.push(claims);
    }
    Ok(out)
}

/// The operator's project's chain from a server, its signed head (verified against the
/// server's published key and issuer, or the issuer `expected_issuer` remembered), and the
/// project and issuer.
fn fetch_remote(
    expected_issuer: Option<&str>,
) -> Result<(String, String, Vec<Entry>, CheckpointClaims), CliError> {
    let me = call("GET", "/v1/keys/me", None)?;
    let project = me["project"]
        .as_str()
        .ok_or_else(|| CliError::other("bad_response", "/v1/keys/me names no project"))?
        .to_string();
    let jwks = call("GET", "/v1/keys/proof", None)?;
    let verifier = Verifier::from_jwks(&jwks)?;
    let issuer = jwks["issuer"]
        .as_str()
        .ok_or_else(|| CliError::other("bad_response", "/v1/keys/proof names no issuer"))?
        .to_string();
    // The head first: the chain read after it must hold it (checkpoints only move forward).
    let head = call("GET", "/v1/audit/head", None)?;
    let token = head["checkpoint"]
        .as_str()
        .ok_or_else(|| CliError::other("bad_response", "/v1/audit/head carries no checkpoint"))?;
    let claims = audit::verify_signed_checkpoint(
        &verifier,
        token,
        Some(&project),
        Some(expected_issuer.unwrap_or(&issuer)),
    )?;
    let mut entries: Vec<Entry> = Vec::new();
    let mut after = 0u64;
    loop {
        let page = call("GET", &format!("/v1/audit?after={after}&limit=1000"), None)?;
        let mut chunk = audit::entries_from_json(page.to_string().as_bytes())?;
        // Each page continues the chain where the previous one ended.
        let at = entries.last().map(|e| Checkpoint { seq: e.seq, hash: e.hash.clone() });
        audit::verify_from(at.as_ref(), &chunk)?;
        entries.append(&mut chunk);
        match page["next"].as_u64() {
            Some(next) if next > after => after = next,
            Some(_) => return Err(CliError::other("bad_response", "/v1/audit paged backwards")),
            None => break,
        }
    }
    Ok((project, issuer, entries, claims))
}

/// `handrail audit verify`: every chain of the source, the signed checkpoints it has (the
/// database's stored ones, a server's head), and with `state` what an earlier run saw.
pub(crate) fn verify_audit(source: AuditSource, state: Option<&Path>) -> Result<(), CliError> {
    let mut remembered = state.map(read_state).transpose()?.unwrap_or_default();
    // Projects whose whole chain the source holds: a remembered chain of one of them that
    // is missing here was deleted, not merely out of view.
    let (entries, checkpoints, mut in_scope) = match &source {
        AuditSource::Stored(at) => {
            let store = open_store(at)?;
            // Checkpoints before the log: one signed meanwhile names an entry already read.
            let checkpoints = stored_checkpoints(store.as_ref())?;
            let log = store.audit_log().map_err(|e| CliError::other("database", e.0))?;
            let scope: BTreeSet<String> = remembered.chains.keys().cloned().collect();
            (log, checkpoints, scope)
        }
        AuditSource::File(path) => (read_export(path)?, Vec::new(), BTreeSet::new()),
        AuditSource::Remote => {
            let (project, issuer, entries, head) = fetch_remote(remembered.issuer.as_deref())?;
            remembered.issuer = Some(issuer);
            (entries, vec![head], BTreeSet::from([project]))
        }
    };
    let chains = audit::verify_log(&entries)?;
    for checkpoint in &checkpoints {
        audit::check_holds(&checkpoint.prj, &checkpoint.at(), &entries)?;
    }
    in_scope.extend(chains.keys().cloned());
    for (project, at) in &remembered.chains {
        if in_scope.contains(project) {
            audit::check_holds(project, at, &entries)?;
        }
    }
    let n: u64 = chains.values().sum();
    match chains.len() {
        0 | 1 => println!("audit chain intact: {n} entries"),
        p => println!("audit chain intact: {n} entries in {p} project chains"),
    }
    if !checkpoints.is_empty() {
        println!("signed checkpoints hold: {} of {} project chains", checkpoints.len(), chains.len());
    }
    if let Some(path) = state {
        for entry in &entries {
            remembered
                .chains
                .insert(entry.project.clone(), Checkpoint { seq: entry.seq, hash: entry.hash.clone() });
        }
        write_state(path, &remembered)?;
    }
    Ok(())
}

/// An exported log (JSONL); a malformed line is named.
pub(crate) fn read_export(path: &str) -> Result<Vec<Entry>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::other("io", format!("{path}: {e}")))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line)
                .map_err(|e| CliError::other("audit_format", format!("{path} line {}: {e}", i + 1)))
        })
        .collect()
}

fn server() -> Result<(String, String), CliError> {
    let url = std::env::var("HANDRAIL_URL").unwrap_or_else(|_| "http://127.0.0.1:8787".into());
    let token = std::env::var("HANDRAIL_OPERATOR_TOKEN")
        .map_err(|_| CliError::other("no_token", "set HANDRAIL_OPERATOR_TOKEN (see bootstrap.json)"))?;
    Ok((url.trim_end_matches('/').to_string(), token))
}

fn call(method: &str, path: &str, body: Option<Value>) -> Result<Value, CliError> {
    let (url, token) = server()?;
    let req = ureq::request(method, &format!("{url}{path}")).set("Authorization", &format!("Bearer {token}"));
    let result = match body {
        Some(b) => req.set("content-type", "application/json").send_string(&b.to_string()),
        None => req.call(),
    };
    match result {
        Ok(r) => r
            .into_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .ok_or_else(|| CliError::other("bad_response", "the server's answer was not JSON")),
        Err(ureq::Error::Status(status, r)) => {
            let body: Value =
                r.into_string().ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
            let code = body["error"]["code"].as_str().unwrap_or("http_error").to_string();
            let message = body["error"]["message"].as_str().unwrap_or("").to_string();
            Err(CliError::Other { code, message: format!("HTTP {status}: {message}") })
        }
        Err(e) => Err(CliError::other("unreachable", format!("{url}: {e}"))),
    }
}

pub(crate) fn list(status: Option<&str>, as_json: bool) -> Result<(), CliError> {
    let path = match status {
        Some(s) => format!("/v1/requests?status={s}"),
        None => "/v1/requests".to_string(),
    };
    let answer = call("GET", &path, None)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&answer["requests"]).expect("JSON prints"));
        return Ok(());
    }
    println!("{:<24} {:<28} {:<9} {:<28}", "ID", "STATUS", "PRIORITY", "SERVICE/ACTION");
    for r in answer["requests"].as_array().into_iter().flatten() {
        // A bidi override in a name would reorder the terminal line: shown as `<U+202E>`.
        let s = |k: &str| handrail_core::request::reveal_invisible(r[k].as_str().unwrap_or("")).into_owned();
        println!("{:<24} {:<28} {:<9} {}/{}", s("id"), s("status"), s("priority"), s("service"), s("action"));
    }
    Ok(())
}

pub(crate) fn resolve(
    id: &str,
    decision: &str,
    edit: Option<&str>,
    reason: Option<&str>,
) -> Result<(), CliError> {
    let mut body = json!({ "decision": decision });
    if let Some(edit) = edit {
        handrail_core::canonical::canonicalize(edit)?;
        body["payload"] =
            serde_json::from_str(edit).map_err(|e| CliError::other("json_syntax", e.to_string()))?;
    }
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    let answer = call("POST", &format!("/v1/requests/{id}/resolve"), Some(body))?;
    let summary = answer["diff"]["summary"].as_str().map(|s| format!(" ({s})")).unwrap_or_default();
    println!("{id}: {}{summary}", answer["status"].as_str().unwrap_or("?"));
    Ok(())
}

pub(crate) fn new_key(role: &str, roles: Option<&[String]>) -> Result<(), CliError> {
    if role != "agent" && role != "operator" {
        return Err(CliError::other("unknown_variant", format!("role is agent or operator, not {role:?}")));
    }
    let mut body = json!({ "role": role });
    if let Some(roles) = roles {
        body["roles"] = json!(roles.iter().map(|r| r.trim()).filter(|r| !r.is_empty()).collect::<Vec<_>>());
    }
    let answer = call("POST", "/v1/keys", Some(body))?;
    println!("{}", answer["token"].as_str().unwrap_or(""));
    eprintln!(
        "created {} ({role}); the token above is shown only this once",
        answer["key_id"].as_str().unwrap_or("?")
    );
    Ok(())
}

pub(crate) fn list_keys() -> Result<(), CliError> {
    let answer = call("GET", "/v1/keys", None)?;
    for key in answer["keys"].as_array().into_iter().flatten() {
        let roles: Vec<&str> =
            key["roles"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let mut line =
            format!("{} {}", key["key_id"].as_str().unwrap_or(""), key["role"].as_str().unwrap_or(""));
        if !roles.is_empty() {
            line.push_str(&format!(" roles={}", roles.join(",")));
        }
        if key["admin"] == json!(true) {
            line.push_str(" admin");
        }
        println!("{line}");
    }
    Ok(())
}

/// Creates a project; prints its id, then its operator token and agent key (shown once) as
/// JSON in the shape of `bootstrap.json`.
pub(crate) fn new_project(name: &str) -> Result<(), CliError> {
    let answer = call("POST", "/v1/projects", Some(json!({ "name": name })))?;
    let out = json!({
        "project": answer["id"], "name": answer["name"],
        "operator_token": answer["operator_token"], "agent_key": answer["agent_key"],
    });
    println!("{}", serde_json::to_string_pretty(&out).expect("JSON prints"));
    eprintln!(
        "created project {}; its tokens above are shown only this once",
        answer["id"].as_str().unwrap_or("?")
    );
    Ok(())
}

pub(crate) fn list_projects() -> Result<(), CliError> {
    let answer = call("GET", "/v1/projects", None)?;
    for p in answer["projects"].as_array().into_iter().flatten() {
        println!("{} {}", p["id"].as_str().unwrap_or(""), p["name"].as_str().unwrap_or(""));
    }
    Ok(())
}

/// Sets (`Some(Some(secs))`), clears (`Some(None)`) or shows (`None`) project `id`'s own bound
/// on grants; prints the project as JSON, with `grant_bound_secs`, the bound in force.
pub(crate) fn project(id: &str, max_grant_secs: Option<Option<u64>>) -> Result<(), CliError> {
    let path = format!("/v1/projects/{}", urlencode(id));
    let answer = match max_grant_secs {
        Some(secs) => call("PATCH", &path, Some(json!({ "max_grant_secs": secs })))?,
        None => call("GET", &path, None)?,
    };
    println!("{}", serde_json::to_string_pretty(&answer).expect("JSON prints"));
    Ok(())
}

/// Sets (`Some(Some(usd))`), clears (`Some(None)`) or shows (`None`) an agent's daily budget;
/// prints the budget with today's spend as JSON.
pub(crate) fn budget(agent: &str, set: Option<Option<f64>>) -> Result<(), CliError> {
    let path = format!("/v1/agents/{}/budget", urlencode(agent));
    let answer = match set {
        Some(daily_usd) => call("PUT", &path, Some(json!({ "daily_usd": daily_usd })))?,
        None => call("GET", &path, None)?,
    };
    println!("{}", serde_json::to_string_pretty(&answer).expect("JSON prints"));
    Ok(())
}

/// Percent-encodes a path segment (agent names are plain, but a typo must not change the path).
fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `handrail compat secrets [--rotate NAME|all]`: the project's compatibility secrets, JSON.
pub(crate) fn compat_secrets(rotate: Option<&str>) -> Result<(), CliError> {
    let answer = match rotate {
        None => call("GET", "/compat/secrets", None)?,
        Some("all") => call("POST", "/compat/secrets/rotate", Some(json!({})))?,
        Some(name) => call("POST", "/compat/secrets/rotate", Some(json!({ "secret": name })))?,
    };
    println!("{}", serde_json::to_string_pretty(&answer).expect("JSON prints"));
    Ok(())
}
