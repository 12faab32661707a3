//! `handrail serve` on PostgreSQL beside SQLite, in one run, from the outside, on loopback:
//!
//! - creates per second with Idempotency-Keys from 8 client threads: SQLite, PostgreSQL with
//!   one replica, PostgreSQL with two replicas (the threads alternate between them);
//! - decision → waiting agent when the agent long-polls replica A and the operator decides on
//!   replica B (p50/p99 over N decisions), beside the same on one SQLite server;
//! - 10,000 agents waiting at once spread over two replicas: each replica's resident memory,
//!   and whether every waiter is released with its decision (each decided on the other replica).
//!
//! Needs a PostgreSQL server: `HANDRAIL_TEST_POSTGRES=postgres://USER@127.0.0.1:PORT/postgres`
//! (an admin URL; each part gets a fresh database). `scripts/postgres.sh` starts a throwaway one.
//! Run: `cargo bench -p handrail-server --bench replicas` (`HANDRAIL_BENCH_CREATES` 4000,
//! `HANDRAIL_BENCH_DECISIONS` 500, `HANDRAIL_BENCH_WAITERS` 10000 change the counts).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A running server and the credentials of its project.
struct Replica {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(name: &str, database: Option<&str>) -> Replica {
    let dir = std::env::temp_dir().join(format!("handrail-bench-replicas-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut command = Command::new(env!("CARGO_BIN_EXE_handrail"));
    command.args(["serve", "--addr", "127.0.0.1:0", "--data"]).arg(&dir);
    if let Some(url) = database {
        command.arg("--database").arg(url);
    }
    let mut child = command
        .env("HANDRAIL_RATE_LIMIT", "1000000")
        // 10,000 long-polls with one agent key: past the per-key cap on purpose.
        .env("HANDRAIL_MAX_WAITS_PER_KEY", "1000000")
        .env("HANDRAIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server prints its address").unwrap();
        if let Some(u) = line.strip_prefix("listening on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Replica { child, url, dir }
}

/// (agent key, operator token) from the first replica's bootstrap.json.
fn credentials(dir: &Path) -> (String, String) {
    let boot: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bootstrap.json")).unwrap()).unwrap();
    (boot["agent_key"].as_str().unwrap().to_string(), boot["operator_token"].as_str().unwrap().to_string())
}

/// A fresh database on the PostgreSQL server at `admin`; its URL.
fn database(admin: &str, name: &str) -> String {
    let name = format!("bench_{name}_{}", std::process::id());
    for sql in [format!("DROP DATABASE IF EXISTS {name}"), format!("CREATE DATABASE {name}")] {
        let out =
            Command::new("psql").args([admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql]).output().unwrap();
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    }
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn post(agent: &ureq::Agent, url: &str, token: &str, body: &Value, key: Option<&str>) -> Value {
    let mut req = agent.post(url).set("Authorization", &format!("Bearer {token}"));
    if let Some(key) = key {
        req = req.set("Idempotency-Key", key);
    }
    serde_json::from_str(&req.send_string(&body.to_string()).unwrap().into_string().unwrap()).unwrap()
}

fn body() -> Value {
    json!({"service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": 5}})
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Creates per second from 8 threads, thread t on `urls[t % len]`, each with its own keys.
fn creates(http: &ureq::Agent, urls: &[String], agent: &str, n: usize) -> f64 {
    let started = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (http, url, key) = (http.clone(), urls[t % urls.len()].clone(), agent.to_string());
            std::thread::spawn(move || {
                for i in 0..n / 8 {
                    post(
                        &http,
                        &format!("{url}/v1/requests"),
                        &key,
                        &body(),
                        Some(&format!("bench-{t}-{i}")),
                    );
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    (n / 8 * 8) as f64 / started.elapsed().as_secs_f64()
}

/// Decision → waiter latencies (ms, sorted): the agent long-polls `wait_on`, the operator
/// decides on `decide_on`.
fn decisions(
    http: &ureq::Agent,
    wait_on: &str,
    decide_on: &str,
    agent: &str,
    operator: &str,
    n: usize,
) -> Vec<f64> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let created = post(http, &format!("{wait_on}/v1/requests"), agent, &body(), None);
        let id = created["id"].as_str().unwrap().to_string();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let (http, url, key, id) = (http.clone(), wait_on.to_string(), agent.to_string(), id.clone());
            std::thread::spawn(move || {
                tx.send(()).unwrap();
                let r = http
                    .get(&format!("{url}/v1/requests/{id}/wait?timeout=30"))
                    .set("Authorization", &format!("Bearer {key}"))
                    .call();
                let got = Instant::now();
                let row: Value = serde_json::from_str(&r.unwrap().into_string().unwrap()).unwrap();
                assert_eq!(row["status"], "APPROVED", "the waiter holds the decision, not its timeout");
                got
            })
        };
        rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(2)); // the waiter is parked on the server
        let sent = Instant::now();
        post(
            http,
            &format!("{decide_on}/v1/requests/{id}/resolve"),
            operator,
            &json!({"decision": "approve"}),
            None,
        );
        let got = waiter.join().unwrap();
        latencies.push(got.saturating_duration_since(sent).as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn gauge(http: &ureq::Agent, url: &str, name: &str) -> u64 {
    let text = http.get(&format!("{url}/metrics")).call().unwrap().into_string().unwrap();
    text.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok())).unwrap_or(0)
}

/// `n` waiters spread over `replicas` (waiter i on replica i % 2, decided on the other):
/// (RSS before and with every waiter parked, per replica, KiB; how many were released with
/// their decision; release p50/p99 ms; seconds to release all).
fn waiters(
    http: &ureq::Agent,
    replicas: &[&Replica],
    agent: &str,
    operator: &str,
    n: usize,
) -> (Vec<(u64, u64)>, usize, f64, f64, f64) {
    let urls: Vec<String> = replicas.iter().map(|r| r.url.clone()).collect();
    let ids: Vec<String> = (0..n)
        .map(|i| {
            post(http, &format!("{}/v1/requests", urls[i % 2]), agent, &body(), None)["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let before: Vec<u64> = replicas.iter().map(|r| rss_kib(r.child.id(), "VmRSS:")).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    runtime.block_on(async {
        let connects = Arc::new(tokio::sync::Semaphore::new(256));
        let mut parked = Vec::with_capacity(n);
        for (i, id) in ids.iter().enumerate() {
            let addr = urls[i % 2].trim_start_matches("http://").to_string();
            let (agent, id, connects) = (agent.to_string(), id.clone(), connects.clone());
            parked.push(tokio::spawn(async move {
                let permit = connects.acquire_owned().await.unwrap();
                let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let head = format!(
                    "GET /v1/requests/{id}/wait?timeout=120 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {agent}\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(head.as_bytes()).await.unwrap();
                drop(permit);
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).await.unwrap();
                (id, Instant::now(), String::from_utf8_lossy(&answer).contains("\"status\":\"APPROVED\""))
            }));
        }
        let parked_by = Instant::now() + Duration::from_secs(120);
        loop {
            let held: u64 =
                tokio::task::block_in_place(|| urls.iter().map(|u| gauge(http, u, "handrail_waiters")).sum());
            if held as usize >= n || Instant::now() > parked_by {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let with: Vec<u64> = replicas.iter().map(|r| rss_kib(r.child.id(), "VmRSS:")).collect();
        let started = Instant::now();
        let deciders: Vec<_> = (0..8)
            .map(|t| {
                let (http, urls, operator, ids, sent_at) =
                    (http.clone(), urls.clone(), operator.to_string(), ids.clone(), sent_at.clone());
                std::thread::spawn(move || {
                    for (i, id) in ids.iter().enumerate().filter(|(i, _)| i % 8 == t) {
                        sent_at.lock().unwrap().insert(id.clone(), Instant::now());
                        // Decided on the replica the waiter is not on.
                        http.post(&format!("{}/v1/requests/{id}/resolve", urls[(i + 1) % 2]))
                            .set("Authorization", &format!("Bearer {operator}"))
                            .send_string(r#"{"decision":"approve"}"#)
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut results = Vec::with_capacity(n);
        for w in parked {
            results.push(w.await.unwrap());
        }
        let all_secs = started.elapsed().as_secs_f64();
        deciders.into_iter().for_each(|d| d.join().unwrap());
        let sent = sent_at.lock().unwrap();
        let mut latencies: Vec<f64> = results
            .iter()
            .filter_map(|(id, got, _)| sent.get(id).map(|s| got.saturating_duration_since(*s).as_secs_f64() * 1000.0))
            .collect();
        latencies.sort_by(f64::total_cmp);
        let released = results.iter().filter(|r| r.2).count();
        let rss = before.into_iter().zip(with).collect();
        (rss, released, percentile(&latencies, 0.5), percentile(&latencies, 0.99), all_secs)
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let Some(admin) = std::env::var("HANDRAIL_TEST_POSTGRES").ok().filter(|u| !u.is_empty()) else {
        eprintln!(
            "replicas bench: set HANDRAIL_TEST_POSTGRES (an admin URL; scripts/postgres.sh starts a server)"
        );
        std::process::exit(2);
    };
    let n_creates = env_n("HANDRAIL_BENCH_CREATES", 4000);
    let n_decisions = env_n("HANDRAIL_BENCH_DECISIONS", 500);
    let n_waiters = env_n("HANDRAIL_BENCH_WAITERS", 10_000);
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(150)).build();

    let sqlite = start("sqlite", None);
    let (agent, operator) = credentials(&sqlite.dir);
    let sqlite_creates = creates(&http, std::slice::from_ref(&sqlite.url), &agent, n_creates);
    let sqlite_latency = decisions(&http, &sqlite.url, &sqlite.url, &agent, &operator, n_decisions);
    drop(sqlite);

    let one_db = database(&admin, "one");
    let one = start("pg-one", Some(&one_db));
    let (agent, _) = credentials(&one.dir);
    let pg_one = creates(&http, std::slice::from_ref(&one.url), &agent, n_creates);
    drop(one);

    let two_db = database(&admin, "two");
    let a = start("pg-a", Some(&two_db));
    let b = start("pg-b", Some(&two_db));
    let (agent, operator) = credentials(&a.dir);
    let pg_two = creates(&http, &[a.url.clone(), b.url.clone()], &agent, n_creates);
    let cross = decisions(&http, &a.url, &b.url, &agent, &operator, n_decisions);
    let (rss, released, w50, w99, all_secs) = waiters(&http, &[&a, &b], &agent, &operator, n_waiters);

    println!("creates with Idempotency-Key, 8 client threads, {n_creates} each (loopback):");
    println!("  SQLite                      : {sqlite_creates:.0}/s");
    println!("  PostgreSQL, 1 replica       : {pg_one:.0}/s ({:.2}x SQLite)", pg_one / sqlite_creates);
    println!("  PostgreSQL, 2 replicas      : {pg_two:.0}/s ({:.2}x SQLite)", pg_two / sqlite_creates);
    println!("decision -> waiting agent over {n_decisions} decisions:");
    println!(
        "  SQLite, one server          : p50 {:.2} ms, p99 {:.2} ms",
        percentile(&sqlite_latency, 0.5),
        percentile(&sqlite_latency, 0.99)
    );
    println!(
        "  PostgreSQL, wait on A, decide on B: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&cross, 0.5),
        percentile(&cross, 0.99),
        cross[cross.len() - 1]
    );
    println!("{n_waiters} agents waiting at once over 2 replicas (each decided on the other):");
    for (name, (before, with)) in ["A", "B"].iter().zip(&rss) {
        println!(
            "  replica {name} RSS: {:.1} MB before, {:.1} MB with its {} waiters parked",
            *before as f64 / 1024.0,
            *with as f64 / 1024.0,
            n_waiters / 2
        );
    }
    println!(
        "  released with their decision: {released} of {n_waiters}; decision sent -> waiter has it p50 {w50:.2} ms, p99 {w99:.2} ms; all in {all_secs:.2} s"
    );
    drop((a, b));
    assert_eq!(released, n_waiters, "every waiter gets its decision");
}
