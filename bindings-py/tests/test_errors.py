"""Replays tests/vectors/errors.json: each error's code, kind, class and fields.

The kind is decided once, in the core (``Error::kind``); the vector names the class the
Python and TypeScript SDKs both raise for it, so the same file checks all three.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import handrail
from handrail import _core

VECTORS = json.loads((Path(__file__).parents[2] / "tests" / "vectors" / "errors.json").read_text("utf-8"))
CASES = VECTORS["cases"]


def _headers(pairs: list[list[str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in pairs]


def _trigger(t: dict[str, Any]) -> None:
    client = _core.Protocol("http://127.0.0.1:7777/", "hr_agent_test", t.get("encryption_key"))
    op = t["op"]
    if op == "canonicalize":
        handrail.canonicalize(t["input"])
    elif op == "response":
        client.parse_record(t["status"], _headers(t["headers"]), t["body"].encode())
    elif op == "payload":
        record = client.parse_record(200, [], t["record"].encode())
        client.payload(record)
    elif op == "wait":
        w = client.wait(t["id"], 0, t.get("timeout_ms"))
        if "response" in t:
            r = t["response"]
            w.on_response(client, r["status"], _headers(r["headers"]), r["body"].encode(), 0)
        else:
            w.request(client, 0)
    elif op == "webhook":
        handrail._core.verify_webhook(t["secret"], _headers(t["headers"]), t["body"].encode(), t["now"])
    else:
        raise AssertionError(f"unknown trigger {op}")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_error_vector(case: dict[str, Any]) -> None:
    want = case["expect"]
    with pytest.raises(handrail.HandrailError) as info:
        _trigger(case["trigger"])
    err = info.value
    assert type(err).__name__ == want["class"]
    assert type(err) is getattr(handrail, want["class"])
    assert (err.code, err.kind) == (want["code"], want["kind"])
    assert (err.status, err.id, err.field, err.reason) == (
        want.get("status"),
        want.get("id"),
        want.get("field"),
        want.get("reason"),
    )
    if "retry_after" in want:
        assert isinstance(err, handrail.RateLimitedError)
        assert err.retry_after == want["retry_after"]


def test_every_class_of_the_vectors_is_exported() -> None:
    for name in {c["expect"]["class"] for c in CASES}:
        assert issubclass(getattr(handrail, name), handrail.HandrailError)


def test_earlier_names_are_the_same_classes() -> None:
    assert handrail.InvalidPayload is handrail.InvalidPayloadError
    assert handrail.RateLimited is handrail.RateLimitedError
    assert handrail.DecryptionFailed is handrail.DecryptionFailedError
    assert handrail.WaitTimeout is handrail.WaitTimeoutError
    with pytest.raises(handrail.RateLimited):
        _trigger({"op": "response", "status": 429, "headers": [], "body": "{}"})


def test_errors_made_in_python_have_every_field() -> None:
    # The client's NetworkError is raised by Python code, not the core; it has the same
    # attributes, with the kind the core reserves for it.
    err = handrail.NetworkError("GET /v1/requests: refused")
    assert (err.code, err.kind, err.status, err.id, err.field) == ("network", "network", None, None, None)
