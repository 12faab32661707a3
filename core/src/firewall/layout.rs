//! A deterministic layered drawing of a profile's [`Graph`], for the dashboard's live
//! execution graph.
//!
//! Sugiyama-style, kept small: (1) keep the session start `^` and the `max_nodes − 1` most
//! observed tools; (2) break cycles by a depth-first search from `^` that visits the most
//! observed transitions first, dropping the edges that close a cycle (back edges) from the
//! layering only; (3) give every node its longest-path layer from `^` (`^` alone in layer 0,
//! every other node in layer ≥ 1); (4) order each layer by a few barycenter sweeps, down
//! then up, to reduce crossings; (5) place layers left to right in `x` and the nodes of a
//! layer top to bottom in `y`, both in `[0, 1]`. Ties are always broken by count, then id,
//! so the same graph gives the same drawing.

use serde::Serialize;

use super::effect::Effect;
use super::profile::{Graph, GraphEdge};

/// How many nodes a layout keeps when the caller does not say.
pub const DEFAULT_MAX_NODES: usize = 60;
/// Barycenter sweeps (one down and one up each).
const SWEEPS: usize = 4;

/// A graph with a place for every node it keeps.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct Layout {
    /// The nodes kept, by layer and then top to bottom.
    pub nodes: Vec<LayoutNode>,
    /// The graph's edges between kept nodes, sorted by `(from, to)`.
    pub edges: Vec<GraphEdge>,
    /// How many nodes were left out to stay within `max_nodes`.
    pub truncated: u32,
}

/// A node of the graph with its place.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct LayoutNode {
    /// The graph's node id (edges refer to it).
    pub id: u32,
    /// Tool name (`^` is the session start).
    pub tool: String,
    /// Effect class (`None` for `^`).
    pub effect: Option<Effect>,
    /// Column: 0 for `^`; longest path from it over the edges that close no cycle.
    pub layer: u32,
    /// Horizontal position in `[0, 1]`, by layer, left to right.
    pub x: f64,
    /// Vertical position in `[0, 1]` within the layer.
    pub y: f64,
    /// Observations: transitions into the node (for `^`, out of it: sessions started).
    pub count: u64,
}

/// Lays `graph` out, keeping at most `max_nodes` nodes (at least `^`).
pub fn layout(graph: &Graph, max_nodes: usize) -> Layout {
    let n = graph.nodes.len();
    let index_of = |id: u32| graph.nodes.iter().position(|node| node.id == id);
    let start = graph.nodes.iter().position(|node| node.effect.is_none());
    // Edges as node indices, once (an id that names no node is ignored).
    let edges: Vec<(usize, usize, &GraphEdge)> =
        graph.edges.iter().filter_map(|e| Some((index_of(e.from)?, index_of(e.to)?, e))).collect();

    let mut count = vec![0u64; n];
    for &(from, to, e) in &edges {
        count[to] += u64::from(e.count);
        if Some(from) == start {
            count[from] += u64::from(e.count);
        }
    }

    // (1) Which nodes stay: `^`, then by count, most first.
    let mut by_count: Vec<usize> = (0..n).filter(|&i| Some(i) != start).collect();
    by_count.sort_by(|&a, &b| count[b].cmp(&count[a]).then(graph.nodes[a].id.cmp(&graph.nodes[b].id)));
    let room = max_nodes.max(1) - usize::from(start.is_some());
    let mut kept = vec![false; n];
    if let Some(s) = start {
        kept[s] = true;
    }
    for &i in by_count.iter().take(room) {
        kept[i] = true;
    }
    let truncated = kept.iter().filter(|&&k| !k).count() as u32;
    let edges: Vec<(usize, usize, &GraphEdge)> =
        edges.into_iter().filter(|&(from, to, _)| kept[from] && kept[to]).collect();

    // Out-neighbours, most observed transition first, for a deterministic search.
    let mut out: Vec<Vec<(usize, u32)>> = vec![Vec::new(); n];
    for &(from, to, e) in &edges {
        if from != to {
            out[from].push((to, e.count));
        }
    }
    for list in &mut out {
        list.sort_by(|a, b| b.1.cmp(&a.1).then(graph.nodes[a.0].id.cmp(&graph.nodes[b.0].id)));
    }

    // (2) Back edges: those reaching a node still on the search stack.
    let mut roots: Vec<usize> = start.into_iter().collect();
    roots.extend(by_count.iter().copied().filter(|&i| kept[i]));
    let forward = acyclic_edges(&out, &roots);

    // (3) Longest-path layers over the forward edges (a DAG), in topological order.
    let mut indegree = vec![0usize; n];
    for &(_, to) in &forward {
        indegree[to] += 1;
    }
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(from, to) in &forward {
        succ[from].push(to);
        pred[to].push(from);
    }
    let mut layer = vec![0u32; n];
    let mut ready: Vec<usize> = roots.iter().rev().copied().filter(|&i| indegree[i] == 0).collect();
    while let Some(v) = ready.pop() {
        if Some(v) != start {
            layer[v] = layer[v].max(1);
        }
        for &w in &succ[v] {
            layer[w] = layer[w].max(layer[v] + 1);
            indegree[w] -= 1;
            if indegree[w] == 0 {
                ready.push(w);
            }
        }
    }

    // (4) Order within layers: by count first, then barycenter sweeps.
    let depth = roots.iter().map(|&i| layer[i]).max().unwrap_or(0) as usize;
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth + 1];
    for &i in &roots {
        layers[layer[i] as usize].push(i);
    }
    let mut y = vec![0.0f64; n];
    let place = |layers: &[Vec<usize>], y: &mut [f64]| {
        for row in layers {
            for (k, &i) in row.iter().enumerate() {
                y[i] = (k as f64 + 0.5) / row.len() as f64;
            }
        }
    };
    place(&layers, &mut y);
    for _ in 0..SWEEPS {
        for l in 1..layers.len() {
            sort_by_barycenter(&mut layers[l], &pred, &y);
            place(&layers[l..=l], &mut y);
        }
        for l in (0..layers.len().saturating_sub(1)).rev() {
            sort_by_barycenter(&mut layers[l], &succ, &y);
            place(&layers[l..=l], &mut y);
        }
    }

    // (5) Coordinates.
    let columns = layers.len();
    let mut nodes = Vec::with_capacity(n - truncated as usize);
    for (l, row) in layers.iter().enumerate() {
        let x = if columns > 1 { l as f64 / (columns - 1) as f64 } else { 0.5 };
        for &i in row {
            let node = &graph.nodes[i];
            nodes.push(LayoutNode {
                id: node.id,
                tool: node.tool.clone(),
                effect: node.effect,
                layer: layer[i],
                x,
                y: y[i],
                count: count[i],
            });
        }
    }
    let mut edges: Vec<GraphEdge> = edges.into_iter().map(|(_, _, e)| e.clone()).collect();
    edges.sort_by_key(|e| (e.from, e.to));
    Layout { nodes, edges, truncated }
}

