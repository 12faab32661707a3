"""The README's Python examples are the tests' own lines: every ``# README START`` …
``# README END`` block (or ``# START README`` … ``# END README``) of a test file must appear
in README.md as it is, dedented. Each block's test runs it against a real server."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import List, Tuple

HERE = Path(__file__).resolve().parent
README = HERE.parents[1] / "README.md"
BLOCK = re.compile(
    r"^[ \t]*# (?:README START|START README)[^\n]*\n(.*?)^[ \t]*# (?:README END|END README)", re.S | re.M
)


def blocks() -> List[Tuple[str, str]]:
    found = []
    for path in sorted(HERE.glob("test_*.py")):
        for m in BLOCK.finditer(path.read_text(encoding="utf-8")):
            found.append((path.name, textwrap.dedent(m.group(1)).rstrip("\n")))
    return found


def test_every_readme_block_of_the_tests_is_in_readme_verbatim() -> None:
    readme = README.read_text(encoding="utf-8")
    found = blocks()
    # client, guard, LangGraph, CrewAI, LangChain, OpenAI Agents
    assert len(found) >= 6, [name for name, _ in found]
    for name, code in found:
        assert code in readme, f"README.md lacks this block of {name}:\n{code}"
