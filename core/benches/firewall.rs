//! Firewall costs: a verdict against a profile of 10,000 nodes (beside the plain Markov
//! baseline — one hash lookup of a tool-name bigram — as the floor), and the profile's
//! binary form after one million observations (size per edge, serialize, load).
//!
//! Run: `cargo bench -p handrail-core --bench firewall`; `python3 scripts/bench-report.py`.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use handrail_core::firewall::{Call, Profile};

#[allow(dead_code)]
#[path = "common/firewall_profile.rs"]
mod firewall_profile;

use firewall_profile::{build, NOW};

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
