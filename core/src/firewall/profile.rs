//! The learned profile of one agent: decaying transition counts at three levels of detail
//! (node, tool, effect), the values its side-effecting calls used, values people rejected,
//! and a compact, versioned binary form that merges across workers.
//!
//! Counts decay lazily: each stores its value and when it was last touched, and is brought
//! to `now` only when read or updated (half-life per target effect: reads forget faster than
//! side-effecting paths). `raw` keeps the undecayed number of observations, which the
//! Good-Turing novelty estimate needs.

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::effect::Effect;
use super::Config;
use crate::error::{Error, Result};

/// Id of the virtual "session start" predecessor at every level.
pub(crate) const START: u32 = u32::MAX;
const MAGIC: &[u8; 4] = b"HRFW";
const VERSION: u8 = 1;

/// A decaying count.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Count {
    value: f32,
    raw: u32,
    at: i64,
}

impl Count {
    pub(crate) fn at(&self, now: i64, half_life: i64) -> f64 {
        // Saturating: a loaded profile's time is outside input (a mutated one can hold any
        // i64), and a count from the future has age 0.
        let age = now.saturating_sub(self.at).max(0) as f64;
        f64::from(self.value) * (-age / half_life as f64 * std::f64::consts::LN_2).exp()
    }

    fn add(&mut self, weight: f64, now: i64, half_life: i64) {
        let now = now.max(self.at);
        self.value = (self.at(now, half_life) + weight) as f32;
        self.at = now;
        self.raw = self.raw.saturating_add(1);
    }

    fn merge(&mut self, other: &Count, half_life: i64) {
        let now = self.at.max(other.at);
        self.value = (self.at(now, half_life) + other.at(now, half_life)) as f32;
        self.raw = self.raw.saturating_add(other.raw);
        self.at = now;
    }
}

/// Levels of detail, most specific first; the verdict backs off along them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Node = 0,
    Tool = 1,
    Effect = 2,
}

/// A learned agent profile. Build it with [`super::Firewall`]; store it with
/// [`Profile::to_bytes`]; combine workers' profiles with [`Profile::merge`].
#[derive(Debug, Clone, Default)]
pub struct Profile {
    tools: Vec<(String, Effect)>,
    /// Fx, not SipHash: looked up on every verdict, and never iterated (the tools are
    /// written in `tools` order), so the hasher changes no output.
    tool_ids: FxHashMap<String, u32>,
    nodes: Vec<(u32, u64)>,
    node_ids: FxHashMap<(u32, u64), u32>,
    edges: [FxHashMap<(u32, u32), Count>; 3],
    outs: [FxHashMap<u32, Count>; 3],
    values: FxHashMap<(u32, u64, u64), Count>,
    rejected: FxHashMap<u64, Count>,
    approvals: FxHashMap<u32, (i64, u32)>,
}

/// How much the profile has seen, and whether it may leave shadow mode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Readiness {
    /// Good-Turing estimate of the chance that the next transition is new: transitions seen
    /// once / all transitions (1.0 before any).
    pub novelty: f64,
    /// Transitions observed (undecayed).
    pub observations: u64,
    /// Distinct tool-level transitions.
    pub transitions: usize,
    /// `novelty` is below the configured target false-alarm rate.
    pub ready: bool,
}

/// The profile as a graph of tools, for the dashboard's live view.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Graph {
    /// Tools (and `^` for the session start).
    pub nodes: Vec<GraphNode>,
    /// Learned transitions between them, weighted by probability.
    pub edges: Vec<GraphEdge>,
}

/// A tool in the graph.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct GraphNode {
    /// Index used by edges.
    pub id: u32,
    /// Tool name (`^` is the session start).
    pub tool: String,
    /// Effect class.
    pub effect: Option<Effect>,
}

/// A learned transition.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct GraphEdge {
    /// From node id.
    pub from: u32,
    /// To node id.
    pub to: u32,
    /// P(to | from), decayed to `now`.
    pub p: f64,
    /// Observations (undecayed).
    pub count: u32,
}

impl Profile {
    /// An empty profile.
    pub fn new() -> Profile {
        Profile::default()
    }

    pub(crate) fn tool_id(&self, tool: &str) -> Option<u32> {
        self.tool_ids.get(tool).copied()
    }

    pub(crate) fn node_id(&self, tool: u32, skeleton: u64) -> Option<u32> {
        self.node_ids.get(&(tool, skeleton)).copied()
    }

