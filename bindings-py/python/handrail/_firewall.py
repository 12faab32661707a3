"""The behavioral firewall: Python's face on ``handrail._core.Firewall``.

Every rule lives in the Rust core. This layer only writes dicts and call arguments as JSON
text (``json.dumps``), reads the core's JSON reports back (``json.loads``) and gives
verdicts a frozen dataclass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Tuple

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


@dataclass(frozen=True)
class Reason:
    """Why a call stepped off the profile: a stable ``code`` and a sentence for people."""

    code: str
    """Stable code: ``"value_unseen"``, ``"transition_new"``, ``"policy_deny"``, …"""
    text: str
    """A human sentence; may change between versions."""


@dataclass(frozen=True)
class Verdict:
    """The firewall's answer for one call."""

    action: Action
    """``"allow"``, ``"review"`` (ask a person first) or ``"block"``."""
    score: float
    """How far the call steps off the profile, 0–1."""
    reasons: Tuple[Reason, ...]
    """Why, strongest first."""
    enforced: bool
    """False in shadow mode: report the verdict but let the call run."""


def _json_text(value: Any) -> str | bytes:
    """Call arguments as JSON text: ``str`` and ``bytes`` are taken to be JSON text already."""
    if isinstance(value, (str, bytes)):
        return value
    return json.dumps(value)


def _optional_json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value)


class Firewall:
    """An agent's behavioral firewall: learns its normal tool use and holds what steps off it.

    ``policy`` and ``config`` are dicts with the field names of the core's ``Policy``
    (``allow``, ``deny``, ``always_review``, ``effects``, ``daily_budget_usd``) and
    ``Config`` (``review_at``, ``target_false_alarm``, …); missing fields take their
    defaults. ``mode`` is ``"shadow"`` (verdicts reported, never enforced) or ``"enforce"``.

    Call arguments (``args``) are any JSON-serializable value, or JSON text as ``str`` or
    ``bytes``. ``now`` is Unix time in seconds: the firewall never reads a clock.

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
        action, score, reasons, enforced = self._core.check(
            session, tool, _json_text(args), now, effect, cost_usd
        )
        return Verdict(action, score, tuple(Reason(code, text) for code, text in reasons), enforced)

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
        self._core.record(session, tool, _json_text(args), outcome, now, output, effect, cost_usd)

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
        self._core.observe(session, tool, _json_text(args), output, effect)

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
