#!/usr/bin/env python3
"""Prints the medians of the last criterion run (target/criterion) as a Markdown table,
with the ratio of each competitor to Handrail's implementation in the same group.

    cargo bench -p handrail-core --bench core && python3 scripts/bench-report.py
"""
import json
import pathlib

root = pathlib.Path(__file__).resolve().parent.parent / "target" / "criterion"


def fmt(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


rows = {}
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    median = json.loads(est.read_text())["median"]["point_estimate"]
    group = bench["group_id"]
    func = bench.get("function_id") or ""
    value = bench.get("value_str") or ""
    op, impl = (func, value) if value else ("", func)
    throughput = bench.get("throughput") or {}
    rows.setdefault((group, op), []).append((impl, median, throughput.get("Bytes")))

print("| benchmark | implementation | median | throughput | vs handrail |")
print("|---|---|---|---|---|")
for (group, op), impls in rows.items():
    ours = next((m for i, m, _ in impls if i == "handrail"), None)
    for impl, median, nbytes in sorted(impls, key=lambda r: r[0] != "handrail"):
        thr = f"{nbytes / median:.2f} GB/s" if nbytes else ""
        ratio = "1.00×" if impl == "handrail" or ours is None else f"{median / ours:.2f}× slower" if median >= ours else f"{ours / median:.2f}× faster"
        name = f"{group}/{op}" if op else group
        print(f"| {name} | {impl} | {fmt(median)} | {thr} | {ratio} |")
