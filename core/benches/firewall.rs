//! Firewall costs: a verdict against a profile of 10,000 nodes (beside the plain Markov
//! baseline — one hash lookup of a tool-name bigram — as the floor), and the profile's
//! binary form after one million observations (size per edge, serialize, load).
//!
//! Run: `cargo bench -p handrail-core --bench firewall`; `python3 scripts/bench-report.py`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use handrail_core::firewall::{Call, Firewall, Mode, Outcome, Policy, Profile};
use serde_json::{json, Value};

const NOW: i64 = 1_767_225_600;

/// A deterministic generator (xorshift), so runs compare.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// 500 tools × 20 argument shapes = up to 10,000 nodes; sessions are random walks that
/// favour a few successors per tool, like real agents.
fn args_for(shape: u64) -> Value {
    let mut map = serde_json::Map::new();
    for bit in 0..5 {
        if shape & (1 << bit) != 0 {
            map.insert(format!("field_{bit}"), json!("value"));
        }
    }
    map.insert("id".into(), json!(shape));
    Value::Object(map)
}

fn build(observations: usize) -> (Firewall, Vec<(String, Value)>) {
    let tools: Vec<String> = (0..500).map(|i| format!("tool_{i}_update")).collect();
    let shapes: Vec<Value> = (0..20).map(args_for).collect();
    let mut fw = Firewall::new(Policy::default(), Default::default());
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut done = 0;
    let mut last_calls = Vec::new();
    while done < observations {
        let mut state = fw.begin("s", "update records");
        let mut tool = rng.below(500) as usize;
        last_calls.clear();
        for _ in 0..10 {
            let shape = rng.below(20) as usize;
            let c = Call { tool: &tools[tool], args: &shapes[shape], effect: None, cost_usd: None };
            fw.record(&mut state, &c, Outcome::Trusted, None, NOW);
            last_calls.push((tools[tool].clone(), shapes[shape].clone()));
            tool = (tool + 1 + rng.below(4) as usize) % 500;
            done += 1;
        }
    }
    fw.mode = Mode::Enforce;
    (fw, last_calls)
}

fn bench_verdict(c: &mut Criterion) {
    let (fw, calls) = build(200_000);
    assert!(fw.profile.node_count() >= 9_000, "{} nodes", fw.profile.node_count());
    let mut state = fw.begin("bench", "update records");
    let (prev_tool, prev_args) = &calls[calls.len() - 2];
    fw.observe_only(
        &mut state,
        &Call { tool: prev_tool, args: prev_args, effect: None, cost_usd: None },
        None,
    );
    let (tool, args) = &calls[calls.len() - 1];
    let call = Call { tool, args, effect: None, cost_usd: None };

    // The baseline: a first-order Markov chain over tool names, one lookup per verdict.
    let mut bigrams: HashMap<(String, String), u32> = HashMap::new();
    for w in calls.windows(2) {
        *bigrams.entry((w[0].0.clone(), w[1].0.clone())).or_default() += 1;
    }

    let mut group = c.benchmark_group("firewall_verdict_10k_nodes");
    group.bench_function("handrail", |b| b.iter(|| fw.check(black_box(&state), black_box(&call), NOW)));
    group.bench_function("markov_baseline", |b| {
        b.iter(|| bigrams.get(&(black_box(prev_tool).clone(), black_box(tool).clone())).copied().unwrap_or(0))
    });
    group.finish();
}

fn bench_profile_bytes(c: &mut Criterion) {
    let started = Instant::now();
    let (fw, _) = build(1_000_000);
    let built = started.elapsed();
    let bytes = fw.profile.to_bytes();
    // Printed once: the size figures criterion cannot measure.
    println!(
        "profile after 1,000,000 observations: {} nodes, {} node-level edges, {} bytes serialized, {:.1} bytes per edge, learned in {:.2?}",
        fw.profile.node_count(),
        fw.profile.edge_count(),
        bytes.len(),
        bytes.len() as f64 / fw.profile.edge_count() as f64,
        built,
    );
    let mut group = c.benchmark_group("firewall_profile_1m_observations");
    group.sample_size(10);
    group.bench_function("serialize", |b| b.iter(|| fw.profile.to_bytes()));
    group.bench_function("load", |b| b.iter(|| Profile::from_bytes(black_box(&bytes)).unwrap()));
    group.finish();
}

criterion_group!(benches, bench_verdict, bench_profile_bytes);
criterion_main!(benches);
