"""Python values walked natively give exactly what their JSON text gives.

``tool_call_key`` and the firewall take a dict (list, int, …) and read it in Rust instead of
``json.dumps`` + the core's parser. These tests hold the two paths to the same bytes: every
case of tests/vectors/canonical.json and idempotency.json that Python can hold as a value,
seeded random values, and each refusal with the core's code.
"""

from __future__ import annotations

import enum
import json
import math
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

import pytest

import handrail

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"
SCOPE, TOOL = "agent_1", "send_money"


class NotRepresentable(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise NotRepresentable("duplicate keys")  # a dict cannot hold them
    return dict(pairs)


def _constant(name: str) -> Any:
    raise NotRepresentable(name)  # NaN / Infinity literals are not JSON


def as_value(text: str) -> Any:
    """The Python value of JSON text, exactly (ints stay ints), or NotRepresentable."""
    try:
        return json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except json.JSONDecodeError as e:
        raise NotRepresentable(str(e)) from e


def outcome(fn: Callable[[], str]) -> tuple[str, str]:
    try:
        return ("ok", fn())
    except handrail.HandrailError as e:
        return ("error", e.code)


def key_of(value: Any) -> tuple[str, str]:
    return outcome(lambda: handrail.tool_call_key(SCOPE, TOOL, value))


def canonical_cases() -> list[dict[str, Any]]:
    doc = json.loads((VECTORS / "canonical.json").read_text(encoding="utf-8"))
    return [c for c in doc["cases"] if "input" in c]


def representable(case: dict[str, Any]) -> bool:
    try:
        as_value(case["input"])
        return True
    except NotRepresentable:
        return False  # duplicate keys, NaN literals, syntax errors: no Python value holds them


@pytest.mark.parametrize("case", [c for c in canonical_cases() if representable(c)], ids=lambda c: c["name"])
def test_canonical_vectors_native_equals_text(case: dict[str, Any]) -> None:
    value = as_value(case["input"])
    text = case["input"]
    if isinstance(value, str):
        # A str argument is JSON text; a JSON string goes in as the member of a list.
        value, text = [value], f"[{text}]"
    native = key_of(value)
    assert native == key_of(text)
    if "output" in case:
        output = case["output"] if text is case["input"] else f"[{case['output']}]"
        # The key is over the canonical bytes the vector gives.
        assert native == ("ok", handrail.idempotency_key([SCOPE.encode(), TOOL.encode(), output.encode()]))
    else:
        assert native == ("error", case["error"])


def test_most_canonical_vectors_are_representable() -> None:
    assert sum(map(representable, canonical_cases())) >= len(canonical_cases()) * 2 // 3


def test_idempotency_vectors_native() -> None:
    doc = json.loads((VECTORS / "idempotency.json").read_text(encoding="utf-8"))
    checked = 0
    for case in doc["tool_calls"]:
        try:
            value = as_value(case["args"])
        except NotRepresentable:
            continue
        key = handrail.tool_call_key(case["scope"], case["tool"], value)
        assert key == case["key"]
        checked += 1
    assert checked >= 1


# Names that sort differently in UTF-16 and in code points (U+FB01 vs U+1F600), quotes,
# backslashes, controls, non-ASCII.
ALPHABET = ["a", "b", "Z", "é", "\u00ff", "\ufb01", "\U0001f600", "\ue000", '"', "\\", "\n", "\x01", "\x7f", " "]


def random_str(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))


def random_float(rng: random.Random) -> float:
    pick = rng.randint(0, 6)
    if pick == 0:
        return rng.choice([0.0, -0.0, 1.0, 0.1, 1e21, 1e-7, 1e16, 2.0**60, 5e-324, 1.7976931348623157e308])
    if pick == 1:
        return float(rng.randint(-(2**53), 2**53))
    if pick == 2:
        return round(rng.uniform(-1e6, 1e6), rng.randint(0, 8))
    return rng.uniform(-1, 1) * 10.0 ** rng.randint(-30, 30)


def random_value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randint(0, 9 if depth < 4 else 5)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([0, 1, -1, 2**53 - 1, -(2**53 - 1), rng.randint(-(2**53 - 1), 2**53 - 1)])
    if pick == 3:
        return random_float(rng)
    if pick in (4, 5):
        return random_str(rng)
    if pick == 6:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if pick == 7:
        return tuple(random_value(rng, depth + 1) for _ in range(rng.randint(0, 3)))
    return {random_str(rng): random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}


def test_random_values_native_equals_json_dumps() -> None:
    rng = random.Random(8785)
    for _ in range(1500):
        value = {random_str(rng): random_value(rng) for _ in range(rng.randint(0, 8))}
        native = handrail.tool_call_key(SCOPE, TOOL, value)
        assert native == handrail.tool_call_key(SCOPE, TOOL, json.dumps(value)), value
        assert native == handrail.tool_call_key(SCOPE, TOOL, json.dumps(value, ensure_ascii=False).encode())