    pub(crate) fn intern_tool(&mut self, tool: &str, effect: Effect) -> u32 {
        if let Some(&id) = self.tool_ids.get(tool) {
            self.tools[id as usize].1 = effect;
            return id;
        }
        let id = self.tools.len() as u32;
        self.tools.push((tool.to_string(), effect));
        self.tool_ids.insert(tool.to_string(), id);
        id
    }

    pub(crate) fn intern_node(&mut self, tool: u32, skeleton: u64) -> u32 {
        *self.node_ids.entry((tool, skeleton)).or_insert_with(|| {
            self.nodes.push((tool, skeleton));
            (self.nodes.len() - 1) as u32
        })
    }

    /// Number of distinct nodes (tool + argument skeleton).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Number of learned transitions at node level.
    pub fn edge_count(&self) -> usize {
        self.edges[Level::Node as usize].len()
    }

    pub(crate) fn observe(&mut self, level: Level, from: u32, to: u32, now: i64, half_life: i64) {
        self.edges[level as usize].entry((from, to)).or_default().add(1.0, now, half_life);
        self.outs[level as usize].entry(from).or_default().add(1.0, now, half_life);
    }

    /// (count of `from → to`, count of everything after `from`), decayed to `now`.
    pub(crate) fn transition(
        &self,
        level: Level,
        from: u32,
        to: u32,
        now: i64,
        half_life: i64,
    ) -> (f64, f64) {
        let edge = self.edges[level as usize].get(&(from, to)).map_or(0.0, |c| c.at(now, half_life));
        let out = self.outs[level as usize].get(&from).map_or(0.0, |c| c.at(now, half_life));
        (edge, out)
    }

    pub(crate) fn learn_value(&mut self, tool: u32, path: u64, value: u64, now: i64, half_life: i64) {
        self.values.entry((tool, path, value)).or_default().add(1.0, now, half_life);
    }

    /// The decayed count under `(tool, path, value)`: how often a value was learned, or for
    /// a shape key how many distinct values had that shape.
    pub(crate) fn value_weight(&self, tool: u32, path: u64, value: u64, now: i64, half_life: i64) -> f64 {
        self.values.get(&(tool, path, value)).map_or(0.0, |c| c.at(now, half_life))
    }

    pub(crate) fn knows_value(&self, tool: u32, path: u64, value: u64, now: i64, half_life: i64) -> bool {
        // A value decayed below a tenth of one observation is forgotten.
        self.values.get(&(tool, path, value)).is_some_and(|c| c.at(now, half_life) >= 0.1)
    }

    pub(crate) fn reject_value(&mut self, value: u64, now: i64, half_life: i64) {
        self.rejected.entry(value).or_default().add(1.0, now, half_life);
    }

    pub(crate) fn is_rejected(&self, value: u64, now: i64, half_life: i64) -> bool {
        self.rejected.get(&value).is_some_and(|c| c.at(now, half_life) >= 0.1)
    }

    /// Counts one approval of `tool` in the current window; false once the cap is reached.
    pub(crate) fn approval_allowed(&mut self, tool: u32, now: i64, config: &Config) -> bool {
        let slot = self.approvals.entry(tool).or_insert((now, 0));
        if now.saturating_sub(slot.0) >= config.approval_window_secs {
            *slot = (now, 0);
        }
        slot.1 += 1;
        slot.1 <= config.approval_cap
    }

    /// The Good-Turing readiness estimate over tool-level transitions.
    pub fn readiness(&self, config: &Config) -> Readiness {
        let edges = &self.edges[Level::Tool as usize];
        let observations: u64 = edges.values().map(|c| u64::from(c.raw)).sum();
        let singletons = edges.values().filter(|c| c.raw == 1).count() as f64;
        let novelty = if observations == 0 { 1.0 } else { singletons / observations as f64 };
        Readiness {
            novelty,
            observations,
            transitions: edges.len(),
            ready: novelty < config.target_false_alarm,
        }
    }

