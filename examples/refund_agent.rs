//! A tiny agent against `handrail serve`: it asks a person to approve a refund, waits by
//! long-poll (no polling loop of fixed sleeps), then acts on the decision only if it was
//! approved — with the approver's edits — after verifying the decision's proof offline.
//!
//! `make run` starts the server and this agent; approve from another terminal with
//! `handrail approve ID [--edit JSON]` (the agent prints the exact command).
//!
//! Reads `HANDRAIL_URL` and `HANDRAIL_API_KEY`, else `.handrail/bootstrap.json`.

use std::time::Duration;

use handrail_core::proof::{self, Expect, Verifier};
use serde_json::{json, Value};

fn main() {
    let boot: Value = std::fs::read_to_string(".handrail/bootstrap.json")
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let url = std::env::var("HANDRAIL_URL").ok().or_else(|| boot["url"].as_str().map(String::from));
    let key = std::env::var("HANDRAIL_API_KEY").ok().or_else(|| boot["agent_key"].as_str().map(String::from));
    let (Some(url), Some(key)) = (url, key) else {
        eprintln!(
            "set HANDRAIL_URL and HANDRAIL_API_KEY (or run from a folder with .handrail/bootstrap.json)"
        );
        std::process::exit(2);
    };
    let auth = format!("Bearer {key}");
    let request = json!({
        "service": "stripe", "action": "refund", "priority": "high",
        "payload": {"customer": "cus_9f8e7d", "charge": "ch_3Nx", "amount_usd": 420},
        "schema": {"type": "object", "required": ["amount_usd"],
                   "properties": {"amount_usd": {"type": "number", "minimum": 0, "maximum": 500}}},
        "context": {"task": "Customer cus_9f8e7d asked for a refund of their last order"}
    });
    let created = send(
        ureq::post(&format!("{url}/v1/requests"))
            .set("Authorization", &auth)
            .set("Idempotency-Key", "refund-ch_3Nx"),
        Some(&request.to_string()),
    );
    let id = created["id"].as_str().unwrap_or_else(|| fail("no id"));
    println!("agent: asked to refund $420 on ch_3Nx — request {id} is {}", created["status"]);
    println!("agent: waiting for a person. In another terminal:");
    println!("    HANDRAIL_URL={url} HANDRAIL_OPERATOR_TOKEN=… handrail approve {id} --edit '{{\"customer\":\"cus_9f8e7d\",\"charge\":\"ch_3Nx\",\"amount_usd\":200}}'");
    let row = loop {
        let row = send(
            ureq::get(&format!("{url}/v1/requests/{id}/wait?timeout=60"))
                .set("Authorization", &auth)
                .timeout(Duration::from_secs(90)),
            None,
        );
        if row["status"] != "PENDING" {
            break row;
        }
    };
    let d = &row["decision"];
    let jwks = send(ureq::get(&format!("{url}/v1/keys/proof")), None);
    let requested =
        json!({"service": row["service"], "action": row["action"], "payload": row["payload"]}).to_string();
    let digest = proof::digest(&requested).unwrap_or_else(|e| fail(&e.to_string()));
    let expect = Expect {
        request_id: id,
        request_digest: Some(&digest),
        decision: d["status"].as_str(),
        ..Default::default()
    };
    let verified = Verifier::from_jwks(&jwks).and_then(|v| {
        v.verify(d["proof"].as_str().unwrap_or(""), d["decided_at"].as_i64().unwrap_or(0), &expect)
    });
    match verified {
        Ok(claims) => println!("agent: decision {} by {} — proof verified offline", claims.dec, claims.act),
        Err(e) => fail(&format!("the decision's proof does not verify ({e}); not acting")),
    }
    match d["status"].as_str() {
        Some("APPROVED" | "APPROVED_WITH_MODIFICATIONS") => {
            println!(
                "agent: refunding {} (changes: {})",
                d["payload"],
                d["diff"]["summary"].as_str().unwrap_or("none")
            );
        }
        other => println!(
            "agent: not refunding ({}; reason: {})",
            other.unwrap_or("?"),
            d["reason"].as_str().unwrap_or("none")
        ),
    }
}

/// One HTTP call whose answer is JSON; any failure ends the agent (it must not act).
fn send(request: ureq::Request, body: Option<&str>) -> Value {
    let result = match body {
        Some(b) => request.send_string(b),
        None => request.call(),
    };
    match result {
        Ok(r) => r
            .into_string()
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| fail("not JSON")),
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ! {
    eprintln!("agent: {message}");
    std::process::exit(1)
}