def test_top_level_values_other_than_dicts() -> None:
    for value in [None, True, False, 0, -5, 1.5, [1, [2, {}]], (1, "x")]:
        assert handrail.tool_call_key(SCOPE, TOOL, value) == handrail.tool_call_key(SCOPE, TOOL, json.dumps(value))


def test_bool_is_not_an_int_and_subclasses_read_as_json_dumps_reads_them() -> None:
    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    assert key_of([True, False]) == key_of("[true,false]")
    assert key_of([True]) != key_of("[1]")
    assert key_of({"l": Level.HIGH}) == key_of('{"l":3}')
    assert key_of({Name("k"): Name("v")}) == key_of('{"k":"v"}')
    assert key_of(OrderedDict([("b", 1), ("a", 2)])) == key_of('{"a":2,"b":1}')


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (float("nan"), "non_finite_number"),
        ({"x": float("inf")}, "non_finite_number"),
        ([float("-inf")], "non_finite_number"),
        (2**53, "integer_out_of_range"),
        ({"x": -(2**53)}, "integer_out_of_range"),
        ([2**64], "integer_out_of_range"),
        ([10**400], "integer_out_of_range"),
        ("\ud800x", None),  # a str is JSON text: its lone surrogate cannot be UTF-8
        (["\ud800"], "lone_surrogate"),
        ({"\udc00": 1}, "lone_surrogate"),
        ({1: "a"}, "invalid_request"),
        ({None: "a"}, "invalid_request"),
        ({("a",): 1}, "invalid_request"),
        ({"x": {1, 2}}, "invalid_request"),
        ([object()], "invalid_request"),
        ([b"bytes inside a value"], "invalid_request"),
    ],
)
def test_refusals(value: Any, code: str | None) -> None:
    if code is None:
        with pytest.raises(UnicodeEncodeError):
            handrail.tool_call_key(SCOPE, TOOL, value)
        return
    with pytest.raises(handrail.HandrailError) as info:
        handrail.tool_call_key(SCOPE, TOOL, value)
    assert info.value.code == code
    if code == "invalid_request":
        assert isinstance(info.value, handrail.InvalidPayload)
    # The firewall walks the same way and refuses with the same code.
    fw = handrail.Firewall()
    with pytest.raises(handrail.HandrailError) as again:
        fw.check(fw.begin("s"), "read_file", value, now=0)
    assert again.value.code == code


def test_limits_agree_with_the_text_path() -> None:
    edge = [2**53 - 1, -(2**53 - 1), 5e-324, -0.0]
    assert key_of(edge) == key_of(json.dumps(edge))
    for depth, expected in [(128, "ok"), (129, "error")]:
        value: Any = 1
        for _ in range(depth):
            value = [value]
        native, text = key_of(value), key_of(json.dumps(value))
        assert native == text and native[0] == expected
        if expected == "error":
            assert native == ("error", "too_deep")
    deep: Any = {}
    for _ in range(129):
        deep = {"k": deep}
    assert key_of(deep) == ("error", "too_deep")
    cycle: list[Any] = []
    cycle.append(cycle)
    assert key_of(cycle) == ("error", "too_deep")


def test_firewall_native_args_give_the_text_verdicts() -> None:
    doc = json.loads((VECTORS / "firewall.json").read_text(encoding="utf-8"))
    policy = {"effects": {t: s["effect"] for t, s in doc["tools"].items()}}
    native, text = handrail.Firewall(policy, mode="enforce"), handrail.Firewall(policy, mode="enforce")
    now = doc["now"]
    compared = 0
    for session in doc["train"]:
        a, b = native.begin(session["session"], session["context"]), text.begin(session["session"], session["context"])
        for call in session["calls"]:
            va = native.check(a, call["tool"], call["args"], now=now, effect=call.get("effect"))
            vb = text.check(b, call["tool"], json.dumps(call["args"]), now=now, effect=call.get("effect"))
            assert va == vb and hash(va) == hash(vb) and repr(va) == repr(vb)
            compared += 1
            native.record(a, call["tool"], call["args"], "trusted", now=now, output=call.get("output"), effect=call.get("effect"))
            text.record(b, call["tool"], json.dumps(call["args"]), "trusted", now=now, output=call.get("output"), effect=call.get("effect"))
    assert compared > 0
    assert native.profile_bytes() == text.profile_bytes()


def test_verdict_and_reason_are_values() -> None:
    r = handrail.Reason("value_unseen", "never seen")
    v = handrail.Verdict("review", 0.9, [r], True)
    assert (v.action, v.score, v.reasons, v.enforced) == ("review", 0.9, (r,), True)
    assert v == handrail.Verdict("review", 0.9, (handrail.Reason("value_unseen", "never seen"),), True)
    assert v != handrail.Verdict("review", 0.9, (), True)
    assert hash(r) == hash(handrail.Reason("value_unseen", "never seen"))
    assert repr(v) == "Verdict(action='review', score=0.9, reasons=(Reason(code='value_unseen', text='never seen'),), enforced=True)"
    assert not math.isnan(v.score)