/// The edges of `out` that close no cycle, found by an iterative depth-first search from
/// each root in turn (the search visits neighbours in `out`'s order).
fn acyclic_edges(out: &[Vec<(usize, u32)>], roots: &[usize]) -> Vec<(usize, usize)> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; out.len()];
    let mut forward = Vec::new();
    for &root in roots {
        if mark[root] != Mark::New {
            continue;
        }
        mark[root] = Mark::OnStack;
        // (node, index of the next neighbour to visit)
        let mut stack = vec![(root, 0usize)];
        while let Some(top) = stack.last_mut() {
            let (v, next) = *top;
            let Some(&(w, _)) = out[v].get(next) else {
                mark[v] = Mark::Done;
                stack.pop();
                continue;
            };
            top.1 += 1;
            match mark[w] {
                Mark::OnStack => {} // closes a cycle: left out of the layering
                Mark::Done => forward.push((v, w)),
                Mark::New => {
                    forward.push((v, w));
                    mark[w] = Mark::OnStack;
                    stack.push((w, 0));
                }
            }
        }
    }
    forward
}

/// Orders `row` by the mean `y` of each node's neighbours in `adjacent` (nodes without one
/// keep their current `y`); equal means keep their current order.
fn sort_by_barycenter(row: &mut [usize], adjacent: &[Vec<usize>], y: &[f64]) {
    let key = |i: usize| {
        let around = &adjacent[i];
        if around.is_empty() {
            y[i]
        } else {
            around.iter().map(|&j| y[j]).sum::<f64>() / around.len() as f64
        }
    };
    let mut keyed: Vec<(f64, f64, usize)> = row.iter().map(|&i| (key(i), y[i], i)).collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for (slot, (_, _, i)) in row.iter_mut().zip(keyed) {
        *slot = i;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::GraphNode;

    /// Tools `a`, `b`, … with ids 0.., then `^`; `edges` name nodes by tool.
    fn graph(tools: &[&str], edges: &[(&str, &str, u32)]) -> Graph {
        let mut nodes: Vec<GraphNode> = tools
            .iter()
            .enumerate()
            .map(|(i, t)| GraphNode { id: i as u32, tool: t.to_string(), effect: Some(Effect::Read) })
            .collect();
        nodes.push(GraphNode { id: tools.len() as u32, tool: "^".into(), effect: None });
        let id = |t: &str| nodes.iter().find(|n| n.tool == t).map(|n| n.id).unwrap();
        let edges =
            edges.iter().map(|&(f, t, c)| GraphEdge { from: id(f), to: id(t), p: 0.5, count: c }).collect();
        Graph { nodes, edges }
    }

    fn by_tool<'a>(l: &'a Layout, tool: &str) -> &'a LayoutNode {
        l.nodes.iter().find(|n| n.tool == tool).unwrap()
    }

    fn check_ranges(l: &Layout) {
        for n in &l.nodes {
            assert!((0.0..=1.0).contains(&n.x) && (0.0..=1.0).contains(&n.y), "{n:?}");
        }
        // No two nodes share a place.
        for (i, a) in l.nodes.iter().enumerate() {
            for b in &l.nodes[i + 1..] {
                assert!(a.x != b.x || a.y != b.y, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_dag_is_layered_along_its_edges() {
        let g = graph(
            &["search", "read", "summarize", "email", "lonely"],
            &[
                ("^", "search", 5),
                ("search", "read", 4),
                ("read", "summarize", 4),
                ("search", "summarize", 1),
                ("summarize", "email", 2),
                ("^", "read", 1),
            ],
        );
        let l = layout(&g, DEFAULT_MAX_NODES);
        assert_eq!(l.nodes.len(), g.nodes.len(), "every node placed");
        assert_eq!(l.truncated, 0);
        assert_eq!(l.edges.len(), g.edges.len());
        check_ranges(&l);
        let layer = |t| by_tool(&l, t).layer;
        for e in &l.edges {
            let name = |id| &g.nodes[id as usize].tool;
            assert!(layer(name(e.from)) < layer(name(e.to)), "{e:?}");
        }
        assert_eq!(
            (layer("^"), layer("search"), layer("read"), layer("summarize"), layer("email")),
            (0, 1, 2, 3, 4)
        );
        assert_eq!(layer("lonely"), 1, "an unconnected tool still gets a place");
        assert_eq!((by_tool(&l, "^").x, by_tool(&l, "email").x), (0.0, 1.0));
        assert_eq!(by_tool(&l, "^").count, 6);
        assert_eq!(by_tool(&l, "read").count, 5);
        assert_eq!(by_tool(&l, "lonely").count, 0);
    }

    #[test]
    fn cycles_are_broken_and_the_result_is_deterministic() {
        let g = graph(
            &["a", "b", "c", "d"],
            &[("^", "a", 3), ("a", "b", 3), ("b", "c", 3), ("c", "a", 2), ("c", "c", 1), ("b", "d", 1)],
        );
        let l = layout(&g, DEFAULT_MAX_NODES);
        check_ranges(&l);
        assert_eq!(l.nodes.len(), 5);
        let layer = |id: u32| l.nodes.iter().find(|n| n.id == id).unwrap().layer;
        let backward: Vec<_> = l.edges.iter().filter(|e| layer(e.from) >= layer(e.to)).collect();
        // c → a closes the one cycle; c → c is a loop. Every other edge points right.
        assert_eq!(backward.len(), 2, "{backward:?}");
        assert!(backward.iter().all(|e| e.from == 2));
        let again = layout(&g, DEFAULT_MAX_NODES);
        assert_eq!(format!("{l:?}"), format!("{again:?}"));
    }

    #[test]
    fn barycenter_sweeps_untangle_two_chains() {
        // Initial order by count puts x2 above y2 and y1 above x1: one crossing; the sweep
        // puts each chain on its own row.
        let g = graph(
            &["x1", "y1", "x2", "y2"],
            &[("^", "x1", 2), ("^", "y1", 3), ("x1", "x2", 2), ("y1", "y2", 1), ("x1", "y2", 0)],
        );
        let l = layout(&g, DEFAULT_MAX_NODES);
        let y = |t| by_tool(&l, t).y;
        assert_eq!(y("y1") < y("x1"), y("y2") < y("x2"), "{l:?}");
    }

    #[test]
    fn the_most_observed_nodes_are_kept() {
        let g = graph(&["a", "b", "c"], &[("^", "a", 1), ("^", "b", 5), ("b", "c", 3), ("a", "c", 1)]);
        let l = layout(&g, 3);
        assert_eq!(l.truncated, 1);
        let tools: Vec<&str> = l.nodes.iter().map(|n| n.tool.as_str()).collect();
        assert_eq!(tools, ["^", "b", "c"]);
        assert!(l.edges.iter().all(|e| e.from != 0 && e.to != 0), "edges of a are dropped");
        let only_start = layout(&g, 0);
        assert_eq!((only_start.nodes.len(), only_start.truncated, only_start.edges.len()), (1, 3, 0));
        assert_eq!((only_start.nodes[0].x, only_start.nodes[0].y), (0.5, 0.5));
    }
}