    /// The tool-level graph at `now`.
    pub fn graph(&self, now: i64, config: &Config) -> Graph {
        let mut nodes: Vec<GraphNode> = self
            .tools
            .iter()
            .enumerate()
            .map(|(i, (tool, effect))| GraphNode { id: i as u32, tool: tool.clone(), effect: Some(*effect) })
            .collect();
        let start = nodes.len() as u32;
        nodes.push(GraphNode { id: start, tool: "^".into(), effect: None });
        let mut edges: Vec<GraphEdge> = self.edges[Level::Tool as usize]
            .iter()
            .map(|(&(from, to), count)| {
                let half_life = config.half_life(self.tools.get(to as usize).map_or(Effect::Write, |t| t.1));
                let (edge, out) = self.transition(Level::Tool, from, to, now, half_life);
                GraphEdge {
                    from: if from == START { start } else { from },
                    to,
                    p: if out > 0.0 { edge / out } else { 0.0 },
                    count: count.raw,
                }
            })
            .collect();
        edges.sort_by_key(|e| (e.from, e.to));
        Graph { nodes, edges }
    }

    /// Adds another worker's profile into this one (counts summed at the later time).
    pub fn merge(&mut self, other: &Profile, config: &Config) {
        let tool_map: Vec<u32> =
            other.tools.iter().map(|(name, effect)| self.intern_tool(name, *effect)).collect();
        let map_tool = |id: u32| if id == START { START } else { tool_map[id as usize] };
        let node_map: Vec<u32> = other
            .nodes
            .iter()
            .map(|&(tool, skeleton)| self.intern_node(tool_map[tool as usize], skeleton))
            .collect();
        let map_node = |id: u32| if id == START { START } else { node_map[id as usize] };
        for level in [Level::Node, Level::Tool, Level::Effect] {
            let map = |id: u32| match level {
                Level::Node => map_node(id),
                Level::Tool => map_tool(id),
                Level::Effect => id,
            };
            let half_life = config.half_life(Effect::Write);
            for (&(from, to), count) in &other.edges[level as usize] {
                self.edges[level as usize].entry((map(from), map(to))).or_default().merge(count, half_life);
            }
            for (&from, count) in &other.outs[level as usize] {
                self.outs[level as usize].entry(map(from)).or_default().merge(count, half_life);
            }
        }
        let half_life = config.half_life(Effect::Payment);
        for (&(tool, path, value), count) in &other.values {
            self.values.entry((map_tool(tool), path, value)).or_default().merge(count, half_life);
        }
        for (&value, count) in &other.rejected {
            self.rejected.entry(value).or_default().merge(count, half_life);
        }
    }

