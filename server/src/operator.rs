//! The operator's commands: audit verification and export from the data directory, and
//! listing and deciding requests over HTTP (`HANDRAIL_URL`, `HANDRAIL_OPERATOR_TOKEN`).

use std::path::Path;

use handrail_core::audit::Entry;
use handrail_server::store::{Sqlite, Store};
use serde_json::{json, Value};

use crate::CliError;

/// The audit log stored in a data directory.
pub(crate) fn read_log(data: &Path) -> Result<Vec<Entry>, CliError> {
    let db = data.join("handrail.db");
    if !db.exists() {
        return Err(CliError::other("no_database", format!("{} does not exist", db.display())));
    }
    let store = Sqlite::open(&db).map_err(|e| CliError::other("database", e.0))?;
    store.audit_log().map_err(|e| CliError::other("database", e.0))
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
