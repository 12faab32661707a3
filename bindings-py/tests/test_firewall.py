"""The behavioral firewall: replays ``tests/vectors/firewall.json`` and checks the Python API.

The replay follows ``core/tests/firewall.rs`` (``shared_vectors``): every ``train`` session
is recorded as trusted into one profile, with the ``tools``' declared effects as the
policy's effects; then, in enforce mode, each case's session is judged alone at ``now``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import handrail
from handrail import Firewall, FirewallSession, HandrailError, Reason, Verdict

DOC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "tests" / "vectors" / "firewall.json").read_text(encoding="utf-8")
)
NOW: int = DOC["now"]
CASES = [pytest.param(case, id=case["name"]) for case in DOC["cases"]]


def train(fw: Firewall, sessions: list[Any]) -> None:
    for session in sessions:
        state = fw.begin(session["session"], session["context"])
        for call in session["calls"]:
            fw.record(
                state,
                call["tool"],
                call["args"],
                "trusted",
                now=NOW,
                output=call.get("output"),
                effect=call.get("effect"),
            )


def trained(mode: str = "enforce") -> Firewall:
    policy = {"effects": {tool: spec["effect"] for tool, spec in DOC["tools"].items()}}
    fw = Firewall(policy)
    train(fw, DOC["train"])
    fw.mode = mode  # type: ignore[assignment]
    return fw


def judge(fw: Firewall, session: dict[str, Any]) -> list[Verdict]:
    """Each call's verdict, the session judged alone; the profile is not taught."""
    state = fw.begin("test", session["context"])
    verdicts = []
    for call in session["calls"]:
        verdicts.append(fw.check(state, call["tool"], call["args"], now=NOW, effect=call.get("effect")))
        fw.observe(state, call["tool"], call["args"], output=call.get("output"), effect=call.get("effect"))
    return verdicts


@pytest.fixture(scope="module")
def firewall() -> Firewall:
    return trained()


def test_vectors_are_unique_and_nonempty() -> None:
    assert DOC["module"] == "firewall"
    names = [case["name"] for case in DOC["cases"]]
    assert names and len(names) == len(set(names))


@pytest.mark.parametrize("case", CASES)
def test_vector(firewall: Firewall, case: dict[str, Any]) -> None:
    verdicts = judge(firewall, case["session"])
    got = [(v.action, {r.code for r in v.reasons}) for v in verdicts]
    want = [(e["action"], set(e["codes"])) for e in case["expect"]]
    assert got == want
    for v in verdicts:
        assert v.enforced is True
        assert 0.0 <= v.score <= 1.0
        assert all(r.text for r in v.reasons)


def test_judging_does_not_teach(firewall: Firewall) -> None:
    before = firewall.profile_bytes()
    for case in DOC["cases"]:
        judge(firewall, case["session"])
    assert firewall.profile_bytes() == before


def test_verdict_shape(firewall: Firewall) -> None:
    session = firewall.begin("s", "Pay invoice INV-9")
    v = firewall.check(session, "send_money", {"iban": "NL91ABNA0417164300", "amount": 5}, now=NOW)
    assert isinstance(v, Verdict)
    assert v.action == "review"
    assert isinstance(v.score, float)
    assert isinstance(v.reasons, tuple) and all(isinstance(r, Reason) for r in v.reasons)
    assert v.reasons[0].code == "value_unseen"
    with pytest.raises(AttributeError):
        v.action = "allow"  # type: ignore[misc]
    same = Verdict(v.action, v.score, v.reasons, v.enforced)
    assert v == same and hash(v) == hash(same)


def test_args_as_json_text_str_or_bytes(firewall: Firewall) -> None:
    args = {"iban": "NL91ABNA0417164300", "amount": 5}
    session = firewall.begin("s", "Pay invoice INV-9")
    want = firewall.check(session, "send_money", args, now=NOW)
    assert firewall.check(session, "send_money", json.dumps(args), now=NOW) == want
    assert firewall.check(session, "send_money", json.dumps(args).encode(), now=NOW) == want


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{", "json_syntax"),
        ('{"a":1,}', "json_syntax"),
        ("NaN", "json_syntax"),
        ('{"to":"\\ud800"}', "lone_surrogate"),
        ("[" * 200 + "]" * 200, "too_deep"),
    ],
)
def test_bad_args_text(firewall: Firewall, text: str, code: str) -> None:
    session = firewall.begin("s")
    with pytest.raises(HandrailError) as info:
        firewall.check(session, "send_money", text, now=NOW)
    assert info.value.code == code


