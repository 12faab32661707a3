//! The synthetic profile both the firewall bench and the callgrind example measure: 500
//! tools × 20 argument shapes (up to 10,000 nodes), sessions as random walks that favour a
//! few successors per tool, like real agents. Deterministic, so runs compare.

use handrail_core::firewall::{Call, Firewall, Mode, Outcome, Policy};
use serde_json::{json, Value};

/// The time every observation and verdict uses.
pub const NOW: i64 = 1_767_225_600;

/// A deterministic generator (xorshift), so runs compare.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Up to five string fields and an id.
pub fn args_for(shape: u64) -> Value {
    let mut map = serde_json::Map::new();
    for bit in 0..5 {
        if shape & (1 << bit) != 0 {
            map.insert(format!("field_{bit}"), json!("value"));
        }
    }
    map.insert("id".into(), json!(shape));
    Value::Object(map)
}

/// A firewall in enforce mode trained on `observations` calls, with the last session's calls.
pub fn build(observations: usize) -> (Firewall, Vec<(String, Value)>) {
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
