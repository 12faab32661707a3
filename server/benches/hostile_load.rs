//! Hostile load: one agent key sends the largest dense payloads the server accepts (and
//! denser ones it refuses), with 1 s deadlines, from 8 threads, while an honest agent (its own
//! agent key, same project) creates requests and waits for an operator's decisions. Side by side, the same honest agent on an
//! idle server. Reports the server's peak RSS above idle, the honest agent's create and
//! decision→agent p50/p99, and that every honest decision arrived.
//!
//! Run: `cargo bench -p handrail-server --bench hostile_load` (200 hostile creates; set
//! `HANDRAIL_BENCH_HOSTILE` to change). Targets (issue 16): peak RSS ≤ 300 MB above idle,
//! honest p99 ≤ 50 ms.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

struct Server {
    child: Child,
    url: String,
    /// The hostile agent's key.
    agent: String,
    /// The honest agent's own key, in the same project.
    honest: String,
    operator: String,
    dir: std::path::PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir = std::env::temp_dir().join(format!("handrail-hostile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(env!("CARGO_BIN_EXE_handrail"))
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
        let s = |k: &str| boot[k].as_str().unwrap().to_string();
        let (agent, operator) = (s("agent_key"), s("operator_token"));
        let http = ureq::AgentBuilder::new().build();
        let (status, key) =
            call(&http, "POST", &format!("{url}/v1/keys"), &operator, Some(r#"{"role":"agent"}"#));
        assert_eq!(status, 201, "{key}");
        let honest = serde_json::from_str::<Value>(&key).unwrap()["token"].as_str().unwrap().to_string();
        Server { child, url, agent, honest, operator, dir }
    }

    /// Resident set size of the server now, bytes (Linux `/proc`).
    fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn call(http: &ureq::Agent, method: &str, url: &str, token: &str, body: Option<&str>) -> (u16, String) {
    let req = http.request(method, url).set("Authorization", &format!("Bearer {token}"));
    let result = match body {
        Some(b) => req.set("content-type", "application/json").send_string(b),
        None => req.call(),
    };
    match result {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(s, r)) => (s, r.into_string().unwrap_or_default()),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// The honest agent's figures: create latencies and decision→agent latencies (ms), and how
/// many of its decisions arrived.
struct Honest {
    creates: Vec<f64>,
    decisions: Vec<f64>,
    arrived: usize,
    asked: usize,
}

/// The honest agent: create, long-poll in a thread, an operator decides; until `stop` (and
/// at least `min` rounds).
fn honest(server: &Server, stop: &AtomicBool, min: usize) -> Honest {
    let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(90)).build();
    let body = json!({"service": "stripe", "action": "refund", "payload": {"charge": "ch_1", "amount": 5}})
        .to_string();
    let mut out = Honest { creates: Vec::new(), decisions: Vec::new(), arrived: 0, asked: 0 };
    while out.asked < min || !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let (status, created) =
            call(&http, "POST", &format!("{}/v1/requests", server.url), &server.honest, Some(&body));
        out.creates.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(status, 201, "{created}");
        let id = serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap().to_string();
        out.asked += 1;
        let (wait_url, agent) =
            (format!("{}/v1/requests/{id}/wait?timeout=30", server.url), server.honest.clone());
        let waiter = {
            let http = http.clone();
            std::thread::spawn(move || {
                let (_, row) = call(&http, "GET", &wait_url, &agent, None);
                (Instant::now(), serde_json::from_str::<Value>(&row).unwrap()["status"] == "APPROVED")
            })
        };
        std::thread::sleep(Duration::from_millis(5)); // the waiter is parked by now
        let sent = Instant::now();
        let resolve = format!("{}/v1/requests/{id}/resolve", server.url);
        let (status, _) = call(&http, "POST", &resolve, &server.operator, Some(r#"{"decision":"approve"}"#));
        assert_eq!(status, 200);
        let (got, approved) = waiter.join().unwrap();
        out.decisions.push(got.duration_since(sent).as_secs_f64() * 1e3);
        out.arrived += usize::from(approved);
    }
    out
}

fn report(label: &str, h: &mut Honest) {
    h.creates.sort_by(f64::total_cmp);
    h.decisions.sort_by(f64::total_cmp);
    println!(
        "{label:<28} creates p50 {:>6.2} ms  p99 {:>6.2} ms | decision→agent p50 {:>6.2} ms  p99 {:>6.2} ms | decisions arrived {}/{}",
        percentile(&h.creates, 0.5),
        percentile(&h.creates, 0.99),
        percentile(&h.decisions, 0.5),
        percentile(&h.decisions, 0.99),
        h.arrived,
        h.asked
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let hostile_creates =
        std::env::var("HANDRAIL_BENCH_HOSTILE").ok().and_then(|v| v.parse().ok()).unwrap_or(200usize);

    // Baseline: the honest agent alone.
    let quiet = Server::start("quiet");
    let mut alone = honest(&quiet, &AtomicBool::new(true), 200);
    drop(quiet);

    let server = Server::start("loaded");
    std::thread::sleep(Duration::from_millis(500));
    let idle = server.rss();
    // The largest dense payload accepted: 45,000 strings of 20 bytes, just under 1 MiB and
    // under 50,000 values; and one the server refuses (400,000 values, 413 too_many_values).
    let accepted = json!({"service": "s", "action": "a", "timeout_secs": 1,
        "payload": vec!["x".repeat(20); 45_000]})
    .to_string();
    let refused =
        json!({"service": "s", "action": "a", "timeout_secs": 1, "payload": vec![0; 400_000]}).to_string();
    assert!(accepted.len() < 1 << 20, "{}", accepted.len());
    let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(idle)));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), server.child.id());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                let rss = status
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|kb| kb.parse::<u64>().ok())
                    .map_or(0, |kb| kb * 1024);
                peak.fetch_max(rss, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let hostile: Vec<_> = (0..8)
        .map(|t| {
            let (url, key, accepted, refused) = (
                format!("{}/v1/requests", server.url),
                server.agent.clone(),
                accepted.clone(),
                refused.clone(),
            );
            let n = hostile_creates / 8 + usize::from(t < hostile_creates % 8);
            std::thread::spawn(move || {
                let http = ureq::AgentBuilder::new().timeout(Duration::from_secs(90)).build();
                let mut statuses = Vec::new();
                for i in 0..n {
                    statuses.push(call(&http, "POST", &url, &key, Some(&accepted)).0);
                    if i % 2 == 0 {
                        statuses.push(call(&http, "POST", &url, &key, Some(&refused)).0);
                    }
                }
                statuses
            })
        })
        .collect();
    let honest_stop = Arc::new(AtomicBool::new(false));
    let loaded = {
        let server = &server;
        let honest_stop = &honest_stop;
        std::thread::scope(|s| {
            let h = s.spawn(move || honest(server, honest_stop, 50));
            let mut statuses: Vec<u16> = Vec::new();
            for t in hostile {
                statuses.extend(t.join().unwrap());
            }
            // Keep the honest agent going while the sweep expires the hostile backlog.
            std::thread::sleep(Duration::from_secs(3));
            honest_stop.store(true, Ordering::Relaxed);
            (h.join().unwrap(), statuses)
        })
    };
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let (mut during, statuses) = loaded;
    let count = |s: u16| statuses.iter().filter(|&&x| x == s).count();
    println!(
        "hostile: {} creates of {:.2} MB accepted (201: {}), {} dense ones refused (413: {}), in {:.1} s",
        hostile_creates,
        accepted.len() as f64 / 1e6,
        count(201),
        statuses.len() - hostile_creates,
        count(413),
        elapsed.as_secs_f64()
    );
    println!(
        "server RSS: idle {:.1} MB, peak {:.1} MB, peak above idle {:.1} MB (target <= 300 MB)",
        idle as f64 / 1e6,
        peak.load(Ordering::Relaxed) as f64 / 1e6,
        (peak.load(Ordering::Relaxed).saturating_sub(idle)) as f64 / 1e6
    );
    report("honest agent, idle server", &mut alone);
    report("honest agent, hostile load", &mut during);
    println!(
        "ratio (loaded / idle): creates p99 {:.2}x, decision→agent p99 {:.2}x",
        percentile(&during.creates, 0.99) / percentile(&alone.creates, 0.99),
        percentile(&during.decisions, 0.99) / percentile(&alone.decisions, 0.99)
    );
}