def test_nan_args_value_is_a_handrail_error(firewall: Firewall) -> None:
    with pytest.raises(HandrailError) as info:
        firewall.check(firewall.begin("s"), "send_money", {"amount": float("nan")}, now=NOW)
    assert info.value.code == "non_finite_number"


def test_profile_bytes_round_trip_gives_identical_verdicts(firewall: Firewall) -> None:
    data = firewall.profile_bytes()
    assert isinstance(data, bytes) and data
    copy = Firewall({"effects": {t: s["effect"] for t, s in DOC["tools"].items()}}, mode="enforce")
    copy.load_profile(data)
    assert copy.profile_bytes() == data
    for case in DOC["cases"]:
        assert judge(copy, case["session"]) == judge(firewall, case["session"]), case["name"]


def test_merged_halves_judge_like_one(firewall: Firewall) -> None:
    policy = {"effects": {t: s["effect"] for t, s in DOC["tools"].items()}}
    sessions = DOC["train"]
    half = len(sessions) // 2
    merged, other = Firewall(policy, mode="enforce"), Firewall(policy)
    train(merged, sessions[:half])
    train(other, sessions[half:])
    merged.merge_profile(other.profile_bytes())
    for case in DOC["cases"]:
        assert judge(merged, case["session"]) == judge(firewall, case["session"]), case["name"]


@pytest.mark.parametrize("data", [b"", b"garbage", b"HRFW", b"HRFW\x01", b"\x00" * 64])
def test_corrupt_profile_bytes(data: bytes) -> None:
    fw = trained()
    before = fw.profile_bytes()
    with pytest.raises(HandrailError) as info:
        fw.load_profile(data)
    assert info.value.code == "profile_corrupt"
    with pytest.raises(HandrailError) as info:
        fw.merge_profile(data)
    assert info.value.code == "profile_corrupt"
    assert fw.profile_bytes() == before


