"""The behavioral firewall: Python's face on ``handrail._core.Firewall``.

Every rule lives in the Rust core. This layer writes the policy and configuration as JSON
text (``json.dumps``) and reads the core's JSON reports back (``json.loads``); call
arguments go to the core as they are (a Python value is walked natively, JSON text parsed),
and verdicts are the core's native ``Verdict`` objects.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from handrail import _core
from handrail._core import FirewallSession

__all__ = ["Firewall", "FirewallSession", "Reason", "Verdict"]

Action = Literal["allow", "review", "block"]
"""What to do with a call."""
Mode = Literal["shadow", "enforce"]
"""Whether verdicts are enforced."""
Outcome = Literal["ran", "trusted", "approved", "rejected"]
"""What became of a call, for :meth:`Firewall.record`."""
Effect = Literal["read", "write", "destructive", "egress", "payment"]
"""What a tool does to the world."""


Reason = _core.Reason
"""Why a call stepped off the profile: ``code`` (stable) and ``text`` (for people)."""
Verdict = _core.Verdict
"""The firewall's answer for one call: ``action``, ``score``, ``reasons``, ``enforced``.

Native (built by the core, compared and hashed by value), so a verdict costs no JSON and no
dataclass construction per call.
"""


def _optional_json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


class Firewall:
    """An agent's behavioral firewall: learns its normal tool use and holds what steps off it.

    ``policy`` and ``config`` are dicts with the field names of the core's ``Policy``
    (``allow``, ``deny``, ``always_review``, ``effects``, ``daily_budget_usd``) and
    ``Config`` (``review_at``, ``target_false_alarm``, …); missing fields take their
    defaults. ``mode`` is ``"shadow"`` (verdicts reported, never enforced) or ``"enforce"``.

    Call arguments (``args``) are JSON text as ``str`` or ``bytes``, or a Python value of
    dicts with ``str`` keys, lists, tuples, ints, floats, bools and ``None``, read natively
    with the core's rules: ``integer_out_of_range`` beyond ±(2**53-1),
    ``non_finite_number`` for NaN and infinities, ``too_deep`` past 128 levels, and
    ``InvalidPayloadError`` (``code == "invalid_request"``) for a key that is not a ``str`` or a
    value of any other type. ``now`` is Unix time in seconds: the firewall never reads a
    clock.

    Raises ``HandrailError`` with ``code == "invalid_options"`` for a policy or config that
    does not parse (an unknown or wrongly typed field), ``"unknown_variant"`` for an unknown
    effect, mode or outcome name.
    """

    __slots__ = ("_core",)

    def __init__(
        self,
        policy: dict[str, Any] | None = None,
        *,
        mode: Mode = "shadow",
        config: dict[str, Any] | None = None,
    ) -> None:
        self._core = _core.Firewall(_optional_json(policy), _optional_json(config), mode)

    @property
    def mode(self) -> Mode:
        """``"shadow"`` or ``"enforce"``; settable."""
        return self._core.mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self._core.mode = mode

    def begin(self, session_id: str, context: str = "") -> FirewallSession:
        """Start a session; ``context`` is the task as the user gave it (trusted text)."""
        return self._core.begin(session_id, context)

    def check(
        self,
        session: FirewallSession,
        tool: str,
        args: Any,
        *,
        now: int,
        effect: Effect | None = None,
        cost_usd: float | None = None,
    ) -> Verdict:
        """The verdict on a call before it runs.

        ``effect`` (``"read"``, ``"write"``, ``"destructive"``, ``"egress"``, ``"payment"``)
        overrides the policy's and the one inferred from the tool name; ``cost_usd`` is
        checked against the policy's daily budget.
        """
        return self._core.check(session, tool, args, now, effect, cost_usd)

    def record(
        self,
        session: FirewallSession,
        tool: str,
        args: Any,
        outcome: Outcome,
        *,
        now: int,
        output: str | None = None,
        effect: Effect | None = None,
        cost_usd: float | None = None,
    ) -> None:
        """Record what became of a call, and what it returned, to learn from it.

        ``outcome`` is ``"ran"`` (teaches the path), ``"trusted"`` (known-honest history:
        path and values), ``"approved"`` (a person approved it: path and values, capped per
        tool and day) or ``"rejected"`` (its values are blocked from now on). ``output`` is
        untrusted text: values first seen there are suspect in later calls of the session.
        """
        self._core.record(session, tool, args, outcome, now, output, effect, cost_usd)

    def observe(
        self,
        session: FirewallSession,
        tool: str,
        args: Any,
        *,
        output: str | None = None,
        effect: Effect | None = None,
    ) -> None:
        """Follow a call in the session (previous step, untrusted output) without learning."""
        self._core.observe(session, tool, args, output, effect)

    def readiness(self) -> dict[str, Any]:
        """``novelty``, ``observations``, ``transitions`` and ``ready`` (may leave shadow mode)."""
        report: dict[str, Any] = json.loads(self._core.readiness())
        return report

    def graph(self, now: int) -> dict[str, Any]:
        """The learned tool graph at ``now``: ``nodes`` (``id``, ``tool``, ``effect``) and
        ``edges`` (``from``, ``to``, ``p``, ``count``)."""
        report: dict[str, Any] = json.loads(self._core.graph(now))
        return report

    def profile_bytes(self) -> bytes:
        """The learned profile in its compact binary form."""
        return self._core.profile_bytes()

    def load_profile(self, data: bytes) -> None:
        """Replace the profile with one from :meth:`profile_bytes`.

        Raises ``HandrailError`` with ``code == "profile_corrupt"`` for bytes that are not
        a profile.
        """
        self._core.load_profile(data)

    def merge_profile(self, data: bytes) -> None:
        """Add another worker's profile (from :meth:`profile_bytes`) into this one."""
        self._core.merge_profile(data)

    def __repr__(self) -> str:
        return f"Firewall(mode={self.mode!r})"
