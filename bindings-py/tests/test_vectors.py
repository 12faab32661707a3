"""Replays the shared vectors in ``tests/vectors/`` against the Python binding.

The same files are replayed by the Rust tests and by the other bindings, so a case that
passes here behaves identically on every Handrail surface.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import handrail
import handrail.compat
from handrail import HandrailError

VECTORS = Path(__file__).resolve().parents[2] / "tests" / "vectors"


def load_cases(module: str) -> list[Any]:
    """Cases of ``tests/vectors/<module>.json``, one pytest param per case name."""
    doc = json.loads((VECTORS / f"{module}.json").read_text(encoding="utf-8"))
    assert doc["module"] == module
    cases = doc["cases"]
    names = [case["name"] for case in cases]
    assert len(names) == len(set(names)), f"duplicate case names in {module}.json"
    return [pytest.param(case, id=case["name"]) for case in cases]


def case_input(case: dict[str, Any]) -> str | bytes:
    # "input" is JSON text (a str); "input_hex" is raw bytes, e.g. invalid UTF-8.
    if "input_hex" in case:
        return bytes.fromhex(case["input_hex"])
    text: str = case["input"]
    return text


CANONICAL = load_cases("canonical")


def test_canonical_vectors_present() -> None:
    # Guards against an empty parametrization silently skipping the replay below.
    assert len(CANONICAL) > 0


@pytest.mark.parametrize("case", CANONICAL)
def test_canonicalize(case: dict[str, Any]) -> None:
    data = case_input(case)
    if "error" in case:
        with pytest.raises(HandrailError) as info:
            handrail.canonicalize(data)
        assert info.value.code == case["error"]
    else:
        assert handrail.canonicalize(data) == case["output"]


@pytest.mark.parametrize("case", [c for c in CANONICAL if "input" in c.values[0]])
def test_canonicalize_bytes_and_str_agree(case: dict[str, Any]) -> None:
    text = case["input"]
    try:
        from_str = handrail.canonicalize(text)
    except HandrailError as err:
        with pytest.raises(HandrailError) as info:
            handrail.canonicalize(text.encode("utf-8"))
        assert info.value.code == err.code
        assert str(info.value) == str(err)
    else:
        assert handrail.canonicalize(text.encode("utf-8")) == from_str


# ---- the other modules: each file's sections, one pytest param per case ------------------


def load_doc(module: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((VECTORS / f"{module}.json").read_text(encoding="utf-8"))
    assert doc["module"] == module
    return doc


def section(doc: dict[str, Any], name: str) -> list[Any]:
    """One pytest param per case of ``doc[name]``, id ``<section>[i]: <case name>``."""
    cases = doc[name]
    assert len(cases) > 0, f"{doc['module']}.json: empty section {name}"
    return [
        pytest.param(case, id=f"{name}[{i}]: {case.get('name', case.get('input', ''))}")
        for i, case in enumerate(cases)
    ]


def expect_outcome(case: dict[str, Any], call: Any) -> Any:
    """Runs ``call``; checks its error code against ``case["error"]`` or returns its result."""
    if "error" in case:
        with pytest.raises(HandrailError) as info:
            call()
        assert info.value.code == case["error"], f"{case.get('name')}: {info.value}"
        return None
    return call()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# envelope.json
ENVELOPE = load_doc("envelope")
ENVELOPE_RING = handrail.Keyring(
    [(k["kid"], k["key"]) for k in ENVELOPE["keys"]], legacy=ENVELOPE["legacy_key"]
)


def b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("case", section(ENVELOPE, "cases"))
def test_envelope(case: dict[str, Any]) -> None:
    rid, field = case["context"]["request_id"], case["context"]["field"]
    sealed = case["envelope"]
    opened = expect_outcome(case, lambda: ENVELOPE_RING.open(sealed.encode(), rid, field))
    if opened is None:
        return
    want = b64url(case["plaintext_b64url"])
    assert opened == want
    iv = b64url(case["iv"])
    if case.get("legacy"):
        resealed = ENVELOPE_RING.seal_legacy(want, iv)
    else:
        data_key = b64url(case["data_key"]) if "data_key" in case else None
        resealed = ENVELOPE_RING.seal(case["kid"], rid, field, want, iv=iv, data_key=data_key)
    assert resealed == sealed.encode(), "sealing reproduces the envelope"


def test_envelope_random_iv_round_trips() -> None:
    kid = ENVELOPE["keys"][0]["kid"]
    for size in (0, 1, 2, 3, 5, 1000, 70_000):  # 70 kB: sealed with the GIL released
        plaintext = bytes(i % 251 for i in range(size))
        sealed = ENVELOPE_RING.seal(kid, "req_1", "payload", plaintext)
        assert isinstance(sealed, bytes)
        assert ENVELOPE_RING.open(sealed, "req_1", "payload") == plaintext
        assert ENVELOPE_RING.open(sealed.decode("ascii"), "req_1", "payload") == plaintext
        assert json.loads(sealed)["kid"] == kid
        with pytest.raises(handrail.DecryptionFailed):
            ENVELOPE_RING.open(sealed, "req_1", "other_field")


# webhook.json
WEBHOOK = load_doc("webhook")


@pytest.mark.parametrize("case", section(WEBHOOK, "sign"))
def test_webhook_sign(case: dict[str, Any]) -> None:
    hook = handrail.Webhook([case["secret"]])
    assert hook.sign(case["id"], case["timestamp"], case["body"].encode()) == case["signature"]


@pytest.mark.parametrize("case", section(WEBHOOK, "verify"))
def test_webhook_verify(case: dict[str, Any]) -> None:
    hook = handrail.Webhook(case["secrets"])
    h = case["headers"]
    expect_outcome(
        case,
        lambda: hook.verify(
            h["id"], h["timestamp"], h["signature"], case["body"].encode(), case["now"], case["tolerance"]
        ),
    )


@pytest.mark.parametrize("case", section(WEBHOOK, "letsping"))
def test_webhook_letsping(case: dict[str, Any]) -> None:
    expect_outcome(
        case,
        lambda: handrail.compat.verify_letsping(
            case["secret"].encode(), case["header"], case["body"].encode(), case["now_ms"], case["tolerance_ms"]
        ),
    )


@pytest.mark.parametrize("case", section(WEBHOOK, "secrets"))
def test_webhook_secrets(case: dict[str, Any]) -> None:
    hook = expect_outcome(case, lambda: handrail.Webhook([case["secret"]]))
    if hook is not None:
        assert hook.export() == [case["secret"]], "export round-trips"


# proof.json
PROOF = load_doc("proof")
PROOF_SIGNER = handrail.ProofSigner(PROOF["kid"], b64url(PROOF["seed"]))
PROOF_VERIFIER = handrail.ProofVerifier(dumps(PROOF["jwks"]))


def test_proof_signer_publishes_the_jwks() -> None:
    assert {"keys": [json.loads(PROOF_SIGNER.public_jwk())]} == PROOF["jwks"]


@pytest.mark.parametrize("case", section(PROOF, "digests"))
def test_proof_digest(case: dict[str, Any]) -> None:
    assert handrail.proof_digest(case["json"]) == case["digest"]


@pytest.mark.parametrize("case", section(PROOF, "sign"))
def test_proof_sign(case: dict[str, Any]) -> None:
    assert PROOF_SIGNER.sign(dumps(case["claims"])) == case["token"]


@pytest.mark.parametrize("case", section(PROOF, "verify"))
def test_proof_verify(case: dict[str, Any]) -> None:
    e = case["expect"]
    claims = expect_outcome(
        case,
        lambda: PROOF_VERIFIER.verify(
            case["token"],
            case["now"],
            e["request_id"],
            request_digest=e.get("request_digest"),
            decision=e.get("decision"),
            patched_digest=e.get("patched_digest"),
            project=e.get("project"),
            issuer=e.get("issuer"),
        ),
    )
    if claims is not None:
        got = json.loads(claims)
        assert got["rid"] == e["request_id"]
        for field, claim in (("project", "prj"), ("issuer", "iss")):
            if field in e:
                assert got[claim] == e[field]


# idempotency.json
IDEMPOTENCY = load_doc("idempotency")


@pytest.mark.parametrize("case", section(IDEMPOTENCY, "keys"))
def test_idempotency_key(case: dict[str, Any]) -> None:
    assert handrail.idempotency_key([p.encode() for p in case["parts"]]) == case["key"]


@pytest.mark.parametrize("case", section(IDEMPOTENCY, "tool_calls"))
def test_tool_call_key(case: dict[str, Any]) -> None:
    key = expect_outcome(case, lambda: handrail.tool_call_key(case["scope"], case["tool"], case["args"]))
    if key is not None:
        assert key == case["key"]


@pytest.mark.parametrize("case", section(IDEMPOTENCY, "fingerprints"))
def test_fingerprint(case: dict[str, Any]) -> None:
    fp = expect_outcome(
        case, lambda: handrail.fingerprint(case["method"], case["path"], case["body"].encode())
    )
    if fp is not None:
        assert fp == case["fingerprint"]


# The HTTP status the core prescribes for each refusal (Begin::refusal_status).
REFUSAL_STATUS = {"conflict": 409, "mismatch": 422}


@pytest.mark.parametrize("scenario", section(IDEMPOTENCY, "scenarios"))
def test_idempotency_scenario(scenario: dict[str, Any]) -> None:
    current: handrail.Execution | None = None
    for step in scenario["steps"]:
        now = step["now"]
        if step["op"] == "begin":
            call = lambda: handrail.idempotency_begin(  # noqa: E731
                current,
                scenario["key"],
                step["method"],
                step["path"],
                step["body"].encode(),
                now,
                scenario["lease"],
            )
            if step["expect"] == "error":
                with pytest.raises(HandrailError) as info:
                    call()
                assert info.value.code == step["error"]
                continue
            kind, value = call()
            assert kind == step["expect"], step
            if kind == "proceed":
                assert value.attempts == step["attempts"]
                current = value
            elif kind == "replay":
                assert value == (step["result"]["status"], step["result"]["body"])
            elif kind == "conflict":
                assert value == step["lease_until"]
            if "status" in step:
                assert REFUSAL_STATUS[kind] == step["status"]
        else:
            assert current is not None, "a stored execution"
            result = step["result"]
            exec_ = current
            if step["op"] == "commit":
                nxt = lambda: exec_.commit(result["status"], result["body"], now)  # noqa: E731
            else:
                nxt = lambda: exec_.fail(result["status"], result["body"], step["retryable"], now)  # noqa: E731
            if "error" in step:
                with pytest.raises(HandrailError) as info:
                    nxt()
                assert info.value.code == step["error"]
            else:
                current = nxt()
                # What a store keeps between requests reads back the same.
                assert handrail.Execution.from_json(current.to_json()).to_json() == current.to_json()


# request.json
REQUEST = load_doc("request")


@pytest.mark.parametrize("case", section(REQUEST, "diffs"))
def test_request_diff(case: dict[str, Any]) -> None:
    before, after = dumps(case["before"]), dumps(case["after"])
    ops, summary = handrail.diff(before, after)
    assert json.loads(ops) == case["ops"]
    assert summary == case["summary"]
    assert json.loads(handrail.apply_patch(before, dumps(case["ops"]))) == case["after"]
    assert handrail.review_edit(before, after) == (ops, summary)


@pytest.mark.parametrize("case", section(REQUEST, "validation"))
def test_request_validation(case: dict[str, Any]) -> None:
    schema, payload = dumps(case["schema"]), dumps(case["payload"])
    expect_outcome(case, lambda: handrail.validate_edit(schema, payload))
    expect_outcome(case, lambda: handrail.review_edit(payload, payload, schema))


@pytest.mark.parametrize("case", section(REQUEST, "statuses"))
def test_request_status(case: dict[str, Any]) -> None:
    value = expect_outcome(case, lambda: handrail.request_status(case["input"]))
    if value is not None:
        assert value == case["value"]


@pytest.mark.parametrize("case", section(REQUEST, "priorities"))
def test_request_priority(case: dict[str, Any]) -> None:
    value = expect_outcome(case, lambda: handrail.request_priority(case["input"]))
    if value is not None:
        assert value == case["value"]


def test_every_vector_file_is_replayed() -> None:
    # firewall.json is replayed by test_firewall.py, errors.json by test_errors.py;
    # rfc8785-numbers.json feeds canonical.json through generate.mjs. A new file must be added
    # here or there.
    replayed = {"canonical", "envelope", "webhook", "proof", "idempotency", "request", "firewall", "guard", "errors"}
    files = {p.stem for p in VECTORS.glob("*.json")} - {"rfc8785-numbers"}
    assert files == replayed


# guard.json
GUARD = load_doc("guard")
_core = handrail._core


@pytest.mark.parametrize("case", section(GUARD, "keys"))
def test_guard_call_key(case: dict[str, Any]) -> None:
    args = case["args"]
    key = expect_outcome(case, lambda: _core.guard_call_key(case["scope"], case["service"], case["tool"], args))
    if key is not None:
        assert key == case["key"]
        # The Python value walked natively gives the same key as its JSON text.
        assert _core.guard_call_key(case["scope"], case["service"], case["tool"], json.loads(args)) == key


@pytest.mark.parametrize("case", section(GUARD, "calls"))
def test_guard_calls(case: dict[str, Any]) -> None:
    plan = _core.guard_plan(case["action"], case["enforced"])
    assert plan == case["plan"]
    decision = case["decision"]
    runs = plan in ("run", "shadow") or decision in ("APPROVED", "APPROVED_WITH_MODIFICATIONS")
    assert runs == case["runs"]
    outcome = expect_outcome(case, lambda: _core.guard_outcome(plan, decision))
    if "error" not in case:
        assert outcome == case["outcome"]


@pytest.mark.parametrize("case", section(GUARD, "contexts"))
def test_guard_review_context(case: dict[str, Any]) -> None:
    v = case["verdict"]
    reasons = [handrail.Reason(r["code"], r["text"]) for r in v["reasons"]]
    verdict = handrail.Verdict(v["action"], v["score"], reasons, v["enforced"])
    assert json.loads(_core.guard_review_context(verdict, case["task"])) == case["context"]


@pytest.mark.parametrize("case", section(GUARD, "observations"))
def test_guard_observation(case: dict[str, Any]) -> None:
    i = case["input"]
    event = _core.guard_observation(
        i["key"], i["session"], i["tool"], i["args"], i["outcome"], i["at"],
        i.get("context"), i.get("effect"), i.get("output"),
    )
    assert json.loads(event) == case["event"]


@pytest.mark.parametrize("case", section(GUARD, "texts"))
def test_decision_text(case: dict[str, Any]) -> None:
    assert _core.decision_text(case["status"], case["reason"], case["summary"], case["payload"]) == case["text"]