def test_truncated_profile_bytes(firewall: Firewall) -> None:
    data = firewall.profile_bytes()
    fw = Firewall()
    for cut in (5, len(data) // 2, len(data) - 1):
        with pytest.raises(HandrailError) as info:
            fw.load_profile(data[:cut])
        assert info.value.code == "profile_corrupt"


def test_shadow_mode_is_not_enforced() -> None:
    fw = trained("shadow")
    assert fw.mode == "shadow"
    assert Firewall().mode == "shadow"
    for case in DOC["cases"]:
        verdicts = judge(fw, case["session"])
        assert [v.action for v in verdicts] == [e["action"] for e in case["expect"]]
        assert all(v.enforced is False for v in verdicts)
    fw.mode = "enforce"
    assert fw.mode == "enforce"
    assert fw.check(fw.begin("s"), "read_invoice", {"id": "INV-1"}, now=NOW).enforced is True


def test_bad_mode() -> None:
    for bad in ("enforced", "block", ""):
        with pytest.raises(HandrailError) as info:
            Firewall(mode=bad)  # type: ignore[arg-type]
        assert info.value.code == "unknown_variant"
    fw = Firewall()
    with pytest.raises(HandrailError) as info:
        fw.mode = "on"  # type: ignore[assignment]
    assert info.value.code == "unknown_variant"
    assert fw.mode == "shadow"


def test_bad_outcome_and_effect() -> None:
    fw = trained()
    session = fw.begin("s")
    before = fw.profile_bytes()
    with pytest.raises(HandrailError) as info:
        fw.record(session, "send_money", {}, "accepted", now=NOW)  # type: ignore[arg-type]
    assert info.value.code == "unknown_variant"
    for call in (
        lambda: fw.check(session, "x", {}, now=NOW, effect="teleport"),  # type: ignore[arg-type]
        lambda: fw.record(session, "x", {}, "ran", now=NOW, effect="teleport"),  # type: ignore[arg-type]
        lambda: fw.observe(session, "x", {}, effect="teleport"),  # type: ignore[arg-type]
    ):
        with pytest.raises(HandrailError) as info:
            call()
        assert info.value.code == "unknown_variant"
        assert "teleport" in str(info.value)
    assert fw.profile_bytes() == before


def test_policy_and_config_dicts() -> None:
    fw = Firewall(
        {"deny": ["wipe_disk"], "allow": ["frobnicate"], "always_review": ["grant_role"], "daily_budget_usd": 10},
        mode="enforce",
        config={"review_at": 0.99},
    )
    s = fw.begin("s")
    deny = fw.check(s, "wipe_disk", {}, now=NOW)
    assert (deny.action, [r.code for r in deny.reasons], deny.score) == ("block", ["policy_deny"], 1.0)
    assert fw.check(s, "frobnicate", {"x": 1}, now=NOW).action == "allow"
    assert fw.check(s, "grant_role", {}, now=NOW).action == "review"
    over = fw.check(s, "buy", {}, now=NOW, cost_usd=11.0)
    assert (over.action, over.reasons[0].code) == ("block", "budget_exceeded")
    fw.record(s, "buy", {}, "ran", now=NOW, cost_usd=6.0)
    again = fw.check(s, "buy", {}, now=NOW, cost_usd=6.0)
    assert (again.action, again.reasons[0].code) == ("block", "budget_exceeded")
    # review_at 0.99: a new tool (0.7) is not held for review.
    assert fw.check(s, "update_ticket", {}, now=NOW).action == "allow"


def test_unknown_policy_field_and_effect() -> None:
    with pytest.raises(HandrailError) as info:
        Firewall({"denny": ["x"]})
    assert info.value.code == "invalid_options"
    assert "denny" in str(info.value)
    with pytest.raises(HandrailError) as info:
        Firewall({"effects": {"x": "teleport"}})
    assert info.value.code == "invalid_options"
    assert "teleport" in str(info.value)


@pytest.mark.parametrize(
    ("policy", "config"),
    [({"deny": 5}, None), ({"daily_budget_usd": "ten"}, None), (None, {"approval_cap": -1}), (None, {"review_at": []})],
)
def test_wrongly_typed_policy_or_config(policy: Any, config: Any) -> None:
    with pytest.raises(HandrailError, match="invalid firewall (policy|configuration)") as info:
        Firewall(policy, config=config)
    assert info.value.code == "invalid_options"


def test_effect_overrides_inference() -> None:
    fw = Firewall(mode="enforce")
    s = fw.begin("s")
    # An unknown tool is side-effecting (write) by inference, so an unseen recipient holds it;
    # declared a read, it is never held.
    args = {"to": "x@evil.example"}
    assert fw.check(s, "frobnicate", args, now=NOW).action == "review"
    assert fw.check(s, "frobnicate", args, now=NOW, effect="read").action == "allow"


def test_rejected_values_are_blocked() -> None:
    fw = trained()
    s = fw.begin("s", "Pay the usual suppliers")
    args = {"iban": "DE44500105175407324931", "amount": 5}
    fw.record(s, "send_money", args, "rejected", now=NOW)
    v = fw.check(fw.begin("u", "Pay DE44 5001 0517 5407 3249 31 now"), "send_money", args, now=NOW + 60)
    assert (v.action, v.reasons[0].code) == ("block", "value_rejected")


def test_readiness_and_graph(firewall: Firewall) -> None:
    empty = Firewall().readiness()
    assert empty == {"novelty": 1.0, "observations": 0, "transitions": 0, "ready": False}
    r = firewall.readiness()
    assert set(r) == {"novelty", "observations", "transitions", "ready"}
    assert r["observations"] > 0 and 0.0 <= r["novelty"] <= 1.0
    g = firewall.graph(NOW)
    tools = {n["tool"]: n for n in g["nodes"]}
    assert {"^", "read_invoice", "send_money", "send_email", "http_get"} <= set(tools)
    assert tools["^"]["effect"] is None and tools["send_money"]["effect"] == "payment"
    assert tools["read_invoice"]["effect"] == "read"
    ids = {n["id"] for n in g["nodes"]}
    for e in g["edges"]:
        assert {e["from"], e["to"]} <= ids and 0.0 <= e["p"] <= 1.0 and e["count"] >= 1


def test_session_object() -> None:
    s = Firewall().begin("sess-1", "a task")
    assert isinstance(s, FirewallSession)
    assert s.id == "sess-1"
    assert repr(s) == "FirewallSession(id='sess-1')"
    assert Firewall().begin("x").id == "x"


def test_exports() -> None:
    for name in ("Firewall", "FirewallSession", "Reason", "Verdict"):
        assert name in handrail.__all__
    assert FirewallSession is handrail._core.FirewallSession
