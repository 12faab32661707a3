"""Replays the shared vectors in ``tests/vectors/`` against the Python binding.

The same files are replayed by the Rust tests and by the other bindings, so a case that
passes here behaves identically on every Handrail surface.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import handrail
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
