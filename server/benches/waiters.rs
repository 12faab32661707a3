//! 10,000 agents waiting at once on `handrail serve` (real binary, loopback, SQLite):
//! the server's resident memory while they wait, and whether every one of them is
//! released with its decision — none dropped, none left hanging.
//!
//! Each agent has its own request and its own connection long-polling
//! `GET /v1/requests/{id}/wait?timeout=60`; once all are parked (the `handrail_waiters`
//! gauge says so), an operator approves every request and each waiter's time from "its
//! decision was sent" to "it holds the answer" is recorded.
//!
//! Run: `cargo bench -p handrail-server --bench waiters` (`HANDRAIL_BENCH_WAITERS` changes
//! the count; the process needs about two file descriptors per waiter).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize =
        std::env::var("HANDRAIL_BENCH_WAITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("handrail-bench-waiters-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_handrail"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(&dir)
        .env("HANDRAIL_RATE_LIMIT", "1000000")
        // 10,000 long-polls with one agent key: past the per-key cap on purpose.
        .env("HANDRAIL_MAX_WAITS_PER_KEY", "1000000")
        .env("HANDRAIL_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
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
    let agent = boot["agent_key"].as_str().unwrap().to_string();
    let operator = boot["operator_token"].as_str().unwrap().to_string();
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(90)).build();

    // One request per agent.
    let ids: Vec<String> = {
        let per = n.div_ceil(8);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (http, url, agent) = (http.clone(), url.clone(), agent.clone());
                std::thread::spawn(move || {
                    (0..per)
                        .filter(|i| t * per + i < n)
                        .map(|_| {
                            let body =
                                json!({"service": "stripe", "action": "refund", "payload": {"amount": 5}});
                            let r = http
                                .post(&format!("{url}/v1/requests"))
                                .set("Authorization", &format!("Bearer {agent}"))
                                .send_string(&body.to_string())
                                .unwrap();
                            let v: Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
                            v["id"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap()).collect()
    };
    let rss_before = rss_kib(pid, "VmRSS:");

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let addr = url.trim_start_matches("http://").to_string();
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let (received, parked_rss, peak_rss, latencies, release_secs) = runtime.block_on(async {
        let connects = Arc::new(tokio::sync::Semaphore::new(256));
        let mut waiters = Vec::with_capacity(n);
        for id in &ids {
            let (addr, agent, id, connects) = (addr.clone(), agent.clone(), id.clone(), connects.clone());
            waiters.push(tokio::spawn(async move {
                let permit = connects.acquire_owned().await.unwrap();
                let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let head = format!(
                    "GET /v1/requests/{id}/wait?timeout=60 HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {agent}\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(head.as_bytes()).await.unwrap();
                drop(permit);
                let mut answer = Vec::new();
                stream.read_to_end(&mut answer).await.unwrap();
                (id, Instant::now(), String::from_utf8_lossy(&answer).contains("\"status\":\"APPROVED\""))
            }));
        }
        // Wait until the server holds every one of them.
        let parked_by = Instant::now() + Duration::from_secs(120);
        loop {
            let held = tokio::task::block_in_place(|| gauge(&http, &url, "handrail_waiters"));
            if held as usize >= n || Instant::now() > parked_by {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let parked_rss = rss_kib(pid, "VmRSS:");
        let started = Instant::now();
        let deciders: Vec<_> = ids
            .chunks(n.div_ceil(8))
            .map(|chunk| {
                let (http, url, operator, chunk, sent_at) =
                    (http.clone(), url.clone(), operator.clone(), chunk.to_vec(), sent_at.clone());
                std::thread::spawn(move || {
                    for id in chunk {
                        sent_at.lock().unwrap().insert(id.clone(), Instant::now());
                        http.post(&format!("{url}/v1/requests/{id}/resolve"))
                            .set("Authorization", &format!("Bearer {operator}"))
                            .send_string(r#"{"decision":"approve"}"#)
                            .unwrap();
                    }
                })
            })
            .collect();
        let mut results = Vec::with_capacity(n);
        for w in waiters {
            results.push(w.await.unwrap());
        }
        let release_secs = started.elapsed().as_secs_f64();
        for d in deciders {
            d.join().unwrap();
        }
        let sent = sent_at.lock().unwrap();
        let mut latencies: Vec<f64> = results
            .iter()
            .filter_map(|(id, got, _)| sent.get(id).map(|s| got.saturating_duration_since(*s).as_secs_f64() * 1000.0))
            .collect();
        latencies.sort_by(f64::total_cmp);
        let received = results.iter().filter(|r| r.2).count();
        (received, parked_rss, rss_kib(pid, "VmHWM:"), latencies, release_secs)
    });

    println!("{n} agents waiting at once (loopback, SQLite, one request each):");
    println!("  server RSS before the waiters : {:.1} MB", rss_before as f64 / 1024.0);
    println!(
        "  server RSS with {n} parked : {:.1} MB ({:.1} KB per waiter); peak {:.1} MB",
        parked_rss as f64 / 1024.0,
        (parked_rss.saturating_sub(rss_before)) as f64 / n as f64,
        peak_rss as f64 / 1024.0
    );
    println!("  released with their decision  : {received} of {n} (dropped {})", n - received);
    println!(
        "  decision sent -> waiter has it: p50 {:.2} ms, p99 {:.2} ms; all {n} decided and released in {release_secs:.2} s",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(received, n, "every waiter gets its decision");
}
