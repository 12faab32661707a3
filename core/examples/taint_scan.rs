//! Which text chunks the firewall would judge instruction-like, and by which signals: the
//! tool behind `benches/firewall/taint_corpus.py`, which measures false alarms of the taint
//! rule on real honest text (manuals, policies, READMEs, man pages).
//!
//! ```sh
//! cargo build --release -p handrail-core --example taint_scan
//! target/release/examples/taint_scan < chunks.jsonl > markers.jsonl
//! ```
//!
//! Input: one JSON object per line with a string `text` (read as a tool output, exactly as
//! `Firewall::record` reads one) and any other members (an `id`, the corpus). Output: one
//! line per input line, in order: `{"id", "instruction_like", "score", "aimed", "signals":
//! [{"class", "weight", "rule"}, ...]}` (the strongest signal of each class,
//! `handrail_core::firewall::output_signals`), `id` copied from the input (`null` when absent). A line that is not a JSON
//! object with a string `text` is an error naming the line (exit 2, nothing more printed).

use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use handrail_core::firewall::output_signals;
use serde_json::{json, Value};

fn main() -> ExitCode {
    let stdin = std::io::stdin().lock();
    let mut out = BufWriter::new(std::io::stdout().lock());
    for (i, line) in stdin.lines().enumerate() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                eprintln!("error[taint_scan_input]: line {}: {e}", i + 1);
                return ExitCode::from(2);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("error[taint_scan_input]: line {}: not JSON ({e})", i + 1);
                return ExitCode::from(2);
            }
        };
        let Some(text) = value.get("text").and_then(Value::as_str) else {
            eprintln!("error[taint_scan_input]: line {}: expected an object with a string \"text\"", i + 1);
            return ExitCode::from(2);
        };
        let signals = output_signals(text);
        let found: Vec<Value> = signals
            .found
            .iter()
            .map(|s| json!({"class": s.class.as_str(), "weight": s.weight, "rule": s.rule}))
            .collect();
        let row = json!({
            "id": value.get("id").cloned().unwrap_or(Value::Null),
            "instruction_like": signals.instruction_like(),
            "score": signals.score(),
            "aimed": signals.aimed_score(),
            "signals": found,
        });
        if writeln!(out, "{row}").is_err() {
            return ExitCode::from(2);
        }
    }
    if out.flush().is_err() {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}
