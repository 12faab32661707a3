"""Handrail: human-approval rails for AI agents, backed by a Rust core.

The functions here are implemented in Rust (``handrail._core``) and re-exported unchanged;
import them from ``handrail``, not from ``handrail._core``. :class:`Firewall` (the
behavioral firewall) is a thin Python class over the Rust one that takes dicts and any
JSON-serializable call arguments and returns :class:`Verdict` dataclasses.

Every error Handrail raises for bad input is a :class:`HandrailError`, a ``ValueError``
whose ``code`` attribute is a stable machine-readable string.
"""

from handrail._core import HandrailError, __version__, canonicalize
from handrail._firewall import Firewall, FirewallSession, Reason, Verdict

__all__ = [
    "Firewall",
    "FirewallSession",
    "HandrailError",
    "Reason",
    "Verdict",
    "__version__",
    "canonicalize",
]
