"""Native core of the ``handrail`` package; import from ``handrail`` instead."""

from typing import Literal, final

__all__ = ["__version__", "Firewall", "FirewallSession", "HandrailError", "canonicalize"]

__version__: str

class HandrailError(ValueError):
    """Raised when Handrail rejects its input.

    ``code`` is a stable, machine-readable ``snake_case`` string such as ``"json_syntax"``
    or ``"duplicate_key"``; compare against it rather than against the message.
    """

    code: str

def canonicalize(data: str | bytes) -> str:
    """Return the canonical form (RFC 8785, JSON Canonicalization Scheme) of JSON text.

    Raises ``HandrailError`` when the input is not strict I-JSON (RFC 7493).
    """

@final
class FirewallSession:
    """One agent session between calls (``Firewall.begin`` makes one)."""

    @property
    def id(self) -> str:
        """The session id given to ``Firewall.begin``."""

@final
class Firewall:
    """An agent's behavioral firewall; use ``handrail.Firewall``, which wraps this class.

    ``policy`` and ``config`` are JSON text of the core's ``Policy`` and ``Config``; call
    arguments are JSON text; ``readiness`` and ``graph`` return JSON text.
    """

    mode: Literal["shadow", "enforce"]
    def __new__(
        cls, policy: str | None = None, config: str | None = None, mode: str = "shadow"
    ) -> Firewall: ...
    def begin(self, session_id: str, context: str = "") -> FirewallSession: ...
    def check(
        self,
        session: FirewallSession,
        tool: str,
        args: str | bytes,
        now: int,
        effect: str | None = None,
        cost_usd: float | None = None,
    ) -> tuple[Literal["allow", "review", "block"], float, list[tuple[str, str]], bool]:
        """``(action, score, [(code, text), ...], enforced)``."""
    def record(
        self,
        session: FirewallSession,
        tool: str,
        args: str | bytes,
        outcome: str,
        now: int,
        output: str | None = None,
        effect: str | None = None,
        cost_usd: float | None = None,
    ) -> None: ...
    def observe(
        self,
        session: FirewallSession,
        tool: str,
        args: str | bytes,
        output: str | None = None,
        effect: str | None = None,
    ) -> None: ...
    def readiness(self) -> str: ...
    def graph(self, now: int) -> str: ...
    def profile_bytes(self) -> bytes: ...
    def load_profile(self, data: bytes) -> None: ...
    def merge_profile(self, data: bytes) -> None: ...
