//! What an LLM call costs, by provider and model, from token counts: a small built-in table
//! of list prices (USD per million tokens), which the JSON file named by `HANDRAIL_PRICING`
//! extends or overrides (`{"openai/gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}`).
//!
//! A model is found by its exact name, else by the longest known name it starts with followed
//! by `-` (`gpt-4o-mini-2024-07-18` is priced as `gpt-4o-mini`). Providers and models compare
//! case-insensitively.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

/// One model's price.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Price {
    /// USD per million input (prompt) tokens.
    pub(crate) input_per_mtok: f64,
    /// USD per million output (completion) tokens.
    pub(crate) output_per_mtok: f64,
}

/// List prices when this table was written: (provider, model, input, output) per million
/// tokens. Prices change; `HANDRAIL_PRICING` is the way to keep them right.
const BUILT_IN: &[(&str, &str, f64, f64)] = &[
    ("openai", "gpt-4o", 2.50, 10.00),
    ("openai", "gpt-4o-mini", 0.15, 0.60),
    ("openai", "gpt-4.1", 2.00, 8.00),
    ("openai", "gpt-4.1-mini", 0.40, 1.60),
    ("openai", "gpt-4.1-nano", 0.10, 0.40),
    ("openai", "o3-mini", 1.10, 4.40),
    ("openai", "gpt-3.5-turbo", 0.50, 1.50),
    ("anthropic", "claude-opus-4", 15.00, 75.00),
    ("anthropic", "claude-sonnet-4", 3.00, 15.00),
    ("anthropic", "claude-3-7-sonnet", 3.00, 15.00),
    ("anthropic", "claude-3-5-sonnet", 3.00, 15.00),
    ("anthropic", "claude-3-5-haiku", 0.80, 4.00),
    ("anthropic", "claude-3-haiku", 0.25, 1.25),
    ("google", "gemini-2.0-flash", 0.10, 0.40),
    ("google", "gemini-1.5-pro", 1.25, 5.00),
    ("google", "gemini-1.5-flash", 0.075, 0.30),
];

/// The table in force: built-in prices under `HANDRAIL_PRICING`'s, keyed `provider/model`.
fn table() -> &'static HashMap<String, Price> {
    static TABLE: OnceLock<HashMap<String, Price>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<String, Price> = BUILT_IN
            .iter()
            .map(|&(p, m, i, o)| (format!("{p}/{m}"), Price { input_per_mtok: i, output_per_mtok: o }))
            .collect();
        if let Ok(path) = std::env::var("HANDRAIL_PRICING") {
            match load(&path) {
                Ok(extra) => table.extend(extra),
                // The built-in prices stay in force; the operator sees why theirs did not.
                Err(e) => crate::log::event(
                    crate::log::Level::Error,
                    "pricing file ignored",
                    serde_json::json!({ "path": path, "error": e }),
                ),
            }
        }
        table
    })
}

fn load(path: &str) -> Result<HashMap<String, Price>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let raw: HashMap<String, Price> = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let mut out = HashMap::with_capacity(raw.len());
    for (key, price) in raw {
        let ok = |v: f64| v.is_finite() && v >= 0.0;
        if !key.contains('/') || !ok(price.input_per_mtok) || !ok(price.output_per_mtok) {
            return Err(format!("{key}: keys are provider/model, prices finite numbers ≥ 0"));
        }
        out.insert(key.to_ascii_lowercase(), price);
    }
    Ok(out)
}

/// The price of `model` of `provider`, if the table knows it.
pub(crate) fn price(provider: &str, model: &str) -> Option<Price> {
    let table = table();
    let provider = provider.to_ascii_lowercase();
    let model = model.to_ascii_lowercase();
    if let Some(p) = table.get(&format!("{provider}/{model}")) {
        return Some(*p);
    }
    table
        .iter()
        .filter_map(|(key, p)| {
            let known = key.strip_prefix(&provider)?.strip_prefix('/')?;
            model.strip_prefix(known)?.starts_with('-').then_some((known.len(), *p))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
}

/// What a call of `model` costs for these token counts, in USD; None for an unknown model.
pub(crate) fn cost_usd(provider: &str, model: &str, tokens_in: u64, tokens_out: u64) -> Option<f64> {
    let p = price(provider, model)?;
    Some((tokens_in as f64 * p.input_per_mtok + tokens_out as f64 * p.output_per_mtok) / 1_000_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_models_take_the_longest_known_prefix() {
        assert_eq!(price("OpenAI", "gpt-4o-mini-2024-07-18"), price("openai", "gpt-4o-mini"));
        assert_ne!(price("openai", "gpt-4o-mini"), price("openai", "gpt-4o"));
        assert_eq!(price("openai", "gpt-4omni"), None);
        assert_eq!(price("nobody", "gpt-4o"), None);
        let cost = cost_usd("openai", "gpt-4o", 1_000_000, 1_000_000).unwrap();
        assert!((cost - 12.5).abs() < 1e-9);
    }
}
