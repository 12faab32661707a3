"""Handrail's Python binding against what a Python user would otherwise pick, side by side.

Not part of ``make test``. Run in its own venv, with a release wheel::

    python3 -m venv /tmp/bench
    /tmp/bench/bin/pip install rfc8785 standardwebhooks cryptography
    maturin build --release -m bindings-py/Cargo.toml      # or PROFILE=release scripts/test-py.sh
    /tmp/bench/bin/pip install --force-reinstall target/wheels/handrail-*.whl
    /tmp/bench/bin/python benches/python/bench.py

Each figure is the median, over many batches, of one batch's ``time.perf_counter_ns``
divided by its size; Handrail's and the alternative's batches alternate in one process, so
both see the same machine state. A ratio above 1 means Handrail is faster.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

import rfc8785
import standardwebhooks
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import handrail

ROOT = Path(__file__).resolve().parents[2]
BATCHES = int(os.environ.get("BENCH_BATCHES", "101"))


def per_call_ns(fn: Callable[[], Any], batch: int) -> Callable[[], float]:
    def run() -> float:
        t = time.perf_counter_ns()
        for _ in range(batch):
            fn()
        return (time.perf_counter_ns() - t) / batch

    return run


def side_by_side(ours: Callable[[], Any], theirs: Callable[[], Any], batch: int) -> tuple[float, float]:
    """Medians (ns per call) of alternating batches."""
    a, b = per_call_ns(ours, batch), per_call_ns(theirs, batch)
    a(), b()  # warm-up
    xs, ys = [], []
    for _ in range(BATCHES):
        xs.append(a())
        ys.append(b())
    return statistics.median(xs), statistics.median(ys)


def alone(fn: Callable[[], Any], batch: int) -> float:
    run = per_call_ns(fn, batch)
    run()
    return statistics.median(run() for _ in range(BATCHES))


def fmt(ns: float) -> str:
    return f"{ns / 1000:.2f} µs" if ns < 1_000_000 else f"{ns / 1_000_000:.2f} ms"


ROWS: list[tuple[str, str, str, str, str, str]] = []


def row(name: str, ours: float, theirs: float | None, target: str, met: bool) -> None:
    ratio = "—" if theirs is None else f"{theirs / ours:.2f}×" if theirs < ours else f"{theirs / ours:.1f}×"
    ROWS.append((name, fmt(ours), fmt(theirs) if theirs is not None else "—", ratio, target, "yes" if met else "**no**"))


def dict_1kb() -> dict[str, Any]:
    d: dict[str, Any] = {"tool": "send_email", "to": "bob@example.com", "amount": 1.5, "tags": []}
    i = 0
    while len(json.dumps(d)) < 1024:
        d[f"field_{i:02}"] = {"text": "lorem ipsum dolor", "n": i * 37, "ok": i % 2 == 0}
        i += 1
    return d


def bench_idempotency() -> None:
    d = dict_1kb()
    # Same work on both sides: a dict in, a key out. Handrail's key also covers scope and
    # tool (length-prefixed); the alternative hashes the canonical arguments alone.
    ours = lambda: handrail.tool_call_key("agent_1", "send_email", d)  # noqa: E731
    theirs = lambda: hashlib.sha256(rfc8785.dumps(d)).hexdigest()  # noqa: E731
    a, b = side_by_side(ours, theirs, 200)
    row(f"idempotency key, {len(json.dumps(d))} B dict (tool_call_key(dict) vs rfc8785 + sha256)", a, b, "≥ 20×", b / a >= 20)
    # The JSON-text form of the same call, for reference (what the SDK did before).
    ours_text = lambda: handrail.tool_call_key("agent_1", "send_email", json.dumps(d))  # noqa: E731
    a, b = side_by_side(ours_text, theirs, 200)
    row("idempotency key, same dict as json.dumps text (json.dumps + tool_call_key)", a, b, "—", True)


def bench_webhook() -> None:
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    body = json.dumps(dict_1kb()).encode()
    now = int(time.time())
    hook = handrail.Webhook([secret])
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    sig = hook.sign(msg_id, now, body)
    theirs_hook = standardwebhooks.Webhook(secret)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(now), "webhook-signature": sig}
    theirs_hook.verify(body, headers)  # the two agree on the signature
    ts = str(now)
    ours = lambda: hook.verify(msg_id, ts, sig, body, now)  # noqa: E731
    theirs = lambda: theirs_hook.verify(body, headers)  # noqa: E731
    a, b = side_by_side(ours, theirs, 500)
    row(f"webhook verify, {len(body)} B body (Webhook.verify vs standardwebhooks)", a, b, "≥ 5×", b / a >= 5)
    # standardwebhooks also json.loads the body; the same work on Handrail's side:
    ours_parsed = lambda: (hook.verify(msg_id, ts, sig, body, now), json.loads(body))  # noqa: E731
    a, b = side_by_side(ours_parsed, theirs, 500)
    row("webhook verify + json.loads of the body (same output as standardwebhooks)", a, b, "≥ 5×", b / a >= 5)


def bench_envelope(size: int, batch: int, target: float) -> None:
    key = os.urandom(32)
    ring = handrail.Keyring([("k1", base64.urlsafe_b64encode(key).rstrip(b"=").decode())])
    aes = AESGCM(key)
    data = os.urandom(size)
    aad = b"k1\x00req_1\x00payload"

    def ours() -> None:
        # seal returns the envelope's JSON text (base64url ct) as bytes; open takes it as is.
        sealed = ring.seal("k1", "req_1", "payload", data)
        ring.open(sealed, "req_1", "payload")

    def theirs() -> None:
        iv = os.urandom(12)
        aes.decrypt(iv, aes.encrypt(iv, data, aad), aad)

    a, b = side_by_side(ours, theirs, batch)
    label = f"{size // 1024} KB" if size < 1 << 20 else f"{size >> 20} MB"
    row(f"envelope seal + open, {label} (Keyring, JSON+base64url envelope, vs AESGCM, raw bytes)", a, b, f"≥ {target:g}×", b / a >= target)


def bench_firewall() -> None:
    doc = json.loads((ROOT / "tests" / "vectors" / "firewall.json").read_text(encoding="utf-8"))
    fw = handrail.Firewall({"effects": {t: s["effect"] for t, s in doc["tools"].items()}}, mode="enforce")
    now = doc["now"]
    # Train on the vectors' sessions, many times over under fresh ids: a profile with history.
    for rep in range(50):
        for session in doc["train"]:
            state = fw.begin(f"{session['session']}-{rep}", session["context"])
            for call in session["calls"]:
                fw.record(state, call["tool"], call["args"], "trusted", now=now, output=call.get("output"), effect=call.get("effect"))
    call = doc["train"][0]["calls"][0]
    state = fw.begin("bench", doc["train"][0]["context"])
    tool, args = call["tool"], call["args"]
    a = alone(lambda: fw.check(state, tool, args, now=now), 2000)
    row(f"firewall verdict per call (Firewall.check, {tool}, trained)", a, None, "≤ 3 µs", a <= 3000)


def main() -> None:
    bench_idempotency()
    bench_webhook()
    bench_envelope(1024, 2000, 1.0)
    bench_envelope(1 << 20, 5, 0.5)
    bench_firewall()
    print(f"Python {sys.version.split()[0]}, handrail {handrail.__version__}, {BATCHES} batches, medians")
    print()
    print("| Benchmark | Handrail | Alternative | Ratio | Target | Met |")
    print("|---|---|---|---|---|---|")
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
