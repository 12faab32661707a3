//! End-to-end figures of `handrail serve` on SQLite, from the outside, on loopback:
//!
//! - decision → waiting agent: an agent long-polls, an operator decides, and the time from
//!   sending the decision to the agent holding it is measured (p50/p99 over N decisions);
//!   beside it, what the LetsPing client's polling schedule (1.5^n s, 10 s cap) would add
//!   for decisions made at the same moments;
//! - creates per second with Idempotency-Keys from 8 client threads.
//!
//! Run: `cargo bench -p handrail-server --bench loop` (N=1000, 4000 creates; set
//! `HANDRAIL_BENCH_DECISIONS` / `HANDRAIL_BENCH_CREATES` to change).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn post(agent: &ureq::Agent, url: &str, token: &str, body: &Value, key: Option<&str>) -> Value {
    let mut req = agent.post(url).set("Authorization", &format!("Bearer {token}"));
    if let Some(key) = key {
        req = req.set("Idempotency-Key", key);
    }
    serde_json::from_str(&req.send_string(&body.to_string()).unwrap().into_string().unwrap()).unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// When the LetsPing client would next look after a decision at `t` seconds: it polls at
/// 1.5^n seconds after the previous poll, capped at 10 s.
fn polling_delay(t: f64) -> f64 {
    let (mut at, mut n) = (0.0, 0);
    while at < t {
        at += 1.5f64.powi(n).min(10.0);
        n += 1;
    }
    at - t
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes benches for names
    }
    let dir = std::env::temp_dir().join(format!("handrail-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = env!("CARGO_BIN_EXE_handrail");
    let mut child = Command::new(bin)
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .env("HANDRAIL_RATE_LIMIT", "1000000")
        .env("HANDRAIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(u) = line.strip_prefix("listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let boot: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap()).unwrap();
    let agent_key = boot["agent_key"].as_str().unwrap().to_string();
    let operator = boot["operator_token"].as_str().unwrap().to_string();
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(90)).build();
    let body = json!({"service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": 5}});

    // Decision → waiter latency.
    let decisions = env_n("HANDRAIL_BENCH_DECISIONS", 1000);
    let mut latencies = Vec::with_capacity(decisions);
    for _ in 0..decisions {
        let created = post(&http, &format!("{url}/v1/requests"), &agent_key, &body, None);
        let id = created["id"].as_str().unwrap().to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let (http, url, key, id) = (http.clone(), url.clone(), agent_key.clone(), id.clone());
            std::thread::spawn(move || {
                tx.send(()).unwrap();
                let r = http
                    .get(&format!("{url}/v1/requests/{id}/wait?timeout=30"))
                    .set("Authorization", &format!("Bearer {key}"))
                    .call();
                let got = Instant::now();
                let row: Value = serde_json::from_str(&r.unwrap().into_string().unwrap()).unwrap();
                assert_eq!(row["status"], "APPROVED");
                got
            })
        };
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(2)); // the waiter is parked on the server
        let sent = Instant::now();
        post(
            &http,
            &format!("{url}/v1/requests/{id}/resolve"),
            &operator,
            &json!({"decision": "approve"}),
            None,
        );
        let got = waiter.join().unwrap();
        latencies.push(got.saturating_duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);

    // The same decisions under LetsPing's polling: decided 1..60 s after creation.
    let mut polling: Vec<f64> =
        (0..decisions).map(|i| polling_delay(1.0 + 59.0 * i as f64 / decisions as f64) * 1000.0).collect();
    polling.sort_by(f64::total_cmp);

    // Creates per second, 8 threads, each with its own idempotency keys.
    let creates = env_n("HANDRAIL_BENCH_CREATES", 4000);
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (http, url, key, body) = (http.clone(), url.clone(), agent_key.clone(), body.clone());
            std::thread::spawn(move || {
                for i in 0..creates / 8 {
                    post(&http, &format!("{url}/v1/requests"), &key, &body, Some(&format!("bench-{t}-{i}")));
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let per_sec = (creates / 8 * 8) as f64 / started.elapsed().as_secs_f64();

    println!("decision → waiting agent over {decisions} decisions (loopback, SQLite):");
    println!(
        "  handrail long-poll : p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    println!("  LetsPing polling   : p50 {:.0} ms, p99 {:.0} ms (schedule 1.5^n s, 10 s cap; decisions 1-60 s after creation)", percentile(&polling, 0.5), percentile(&polling, 0.99));
    println!(
        "creates with Idempotency-Key, 8 client threads: {per_sec:.0}/s ({} in {:.2} s)",
        creates / 8 * 8,
        started.elapsed().as_secs_f64()
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