    /// The compact binary form (little-endian, versioned; see [`Profile::from_bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Entries are written in one canonical order: the same profile gives the same bytes
        // whatever order its maps hold them in (a loaded profile's maps are sized differently
        // from the grown original's), so bytes can be compared, hashed and pinned. The order
        // is by a scrambled key, not the key itself: loading keys in ascending order took
        // 67 ms at 1M observations, in scrambled order 36 ms (in the maps' own iteration
        // order, not canonical, it was 11.5 ms). `mix` is our own, so the order is the same
        // on 32-bit wasm as natively.
        fn mix(mut x: u64) -> u64 {
            // splitmix64's finalizer.
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        }
        fn sorted<K: Ord + Copy, V>(map: &FxHashMap<K, V>, scramble: impl Fn(&K) -> u64) -> Vec<(K, &V)> {
            let mut entries: Vec<(u64, K, &V)> = map.iter().map(|(k, v)| (scramble(k), *k, v)).collect();
            entries.sort_unstable_by_key(|e| (e.0, e.1));
            entries.into_iter().map(|(_, k, v)| (k, v)).collect()
        }
        let pair = |&(a, b): &(u32, u32)| mix(((a as u64) << 32) | b as u64);
        let mut w = Vec::with_capacity(64 + self.edge_count() * 3 * 24 + self.values.len() * 36);
        w.extend_from_slice(MAGIC);
        w.push(VERSION);
        put_u32(&mut w, self.tools.len() as u32);
        for (name, effect) in &self.tools {
            put_u32(&mut w, name.len() as u32);
            w.extend_from_slice(name.as_bytes());
            w.push(effect.id() as u8);
        }
        put_u32(&mut w, self.nodes.len() as u32);
        for &(tool, skeleton) in &self.nodes {
            put_u32(&mut w, tool);
            w.extend_from_slice(&skeleton.to_le_bytes());
        }
        for level in 0..3 {
            put_u32(&mut w, self.edges[level].len() as u32);
            for ((from, to), count) in sorted(&self.edges[level], pair) {
                put_u32(&mut w, from);
                put_u32(&mut w, to);
                put_count(&mut w, count);
            }
            put_u32(&mut w, self.outs[level].len() as u32);
            for (from, count) in sorted(&self.outs[level], |&f| mix(f as u64)) {
                put_u32(&mut w, from);
                put_count(&mut w, count);
            }
        }
        put_u32(&mut w, self.values.len() as u32);
        for ((tool, path, value), count) in sorted(&self.values, |&(t, p, v)| mix(mix(t as u64 ^ p) ^ v)) {
            put_u32(&mut w, tool);
            w.extend_from_slice(&path.to_le_bytes());
            w.extend_from_slice(&value.to_le_bytes());
            put_count(&mut w, count);
        }
        put_u32(&mut w, self.rejected.len() as u32);
        for (value, count) in sorted(&self.rejected, |&v| mix(v)) {
            w.extend_from_slice(&value.to_le_bytes());
            put_count(&mut w, count);
        }
        w
    }

    /// Reads the binary form. Every count, length and id is checked: a truncated, corrupt or
    /// hostile input is refused with [`Error::ProfileCorrupt`], never a panic.
    pub fn from_bytes(bytes: &[u8]) -> Result<Profile> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(corrupt("not a Handrail firewall profile"));
        }
        let version = r.take(1)?[0];
        if version != VERSION {
            return Err(corrupt("unsupported profile version"));
        }
        let mut p = Profile::new();
        let tools = r.len(5)?;
        for _ in 0..tools {
            let len = r.len(1)?;
            let name =
                std::str::from_utf8(r.take(len)?).map_err(|_| corrupt("tool name is not UTF-8"))?.to_string();
            let effect =
                Effect::from_id(u32::from(r.take(1)?[0])).ok_or_else(|| corrupt("unknown effect"))?;
            if p.tool_ids.contains_key(&name) {
                return Err(corrupt("duplicate tool"));
            }
            p.intern_tool(&name, effect);
        }
        let nodes = r.len(12)?;
        for _ in 0..nodes {
            let tool = r.u32()?;
            let skeleton = r.u64()?;
            if tool as usize >= p.tools.len() || p.node_ids.contains_key(&(tool, skeleton)) {
                return Err(corrupt("bad node"));
            }
            p.intern_node(tool, skeleton);
        }
        let limits = [p.nodes.len(), p.tools.len(), Effect::ALL.len()];
        for (level, &limit) in limits.iter().enumerate() {
            let valid = |id: u32| id == START || (id as usize) < limit;
            let n = r.len(24)?;
            p.edges[level].reserve(n);
            for _ in 0..n {
                let (from, to) = (r.u32()?, r.u32()?);
                if !valid(from) || to as usize >= limit {
                    return Err(corrupt("edge names an unknown node"));
                }
                p.edges[level].insert((from, to), r.count()?);
            }
            let n = r.len(20)?;
            p.outs[level].reserve(n);
            for _ in 0..n {
                let from = r.u32()?;
                if !valid(from) {
                    return Err(corrupt("total names an unknown node"));
                }
                p.outs[level].insert(from, r.count()?);
            }
        }
        let n = r.len(36)?;
        p.values.reserve(n);
        for _ in 0..n {
            let tool = r.u32()?;
            if tool as usize >= p.tools.len() {
                return Err(corrupt("value names an unknown tool"));
            }
            let (path, value) = (r.u64()?, r.u64()?);
            p.values.insert((tool, path, value), r.count()?);
        }
        for _ in 0..r.len(24)? {
            let value = r.u64()?;
            p.rejected.insert(value, r.count()?);
        }
        if r.pos != bytes.len() {
            return Err(corrupt("trailing bytes"));
        }
        Ok(p)
    }
}

fn corrupt(reason: &'static str) -> Error {
    Error::ProfileCorrupt { reason }
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_count(w: &mut Vec<u8>, c: &Count) {
    w.extend_from_slice(&c.value.to_le_bytes());
    put_u32(w, c.raw);
    w.extend_from_slice(&c.at.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| corrupt("truncated"))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    /// A length whose items take at least `min_item` bytes each: a hostile length cannot
    /// make us allocate or loop past the input.
    fn len(&mut self, min_item: usize) -> Result<usize> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_item) > self.bytes.len() - self.pos {
            return Err(corrupt("length exceeds the input"));
        }
        Ok(n)
    }

    fn count(&mut self) -> Result<Count> {
        let value = f32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
        if !value.is_finite() || value < 0.0 {
            return Err(corrupt("count is not a finite non-negative number"));
        }
        let raw = self.u32()?;
        let at = i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes"));
        Ok(Count { value, raw, at })
    }
}
